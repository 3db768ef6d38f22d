"""Long-only simple-moving-average crossover: plugins/sma-cross in Python.

Same parameters, orders, tags, error messages and save-state layout as the
Rust reference, and the same float arithmetic in the same order, so a
backtest gives the identical trade list (asserted by the integration tests).
Built by ``cargo xtask plugins`` into target/plugins/sma-cross-py.wasm.
"""

import cracktrader
from cracktrader import Info, Side, Sma, StateReader, StateWriter, StrategyError

ENTRY_TAG = "sma-cross-entry"
EXIT_TAG = "sma-cross-exit"
# Layout of save_state: fast Sma, slow Sma, previous-difference flag and f64.
STATE_VERSION = 1


class SmaCross:
    @staticmethod
    def init(config: cracktrader.Config):
        # Check every parameter before giving up, so one run reports all mistakes.
        errors = []

        def keep(read):
            try:
                return read()
            except StrategyError as reason:
                errors.append(str(reason))
                return None

        instrument = keep(lambda: config.require_instrument(config.param("instrument")))

        def read_fast():
            fast = config.param_or("fast", 10, cracktrader.parse_u32)
            if fast < 1:
                raise StrategyError(f"parameter 'fast' must be at least 1, got {fast}")
            return fast

        fast = keep(read_fast)
        slow = keep(lambda: config.param_or("slow", 30, cracktrader.parse_u32))
        if fast is not None and slow is not None and slow <= fast:
            errors.append(f"parameter 'slow' ({slow}) must be greater than 'fast' ({fast})")
        quantity = keep(lambda: config.param("quantity", cracktrader.Decimal.parse))
        target = None
        if instrument is not None and quantity is not None:

            def read_target():
                try:
                    qty = cracktrader.qty_from_decimal(instrument, quantity)
                except StrategyError as reason:
                    raise StrategyError(f"parameter 'quantity': {reason}") from None
                if qty <= 0:
                    raise StrategyError(f"parameter 'quantity' must be positive, got {quantity}")
                return qty

            target = keep(read_target)
        if errors:
            raise StrategyError("; ".join(errors))
        info = Info("sma-cross-py", "0.1.0", [instrument.symbol], slow)
        return SmaCross(instrument, target, fast, slow), info

    def __init__(self, instrument, quantity: int, fast: int, slow: int):
        self.instrument = instrument
        self.quantity = quantity
        self.fast = Sma(fast)
        self.slow = Sma(slow)
        self.prev_diff = None

    def on_step(self, view: cracktrader.View) -> list:
        iid = self.instrument.id
        bar = view.bar(iid)
        if bar is None:
            return []
        close = cracktrader.price_to_float(self.instrument, bar.close)
        # Update both averages on every bar, even while one is still warming up.
        fast, slow = self.fast.update(close), self.slow.update(close)
        if fast is None or slow is None:
            return []
        diff = fast - slow
        prev, self.prev_diff = self.prev_diff, diff
        # The first ready bar has nothing to cross from: it only records.
        if prev is None:
            return []
        position = view.position(iid)
        if prev <= 0.0 and diff > 0.0:
            qty = self.quantity - position - view.open_qty(iid, Side.BUY)
            if qty > 0:
                return [cracktrader.market(iid, Side.BUY, qty, ENTRY_TAG)]
        elif prev >= 0.0 and diff < 0.0:
            qty = position - view.open_qty(iid, Side.SELL)
            if qty > 0:
                return [cracktrader.market(iid, Side.SELL, qty, EXIT_TAG)]
        return []

    def save_state(self) -> bytes:
        writer = StateWriter(STATE_VERSION)
        self.fast.save(writer)
        self.slow.save(writer)
        writer.write_u8(0 if self.prev_diff is None else 1)
        writer.write_f64(0.0 if self.prev_diff is None else self.prev_diff)
        return writer.into_bytes()

    def restore_state(self, data: bytes) -> None:
        reader = StateReader(data)
        if reader.version != STATE_VERSION:
            raise StrategyError(
                f"unsupported sma-cross state version {reader.version} "
                f"(this build reads version {STATE_VERSION})"
            )
        fast, slow = Sma.restore(reader), Sma.restore(reader)
        flag, prev = reader.read_u8(), reader.read_f64()
        if flag > 1:
            raise StrategyError(f"invalid previous-difference flag {flag} in sma-cross state")
        reader.finish()
        # Averages over other periods would silently change the configured strategy.
        for name, saved, configured in (("fast", fast, self.fast), ("slow", slow, self.slow)):
            if saved.period != configured.period:
                raise StrategyError(
                    f"saved state has {name} period {saved.period} "
                    f"but the config says {configured.period}"
                )
        self.fast, self.slow = fast, slow
        self.prev_diff = prev if flag == 1 else None


class Strategy(cracktrader.Exports):
    """The component's ``strategy`` export."""

    strategy_class = SmaCross

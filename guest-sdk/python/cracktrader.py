"""Cracktrader guest helpers for Python strategies (componentize-py).

The Python counterpart of the Rust ``cracktrader-guest`` crate: a view that
keeps the latest account, exact decimal helpers, parameter readers whose
errors name the key and value, an SMA indicator whose float arithmetic
follows the Rust one operation for operation (so results are bit-identical),
the same versioned save-state byte layout, and logging.

WIT types as componentize-py presents them: records are dataclasses with
snake_case fields in ``wit_world.imports.types``; every integer is an ``int``;
enums are ``Enum`` members (``Side.BUY``); variants are one dataclass per
case (``Intent_Place(PlaceOrder(...))``); ``option<T>`` is the value or
``None``; ``list<u8>`` is ``bytes``; a ``result`` error is raised as
``componentize_py_types.Err(value)``.

Float conversions are spelled ``float(mantissa) / POW10[scale]`` on purpose:
Python's ``int / int`` rounds the exact quotient once, while Rust (and the
host's reference strategy) converts to f64 first and then divides. The two
can differ in the last bit.
"""

import re
import struct

from componentize_py_types import Err
from wit_world.imports import host, types
from wit_world.imports.types import (  # noqa: F401  (re-exported for strategies)
    Bar,
    Info,
    Intent,
    Intent_Cancel,
    Intent_CancelAll,
    Intent_Place,
    Intent_Replace,
    LogLevel,
    OrderStatus,
    OrderType,
    OrderType_Limit,
    OrderType_Market,
    OrderType_Stop,
    OrderType_StopLimit,
    PlaceOrder,
    Quote,
    ReplaceOrder,
    ReportKind,
    Side,
    StopLimit,
    TimeInForce,
    TimeInForce_Day,
    TimeInForce_Fok,
    TimeInForce_Gtc,
    TimeInForce_Gtd,
    TimeInForce_Ioc,
    Trade,
)

MAX_SCALE = 28
I64_MIN, I64_MAX = -(2**63), 2**63 - 1

# Powers of ten as floats, like the Rust SDK's table: exact up to 1e22.
POW10 = [float(f"1e{i}") for i in range(MAX_SCALE + 1)]


class StrategyError(Exception):
    """A refusal with a message for the host (bad config, foreign state)."""


def log(level: LogLevel, message: str) -> None:
    """Writes a line to the session log, tagged by the host with the strategy id."""
    host.log(level, str(message))


def trace(message: str) -> None:
    log(LogLevel.TRACE, message)


def debug(message: str) -> None:
    log(LogLevel.DEBUG, message)


def info(message: str) -> None:
    log(LogLevel.INFO, message)


def warn(message: str) -> None:
    log(LogLevel.WARN, message)


def error(message: str) -> None:
    log(LogLevel.ERROR, message)


class Decimal:
    """An exact decimal ``mantissa * 10^-scale``."""

    _SYNTAX = re.compile(r"([+-]?)([0-9]+)(?:\.([0-9]+))?")

    def __init__(self, mantissa: int, scale: int):
        self.mantissa = mantissa
        self.scale = scale

    @staticmethod
    def parse(text: str) -> "Decimal":
        """Parses ``[+-]digits[.digits]`` exactly, keeping every written digit."""
        match = Decimal._SYNTAX.fullmatch(text)
        if match is None:
            raise StrategyError(f"invalid decimal '{text}': expected [-]digits[.digits]")
        frac = match.group(3) or ""
        if len(frac) > MAX_SCALE:
            raise StrategyError(f"decimal '{text}' has more than {MAX_SCALE} decimal places")
        mantissa = int(match.group(2) + frac)
        if match.group(1) == "-":
            mantissa = -mantissa
        if not I64_MIN <= mantissa <= I64_MAX:
            raise StrategyError(f"decimal '{text}' does not fit in 64 bits")
        return Decimal(mantissa, len(frac))

    @staticmethod
    def of(record: types.Decimal) -> "Decimal":
        """The WIT ``decimal`` record as a Decimal."""
        return Decimal(record.mantissa, record.scale)

    def rescale(self, scale: int):
        """The mantissa at ``scale`` places, or None if digits would be lost or i64 overflows."""
        if scale >= self.scale:
            value = self.mantissa * 10 ** (scale - self.scale)
        else:
            quotient, remainder = divmod(abs(self.mantissa), 10 ** (self.scale - scale))
            if remainder:
                return None
            value = -quotient if self.mantissa < 0 else quotient
        return value if I64_MIN <= value <= I64_MAX else None

    def to_float(self) -> float:
        """The nearest float, computed as the Rust SDK does."""
        return float(self.mantissa) / POW10[self.scale]

    def __str__(self) -> str:
        digits = str(abs(self.mantissa))
        sign = "-" if self.mantissa < 0 else ""
        if self.scale == 0:
            return sign + digits
        padded = digits.rjust(self.scale + 1, "0")
        return f"{sign}{padded[:-self.scale]}.{padded[-self.scale:]}"


def price_to_float(instrument: types.Instrument, price: int) -> float:
    """A scaled price as the nearest float, e.g. 107219 at scale 5 is 1.07219."""
    return float(price) / POW10[instrument.price_scale]


def qty_to_float(instrument: types.Instrument, qty: int) -> float:
    """A scaled quantity as the nearest float."""
    return float(qty) / POW10[instrument.qty_scale]


def qty_from_decimal(instrument: types.Instrument, qty: Decimal) -> int:
    """``qty`` scaled by ``qty_scale``, exactly, if it is a lot multiple; raises otherwise."""
    symbol = instrument.symbol
    scaled = qty.rescale(instrument.qty_scale)
    if scaled is None:
        if qty.scale > instrument.qty_scale:
            raise StrategyError(
                f"quantity {qty} has more than {instrument.qty_scale} decimal places for {symbol}"
            )
        raise StrategyError(f"quantity {qty} is too large for {symbol}")
    if instrument.lot_size <= 0:
        raise StrategyError(f"instrument {symbol} has an invalid lot size {instrument.lot_size}")
    if scaled % instrument.lot_size != 0:
        lot = Decimal(instrument.lot_size, instrument.qty_scale)
        raise StrategyError(f"quantity {qty} is not a multiple of the lot size {lot} for {symbol}")
    return scaled


def parse_u32(text: str) -> int:
    """A u32 as Rust's ``u32::from_str`` accepts it; raises the same reasons."""
    if text == "":
        raise StrategyError("cannot parse integer from empty string")
    if not re.fullmatch(r"\+?[0-9]+", text):
        raise StrategyError("invalid digit found in string")
    value = int(text)
    if value > 0xFFFFFFFF:
        raise StrategyError("number too large to fit in target type")
    return value


class Config:
    """The ``config`` given to ``init``, with parameter readers."""

    def __init__(self, record: types.Config):
        self.strategy_id = record.strategy_id
        self.params = record.params
        self.instruments = record.instruments

    def raw_param(self, key: str):
        """The text of parameter ``key`` (first occurrence), or None."""
        return next((value for name, value in self.params if name == key), None)

    def param(self, key: str, parse=str):
        """Required parameter ``key`` parsed by ``parse``; raises a message naming it."""
        text = self.raw_param(key)
        if text is None:
            raise StrategyError(f"missing required parameter '{key}'")
        return _parse_param(key, text, parse)

    def param_or(self, key: str, default, parse=str):
        """Optional parameter ``key``; ``default`` when the session file does not set it."""
        text = self.raw_param(key)
        return default if text is None else _parse_param(key, text, parse)

    def require_instrument(self, symbol: str) -> types.Instrument:
        """The granted instrument with this symbol; raises a message listing the granted ones."""
        for instrument in self.instruments:
            if instrument.symbol == symbol:
                return instrument
        granted = ", ".join(i.symbol for i in self.instruments) or "none"
        raise StrategyError(
            f"instrument '{symbol}' is not granted to this strategy (granted: {granted})"
        )


def _parse_param(key: str, text: str, parse):
    try:
        return parse(text)
    except (StrategyError, ValueError) as reason:
        raise StrategyError(f"parameter '{key}': invalid value '{text}': {reason}") from None


class View:
    """The step's market data (bars, quotes, trades) plus the latest account the
    host sent (only sent when it may have changed). ``base_currency``,
    ``equity`` and ``margin_used`` value the whole execution context
    (``equity`` and ``margin_used`` are WIT ``decimal`` records:
    ``Decimal.of(view.equity)``)."""

    def __init__(self):
        self.snapshot_id = 0
        self.time = 0
        self.bars = []
        self.quotes = []
        self.trades = []
        self.base_currency = ""
        self.equity = types.Decimal(0, 0)
        self.margin_used = types.Decimal(0, 0)
        self.positions = []
        self.balances = []
        self.open_orders = []
        self.reports = []

    def update(self, step: types.View) -> None:
        """Folds in one step as received from the host."""
        self.snapshot_id = step.snapshot_id
        self.time = step.time
        self.bars = step.bars
        self.quotes = step.quotes
        self.trades = step.trades
        account = step.account
        if account is None:
            self.reports = []
        else:
            self.base_currency = account.base_currency
            self.equity = account.equity
            self.margin_used = account.margin_used
            self.positions = account.positions
            self.balances = account.balances
            self.open_orders = account.open_orders
            self.reports = account.reports

    def bar(self, instrument: int):
        """The bar of ``instrument`` that closed at this step, or None."""
        return next((bar for bar in self.bars if bar.instrument == instrument), None)

    def quote(self, instrument: int):
        """The quote of ``instrument`` at this step, or None."""
        return next((quote for quote in self.quotes if quote.instrument == instrument), None)

    def trades_of(self, instrument: int) -> list:
        """Trades of ``instrument`` printed at this step."""
        return [trade for trade in self.trades if trade.instrument == instrument]

    def position(self, instrument: int) -> int:
        """The signed position (scaled by qty_scale), 0 if none."""
        return next((p.qty for p in self.positions if p.instrument == instrument), 0)

    def open_qty(self, instrument: int, side: Side) -> int:
        """Unfilled quantity of working ``side`` orders in ``instrument``."""
        return sum(
            o.qty - o.filled_qty
            for o in self.open_orders
            if o.instrument == instrument and o.side == side
        )

    def balance(self, currency: str):
        """Cash held in ``currency``, or None."""
        return next((b for b in self.balances if b.currency == currency), None)


def _place(
    instrument: int,
    side: Side,
    order_type: OrderType,
    qty: int,
    tag: str,
    tif,
    reduce_only: bool,
    post_only: bool,
) -> Intent_Place:
    time_in_force = TimeInForce_Gtc() if tif is None else tif
    return Intent_Place(
        PlaceOrder(instrument, side, order_type, time_in_force, qty, reduce_only, post_only, tag)
    )


# Every order helper takes the keyword-only options ``tif`` (a ``TimeInForce_*``,
# good till cancelled when None), ``reduce_only`` and ``post_only``.


def market(
    instrument: int,
    side: Side,
    qty: int,
    tag: str,
    *,
    tif=None,
    reduce_only=False,
    post_only=False,
) -> Intent_Place:
    """A market order intent for ``qty`` (scaled by qty_scale)."""
    return _place(instrument, side, OrderType_Market(), qty, tag, tif, reduce_only, post_only)


def limit(
    instrument: int,
    side: Side,
    qty: int,
    price: int,
    tag: str,
    *,
    tif=None,
    reduce_only=False,
    post_only=False,
) -> Intent_Place:
    """A limit order intent at ``price`` (scaled by price_scale)."""
    order_type = OrderType_Limit(price)
    return _place(instrument, side, order_type, qty, tag, tif, reduce_only, post_only)


def stop(
    instrument: int,
    side: Side,
    qty: int,
    stop_price: int,
    tag: str,
    *,
    tif=None,
    reduce_only=False,
    post_only=False,
) -> Intent_Place:
    """A stop order intent: a market order once ``stop_price`` trades."""
    order_type = OrderType_Stop(stop_price)
    return _place(instrument, side, order_type, qty, tag, tif, reduce_only, post_only)


def stop_limit(
    instrument: int,
    side: Side,
    qty: int,
    stop_price: int,
    limit_price: int,
    tag: str,
    *,
    tif=None,
    reduce_only=False,
    post_only=False,
) -> Intent_Place:
    """A stop-limit order intent: a limit order at ``limit_price`` once ``stop_price`` trades."""
    order_type = OrderType_StopLimit(StopLimit(stop_price, limit_price))
    return _place(instrument, side, order_type, qty, tag, tif, reduce_only, post_only)


def cancel(order_id: int) -> Intent_Cancel:
    """A cancel intent for a working order."""
    return Intent_Cancel(order_id)


def replace(order_id: int, *, qty=None, limit_price=None, stop_price=None) -> Intent_Replace:
    """A replace intent for working order ``order_id``; None keeps a value."""
    return Intent_Replace(ReplaceOrder(order_id, qty, limit_price, stop_price))


def cancel_all(instrument=None) -> Intent_CancelAll:
    """Cancels every working order of the strategy, or only those in ``instrument``."""
    return Intent_CancelAll(instrument)


class StateWriter:
    """Saved state in the SDK layout: a version byte, then values little-endian."""

    def __init__(self, version: int):
        self._bytes = bytearray([version])

    def write_u8(self, value: int) -> None:
        self._bytes.append(value)

    def write_u64(self, value: int) -> None:
        self._bytes += struct.pack("<Q", value)

    def write_i64(self, value: int) -> None:
        self._bytes += struct.pack("<q", value)

    def write_f64(self, value: float) -> None:
        """A float as its IEEE-754 bits, so a restore continues bit for bit."""
        self._bytes += struct.pack("<d", value)

    def into_bytes(self) -> bytes:
        return bytes(self._bytes)


class StateReader:
    """Reads state written by a StateWriter; every read checks the length."""

    def __init__(self, data: bytes):
        if not data:
            raise StrategyError("state is empty: no version byte")
        self._data = data
        self.version = data[0]
        self._offset = 1

    def read_u8(self) -> int:
        return self._take("<B", 1)

    def read_u64(self) -> int:
        return self._take("<Q", 8)

    def read_i64(self) -> int:
        return self._take("<q", 8)

    def read_f64(self) -> float:
        return self._take("<d", 8)

    def finish(self) -> None:
        """Raises if bytes are left over: they mean another layout."""
        rest = len(self._data) - self._offset
        if rest:
            raise StrategyError(
                f"state version {self.version} has {rest} unexpected trailing bytes "
                f"at offset {self._offset}"
            )

    def _take(self, fmt: str, size: int):
        rest = len(self._data) - self._offset
        if rest < size:
            raise StrategyError(
                f"state version {self.version} is truncated: expected {size} more bytes "
                f"at offset {self._offset}, found {rest}"
            )
        (value,) = struct.unpack_from(fmt, self._data, self._offset)
        self._offset += size
        return value


class Sma:
    """Simple moving average with the Rust SDK's exact order of operations:
    once the window is full ``sum -= oldest``, then ``sum += x``; the value
    is ``sum / period``."""

    def __init__(self, period: int):
        if period < 1:
            raise ValueError("Sma period must be at least 1")
        self.period = period
        self.window = []
        self.next = 0
        self.sum = 0.0

    def update(self, x: float):
        """Adds ``x``; returns the average once ``period`` values were seen, else None."""
        if len(self.window) < self.period:
            self.window.append(x)
        else:
            self.sum -= self.window[self.next]
            self.window[self.next] = x
            self.next = (self.next + 1) % self.period
        self.sum += x
        return self.value()

    def value(self):
        return self.sum / float(self.period) if self.is_ready() else None

    def is_ready(self) -> bool:
        return len(self.window) == self.period

    def save(self, writer: StateWriter) -> None:
        """Appends the exact state in the Rust SDK's layout."""
        writer.write_u64(self.period)
        writer.write_u64(len(self.window))
        writer.write_u64(self.next)
        writer.write_f64(self.sum)
        for value in self.window:
            writer.write_f64(value)

    @staticmethod
    def restore(reader: StateReader) -> "Sma":
        """Reads state written by ``save``, checking it is consistent."""
        period, length, next_index = reader.read_u64(), reader.read_u64(), reader.read_u64()
        total = reader.read_f64()
        ring_ok = next_index < period if length == period else next_index == 0
        if period == 0 or length > period or not ring_ok:
            raise StrategyError(
                f"inconsistent Sma state: period {period}, window length {length}, "
                f"ring index {next_index}"
            )
        sma = Sma(period)
        sma.window = [reader.read_f64() for _ in range(length)]
        sma.next = next_index
        sma.sum = total
        return sma


class Exports:
    """Base of the exported ``Strategy`` class: ``class Strategy(cracktrader.Exports):
    strategy_class = MyStrategy``.

    ``strategy_class`` provides ``init(config: Config) -> (instance, Info)``
    as a static method (raise StrategyError to refuse the config),
    ``on_step(view: View) -> list`` of intents, and optionally
    ``save_state() -> bytes`` and ``restore_state(data)``.
    """

    strategy_class = None
    _instance = None
    _view = View()

    def init(self, config: types.Config) -> Info:
        # A refused config must not leave an earlier instance answering steps.
        Exports._instance = None
        Exports._view = View()
        try:
            instance, info = self.strategy_class.init(Config(config))
        except StrategyError as refusal:
            raise Err(str(refusal)) from None
        Exports._instance = instance
        return info

    def on_step(self, view: types.View) -> list:
        strategy = _required("on-step")
        Exports._view.update(view)
        return strategy.on_step(Exports._view)

    def save_state(self) -> bytes:
        strategy = _required("save-state")
        return strategy.save_state() if hasattr(strategy, "save_state") else b""

    def restore_state(self, state: bytes) -> None:
        if Exports._instance is None:
            raise Err("restore-state called before a successful init")
        if hasattr(Exports._instance, "restore_state"):
            try:
                Exports._instance.restore_state(state)
            except StrategyError as refusal:
                raise Err(str(refusal)) from None


def _required(call: str):
    if Exports._instance is None:
        raise RuntimeError(
            f"cracktrader: {call} called before a successful init; the host must call init first"
        )
    return Exports._instance

"""{{name}}: buys ``quantity`` when the close rises above its simple moving
average over ``period`` bars and sells the position when it falls below.

Build: {{build}}
"""

import cracktrader
from cracktrader import Info, Side, Sma, StrategyError


class Template:
    @staticmethod
    def init(config: cracktrader.Config):
        instrument = config.require_instrument(config.param("instrument"))
        quantity = cracktrader.qty_from_decimal(
            instrument, config.param("quantity", cracktrader.Decimal.parse)
        )
        period = config.param_or("period", 20, cracktrader.parse_u32)
        if period < 1:
            raise StrategyError(f"parameter 'period' must be at least 1, got {period}")
        cracktrader.info(f"trading {instrument.symbol} with SMA({period})")
        info = Info("{{name}}", "0.1.0", [instrument.symbol], period)
        return Template(instrument, quantity, period), info

    def __init__(self, instrument, quantity: int, period: int):
        self.instrument = instrument
        self.quantity = quantity  # scaled by the instrument's qty_scale
        self.sma = Sma(period)

    def on_step(self, view: cracktrader.View) -> list:
        iid = self.instrument.id
        bar = view.bar(iid)
        if bar is None:
            return []
        close = cracktrader.price_to_float(self.instrument, bar.close)
        average = self.sma.update(close)
        if average is None:
            return []
        position = view.position(iid)
        if close > average and position == 0 and view.open_qty(iid, Side.BUY) == 0:
            return [cracktrader.market(iid, Side.BUY, self.quantity, "entry")]
        if close < average and position > 0 and view.open_qty(iid, Side.SELL) == 0:
            return [cracktrader.market(iid, Side.SELL, position, "exit")]
        return []


class Strategy(cracktrader.Exports):
    """The component's ``strategy`` export."""

    strategy_class = Template

// {{name}}: buys `quantity` when the close rises above its simple moving
// average over `period` bars and sells the position when it falls below.
//
// Build: {{build}}

import {
  Sma, Side, exportStrategy, logger, market, parse,
} from './cracktrader.js'; // a copy of guest-sdk/js/cracktrader.js

class Template {
  static init(config) {
    const instrument = config.requireInstrument(config.param('instrument'));
    const quantity = instrument.qtyFromDecimal(config.param('quantity', parse.decimal));
    const period = config.paramOr('period', 20, parse.u32);
    if (period < 1) throw `parameter 'period' must be at least 1, got ${period}`;
    logger.info(`trading ${instrument.symbol} with SMA(${period})`);
    const info = { name: '{{name}}', version: '0.1.0', subscriptions: [instrument.symbol], warmup: period };
    return [new Template(instrument, quantity, period), info];
  }

  constructor(instrument, quantity, period) {
    this.instrument = instrument;
    this.quantity = quantity; // BigInt, scaled by the instrument's qtyScale
    this.sma = new Sma(period);
  }

  onStep(view) {
    const id = this.instrument.id;
    const bar = view.bar(id);
    if (bar === undefined) return [];
    const close = this.instrument.priceToNumber(bar.close);
    const average = this.sma.update(close);
    if (average === undefined) return [];
    const position = view.position(id);
    if (close > average && position === 0n && view.openQty(id, Side.BUY) === 0n) {
      return [market(id, Side.BUY, this.quantity, 'entry')];
    }
    if (close < average && position > 0n && view.openQty(id, Side.SELL) === 0n) {
      return [market(id, Side.SELL, position, 'exit')];
    }
    return [];
  }
}

export const strategy = exportStrategy(Template);

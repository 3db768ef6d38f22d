// Long-only simple-moving-average crossover: plugins/sma-cross in JavaScript.
//
// Same parameters, orders, tags, error messages and save-state layout as the
// Rust reference, and the same f64 arithmetic in the same order, so a
// backtest gives the identical trade list (asserted by the integration
// tests). Built by `cargo xtask plugins` into target/plugins/sma-cross-js.wasm.

import {
  Sma, Side, StateReader, StateWriter, exportStrategy, market, parse,
} from '../../guest-sdk/js/cracktrader.js';

const ENTRY_TAG = 'sma-cross-entry';
const EXIT_TAG = 'sma-cross-exit';
/** Layout of saveState: fast Sma, slow Sma, previous-difference flag and f64. */
const STATE_VERSION = 1;

class SmaCross {
  static init(config) {
    // Check every parameter before giving up, so one run reports all mistakes.
    const errors = [];
    const keep = (read) => {
      try {
        return read();
      } catch (reason) {
        errors.push(reason);
        return undefined;
      }
    };
    const instrument = keep(() => config.requireInstrument(config.param('instrument')));
    const fast = keep(() => {
      const value = config.paramOr('fast', 10, parse.u32);
      if (value < 1) throw `parameter 'fast' must be at least 1, got ${value}`;
      return value;
    });
    const slow = keep(() => config.paramOr('slow', 30, parse.u32));
    if (fast !== undefined && slow !== undefined && slow <= fast) {
      errors.push(`parameter 'slow' (${slow}) must be greater than 'fast' (${fast})`);
    }
    const quantity = keep(() => config.param('quantity', parse.decimal));
    let target;
    if (instrument !== undefined && quantity !== undefined) {
      target = keep(() => {
        let qty;
        try {
          qty = instrument.qtyFromDecimal(quantity);
        } catch (reason) {
          throw `parameter 'quantity': ${reason}`;
        }
        if (qty <= 0n) throw `parameter 'quantity' must be positive, got ${quantity}`;
        return qty;
      });
    }
    if (errors.length > 0) throw errors.join('; ');
    const info = { name: 'sma-cross-js', version: '0.1.0', subscriptions: [instrument.symbol], warmup: slow };
    return [new SmaCross(instrument, target, fast, slow), info];
  }

  constructor(instrument, quantity, fast, slow) {
    this.instrument = instrument;
    this.quantity = quantity;
    this.fast = new Sma(fast);
    this.slow = new Sma(slow);
    this.prevDiff = undefined;
  }

  onStep(view) {
    const id = this.instrument.id;
    const bar = view.bar(id);
    if (bar === undefined) return [];
    const close = this.instrument.priceToNumber(bar.close);
    // Update both averages on every bar, even while one is still warming up.
    const fast = this.fast.update(close);
    const slow = this.slow.update(close);
    if (fast === undefined || slow === undefined) return [];
    const diff = fast - slow;
    const prev = this.prevDiff;
    this.prevDiff = diff;
    // The first ready bar has nothing to cross from: it only records.
    if (prev === undefined) return [];
    const position = view.position(id);
    if (prev <= 0 && diff > 0) {
      const qty = this.quantity - position - view.openQty(id, Side.BUY);
      if (qty > 0n) return [market(id, Side.BUY, qty, ENTRY_TAG)];
    } else if (prev >= 0 && diff < 0) {
      const qty = position - view.openQty(id, Side.SELL);
      if (qty > 0n) return [market(id, Side.SELL, qty, EXIT_TAG)];
    }
    return [];
  }

  saveState() {
    const writer = new StateWriter(STATE_VERSION);
    this.fast.save(writer);
    this.slow.save(writer);
    writer.writeU8(this.prevDiff === undefined ? 0 : 1);
    writer.writeF64(this.prevDiff ?? 0);
    return writer.intoBytes();
  }

  restoreState(bytes) {
    const reader = new StateReader(bytes);
    if (reader.version !== STATE_VERSION) {
      throw `unsupported sma-cross state version ${reader.version} (this build reads version ${STATE_VERSION})`;
    }
    const fast = Sma.restore(reader);
    const slow = Sma.restore(reader);
    const flag = reader.readU8();
    const prev = reader.readF64();
    if (flag > 1) throw `invalid previous-difference flag ${flag} in sma-cross state`;
    reader.finish();
    // Averages over other periods would silently change the configured strategy.
    for (const [name, saved, configured] of [['fast', fast, this.fast], ['slow', slow, this.slow]]) {
      if (saved.period !== configured.period) {
        throw `saved state has ${name} period ${saved.period} but the config says ${configured.period}`;
      }
    }
    this.fast = fast;
    this.slow = slow;
    this.prevDiff = flag === 1 ? prev : undefined;
  }
}

export const strategy = exportStrategy(SmaCross);

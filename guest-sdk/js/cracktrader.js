// Cracktrader guest helpers for JavaScript strategies (componentize-js).
//
// The JavaScript counterpart of the Rust `cracktrader-guest` crate: typed
// views that keep the latest account, exact decimal helpers, parameter
// readers whose errors name the key and value, an SMA indicator whose f64
// arithmetic follows the Rust one operation for operation (so results are
// bit-identical), the same versioned save-state byte layout, and logging.
//
// WIT types as componentize-js presents them: records are objects with
// camelCase fields; s64/u64 are BigInt, u32/u8 are Number; enums are their
// WIT names as strings ('buy', 'partially-filled'); variants are
// `{ tag, val }`; `option<T>` is the value or undefined; `list<u8>` is a
// Uint8Array; a `result` error is returned by throwing it.

import { log as hostLog } from 'cracktrader:strategy/host@0.2.0';

/** Order sides, as the WIT enum `side` names them. */
export const Side = Object.freeze({ BUY: 'buy', SELL: 'sell' });

/** Order statuses (`status` of open orders and reports), as the WIT enum names them. */
export const OrderStatus = Object.freeze({
  SUBMITTED: 'submitted',
  ACCEPTED: 'accepted',
  REJECTED: 'rejected',
  PARTIALLY_FILLED: 'partially-filled',
  FILLED: 'filled',
  PENDING_CANCEL: 'pending-cancel',
  CANCELLED: 'cancelled',
  EXPIRED: 'expired',
});

/** The event a report carries (`kind` of a report), as the WIT enum names them. */
export const ReportKind = Object.freeze({
  SUBMITTED: 'submitted',
  ACCEPTED: 'accepted',
  REJECTED: 'rejected',
  TRIGGERED: 'triggered',
  FILL: 'fill',
  PENDING_CANCEL: 'pending-cancel',
  CANCELLED: 'cancelled',
  EXPIRED: 'expired',
  REPLACED: 'replaced',
  CANCEL_REJECTED: 'cancel-rejected',
  REPLACE_REJECTED: 'replace-rejected',
});

/** Times in force (the WIT variant `time-in-force`), for the `tif` order option. */
export const TimeInForce = Object.freeze({
  /** Until filled or cancelled (the default). */
  GTC: Object.freeze({ tag: 'gtc' }),
  /** Fill what can be filled at the first opportunity, cancel the rest. */
  IOC: Object.freeze({ tag: 'ioc' }),
  /** Fill the whole quantity at the first opportunity, or nothing. */
  FOK: Object.freeze({ tag: 'fok' }),
  /** Until the end of the UTC day the order was placed on. */
  DAY: Object.freeze({ tag: 'day' }),
  /** Until `time` (BigInt ns since the epoch). */
  gtd: (time) => ({ tag: 'gtd', val: time }),
});

/** Writes a line to the session log; level is 'trace' .. 'error'. */
export function log(level, message) {
  hostLog(level, String(message));
}

/** One function per log level: `logger.info('ready')`. */
export const logger = Object.freeze({
  trace: (message) => log('trace', message),
  debug: (message) => log('debug', message),
  info: (message) => log('info', message),
  warn: (message) => log('warn', message),
  error: (message) => log('error', message),
});

/** The largest scale the WIT contract allows. */
const MAX_SCALE = 28;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

// Powers of ten as doubles, written out like the Rust SDK's table: up to 1e22
// they are exact, so dividing an exact mantissa by one is correctly rounded.
const POW10 = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
  1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28,
];

/** An exact decimal `mantissa * 10^-scale` (mantissa a BigInt). */
export class Decimal {
  constructor(mantissa, scale) {
    this.mantissa = BigInt(mantissa);
    this.scale = scale;
  }

  /** Parses `[+-]digits[.digits]` exactly, keeping every written digit. */
  static parse(text) {
    const match = /^([+-]?)(\d+)(?:\.(\d+))?$/.exec(text);
    if (!match) {
      throw `invalid decimal '${text}': expected [-]digits[.digits]`;
    }
    const frac = match[3] ?? '';
    if (frac.length > MAX_SCALE) {
      throw `decimal '${text}' has more than ${MAX_SCALE} decimal places`;
    }
    let mantissa = BigInt(match[2] + frac);
    if (match[1] === '-') mantissa = -mantissa;
    if (mantissa < I64_MIN || mantissa > I64_MAX) {
      throw `decimal '${text}' does not fit in 64 bits`;
    }
    return new Decimal(mantissa, frac.length);
  }

  /** The WIT `decimal` record `{ mantissa, scale }` as a Decimal. */
  static from(record) {
    return new Decimal(record.mantissa, record.scale);
  }

  /** The mantissa at `scale` decimal places, or null if digits would be lost or i64 overflows. */
  rescale(scale) {
    let value;
    if (scale >= this.scale) {
      value = this.mantissa * 10n ** BigInt(scale - this.scale);
    } else {
      const factor = 10n ** BigInt(this.scale - scale);
      if (this.mantissa % factor !== 0n) return null;
      value = this.mantissa / factor;
    }
    return value < I64_MIN || value > I64_MAX ? null : value;
  }

  /** The nearest double, computed as the Rust SDK does. */
  toNumber() {
    return Number(this.mantissa) / POW10[this.scale];
  }

  /** Every digit of the representation: (-5, 3) is "-0.005". */
  toString() {
    const negative = this.mantissa < 0n;
    const digits = (negative ? -this.mantissa : this.mantissa).toString();
    const sign = negative ? '-' : '';
    if (this.scale === 0) return sign + digits;
    const padded = digits.padStart(this.scale + 1, '0');
    const point = padded.length - this.scale;
    return `${sign}${padded.slice(0, point)}.${padded.slice(point)}`;
  }
}

/** A granted instrument (the WIT `instrument` record) with conversions. */
export class Instrument {
  constructor(record) {
    Object.assign(this, record);
  }

  /** A scaled price (BigInt) as the nearest double, e.g. 107219n at scale 5 is 1.07219. */
  priceToNumber(price) {
    return Number(price) / POW10[this.priceScale];
  }

  /** A scaled quantity (BigInt) as the nearest double. */
  qtyToNumber(qty) {
    return Number(qty) / POW10[this.qtyScale];
  }

  /** `qty` (a Decimal) scaled by `qtyScale`, exactly, if it is a lot multiple; throws otherwise. */
  qtyFromDecimal(qty) {
    const scaled = qty.rescale(this.qtyScale);
    if (scaled === null) {
      throw qty.scale > this.qtyScale
        ? `quantity ${qty} has more than ${this.qtyScale} decimal places for ${this.symbol}`
        : `quantity ${qty} is too large for ${this.symbol}`;
    }
    if (this.lotSize <= 0n) {
      throw `instrument ${this.symbol} has an invalid lot size ${this.lotSize}`;
    }
    if (scaled % this.lotSize !== 0n) {
      const lot = new Decimal(this.lotSize, this.qtyScale);
      throw `quantity ${qty} is not a multiple of the lot size ${lot} for ${this.symbol}`;
    }
    return scaled;
  }
}

/** Parsers for `Config.param`: each returns the value or throws a reason. */
export const parse = Object.freeze({
  text: (text) => text,
  decimal: (text) => Decimal.parse(text),
  /** A u32, as Rust's `u32::from_str` accepts it. */
  u32: (text) => {
    if (!/^\+?\d+$/.test(text)) {
      throw text === '' ? 'cannot parse integer from empty string' : 'invalid digit found in string';
    }
    const value = Number(text);
    if (value > 0xffffffff) throw 'number too large to fit in target type';
    return value;
  },
});

/** The `config` given to `init`, with parameter readers. */
export class Config {
  constructor(record) {
    this.strategyId = record.strategyId;
    this.params = record.params;
    this.instruments = record.instruments.map((i) => new Instrument(i));
  }

  /** The text of parameter `key` (first occurrence), or undefined. */
  rawParam(key) {
    const entry = this.params.find(([name]) => name === key);
    return entry === undefined ? undefined : entry[1];
  }

  /** Required parameter `key`, parsed by `parser` (see `parse`); throws a message naming it. */
  param(key, parser = parse.text) {
    const text = this.rawParam(key);
    if (text === undefined) throw `missing required parameter '${key}'`;
    return parseParam(key, text, parser);
  }

  /** Optional parameter `key`; `fallback` when the session file does not set it. */
  paramOr(key, fallback, parser = parse.text) {
    const text = this.rawParam(key);
    return text === undefined ? fallback : parseParam(key, text, parser);
  }

  /** The granted instrument with this symbol, or a thrown message listing the granted ones. */
  requireInstrument(symbol) {
    const found = this.instruments.find((i) => i.symbol === symbol);
    if (found === undefined) {
      const granted = this.instruments.map((i) => i.symbol).join(', ') || 'none';
      throw `instrument '${symbol}' is not granted to this strategy (granted: ${granted})`;
    }
    return found;
  }
}

function parseParam(key, text, parser) {
  try {
    return parser(text);
  } catch (reason) {
    throw `parameter '${key}': invalid value '${text}': ${reason}`;
  }
}

/**
 * Everything a strategy sees at one step: the step's market data (bars,
 * quotes, trades) plus the latest account the host sent (it sends one only
 * when it may have changed). `baseCurrency`, `equity` and `marginUsed` value
 * the whole execution context (`equity` and `marginUsed` are WIT `decimal`
 * records: `Decimal.from(view.equity)`).
 */
export class View {
  constructor() {
    this.snapshotId = 0n;
    this.time = 0n;
    this.bars = [];
    this.quotes = [];
    this.trades = [];
    this.baseCurrency = '';
    this.equity = { mantissa: 0n, scale: 0 };
    this.marginUsed = { mantissa: 0n, scale: 0 };
    this.positions = [];
    this.balances = [];
    this.openOrders = [];
    this.reports = [];
  }

  /** Folds in one step as received from the host. */
  update(step) {
    this.snapshotId = step.snapshotId;
    this.time = step.time;
    this.bars = step.bars;
    this.quotes = step.quotes;
    this.trades = step.trades;
    if (step.account === undefined || step.account === null) {
      this.reports = [];
    } else {
      this.baseCurrency = step.account.baseCurrency;
      this.equity = step.account.equity;
      this.marginUsed = step.account.marginUsed;
      this.positions = step.account.positions;
      this.balances = step.account.balances;
      this.openOrders = step.account.openOrders;
      this.reports = step.account.reports;
    }
  }

  /** The bar of `instrument` that closed at this step, or undefined. */
  bar(instrument) {
    return this.bars.find((bar) => bar.instrument === instrument);
  }

  /** The quote of `instrument` at this step, or undefined. */
  quote(instrument) {
    return this.quotes.find((quote) => quote.instrument === instrument);
  }

  /** Trades of `instrument` printed at this step. */
  tradesOf(instrument) {
    return this.trades.filter((trade) => trade.instrument === instrument);
  }

  /** The signed position in `instrument` (BigInt, scaled by qtyScale), 0n if none. */
  position(instrument) {
    const found = this.positions.find((p) => p.instrument === instrument);
    return found === undefined ? 0n : found.qty;
  }

  /** Unfilled quantity (BigInt) of working `side` orders in `instrument`. */
  openQty(instrument, side) {
    let total = 0n;
    for (const order of this.openOrders) {
      if (order.instrument === instrument && order.side === side) {
        total += order.qty - order.filledQty;
      }
    }
    return total;
  }

  /** Cash held in `currency`, or undefined. */
  balance(currency) {
    return this.balances.find((b) => b.currency === currency);
  }
}

// Order options, the last argument of every order helper:
// `{ tif, reduceOnly, postOnly }`, each optional (GTC, false, false).
function place(instrument, side, orderType, qty, tag, options = {}) {
  const { tif = TimeInForce.GTC, reduceOnly = false, postOnly = false } = options;
  return {
    tag: 'place',
    val: {
      instrument,
      side,
      orderType,
      timeInForce: tif,
      qty,
      reduceOnly,
      postOnly,
      clientTag: tag,
    },
  };
}

/**
 * A market order intent for `qty` (BigInt, scaled by qtyScale), tagged `tag`.
 * `options`: `{ tif, reduceOnly, postOnly }` (default GTC, false, false).
 */
export function market(instrument, side, qty, tag, options) {
  return place(instrument, side, { tag: 'market' }, qty, tag, options);
}

/** A limit order intent at `price` (BigInt, scaled by priceScale). */
export function limit(instrument, side, qty, price, tag, options) {
  return place(instrument, side, { tag: 'limit', val: price }, qty, tag, options);
}

/** A stop order intent: a market order once `stopPrice` trades. */
export function stop(instrument, side, qty, stopPrice, tag, options) {
  return place(instrument, side, { tag: 'stop', val: stopPrice }, qty, tag, options);
}

/** A stop-limit order intent: a limit order at `limitPrice` once `stopPrice` trades. */
export function stopLimit(instrument, side, qty, stopPrice, limitPrice, tag, options) {
  const orderType = { tag: 'stop-limit', val: { stop: stopPrice, limit: limitPrice } };
  return place(instrument, side, orderType, qty, tag, options);
}

/** A cancel intent for a working order. */
export function cancel(orderId) {
  return { tag: 'cancel', val: orderId };
}

/**
 * A replace intent for working order `orderId`: `{ qty, limitPrice,
 * stopPrice }` (BigInts), each left out to keep the current value.
 */
export function replace(orderId, { qty, limitPrice, stopPrice } = {}) {
  return { tag: 'replace', val: { orderId, qty, limitPrice, stopPrice } };
}

/** Cancels every working order of the strategy, or only those in `instrument`. */
export function cancelAll(instrument) {
  return { tag: 'cancel-all', val: instrument };
}

/** Builds saved state in the SDK's layout: a version byte, then values little-endian. */
export class StateWriter {
  constructor(version) {
    this.bytes = [version];
  }

  writeU8(value) {
    this.bytes.push(value);
  }

  writeU64(value) {
    this.#write8((view) => view.setBigUint64(0, BigInt(value), true));
  }

  writeI64(value) {
    this.#write8((view) => view.setBigInt64(0, BigInt(value), true));
  }

  /** An f64 as its IEEE-754 bits, so a restore continues bit for bit. */
  writeF64(value) {
    this.#write8((view) => view.setFloat64(0, value, true));
  }

  intoBytes() {
    return Uint8Array.from(this.bytes);
  }

  #write8(set) {
    const view = new DataView(new ArrayBuffer(8));
    set(view);
    for (let i = 0; i < 8; i++) this.bytes.push(view.getUint8(i));
  }
}

/** Reads state written by a StateWriter; every read checks the length and throws a message. */
export class StateReader {
  constructor(bytes) {
    if (bytes.length === 0) throw 'state is empty: no version byte';
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.version = bytes[0];
    this.offset = 1;
  }

  readU8() {
    return this.view.getUint8(this.#take(1));
  }

  readU64() {
    return this.view.getBigUint64(this.#take(8), true);
  }

  readI64() {
    return this.view.getBigInt64(this.#take(8), true);
  }

  readF64() {
    return this.view.getFloat64(this.#take(8), true);
  }

  /** Throws if bytes are left over: they mean another layout. */
  finish() {
    const rest = this.view.byteLength - this.offset;
    if (rest !== 0) {
      throw `state version ${this.version} has ${rest} unexpected trailing bytes at offset ${this.offset}`;
    }
  }

  #take(n) {
    const rest = this.view.byteLength - this.offset;
    if (rest < n) {
      throw `state version ${this.version} is truncated: expected ${n} more bytes at offset ${this.offset}, found ${rest}`;
    }
    const at = this.offset;
    this.offset += n;
    return at;
  }
}

/**
 * Simple moving average of the last `period` values, with the Rust SDK's
 * exact order of operations: once the window is full `sum -= oldest`, then
 * `sum += x`; the value is `sum / period`.
 */
export class Sma {
  constructor(period) {
    if (!(period >= 1)) throw new Error('Sma period must be at least 1');
    this.period = period;
    this.window = [];
    this.next = 0;
    this.sum = 0;
  }

  /** Adds `x`; returns the average once `period` values were seen, else undefined. */
  update(x) {
    if (this.window.length < this.period) {
      this.window.push(x);
    } else {
      this.sum -= this.window[this.next];
      this.window[this.next] = x;
      this.next = (this.next + 1) % this.period;
    }
    this.sum += x;
    return this.value();
  }

  value() {
    return this.isReady() ? this.sum / this.period : undefined;
  }

  isReady() {
    return this.window.length === this.period;
  }

  /** Appends the exact state in the Rust SDK's layout. */
  save(writer) {
    writer.writeU64(this.period);
    writer.writeU64(this.window.length);
    writer.writeU64(this.next);
    writer.writeF64(this.sum);
    for (const value of this.window) writer.writeF64(value);
  }

  /** Reads state written by `save`, checking it is consistent. */
  static restore(reader) {
    const period = Number(reader.readU64());
    const len = Number(reader.readU64());
    const next = Number(reader.readU64());
    const sum = reader.readF64();
    const ringOk = len === period ? next < period : next === 0;
    if (period === 0 || len > period || !ringOk) {
      throw `inconsistent Sma state: period ${period}, window length ${len}, ring index ${next}`;
    }
    const sma = new Sma(period);
    for (let i = 0; i < len; i++) sma.window.push(reader.readF64());
    sma.next = next;
    sma.sum = sum;
    return sma;
  }
}

/**
 * The `strategy` export for a strategy class: `export const strategy =
 * exportStrategy(MyStrategy)`.
 *
 * The class provides `static init(config: Config) -> [instance, info]`
 * (throwing a message string refuses the config), `onStep(view: View)` that
 * returns a list of intents, and optionally `saveState() -> Uint8Array` and
 * `restoreState(bytes)` (throwing a message refuses the bytes).
 */
export function exportStrategy(StrategyClass) {
  let instance = null;
  const view = new View();
  const required = (call) => {
    if (instance === null) {
      throw new Error(`cracktrader: ${call} called before a successful init; the host must call init first`);
    }
    return instance;
  };
  return {
    init(config) {
      // A refused config must not leave an earlier instance answering steps.
      instance = null;
      Object.assign(view, new View());
      const [created, info] = StrategyClass.init(new Config(config));
      instance = created;
      return info;
    },
    onStep(step) {
      const strategy = required('on-step');
      view.update(step);
      return strategy.onStep(view);
    },
    saveState() {
      const strategy = required('save-state');
      return strategy.saveState ? strategy.saveState() : new Uint8Array();
    },
    restoreState(bytes) {
      if (instance === null) throw 'restore-state called before a successful init';
      if (instance.restoreState) instance.restoreState(bytes);
    },
  };
}

//! The exchange: accounts, a price-time-priority book of user orders per
//! symbol, a synthetic market maker quoting around the replayed price, and the
//! bar replay that moves that price.
//!
//! Invariants: every amount is a `Decimal`; an open order's `locked` is what it
//! holds in its account's `locked` balance (quote for buys, base for sells), so
//! for every asset `sum(free + locked) + fees + market maker = initial`.
//! Operations are synchronous and deterministic; each one appends the events
//! it causes (market streams and user data) to a buffer drained by the server.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::config::{Bar, Loaded, SymbolConfig, MAX_NOTIONAL, MAX_PRICE};

/// A request the exchange refuses: Binance's error code and message (HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {msg}")]
pub struct Reject {
    /// Binance error code, e.g. -2010.
    pub code: i32,
    /// Binance error message.
    pub msg: String,
}

impl Reject {
    /// A refusal with `code` and `msg`.
    pub fn new(code: i32, msg: impl Into<String>) -> Self {
        Self {
            code,
            msg: msg.into(),
        }
    }
}

fn insufficient() -> Reject {
    Reject::new(
        -2010,
        "Account has insufficient balance for requested action.",
    )
}

/// Order side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// BUY
    Buy,
    /// SELL
    Sell,
}

/// Order type (the subset the emulator supports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderType {
    /// LIMIT
    Limit,
    /// LIMIT_MAKER: a post-only limit order.
    LimitMaker,
    /// MARKET
    Market,
    /// STOP_LOSS: a market order once the stop price is reached.
    StopLoss,
    /// STOP_LOSS_LIMIT: a limit order once the stop price is reached.
    StopLossLimit,
}

/// Time in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Immediate or cancel.
    Ioc,
    /// Fill or kill.
    Fok,
}

/// Order status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// NEW
    New,
    /// PARTIALLY_FILLED
    PartiallyFilled,
    /// FILLED
    Filled,
    /// CANCELED
    Canceled,
    /// EXPIRED
    Expired,
}

impl Side {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Buy => "BUY",
            Side::Sell => "SELL",
        }
    }
    /// Parses the API spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "BUY" => Some(Side::Buy),
            "SELL" => Some(Side::Sell),
            _ => None,
        }
    }
}

impl OrderType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            OrderType::Limit => "LIMIT",
            OrderType::LimitMaker => "LIMIT_MAKER",
            OrderType::Market => "MARKET",
            OrderType::StopLoss => "STOP_LOSS",
            OrderType::StopLossLimit => "STOP_LOSS_LIMIT",
        }
    }
    /// Parses the API spelling.
    pub fn parse(text: &str) -> Option<Self> {
        [
            OrderType::Limit,
            OrderType::LimitMaker,
            OrderType::Market,
            OrderType::StopLoss,
            OrderType::StopLossLimit,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }
    /// Whether the order carries a limit price.
    pub fn has_price(self) -> bool {
        matches!(
            self,
            OrderType::Limit | OrderType::LimitMaker | OrderType::StopLossLimit
        )
    }
    /// Whether the order waits for its stop price.
    pub fn has_stop(self) -> bool {
        matches!(self, OrderType::StopLoss | OrderType::StopLossLimit)
    }
    /// Whether `timeInForce` is mandatory.
    pub fn needs_time_in_force(self) -> bool {
        matches!(self, OrderType::Limit | OrderType::StopLossLimit)
    }
}

impl TimeInForce {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
            TimeInForce::Fok => "FOK",
        }
    }
    /// Parses the API spelling.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "GTC" => Some(TimeInForce::Gtc),
            "IOC" => Some(TimeInForce::Ioc),
            "FOK" => Some(TimeInForce::Fok),
            _ => None,
        }
    }
}

impl Status {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::PartiallyFilled => "PARTIALLY_FILLED",
            Status::Filled => "FILLED",
            Status::Canceled => "CANCELED",
            Status::Expired => "EXPIRED",
        }
    }
    /// Whether the order can still trade.
    pub fn is_open(self) -> bool {
        matches!(self, Status::New | Status::PartiallyFilled)
    }

    /// The order state machine: the status after `change`, None when the
    /// change is not allowed from this status.
    fn after(self, change: Change) -> Option<Status> {
        use Status::*;
        match (self, change) {
            (New | PartiallyFilled, Change::Fill { complete: false }) => Some(PartiallyFilled),
            (New | PartiallyFilled, Change::Fill { complete: true }) => Some(Filled),
            (New | PartiallyFilled, Change::Cancel) => Some(Canceled),
            (New | PartiallyFilled, Change::Expire) => Some(Expired),
            _ => None,
        }
    }
}

/// What happens to an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// A fill; `complete` when nothing remains.
    Fill { complete: bool },
    /// Cancelled by its owner.
    Cancel,
    /// Time in force (IOC, FOK, market remainder) ran out.
    Expire,
}

/// A validated new-order request.
#[derive(Debug, Clone)]
pub struct NewOrder {
    /// Symbol name (upper case).
    pub symbol: String,
    /// Side.
    pub side: Side,
    /// Type.
    pub kind: OrderType,
    /// Time in force (GTC when not given and not required).
    pub time_in_force: TimeInForce,
    /// Quantity in base units.
    pub quantity: Decimal,
    /// Limit price, for types that have one.
    pub price: Option<Decimal>,
    /// Stop price, for stop types.
    pub stop_price: Option<Decimal>,
    /// Client order id; generated when absent.
    pub client_order_id: Option<String>,
}

/// An order, open or closed.
#[derive(Debug, Clone)]
pub struct Order {
    /// Exchange order id (1-based, global).
    pub id: u64,
    /// Owning account index.
    pub account: usize,
    /// Symbol index.
    pub symbol: usize,
    /// Client order id.
    pub client_id: String,
    /// Side.
    pub side: Side,
    /// Type.
    pub kind: OrderType,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Limit price (0 for market types).
    pub price: Decimal,
    /// Stop price (0 for non-stop types).
    pub stop_price: Decimal,
    /// Ordered quantity.
    pub orig_qty: Decimal,
    /// Filled quantity.
    pub executed_qty: Decimal,
    /// Sum of price × quantity over fills.
    pub cum_quote: Decimal,
    /// Status.
    pub status: Status,
    /// Creation time (market ms).
    pub time: i64,
    /// Last update time (market ms).
    pub update_time: i64,
    /// When it started working (market ms); -1 for an untriggered stop.
    pub working_time: i64,
    /// Amount still held in the account's locked balance.
    pub locked: Decimal,
    /// Price-time priority sequence, set when it starts resting.
    seq: u64,
}

impl Order {
    fn remaining(&self) -> Decimal {
        self.orig_qty - self.executed_qty
    }
    fn is_working(&self) -> bool {
        self.working_time >= 0
    }
}

/// One side of an executed trade, as `myTrades` reports it.
#[derive(Debug, Clone)]
pub struct Trade {
    /// Trade id (per symbol, shared by both sides of a user-vs-user match).
    pub id: u64,
    /// Account index.
    pub account: usize,
    /// Symbol index.
    pub symbol: usize,
    /// Order id.
    pub order_id: u64,
    /// Price.
    pub price: Decimal,
    /// Quantity.
    pub qty: Decimal,
    /// Commission (in the quote asset).
    pub commission: Decimal,
    /// Market time (ms).
    pub time: i64,
    /// Whether this side bought.
    pub is_buyer: bool,
    /// Whether this side was the resting order.
    pub is_maker: bool,
}

/// The fill an execution report describes (`L`, `l`, `n`, `t`, `m`).
#[derive(Debug, Clone, Copy, Default)]
struct LastFill {
    price: Decimal,
    qty: Decimal,
    commission: Decimal,
    trade_id: u64,
    maker: bool,
}

/// Free and locked amounts of one asset.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// Available.
    pub free: Decimal,
    /// Held by open orders.
    pub locked: Decimal,
}

/// An account: credentials and balances.
#[derive(Debug, Clone)]
pub struct Account {
    /// API key.
    pub api_key: String,
    /// HMAC secret.
    pub secret: String,
    /// Balances per asset.
    pub balances: BTreeMap<String, Balance>,
}

/// A closed kline as `GET /api/v3/klines` and the kline stream report it.
#[derive(Debug, Clone)]
pub struct Kline {
    /// The bar.
    pub bar: Bar,
    /// Close time (ms).
    pub close_time: i64,
    /// First trade id of the bar.
    pub first_trade: u64,
    /// Last trade id of the bar.
    pub last_trade: u64,
    /// Quote volume.
    pub quote_volume: Decimal,
}

/// An event for the WebSocket streams.
#[derive(Debug, Clone)]
pub enum Event {
    /// A market stream payload (`stream` is e.g. `eurusd@trade`).
    Market {
        /// Stream name.
        stream: String,
        /// Payload.
        data: Value,
    },
    /// A user-data payload for one account.
    User {
        /// Account index.
        account: usize,
        /// Payload.
        data: Value,
    },
}

struct Market {
    config: SymbolConfig,
    bars: Vec<Bar>,
    last: Decimal,
    bid: Decimal,
    ask: Decimal,
    next_trade_id: u64,
    book_update_id: u64,
    /// What is left of the current bar's volume for fills of resting orders.
    bar_volume_left: Decimal,
    klines: Vec<Kline>,
    /// Open working limit orders (ids), any order.
    resting: Vec<u64>,
    /// Untriggered stop orders (ids).
    stops: Vec<u64>,
}

/// Exchange-wide settings taken from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Kline interval label.
    pub kline_interval: String,
    /// Kline interval in ms.
    pub interval_ms: i64,
    /// Spread in ticks.
    pub spread_ticks: u32,
    /// Synthetic depth per taker order.
    pub depth: Decimal,
    /// Maker fee rate.
    pub maker_fee: Decimal,
    /// Taker fee rate.
    pub taker_fee: Decimal,
}

/// The whole exchange state.
pub struct Exchange {
    settings: Settings,
    markets: Vec<Market>,
    accounts: Vec<Account>,
    initial: BTreeMap<String, Decimal>,
    orders: Vec<Order>,
    trades: Vec<Trade>,
    /// Bars grouped by timestamp: (time, [(symbol, bar index)]).
    timeline: Vec<(i64, Vec<(usize, usize)>)>,
    next_step: usize,
    market_time: i64,
    seq: u64,
    generated_ids: u64,
    fees: BTreeMap<String, Decimal>,
    /// Net asset flow to the synthetic market maker (negative: it paid out).
    market_maker: BTreeMap<String, Decimal>,
    events: Vec<Event>,
    touched: BTreeSet<(usize, String)>,
}

/// Rounds `value` down to a multiple of `step`.
fn floor_to(value: Decimal, step: Decimal) -> Decimal {
    (value / step).floor() * step
}

/// Rounds `value` up to a multiple of `step`.
fn ceil_to(value: Decimal, step: Decimal) -> Decimal {
    (value / step).ceil() * step
}

/// The API's decimal spelling.
pub fn dec(value: Decimal) -> String {
    value.normalize().to_string()
}

impl Exchange {
    /// Builds the exchange from a loaded configuration; the price of each
    /// symbol starts at its first bar's open.
    pub fn new(loaded: Loaded) -> Self {
        let config = loaded.config;
        let settings = Settings {
            kline_interval: config.kline_interval.clone(),
            interval_ms: loaded.interval_ms,
            spread_ticks: config.spread_ticks,
            depth: config.depth,
            maker_fee: config.maker_fee,
            taker_fee: config.taker_fee,
        };
        let mut groups: BTreeMap<i64, Vec<(usize, usize)>> = BTreeMap::new();
        for (s, bars) in loaded.bars.iter().enumerate() {
            for (i, bar) in bars.iter().enumerate() {
                groups.entry(bar.time_ms).or_default().push((s, i));
            }
        }
        let market_time = groups.keys().next().copied().unwrap_or(0);
        let markets = config
            .symbols
            .iter()
            .zip(loaded.bars)
            .map(|(cfg, bars)| Market {
                config: cfg.clone(),
                last: bars[0].open,
                bid: Decimal::ZERO,
                ask: Decimal::ZERO,
                bars,
                next_trade_id: 1,
                book_update_id: 0,
                bar_volume_left: Decimal::ZERO,
                klines: Vec::new(),
                resting: Vec::new(),
                stops: Vec::new(),
            })
            .collect::<Vec<_>>();
        let assets: BTreeSet<String> = markets
            .iter()
            .flat_map(|m| [m.config.base_asset.clone(), m.config.quote_asset.clone()])
            .collect();
        let mut initial: BTreeMap<String, Decimal> = BTreeMap::new();
        let accounts = config
            .accounts
            .iter()
            .map(|a| {
                let mut balances: BTreeMap<String, Balance> = assets
                    .iter()
                    .map(|asset| (asset.clone(), Balance::default()))
                    .collect();
                for (asset, amount) in &a.balances {
                    balances.entry(asset.clone()).or_default().free = *amount;
                    *initial.entry(asset.clone()).or_default() += *amount;
                }
                Account {
                    api_key: a.api_key.clone(),
                    secret: a.secret.clone(),
                    balances,
                }
            })
            .collect();
        let mut exchange = Self {
            settings,
            markets,
            accounts,
            initial,
            orders: Vec::new(),
            trades: Vec::new(),
            timeline: groups.into_iter().collect(),
            next_step: 0,
            market_time,
            seq: 0,
            generated_ids: 0,
            fees: BTreeMap::new(),
            market_maker: BTreeMap::new(),
            events: Vec::new(),
            touched: BTreeSet::new(),
        };
        for s in 0..exchange.markets.len() {
            exchange.requote(s);
        }
        exchange
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The symbols' configurations.
    pub fn symbols(&self) -> impl Iterator<Item = &SymbolConfig> {
        self.markets.iter().map(|m| &m.config)
    }

    /// The account index for an API key.
    pub fn account_by_key(&self, api_key: &str) -> Option<usize> {
        self.accounts.iter().position(|a| a.api_key == api_key)
    }

    /// An account.
    pub fn account(&self, account: usize) -> &Account {
        &self.accounts[account]
    }

    /// The symbol index for a name.
    pub fn symbol_index(&self, symbol: &str) -> Result<usize, Reject> {
        self.markets
            .iter()
            .position(|m| m.config.symbol == symbol)
            .ok_or_else(|| Reject::new(-1121, "Invalid symbol."))
    }

    /// The symbol's name.
    pub fn symbol_name(&self, symbol: usize) -> &str {
        &self.markets[symbol].config.symbol
    }

    /// The current market time (the replayed bar's open time, ms).
    pub fn market_time(&self) -> i64 {
        self.market_time
    }

    /// Whether every bar has been replayed.
    pub fn replay_done(&self) -> bool {
        self.next_step >= self.timeline.len()
    }

    /// How many bar groups (timestamps) have been replayed.
    pub fn bars_replayed(&self) -> usize {
        self.next_step
    }

    /// Every order ever accepted.
    pub fn orders(&self) -> &[Order] {
        &self.orders
    }

    /// Every trade side.
    pub fn trades(&self) -> &[Trade] {
        &self.trades
    }

    /// Commission collected per asset.
    pub fn fees(&self) -> &BTreeMap<String, Decimal> {
        &self.fees
    }

    /// Net flow to the synthetic market maker per asset.
    pub fn market_maker(&self) -> &BTreeMap<String, Decimal> {
        &self.market_maker
    }

    /// Initial balances summed over accounts.
    pub fn initial(&self) -> &BTreeMap<String, Decimal> {
        &self.initial
    }

    /// Accounts.
    pub fn accounts(&self) -> &[Account] {
        &self.accounts
    }

    /// Closed klines of a symbol so far.
    pub fn klines(&self, symbol: usize) -> &[Kline] {
        &self.markets[symbol].klines
    }

    /// Takes the events produced since the last call.
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Finds an account's order on a symbol by id or client id (the latest with that client id).
    pub fn find_order(
        &self,
        account: usize,
        symbol: usize,
        order_id: Option<u64>,
        client_id: Option<&str>,
    ) -> Option<&Order> {
        let matches = |o: &&Order| o.account == account && o.symbol == symbol;
        match (order_id, client_id) {
            (Some(id), _) => self
                .orders
                .get((id as usize).wrapping_sub(1))
                .filter(matches)
                .filter(|o| client_id.is_none_or(|c| c == o.client_id)),
            (None, Some(c)) => self
                .orders
                .iter()
                .rev()
                .filter(matches)
                .find(|o| o.client_id == c),
            (None, None) => None,
        }
    }

    /// Generates a client order id (deterministic).
    pub fn generate_client_id(&mut self) -> String {
        self.generated_ids += 1;
        format!("emu{:019}", self.generated_ids)
    }

    fn requote(&mut self, s: usize) {
        let spread = Decimal::from(self.settings.spread_ticks);
        let m = &mut self.markets[s];
        let tick = m.config.tick_size;
        let half = tick * spread / Decimal::TWO;
        m.bid = floor_to(m.last - half, tick);
        m.ask = ceil_to(m.last + half, tick);
        if m.bid <= Decimal::ZERO {
            m.bid = tick;
        }
        m.book_update_id += 1;
    }

    fn balance(&mut self, account: usize, asset: &str) -> &mut Balance {
        self.touched.insert((account, asset.to_owned()));
        self.accounts[account]
            .balances
            .entry(asset.to_owned())
            .or_default()
    }

    /// Validates filters and balance, accepts the order and matches it.
    pub fn place(&mut self, account: usize, request: NewOrder) -> Result<u64, Reject> {
        let s = self.symbol_index(&request.symbol)?;
        self.check_filters(s, &request)?;
        let client_id = match request.client_order_id {
            Some(c) => c,
            None => self.generate_client_id(),
        };
        if self
            .orders
            .iter()
            .any(|o| o.account == account && o.status.is_open() && o.client_id == client_id)
        {
            return Err(Reject::new(-2010, "Duplicate order sent."));
        }
        let m = &self.markets[s];
        let price = request.price.unwrap_or_default();
        let stop = request.stop_price.unwrap_or_default();
        if request.kind == OrderType::LimitMaker
            && self.crossing_quantity(s, request.side, Some(price)) > Decimal::ZERO
        {
            return Err(Reject::new(
                -2010,
                "Order would immediately match and take.",
            ));
        }
        if request.kind.has_stop() && stop_triggered(request.side, stop, m.last) {
            return Err(Reject::new(-2010, "Stop price would trigger immediately."));
        }
        let (asset, lock) = match request.side {
            Side::Sell => (m.config.base_asset.clone(), request.quantity),
            Side::Buy => {
                let reference = match request.kind {
                    OrderType::Market => m.ask,
                    OrderType::StopLoss => stop,
                    _ => price,
                };
                let cost = reference * request.quantity * (Decimal::ONE + self.settings.taker_fee);
                (m.config.quote_asset.clone(), cost)
            }
        };
        let balance = self.balance(account, &asset);
        if balance.free < lock {
            self.touched.clear();
            return Err(insufficient());
        }
        balance.free -= lock;
        balance.locked += lock;
        let now = self.market_time;
        let id = self.orders.len() as u64 + 1;
        self.orders.push(Order {
            id,
            account,
            symbol: s,
            client_id,
            side: request.side,
            kind: request.kind,
            time_in_force: request.time_in_force,
            price,
            stop_price: stop,
            orig_qty: request.quantity,
            executed_qty: Decimal::ZERO,
            cum_quote: Decimal::ZERO,
            status: Status::New,
            time: now,
            update_time: now,
            working_time: if request.kind.has_stop() { -1 } else { now },
            locked: lock,
            seq: 0,
        });
        self.report(id, "NEW", None, "");
        if request.kind.has_stop() {
            self.markets[s].stops.push(id);
        } else {
            self.work(id);
        }
        self.publish_positions();
        Ok(id)
    }

    fn check_filters(&self, s: usize, r: &NewOrder) -> Result<(), Reject> {
        let c = &self.markets[s].config;
        let filter = |name: &str| Reject::new(-1013, format!("Filter failure: {name}"));
        for p in [r.price, r.stop_price].into_iter().flatten() {
            if p < c.tick_size || p > Decimal::from(MAX_PRICE) || !(p % c.tick_size).is_zero() {
                return Err(filter("PRICE_FILTER"));
            }
        }
        let (min_qty, max_qty) = (c.min_qty(), c.max_qty());
        if r.quantity < min_qty
            || r.quantity > max_qty
            || !((r.quantity - min_qty) % c.step_size).is_zero()
        {
            return Err(filter("LOT_SIZE"));
        }
        let reference = r.price.or(r.stop_price).unwrap_or(self.markets[s].last);
        let notional = reference * r.quantity;
        if notional < c.min_notional || notional > Decimal::from(MAX_NOTIONAL) {
            return Err(filter("NOTIONAL"));
        }
        Ok(())
    }

    /// Quantity the book (user orders and the synthetic maker) offers to a
    /// taker on `side` at `limit` (None: any price).
    fn crossing_quantity(&self, s: usize, side: Side, limit: Option<Decimal>) -> Decimal {
        let m = &self.markets[s];
        let reachable = |p: Decimal| crosses(side, limit, p);
        let users: Decimal = m
            .resting
            .iter()
            .map(|&id| &self.orders[id as usize - 1])
            .filter(|o| o.side != side && reachable(o.price))
            .map(Order::remaining)
            .sum();
        let synthetic = match side {
            Side::Buy => m.ask,
            Side::Sell => m.bid,
        };
        users
            + if reachable(synthetic) {
                self.settings.depth
            } else {
                Decimal::ZERO
            }
    }

    /// Makes a working order (new, or a triggered stop) take liquidity, then
    /// rest or expire what is left.
    fn work(&mut self, id: u64) {
        let o = &self.orders[id as usize - 1];
        let (s, side, tif) = (o.symbol, o.side, o.time_in_force);
        let limit = o.kind.has_price().then_some(o.price);
        let takes = o.kind != OrderType::LimitMaker;
        if tif == TimeInForce::Fok && self.crossing_quantity(s, side, limit) < o.remaining() {
            self.close(id, Change::Expire, None);
            return;
        }
        if takes {
            self.take(id, limit);
        }
        let o = &self.orders[id as usize - 1];
        if o.status.is_open() {
            if limit.is_some() && tif == TimeInForce::Gtc {
                self.seq += 1;
                let seq = self.seq;
                self.orders[id as usize - 1].seq = seq;
                self.markets[s].resting.push(id);
            } else {
                self.close(id, Change::Expire, None);
            }
        }
    }

    fn take(&mut self, id: u64, limit: Option<Decimal>) {
        let (s, side) = {
            let o = &self.orders[id as usize - 1];
            (o.symbol, o.side)
        };
        let mut synthetic_left = self.settings.depth;
        loop {
            let o = &self.orders[id as usize - 1];
            let remaining = o.remaining();
            if remaining.is_zero() {
                break;
            }
            let m = &self.markets[s];
            let better = |a: Decimal, b: Decimal| match side {
                Side::Buy => a < b,
                Side::Sell => a > b,
            };
            let reachable = |p: Decimal| crosses(side, limit, p);
            let maker = m
                .resting
                .iter()
                .map(|&mid| &self.orders[mid as usize - 1])
                .filter(|r| r.side != side && reachable(r.price))
                .min_by(|a, b| {
                    if better(a.price, b.price) {
                        std::cmp::Ordering::Less
                    } else if better(b.price, a.price) {
                        std::cmp::Ordering::Greater
                    } else {
                        a.seq.cmp(&b.seq)
                    }
                })
                .map(|r| (r.id, r.price, r.remaining()));
            let quote = match side {
                Side::Buy => m.ask,
                Side::Sell => m.bid,
            };
            let synthetic = (synthetic_left > Decimal::ZERO && reachable(quote)).then_some(quote);
            let (maker_id, price, available) = match (maker, synthetic) {
                (Some((mid, p, q)), Some(sp)) if !better(sp, p) => (Some(mid), p, q),
                (Some((mid, p, q)), None) => (Some(mid), p, q),
                (_, Some(sp)) => (None, sp, synthetic_left),
                (None, None) => break,
            };
            let mut qty = remaining.min(available);
            if side == Side::Buy {
                qty = qty.min(self.affordable(id, price, self.settings.taker_fee));
            }
            if let Some(mid) = maker_id {
                let maker = &self.orders[mid as usize - 1];
                if maker.side == Side::Buy {
                    qty = qty.min(self.affordable(mid, price, self.settings.maker_fee));
                }
            }
            if qty <= Decimal::ZERO {
                break;
            }
            if maker_id.is_none() {
                synthetic_left -= qty;
            }
            self.fill(s, Some(id), maker_id, price, qty);
        }
    }

    /// The largest quantity (in steps) a buy order can pay for at `price`.
    fn affordable(&self, id: u64, price: Decimal, rate: Decimal) -> Decimal {
        let o = &self.orders[id as usize - 1];
        let m = &self.markets[o.symbol];
        let free = self.accounts[o.account].balances[&m.config.quote_asset].free;
        let unit = price * (Decimal::ONE + rate);
        floor_to((o.locked + free) / unit, m.config.step_size)
    }

    /// One trade at `price` for `qty` between a taker and a maker; `None`
    /// on either side is the synthetic market maker.
    fn fill(
        &mut self,
        s: usize,
        taker: Option<u64>,
        maker: Option<u64>,
        price: Decimal,
        qty: Decimal,
    ) {
        let m = &mut self.markets[s];
        let trade_id = m.next_trade_id;
        m.next_trade_id += 1;
        let (base, quote) = (m.config.base_asset.clone(), m.config.quote_asset.clone());
        let symbol = m.config.symbol.clone();
        let mut buyer_is_maker = false;
        for (id, is_maker) in [(taker, false), (maker, true)] {
            match id {
                Some(id) => {
                    if is_maker && self.orders[id as usize - 1].side == Side::Buy {
                        buyer_is_maker = true;
                    }
                    self.execute(id, price, qty, is_maker, trade_id);
                }
                None => {
                    // The synthetic maker takes the other side of the user order.
                    let user = taker.or(maker).expect("one side is a user order");
                    let sign = match self.orders[user as usize - 1].side {
                        Side::Buy => Decimal::ONE,
                        Side::Sell => Decimal::NEGATIVE_ONE,
                    };
                    if is_maker && sign.is_sign_negative() {
                        buyer_is_maker = true;
                    }
                    *self.market_maker.entry(base.clone()).or_default() -= sign * qty;
                    *self.market_maker.entry(quote.clone()).or_default() += sign * price * qty;
                }
            }
        }
        let time = self.market_time;
        self.events.push(Event::Market {
            stream: format!("{}@trade", symbol.to_lowercase()),
            data: json!({"e": "trade", "E": time, "s": symbol, "t": trade_id, "p": dec(price),
                "q": dec(qty), "T": time, "m": buyer_is_maker, "M": true}),
        });
    }

    /// Applies one fill to a user order: quantities, balances, commission,
    /// the trade record and its execution report.
    fn execute(&mut self, id: u64, price: Decimal, qty: Decimal, is_maker: bool, trade_id: u64) {
        let rate = if is_maker {
            self.settings.maker_fee
        } else {
            self.settings.taker_fee
        };
        let (account, s, side) = {
            let o = &self.orders[id as usize - 1];
            (o.account, o.symbol, o.side)
        };
        let (base, quote) = {
            let c = &self.markets[s].config;
            (c.base_asset.clone(), c.quote_asset.clone())
        };
        let notional = price * qty;
        let commission = (notional * rate).round_dp(8);
        match side {
            Side::Buy => {
                let cost = notional + commission;
                let from_lock = cost.min(self.orders[id as usize - 1].locked);
                self.orders[id as usize - 1].locked -= from_lock;
                let b = self.balance(account, &quote);
                b.locked -= from_lock;
                b.free -= cost - from_lock;
                self.balance(account, &base).free += qty;
            }
            Side::Sell => {
                self.orders[id as usize - 1].locked -= qty;
                self.balance(account, &base).locked -= qty;
                self.balance(account, &quote).free += notional - commission;
            }
        }
        *self.fees.entry(quote.clone()).or_default() += commission;
        let now = self.market_time;
        let o = &mut self.orders[id as usize - 1];
        o.executed_qty += qty;
        o.cum_quote += notional;
        o.update_time = now;
        let complete = o.remaining().is_zero();
        o.status = o
            .status
            .after(Change::Fill { complete })
            .expect("only open orders fill");
        self.trades.push(Trade {
            id: trade_id,
            account,
            symbol: s,
            order_id: id,
            price,
            qty,
            commission,
            time: now,
            is_buyer: side == Side::Buy,
            is_maker,
        });
        self.report(
            id,
            "TRADE",
            Some(LastFill {
                price,
                qty,
                commission,
                trade_id,
                maker: is_maker,
            }),
            "",
        );
        if self.orders[id as usize - 1].status == Status::Filled {
            self.release(id);
        }
    }

    /// Returns what an order still holds to the free balance and takes it off the book.
    fn release(&mut self, id: u64) {
        let o = &mut self.orders[id as usize - 1];
        let (account, s, side, locked) = (o.account, o.symbol, o.side, o.locked);
        o.locked = Decimal::ZERO;
        let c = &self.markets[s].config;
        let asset = match side {
            Side::Buy => c.quote_asset.clone(),
            Side::Sell => c.base_asset.clone(),
        };
        let b = self.balance(account, &asset);
        b.locked -= locked;
        b.free += locked;
        let m = &mut self.markets[s];
        m.resting.retain(|&r| r != id);
        m.stops.retain(|&r| r != id);
    }

    fn close(&mut self, id: u64, change: Change, cancel_id: Option<&str>) {
        let now = self.market_time;
        let o = &mut self.orders[id as usize - 1];
        o.status = o.status.after(change).expect("only open orders close");
        o.update_time = now;
        self.release(id);
        let execution = match change {
            Change::Cancel => "CANCELED",
            _ => "EXPIRED",
        };
        self.report(id, execution, None, cancel_id.unwrap_or(""));
    }

    /// Cancels an open order; `cancel_id` is the cancel request's client id.
    pub fn cancel(&mut self, id: u64, cancel_id: &str) -> Result<(), Reject> {
        if !self.orders[id as usize - 1].status.is_open() {
            return Err(Reject::new(-2011, "Unknown order sent."));
        }
        self.close(id, Change::Cancel, Some(cancel_id));
        self.publish_positions();
        Ok(())
    }

    /// Open orders of an account, optionally on one symbol.
    pub fn open_orders(&self, account: usize, symbol: Option<usize>) -> Vec<&Order> {
        self.orders
            .iter()
            .filter(|o| {
                o.account == account && o.status.is_open() && symbol.is_none_or(|s| s == o.symbol)
            })
            .collect()
    }

    fn report(&mut self, id: u64, execution: &str, fill: Option<LastFill>, orig_client_id: &str) {
        let o = &self.orders[id as usize - 1];
        let c = &self.markets[o.symbol].config;
        let LastFill {
            price: last_price,
            qty: last_qty,
            commission,
            trade_id,
            maker,
        } = fill.unwrap_or_default();
        let time = self.market_time;
        // On a cancel Binance reports the cancel request's id in `c` and the order's in `C`.
        let (client_id, orig) = if orig_client_id.is_empty() {
            (o.client_id.as_str(), "")
        } else {
            (orig_client_id, o.client_id.as_str())
        };
        let data = json!({
            "e": "executionReport", "E": time, "s": c.symbol, "c": client_id,
            "S": o.side.as_str(), "o": o.kind.as_str(), "f": o.time_in_force.as_str(),
            "q": dec(o.orig_qty), "p": dec(o.price), "P": dec(o.stop_price), "F": "0",
            "g": -1, "C": orig, "x": execution, "X": o.status.as_str(), "r": "NONE",
            "i": o.id, "l": dec(last_qty), "z": dec(o.executed_qty), "L": dec(last_price),
            "n": dec(commission),
            "N": if fill.is_some() { Value::from(c.quote_asset.clone()) } else { Value::Null },
            "T": time, "t": if fill.is_some() { trade_id as i64 } else { -1 },
            "w": o.status.is_open() && o.is_working(), "m": maker, "M": false,
            "O": o.time, "Z": dec(o.cum_quote), "Y": dec(last_price * last_qty), "Q": "0",
            "W": o.working_time, "V": "NONE",
        });
        let account = o.account;
        self.events.push(Event::User { account, data });
    }

    /// Emits `outboundAccountPosition` for every account whose balances changed.
    fn publish_positions(&mut self) {
        let touched = std::mem::take(&mut self.touched);
        let mut per_account: BTreeMap<usize, Vec<Value>> = BTreeMap::new();
        for (account, asset) in touched {
            let b = self.accounts[account].balances[&asset];
            per_account
                .entry(account)
                .or_default()
                .push(json!({"a": asset, "f": dec(b.free), "l": dec(b.locked)}));
        }
        let time = self.market_time;
        for (account, balances) in per_account {
            self.events.push(Event::User {
                account,
                data: json!({"e": "outboundAccountPosition", "E": time, "u": time, "B": balances}),
            });
        }
    }

    /// Replays the next group of bars (every symbol's bar with the next
    /// timestamp); false when the data has ended.
    pub fn advance(&mut self) -> bool {
        let Some((time, group)) = self.timeline.get(self.next_step).cloned() else {
            return false;
        };
        self.next_step += 1;
        self.market_time = time;
        for (s, index) in group {
            self.replay_bar(s, index);
        }
        self.publish_positions();
        true
    }

    fn replay_bar(&mut self, s: usize, index: usize) {
        let m = &mut self.markets[s];
        let bar = m.bars[index];
        m.bar_volume_left = bar.volume;
        let first_trade = m.next_trade_id;
        let (near, far) = if bar.high - bar.open <= bar.open - bar.low {
            (bar.high, bar.low)
        } else {
            (bar.low, bar.high)
        };
        let path = [bar.open, near, far, bar.close];
        let print_qty = (bar.volume / Decimal::from(path.len())).round_dp(8);
        let symbol = m.config.symbol.clone();
        let lower = symbol.to_lowercase();
        let mut quote_volume = Decimal::ZERO;
        for price in path {
            self.move_price(s, price);
            let m = &mut self.markets[s];
            let trade_id = m.next_trade_id;
            m.next_trade_id += 1;
            quote_volume += price * print_qty;
            let time = self.market_time;
            self.events.push(Event::Market {
                stream: format!("{lower}@trade"),
                data: json!({"e": "trade", "E": time, "s": symbol, "t": trade_id, "p": dec(price),
                    "q": dec(print_qty), "T": time, "m": false, "M": true}),
            });
        }
        let m = &mut self.markets[s];
        let close_time = match m.bars.get(index + 1) {
            Some(next) if next.time_ms - bar.time_ms < self.settings.interval_ms => {
                next.time_ms - 1
            }
            _ => bar.time_ms + self.settings.interval_ms - 1,
        };
        let kline = Kline {
            bar,
            close_time,
            first_trade,
            last_trade: m.next_trade_id - 1,
            quote_volume: quote_volume.round_dp(8),
        };
        let data = json!({"e": "kline", "E": self.market_time, "s": symbol,
            "k": kline_json(&kline, &symbol, &self.settings.kline_interval)});
        m.klines.push(kline);
        self.events.push(Event::Market {
            stream: format!("{lower}@kline_{}", self.settings.kline_interval),
            data,
        });
    }

    /// Moves the last price of a symbol: requotes, fills touched resting
    /// orders (capped by the bar's volume), triggers stops.
    fn move_price(&mut self, s: usize, price: Decimal) {
        self.markets[s].last = price;
        self.requote(s);
        let m = &self.markets[s];
        let time = self.market_time;
        self.events.push(Event::Market {
            stream: format!("{}@bookTicker", m.config.symbol.to_lowercase()),
            data: json!({"u": m.book_update_id, "s": m.config.symbol, "b": dec(m.bid),
                "B": dec(self.settings.depth), "a": dec(m.ask), "A": dec(self.settings.depth), "E": time}),
        });
        let mut touched: Vec<&Order> = m
            .resting
            .iter()
            .map(|&id| &self.orders[id as usize - 1])
            .filter(|o| match o.side {
                Side::Buy => price <= o.price,
                Side::Sell => price >= o.price,
            })
            .collect();
        touched.sort_by_key(|o| o.seq);
        let touched: Vec<(u64, Side, Decimal, Decimal)> = touched
            .iter()
            .map(|o| (o.id, o.side, o.price, o.remaining()))
            .collect();
        for (id, side, limit, remaining) in touched {
            let mut qty = remaining.min(self.markets[s].bar_volume_left);
            if side == Side::Buy {
                qty = qty.min(self.affordable(id, limit, self.settings.maker_fee));
            }
            if qty <= Decimal::ZERO {
                continue;
            }
            self.markets[s].bar_volume_left -= qty;
            self.fill(s, None, Some(id), limit, qty);
        }
        let triggered: Vec<u64> = self.markets[s]
            .stops
            .iter()
            .copied()
            .filter(|&id| {
                let o = &self.orders[id as usize - 1];
                stop_triggered(o.side, o.stop_price, price)
            })
            .collect();
        for id in triggered {
            self.markets[s].stops.retain(|&r| r != id);
            self.orders[id as usize - 1].working_time = time;
            self.work(id);
        }
    }
}

/// Whether a taker on `side` with `limit` (None: market) can trade at `price`.
fn crosses(side: Side, limit: Option<Decimal>, price: Decimal) -> bool {
    match (side, limit) {
        (_, None) => true,
        (Side::Buy, Some(l)) => price <= l,
        (Side::Sell, Some(l)) => price >= l,
    }
}

/// Whether a stop order on `side` with `stop` triggers at `price`.
fn stop_triggered(side: Side, stop: Decimal, price: Decimal) -> bool {
    match side {
        Side::Buy => price >= stop,
        Side::Sell => price <= stop,
    }
}

/// The `k` object of a kline stream event.
pub fn kline_json(k: &Kline, symbol: &str, interval: &str) -> Value {
    json!({"t": k.bar.time_ms, "T": k.close_time, "s": symbol, "i": interval,
        "f": k.first_trade, "L": k.last_trade, "o": dec(k.bar.open), "c": dec(k.bar.close),
        "h": dec(k.bar.high), "l": dec(k.bar.low), "v": dec(k.bar.volume),
        "n": k.last_trade + 1 - k.first_trade, "x": true, "q": dec(k.quote_volume),
        "V": "0", "Q": "0", "B": "0"})
}

/// The array form of `GET /api/v3/klines`.
pub fn kline_row(k: &Kline) -> Value {
    json!([
        k.bar.time_ms,
        dec(k.bar.open),
        dec(k.bar.high),
        dec(k.bar.low),
        dec(k.bar.close),
        dec(k.bar.volume),
        k.close_time,
        dec(k.quote_volume),
        k.last_trade + 1 - k.first_trade,
        "0",
        "0",
        "0"
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EmulatorConfig;

    fn exchange(bars: &[(i64, [i64; 5])]) -> Exchange {
        let config: EmulatorConfig = toml::from_str(
            r#"
[[symbols]]
symbol = "XY"
base_asset = "X"
quote_asset = "Y"
tick_size = "1"
step_size = "1"
data = "unused.csv"
[[accounts]]
api_key = "a"
secret = "s"
balances = { Y = "1000000", X = "1000" }
[[accounts]]
api_key = "b"
secret = "t"
balances = { Y = "5000", X = "50" }
"#,
        )
        .unwrap();
        let bars = bars
            .iter()
            .map(|(t, [o, h, l, c, v])| Bar {
                time_ms: *t,
                open: (*o).into(),
                high: (*h).into(),
                low: (*l).into(),
                close: (*c).into(),
                volume: (*v).into(),
            })
            .collect();
        Exchange::new(Loaded {
            config,
            interval_ms: 1000,
            bars: vec![bars],
        })
    }

    fn limit(side: Side, price: i64, qty: i64) -> NewOrder {
        NewOrder {
            symbol: "XY".into(),
            side,
            kind: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            quantity: qty.into(),
            price: Some(price.into()),
            stop_price: None,
            client_order_id: None,
        }
    }

    #[test]
    fn resting_fills_are_capped_by_bar_volume() {
        let mut e = exchange(&[(0, [100, 100, 90, 95, 30]), (1000, [95, 96, 90, 91, 30])]);
        let first = e.place(0, limit(Side::Buy, 95, 20)).unwrap();
        let second = e.place(0, limit(Side::Buy, 95, 20)).unwrap();
        assert!(e.advance());
        // Time priority: the first order fills fully, the second gets the bar's remaining 10.
        assert_eq!(e.orders()[first as usize - 1].status, Status::Filled);
        assert_eq!(
            e.orders()[second as usize - 1].executed_qty,
            Decimal::from(10)
        );
        assert!(e.advance());
        assert_eq!(e.orders()[second as usize - 1].status, Status::Filled);
        assert!(!e.advance());
        assert!(e.replay_done());
        let klines = e.klines(0);
        assert_eq!(klines.len(), 2);
        assert_eq!(klines[0].close_time, 999);
        assert_eq!(klines[1].close_time, 1999);
    }

    #[test]
    fn events_of_an_order_come_in_order() {
        let mut e = exchange(&[(0, [100, 100, 90, 95, 30])]);
        e.place(0, limit(Side::Buy, 101, 5)).unwrap();
        let kinds: Vec<String> = e
            .drain_events()
            .into_iter()
            .map(|ev| match ev {
                Event::User { data, .. } => format!(
                    "{}:{}",
                    data["e"].as_str().unwrap(),
                    data["x"].as_str().unwrap_or("")
                ),
                Event::Market { stream, .. } => stream,
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "executionReport:NEW",
                "executionReport:TRADE",
                "xy@trade",
                "outboundAccountPosition:"
            ]
        );
    }

    /// One step of a random session.
    #[derive(Debug, Clone)]
    enum Op {
        Place {
            account: usize,
            side: Side,
            kind: OrderType,
            tif: TimeInForce,
            offset: i64,
            qty: i64,
        },
        Cancel(u64),
        Advance,
    }

    fn op() -> impl proptest::strategy::Strategy<Value = Op> {
        use proptest::prelude::*;
        let side = prop_oneof![Just(Side::Buy), Just(Side::Sell)];
        let kind = prop_oneof![
            Just(OrderType::Limit),
            Just(OrderType::LimitMaker),
            Just(OrderType::Market),
            Just(OrderType::StopLoss),
            Just(OrderType::StopLossLimit),
        ];
        let tif = prop_oneof![
            Just(TimeInForce::Gtc),
            Just(TimeInForce::Ioc),
            Just(TimeInForce::Fok)
        ];
        prop_oneof![
            (0..2usize, side, kind, tif, -8..8i64, 1..60i64).prop_map(
                |(account, side, kind, tif, offset, qty)| Op::Place {
                    account,
                    side,
                    kind,
                    tif,
                    offset,
                    qty
                }
            ),
            (1..30u64).prop_map(Op::Cancel),
            Just(Op::Advance),
        ]
    }

    fn check_books(e: &Exchange) {
        for (asset, initial) in e.initial() {
            let held: Decimal = e
                .accounts()
                .iter()
                .map(|a| a.balances[asset].free + a.balances[asset].locked)
                .sum();
            let fees = e.fees().get(asset).copied().unwrap_or_default();
            let maker = e.market_maker().get(asset).copied().unwrap_or_default();
            assert_eq!(held + fees + maker, *initial, "asset {asset}");
        }
        for (i, a) in e.accounts().iter().enumerate() {
            for (asset, b) in &a.balances {
                assert!(
                    b.free >= Decimal::ZERO && b.locked >= Decimal::ZERO,
                    "{asset} {b:?}"
                );
                let by_orders: Decimal = e
                    .orders()
                    .iter()
                    .filter(|o| o.account == i && o.status.is_open())
                    .filter(|o| {
                        let c = &e.markets[o.symbol].config;
                        match o.side {
                            Side::Buy => &c.quote_asset == asset,
                            Side::Sell => &c.base_asset == asset,
                        }
                    })
                    .map(|o| o.locked)
                    .sum();
                assert_eq!(b.locked, by_orders, "account {i} {asset}");
            }
        }
        for o in e.orders() {
            assert!(o.executed_qty <= o.orig_qty);
            assert_eq!(o.status == Status::Filled, o.executed_qty == o.orig_qty);
        }
    }

    proptest::proptest! {
        /// Any session keeps every asset conserved, balances non-negative and
        /// locks equal to what open orders hold.
        #[test]
        fn random_sessions_keep_the_books(ops in proptest::collection::vec(op(), 1..60)) {
            let mut e = exchange(&[
                (0, [100, 104, 96, 101, 40]),
                (1000, [101, 103, 95, 97, 40]),
                (2000, [97, 106, 97, 105, 40]),
                (3000, [105, 105, 99, 100, 40]),
            ]);
            for op in ops {
                match op {
                    Op::Place { account, side, kind, tif, offset, qty } => {
                        let reference = e.markets[0].last + Decimal::from(offset);
                        let price = reference.max(Decimal::ONE);
                        let _ = e.place(account, NewOrder {
                            symbol: "XY".into(),
                            side,
                            kind,
                            time_in_force: if kind.needs_time_in_force() { tif } else { TimeInForce::Gtc },
                            quantity: qty.into(),
                            price: kind.has_price().then_some(price),
                            stop_price: kind.has_stop().then_some(price),
                            client_order_id: None,
                        });
                    }
                    Op::Cancel(id) => {
                        if (id as usize) <= e.orders().len() {
                            let _ = e.cancel(id, "c");
                        }
                    }
                    Op::Advance => {
                        e.advance();
                    }
                }
                e.drain_events();
                check_books(&e);
            }
        }
    }
}

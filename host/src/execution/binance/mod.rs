//! Execution adapter for Binance-spot-compatible venues (Binance, its spot
//! testnet, and the bundled `cracktrader-venue-emulator`).
//!
//! The session thread calls the adapter synchronously; requests run on the
//! adapter's tokio runtime, and the WebSocket streams run there as tasks.
//! Every venue message about an order — request answers, user-data events,
//! query results — goes through the [`tracker::Tracker`], the only place
//! they become [`VenueEvent`]s.
//!
//! Client order ids `ct-<strategy tag>-<run>-<order id>` make submissions
//! idempotent and name the owning strategy, so orders found at the venue at
//! start-up can be attributed (and orphans told apart).

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use rust_decimal::Decimal;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::execution::orders::VenueEvent;
use crate::market_data::live::{Halts, MarketEvent};
use crate::model::{from_millis, Currency, InstrumentId, OrderId, Side, Timestamp};
use crate::model::{OrderRequest, OrderType, TimeInForce};
use crate::reference_data::ReferenceData;

pub mod rest;
pub mod stream;
pub mod tracker;

use rest::{Rest, Retry, Secret};
use stream::{ExecutionReport, Inbound, Subscription};
use tracker::{Observed, OrderUpdate, Tracker, TradeFill, VenueStatus};

/// How often a submission whose outcome is unknown is looked up and sent again.
const SUBMIT_ATTEMPTS: u32 = 4;

/// One `[[venues]]` entry: a Binance-spot-compatible API and the account used on it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    /// Unique id, named by instruments, data and execution contexts.
    pub id: String,
    /// The API it speaks; only `binance-spot`.
    pub kind: VenueKind,
    /// REST base URL, e.g. `https://testnet.binance.vision`.
    pub rest_url: String,
    /// WebSocket base URL, e.g. `wss://stream.testnet.binance.vision`.
    pub ws_url: String,
    /// Environment variable holding the API key. Default `BINANCE_API_KEY`.
    #[serde(default = "default_key_env")]
    pub api_key_env: String,
    /// Environment variable holding the API secret. Default `BINANCE_API_SECRET`.
    #[serde(default = "default_secret_env")]
    pub api_secret_env: String,
    /// Validity of a signed request after its timestamp, ms. Default 5000.
    #[serde(default = "default_recv_window")]
    pub recv_window_ms: u64,
    /// Timeout of one REST request, ms. Default 10000.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
}

fn default_key_env() -> String {
    "BINANCE_API_KEY".to_owned()
}

fn default_secret_env() -> String {
    "BINANCE_API_SECRET".to_owned()
}

fn default_recv_window() -> u64 {
    5000
}

fn default_timeout() -> u64 {
    10_000
}

/// The API a venue speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum VenueKind {
    /// Binance spot REST + WebSocket API.
    #[serde(rename = "binance-spot")]
    BinanceSpot,
}

/// Why a venue request failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VenueError {
    /// The venue refused the request (definite: nothing happened).
    #[error("venue error {code}: {msg} (HTTP {status})")]
    Api {
        /// HTTP status.
        status: u16,
        /// The venue's error code.
        code: i64,
        /// The venue's message.
        msg: String,
    },
    /// Rate limited (HTTP 429) or banned for ignoring it (418): not processed.
    #[error("rate limited by the venue (HTTP {status}, retry after {retry_after:?}): {msg}")]
    RateLimited {
        /// 429 or 418.
        status: u16,
        /// How long the venue asked us to wait.
        retry_after: Duration,
        /// The venue's message.
        msg: String,
    },
    /// The venue failed (5xx): the outcome is unknown.
    #[error("venue failure (HTTP {status}): {msg}")]
    Server {
        /// HTTP status.
        status: u16,
        /// What was sent and what came back.
        msg: String,
    },
    /// No answer (timeout, connection): the outcome is unknown.
    #[error("{0}")]
    Transport(String),
    /// An answer that is not what the API documents.
    #[error("unexpected answer: {0}")]
    Decode(String),
    /// The venue cannot be used as configured.
    #[error("{0}")]
    Setup(String),
}

impl VenueError {
    /// Whether the request certainly had no effect.
    fn is_definite(&self) -> bool {
        matches!(self, Self::Api { .. } | Self::RateLimited { .. })
    }
}

/// A venue symbol with the session instrument it is.
#[derive(Debug, Clone)]
pub struct SymbolInfo {
    /// The venue's (and session's) symbol.
    pub symbol: String,
    /// The session instrument.
    pub id: InstrumentId,
    /// Base asset.
    pub base: Currency,
    /// Quote asset.
    pub quote: Currency,
    /// Decimal places of prices.
    pub price_scale: u8,
    /// Decimal places of quantities.
    pub qty_scale: u8,
}

/// Trading rules of one symbol, from the venue's exchange info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SymbolRules {
    /// Base asset.
    pub base_asset: String,
    /// Quote asset.
    pub quote_asset: String,
    /// PRICE_FILTER tickSize.
    pub tick_size: Decimal,
    /// LOT_SIZE stepSize.
    pub step_size: Decimal,
    /// NOTIONAL (or MIN_NOTIONAL) minNotional.
    pub min_notional: Decimal,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExchangeInfo {
    #[serde(default)]
    rate_limits: Vec<RateLimit>,
    symbols: Vec<ExchangeSymbol>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateLimit {
    rate_limit_type: String,
    interval: String,
    interval_num: u32,
    limit: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExchangeSymbol {
    symbol: String,
    status: String,
    base_asset: String,
    quote_asset: String,
    filters: Vec<serde_json::Value>,
}

impl ExchangeSymbol {
    fn rules(&self) -> Result<SymbolRules, String> {
        let filter = |kind: &str, field: &str| -> Option<Decimal> {
            self.filters
                .iter()
                .find(|f| f.get("filterType").and_then(|t| t.as_str()) == Some(kind))
                .and_then(|f| f.get(field)?.as_str()?.parse::<Decimal>().ok())
                .map(|d| d.normalize())
        };
        let tick_size = filter("PRICE_FILTER", "tickSize")
            .ok_or_else(|| format!("{}: no PRICE_FILTER tickSize", self.symbol))?;
        let step_size = filter("LOT_SIZE", "stepSize")
            .ok_or_else(|| format!("{}: no LOT_SIZE stepSize", self.symbol))?;
        let min_notional = filter("NOTIONAL", "minNotional")
            .or_else(|| filter("MIN_NOTIONAL", "minNotional"))
            .unwrap_or_default();
        Ok(SymbolRules {
            base_asset: self.base_asset.clone(),
            quote_asset: self.quote_asset.clone(),
            tick_size,
            step_size,
            min_notional,
        })
    }
}

/// A Binance order object (answers of new, cancel and query order).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VenueOrder {
    order_id: i64,
    client_order_id: String,
    /// In the answer to a cancel, the order's own client id
    /// (`clientOrderId` then names the cancel request).
    #[serde(default)]
    orig_client_order_id: Option<String>,
    status: String,
    executed_qty: Decimal,
    #[serde(default)]
    transact_time: Option<i64>,
    #[serde(default)]
    update_time: Option<i64>,
    #[serde(default)]
    fills: Vec<ResponseFill>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResponseFill {
    price: Decimal,
    qty: Decimal,
    commission: Decimal,
    commission_asset: String,
    trade_id: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MyTrade {
    id: i64,
    order_id: i64,
    price: Decimal,
    qty: Decimal,
    commission: Decimal,
    commission_asset: String,
    time: i64,
    is_maker: bool,
}

#[derive(Debug, Deserialize)]
struct AccountInfo {
    balances: Vec<Balance>,
}

#[derive(Debug, Deserialize)]
struct Balance {
    asset: String,
    free: Decimal,
    locked: Decimal,
}

/// What was found at the venue before the first step.
#[derive(Debug, Default)]
pub struct StartupReport {
    /// The venue's clock when it was looked at: the time of the start-up events.
    pub time: Timestamp,
    /// Open orders of this session's strategies left by an earlier run,
    /// cancelled: (strategy index, client order id, venue status after).
    pub cancelled: Vec<(usize, String, String)>,
    /// Open orders that no strategy of this session placed (left alone).
    pub orphans: Vec<String>,
}

/// A connection to one venue account.
pub struct Binance {
    id: String,
    runtime: Arc<tokio::runtime::Runtime>,
    rest: Arc<Rest>,
    ws_url: String,
    rules: BTreeMap<String, SymbolRules>,
    symbols: BTreeMap<InstrumentId, SymbolInfo>,
    tracker: Tracker,
    /// Per strategy index, the tag its client order ids start with.
    tags: Vec<String>,
    run: String,
    inbound: Option<Receiver<Inbound>>,
    /// The user stream dropped since the last reconciliation.
    stale: bool,
    /// Notices for the session's event log (orphans, reconciliations).
    notices: Vec<String>,
    /// Where a break of the venue's contract (a lost order) is raised;
    /// once raised, no new order goes to the venue.
    halts: Option<Halts>,
}

impl std::fmt::Debug for Binance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binance")
            .field("id", &self.id)
            .field("rest", &self.rest)
            .finish_non_exhaustive()
    }
}

impl Binance {
    /// Connects to the venue of `config`: syncs the clock and loads the
    /// exchange info. A `trading` connection reads the account's keys from
    /// the environment; market data needs none.
    pub fn connect(
        config: &VenueConfig,
        runtime: Arc<tokio::runtime::Runtime>,
        trading: bool,
    ) -> Result<Self, VenueError> {
        let env = |name: &str| {
            if !trading {
                return Ok(String::new());
            }
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    VenueError::Setup(format!(
                        "venue {}: environment variable {name} (the API key or secret) is not set",
                        config.id
                    ))
                })
        };
        let api_key = env(&config.api_key_env)?;
        let secret = Secret::new(env(&config.api_secret_env)?);
        let rest = Arc::new(Rest::new(
            &config.rest_url,
            api_key,
            secret,
            config.recv_window_ms,
            Duration::from_millis(config.timeout_ms),
        )?);
        let in_venue = |e: VenueError| {
            VenueError::Setup(format!("venue {} ({}): {e}", config.id, config.rest_url))
        };
        let (offset, info) = runtime
            .block_on(async {
                let offset = rest.sync_time().await?;
                let info: ExchangeInfo = rest.public("/api/v3/exchangeInfo", Vec::new()).await?;
                Ok::<_, VenueError>((offset, info))
            })
            .map_err(in_venue)?;
        if let Some(limit) = info.rate_limits.iter().find(|l| {
            l.rate_limit_type == "REQUEST_WEIGHT" && l.interval == "MINUTE" && l.interval_num == 1
        }) {
            rest.set_weight_limit(limit.limit);
        }
        let mut rules = BTreeMap::new();
        for s in info.symbols.iter().filter(|s| s.status == "TRADING") {
            match s.rules() {
                Ok(r) => {
                    rules.insert(s.symbol.clone(), r);
                }
                Err(e) => tracing::warn!(venue = %config.id, "exchange info: {e}"),
            }
        }
        tracing::info!(venue = %config.id, symbols = rules.len(), clock_offset_ms = offset, "venue connected");
        Ok(Self {
            id: config.id.clone(),
            runtime,
            rest,
            ws_url: config.ws_url.clone(),
            rules,
            symbols: BTreeMap::new(),
            tracker: Tracker::default(),
            tags: Vec::new(),
            run: run_id(),
            inbound: None,
            stale: false,
            notices: Vec::new(),
            halts: None,
        })
    }

    /// Raises breaks of the venue's contract in `halts`.
    pub fn set_halts(&mut self, halts: Halts) {
        self.halts = Some(halts);
    }

    /// The venue's clock now.
    pub fn server_time(&self) -> Timestamp {
        from_millis(self.rest.server_now_ms())
    }

    fn halted(&self) -> bool {
        self.halts.as_ref().is_some_and(Halts::raised)
    }

    /// The venue's id in the session file.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The trading rules of `symbol`, if the venue trades it.
    pub fn rules(&self, symbol: &str) -> Option<&SymbolRules> {
        self.rules.get(symbol)
    }

    /// The account's balances (free + locked) per asset.
    pub fn balances(&self) -> Result<BTreeMap<String, Decimal>, VenueError> {
        let account: AccountInfo = self.runtime.block_on(self.rest.signed(
            Method::GET,
            "/api/v3/account",
            Vec::new(),
            Retry::Idempotent,
        ))?;
        Ok(account
            .balances
            .into_iter()
            .map(|b| (b.asset, b.free + b.locked))
            .collect())
    }

    /// Binds the venue's `symbols` to the session's instruments.
    pub fn bind(
        &mut self,
        reference: &ReferenceData,
        symbols: &[String],
    ) -> Result<(), VenueError> {
        for symbol in symbols {
            let inst = reference.by_symbol(symbol).ok_or_else(|| {
                VenueError::Setup(format!("venue {}: unknown instrument {symbol}", self.id))
            })?;
            self.symbols.insert(
                inst.id,
                SymbolInfo {
                    symbol: symbol.clone(),
                    id: inst.id,
                    base: inst.base_currency.clone(),
                    quote: inst.quote_currency.clone(),
                    price_scale: inst.price_scale,
                    qty_scale: inst.qty_scale,
                },
            );
        }
        Ok(())
    }

    /// Binds the adapter to the session's strategies (`strategy_ids` by
    /// index), then starts the user-data stream and reconciles the orders
    /// already open at the venue.
    pub fn attach(
        &mut self,
        session: &str,
        strategy_ids: &[String],
    ) -> Result<StartupReport, VenueError> {
        self.tags = strategy_ids
            .iter()
            .map(|s| strategy_tag(session, s))
            .collect();
        let (tx, rx) = std::sync::mpsc::channel();
        self.inbound = Some(rx);
        self.runtime.spawn(stream::user(
            self.ws_url.clone(),
            Arc::clone(&self.rest),
            tx,
        ));
        self.startup()
    }

    /// Cancels the open orders of this session's strategies left by an
    /// earlier run (a new run starts flat in orders) and lists the rest as orphans.
    fn startup(&mut self) -> Result<StartupReport, VenueError> {
        let mut report = StartupReport {
            time: self.server_time(),
            ..StartupReport::default()
        };
        let symbols: Vec<String> = self.symbols.values().map(|s| s.symbol.clone()).collect();
        for symbol in symbols {
            let open: Vec<VenueOrder> = self.runtime.block_on(self.rest.signed(
                Method::GET,
                "/api/v3/openOrders",
                vec![("symbol", symbol.clone())],
                Retry::Idempotent,
            ))?;
            for order in open {
                let owner = self
                    .tags
                    .iter()
                    .position(|tag| order.client_order_id.starts_with(&format!("ct-{tag}-")));
                let Some(strategy) = owner else {
                    report.orphans.push(format!(
                        "{symbol} order {} ({}) {}",
                        order.order_id, order.client_order_id, order.status
                    ));
                    continue;
                };
                let after: VenueOrder = self.runtime.block_on(self.rest.signed(
                    Method::DELETE,
                    "/api/v3/order",
                    vec![
                        ("symbol", symbol.clone()),
                        ("origClientOrderId", order.client_order_id.clone()),
                    ],
                    Retry::Idempotent,
                ))?;
                report
                    .cancelled
                    .push((strategy, order.client_order_id, after.status));
            }
        }
        Ok(report)
    }

    /// Starts the market streams of `subscriptions` (instrument, channel),
    /// sending what arrives to `events`.
    pub fn stream_market(
        &self,
        subscriptions: &[(InstrumentId, String)],
        events: Sender<MarketEvent>,
    ) {
        let subs = subscriptions
            .iter()
            .filter_map(|(id, channel)| {
                Some(Subscription {
                    symbol: self.symbols.get(id)?.clone(),
                    channel: channel.clone(),
                })
            })
            .collect();
        self.runtime.spawn(stream::market(
            self.ws_url.clone(),
            Arc::clone(&self.rest),
            subs,
            events,
        ));
    }

    /// Sends a new order; its events (accepted, fills, or rejected with the
    /// venue's code and message) go to `out`.
    pub fn submit(
        &mut self,
        id: OrderId,
        strategy: usize,
        request: &OrderRequest,
        time: Timestamp,
        out: &mut Vec<VenueEvent>,
    ) {
        let client_id = format!("ct-{}-{}-{}", self.tags[strategy], self.run, id.0);
        self.tracker
            .track(&client_id, id, request.instrument, request.qty);
        if self.halted() {
            let reason = format!("venue {} is halted: nothing more is sent to it", self.id);
            self.tracker.refused(&client_id, reason, time, out);
            return;
        }
        let params = match self.order_params(&client_id, request) {
            Ok(params) => params,
            Err(reason) => {
                self.tracker.refused(&client_id, reason, time, out);
                return;
            }
        };
        let symbol = params[0].1.clone();
        for attempt in 1..=SUBMIT_ATTEMPTS {
            let sent: Result<VenueOrder, VenueError> = self.runtime.block_on(self.rest.signed(
                Method::POST,
                "/api/v3/order",
                params.clone(),
                Retry::Once,
            ));
            let err = match sent {
                Ok(order) => return self.settle_order(order, request.instrument, out),
                Err(e) if e.is_definite() => {
                    return self.tracker.refused(&client_id, e.to_string(), time, out);
                }
                Err(e) => e,
            };
            // Unknown outcome: ask the venue whether the order exists before sending it again.
            tracing::warn!(venue = %self.id, %client_id, attempt, "order submission outcome unknown ({err}); querying");
            match self.query(&symbol, &client_id) {
                Ok(Some(order)) => return self.settle_order(order, request.instrument, out),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(venue = %self.id, %client_id, "order query failed: {e}; reconciled on a later step");
                    self.stale = true;
                    return;
                }
            }
        }
        self.tracker.refused(
            &client_id,
            format!("venue did not take the order after {SUBMIT_ATTEMPTS} attempts"),
            time,
            out,
        );
    }

    /// Cancels order `id`; `Err` says why the venue refused. Any change the
    /// venue reports meanwhile (e.g. a fill) goes to `out` either way.
    pub fn cancel(&mut self, id: OrderId, out: &mut Vec<VenueEvent>) -> Result<(), String> {
        let Some(client_id) = self.tracker.client_id(id).map(str::to_owned) else {
            return Err(format!("no order {id} at venue {}", self.id));
        };
        let (symbol, instrument) = self.symbol_of(&client_id)?;
        let cancelled: Result<VenueOrder, VenueError> = self.runtime.block_on(self.rest.signed(
            Method::DELETE,
            "/api/v3/order",
            vec![
                ("symbol", symbol.clone()),
                ("origClientOrderId", client_id.clone()),
            ],
            Retry::Idempotent,
        ));
        match cancelled {
            Ok(order) => {
                self.settle_order(order, instrument, out);
                Ok(())
            }
            Err(e) => {
                // Filled or gone meanwhile, or never arrived: the venue knows which.
                if let Ok(Some(order)) = self.query(&symbol, &client_id) {
                    self.settle_order(order, instrument, out);
                }
                Err(format!("cancel refused: {e}"))
            }
        }
    }

    /// Applies what the user-data stream delivered since the last call, and
    /// reconciles every working order by query after a dropped stream.
    pub fn poll(&mut self, time: Timestamp, out: &mut Vec<VenueEvent>) {
        let mut reports = Vec::new();
        if let Some(inbound) = &self.inbound {
            while let Ok(message) = inbound.try_recv() {
                match message {
                    Inbound::Execution(report) => reports.push(*report),
                    Inbound::Dropped(why) => {
                        self.notices.push(format!("venue {}: user-data stream dropped ({why}); orders will be reconciled by query", self.id));
                        self.stale = true;
                    }
                    Inbound::Connected => {}
                }
            }
        }
        for report in reports {
            self.on_execution(report, out);
        }
        if self.stale {
            self.stale = false;
            self.reconcile(time, out);
        }
    }

    /// Queries every working order and applies what the venue says.
    pub fn reconcile(&mut self, time: Timestamp, out: &mut Vec<VenueEvent>) {
        let working: Vec<(String, InstrumentId)> = self
            .tracker
            .working()
            .map(|(c, i)| (c.to_owned(), i))
            .collect();
        for (client_id, instrument) in working {
            let Some(symbol) = self.symbols.get(&instrument).map(|s| s.symbol.clone()) else {
                continue;
            };
            match self.query(&symbol, &client_id) {
                Ok(Some(order)) => self.settle_order(order, instrument, out),
                Ok(None) => match self.tracker.venue_id(&client_id) {
                    // The venue had taken this order and now does not know
                    // it: it lost its state, and nothing it says can be
                    // trusted any more.
                    Some(venue_id) => {
                        let discrepancy = format!(
                            "venue {} no longer knows order {client_id} (venue order id {venue_id}), which it had accepted: it lost its state",
                            self.id
                        );
                        match &self.halts {
                            Some(halts) => halts.raise(discrepancy),
                            None => self.notices.push(discrepancy),
                        }
                        return;
                    }
                    // Submissions are synchronous: an order the venue does
                    // not know by now never reached it.
                    None => self.tracker.refused(
                        &client_id,
                        format!(
                            "venue {} has no order {client_id}: it never arrived",
                            self.id
                        ),
                        time,
                        out,
                    ),
                },
                Err(e) => {
                    tracing::warn!(venue = %self.id, %client_id, "reconciliation query failed: {e}");
                    self.stale = true;
                }
            }
        }
    }

    /// Notices for the session's event log since the last call.
    pub fn take_notices(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notices)
    }

    fn on_execution(&mut self, report: ExecutionReport, out: &mut Vec<VenueEvent>) {
        let Some(info) = self
            .symbols
            .values()
            .find(|s| s.symbol == report.symbol)
            .cloned()
        else {
            return;
        };
        // A cancel's report names the cancel request; the order is `C`.
        let client_id = if report.execution_type == "CANCELED" && !report.orig_client_id.is_empty()
        {
            report.orig_client_id.clone()
        } else {
            report.client_id.clone()
        };
        let Some(status) = VenueStatus::parse(&report.status) else {
            tracing::warn!(venue = %self.id, status = %report.status, "unknown order status");
            return;
        };
        let trade = (report.trade_id >= 0 && report.last_qty > Decimal::ZERO).then(|| TradeFill {
            trade_id: report.trade_id,
            qty: report.last_qty,
            price: report.last_price,
            commission: commission_in_quote(
                &info,
                report.commission.unwrap_or_default(),
                report.commission_asset.as_deref().unwrap_or(""),
                report.last_price,
            ),
            maker: report.maker,
            time: from_millis(report.time),
        });
        let reason = (!report.reject_reason.is_empty() && report.reject_reason != "NONE")
            .then(|| format!("venue: {}", report.reject_reason));
        let update = OrderUpdate {
            client_id,
            venue_id: report.order_id,
            status,
            cum_qty: report.cum_qty,
            trade,
            reason,
            time: from_millis(report.time),
        };
        self.settle(&update, &info, Vec::new(), out);
    }

    /// Applies a venue order object, with the fills it carries.
    fn settle_order(
        &mut self,
        order: VenueOrder,
        instrument: InstrumentId,
        out: &mut Vec<VenueEvent>,
    ) {
        let Some(info) = self.symbols.get(&instrument).cloned() else {
            return;
        };
        let Some(status) = VenueStatus::parse(&order.status) else {
            tracing::warn!(venue = %self.id, status = %order.status, "unknown order status");
            return;
        };
        let time = from_millis(
            order
                .transact_time
                .or(order.update_time)
                .unwrap_or_default(),
        );
        let fills = order
            .fills
            .iter()
            .map(|f| TradeFill {
                trade_id: f.trade_id,
                qty: f.qty,
                price: f.price,
                commission: commission_in_quote(&info, f.commission, &f.commission_asset, f.price),
                // Fills in the answer to a new order took liquidity.
                maker: false,
                time,
            })
            .collect();
        let update = OrderUpdate {
            client_id: order.orig_client_order_id.unwrap_or(order.client_order_id),
            venue_id: order.order_id,
            status,
            cum_qty: order.executed_qty,
            trade: None,
            reason: None,
            time,
        };
        self.settle(&update, &info, fills, out);
    }

    /// Observes `update`; when the venue has filled more than we have seen,
    /// applies `known` fills, then the order's trades queried from the venue.
    fn settle(
        &mut self,
        update: &OrderUpdate,
        info: &SymbolInfo,
        known: Vec<TradeFill>,
        out: &mut Vec<VenueEvent>,
    ) {
        let venue_id = match self.tracker.observe(update, out) {
            Observed::Applied => return,
            Observed::Unknown => {
                if !self
                    .tags
                    .iter()
                    .any(|t| update.client_id.starts_with(&format!("ct-{t}-")))
                {
                    tracing::debug!(venue = %self.id, client_id = %update.client_id, "update of an order not placed by this session");
                }
                return;
            }
            Observed::Gap { venue_id } => venue_id,
        };
        let mut fills = known;
        if fills.iter().map(|f| f.qty).sum::<Decimal>() < update.cum_qty {
            match self.trades(info, venue_id) {
                Ok(trades) => fills = trades,
                Err(e) => {
                    tracing::warn!(venue = %self.id, client_id = %update.client_id, "cannot fetch trades: {e}; reconciled on a later step");
                    self.stale = true;
                    return;
                }
            }
        }
        fills.sort_by_key(|f| f.trade_id);
        for fill in fills {
            self.tracker.trade(&update.client_id, fill, out);
        }
        if let Observed::Gap { .. } = self.tracker.observe(update, out) {
            tracing::warn!(venue = %self.id, client_id = %update.client_id, "venue reports more filled than its trades show; reconciled on a later step");
            self.stale = true;
        }
    }

    fn trades(&self, info: &SymbolInfo, venue_id: i64) -> Result<Vec<TradeFill>, VenueError> {
        let trades: Vec<MyTrade> = self.runtime.block_on(self.rest.signed(
            Method::GET,
            "/api/v3/myTrades",
            vec![
                ("symbol", info.symbol.clone()),
                ("orderId", venue_id.to_string()),
            ],
            Retry::Idempotent,
        ))?;
        Ok(trades
            .into_iter()
            .filter(|t| t.order_id == venue_id)
            .map(|t| TradeFill {
                trade_id: t.id,
                qty: t.qty,
                price: t.price,
                commission: commission_in_quote(info, t.commission, &t.commission_asset, t.price),
                maker: t.is_maker,
                time: from_millis(t.time),
            })
            .collect())
    }

    /// The order with `client_id`, or `None` if the venue has no such order.
    fn query(&self, symbol: &str, client_id: &str) -> Result<Option<VenueOrder>, VenueError> {
        let found = self.runtime.block_on(self.rest.signed(
            Method::GET,
            "/api/v3/order",
            vec![
                ("symbol", symbol.to_owned()),
                ("origClientOrderId", client_id.to_owned()),
            ],
            Retry::Idempotent,
        ));
        match found {
            Ok(order) => Ok(Some(order)),
            Err(VenueError::Api { code: -2013, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn symbol_of(&self, client_id: &str) -> Result<(String, InstrumentId), String> {
        self.tracker
            .working()
            .find(|(c, _)| *c == client_id)
            .and_then(|(_, i)| Some((self.symbols.get(&i)?.symbol.clone(), i)))
            .ok_or_else(|| format!("order {client_id} is not working at venue {}", self.id))
    }

    fn order_params(
        &self,
        client_id: &str,
        request: &OrderRequest,
    ) -> Result<Vec<(&'static str, String)>, String> {
        let symbol = self.symbols.get(&request.instrument).ok_or_else(|| {
            format!(
                "instrument {} is not traded at venue {}",
                request.instrument.0, self.id
            )
        })?;
        let tif = match request.tif {
            TimeInForce::Gtc => "GTC",
            TimeInForce::Ioc => "IOC",
            TimeInForce::Fok => "FOK",
            TimeInForce::Gtd(_) | TimeInForce::Day => {
                return Err(format!(
                "time in force {:?} is not supported by binance-spot venues (use gtc, ioc or fok)",
                request.tif
            ))
            }
        };
        let mut params = vec![
            ("symbol", symbol.symbol.clone()),
            (
                "side",
                match request.side {
                    Side::Buy => "BUY",
                    Side::Sell => "SELL",
                }
                .to_owned(),
            ),
        ];
        let text = |d: Decimal| d.normalize().to_string();
        match request.order_type {
            OrderType::Market => params.push(("type", "MARKET".into())),
            OrderType::Limit { price } if request.post_only => {
                params.push(("type", "LIMIT_MAKER".into()));
                params.push(("price", text(price)));
            }
            OrderType::Limit { price } => {
                params.push(("type", "LIMIT".into()));
                params.push(("timeInForce", tif.into()));
                params.push(("price", text(price)));
            }
            OrderType::Stop { stop } => {
                params.push(("type", "STOP_LOSS".into()));
                params.push(("stopPrice", text(stop)));
            }
            OrderType::StopLimit { stop, limit } => {
                params.push(("type", "STOP_LOSS_LIMIT".into()));
                params.push(("timeInForce", tif.into()));
                params.push(("price", text(limit)));
                params.push(("stopPrice", text(stop)));
            }
        }
        params.push(("quantity", text(request.qty)));
        params.push(("newClientOrderId", client_id.to_owned()));
        params.push(("newOrderRespType", "FULL".into()));
        Ok(params)
    }
}

/// A fee converted into the quote currency (the host's accounts charge
/// fees there); fees in a third asset are not tracked and logged.
fn commission_in_quote(info: &SymbolInfo, amount: Decimal, asset: &str, price: Decimal) -> Decimal {
    if amount.is_zero() || asset == info.quote.as_str() {
        amount
    } else if asset == info.base.as_str() {
        amount * price
    } else {
        tracing::warn!(symbol = %info.symbol, %asset, %amount, "commission paid in another asset is not tracked");
        Decimal::ZERO
    }
}

/// Six hex digits naming a strategy of a session in client order ids.
fn strategy_tag(session: &str, strategy: &str) -> String {
    let digest = Sha256::digest(format!("{session}/{strategy}").as_bytes());
    hex::encode(&digest[..3])
}

/// Eight base-36 digits telling this run's client order ids from an
/// earlier run's: live sessions may read the wall clock.
fn run_id() -> String {
    let mut n = rest::now_ms().max(0) as u64;
    let mut digits = Vec::new();
    while n > 0 {
        let d = (n % 36) as u8;
        digits.push(if d < 10 { b'0' + d } else { b'a' + d - 10 });
        n /= 36;
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

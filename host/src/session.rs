//! Session: builds every service from the session file, owns them, and drives
//! the steps.
//!
//! One step:
//! 1. the state coordinator folds the next bars into snapshot *n*;
//! 2. each execution adapter matches its working orders against those bars,
//!    and the reports flow to inventory, post-trade and the owning strategy;
//! 3. equity is marked and recorded;
//! 4. each strategy with data in snapshot *n* gets its filtered view and
//!    returns intents, which are stamped, risk-checked and executed (orders
//!    placed at step *n* can fill from step *n + 1*).
//!
//! A strategy that fails mid-run (trap, budget overrun, limit breach) is
//! quarantined: it is not called again, its working orders are cancelled or
//! left as its registration says, and the other strategies trade on. An
//! operator can quarantine or re-enable a strategy through [`Session::control`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::config::{ConfigError, Mode, OrderPolicy, Problems, SessionConfig, StrategyConfig};
use crate::execution::binance::Binance;
use crate::execution::orders::{Order, OrderBook, OrderReport, VenueEvent, CANCELLED_BY_STRATEGY};
use crate::execution::simulator::{Funds, Simulator};
use crate::execution::AccountType;
use crate::execution::Adapter;
use crate::intents::{Action, Attribution, Intent, IntentStamper, NamedOrder, RefusedKind};
use crate::inventory::{Account, AccountKind, Inventory, Position, Rates, Valuation};
use crate::journal::{self, Journal, JournalError, JournalSummary, StrategyState};
use crate::market_data::{load_csv, DataKind, MarketData, MarketDataError};
use crate::model::ReportKind;
use crate::model::{
    from_scaled, to_scaled, Currency, ExecutionId, InstrumentId, OrderId, RouteId, Side, StrategyId,
};
use crate::model::{OrderRequest, OrderType, TimeInForce};
use crate::plugin_api::{decimal_to_wit, wit};
use crate::post_trade::{EventKind, PluginVersion, Recorder, Report, StrategyRecord};
use crate::reference_data::ReferenceData;
use crate::risk::{self, RiskContext, RiskLimits};
use crate::state::{empty_view, fill_market_view, Feed, Snapshot, StateCoordinator};
use crate::strategy_host::{CpuMeter, Plugin, PluginError, Strategy, StrategyError, StrategyHost};

mod control;
mod live;
pub use control::{ActionError, OperatorAction, Overview, RunState, FLATTEN_TAG, OPERATOR};
pub use live::VenueStart;

/// Why a session could not be built or stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The session file is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A market data file is unusable.
    #[error(transparent)]
    MarketData(#[from] MarketDataError),
    /// A plugin could not be loaded.
    ///
    /// The cause is part of the message, not a `source`: error reports that
    /// print the chain would print it twice.
    #[error("strategy {strategy_id}: {cause}")]
    Plugin {
        /// The registration.
        strategy_id: StrategyId,
        /// Why.
        cause: PluginError,
    },
    /// A strategy call failed.
    #[error("strategy {strategy_id} {cause}")]
    Strategy {
        /// The registration.
        strategy_id: StrategyId,
        /// Why.
        cause: StrategyError,
    },
    /// The session needs plugins compiled for another CPU meter.
    #[error(
        "session file asks for the {configured:?} CPU meter, but the strategy host uses {host:?}"
    )]
    Meter {
        /// `[session] cpu_meter`.
        configured: CpuMeter,
        /// The host's.
        host: CpuMeter,
    },
    /// A strategy subscribed to an instrument it may not have.
    #[error("strategy {strategy_id}: subscription to '{symbol}' refused: {reason}")]
    Subscription {
        /// The registration.
        strategy_id: StrategyId,
        /// The symbol it asked for.
        symbol: String,
        /// Why it was refused.
        reason: &'static str,
    },
}

/// A strategy ready to register, with its identity for the report.
pub struct LoadedStrategy {
    /// The strategy.
    pub strategy: Box<dyn Strategy>,
    /// Where it came from (plugin path, or `native`).
    pub plugin: String,
    /// sha256 of its plugin bytes (empty for native strategies).
    pub sha256: String,
}

struct Registration {
    attribution: Arc<Attribution>,
    strategy: Box<dyn Strategy>,
    /// What `init` was given, for a re-enable.
    config: wit::Config,
    /// Why the strategy is out of the step loop, if it is.
    quarantined: Option<String>,
    on_quarantine: OrderPolicy,
    record: StrategyRecord,
    granted: Vec<bool>,
    subscribed: Vec<bool>,
    risk: RiskLimits,
    view: wit::View,
    pending: Vec<wit::OrderReport>,
    /// Whether the strategy has been sent its account at least once.
    account_sent: bool,
}

/// Everything downstream of the strategies, borrowed together while a
/// strategy's intents are handled.
struct Services {
    reference: ReferenceData,
    /// The adapter of each execution context, by index.
    routes: Vec<Adapter>,
    inventory: Inventory,
    /// Account index of each strategy.
    strategy_account: Vec<usize>,
    rates: Rates,
    /// Currency the session's equity is reported in.
    currency: Currency,
    book: OrderBook,
    stamper: IntentStamper,
    recorder: Recorder,
    /// Venue events of the current request or step (buffer reused).
    events: Vec<VenueEvent>,
    /// Where every event goes, if the session is journalled.
    journal: Option<Journal>,
    /// Each strategy's PnL and whether it is in the market (buffer reused).
    strategy_pnl: Vec<(Decimal, bool)>,
}

/// A runnable session.
pub struct Session {
    name: String,
    mode: Mode,
    coordinator: StateCoordinator,
    registrations: Vec<Registration>,
    services: Services,
    /// Equity at the first step (no order can have filled yet), valued at
    /// that step's prices; set by the first step.
    starting_equity: Option<Decimal>,
    /// Each account's equity at the first step, in the session currency:
    /// the capital its strategies' returns are measured against.
    starting_capital: Vec<Decimal>,
    /// The kill switch and strategy pauses (`control`).
    operator: control::Operator,
}

/// Loads every `[[data]]` file of a session.
pub fn load_market_data(
    config: &SessionConfig,
    reference: &ReferenceData,
) -> Result<MarketData, SessionError> {
    let mut series = Vec::new();
    for data in &config.data {
        // Unknown symbols were reported by validation.
        // Live data (`venue`) arrives through the session's live feed.
        let (Some(inst), Some(path)) = (reference.by_symbol(&data.instrument), &data.path) else {
            continue;
        };
        {
            let loaded = load_csv(&config.resolve(path), data.kind, inst)?;
            series.push(((inst.id, data.kind), loaded));
        }
    }
    // In instrument order, so that each step's data is too.
    series.sort_by_key(|(key, _)| *key);
    Ok(MarketData::from_series(
        series.into_iter().map(|(_, s)| s).collect(),
    ))
}

/// Loads and instantiates every `[[strategies]]` plugin of a session.
pub fn load_strategies(
    config: &SessionConfig,
    host: &StrategyHost,
) -> Result<Vec<LoadedStrategy>, SessionError> {
    config
        .strategies
        .iter()
        .map(|s| {
            let plugin = host
                .load_pinned(&config.resolve(&s.plugin), s.sha256.as_deref(), &s.limits)
                .map_err(|source| SessionError::Plugin {
                    strategy_id: StrategyId::new(s.id.clone()),
                    cause: source,
                })?;
            instantiate(host, s, &plugin)
        })
        .collect()
}

/// A fresh instance of registration `s` from its loaded `plugin`.
pub fn instantiate(
    host: &StrategyHost,
    s: &StrategyConfig,
    plugin: &Plugin,
) -> Result<LoadedStrategy, SessionError> {
    let strategy_id = StrategyId::new(s.id.clone());
    let instance = host
        .instantiate(plugin, &strategy_id, s.limits)
        .map_err(|source| SessionError::Strategy {
            strategy_id,
            cause: source,
        })?;
    Ok(LoadedStrategy {
        strategy: Box::new(instance),
        plugin: s.plugin.display().to_string(),
        sha256: plugin.sha256().to_owned(),
    })
}

/// The `[[fx]]` rates of a session file, reporting invalid ones.
fn configured_rates(config: &SessionConfig, problems: &mut Problems) -> Rates {
    let mut rates = BTreeMap::new();
    for (i, fx) in config.fx.iter().enumerate() {
        if fx.rate <= Decimal::ZERO {
            problems.push(format!("fx[{i}].rate: must be positive, got {}", fx.rate));
        }
        if fx.base == fx.quote {
            problems.push(format!("fx[{i}]: base and quote are both {}", fx.base));
        }
        rates.insert(
            (
                Currency::new(fx.base.clone()),
                Currency::new(fx.quote.clone()),
            ),
            fx.rate,
        );
    }
    Rates::new(rates)
}

/// The currency a session reports equity in.
fn session_currency(config: &SessionConfig) -> Currency {
    Currency::new(
        config
            .session
            .currency
            .clone()
            .or_else(|| config.execution.first().map(|e| e.currency.clone()))
            .unwrap_or_else(|| "USD".to_owned()),
    )
}

/// Checks that `host` compiles plugins for the session's CPU meter.
fn check_meter(config: &SessionConfig, host: &StrategyHost) -> Result<(), SessionError> {
    let configured = config.session.cpu_meter();
    if configured == host.meter() {
        Ok(())
    } else {
        Err(SessionError::Meter {
            configured,
            host: host.meter(),
        })
    }
}

/// Checks the `venue` fields against `[[venues]]` and the mode.
fn validate_venues(config: &SessionConfig, problems: &mut Problems) {
    let mode = config.session.mode;
    let known = |id: &str| config.venues.iter().any(|v| v.id == id);
    for (i, v) in config.venues.iter().enumerate() {
        if config.venues[..i].iter().any(|o| o.id == v.id) {
            problems.push(format!("venues[{i}] ({}): id defined twice", v.id));
        }
    }
    for (i, inst) in config.instruments.iter().enumerate() {
        if let Some(v) = inst.venue.as_deref().filter(|v| !known(v)) {
            problems.push(format!(
                "instruments[{i}] ({}).venue: unknown venue '{v}'",
                inst.symbol
            ));
        }
    }
    for (i, data) in config.data.iter().enumerate() {
        let at = format!("data[{i}] ({})", data.instrument);
        match (&data.path, &data.venue) {
            (Some(_), Some(_)) | (None, None) => problems.push(format!(
                "{at}: give either `path` (stored data) or `venue` (live streams)"
            )),
            (None, Some(v)) if !known(v) => problems.push(format!("{at}.venue: unknown venue '{v}'")),
            (None, Some(_)) if mode == Mode::Backtest => problems.push(format!(
                "{at}.venue: a backtest runs on stored data; live data needs mode paper, sandbox or live"
            )),
            (Some(_), None) if matches!(mode, Mode::Sandbox | Mode::Live) => problems.push(format!(
                "{at}.path: {mode:?} sessions trade on the venue's live data; name the venue instead"
            ).to_lowercase()),
            _ => {}
        }
        if data.interval.is_some() && (data.venue.is_none() || data.kind != DataKind::Bars) {
            problems.push(format!("{at}.interval: only live bars have an interval"));
        }
    }
    for (i, ex) in config.execution.iter().enumerate() {
        let at = format!("execution[{i}] ({})", ex.id);
        match &ex.venue {
            Some(v) if !known(v) => problems.push(format!("{at}.venue: unknown venue '{v}'")),
            Some(_) if !matches!(mode, Mode::Sandbox | Mode::Live) => problems.push(format!(
                "{at}.venue: orders go to a venue only in sandbox and live modes; {} sessions use the simulator",
                format!("{mode:?}").to_lowercase()
            )),
            None if matches!(mode, Mode::Sandbox | Mode::Live) => problems.push(format!(
                "{at}.venue: {} sessions send orders to a venue; name one",
                format!("{mode:?}").to_lowercase()
            )),
            _ => {}
        }
    }
    if mode == Mode::Live {
        for (i, s) in config.strategies.iter().enumerate() {
            let r = &s.risk;
            if (r.max_order_qty.is_none() && r.max_order_notional.is_none())
                || r.max_position.is_none()
            {
                problems.push(format!(
                    "strategies[{i}] ({}).risk: live sessions need max_position and max_order_qty or max_order_notional",
                    s.id
                ));
            }
        }
    }
}

/// Checks the session file, returning reference data if it is usable.
pub fn validate(config: &SessionConfig, path: &Path) -> Result<ReferenceData, ConfigError> {
    let mut problems = Problems::default();
    let reference = ReferenceData::from_config(&config.instruments, &mut problems);
    let rates = configured_rates(config, &mut problems);
    let session_currency = session_currency(config);
    for (i, data) in config.data.iter().enumerate() {
        if reference.by_symbol(&data.instrument).is_none() {
            problems.push(format!(
                "data[{i}].instrument: unknown instrument '{}'",
                data.instrument
            ));
        }
        if config.data[..i]
            .iter()
            .any(|d| d.instrument == data.instrument && d.kind == data.kind)
        {
            problems.push(
                format!(
                    "data[{i}]: second {:?} file for '{}'",
                    data.kind, data.instrument
                )
                .to_lowercase(),
            );
        }
        if data.kind == DataKind::Bars
            && config
                .data
                .iter()
                .any(|d| d.instrument == data.instrument && d.kind != DataKind::Bars)
        {
            problems.push(format!(
                "data[{i}]: '{}' has both bars and quote/trade data; use one or the other",
                data.instrument
            ));
        }
    }
    for (i, ex) in config.execution.iter().enumerate() {
        let at = format!("execution[{i}] ({})", ex.id);
        if config.execution[..i].iter().any(|e| e.id == ex.id) {
            problems.push(format!("{at}: id defined twice"));
        }
        ex.check_bounds(&at, &mut problems);
        if ex.starting_cash < Decimal::ZERO {
            problems.push(format!(
                "{at}.starting_cash: must not be negative, got {}",
                ex.starting_cash
            ));
        }
        let fees = ex.fees();
        for (field, value) in [
            ("commission", ex.commission),
            ("maker_fee", fees.maker),
            ("taker_fee", fees.taker),
        ] {
            // Negative maker fees are rebates, which venues do pay.
            let floor = if field == "maker_fee" {
                -Decimal::ONE
            } else {
                Decimal::ZERO
            };
            if value < floor || value >= Decimal::ONE {
                problems.push(format!(
                    "{at}.{field}: must be a fraction in [{floor}, 1), got {value}"
                ));
            }
        }
        if ex.fee_per_order < Decimal::ZERO {
            problems.push(format!(
                "{at}.fee_per_order: must not be negative, got {}",
                ex.fee_per_order
            ));
        }
        if let Some(leverage) = ex.leverage {
            if ex.account == AccountType::Cash {
                problems.push(format!("{at}.leverage: only margin accounts have leverage"));
            } else if leverage < Decimal::ONE {
                problems.push(format!("{at}.leverage: must be at least 1, got {leverage}"));
            }
        }
        if let Some(cap) = ex.max_participation {
            if cap <= Decimal::ZERO || cap > Decimal::ONE {
                problems.push(format!(
                    "{at}.max_participation: must be a fraction in (0, 1], got {cap}"
                ));
            }
        }
        for (currency, amount) in &ex.balances {
            if amount.0 < Decimal::ZERO && ex.account == AccountType::Cash {
                problems.push(format!(
                    "{at}.balances.{currency}: a cash account cannot start negative, got {}",
                    amount.0
                ));
            }
            if !rates.has_path(
                &Currency::new(currency.clone()),
                &Currency::new(ex.currency.clone()),
                &reference,
            ) {
                problems.push(format!(
                    "{at}.balances.{currency}: no rate converts {currency} to {}; add an [[fx]] entry",
                    ex.currency
                ));
            }
        }
        if !rates.has_path(
            &Currency::new(ex.currency.clone()),
            &session_currency,
            &reference,
        ) {
            problems.push(format!(
                "{at}.currency: no rate converts {} to the session currency {session_currency}; add an [[fx]] entry",
                ex.currency
            ));
        }
        if ex.slippage_bps < Decimal::ZERO || ex.slippage_bps >= Decimal::from(10_000) {
            problems.push(format!(
                "{at}.slippage_bps: must be in [0, 10000), got {}",
                ex.slippage_bps
            ));
        }
    }
    validate_venues(config, &mut problems);
    if config.strategies.is_empty() {
        problems.push("strategies: at least one [[strategies]] entry is needed".to_owned());
    }
    for (i, s) in config.strategies.iter().enumerate() {
        let at = format!("strategies[{i}] ({})", s.id);
        if config.strategies[..i].iter().any(|o| o.id == s.id) {
            problems.push(format!("{at}: id defined twice"));
        }
        let execution = config.execution.iter().find(|e| e.id == s.execution);
        if execution.is_none() {
            problems.push(format!(
                "{at}.execution: unknown execution context '{}'",
                s.execution
            ));
        }
        for symbol in &s.instruments {
            match reference.by_symbol(symbol) {
                None => problems.push(format!("{at}.instruments: unknown instrument '{symbol}'")),
                Some(inst) => {
                    if !config.data.iter().any(|d| &d.instrument == symbol) {
                        problems.push(format!("{at}.instruments: no [[data]] for '{symbol}'"));
                    }
                    if let Some(ex) = execution.filter(|e| {
                        !rates.has_path(
                            &inst.quote_currency,
                            &Currency::new(e.currency.clone()),
                            &reference,
                        )
                    }) {
                        problems.push(format!(
                            "{at}.instruments: '{symbol}' is quoted in {} but no rate converts it to {}, the currency of execution context '{}'; add an [[fx]] entry or a {}{} instrument",
                            inst.quote_currency, ex.currency, ex.id, inst.quote_currency, ex.currency
                        ));
                    }
                }
            }
        }
        for problem in s.limits.problems() {
            problems.push(format!("{at}.limits.{problem}"));
        }
        if let Some(pin) = &s.sha256 {
            if pin.len() != 64 || !pin.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.push(format!("{at}.sha256: must be 64 hex digits, got '{pin}'"));
            }
        }
        s.params_as_text(&mut problems);
    }
    if problems.is_empty() {
        Ok(reference)
    } else {
        Err(ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        })
    }
}

impl Session {
    /// Loads the session file at `path` with everything it names.
    pub fn from_file(path: &Path, host: &StrategyHost) -> Result<Self, SessionError> {
        let config = SessionConfig::load(path)?;
        let reference = validate(&config, path)?;
        check_meter(&config, host)?;
        let data = load_market_data(&config, &reference)?;
        let strategies = load_strategies(&config, host)?;
        Self::new(&config, reference, data, strategies)
    }

    /// Builds a session from parts checked by [`validate`]; `strategies` in
    /// the order of `config.strategies`. Calls each strategy's `init`.
    pub fn new(
        config: &SessionConfig,
        reference: ReferenceData,
        data: MarketData,
        strategies: Vec<LoadedStrategy>,
    ) -> Result<Self, SessionError> {
        Self::build(config, reference, data.into(), strategies, BTreeMap::new())
    }

    /// [`Session::new`] over any feed, with the connected venue of each
    /// execution context that has one (`venues` by execution id).
    fn build(
        config: &SessionConfig,
        reference: ReferenceData,
        feed: Feed,
        strategies: Vec<LoadedStrategy>,
        mut venues: BTreeMap<String, Binance>,
    ) -> Result<Self, SessionError> {
        let accounts = config
            .execution
            .iter()
            .map(|e| {
                let mut starting: BTreeMap<Currency, Decimal> = e
                    .balances
                    .iter()
                    .map(|(c, v)| (Currency::new(c.clone()), v.0))
                    .collect();
                *starting
                    .entry(Currency::new(e.currency.clone()))
                    .or_default() += e.starting_cash;
                Account::new(
                    ExecutionId::new(e.id.clone()),
                    Currency::new(e.currency.clone()),
                    e.kind(),
                    starting,
                )
            })
            .collect::<Vec<_>>();
        let routes = config
            .execution
            .iter()
            .map(|e| match venues.remove(&e.id) {
                Some(venue) => Adapter::Binance {
                    venue: Box::new(venue),
                    fees: e.fees(),
                },
                None => Adapter::Simulator(Simulator::new(
                    e.fees(),
                    e.slippage_bps / Decimal::from(10_000),
                    e.latency(),
                    e.max_participation,
                )),
            })
            .collect();
        let rates = configured_rates(config, &mut Problems::default());
        let currency = session_currency(config);
        let mut registrations = Vec::with_capacity(strategies.len());
        for (index, (cfg, loaded)) in config.strategies.iter().zip(strategies).enumerate() {
            let strategy_id = StrategyId::new(cfg.id.clone());
            let unvalidated = |problem: String| {
                let mut problems = Problems::default();
                problems.push(format!("strategies[{index}] ({}): {problem}", cfg.id));
                SessionError::Config(ConfigError::Invalid {
                    path: config.base_dir.clone(),
                    problems,
                })
            };
            let execution_index = config
                .execution
                .iter()
                .position(|e| e.id == cfg.execution)
                .ok_or_else(|| {
                    unvalidated(format!("unknown execution context '{}'", cfg.execution))
                })?;
            let execution = &config.execution[execution_index];
            let attribution = Arc::new(Attribution {
                strategy_index: index,
                execution_index,
                strategy_id: strategy_id.clone(),
                execution_id: ExecutionId::new(execution.id.clone()),
                route_id: RouteId::new(execution.route.clone()),
                plugin_version: 0,
            });
            let mut granted = vec![false; reference.len()];
            let mut instruments = Vec::new();
            for symbol in &cfg.instruments {
                let inst = reference
                    .by_symbol(symbol)
                    .ok_or_else(|| unvalidated(format!("unknown instrument '{symbol}'")))?;
                granted[inst.id.0 as usize] = true;
                instruments.push(wit::Instrument {
                    id: inst.id.0,
                    symbol: inst.symbol.clone(),
                    base_currency: inst.base_currency.to_string(),
                    quote_currency: inst.quote_currency.to_string(),
                    price_scale: inst.price_scale,
                    qty_scale: inst.qty_scale,
                    tick_size: to_scaled(inst.tick_size, inst.price_scale).unwrap_or(1),
                    lot_size: to_scaled(inst.lot_size, inst.qty_scale).unwrap_or(1),
                    min_notional: decimal_to_wit(inst.min_notional),
                });
            }
            let mut strategy = loaded.strategy;
            let failed = |source| SessionError::Strategy {
                strategy_id: strategy_id.clone(),
                cause: source,
            };
            let init_config = wit::Config {
                strategy_id: cfg.id.clone(),
                params: cfg.params_as_text(&mut Problems::default()),
                instruments,
            };
            let info = strategy.init(&init_config).map_err(failed)?;
            let subscribed = subscriptions(&info, &granted, &reference, &strategy_id)?;
            tracing::info!(%strategy_id, name = %info.name, version = %info.version, sha256 = %loaded.sha256, "strategy registered");
            registrations.push(Registration {
                record: StrategyRecord {
                    strategy_id,
                    execution_id: attribution.execution_id.clone(),
                    route_id: attribution.route_id.clone(),
                    plugin: loaded.plugin,
                    versions: vec![PluginVersion {
                        sha256: loaded.sha256.clone(),
                        name: info.name.clone(),
                        version: info.version.clone(),
                        from_step: 1,
                    }],
                    sha256: loaded.sha256,
                    name: info.name,
                    version: info.version,
                    quarantined: None,
                },
                attribution,
                strategy,
                config: init_config,
                quarantined: None,
                on_quarantine: cfg.on_quarantine,
                granted,
                subscribed,
                risk: cfg.risk.clone(),
                view: empty_view(),
                pending: Vec::new(),
                account_sent: false,
            });
        }
        let instruments = reference.len();
        let strategy_account: Vec<usize> = registrations
            .iter()
            .map(|r| r.attribution.execution_index)
            .collect();
        let inventory = Inventory::new(accounts, strategy_account.clone(), instruments);
        Ok(Self {
            name: config.session.name.clone(),
            mode: config.session.mode,
            coordinator: StateCoordinator::new(feed, instruments),
            services: Services {
                inventory,
                strategy_account,
                rates,
                currency,
                reference,
                routes,
                book: OrderBook::default(),
                stamper: IntentStamper::default(),
                recorder: Recorder::new(registrations.len()),
                events: Vec::new(),
                journal: None,
                strategy_pnl: Vec::new(),
            },
            registrations,
            starting_equity: None,
            starting_capital: Vec::new(),
            operator: control::Operator::default(),
        })
    }

    /// Runs every step and returns the report.
    pub fn run(mut self) -> Report {
        self.run_steps(|_, _| {});
        self.finish()
    }

    /// Runs every remaining step, telling `progress` after each how many
    /// bars have been replayed and how many there are in all; it sees
    /// nothing else, so it cannot change the outcome.
    pub fn run_steps(&mut self, mut progress: impl FnMut(u64, u64)) {
        let (total, mut done) = (self.coordinator.bar_count() as u64, 0);
        while self.step() {
            done += self.coordinator.snapshot().bars().len() as u64;
            progress(done, total);
        }
    }

    /// The report of the steps run so far.
    pub fn finish(self) -> Report {
        let services = self.services;
        let snapshot = self.coordinator.snapshot();
        let mark = |i| services.mark(snapshot, i);
        // A session stopped before its first step: only configured rates apply.
        let starting_equity = self.starting_equity.unwrap_or_else(|| {
            let value = services.inventory.valuation(
                None,
                &services.currency,
                &services.reference,
                &services.rates,
                |_| None,
            );
            value.equity
        });
        let commissions = services
            .inventory
            .accounts()
            .iter()
            .flat_map(|a| &a.commissions)
            .map(|(c, v)| {
                services
                    .rates
                    .convert(*v, c, &services.currency, &services.reference, mark)
            })
            .sum();
        let realized = (0..self.registrations.len())
            .flat_map(|s| services.inventory.positions(s).iter().enumerate())
            .map(|(i, p)| {
                let quote = &services
                    .reference
                    .get(InstrumentId(i as u32))
                    .quote_currency;
                services.rates.convert(
                    p.realized_pnl,
                    quote,
                    &services.currency,
                    &services.reference,
                    mark,
                )
            })
            .sum();
        let capital: Vec<(ExecutionId, Decimal)> = services
            .inventory
            .accounts()
            .iter()
            .zip(
                self.starting_capital
                    .iter()
                    .copied()
                    .chain(std::iter::repeat(starting_equity)),
            )
            .map(|(a, c)| (a.id.clone(), c))
            .collect();
        services.recorder.finish(
            self.name,
            self.mode,
            self.registrations
                .into_iter()
                .map(|r| StrategyRecord {
                    quarantined: r.quarantined,
                    ..r.record
                })
                .collect(),
            &capital,
            self.coordinator.bar_count() as u64,
            starting_equity,
            commissions,
            realized,
        )
    }

    /// Runs one step; `false` when the data is exhausted.
    pub fn step(&mut self) -> bool {
        if self.journal().is_some_and(|j| j.failure().is_some()) {
            return false;
        }
        let Some(snapshot) = self.coordinator.advance() else {
            return false;
        };
        let services = &mut self.services;
        if let Some(j) = &mut services.journal {
            j.market(snapshot);
        }
        services.execute_fills(snapshot, &mut self.registrations);
        services.venue_notices(snapshot.time());
        let value = services.account_value(None, snapshot);
        if self.starting_equity.is_none() {
            self.starting_equity = Some(value.equity);
            self.starting_capital = (0..services.inventory.accounts().len())
                .map(|a| services.account_value(Some(a), snapshot).equity)
                .collect();
        }
        let mut pnl = std::mem::take(&mut services.strategy_pnl);
        pnl.clear();
        pnl.extend((0..self.registrations.len()).map(|s| services.strategy_pnl(s, snapshot)));
        services.recorder.on_step(snapshot.time(), value, &pnl);
        services.strategy_pnl = pnl;

        for reg in &mut self.registrations {
            if reg.quarantined.is_some()
                || self.operator.holds(reg.attribution.strategy_index)
                || !fill_market_view(&mut reg.view, snapshot, &reg.subscribed)
            {
                continue;
            }
            services.fill_account_view(reg, snapshot);
            let decision = reg.strategy.on_step(&reg.view);
            if let Some(j) = &mut services.journal {
                j.decision(&reg.attribution, &reg.view, &decision);
            }
            match decision {
                Ok(intents) => {
                    for raw in intents {
                        services.handle_intent(reg, snapshot, raw);
                    }
                }
                Err(e) => {
                    let cause = format!("strategy {} {e}", reg.attribution.strategy_id);
                    services.quarantine(reg, snapshot.time(), cause);
                }
            }
        }
        self.journal_step_end();
        true
    }

    /// Applies an operator's action between steps.
    pub fn control(&mut self, action: Control) -> Result<(), ControlError> {
        let time = self.coordinator.snapshot().time();
        let strategy_id = match &action {
            Control::Quarantine { strategy_id, .. } | Control::Enable { strategy_id } => {
                strategy_id.clone()
            }
        };
        let reg = self
            .registrations
            .iter_mut()
            .find(|r| r.attribution.strategy_id == strategy_id)
            .ok_or_else(|| ControlError::UnknownStrategy(strategy_id.clone()))?;
        let services = &mut self.services;
        match action {
            Control::Quarantine { reason, .. } => {
                if reg.quarantined.is_some() {
                    return Err(ControlError::AlreadyQuarantined(strategy_id));
                }
                services.quarantine(reg, time, format!("operator: {reason}"));
                Ok(())
            }
            Control::Enable { .. } => {
                if reg.quarantined.is_none() {
                    return Err(ControlError::NotQuarantined(strategy_id));
                }
                match restart(reg, &services.reference) {
                    Ok(()) => {
                        let cause = reg.quarantined.take().unwrap_or_default();
                        tracing::info!(strategy_id = %reg.attribution.strategy_id, "strategy re-enabled");
                        services.on_event(
                            time,
                            &reg.attribution.strategy_id,
                            EventKind::Enabled,
                            format!("operator re-enabled it after: {cause}"),
                        );
                        Ok(())
                    }
                    Err(e) => {
                        let message = e.to_string();
                        services.on_event(
                            time,
                            &reg.attribution.strategy_id,
                            EventKind::EnableFailed,
                            message.clone(),
                        );
                        Err(ControlError::EnableFailed(message))
                    }
                }
            }
        }
    }

    /// The registrations, in session-file order: id and what `init` was given.
    pub fn strategies(&self) -> impl Iterator<Item = (&StrategyId, &wit::Config)> {
        self.registrations
            .iter()
            .map(|r| (&r.attribution.strategy_id, &r.config))
    }

    /// Id of the last snapshot stepped (0 before the first step).
    pub fn snapshot_id(&self) -> u64 {
        self.coordinator.snapshot().id().0
    }

    /// Records a lifecycle event of `strategy_id` at the current step time.
    pub fn record_event(&mut self, strategy_id: &StrategyId, kind: EventKind, cause: String) {
        let time = self.coordinator.snapshot().time();
        self.services.on_event(time, strategy_id, kind, cause);
    }

    /// Hands registration `strategy_id` over to a new plugin version between
    /// steps: the running version's `save-state` goes to the new one's
    /// `restore-state`, then the new one decides every following step. A
    /// quarantined strategy has no state to give; its new version starts
    /// from `init` and leaves quarantine. On error the running version stays.
    ///
    /// `new` must have been initialised (`init` returned `info`).
    pub fn swap(
        &mut self,
        strategy_id: &StrategyId,
        mut new: Box<dyn Strategy>,
        info: wit::Info,
        sha256: String,
    ) -> Result<SwapOutcome, String> {
        let from_step = self.snapshot_id() + 1;
        let reference = &self.services.reference;
        let reg = self
            .registrations
            .iter_mut()
            .find(|r| &r.attribution.strategy_id == strategy_id)
            .ok_or_else(|| format!("no strategy '{strategy_id}' in this session"))?;
        let subscribed = subscriptions(&info, &reg.granted, reference, strategy_id)
            .map_err(|e| e.to_string())?;
        let outcome = if reg.quarantined.is_some() {
            SwapOutcome::Restarted
        } else {
            let state = reg
                .strategy
                .save_state()
                .map_err(|e| format!("the running version {e}"))?;
            new.restore_state(&state)
                .map_err(|e| format!("the new version {e}"))?;
            SwapOutcome::StateCarried(state.len())
        };
        reg.strategy = new;
        reg.subscribed = subscribed;
        reg.quarantined = None;
        // The new instance holds no account yet.
        reg.account_sent = false;
        let version = u32::try_from(reg.record.versions.len()).unwrap_or(u32::MAX);
        reg.attribution = Arc::new(Attribution {
            plugin_version: version,
            ..(*reg.attribution).clone()
        });
        reg.record.versions.push(PluginVersion {
            sha256: sha256.clone(),
            name: info.name.clone(),
            version: info.version.clone(),
            from_step,
        });
        reg.record.sha256 = sha256;
        reg.record.name = info.name;
        reg.record.version = info.version;
        Ok(outcome)
    }

    /// Ids of the strategies quarantined now, with the cause.
    pub fn quarantined(&self) -> impl Iterator<Item = (&StrategyId, &str)> {
        self.registrations.iter().filter_map(|r| {
            r.quarantined
                .as_deref()
                .map(|cause| (&r.attribution.strategy_id, cause))
        })
    }
}

/// How a [`Session::swap`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwapOutcome {
    /// The new version restored this many bytes of the old one's state.
    StateCarried(usize),
    /// The strategy was quarantined: the new version started from `init`.
    Restarted,
}

/// An operator's action on a running session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Take a strategy out of the step loop (its order policy applies).
    Quarantine {
        /// The registration.
        strategy_id: StrategyId,
        /// Why, for the event.
        reason: String,
    },
    /// Put a quarantined strategy back: a fresh instance, `init` again, and
    /// its full account in the next view.
    Enable {
        /// The registration.
        strategy_id: StrategyId,
    },
}

/// Why a [`Control`] action was not applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ControlError {
    /// No registration has this id.
    #[error("no strategy '{0}' in this session")]
    UnknownStrategy(StrategyId),
    /// Quarantine of a strategy already quarantined.
    #[error("strategy {0} is already quarantined")]
    AlreadyQuarantined(StrategyId),
    /// Enable of a strategy that is running.
    #[error("strategy {0} is not quarantined")]
    NotQuarantined(StrategyId),
    /// The fresh instance failed to start; the strategy stays quarantined.
    #[error("{0}")]
    EnableFailed(String),
}

/// Restarts a quarantined strategy: fresh instance, `init`, subscriptions.
fn restart(reg: &mut Registration, reference: &ReferenceData) -> Result<(), SessionError> {
    let strategy_id = &reg.attribution.strategy_id;
    let failed = |source| SessionError::Strategy {
        strategy_id: strategy_id.clone(),
        cause: source,
    };
    reg.strategy.reset().map_err(failed)?;
    let info = reg.strategy.init(&reg.config).map_err(failed)?;
    reg.subscribed = subscriptions(&info, &reg.granted, reference, strategy_id)?;
    reg.view = empty_view();
    reg.account_sent = false;
    Ok(())
}

/// Which instruments a strategy subscribed to in `init`; each must be granted.
fn subscriptions(
    info: &wit::Info,
    granted: &[bool],
    reference: &ReferenceData,
    strategy_id: &StrategyId,
) -> Result<Vec<bool>, SessionError> {
    let mut subscribed = vec![false; reference.len()];
    for symbol in &info.subscriptions {
        let refuse = |reason| SessionError::Subscription {
            strategy_id: strategy_id.clone(),
            symbol: symbol.clone(),
            reason,
        };
        let inst = reference
            .by_symbol(symbol)
            .ok_or_else(|| refuse("unknown instrument"))?;
        if !granted[inst.id.0 as usize] {
            return Err(refuse("instrument not granted to this strategy"));
        }
        subscribed[inst.id.0 as usize] = true;
    }
    Ok(subscribed)
}

impl Services {
    /// Records a strategy lifecycle event in the report and the journal.
    fn on_event(
        &mut self,
        time: crate::model::Timestamp,
        id: &StrategyId,
        kind: EventKind,
        cause: String,
    ) {
        if let Some(j) = &mut self.journal {
            j.lifecycle(id, kind, &cause);
        }
        self.recorder.on_event(time, id, kind, cause);
    }

    /// Takes `reg` out of the step loop and applies its order policy.
    fn quarantine(&mut self, reg: &mut Registration, time: crate::model::Timestamp, cause: String) {
        let a = Arc::clone(&reg.attribution);
        tracing::warn!(strategy_id = %a.strategy_id, "strategy quarantined: {cause}");
        self.on_event(time, &a.strategy_id, EventKind::Quarantined, cause.clone());
        if reg.on_quarantine == OrderPolicy::CancelOrders {
            self.cancel_orders(reg, None, time, "cancelled: strategy quarantined");
        }
        reg.quarantined = Some(cause);
    }

    /// Step 2: the venues act on this step's data; their events are applied
    /// to the order book, inventory and post-trade, and routed.
    fn execute_fills(&mut self, snapshot: &Snapshot, registrations: &mut [Registration]) {
        let mut events = std::mem::take(&mut self.events);
        for index in 0..self.routes.len() {
            if self.routes[index].is_idle() {
                continue;
            }
            let mut funds = self.funds(index);
            self.routes[index].on_market(snapshot, &self.reference, &mut funds, &mut events);
            for event in events.drain(..) {
                if let Some(report) = self.book.apply(&event) {
                    let owner = report.attribution.strategy_index;
                    self.publish(&report, &mut registrations[owner]);
                }
            }
        }
        self.events = events;
    }

    /// What venue `index` may spend and sell, from inventory.
    fn funds(&self, index: usize) -> Funds {
        let account = self.inventory.account(index);
        let mut positions = BTreeMap::new();
        for (strategy, &acc) in self.strategy_account.iter().enumerate() {
            if acc != index {
                continue;
            }
            for (i, p) in self.inventory.positions(strategy).iter().enumerate() {
                if !p.qty.is_zero() {
                    positions.insert((strategy, InstrumentId(i as u32)), p.qty);
                }
            }
        }
        Funds {
            margin: matches!(account.kind, AccountKind::Margin { .. }),
            cash: account.balances.clone(),
            positions,
        }
    }

    /// Applies the events a venue emitted for `reg`'s request.
    fn apply_events(&mut self, reg: &mut Registration) {
        let mut events = std::mem::take(&mut self.events);
        for event in events.drain(..) {
            if let Some(report) = self.book.apply(&event) {
                self.publish(&report, reg);
            }
        }
        self.events = events;
    }

    /// Applies a report to inventory, records it and queues it for its strategy.
    fn publish(&mut self, report: &OrderReport, reg: &mut Registration) {
        let inst = self
            .reference
            .instruments()
            .get(report.request.instrument.0 as usize);
        if let Some(inst) = inst {
            self.inventory.apply(report, &inst.quote_currency);
        }
        let a = &report.attribution;
        // A report about an order id the strategy does not have names no
        // instrument; it carries no fill, so no position is involved.
        let none = Position::default();
        let position = inst.map_or(&none, |i| self.inventory.position(a.strategy_index, i.id));
        self.recorder.on_report(report, position, &self.reference);
        if let Some(j) = &mut self.journal {
            j.report(report, position, self.inventory.account(a.execution_index));
        }
        let (qty_scale, price_scale) = inst.map_or((0, 0), |i| (i.qty_scale, i.price_scale));
        let (fill_qty, fill_price, commission, maker) =
            report.fill.map_or((0, 0, Decimal::ZERO, false), |f| {
                (
                    to_scaled(f.qty, qty_scale).unwrap_or(i64::MAX),
                    to_scaled(f.price, price_scale).unwrap_or(i64::MAX),
                    f.commission,
                    f.maker,
                )
            });
        reg.pending.push(wit::OrderReport {
            sequence: report.sequence,
            order_id: report.order_id.0,
            instrument: report.request.instrument.0,
            side: report.request.side.into(),
            kind: report.kind.into(),
            status: report.status.into(),
            client_tag: report.request.client_tag.clone(),
            fill_qty,
            fill_price,
            maker,
            commission: decimal_to_wit(commission),
            reason: report.reason.clone(),
            time: report.time,
        });
    }

    /// Cash of execution context `index` in `currency` reserved by working
    /// buy orders (cash accounts), from the order book's running sums: the
    /// cost does not grow with the orders a strategy has placed.
    fn reserved_cash(&self, index: usize, currency: &Currency, snapshot: &Snapshot) -> Decimal {
        let route = &self.routes[index];
        self.book
            .working(index)
            .filter(|((_, instrument, buy, _), _)| {
                *buy && &self.reference.get(*instrument).quote_currency == currency
            })
            .fold(Decimal::ZERO, |sum, ((_, instrument, _, _), w)| {
                let mark = self.mark(snapshot, *instrument);
                sum.saturating_add(risk::working_cost(w, mark, route.fees(), route.slippage()))
            })
    }

    /// Equity and margin used of execution context `index`, in its base
    /// currency; working orders that add exposure hold margin too.
    fn margin_state(&self, index: usize, snapshot: &Snapshot) -> (Decimal, Decimal) {
        let account = self.inventory.account(index);
        let mark = |i| self.mark(snapshot, i);
        let value = self.inventory.valuation(
            Some(index),
            &account.base_currency,
            &self.reference,
            &self.rates,
            mark,
        );
        let AccountKind::Margin { leverage } = account.kind else {
            return (value.equity, Decimal::ZERO);
        };
        let working = self
            .book
            .working(index)
            .filter(|((_, _, _, reduce_only), _)| !reduce_only)
            .fold(Decimal::ZERO, |sum, ((_, instrument, _, _), w)| {
                let inst = self.reference.get(*instrument);
                let notional = risk::working_notional(w, mark(inst.id));
                let converted = self.rates.convert(
                    notional,
                    &inst.quote_currency,
                    &account.base_currency,
                    &self.reference,
                    mark,
                );
                sum.saturating_add(converted / leverage)
            });
        (value.equity, value.margin_used.saturating_add(working))
    }

    /// Account `account` (every account, if `None`) valued in the session
    /// currency at this snapshot's prices.
    fn account_value(&self, account: Option<usize>, snapshot: &Snapshot) -> Valuation {
        self.inventory
            .valuation(account, &self.currency, &self.reference, &self.rates, |i| {
                self.mark(snapshot, i)
            })
    }

    /// Strategy `strategy`'s PnL before fees (realized plus unrealized, in
    /// the session currency) and whether it holds any position.
    fn strategy_pnl(&self, strategy: usize, snapshot: &Snapshot) -> (Decimal, bool) {
        let mark = |i| self.mark(snapshot, i);
        let (mut pnl, mut open) = (Decimal::ZERO, false);
        for (i, p) in self.inventory.positions(strategy).iter().enumerate() {
            let inst = self.reference.get(InstrumentId(i as u32));
            let unrealized = if p.qty.is_zero() {
                Decimal::ZERO
            } else {
                open = true;
                mark(inst.id).map_or(Decimal::ZERO, |m| p.qty * m - p.cost)
            };
            pnl += self.rates.convert(
                p.realized_pnl + unrealized,
                &inst.quote_currency,
                &self.currency,
                &self.reference,
                mark,
            );
        }
        (pnl, open)
    }

    fn mark(&self, snapshot: &Snapshot, instrument: InstrumentId) -> Option<Decimal> {
        snapshot
            .mark(instrument)
            .map(|p| from_scaled(p, self.reference.get(instrument).price_scale))
    }

    /// Sets the account part of a view: the full account when it may have
    /// changed since the strategy's previous step (see `wit/strategy.wit`),
    /// else `None`.
    fn fill_account_view(&self, reg: &mut Registration, snapshot: &Snapshot) {
        let a = &reg.attribution;
        let open = self.book.open_orders(a.strategy_index);
        if reg.account_sent && reg.pending.is_empty() && open.clone().next().is_none() {
            reg.view.account = None;
            return;
        }
        reg.account_sent = true;
        let positions = self
            .inventory
            .positions(a.strategy_index)
            .iter()
            .enumerate()
            .filter(|(_, p)| !p.qty.is_zero())
            .map(|(i, p)| {
                let inst = self.reference.get(InstrumentId(i as u32));
                wit::Position {
                    instrument: inst.id.0,
                    // Positions are sums of lot multiples: exact at qty scale.
                    qty: to_scaled(p.qty, inst.qty_scale).unwrap_or(i64::MAX),
                    avg_price: decimal_to_wit(p.avg_price().unwrap_or_default()),
                }
            })
            .collect();
        let index = a.execution_index;
        let account = self.inventory.account(index);
        let margin = matches!(account.kind, AccountKind::Margin { .. });
        let balances = account
            .balances
            .iter()
            .map(|(currency, total)| wit::Balance {
                currency: currency.to_string(),
                total: decimal_to_wit(*total),
                free: decimal_to_wit(if margin {
                    *total
                } else {
                    total.saturating_sub(self.reserved_cash(index, currency, snapshot))
                }),
            })
            .collect();
        let (equity, margin_used) = self.margin_state(index, snapshot);
        let open_orders = open
            .map(|o| open_order_to_wit(o, &self.reference))
            .collect();
        reg.view.account = Some(wit::Account {
            base_currency: account.base_currency.to_string(),
            equity: decimal_to_wit(equity),
            margin_used: decimal_to_wit(margin_used),
            positions,
            balances,
            open_orders,
            reports: std::mem::take(&mut reg.pending),
        });
    }

    /// Stamps, risk-checks and executes one intent of `reg`.
    fn handle_intent(&mut self, reg: &mut Registration, snapshot: &Snapshot, raw: wit::Intent) {
        let strategy_index = reg.attribution.strategy_index;
        let book = &self.book;
        let intent = match self.stamper.stamp(
            raw,
            &reg.attribution,
            snapshot.id(),
            snapshot.time(),
            &reg.granted,
            &self.reference,
            |id| {
                book.get(id)
                    .filter(|o| o.is_open() && o.attribution.strategy_index == strategy_index)
                    .map(|o| NamedOrder {
                        instrument: o.request.instrument,
                        side: o.request.side,
                        client_tag: o.request.client_tag.clone(),
                    })
            },
        ) {
            Ok(intent) => intent,
            Err(refused) => {
                tracing::debug!(strategy_id = %reg.attribution.strategy_id, "intent refused: {}", refused.reason);
                if let Some(j) = &mut self.journal {
                    j.refusal(
                        &reg.attribution,
                        refused.intent_id,
                        refused.order_id,
                        &refused.reason,
                    );
                }
                self.recorder.on_refusal(
                    snapshot.time(),
                    &reg.attribution,
                    refused.intent_id,
                    refused.order_id,
                    refused.reason.clone(),
                );
                self.report_refused(reg, snapshot, refused);
                return;
            }
        };
        let time = intent.time;
        let execution_index = reg.attribution.execution_index;
        match intent.action.clone() {
            Action::Place { order_id, request } => {
                let approved = match self.risk_check(reg, snapshot, intent, &request, None) {
                    risk::Decision::Approved(approved) => approved,
                    risk::Decision::Refused { intent, refusal } => {
                        if let Some(j) = &mut self.journal {
                            j.risk(&intent, Some(refusal.to_string()));
                        }
                        let report =
                            self.book
                                .reject(order_id, &intent, request, refusal.to_string());
                        self.publish(&report, reg);
                        return;
                    }
                };
                if let Some(j) = &mut self.journal {
                    j.risk(approved.intent(), None);
                }
                let report = self
                    .book
                    .submit(order_id, approved.intent(), request.clone());
                self.publish(&report, reg);
                let touch = self.touch(snapshot, &request);
                self.routes[execution_index].submit(
                    order_id,
                    strategy_index,
                    request,
                    time,
                    touch,
                    &mut self.events,
                );
                self.apply_events(reg);
            }
            Action::Cancel { order_id } => {
                let approved = risk::approve_cancel(intent);
                if let Some(j) = &mut self.journal {
                    j.risk(approved.intent(), None);
                }
                if !self.cancel_order(reg, order_id, time, CANCELLED_BY_STRATEGY) {
                    let reason = format!(
                        "no working order {order_id} of strategy {}",
                        reg.attribution.strategy_id
                    );
                    self.refuse_request(
                        reg,
                        approved.intent(),
                        ReportKind::CancelRejected,
                        order_id,
                        reason,
                    );
                }
            }
            Action::CancelAll { instrument } => {
                let approved = risk::approve_cancel(intent);
                if let Some(j) = &mut self.journal {
                    j.risk(approved.intent(), None);
                }
                self.cancel_orders(reg, instrument, time, CANCELLED_BY_STRATEGY);
            }
            Action::Replace {
                order_id,
                amendment,
            } => {
                // The stamper found the order open and owned.
                let Some(order) = self.book.get(order_id).cloned() else {
                    return;
                };
                let mut request = order.request.clone();
                let amended = amendment.apply_to(request.order_type);
                let result = amended.and_then(|order_type| {
                    request.order_type = order_type;
                    request.qty = amendment.qty.unwrap_or(request.qty);
                    match self.risk_check(reg, snapshot, intent.clone(), &request, Some(&order)) {
                        risk::Decision::Approved(_) => self.routes[execution_index].replace(
                            order_id,
                            strategy_index,
                            &amendment,
                            time,
                            &mut self.events,
                        ),
                        risk::Decision::Refused { refusal, .. } => Err(refusal.to_string()),
                    }
                });
                if let Some(j) = &mut self.journal {
                    j.risk(&intent, result.as_ref().err().cloned());
                }
                match result {
                    Ok(()) => self.apply_events(reg),
                    Err(reason) => self.refuse_request(
                        reg,
                        &intent,
                        ReportKind::ReplaceRejected,
                        order_id,
                        reason,
                    ),
                }
            }
        }
    }

    /// Requests the cancel of `reg`'s open order `order_id`; `false` if it
    /// has no such open order at its venue.
    fn cancel_order(
        &mut self,
        reg: &mut Registration,
        order_id: OrderId,
        time: crate::model::Timestamp,
        reason: &str,
    ) -> bool {
        let a = &reg.attribution;
        let owned = self
            .book
            .get(order_id)
            .is_some_and(|o| o.attribution.strategy_index == a.strategy_index);
        if !owned {
            return false;
        }
        let (execution_index, strategy_index) = (a.execution_index, a.strategy_index);
        let sent = self.routes[execution_index].cancel(
            order_id,
            strategy_index,
            time,
            reason,
            &mut self.events,
        );
        if sent.is_err() {
            // A venue may have reported news about the order meanwhile (a fill).
            self.apply_events(reg);
            return false;
        }
        if let Some(report) = self.book.request_cancel(order_id, time) {
            self.publish(&report, reg);
        }
        self.apply_events(reg);
        true
    }

    /// Cancels every open order of `reg` (on `instrument`, if given).
    fn cancel_orders(
        &mut self,
        reg: &mut Registration,
        instrument: Option<InstrumentId>,
        time: crate::model::Timestamp,
        reason: &str,
    ) {
        let ids: Vec<OrderId> = self
            .book
            .open_orders(reg.attribution.strategy_index)
            .filter(|o| instrument.is_none_or(|i| o.request.instrument == i))
            .map(|o| o.id)
            .collect();
        for id in ids {
            self.cancel_order(reg, id, time, reason);
        }
    }

    /// Reports a refused cancel or replace to the strategy and post-trade.
    fn refuse_request(
        &mut self,
        reg: &mut Registration,
        intent: &Intent,
        kind: ReportKind,
        order_id: OrderId,
        reason: String,
    ) {
        let report = self
            .book
            .refuse_request(kind, order_id, intent, None, reason);
        self.publish(&report, reg);
    }

    /// Reports an intent the stamper refused back to its strategy.
    fn report_refused(
        &mut self,
        reg: &mut Registration,
        snapshot: &Snapshot,
        refused: crate::intents::Refused,
    ) {
        let sequence = self.book.next_sequence();
        reg.pending.push(wit::OrderReport {
            sequence,
            order_id: refused.order_id.0,
            instrument: refused.instrument,
            side: refused.side.into(),
            kind: match refused.what {
                RefusedKind::Place => wit::ReportKind::Rejected,
                RefusedKind::Replace => wit::ReportKind::ReplaceRejected,
            },
            status: wit::OrderStatus::Rejected,
            client_tag: refused.client_tag,
            fill_qty: 0,
            fill_price: 0,
            maker: false,
            commission: decimal_to_wit(Decimal::ZERO),
            reason: refused.reason,
            time: snapshot.time(),
        });
    }

    /// The best price on the other side of `request` now: the ask for a
    /// buy, the bid for a sell, else the last price.
    fn touch(&self, snapshot: &Snapshot, request: &OrderRequest) -> Option<Decimal> {
        let inst = self.reference.get(request.instrument);
        let quote = snapshot.last_quote(inst.id).map(|q| match request.side {
            Side::Buy => q.ask,
            Side::Sell => q.bid,
        });
        quote
            .map(|p| from_scaled(p, inst.price_scale))
            .or_else(|| self.mark(snapshot, inst.id))
    }

    /// Risk decision on `request`; `replacing` is the order it would replace
    /// (its own working quantity does not count against it).
    fn risk_check(
        &self,
        reg: &Registration,
        snapshot: &Snapshot,
        intent: Intent,
        request: &OrderRequest,
        replacing: Option<&Order>,
    ) -> risk::Decision {
        let a = &reg.attribution;
        let index = a.execution_index;
        let simulator = &self.routes[index];
        let mut working_buys =
            self.book
                .working_qty(a.strategy_index, request.instrument, Side::Buy);
        let mut working_sells =
            self.book
                .working_qty(a.strategy_index, request.instrument, Side::Sell);
        // A replace's own working quantity does not count against it.
        if let Some(order) = replacing {
            match order.request.side {
                Side::Buy => working_buys -= order.remaining(),
                Side::Sell => working_sells -= order.remaining(),
            }
        }
        let instrument = self.reference.get(request.instrument);
        let account = self.inventory.account(index);
        let account_risk = match account.kind {
            AccountKind::Cash => {
                let currency = &instrument.quote_currency;
                let mut free = account
                    .balance(currency)
                    .saturating_sub(self.reserved_cash(index, currency, snapshot));
                if let Some(order) = replacing.filter(|o| o.request.side == Side::Buy) {
                    // The replaced order's reservation is released by the replace.
                    let price = order
                        .request
                        .order_type
                        .limit()
                        .or(order.request.order_type.stop())
                        .or_else(|| self.mark(snapshot, instrument.id))
                        .unwrap_or_default();
                    let cost = risk::estimated_cost(
                        order.request.order_type,
                        order.remaining(),
                        price,
                        simulator.fees(),
                        simulator.slippage(),
                    );
                    free = free.saturating_add(cost.unwrap_or_default());
                }
                risk::AccountRisk::Cash { free_cash: free }
            }
            AccountKind::Margin { leverage } => {
                let (equity, margin_used) = self.margin_state(index, snapshot);
                let mark = |i| self.mark(snapshot, i);
                let quote_rate = self.rates.convert(
                    Decimal::ONE,
                    &instrument.quote_currency,
                    &account.base_currency,
                    &self.reference,
                    mark,
                );
                risk::AccountRisk::Margin {
                    equity,
                    margin_used,
                    leverage,
                    quote_rate,
                }
            }
        };
        let ctx = RiskContext {
            instrument,
            mark: self.mark(snapshot, request.instrument),
            position: self
                .inventory
                .position(a.strategy_index, request.instrument)
                .qty,
            working_buys,
            working_sells,
            account: account_risk,
            fees: simulator.fees(),
            slippage: simulator.slippage(),
            limits: &reg.risk,
            open_orders: self
                .book
                .open_count(a.strategy_index)
                .saturating_sub(usize::from(replacing.is_some())),
        };
        risk::check(intent, request, &ctx)
    }
}

/// A working order as its strategy sees it.
fn open_order_to_wit(o: &Order, reference: &ReferenceData) -> wit::OpenOrder {
    let inst = reference.get(o.request.instrument);
    let price = |p: Decimal| to_scaled(p, inst.price_scale).unwrap_or(i64::MAX);
    let qty = |q: Decimal| to_scaled(q, inst.qty_scale).unwrap_or(i64::MAX);
    let r = &o.request;
    wit::OpenOrder {
        id: o.id.0,
        instrument: inst.id.0,
        side: r.side.into(),
        order_type: match r.order_type {
            OrderType::Market => wit::OrderType::Market,
            OrderType::Limit { price: p } => wit::OrderType::Limit(price(p)),
            OrderType::Stop { stop } => wit::OrderType::Stop(price(stop)),
            OrderType::StopLimit { stop, limit } => wit::OrderType::StopLimit(wit::StopLimit {
                stop: price(stop),
                limit: price(limit),
            }),
        },
        time_in_force: match r.tif {
            TimeInForce::Gtc => wit::TimeInForce::Gtc,
            TimeInForce::Ioc => wit::TimeInForce::Ioc,
            TimeInForce::Fok => wit::TimeInForce::Fok,
            TimeInForce::Gtd(t) => wit::TimeInForce::Gtd(t),
            TimeInForce::Day => wit::TimeInForce::Day,
        },
        qty: qty(r.qty),
        filled_qty: qty(o.filled_qty),
        status: o.status.into(),
        triggered: o.triggered,
        reduce_only: r.reduce_only,
        post_only: r.post_only,
        client_tag: r.client_tag.clone(),
    }
}

/// Resolves the report path for a session file: `--report` if given, else
/// `reports/<session name>.json` under the current directory.
pub fn default_report_path(name: &str) -> PathBuf {
    PathBuf::from("reports").join(format!("{name}.json"))
}

/// Journal hooks: attaching a journal, checkpoints, and the strategy swap a
/// journal rebuild needs (`crate::journal::replay`).
impl Session {
    /// Journals every event from here on.
    pub fn attach_journal(&mut self, journal: Journal) {
        self.services.journal = Some(journal);
    }

    /// The attached journal, if any.
    pub fn journal(&self) -> Option<&Journal> {
        self.services.journal.as_ref()
    }

    /// Records the end of the session in the attached journal and closes it.
    pub fn close_journal(&mut self) -> Option<Result<JournalSummary, JournalError>> {
        let journal = self.services.journal.take()?;
        let (states, host) = journal_state(&mut self.registrations, &self.services);
        Some(journal.finish(states, host))
    }

    /// sha256 of each registration's plugin at the start, in session-file order.
    pub fn plugins(&self) -> impl Iterator<Item = &str> {
        self.registrations.iter().map(|r| r.record.sha256.as_str())
    }

    /// Puts `strategy` in place of registration `index`'s, returning the old one.
    pub fn replace_strategy(
        &mut self,
        index: usize,
        strategy: Box<dyn Strategy>,
    ) -> Box<dyn Strategy> {
        std::mem::replace(&mut self.registrations[index].strategy, strategy)
    }

    /// Ends a step in the journal, with a checkpoint if one is due.
    fn journal_step_end(&mut self) {
        if !self
            .services
            .journal
            .as_ref()
            .is_some_and(Journal::checkpoint_due)
        {
            if let Some(j) = &mut self.services.journal {
                j.end_step();
            }
            return;
        }
        let (states, host) = journal_state(&mut self.registrations, &self.services);
        if let Some(j) = &mut self.services.journal {
            j.checkpoint(states, host);
            j.end_step();
        }
        // A resume restores instances from here, which hold no account yet:
        // the next views carry it in full, in the first run as in a resume,
        // so that both see the same views.
        for reg in &mut self.registrations {
            reg.account_sent = false;
        }
    }
}

/// Each registration's saved state, and the host state.
fn journal_state<'a>(
    registrations: &'a mut [Registration],
    s: &Services,
) -> (Vec<StrategyState<'a>>, serde_json::Value) {
    let host = journal::host_state(&s.inventory, registrations.len(), &s.book);
    let states = registrations
        .iter_mut()
        .map(|r| StrategyState {
            strategy_id: &r.attribution.strategy_id,
            state: match r.quarantined {
                Some(_) => Ok(Vec::new()),
                None => r.strategy.save_state(),
            },
            quarantined: r.quarantined.as_deref(),
        })
        .collect();
    (states, host)
}

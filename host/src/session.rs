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
use crate::events::{EngineEvent, EventSink, SessionState, StrategyState};
use crate::execution::binance::Binance;
use crate::execution::orders::{Order, OrderBook, OrderReport, VenueEvent, CANCELLED_BY_STRATEGY};
use crate::execution::simulator::{Funds, Simulator};
use crate::execution::AccountType;
use crate::execution::Adapter;
use crate::intents::{
    Action, Attribution, Intent, IntentStamper, NamedOrder, Proposal, RefusedKind,
};
use crate::inventory::{Account, AccountKind, Inventory, Position, Rates, Valuation};
use crate::market_data::{DataKind, MarketData, MarketDataError};
use crate::model::ReportKind;
use crate::model::{
    from_scaled, to_scaled, Currency, ExecutionId, InstrumentId, OrderId, RouteId, Side, StrategyId,
};
use crate::model::{OrderRequest, OrderStatus};
use crate::post_trade::{EventKind, PluginVersion, Recorder, Report, StrategyRecord};
use crate::reference_data::ReferenceData;
use crate::risk::{self, RiskContext, RiskLimits};
use crate::state::{MarketFeed, Snapshot, StateCoordinator};
use crate::strategy::{InitConfig, InstrumentSpec, Strategy, StrategyError, StrategyInfo};
use crate::strategy_host::{CpuMeter, Plugin, PluginError, StrategyHost};
use crate::views::{
    fill_market_view, AccountView, BalanceView, OpenOrderView, PositionView, ReportView, View,
};

mod accounts;
mod control;
mod fills;
mod intents;
mod lifecycle;
mod live;
mod sinks;
mod validate;
pub use control::{ActionError, OperatorAction, Overview, RunState, FLATTEN_TAG, OPERATOR};
use lifecycle::{restart, subscriptions};
pub use live::VenueStart;
use sinks::Sinks;
pub use validate::{check_meter, validate};
use validate::{configured_rates, session_currency};

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
    config: InitConfig,
    /// Why the strategy is out of the step loop, if it is.
    quarantined: Option<String>,
    on_quarantine: OrderPolicy,
    record: StrategyRecord,
    granted: Vec<bool>,
    subscribed: Vec<bool>,
    risk: RiskLimits,
    view: View,
    pending: Vec<ReportView>,
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
    /// Where every engine event goes: the recorder and the attached sinks.
    sinks: Sinks,
    /// Venue events of the current request or step (buffer reused).
    events: Vec<VenueEvent>,
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
        let Some(inst) = reference.by_symbol(&data.instrument) else {
            continue;
        };
        if let Some(loaded) = data.load(|p| config.resolve(p), inst)? {
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
        feed: MarketFeed,
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
                SessionError::Config(ConfigError::one(
                    &config.base_dir,
                    format!("strategies[{index}] ({}): {problem}", cfg.id),
                ))
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
                instruments.push(InstrumentSpec {
                    id: inst.id,
                    symbol: inst.symbol.clone(),
                    base_currency: inst.base_currency.to_string(),
                    quote_currency: inst.quote_currency.to_string(),
                    price_scale: inst.price_scale,
                    qty_scale: inst.qty_scale,
                    tick_size: to_scaled(inst.tick_size, inst.price_scale).unwrap_or(1),
                    lot_size: to_scaled(inst.lot_size, inst.qty_scale).unwrap_or(1),
                    min_notional: inst.min_notional,
                });
            }
            let mut strategy = loaded.strategy;
            let failed = |source| SessionError::Strategy {
                strategy_id: strategy_id.clone(),
                cause: source,
            };
            let init_config = InitConfig {
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
                view: View::default(),
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
                sinks: Sinks {
                    recorder: Recorder::new(registrations.len()),
                    attached: Vec::new(),
                },
                events: Vec::new(),
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
        services.sinks.recorder.finish(
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
        if self.services.sinks.halted() {
            return false;
        }
        let Some(snapshot) = self.coordinator.advance() else {
            return false;
        };
        let services = &mut self.services;
        services.sinks.emit(&EngineEvent::Market(snapshot));
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
        services.sinks.emit(&EngineEvent::Marked {
            time: snapshot.time(),
            value,
            strategy_pnl: &pnl,
        });
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
            services.sinks.emit(&EngineEvent::Decision {
                attribution: &reg.attribution,
                view: &reg.view,
                result: &decision,
            });
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
        self.end_step();
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
    pub fn strategies(&self) -> impl Iterator<Item = (&StrategyId, &InitConfig)> {
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
        info: StrategyInfo,
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

impl Services {}

/// Resolves the report path for a session file: `--report` if given, else
/// `reports/<session name>.json` under the current directory.
pub fn default_report_path(name: &str) -> PathBuf {
    PathBuf::from("reports").join(format!("{name}.json"))
}

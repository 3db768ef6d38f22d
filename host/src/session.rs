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

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rust_decimal::Decimal;

use crate::config::{ConfigError, Mode, OrderPolicy, Problems, SessionConfig};
use crate::execution::orders::{OrderReport, OrderStatus};
use crate::execution::simulator::Simulator;
use crate::intents::{Action, Attribution, Intent, IntentStamper, OrderType};
use crate::inventory::{Account, Inventory};
use crate::market_data::{load_csv, MarketData, MarketDataError};
use crate::model::{
    from_scaled, to_scaled, Currency, ExecutionId, InstrumentId, RouteId, StrategyId,
};
use crate::plugin_api::{decimal_to_wit, wit};
use crate::post_trade::{EventKind, PluginVersion, Recorder, Report, StrategyRecord};
use crate::reference_data::ReferenceData;
use crate::risk::{self, RiskContext, RiskLimits};
use crate::state::{empty_view, fill_market_view, Snapshot, StateCoordinator};
use crate::strategy_host::{CpuMeter, PluginError, Strategy, StrategyError, StrategyHost};

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
    #[error("strategy {strategy_id}: {source}")]
    Plugin {
        /// The registration.
        strategy_id: StrategyId,
        /// Why.
        source: PluginError,
    },
    /// A strategy call failed.
    #[error("strategy {strategy_id} {source}")]
    Strategy {
        /// The registration.
        strategy_id: StrategyId,
        /// Why.
        source: StrategyError,
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
    simulators: Vec<Simulator>,
    currencies: Vec<Currency>,
    inventory: Inventory,
    stamper: IntentStamper,
    recorder: Recorder,
    reports: Vec<OrderReport>,
}

/// A runnable session.
pub struct Session {
    name: String,
    mode: Mode,
    coordinator: StateCoordinator,
    registrations: Vec<Registration>,
    services: Services,
    starting_equity: Decimal,
}

/// Loads every `[[data]]` file of a session.
pub fn load_market_data(
    config: &SessionConfig,
    reference: &ReferenceData,
) -> Result<MarketData, SessionError> {
    let mut series = vec![Vec::new(); reference.len()];
    for data in &config.data {
        // Unknown symbols were reported by validation.
        if let Some(inst) = reference.by_symbol(&data.instrument) {
            series[inst.id.0 as usize] = load_csv(&config.resolve(&data.path), inst)?;
        }
    }
    Ok(MarketData::new(
        series.into_iter().filter(|s| !s.is_empty()).collect(),
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
            let strategy_id = StrategyId::new(s.id.clone());
            let plugin = host
                .load_pinned(&config.resolve(&s.plugin), s.sha256.as_deref())
                .map_err(|source| SessionError::Plugin {
                    strategy_id: strategy_id.clone(),
                    source,
                })?;
            let instance = host
                .instantiate(&plugin, &strategy_id, s.limits)
                .map_err(|source| SessionError::Strategy {
                    strategy_id,
                    source,
                })?;
            Ok(LoadedStrategy {
                strategy: Box::new(instance),
                plugin: s.plugin.display().to_string(),
                sha256: plugin.sha256().to_owned(),
            })
        })
        .collect()
}

/// Checks the session file, returning reference data if it is usable.
pub fn validate(config: &SessionConfig, path: &Path) -> Result<ReferenceData, ConfigError> {
    let mut problems = Problems::default();
    let reference = ReferenceData::from_config(&config.instruments, &mut problems);
    for (i, data) in config.data.iter().enumerate() {
        if reference.by_symbol(&data.instrument).is_none() {
            problems.push(format!(
                "data[{i}].instrument: unknown instrument '{}'",
                data.instrument
            ));
        }
        if config.data[..i]
            .iter()
            .any(|d| d.instrument == data.instrument)
        {
            problems.push(format!(
                "data[{i}]: second data file for '{}'",
                data.instrument
            ));
        }
    }
    for (i, ex) in config.execution.iter().enumerate() {
        let at = format!("execution[{i}] ({})", ex.id);
        if config.execution[..i].iter().any(|e| e.id == ex.id) {
            problems.push(format!("{at}: id defined twice"));
        }
        if ex.starting_cash < Decimal::ZERO {
            problems.push(format!(
                "{at}.starting_cash: must not be negative, got {}",
                ex.starting_cash
            ));
        }
        if ex.commission < Decimal::ZERO || ex.commission >= Decimal::ONE {
            problems.push(format!(
                "{at}.commission: must be a fraction in [0, 1), got {}",
                ex.commission
            ));
        }
        if ex.slippage_bps < Decimal::ZERO || ex.slippage_bps >= Decimal::from(10_000) {
            problems.push(format!(
                "{at}.slippage_bps: must be in [0, 10000), got {}",
                ex.slippage_bps
            ));
        }
    }
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
                    if let Some(ex) =
                        execution.filter(|e| e.currency != inst.quote_currency.as_str())
                    {
                        problems.push(format!(
                            "{at}.instruments: '{symbol}' is quoted in {} but execution context '{}' holds {}; cross-currency accounts are not supported yet",
                            inst.quote_currency, ex.id, ex.currency
                        ));
                    }
                }
            }
        }
        for field in s.limits.zero_fields() {
            problems.push(format!("{at}.limits.{field}: must be positive"));
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
        let configured = config.session.cpu_meter();
        if configured != host.meter() {
            return Err(SessionError::Meter {
                configured,
                host: host.meter(),
            });
        }
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
        let accounts = config
            .execution
            .iter()
            .map(|e| Account {
                id: ExecutionId::new(e.id.clone()),
                currency: Currency::new(e.currency.clone()),
                starting_cash: e.starting_cash,
                cash: e.starting_cash,
                commissions: Decimal::ZERO,
            })
            .collect::<Vec<_>>();
        let starting_equity = accounts.iter().map(|a| a.starting_cash).sum();
        let simulators = config
            .execution
            .iter()
            .map(|e| Simulator::new(e.commission, e.slippage_bps / Decimal::from(10_000)))
            .collect();
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
                source,
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
        Ok(Self {
            name: config.session.name.clone(),
            mode: config.session.mode,
            coordinator: StateCoordinator::new(data, instruments),
            services: Services {
                currencies: accounts.iter().map(|a| a.currency.clone()).collect(),
                inventory: Inventory::new(accounts, registrations.len(), instruments),
                reference,
                simulators,
                stamper: IntentStamper::default(),
                recorder: Recorder::new(registrations.len()),
                reports: Vec::new(),
            },
            registrations,
            starting_equity,
        })
    }

    /// Runs every step and returns the report.
    pub fn run(self) -> Report {
        self.run_observed(|_, _| {})
    }

    /// Runs every step, telling `progress` after each how many bars have
    /// been replayed and how many there are in all; it sees nothing else, so
    /// it cannot change the outcome.
    pub fn run_observed(mut self, mut progress: impl FnMut(u64, u64)) -> Report {
        let (total, mut done) = (self.coordinator.bar_count() as u64, 0);
        while self.step() {
            done += self.coordinator.snapshot().bars().len() as u64;
            progress(done, total);
        }
        self.finish()
    }

    /// The report of the steps run so far.
    pub fn finish(self) -> Report {
        let services = self.services;
        let commissions = services
            .inventory
            .accounts()
            .iter()
            .map(|a| a.commissions)
            .sum();
        let realized = (0..self.registrations.len())
            .flat_map(|s| {
                services
                    .inventory
                    .positions(s)
                    .iter()
                    .map(|p| p.realized_pnl)
            })
            .sum();
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
            services.inventory.accounts(),
            self.coordinator.bar_count() as u64,
            self.starting_equity,
            commissions,
            realized,
        )
    }

    /// Runs one step; `false` when the data is exhausted.
    pub fn step(&mut self) -> bool {
        let Some(snapshot) = self.coordinator.advance() else {
            return false;
        };
        let services = &mut self.services;
        services.execute_fills(snapshot, &mut self.registrations);
        let reference = &services.reference;
        services
            .recorder
            .on_step(snapshot.time(), &services.inventory, |i| {
                snapshot
                    .last_bar(i)
                    .map(|b| from_scaled(b.close, reference.get(i).price_scale))
            });

        for reg in &mut self.registrations {
            if reg.quarantined.is_some()
                || !fill_market_view(&mut reg.view, snapshot, &reg.subscribed)
            {
                continue;
            }
            services.fill_account_view(reg, snapshot);
            match reg.strategy.on_step(&reg.view) {
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
                        services.recorder.on_event(
                            time,
                            &reg.attribution.strategy_id,
                            EventKind::Enabled,
                            format!("operator re-enabled it after: {cause}"),
                        );
                        Ok(())
                    }
                    Err(e) => {
                        let message = e.to_string();
                        services.recorder.on_event(
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
        self.services
            .recorder
            .on_event(time, strategy_id, kind, cause);
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
        source,
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
    /// Takes `reg` out of the step loop and applies its order policy.
    fn quarantine(&mut self, reg: &mut Registration, time: crate::model::Timestamp, cause: String) {
        let a = Arc::clone(&reg.attribution);
        tracing::warn!(strategy_id = %a.strategy_id, "strategy quarantined: {cause}");
        self.recorder
            .on_event(time, &a.strategy_id, EventKind::Quarantined, cause.clone());
        if reg.on_quarantine == OrderPolicy::CancelOrders {
            let mut reports = std::mem::take(&mut self.reports);
            self.simulators[a.execution_index].cancel_all(
                a.strategy_index,
                time,
                "cancelled: strategy quarantined",
                &mut reports,
            );
            for report in reports.drain(..) {
                self.publish(&report, reg);
            }
            self.reports = reports;
        }
        reg.quarantined = Some(cause);
    }

    /// Step 2: fills from this step's bars, applied to inventory and routed.
    fn execute_fills(&mut self, snapshot: &Snapshot, registrations: &mut [Registration]) {
        for (index, simulator) in self.simulators.iter_mut().enumerate() {
            let cash = self.inventory.account(index).cash;
            simulator.match_bars(snapshot, &self.reference, cash, &mut self.reports);
        }
        let mut reports = std::mem::take(&mut self.reports);
        for report in reports.drain(..) {
            self.publish(
                &report,
                &mut registrations[report.attribution.strategy_index],
            );
        }
        self.reports = reports;
    }

    /// Applies a report to inventory, records it and queues it for its strategy.
    fn publish(&mut self, report: &OrderReport, reg: &mut Registration) {
        self.inventory.apply(report);
        let a = &report.attribution;
        let position = self
            .inventory
            .position(a.strategy_index, report.request.instrument);
        self.recorder.on_report(report, position, &self.reference);
        let inst = self.reference.get(report.request.instrument);
        let (fill_qty, fill_price, commission) = report.fill.map_or((0, 0, Decimal::ZERO), |f| {
            (
                to_scaled(f.qty, inst.qty_scale).unwrap_or(i64::MAX),
                to_scaled(f.price, inst.price_scale).unwrap_or(i64::MAX),
                f.commission,
            )
        });
        reg.pending.push(wit::OrderReport {
            order_id: report.order_id.0,
            instrument: inst.id.0,
            side: report.request.side.into(),
            status: match report.status {
                OrderStatus::Accepted => wit::OrderStatus::Accepted,
                OrderStatus::Rejected => wit::OrderStatus::Rejected,
                OrderStatus::PartiallyFilled => wit::OrderStatus::PartiallyFilled,
                OrderStatus::Filled => wit::OrderStatus::Filled,
                OrderStatus::Cancelled => wit::OrderStatus::Cancelled,
            },
            client_tag: report.request.client_tag.clone(),
            fill_qty,
            fill_price,
            commission: decimal_to_wit(commission),
            reason: report.reason.clone(),
            time: report.time,
        });
    }

    /// Cash of an execution context reserved by its working buy orders.
    fn reserved_cash(&self, execution_index: usize, snapshot: &Snapshot) -> Decimal {
        let simulator = &self.simulators[execution_index];
        simulator
            .working_orders()
            .iter()
            .filter(|o| o.request.side == crate::model::Side::Buy)
            .map(|o| {
                let price = match o.request.order_type {
                    OrderType::Limit(p) => p,
                    OrderType::Market => self
                        .mark(snapshot, o.request.instrument)
                        .unwrap_or_default(),
                };
                risk::estimated_cost(
                    o.request.order_type,
                    o.remaining(),
                    price,
                    simulator.commission(),
                    simulator.slippage(),
                )
            })
            .sum()
    }

    fn mark(&self, snapshot: &Snapshot, instrument: InstrumentId) -> Option<Decimal> {
        snapshot
            .last_bar(instrument)
            .map(|b| from_scaled(b.close, self.reference.get(instrument).price_scale))
    }

    /// Sets the account part of a view: the full account when it may have
    /// changed since the strategy's previous step (see `wit/strategy.wit`),
    /// else `None`.
    fn fill_account_view(&self, reg: &mut Registration, snapshot: &Snapshot) {
        let a = &reg.attribution;
        let simulator = &self.simulators[a.execution_index];
        let working = simulator
            .working_orders()
            .iter()
            .filter(|o| o.attribution.strategy_index == a.strategy_index);
        if reg.account_sent && reg.pending.is_empty() && working.clone().next().is_none() {
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
        let account = self.inventory.account(a.execution_index);
        let balances = vec![wit::Balance {
            currency: self.currencies[a.execution_index].to_string(),
            total: decimal_to_wit(account.cash),
            free: decimal_to_wit(account.cash - self.reserved_cash(a.execution_index, snapshot)),
        }];
        let open_orders = working
            .map(|o| {
                let inst = self.reference.get(o.request.instrument);
                wit::OpenOrder {
                    id: o.id.0,
                    instrument: inst.id.0,
                    side: o.request.side.into(),
                    order_type: match o.request.order_type {
                        OrderType::Market => wit::OrderType::Market,
                        OrderType::Limit(p) => wit::OrderType::Limit(
                            to_scaled(p, inst.price_scale).unwrap_or(i64::MAX),
                        ),
                    },
                    qty: to_scaled(o.request.qty, inst.qty_scale).unwrap_or(i64::MAX),
                    filled_qty: to_scaled(o.filled_qty, inst.qty_scale).unwrap_or(i64::MAX),
                    client_tag: o.request.client_tag.clone(),
                }
            })
            .collect();
        reg.view.account = Some(wit::Account {
            positions,
            balances,
            open_orders,
            reports: std::mem::take(&mut reg.pending),
        });
    }

    /// Stamps, risk-checks and executes one intent of `reg`.
    fn handle_intent(&mut self, reg: &mut Registration, snapshot: &Snapshot, raw: wit::Intent) {
        let intent = match self.stamper.stamp(
            raw,
            &reg.attribution,
            snapshot.id(),
            snapshot.time(),
            &reg.granted,
            &self.reference,
        ) {
            Ok(intent) => intent,
            Err(refused) => {
                tracing::debug!(strategy_id = %reg.attribution.strategy_id, "intent refused: {}", refused.reason);
                self.recorder.on_refusal(
                    snapshot.time(),
                    &reg.attribution,
                    refused.intent_id,
                    refused.order_id,
                    refused.reason.clone(),
                );
                reg.pending.push(wit::OrderReport {
                    order_id: refused.order_id.0,
                    instrument: refused.instrument,
                    side: refused.side.into(),
                    status: wit::OrderStatus::Rejected,
                    client_tag: refused.client_tag,
                    fill_qty: 0,
                    fill_price: 0,
                    commission: decimal_to_wit(Decimal::ZERO),
                    reason: refused.reason,
                    time: snapshot.time(),
                });
                return;
            }
        };
        let approved = match &intent.action {
            Action::Cancel { .. } => risk::approve_cancel(intent),
            Action::Place { order_id, request } => {
                let (order_id, request) = (*order_id, request.clone());
                match self.risk_check(reg, snapshot, intent, &request) {
                    risk::Decision::Approved(approved) => approved,
                    risk::Decision::Refused { intent, refusal } => {
                        let report =
                            OrderReport::rejected(order_id, &intent, request, refusal.to_string());
                        self.publish(&report, reg);
                        return;
                    }
                }
            }
        };
        let execution_index = reg.attribution.execution_index;
        match self.simulators[execution_index].execute(approved) {
            Ok(report) => self.publish(&report, reg),
            Err(rejected) => self.recorder.on_refusal(
                snapshot.time(),
                &reg.attribution,
                rejected.intent_id,
                rejected.order_id,
                rejected.reason,
            ),
        }
    }

    fn risk_check(
        &self,
        reg: &Registration,
        snapshot: &Snapshot,
        intent: Intent,
        request: &crate::intents::OrderRequest,
    ) -> risk::Decision {
        let a = &reg.attribution;
        let simulator = &self.simulators[a.execution_index];
        let (mut working_buys, mut working_sells) = (Decimal::ZERO, Decimal::ZERO);
        for o in simulator.working_orders() {
            if o.attribution.strategy_index == a.strategy_index
                && o.request.instrument == request.instrument
            {
                match o.request.side {
                    crate::model::Side::Buy => working_buys += o.remaining(),
                    crate::model::Side::Sell => working_sells += o.remaining(),
                }
            }
        }
        let ctx = RiskContext {
            instrument: self.reference.get(request.instrument),
            mark: self.mark(snapshot, request.instrument),
            position: self
                .inventory
                .position(a.strategy_index, request.instrument)
                .qty,
            working_buys,
            working_sells,
            free_cash: self.inventory.account(a.execution_index).cash
                - self.reserved_cash(a.execution_index, snapshot),
            commission: simulator.commission(),
            slippage: simulator.slippage(),
            limits: &reg.risk,
        };
        risk::check(intent, request, &ctx)
    }
}

/// Resolves the report path for a session file: `--report` if given, else
/// `reports/<session name>.json` under the current directory.
pub fn default_report_path(name: &str) -> PathBuf {
    PathBuf::from("reports").join(format!("{name}.json"))
}

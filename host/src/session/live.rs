//! Sessions on venues: connecting before the first step (exchange info into
//! reference data, account balances), then — once the journal is attached,
//! so that it records them — the live streams and start-up reconciliation
//! ([`VenueStart`]); at the end, checking the books against the venue's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::Sender;
use std::sync::Arc;

use rust_decimal::Decimal;

use super::{check_meter, load_strategies, validate, Session, SessionError};
use crate::config::{ConfigError, SessionConfig};
use crate::execution::binance::{Binance, VenueError};
use crate::execution::Adapter;
use crate::market_data::live::{Halts, LiveFeed, MarketEvent};
use crate::market_data::DataKind;
use crate::model::{InstrumentId, StrategyId};
use crate::post_trade::EventKind;
use crate::state::MarketFeed;
use crate::strategy_host::StrategyHost;

/// What a venue session does at its venues once its journal is attached,
/// so that every venue action is journalled: subscribe to the market
/// streams, start the user-data streams, and cancel the orders an earlier
/// run left open (see [`VenueStart::start`]).
#[must_use = "a venue session has no data and no order stream until it is started"]
pub struct VenueStart {
    /// Per venue id, its market-data connection and subscriptions.
    market: Vec<(Binance, Vec<(InstrumentId, String)>)>,
    events: Sender<MarketEvent>,
    halts: Halts,
    path: PathBuf,
    session: String,
    strategy_ids: Vec<String>,
}

impl std::fmt::Debug for VenueStart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VenueStart")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Loads the session file at `path` and connects it to its venues: for
    /// sessions with `[[venues]]` (sandbox, live, or paper on live data).
    /// The plugins are loaded before any venue request; the venues are only
    /// read (clock, exchange info, balances): nothing is sent to them until
    /// the returned [`VenueStart`] is started. The live feed ends once
    /// `stop` is set (or a halt sets it).
    pub fn connect(
        path: &Path,
        host: &StrategyHost,
        stop: Arc<AtomicBool>,
    ) -> Result<(Self, VenueStart), SessionError> {
        let mut config = SessionConfig::load(path)?;
        check_meter(&config, host)?;
        let strategies = load_strategies(&config, host)?;
        let invalid = |problem: String| SessionError::Config(ConfigError::one(path, problem));
        let venue_failed = |e: VenueError| invalid(e.to_string());
        let runtime = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("venue-io")
                .enable_all()
                .build()
                .map_err(|e| invalid(format!("cannot start the venue runtime: {e}")))?,
        );
        // One connection per venue for exchange info and market data, and
        // one per execution context for its orders.
        let mut market = BTreeMap::new();
        for v in &config.venues {
            market.insert(
                v.id.clone(),
                Binance::connect(v, Arc::clone(&runtime), false).map_err(venue_failed)?,
            );
        }
        complete_instruments(&mut config, &market).map_err(invalid)?;
        let mut venues = BTreeMap::new();
        for e in &mut config.execution {
            let Some(venue_id) = e.venue.clone() else {
                continue;
            };
            let Some(v) = config.venues.iter().find(|v| v.id == venue_id) else {
                continue; // reported by validation
            };
            if e.starting_cash != Decimal::ZERO || !e.balances.is_empty() {
                return Err(invalid(format!(
                    "execution context {}: a venue context's balances are the venue account's; remove starting_cash and balances",
                    e.id
                )));
            }
            let venue = Binance::connect(v, Arc::clone(&runtime), true).map_err(venue_failed)?;
            // The account's balances in the currencies the session deals in.
            let wanted: BTreeSet<String> = config
                .instruments
                .iter()
                .filter(|i| i.venue.as_deref() == Some(venue_id.as_str()))
                .flat_map(|i| [i.base_currency.clone(), i.quote_currency.clone()])
                .flatten()
                .chain([e.currency.clone()])
                .collect();
            let balances = venue.balances().map_err(venue_failed)?;
            for (asset, amount) in balances.into_iter().filter(|(a, _)| wanted.contains(a)) {
                if asset == e.currency {
                    e.starting_cash = amount;
                } else {
                    e.balances
                        .insert(asset, crate::config::decimal::Exact(amount));
                }
            }
            venues.insert(e.id.clone(), venue);
        }
        let reference = validate(&config, path)?;
        let (tx, rx) = std::sync::mpsc::channel();
        let mut streams = Vec::new();
        for (venue_id, mut venue) in market {
            let mut symbols = Vec::new();
            let mut subscriptions = Vec::new();
            for data in config
                .data
                .iter()
                .filter(|d| d.venue.as_deref() == Some(venue_id.as_str()))
            {
                let Some(inst) = reference.by_symbol(&data.instrument) else {
                    continue;
                };
                symbols.push(data.instrument.clone());
                let channel = match data.kind {
                    DataKind::Bars => format!("kline_{}", data.interval.as_deref().unwrap_or("1m")),
                    DataKind::Quotes => "bookTicker".to_owned(),
                    DataKind::Trades => "trade".to_owned(),
                };
                subscriptions.push((inst.id, channel));
            }
            if !subscriptions.is_empty() {
                venue.bind(&reference, &symbols).map_err(venue_failed)?;
                streams.push((venue, subscriptions));
            }
        }
        for venue in venues.values_mut() {
            let symbols: Vec<String> = config
                .instruments
                .iter()
                .filter(|i| i.venue.as_deref() == Some(venue.id()))
                .map(|i| i.symbol.clone())
                .collect();
            venue.bind(&reference, &symbols).map_err(venue_failed)?;
        }
        let feed = LiveFeed::new(rx, stop).with_runtime(runtime);
        let halts = feed.halts();
        let session = Self::build(
            &config,
            reference,
            MarketFeed::Live(feed),
            strategies,
            venues,
        )?;
        let start = VenueStart {
            market: streams,
            events: tx,
            halts,
            path: path.to_owned(),
            session: config.session.name.clone(),
            strategy_ids: config.strategies.iter().map(|s| s.id.clone()).collect(),
        };
        Ok((session, start))
    }

    /// Compares each venue context's balances with the venue account's;
    /// one line per difference (empty when the books agree).
    pub fn reconcile_venues(&self) -> Vec<String> {
        let services = &self.services;
        let mut differences = Vec::new();
        for (index, route) in services.routes.iter().enumerate() {
            let Adapter::Binance { venue, .. } = route else {
                continue;
            };
            let account = services.inventory.account(index);
            // The venue holds bought assets as balances; the books hold them
            // as the strategies' positions.
            let mut holdings = account.balances.clone();
            for (strategy, _) in services
                .strategy_account
                .iter()
                .enumerate()
                .filter(|(_, &a)| a == index)
            {
                for (i, position) in services.inventory.positions(strategy).iter().enumerate() {
                    let base = &services
                        .reference
                        .get(crate::model::InstrumentId(i as u32))
                        .base_currency;
                    *holdings.entry(base.clone()).or_default() += position.qty;
                }
            }
            match venue.balances() {
                Ok(at_venue) => {
                    for (currency, ours) in &holdings {
                        let theirs = at_venue
                            .get(currency.as_str())
                            .copied()
                            .unwrap_or(Decimal::ZERO);
                        if theirs != *ours {
                            differences.push(format!(
                                "{}: {currency} balance {ours} here, {theirs} at the venue",
                                account.id
                            ));
                        }
                    }
                }
                Err(e) => differences.push(format!(
                    "{}: cannot read the venue's balances: {e}",
                    account.id
                )),
            }
        }
        differences
    }
}

impl VenueStart {
    /// Where the session's halts are raised: by its feed when a venue's
    /// clock goes back, by its venue contexts when a venue forgets orders.
    pub fn halts(&self) -> Halts {
        self.halts.clone()
    }

    /// Starts the market streams, then each venue context's user-data
    /// stream and start-up reconciliation: this session's orders left open
    /// by an earlier run are cancelled, others reported as orphans. Each is
    /// an event of the session (in its journal, if attached — attach it
    /// first), stamped with the venue's clock.
    pub fn start(self, session: &mut Session) -> Result<(), SessionError> {
        let failed =
            |e: VenueError| SessionError::Config(ConfigError::one(&self.path, e.to_string()));
        for (venue, subscriptions) in &self.market {
            venue.stream_market(subscriptions, self.events.clone());
        }
        drop(self.events);
        let services = &mut session.services;
        let mut startup = Vec::new();
        for (index, route) in services.routes.iter_mut().enumerate() {
            let Adapter::Binance { venue, .. } = route else {
                continue;
            };
            venue.set_halts(self.halts.clone());
            let report = venue
                .attach(&self.session, &self.strategy_ids)
                .map_err(failed)?;
            startup.push((index, report));
        }
        for (index, report) in startup {
            let execution_id = services.inventory.account(index).id.clone();
            for (strategy, client_id, status) in report.cancelled {
                let id = StrategyId::new(self.strategy_ids[strategy].clone());
                services.on_event(
                    report.time,
                    &id,
                    EventKind::Venue,
                    format!("start-up: order {client_id} left open by an earlier run was cancelled at the venue ({status})"),
                );
            }
            for orphan in report.orphans {
                tracing::warn!(execution = %execution_id, "orphan order at the venue: {orphan}");
                services.on_event(
                    report.time,
                    &StrategyId::new(format!("venue:{execution_id}")),
                    EventKind::Venue,
                    format!("start-up: orphan order at the venue, not placed by this session, left alone: {orphan}"),
                );
            }
        }
        Ok(())
    }
}

impl super::Services {
    /// Records the venues' notices (dropped streams, reconciliations) as events.
    pub(super) fn venue_notices(&mut self, time: crate::model::Timestamp) {
        let mut notices = Vec::new();
        for (index, route) in self.routes.iter_mut().enumerate() {
            if let Adapter::Binance { venue, .. } = route {
                notices.extend(venue.take_notices().into_iter().map(|n| (index, n)));
            }
        }
        for (index, notice) in notices {
            let id = StrategyId::new(format!("venue:{}", self.inventory.account(index).id));
            self.on_event(time, &id, EventKind::Venue, notice);
        }
    }
}

/// Fills the instrument fields a venue's exchange info gives, and checks
/// the given ones against it.
fn complete_instruments(
    config: &mut SessionConfig,
    venues: &BTreeMap<String, Binance>,
) -> Result<(), String> {
    let mut problems = Vec::new();
    for (i, inst) in config.instruments.iter_mut().enumerate() {
        let Some(venue) = inst.venue.as_deref().and_then(|v| venues.get(v)) else {
            continue;
        };
        let at = format!("instruments[{i}] ({})", inst.symbol);
        let Some(rules) = venue.rules(&inst.symbol) else {
            problems.push(format!(
                "{at}: venue {} does not trade {}",
                venue.id(),
                inst.symbol
            ));
            continue;
        };
        let mut check = |field: &str, given: &mut Option<String>, theirs: &str| match given {
            Some(ours) if ours != theirs => problems.push(format!(
                "{at}.{field}: {ours} here, {theirs} at venue {}",
                venue.id()
            )),
            _ => *given = Some(theirs.to_owned()),
        };
        check("base_currency", &mut inst.base_currency, &rules.base_asset);
        check(
            "quote_currency",
            &mut inst.quote_currency,
            &rules.quote_asset,
        );
        let mut check = |field: &str, given: &mut Option<Decimal>, theirs: Decimal| match given {
            Some(ours) if *ours != theirs => problems.push(format!(
                "{at}.{field}: {ours} here, {theirs} at venue {}",
                venue.id()
            )),
            _ => *given = Some(theirs),
        };
        check("tick_size", &mut inst.tick_size, rules.tick_size);
        check("lot_size", &mut inst.lot_size, rules.step_size);
        check("min_notional", &mut inst.min_notional, rules.min_notional);
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

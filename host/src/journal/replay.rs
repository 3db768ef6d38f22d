//! Re-running a journalled session.
//!
//! - **Replay** rebuilds the session from its journal alone (session file
//!   text, plugins by path with their sha256 checked, market input from the
//!   `market_input` records) and verifies every event the run produces
//!   against the recorded one at the same sequence.
//! - **Resume** continues a session that died: the host services are rebuilt
//!   up to the last checkpoint by re-running the steps with each strategy's
//!   journalled decisions in place of the plugin ([`JournalledStrategy`]);
//!   the rebuilt host state must hash to the checkpoint's; then each plugin
//!   gets its checkpointed state (`restore-state`) and the steps after the
//!   checkpoint run for real, verified against the recorded tail before
//!   anything new is appended. Orders and fills of the tail are thus
//!   matched, never placed twice, and none is lost.

use std::collections::VecDeque;
use std::path::Path;

use crate::config::SessionConfig;
use crate::market_data::{MarketData, Series};
use crate::model::InstrumentId;
use crate::plugin_api::wit;
use crate::post_trade::EventKind;
use crate::session::{self, OperatorAction, Session, SessionError};
use crate::strategy_host::{Strategy, StrategyError, StrategyHost};

use super::{Checkpoint, Envelope, Event, Journal, JournalError, PluginRecord, Scan, SessionStart};

/// Why a journalled session could not be re-run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The journal is unreadable, unusable, or the run diverged from it.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The session in the journal could not be built.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A plugin file is not the build the journal recorded.
    #[error(
        "strategy {strategy_id}: plugin {plugin} has sha256 {found}, but the journal recorded {recorded}; replay and resume need the same build"
    )]
    PluginChanged {
        /// The registration.
        strategy_id: String,
        /// The plugin file.
        plugin: String,
        /// sha256 in the journal.
        recorded: String,
        /// sha256 of the file now.
        found: String,
    },
    /// A registration's plugin is not the file the journal recorded.
    #[error(
        "strategy {strategy_id}: the session loads plugin {found}, but the journal recorded {recorded}; replay and resume need the same file"
    )]
    PluginMoved {
        /// The registration.
        strategy_id: String,
        /// The plugin file in the journal.
        recorded: String,
        /// The plugin file the session loads.
        found: String,
    },
    /// The session's registrations are not the journalled ones.
    #[error(
        "the journal recorded strategies [{}], the session has [{}]; replay and resume need the same registrations",
        recorded.join(", "),
        found.join(", ")
    )]
    StrategiesChanged {
        /// Registration ids in the journal.
        recorded: Vec<String>,
        /// Registration ids of the session.
        found: Vec<String>,
    },
    /// The session hot-reloaded a plugin: what the reload did came from
    /// outside the session and its new build is not kept.
    #[error(
        "{path}: record {sequence} (step {step}) is a {kind} event of strategy {strategy_id}: the session hot-reloaded its plugin; replay cannot repeat a hot reload (when it happened came from the file watcher, its timings from the wall clock, and the journal does not keep the new build), so it would diverge there; the records up to it are intact"
    )]
    HotReload {
        /// The journal file.
        path: String,
        /// The first reload record.
        sequence: u64,
        /// The step it happened after.
        step: u64,
        /// The registration reloaded.
        strategy_id: String,
        /// `reload_detected`, `reload_compiled`, `reload_swapped` or `reload_failed`.
        kind: String,
    },
    /// The session traded at or took data from a venue: what the venue did
    /// cannot be re-run.
    #[error("{0}: the session is connected to venues ([[venues]]); its fills and reference data came from them, so it cannot be replayed")]
    Venue(String),
    /// The session file given to resume is not the journalled one.
    #[error("{0}: the session file has changed since the journal was written; resume needs the same file")]
    ConfigChanged(String),
    /// A strategy refused its checkpointed state.
    #[error("strategy {strategy_id} {source}")]
    Restore {
        /// The registration.
        strategy_id: String,
        /// Why.
        source: StrategyError,
    },
}

/// Checks that the plugins a session loaded are the journalled ones: the
/// same registrations, in the same order, each from the same file with the
/// same sha256. A different count is an error, not a shorter check.
pub fn check_plugins(
    recorded: &[PluginRecord],
    loaded: &[PluginRecord],
) -> Result<(), ReplayError> {
    let ids = |records: &[PluginRecord]| -> Vec<String> {
        records.iter().map(|r| r.strategy_id.clone()).collect()
    };
    if ids(recorded) != ids(loaded) {
        return Err(ReplayError::StrategiesChanged {
            recorded: ids(recorded),
            found: ids(loaded),
        });
    }
    for (recorded, loaded) in recorded.iter().zip(loaded) {
        if recorded.sha256 != loaded.sha256 {
            return Err(ReplayError::PluginChanged {
                strategy_id: recorded.strategy_id.clone(),
                plugin: loaded.plugin.display().to_string(),
                recorded: recorded.sha256.clone(),
                found: loaded.sha256.clone(),
            });
        }
        if recorded.plugin != loaded.plugin {
            return Err(ReplayError::PluginMoved {
                strategy_id: recorded.strategy_id.clone(),
                recorded: recorded.plugin.display().to_string(),
                found: loaded.plugin.display().to_string(),
            });
        }
    }
    Ok(())
}

/// The session start of a scanned journal.
pub fn session_start<'a>(scan: &'a Scan, path: &Path) -> Result<&'a SessionStart, JournalError> {
    match scan.records.first().map(|r| &r.event) {
        Some(Event::SessionStart(start)) => Ok(start),
        _ => Err(JournalError::Unusable {
            path: path.to_owned(),
            problem: "the journal does not start with a session_start record".to_owned(),
        }),
    }
}

/// Builds the session a journal recorded, from the journal alone, with a
/// journal attached that verifies every event against the recorded ones.
///
/// `host` must use the CPU meter of the journalled session file.
pub fn replay_session(
    scan: Scan,
    path: &Path,
    host: &StrategyHost,
) -> Result<Session, ReplayError> {
    let start = session_start(&scan, path)?.clone();
    let config = SessionConfig::parse(&start.config, &start.session_file, start.base_dir.clone())
        .map_err(SessionError::from)?;
    if !config.venues.is_empty() {
        return Err(ReplayError::Venue(start.session_file.display().to_string()));
    }
    if let Some((record, kind)) = scan.records.iter().find_map(|r| reload(r).map(|k| (r, k))) {
        let step = scan
            .records
            .iter()
            .take_while(|r| r.sequence < record.sequence)
            .filter_map(Envelope::snapshot_id)
            .max()
            .unwrap_or(0);
        return Err(ReplayError::HotReload {
            path: path.display().to_string(),
            sequence: record.sequence,
            step,
            strategy_id: record.strategy_id.clone().unwrap_or_default(),
            kind,
        });
    }
    let reference = session::validate(&config, &start.session_file).map_err(SessionError::from)?;
    // Per instrument: its bars, quotes and trades, in the order
    // `session::load_market_data` gives them.
    let n = reference.len();
    let (mut bars, mut quotes, mut trades) = (
        vec![Vec::new(); n],
        vec![Vec::new(); n],
        vec![Vec::new(); n],
    );
    for record in &scan.records {
        if let Event::MarketInput {
            bars: b,
            quotes: q,
            trades: t,
            ..
        } = &record.event
        {
            let unknown = |instrument: InstrumentId| {
                JournalError::Unusable {
                path: path.to_owned(),
                problem: format!(
                    "record {} has data of instrument {instrument}, which the session does not define",
                    record.sequence
                ),
            }
            };
            for bar in b {
                bars.get_mut(bar.instrument.0 as usize)
                    .ok_or_else(|| unknown(bar.instrument))?
                    .push(*bar);
            }
            for quote in q {
                quotes
                    .get_mut(quote.instrument.0 as usize)
                    .ok_or_else(|| unknown(quote.instrument))?
                    .push(*quote);
            }
            for trade in t {
                trades
                    .get_mut(trade.instrument.0 as usize)
                    .ok_or_else(|| unknown(trade.instrument))?
                    .push(*trade);
            }
        }
    }
    let series = bars
        .into_iter()
        .zip(quotes)
        .zip(trades)
        .flat_map(|((b, q), t)| [Series::Bars(b), Series::Quotes(q), Series::Trades(t)])
        .filter(|s| !s.is_empty())
        .collect();
    let data = MarketData::from_series(series);
    let strategies = session::load_strategies(&config, host)?;
    let loaded = PluginRecord::of_session(
        &config,
        &start.base_dir,
        strategies.iter().map(|s| s.sha256.as_str()),
    );
    check_plugins(&start.strategies, &loaded)?;
    let mut session = Session::new(&config, reference, data, strategies)?;
    session.attach_journal(Journal::verifier(scan, start.checkpoint_every));
    Ok(session)
}

/// Where a resumed session picked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    /// The step of the checkpoint it restored (0: none, from the start).
    pub checkpoint: u64,
    /// Recorded events after the checkpoint, to be re-run and matched.
    pub tail: usize,
}

/// Continues `session` (freshly built from `config_text`'s session file)
/// from the last checkpoint of the journal at `path`, cutting off a torn
/// tail. `plugins` are the session's plugins ([`PluginRecord::of_session`]):
/// they must be the journalled ones, checked before the journal is touched.
/// On return the session stands at the checkpoint's step with the
/// strategies restored; its next steps are verified against the recorded
/// tail, then appended to the journal.
pub fn resume(
    session: &mut Session,
    path: &Path,
    scan: Scan,
    config_text: &str,
    plugins: &[PluginRecord],
) -> Result<Resumed, ReplayError> {
    let start = session_start(&scan, path)?;
    if start.config != config_text {
        return Err(ReplayError::ConfigChanged(
            start.session_file.display().to_string(),
        ));
    }
    check_plugins(&start.strategies, plugins)?;
    let every = start.checkpoint_every;
    let checkpoint_at = scan
        .records
        .iter()
        .rposition(|r| matches!(r.event, Event::Checkpoint(_)));
    let checkpoint: Option<Checkpoint> = checkpoint_at.map(|i| match &scan.records[i].event {
        Event::Checkpoint(c) => (**c).clone(),
        _ => unreachable!("found by rposition"),
    });
    if let Some(record) = scan
        .records
        .iter()
        .find(|r| matches!(r.event, Event::OperatorAction { .. }))
    {
        return Err(JournalError::Unusable {
            path: path.to_owned(),
            problem: format!(
                "record {} is an operator action; resuming a session with operator actions is not supported (`cracktrader replay` re-runs it)",
                record.sequence
            ),
        }
        .into());
    }
    let head = &scan.records[..checkpoint_at.map_or(0, |i| i + 1)];
    if let Some(record) = head.iter().find(|r| is_restart(r)) {
        return Err(JournalError::Unusable {
            path: path.to_owned(),
            problem: format!(
                "record {} swaps or restarts a strategy before the last checkpoint; resuming across a hot reload or re-enable is not supported",
                record.sequence
            ),
        }
        .into());
    }
    let tail = scan.records.len() - head.len();
    let ids: Vec<String> = session.strategies().map(|(id, _)| id.to_string()).collect();
    let mut plugins = Vec::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        let journalled = JournalledStrategy::new(head, id);
        plugins.push(session.replace_strategy(index, Box::new(journalled)));
    }
    session.attach_journal(Journal::resumed(path, scan, every)?);
    let target = checkpoint.as_ref().map_or(0, |c| c.snapshot_id);
    while session.snapshot_id() < target && session.step() {}
    if session.journal().is_some_and(|j| j.failure().is_some()) {
        if let Some(Err(failure)) = session.close_journal() {
            return Err(failure.into());
        }
    }
    for (index, plugin) in plugins.into_iter().enumerate() {
        let mut plugin = plugin;
        if let Some(saved) = checkpoint
            .as_ref()
            .and_then(|c| c.strategies.iter().find(|s| s.strategy_id == ids[index]))
            .filter(|s| s.quarantined.is_none())
        {
            let bytes = hex::decode(&saved.state).map_err(|e| JournalError::Unusable {
                path: path.to_owned(),
                problem: format!("checkpoint state of {} is not hex: {e}", ids[index]),
            })?;
            plugin
                .restore_state(&bytes)
                .map_err(|source| ReplayError::Restore {
                    strategy_id: ids[index].clone(),
                    source,
                })?;
        }
        session.replace_strategy(index, plugin);
    }
    Ok(Resumed {
        checkpoint: target,
        tail,
    })
}

/// The operator actions a journal recorded, to be applied again at the
/// same step boundaries by a replay.
#[derive(Debug, Default)]
pub struct JournalledActions {
    /// `(last step before it, who, action, refusal)`, in journal order.
    actions: VecDeque<(u64, String, OperatorAction, Option<String>)>,
}

impl JournalledActions {
    /// The `operator_action` records of `records`.
    pub fn new(records: &[Envelope]) -> Self {
        let actions = records
            .iter()
            .filter_map(|r| match &r.event {
                Event::OperatorAction {
                    who,
                    step,
                    action,
                    refusal,
                } => Some((*step, who.clone(), action.clone(), refusal.clone())),
                _ => None,
            })
            .collect();
        Self { actions }
    }

    /// Applies the actions recorded between the last step `session` ran
    /// and the next. A reload request's outcome came from outside the
    /// session (the file watcher): the recorded one is used.
    pub fn apply_due(&mut self, session: &mut Session) {
        while let Some((step, ..)) = self.actions.front() {
            if *step != session.snapshot_id() {
                return;
            }
            let (_, who, action, refusal) = self.actions.pop_front().expect("front exists");
            // The outcome goes to the journal, which verifies it.
            let _ = session.operate(&who, &action, |_| refusal.map_or(Ok(()), Err));
        }
    }
}

/// The kind of a hot-reload lifecycle record (`reload_…`), if it is one.
fn reload(record: &Envelope) -> Option<String> {
    let Event::Lifecycle { what, .. } = &record.event else {
        return None;
    };
    [
        EventKind::ReloadDetected,
        EventKind::ReloadCompiled,
        EventKind::ReloadSwapped,
        EventKind::ReloadFailed,
    ]
    .iter()
    .any(|k| serde_json::to_value(k).ok().as_ref() == Some(what))
    .then(|| what.as_str().unwrap_or_default().to_owned())
}

/// Whether a record swaps or restarts a strategy, which a rebuild from
/// journalled decisions cannot follow.
fn is_restart(record: &Envelope) -> bool {
    let Event::Lifecycle { what, .. } = &record.event else {
        return false;
    };
    [EventKind::ReloadSwapped, EventKind::Enabled]
        .iter()
        .any(|k| serde_json::to_value(k).ok().as_ref() == Some(what))
}

/// A strategy that answers each step with the decision a journal recorded
/// for it, and each `save-state` with the state its next checkpoint
/// recorded. It stands in for a plugin while a resume rebuilds the host up
/// to a checkpoint.
#[derive(Debug)]
pub struct JournalledStrategy {
    strategy_id: String,
    /// `(snapshot id, intents or failure)`, in step order.
    decisions: VecDeque<(u64, Result<Vec<wit::Intent>, String>)>,
    /// Saved states of the checkpoints, in order.
    states: VecDeque<Vec<u8>>,
}

impl JournalledStrategy {
    /// The decisions and checkpointed states of `strategy_id` in `records`.
    pub fn new(records: &[Envelope], strategy_id: &str) -> Self {
        let mut decisions = VecDeque::new();
        let mut states = VecDeque::new();
        for record in records {
            match &record.event {
                Event::Intents {
                    snapshot_id,
                    intents,
                } if record.strategy_id.as_deref() == Some(strategy_id) => {
                    decisions.push_back((*snapshot_id, Ok(intents.clone())));
                }
                Event::StrategyFailed { snapshot_id, cause }
                    if record.strategy_id.as_deref() == Some(strategy_id) =>
                {
                    decisions.push_back((*snapshot_id, Err(cause.clone())));
                }
                Event::Checkpoint(c) => {
                    if let Some(s) = c
                        .strategies
                        .iter()
                        .find(|s| s.strategy_id == strategy_id && s.quarantined.is_none())
                    {
                        states.push_back(hex::decode(&s.state).unwrap_or_default());
                    }
                }
                _ => {}
            }
        }
        Self {
            strategy_id: strategy_id.to_owned(),
            decisions,
            states,
        }
    }

    fn cannot(&self, what: &str) -> StrategyError {
        StrategyError::Journalled(format!(
            "of {} is replayed from a journal and cannot {what}",
            self.strategy_id
        ))
    }
}

impl Strategy for JournalledStrategy {
    fn init(&mut self, _config: &wit::Config) -> Result<wit::Info, StrategyError> {
        Err(self.cannot("be initialised again"))
    }

    fn on_step(&mut self, view: &wit::View) -> Result<Vec<wit::Intent>, StrategyError> {
        match self.decisions.front() {
            Some((step, _)) if *step == view.snapshot_id => {
                let (_, decision) = self.decisions.pop_front().expect("front exists");
                decision.map_err(StrategyError::Journalled)
            }
            _ => Ok(Vec::new()),
        }
    }

    fn save_state(&mut self) -> Result<Vec<u8>, StrategyError> {
        self.states
            .pop_front()
            .ok_or_else(|| self.cannot("save a state its journal did not record"))
    }

    fn restore_state(&mut self, _state: &[u8]) -> Result<(), StrategyError> {
        Err(self.cannot("restore a state"))
    }

    fn reset(&mut self) -> Result<(), StrategyError> {
        Err(self.cannot("restart"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, sha256: &str) -> PluginRecord {
        PluginRecord {
            strategy_id: id.to_owned(),
            plugin: format!("/plugins/{id}.wasm").into(),
            sha256: sha256.to_owned(),
        }
    }

    #[test]
    fn a_different_registration_list_is_refused_not_skipped() {
        let loaded = [record("a", "11")];
        let err = check_plugins(&[], &loaded).unwrap_err().to_string();
        assert!(
            err.contains("recorded strategies [], the session has [a]"),
            "{err}"
        );
        let err = check_plugins(&[record("b", "11")], &loaded)
            .unwrap_err()
            .to_string();
        assert!(err.contains("[b]") && err.contains("[a]"), "{err}");
        let mut moved = record("a", "11");
        moved.plugin = "/elsewhere/a.wasm".into();
        let err = check_plugins(&[moved], &loaded).unwrap_err().to_string();
        assert!(
            err.contains("/elsewhere/a.wasm") && err.contains("/plugins/a.wasm"),
            "{err}"
        );
        assert!(check_plugins(&loaded, &loaded).is_ok());
    }
}

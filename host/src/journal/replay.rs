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

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::config::SessionConfig;
use crate::intents::Proposal;
use crate::market_data::{MarketData, Series};
use crate::model::InstrumentId;
use crate::model::{Bar, Quote, Trade};
use crate::post_trade::EventKind;
use crate::session::{self, OperatorAction, Session, SessionError};
use crate::strategy::{InitConfig, Strategy, StrategyError, StrategyInfo};
use crate::strategy_host::StrategyHost;
use crate::views::View;

use super::store::{self, Records, TornTail};
use super::{Checkpoint, Envelope, Event, Journal, JournalError, PluginRecord, SessionStart};

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

/// What one streaming pass over a journal found: all that replay and
/// resume decide before re-running it, without holding its records (a
/// journal may be far larger than memory).
#[derive(Debug)]
pub struct Survey {
    /// The session start, the first record.
    pub start: SessionStart,
    /// Good records, the session start included; the last one's sequence.
    pub records: u64,
    /// Length of the file up to the end of the last good record.
    pub good_len: u64,
    /// An incomplete last record, if a crash left one.
    pub torn: Option<TornTail>,
    /// The session end, if it is the last record.
    pub ended: Option<Ended>,
    /// The operator actions, to be applied again at the same steps.
    pub actions: JournalledActions,
    /// The first hot-reload record.
    reload: Option<ReloadRecord>,
    /// Sequence of the first operator action.
    operator_action: Option<u64>,
    /// Sequence of the first record that swaps or restarts a strategy.
    restart: Option<u64>,
    /// The last checkpoint, with its sequence.
    checkpoint: Option<(u64, Checkpoint)>,
    /// The market input per instrument, if the pass gathered it.
    market: Option<BTreeMap<u32, Inputs>>,
}

/// The hashes a session end recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// sha256 of the stream of intents.
    pub intent_stream: String,
    /// sha256 of the final host and strategy state.
    pub state: String,
}

#[derive(Debug)]
struct ReloadRecord {
    sequence: u64,
    step: u64,
    strategy_id: String,
    kind: String,
}

/// The bars, quotes and trades of one instrument, and the first record
/// that had any (to name a record whose instrument the session lacks).
#[derive(Debug, Default)]
struct Inputs {
    first: u64,
    bars: Vec<Bar>,
    quotes: Vec<Quote>,
    trades: Vec<Trade>,
}

impl Inputs {
    /// The inputs of `instrument` in `market`, first seen in record `sequence`.
    fn of(
        market: &mut BTreeMap<u32, Inputs>,
        instrument: InstrumentId,
        sequence: u64,
    ) -> &mut Self {
        market.entry(instrument.0).or_insert_with(|| Inputs {
            first: sequence,
            ..Inputs::default()
        })
    }
}

impl Survey {
    /// Reads the journal at `path` once, checking every record.
    pub fn read(path: &Path) -> Result<Self, JournalError> {
        Self::pass(path, false)
    }

    /// As [`Survey::read`], also gathering the market input a replay runs on.
    pub fn read_with_market(path: &Path) -> Result<Self, JournalError> {
        Self::pass(path, true)
    }

    fn pass(path: &Path, market: bool) -> Result<Self, JournalError> {
        let mut records = store::open(path)?;
        let (start, good_len) = match records.next().transpose()? {
            Some((
                Envelope {
                    event: Event::SessionStart(start),
                    ..
                },
                end,
            )) => (*start, end),
            _ => {
                return Err(JournalError::Unusable {
                    path: path.to_owned(),
                    problem: "the journal does not start with a session_start record".to_owned(),
                })
            }
        };
        let mut survey = Self {
            start,
            records: 1,
            good_len,
            torn: None,
            ended: None,
            actions: JournalledActions::default(),
            reload: None,
            operator_action: None,
            restart: None,
            checkpoint: None,
            market: market.then(BTreeMap::new),
        };
        // The highest step the records so far name.
        let mut step = 0;
        for record in &mut records {
            let (record, end) = record?;
            survey.records += 1;
            survey.good_len = end;
            survey.note(record, &mut step);
        }
        survey.torn = records.torn.take();
        Ok(survey)
    }

    fn note(&mut self, record: Envelope, step: &mut u64) {
        if self.reload.is_none() {
            if let Some(kind) = reload(&record) {
                self.reload = Some(ReloadRecord {
                    sequence: record.sequence,
                    step: *step,
                    strategy_id: record.strategy_id.clone().unwrap_or_default(),
                    kind,
                });
            }
        }
        if is_restart(&record) {
            self.restart.get_or_insert(record.sequence);
        }
        *step = (*step).max(record.snapshot_id().unwrap_or(0));
        self.ended = None;
        match record.event {
            Event::SessionEnd {
                intent_stream,
                state,
                ..
            } => {
                self.ended = Some(Ended {
                    intent_stream,
                    state,
                })
            }
            Event::OperatorAction {
                who,
                step,
                action,
                refusal,
            } => {
                self.operator_action.get_or_insert(record.sequence);
                self.actions.actions.push_back((step, who, action, refusal));
            }
            Event::Checkpoint(c) => self.checkpoint = Some((record.sequence, *c)),
            Event::MarketInput {
                bars,
                quotes,
                trades,
                ..
            } => {
                if let Some(market) = &mut self.market {
                    let sequence = record.sequence;
                    for bar in bars {
                        Inputs::of(market, bar.instrument, sequence).bars.push(bar);
                    }
                    for quote in quotes {
                        Inputs::of(market, quote.instrument, sequence)
                            .quotes
                            .push(quote);
                    }
                    for trade in trades {
                        Inputs::of(market, trade.instrument, sequence)
                            .trades
                            .push(trade);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Builds the session a journal recorded, from the journal alone, with a
/// journal attached that verifies every event against the recorded ones,
/// reading them as the run goes. `survey` is the journal's at `path`, read
/// with [`Survey::read_with_market`].
///
/// `host` must use the CPU meter of the journalled session file.
pub fn replay_session(
    survey: Survey,
    path: &Path,
    host: &StrategyHost,
) -> Result<Session, ReplayError> {
    let start = &survey.start;
    let config = SessionConfig::parse(&start.config, &start.session_file, start.base_dir.clone())
        .map_err(SessionError::from)?;
    if !config.venues.is_empty() {
        return Err(ReplayError::Venue(start.session_file.display().to_string()));
    }
    if let Some(record) = survey.reload {
        return Err(ReplayError::HotReload {
            path: path.display().to_string(),
            sequence: record.sequence,
            step: record.step,
            strategy_id: record.strategy_id,
            kind: record.kind,
        });
    }
    let reference = session::validate(&config, &start.session_file).map_err(SessionError::from)?;
    // Per instrument: its bars, quotes and trades, in the order
    // `session::load_market_data` gives them.
    let market = survey
        .market
        .expect("a replay's survey gathers the market input");
    let mut series = Vec::with_capacity(market.len() * 3);
    for (instrument, inputs) in market {
        if instrument as usize >= reference.len() {
            return Err(JournalError::Unusable {
                path: path.to_owned(),
                problem: format!(
                    "record {} has data of instrument {instrument}, which the session does not define",
                    inputs.first
                ),
            }
            .into());
        }
        series.extend(
            [
                Series::Bars(inputs.bars),
                Series::Quotes(inputs.quotes),
                Series::Trades(inputs.trades),
            ]
            .into_iter()
            .filter(|s| !s.is_empty()),
        );
    }
    let data = MarketData::from_series(series);
    let strategies = session::load_strategies(&config, host)?;
    let loaded = PluginRecord::of_session(
        &config,
        &start.base_dir,
        strategies.iter().map(|s| s.sha256.as_str()),
    );
    check_plugins(&start.strategies, &loaded)?;
    let mut session = Session::new(&config, reference, data, strategies)?;
    session.attach_sink(Box::new(Journal::verifier(
        path,
        survey.records,
        start.checkpoint_every,
    )?));
    Ok(session)
}

/// Where a resumed session picked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resumed {
    /// The step of the checkpoint it restored (0: none, from the start).
    pub checkpoint: u64,
    /// Recorded events after the checkpoint, to be re-run and matched.
    pub tail: u64,
}

/// Continues `session` (freshly built from `config_text`'s session file)
/// from the last checkpoint of the journal at `path`, whose `survey` this
/// is, cutting off a torn tail. `plugins` are the session's plugins
/// ([`PluginRecord::of_session`]): they must be the journalled ones,
/// checked before the journal is touched. On return the session stands at
/// the checkpoint's step with the strategies restored; its next steps are
/// verified against the recorded tail, then appended to the journal. The
/// records are read from the file as the re-run needs them.
pub fn resume(
    session: &mut Session,
    path: &Path,
    survey: Survey,
    config_text: &str,
    plugins: &[PluginRecord],
) -> Result<Resumed, ReplayError> {
    let start = &survey.start;
    if start.config != config_text {
        return Err(ReplayError::ConfigChanged(
            start.session_file.display().to_string(),
        ));
    }
    check_plugins(&start.strategies, plugins)?;
    let every = start.checkpoint_every;
    if let Some(sequence) = survey.operator_action {
        return Err(JournalError::Unusable {
            path: path.to_owned(),
            problem: format!(
                "record {sequence} is an operator action; resuming a session with operator actions is not supported (`cracktrader replay` re-runs it)"
            ),
        }
        .into());
    }
    // The records up to and with the last checkpoint are rebuilt from
    // the journalled decisions.
    let head = survey
        .checkpoint
        .as_ref()
        .map_or(0, |(sequence, _)| *sequence);
    if let Some(sequence) = survey.restart.filter(|s| *s < head) {
        return Err(JournalError::Unusable {
            path: path.to_owned(),
            problem: format!(
                "record {sequence} swaps or restarts a strategy before the last checkpoint; resuming across a hot reload or re-enable is not supported"
            ),
        }
        .into());
    }
    let tail = survey.records - head;
    let ids: Vec<String> = session.strategies().map(|(id, _)| id.to_string()).collect();
    let mut plugins = Vec::with_capacity(ids.len());
    for (index, id) in ids.iter().enumerate() {
        let journalled = JournalledStrategy::new(path, id, head)?;
        plugins.push(session.replace_strategy(index, Box::new(journalled)));
    }
    session.attach_sink(Box::new(Journal::resumed(
        path,
        survey.records,
        survey.good_len,
        every,
    )?));
    let checkpoint = survey.checkpoint.map(|(_, c)| c);
    let target = checkpoint.as_ref().map_or(0, |c| c.snapshot_id);
    while session.snapshot_id() < target && session.step() {}
    if session
        .sink::<Journal>()
        .is_some_and(|j| j.failure().is_some())
    {
        if let Some(Err(failure)) = session.take_sink::<Journal>().map(Journal::finish) {
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
/// to a checkpoint, reading its records from the file step by step.
#[derive(Debug)]
pub struct JournalledStrategy {
    strategy_id: String,
    /// The records up to the checkpoint the rebuild stops at.
    records: std::iter::Take<Records<BufReader<File>>>,
    /// The first record of a step not yet asked for, read ahead.
    ahead: Option<Envelope>,
    /// `(snapshot id, intents or failure)` read so far, in step order.
    decisions: VecDeque<(u64, Result<Vec<Proposal>, String>)>,
    /// Saved states of the checkpoints read so far, in order.
    states: VecDeque<Vec<u8>>,
}

impl JournalledStrategy {
    /// The decisions and checkpointed states of `strategy_id` in the first
    /// `records` records of the journal at `path`.
    pub fn new(path: &Path, strategy_id: &str, records: u64) -> Result<Self, JournalError> {
        Ok(Self {
            strategy_id: strategy_id.to_owned(),
            records: store::open(path)?.take(usize::try_from(records).unwrap_or(usize::MAX)),
            ahead: None,
            decisions: VecDeque::new(),
            states: VecDeque::new(),
        })
    }

    /// The next record, or `None` at the end of what the rebuild reads.
    fn next_record(&mut self) -> Result<Option<Envelope>, StrategyError> {
        match self.ahead.take() {
            Some(record) => Ok(Some(record)),
            None => self
                .records
                .next()
                .transpose()
                .map(|r| r.map(|(record, _)| record))
                .map_err(|e| StrategyError::Journalled(e.to_string())),
        }
    }

    /// Takes in one record: a decision or a checkpointed state of this
    /// strategy, or nothing.
    fn take_in(&mut self, record: Envelope) {
        let own = record.strategy_id.as_deref() == Some(self.strategy_id.as_str());
        match record.event {
            Event::Intents {
                snapshot_id,
                intents,
            } if own => self.decisions.push_back((snapshot_id, Ok(intents))),
            Event::StrategyFailed { snapshot_id, cause } if own => {
                self.decisions.push_back((snapshot_id, Err(cause)));
            }
            Event::Checkpoint(c) => {
                if let Some(s) = c
                    .strategies
                    .iter()
                    .find(|s| s.strategy_id == self.strategy_id && s.quarantined.is_none())
                {
                    self.states
                        .push_back(hex::decode(&s.state).unwrap_or_default());
                }
            }
            _ => {}
        }
    }

    /// Reads every record of the steps up to `step`, stopping at the first
    /// record of a later one: memory holds one step's records at most.
    fn read_through(&mut self, step: u64) -> Result<(), StrategyError> {
        while let Some(record) = self.next_record()? {
            if record.snapshot_id().is_some_and(|s| s > step) {
                self.ahead = Some(record);
                break;
            }
            self.take_in(record);
        }
        Ok(())
    }

    fn cannot(&self, what: &str) -> StrategyError {
        StrategyError::Journalled(format!(
            "of {} is replayed from a journal and cannot {what}",
            self.strategy_id
        ))
    }
}

impl Strategy for JournalledStrategy {
    fn init(&mut self, _config: &InitConfig) -> Result<StrategyInfo, StrategyError> {
        Err(self.cannot("be initialised again"))
    }

    fn on_step(&mut self, view: &View) -> Result<Vec<Proposal>, StrategyError> {
        self.read_through(view.snapshot_id.0)?;
        match self.decisions.front() {
            Some((step, _)) if *step == view.snapshot_id.0 => {
                let (_, decision) = self.decisions.pop_front().expect("front exists");
                decision.map_err(StrategyError::Journalled)
            }
            _ => Ok(Vec::new()),
        }
    }

    fn save_state(&mut self) -> Result<Vec<u8>, StrategyError> {
        // A checkpoint after a step this strategy was not called in.
        while self.states.is_empty() {
            match self.next_record()? {
                Some(record) => self.take_in(record),
                None => break,
            }
        }
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

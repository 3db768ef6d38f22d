//! Journal: every runtime event of a session, appended in order to a file,
//! so that the session can be audited, replayed and resumed after a crash.
//!
//! Each event is an [`Envelope`]: a monotonic `sequence`, an `event_id`
//! (a content hash of everything but the ingest time), the event time (the
//! step's snapshot time), the ingest time (the only wall-clock field, kept
//! out of every hash and comparison), the source service, the attribution
//! ids where they apply, and an [`Event`] payload. The file format and the
//! schema are documented in `docs/journal.md`; [`store`] frames the records.
//!
//! The session calls a [`Journal`] at each point an event happens. A journal
//! either appends (a new session), verifies (a replay: each event must equal
//! the recorded one at the same sequence), or both (a resume: the steps after
//! the last checkpoint are re-run and verified against the recorded tail,
//! then new events are appended, so nothing is written twice).
//!
//! Payloads of host types (order reports, positions, open orders) are those
//! types' own serde form, kept as JSON values: the journal compares them but
//! never rebuilds host state from them. Host state is rebuilt by re-running
//! the host services on the journalled inputs and decisions ([`replay`]).

mod diff;
use diff::difference;
pub mod replay;
mod schema;
pub mod store;

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::events::{EngineEvent, EventSink, SessionState};
use crate::execution::orders::{OrderBook, OrderReport};
use crate::intents::{Attribution, Intent, Proposal};
use crate::inventory::{Account, Inventory, Position};
use crate::model::{IntentId, OrderId, StrategyId, Timestamp};
use crate::post_trade::EventKind;
use crate::session::Session;
use crate::state::Snapshot;
use crate::strategy::StrategyError;
use crate::views::View;

pub use schema::{
    kind, Checkpoint, Envelope, Event, Ids, PluginRecord, SessionStart, Source, StrategyCheckpoint,
    SCHEMA_VERSION,
};
pub use store::{scan, Existing, Records, Scan, TornTail};

/// Steps between two checkpoints unless `--checkpoint-every` says otherwise.
pub const DEFAULT_CHECKPOINT_EVERY: u64 = 500;

/// Why a journal could not be written, read or verified.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be read or written.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another process (or handle) is writing the journal.
    #[error(
        "journal {0} is locked by another session writing it; only one session may write a journal"
    )]
    Locked(PathBuf),
    /// A new journal would replace an existing one.
    #[error("journal {0} already exists")]
    Exists(PathBuf),
    /// The file does not start with the journal header.
    #[error("{0}: not a cracktrader journal (bad header)")]
    NotAJournal(PathBuf),
    /// The file was written in another format version.
    #[error(
        "{path}: journal format version {found}; this host reads version {}",
        store::FORMAT_VERSION
    )]
    Version {
        /// The journal file.
        path: PathBuf,
        /// The version in its header.
        found: u32,
    },
    /// A record before the end of the file is damaged.
    #[error("{path}: corrupt record at byte {offset} (after sequence {after}): {problem}")]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// Byte offset of the damaged record.
        offset: u64,
        /// Sequence of the last good record before it.
        after: u64,
        /// What is wrong.
        problem: String,
    },
    /// A record could not be encoded.
    #[error("cannot encode a journal record: {0}")]
    Encode(serde_json::Error),
    /// A record is larger than the format allows.
    #[error("journal record {sequence} is {bytes} bytes, more than the format allows")]
    RecordTooLarge {
        /// Its sequence.
        sequence: u64,
        /// Its size.
        bytes: usize,
    },
    /// The journal does not describe a session this host can re-run.
    #[error("{path}: {problem}")]
    Unusable {
        /// The journal file.
        path: PathBuf,
        /// What is missing or unsupported.
        problem: String,
    },
    /// The run produced an event other than the one recorded.
    #[error("diverged from the journal at sequence {sequence} (step {snapshot_id}): {difference}")]
    Diverged {
        /// Sequence of the first differing event.
        sequence: u64,
        /// The step it belongs to.
        snapshot_id: u64,
        /// What differed: event kinds, or the first differing field with both values.
        difference: String,
    },
}

/// An open order in a checkpoint.
#[derive(Serialize)]
struct OpenOrder<'a> {
    order_id: OrderId,
    intent_id: IntentId,
    strategy_id: &'a StrategyId,
    request: &'a crate::model::OrderRequest,
    status: crate::model::OrderStatus,
    filled_qty: Decimal,
}

/// Host state as a checkpoint records it: accounts, each strategy's
/// positions, and the open orders of the session.
fn host_state(inventory: &Inventory, strategies: usize, book: &OrderBook) -> serde_json::Value {
    let positions: Vec<&[Position]> = (0..strategies).map(|s| inventory.positions(s)).collect();
    let orders: Vec<OpenOrder> = book
        .open()
        .map(|o| OpenOrder {
            order_id: o.id,
            intent_id: o.intent_id,
            strategy_id: &o.attribution.strategy_id,
            request: &o.request,
            status: o.status,
            filled_qty: o.filled_qty,
        })
        .collect();
    serde_json::json!({
        "accounts": inventory.accounts(),
        "positions": positions,
        "open_orders": orders,
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What the session ended with, for the CLI's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalSummary {
    /// Records in the journal.
    pub records: u64,
    /// Checkpoints written or verified.
    pub checkpoints: u64,
    /// Records verified against a recorded journal (replay, resume).
    pub verified: u64,
}

/// Sees every record a journal accepts, in sequence (the control plane's
/// event stream), on the session's thread: it must not block.
pub trait Tap: Send + std::fmt::Debug {
    /// One record, as appended or verified.
    fn record(&mut self, envelope: &Envelope);
}

/// The session's event sink: appends, verifies, or both.
#[derive(Debug)]
pub struct Journal {
    tap: Option<Box<dyn Tap>>,
    appender: Option<store::Appender>,
    /// Recorded events still to be matched, read from the file one at a
    /// time; nothing is appended while any are left.
    expected: Option<Expected>,
    sequence: u64,
    checkpoint_every: u64,
    time: Timestamp,
    snapshot_id: u64,
    intent_stream: Sha256,
    checkpoints: u64,
    verified: u64,
    failure: Option<JournalError>,
}

impl Journal {
    /// A new journal at `path` that starts with `start`; an existing file
    /// is refused or replaced as `existing` says.
    pub fn create(
        path: &Path,
        start: SessionStart,
        existing: store::Existing,
    ) -> Result<Self, JournalError> {
        let mut journal = Self::with(
            Some(store::Appender::create(path, existing)?),
            None,
            start.checkpoint_every,
        );
        journal.emit(
            Source::Session,
            Ids::default(),
            Event::SessionStart(Box::new(start)),
        );
        journal.flush()?;
        Ok(journal)
    }

    /// A journal that checks a re-run against the first `records` records
    /// of the journal at `path` (the first being its session start), read
    /// as the run goes, and writes nothing.
    pub fn verifier(
        path: &Path,
        records: u64,
        checkpoint_every: u64,
    ) -> Result<Self, JournalError> {
        let mut expected = Expected {
            records: store::open(path)?,
            left: records,
        };
        expected.next().transpose()?;
        let mut journal = Self::with(None, Some(expected), checkpoint_every);
        journal.sequence = 1;
        Ok(journal)
    }

    /// A journal that checks a re-run against the `records` records of the
    /// journal at `path`, then appends after them (cutting the file at
    /// `good_len`, the end of the last of them).
    pub fn resumed(
        path: &Path,
        records: u64,
        good_len: u64,
        checkpoint_every: u64,
    ) -> Result<Self, JournalError> {
        let appender = store::Appender::reopen(path, good_len)?;
        let mut journal = Self::verifier(path, records, checkpoint_every)?;
        journal.appender = Some(appender);
        Ok(journal)
    }

    fn with(
        appender: Option<store::Appender>,
        expected: Option<Expected>,
        checkpoint_every: u64,
    ) -> Self {
        Self {
            tap: None,
            appender,
            expected,
            sequence: 0,
            checkpoint_every: checkpoint_every.max(1),
            time: 0,
            snapshot_id: 0,
            intent_stream: Sha256::new(),
            checkpoints: 0,
            verified: 0,
            failure: None,
        }
    }

    /// Shows every record from here on to `tap`.
    pub fn set_tap(&mut self, tap: Box<dyn Tap>) {
        self.tap = Some(tap);
    }

    /// The first write error or divergence; the journal stops at it.
    pub fn failure(&self) -> Option<&JournalError> {
        self.failure.as_ref()
    }

    fn emit(&mut self, source: Source, ids: Ids, event: Event) {
        if self.failure.is_some() {
            return;
        }
        self.sequence += 1;
        let mut envelope = Envelope::new(self.sequence, self.time, source, ids, event);
        if let Event::Intents { .. } = envelope.event {
            self.intent_stream.update(envelope.event_id.as_bytes());
        }
        if let Event::Checkpoint(_) = envelope.event {
            self.checkpoints += 1;
        }
        let recorded = self.expected.as_mut().and_then(Expected::next);
        if let Some(recorded) = recorded {
            match recorded {
                // The recorded content, not its stored id: an edited record must not pass.
                Ok(recorded) if recorded.content() != envelope.content() => {
                    self.failure = Some(JournalError::Diverged {
                        sequence: envelope.sequence,
                        snapshot_id: self.snapshot_id,
                        difference: difference(&recorded, &envelope),
                    });
                }
                Ok(_) => {}
                Err(e) => self.failure = Some(e),
            }
            self.verified += 1;
        } else if let Some(appender) = &mut self.appender {
            envelope.ingest_time = wall_clock();
            if let Err(e) = appender.append(&envelope) {
                self.failure = Some(e);
            }
        }
        if let (None, Some(tap)) = (&self.failure, &mut self.tap) {
            tap.record(&envelope);
        }
    }

    /// Market input: the bars, quotes and trades of a new snapshot.
    fn market(&mut self, snapshot: &Snapshot) {
        self.time = snapshot.time();
        self.snapshot_id = snapshot.id().0;
        self.emit(
            Source::MarketData,
            Ids::default(),
            Event::MarketInput {
                snapshot_id: self.snapshot_id,
                bars: snapshot.bars().to_vec(),
                quotes: snapshot.quotes().to_vec(),
                trades: snapshot.all_trades().to_vec(),
            },
        );
    }

    /// A strategy call: the view's hash, then its intents or its failure.
    fn decision(
        &mut self,
        attribution: &Attribution,
        view: &View,
        result: &Result<Vec<Proposal>, StrategyError>,
    ) {
        let snapshot_id = self.snapshot_id;
        let view_json = serde_json::to_vec(view).expect("views serialise");
        let hash = sha256_hex(&view_json);
        self.emit(
            Source::Strategy,
            Ids::of(attribution),
            Event::View { snapshot_id, hash },
        );
        let event = match result {
            Ok(intents) if intents.is_empty() => return,
            Ok(intents) => Event::Intents {
                snapshot_id,
                intents: intents.clone(),
            },
            Err(e) => Event::StrategyFailed {
                snapshot_id,
                cause: e.to_string(),
            },
        };
        self.emit(Source::Strategy, Ids::of(attribution), event);
    }

    /// An intent refused before risk, or a cancel the venue refused.
    fn refusal(
        &mut self,
        attribution: &Attribution,
        intent_id: IntentId,
        order_id: OrderId,
        reason: &str,
    ) {
        self.emit(
            Source::Intents,
            Ids::of(attribution),
            Event::IntentRefused {
                intent_id: intent_id.0,
                order_id: order_id.0,
                reason: reason.to_owned(),
            },
        );
    }

    /// A risk decision on a stamped intent.
    fn risk(&mut self, intent: &Intent, refusal: Option<&str>) {
        let value = serde_json::to_value(intent).expect("intents serialise");
        self.emit(
            Source::Risk,
            Ids::of(&intent.attribution),
            Event::RiskDecision {
                intent: value,
                refusal: refusal.map(str::to_owned),
            },
        );
    }

    /// An order report and, for a fill, the inventory it left.
    fn report(&mut self, report: &OrderReport, position: &Position, account: &Account) {
        let ids = Ids::of(&report.attribution);
        let value = serde_json::to_value(report).expect("reports serialise");
        self.emit(
            Source::Execution,
            ids.clone(),
            Event::OrderReport { report: value },
        );
        if report.fill.is_some() {
            self.emit(
                Source::Inventory,
                ids,
                Event::Inventory {
                    instrument: report.request.instrument.0,
                    position: serde_json::to_value(position).expect("positions serialise"),
                    balances: account.balances.clone(),
                    commissions: account.commissions.clone(),
                },
            );
        }
    }

    /// A strategy lifecycle event (control plane, plugin lifecycle).
    fn lifecycle(&mut self, strategy_id: &StrategyId, kind: EventKind, cause: &str) {
        self.emit(
            Source::Control,
            Ids::strategy(strategy_id),
            Event::Lifecycle {
                what: serde_json::to_value(kind).expect("event kinds serialise"),
                cause: cause.to_owned(),
            },
        );
    }

    /// An operator's action, after the events it caused.
    fn operator(
        &mut self,
        who: &str,
        step: u64,
        action: &crate::session::OperatorAction,
        refusal: Option<&str>,
    ) {
        let ids = action.strategy_id().map(Ids::strategy).unwrap_or_default();
        self.emit(
            Source::Control,
            ids,
            Event::OperatorAction {
                who: who.to_owned(),
                step,
                action: action.clone(),
                refusal: refusal.map(str::to_owned),
            },
        );
    }

    /// Records a checkpoint; syncs the file so it survives a power loss.
    fn checkpoint(&mut self, state: &SessionState) {
        let host = host_state(state.inventory, state.strategies.len(), state.book);
        let host_hash = sha256_hex(&serde_json::to_vec(&host).expect("host state serialises"));
        let strategies = state
            .strategies
            .iter()
            .map(|s| StrategyCheckpoint {
                strategy_id: s.strategy_id.to_string(),
                state: s.state.as_ref().map(hex::encode).unwrap_or_default(),
                quarantined: s.quarantined.map(str::to_owned),
            })
            .collect();
        self.emit(
            Source::Session,
            Ids::default(),
            Event::Checkpoint(Box::new(Checkpoint {
                snapshot_id: self.snapshot_id,
                strategies,
                host,
                host_hash,
            })),
        );
        if let Err(e) = self.appender.as_mut().map_or(Ok(()), store::Appender::sync) {
            self.failure.get_or_insert(e);
        }
    }

    /// Ends a step: hands its records to the OS, so a crash loses at most
    /// the step being run.
    fn end_step(&mut self) {
        if let Err(e) = self.flush() {
            self.failure.get_or_insert(e);
        }
    }

    fn flush(&mut self) -> Result<(), JournalError> {
        self.appender
            .as_mut()
            .map_or(Ok(()), store::Appender::flush)
    }

    /// Records the end of the session.
    fn end(&mut self, end: &SessionState) {
        let host = host_state(end.inventory, end.strategies.len(), end.book);
        let mut state = Sha256::new();
        state.update(serde_json::to_vec(&host).expect("host state serialises"));
        for s in &end.strategies {
            state.update(s.strategy_id.as_str());
            state.update(s.state.as_deref().unwrap_or_default());
        }
        let intent_stream = std::mem::take(&mut self.intent_stream);
        self.emit(
            Source::Session,
            Ids::default(),
            Event::SessionEnd {
                snapshot_id: self.snapshot_id,
                intent_stream: hex::encode(intent_stream.finalize()),
                state: hex::encode(state.finalize()),
            },
        );
    }

    /// Closes the journal after the session's end
    /// ([`Session::end_events`](crate::session::Session::end_events)): the
    /// summary, or the first failure (a recorded event the run did not
    /// produce is one).
    pub fn finish(mut self) -> Result<JournalSummary, JournalError> {
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        if let Some(expected) = &mut self.expected {
            let left = expected.left;
            if let Some(next) = expected.next() {
                let next = next?;
                return Err(JournalError::Diverged {
                    sequence: next.sequence,
                    snapshot_id: self.snapshot_id,
                    difference: format!(
                        "the journal goes on with {left} more record(s) ({} first) that the run did not produce",
                        kind(&next)
                    ),
                });
            }
        }
        if let Some(appender) = &mut self.appender {
            appender.sync()?;
        }
        Ok(JournalSummary {
            records: self.sequence,
            checkpoints: self.checkpoints,
            verified: self.verified,
        })
    }
}

/// The journal records the whole event stream except the step valuations,
/// which follow from it.
impl EventSink for Journal {
    fn record(&mut self, event: &EngineEvent<'_>) {
        match *event {
            EngineEvent::Market(snapshot) => self.market(snapshot),
            EngineEvent::Decision {
                attribution,
                view,
                result,
            } => self.decision(attribution, view, result),
            EngineEvent::Refused {
                attribution,
                intent_id,
                order_id,
                reason,
                ..
            } => self.refusal(attribution, intent_id, order_id, reason),
            EngineEvent::Risk { intent, refusal } => self.risk(intent, refusal),
            EngineEvent::Report {
                report,
                position,
                account,
                ..
            } => self.report(report, position, account),
            EngineEvent::Lifecycle {
                strategy_id,
                kind,
                cause,
                ..
            } => self.lifecycle(strategy_id, kind, cause),
            EngineEvent::Operator {
                who,
                step,
                action,
                refusal,
            } => self.operator(who, step, action, refusal),
            EngineEvent::Checkpoint(state) => self.checkpoint(state),
            EngineEvent::StepEnd => self.end_step(),
            EngineEvent::End(state) => self.end(state),
            EngineEvent::Marked { .. } => {}
        }
    }

    fn halted(&self) -> bool {
        self.failure.is_some()
    }

    fn checkpoint_due(&self) -> bool {
        self.failure.is_none() && self.snapshot_id.is_multiple_of(self.checkpoint_every)
    }
}

/// Ends `session`'s events and closes its journal, if it has one.
pub fn close(session: &mut Session) -> Option<Result<JournalSummary, JournalError>> {
    session.end_events();
    session.take_sink::<Journal>().map(Journal::finish)
}

/// The recorded records a verifying journal has still to match, read from
/// its file as they are needed: memory does not grow with the journal.
#[derive(Debug)]
struct Expected {
    records: store::Records<BufReader<File>>,
    /// Records still to be read; none is read beyond them, so that
    /// records a resume appends are never taken for recorded ones.
    left: u64,
}

impl Expected {
    fn next(&mut self) -> Option<Result<Envelope, JournalError>> {
        self.left = self.left.checked_sub(1)?;
        Some(match self.records.next() {
            Some(record) => record.map(|(envelope, _)| envelope),
            None => Err(JournalError::Unusable {
                path: self.records.path().to_owned(),
                problem: format!(
                    "the file ended {} record(s) early while it was being re-read",
                    self.left + 1
                ),
            }),
        })
    }
}

fn wall_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

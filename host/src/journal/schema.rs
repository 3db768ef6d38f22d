//! The journal's schema: the envelope every record has, and the events.
//! `docs/journal.md` documents it; [`SCHEMA_VERSION`] names its version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::SessionConfig;
use crate::intents::{Attribution, Proposal};
use crate::model::{Bar, Currency, Quote, StrategyId, Timestamp, Trade};

/// Version of the envelope and event schema (see `docs/journal.md`).
pub const SCHEMA_VERSION: u32 = 1;

/// The service an event comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Session lifecycle: start, checkpoints, end.
    Session,
    /// Market input folded into a snapshot.
    MarketData,
    /// A strategy's view and decision.
    Strategy,
    /// The intent stamper, before risk.
    Intents,
    /// The risk engine.
    Risk,
    /// An execution adapter.
    Execution,
    /// Inventory (positions and cash).
    Inventory,
    /// The control plane (quarantine, enable) and plugin lifecycle (reloads).
    Control,
}

/// One journal record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// 1, 2, 3… in the order the events happened.
    pub sequence: u64,
    /// First 16 hex digits of the sha256 of the record without `event_id`
    /// and `ingest_time`: equal ids mean equal events.
    pub event_id: String,
    /// Time of the step the event belongs to (ns since the epoch, UTC).
    pub event_time: Timestamp,
    /// Wall-clock time the record was written (ns since the epoch, UTC);
    /// informative only, never hashed or compared.
    pub ingest_time: i64,
    /// The service the event comes from.
    pub source: Source,
    /// The strategy registration, where the event has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy_id: Option<String>,
    /// The execution context, where the event has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
    /// The route, where the event has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_id: Option<String>,
    /// What happened.
    pub event: Event,
}

/// The hashed part of an envelope: everything but `event_id` and `ingest_time`.
#[derive(Serialize)]
struct Content<'a> {
    sequence: u64,
    event_time: Timestamp,
    source: Source,
    strategy_id: &'a Option<String>,
    execution_id: &'a Option<String>,
    route_id: &'a Option<String>,
    event: &'a Event,
}

impl Envelope {
    /// An envelope with its `event_id` computed and no ingest time.
    pub fn new(
        sequence: u64,
        event_time: Timestamp,
        source: Source,
        ids: Ids,
        event: Event,
    ) -> Self {
        let mut envelope = Self {
            sequence,
            event_id: String::new(),
            event_time,
            ingest_time: 0,
            source,
            strategy_id: ids.strategy_id,
            execution_id: ids.execution_id,
            route_id: ids.route_id,
            event,
        };
        let digest = Sha256::digest(envelope.content());
        envelope.event_id = hex::encode(&digest[..8]);
        envelope
    }

    pub(super) fn content(&self) -> Vec<u8> {
        serde_json::to_vec(&Content {
            sequence: self.sequence,
            event_time: self.event_time,
            source: self.source,
            strategy_id: &self.strategy_id,
            execution_id: &self.execution_id,
            route_id: &self.route_id,
            event: &self.event,
        })
        .expect("journal events serialise")
    }

    /// The step this event belongs to, where it names one.
    pub fn snapshot_id(&self) -> Option<u64> {
        match &self.event {
            Event::MarketInput { snapshot_id, .. }
            | Event::View { snapshot_id, .. }
            | Event::Intents { snapshot_id, .. }
            | Event::StrategyFailed { snapshot_id, .. }
            | Event::SessionEnd { snapshot_id, .. } => Some(*snapshot_id),
            Event::OperatorAction { step, .. } => Some(*step),
            Event::Checkpoint(c) => Some(c.snapshot_id),
            _ => None,
        }
    }
}

/// The attribution ids of an envelope.
#[derive(Debug, Clone, Default)]
pub struct Ids {
    strategy_id: Option<String>,
    execution_id: Option<String>,
    route_id: Option<String>,
}

impl Ids {
    /// All three ids of an attribution.
    pub fn of(a: &Attribution) -> Self {
        Self {
            strategy_id: Some(a.strategy_id.to_string()),
            execution_id: Some(a.execution_id.to_string()),
            route_id: Some(a.route_id.to_string()),
        }
    }

    /// A strategy id alone.
    pub fn strategy(id: &StrategyId) -> Self {
        Self {
            strategy_id: Some(id.to_string()),
            ..Self::default()
        }
    }
}

/// What happened. Serialised with a `kind` tag; see `docs/journal.md`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// Sequence 1: what the session is, so that it can be re-run.
    SessionStart(Box<SessionStart>),
    /// Market data folded into snapshot `snapshot_id`.
    MarketInput {
        /// The step.
        snapshot_id: u64,
        /// The bars, as scaled integers.
        bars: Vec<Bar>,
        /// The quotes, as scaled integers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        quotes: Vec<Quote>,
        /// The trades, as scaled integers.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        trades: Vec<Trade>,
    },
    /// sha256 of the view a strategy was given.
    View {
        /// The step.
        snapshot_id: u64,
        /// Hex sha256 of the view's JSON form.
        hash: String,
    },
    /// The intents a strategy returned, as they crossed the boundary
    /// (recorded when there are any).
    Intents {
        /// The step.
        snapshot_id: u64,
        /// The intents.
        intents: Vec<Proposal>,
    },
    /// A strategy call failed (the strategy is then quarantined).
    StrategyFailed {
        /// The step.
        snapshot_id: u64,
        /// The failure.
        cause: String,
    },
    /// The host refused an intent before risk, or the venue refused a cancel.
    IntentRefused {
        /// The intent id.
        intent_id: u64,
        /// The id of the order it named or would have created.
        order_id: u64,
        /// Why.
        reason: String,
    },
    /// The risk engine's decision on an intent.
    RiskDecision {
        /// The intent, in its stamped form.
        intent: serde_json::Value,
        /// `None` if approved; the refusal otherwise.
        refusal: Option<String>,
    },
    /// An order report from an execution adapter (or a risk rejection).
    OrderReport {
        /// The report.
        report: serde_json::Value,
    },
    /// Inventory after a fill: the strategy's position and its account.
    Inventory {
        /// The instrument filled.
        instrument: u32,
        /// The strategy's position in it.
        position: serde_json::Value,
        /// Balances of the account, per currency.
        balances: BTreeMap<Currency, Decimal>,
        /// Fees the account has paid, per currency.
        commissions: BTreeMap<Currency, Decimal>,
    },
    /// A strategy lifecycle event: quarantine, enable, reload.
    Lifecycle {
        /// What happened (as in the report's events).
        what: serde_json::Value,
        /// Why.
        cause: String,
    },
    /// An operator's action (control plane), applied between two steps.
    OperatorAction {
        /// Who asked for it (`operator` for the control plane).
        who: String,
        /// The last step run before it took effect.
        step: u64,
        /// The action and its target.
        action: crate::session::OperatorAction,
        /// `None` if applied; why it was not otherwise.
        refusal: Option<String>,
    },
    /// Session state at the end of a step.
    Checkpoint(Box<Checkpoint>),
    /// The last event of a session that ended normally.
    SessionEnd {
        /// The last step run.
        snapshot_id: u64,
        /// sha256 over the event ids of every `intents` event.
        intent_stream: String,
        /// sha256 of the final host state and strategy states.
        state: String,
    },
}

/// What a journal needs to re-run its session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionStart {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema: u32,
    /// Session name.
    pub session: String,
    /// The session file as given.
    pub session_file: PathBuf,
    /// Directory its relative paths resolve against.
    pub base_dir: PathBuf,
    /// The session file's text.
    pub config: String,
    /// Steps between checkpoints.
    pub checkpoint_every: u64,
    /// The plugin behind each registration, in session-file order.
    pub strategies: Vec<PluginRecord>,
}

/// A registration's plugin, as loaded at the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginRecord {
    /// The registration.
    pub strategy_id: String,
    /// The plugin file, resolved.
    pub plugin: PathBuf,
    /// sha256 of its bytes.
    pub sha256: String,
}

impl PluginRecord {
    /// The plugin of each registration of `config`, resolved against
    /// `base_dir` (absolute), with the sha256 of the bytes the session
    /// loaded (`sha256s`, in session-file order).
    pub fn of_session<'a>(
        config: &SessionConfig,
        base_dir: &Path,
        sha256s: impl IntoIterator<Item = &'a str>,
    ) -> Vec<Self> {
        config
            .strategies
            .iter()
            .zip(sha256s)
            .map(|(s, sha256)| Self {
                strategy_id: s.id.clone(),
                plugin: base_dir.join(&s.plugin),
                sha256: sha256.to_owned(),
            })
            .collect()
    }
}

/// Session state after a step: enough to check a rebuilt host and to
/// restore every strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The step it follows; the market-data position.
    pub snapshot_id: u64,
    /// Each registration's saved state.
    pub strategies: Vec<StrategyCheckpoint>,
    /// Accounts, positions and open orders.
    pub host: serde_json::Value,
    /// sha256 of `host`.
    pub host_hash: String,
}

/// One registration in a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategyCheckpoint {
    /// The registration.
    pub strategy_id: String,
    /// Hex of its `save-state` bytes (empty if quarantined).
    pub state: String,
    /// Why it is out of the step loop, if it is.
    pub quarantined: Option<String>,
}

/// The `kind` tag of an envelope's event.
pub fn kind(envelope: &Envelope) -> String {
    serde_json::to_value(&envelope.event)
        .ok()
        .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_id_ignores_the_ingest_time_only() {
        let event = || Event::StrategyFailed {
            snapshot_id: 3,
            cause: "trap".into(),
        };
        let a = Envelope::new(7, 10, Source::Strategy, Ids::default(), event());
        let mut b = a.clone();
        b.ingest_time = 12345;
        assert_eq!(
            Envelope::new(7, 10, Source::Strategy, Ids::default(), event()).event_id,
            b.event_id
        );
        let c = Envelope::new(8, 10, Source::Strategy, Ids::default(), event());
        assert_ne!(a.event_id, c.event_id);
    }
}

//! The engine's event stream: everything a session does, emitted once, in
//! the order it happens, to every sink. The post-trade recorder and the
//! journal are sinks; no stage writes to either by hand.
//!
//! Events borrow from the session (the snapshot, the view, the report),
//! so a sink that keeps one copies what it needs.

use std::any::Any;

use rust_decimal::Decimal;

use crate::execution::orders::{OrderBook, OrderReport};
use crate::intents::{Attribution, Intent, Proposal};
use crate::inventory::{Account, Inventory, Position, Valuation};
use crate::model::{IntentId, OrderId, StrategyId, Timestamp};
use crate::post_trade::EventKind;
use crate::reference_data::Instrument;
use crate::session::OperatorAction;
use crate::state::Snapshot;
use crate::strategy::StrategyError;
use crate::views::View;

/// One thing the session did.
#[derive(Debug)]
pub enum EngineEvent<'a> {
    /// A new snapshot: the step's market input.
    Market(&'a Snapshot),
    /// The step's fills are in: the session's valuation, and each
    /// strategy's PnL and whether it holds a position.
    Marked {
        /// The step time.
        time: Timestamp,
        /// The session's equity and its parts.
        value: Valuation,
        /// `(pnl, in the market)` of each strategy, by index.
        strategy_pnl: &'a [(Decimal, bool)],
    },
    /// A strategy was called: its view, and its intents or its failure.
    Decision {
        /// Whose call it was.
        attribution: &'a Attribution,
        /// What it saw.
        view: &'a View,
        /// What it returned.
        result: &'a Result<Vec<Proposal>, StrategyError>,
    },
    /// An intent refused before risk (a grant or conversion failure), or a
    /// cancel the venue refused.
    Refused {
        /// The step time.
        time: Timestamp,
        /// Whose intent it was.
        attribution: &'a Attribution,
        /// The intent.
        intent_id: IntentId,
        /// The order it would have created or named.
        order_id: OrderId,
        /// Why.
        reason: &'a str,
    },
    /// Risk's decision on a stamped intent: approved, or why not.
    Risk {
        /// The intent.
        intent: &'a Intent,
        /// Why it was refused, if it was.
        refusal: Option<&'a str>,
    },
    /// An order report, after inventory applied it.
    Report {
        /// The report.
        report: &'a OrderReport,
        /// Its instrument, if the report names a known one.
        instrument: Option<&'a Instrument>,
        /// The strategy's position in it afterwards.
        position: &'a Position,
        /// The execution context's account afterwards.
        account: &'a Account,
    },
    /// A strategy's lifecycle changed (quarantined, reloaded, …).
    Lifecycle {
        /// The step time.
        time: Timestamp,
        /// The strategy.
        strategy_id: &'a StrategyId,
        /// What happened.
        kind: EventKind,
        /// Why.
        cause: &'a str,
    },
    /// An operator's action, after the events it caused.
    Operator {
        /// Who acted.
        who: &'a str,
        /// The last step run before it took effect.
        step: u64,
        /// The action.
        action: &'a OperatorAction,
        /// Why it was refused, if it was.
        refusal: Option<&'a str>,
    },
    /// The state at the end of a step at which a sink asked for a
    /// checkpoint ([`EventSink::checkpoint_due`]).
    Checkpoint(&'a SessionState<'a>),
    /// A step ended.
    StepEnd,
    /// The session ended, in this state.
    End(&'a SessionState<'a>),
}

/// The session's state between steps, as a checkpoint records it.
#[derive(Debug)]
pub struct SessionState<'a> {
    /// Each registration's saved state, in session-file order.
    pub strategies: Vec<StrategyState<'a>>,
    /// Positions and accounts.
    pub inventory: &'a Inventory,
    /// Orders.
    pub book: &'a OrderBook,
}

/// One strategy's part of a [`SessionState`].
#[derive(Debug)]
pub struct StrategyState<'a> {
    /// The registration.
    pub strategy_id: &'a StrategyId,
    /// Its saved state, or why it could not be saved.
    pub state: Result<Vec<u8>, StrategyError>,
    /// Why it is quarantined, if it is.
    pub quarantined: Option<&'a str>,
}

/// Where engine events go. A sink is attached to a session
/// ([`crate::session::Session::attach_sink`]) and can be taken back by its
/// type ([`crate::session::Session::take_sink`]).
pub trait EventSink: Any + Send {
    /// Takes in one event.
    fn record(&mut self, event: &EngineEvent<'_>);

    /// Whether the sink can take no more events: the session then stops
    /// before its next step (a journal that failed to write, or a replay
    /// that diverged).
    fn halted(&self) -> bool {
        false
    }

    /// Whether the sink wants a [`EngineEvent::Checkpoint`] at the end of
    /// the step just run.
    fn checkpoint_due(&self) -> bool {
        false
    }
}

//! What the engine asks of a strategy, whatever runs it: the [`Strategy`]
//! calls, what `init` exchanges ([`InitConfig`], [`StrategyInfo`]) and
//! how a call can fail ([`StrategyError`]). A sandboxed WebAssembly
//! component implements it (the strategy host converts to and from each WIT
//! version it supports), and so can native Rust code.
//!
//! Each step a strategy gets a [`View`] and returns [`Proposal`]s.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::intents::Proposal;
use crate::model::InstrumentId;
use crate::views::View;

/// What a strategy is given at `init`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitConfig {
    /// Identifier of the registration in the session (for the strategy's
    /// logs only: the host stamps attribution itself).
    pub strategy_id: String,
    /// Parameters from the session file, as key/value text.
    pub params: Vec<(String, String)>,
    /// Instruments the registration is granted, indexed by their id.
    pub instruments: Vec<InstrumentSpec>,
}

/// An instrument as a strategy is told about it: the precisions its prices
/// and quantities cross the boundary at, and its trading rules in those units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentSpec {
    /// Index used wherever the instrument is named.
    pub id: InstrumentId,
    /// The symbol from reference data, e.g. `EURUSD`.
    pub symbol: String,
    /// The asset bought or sold.
    pub base_currency: String,
    /// The currency prices are quoted in.
    pub quote_currency: String,
    /// Decimal places of every price of this instrument.
    pub price_scale: u8,
    /// Decimal places of every quantity of this instrument.
    pub qty_scale: u8,
    /// Smallest price increment, scaled by `price_scale`.
    pub tick_size: i64,
    /// Smallest quantity increment, scaled by `qty_scale`.
    pub lot_size: i64,
    /// Smallest order notional accepted, in the quote currency.
    pub min_notional: Decimal,
}

/// What a strategy says about itself at `init`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategyInfo {
    /// Human-readable name.
    pub name: String,
    /// The strategy's own version string.
    pub version: String,
    /// Symbols whose market data the strategy wants in its view; each must
    /// be one of the configured instruments.
    pub subscriptions: Vec<String>,
    /// Steps the strategy needs before it trades (informative).
    pub warmup: u32,
}

/// A strategy, sandboxed or native, as the session drives it.
pub trait Strategy {
    /// Initialises the strategy with its configuration.
    fn init(&mut self, config: &InitConfig) -> Result<StrategyInfo, StrategyError>;
    /// One step: a view in, intents out.
    fn on_step(&mut self, view: &View) -> Result<Vec<Proposal>, StrategyError>;
    /// Serialises the strategy's state.
    fn save_state(&mut self) -> Result<Vec<u8>, StrategyError>;
    /// Restores state written by `save_state`.
    fn restore_state(&mut self, state: &[u8]) -> Result<(), StrategyError>;
    /// Makes the strategy callable again after a failure, as if new; `init`
    /// follows. A sandboxed instance is replaced by a fresh one.
    fn reset(&mut self) -> Result<(), StrategyError>;
}

/// A strategy call that failed. The session adds the strategy id.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    /// The guest trapped (panic, unreachable, out-of-bounds access, memory cap…).
    #[error("trapped in {call}: {message}")]
    Trap {
        /// The export being called.
        call: &'static str,
        /// The trap and the guest's last error log line, if any.
        message: String,
    },
    /// The guest used up its fuel budget for one call.
    #[error("exceeded its CPU budget of {fuel} fuel in {call}")]
    CpuBudget {
        /// The export being called.
        call: &'static str,
        /// The budget.
        fuel: u64,
    },
    /// The guest ran past its wall-clock deadline for one call.
    #[error("exceeded its time budget of {ms} ms in {call}")]
    TimeBudget {
        /// The export being called.
        call: &'static str,
        /// The budget.
        ms: u32,
    },
    /// The guest used more than its share of CPU over the session
    /// (the `cpu_share_percent` limit) and its reserve ran out.
    #[error("used more than its CPU share over the session (cpu_share_percent = {share} of a call's budget per step on average, with a reserve of cpu_reserve_calls = {reserve} calls) in {call}")]
    SessionCpuBudget {
        /// The export being called.
        call: &'static str,
        /// The share.
        share: u32,
        /// The reserve, in calls.
        reserve: u32,
    },
    /// The guest logged more than its budget in one call.
    #[error("logged more than {limit} bytes in {call}")]
    LogBudget {
        /// The export being called.
        call: &'static str,
        /// The budget.
        limit: u32,
    },
    /// The guest called host imports more often than its budget in one call.
    #[error("made more than {limit} host calls in {call}")]
    HostCalls {
        /// The export being called.
        call: &'static str,
        /// The budget.
        limit: u32,
    },
    /// The intents of one step were too large in bytes.
    #[error("returned {bytes} bytes of intents in one step; the limit is {limit}")]
    ResultTooLarge {
        /// Size of the result.
        bytes: usize,
        /// The limit.
        limit: u32,
    },
    /// `save-state` returned more bytes than allowed.
    #[error("saved {bytes} bytes of state; the limit is {limit}")]
    StateTooLarge {
        /// Size of the state.
        bytes: usize,
        /// The limit.
        limit: u32,
    },
    /// The guest returned more intents than allowed.
    #[error("returned {count} intents in one step; the limit is {limit}")]
    TooManyIntents {
        /// Intents returned.
        count: usize,
        /// The limit.
        limit: u32,
    },
    /// `init` returned an error.
    #[error("refused its configuration: {0}")]
    InitRefused(String),
    /// `restore-state` returned an error.
    #[error("refused the saved state: {0}")]
    RestoreRefused(String),
    /// The instance failed earlier and cannot be entered again; the first
    /// failure, so that it is not lost when that call's caller dropped it
    /// (a checkpoint's `save-state`, say).
    #[error("is unusable after an earlier failure: {0}")]
    Poisoned(String),
    /// A failure recorded in a journal, replayed as it was recorded.
    #[error("{0}")]
    Journalled(String),
}

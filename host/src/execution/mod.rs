//! Execution: orders, their reports, and the adapters that execute approved
//! intents. Backtests use the historical [`simulator`]; every adapter shares
//! the [`orders`] state machine.

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::config::decimal;

pub mod orders;

pub mod simulator;

/// One `[[execution]]` entry: an execution context (account) and the
/// simulated venue behind its route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionConfig {
    /// Unique id; stamped on every intent as `execution_id`.
    pub id: String,
    /// Id of the route to the venue; stamped as `route_id`. Default `sim`.
    #[serde(default = "default_route")]
    pub route: String,
    /// Currency of the account's cash, e.g. `USD`.
    pub currency: String,
    /// Cash at the start of the session.
    #[serde(with = "decimal")]
    pub starting_cash: Decimal,
    /// Commission as a fraction of fill notional, e.g. `0.001`. Default 0.
    #[serde(with = "decimal", default)]
    pub commission: Decimal,
    /// Slippage of market orders in basis points of the price. Default 0.
    #[serde(with = "decimal", default)]
    pub slippage_bps: Decimal,
}

fn default_route() -> String {
    "sim".to_owned()
}

//! What a strategy returns: intents as it proposes them, in its own units
//! (prices and quantities scaled by the instrument's precisions), before the
//! host stamps attribution and converts them into exact decimals.

use serde::{Deserialize, Serialize};

use crate::model::{InstrumentId, OrderId, OrderType, Side, TimeInForce};

/// An intent as a strategy proposes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proposal {
    /// Place a new order.
    Place(PlaceOrder),
    /// Cancel a working order of the strategy.
    Cancel(OrderId),
    /// Change a working order of the strategy.
    Replace(ReplaceOrder),
    /// Cancel every working order of the strategy, or only those on one
    /// instrument.
    CancelAll(Option<InstrumentId>),
}

/// A new order, prices and quantity scaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceOrder {
    /// Instrument to trade; must be granted to the strategy.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Type and scaled prices.
    pub order_type: OrderType<i64>,
    /// How long the order works.
    pub time_in_force: TimeInForce,
    /// Quantity, scaled; a positive multiple of the lot size.
    pub qty: i64,
    /// Only ever reduce the position.
    pub reduce_only: bool,
    /// Limit orders only: refused if it would take liquidity on arrival.
    pub post_only: bool,
    /// Free text echoed in reports and open orders.
    pub client_tag: String,
}

/// New scaled values for a working order; `None` keeps the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplaceOrder {
    /// The order to change.
    pub order_id: OrderId,
    /// New total quantity.
    pub qty: Option<i64>,
    /// New limit price (limit and stop-limit orders).
    pub limit_price: Option<i64>,
    /// New stop price (stop and stop-limit orders).
    pub stop_price: Option<i64>,
}

//! The order vocabulary: what an order asks for, where it is in its life,
//! and what its reports say happened.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::{InstrumentId, Side, Timestamp};

/// How an order is priced. `P` is the price: an exact [`Decimal`] in the
/// host, or an integer scaled by the instrument's price precision where an
/// order crosses the strategy boundary (`OrderType<i64>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum OrderType<P = Decimal> {
    /// At the next available price.
    Market,
    /// At this price or better.
    Limit {
        /// The limit price.
        price: P,
    },
    /// A market order once the market trades at or through `stop`.
    Stop {
        /// The trigger price.
        stop: P,
    },
    /// A limit order at `limit` once the market trades at or through `stop`.
    StopLimit {
        /// The trigger price.
        stop: P,
        /// The limit price once triggered.
        limit: P,
    },
}

impl<P: Copy> OrderType<P> {
    /// The limit price, if the order has one.
    pub fn limit(self) -> Option<P> {
        match self {
            Self::Limit { price } | Self::StopLimit { limit: price, .. } => Some(price),
            Self::Market | Self::Stop { .. } => None,
        }
    }

    /// The stop (trigger) price, if the order has one.
    pub fn stop(self) -> Option<P> {
        match self {
            Self::Stop { stop } | Self::StopLimit { stop, .. } => Some(stop),
            Self::Market | Self::Limit { .. } => None,
        }
    }
}

/// How long an order works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "tif", content = "until")]
pub enum TimeInForce {
    /// Until filled or cancelled.
    Gtc,
    /// Fill what can be filled at the first opportunity; expire the rest.
    Ioc,
    /// Fill everything at the first opportunity, or nothing.
    Fok,
    /// Until this time.
    Gtd(Timestamp),
    /// Until the end of the UTC day it was placed on.
    Day,
}

/// A new order, in exact decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRequest {
    /// Instrument to trade.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Type and prices.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: TimeInForce,
    /// Quantity, positive.
    pub qty: Decimal,
    /// Only ever reduce the position.
    pub reduce_only: bool,
    /// Rejected if it would take liquidity on arrival (limit orders only).
    pub post_only: bool,
    /// The strategy's own tag, echoed in reports.
    pub client_tag: String,
}

/// New values for a working order; `None` keeps the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Amendment {
    /// New total quantity.
    pub qty: Option<Decimal>,
    /// New limit price.
    pub limit_price: Option<Decimal>,
    /// New stop price.
    pub stop_price: Option<Decimal>,
}

impl Amendment {
    /// `order_type` with this amendment's prices, or why they do not apply.
    pub fn apply_to(&self, order_type: OrderType) -> Result<OrderType, String> {
        let not_for = |what: &str| {
            Err(format!(
                "a {what} price cannot be set on a {} order",
                order_type.name()
            ))
        };
        let order_type = match (order_type, self.limit_price) {
            (OrderType::Limit { .. }, Some(price)) => OrderType::Limit { price },
            (OrderType::StopLimit { stop, .. }, Some(limit)) => {
                OrderType::StopLimit { stop, limit }
            }
            (_, Some(_)) => return not_for("limit"),
            (order_type, None) => order_type,
        };
        Ok(match (order_type, self.stop_price) {
            (OrderType::Stop { .. }, Some(stop)) => OrderType::Stop { stop },
            (OrderType::StopLimit { limit, .. }, Some(stop)) => {
                OrderType::StopLimit { stop, limit }
            }
            (_, Some(_)) => return not_for("stop"),
            (order_type, None) => order_type,
        })
    }
}

impl<P: Copy> OrderType<P> {
    /// The type's name, as in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Market => "market",
            Self::Limit { .. } => "limit",
            Self::Stop { .. } => "stop",
            Self::StopLimit { .. } => "stop-limit",
        }
    }

    /// The same type with every price converted by `convert`.
    pub fn map<Q>(self, mut convert: impl FnMut(P) -> Q) -> OrderType<Q> {
        match self {
            Self::Market => OrderType::Market,
            Self::Limit { price } => OrderType::Limit {
                price: convert(price),
            },
            Self::Stop { stop } => OrderType::Stop {
                stop: convert(stop),
            },
            Self::StopLimit { stop, limit } => OrderType::StopLimit {
                stop: convert(stop),
                limit: convert(limit),
            },
        }
    }
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Sent to the venue, not yet working there.
    Submitted,
    /// Working at the venue.
    Accepted,
    /// Refused by risk or the venue (terminal).
    Rejected,
    /// Partly filled, the rest working.
    PartiallyFilled,
    /// Completely filled (terminal).
    Filled,
    /// A cancel is on its way; the order may still fill.
    PendingCancel,
    /// Cancelled (terminal).
    Cancelled,
    /// Its time in force ran out (terminal).
    Expired,
}

impl OrderStatus {
    /// Whether no further event can change the order.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Rejected | Self::Filled | Self::Cancelled | Self::Expired
        )
    }
}

/// One execution of (part of) an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fill {
    /// Quantity filled.
    pub qty: Decimal,
    /// Price of the fill.
    pub price: Decimal,
    /// Fee charged, in the quote currency.
    pub commission: Decimal,
    /// Whether the fill added liquidity (maker) rather than took it.
    pub maker: bool,
}

/// What a report says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    /// Sent to the venue.
    Submitted,
    /// Working at the venue.
    Accepted,
    /// Refused by risk or the venue.
    Rejected,
    /// A stop triggered.
    Triggered,
    /// A fill.
    Fill,
    /// A cancel was requested.
    PendingCancel,
    /// Cancelled.
    Cancelled,
    /// Time in force ran out.
    Expired,
    /// Quantity or prices changed.
    Replaced,
    /// A cancel was refused; the order is unchanged.
    CancelRejected,
    /// A replace was refused; the order is unchanged.
    ReplaceRejected,
}

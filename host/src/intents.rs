//! Intents: what a strategy proposes, once the host has stamped it with
//! attribution (`strategy_id`, `execution_id`, `route_id`, `snapshot_id`,
//! `intent_id`) and converted its boundary integers into exact decimals.
//!
//! Stamping also enforces the registration's grants: an intent for an
//! instrument the strategy was not granted never reaches risk.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::model::{
    from_scaled, ExecutionId, InstrumentId, IntentId, OrderId, RouteId, Side, SnapshotId,
    StrategyId, Timestamp,
};
use crate::plugin_api::wit;
use crate::reference_data::ReferenceData;

/// Who an intent (and every order and report it leads to) belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attribution {
    /// Index of the registration in the session, for fast lookups.
    #[serde(skip)]
    pub strategy_index: usize,
    /// Index of the execution context in the session.
    #[serde(skip)]
    pub execution_index: usize,
    /// The strategy registration.
    pub strategy_id: StrategyId,
    /// The execution context it trades in.
    pub execution_id: ExecutionId,
    /// The route to the venue of that context.
    pub route_id: RouteId,
    /// Which plugin version of the registration (index into the report's
    /// `versions` of the strategy, from 0) produced the intent.
    pub plugin_version: u32,
}

/// How an order is priced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "type", content = "price")]
pub enum OrderType {
    /// At the next available price.
    Market,
    /// At this price or better.
    Limit(Decimal),
}

/// A new order, in exact decimals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRequest {
    /// Instrument to trade.
    pub instrument: InstrumentId,
    /// Buy or sell.
    pub side: Side,
    /// Market or limit.
    pub order_type: OrderType,
    /// Quantity, positive.
    pub qty: Decimal,
    /// The strategy's own tag, echoed in reports.
    pub client_tag: String,
}

/// What an intent asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Place a new order, which will carry `order_id`.
    Place {
        /// Id given to the order, even if it is then refused.
        order_id: OrderId,
        /// The order.
        request: OrderRequest,
    },
    /// Cancel a working order.
    Cancel {
        /// The order to cancel.
        order_id: OrderId,
    },
}

/// An intent stamped by the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Intent {
    /// Unique within the session.
    pub id: IntentId,
    /// Who proposed it.
    pub attribution: Arc<Attribution>,
    /// The snapshot the strategy saw.
    pub snapshot_id: SnapshotId,
    /// Time of that snapshot.
    pub time: Timestamp,
    /// What it asks for.
    pub action: Action,
}

/// An intent the host refused before risk, with enough to report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The intent as stamped, where it could be converted.
    pub intent_id: IntentId,
    /// The order id the intent would have created.
    pub order_id: OrderId,
    /// The instrument id as the strategy sent it.
    pub instrument: u32,
    /// The side as the strategy sent it.
    pub side: Side,
    /// The client tag as the strategy sent it.
    pub client_tag: String,
    /// Why it was refused.
    pub reason: String,
}

/// Assigns intent and order ids and converts guest intents.
#[derive(Debug, Default)]
pub struct IntentStamper {
    next_intent: u64,
    next_order: u64,
}

impl IntentStamper {
    /// Stamps one guest intent. `granted[i]` says whether the strategy may
    /// trade instrument `i`.
    pub fn stamp(
        &mut self,
        raw: wit::Intent,
        attribution: &Arc<Attribution>,
        snapshot_id: SnapshotId,
        time: Timestamp,
        granted: &[bool],
        reference: &ReferenceData,
    ) -> Result<Intent, Refused> {
        self.next_intent += 1;
        let id = IntentId(self.next_intent);
        let action = match raw {
            wit::Intent::Cancel(order) => Action::Cancel {
                order_id: OrderId(order),
            },
            wit::Intent::Place(place) => {
                self.next_order += 1;
                let order_id = OrderId(self.next_order);
                let side = Side::from(place.side);
                let refuse = |reason: String| Refused {
                    intent_id: id,
                    order_id,
                    instrument: place.instrument,
                    side,
                    client_tag: place.client_tag.clone(),
                    reason,
                };
                if !granted
                    .get(place.instrument as usize)
                    .copied()
                    .unwrap_or(false)
                {
                    return Err(refuse(format!(
                        "instrument {} is not granted to strategy {}",
                        place.instrument, attribution.strategy_id
                    )));
                }
                let inst = reference.get(InstrumentId(place.instrument));
                if place.qty <= 0 {
                    return Err(refuse(format!(
                        "order qty must be positive, got {} (scaled)",
                        place.qty
                    )));
                }
                let order_type = match place.order_type {
                    wit::OrderType::Market => OrderType::Market,
                    wit::OrderType::Limit(price) if price > 0 => {
                        OrderType::Limit(from_scaled(price, inst.price_scale))
                    }
                    wit::OrderType::Limit(price) => {
                        return Err(refuse(format!(
                            "limit price must be positive, got {price} (scaled)"
                        )))
                    }
                };
                Action::Place {
                    order_id,
                    request: OrderRequest {
                        instrument: inst.id,
                        side,
                        order_type,
                        qty: from_scaled(place.qty, inst.qty_scale),
                        client_tag: place.client_tag,
                    },
                }
            }
        };
        Ok(Intent {
            id,
            attribution: Arc::clone(attribution),
            snapshot_id,
            time,
            action,
        })
    }
}

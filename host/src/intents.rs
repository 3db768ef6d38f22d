//! Intents: what a strategy proposes, once the host has stamped it with
//! attribution (`strategy_id`, `execution_id`, `route_id`, `snapshot_id`,
//! `intent_id`) and converted its boundary integers into exact decimals.
//!
//! Stamping also enforces the registration's grants: an intent for an
//! instrument the strategy was not granted never reaches risk.

mod proposal;

use std::sync::Arc;

use serde::Serialize;

pub use proposal::{PlaceOrder, Proposal, ReplaceOrder};

use crate::model::{
    from_scaled, Amendment, ExecutionId, InstrumentId, IntentId, OrderId, OrderRequest, OrderType,
    RouteId, Side, SnapshotId, StrategyId, TimeInForce, Timestamp,
};
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

/// What an intent asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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
    /// Change a working order's prices or quantity.
    Replace {
        /// The order to change.
        order_id: OrderId,
        /// The new values.
        amendment: Amendment,
    },
    /// Cancel every working order of the strategy (on one instrument, if given).
    CancelAll {
        /// Only orders on this instrument.
        instrument: Option<InstrumentId>,
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
    /// The intent's id.
    pub intent_id: IntentId,
    /// The order the intent would have created or named.
    pub order_id: OrderId,
    /// What was refused: a new order or a replace.
    pub what: RefusedKind,
    /// The instrument id as the strategy sent it (or of the named order).
    pub instrument: InstrumentId,
    /// The side as the strategy sent it (or of the named order).
    pub side: Side,
    /// The client tag as the strategy sent it (or of the named order).
    pub client_tag: String,
    /// Why it was refused.
    pub reason: String,
}

/// Which kind of intent was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedKind {
    /// A new order.
    Place,
    /// A replace.
    Replace,
}

/// What the stamper needs to know about a working order a replace names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedOrder {
    /// Its instrument.
    pub instrument: InstrumentId,
    /// Its side.
    pub side: Side,
    /// Its client tag.
    pub client_tag: String,
}

/// Assigns intent and order ids and converts guest intents.
#[derive(Debug, Default)]
pub struct IntentStamper {
    next_intent: u64,
    next_order: u64,
}

impl IntentStamper {
    /// Stamps one guest intent. `granted[i]` says whether the strategy may
    /// trade instrument `i`; `working(id)` describes a working order of the
    /// strategy, which a replace needs to read its prices at the right scale.
    #[allow(clippy::too_many_arguments)]
    pub fn stamp(
        &mut self,
        raw: Proposal,
        attribution: &Arc<Attribution>,
        snapshot_id: SnapshotId,
        time: Timestamp,
        granted: &[bool],
        reference: &ReferenceData,
        working: impl Fn(OrderId) -> Option<NamedOrder>,
    ) -> Result<Intent, Refused> {
        self.next_intent += 1;
        let id = IntentId(self.next_intent);
        let action = match raw {
            Proposal::Cancel(order_id) => Action::Cancel { order_id },
            Proposal::CancelAll(instrument) => Action::CancelAll { instrument },
            Proposal::Replace(replace) => {
                let order_id = replace.order_id;
                let Some(named) = working(order_id) else {
                    return Err(Refused {
                        intent_id: id,
                        order_id,
                        what: RefusedKind::Replace,
                        instrument: InstrumentId(u32::MAX),
                        side: Side::Buy,
                        client_tag: String::new(),
                        reason: format!(
                            "no working order {order_id} of strategy {}",
                            attribution.strategy_id
                        ),
                    });
                };
                let inst = reference.get(named.instrument);
                let refuse = |reason: String| Refused {
                    intent_id: id,
                    order_id,
                    what: RefusedKind::Replace,
                    instrument: named.instrument,
                    side: named.side,
                    client_tag: named.client_tag.clone(),
                    reason,
                };
                let price = |field: &str, value: Option<i64>| match value {
                    Some(p) if p <= 0 => Err(refuse(format!(
                        "{field} must be positive, got {p} (scaled)"
                    ))),
                    other => Ok(other.map(|p| from_scaled(p, inst.price_scale))),
                };
                let qty = match replace.qty {
                    Some(q) if q <= 0 => {
                        return Err(refuse(format!("qty must be positive, got {q} (scaled)")))
                    }
                    other => other.map(|q| from_scaled(q, inst.qty_scale)),
                };
                Action::Replace {
                    order_id,
                    amendment: Amendment {
                        qty,
                        limit_price: price("limit price", replace.limit_price)?,
                        stop_price: price("stop price", replace.stop_price)?,
                    },
                }
            }
            Proposal::Place(place) => {
                self.next_order += 1;
                let order_id = OrderId(self.next_order);
                let side = place.side;
                let refuse = |reason: String| Refused {
                    intent_id: id,
                    order_id,
                    what: RefusedKind::Place,
                    instrument: place.instrument,
                    side,
                    client_tag: place.client_tag.clone(),
                    reason,
                };
                if !granted
                    .get(place.instrument.0 as usize)
                    .copied()
                    .unwrap_or(false)
                {
                    return Err(refuse(format!(
                        "instrument {} is not granted to strategy {}",
                        place.instrument, attribution.strategy_id
                    )));
                }
                let inst = reference.get(place.instrument);
                if place.qty <= 0 {
                    return Err(refuse(format!(
                        "order qty must be positive, got {} (scaled)",
                        place.qty
                    )));
                }
                let price = |field: &str, p: i64| {
                    if p > 0 {
                        Ok(from_scaled(p, inst.price_scale))
                    } else {
                        Err(refuse(format!(
                            "{field} price must be positive, got {p} (scaled)"
                        )))
                    }
                };
                let order_type = match place.order_type {
                    OrderType::Market => OrderType::Market,
                    OrderType::Limit { price: p } => OrderType::Limit {
                        price: price("limit", p)?,
                    },
                    OrderType::Stop { stop } => OrderType::Stop {
                        stop: price("stop", stop)?,
                    },
                    OrderType::StopLimit { stop, limit } => OrderType::StopLimit {
                        stop: price("stop", stop)?,
                        limit: price("limit", limit)?,
                    },
                };
                let tif = match place.time_in_force {
                    TimeInForce::Gtd(until) if until <= time => {
                        return Err(refuse(format!(
                            "good-till-date {} is not after the step time {}",
                            crate::model::format_time(until),
                            crate::model::format_time(time)
                        )))
                    }
                    tif => tif,
                };
                if place.post_only && !matches!(order_type, OrderType::Limit { .. }) {
                    return Err(refuse(format!(
                        "post-only applies to limit orders, not {}",
                        order_type.name()
                    )));
                }
                Action::Place {
                    order_id,
                    request: OrderRequest {
                        instrument: inst.id,
                        side,
                        order_type,
                        tif,
                        qty: from_scaled(place.qty, inst.qty_scale),
                        reduce_only: place.reduce_only,
                        post_only: place.post_only,
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

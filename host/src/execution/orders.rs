//! Orders and order reports. An order's status changes only through
//! [`Order::apply`], one `(status, event)` arm per allowed transition: fills
//! never exceed the order quantity and terminal statuses stay terminal.

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::intents::{Attribution, OrderRequest};
use crate::model::{IntentId, OrderId, Timestamp};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Working at the venue.
    Accepted,
    /// Refused before it reached the venue (terminal).
    Rejected,
    /// Partly filled, the rest working.
    PartiallyFilled,
    /// Completely filled (terminal).
    Filled,
    /// Cancelled (terminal).
    Cancelled,
}

impl OrderStatus {
    /// Whether no further event can change the order.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Rejected | Self::Filled | Self::Cancelled)
    }
}

/// One execution of (part of) an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Fill {
    /// Quantity filled.
    pub qty: Decimal,
    /// Price of the fill.
    pub price: Decimal,
    /// Commission charged, in the quote currency.
    pub commission: Decimal,
}

/// Something that happens to a working order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// A fill.
    Fill(Fill),
    /// A cancellation.
    Cancel,
}

/// An event that the order's status does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order {order_id}: {event:?} not allowed in status {status:?}")]
pub struct TransitionError {
    /// The order.
    pub order_id: OrderId,
    /// Its status.
    pub status: OrderStatus,
    /// The refused event.
    pub event: OrderEvent,
}

/// An order accepted by an execution adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Host-assigned id.
    pub id: OrderId,
    /// The intent that created it.
    pub intent_id: IntentId,
    /// Who it belongs to.
    pub attribution: Arc<Attribution>,
    /// What was ordered.
    pub request: OrderRequest,
    /// Current status.
    pub status: OrderStatus,
    /// Quantity filled so far.
    pub filled_qty: Decimal,
}

impl Order {
    /// A newly accepted order.
    pub fn accepted(
        id: OrderId,
        intent_id: IntentId,
        attribution: Arc<Attribution>,
        request: OrderRequest,
    ) -> Self {
        Self {
            id,
            intent_id,
            attribution,
            request,
            status: OrderStatus::Accepted,
            filled_qty: Decimal::ZERO,
        }
    }

    /// Quantity still to fill.
    pub fn remaining(&self) -> Decimal {
        self.request.qty - self.filled_qty
    }

    /// Applies an event, returning the new status.
    pub fn apply(&mut self, event: OrderEvent) -> Result<OrderStatus, TransitionError> {
        use OrderStatus::*;
        let refuse = |status| TransitionError {
            order_id: self.id,
            status,
            event,
        };
        let next = match (self.status, event) {
            (Accepted | PartiallyFilled, OrderEvent::Fill(f))
                if f.qty > Decimal::ZERO && f.qty < self.remaining() =>
            {
                PartiallyFilled
            }
            (Accepted | PartiallyFilled, OrderEvent::Fill(f)) if f.qty == self.remaining() => {
                Filled
            }
            (Accepted | PartiallyFilled, OrderEvent::Cancel) => Cancelled,
            (status, _) => return Err(refuse(status)),
        };
        if let OrderEvent::Fill(fill) = event {
            self.filled_qty += fill.qty;
        }
        self.status = next;
        Ok(next)
    }

    /// A report about this order at `time`.
    pub fn report(&self, time: Timestamp, fill: Option<Fill>, reason: String) -> OrderReport {
        OrderReport {
            order_id: self.id,
            intent_id: self.intent_id,
            attribution: Arc::clone(&self.attribution),
            request: self.request.clone(),
            status: self.status,
            fill,
            reason,
            time,
        }
    }
}

/// Reason given when a strategy cancels its own order.
pub const CANCELLED_BY_STRATEGY: &str = "cancelled by strategy";

/// A change to an order, as reported to inventory, the strategy and post-trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderReport {
    /// The order.
    pub order_id: OrderId,
    /// The intent that created it.
    pub intent_id: IntentId,
    /// Who it belongs to.
    pub attribution: Arc<Attribution>,
    /// What was ordered.
    pub request: OrderRequest,
    /// Status after this event.
    pub status: OrderStatus,
    /// The fill this event carries, if any.
    pub fill: Option<Fill>,
    /// Why it was rejected or cancelled; empty otherwise.
    pub reason: String,
    /// When it happened.
    pub time: Timestamp,
}

impl OrderReport {
    /// The report of an order refused before any adapter accepted it.
    pub fn rejected(
        order_id: OrderId,
        intent: &crate::intents::Intent,
        request: OrderRequest,
        reason: String,
    ) -> Self {
        Self {
            order_id,
            intent_id: intent.id,
            attribution: Arc::clone(&intent.attribution),
            request,
            status: OrderStatus::Rejected,
            fill: None,
            reason,
            time: intent.time,
        }
    }
}

/// A cancel the venue refused: there is no such working order of the strategy.
/// Like FIX's cancel reject, this is not an order report (there may be no order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CancelRejected {
    /// The cancel intent.
    pub intent_id: IntentId,
    /// The order it named.
    pub order_id: OrderId,
    /// Why it was refused.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intents::OrderType;
    use crate::model::{ExecutionId, InstrumentId, RouteId, Side, StrategyId};
    use proptest::prelude::*;

    fn order(qty: i64) -> Order {
        let attribution = Arc::new(Attribution {
            strategy_index: 0,
            execution_index: 0,
            strategy_id: StrategyId::new("s"),
            execution_id: ExecutionId::new("e"),
            route_id: RouteId::new("r"),
            plugin_version: 0,
        });
        let request = OrderRequest {
            instrument: InstrumentId(0),
            side: Side::Buy,
            order_type: OrderType::Market,
            qty: Decimal::from(qty),
            client_tag: String::new(),
        };
        Order::accepted(OrderId(1), IntentId(1), attribution, request)
    }

    fn fill(qty: i64) -> OrderEvent {
        OrderEvent::Fill(Fill {
            qty: Decimal::from(qty),
            price: Decimal::ONE,
            commission: Decimal::ZERO,
        })
    }

    #[test]
    fn transitions() {
        let mut o = order(10);
        assert_eq!(o.apply(fill(4)), Ok(OrderStatus::PartiallyFilled));
        assert!(o.apply(fill(7)).is_err(), "overfill");
        assert_eq!(o.apply(fill(6)), Ok(OrderStatus::Filled));
        assert!(
            o.apply(OrderEvent::Cancel).is_err(),
            "terminal stays terminal"
        );
        let mut o = order(10);
        assert_eq!(o.apply(OrderEvent::Cancel), Ok(OrderStatus::Cancelled));
        assert!(o.apply(fill(1)).is_err(), "no fill after cancel");
    }

    proptest! {
        #[test]
        fn filled_qty_is_monotonic_and_bounded(events in proptest::collection::vec(prop_oneof![(0i64..12).prop_map(fill), Just(OrderEvent::Cancel)], 0..20)) {
            let mut o = order(10);
            for event in events {
                let (before, status) = (o.filled_qty, o.status);
                match o.apply(event) {
                    Ok(_) => prop_assert!(!status.is_terminal()),
                    Err(_) => prop_assert_eq!((o.filled_qty, o.status), (before, status)),
                }
                prop_assert!(o.filled_qty >= before);
                prop_assert!(o.filled_qty <= o.request.qty);
                prop_assert_eq!(o.status == OrderStatus::Filled, o.filled_qty == o.request.qty);
            }
        }
    }
}

//! Orders as the host keeps them, and the one state machine every execution
//! adapter's reports go through.
//!
//! An adapter (the simulator, or a venue) reports what happened to an order
//! as [`VenueEvent`]s; the [`OrderBook`] applies each to its [`Order`] with
//! [`Order::apply`] and turns it into an [`OrderReport`] with a session-wide
//! sequence number. The host's own decisions (risk refused the order, a
//! cancel was requested) go through the same table, [`Order::next`]: one
//! arm per allowed transition, every status change of an order in one place. Events the state
//! machine refuses, and repeated or stale events (an `event_id` not above the
//! order's last), produce no report: inventory, post-trade and strategies see
//! every change exactly once.
//!
//! ```text
//! Submitted ─► Accepted ─► PartiallyFilled ─► Filled
//!     │            │  ▲           │
//!     ▼            ▼  └─(replace)─┤
//!  Rejected   PendingCancel ◄─────┘ ─► Cancelled
//!                  └──────────────────► Expired / Filled
//! ```
//!
//! (Rejected: by risk or by the venue; PendingCancel: when the host
//! requests the cancel, also from Submitted.)

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::intents::{Attribution, Intent};
use crate::model::{
    Fill, InstrumentId, IntentId, OrderId, OrderStatus, ReportKind, Side, Timestamp,
};
use crate::model::{OrderRequest, OrderType};

/// What an adapter says happened to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VenueEventKind {
    /// The venue accepted the order under its own id; it is working.
    Accepted(String),
    /// The venue refused the order.
    Rejected(String),
    /// A stop order's trigger price traded.
    Triggered,
    /// A fill.
    Fill(Fill),
    /// The order was cancelled.
    Cancelled(String),
    /// The order's time in force ran out.
    Expired(String),
    /// The order's quantity or prices changed.
    Replaced {
        /// New total quantity.
        qty: Decimal,
        /// New type and prices.
        order_type: OrderType,
    },
}

/// One event of one order, as an adapter reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueEvent {
    /// The order.
    pub order_id: OrderId,
    /// Strictly increasing per order at the adapter: a repeated or older id
    /// is a duplicate or out-of-order delivery and changes nothing.
    pub event_id: u64,
    /// When it happened.
    pub time: Timestamp,
    /// What happened.
    pub kind: VenueEventKind,
}

/// What moves an order from one status to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition<'a> {
    /// An adapter's event.
    Venue(&'a VenueEventKind),
    /// Risk refused the order before it reached an adapter.
    RiskRejected,
    /// The host asked the venue to cancel the order.
    CancelRequested,
}

/// An event the order's status does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order {order_id}: {event:?} not allowed in status {status:?}")]
pub struct TransitionError {
    /// The order.
    pub order_id: OrderId,
    /// Its status.
    pub status: OrderStatus,
    /// The refused event.
    pub event: VenueEventKind,
}

/// An order as the host knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Host-assigned id.
    pub id: OrderId,
    /// The intent that created it.
    pub intent_id: IntentId,
    /// Who it belongs to.
    pub attribution: Arc<Attribution>,
    /// What is ordered now (after any replace).
    pub request: OrderRequest,
    /// Current status.
    pub status: OrderStatus,
    /// Quantity filled so far.
    pub filled_qty: Decimal,
    /// Σ fill qty × price, for the average fill price.
    pub filled_notional: Decimal,
    /// Whether a stop has triggered.
    pub triggered: bool,
    /// The venue's id for the order, once accepted.
    pub venue_order_id: Option<String>,
    /// The last adapter event applied.
    pub last_event: u64,
}

impl Order {
    /// A new order, just sent to the venue.
    pub fn submitted(
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
            status: OrderStatus::Submitted,
            filled_qty: Decimal::ZERO,
            filled_notional: Decimal::ZERO,
            triggered: false,
            venue_order_id: None,
            last_event: 0,
        }
    }

    /// Quantity still to fill.
    pub fn remaining(&self) -> Decimal {
        self.request.qty - self.filled_qty
    }

    /// Average price of the fills so far.
    pub fn avg_fill_price(&self) -> Option<Decimal> {
        (!self.filled_qty.is_zero()).then(|| self.filled_notional / self.filled_qty)
    }

    /// Whether the order still counts as open for its strategy.
    pub fn is_open(&self) -> bool {
        !self.status.is_terminal()
    }

    /// The order's transition table: the status `transition` leads to
    /// from the current one and the report it makes, or `None` if the
    /// current status does not allow it.
    pub fn next(&self, transition: Transition<'_>) -> Option<(OrderStatus, ReportKind)> {
        use OrderStatus::*;
        use VenueEventKind as E;
        let working = matches!(self.status, Accepted | PartiallyFilled | PendingCancel);
        let unfilled = self.filled_qty.is_zero();
        Some(match (transition, self.status) {
            (Transition::RiskRejected, Submitted) if unfilled => (Rejected, ReportKind::Rejected),
            (Transition::CancelRequested, Submitted | Accepted | PartiallyFilled) => {
                (PendingCancel, ReportKind::PendingCancel)
            }
            (Transition::Venue(E::Accepted(_)), Submitted) => (Accepted, ReportKind::Accepted),
            // A cancel requested before the venue accepted stays pending.
            (Transition::Venue(E::Accepted(_)), PendingCancel) if unfilled => {
                (PendingCancel, ReportKind::Accepted)
            }
            (Transition::Venue(E::Rejected(_)), Submitted | PendingCancel) if unfilled => {
                (Rejected, ReportKind::Rejected)
            }
            (Transition::Venue(E::Triggered), _)
                if working && !self.triggered && self.request.order_type.stop().is_some() =>
            {
                (self.status, ReportKind::Triggered)
            }
            (Transition::Venue(E::Fill(f)), _)
                if working && f.qty > Decimal::ZERO && f.qty <= self.remaining() =>
            {
                let status = if f.qty == self.remaining() {
                    Filled
                } else if self.status == PendingCancel {
                    PendingCancel
                } else {
                    PartiallyFilled
                };
                (status, ReportKind::Fill)
            }
            (Transition::Venue(E::Cancelled(_)), _) if working || self.status == Submitted => {
                (Cancelled, ReportKind::Cancelled)
            }
            (Transition::Venue(E::Expired(_)), _) if working => (Expired, ReportKind::Expired),
            (Transition::Venue(E::Replaced { qty, .. }), Accepted | PartiallyFilled)
                if *qty > self.filled_qty =>
            {
                (self.status, ReportKind::Replaced)
            }
            _ => return None,
        })
    }

    /// Applies an event. `Ok(None)`: a duplicate or stale event, ignored.
    pub fn apply(&mut self, event: &VenueEvent) -> Result<Option<ReportKind>, TransitionError> {
        use VenueEventKind as E;
        if event.event_id <= self.last_event {
            return Ok(None);
        }
        let refuse = || TransitionError {
            order_id: self.id,
            status: self.status,
            event: event.kind.clone(),
        };
        let (status, kind) = self
            .next(Transition::Venue(&event.kind))
            .ok_or_else(refuse)?;
        match &event.kind {
            E::Fill(f) => {
                self.filled_qty += f.qty;
                // Each fill's notional fits (the venue checked it); their
                // sum saturates rather than panics.
                self.filled_notional = self
                    .filled_notional
                    .saturating_add(f.qty.saturating_mul(f.price));
            }
            E::Triggered => self.triggered = true,
            E::Accepted(id) => self.venue_order_id = Some(id.clone()),
            E::Replaced { qty, order_type } => {
                self.request.qty = *qty;
                self.request.order_type = *order_type;
            }
            _ => {}
        }
        self.status = status;
        self.last_event = event.event_id;
        Ok(Some(kind))
    }
}

/// Reason given when a strategy cancels its own order.
pub const CANCELLED_BY_STRATEGY: &str = "cancelled by strategy";

/// A change to an order (or a refused request about one), as reported to
/// inventory, the strategy and post-trade.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderReport {
    /// Session-wide, strictly increasing.
    pub sequence: u64,
    /// The order.
    pub order_id: OrderId,
    /// The venue's id for it, once accepted.
    pub venue_order_id: Option<String>,
    /// The intent that created it.
    pub intent_id: IntentId,
    /// Who it belongs to.
    pub attribution: Arc<Attribution>,
    /// What is ordered (after any replace).
    pub request: OrderRequest,
    /// What happened.
    pub kind: ReportKind,
    /// Status after this event.
    pub status: OrderStatus,
    /// The fill this event carries, if any.
    pub fill: Option<Fill>,
    /// Quantity filled so far, after this event.
    pub filled_qty: Decimal,
    /// Why it was refused, cancelled or expired; empty otherwise.
    pub reason: String,
    /// When it happened.
    pub time: Timestamp,
}

/// Open orders of one execution context, instrument, side and reduce-only
/// flag, summed by how risk values them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Working {
    /// Orders.
    pub count: u64,
    /// Σ remaining × limit price of limit and stop-limit orders.
    pub limit_notional: Decimal,
    /// Σ remaining × stop price of stop orders.
    pub stop_notional: Decimal,
    /// Σ remaining of market orders (valued at the mark when asked).
    pub market_qty: Decimal,
}

impl Working {
    /// Adds (`sign` 1) or removes (`sign` −1) `order`'s contribution.
    /// Saturating: an order's own notional fits (risk checked it), and a
    /// sum beyond the decimal range only reserves more.
    fn add(&mut self, order: &Order, sign: Decimal) {
        let remaining = order.remaining() * sign;
        let notional = |price: Decimal| remaining.checked_mul(price).unwrap_or(Decimal::MAX * sign);
        self.count = if sign.is_sign_positive() {
            self.count + 1
        } else {
            self.count.saturating_sub(1)
        };
        match order.request.order_type {
            OrderType::Limit { price } | OrderType::StopLimit { limit: price, .. } => {
                self.limit_notional = self.limit_notional.saturating_add(notional(price));
            }
            OrderType::Stop { stop } => {
                self.stop_notional = self.stop_notional.saturating_add(notional(stop));
            }
            OrderType::Market => self.market_qty = self.market_qty.saturating_add(remaining),
        }
    }
}

/// Key of a [`Working`] sum: execution index, instrument, whether the
/// orders are buys, whether they are reduce-only.
pub type WorkingKey = (usize, InstrumentId, bool, bool);

/// Sums over the open orders that risk and views read at every intent and
/// step, kept up to date as orders change, so that no step walks every
/// open order of a strategy's history.
#[derive(Debug, Default)]
struct Totals {
    /// Open orders per strategy index.
    open: BTreeMap<usize, BTreeSet<OrderId>>,
    /// Σ remaining per (strategy index, instrument, is a buy).
    remaining: BTreeMap<(usize, InstrumentId, bool), Decimal>,
    /// Per execution context, instrument, side and reduce-only flag.
    working: BTreeMap<WorkingKey, Working>,
}

impl Totals {
    fn track(&mut self, order: &Order, sign: Decimal) {
        let a = &order.attribution;
        let r = &order.request;
        let ids = self.open.entry(a.strategy_index).or_default();
        if sign.is_sign_positive() {
            ids.insert(order.id);
        } else {
            ids.remove(&order.id);
        }
        let remaining = self
            .remaining
            .entry((a.strategy_index, r.instrument, r.side == Side::Buy))
            .or_default();
        *remaining = remaining.saturating_add(order.remaining() * sign);
        self.working
            .entry((
                a.execution_index,
                r.instrument,
                r.side == Side::Buy,
                r.reduce_only,
            ))
            .or_default()
            .add(order, sign);
    }
}

/// Every order of a session, by id, and the sequence of their reports.
#[derive(Debug, Default)]
pub struct OrderBook {
    /// Every order that reached an adapter, terminal ones included (late
    /// events for them must be recognised as such). Orders refused before
    /// are not kept: nothing can happen to them.
    orders: BTreeMap<OrderId, Order>,
    /// Ids of the open orders: views and risk read these every step.
    open: BTreeSet<OrderId>,
    totals: Totals,
    sequence: u64,
}

impl OrderBook {
    /// The next report sequence number (also for reports of intents refused
    /// before they became orders).
    pub fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    fn report(
        &mut self,
        order: &Order,
        kind: ReportKind,
        fill: Option<Fill>,
        reason: String,
        time: Timestamp,
    ) -> OrderReport {
        OrderReport {
            sequence: self.next_sequence(),
            order_id: order.id,
            venue_order_id: order.venue_order_id.clone(),
            intent_id: order.intent_id,
            attribution: Arc::clone(&order.attribution),
            request: order.request.clone(),
            kind,
            status: order.status,
            fill,
            filled_qty: order.filled_qty,
            reason,
            time,
        }
    }

    /// Records a new order sent to its adapter.
    pub fn submit(
        &mut self,
        order_id: OrderId,
        intent: &Intent,
        request: OrderRequest,
    ) -> OrderReport {
        let order = Order::submitted(
            order_id,
            intent.id,
            Arc::clone(&intent.attribution),
            request,
        );
        let report = self.report(
            &order,
            ReportKind::Submitted,
            None,
            String::new(),
            intent.time,
        );
        self.totals.track(&order, Decimal::ONE);
        self.orders.insert(order_id, order);
        self.open.insert(order_id);
        report
    }

    /// Records an order refused before it reached an adapter.
    pub fn reject(
        &mut self,
        order_id: OrderId,
        intent: &Intent,
        request: OrderRequest,
        reason: String,
    ) -> OrderReport {
        let mut order = Order::submitted(
            order_id,
            intent.id,
            Arc::clone(&intent.attribution),
            request,
        );
        // A new order is unfilled and submitted: risk can always refuse it.
        let (status, kind) = order
            .next(Transition::RiskRejected)
            .unwrap_or((OrderStatus::Rejected, ReportKind::Rejected));
        order.status = status;
        self.report(&order, kind, None, reason, intent.time)
    }

    /// Marks a cancel as requested. `None` if the order is not open.
    pub fn request_cancel(&mut self, order_id: OrderId, time: Timestamp) -> Option<OrderReport> {
        let order = self.orders.get_mut(&order_id)?;
        let (status, kind) = order.next(Transition::CancelRequested)?;
        order.status = status;
        let order = order.clone();
        Some(self.report(&order, kind, None, String::new(), time))
    }

    /// A report that a cancel or replace of `order_id` by `intent` was
    /// refused. The order, if it exists, is unchanged.
    pub fn refuse_request(
        &mut self,
        kind: ReportKind,
        order_id: OrderId,
        intent: &Intent,
        request: Option<OrderRequest>,
        reason: String,
    ) -> OrderReport {
        let order = self
            .orders
            .get(&order_id)
            .filter(|o| o.attribution.strategy_index == intent.attribution.strategy_index)
            .cloned();
        let mut report = match order {
            Some(order) => self.report(&order, kind, None, reason, intent.time),
            None => {
                let placeholder = Order::submitted(
                    order_id,
                    intent.id,
                    Arc::clone(&intent.attribution),
                    request.unwrap_or_else(unknown_request),
                );
                let mut report = self.report(&placeholder, kind, None, reason, intent.time);
                report.status = OrderStatus::Rejected;
                report
            }
        };
        report.intent_id = intent.id;
        report
    }

    /// Applies an adapter event; `None` if it is a duplicate, stale, for an
    /// unknown order, or not allowed (the last two are logged).
    pub fn apply(&mut self, event: &VenueEvent) -> Option<OrderReport> {
        let Some(order) = self.orders.get_mut(&event.order_id) else {
            tracing::warn!(order_id = %event.order_id, "event for an unknown order ignored: {:?}", event.kind);
            return None;
        };
        let before = order.clone();
        match order.apply(event) {
            Ok(Some(kind)) => {
                let order = order.clone();
                self.totals.track(&before, Decimal::NEGATIVE_ONE);
                if order.is_open() {
                    self.totals.track(&order, Decimal::ONE);
                } else {
                    self.open.remove(&order.id);
                }
                let (fill, reason) = match &event.kind {
                    VenueEventKind::Fill(f) => (Some(*f), String::new()),
                    VenueEventKind::Rejected(r)
                    | VenueEventKind::Cancelled(r)
                    | VenueEventKind::Expired(r) => (None, r.clone()),
                    _ => (None, String::new()),
                };
                Some(self.report(&order, kind, fill, reason, event.time))
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!("adapter event ignored: {e}");
                None
            }
        }
    }

    /// The order with this id, if any.
    pub fn get(&self, id: OrderId) -> Option<&Order> {
        self.orders.get(&id)
    }

    /// Open orders of strategy `strategy_index`, oldest first.
    pub fn open_orders(&self, strategy_index: usize) -> impl Iterator<Item = &Order> + Clone {
        self.totals
            .open
            .get(&strategy_index)
            .into_iter()
            .flatten()
            .filter_map(|id| self.orders.get(id))
    }

    /// How many open orders strategy `strategy_index` has.
    pub fn open_count(&self, strategy_index: usize) -> usize {
        self.totals
            .open
            .get(&strategy_index)
            .map_or(0, BTreeSet::len)
    }

    /// Σ remaining quantity of strategy `strategy_index`'s open `side`
    /// orders on `instrument`.
    pub fn working_qty(
        &self,
        strategy_index: usize,
        instrument: InstrumentId,
        side: Side,
    ) -> Decimal {
        self.totals
            .remaining
            .get(&(strategy_index, instrument, side == Side::Buy))
            .copied()
            .unwrap_or_default()
    }

    /// The open orders of execution context `execution_index`, summed per
    /// instrument, side and reduce-only flag.
    pub fn working(&self, execution_index: usize) -> impl Iterator<Item = (&WorkingKey, &Working)> {
        self.totals
            .working
            .range((execution_index, InstrumentId(0), false, false)..)
            .take_while(move |(k, _)| k.0 == execution_index)
            .filter(|(_, w)| w.count > 0)
    }

    /// Every open order, oldest first.
    pub fn open(&self) -> impl Iterator<Item = &Order> + Clone {
        self.open.iter().filter_map(|id| self.orders.get(id))
    }
}

/// Stand-in request of a report about an order id the strategy does not have.
fn unknown_request() -> OrderRequest {
    OrderRequest {
        instrument: InstrumentId(u32::MAX),
        side: Side::Buy,
        order_type: OrderType::Market,
        tif: crate::model::TimeInForce::Gtc,
        qty: Decimal::ZERO,
        reduce_only: false,
        post_only: false,
        client_tag: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intents::Action;
    use crate::inventory::{Account, AccountKind, Inventory};
    use crate::model::TimeInForce;
    use crate::model::{
        Currency, ExecutionId, InstrumentId, RouteId, Side, SnapshotId, StrategyId,
    };
    use proptest::prelude::*;

    fn intent(qty: i64, side: Side) -> (Intent, OrderRequest) {
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
            side,
            order_type: OrderType::Limit {
                price: Decimal::ONE,
            },
            tif: TimeInForce::Gtc,
            qty: Decimal::from(qty),
            reduce_only: false,
            post_only: false,
            client_tag: String::new(),
        };
        let intent = Intent {
            id: IntentId(1),
            attribution,
            snapshot_id: SnapshotId(1),
            time: 0,
            action: Action::Place {
                order_id: OrderId(1),
                request: request.clone(),
            },
        };
        (intent, request)
    }

    fn event(event_id: u64, kind: VenueEventKind) -> VenueEvent {
        VenueEvent {
            order_id: OrderId(1),
            event_id,
            time: event_id as i64,
            kind,
        }
    }

    fn fill(qty: i64, price: i64) -> VenueEventKind {
        VenueEventKind::Fill(Fill {
            qty: Decimal::from(qty),
            price: Decimal::new(price, 2),
            commission: Decimal::new(qty, 3),
            maker: false,
        })
    }

    #[test]
    fn the_hosts_own_transitions_are_in_the_table() {
        use OrderStatus::*;
        let (intent, request) = intent(10, Side::Buy);
        let order = Order::submitted(OrderId(1), intent.id, intent.attribution, request);
        for status in [
            Submitted,
            Accepted,
            Rejected,
            PartiallyFilled,
            Filled,
            PendingCancel,
            Cancelled,
            Expired,
        ] {
            let order = Order {
                status,
                ..order.clone()
            };
            assert_eq!(
                order.next(Transition::CancelRequested).is_some(),
                matches!(status, Submitted | Accepted | PartiallyFilled),
                "cancel requested in {status:?}"
            );
            assert_eq!(
                order.next(Transition::RiskRejected),
                (status == Submitted).then_some((Rejected, ReportKind::Rejected)),
                "risk refusal in {status:?}"
            );
        }
        let (intent, request) = self::intent(10, Side::Buy);
        let refused = OrderBook::default().reject(OrderId(1), &intent, request, "no".into());
        assert_eq!(
            (refused.kind, refused.status),
            (ReportKind::Rejected, Rejected)
        );
    }

    #[test]
    fn lifecycle() {
        let (intent, request) = intent(10, Side::Buy);
        let mut book = OrderBook::default();
        let submitted = book.submit(OrderId(1), &intent, request);
        assert_eq!(
            (submitted.sequence, submitted.kind, submitted.status),
            (1, ReportKind::Submitted, OrderStatus::Submitted)
        );
        assert!(
            book.apply(&event(1, fill(1, 100))).is_none(),
            "no fill before accept"
        );
        let accepted = book
            .apply(&event(2, VenueEventKind::Accepted("v-7".into())))
            .unwrap();
        assert_eq!(
            (accepted.sequence, accepted.status),
            (2, OrderStatus::Accepted)
        );
        assert_eq!(accepted.venue_order_id.as_deref(), Some("v-7"));
        assert_eq!(
            book.apply(&event(3, fill(4, 100))).unwrap().status,
            OrderStatus::PartiallyFilled
        );
        assert!(book.apply(&event(3, fill(4, 100))).is_none(), "duplicate");
        assert!(
            book.apply(&event(2, VenueEventKind::Accepted("v-7".into())))
                .is_none(),
            "stale"
        );
        assert_eq!(
            book.request_cancel(OrderId(1), 4).unwrap().status,
            OrderStatus::PendingCancel
        );
        let filled = book.apply(&event(4, fill(6, 110))).unwrap();
        assert_eq!(
            (filled.status, filled.filled_qty),
            (OrderStatus::Filled, Decimal::from(10))
        );
        assert_eq!(
            book.get(OrderId(1)).unwrap().avg_fill_price(),
            Some(Decimal::new(106, 2))
        );
        assert!(
            book.apply(&event(5, VenueEventKind::Cancelled("late".into())))
                .is_none(),
            "terminal stays terminal"
        );
        assert!(book.request_cancel(OrderId(1), 6).is_none());
        assert_eq!(book.open().count(), 0);
    }

    fn any_event() -> impl Strategy<Value = VenueEventKind> {
        prop_oneof![
            Just(VenueEventKind::Accepted("v".into())),
            Just(VenueEventKind::Triggered),
            (0i64..12, 90i64..110).prop_map(|(q, p)| fill(q, p)),
            Just(VenueEventKind::Cancelled("c".into())),
            Just(VenueEventKind::Expired("e".into())),
            Just(VenueEventKind::Rejected("r".into())),
            (1i64..15).prop_map(|q| VenueEventKind::Replaced {
                qty: Decimal::from(q),
                order_type: OrderType::Limit {
                    price: Decimal::TWO
                }
            }),
        ]
    }

    proptest! {
        /// Whatever an adapter sends, in whatever order and however often:
        /// no fill before acceptance, terminal stays terminal, filled
        /// quantity is monotonic and bounded, the average price matches the
        /// fills, repeats change nothing, and cash + position value is
        /// conserved through every fill and fee.
        #[test]
        fn invariants_hold_for_any_event_stream(
            events in proptest::collection::vec((1u64..40, any_event()), 0..60),
            sell in any::<bool>(),
        ) {
            let side = if sell { Side::Sell } else { Side::Buy };
            let (intent, request) = intent(10, side);
            let mut book = OrderBook::default();
            let usd = Currency::new("USD");
            let account = Account::new(ExecutionId::new("e"), usd.clone(), AccountKind::Margin { leverage: Decimal::ONE }, [(usd.clone(), Decimal::from(1000))].into());
            let mut inventory = Inventory::new(vec![account], vec![0], 1);
            inventory.apply(&book.submit(OrderId(1), &intent, request), &usd);
            let (mut accepted, mut fills) = (false, Vec::new());
            for (event_id, kind) in events {
                let before = book.get(OrderId(1)).unwrap().clone();
                let report = book.apply(&event(event_id, kind.clone()));
                let after = book.get(OrderId(1)).unwrap().clone();
                match &report {
                    None => prop_assert_eq!(&after, &before, "refused or repeated events change nothing"),
                    Some(report) => {
                        prop_assert!(!before.status.is_terminal());
                        prop_assert!(event_id > before.last_event);
                        if let Some(fill) = report.fill {
                            prop_assert!(accepted, "fill before accept");
                            fills.push(fill);
                        }
                        inventory.apply(report, &usd);
                    }
                }
                accepted |= after.status != OrderStatus::Submitted && after.status != OrderStatus::Rejected;
                prop_assert_eq!(book.open().count(), usize::from(after.is_open()));
                // The running sums risk reads equal a walk of the open orders.
                let open: Vec<&Order> = book.open().collect();
                prop_assert_eq!(book.open_count(0), open.len());
                prop_assert_eq!(
                    book.working_qty(0, InstrumentId(0), side),
                    open.iter().map(|o| o.remaining()).sum::<Decimal>()
                );
                let limit_notional: Decimal = book.working(0).map(|(_, w)| w.limit_notional).sum();
                let count: u64 = book.working(0).map(|(_, w)| w.count).sum();
                prop_assert_eq!(
                    limit_notional,
                    open.iter().map(|o| o.remaining() * o.request.order_type.limit().unwrap_or_default()).sum::<Decimal>()
                );
                prop_assert_eq!(count, open.len() as u64);
                prop_assert!(after.filled_qty >= before.filled_qty);
                prop_assert!(after.filled_qty <= after.request.qty);
                prop_assert_eq!(after.status == OrderStatus::Filled, !after.filled_qty.is_zero() && after.filled_qty == after.request.qty);
                let notional: Decimal = fills.iter().map(|f| f.qty * f.price).sum();
                prop_assert_eq!(after.filled_notional, notional);
                let fees: Decimal = fills.iter().map(|f| f.commission).sum();
                let position = inventory.position(0, InstrumentId(0));
                prop_assert_eq!(position.qty, side.sign() * after.filled_qty);
                // Cash spent on the position is its cost (or came back as PnL).
                let cash = inventory.account(0).balance(&usd);
                prop_assert_eq!(cash + position.cost - position.realized_pnl + fees, Decimal::from(1000));
            }
        }
    }
}

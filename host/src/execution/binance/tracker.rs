//! What the venue has told us about each of our orders, and the one place
//! venue messages become [`VenueEvent`]s.
//!
//! The same facts reach us several ways — the answer to a request, the
//! user-data stream (possibly repeated, reordered or with gaps after a
//! dropped connection) and queries — so the tracker keys every fill by the
//! venue's trade id and every state by its rank, and emits each change
//! once, in an order the host's state machine accepts: accepted before any
//! fill, every fill before the terminal state. When the venue's cumulative
//! quantity runs ahead of the fills seen, the caller is told to fetch the
//! order's trades: a fill is never guessed.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use crate::execution::orders::{VenueEvent, VenueEventKind};
use crate::model::Fill;
use crate::model::{InstrumentId, OrderId, Timestamp};

/// An order's status as the venue names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum VenueStatus {
    /// Accepted, nothing filled.
    New,
    /// Part filled, the rest working.
    PartiallyFilled,
    /// Completely filled.
    Filled,
    /// Cancelled.
    Canceled,
    /// Refused.
    Rejected,
    /// Time in force ran out (IOC/FOK remainder).
    Expired,
}

impl VenueStatus {
    /// Parses Binance's `status` / `X` field.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "NEW" | "PENDING_NEW" => Self::New,
            "PARTIALLY_FILLED" => Self::PartiallyFilled,
            "FILLED" => Self::Filled,
            "CANCELED" | "PENDING_CANCEL" => Self::Canceled,
            "REJECTED" => Self::Rejected,
            "EXPIRED" | "EXPIRED_IN_MATCH" => Self::Expired,
            _ => return None,
        })
    }

    fn is_terminal(self) -> bool {
        !matches!(self, Self::New | Self::PartiallyFilled)
    }
}

/// One trade of one of our orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradeFill {
    /// The venue's trade id (unique per symbol).
    pub trade_id: i64,
    /// Quantity.
    pub qty: Decimal,
    /// Price.
    pub price: Decimal,
    /// Fee, in the instrument's quote currency.
    pub commission: Decimal,
    /// Whether we were the maker.
    pub maker: bool,
    /// When it traded.
    pub time: Timestamp,
}

/// The venue's view of one order at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderUpdate {
    /// Our client order id.
    pub client_id: String,
    /// The venue's order id.
    pub venue_id: i64,
    /// Its status.
    pub status: VenueStatus,
    /// Quantity filled so far at the venue.
    pub cum_qty: Decimal,
    /// The trade this update reports, if any.
    pub trade: Option<TradeFill>,
    /// The venue's reason, for rejections.
    pub reason: Option<String>,
    /// When.
    pub time: Timestamp,
}

/// What [`Tracker::observe`] made of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// Applied (possibly as nothing new).
    Applied,
    /// The venue has filled more than the trades seen: fetch the trades of
    /// venue order `venue_id` and feed them to [`Tracker::trade`], then
    /// observe the update again.
    Gap {
        /// The venue's order id.
        venue_id: i64,
    },
    /// Not one of this session's orders.
    Unknown,
}

#[derive(Debug, Clone)]
struct Tracked {
    order_id: OrderId,
    instrument: InstrumentId,
    qty: Decimal,
    venue_id: Option<i64>,
    accepted: bool,
    done: bool,
    filled: Decimal,
    trades: BTreeSet<i64>,
    events: u64,
}

impl Tracked {
    fn emit(&mut self, time: Timestamp, kind: VenueEventKind, out: &mut Vec<VenueEvent>) {
        self.events += 1;
        out.push(VenueEvent {
            order_id: self.order_id,
            event_id: self.events,
            time,
            kind,
        });
    }
}

/// Our orders at one venue, by client order id.
#[derive(Debug, Default)]
pub struct Tracker {
    orders: BTreeMap<String, Tracked>,
    by_id: BTreeMap<OrderId, String>,
}

impl Tracker {
    /// Starts tracking order `order_id`, sent under `client_id`.
    pub fn track(
        &mut self,
        client_id: &str,
        order_id: OrderId,
        instrument: InstrumentId,
        qty: Decimal,
    ) {
        self.by_id.insert(order_id, client_id.to_owned());
        self.orders.insert(
            client_id.to_owned(),
            Tracked {
                order_id,
                instrument,
                qty,
                venue_id: None,
                accepted: false,
                done: false,
                filled: Decimal::ZERO,
                trades: BTreeSet::new(),
                events: 0,
            },
        );
    }

    /// The client order id of host order `order_id`.
    pub fn client_id(&self, order_id: OrderId) -> Option<&str> {
        self.by_id.get(&order_id).map(String::as_str)
    }

    /// The venue's id and instrument of a tracked order, once known.
    pub fn venue_id(&self, client_id: &str) -> Option<i64> {
        self.orders.get(client_id).and_then(|t| t.venue_id)
    }

    /// Client ids and instruments of the orders not yet known to be done.
    pub fn working(&self) -> impl Iterator<Item = (&str, InstrumentId)> {
        self.orders
            .iter()
            .filter(|(_, t)| !t.done)
            .map(|(c, t)| (c.as_str(), t.instrument))
    }

    /// Whether any order may still change.
    pub fn is_idle(&self) -> bool {
        self.orders.values().all(|t| t.done)
    }

    /// The venue refused the request outright (no order exists there).
    pub fn refused(
        &mut self,
        client_id: &str,
        reason: String,
        time: Timestamp,
        out: &mut Vec<VenueEvent>,
    ) {
        if let Some(t) = self
            .orders
            .get_mut(client_id)
            .filter(|t| !t.accepted && !t.done)
        {
            t.done = true;
            t.emit(time, VenueEventKind::Rejected(reason), out);
        }
    }

    /// A trade of one of our orders, from any source; repeated trades change nothing.
    pub fn trade(&mut self, client_id: &str, fill: TradeFill, out: &mut Vec<VenueEvent>) -> bool {
        let Some(t) = self.orders.get_mut(client_id) else {
            return false;
        };
        if !t.trades.insert(fill.trade_id) {
            return true;
        }
        if !t.accepted {
            // A trade proves the venue took the order.
            t.accepted = true;
            let venue = t.venue_id.map(|v| v.to_string()).unwrap_or_default();
            t.emit(fill.time, VenueEventKind::Accepted(venue), out);
        }
        t.filled += fill.qty;
        t.emit(
            fill.time,
            VenueEventKind::Fill(Fill {
                qty: fill.qty,
                price: fill.price,
                commission: fill.commission,
                maker: fill.maker,
            }),
            out,
        );
        if t.filled >= t.qty {
            t.done = true;
        }
        true
    }

    /// Folds the venue's view of an order into ours.
    pub fn observe(&mut self, update: &OrderUpdate, out: &mut Vec<VenueEvent>) -> Observed {
        let Some(t) = self.orders.get_mut(&update.client_id) else {
            return Observed::Unknown;
        };
        t.venue_id = Some(update.venue_id);
        if update.status == VenueStatus::Rejected {
            if !t.accepted && !t.done {
                t.done = true;
                let reason = update
                    .reason
                    .clone()
                    .unwrap_or_else(|| "rejected by the venue".into());
                t.emit(update.time, VenueEventKind::Rejected(reason), out);
            }
            return Observed::Applied;
        }
        if !t.accepted && !t.done {
            t.accepted = true;
            t.emit(
                update.time,
                VenueEventKind::Accepted(update.venue_id.to_string()),
                out,
            );
        }
        let new_trade = update.trade.filter(|f| !t.trades.contains(&f.trade_id));
        // Trades before this one are missing: fetch them all, in order.
        if update.cum_qty > t.filled + new_trade.map_or(Decimal::ZERO, |f| f.qty) {
            return Observed::Gap {
                venue_id: update.venue_id,
            };
        }
        if let Some(fill) = new_trade {
            self.trade(&update.client_id, fill, out);
        }
        let Some(t) = self.orders.get_mut(&update.client_id) else {
            return Observed::Applied;
        };
        if update.status.is_terminal() && !t.done {
            t.done = true;
            let reason = update.reason.clone();
            match update.status {
                VenueStatus::Canceled => t.emit(
                    update.time,
                    VenueEventKind::Cancelled(
                        reason.unwrap_or_else(|| "cancelled at the venue".into()),
                    ),
                    out,
                ),
                VenueStatus::Expired => t.emit(
                    update.time,
                    VenueEventKind::Expired(
                        reason.unwrap_or_else(|| "expired at the venue (time in force)".into()),
                    ),
                    out,
                ),
                _ => {}
            }
        }
        Observed::Applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn trade(id: i64, qty: &str) -> TradeFill {
        TradeFill {
            trade_id: id,
            qty: d(qty),
            price: d("1.5"),
            commission: d("0.01"),
            maker: true,
            time: 10,
        }
    }

    fn update(status: VenueStatus, cum: &str, trade: Option<TradeFill>) -> OrderUpdate {
        OrderUpdate {
            client_id: "c1".into(),
            venue_id: 77,
            status,
            cum_qty: d(cum),
            trade,
            reason: None,
            time: 10,
        }
    }

    /// The updates of one order: new, two partial fills, cancel of the rest.
    fn stream() -> Vec<OrderUpdate> {
        vec![
            update(VenueStatus::New, "0", None),
            update(VenueStatus::PartiallyFilled, "3", Some(trade(1, "3"))),
            update(VenueStatus::PartiallyFilled, "5", Some(trade(2, "2"))),
            update(VenueStatus::Canceled, "5", None),
        ]
    }

    fn kinds(events: &[VenueEvent]) -> Vec<String> {
        events
            .iter()
            .map(|e| match &e.kind {
                VenueEventKind::Fill(f) => format!("fill {}", f.qty),
                other => format!("{other:?}").split('(').next().unwrap().to_owned(),
            })
            .collect()
    }

    /// Delivers `updates` to a fresh tracker, answering gaps with the
    /// order's trades as a query would.
    fn deliver(updates: &[OrderUpdate]) -> Vec<VenueEvent> {
        let mut tracker = Tracker::default();
        tracker.track("c1", OrderId(1), InstrumentId(0), d("10"));
        let mut out = Vec::new();
        for u in updates {
            if let Observed::Gap { venue_id } = tracker.observe(u, &mut out) {
                assert_eq!(venue_id, 77);
                for t in [trade(1, "3"), trade(2, "2")] {
                    tracker.trade("c1", t, &mut out);
                }
                assert_eq!(tracker.observe(u, &mut out), Observed::Applied);
            }
        }
        out
    }

    #[test]
    fn in_order_stream_gives_each_change_once() {
        let events = deliver(&stream());
        assert_eq!(
            kinds(&events),
            ["Accepted", "fill 3", "fill 2", "Cancelled"]
        );
        let ids: Vec<u64> = events.iter().map(|e| e.event_id).collect();
        assert_eq!(ids, [1, 2, 3, 4]);
    }

    #[test]
    fn a_cancel_ahead_of_its_last_fill_waits_for_the_trades() {
        let mut s = stream();
        s.swap(2, 3);
        assert_eq!(
            kinds(&deliver(&s)),
            ["Accepted", "fill 3", "fill 2", "Cancelled"]
        );
    }

    #[test]
    fn unknown_orders_are_not_ours() {
        let mut tracker = Tracker::default();
        let mut out = Vec::new();
        let observed = tracker.observe(&update(VenueStatus::New, "0", None), &mut out);
        assert_eq!(observed, Observed::Unknown);
        assert!(out.is_empty());
    }

    proptest! {
        /// Whatever the venue's stream does — repeat, reorder or drop
        /// messages — the events are the same as in order, once each.
        #[test]
        fn duplicates_reordering_and_gaps_change_nothing(
            picks in proptest::collection::vec(0usize..4, 1..12),
        ) {
            let s = stream();
            let mut delivered: Vec<OrderUpdate> = picks.iter().map(|&i| s[i].clone()).collect();
            // The final state always arrives in the end (a reconciliation
            // query returns it if the stream lost it).
            delivered.push(s[3].clone());
            let events = deliver(&delivered);
            prop_assert_eq!(kinds(&events), ["Accepted", "fill 3", "fill 2", "Cancelled"]);
        }
    }
}

//! Views: what one strategy sees at one step, cut from the step's immutable
//! snapshot and filtered to its registration. The market half (bars, quotes
//! and trades of subscribed instruments) comes from the snapshot
//! ([`fill_market_view`]); the account half (its positions, its execution
//! context's cash, its working orders and the reports on them) from
//! inventory and execution.
//!
//! Prices and quantities of an instrument are integers scaled by its
//! precisions ([`crate::strategy::InstrumentSpec`]), as a strategy receives
//! them; amounts not tied to one instrument are exact decimals.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::model::{
    Bar, InstrumentId, OrderId, OrderStatus, OrderType, Quote, ReportKind, Side, SnapshotId,
    TimeInForce, Timestamp, Trade,
};
use crate::state::Snapshot;

/// Everything a strategy sees at one step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    /// The snapshot the view was cut from.
    pub snapshot_id: SnapshotId,
    /// Time of the snapshot.
    pub time: Timestamp,
    /// Bars that closed at this step, of subscribed instruments.
    pub bars: Vec<Bar>,
    /// Quotes at this step, of subscribed instruments.
    pub quotes: Vec<Quote>,
    /// Trades printed at this step, of subscribed instruments.
    pub trades: Vec<Trade>,
    /// The strategy's account whenever it may have changed since its
    /// previous step (its first step, after a report on its orders, and
    /// while it has working orders); `None` means unchanged, no new reports.
    pub account: Option<AccountView>,
}

/// A strategy's own account in its execution context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// Currency the context values equity and margin in.
    pub base_currency: String,
    /// Balances plus marked positions of the whole execution context, in
    /// `base_currency`.
    pub equity: Decimal,
    /// Initial margin held by the context's positions and working orders,
    /// in `base_currency` (zero for cash accounts).
    pub margin_used: Decimal,
    /// Non-zero positions of this strategy.
    pub positions: Vec<PositionView>,
    /// Cash of the execution context, one entry per currency.
    pub balances: Vec<BalanceView>,
    /// Orders of this strategy that are still working.
    pub open_orders: Vec<OpenOrderView>,
    /// Reports on this strategy's orders since its previous step.
    pub reports: Vec<ReportView>,
}

/// The strategy's net position in one instrument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionView {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Signed quantity, scaled: positive is long.
    pub qty: i64,
    /// Average entry price of the open quantity.
    pub avg_price: Decimal,
}

/// Cash in one currency of the strategy's execution context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    /// Currency code.
    pub currency: String,
    /// Cash held, including cash reserved by open buy orders.
    pub total: Decimal,
    /// Cash not reserved by open orders.
    pub free: Decimal,
}

/// A working order of the strategy, prices and quantities scaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenOrderView {
    /// The order.
    pub id: OrderId,
    /// Its instrument.
    pub instrument: InstrumentId,
    /// Its side.
    pub side: Side,
    /// Current type and scaled prices (after any replace).
    pub order_type: OrderType<i64>,
    /// Time in force.
    pub time_in_force: TimeInForce,
    /// Ordered quantity (after any replace), scaled.
    pub qty: i64,
    /// Quantity filled so far, scaled.
    pub filled_qty: i64,
    /// Where the order is in its life.
    pub status: OrderStatus,
    /// Whether a stop or stop-limit order has triggered.
    pub triggered: bool,
    /// Reduce-only flag.
    pub reduce_only: bool,
    /// Post-only flag.
    pub post_only: bool,
    /// The strategy's tag.
    pub client_tag: String,
}

/// A change to one of the strategy's orders since its previous step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportView {
    /// Session-wide, strictly increasing across all reports.
    pub sequence: u64,
    /// The order.
    pub order_id: OrderId,
    /// Its instrument, as the strategy named it.
    pub instrument: InstrumentId,
    /// Its side.
    pub side: Side,
    /// What happened.
    pub kind: ReportKind,
    /// Status after this event.
    pub status: OrderStatus,
    /// The strategy's tag.
    pub client_tag: String,
    /// Quantity filled by this event (0 if none), scaled.
    pub fill_qty: i64,
    /// Price of this event's fill (0 if none), scaled.
    pub fill_price: i64,
    /// Whether this event's fill added liquidity.
    pub maker: bool,
    /// Fee charged for this event's fill, in the quote currency.
    pub commission: Decimal,
    /// Why the order, cancel or replace was refused, cancelled or expired;
    /// empty otherwise.
    pub reason: String,
    /// When the event happened.
    pub time: Timestamp,
}

/// Fills the market part of a strategy's view: snapshot id, time and the
/// bars, quotes and trades of subscribed instruments (`subscribed[i]` for
/// instrument `i`). Returns whether any subscribed data is present.
pub fn fill_market_view(view: &mut View, snapshot: &Snapshot, subscribed: &[bool]) -> bool {
    let wanted = |i: InstrumentId| subscribed[i.0 as usize];
    view.snapshot_id = snapshot.id();
    view.time = snapshot.time();
    view.quotes.clear();
    view.quotes
        .extend(snapshot.quotes().iter().filter(|q| wanted(q.instrument)));
    view.trades.clear();
    view.trades.extend(
        snapshot
            .all_trades()
            .iter()
            .filter(|t| wanted(t.instrument)),
    );
    view.bars.clear();
    view.bars
        .extend(snapshot.bars().iter().filter(|b| wanted(b.instrument)));
    !(view.bars.is_empty() && view.quotes.is_empty() && view.trades.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::market_data::MarketData;
    use crate::state::StateCoordinator;

    fn bar(instrument: u32, time: i64) -> Bar {
        Bar {
            instrument: InstrumentId(instrument),
            time,
            open: 1,
            high: 2,
            low: 1,
            close: 2,
            volume: 3,
        }
    }

    #[test]
    fn views_carry_only_subscribed_bars() {
        let data = MarketData::new(vec![vec![bar(0, 10)], vec![bar(1, 10), bar(1, 20)]]);
        let mut coordinator = StateCoordinator::new(data.into(), 2);
        let mut view = View::default();
        let snapshot = coordinator.advance().unwrap();
        assert_eq!((snapshot.id(), snapshot.bars().len()), (SnapshotId(1), 2));
        assert!(fill_market_view(&mut view, snapshot, &[false, true]));
        assert_eq!(
            view.bars.iter().map(|b| b.instrument).collect::<Vec<_>>(),
            vec![InstrumentId(1)]
        );
        let snapshot = coordinator.advance().unwrap();
        assert!(
            !fill_market_view(&mut view, snapshot, &[true, false]),
            "instrument 0 has no bar at 20"
        );
        assert_eq!(snapshot.last_bar(InstrumentId(0)).map(|b| b.time), Some(10));
        assert!(coordinator.advance().is_none());
    }
}

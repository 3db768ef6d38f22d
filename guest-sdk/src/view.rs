//! The per-step [`View`] a strategy reads, and lookups over it. Views hold a
//! handful of entries per instrument, so linear scans beat any index a
//! strategy would have to build.

use crate::bindings::cracktrader::strategy::types::View as StepView;
use crate::{
    Balance, Bar, Decimal, InstrumentId, OpenOrder, OrderReport, Position, Quote, Side, Timestamp,
    Trade,
};

/// Everything a strategy sees at one step: the market data of its
/// subscriptions, and its whole account.
///
/// The host sends the account only when it may have changed (see `view` in
/// the WIT); the SDK keeps the latest one here, so a strategy always sees
/// its current positions, cash and working orders, and exactly the reports
/// that arrived since its previous step.
#[derive(Debug, Clone)]
pub struct View {
    /// Identifies the snapshot this view was cut from.
    pub snapshot_id: u64,
    /// Time of the snapshot.
    pub time: Timestamp,
    /// Bars that closed at this step, for subscribed instruments only.
    pub bars: Vec<Bar>,
    /// Quotes at this step, for subscribed instruments with quote data.
    pub quotes: Vec<Quote>,
    /// Trades printed at this step, for subscribed instruments with trade data.
    pub trades: Vec<Trade>,
    /// Currency the execution context values equity and margin in.
    pub base_currency: String,
    /// Equity of the execution context, in `base_currency`.
    pub equity: Decimal,
    /// Margin held by the context's positions and orders, in `base_currency`.
    pub margin_used: Decimal,
    /// Non-zero positions of this strategy.
    pub positions: Vec<Position>,
    /// Cash of this strategy's execution context.
    pub balances: Vec<Balance>,
    /// Orders of this strategy that are still working.
    pub open_orders: Vec<OpenOrder>,
    /// Reports on this strategy's orders since its previous step.
    pub reports: Vec<OrderReport>,
}

impl Default for View {
    fn default() -> Self {
        Self {
            snapshot_id: 0,
            time: 0,
            bars: Vec::new(),
            quotes: Vec::new(),
            trades: Vec::new(),
            base_currency: String::new(),
            equity: Decimal::new(0, 0),
            margin_used: Decimal::new(0, 0),
            positions: Vec::new(),
            balances: Vec::new(),
            open_orders: Vec::new(),
            reports: Vec::new(),
        }
    }
}

impl View {
    /// Folds in one step as received from the host: new market data, and
    /// the account if the host sent it (else only the reports are cleared).
    pub fn update(&mut self, step: StepView) {
        self.snapshot_id = step.snapshot_id;
        self.time = step.time;
        self.bars = step.bars;
        self.quotes = step.quotes;
        self.trades = step.trades;
        match step.account {
            Some(account) => {
                self.base_currency = account.base_currency;
                self.equity = account.equity;
                self.margin_used = account.margin_used;
                self.positions = account.positions;
                self.balances = account.balances;
                self.open_orders = account.open_orders;
                self.reports = account.reports;
            }
            None => self.reports.clear(),
        }
    }

    /// The quote of `instrument` at this step, if any.
    pub fn quote(&self, instrument: InstrumentId) -> Option<&Quote> {
        self.quotes
            .iter()
            .find(|quote| quote.instrument == instrument)
    }

    /// Trades of `instrument` printed at this step.
    pub fn trades_of(&self, instrument: InstrumentId) -> impl Iterator<Item = &Trade> {
        self.trades
            .iter()
            .filter(move |trade| trade.instrument == instrument)
    }

    /// The bar of `instrument` that closed at this step, if any.
    pub fn bar(&self, instrument: InstrumentId) -> Option<&Bar> {
        self.bars.iter().find(|bar| bar.instrument == instrument)
    }

    /// The strategy's signed position in `instrument` (scaled by `qty_scale`),
    /// 0 if it has none.
    pub fn position(&self, instrument: InstrumentId) -> i64 {
        self.positions
            .iter()
            .find(|position| position.instrument == instrument)
            .map_or(0, |position| position.qty)
    }

    /// The strategy's working orders in `instrument`.
    pub fn open_orders_for(&self, instrument: InstrumentId) -> impl Iterator<Item = &OpenOrder> {
        self.open_orders
            .iter()
            .filter(move |order| order.instrument == instrument)
    }

    /// Total unfilled quantity of the strategy's working `side` orders in
    /// `instrument`: what may still be added to the position by them.
    pub fn open_qty(&self, instrument: InstrumentId, side: Side) -> i64 {
        self.open_orders_for(instrument)
            .filter(|order| order.side == side)
            .map(OpenOrder::remaining_qty)
            .sum()
    }

    /// Cash held in `currency`, if the execution context has any.
    pub fn balance(&self, currency: &str) -> Option<&Balance> {
        self.balances
            .iter()
            .find(|balance| balance.currency == currency)
    }
}

impl OpenOrder {
    /// The part of the order not filled yet.
    pub fn remaining_qty(&self) -> i64 {
        self.qty - self.filled_qty
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Decimal, OrderType, Position};

    fn bar(instrument: InstrumentId, close: i64) -> Bar {
        Bar {
            instrument,
            time: 0,
            open: close,
            high: close,
            low: close,
            close,
            volume: 0,
        }
    }

    fn order(
        id: u64,
        instrument: InstrumentId,
        side: Side,
        qty: i64,
        filled_qty: i64,
    ) -> OpenOrder {
        OpenOrder {
            id,
            instrument,
            side,
            order_type: OrderType::Market,
            time_in_force: crate::TimeInForce::Gtc,
            qty,
            filled_qty,
            status: crate::OrderStatus::Accepted,
            triggered: false,
            reduce_only: false,
            post_only: false,
            client_tag: String::new(),
        }
    }

    fn view() -> View {
        View {
            snapshot_id: 1,
            time: 0,
            bars: vec![bar(1, 100), bar(2, 200)],
            positions: vec![Position {
                instrument: 2,
                qty: -300,
                avg_price: Decimal::new(2, 0),
            }],
            balances: vec![Balance {
                currency: "USD".to_string(),
                total: Decimal::new(1000, 0),
                free: Decimal::new(900, 0),
            }],
            open_orders: vec![
                order(10, 1, Side::Buy, 100, 40),
                order(11, 1, Side::Buy, 50, 0),
                order(12, 1, Side::Sell, 70, 0),
                order(13, 2, Side::Buy, 5, 0),
            ],
            reports: Vec::new(),
            ..View::default()
        }
    }

    #[test]
    fn account_persists_until_the_host_sends_a_new_one() {
        use crate::bindings::cracktrader::strategy::types::Account;
        let mut view = view();
        view.reports.push(OrderReport {
            sequence: 1,
            order_id: 1,
            instrument: 1,
            side: Side::Buy,
            kind: crate::ReportKind::Fill,
            status: crate::OrderStatus::Filled,
            client_tag: String::new(),
            fill_qty: 1,
            fill_price: 1,
            maker: false,
            commission: Decimal::new(0, 0),
            reason: String::new(),
            time: 0,
        });
        view.update(StepView {
            snapshot_id: 2,
            time: 5,
            bars: vec![bar(1, 7)],
            quotes: Vec::new(),
            trades: Vec::new(),
            account: None,
        });
        assert_eq!((view.snapshot_id, view.time, view.bars.len()), (2, 5, 1));
        assert_eq!(view.position(2), -300, "account kept");
        assert!(
            view.reports.is_empty(),
            "reports are only those since the previous step"
        );
        let account = Account {
            base_currency: "USD".to_string(),
            equity: Decimal::new(5, 0),
            margin_used: Decimal::new(0, 0),
            positions: Vec::new(),
            balances: Vec::new(),
            open_orders: Vec::new(),
            reports: Vec::new(),
        };
        view.update(StepView {
            snapshot_id: 3,
            time: 6,
            bars: Vec::new(),
            quotes: Vec::new(),
            trades: Vec::new(),
            account: Some(account),
        });
        assert_eq!(view.position(2), 0, "account replaced");
        assert_eq!(
            (view.base_currency.as_str(), view.equity.mantissa),
            ("USD", 5)
        );
        assert!(view.open_orders.is_empty());
    }

    #[test]
    fn looks_up_by_instrument() {
        let view = view();
        assert_eq!(view.bar(2).map(|b| b.close), Some(200));
        assert!(view.bar(3).is_none());
        assert_eq!(view.position(2), -300);
        assert_eq!(view.position(1), 0);
        let ids: Vec<u64> = view.open_orders_for(1).map(|o| o.id).collect();
        assert_eq!(ids, [10, 11, 12]);
        assert_eq!(view.open_qty(1, Side::Buy), 110);
        assert_eq!(view.open_qty(1, Side::Sell), 70);
        assert_eq!(view.open_qty(3, Side::Buy), 0);
        assert_eq!(view.balance("USD").map(|b| b.free.mantissa), Some(900));
        assert!(view.balance("EUR").is_none());
    }
}

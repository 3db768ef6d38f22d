//! Lookups over the per-step [`View`]. Views hold a handful of entries per
//! instrument, so linear scans beat any index a strategy would have to build.

use crate::{Balance, Bar, InstrumentId, OpenOrder, Side, View};

impl View {
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
            qty,
            filled_qty,
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
        }
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

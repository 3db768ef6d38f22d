//! Constructors for the [`Intent`]s a strategy returns.

use crate::{InstrumentId, Intent, OrderType, PlaceOrder, Side};

impl Intent {
    /// Place a market order for `qty` (scaled by `qty_scale`, a positive
    /// multiple of the lot size), tagged `tag` in reports.
    pub fn market(
        instrument: InstrumentId,
        side: Side,
        qty: i64,
        tag: impl Into<String>,
    ) -> Intent {
        Intent::Place(PlaceOrder {
            instrument,
            side,
            order_type: OrderType::Market,
            qty,
            client_tag: tag.into(),
        })
    }

    /// Place a limit order for `qty` at `price` (scaled by `price_scale`, a
    /// multiple of the tick size), tagged `tag` in reports.
    pub fn limit(
        instrument: InstrumentId,
        side: Side,
        qty: i64,
        price: i64,
        tag: impl Into<String>,
    ) -> Intent {
        Intent::Place(PlaceOrder {
            instrument,
            side,
            order_type: OrderType::Limit(price),
            qty,
            client_tag: tag.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_place_orders() {
        let Intent::Place(market) = Intent::market(3, Side::Sell, 100, "exit") else {
            panic!("market() must place an order");
        };
        assert_eq!(
            (
                market.instrument,
                market.side,
                market.order_type,
                market.qty
            ),
            (3, Side::Sell, OrderType::Market, 100)
        );
        assert_eq!(market.client_tag, "exit");
        assert_eq!(
            Intent::limit(3, Side::Buy, 100, 107_219, "entry"),
            Intent::Place(PlaceOrder {
                instrument: 3,
                side: Side::Buy,
                order_type: OrderType::Limit(107_219),
                qty: 100,
                client_tag: "entry".to_string(),
            })
        );
    }
}

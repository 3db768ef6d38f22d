//! Constructors for the [`Intent`]s a strategy returns.

use crate::{
    InstrumentId, Intent, OrderId, OrderType, PlaceOrder, ReplaceOrder, Side, StopLimit,
    TimeInForce,
};

impl Intent {
    /// A good-till-cancelled market order of `qty` (scaled by the
    /// instrument's `qty_scale`), tagged `tag`.
    pub fn market(
        instrument: InstrumentId,
        side: Side,
        qty: i64,
        tag: impl Into<String>,
    ) -> Intent {
        Self::place(instrument, side, OrderType::Market, qty, tag)
    }

    /// A good-till-cancelled limit order at `price` (scaled by `price_scale`).
    pub fn limit(
        instrument: InstrumentId,
        side: Side,
        qty: i64,
        price: i64,
        tag: impl Into<String>,
    ) -> Intent {
        Self::place(instrument, side, OrderType::Limit(price), qty, tag)
    }

    /// A good-till-cancelled stop (market once `stop` trades).
    pub fn stop(
        instrument: InstrumentId,
        side: Side,
        qty: i64,
        stop: i64,
        tag: impl Into<String>,
    ) -> Intent {
        Self::place(instrument, side, OrderType::Stop(stop), qty, tag)
    }

    /// A good-till-cancelled stop-limit (a limit at `limit` once `stop` trades).
    pub fn stop_limit(
        instrument: InstrumentId,
        side: Side,
        qty: i64,
        stop: i64,
        limit: i64,
        tag: impl Into<String>,
    ) -> Intent {
        let order_type = OrderType::StopLimit(StopLimit { stop, limit });
        Self::place(instrument, side, order_type, qty, tag)
    }

    fn place(
        instrument: InstrumentId,
        side: Side,
        order_type: OrderType,
        qty: i64,
        tag: impl Into<String>,
    ) -> Intent {
        Intent::Place(PlaceOrder {
            instrument,
            side,
            order_type,
            time_in_force: TimeInForce::Gtc,
            qty,
            reduce_only: false,
            post_only: false,
            client_tag: tag.into(),
        })
    }

    /// This order with time in force `tif` (new orders only).
    pub fn with_tif(mut self, tif: TimeInForce) -> Intent {
        if let Intent::Place(order) = &mut self {
            order.time_in_force = tif;
        }
        self
    }

    /// This order, only ever reducing the position (new orders only).
    pub fn reduce_only(mut self) -> Intent {
        if let Intent::Place(order) = &mut self {
            order.reduce_only = true;
        }
        self
    }

    /// This limit order, refused if it would take liquidity (new orders only).
    pub fn post_only(mut self) -> Intent {
        if let Intent::Place(order) = &mut self {
            order.post_only = true;
        }
        self
    }

    /// Changes working order `order_id`: `None` keeps a value.
    pub fn replace(
        order_id: OrderId,
        qty: Option<i64>,
        limit_price: Option<i64>,
        stop_price: Option<i64>,
    ) -> Intent {
        Intent::Replace(ReplaceOrder {
            order_id,
            qty,
            limit_price,
            stop_price,
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
                time_in_force: TimeInForce::Gtc,
                qty: 100,
                reduce_only: false,
                post_only: false,
                client_tag: "entry".to_string(),
            })
        );
        let Intent::Place(stop) = Intent::stop_limit(3, Side::Sell, 5, 90, 89, "sl")
            .with_tif(TimeInForce::Day)
            .reduce_only()
        else {
            panic!("stop_limit() must place an order");
        };
        assert_eq!(
            (
                stop.order_type,
                stop.time_in_force,
                stop.reduce_only,
                stop.post_only
            ),
            (
                OrderType::StopLimit(StopLimit {
                    stop: 90,
                    limit: 89
                }),
                TimeInForce::Day,
                true,
                false
            )
        );
        assert_eq!(
            Intent::Cancel(4).post_only(),
            Intent::Cancel(4),
            "flags only apply to new orders"
        );
    }
}

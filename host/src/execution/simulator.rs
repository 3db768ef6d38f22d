//! The historical execution simulator behind a backtest route.
//!
//! Fill rules (on bars; orders are matched from the bar after the step that
//! placed them, so a strategy never trades on the bar it decided on):
//! - market: fills in full at the bar's open, moved against the order by the
//!   context's slippage and rounded to the tick away from the order's favour;
//! - limit buy: fills when the bar's low reaches the limit, at the open if the
//!   bar opens below the limit (a gap), else at the limit; sells mirror this;
//! - commission: the context's rate × fill notional, exact, no rounding;
//! - a buy whose cost exceeds the account's cash at fill time is cancelled
//!   rather than driving a cash account negative.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::execution::orders::{
    CancelRejected, Fill, Order, OrderEvent, OrderReport, CANCELLED_BY_STRATEGY,
};
use crate::intents::{Action, OrderRequest, OrderType};
use crate::market_data::Bar;
use crate::model::{from_scaled, Side, Timestamp};
use crate::reference_data::{Instrument, ReferenceData};
use crate::risk::Approved;
use crate::state::Snapshot;

/// Simulated venue of one execution context.
#[derive(Debug, Clone)]
pub struct Simulator {
    commission: Decimal,
    slippage: Decimal,
    working: Vec<Order>,
}

impl Simulator {
    /// A simulator charging `commission` (fraction of notional) and
    /// `slippage` (fraction of price, market orders only).
    pub fn new(commission: Decimal, slippage: Decimal) -> Self {
        Self {
            commission,
            slippage,
            working: Vec::new(),
        }
    }

    /// Commission rate.
    pub fn commission(&self) -> Decimal {
        self.commission
    }

    /// Slippage as a fraction of price.
    pub fn slippage(&self) -> Decimal {
        self.slippage
    }

    /// Working orders, oldest first.
    pub fn working_orders(&self) -> &[Order] {
        &self.working
    }

    /// Executes an approved intent: accepts a new order, or cancels one.
    pub fn execute(&mut self, approved: Approved) -> Result<OrderReport, CancelRejected> {
        let intent = approved.into_inner();
        match intent.action {
            Action::Place { order_id, request } => {
                let order = Order::accepted(order_id, intent.id, intent.attribution, request);
                let report = order.report(intent.time, None, String::new());
                self.working.push(order);
                Ok(report)
            }
            Action::Cancel { order_id } => {
                let owned = self.working.iter().position(|o| {
                    o.id == order_id
                        && o.attribution.strategy_index == intent.attribution.strategy_index
                });
                match owned {
                    Some(index) => Ok(self.cancel(index, intent.time, CANCELLED_BY_STRATEGY)),
                    None => Err(CancelRejected {
                        intent_id: intent.id,
                        order_id,
                        reason: format!(
                            "no working order {order_id} of strategy {}",
                            intent.attribution.strategy_id
                        ),
                    }),
                }
            }
        }
    }

    /// Cancels every working order of strategy `strategy_index`, appending
    /// one report per order to `out`.
    pub fn cancel_all(
        &mut self,
        strategy_index: usize,
        time: Timestamp,
        reason: &str,
        out: &mut Vec<OrderReport>,
    ) {
        while let Some(index) = self
            .working
            .iter()
            .position(|o| o.attribution.strategy_index == strategy_index)
        {
            out.push(self.cancel(index, time, reason));
        }
    }

    fn cancel(&mut self, index: usize, time: Timestamp, reason: &str) -> OrderReport {
        let mut order = self.working.remove(index);
        // A working order always accepts a cancel.
        let _ = order.apply(OrderEvent::Cancel);
        order.report(time, None, reason.to_owned())
    }

    /// Matches working orders against this step's bars, appending a report
    /// for every fill (or cash cancellation) to `out`. `cash` is the
    /// account's cash before these fills.
    pub fn match_bars(
        &mut self,
        snapshot: &Snapshot,
        reference: &ReferenceData,
        mut cash: Decimal,
        out: &mut Vec<OrderReport>,
    ) {
        if self.working.is_empty() {
            return;
        }
        let (commission, slippage) = (self.commission, self.slippage);
        self.working.retain_mut(|order| {
            let Some(bar) = snapshot.bar(order.request.instrument) else {
                return true;
            };
            let inst = reference.get(order.request.instrument);
            let Some(price) = fill_price(&order.request, bar, inst, slippage) else {
                return true;
            };
            let qty = order.remaining();
            let notional = qty * price;
            let fill = Fill {
                qty,
                price,
                commission: notional * commission,
            };
            let cash_change = match order.request.side {
                Side::Buy => -(notional + fill.commission),
                Side::Sell => notional - fill.commission,
            };
            if cash + cash_change < Decimal::ZERO {
                let _ = order.apply(OrderEvent::Cancel);
                out.push(order.report(
                    bar.time,
                    None,
                    format!(
                        "insufficient cash at fill: cost {} exceeds cash {cash}",
                        -cash_change
                    ),
                ));
                return false;
            }
            cash += cash_change;
            // `qty` is exactly the remainder, so the fill is always allowed.
            let _ = order.apply(OrderEvent::Fill(fill));
            out.push(order.report(bar.time, Some(fill), String::new()));
            !order.status.is_terminal()
        });
    }
}

/// The price an order fills at on `bar`, or `None` if it does not fill.
fn fill_price(
    order: &OrderRequest,
    bar: &Bar,
    inst: &Instrument,
    slippage: Decimal,
) -> Option<Decimal> {
    let price = |scaled| from_scaled(scaled, inst.price_scale);
    let (open, high, low) = (price(bar.open), price(bar.high), price(bar.low));
    match (order.order_type, order.side) {
        (OrderType::Market, Side::Buy) => Some(to_tick(
            open * (Decimal::ONE + slippage),
            inst.tick_size,
            RoundingStrategy::AwayFromZero,
        )),
        (OrderType::Market, Side::Sell) => Some(to_tick(
            open * (Decimal::ONE - slippage),
            inst.tick_size,
            RoundingStrategy::ToZero,
        )),
        (OrderType::Limit(limit), Side::Buy) => (low <= limit).then(|| open.min(limit)),
        (OrderType::Limit(limit), Side::Sell) => (high >= limit).then(|| open.max(limit)),
    }
}

fn to_tick(price: Decimal, tick: Decimal, rounding: RoundingStrategy) -> Decimal {
    (price / tick).round_dp_with_strategy(0, rounding) * tick
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Currency, InstrumentId};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn inst() -> Instrument {
        Instrument {
            id: InstrumentId(0),
            symbol: "X".into(),
            base_currency: Currency::new("X"),
            quote_currency: Currency::new("USD"),
            tick_size: d("0.01"),
            lot_size: d("1"),
            min_notional: Decimal::ZERO,
            price_scale: 2,
            qty_scale: 0,
        }
    }

    fn request(side: Side, order_type: OrderType) -> OrderRequest {
        OrderRequest {
            instrument: InstrumentId(0),
            side,
            order_type,
            qty: d("10"),
            client_tag: String::new(),
        }
    }

    // open 100.00, high 102.00, low 99.00
    const BAR: Bar = Bar {
        instrument: InstrumentId(0),
        time: 0,
        open: 10000,
        high: 10200,
        low: 9900,
        close: 10100,
        volume: 0,
    };

    #[test]
    fn fill_rules() {
        let none = Decimal::ZERO;
        let cases = [
            (request(Side::Buy, OrderType::Market), none, Some("100")),
            (
                request(Side::Buy, OrderType::Market),
                d("0.0001"),
                Some("100.01"),
            ),
            (
                request(Side::Sell, OrderType::Market),
                d("0.0001"),
                Some("99.99"),
            ),
            (
                request(Side::Buy, OrderType::Limit(d("99.50"))),
                none,
                Some("99.50"),
            ),
            (
                request(Side::Buy, OrderType::Limit(d("101"))),
                none,
                Some("100"),
            ),
            (request(Side::Buy, OrderType::Limit(d("98.99"))), none, None),
            (
                request(Side::Sell, OrderType::Limit(d("101.5"))),
                none,
                Some("101.5"),
            ),
            (
                request(Side::Sell, OrderType::Limit(d("99"))),
                none,
                Some("100"),
            ),
            (
                request(Side::Sell, OrderType::Limit(d("102.01"))),
                none,
                None,
            ),
        ];
        for (order, slippage, want) in cases {
            let got = fill_price(&order, &BAR, &inst(), slippage);
            assert_eq!(got, want.map(d), "{order:?} slippage {slippage}");
        }
    }
}

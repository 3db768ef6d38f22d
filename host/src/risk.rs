//! Risk engine: an explicit decision for every order intent. Each check is a
//! small pure function over a [`RiskContext`]; the first that fails refuses
//! the intent with a [`Refusal`] naming the value and the limit.
//!
//! Only an [`Approved`] intent can reach execution.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::decimal;
use crate::execution::FeeSchedule;
use crate::intents::{Intent, OrderRequest, OrderType};
use crate::model::Side;
use crate::reference_data::Instrument;

/// Per-strategy risk limits (`[strategies.risk]`). Every limit is optional;
/// cash and position sufficiency are always checked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RiskLimits {
    /// Largest quantity of one order.
    #[serde(default, deserialize_with = "decimal::option::deserialize")]
    pub max_order_qty: Option<Decimal>,
    /// Largest notional (qty × price) of one order, in the quote currency.
    #[serde(default, deserialize_with = "decimal::option::deserialize")]
    pub max_order_notional: Option<Decimal>,
    /// Largest absolute position per instrument, counting working orders.
    #[serde(default, deserialize_with = "decimal::option::deserialize")]
    pub max_position: Option<Decimal>,
}

/// What risk needs to know about the world to decide on one order.
#[derive(Debug, Clone, Copy)]
pub struct RiskContext<'a> {
    /// The order's instrument.
    pub instrument: &'a Instrument,
    /// Last traded price of the instrument, if any yet.
    pub mark: Option<Decimal>,
    /// The strategy's current position (signed).
    pub position: Decimal,
    /// Unfilled quantity of the strategy's working buy orders on the instrument.
    pub working_buys: Decimal,
    /// Unfilled quantity of the strategy's working sell orders on the instrument.
    pub working_sells: Decimal,
    /// What the execution context can pay with.
    pub account: AccountRisk,
    /// Fees of the execution context.
    pub fees: &'a FeeSchedule,
    /// Slippage of market orders, as a fraction (bps / 10,000).
    pub slippage: Decimal,
    /// The strategy's limits.
    pub limits: &'a RiskLimits,
}

/// What an execution context can pay with, for the cash or margin check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRisk {
    /// A cash account: no borrowing, no shorting.
    Cash {
        /// Balance in the instrument's quote currency not reserved by working buys.
        free_cash: Decimal,
    },
    /// A margin account.
    Margin {
        /// Equity of the context, in its base currency.
        equity: Decimal,
        /// Margin held by its positions and working orders, in its base currency.
        margin_used: Decimal,
        /// Exposure allowed per unit of equity.
        leverage: Decimal,
        /// Units of base currency per unit of the instrument's quote currency.
        quote_rate: Decimal,
    },
}

/// Why risk refused an order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Limit price is not positive or not on the tick grid.
    #[error("limit price {price} is not a multiple of tick size {tick} for {symbol}")]
    PriceOffTick {
        /// The price.
        price: Decimal,
        /// The tick size.
        tick: Decimal,
        /// The instrument.
        symbol: String,
    },
    /// Quantity is not a positive multiple of the lot size.
    #[error("order qty {qty} is not a multiple of lot size {lot} for {symbol}")]
    QtyOffLot {
        /// The quantity.
        qty: Decimal,
        /// The lot size.
        lot: Decimal,
        /// The instrument.
        symbol: String,
    },
    /// There is no price yet to value a market order.
    #[error("no market price for {symbol} yet")]
    NoPrice {
        /// The instrument.
        symbol: String,
    },
    /// Notional below the instrument's minimum.
    #[error("order notional {notional} below min notional {min} for {symbol}")]
    BelowMinNotional {
        /// The order's notional.
        notional: Decimal,
        /// The minimum.
        min: Decimal,
        /// The instrument.
        symbol: String,
    },
    /// Order quantity above the strategy's limit.
    #[error("order qty {qty} above max_order_qty {limit}")]
    MaxOrderQty {
        /// The quantity.
        qty: Decimal,
        /// The limit.
        limit: Decimal,
    },
    /// Order notional above the strategy's limit.
    #[error("order notional {notional} above max_order_notional {limit}")]
    MaxOrderNotional {
        /// The notional.
        notional: Decimal,
        /// The limit.
        limit: Decimal,
    },
    /// The position after this and every working order would exceed the limit.
    #[error("position would reach {position}, above max_position {limit}")]
    MaxPosition {
        /// The position it would reach.
        position: Decimal,
        /// The limit.
        limit: Decimal,
    },
    /// A sale larger than the position (cash accounts cannot go short).
    #[error("sell qty {qty} exceeds the position available to sell, {available}")]
    InsufficientPosition {
        /// The quantity to sell.
        qty: Decimal,
        /// Position minus working sells.
        available: Decimal,
    },
    /// A reduce-only order that cannot reduce the position.
    #[error("reduce-only {side} of {qty} would not reduce the position {position}")]
    ReduceOnly {
        /// The order's side.
        side: Side,
        /// Its quantity.
        qty: Decimal,
        /// The position (net of working orders on that side).
        position: Decimal,
    },
    /// Not enough equity for the margin the order needs.
    #[error("margin needed {needed} plus margin in use {used} exceeds equity {equity}")]
    InsufficientMargin {
        /// Initial margin of the order.
        needed: Decimal,
        /// Margin already held.
        used: Decimal,
        /// Equity of the context.
        equity: Decimal,
    },
    /// Not enough free cash for the estimated cost.
    #[error("estimated cost {needed} exceeds free cash {available}")]
    InsufficientCash {
        /// Estimated cost including commission and slippage.
        needed: Decimal,
        /// Free cash.
        available: Decimal,
    },
}

/// An intent that passed every risk check: the only input execution accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved(Intent);

impl Approved {
    /// The approved intent.
    pub fn intent(&self) -> &Intent {
        &self.0
    }

    /// Takes the approved intent apart.
    pub fn into_inner(self) -> Intent {
        self.0
    }
}

/// The price an order is valued at: its limit, else its stop, else the
/// mark for market orders.
fn valuation_price(order: &OrderRequest, ctx: &RiskContext) -> Result<Decimal, Refusal> {
    match order.order_type.limit().or(order.order_type.stop()) {
        Some(price) => Ok(price),
        None => ctx.mark.ok_or_else(|| Refusal::NoPrice {
            symbol: ctx.instrument.symbol.clone(),
        }),
    }
}

fn check_grid(order: &OrderRequest, ctx: &RiskContext) -> Result<(), Refusal> {
    let inst = ctx.instrument;
    let prices = [order.order_type.limit(), order.order_type.stop()];
    for price in prices.into_iter().flatten() {
        if !inst.is_valid_price(price) {
            return Err(Refusal::PriceOffTick {
                price,
                tick: inst.tick_size,
                symbol: inst.symbol.clone(),
            });
        }
    }
    if !inst.is_valid_qty(order.qty) {
        return Err(Refusal::QtyOffLot {
            qty: order.qty,
            lot: inst.lot_size,
            symbol: inst.symbol.clone(),
        });
    }
    Ok(())
}

fn check_notional(
    order: &OrderRequest,
    notional: Decimal,
    ctx: &RiskContext,
) -> Result<(), Refusal> {
    let min = ctx.instrument.min_notional;
    if notional < min {
        return Err(Refusal::BelowMinNotional {
            notional,
            min,
            symbol: ctx.instrument.symbol.clone(),
        });
    }
    if let Some(limit) = ctx.limits.max_order_qty.filter(|l| order.qty > *l) {
        return Err(Refusal::MaxOrderQty {
            qty: order.qty,
            limit,
        });
    }
    if let Some(limit) = ctx.limits.max_order_notional.filter(|l| notional > *l) {
        return Err(Refusal::MaxOrderNotional { notional, limit });
    }
    Ok(())
}

fn check_position(order: &OrderRequest, ctx: &RiskContext) -> Result<(), Refusal> {
    let reach = match order.side {
        Side::Buy => ctx.position + ctx.working_buys + order.qty,
        Side::Sell => ctx.position - ctx.working_sells - order.qty,
    };
    if order.reduce_only {
        let reducible = match order.side {
            Side::Buy => -(ctx.position + ctx.working_buys),
            Side::Sell => ctx.position - ctx.working_sells,
        };
        if reducible <= Decimal::ZERO {
            return Err(Refusal::ReduceOnly {
                side: order.side,
                qty: order.qty,
                position: ctx.position,
            });
        }
        // Fills are capped at the position, so the rest cannot add to it.
        return Ok(());
    }
    if let Some(limit) = ctx.limits.max_position.filter(|l| reach.abs() > *l) {
        return Err(Refusal::MaxPosition {
            position: reach,
            limit,
        });
    }
    let shorting_allowed = matches!(ctx.account, AccountRisk::Margin { .. });
    if order.side == Side::Sell && reach < Decimal::ZERO && !shorting_allowed {
        return Err(Refusal::InsufficientPosition {
            qty: order.qty,
            available: ctx.position - ctx.working_sells,
        });
    }
    Ok(())
}

/// Cash `qty` of an order of `order_type` may consume: notional at its
/// valuation price, plus slippage for orders that fill as takers, plus the
/// highest fee.
pub fn estimated_cost(
    order_type: OrderType,
    qty: Decimal,
    price: Decimal,
    fees: &FeeSchedule,
    slippage: Decimal,
) -> Decimal {
    let price = match order_type.limit() {
        Some(_) => price,
        None => price * (Decimal::ONE + slippage),
    };
    let notional = qty * price;
    notional + fees.worst_case(notional)
}

fn check_money(order: &OrderRequest, price: Decimal, ctx: &RiskContext) -> Result<(), Refusal> {
    match ctx.account {
        AccountRisk::Cash { free_cash } => {
            if order.side == Side::Sell {
                return Ok(());
            }
            let needed = estimated_cost(order.order_type, order.qty, price, ctx.fees, ctx.slippage);
            if needed > free_cash {
                return Err(Refusal::InsufficientCash {
                    needed,
                    available: free_cash,
                });
            }
        }
        AccountRisk::Margin {
            equity,
            margin_used,
            leverage,
            quote_rate,
        } => {
            // Only the part that adds exposure needs margin.
            let exposure_before = match order.side {
                Side::Buy => ctx.position + ctx.working_buys,
                Side::Sell => ctx.position - ctx.working_sells,
            };
            let after = exposure_before + order.side.sign() * order.qty;
            let added = (after.abs() - exposure_before.abs()).max(Decimal::ZERO);
            if added.is_zero() || order.reduce_only {
                return Ok(());
            }
            let needed = added * price * quote_rate / leverage;
            if margin_used + needed > equity {
                return Err(Refusal::InsufficientMargin {
                    needed,
                    used: margin_used,
                    equity,
                });
            }
        }
    }
    Ok(())
}

/// Runs every check on one order, in order, stopping at the first refusal.
pub fn decide(order: &OrderRequest, ctx: &RiskContext) -> Result<(), Refusal> {
    check_grid(order, ctx)?;
    let price = valuation_price(order, ctx)?;
    check_notional(order, order.qty * price, ctx)?;
    check_position(order, ctx)?;
    check_money(order, price, ctx)
}

/// The risk decision on one intent: approved, or refused with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// May be executed.
    Approved(Approved),
    /// Must not be executed.
    Refused {
        /// The refused intent.
        intent: Intent,
        /// Why.
        refusal: Refusal,
    },
}

/// Decides on one order intent.
pub fn check(intent: Intent, order: &OrderRequest, ctx: &RiskContext) -> Decision {
    match decide(order, ctx) {
        Ok(()) => Decision::Approved(Approved(intent)),
        Err(refusal) => Decision::Refused { intent, refusal },
    }
}

/// Approves an intent that needs no risk check: cancels only lower risk.
pub fn approve_cancel(intent: Intent) -> Approved {
    debug_assert!(matches!(
        intent.action,
        crate::intents::Action::Cancel { .. } | crate::intents::Action::CancelAll { .. }
    ));
    Approved(intent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Currency, InstrumentId};

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn eurusd() -> Instrument {
        Instrument {
            id: InstrumentId(0),
            symbol: "EURUSD".into(),
            base_currency: Currency::new("EUR"),
            quote_currency: Currency::new("USD"),
            tick_size: d("0.00001"),
            lot_size: d("1"),
            min_notional: d("10"),
            price_scale: 5,
            qty_scale: 0,
        }
    }

    fn order(side: Side, qty: &str, order_type: OrderType) -> OrderRequest {
        OrderRequest {
            instrument: InstrumentId(0),
            side,
            order_type,
            tif: crate::intents::TimeInForce::Gtc,
            qty: d(qty),
            reduce_only: false,
            post_only: false,
            client_tag: String::new(),
        }
    }

    fn limit(price: &str) -> OrderType {
        OrderType::Limit { price: d(price) }
    }

    fn fees() -> FeeSchedule {
        FeeSchedule {
            maker: d("0.0005"),
            taker: d("0.001"),
            per_order: Decimal::ZERO,
        }
    }

    fn decide_with(
        order: &OrderRequest,
        limits: &RiskLimits,
        position: &str,
        cash: &str,
    ) -> Result<(), Refusal> {
        let inst = eurusd();
        let fees = fees();
        let ctx = RiskContext {
            instrument: &inst,
            mark: Some(d("1.1")),
            position: d(position),
            working_buys: Decimal::ZERO,
            working_sells: Decimal::ZERO,
            account: AccountRisk::Cash { free_cash: d(cash) },
            fees: &fees,
            slippage: Decimal::ZERO,
            limits,
        };
        decide(order, &ctx)
    }

    #[test]
    fn each_check_refuses_with_a_named_reason() {
        let none = RiskLimits::default();
        let tight = RiskLimits {
            max_order_qty: Some(d("500")),
            max_order_notional: Some(d("2000")),
            max_position: Some(d("1500")),
        };
        // (name, order, limits, position, free cash, expected refusal)
        type Case<'a> = (
            &'a str,
            OrderRequest,
            &'a RiskLimits,
            &'a str,
            &'a str,
            Option<&'a str>,
        );
        let cases: [Case; 9] = [
            (
                "ok",
                order(Side::Buy, "1000", OrderType::Market),
                &none,
                "0",
                "100000",
                None,
            ),
            (
                "off tick",
                order(Side::Buy, "1000", limit("1.100001")),
                &none,
                "0",
                "100000",
                Some("limit price 1.100001 is not a multiple of tick size 0.00001 for EURUSD"),
            ),
            (
                "off lot",
                order(Side::Buy, "0.5", OrderType::Market),
                &none,
                "0",
                "100000",
                Some("order qty 0.5 is not a multiple of lot size 1 for EURUSD"),
            ),
            (
                "min notional",
                order(Side::Buy, "5", OrderType::Market),
                &none,
                "0",
                "100000",
                Some("order notional 5.5 below min notional 10 for EURUSD"),
            ),
            (
                "max qty",
                order(Side::Buy, "1000", OrderType::Market),
                &tight,
                "0",
                "100000",
                Some("order qty 1000 above max_order_qty 500"),
            ),
            (
                "max notional",
                order(Side::Buy, "400", limit("6")),
                &tight,
                "0",
                "100000",
                Some("order notional 2400 above max_order_notional 2000"),
            ),
            (
                "max position",
                order(Side::Buy, "400", OrderType::Market),
                &tight,
                "1200",
                "100000",
                Some("position would reach 1600, above max_position 1500"),
            ),
            (
                "short",
                order(Side::Sell, "1000", OrderType::Market),
                &none,
                "400",
                "100000",
                Some("sell qty 1000 exceeds the position available to sell, 400"),
            ),
            (
                "cash",
                order(Side::Buy, "1000", OrderType::Market),
                &none,
                "0",
                "1000",
                Some("estimated cost 1101.1000 exceeds free cash 1000"),
            ),
        ];
        for (name, order, limits, position, cash, want) in cases {
            let got = decide_with(&order, limits, position, cash)
                .err()
                .map(|r| r.to_string());
            assert_eq!(got.as_deref(), want, "case {name}");
        }
    }
}

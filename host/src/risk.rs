//! Risk engine: an explicit decision for every order intent. Each check is a
//! small pure function over a [`RiskContext`]; the first that fails refuses
//! the intent with a [`Refusal`] naming the value and the limit.
//!
//! Only an [`Approved`] intent can reach execution.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::decimal;
use crate::execution::orders::Working;
use crate::execution::FeeSchedule;
use crate::intents::Intent;
use crate::model::Side;
use crate::model::{OrderRequest, OrderType};
use crate::reference_data::Instrument;

/// Default of `max_open_orders`: enough for any grid or ladder, and a bound
/// on what the venue matches and the host keeps per strategy.
pub const DEFAULT_MAX_OPEN_ORDERS: u32 = 1_000;

fn default_max_open_orders() -> u32 {
    DEFAULT_MAX_OPEN_ORDERS
}

/// Per-strategy risk limits (`[strategies.risk]`). Every limit but
/// `max_open_orders` is optional; cash and position sufficiency are always
/// checked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RiskLimits {
    /// Most orders the strategy may have working at once. Default
    /// [`DEFAULT_MAX_OPEN_ORDERS`].
    #[serde(default = "default_max_open_orders")]
    pub max_open_orders: u32,
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

impl Default for RiskLimits {
    fn default() -> Self {
        Self {
            max_open_orders: DEFAULT_MAX_OPEN_ORDERS,
            max_order_qty: None,
            max_order_notional: None,
            max_position: None,
        }
    }
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
    /// The strategy's other open orders (a replaced order not counted).
    pub open_orders: usize,
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
    /// The strategy has as many open orders as it may.
    #[error("{open} orders already open, the most max_open_orders allows")]
    MaxOpenOrders {
        /// Its open orders.
        open: usize,
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
    /// An amount computed from the order does not fit the host's decimals
    /// (28 significant digits): a quantity or price far beyond any market.
    #[error("{what} of an order of qty {qty} is out of range")]
    OutOfRange {
        /// Which amount.
        what: &'static str,
        /// The order's quantity.
        qty: Decimal,
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
    let before = exposure(order, ctx)?;
    let reach = fits(
        before.checked_add(order.side.sign() * order.qty),
        "position after the order",
        order,
    )?;
    if order.reduce_only {
        let reducible = match order.side {
            Side::Buy => -before,
            Side::Sell => before,
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
            available: before,
        });
    }
    Ok(())
}

/// Cash `qty` of an order of `order_type` may consume: notional at its
/// valuation price, plus slippage for orders that fill as takers, plus the
/// highest fee. `None` if that does not fit a decimal (guest values can be
/// anything an `s64` holds).
pub fn estimated_cost(
    order_type: OrderType,
    qty: Decimal,
    price: Decimal,
    fees: &FeeSchedule,
    slippage: Decimal,
) -> Option<Decimal> {
    let price = match order_type.limit() {
        Some(_) => price,
        None => price.checked_mul(Decimal::ONE + slippage)?,
    };
    let notional = qty.checked_mul(price)?;
    notional.checked_add(fees.worst_case(notional)?)
}

/// Σ [`estimated_cost`] of the open buy orders summed in `working`, with
/// market orders valued at `mark` (zero without one). Saturating: a sum
/// beyond the decimal range only reserves all the cash there is.
pub fn working_cost(
    working: &Working,
    mark: Option<Decimal>,
    fees: &FeeSchedule,
    slippage: Decimal,
) -> Decimal {
    let slipped = working
        .stop_notional
        .saturating_add(working.market_qty.saturating_mul(mark.unwrap_or_default()))
        .saturating_mul(Decimal::ONE + slippage);
    let notional = working.limit_notional.saturating_add(slipped);
    notional
        .saturating_add(notional.saturating_mul(fees.maker.max(fees.taker)))
        .saturating_add(fees.per_order.saturating_mul(Decimal::from(working.count)))
}

/// Σ remaining × price of the open orders summed in `working` (limit, else
/// stop, else `mark`), as margin counts them. Saturating like [`working_cost`].
pub fn working_notional(working: &Working, mark: Option<Decimal>) -> Decimal {
    working
        .limit_notional
        .saturating_add(working.stop_notional)
        .saturating_add(working.market_qty.saturating_mul(mark.unwrap_or_default()))
}

/// A checked computation's value, or the refusal naming the amount `what`
/// that did not fit.
fn fits(
    value: Option<Decimal>,
    what: &'static str,
    order: &OrderRequest,
) -> Result<Decimal, Refusal> {
    value.ok_or(Refusal::OutOfRange {
        what,
        qty: order.qty,
    })
}

fn check_money(order: &OrderRequest, price: Decimal, ctx: &RiskContext) -> Result<(), Refusal> {
    match ctx.account {
        AccountRisk::Cash { free_cash } => {
            if order.side == Side::Sell {
                return Ok(());
            }
            let needed = fits(
                estimated_cost(order.order_type, order.qty, price, ctx.fees, ctx.slippage),
                "estimated cost",
                order,
            )?;
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
            let exposure_before = exposure(order, ctx)?;
            let after = fits(
                exposure_before.checked_add(order.side.sign() * order.qty),
                "position after the order",
                order,
            )?;
            let added = (after.abs() - exposure_before.abs()).max(Decimal::ZERO);
            if added.is_zero() || order.reduce_only {
                return Ok(());
            }
            let needed = fits(
                added
                    .checked_mul(price)
                    .and_then(|n| n.checked_mul(quote_rate))
                    .and_then(|n| n.checked_div(leverage)),
                "margin needed",
                order,
            )?;
            if fits(margin_used.checked_add(needed), "margin needed", order)? > equity {
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

/// The position plus the working orders on the order's side.
fn exposure(order: &OrderRequest, ctx: &RiskContext) -> Result<Decimal, Refusal> {
    let value = match order.side {
        Side::Buy => ctx.position.checked_add(ctx.working_buys),
        Side::Sell => ctx.position.checked_sub(ctx.working_sells),
    };
    fits(value, "position with the working orders", order)
}

/// Runs every check on one order, in order, stopping at the first refusal.
pub fn decide(order: &OrderRequest, ctx: &RiskContext) -> Result<(), Refusal> {
    if ctx.open_orders >= ctx.limits.max_open_orders as usize {
        return Err(Refusal::MaxOpenOrders {
            open: ctx.open_orders,
        });
    }
    check_grid(order, ctx)?;
    let price = valuation_price(order, ctx)?;
    let notional = fits(order.qty.checked_mul(price), "order notional", order)?;
    check_notional(order, notional, ctx)?;
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
            tif: crate::model::TimeInForce::Gtc,
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
            open_orders: 0,
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
            ..RiskLimits::default()
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

    #[test]
    fn guest_extremes_and_open_orders_are_refused_not_panics() {
        let none = RiskLimits::default();
        let huge = Decimal::from(i64::MAX);
        for order in [
            order(Side::Buy, "1", OrderType::Limit { price: huge }),
            order(Side::Buy, &huge.to_string(), OrderType::Market),
            order(Side::Sell, &huge.to_string(), limit("1.1")),
        ] {
            let got = decide_with(&order, &none, "0", "100000")
                .unwrap_err()
                .to_string();
            assert!(
                got.contains("is out of range") || got.contains("exceeds"),
                "{got}"
            );
        }
        // Its notional, 2^63 squared, is beyond any decimal.
        let got = decide_with(
            &order(
                Side::Buy,
                &huge.to_string(),
                OrderType::Limit { price: huge },
            ),
            &none,
            "0",
            "100000",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            got,
            "order notional of an order of qty 9223372036854775807 is out of range"
        );
        let inst = eurusd();
        let fees = fees();
        let full = RiskContext {
            instrument: &inst,
            mark: Some(d("1.1")),
            position: Decimal::ZERO,
            working_buys: Decimal::ZERO,
            working_sells: Decimal::ZERO,
            account: AccountRisk::Cash {
                free_cash: d("100000"),
            },
            fees: &fees,
            slippage: Decimal::ZERO,
            limits: &none,
            open_orders: DEFAULT_MAX_OPEN_ORDERS as usize,
        };
        assert_eq!(
            decide(&order(Side::Buy, "10", OrderType::Market), &full)
                .unwrap_err()
                .to_string(),
            "1000 orders already open, the most max_open_orders allows"
        );
    }
}

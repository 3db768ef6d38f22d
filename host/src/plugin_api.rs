//! The plugin boundary: Rust bindings of `wit/strategy.wit`
//! (`cracktrader:strategy@0.2.0`) and the conversions between the engine's
//! strategy vocabulary ([`crate::strategy`], [`crate::views`],
//! [`crate::intents::Proposal`]) and the boundary's records.
//!
//! Prices and quantities of an instrument cross as integers scaled by the
//! instrument's precision; other amounts cross as [`Decimal`] records.

use rust_decimal::Decimal;

use crate::intents::{PlaceOrder, Proposal, ReplaceOrder};
use crate::model::{InstrumentId, OrderId, OrderStatus, OrderType, ReportKind, Side, TimeInForce};
use crate::strategy::{InitConfig, StrategyInfo};
use crate::views::{AccountView, OpenOrderView, ReportView, View};

/// Generated bindings; their documentation is the WIT file's.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        world: "strategy-plugin",
        path: "../wit",
        additional_derives: [PartialEq],
    });
}

pub use bindings::cracktrader::strategy::host;
pub use bindings::cracktrader::strategy::types as wit;
pub use bindings::{StrategyPlugin, StrategyPluginPre};

/// The WIT package this host implements.
pub const WIT_PACKAGE: &str = "cracktrader:strategy";
/// The WIT package version this host implements.
pub const WIT_VERSION: &str = "0.2.0";

/// The exact decimal of a boundary record, if its scale is representable.
pub fn decimal_from_wit(value: wit::Decimal) -> Option<Decimal> {
    Decimal::try_new(value.mantissa, u32::from(value.scale)).ok()
}

/// `value` as a boundary record. Values with more than 18 significant digits
/// (only quotients such as average prices) are rounded to fit a 64-bit mantissa.
pub fn decimal_to_wit(value: Decimal) -> wit::Decimal {
    let mut value = value.normalize();
    loop {
        if let Ok(mantissa) = i64::try_from(value.mantissa()) {
            return wit::Decimal {
                mantissa,
                // Decimal scales are at most 28.
                scale: value.scale() as u8,
            };
        }
        // Every step drops one digit, so this ends before the scale reaches 0
        // for any value whose integer part fits 64 bits; saturate otherwise.
        if value.scale() == 0 {
            let saturated = if value.is_sign_negative() {
                i64::MIN
            } else {
                i64::MAX
            };
            return wit::Decimal {
                mantissa: saturated,
                scale: 0,
            };
        }
        value = value.round_dp(value.scale() - 1);
    }
}

impl From<wit::Side> for Side {
    fn from(side: wit::Side) -> Self {
        match side {
            wit::Side::Buy => Side::Buy,
            wit::Side::Sell => Side::Sell,
        }
    }
}

impl From<Side> for wit::Side {
    fn from(side: Side) -> Self {
        match side {
            Side::Buy => wit::Side::Buy,
            Side::Sell => wit::Side::Sell,
        }
    }
}

impl From<OrderStatus> for wit::OrderStatus {
    fn from(status: OrderStatus) -> Self {
        match status {
            OrderStatus::Submitted => Self::Submitted,
            OrderStatus::Accepted => Self::Accepted,
            OrderStatus::Rejected => Self::Rejected,
            OrderStatus::PartiallyFilled => Self::PartiallyFilled,
            OrderStatus::Filled => Self::Filled,
            OrderStatus::PendingCancel => Self::PendingCancel,
            OrderStatus::Cancelled => Self::Cancelled,
            OrderStatus::Expired => Self::Expired,
        }
    }
}

impl From<ReportKind> for wit::ReportKind {
    fn from(kind: ReportKind) -> Self {
        match kind {
            ReportKind::Submitted => Self::Submitted,
            ReportKind::Accepted => Self::Accepted,
            ReportKind::Rejected => Self::Rejected,
            ReportKind::Triggered => Self::Triggered,
            ReportKind::Fill => Self::Fill,
            ReportKind::PendingCancel => Self::PendingCancel,
            ReportKind::Cancelled => Self::Cancelled,
            ReportKind::Expired => Self::Expired,
            ReportKind::Replaced => Self::Replaced,
            ReportKind::CancelRejected => Self::CancelRejected,
            ReportKind::ReplaceRejected => Self::ReplaceRejected,
        }
    }
}

impl From<&InitConfig> for wit::Config {
    fn from(config: &InitConfig) -> Self {
        Self {
            strategy_id: config.strategy_id.clone(),
            params: config.params.clone(),
            instruments: config
                .instruments
                .iter()
                .map(|i| wit::Instrument {
                    id: i.id.0,
                    symbol: i.symbol.clone(),
                    base_currency: i.base_currency.clone(),
                    quote_currency: i.quote_currency.clone(),
                    price_scale: i.price_scale,
                    qty_scale: i.qty_scale,
                    tick_size: i.tick_size,
                    lot_size: i.lot_size,
                    min_notional: decimal_to_wit(i.min_notional),
                })
                .collect(),
        }
    }
}

impl From<wit::Info> for StrategyInfo {
    fn from(info: wit::Info) -> Self {
        Self {
            name: info.name,
            version: info.version,
            subscriptions: info.subscriptions,
            warmup: info.warmup,
        }
    }
}

/// Writes `view` into `out` as the boundary record, reusing `out`'s lists
/// so that a step without account changes does not allocate.
pub fn fill_wit_view(out: &mut wit::View, view: &View) {
    out.snapshot_id = view.snapshot_id.0;
    out.time = view.time;
    out.bars.clear();
    out.bars.extend(view.bars.iter().map(|b| wit::Bar {
        instrument: b.instrument.0,
        time: b.time,
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
    }));
    out.quotes.clear();
    out.quotes.extend(view.quotes.iter().map(|q| wit::Quote {
        instrument: q.instrument.0,
        time: q.time,
        bid: q.bid,
        bid_size: q.bid_size,
        ask: q.ask,
        ask_size: q.ask_size,
    }));
    out.trades.clear();
    out.trades.extend(view.trades.iter().map(|t| wit::Trade {
        instrument: t.instrument.0,
        time: t.time,
        price: t.price,
        size: t.size,
    }));
    out.account = view.account.as_ref().map(account_to_wit);
}

/// An empty boundary view, for [`fill_wit_view`] to fill.
pub fn empty_wit_view() -> wit::View {
    wit::View {
        snapshot_id: 0,
        time: 0,
        bars: Vec::new(),
        quotes: Vec::new(),
        trades: Vec::new(),
        account: None,
    }
}

fn account_to_wit(account: &AccountView) -> wit::Account {
    wit::Account {
        base_currency: account.base_currency.clone(),
        equity: decimal_to_wit(account.equity),
        margin_used: decimal_to_wit(account.margin_used),
        positions: account
            .positions
            .iter()
            .map(|p| wit::Position {
                instrument: p.instrument.0,
                qty: p.qty,
                avg_price: decimal_to_wit(p.avg_price),
            })
            .collect(),
        balances: account
            .balances
            .iter()
            .map(|b| wit::Balance {
                currency: b.currency.clone(),
                total: decimal_to_wit(b.total),
                free: decimal_to_wit(b.free),
            })
            .collect(),
        open_orders: account.open_orders.iter().map(open_order_to_wit).collect(),
        reports: account.reports.iter().map(report_to_wit).collect(),
    }
}

fn open_order_to_wit(o: &OpenOrderView) -> wit::OpenOrder {
    wit::OpenOrder {
        id: o.id.0,
        instrument: o.instrument.0,
        side: o.side.into(),
        order_type: o.order_type.into(),
        time_in_force: o.time_in_force.into(),
        qty: o.qty,
        filled_qty: o.filled_qty,
        status: o.status.into(),
        triggered: o.triggered,
        reduce_only: o.reduce_only,
        post_only: o.post_only,
        client_tag: o.client_tag.clone(),
    }
}

fn report_to_wit(r: &ReportView) -> wit::OrderReport {
    wit::OrderReport {
        sequence: r.sequence,
        order_id: r.order_id.0,
        instrument: r.instrument.0,
        side: r.side.into(),
        kind: r.kind.into(),
        status: r.status.into(),
        client_tag: r.client_tag.clone(),
        fill_qty: r.fill_qty,
        fill_price: r.fill_price,
        maker: r.maker,
        commission: decimal_to_wit(r.commission),
        reason: r.reason.clone(),
        time: r.time,
    }
}

impl From<OrderType<i64>> for wit::OrderType {
    fn from(order_type: OrderType<i64>) -> Self {
        match order_type {
            OrderType::Market => Self::Market,
            OrderType::Limit { price } => Self::Limit(price),
            OrderType::Stop { stop } => Self::Stop(stop),
            OrderType::StopLimit { stop, limit } => Self::StopLimit(wit::StopLimit { stop, limit }),
        }
    }
}

impl From<wit::OrderType> for OrderType<i64> {
    fn from(order_type: wit::OrderType) -> Self {
        match order_type {
            wit::OrderType::Market => Self::Market,
            wit::OrderType::Limit(price) => Self::Limit { price },
            wit::OrderType::Stop(stop) => Self::Stop { stop },
            wit::OrderType::StopLimit(sl) => Self::StopLimit {
                stop: sl.stop,
                limit: sl.limit,
            },
        }
    }
}

impl From<TimeInForce> for wit::TimeInForce {
    fn from(tif: TimeInForce) -> Self {
        match tif {
            TimeInForce::Gtc => Self::Gtc,
            TimeInForce::Ioc => Self::Ioc,
            TimeInForce::Fok => Self::Fok,
            TimeInForce::Gtd(until) => Self::Gtd(until),
            TimeInForce::Day => Self::Day,
        }
    }
}

impl From<wit::TimeInForce> for TimeInForce {
    fn from(tif: wit::TimeInForce) -> Self {
        match tif {
            wit::TimeInForce::Gtc => Self::Gtc,
            wit::TimeInForce::Ioc => Self::Ioc,
            wit::TimeInForce::Fok => Self::Fok,
            wit::TimeInForce::Gtd(until) => Self::Gtd(until),
            wit::TimeInForce::Day => Self::Day,
        }
    }
}

impl From<wit::Intent> for Proposal {
    fn from(intent: wit::Intent) -> Self {
        match intent {
            wit::Intent::Place(p) => Self::Place(PlaceOrder {
                instrument: InstrumentId(p.instrument),
                side: p.side.into(),
                order_type: p.order_type.into(),
                time_in_force: p.time_in_force.into(),
                qty: p.qty,
                reduce_only: p.reduce_only,
                post_only: p.post_only,
                client_tag: p.client_tag,
            }),
            wit::Intent::Cancel(order) => Self::Cancel(OrderId(order)),
            wit::Intent::Replace(r) => Self::Replace(ReplaceOrder {
                order_id: OrderId(r.order_id),
                qty: r.qty,
                limit_price: r.limit_price,
                stop_price: r.stop_price,
            }),
            wit::Intent::CancelAll(instrument) => Self::CancelAll(instrument.map(InstrumentId)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn long_quotients_are_rounded_to_fit() {
        let third = Decimal::ONE / Decimal::from(3);
        let wit = decimal_to_wit(third);
        assert_eq!(
            wit.mantissa.to_string().len(),
            19,
            "as many digits as fit 64 bits"
        );
        assert_eq!(
            decimal_from_wit(wit).unwrap().round_dp(10),
            third.round_dp(10)
        );
    }

    #[test]
    fn invalid_scales_are_refused() {
        assert_eq!(
            decimal_from_wit(wit::Decimal {
                mantissa: 1,
                scale: 29
            }),
            None
        );
    }

    proptest! {
        #[test]
        fn decimals_round_trip(mantissa in any::<i64>(), scale in 0u8..=28) {
            let value = Decimal::new(mantissa, u32::from(scale));
            prop_assert_eq!(decimal_from_wit(decimal_to_wit(value)), Some(value));
        }
    }
}

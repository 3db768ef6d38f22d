//! Execution: orders, their reports, and the adapters that execute approved
//! intents. Backtests and paper sessions use the [`simulator`]; every
//! adapter's events go through the one [`orders`] state machine.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::config::decimal;
use crate::inventory::AccountKind;

pub mod binance;
pub mod orders;

pub mod simulator;

/// One `[[execution]]` entry: an execution context (account) and the
/// simulated venue behind its route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutionConfig {
    /// Unique id; stamped on every intent as `execution_id`.
    pub id: String,
    /// Id of the route to the venue; stamped as `route_id`. Default `sim`.
    #[serde(default = "default_route")]
    pub route: String,
    /// Base currency of the account: equity and margin are valued in it.
    pub currency: String,
    /// Cash in the base currency at the start of the session.
    #[serde(with = "decimal")]
    pub starting_cash: Decimal,
    /// Other starting balances, e.g. `{ EUR = 5000 }`. Default none.
    #[serde(default)]
    pub balances: BTreeMap<String, decimal::Exact>,
    /// `cash` (default: no borrowing or shorting) or `margin`.
    #[serde(default)]
    pub account: AccountType,
    /// Margin accounts: exposure allowed per unit of equity. Default 1.
    #[serde(default, deserialize_with = "decimal::option::deserialize")]
    pub leverage: Option<Decimal>,
    /// Fee as a fraction of fill notional, for makers and takers alike
    /// unless `maker_fee` / `taker_fee` say otherwise. Default 0.
    #[serde(with = "decimal", default)]
    pub commission: Decimal,
    /// Fee rate of fills that add liquidity. Default `commission`.
    #[serde(default, deserialize_with = "decimal::option::deserialize")]
    pub maker_fee: Option<Decimal>,
    /// Fee rate of fills that take liquidity. Default `commission`.
    #[serde(default, deserialize_with = "decimal::option::deserialize")]
    pub taker_fee: Option<Decimal>,
    /// Fixed fee per order, charged with its first fill. Default 0.
    #[serde(with = "decimal", default)]
    pub fee_per_order: Decimal,
    /// Slippage of taker market and stop fills, in basis points. Default 0.
    #[serde(with = "decimal", default)]
    pub slippage_bps: Decimal,
    /// Delay before a new order reaches the venue, in milliseconds. Default 0.
    #[serde(default)]
    pub submit_latency_ms: u64,
    /// Delay before a cancel reaches the venue, in milliseconds. Default 0.
    #[serde(default)]
    pub cancel_latency_ms: u64,
    /// Largest fraction of a bar's volume that may fill (all orders on the
    /// instrument together), e.g. `0.1`. Default: no cap.
    #[serde(default, deserialize_with = "decimal::option::deserialize")]
    pub max_participation: Option<Decimal>,
}

fn default_route() -> String {
    "sim".to_owned()
}

/// `account = "cash" | "margin"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountType {
    /// No borrowing or shorting.
    #[default]
    Cash,
    /// Borrowing and shorting up to the leverage.
    Margin,
}

impl ExecutionConfig {
    /// The fees of this context.
    pub fn fees(&self) -> FeeSchedule {
        FeeSchedule {
            maker: self.maker_fee.unwrap_or(self.commission),
            taker: self.taker_fee.unwrap_or(self.commission),
            per_order: self.fee_per_order,
        }
    }

    /// The latency of this context's route.
    pub fn latency(&self) -> Latency {
        Latency {
            submit_ms: self.submit_latency_ms,
            cancel_ms: self.cancel_latency_ms,
        }
    }

    /// Cash or margin, with the leverage.
    pub fn kind(&self) -> AccountKind {
        match self.account {
            AccountType::Cash => AccountKind::Cash,
            AccountType::Margin => AccountKind::Margin {
                leverage: self.leverage.unwrap_or(Decimal::ONE),
            },
        }
    }
}

/// Fees of an execution context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeSchedule {
    /// Rate × notional of fills that add liquidity.
    pub maker: Decimal,
    /// Rate × notional of fills that take liquidity.
    pub taker: Decimal,
    /// Fixed fee charged with an order's first fill.
    pub per_order: Decimal,
}

impl FeeSchedule {
    /// The highest fee a fill of `notional` can be charged (for risk estimates).
    pub fn worst_case(&self, notional: Decimal) -> Decimal {
        notional * self.maker.max(self.taker) + self.per_order
    }
}

/// Delays of a route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    /// Order submission delay.
    pub submit_ms: u64,
    /// Cancel delay.
    pub cancel_ms: u64,
}

impl Latency {
    /// Submission delay in nanoseconds.
    pub fn submit_nanos(&self) -> i64 {
        ms_to_nanos(self.submit_ms)
    }

    /// Cancel delay in nanoseconds.
    pub fn cancel_nanos(&self) -> i64 {
        ms_to_nanos(self.cancel_ms)
    }
}

fn ms_to_nanos(ms: u64) -> i64 {
    i64::try_from(ms)
        .unwrap_or(i64::MAX)
        .saturating_mul(1_000_000)
}

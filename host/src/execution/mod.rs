//! Execution: orders, their reports, and the adapters that execute approved
//! intents. Backtests and paper sessions use the [`simulator`]; sandbox and
//! live sessions a venue adapter ([`binance`]); every adapter's events go
//! through the one [`orders`] state machine.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::config::{decimal, Problems};
use crate::inventory::AccountKind;
use crate::model::{from_millis, OrderId, Timestamp};
use crate::model::{Amendment, OrderRequest};
use crate::reference_data::ReferenceData;
use crate::state::Snapshot;
use binance::Binance;
use orders::VenueEvent;
use simulator::{Funds, Simulator};

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
    /// The `[[venues]]` entry orders are sent to (sandbox and live modes);
    /// without it, the simulator fills them. A venue context's balances
    /// are the venue account's.
    pub venue: Option<String>,
    /// Cash in the base currency at the start of the session. Default 0.
    #[serde(with = "decimal", default)]
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

/// Largest amount of money a session file may give (starting cash, a
/// balance, a fixed fee): 10^18 leaves ten of a decimal's 28 digits for
/// the products of amounts with prices, quantities and rates.
pub const MAX_AMOUNT: Decimal = Decimal::from_parts(0xA764_0000, 0x0DE0_B6B3, 0, false, 0);

/// Largest leverage of a margin account.
pub const MAX_LEVERAGE: u32 = 1_000;

/// Longest submit or cancel latency: 365 days, in milliseconds.
pub const MAX_LATENCY_MS: u64 = 365 * 86_400_000;

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
    /// Reports every value beyond the bounds the host computes within
    /// ([`MAX_AMOUNT`], [`MAX_LEVERAGE`], [`MAX_LATENCY_MS`]), naming the
    /// field as `{at}.<field>`.
    pub fn check_bounds(&self, at: &str, problems: &mut Problems) {
        let amounts = [
            ("starting_cash".to_owned(), self.starting_cash),
            ("fee_per_order".to_owned(), self.fee_per_order),
        ]
        .into_iter()
        .chain(
            self.balances
                .iter()
                .map(|(currency, amount)| (format!("balances.{currency}"), amount.0)),
        );
        for (field, value) in amounts {
            if value.abs() > MAX_AMOUNT {
                problems.push(format!(
                    "{at}.{field}: must be at most {MAX_AMOUNT} in size, got {value}"
                ));
            }
        }
        if let Some(leverage) = self.leverage.filter(|l| *l > Decimal::from(MAX_LEVERAGE)) {
            problems.push(format!(
                "{at}.leverage: must be at most {MAX_LEVERAGE}, got {leverage}"
            ));
        }
        for (field, ms) in [
            ("submit_latency_ms", self.submit_latency_ms),
            ("cancel_latency_ms", self.cancel_latency_ms),
        ] {
            if ms > MAX_LATENCY_MS {
                problems.push(format!(
                    "{at}.{field}: must be at most {MAX_LATENCY_MS} (365 days), got {ms}"
                ));
            }
        }
    }

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
    /// The highest fee a fill of `notional` can be charged (for risk
    /// estimates); `None` if it does not fit a decimal.
    pub fn worst_case(&self, notional: Decimal) -> Option<Decimal> {
        notional
            .checked_mul(self.maker.max(self.taker))?
            .checked_add(self.per_order)
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
        from_millis(i64::try_from(self.submit_ms).unwrap_or(i64::MAX))
    }

    /// Cancel delay in nanoseconds.
    pub fn cancel_nanos(&self) -> i64 {
        from_millis(i64::try_from(self.cancel_ms).unwrap_or(i64::MAX))
    }
}

/// The adapter behind one execution context's route.
#[derive(Debug)]
pub enum Adapter {
    /// The simulated venue (backtest and paper).
    Simulator(Simulator),
    /// A Binance-spot-compatible venue (sandbox and live).
    Binance {
        /// The connection.
        venue: Box<Binance>,
        /// The fees the context expects, for risk estimates (the venue charges its own).
        fees: FeeSchedule,
    },
}

impl Adapter {
    /// The context's fee schedule.
    pub fn fees(&self) -> &FeeSchedule {
        match self {
            Self::Simulator(s) => s.fees(),
            Self::Binance { fees, .. } => fees,
        }
    }

    /// Slippage the simulator adds to taker fills; none at a venue.
    pub fn slippage(&self) -> Decimal {
        match self {
            Self::Simulator(s) => s.slippage(),
            Self::Binance { .. } => Decimal::ZERO,
        }
    }

    /// Whether there is nothing to do at a step.
    pub fn is_idle(&self) -> bool {
        match self {
            Self::Simulator(s) => s.is_idle(),
            // The user-data stream may have news at any step.
            Self::Binance { .. } => false,
        }
    }

    /// Sends a new order; see [`Simulator::submit`] and [`Binance::submit`].
    pub fn submit(
        &mut self,
        id: OrderId,
        strategy: usize,
        request: OrderRequest,
        time: Timestamp,
        touch: Option<Decimal>,
        out: &mut Vec<VenueEvent>,
    ) {
        match self {
            Self::Simulator(s) => s.submit(id, strategy, request, time, touch, out),
            Self::Binance { venue, .. } => venue.submit(id, strategy, &request, time, out),
        }
    }

    /// Cancels a working order; `Err` says why it cannot be.
    pub fn cancel(
        &mut self,
        id: OrderId,
        strategy: usize,
        time: Timestamp,
        reason: &str,
        out: &mut Vec<VenueEvent>,
    ) -> Result<(), String> {
        match self {
            Self::Simulator(s) => s.cancel(id, strategy, time, reason, out),
            Self::Binance { venue, .. } => venue.cancel(id, out),
        }
    }

    /// Amends a working order; `Err` says why it cannot be.
    pub fn replace(
        &mut self,
        id: OrderId,
        strategy: usize,
        amendment: &Amendment,
        time: Timestamp,
        out: &mut Vec<VenueEvent>,
    ) -> Result<(), String> {
        match self {
            Self::Simulator(s) => s.replace(id, strategy, amendment, time, out),
            Self::Binance { venue, .. } => Err(format!(
                "venue {} (binance-spot) cannot amend an order; cancel it and place a new one",
                venue.id()
            )),
        }
    }

    /// The step's matching (simulator) or the venue's news since the last step.
    pub fn on_market(
        &mut self,
        snapshot: &Snapshot,
        reference: &ReferenceData,
        funds: &mut Funds,
        out: &mut Vec<VenueEvent>,
    ) {
        match self {
            Self::Simulator(s) => s.on_market(snapshot, reference, funds, out),
            Self::Binance { venue, .. } => venue.poll(snapshot.time(), out),
        }
    }
}

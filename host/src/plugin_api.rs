//! The plugin boundary: Rust bindings of `wit/strategy.wit`
//! (`cracktrader:strategy@0.2.0`) and conversions between host types and the
//! boundary's exact representations.
//!
//! Prices and quantities of an instrument cross as integers scaled by the
//! instrument's precision; other amounts cross as [`Decimal`] records.

use rust_decimal::Decimal;

use crate::model::Side;
use crate::model::{OrderStatus, ReportKind};

/// Generated bindings; their documentation is the WIT file's.
#[allow(missing_docs)]
mod bindings {
    wasmtime::component::bindgen!({
        world: "strategy-plugin",
        path: "../wit",
        // serde: the journal records views and intents as they crossed the boundary.
        additional_derives: [PartialEq, serde::Serialize, serde::Deserialize],
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

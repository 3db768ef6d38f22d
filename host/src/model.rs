//! Domain vocabulary shared by every service: identifiers, sides and the
//! conversion between exact decimals and the boundary's scaled integers.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an identifier taken from configuration.
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_id!(
    /// Names one strategy registration in a session.
    StrategyId
);
string_id!(
    /// Names an execution context: venue + account + mode.
    ExecutionId
);
string_id!(
    /// Names a path to a venue for an execution context.
    RouteId
);
string_id!(
    /// A currency code such as `USD`.
    Currency
);

macro_rules! numeric_id {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

numeric_id!(
    /// Session-wide index of an instrument in reference data.
    InstrumentId(u32)
);
numeric_id!(
    /// Host-assigned order identifier, unique within a session.
    OrderId(u64)
);
numeric_id!(
    /// Host-assigned intent identifier, unique within a session.
    IntentId(u64)
);
numeric_id!(
    /// Identifies one snapshot (one step) of a session.
    SnapshotId(u64)
);

/// Direction of an order or fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Buy the base currency / asset.
    Buy,
    /// Sell the base currency / asset.
    Sell,
}

impl Side {
    /// `+1` for buys, `-1` for sells: the sign of the position change.
    pub fn sign(self) -> Decimal {
        match self {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        })
    }
}

/// Nanoseconds since the Unix epoch, UTC: the session's only notion of time.
pub type Timestamp = i64;

/// Formats a timestamp as RFC 3339 in UTC, e.g. `2017-04-19T09:00:00Z`.
pub fn format_time(time: Timestamp) -> String {
    chrono::DateTime::from_timestamp_nanos(time)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A decimal that cannot be carried as an integer at a given scale.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value} does not fit {scale} decimal places in a 64-bit integer")]
pub struct ScaleError {
    /// The value that did not fit.
    pub value: Decimal,
    /// The scale it had to fit.
    pub scale: u8,
}

/// `value` as an integer scaled by `10^scale`, only if that is exact.
pub fn to_scaled(value: Decimal, scale: u8) -> Result<i64, ScaleError> {
    let err = || ScaleError { value, scale };
    if value.scale() > u32::from(scale) {
        // More digits than the scale allows, unless they are trailing zeros.
        let normal = value.normalize();
        if normal.scale() > u32::from(scale) {
            return Err(err());
        }
        return to_scaled(normal, scale);
    }
    let factor = 10i128.pow(u32::from(scale) - value.scale());
    let mantissa = value.mantissa().checked_mul(factor).ok_or_else(err)?;
    i64::try_from(mantissa).map_err(|_| err())
}

/// The decimal `mantissa * 10^-scale`.
pub fn from_scaled(mantissa: i64, scale: u8) -> Decimal {
    Decimal::new(mantissa, u32::from(scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn scaled_conversion_is_exact_or_refused() {
        assert_eq!(to_scaled(d("1.07219"), 5), Ok(107219));
        assert_eq!(to_scaled(d("1.0716"), 5), Ok(107160));
        assert_eq!(to_scaled(d("1000"), 0), Ok(1000));
        assert_eq!(to_scaled(d("2.500"), 1), Ok(25));
        assert!(to_scaled(d("1.071234"), 5).is_err());
        assert!(to_scaled(d("99999999999999999999"), 0).is_err());
    }

    #[test]
    fn times_format_as_utc() {
        assert_eq!(
            format_time(1_492_592_400_000_000_000),
            "2017-04-19T09:00:00Z"
        );
    }

    proptest! {
        #[test]
        fn scaled_round_trip(mantissa in any::<i64>(), scale in 0u8..=18) {
            let value = from_scaled(mantissa, scale);
            prop_assert_eq!(to_scaled(value, scale), Ok(mantissa));
        }
    }
}

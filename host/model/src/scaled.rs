//! Exact decimals and the plugin boundary's scaled integers.

use rust_decimal::Decimal;

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

    proptest! {
        #[test]
        fn scaled_round_trip(mantissa in any::<i64>(), scale in 0u8..=18) {
            let value = from_scaled(mantissa, scale);
            prop_assert_eq!(to_scaled(value, scale), Ok(mantissa));
        }
    }
}

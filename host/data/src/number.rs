//! Exact numbers from text, floats, decimals and integers. A float becomes
//! the decimal its shortest round-trip text spells (`1.07219`, as the
//! program that wrote it would print it): no binary arithmetic touches it.

use rust_decimal::Decimal;

/// A decimal written as text (`1.0716`, `1e2`), surrounding spaces ignored.
pub(crate) fn from_text(text: &str) -> Option<Decimal> {
    let text = text.trim();
    text.parse()
        .ok()
        .or_else(|| Decimal::from_scientific(text).ok())
}

/// The decimal a finite `f64` prints as (its shortest round-trip form).
pub(crate) fn from_f64(value: f64) -> Option<Decimal> {
    if !value.is_finite() {
        return None;
    }
    from_text(ryu::Buffer::new().format_finite(value))
}

/// The decimal a finite `f32` prints as (its shortest round-trip form, as
/// an `f32`: 1.1f32 is 1.1, not 1.100000023841858).
pub(crate) fn from_f32(value: f32) -> Option<Decimal> {
    if !value.is_finite() {
        return None;
    }
    from_text(ryu::Buffer::new().format_finite(value))
}

/// The decimal `mantissa × 10^-scale` (an Arrow or Parquet decimal), if a
/// [`Decimal`] holds it: at most 28 places and 96 bits of mantissa.
pub(crate) fn from_mantissa(mantissa: i128, scale: i8) -> Option<Decimal> {
    if scale < 0 {
        let factor = 10i128.checked_pow(u32::from(scale.unsigned_abs()))?;
        return from_mantissa(mantissa.checked_mul(factor)?, 0);
    }
    Decimal::try_from_i128_with_scale(mantissa, u32::from(scale.unsigned_abs())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn floats_read_as_they_print() {
        assert_eq!(from_f64(1.07219), Some(d("1.07219")));
        assert_eq!(from_f64(0.1 + 0.2), Some(d("0.30000000000000004")));
        assert_eq!(from_f64(1e-7), Some(d("0.0000001")));
        assert_eq!(from_f64(22351900.0), Some(d("22351900")));
        assert_eq!(from_f32(1.1), Some(d("1.1")));
        assert_eq!(from_f64(f64::NAN), None);
        assert_eq!(from_f64(f64::INFINITY), None);
        assert_eq!(from_f64(1e300), None, "beyond a Decimal");
    }

    #[test]
    fn text_and_mantissas() {
        assert_eq!(from_text(" 1.0716 "), Some(d("1.0716")));
        assert_eq!(from_text("1e2"), Some(d("100")));
        assert_eq!(from_text("abc"), None);
        assert_eq!(from_mantissa(107219, 5), Some(d("1.07219")));
        assert_eq!(from_mantissa(12, -2), Some(d("1200")));
        assert_eq!(from_mantissa(1, 29), None);
        assert_eq!(from_mantissa(i128::MAX, 0), None);
    }

    proptest! {
        /// A float's decimal is the float: parsing its text back gives the
        /// same bits, so nothing was rounded on the way.
        #[test]
        fn float_decimals_round_trip(value in proptest::num::f64::NORMAL) {
            if let Some(decimal) = from_f64(value) {
                let back: f64 = decimal.to_string().parse().unwrap();
                prop_assert_eq!(back, value);
            }
        }

        #[test]
        fn mantissas_are_exact(mantissa in any::<i64>(), scale in 0i8..=18) {
            let decimal = from_mantissa(i128::from(mantissa), scale).unwrap();
            prop_assert_eq!(decimal.mantissa(), i128::from(mantissa));
            prop_assert_eq!(decimal.scale(), u32::from(scale.unsigned_abs()));
        }
    }
}

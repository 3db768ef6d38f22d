//! Exact numbers from text, floats, decimals and integers. A float becomes
//! the decimal its shortest round-trip text spells (`1.07219`, as the
//! program that wrote it would print it): no binary arithmetic touches it.

use rust_decimal::Decimal;

/// Most decimal places a [`Decimal`] holds.
const MAX_SCALE: i64 = 28;

/// The decimal `text` spells (`1.0716`, `-2`, `.5`, `1e2`, `1.5E-7`),
/// surrounding spaces ignored; `None` unless a [`Decimal`] holds it exactly
/// (rust_decimal's own parsers round digits beyond its 28 places). The
/// places written are kept: `1.070` has three.
pub(crate) fn from_text(text: &str) -> Option<Decimal> {
    let text = text.trim();
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (number, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (&unsigned[..i], unsigned[i + 1..].parse::<i32>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !digits(whole) || !digits(fraction) {
        return None;
    }
    let mut mantissa: i128 = 0;
    let mut scale = i64::try_from(fraction.len()).ok()? - i64::from(exponent);
    for (i, b) in whole.bytes().chain(fraction.bytes()).enumerate() {
        let digit = i128::from(b - b'0');
        if mantissa.checked_mul(10).is_none() && digit == 0 && i >= whole.len() {
            // Trailing zeros past what an i128 holds: drop them.
            scale -= 1;
            continue;
        }
        mantissa = mantissa.checked_mul(10)?.checked_add(digit)?;
    }
    while scale > MAX_SCALE && mantissa % 10 == 0 && mantissa != 0 {
        mantissa /= 10;
        scale -= 1;
    }
    if scale < 0 {
        mantissa = mantissa.checked_mul(10i128.checked_pow(u32::try_from(-scale).ok()?)?)?;
        scale = 0;
    }
    if scale > MAX_SCALE {
        return None;
    }
    let signed = if negative { -mantissa } else { mantissa };
    Decimal::try_from_i128_with_scale(signed, u32::try_from(scale).ok()?).ok()
}

/// The decimal a finite `f64` prints as (its shortest round-trip form).
pub(crate) fn from_f64(value: f64) -> Option<Decimal> {
    if !value.is_finite() {
        return None;
    }
    // The fewest decimal places at which an integer mantissa rounds back to
    // `value` spell its shortest text, found without formatting: `m` below
    // 2^53 and `10^places` (to 10^22) are exact floats, and `m / 10^places`
    // rounds correctly, so the test is exactly "the decimal reads as
    // `value`". Prices have a few places; other values take ryu's path.
    let mut power = 1.0f64;
    for places in 0..=15 {
        let scaled = value * power;
        if scaled.abs() >= 9_007_199_254_740_992.0 {
            break;
        }
        let mantissa = scaled.round();
        if mantissa / power == value {
            // Below 2^53 in magnitude, so the cast is exact.
            return Some(Decimal::new(mantissa as i64, places));
        }
        power *= 10.0;
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
    if let (Ok(small), 0..=28) = (i64::try_from(mantissa), scale) {
        // The usual case, without the 96-bit bounds checks.
        return Some(Decimal::new(small, u32::from(scale.unsigned_abs())));
    }
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
        assert_eq!(from_text("1.070").map(|d| d.scale()), Some(3));
        assert_eq!(from_text("1e2"), Some(d("100")));
        assert_eq!(from_text("1.5E-7"), Some(d("0.00000015")));
        assert_eq!(from_text("-.5"), Some(d("-0.5")));
        assert_eq!(from_text("+2."), Some(d("2")));
        for bad in [
            "abc", "", ".", "1.2.3", "1e", "--1", "1,5", "NaN", "inf", "0x10", "1e99999",
        ] {
            assert_eq!(from_text(bad), None, "{bad}");
        }
        // Digits a Decimal cannot hold are refused, not rounded.
        assert_eq!(from_text("1.00000000000000000000000000001"), None);
        assert_eq!(from_text("1.5248752397382309e-28"), None);
        assert_eq!(from_text(&format!("1.{}", "0".repeat(60))), Some(d("1")));
        assert_eq!(from_mantissa(107219, 5), Some(d("1.07219")));
        assert_eq!(from_mantissa(12, -2), Some(d("1200")));
        assert_eq!(from_mantissa(1, 29), None);
        assert_eq!(from_mantissa(i128::MAX, 0), None);
    }

    proptest! {
        /// The fast path agrees with the shortest text, for prices of a
        /// few places and for any float.
        #[test]
        fn floats_read_as_ryu_prints_them(mantissa in -10_000_000_000i64..10_000_000_000, places in 0u32..=12, bits in any::<u64>()) {
            let price = Decimal::new(mantissa, places).to_string().parse::<f64>().unwrap();
            for value in [price, f64::from_bits(bits)] {
                if value.is_finite() {
                    prop_assert_eq!(from_f64(value), from_text(ryu::Buffer::new().format_finite(value)), "{}", value);
                }
            }
        }

        /// Text of any decimal reads back as that decimal.
        #[test]
        fn decimal_text_round_trips(mantissa in any::<i64>(), scale in 0u32..=28) {
            let value = Decimal::new(mantissa, scale);
            prop_assert_eq!(from_text(&value.to_string()), Some(value));
        }

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

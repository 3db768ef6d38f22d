//! Exact decimal helpers on the WIT [`Decimal`] (`mantissa * 10^-scale`).
//!
//! Equality of the generated type is not defined on purpose: `1.0` and `1.00`
//! are the same number with different representations. Compare
//! [`Decimal::rescale`]d mantissas instead.

use std::fmt;
use std::str::FromStr;

use crate::Decimal;

/// The largest scale the WIT contract allows.
const MAX_SCALE: u8 = 28;

/// Powers of ten as `f64`. Up to 1e22 they are exact, so dividing an exact
/// mantissa by one is correctly rounded; the rest are the nearest `f64`s. A
/// table (rather than `powi`) keeps the result identical on every platform.
const POW10: [f64; 29] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28,
];

/// `10^scale` as an `f64` (see [`POW10`]); scales beyond the WIT's 28 fall
/// back to `powi`.
pub(crate) fn pow10_f64(scale: u8) -> f64 {
    POW10
        .get(usize::from(scale))
        .copied()
        .unwrap_or_else(|| 10f64.powi(i32::from(scale)))
}

impl Decimal {
    /// The number `mantissa * 10^-scale`.
    pub const fn new(mantissa: i64, scale: u8) -> Decimal {
        Decimal { mantissa, scale }
    }

    /// Parses `[+-]digits[.digits]` exactly, keeping every written digit:
    /// `"0.001"` is mantissa 1, scale 3; `"1.50"` is mantissa 150, scale 2.
    ///
    /// No exponent, no surrounding whitespace, at most 28 decimal places and a
    /// mantissa that fits in an `i64`; the error names the text.
    pub fn parse(text: &str) -> Result<Decimal, String> {
        let invalid = || format!("invalid decimal '{text}': expected [-]digits[.digits]");
        let (negative, unsigned) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            _ => (false, text),
        };
        let (int_part, frac_part) = match unsigned.split_once('.') {
            Some((int_part, frac_part)) => (int_part, Some(frac_part)),
            None => (unsigned, None),
        };
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(int_part) || !frac_part.is_none_or(all_digits) {
            return Err(invalid());
        }
        let frac_part = frac_part.unwrap_or("");
        let scale = u8::try_from(frac_part.len())
            .ok()
            .filter(|scale| *scale <= MAX_SCALE)
            .ok_or_else(|| format!("decimal '{text}' has more than {MAX_SCALE} decimal places"))?;
        // Accumulate negatively so that i64::MIN parses too.
        let mut mantissa: i64 = 0;
        for digit in int_part.bytes().chain(frac_part.bytes()) {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_sub(i64::from(digit - b'0')))
                .ok_or_else(|| format!("decimal '{text}' does not fit in 64 bits"))?;
        }
        if !negative {
            mantissa = mantissa
                .checked_neg()
                .ok_or_else(|| format!("decimal '{text}' does not fit in 64 bits"))?;
        }
        Ok(Decimal { mantissa, scale })
    }

    /// The mantissa of this number written with `scale` decimal places, or
    /// `None` if that would drop non-zero digits or overflow an `i64`.
    ///
    /// `Decimal::new(1500, 3).rescale(1) == Some(15)`;
    /// `Decimal::new(1, 3).rescale(2) == None`.
    pub fn rescale(&self, scale: u8) -> Option<i64> {
        let mantissa = i128::from(self.mantissa);
        if scale >= self.scale {
            let factor = 10i128.checked_pow(u32::from(scale - self.scale))?;
            i64::try_from(mantissa.checked_mul(factor)?).ok()
        } else {
            let factor = 10i128.checked_pow(u32::from(self.scale - scale))?;
            if mantissa % factor != 0 {
                return None;
            }
            i64::try_from(mantissa / factor).ok()
        }
    }

    /// The nearest `f64`: correctly rounded when `|mantissa| <= 2^53` and
    /// `scale <= 22`, and computed the same way on every platform.
    pub fn to_f64(&self) -> f64 {
        self.mantissa as f64 / pow10_f64(self.scale)
    }
}

impl fmt::Display for Decimal {
    /// Writes every digit of the representation: `Decimal::new(-5, 3)` is
    /// `-0.005`, `Decimal::new(150, 2)` is `1.50`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.unsigned_abs().to_string();
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let scale = usize::from(self.scale);
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int_part, frac_part) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int_part}.{frac_part}")
    }
}

impl FromStr for Decimal {
    type Err = String;

    /// Same as [`Decimal::parse`], so that config parameters can be read with
    /// [`Config::param`](crate::Config::param).
    fn from_str(text: &str) -> Result<Decimal, String> {
        Decimal::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(decimal: Decimal) -> (i64, u8) {
        (decimal.mantissa, decimal.scale)
    }

    #[test]
    fn parses_exactly() {
        let cases = [
            ("1000", (1000, 0)),
            ("0.001", (1, 3)),
            ("1.50", (150, 2)),
            ("-0.05", (-5, 2)),
            ("+7", (7, 0)),
            ("9223372036854775807", (i64::MAX, 0)),
            ("-9223372036854775808", (i64::MIN, 0)),
            ("0.0000000000000000000000000001", (1, 28)),
        ];
        for (text, expected) in cases {
            assert_eq!(parts(Decimal::parse(text).unwrap()), expected, "{text}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_represent() {
        let cases = [
            ("", "invalid decimal '': expected [-]digits[.digits]"),
            ("abc", "invalid decimal 'abc': expected [-]digits[.digits]"),
            ("1.", "invalid decimal '1.': expected [-]digits[.digits]"),
            (".5", "invalid decimal '.5': expected [-]digits[.digits]"),
            ("1e3", "invalid decimal '1e3': expected [-]digits[.digits]"),
            (" 1", "invalid decimal ' 1': expected [-]digits[.digits]"),
            ("--1", "invalid decimal '--1': expected [-]digits[.digits]"),
            (
                "9223372036854775808",
                "decimal '9223372036854775808' does not fit in 64 bits",
            ),
            (
                "0.00000000000000000000000000001",
                "decimal '0.00000000000000000000000000001' has more than 28 decimal places",
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(Decimal::parse(text).unwrap_err(), expected, "{text:?}");
        }
    }

    #[test]
    fn displays_every_digit() {
        let cases = [
            (Decimal::new(1000, 0), "1000"),
            (Decimal::new(1, 3), "0.001"),
            (Decimal::new(-5, 3), "-0.005"),
            (Decimal::new(150, 2), "1.50"),
            (Decimal::new(107219, 5), "1.07219"),
            (Decimal::new(i64::MIN, 2), "-92233720368547758.08"),
        ];
        for (decimal, expected) in cases {
            assert_eq!(decimal.to_string(), expected);
            assert_eq!(parts(expected.parse().unwrap()), parts(decimal));
        }
    }

    #[test]
    fn rescales_only_when_exact() {
        let cases = [
            (Decimal::new(1500, 3), 1, Some(15)),
            (Decimal::new(1500, 3), 5, Some(150_000)),
            (Decimal::new(1, 3), 2, None),
            (Decimal::new(-20, 1), 0, Some(-2)),
            (Decimal::new(1, 0), 18, Some(1_000_000_000_000_000_000)),
            (Decimal::new(10, 0), 18, None),
            (Decimal::new(1, 0), 28, None),
            (Decimal::new(0, 0), 28, Some(0)),
            (Decimal::new(5, 28), 0, None),
        ];
        for (decimal, scale, expected) in cases {
            assert_eq!(decimal.rescale(scale), expected, "{decimal} at {scale}");
        }
    }

    #[test]
    fn converts_to_the_nearest_f64() {
        assert_eq!(Decimal::new(107219, 5).to_f64(), 1.07219);
        assert_eq!(Decimal::new(-1, 3).to_f64(), -0.001);
        assert_eq!(Decimal::new(1000, 0).to_f64(), 1000.0);
    }
}

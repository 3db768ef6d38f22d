//! Conversions between an instrument's scaled integers and other numbers.

use crate::decimal::pow10_f64;
use crate::{Decimal, Instrument};

impl Instrument {
    /// A price of this instrument (scaled by `price_scale`) as the nearest
    /// `f64`, e.g. 107219 at scale 5 is 1.07219.
    pub fn price_to_f64(&self, price: i64) -> f64 {
        price as f64 / pow10_f64(self.price_scale)
    }

    /// The scaled price nearest to `price` that is a multiple of the tick
    /// size (halfway cases round away from zero).
    ///
    /// Out-of-range values saturate at the `i64` limits (which need not be
    /// tick multiples) and NaN gives 0, as Rust's float-to-integer casts do. A non-positive tick size (which the
    /// host never grants) is treated as 1.
    pub fn price_from_f64(&self, price: f64) -> i64 {
        let tick = self.tick_size.max(1);
        let ticks = (price * pow10_f64(self.price_scale) / tick as f64).round();
        (ticks as i64).saturating_mul(tick)
    }

    /// A quantity of this instrument (scaled by `qty_scale`) as the nearest
    /// `f64`.
    pub fn qty_to_f64(&self, qty: i64) -> f64 {
        qty as f64 / pow10_f64(self.qty_scale)
    }

    /// `qty` scaled by `qty_scale`, exactly, if it is a multiple of the lot
    /// size; otherwise an error naming the value, the limit and the symbol.
    /// The sign is kept: checking it is the caller's business.
    pub fn qty_from_decimal(&self, qty: &Decimal) -> Result<i64, String> {
        let symbol = &self.symbol;
        let scaled = qty.rescale(self.qty_scale).ok_or_else(|| {
            if qty.scale > self.qty_scale {
                format!(
                    "quantity {qty} has more than {} decimal places for {symbol}",
                    self.qty_scale
                )
            } else {
                format!("quantity {qty} is too large for {symbol}")
            }
        })?;
        if self.lot_size <= 0 {
            return Err(format!(
                "instrument {symbol} has an invalid lot size {}",
                self.lot_size
            ));
        }
        if scaled % self.lot_size != 0 {
            let lot = Decimal::new(self.lot_size, self.qty_scale);
            return Err(format!(
                "quantity {qty} is not a multiple of the lot size {lot} for {symbol}"
            ));
        }
        Ok(scaled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn btcusdt() -> Instrument {
        Instrument {
            id: 3,
            symbol: "BTCUSDT".to_string(),
            base_currency: "BTC".to_string(),
            quote_currency: "USDT".to_string(),
            price_scale: 2,
            qty_scale: 5,
            tick_size: 10,
            lot_size: 100,
            min_notional: Decimal::new(5, 0),
        }
    }

    #[test]
    fn prices_convert_both_ways() {
        let btc = btcusdt();
        assert_eq!(btc.price_to_f64(6_543_210), 65432.1);
        let cases = [
            (65432.1, 6_543_210),
            (65432.14, 6_543_210),
            (65432.16, 6_543_220),
            (-0.04, 0),
            (-0.06, -10),
            (f64::NAN, 0),
            (1e300, i64::MAX),
        ];
        for (price, expected) in cases {
            assert_eq!(btc.price_from_f64(price), expected, "{price}");
        }
    }

    #[test]
    fn quantities_must_be_exact_lot_multiples() {
        let btc = btcusdt();
        assert_eq!(btc.qty_to_f64(150), 0.0015);
        let ok = [
            ("0.001", 100),
            ("0.0150", 1500),
            ("2", 200_000),
            ("-0.001", -100),
        ];
        for (text, expected) in ok {
            assert_eq!(
                btc.qty_from_decimal(&text.parse().unwrap()),
                Ok(expected),
                "{text}"
            );
        }
        let refused = [
            (
                "0.0015",
                "quantity 0.0015 is not a multiple of the lot size 0.00100 for BTCUSDT",
            ),
            (
                "0.000001",
                "quantity 0.000001 has more than 5 decimal places for BTCUSDT",
            ),
            (
                "100000000000000",
                "quantity 100000000000000 is too large for BTCUSDT",
            ),
        ];
        for (text, expected) in refused {
            assert_eq!(
                btc.qty_from_decimal(&text.parse().unwrap()).unwrap_err(),
                expected,
                "{text}"
            );
        }
    }
}

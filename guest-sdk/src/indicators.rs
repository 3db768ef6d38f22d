//! Incremental indicators over `f64`: one `update` per new value, O(1) each.
//!
//! `update` returns `None` until the indicator has seen enough values
//! ("warmed up"), then the new value. Every formula is spelled out with its
//! exact order of IEEE-754 operations (no fused multiply-add, no
//! reassociation), so a strategy written in another language that follows the
//! same order reproduces the values bit for bit — and so does a restored
//! instance: [`StateWriter`] keeps the exact bits of every accumulator.

use crate::state::{StateReader, StateWriter};

/// Simple moving average of the last `period` values.
///
/// Keeps the window in a ring buffer and a running sum. The sum is updated as
/// `sum = sum - oldest` (once the window is full) then `sum = sum + x`, in that
/// order, and the value is `sum / period`. A running sum accumulates rounding
/// differently from re-adding the window each time; the fixed order makes
/// that drift deterministic, which matters more here than the last ulp.
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    /// The last `period` values; once full, `next` indexes the oldest.
    window: Vec<f64>,
    next: usize,
    sum: f64,
}

impl Sma {
    /// An empty average over `period` values.
    ///
    /// # Panics
    ///
    /// If `period` is 0 (validate configuration before building indicators).
    pub fn new(period: usize) -> Sma {
        assert!(period > 0, "Sma period must be at least 1");
        Sma {
            period,
            window: Vec::with_capacity(period),
            next: 0,
            sum: 0.0,
        }
    }

    /// The number of values averaged.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Adds `x`; returns the average once `period` values have been seen.
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if self.window.len() < self.period {
            self.window.push(x);
        } else {
            self.sum -= self.window[self.next];
            self.window[self.next] = x;
            self.next = (self.next + 1) % self.period;
        }
        self.sum += x;
        self.value()
    }

    /// The current average, once warmed up.
    pub fn value(&self) -> Option<f64> {
        self.is_ready().then(|| self.sum / self.period as f64)
    }

    /// Whether `period` values have been seen.
    pub fn is_ready(&self) -> bool {
        self.window.len() == self.period
    }

    /// Appends the exact state (period, window, running sum) to `writer`.
    pub fn save(&self, writer: &mut StateWriter) {
        writer.write_u64(self.period as u64);
        writer.write_u64(self.window.len() as u64);
        writer.write_u64(self.next as u64);
        writer.write_f64(self.sum);
        for value in &self.window {
            writer.write_f64(*value);
        }
    }

    /// Reads state written by [`Sma::save`], checking it is consistent.
    pub fn restore(reader: &mut StateReader<'_>) -> Result<Sma, String> {
        let period = read_usize(reader, "Sma period")?;
        let len = read_usize(reader, "Sma window length")?;
        let next = read_usize(reader, "Sma ring index")?;
        let sum = reader.read_f64()?;
        let ring_ok = if len == period {
            next < period
        } else {
            next == 0
        };
        if period == 0 || len > period || !ring_ok {
            return Err(format!(
                "inconsistent Sma state: period {period}, window length {len}, ring index {next}"
            ));
        }
        // Grow as values are read, so a corrupt huge period cannot allocate
        // more than the bytes actually hold.
        let mut window = Vec::new();
        for _ in 0..len {
            window.push(reader.read_f64()?);
        }
        window.reserve_exact(period - len);
        Ok(Sma {
            period,
            window,
            next,
            sum,
        })
    }
}

/// Exponential moving average with `alpha = 2 / (period + 1)`, seeded by the
/// simple average of the first `period` values.
///
/// Seed: `sum = sum + x` for the first `period` values, then `ema = sum /
/// period`. After that: `ema = alpha * x + (1 - alpha) * ema`, evaluated as
/// written (two products, then their sum), with `alpha` computed once as
/// `2.0 / (period + 1.0)` and `1 - alpha` once as `1.0 - alpha`.
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    alpha: f64,
    /// Values seen while seeding, up to `period`.
    seen: usize,
    /// The running sum while seeding, the average afterwards.
    acc: f64,
}

impl Ema {
    /// An empty average over `period` values.
    ///
    /// # Panics
    ///
    /// If `period` is 0.
    pub fn new(period: usize) -> Ema {
        assert!(period > 0, "Ema period must be at least 1");
        Ema {
            period,
            alpha: 2.0 / (period as f64 + 1.0),
            seen: 0,
            acc: 0.0,
        }
    }

    /// The period the smoothing factor was derived from.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Adds `x`; returns the average once `period` values have been seen.
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if self.seen < self.period {
            self.acc += x;
            self.seen += 1;
            if self.seen == self.period {
                self.acc /= self.period as f64;
            }
        } else {
            self.acc = self.alpha * x + (1.0 - self.alpha) * self.acc;
        }
        self.value()
    }

    /// The current average, once warmed up.
    pub fn value(&self) -> Option<f64> {
        self.is_ready().then_some(self.acc)
    }

    /// Whether `period` values have been seen.
    pub fn is_ready(&self) -> bool {
        self.seen == self.period
    }

    /// Appends the exact state to `writer`.
    pub fn save(&self, writer: &mut StateWriter) {
        writer.write_u64(self.period as u64);
        writer.write_u64(self.seen as u64);
        writer.write_f64(self.acc);
    }

    /// Reads state written by [`Ema::save`], checking it is consistent.
    pub fn restore(reader: &mut StateReader<'_>) -> Result<Ema, String> {
        let period = read_usize(reader, "Ema period")?;
        let seen = read_usize(reader, "Ema count")?;
        let acc = reader.read_f64()?;
        if period == 0 || seen > period {
            return Err(format!(
                "inconsistent Ema state: period {period}, {seen} values seen"
            ));
        }
        Ok(Ema {
            seen,
            acc,
            ..Ema::new(period)
        })
    }
}

/// Wilder's relative strength index over `period` changes, in 0..=100.
///
/// The first averages are the simple averages of the first `period` gains and
/// losses (so the first value needs `period + 1` inputs); after that each is
/// smoothed as `avg = (avg * (period - 1) + current) / period`. The value is
/// `100 - 100 / (1 + avg_gain / avg_loss)`; 100 when there were no losses, 50
/// when there was no movement at all.
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    previous: Option<f64>,
    /// Changes seen while seeding, up to `period`.
    seen: usize,
    /// Sums of gains and losses while seeding, Wilder's averages afterwards.
    gain: f64,
    loss: f64,
}

impl Rsi {
    /// An empty index over `period` changes (14 is Wilder's choice).
    ///
    /// # Panics
    ///
    /// If `period` is 0.
    pub fn new(period: usize) -> Rsi {
        assert!(period > 0, "Rsi period must be at least 1");
        Rsi {
            period,
            previous: None,
            seen: 0,
            gain: 0.0,
            loss: 0.0,
        }
    }

    /// The number of changes averaged.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Adds `x`; returns the index once `period` changes have been seen.
    pub fn update(&mut self, x: f64) -> Option<f64> {
        if let Some(previous) = self.previous.replace(x) {
            let change = x - previous;
            let (gain, loss) = if change > 0.0 {
                (change, 0.0)
            } else {
                (0.0, -change)
            };
            let n = self.period as f64;
            if self.seen < self.period {
                self.gain += gain;
                self.loss += loss;
                self.seen += 1;
                if self.seen == self.period {
                    self.gain /= n;
                    self.loss /= n;
                }
            } else {
                self.gain = (self.gain * (n - 1.0) + gain) / n;
                self.loss = (self.loss * (n - 1.0) + loss) / n;
            }
        }
        self.value()
    }

    /// The current index, once warmed up.
    pub fn value(&self) -> Option<f64> {
        if !self.is_ready() {
            return None;
        }
        Some(if self.loss == 0.0 {
            if self.gain == 0.0 {
                50.0
            } else {
                100.0
            }
        } else {
            100.0 - 100.0 / (1.0 + self.gain / self.loss)
        })
    }

    /// Whether `period` changes have been seen.
    pub fn is_ready(&self) -> bool {
        self.seen == self.period
    }

    /// Appends the exact state to `writer`.
    pub fn save(&self, writer: &mut StateWriter) {
        writer.write_u64(self.period as u64);
        writer.write_u64(self.seen as u64);
        writer.write_u8(u8::from(self.previous.is_some()));
        writer.write_f64(self.previous.unwrap_or(0.0));
        writer.write_f64(self.gain);
        writer.write_f64(self.loss);
    }

    /// Reads state written by [`Rsi::save`], checking it is consistent.
    pub fn restore(reader: &mut StateReader<'_>) -> Result<Rsi, String> {
        let period = read_usize(reader, "Rsi period")?;
        let seen = read_usize(reader, "Rsi count")?;
        let has_previous = reader.read_u8()?;
        let previous = reader.read_f64()?;
        let gain = reader.read_f64()?;
        let loss = reader.read_f64()?;
        if period == 0 || seen > period || has_previous > 1 || (seen > 0 && has_previous == 0) {
            return Err(format!(
                "inconsistent Rsi state: period {period}, {seen} changes seen, previous flag {has_previous}"
            ));
        }
        Ok(Rsi {
            period,
            previous: (has_previous == 1).then_some(previous),
            seen,
            gain,
            loss,
        })
    }
}

fn read_usize(reader: &mut StateReader<'_>, what: &str) -> Result<usize, String> {
    let value = reader.read_u64()?;
    usize::try_from(value)
        .map_err(|_| format!("{what} {value} does not fit in this platform's usize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Closes from Wilder's RSI example as published by StockCharts
    /// ("Relative Strength Index (RSI)", ChartSchool), with 4 decimals.
    const RSI_CLOSES: [f64; 21] = [
        44.3389, 44.0902, 44.1497, 43.6124, 44.3278, 44.8264, 45.0955, 45.4245, 45.8433, 46.0826,
        45.8931, 46.0328, 45.6140, 46.2820, 46.2820, 46.0028, 46.0328, 46.4116, 46.2222, 45.6439,
        46.2122,
    ];

    fn round2(x: f64) -> f64 {
        (x * 100.0).round() / 100.0
    }

    /// Feeds `values` to `update` and restores a copy from saved state half
    /// way, checking that both continue with identical bits.
    fn outputs_with_restore<I>(
        mut indicator: I,
        values: &[f64],
        update: fn(&mut I, f64) -> Option<f64>,
        save: fn(&I, &mut StateWriter),
        restore: fn(&mut StateReader<'_>) -> Result<I, String>,
    ) -> Vec<Option<f64>> {
        let half = values.len() / 2;
        let mut outputs: Vec<Option<f64>> = values[..half]
            .iter()
            .map(|x| update(&mut indicator, *x))
            .collect();
        let mut writer = StateWriter::new(1);
        save(&indicator, &mut writer);
        let bytes = writer.into_bytes();
        let mut reader = StateReader::new(&bytes).unwrap();
        let mut restored = restore(&mut reader).unwrap();
        reader.finish().unwrap();
        for x in &values[half..] {
            let original = update(&mut indicator, *x);
            let copy = update(&mut restored, *x);
            assert_eq!(original.map(f64::to_bits), copy.map(f64::to_bits));
            outputs.push(original);
        }
        outputs
    }

    #[test]
    fn sma_averages_the_last_period_values() {
        let mut sma = Sma::new(3);
        assert_eq!(sma.update(1.0), None);
        assert_eq!(sma.update(2.0), None);
        assert!(!sma.is_ready());
        assert_eq!(sma.update(3.0), Some(2.0));
        assert_eq!(sma.update(4.0), Some(3.0));
        assert_eq!(sma.value(), Some(3.0));
        assert_eq!(sma.update(8.0), Some(5.0));
        assert_eq!(sma.period(), 3);

        let values = [1.0, 2.0, 3.0, 4.0, 8.0, 0.5, 0.25];
        let outputs =
            outputs_with_restore(Sma::new(3), &values, Sma::update, Sma::save, Sma::restore);
        assert_eq!(
            outputs,
            [
                None,
                None,
                Some(2.0),
                Some(3.0),
                Some(5.0),
                Some(12.5 / 3.0),
                Some(8.75 / 3.0)
            ]
        );
    }

    #[test]
    fn sma_of_period_one_is_the_input() {
        let mut sma = Sma::new(1);
        assert_eq!(sma.update(7.5), Some(7.5));
        assert_eq!(sma.update(-1.0), Some(-1.0));
    }

    #[test]
    fn ema_is_seeded_by_the_sma() {
        // alpha = 2 / (3 + 1) = 0.5: seed (1 + 2 + 3) / 3 = 2, then
        // 0.5 * 4 + 0.5 * 2 = 3, then 0.5 * 5 + 0.5 * 3 = 4.
        let values = [1.0, 2.0, 3.0, 4.0, 5.0, 13.0];
        let outputs =
            outputs_with_restore(Ema::new(3), &values, Ema::update, Ema::save, Ema::restore);
        assert_eq!(
            outputs,
            [None, None, Some(2.0), Some(3.0), Some(4.0), Some(8.5)]
        );

        // alpha = 2 / 11: seed 5.5 from 1..=10, then 2/11 * 21 + 9/11 * 5.5.
        let mut ema = Ema::new(10);
        for x in 1..=10 {
            ema.update(f64::from(x));
        }
        assert_eq!(ema.value(), Some(5.5));
        let expected = (2.0 / 11.0) * 21.0 + (1.0 - 2.0 / 11.0) * 5.5;
        assert_eq!(ema.update(21.0), Some(expected));
        assert!((expected - 8.318_181_818_181_818).abs() < 1e-12);
    }

    #[test]
    fn rsi_matches_wilders_textbook_example() {
        let outputs = outputs_with_restore(
            Rsi::new(14),
            &RSI_CLOSES,
            Rsi::update,
            Rsi::save,
            Rsi::restore,
        );
        assert!(outputs[..14].iter().all(Option::is_none));
        let rounded: Vec<f64> = outputs[14..].iter().map(|v| round2(v.unwrap())).collect();
        assert_eq!(rounded, [70.53, 66.32, 66.55, 69.41, 66.36, 57.97, 62.93]);
    }

    #[test]
    fn rsi_handles_one_sided_and_flat_markets() {
        // Period 2: changes +2, -1 give averages 1 and 0.5, RS 2, RSI 100 - 100/3;
        // then +2 gives (1 + 2) / 2 = 1.5 and (0.5 + 0) / 2 = 0.25, RS 6.
        let mut rsi = Rsi::new(2);
        assert_eq!(rsi.update(1.0), None);
        assert_eq!(rsi.update(3.0), None);
        assert_eq!(rsi.update(2.0), Some(100.0 - 100.0 / 3.0));
        assert_eq!(rsi.update(4.0), Some(100.0 - 100.0 / 7.0));

        let mut rising = Rsi::new(2);
        let rising: Vec<Option<f64>> = [1.0, 2.0, 3.0].iter().map(|x| rising.update(*x)).collect();
        assert_eq!(rising, [None, None, Some(100.0)]);
        let mut flat = Rsi::new(2);
        let flat: Vec<Option<f64>> = [5.0, 5.0, 5.0].iter().map(|x| flat.update(*x)).collect();
        assert_eq!(flat, [None, None, Some(50.0)]);
    }

    #[test]
    fn restore_refuses_inconsistent_state() {
        let mut writer = StateWriter::new(1);
        for value in [3u64, 4, 0] {
            writer.write_u64(value);
        }
        writer.write_f64(0.0);
        let bytes = writer.into_bytes();
        assert_eq!(
            Sma::restore(&mut StateReader::new(&bytes).unwrap()).unwrap_err(),
            "inconsistent Sma state: period 3, window length 4, ring index 0"
        );
        let mut writer = StateWriter::new(1);
        writer.write_u64(0);
        writer.write_u64(0);
        writer.write_f64(0.0);
        let bytes = writer.into_bytes();
        assert_eq!(
            Ema::restore(&mut StateReader::new(&bytes).unwrap()).unwrap_err(),
            "inconsistent Ema state: period 0, 0 values seen"
        );
        let mut writer = StateWriter::new(1);
        writer.write_u64(14);
        writer.write_u64(1);
        writer.write_u8(0);
        for _ in 0..3 {
            writer.write_f64(0.0);
        }
        let bytes = writer.into_bytes();
        assert_eq!(
            Rsi::restore(&mut StateReader::new(&bytes).unwrap()).unwrap_err(),
            "inconsistent Rsi state: period 14, 1 changes seen, previous flag 0"
        );
    }

    #[test]
    #[should_panic(expected = "Sma period must be at least 1")]
    fn sma_of_period_zero_is_refused() {
        Sma::new(0);
    }
}

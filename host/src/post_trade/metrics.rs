//! Performance metrics of an equity curve and its round trips, for the
//! session as a whole and for each strategy (see `docs/reports.md` for the
//! definitions).
//!
//! Money figures (returns, drawdown, commissions, notional) are exact
//! decimals; ratio statistics (volatility, Sharpe, Sortino, win rate, profit
//! factor, exposure, turnover) are f64. Per-step returns are simple returns
//! between consecutive points of the curve; the risk-free rate is 0;
//! annualisation uses the number of steps per year implied by the median step
//! interval.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::model::Timestamp;

/// Length of a year in nanoseconds (365.25 days).
pub const NANOS_PER_YEAR: f64 = 365.25 * 24.0 * 3600.0 * 1e9;

/// One point of an equity curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Step time, nanoseconds since the epoch (UTC).
    pub time: Timestamp,
    /// Equity at the end of the step.
    pub equity: Decimal,
}

/// What the metrics are computed from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// Equity after each step.
    pub curve: &'a [Sample],
    /// Money at the start, the base of the total return.
    pub capital: Decimal,
    /// Net PnL (after commissions) of each closed round trip.
    pub trade_pnl: &'a [Decimal],
    /// Steps that ended with a position open.
    pub steps_in_market: u64,
    /// Σ |qty × price| of every fill.
    pub traded_notional: Decimal,
    /// Commissions paid.
    pub commissions: Decimal,
}

/// Performance figures of a session or of one strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    /// Money at the start (a strategy's share of its account).
    pub capital: Decimal,
    /// Equity at the end.
    pub final_equity: Decimal,
    /// Final equity − capital: PnL after commissions, realized and unrealized.
    pub net_pnl: Decimal,
    /// final / capital − 1.
    pub total_return: Decimal,
    /// Compound annual growth rate over the curve's calendar span; `null` if
    /// the span is empty or the equity ended at or below zero.
    pub annualized_return: Option<f64>,
    /// Steps per year implied by the median step interval, the annualisation
    /// factor of volatility, Sharpe and Sortino; `null` under 2 steps.
    pub periods_per_year: Option<f64>,
    /// Annualised sample standard deviation of per-step returns.
    pub volatility: Option<f64>,
    /// Annualised mean / standard deviation of per-step returns (risk-free 0).
    pub sharpe: Option<f64>,
    /// Annualised mean / downside deviation of per-step returns (target 0).
    pub sortino: Option<f64>,
    /// Largest peak-to-trough fall of equity, as a fraction of the peak.
    pub max_drawdown: Decimal,
    /// Longest time from a peak until equity got back to it (or to the last
    /// step, if it never did), in steps.
    pub max_drawdown_steps: u64,
    /// The same span in seconds.
    pub max_drawdown_secs: i64,
    /// Closed round trips.
    pub trades: u64,
    /// Fraction of round trips with positive net PnL; `null` without trades.
    pub win_rate: Option<f64>,
    /// Σ net PnL of winners / |Σ net PnL of losers|; `null` without losers.
    pub profit_factor: Option<f64>,
    /// Fraction of steps that ended with a position open.
    pub exposure: f64,
    /// Σ |qty × price| of every fill.
    pub traded_notional: Decimal,
    /// Traded notional / mean equity; `null` if mean equity is not positive.
    pub turnover: Option<f64>,
    /// Commissions paid.
    pub commissions: Decimal,
}

impl Metrics {
    /// Computes every metric.
    pub fn compute(inputs: &Inputs<'_>) -> Self {
        let curve = inputs.curve;
        let final_equity = curve.last().map_or(inputs.capital, |s| s.equity);
        let total_return = total_return(final_equity, inputs.capital);
        let returns = step_returns(curve);
        let periods_per_year = periods_per_year(curve);
        let (volatility, sharpe, sortino) = periods_per_year
            .map(|ppy| ratios(&returns, ppy))
            .unwrap_or_default();
        let (max_drawdown_steps, max_drawdown_secs) = max_drawdown_duration(curve);
        let wins = inputs
            .trade_pnl
            .iter()
            .filter(|p| p.is_sign_positive() && !p.is_zero());
        let won: Decimal = wins.clone().sum();
        let lost: Decimal = -inputs
            .trade_pnl
            .iter()
            .filter(|p| p.is_sign_negative() && !p.is_zero())
            .sum::<Decimal>();
        let trades = inputs.trade_pnl.len();
        let mean_equity = curve
            .iter()
            .try_fold(Decimal::ZERO, |sum, s| sum.checked_add(s.equity))
            .and_then(|sum| sum.checked_div(Decimal::from(curve.len())));
        Self {
            capital: inputs.capital,
            final_equity,
            net_pnl: final_equity.saturating_sub(inputs.capital),
            total_return,
            annualized_return: annualized_return(curve, inputs.capital),
            periods_per_year,
            volatility,
            sharpe,
            sortino,
            max_drawdown: max_drawdown(curve),
            max_drawdown_steps,
            max_drawdown_secs,
            trades: trades as u64,
            win_rate: (trades > 0).then(|| wins.count() as f64 / trades as f64),
            profit_factor: (!lost.is_zero()).then(|| ratio(won, lost)),
            exposure: if curve.is_empty() {
                0.0
            } else {
                inputs.steps_in_market as f64 / curve.len() as f64
            },
            traded_notional: inputs.traded_notional,
            turnover: mean_equity
                .filter(|m| *m > Decimal::ZERO)
                .map(|m| ratio(inputs.traded_notional, m)),
            commissions: inputs.commissions,
        }
    }
}

/// `final / capital − 1`, 0 without capital (a session may start with
/// none) or when the quotient does not fit a decimal.
pub fn total_return(final_equity: Decimal, capital: Decimal) -> Decimal {
    final_equity
        .checked_div(capital)
        .and_then(|r| r.checked_sub(Decimal::ONE))
        .unwrap_or_default()
}

/// `a / b` as a float; NaN if `b` is zero, in floats if the decimal
/// quotient does not fit.
fn ratio(a: Decimal, b: Decimal) -> f64 {
    if b.is_zero() {
        return f64::NAN;
    }
    a.checked_div(b).map_or_else(
        || a.to_f64().unwrap_or(f64::NAN) / b.to_f64().unwrap_or(f64::NAN),
        |q| q.to_f64().unwrap_or(f64::NAN),
    )
}

/// Simple returns between consecutive points (a step from zero equity has none).
fn step_returns(curve: &[Sample]) -> Vec<f64> {
    curve
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (w[0].equity.to_f64()?, w[1].equity.to_f64()?);
            (a != 0.0).then(|| b / a - 1.0)
        })
        .collect()
}

/// Steps per year implied by the median interval between steps.
fn periods_per_year(curve: &[Sample]) -> Option<f64> {
    let mut intervals: Vec<i64> = curve.windows(2).map(|w| w[1].time - w[0].time).collect();
    intervals.sort_unstable();
    let median = *intervals.get(intervals.len() / 2)? as f64;
    (median > 0.0).then(|| NANOS_PER_YEAR / median)
}

/// Annualised volatility, Sharpe and Sortino of `returns`.
fn ratios(returns: &[f64], periods_per_year: f64) -> (Option<f64>, Option<f64>, Option<f64>) {
    if returns.len() < 2 {
        return (None, None, None);
    }
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let sd = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let downside = (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
    let annual = periods_per_year.sqrt();
    (
        Some(sd * annual),
        (sd > 0.0).then(|| mean / sd * annual),
        (downside > 0.0).then(|| mean / downside * annual),
    )
}

/// Compound annual growth rate from `capital` to the last point over the
/// curve's calendar span.
fn annualized_return(curve: &[Sample], capital: Decimal) -> Option<f64> {
    let (first, last) = (curve.first()?, curve.last()?);
    if capital.is_zero() {
        return None;
    }
    let span = (last.time - first.time) as f64;
    let growth = ratio(last.equity, capital);
    (span > 0.0 && growth > 0.0).then(|| growth.powf(NANOS_PER_YEAR / span) - 1.0)
}

/// Largest fall from a running peak, as a fraction of that peak.
pub fn max_drawdown(curve: &[Sample]) -> Decimal {
    drawdowns(curve).fold(Decimal::ZERO, Decimal::max)
}

/// The fall of each point from the running peak, as a fraction of the peak
/// (0 at a peak, or while no peak has been positive).
pub fn drawdowns(curve: &[Sample]) -> impl Iterator<Item = Decimal> + '_ {
    let mut peak = Decimal::MIN;
    curve.iter().map(move |s| {
        peak = peak.max(s.equity);
        if peak > Decimal::ZERO {
            // Saturating: a fall beyond the decimal range is still a fall.
            peak.saturating_sub(s.equity)
                .checked_div(peak)
                .unwrap_or(Decimal::MAX)
        } else {
            Decimal::ZERO
        }
    })
}

/// Longest span from a peak to the point that regains it (or the last
/// point), in steps and seconds.
fn max_drawdown_duration(curve: &[Sample]) -> (u64, i64) {
    let Some(first) = curve.first() else {
        return (0, 0);
    };
    let (mut peak, mut peak_index, mut peak_time) = (first.equity, 0, first.time);
    let (mut longest, mut underwater) = ((0u64, 0i64), false);
    for (i, s) in curve.iter().enumerate() {
        let span = (
            (i - peak_index) as u64,
            (s.time - peak_time) / 1_000_000_000,
        );
        if s.equity >= peak {
            // The point that regains the peak ends the drawdown.
            if underwater {
                longest = longest.max(span);
            }
            (peak, peak_index, peak_time, underwater) = (s.equity, i, s.time, false);
        } else {
            underwater = true;
            longest = longest.max(span);
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DAY: i64 = 86_400_000_000_000;

    fn curve(values: &[i64]) -> Vec<Sample> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Sample {
                time: i as i64 * DAY,
                equity: Decimal::from(*v),
            })
            .collect()
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn metrics(values: &[i64], trade_pnl: &[Decimal]) -> Metrics {
        Metrics::compute(&Inputs {
            curve: &curve(values),
            capital: Decimal::from(values[0]),
            trade_pnl,
            steps_in_market: 2,
            traded_notional: Decimal::from(550),
            commissions: d("1.5"),
        })
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9 * b.abs().max(1.0))
    }

    /// A 5-point daily curve, every figure worked out by hand:
    /// returns +10%, −20%, +25%, −10%; mean 0.0125.
    #[test]
    fn five_point_curve_by_hand() {
        let m = metrics(&[100, 110, 88, 110, 99], &[d("10"), d("-4"), d("-2")]);
        assert_eq!(m.total_return, d("-0.01"));
        assert_eq!(m.net_pnl, d("-1"));
        // deviations from the mean: .0875, −.2125, .2375, −.1125, whose
        // squares sum to 0.121875; sample variance divides by 3.
        let sd = (0.121875f64 / 3.0).sqrt();
        let annual = 365.25f64.sqrt();
        assert!(close(m.periods_per_year, 365.25));
        assert!(close(m.volatility, sd * annual));
        assert!(close(m.sharpe, 0.0125 / sd * annual));
        // downside: (0.04 + 0.01) / 4 = 0.0125
        assert!(close(m.sortino, 0.0125 / 0.0125f64.sqrt() * annual));
        // 110 → 88 is the deepest fall: 22 / 110
        assert_eq!(m.max_drawdown, d("0.2"));
        // peak 110 at day 1, regained at day 3; then 110 → 99 to the end (1 day)
        assert_eq!((m.max_drawdown_steps, m.max_drawdown_secs), (2, 2 * 86_400));
        // 4 days of a 365.25-day year
        assert!(close(m.annualized_return, 0.99f64.powf(365.25 / 4.0) - 1.0));
        assert!(close(m.win_rate, 1.0 / 3.0));
        assert!(close(m.profit_factor, 10.0 / 6.0));
        assert_eq!(m.exposure, 0.4);
        // mean equity 507 / 5
        assert!(close(m.turnover, 550.0 / 101.4));
        assert_eq!((m.trades, m.commissions), (3, d("1.5")));
    }

    #[test]
    fn undefined_figures_are_none() {
        let flat = metrics(&[100, 100, 100, 100], &[]);
        assert_eq!((flat.sharpe, flat.sortino), (None, None));
        assert_eq!(flat.volatility, Some(0.0));
        assert_eq!((flat.win_rate, flat.profit_factor), (None, None));
        assert_eq!(flat.max_drawdown_steps, 0);
        // only winners: no profit factor, win rate 1
        let up = metrics(&[100, 101, 102], &[d("1")]);
        assert_eq!((up.sortino, up.profit_factor), (None, None));
        assert_eq!(up.win_rate, Some(1.0));
        let one = metrics(&[100], &[]);
        assert_eq!((one.periods_per_year, one.annualized_return), (None, None));
    }

    #[test]
    fn drawdown_is_from_the_running_peak() {
        assert_eq!(max_drawdown(&curve(&[100, 120, 90, 130, 117])), d("0.25"));
        assert_eq!(max_drawdown(&curve(&[100, 101, 102])), Decimal::ZERO);
        // never regained: the span runs to the last point
        assert_eq!(
            max_drawdown_duration(&curve(&[100, 120, 90, 100, 110])),
            (3, 3 * 86_400)
        );
    }

    #[test]
    fn sharpe_matches_its_definition() {
        let m = metrics(&[100, 101, 100, 102, 101], &[]);
        let r = [0.01, -1.0 / 101.0, 0.02, -1.0 / 102.0];
        let mean = r.iter().sum::<f64>() / 4.0;
        let sd = (r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 3.0).sqrt();
        assert!(close(m.sharpe, mean / sd * 365.25f64.sqrt()));
    }

    fn any_curve() -> impl Strategy<Value = Vec<i64>> {
        proptest::collection::vec(1i64..1_000_000, 1..60)
    }

    proptest! {
        #[test]
        fn drawdown_is_a_fraction(values in any_curve()) {
            let m = metrics(&values, &[]);
            prop_assert!(m.max_drawdown >= Decimal::ZERO && m.max_drawdown < Decimal::ONE);
            prop_assert!(m.max_drawdown_steps < values.len() as u64);
            prop_assert!(drawdowns(&curve(&values)).all(|x| x <= m.max_drawdown));
        }

        #[test]
        fn a_rising_curve_has_no_drawdown(mut values in any_curve()) {
            values.sort_unstable();
            let m = metrics(&values, &[]);
            prop_assert_eq!(m.max_drawdown, Decimal::ZERO);
            prop_assert_eq!(m.max_drawdown_steps, 0);
            prop_assert!(m.total_return >= Decimal::ZERO);
        }

        #[test]
        fn ratios_do_not_depend_on_scale(values in any_curve(), k in 2i64..50) {
            let a = metrics(&values, &[]);
            let scaled: Vec<i64> = values.iter().map(|v| v * k).collect();
            let b = metrics(&scaled, &[]);
            prop_assert_eq!(a.max_drawdown, b.max_drawdown);
            prop_assert_eq!(a.total_return, b.total_return);
            for (x, y) in [(a.sharpe, b.sharpe), (a.sortino, b.sortino), (a.volatility, b.volatility)] {
                prop_assert_eq!(x.is_some(), y.is_some());
                if let (Some(x), Some(y)) = (x, y) {
                    prop_assert!((x - y).abs() <= 1e-6 * x.abs().max(1.0));
                }
            }
        }

        #[test]
        fn trade_statistics_are_bounded(pnl in proptest::collection::vec(-1000i64..1000, 0..30)) {
            let pnl: Vec<Decimal> = pnl.into_iter().map(Decimal::from).collect();
            let m = metrics(&[100, 101], &pnl);
            prop_assert_eq!(m.win_rate.is_some(), !pnl.is_empty());
            prop_assert!(m.win_rate.is_none_or(|w| (0.0..=1.0).contains(&w)));
            prop_assert!(m.profit_factor.is_none_or(|p| p >= 0.0));
            prop_assert!((0.0..=1.0).contains(&m.exposure));
        }
    }
}

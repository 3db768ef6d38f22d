//! Post-trade: records fills, refusals and the equity curve as the session
//! runs, and turns them into the session report (JSON) and its summary
//! metrics.
//!
//! The report is a pure function of the session's inputs — no wall-clock
//! figure goes in it — so two runs of the same backtest write identical bytes.
//!
//! Metrics: total return and max drawdown are exact decimals. Sharpe is a
//! statistic, computed in f64 from per-step simple returns (risk-free rate 0,
//! sample standard deviation), annualised by the number of steps per year
//! implied by the median step interval.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::execution::orders::{OrderReport, ReportKind, CANCELLED_BY_STRATEGY};
use crate::intents::Attribution;
use crate::inventory::{Position, Valuation};
use crate::model::{
    format_time, ExecutionId, IntentId, OrderId, RouteId, Side, StrategyId, Timestamp,
};
use crate::reference_data::ReferenceData;

/// One fill, as it appears in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FillRecord {
    /// Position in the session's event sequence.
    pub sequence: u64,
    /// When it filled (RFC 3339, UTC).
    pub time: String,
    /// Attribution.
    pub strategy_id: StrategyId,
    /// Attribution.
    pub execution_id: ExecutionId,
    /// Attribution.
    pub route_id: RouteId,
    /// The order.
    pub order_id: OrderId,
    /// The intent behind the order.
    pub intent_id: IntentId,
    /// The plugin version that produced the intent (index into the
    /// strategy's `versions`).
    pub plugin_version: u32,
    /// Instrument symbol.
    pub instrument: String,
    /// Buy or sell.
    pub side: Side,
    /// Quantity filled.
    pub qty: Decimal,
    /// Fill price.
    pub price: Decimal,
    /// Fee charged.
    pub commission: Decimal,
    /// Whether the fill added liquidity (maker fee).
    pub maker: bool,
    /// The strategy's tag.
    pub client_tag: String,
}

/// An order or cancel that did not go through, as it appears in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusalRecord {
    /// Position in the session's event sequence.
    pub sequence: u64,
    /// When (RFC 3339, UTC).
    pub time: String,
    /// Attribution.
    pub strategy_id: StrategyId,
    /// The plugin version that produced the intent (index into the
    /// strategy's `versions`).
    pub plugin_version: u32,
    /// The intent.
    pub intent_id: IntentId,
    /// The order it named or would have created.
    pub order_id: OrderId,
    /// `rejected` (an order, cancel or replace refused), `cancelled`
    /// (accepted, then cancelled other than by its strategy) or `expired`
    /// (its time in force ran out).
    pub outcome: &'static str,
    /// Why.
    pub reason: String,
}

/// One point of the equity curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct EquityPoint {
    /// Step time, nanoseconds since the epoch (UTC).
    pub time: Timestamp,
    /// Cash, position value and equity at the end of the step's fills.
    #[serde(flatten)]
    pub value: Valuation,
}

/// A strategy registration, as it appears in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StrategyRecord {
    /// Registration id.
    pub strategy_id: StrategyId,
    /// Its execution context.
    pub execution_id: ExecutionId,
    /// Its route.
    pub route_id: RouteId,
    /// Plugin path as written in the session file (`native` for native strategies).
    pub plugin: String,
    /// sha256 of the plugin bytes of the version running at the end.
    pub sha256: String,
    /// Name the strategy gave in `init` (version running at the end).
    pub name: String,
    /// Version the strategy gave in `init` (version running at the end).
    pub version: String,
    /// Every plugin version that ran, in order; fills name theirs by index.
    pub versions: Vec<PluginVersion>,
    /// Why the strategy was quarantined, if it still was at the end.
    pub quarantined: Option<String>,
}

/// One plugin version of a registration, as it appears in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PluginVersion {
    /// sha256 of the plugin bytes.
    pub sha256: String,
    /// Name the strategy gave in `init`.
    pub name: String,
    /// Version the strategy gave in `init`.
    pub version: String,
    /// The first step (snapshot id) it decided.
    pub from_step: u64,
}

/// What happened to a strategy registration (not to its orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Taken out of the step loop by a fault or an operator.
    Quarantined,
    /// Put back into the step loop by an operator.
    Enabled,
    /// An operator's request to enable it failed; it stays quarantined.
    EnableFailed,
    /// A new plugin file was noticed (or a reload requested).
    ReloadDetected,
    /// The new version compiled, instantiated and initialised off the step loop.
    ReloadCompiled,
    /// The new version took over at a step boundary, with the old one's state.
    ReloadSwapped,
    /// The new version could not take over; the old one keeps trading.
    ReloadFailed,
}

/// A strategy lifecycle event, as it appears in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventRecord {
    /// Position in the session's event sequence.
    pub sequence: u64,
    /// Time of the step it happened at (RFC 3339, UTC).
    pub time: String,
    /// The registration.
    pub strategy_id: StrategyId,
    /// What happened.
    pub kind: EventKind,
    /// Why, in words.
    pub cause: String,
}

/// Headline figures of a session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Bars replayed.
    pub bars: u64,
    /// Steps (distinct timestamps) run.
    pub steps: u64,
    /// First step time.
    pub start: Option<String>,
    /// Last step time.
    pub end: Option<String>,
    /// Fills.
    pub fills: u64,
    /// Round trips: fills that closed or flipped a position.
    pub trades: u64,
    /// Orders refused by the host or risk, or cancelled by the venue.
    pub refused: u64,
    /// Equity at the start.
    pub starting_equity: Decimal,
    /// Equity at the end.
    pub final_equity: Decimal,
    /// final / starting − 1.
    pub total_return: Decimal,
    /// Largest peak-to-trough fall of equity, as a fraction of the peak.
    pub max_drawdown: Decimal,
    /// Annualised Sharpe ratio of per-step returns; `null` if undefined.
    pub sharpe: Option<f64>,
    /// Commissions paid.
    pub commissions: Decimal,
    /// PnL realised by closed positions, before commissions.
    pub realized_pnl: Decimal,
    /// PnL of the positions still open, at the last marks.
    pub unrealized_pnl: Decimal,
}

/// The session report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Session name.
    pub session: String,
    /// Mode.
    pub mode: crate::config::Mode,
    /// Strategy registrations.
    pub strategies: Vec<StrategyRecord>,
    /// Headline figures.
    pub summary: Summary,
    /// Strategy lifecycle events (quarantines, re-enables).
    pub events: Vec<EventRecord>,
    /// Every fill.
    pub fills: Vec<FillRecord>,
    /// Every refused or venue-cancelled order.
    pub refusals: Vec<RefusalRecord>,
    /// Equity after each step.
    pub equity_curve: Vec<EquityPoint>,
}

/// Collects what the session reports while it runs.
#[derive(Debug, Default)]
pub struct Recorder {
    sequence: u64,
    steps: u64,
    trades: u64,
    fills: Vec<FillRecord>,
    refusals: Vec<RefusalRecord>,
    events: Vec<EventRecord>,
    equity: Vec<EquityPoint>,
}

impl Recorder {
    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Records an order report. `position` is the strategy's position after it.
    pub fn on_report(
        &mut self,
        report: &OrderReport,
        position: &Position,
        reference: &ReferenceData,
    ) {
        let sequence = self.next_sequence();
        let a = &report.attribution;
        if let Some(fill) = report.fill {
            let before = position.qty - report.request.side.sign() * fill.qty;
            if position.qty.is_zero()
                || (!before.is_zero()
                    && before.is_sign_positive() != position.qty.is_sign_positive())
            {
                self.trades += 1;
            }
            self.fills.push(FillRecord {
                sequence,
                time: format_time(report.time),
                strategy_id: a.strategy_id.clone(),
                execution_id: a.execution_id.clone(),
                route_id: a.route_id.clone(),
                order_id: report.order_id,
                intent_id: report.intent_id,
                plugin_version: a.plugin_version,
                instrument: reference.get(report.request.instrument).symbol.clone(),
                side: report.request.side,
                qty: fill.qty,
                price: fill.price,
                commission: fill.commission,
                maker: fill.maker,
                client_tag: report.request.client_tag.clone(),
            });
        } else {
            let outcome = match report.kind {
                ReportKind::Rejected | ReportKind::CancelRejected | ReportKind::ReplaceRejected => {
                    "rejected"
                }
                ReportKind::Cancelled if report.reason != CANCELLED_BY_STRATEGY => "cancelled",
                ReportKind::Expired => "expired",
                _ => return,
            };
            self.refusal(
                sequence,
                report.time,
                a,
                report.intent_id,
                report.order_id,
                outcome,
                report.reason.clone(),
            );
        }
    }

    /// Records an intent refused by the host before it became an order
    /// report (a grant or conversion failure, or a refused cancel).
    pub fn on_refusal(
        &mut self,
        time: Timestamp,
        attribution: &Attribution,
        intent_id: IntentId,
        order_id: OrderId,
        reason: String,
    ) {
        let sequence = self.next_sequence();
        self.refusal(
            sequence,
            time,
            attribution,
            intent_id,
            order_id,
            "rejected",
            reason,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn refusal(
        &mut self,
        sequence: u64,
        time: Timestamp,
        attribution: &Attribution,
        intent_id: IntentId,
        order_id: OrderId,
        outcome: &'static str,
        reason: String,
    ) {
        self.refusals.push(RefusalRecord {
            sequence,
            time: format_time(time),
            strategy_id: attribution.strategy_id.clone(),
            plugin_version: attribution.plugin_version,
            intent_id,
            order_id,
            outcome,
            reason,
        });
    }

    /// Records a strategy lifecycle event.
    pub fn on_event(
        &mut self,
        time: Timestamp,
        strategy_id: &StrategyId,
        kind: EventKind,
        cause: String,
    ) {
        let sequence = self.next_sequence();
        self.events.push(EventRecord {
            sequence,
            time: format_time(time),
            strategy_id: strategy_id.clone(),
            kind,
            cause,
        });
    }

    /// Records the equity at the end of a step.
    pub fn on_step(&mut self, time: Timestamp, value: Valuation) {
        self.steps += 1;
        self.equity.push(EquityPoint { time, value });
    }

    /// The equity curve so far.
    pub fn equity_curve(&self) -> &[EquityPoint] {
        &self.equity
    }

    /// Builds the report.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        self,
        session: String,
        mode: crate::config::Mode,
        strategies: Vec<StrategyRecord>,
        bars: u64,
        starting_equity: Decimal,
        commissions: Decimal,
        realized_pnl: Decimal,
    ) -> Report {
        let final_equity = self
            .equity
            .last()
            .map_or(starting_equity, |p| p.value.equity);
        let summary = Summary {
            bars,
            steps: self.steps,
            start: self.equity.first().map(|p| format_time(p.time)),
            end: self.equity.last().map(|p| format_time(p.time)),
            fills: self.fills.len() as u64,
            trades: self.trades,
            refused: self.refusals.len() as u64,
            starting_equity,
            final_equity,
            total_return: if starting_equity.is_zero() {
                Decimal::ZERO
            } else {
                final_equity / starting_equity - Decimal::ONE
            },
            max_drawdown: max_drawdown(&self.equity),
            sharpe: sharpe(&self.equity),
            commissions,
            realized_pnl,
            unrealized_pnl: self
                .equity
                .last()
                .map_or(Decimal::ZERO, |p| p.value.unrealized_pnl),
        };
        Report {
            session,
            mode,
            strategies,
            summary,
            events: self.events,
            fills: self.fills,
            refusals: self.refusals,
            equity_curve: self.equity,
        }
    }
}

/// Largest fall from a running peak, as a fraction of that peak.
pub fn max_drawdown(curve: &[EquityPoint]) -> Decimal {
    let mut peak = Decimal::MIN;
    let mut worst = Decimal::ZERO;
    for point in curve {
        let equity = point.value.equity;
        peak = peak.max(equity);
        if peak > Decimal::ZERO {
            worst = worst.max((peak - equity) / peak);
        }
    }
    worst
}

const NANOS_PER_YEAR: f64 = 365.25 * 24.0 * 3600.0 * 1e9;

/// Annualised Sharpe ratio of per-step returns, if defined.
pub fn sharpe(curve: &[EquityPoint]) -> Option<f64> {
    if curve.len() < 3 {
        return None;
    }
    let returns: Vec<f64> = curve
        .windows(2)
        .filter_map(|w| {
            let (a, b) = (w[0].value.equity.to_f64()?, w[1].value.equity.to_f64()?);
            (a != 0.0).then(|| b / a - 1.0)
        })
        .collect();
    let n = returns.len() as f64;
    let mean = returns.iter().sum::<f64>() / n;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let mut intervals: Vec<i64> = curve.windows(2).map(|w| w[1].time - w[0].time).collect();
    intervals.sort_unstable();
    let median = intervals[intervals.len() / 2] as f64;
    (var > 0.0 && median > 0.0).then(|| mean / var.sqrt() * (NANOS_PER_YEAR / median).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(values: &[i64]) -> Vec<EquityPoint> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| EquityPoint {
                time: i as i64 * 86_400_000_000_000,
                value: Valuation {
                    cash: Decimal::from(*v),
                    equity: Decimal::from(*v),
                    ..Valuation::default()
                },
            })
            .collect()
    }

    #[test]
    fn drawdown_is_from_the_running_peak() {
        assert_eq!(
            max_drawdown(&curve(&[100, 120, 90, 130, 117])),
            "0.25".parse().unwrap()
        );
        assert_eq!(max_drawdown(&curve(&[100, 101, 102])), Decimal::ZERO);
    }

    #[test]
    fn sharpe_of_a_flat_curve_is_undefined() {
        assert_eq!(sharpe(&curve(&[100, 100, 100, 100])), None);
        let s = sharpe(&curve(&[100, 101, 100, 102, 101])).unwrap();
        // daily steps: annualisation factor sqrt(365.25)
        let r = [0.01, -1.0 / 101.0, 0.02, -1.0 / 102.0];
        let mean = r.iter().sum::<f64>() / 4.0;
        let sd = (r.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / 3.0).sqrt();
        assert!((s - mean / sd * 365.25f64.sqrt()).abs() < 1e-12);
    }
}

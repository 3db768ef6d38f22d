//! Post-trade: records fills, refusals and the equity curve as the session
//! runs, and turns them into the session report (JSON) and its summary
//! metrics.
//!
//! The report is a pure function of the session's inputs — no wall-clock
//! figure goes in it — so two runs of the same backtest write identical bytes.
//!
//! Metrics ([`metrics`]) are computed for the session and for each strategy,
//! whose equity is its share of its account's starting cash plus its own net
//! PnL; round trips ([`trades`]) are assembled from the fills. [`files`]
//! writes the report as JSON, HTML and CSV.

pub mod files;
pub mod html;
pub mod metrics;
pub mod trades;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::events::{EngineEvent, EventSink};
use crate::execution::orders::{OrderReport, CANCELLED_BY_STRATEGY};
use crate::intents::Attribution;
use crate::inventory::{Position, Valuation};
use crate::model::ReportKind;
use crate::model::{
    format_time, ExecutionId, IntentId, OrderId, RouteId, Side, StrategyId, Timestamp,
};
use crate::reference_data::Instrument;
use metrics::{Inputs, Metrics, Sample};
use trades::{Fill, RoundTrips, TradeRecord};

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

/// Most refusal records the report keeps per strategy; later ones are only
/// counted, in [`Report::refusals_omitted`]. A strategy refused at every
/// intent of a long session would otherwise grow the report without bound.
pub const MAX_REFUSALS_PER_STRATEGY: u64 = 1_000;

/// Refusals of one strategy beyond [`MAX_REFUSALS_PER_STRATEGY`], counted by
/// outcome rather than recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefusalsOmitted {
    /// The registration.
    pub strategy_id: StrategyId,
    /// Orders, cancels and replaces refused.
    pub rejected: u64,
    /// Orders cancelled other than by their strategy.
    pub cancelled: u64,
    /// Orders whose time in force ran out.
    pub expired: u64,
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
    /// A venue's notice: start-up reconciliation, orphan orders, dropped
    /// streams (strategy id `venue:<execution id>` when no strategy owns it).
    Venue,
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
    /// Every refused or venue-cancelled order, up to
    /// [`MAX_REFUSALS_PER_STRATEGY`] per strategy.
    pub refusals: Vec<RefusalRecord>,
    /// Per strategy with more refusals than that, the ones not recorded.
    pub refusals_omitted: Vec<RefusalsOmitted>,
    /// Equity after each step.
    pub equity_curve: Vec<EquityPoint>,
    /// Performance metrics of the session and of each strategy.
    pub metrics: ReportMetrics,
    /// Every closed round trip, in the order they closed.
    pub round_trips: Vec<TradeRecord>,
    /// Each strategy's net PnL after each step (aligned with `equity_curve`).
    pub strategy_pnl: Vec<StrategyPnl>,
}

/// Performance metrics of a session and of its strategies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportMetrics {
    /// The whole session: every account together.
    pub session: Metrics,
    /// Each strategy, in registration order.
    pub strategies: Vec<StrategyMetrics>,
}

/// Performance metrics of one strategy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyMetrics {
    /// The registration.
    pub strategy_id: StrategyId,
    /// Its figures; `capital` is its account's starting cash divided
    /// equally among the strategies trading in that account.
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// A strategy's net PnL curve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StrategyPnl {
    /// The registration.
    pub strategy_id: StrategyId,
    /// Realized + unrealized PnL − commissions after each step.
    pub net_pnl: Vec<Decimal>,
}

/// What is tracked of one strategy while the session runs.
#[derive(Debug, Clone, Default)]
struct StrategyTrack {
    net_pnl: Vec<Decimal>,
    steps_in_market: u64,
    commissions: Decimal,
    traded_notional: Decimal,
    /// Refusal records kept.
    refusals: u64,
    /// Refusals beyond the records kept, once there are any.
    omitted: Option<RefusalsOmitted>,
}

/// Collects what the session reports while it runs.
#[derive(Debug)]
pub struct Recorder {
    sequence: u64,
    steps: u64,
    steps_in_market: u64,
    round_trips: RoundTrips,
    fills: Vec<FillRecord>,
    refusals: Vec<RefusalRecord>,
    /// Refusals, recorded or not.
    refused: u64,
    events: Vec<EventRecord>,
    equity: Vec<EquityPoint>,
    strategies: Vec<StrategyTrack>,
}

/// The recorder takes its part of the session's event stream: order
/// reports, refusals, lifecycle events and each step's valuation.
impl EventSink for Recorder {
    fn record(&mut self, event: &EngineEvent<'_>) {
        match *event {
            EngineEvent::Report {
                report,
                instrument,
                position,
                ..
            } => self.on_report(report, instrument, position),
            EngineEvent::Refused {
                time,
                attribution,
                intent_id,
                order_id,
                reason,
            } => self.on_refusal(time, attribution, intent_id, order_id, reason.to_owned()),
            EngineEvent::Lifecycle {
                time,
                strategy_id,
                kind,
                cause,
            } => self.on_event(time, strategy_id, kind, cause.to_owned()),
            EngineEvent::Marked {
                time,
                value,
                strategy_pnl,
            } => self.on_step(time, value, strategy_pnl),
            EngineEvent::Market(_)
            | EngineEvent::Decision { .. }
            | EngineEvent::Risk { .. }
            | EngineEvent::Operator { .. }
            | EngineEvent::Checkpoint(_)
            | EngineEvent::StepEnd
            | EngineEvent::End(_) => {}
        }
    }
}

impl Recorder {
    /// A recorder for a session of `strategies` registrations.
    pub fn new(strategies: usize) -> Self {
        Self {
            sequence: 0,
            steps: 0,
            steps_in_market: 0,
            round_trips: RoundTrips::default(),
            fills: Vec::new(),
            refusals: Vec::new(),
            refused: 0,
            events: Vec::new(),
            equity: Vec::new(),
            strategies: vec![StrategyTrack::default(); strategies],
        }
    }

    fn next_sequence(&mut self) -> u64 {
        self.sequence += 1;
        self.sequence
    }

    /// Records an order report. `position` is the strategy's position after it.
    fn on_report(
        &mut self,
        report: &OrderReport,
        instrument: Option<&Instrument>,
        position: &Position,
    ) {
        let sequence = self.next_sequence();
        let a = &report.attribution;
        // A fill is always of a known instrument.
        if let (Some(fill), Some(instrument)) = (report.fill, instrument) {
            self.round_trips.on_fill(
                &Fill {
                    time: report.time,
                    strategy: (a.strategy_index, &a.strategy_id),
                    instrument: (instrument.id, &instrument.symbol),
                    side: report.request.side,
                    qty: fill.qty,
                    price: fill.price,
                    commission: fill.commission,
                },
                position.qty,
                position.realized_pnl,
            );
            let track = &mut self.strategies[a.strategy_index];
            track.commissions = track.commissions.saturating_add(fill.commission);
            track.traded_notional = track
                .traded_notional
                .saturating_add(fill.qty.saturating_mul(fill.price));
            self.fills.push(FillRecord {
                sequence,
                time: format_time(report.time),
                strategy_id: a.strategy_id.clone(),
                execution_id: a.execution_id.clone(),
                route_id: a.route_id.clone(),
                order_id: report.order_id,
                intent_id: report.intent_id,
                plugin_version: a.plugin_version,
                instrument: instrument.symbol.clone(),
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
    fn on_refusal(
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
        self.refused += 1;
        let track = &mut self.strategies[attribution.strategy_index];
        if track.refusals >= MAX_REFUSALS_PER_STRATEGY {
            let omitted = track.omitted.get_or_insert_with(|| RefusalsOmitted {
                strategy_id: attribution.strategy_id.clone(),
                rejected: 0,
                cancelled: 0,
                expired: 0,
            });
            *match outcome {
                "cancelled" => &mut omitted.cancelled,
                "expired" => &mut omitted.expired,
                _ => &mut omitted.rejected,
            } += 1;
            return;
        }
        track.refusals += 1;
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
    fn on_event(
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

    /// Records the equity of the session and each strategy's net PnL at the
    /// end of a step, with positions marked by `mark` (a position without a
    /// mark is valued at cost).
    fn on_step(&mut self, time: Timestamp, value: Valuation, strategy_pnl: &[(Decimal, bool)]) {
        self.steps += 1;
        self.equity.push(EquityPoint { time, value });
        let mut any_open = false;
        for (index, track) in self.strategies.iter_mut().enumerate() {
            let (pnl, open) = strategy_pnl[index];
            track.net_pnl.push(pnl - track.commissions);
            track.steps_in_market += u64::from(open);
            any_open |= open;
        }
        self.steps_in_market += u64::from(any_open);
    }

    /// The equity curve so far.
    pub fn equity_curve(&self) -> &[EquityPoint] {
        &self.equity
    }

    /// Builds the report; `accounts` give each account's starting equity,
    /// the capital of its strategies.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        self,
        session: String,
        mode: crate::config::Mode,
        strategies: Vec<StrategyRecord>,
        accounts: &[(ExecutionId, Decimal)],
        bars: u64,
        starting_equity: Decimal,
        commissions: Decimal,
        realized_pnl: Decimal,
    ) -> Report {
        let final_equity = self
            .equity
            .last()
            .map_or(starting_equity, |p| p.value.equity);
        let curve = samples(&self.equity);
        let trades = self.round_trips.into_closed();
        let trade_pnl = |id: Option<&StrategyId>| -> Vec<Decimal> {
            trades
                .iter()
                .filter(|t| id.is_none_or(|id| &t.strategy_id == id))
                .map(|t| t.net_pnl)
                .collect()
        };
        let session_metrics = Metrics::compute(&Inputs {
            curve: &curve,
            capital: starting_equity,
            trade_pnl: &trade_pnl(None),
            steps_in_market: self.steps_in_market,
            traded_notional: self.strategies.iter().map(|s| s.traded_notional).sum(),
            commissions,
        });
        let strategy_metrics = strategies
            .iter()
            .zip(&self.strategies)
            .map(|(record, track)| {
                let capital = capital(record, &strategies, accounts);
                let curve: Vec<Sample> = curve
                    .iter()
                    .zip(&track.net_pnl)
                    .map(|(s, pnl)| Sample {
                        time: s.time,
                        equity: capital + pnl,
                    })
                    .collect();
                StrategyMetrics {
                    strategy_id: record.strategy_id.clone(),
                    metrics: Metrics::compute(&Inputs {
                        curve: &curve,
                        capital,
                        trade_pnl: &trade_pnl(Some(&record.strategy_id)),
                        steps_in_market: track.steps_in_market,
                        traded_notional: track.traded_notional,
                        commissions: track.commissions,
                    }),
                }
            })
            .collect();
        let mut refusals_omitted = Vec::new();
        let strategy_pnl = strategies
            .iter()
            .zip(self.strategies)
            .map(|(record, track)| {
                refusals_omitted.extend(track.omitted);
                StrategyPnl {
                    strategy_id: record.strategy_id.clone(),
                    net_pnl: track.net_pnl,
                }
            })
            .collect();
        let summary = Summary {
            bars,
            steps: self.steps,
            start: self.equity.first().map(|p| format_time(p.time)),
            end: self.equity.last().map(|p| format_time(p.time)),
            fills: self.fills.len() as u64,
            trades: trades.len() as u64,
            refused: self.refused,
            starting_equity,
            final_equity,
            total_return: metrics::total_return(final_equity, starting_equity),
            max_drawdown: session_metrics.max_drawdown,
            sharpe: session_metrics.sharpe,
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
            refusals_omitted,
            equity_curve: self.equity,
            metrics: ReportMetrics {
                session: session_metrics,
                strategies: strategy_metrics,
            },
            round_trips: trades,
            strategy_pnl,
        }
    }
}

/// The equity of each point of a curve.
pub fn samples(curve: &[EquityPoint]) -> Vec<Sample> {
    curve
        .iter()
        .map(|p| Sample {
            time: p.time,
            equity: p.value.equity,
        })
        .collect()
}

/// A strategy's PnL before commissions — realized plus unrealized — and
/// whether it holds any position.
/// A strategy's capital: its account's starting equity, shared equally by
/// the strategies trading in that account.
fn capital(
    record: &StrategyRecord,
    all: &[StrategyRecord],
    accounts: &[(ExecutionId, Decimal)],
) -> Decimal {
    let sharing = all
        .iter()
        .filter(|s| s.execution_id == record.execution_id)
        .count();
    accounts
        .iter()
        .find(|(id, _)| *id == record.execution_id)
        .map_or(Decimal::ZERO, |(_, c)| c / Decimal::from(sharing))
}

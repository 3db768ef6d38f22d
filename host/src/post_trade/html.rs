//! The HTML report: one self-contained file (inline CSS and SVG, no script,
//! nothing fetched) with the headline metrics, equity and drawdown plots, the
//! per-strategy breakdown, the plugins that ran, the round trips and the
//! session file. Plots are drawn by `plotters` into SVG; the text in them is
//! left to the browser's fonts.

use chrono::{DateTime, Utc};
use maud::{html, Markup, PreEscaped, DOCTYPE};
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::metrics::{drawdowns, Metrics};
use super::{samples, Report};

/// One point of a plotted series.
type Point = (DateTime<Utc>, f64);

/// Most points drawn per series; longer curves keep each bucket's extremes.
const MAX_POINTS: usize = 2000;
const PLOT_SIZE: (u32, u32) = (1100, 340);

const CSS: &str = "
body{font:14px/1.4 system-ui,sans-serif;margin:24px auto;max-width:1140px;color:#222;padding:0 12px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.sub{color:#666;margin:0 0 16px}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;display:block;max-width:100%;overflow-x:auto}
th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th:first-child,td:first-child,td.l,th.l{text-align:left}
thead th{background:#f4f4f4;position:sticky;top:0}
.kpi{display:grid;grid-template-columns:repeat(auto-fill,minmax(160px,1fr));gap:8px}
.kpi div{background:#f7f7f9;border-radius:6px;padding:8px 10px}
.kpi b{display:block;font-size:18px}.kpi span{color:#666;font-size:12px}
.neg{color:#b00}.pos{color:#070}.plot svg{max-width:100%;height:auto}
.scroll{max-height:520px;overflow:auto;border:1px solid #eee}
pre{background:#f7f7f9;padding:10px;overflow:auto}code{font-size:12px}
";

/// Where the report's other files are, as links from the HTML (relative to it).
#[derive(Debug, Clone, Copy)]
pub struct Links<'a> {
    /// The JSON report.
    pub json: &'a str,
    /// Fills CSV.
    pub fills: &'a str,
    /// Round trips CSV.
    pub trades: &'a str,
    /// Equity CSV.
    pub equity: &'a str,
}

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw the {plot} plot: {message}")]
pub struct PlotError {
    plot: &'static str,
    message: String,
}

/// Renders the report as one HTML page; `session_file` is the session's TOML.
pub fn render(report: &Report, session_file: &str, links: Links<'_>) -> Result<String, PlotError> {
    let curve: Vec<Point> = report
        .equity_curve
        .iter()
        .map(|p| (time(p.time), p.value.equity.to_f64().unwrap_or(f64::NAN)))
        .collect();
    let samples = samples(&report.equity_curve);
    let drawdown: Vec<Point> = samples
        .iter()
        .zip(drawdowns(&samples))
        .map(|(s, dd)| (time(s.time), -dd.to_f64().unwrap_or(0.0) * 100.0))
        .collect();
    let equity_svg = plot(
        "equity",
        "Equity",
        Shape::Lines,
        &[("equity", &curve)],
        |v| format!("{v:.0}"),
    )?;
    let drawdown_svg = plot(
        "drawdown",
        "Drawdown (% below peak)",
        Shape::Area,
        &[("drawdown", &drawdown)],
        |v| format!("{v:.2}%"),
    )?;
    let strategy_curves: Vec<(&str, Vec<Point>)> = report
        .strategy_pnl
        .iter()
        .map(|s| {
            (
                s.strategy_id.as_str(),
                report
                    .equity_curve
                    .iter()
                    .zip(&s.net_pnl)
                    .map(|(p, pnl)| (time(p.time), pnl.to_f64().unwrap_or(f64::NAN)))
                    .collect(),
            )
        })
        .collect();
    let strategy_svg = if strategy_curves.len() > 1 {
        let series: Vec<(&str, &[Point])> = strategy_curves
            .iter()
            .map(|(id, c)| (*id, c.as_slice()))
            .collect();
        Some(plot(
            "strategies",
            "Net PnL by strategy",
            Shape::Lines,
            &series,
            |v| format!("{v:.0}"),
        )?)
    } else {
        None
    };
    let s = &report.summary;
    let m = &report.metrics.session;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Report " (report.session) }
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { (format!("{:?}", report.mode)) " " (report.session) }
                p.sub {
                    (s.start.as_deref().unwrap_or("-")) " → " (s.end.as_deref().unwrap_or("-"))
                    " · " (s.bars) " bars in " (s.steps) " steps · "
                    (s.fills) " fills · " (s.refused) " orders refused"
                }
                div.kpi #headline {
                    (kpi("total return", &percent(m.total_return), signed(m.total_return)))
                    (kpi("annualized return", &opt_percent(m.annualized_return), ""))
                    (kpi("final equity", &m.final_equity.round_dp(2).to_string(), ""))
                    (kpi("net pnl", &m.net_pnl.round_dp(2).to_string(), signed(m.net_pnl)))
                    (kpi("volatility", &opt_percent(m.volatility), ""))
                    (kpi("sharpe", &ratio(m.sharpe), ""))
                    (kpi("sortino", &ratio(m.sortino), ""))
                    (kpi("max drawdown", &percent(m.max_drawdown), ""))
                    (kpi("max drawdown duration", &duration(m.max_drawdown_secs), ""))
                    (kpi("round trips", &m.trades.to_string(), ""))
                    (kpi("win rate", &opt_percent(m.win_rate), ""))
                    (kpi("profit factor", &ratio(m.profit_factor), ""))
                    (kpi("exposure", &format!("{:.1}%", m.exposure * 100.0), ""))
                    (kpi("turnover", &ratio(m.turnover), ""))
                    (kpi("commissions", &m.commissions.round_dp(2).to_string(), ""))
                }
                h2 { "Equity" }
                div.plot #equity-plot { (PreEscaped(equity_svg)) }
                div.plot #drawdown-plot { (PreEscaped(drawdown_svg)) }
                @if let Some(svg) = strategy_svg {
                    div.plot #strategy-plot { (PreEscaped(svg)) }
                }
                h2 { "Per strategy" }
                table #strategies {
                    thead { tr {
                        th { "strategy" } th { "capital" } th { "net pnl" } th { "return" }
                        th { "ann. return" } th { "volatility" } th { "sharpe" } th { "sortino" }
                        th { "max dd" } th { "dd duration" } th { "trades" } th { "win rate" }
                        th { "profit factor" } th { "exposure" } th { "turnover" } th { "commissions" }
                    } }
                    tbody {
                        @for st in &report.metrics.strategies {
                            (metrics_row(st.strategy_id.as_str(), &st.metrics))
                        }
                        (metrics_row("session", m))
                    }
                }
                h2 { "Plugins" }
                table #plugins {
                    thead { tr {
                        th { "strategy" } th.l { "plugin" } th.l { "name" } th.l { "version" }
                        th.l { "sha256" } th { "from step" } th.l { "status" }
                    } }
                    tbody {
                        @for st in &report.strategies {
                            @for (i, v) in st.versions.iter().enumerate() {
                                tr {
                                    td { (st.strategy_id) }
                                    td.l { (st.plugin) }
                                    td.l { (v.name) }
                                    td.l { (v.version) }
                                    td.l { code { (v.sha256) } }
                                    td { (v.from_step) }
                                    td.l {
                                        @if i + 1 < st.versions.len() { "replaced" }
                                        @else if let Some(cause) = &st.quarantined { "quarantined: " (cause) }
                                        @else { "running at the end" }
                                    }
                                }
                            }
                        }
                    }
                }
                h2 { "Round trips (" (report.round_trips.len()) ")" }
                div.scroll {
                    table #trades {
                        thead { tr {
                            th { "#" } th.l { "strategy" } th.l { "instrument" } th.l { "side" }
                            th.l { "entry" } th.l { "exit" } th { "qty" } th { "entry price" }
                            th { "exit price" } th { "gross pnl" } th { "commission" } th { "net pnl" }
                        } }
                        tbody {
                            @for (i, t) in report.round_trips.iter().enumerate() {
                                tr.trade {
                                    td { (i + 1) }
                                    td.l { (t.strategy_id) }
                                    td.l { (t.instrument) }
                                    td.l { (format!("{:?}", t.direction).to_lowercase()) }
                                    td.l { (t.entry_time) }
                                    td.l { (t.exit_time) }
                                    td { (t.qty) }
                                    td { (t.entry_price.round_dp(6)) }
                                    td { (t.exit_price.round_dp(6)) }
                                    td { (t.gross_pnl.round_dp(2)) }
                                    td { (t.commission.round_dp(2)) }
                                    td class=(signed(t.net_pnl)) { (t.net_pnl.round_dp(2)) }
                                }
                            }
                        }
                    }
                }
                @if !report.events.is_empty() {
                    h2 { "Strategy events" }
                    table #events {
                        thead { tr { th { "time" } th.l { "strategy" } th.l { "event" } th.l { "cause" } } }
                        tbody {
                            @for e in &report.events {
                                tr { td { (e.time) } td.l { (e.strategy_id) } td.l { (format!("{:?}", e.kind)) } td.l { (e.cause) } }
                            }
                        }
                    }
                }
                h2 { "Session file" }
                pre #session-file { code { (session_file) } }
                h2 { "Files" }
                ul {
                    li { a href=(links.json) { (links.json) } " — every fill, refusal, metric and the equity curve" }
                    li { a href=(links.fills) { (links.fills) } }
                    li { a href=(links.trades) { (links.trades) } }
                    li { a href=(links.equity) { (links.equity) } }
                }
            }
        }
    };
    Ok(page.into_string())
}

fn time(nanos: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_nanos(nanos)
}

fn kpi(label: &str, value: &str, class: &str) -> Markup {
    html! { div { b class=(class) { (value) } span { (label) } } }
}

fn metrics_row(name: &str, m: &Metrics) -> Markup {
    html! {
        tr {
            td { (name) }
            td { (m.capital.round_dp(2)) }
            td class=(signed(m.net_pnl)) { (m.net_pnl.round_dp(2)) }
            td { (percent(m.total_return)) }
            td { (opt_percent(m.annualized_return)) }
            td { (opt_percent(m.volatility)) }
            td { (ratio(m.sharpe)) }
            td { (ratio(m.sortino)) }
            td { (percent(m.max_drawdown)) }
            td { (duration(m.max_drawdown_secs)) }
            td { (m.trades) }
            td { (opt_percent(m.win_rate)) }
            td { (ratio(m.profit_factor)) }
            td { (format!("{:.1}%", m.exposure * 100.0)) }
            td { (ratio(m.turnover)) }
            td { (m.commissions.round_dp(2)) }
        }
    }
}

fn signed(value: Decimal) -> &'static str {
    if value.is_sign_negative() && !value.is_zero() {
        "neg"
    } else if value.is_zero() {
        ""
    } else {
        "pos"
    }
}

/// A fraction as a percentage with 2 decimals.
pub fn percent(fraction: Decimal) -> String {
    format!("{:.2}%", (fraction * Decimal::ONE_HUNDRED).round_dp(2))
}

fn opt_percent(fraction: Option<f64>) -> String {
    fraction.map_or("n/a".to_owned(), |f| format!("{:.2}%", f * 100.0))
}

fn ratio(value: Option<f64>) -> String {
    value.map_or("n/a".to_owned(), |v| format!("{v:.3}"))
}

/// A span of seconds as days and hours (or hours and minutes under a day).
pub fn duration(secs: i64) -> String {
    let (days, hours, minutes) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else {
        format!("{hours}h {minutes}m")
    }
}

/// At most [`MAX_POINTS`] points of `points`: each bucket of a longer
/// series keeps its lowest and highest point, in time order, so spikes and
/// drawdowns stay visible.
fn envelope(points: &[Point]) -> Vec<Point> {
    if points.len() <= MAX_POINTS {
        return points.to_vec();
    }
    let size = points.len().div_ceil(MAX_POINTS / 2);
    points
        .chunks(size)
        .flat_map(|chunk| {
            let by_value = |a: &&Point, b: &&Point| a.1.total_cmp(&b.1);
            let lo = chunk.iter().min_by(by_value).copied();
            let hi = chunk.iter().max_by(by_value).copied();
            let mut pair: Vec<_> = lo.into_iter().chain(hi).collect();
            pair.sort_by_key(|p| p.0);
            pair.dedup_by_key(|p| p.0);
            pair
        })
        .collect()
}

/// How a plot draws its series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// One coloured line per series, with a legend when there are several.
    Lines,
    /// A shaded area between the series and zero.
    Area,
}

/// One time-series plot as an SVG string; each series is (label, points).
fn plot(
    name: &'static str,
    caption: &str,
    shape: Shape,
    series: &[(&str, &[Point])],
    y_label: impl Fn(&f64) -> String,
) -> Result<String, PlotError> {
    let failed = |e: &dyn std::fmt::Display| PlotError {
        plot: name,
        message: e.to_string(),
    };
    let all = || series.iter().flat_map(|(_, points)| points.iter());
    let (Some(start), Some(end)) = (all().map(|p| p.0).min(), all().map(|p| p.0).max()) else {
        return Ok(String::new());
    };
    let (mut low, mut high) = all().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    // A flat series still gets a visible band around its value.
    let pad = ((high - low) * 0.05).max(high.abs().max(1.0) * 1e-4);
    (low, high) = (low - pad, high + pad);
    let end = end.max(start + chrono::Duration::seconds(1));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, PLOT_SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(80)
            .build_cartesian_2d(start..end, low..high)
            .map_err(|e| failed(&e))?;
        let span = end - start;
        let format = if span > chrono::Duration::days(60) {
            "%Y-%m-%d"
        } else {
            "%m-%d %H:%M"
        };
        chart
            .configure_mesh()
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|t| t.format(format).to_string())
            .y_label_formatter(&y_label)
            .label_style(("sans-serif", 13))
            .light_line_style(RGBColor(240, 240, 240))
            .draw()
            .map_err(|e| failed(&e))?;
        for (i, (label, points)) in series.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let drawn = envelope(points);
            if shape == Shape::Area {
                chart
                    .draw_series(
                        AreaSeries::new(drawn, 0.0, RGBColor(200, 40, 40).mix(0.25))
                            .border_style(RGBColor(200, 40, 40)),
                    )
                    .map_err(|e| failed(&e))?;
            } else {
                chart
                    .draw_series(LineSeries::new(drawn, color.stroke_width(2)))
                    .map_err(|e| failed(&e))?
                    .label(*label)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color));
            }
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.3))
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| failed(&e))?;
        }
        root.present().map_err(|e| failed(&e))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_keeps_extremes_and_bounds_points() {
        let points: Vec<Point> = (0..10_000)
            .map(|i| {
                (
                    time(i * 1_000_000_000),
                    if i == 4321 { -50.0 } else { (i % 7) as f64 },
                )
            })
            .collect();
        let drawn = envelope(&points);
        assert!(drawn.len() <= MAX_POINTS);
        assert!(drawn.iter().any(|p| p.1 == -50.0), "the spike survives");
        assert!(drawn.windows(2).all(|w| w[0].0 < w[1].0), "in time order");
        assert_eq!(envelope(&points[..10]), points[..10].to_vec());
    }

    #[test]
    fn durations_read_as_days_and_hours() {
        assert_eq!(duration(3 * 86_400 + 7200 + 59), "3d 2h");
        assert_eq!(duration(5400), "1h 30m");
    }
}

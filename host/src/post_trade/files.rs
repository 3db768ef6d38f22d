//! Writes a report's files: the JSON report, the HTML page, and CSV files of
//! the fills, the round trips and the equity curve, all side by side and
//! named after the JSON file (`reports/x.json` → `reports/x.html`,
//! `reports/x-fills.csv`, `reports/x-trades.csv`, `reports/x-equity.csv`).

use std::path::{Path, PathBuf};

use super::html::{self, Links, PlotError};
use super::metrics::drawdowns;
use super::trades::{Direction, TradeRecord};
use super::{samples, FillRecord, Report};
use crate::model::format_time;

/// Why a report file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or directory could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A CSV file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// Why.
        source: csv::Error,
    },
    /// The report could not be serialised.
    #[error("cannot serialise the report: {0}")]
    Json(#[from] serde_json::Error),
    /// A plot could not be drawn.
    #[error(transparent)]
    Plot(#[from] PlotError),
}

/// The paths of a report's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportFiles {
    /// The JSON report.
    pub json: PathBuf,
    /// The HTML page.
    pub html: PathBuf,
    /// Every fill.
    pub fills: PathBuf,
    /// Every closed round trip.
    pub trades: PathBuf,
    /// The equity curve, its drawdown and each strategy's net PnL.
    pub equity: PathBuf,
}

impl ReportFiles {
    /// The files of a report whose JSON goes to `json`: the others beside it.
    pub fn beside(json: &Path) -> Self {
        let stem = json
            .file_stem()
            .map_or_else(|| "report".into(), |s| s.to_string_lossy().into_owned());
        let sibling = |suffix: &str| json.with_file_name(format!("{stem}{suffix}"));
        Self {
            json: json.to_owned(),
            html: sibling(".html"),
            fills: sibling("-fills.csv"),
            trades: sibling("-trades.csv"),
            equity: sibling("-equity.csv"),
        }
    }

    /// Writes every file; `session_file` (the session's TOML) goes into the
    /// HTML page.
    pub fn write(&self, report: &Report, session_file: &str) -> Result<(), ReportError> {
        if let Some(dir) = self.json.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        write(&self.json, &serde_json::to_vec_pretty(report)?)?;
        let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
        let (json, fills, trades, equity) = (
            name(&self.json).unwrap_or_default(),
            name(&self.fills).unwrap_or_default(),
            name(&self.trades).unwrap_or_default(),
            name(&self.equity).unwrap_or_default(),
        );
        let page = html::render(
            report,
            session_file,
            Links {
                json: &json,
                fills: &fills,
                trades: &trades,
                equity: &equity,
            },
        )?;
        write(&self.html, page.as_bytes())?;
        write_table(&self.fills, FILL_COLUMNS, report.fills.iter().map(fill_row))?;
        write_table(
            &self.trades,
            TRADE_COLUMNS,
            report.round_trips.iter().map(trade_row),
        )?;
        write_equity(&self.equity, report)
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    std::fs::write(path, bytes).map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
}

fn csv_error(path: &Path) -> impl Fn(csv::Error) -> ReportError + '_ {
    move |source| ReportError::Csv {
        path: path.to_owned(),
        source,
    }
}

/// Columns of the fills CSV, in the order of [`FillRecord`]'s fields.
const FILL_COLUMNS: [&str; 15] = [
    "sequence",
    "time",
    "strategy_id",
    "execution_id",
    "route_id",
    "order_id",
    "intent_id",
    "plugin_version",
    "instrument",
    "side",
    "qty",
    "price",
    "commission",
    "maker",
    "client_tag",
];

fn fill_row(f: &FillRecord) -> [String; 15] {
    [
        f.sequence.to_string(),
        f.time.clone(),
        text(f.strategy_id.as_str()),
        text(f.execution_id.as_str()),
        text(f.route_id.as_str()),
        f.order_id.to_string(),
        f.intent_id.to_string(),
        f.plugin_version.to_string(),
        text(&f.instrument),
        f.side.to_string(),
        f.qty.to_string(),
        f.price.to_string(),
        f.commission.to_string(),
        f.maker.to_string(),
        text(&f.client_tag),
    ]
}

/// Columns of the round-trips CSV, in the order of [`TradeRecord`]'s fields.
const TRADE_COLUMNS: [&str; 12] = [
    "strategy_id",
    "instrument",
    "direction",
    "entry_time",
    "exit_time",
    "qty",
    "entry_price",
    "exit_price",
    "fills",
    "gross_pnl",
    "commission",
    "net_pnl",
];

fn trade_row(t: &TradeRecord) -> [String; 12] {
    [
        text(t.strategy_id.as_str()),
        text(&t.instrument),
        match t.direction {
            Direction::Long => "long",
            Direction::Short => "short",
        }
        .to_owned(),
        t.entry_time.clone(),
        t.exit_time.clone(),
        t.qty.to_string(),
        t.entry_price.to_string(),
        t.exit_price.to_string(),
        t.fills.to_string(),
        t.gross_pnl.to_string(),
        t.commission.to_string(),
        t.net_pnl.to_string(),
    ]
}

/// A text cell that a spreadsheet cannot take for a formula: a value
/// starting with `=`, `+`, `-`, `@`, a tab or a carriage return (a client
/// tag is whatever a strategy sent) is prefixed with `'`, as OWASP advises
/// for CSV injection. Numbers are written as they are.
fn text(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

/// A header row of `columns`, then one row per item of `rows`: the header
/// is written even when there are no rows.
fn write_table<const N: usize>(
    path: &Path,
    columns: [&str; N],
    rows: impl Iterator<Item = [String; N]>,
) -> Result<(), ReportError> {
    let mut out = csv::Writer::from_path(path).map_err(csv_error(path))?;
    out.write_record(columns).map_err(csv_error(path))?;
    for row in rows {
        out.write_record(&row).map_err(csv_error(path))?;
    }
    out.flush().map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
}

/// The equity curve: time, cash, position value, equity, unrealized PnL,
/// drawdown, then one `pnl:<strategy>` column per strategy.
fn write_equity(path: &Path, report: &Report) -> Result<(), ReportError> {
    let mut out = csv::Writer::from_path(path).map_err(csv_error(path))?;
    let mut header: Vec<String> = [
        "time",
        "cash",
        "position_value",
        "equity",
        "unrealized_pnl",
        "drawdown",
    ]
    .map(str::to_owned)
    .to_vec();
    header.extend(
        report
            .strategy_pnl
            .iter()
            .map(|s| format!("pnl:{}", s.strategy_id)),
    );
    out.write_record(&header).map_err(csv_error(path))?;
    let samples = samples(&report.equity_curve);
    for (i, (point, drawdown)) in report
        .equity_curve
        .iter()
        .zip(drawdowns(&samples))
        .enumerate()
    {
        let v = &point.value;
        let mut row = vec![
            format_time(point.time),
            v.cash.to_string(),
            v.position_value.to_string(),
            v.equity.to_string(),
            v.unrealized_pnl.to_string(),
            drawdown.round_dp(12).to_string(),
        ];
        row.extend(report.strategy_pnl.iter().map(|s| s.net_pnl[i].to_string()));
        out.write_record(&row).map_err(csv_error(path))?;
    }
    out.flush().map_err(|source| ReportError::Io {
        path: path.to_owned(),
        source,
    })
}

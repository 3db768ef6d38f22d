//! Writes a report's files: the JSON report, the HTML page, and CSV files of
//! the fills, the round trips and the equity curve, all side by side and
//! named after the JSON file (`reports/x.json` → `reports/x.html`,
//! `reports/x-fills.csv`, `reports/x-trades.csv`, `reports/x-equity.csv`).

use std::path::{Path, PathBuf};

use super::html::{self, Links, PlotError};
use super::metrics::drawdowns;
use super::{samples, Report};
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
        write_rows(&self.fills, &report.fills)?;
        write_rows(&self.trades, &report.round_trips)?;
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

/// One CSV row per record, with a header row from the field names.
fn write_rows<T: serde::Serialize>(path: &Path, rows: &[T]) -> Result<(), ReportError> {
    let mut out = csv::Writer::from_path(path).map_err(csv_error(path))?;
    for row in rows {
        out.serialize(row).map_err(csv_error(path))?;
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

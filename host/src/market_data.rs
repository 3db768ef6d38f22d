//! Market data: OHLCV bars loaded from CSV files and merged across
//! instruments into time-ordered steps.
//!
//! CSV format (that of `examples/data/*.csv`): a header row, then
//! `time,Open,High,Low,Close,Volume`, where the first column's header may be
//! empty and the time is `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DDTHH:MM:SS` or
//! `YYYY-MM-DD`, in UTC. A bar's time is its open time; the bar is delivered
//! to strategies once complete, at the step carrying that time.
//!
//! Prices must fit the instrument's tick precision exactly. Volume is
//! informative rather than money, so digits beyond the lot precision are
//! truncated.

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::model::{format_time, to_scaled, InstrumentId, Timestamp};
use crate::reference_data::Instrument;

/// One `[[data]]` entry of the session file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Symbol of the instrument the file holds bars for.
    pub instrument: String,
    /// CSV file, relative to the session file.
    pub path: PathBuf,
}

/// One OHLCV bar. Prices are integers scaled by the instrument's
/// `price_scale`, volume by its `qty_scale`: exact, and exactly what crosses
/// the plugin boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Open time of the bar.
    pub time: Timestamp,
    /// First price.
    pub open: i64,
    /// Highest price.
    pub high: i64,
    /// Lowest price.
    pub low: i64,
    /// Last price.
    pub close: i64,
    /// Traded volume.
    pub volume: i64,
}

/// A problem with a market data file, naming the file, line and column.
#[derive(Debug, thiserror::Error)]
pub enum MarketDataError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read market data: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The header row is not the expected one.
    #[error("{path}:1: expected header `,Open,High,Low,Close,Volume`, found `{found}`")]
    Header {
        /// The file.
        path: PathBuf,
        /// The header found.
        found: String,
    },
    /// A row is malformed.
    #[error("{path}:{line}: {problem}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong, naming the column and value.
        problem: String,
    },
    /// The file has a header but no bars.
    #[error("{path}: no bars")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

const COLUMNS: [&str; 6] = ["time", "Open", "High", "Low", "Close", "Volume"];

/// Parses a UTC timestamp in one of the supported forms.
fn parse_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(Default::default()))
        })
        .ok()?;
    naive.and_utc().timestamp_nanos_opt()
}

/// Loads one CSV file of bars for `instrument`.
pub fn load_csv(path: &Path, instrument: &Instrument) -> Result<Vec<Bar>, MarketDataError> {
    let file = std::fs::File::open(path).map_err(|source| MarketDataError::Read {
        path: path.to_owned(),
        source,
    })?;
    read_csv(file, path, instrument)
}

/// Reads CSV bars from any reader; `path` names the source in errors.
pub fn read_csv(
    reader: impl std::io::Read,
    path: &Path,
    instrument: &Instrument,
) -> Result<Vec<Bar>, MarketDataError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(reader);
    let row_error = |line: u64, problem: String| MarketDataError::Row {
        path: path.to_owned(),
        line,
        problem,
    };
    let headers = csv.headers().map_err(|e| csv_error(path, e))?.clone();
    let header_ok = headers.len() == COLUMNS.len()
        && headers
            .iter()
            .skip(1)
            .zip(&COLUMNS[1..])
            .all(|(found, want)| found.trim().eq_ignore_ascii_case(want));
    if !header_ok {
        return Err(MarketDataError::Header {
            path: path.to_owned(),
            found: headers.iter().collect::<Vec<_>>().join(","),
        });
    }

    let mut bars: Vec<Bar> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != COLUMNS.len() {
            return Err(row_error(
                line,
                format!("expected {} columns, found {}", COLUMNS.len(), record.len()),
            ));
        }
        let time_text = &record[0];
        let time = parse_time(time_text).ok_or_else(|| {
            row_error(
                line,
                format!("column time: invalid timestamp '{time_text}'"),
            )
        })?;
        let mut values = [0i64; 5];
        for (i, value) in values.iter_mut().enumerate() {
            let column = COLUMNS[i + 1];
            let text = record[i + 1].trim();
            let number: Decimal = text
                .parse()
                .or_else(|_| Decimal::from_scientific(text))
                .map_err(|_| {
                    row_error(line, format!("column {column}: invalid number '{text}'"))
                })?;
            let is_volume = column == "Volume";
            if number < Decimal::ZERO || (!is_volume && number.is_zero()) {
                return Err(row_error(
                    line,
                    format!(
                        "column {column}: {number} is not a valid {}",
                        if is_volume { "volume" } else { "price" }
                    ),
                ));
            }
            *value = if is_volume {
                to_scaled(
                    number.trunc_with_scale(u32::from(instrument.qty_scale)),
                    instrument.qty_scale,
                )
            } else {
                to_scaled(number, instrument.price_scale)
            }
            .map_err(|_| {
                row_error(
                    line,
                    format!(
                        "column {column}: {number} is finer than {} allows for {}",
                        if is_volume {
                            format!("lot size {}", instrument.lot_size)
                        } else {
                            format!("tick size {}", instrument.tick_size)
                        },
                        instrument.symbol
                    ),
                )
            })?;
        }
        let [open, high, low, close, volume] = values;
        if low > open.min(close) || high < open.max(close) || low > high {
            return Err(row_error(
                line,
                format!(
                    "inconsistent bar: low {} / high {} do not enclose open {} and close {}",
                    &record[3], &record[2], &record[1], &record[4]
                ),
            ));
        }
        if let Some(prev) = bars.last() {
            if time <= prev.time {
                return Err(row_error(
                    line,
                    format!(
                        "column time: {} is not after the previous row's {}",
                        format_time(time),
                        format_time(prev.time)
                    ),
                ));
            }
        }
        bars.push(Bar {
            instrument: instrument.id,
            time,
            open,
            high,
            low,
            close,
            volume,
        });
    }
    if bars.is_empty() {
        return Err(MarketDataError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(bars)
}

fn csv_error(path: &Path, e: csv::Error) -> MarketDataError {
    let line = e.position().map_or(0, |p| p.line());
    let problem = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => MarketDataError::Read {
            path: path.to_owned(),
            source,
        },
        _ => MarketDataError::Row {
            path: path.to_owned(),
            line,
            problem,
        },
    }
}

/// Bars of every instrument of a session, merged into steps by time.
#[derive(Debug, Clone, Default)]
pub struct MarketData {
    series: Vec<Vec<Bar>>,
}

impl MarketData {
    /// Market data from per-instrument series, each sorted by strictly
    /// increasing time (as [`load_csv`] guarantees).
    pub fn new(series: Vec<Vec<Bar>>) -> Self {
        debug_assert!(series
            .iter()
            .all(|s| s.windows(2).all(|w| w[0].time < w[1].time)));
        Self { series }
    }

    /// Total number of bars.
    pub fn bar_count(&self) -> usize {
        self.series.iter().map(Vec::len).sum()
    }

    /// A cursor at the first step of this data.
    pub fn steps(&self) -> StepCursor {
        StepCursor {
            next: vec![0; self.series.len()],
        }
    }
}

/// Position of a walk through [`MarketData`], one step (one distinct
/// timestamp) at a time.
#[derive(Debug, Clone)]
pub struct StepCursor {
    next: Vec<usize>,
}

impl StepCursor {
    /// Fills `out` with every bar of `data` at the next timestamp, in
    /// instrument order, and returns that timestamp; `None` once exhausted.
    pub fn next_step(&mut self, data: &MarketData, out: &mut Vec<Bar>) -> Option<Timestamp> {
        out.clear();
        let time = data
            .series
            .iter()
            .zip(&self.next)
            .filter_map(|(series, &i)| series.get(i).map(|b| b.time))
            .min()?;
        for (series, i) in data.series.iter().zip(self.next.iter_mut()) {
            if let Some(bar) = series.get(*i).filter(|b| b.time == time) {
                out.push(*bar);
                *i += 1;
            }
        }
        Some(time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Currency;

    fn instrument(id: u32) -> Instrument {
        Instrument {
            id: InstrumentId(id),
            symbol: "EURUSD".into(),
            base_currency: Currency::new("EUR"),
            quote_currency: Currency::new("USD"),
            tick_size: "0.00001".parse().unwrap(),
            lot_size: "1".parse().unwrap(),
            min_notional: Decimal::ZERO,
            price_scale: 5,
            qty_scale: 0,
        }
    }

    fn read(text: &str) -> Result<Vec<Bar>, MarketDataError> {
        read_csv(text.as_bytes(), Path::new("x.csv"), &instrument(0))
    }

    #[test]
    fn reads_the_bundled_format() {
        let bars = read(",Open,High,Low,Close,Volume\n2017-04-19 09:00:00,1.0716,1.0722,1.07083,1.07219,1413\n2017-04-20,1.1,1.2,1.0,1.15,0.7\n").unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].open, 107160);
        assert_eq!(bars[0].close, 107219);
        assert_eq!(bars[0].volume, 1413);
        assert_eq!(bars[0].time, 1_492_592_400_000_000_000);
        assert_eq!(bars[1].volume, 0, "volume truncated to lot precision");
    }

    #[test]
    fn errors_name_line_and_column() {
        let cases = [
            (
                "2017-04-19 09:00:00,1.07,abc,1.06,1.07,1",
                "x.csv:2: column High: invalid number 'abc'",
            ),
            (
                "2017-04-19 09:00:00,1.07,1.08,1.06,1.071234,1",
                "x.csv:2: column Close: 1.071234 is finer than tick size 0.00001 allows for EURUSD",
            ),
            (
                "yesterday,1.07,1.08,1.06,1.07,1",
                "x.csv:2: column time: invalid timestamp 'yesterday'",
            ),
            (
                "2017-04-19 09:00:00,1.07,1.08,1.06",
                "x.csv:2: expected 6 columns, found 4",
            ),
            (
                "2017-04-19 09:00:00,1.07,1.06,1.08,1.07,1",
                "x.csv:2: inconsistent bar",
            ),
            (
                "2017-04-19 09:00:00,0,1.06,1.08,1.07,1",
                "x.csv:2: column Open: 0 is not a valid price",
            ),
        ];
        for (row, want) in cases {
            let err = read(&format!(",Open,High,Low,Close,Volume\n{row}\n")).unwrap_err();
            assert!(err.to_string().starts_with(want), "{row}: got {err}");
        }
    }

    #[test]
    fn time_must_increase() {
        let err = read(",Open,High,Low,Close,Volume\n2017-04-19,1,1,1,1,1\n2017-04-19,1,1,1,1,1\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.csv:3: column time: 2017-04-19T00:00:00Z is not after the previous row's 2017-04-19T00:00:00Z"
        );
    }

    #[test]
    fn wrong_header_and_empty_file_are_refused() {
        assert!(matches!(read("a,b\n"), Err(MarketDataError::Header { .. })));
        assert!(matches!(
            read(",Open,High,Low,Close,Volume\n"),
            Err(MarketDataError::Empty { .. })
        ));
    }

    #[test]
    fn steps_merge_series_by_time() {
        let bar = |instrument, time| Bar {
            instrument: InstrumentId(instrument),
            time,
            open: 1,
            high: 1,
            low: 1,
            close: 1,
            volume: 0,
        };
        let data = MarketData::new(vec![vec![bar(0, 1), bar(0, 3)], vec![bar(1, 2), bar(1, 3)]]);
        let mut cursor = data.steps();
        let mut out = Vec::new();
        let mut seen = Vec::new();
        while let Some(time) = cursor.next_step(&data, &mut out) {
            seen.push((time, out.iter().map(|b| b.instrument.0).collect::<Vec<_>>()));
        }
        assert_eq!(seen, vec![(1, vec![0]), (2, vec![1]), (3, vec![0, 1])]);
    }
}

//! Market data: OHLCV bars, top-of-book quotes and trade prints loaded from
//! CSV files and merged across instruments into time-ordered steps.
//!
//! CSV format (that of `examples/data/*.csv`): a header row, then
//! `time,Open,High,Low,Close,Volume`, where the first column's header may be
//! empty and the time is `YYYY-MM-DD HH:MM:SS`, `YYYY-MM-DDTHH:MM:SS` or
//! `YYYY-MM-DD`, in UTC (with optional fractional seconds). Quote files are
//! `time,bid,bid_size,ask,ask_size` and trade files `time,price,size`;
//! sizes must fit the lot precision exactly. A bar's time is its open time; the bar is delivered
//! to strategies once complete, at the step carrying that time.
//!
//! Prices must fit the instrument's tick precision exactly. Volume is
//! informative rather than money, so digits beyond the lot precision are
//! truncated.

pub mod live;

use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde::Deserialize;

use crate::model::{format_time, to_scaled, Bar, Quote, Timestamp, Trade};
use crate::reference_data::Instrument;

/// One `[[data]]` entry of the session file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Symbol of the instrument the file holds data for.
    pub instrument: String,
    /// CSV file, relative to the session file; or, instead, `venue`.
    pub path: Option<PathBuf>,
    /// The `[[venues]]` entry whose WebSocket streams deliver the data live
    /// (bars: klines, quotes: book ticker, trades: trade stream).
    pub venue: Option<String>,
    /// Kline interval of live bars, e.g. `1m`. Default `1m`.
    pub interval: Option<String>,
    /// What the file holds. Default `bars`.
    #[serde(default)]
    pub kind: DataKind,
}

/// What a market data file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// OHLCV bars: `,Open,High,Low,Close,Volume`.
    #[default]
    Bars,
    /// Top of book: `time,bid,bid_size,ask,ask_size`.
    Quotes,
    /// Trade prints: `time,price,size`.
    Trades,
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
    #[error("{path}:1: expected header `time,{expected}`, found `{found}`")]
    Header {
        /// The file.
        path: PathBuf,
        /// The columns after the time column.
        expected: String,
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

const BAR_COLUMNS: [&str; 6] = ["time", "Open", "High", "Low", "Close", "Volume"];
const QUOTE_COLUMNS: [&str; 5] = ["time", "bid", "bid_size", "ask", "ask_size"];
const TRADE_COLUMNS: [&str; 3] = ["time", "price", "size"];

/// Parses a UTC timestamp in one of the supported forms.
fn parse_time(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(Default::default()))
        })
        .ok()?;
    naive.and_utc().timestamp_nanos_opt()
}

/// Loads one CSV file of `kind` for `instrument`.
pub fn load_csv(
    path: &Path,
    kind: DataKind,
    instrument: &Instrument,
) -> Result<Series, MarketDataError> {
    let file = std::fs::File::open(path).map_err(|source| MarketDataError::Read {
        path: path.to_owned(),
        source,
    })?;
    match kind {
        DataKind::Bars => read_csv(file, path, instrument).map(Series::Bars),
        DataKind::Quotes => read_quotes(file, path, instrument).map(Series::Quotes),
        DataKind::Trades => read_trades(file, path, instrument).map(Series::Trades),
    }
}

/// A column's number as a scaled price or quantity of `instrument`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Price,
    /// A quantity held to the lot precision (sizes of quotes and trades).
    Qty,
    /// Volume: informative, truncated to the lot precision.
    Volume,
}

/// Reads rows of `time` plus numeric `columns` (each a [`Column`]), with
/// strictly increasing times unless `equal_times`, building each item with
/// `build(time, values)`; `check` may refuse a row's values.
fn read_rows<T, const N: usize>(
    reader: impl std::io::Read,
    path: &Path,
    instrument: &Instrument,
    columns: (&[&str], [Column; N]),
    equal_times: bool,
    check: impl Fn(&csv::StringRecord, &[i64; N]) -> Result<(), String>,
    build: impl Fn(Timestamp, [i64; N]) -> T,
) -> Result<Vec<(Timestamp, T)>, MarketDataError> {
    let (names, kinds) = columns;
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(LineCap::new(reader));
    let row_error = |line: u64, problem: String| MarketDataError::Row {
        path: path.to_owned(),
        line,
        problem,
    };
    let headers = csv.headers().map_err(|e| csv_error(path, e))?.clone();
    let header_ok = headers.len() == names.len()
        && headers
            .iter()
            .skip(1)
            .zip(&names[1..])
            .all(|(found, want)| found.trim().eq_ignore_ascii_case(want));
    if !header_ok {
        return Err(MarketDataError::Header {
            path: path.to_owned(),
            expected: names[1..].join(","),
            found: headers.iter().collect::<Vec<_>>().join(","),
        });
    }
    let mut rows: Vec<(Timestamp, T)> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match csv.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != names.len() {
            return Err(row_error(
                line,
                format!("expected {} columns, found {}", names.len(), record.len()),
            ));
        }
        let time_text = &record[0];
        let time = parse_time(time_text).ok_or_else(|| {
            row_error(
                line,
                format!("column time: invalid timestamp '{time_text}'"),
            )
        })?;
        let mut values = [0i64; N];
        for (i, value) in values.iter_mut().enumerate() {
            let (column, kind) = (names[i + 1], kinds[i]);
            let text = record[i + 1].trim();
            let number: Decimal = text
                .parse()
                .or_else(|_| Decimal::from_scientific(text))
                .map_err(|_| {
                    row_error(line, format!("column {column}: invalid number '{text}'"))
                })?;
            if number < Decimal::ZERO || (kind == Column::Price && number.is_zero()) {
                return Err(row_error(
                    line,
                    format!(
                        "column {column}: {number} is not a valid {}",
                        if kind == Column::Price {
                            "price"
                        } else {
                            "quantity"
                        }
                    ),
                ));
            }
            let scale = if kind == Column::Price {
                instrument.price_scale
            } else {
                instrument.qty_scale
            };
            *value = match kind {
                Column::Volume => to_scaled(
                    number.trunc_with_scale(u32::from(instrument.qty_scale)),
                    instrument.qty_scale,
                ),
                Column::Qty => to_scaled(number, instrument.qty_scale),
                Column::Price => to_scaled(number, instrument.price_scale),
            }
            .map_err(|_| {
                let problem = if number.normalize().scale() <= u32::from(scale) {
                    // On the grid, but too many digits for a 64-bit integer.
                    format!(
                        "column {column}: {number} is too large: at {scale} decimal places (those of {} {}) it does not fit a 64-bit integer",
                        if kind == Column::Price { "tick size" } else { "lot size" },
                        if kind == Column::Price { instrument.tick_size } else { instrument.lot_size },
                    )
                } else {
                    format!(
                        "column {column}: {number} is finer than {} allows for {}",
                        if kind == Column::Price {
                            format!("tick size {}", instrument.tick_size)
                        } else {
                            format!("lot size {}", instrument.lot_size)
                        },
                        instrument.symbol
                    )
                };
                row_error(line, problem)
            })?;
        }
        check(&record, &values).map_err(|problem| row_error(line, problem))?;
        if let Some((prev, _)) = rows.last() {
            if time < *prev || (time == *prev && !equal_times) {
                return Err(row_error(
                    line,
                    format!(
                        "column time: {} is not after the previous row's {}",
                        format_time(time),
                        format_time(*prev)
                    ),
                ));
            }
        }
        rows.push((time, build(time, values)));
    }
    if rows.is_empty() {
        return Err(MarketDataError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(rows)
}

/// Reads CSV bars from any reader; `path` names the source in errors.
pub fn read_csv(
    reader: impl std::io::Read,
    path: &Path,
    instrument: &Instrument,
) -> Result<Vec<Bar>, MarketDataError> {
    use Column::{Price, Volume};
    let rows = read_rows(
        reader,
        path,
        instrument,
        (&BAR_COLUMNS, [Price, Price, Price, Price, Volume]),
        false,
        |record, &[open, high, low, close, _]| {
            if low > open.min(close) || high < open.max(close) || low > high {
                return Err(format!(
                    "inconsistent bar: low {} / high {} do not enclose open {} and close {}",
                    &record[3], &record[2], &record[1], &record[4]
                ));
            }
            Ok(())
        },
        |time, [open, high, low, close, volume]| Bar {
            instrument: instrument.id,
            time,
            open,
            high,
            low,
            close,
            volume,
        },
    )?;
    Ok(rows.into_iter().map(|(_, bar)| bar).collect())
}

/// Reads top-of-book quotes (`time,bid,bid_size,ask,ask_size`).
pub fn read_quotes(
    reader: impl std::io::Read,
    path: &Path,
    instrument: &Instrument,
) -> Result<Vec<Quote>, MarketDataError> {
    use Column::{Price, Qty};
    let rows = read_rows(
        reader,
        path,
        instrument,
        (&QUOTE_COLUMNS, [Price, Qty, Price, Qty]),
        false,
        |record, &[bid, _, ask, _]| {
            if bid >= ask {
                return Err(format!(
                    "crossed quote: bid {} is not below ask {}",
                    &record[1], &record[3]
                ));
            }
            Ok(())
        },
        |time, [bid, bid_size, ask, ask_size]| Quote {
            instrument: instrument.id,
            time,
            bid,
            bid_size,
            ask,
            ask_size,
        },
    )?;
    Ok(rows.into_iter().map(|(_, q)| q).collect())
}

/// Reads trade prints (`time,price,size`); several may share a time.
pub fn read_trades(
    reader: impl std::io::Read,
    path: &Path,
    instrument: &Instrument,
) -> Result<Vec<Trade>, MarketDataError> {
    use Column::{Price, Qty};
    let rows = read_rows(
        reader,
        path,
        instrument,
        (&TRADE_COLUMNS, [Price, Qty]),
        true,
        |_, _| Ok(()),
        |time, [price, size]| Trade {
            instrument: instrument.id,
            time,
            price,
            size,
        },
    )?;
    Ok(rows.into_iter().map(|(_, t)| t).collect())
}

/// Longest line a market data file may have: real rows are well under 200
/// bytes, and without a cap a file such as `/dev/zero` (one endless line)
/// would be buffered whole.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// A line of a market data file longer than [`MAX_LINE_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("line is longer than {MAX_LINE_BYTES} bytes")]
struct LineTooLong {
    /// 1-based line number.
    line: u64,
}

/// A reader that fails once a line grows beyond [`MAX_LINE_BYTES`].
struct LineCap<R> {
    inner: R,
    /// Bytes since the last line end.
    run: usize,
    /// Line ends seen.
    lines: u64,
}

impl<R> LineCap<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            run: 0,
            lines: 0,
        }
    }
}

impl<R: std::io::Read> std::io::Read for LineCap<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &byte in &buf[..n] {
            if byte == b'\n' || byte == b'\r' {
                self.lines += u64::from(byte == b'\n');
                self.run = 0;
            } else {
                self.run += 1;
                if self.run > MAX_LINE_BYTES {
                    let line = self.lines + 1;
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        LineTooLong { line },
                    ));
                }
            }
        }
        Ok(n)
    }
}

fn csv_error(path: &Path, e: csv::Error) -> MarketDataError {
    let line = e.position().map_or(0, |p| p.line());
    let problem = e.to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => {
            if let Some(long) = source
                .get_ref()
                .and_then(|e| e.downcast_ref::<LineTooLong>())
            {
                return MarketDataError::Row {
                    path: path.to_owned(),
                    line: long.line,
                    problem: long.to_string(),
                };
            }
            MarketDataError::Read {
                path: path.to_owned(),
                source,
            }
        }
        _ => MarketDataError::Row {
            path: path.to_owned(),
            line,
            problem,
        },
    }
}

/// One file's worth of market data for one instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Series {
    /// OHLCV bars, strictly increasing in time.
    Bars(Vec<Bar>),
    /// Quotes, strictly increasing in time.
    Quotes(Vec<Quote>),
    /// Trades, non-decreasing in time.
    Trades(Vec<Trade>),
}

impl Series {
    /// Number of bars, quotes or trades.
    pub fn len(&self) -> usize {
        match self {
            Series::Bars(v) => v.len(),
            Series::Quotes(v) => v.len(),
            Series::Trades(v) => v.len(),
        }
    }

    /// Whether the series holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn time(&self, i: usize) -> Option<Timestamp> {
        match self {
            Series::Bars(v) => v.get(i).map(|x| x.time),
            Series::Quotes(v) => v.get(i).map(|x| x.time),
            Series::Trades(v) => v.get(i).map(|x| x.time),
        }
    }
}

/// What the market data holds at one step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepData {
    /// Bars, in instrument order.
    pub bars: Vec<Bar>,
    /// Quotes, in instrument order.
    pub quotes: Vec<Quote>,
    /// Trades, in instrument then print order.
    pub trades: Vec<Trade>,
}

impl StepData {
    fn clear(&mut self) {
        self.bars.clear();
        self.quotes.clear();
        self.trades.clear();
    }
}

/// Market data of every instrument of a session, merged into steps by time.
#[derive(Debug, Clone, Default)]
pub struct MarketData {
    series: Vec<Series>,
}

impl MarketData {
    /// Market data from bar series only (benchmarks, tests).
    pub fn new(series: Vec<Vec<Bar>>) -> Self {
        Self::from_series(series.into_iter().map(Series::Bars).collect())
    }

    /// Market data from series sorted by time (as [`load_csv`] guarantees),
    /// in instrument order.
    pub fn from_series(series: Vec<Series>) -> Self {
        Self { series }
    }

    /// Total number of bars, quotes and trades.
    pub fn bar_count(&self) -> usize {
        self.series.iter().map(Series::len).sum()
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
    /// Fills `out` with everything in `data` at the next timestamp and
    /// returns that timestamp; `None` once exhausted.
    pub fn next_step(&mut self, data: &MarketData, out: &mut StepData) -> Option<Timestamp> {
        out.clear();
        let time = data
            .series
            .iter()
            .zip(&self.next)
            .filter_map(|(series, &i)| series.time(i))
            .min()?;
        for (series, i) in data.series.iter().zip(self.next.iter_mut()) {
            while series.time(*i) == Some(time) {
                match series {
                    Series::Bars(v) => out.bars.push(v[*i]),
                    Series::Quotes(v) => out.quotes.push(v[*i]),
                    Series::Trades(v) => out.trades.push(v[*i]),
                }
                *i += 1;
            }
        }
        Some(time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Currency, InstrumentId};

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
        let mut out = StepData::default();
        let mut seen = Vec::new();
        while let Some(time) = cursor.next_step(&data, &mut out) {
            seen.push((
                time,
                out.bars.iter().map(|b| b.instrument.0).collect::<Vec<_>>(),
            ));
        }
        assert_eq!(seen, vec![(1, vec![0]), (2, vec![1]), (3, vec![0, 1])]);
    }
}

//! Market data: OHLCV bars, top-of-book quotes and trade prints loaded from
//! CSV or Parquet files or the data catalog (by `cracktrader-data`), and
//! merged across instruments into time-ordered steps.
//!
//! What a `[[data]]` entry may name, and how its files are read, is in
//! docs/data.md. A bar's time is its open time; the bar is delivered to
//! strategies once complete, at the step carrying that time.

pub mod live;

use std::path::{Path, PathBuf};

use cracktrader_data::catalog::{Catalog, DatasetKey};
use cracktrader_data::{
    read_file, Columns, Delimiter, Format, Item, Precision, ReadOptions, TimeFormat, TimeRange,
    TimeZone,
};
use serde::Deserialize;

use crate::model::{Bar, Quote, Timestamp, Trade};
use crate::reference_data::Instrument;

pub use cracktrader_data::{DataKind, Error as MarketDataError, MAX_LINE_BYTES};

/// One `[[data]]` entry of the session file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Symbol of the instrument the file holds data for.
    pub instrument: String,
    /// CSV or Parquet file, relative to the session file; or, instead,
    /// `catalog` or `venue`.
    pub path: Option<PathBuf>,
    /// The `[[venues]]` entry whose WebSocket streams deliver the data live
    /// (bars: klines, quotes: book ticker, trades: trade stream).
    pub venue: Option<String>,
    /// Kline interval of live bars, e.g. `1m`. Default `1m`.
    pub interval: Option<String>,
    /// What the file holds. Default `bars`.
    #[serde(default)]
    pub kind: DataKind,
    /// `csv` or `parquet`. Default: by the file's extension.
    pub format: Option<Format>,
    /// Which column holds which field. Default: the fields' own names.
    #[serde(default)]
    pub columns: Columns,
    /// How times are written. Default `auto`.
    #[serde(default)]
    pub time_format: TimeFormat,
    /// Time zone of times written without an offset. Default UTC.
    pub timezone: Option<TimeZone>,
    /// CSV field separator. Default `,`.
    #[serde(default)]
    pub delimiter: Delimiter,
    /// Sort rows by time (dropping repeated rows) instead of refusing
    /// files out of order. Default `false`.
    #[serde(default)]
    pub sort: bool,
    /// A data catalog directory, relative to the session file: instead of
    /// `path`.
    pub catalog: Option<PathBuf>,
    /// The catalog's symbol. Default: `instrument`.
    pub symbol: Option<String>,
    /// The catalog's bar interval, e.g. `1m` (bars only).
    pub timeframe: Option<String>,
    /// First time read from the catalog (inclusive). Default: its first.
    pub start: Option<String>,
    /// Time the catalog is read up to (exclusive). Default: its last.
    pub end: Option<String>,
}

impl DataConfig {
    /// Where stored data comes from: the file or the catalog, if either.
    pub fn stored(&self) -> Option<&Path> {
        self.path.as_deref().or(self.catalog.as_deref())
    }

    /// How the file is read.
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            format: self.format,
            columns: self.columns.clone(),
            time_format: self.time_format.clone(),
            timezone: self.timezone,
            delimiter: self.delimiter,
            sort: self.sort,
        }
    }

    /// What is wrong with the keys of this entry beyond where its data
    /// comes from, each line starting with the key (`.timeframe: …`).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let file_keys = self.format.is_some()
            || self.columns != Columns::default()
            || self.time_format != TimeFormat::default()
            || self.timezone.is_some()
            || self.delimiter != Delimiter::default()
            || self.sort;
        let catalog_keys = [
            ("symbol", self.symbol.is_some()),
            ("timeframe", self.timeframe.is_some()),
            ("start", self.start.is_some()),
            ("end", self.end.is_some()),
        ];
        match (&self.path, &self.catalog) {
            (Some(_), Some(_)) => {
                problems.push(": give `path` (a file) or `catalog`, not both".to_owned())
            }
            (_, Some(_)) => {
                if file_keys {
                    problems.push(": format, columns, time_format, timezone, delimiter and sort describe a file; a catalog was imported with them".to_owned());
                }
                if let Err(problem) = self.dataset_key() {
                    problems.push(format!(": {problem}"));
                }
                for (key, value) in [("start", &self.start), ("end", &self.end)] {
                    if let Some(Err(problem)) = value.as_deref().map(cracktrader_data::parse_time) {
                        problems.push(format!(".{key}: {problem}"));
                    }
                }
            }
            (_, None) => {
                for (key, given) in catalog_keys {
                    if given {
                        problems.push(format!(".{key}: only a `catalog` entry has one"));
                    }
                }
                if let Some(path) = &self.path {
                    problems.extend(self.read_options().problems(self.kind, path));
                } else if file_keys {
                    problems.push(": format, columns, time_format, timezone, delimiter and sort describe a file; give `path`".to_owned());
                }
            }
        }
        problems
    }

    fn dataset_key(&self) -> Result<DatasetKey, String> {
        let symbol = self.symbol.as_deref().unwrap_or(&self.instrument);
        DatasetKey::new(self.kind, symbol, self.timeframe.as_deref())
    }

    /// Loads the stored data this entry names for `instrument`, with paths
    /// resolved by `resolve`; `None` for live data (`venue`).
    pub fn load(
        &self,
        resolve: impl Fn(&Path) -> PathBuf,
        instrument: &Instrument,
    ) -> Result<Option<Series>, MarketDataError> {
        match self.kind {
            DataKind::Bars => self
                .load_items(&resolve, instrument)
                .map(|v| v.map(Series::Bars)),
            DataKind::Quotes => self
                .load_items(&resolve, instrument)
                .map(|v| v.map(Series::Quotes)),
            DataKind::Trades => self
                .load_items(&resolve, instrument)
                .map(|v| v.map(Series::Trades)),
        }
    }

    fn load_items<T: Item>(
        &self,
        resolve: &impl Fn(&Path) -> PathBuf,
        instrument: &Instrument,
    ) -> Result<Option<Vec<T>>, MarketDataError> {
        let precision = precision(instrument);
        if let Some(path) = &self.path {
            return read_file(&resolve(path), &self.read_options(), &precision).map(Some);
        }
        let Some(root) = &self.catalog else {
            return Ok(None);
        };
        let root = resolve(root);
        // Validation reported bad keys and times; these errors are for
        // callers that skipped it.
        let invalid = |problem: String| MarketDataError::Catalog {
            root: root.clone(),
            problem,
        };
        let key = self.dataset_key().map_err(invalid)?;
        let bound = |text: &Option<String>| -> Result<Option<Timestamp>, MarketDataError> {
            text.as_deref()
                .map(cracktrader_data::parse_time)
                .transpose()
                .map_err(invalid)
        };
        let range = TimeRange {
            start: bound(&self.start)?,
            end: bound(&self.end)?,
        };
        Catalog::open(&root)?
            .read(&key, range, &precision)
            .map(Some)
    }
}

/// What loading needs of an instrument.
fn precision(instrument: &Instrument) -> Precision {
    Precision {
        instrument: instrument.id,
        symbol: instrument.symbol.clone(),
        tick_size: instrument.tick_size,
        lot_size: instrument.lot_size,
        price_scale: instrument.price_scale,
        qty_scale: instrument.qty_scale,
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

    /// Market data from series sorted by time (as loading guarantees),
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
    use crate::model::InstrumentId;

    fn entry(toml: &str) -> DataConfig {
        toml::from_str(&format!("instrument = \"EURUSD\"\n{toml}")).unwrap()
    }

    #[test]
    fn file_and_catalog_keys_are_checked() {
        assert!(
            entry("path = \"x.csv\"\ncolumns = { close = \"Adj Close\" }\ndelimiter = \";\"")
                .problems()
                .is_empty()
        );
        assert!(
            entry("catalog = \"c\"\ntimeframe = \"1m\"\nstart = \"2017-01-01\"")
                .problems()
                .is_empty()
        );
        for (toml, want) in [
            ("path = \"x\"\ncatalog = \"c\"", ": give `path` (a file) or `catalog`, not both"),
            ("catalog = \"c\"", ": bars need a timeframe, e.g. 1m, 1h or 1d"),
            ("catalog = \"c\"\ntimeframe = \"1m\"\nsort = true", ": format, columns, time_format, timezone, delimiter and sort describe a file; a catalog was imported with them"),
            ("catalog = \"c\"\ntimeframe = \"1m\"\nend = \"soon\"", ".end: invalid timestamp 'soon'"),
            ("path = \"x\"\ntimeframe = \"1m\"", ".timeframe: only a `catalog` entry has one"),
            ("path = \"x\"\ncolumns = { bid = \"b\" }", ".columns.bid: bars have no bid column"),
        ] {
            let problems = entry(toml).problems();
            assert!(problems.iter().any(|p| p.starts_with(want)), "{toml}: {problems:?}");
        }
        let err = toml::from_str::<DataConfig>("instrument = \"X\"\ntime_format = \"dd/mm\"")
            .unwrap_err();
        assert!(err.to_string().contains("strftime"), "{err}");
        let err = toml::from_str::<DataConfig>("instrument = \"X\"\ncolumns = { clse = \"C\" }")
            .unwrap_err();
        assert!(err.to_string().contains("unknown column 'clse'"), "{err}");
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

//! Parameter sweeps: one session backtested once per point of a grid of
//! strategy parameters, in parallel, sharing one compiled component.
//!
//! The session's data and plugins are loaded once; each run gets fresh
//! instances (pre-instantiated components, so a run costs an instantiation,
//! not a compilation) and its own [`Session`], so runs share nothing mutable
//! and each is the same pure function of its parameters as a backtest. The
//! results table is sorted by a [`Metric`] with the grid index breaking ties,
//! which makes the output independent of the number of worker threads and of
//! the order in which runs finish.
//!
//! Memory stays bounded on large grids: a run's report (with its equity
//! curve) is dropped as soon as its row of metrics is taken, unless it is
//! among the best `keep` so far, in which case it goes to disk.
//!
//! A grid can be cut into shards ([`Shard`], `K/N`) run by separate
//! processes or machines; [`merge`] combines their result files into the
//! same table, byte for byte, as one unsharded run. The format of the result
//! files and the CLI are documented in `docs/sweeps.md`.

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::mpsc;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, SessionConfig};
use crate::market_data::MarketData;
use crate::model::StrategyId;
use crate::post_trade::Report;
use crate::reference_data::ReferenceData;
use crate::session::{check_meter, instantiate, load_market_data, validate, Session, SessionError};
use crate::strategy_host::{Limits, Plugin, PluginError, StrategyHost};

/// Name of the result file written into a sweep's output directory.
pub const RESULT_FILE: &str = "sweep.json";
/// Name of the results table written next to it.
pub const TABLE_FILE: &str = "sweep.csv";
/// Directory, under the output directory, of the kept runs' reports.
pub const REPORTS_DIR: &str = "reports";

/// Upper bound on the number of grid points, so that a typo such as
/// `1..1000000:1` on several axes is refused instead of run for days.
const MAX_POINTS: usize = 10_000_000;

/// Why a sweep could not run or its results could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A `--grid` axis is malformed.
    #[error("grid axis '{spec}': {problem}")]
    Axis {
        /// The axis as given.
        spec: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The grid as a whole is unusable.
    #[error("grid: {0}")]
    Grid(String),
    /// A `--shard` is malformed.
    #[error("shard '{spec}': {problem}")]
    Shard {
        /// The shard as given.
        spec: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A `--sort` metric is unknown.
    #[error("unknown metric '{0}': expected one of {list}", list = Metric::NAMES.join(", "))]
    Metric(String),
    /// The session cannot be swept.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A result file is not valid JSON or does not match the format.
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// Shard result files do not belong together.
    #[error("cannot merge: {0}")]
    Merge(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One axis of a grid: a parameter and the values it takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Axis {
    /// The `[strategies.params]` key.
    pub name: String,
    /// Its values, as the text the plugin receives.
    pub values: Vec<String>,
}

impl FromStr for Axis {
    type Err = SweepError;

    /// `name=start..end:step` (inclusive, exact decimals), `name=a,b,c` or
    /// `name=value`.
    fn from_str(spec: &str) -> Result<Self, SweepError> {
        let bad = |problem: String| SweepError::Axis {
            spec: spec.to_owned(),
            problem,
        };
        let (name, values) = spec
            .split_once('=')
            .ok_or_else(|| bad("expected name=start..end:step, name=a,b,c or name=value".into()))?;
        let name = name.trim();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || "_-".contains(c))
        {
            return Err(bad(format!(
                "parameter name '{name}' must be letters, digits, '_' or '-'"
            )));
        }
        let values = match values.split_once("..") {
            Some((start, rest)) => {
                let (end, step) = rest
                    .split_once(':')
                    .ok_or_else(|| bad("a range needs a step: start..end:step".into()))?;
                let number = |what: &str, text: &str| {
                    text.trim()
                        .parse::<Decimal>()
                        .map_err(|_| bad(format!("{what} '{text}' is not a number")))
                };
                let (start, end, step) = (
                    number("start", start)?,
                    number("end", end)?,
                    number("step", step)?,
                );
                if step <= Decimal::ZERO {
                    return Err(bad(format!("step {step} must be positive")));
                }
                if end < start {
                    return Err(bad(format!("end {end} is below start {start}")));
                }
                let count = ((end - start) / step).floor() + Decimal::ONE;
                if count > Decimal::from(MAX_POINTS) {
                    return Err(bad(format!("{count} values; at most {MAX_POINTS}")));
                }
                let mut values = Vec::new();
                let mut value = start;
                while value <= end {
                    values.push(value.normalize().to_string());
                    value += step;
                }
                values
            }
            None => values.split(',').map(|v| v.trim().to_owned()).collect(),
        };
        if let Some(i) = values.iter().position(String::is_empty) {
            return Err(bad(format!("value {} is empty", i + 1)));
        }
        if let Some(v) = values
            .iter()
            .enumerate()
            .find_map(|(i, v)| values[..i].contains(v).then_some(v))
        {
            return Err(bad(format!("value '{v}' is listed twice")));
        }
        Ok(Self {
            name: name.to_owned(),
            values,
        })
    }
}

/// The points of a sweep: every combination of its axes' values. Point `i`
/// is `i` written in mixed radix, the last axis varying fastest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Grid {
    axes: Vec<Axis>,
}

impl Grid {
    /// A grid over `axes`, which must name distinct parameters.
    pub fn new(axes: Vec<Axis>) -> Result<Self, SweepError> {
        if axes.is_empty() {
            return Err(SweepError::Grid(
                "no axes: give at least one --grid name=start..end:step".into(),
            ));
        }
        for (i, axis) in axes.iter().enumerate() {
            if axes[..i].iter().any(|a| a.name == axis.name) {
                return Err(SweepError::Grid(format!(
                    "parameter '{}' has two axes",
                    axis.name
                )));
            }
        }
        let grid = Self { axes };
        match grid.checked_len() {
            Some(n) if n <= MAX_POINTS => Ok(grid),
            _ => Err(SweepError::Grid(format!(
                "more than {MAX_POINTS} points; shrink an axis"
            ))),
        }
    }

    fn checked_len(&self) -> Option<usize> {
        self.axes
            .iter()
            .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
    }

    /// The axes, in the order given.
    pub fn axes(&self) -> &[Axis] {
        &self.axes
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.checked_len().unwrap_or(usize::MAX)
    }

    /// Whether the grid has no point (never, for a grid built by [`Grid::new`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The parameter values of point `index` (< [`len`](Self::len)), one per axis.
    pub fn point(&self, mut index: usize) -> Vec<String> {
        let mut values = vec![String::new(); self.axes.len()];
        for (axis, value) in self.axes.iter().zip(&mut values).rev() {
            let n = axis.values.len();
            *value = axis.values[index % n].clone();
            index /= n;
        }
        values
    }
}

/// A deterministic slice of a grid: points `i` with `i % count == index`.
/// Round robin rather than blocks, so that slow corners of a grid spread
/// over the shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This shard, from 0 (so that a Kubernetes `JOB_COMPLETION_INDEX` can
    /// be used as is).
    pub index: usize,
    /// Number of shards.
    pub count: usize,
}

impl Shard {
    /// The whole grid.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// The grid points of this shard, in increasing order.
    pub fn points(self, len: usize) -> impl Iterator<Item = usize> {
        (self.index..len).step_by(self.count)
    }
}

impl FromStr for Shard {
    type Err = SweepError;

    /// `K/N`, with `0 <= K < N`.
    fn from_str(spec: &str) -> Result<Self, SweepError> {
        let bad = |problem: &str| SweepError::Shard {
            spec: spec.to_owned(),
            problem: problem.to_owned(),
        };
        let (k, n) = spec
            .split_once('/')
            .ok_or_else(|| bad("expected K/N, e.g. 0/4 (K counts from 0)"))?;
        let k: usize = k.trim().parse().map_err(|_| bad("K is not a number"))?;
        let n: usize = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        if n == 0 {
            return Err(bad("N must be at least 1"));
        }
        if k >= n {
            return Err(bad("K must be below N (K counts from 0)"));
        }
        Ok(Self { index: k, count: n })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// What the results table is sorted by, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Annualised Sharpe ratio, highest first; undefined ones last.
    Sharpe,
    /// Total return, highest first.
    Return,
    /// Max drawdown, smallest first.
    Drawdown,
    /// Final equity, highest first.
    Equity,
    /// Round trips, most first.
    Trades,
    /// Commissions, smallest first.
    Commissions,
}

impl Metric {
    /// The names `--sort` accepts.
    pub const NAMES: [&'static str; 6] = [
        "sharpe",
        "return",
        "drawdown",
        "equity",
        "trades",
        "commissions",
    ];
    const ALL: [Metric; 6] = [
        Metric::Sharpe,
        Metric::Return,
        Metric::Drawdown,
        Metric::Equity,
        Metric::Trades,
        Metric::Commissions,
    ];

    /// `a` before `b` if `a` is better by this metric.
    fn compare(self, a: &Metrics, b: &Metrics) -> Ordering {
        match self {
            Metric::Sharpe => match (a.sharpe, b.sharpe) {
                (Some(a), Some(b)) => b.total_cmp(&a),
                (a, b) => b.is_some().cmp(&a.is_some()),
            },
            Metric::Return => b.total_return.cmp(&a.total_return),
            Metric::Drawdown => a.max_drawdown.cmp(&b.max_drawdown),
            Metric::Equity => b.final_equity.cmp(&a.final_equity),
            Metric::Trades => b.trades.cmp(&a.trades),
            Metric::Commissions => a.commissions.cmp(&b.commissions),
        }
    }
}

impl FromStr for Metric {
    type Err = SweepError;

    fn from_str(s: &str) -> Result<Self, SweepError> {
        Metric::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(s.trim()))
            .map(|i| Metric::ALL[i])
            .ok_or_else(|| SweepError::Metric(s.to_owned()))
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Metric::NAMES[*self as usize])
    }
}

/// The headline figures of one run (from its report's summary).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Total return.
    pub total_return: Decimal,
    /// Max drawdown.
    pub max_drawdown: Decimal,
    /// Annualised Sharpe ratio, if defined.
    pub sharpe: Option<f64>,
    /// Final equity.
    pub final_equity: Decimal,
    /// Round trips.
    pub trades: u64,
    /// Fills.
    pub fills: u64,
    /// Refused orders.
    pub refused: u64,
    /// Commissions.
    pub commissions: Decimal,
}

/// One run of a sweep, as it appears in the results table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Grid index of the run.
    pub run: usize,
    /// Its parameter values, one per grid axis.
    pub params: Vec<String>,
    /// Its figures; `None` if the session could not start (e.g. a strategy
    /// refused the parameters in `init`).
    pub metrics: Option<Metrics>,
    /// Why the run failed or was cut short: the `init` error, or the cause
    /// of a quarantine. `None` for a clean run.
    pub error: Option<String>,
    /// The run's full report, relative to the result file, if it was kept.
    pub report: Option<String>,
}

impl Row {
    /// Where `self` goes relative to `other` in a table sorted by `metric`:
    /// failed runs last, ties by grid index.
    fn order(&self, other: &Row, metric: Metric) -> Ordering {
        match (&self.metrics, &other.metrics) {
            (Some(a), Some(b)) => metric.compare(a, b),
            (a, b) => b.is_some().cmp(&a.is_some()),
        }
        .then(self.run.cmp(&other.run))
    }
}

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct Options {
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// The slice of the grid to run.
    pub shard: Shard,
    /// The metric the table is sorted by.
    pub sort: Metric,
    /// How many of the best runs keep their full report.
    pub keep: usize,
}

/// The result file of a sweep (`sweep.json`): everything needed to merge
/// shards and nothing that depends on the machine or the clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepResult {
    /// Session name.
    pub session: String,
    /// The swept registration.
    pub strategy: String,
    /// sha256 of its plugin.
    pub sha256: String,
    /// The grid.
    pub grid: Grid,
    /// The slice run; `None` for a whole grid (or a merge of all shards).
    pub shard: Option<Shard>,
    /// The sort metric.
    pub sort: Metric,
    /// How many reports were kept.
    pub keep: usize,
    /// The runs, best first.
    pub rows: Vec<Row>,
}

/// A strategy host for sweeping `config` on `jobs` threads: instances come
/// from a pool with a slot for every registration of every worker, sized by
/// the largest of the registrations' limits.
pub fn host(
    config: &SessionConfig,
    cache_dir: Option<PathBuf>,
    jobs: usize,
) -> Result<StrategyHost, PluginError> {
    let limits = config
        .strategies
        .iter()
        .map(|s| s.limits)
        .reduce(|a, b| Limits {
            memory_mib: a.memory_mib.max(b.memory_mib),
            table_elements: a.table_elements.max(b.table_elements),
            instances: a.instances.max(b.instances),
            memories: a.memories.max(b.memories),
            ..a
        })
        .unwrap_or_default();
    let slots = jobs.saturating_mul(config.strategies.len().max(1));
    StrategyHost::pooled(
        cache_dir,
        config.session.cpu_meter(),
        u32::try_from(slots).unwrap_or(u32::MAX),
        &limits,
    )
}

/// A session loaded once for many runs.
pub struct Sweep {
    config: SessionConfig,
    reference: ReferenceData,
    data: MarketData,
    plugins: Vec<Plugin>,
    strategy: usize,
    grid: Grid,
}

impl Sweep {
    /// Loads the session at `path` (data, and every plugin compiled once)
    /// to sweep the parameters of registration `strategy` (may be omitted
    /// when the session has one) over `grid`.
    pub fn load(
        path: &Path,
        host: &StrategyHost,
        strategy: Option<&str>,
        grid: Grid,
    ) -> Result<Self, SweepError> {
        let config = SessionConfig::load(path).map_err(SessionError::from)?;
        let reference = validate(&config, path).map_err(SessionError::from)?;
        check_meter(&config, host)?;
        let invalid = |problem: String| {
            SweepError::Session(SessionError::Config(ConfigError::one(path, problem)))
        };
        let ids = || {
            config
                .strategies
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let strategy = match strategy {
            Some(id) => config
                .strategies
                .iter()
                .position(|s| s.id == id)
                .ok_or_else(|| {
                    invalid(format!(
                        "--strategy '{id}': no such [[strategies]] id (have: {})",
                        ids()
                    ))
                })?,
            None if config.strategies.len() == 1 => 0,
            None => {
                return Err(invalid(format!(
                    "several strategies ({}): name the one to sweep with --strategy",
                    ids()
                )))
            }
        };
        let params = &config.strategies[strategy].params;
        for axis in grid.axes() {
            if !params.contains_key(&axis.name) {
                return Err(invalid(format!(
                    "grid axis '{}': strategies ({}).params has no such key (has: {}); \
                     add it with its default value to sweep it",
                    axis.name,
                    config.strategies[strategy].id,
                    params.keys().cloned().collect::<Vec<_>>().join(", ")
                )));
            }
        }
        let data = load_market_data(&config, &reference)?;
        let plugins = config
            .strategies
            .iter()
            .map(|s| {
                host.load_pinned(&config.resolve(&s.plugin), s.sha256.as_deref(), &s.limits)
                    .map_err(|source| SessionError::Plugin {
                        strategy_id: StrategyId::new(s.id.clone()),
                        cause: source,
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            config,
            reference,
            data,
            plugins,
            strategy,
            grid,
        })
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Backtests grid point `index`: fresh instances, a fresh session.
    /// `Err` if the session could not start.
    pub fn run_point(&self, host: &StrategyHost, index: usize) -> Result<Report, SessionError> {
        let mut config = self.config.clone();
        let params = &mut config.strategies[self.strategy].params;
        for (axis, value) in self.grid.axes().iter().zip(self.grid.point(index)) {
            params.insert(axis.name.clone(), toml::Value::String(value));
        }
        let strategies = config
            .strategies
            .iter()
            .zip(&self.plugins)
            .map(|(s, plugin)| instantiate(host, s, plugin))
            .collect::<Result<_, SessionError>>()?;
        let session = Session::new(
            &config,
            self.reference.clone(),
            self.data.clone(),
            strategies,
        )?;
        Ok(session.run())
    }

    /// Runs the points of `options.shard` on `options.jobs` threads and
    /// writes `sweep.json`, `sweep.csv` and the kept reports into `out`.
    /// `progress` is called with each row as its run finishes.
    pub fn run(
        &self,
        host: &StrategyHost,
        options: &Options,
        out: &Path,
        mut progress: impl FnMut(&Row),
    ) -> Result<SweepResult, SweepError> {
        let reports_dir = out.join(REPORTS_DIR);
        std::fs::create_dir_all(&reports_dir).map_err(io_error(&reports_dir))?;
        let points: Vec<usize> = options.shard.points(self.grid.len()).collect();
        let next = AtomicUsize::new(0);
        let mut kept = Kept::new(options.sort, options.keep, out);
        let mut rows = Vec::with_capacity(points.len());
        std::thread::scope(|scope| -> Result<(), SweepError> {
            // Bounded, so that finished reports wait in a queue no longer than
            // the number of workers.
            let (send, receive) = mpsc::sync_channel(options.jobs);
            for _ in 0..options.jobs.max(1) {
                let send = send.clone();
                let (next, points) = (&next, &points);
                scope.spawn(move || {
                    while let Some(&index) = points.get(next.fetch_add(1, AtomicOrdering::Relaxed))
                    {
                        if send.send((index, self.run_point(host, index))).is_err() {
                            break;
                        }
                    }
                });
            }
            drop(send);
            for (index, outcome) in receive {
                let mut row = Row {
                    run: index,
                    params: self.grid.point(index),
                    metrics: None,
                    error: None,
                    report: None,
                };
                match outcome {
                    Ok(report) => {
                        let s = &report.summary;
                        row.metrics = Some(Metrics {
                            total_return: s.total_return,
                            max_drawdown: s.max_drawdown,
                            sharpe: s.sharpe,
                            final_equity: s.final_equity,
                            trades: s.trades,
                            fills: s.fills,
                            refused: s.refused,
                            commissions: s.commissions,
                        });
                        row.error = report.strategies.iter().find_map(|s| s.quarantined.clone());
                        kept.offer(&row, &report)?;
                    }
                    Err(e) => row.error = Some(e.to_string()),
                }
                progress(&row);
                rows.push(row);
            }
            Ok(())
        })?;
        let strategy = &self.config.strategies[self.strategy];
        let result = SweepResult {
            session: self.config.session.name.clone(),
            strategy: strategy.id.clone(),
            sha256: self.plugins[self.strategy].sha256().to_owned(),
            grid: self.grid.clone(),
            shard: (options.shard != Shard::ALL).then_some(options.shard),
            sort: options.sort,
            keep: options.keep,
            rows: kept.finish(rows),
        };
        result.write(out)?;
        Ok(result)
    }
}

/// The best `keep` runs seen so far, whose reports are on disk.
struct Kept<'a> {
    sort: Metric,
    keep: usize,
    out: &'a Path,
    best: Vec<Row>,
}

impl<'a> Kept<'a> {
    fn new(sort: Metric, keep: usize, out: &'a Path) -> Self {
        Self {
            sort,
            keep,
            out,
            best: Vec::with_capacity(keep + 1),
        }
    }

    /// Writes `report` if its run is among the best so far, and removes
    /// the one it pushes out.
    fn offer(&mut self, row: &Row, report: &Report) -> Result<(), SweepError> {
        let at = self
            .best
            .partition_point(|b| b.order(row, self.sort) == Ordering::Less);
        if at >= self.keep {
            return Ok(());
        }
        let path = self.out.join(report_name(row.run));
        let json = serde_json::to_vec_pretty(report).map_err(|e| SweepError::Format {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&path, json).map_err(io_error(&path))?;
        self.best.insert(at, row.clone());
        if self.best.len() > self.keep {
            let out = self.best.pop().map(|r| self.out.join(report_name(r.run)));
            if let Some(path) = out {
                std::fs::remove_file(&path).map_err(io_error(&path))?;
            }
        }
        Ok(())
    }

    /// Sorts `rows` and points the kept ones at their reports.
    fn finish(self, mut rows: Vec<Row>) -> Vec<Row> {
        sort_rows(&mut rows, self.sort, self.keep);
        rows
    }
}

/// Sorts rows best first and names the reports of the first `keep`
/// successful ones.
fn sort_rows(rows: &mut [Row], sort: Metric, keep: usize) {
    rows.sort_by(|a, b| a.order(b, sort));
    for (i, row) in rows.iter_mut().enumerate() {
        row.report = (i < keep && row.metrics.is_some()).then(|| report_name(row.run));
    }
}

/// Where the report of run `index` goes, relative to the result file.
fn report_name(index: usize) -> String {
    format!("{REPORTS_DIR}/run-{index:06}.json")
}

impl SweepResult {
    /// Reads a `sweep.json`.
    pub fn read(path: &Path) -> Result<Self, SweepError> {
        let text = std::fs::read(path).map_err(io_error(path))?;
        serde_json::from_slice(&text).map_err(|e| SweepError::Format {
            path: path.to_owned(),
            message: e.to_string(),
        })
    }

    /// Writes `sweep.json` and `sweep.csv` into `out`.
    pub fn write(&self, out: &Path) -> Result<(), SweepError> {
        std::fs::create_dir_all(out).map_err(io_error(out))?;
        let path = out.join(RESULT_FILE);
        let json = serde_json::to_vec_pretty(self).map_err(|e| SweepError::Format {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&path, json).map_err(io_error(&path))?;
        let path = out.join(TABLE_FILE);
        let csv_error = |e: csv::Error| SweepError::Format {
            path: path.clone(),
            message: e.to_string(),
        };
        let mut table = csv::Writer::from_path(&path).map_err(csv_error)?;
        let mut header = vec!["rank".to_owned(), "run".to_owned()];
        header.extend(self.grid.axes().iter().map(|a| a.name.clone()));
        header.extend(
            [
                "return",
                "max_drawdown",
                "sharpe",
                "final_equity",
                "trades",
                "fills",
                "refused",
                "commissions",
                "error",
                "report",
            ]
            .map(String::from),
        );
        table.write_record(&header).map_err(csv_error)?;
        for (rank, row) in self.rows.iter().enumerate() {
            let mut record = vec![(rank + 1).to_string(), row.run.to_string()];
            record.extend(row.params.iter().cloned());
            match &row.metrics {
                Some(m) => record.extend([
                    m.total_return.to_string(),
                    m.max_drawdown.to_string(),
                    m.sharpe.map_or(String::new(), |s| s.to_string()),
                    m.final_equity.to_string(),
                    m.trades.to_string(),
                    m.fills.to_string(),
                    m.refused.to_string(),
                    m.commissions.to_string(),
                ]),
                None => record.extend(std::iter::repeat_n(String::new(), 8)),
            }
            record.push(row.error.clone().unwrap_or_default());
            record.push(row.report.clone().unwrap_or_default());
            table.write_record(&record).map_err(csv_error)?;
        }
        table.flush().map_err(io_error(&path))
    }
}

/// Combines the `sweep.json` files of every shard of one sweep into the
/// table of the whole grid, written with the kept reports (copied from the
/// shards' directories) into `out`.
pub fn merge(files: &[PathBuf], out: &Path) -> Result<SweepResult, SweepError> {
    let mut parts = files
        .iter()
        .map(|f| SweepResult::read(f).map(|r| (f, r)))
        .collect::<Result<Vec<_>, _>>()?;
    let Some((first_path, first)) = parts.first() else {
        return Err(SweepError::Merge("no result files given".into()));
    };
    let count = first.shard.map_or(1, |s| s.count);
    let mut seen = vec![None; count];
    for (path, part) in &parts {
        let differs = |what: &str| {
            SweepError::Merge(format!(
                "{} and {} are from different sweeps ({what} differs)",
                first_path.display(),
                path.display()
            ))
        };
        if part.session != first.session || part.strategy != first.strategy {
            return Err(differs("session or strategy"));
        }
        if part.sha256 != first.sha256 {
            return Err(differs("plugin sha256"));
        }
        if part.grid != first.grid {
            return Err(differs("grid"));
        }
        if (part.sort, part.keep) != (first.sort, first.keep) {
            return Err(differs("--sort or --keep"));
        }
        let shard = part.shard.ok_or_else(|| {
            SweepError::Merge(format!("{} is not a shard (no --shard)", path.display()))
        })?;
        if shard.count != count {
            return Err(differs("number of shards"));
        }
        if let Some(other) = seen[shard.index].replace(*path) {
            return Err(SweepError::Merge(format!(
                "shard {shard} is in both {} and {}",
                other.display(),
                path.display()
            )));
        }
    }
    let missing: Vec<String> = (0..count)
        .filter(|&i| seen[i].is_none())
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(SweepError::Merge(format!(
            "missing shard(s) {}",
            missing.join(", ")
        )));
    }
    let mut merged = SweepResult {
        session: first.session.clone(),
        strategy: first.strategy.clone(),
        sha256: first.sha256.clone(),
        grid: first.grid.clone(),
        shard: None,
        sort: first.sort,
        keep: first.keep,
        rows: Vec::new(),
    };
    let reports_dir = out.join(REPORTS_DIR);
    std::fs::create_dir_all(&reports_dir).map_err(io_error(&reports_dir))?;
    let mut rows = Vec::new();
    let mut sources = Vec::new();
    for (path, part) in &mut parts {
        let dir = path.parent().unwrap_or(Path::new("."));
        for row in part.rows.drain(..) {
            if let Some(report) = &row.report {
                sources.push((row.run, dir.join(report)));
            }
            rows.push(row);
        }
    }
    sort_rows(&mut rows, merged.sort, merged.keep);
    // The best runs overall are among the best of their shard, whose
    // reports the shard kept.
    for row in &rows {
        if let Some(report) = &row.report {
            let source = sources
                .iter()
                .find_map(|(run, path)| (*run == row.run).then_some(path))
                .ok_or_else(|| {
                    SweepError::Merge(format!("no shard kept the report of run {}", row.run))
                })?;
            let target = out.join(report);
            std::fs::copy(source, &target).map_err(io_error(source))?;
        }
    }
    merged.rows = rows;
    merged.write(out)?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn axis(spec: &str) -> Axis {
        spec.parse().unwrap()
    }

    #[test]
    fn ranges_are_inclusive_and_exact() {
        assert_eq!(axis("fast=5..20:5").values, ["5", "10", "15", "20"]);
        assert_eq!(axis("x=0.1..0.3:0.1").values, ["0.1", "0.2", "0.3"]);
        assert_eq!(axis("x=1..4:2").values, ["1", "3"]);
        assert_eq!(axis("q=1000, 2000").values, ["1000", "2000"]);
        assert_eq!(axis("s=EURUSD").values, ["EURUSD"]);
    }

    #[test]
    fn points_vary_the_last_axis_fastest() {
        let grid = Grid::new(vec![axis("a=1,2"), axis("b=x,y,z")]).unwrap();
        assert_eq!(grid.len(), 6);
        assert_eq!(grid.point(0), ["1", "x"]);
        assert_eq!(grid.point(2), ["1", "z"]);
        assert_eq!(grid.point(3), ["2", "x"]);
        assert_eq!(grid.point(5), ["2", "z"]);
    }

    #[test]
    fn metrics_round_trip_through_their_names() {
        for name in Metric::NAMES {
            assert_eq!(name.parse::<Metric>().unwrap().to_string(), name);
        }
    }
}

//! The emulator's configuration file (TOML) and the bar data it replays.
//!
//! The format is documented in `docs/venue-emulator.md`. Every problem found
//! while validating is reported at once, naming the file and the field; a bad
//! CSV row names the file and the line.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use rust_decimal::Decimal;
use serde::Deserialize;

/// Errors while loading the configuration or its data files.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML did not parse into the expected shape.
    #[error("{path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message (names the field and position).
        source: toml::de::Error,
    },
    /// Fields with invalid values, one message per field.
    #[error("{path}: invalid configuration:\n  {}", problems.join("\n  "))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// One line per offending field.
        problems: Vec<String>,
    },
    /// A data file row could not be read.
    #[error("{path}:{line}: {message}")]
    Data {
        /// The CSV file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmulatorConfig {
    /// Interval label used in kline streams and `GET /api/v3/klines` (e.g. `1h`). Default `1h`.
    #[serde(default = "default_interval")]
    pub kline_interval: String,
    /// Wall-clock milliseconds per replayed bar; 0 replays only on `POST /emulator/advance`. Default 0.
    #[serde(default)]
    pub bar_interval_ms: u64,
    /// Synthetic market maker spread in ticks around the last price. Default 2.
    #[serde(default = "default_spread")]
    pub spread_ticks: u32,
    /// Synthetic quantity available at the synthetic bid and ask for each taker order. Default 100000.
    #[serde(default = "default_depth")]
    pub depth: Decimal,
    /// Maker commission rate, charged in the quote asset. Default 0.001.
    #[serde(default = "default_fee")]
    pub maker_fee: Decimal,
    /// Taker commission rate, charged in the quote asset. Default 0.001.
    #[serde(default = "default_fee")]
    pub taker_fee: Decimal,
    /// REST request weight per API key (or per client without one) per rolling minute. Default 1200.
    #[serde(default = "default_weight")]
    pub request_weight_per_minute: u32,
    /// New orders per API key per rolling 10 seconds. Default 50.
    #[serde(default = "default_orders")]
    pub orders_per_10s: u32,
    /// Tradable symbols.
    pub symbols: Vec<SymbolConfig>,
    /// Accounts with their API keys and initial balances.
    pub accounts: Vec<AccountConfig>,
}

fn default_interval() -> String {
    "1h".into()
}
fn default_spread() -> u32 {
    2
}
fn default_depth() -> Decimal {
    Decimal::from(100_000)
}
fn default_fee() -> Decimal {
    Decimal::new(1, 3)
}
fn default_weight() -> u32 {
    1200
}
fn default_orders() -> u32 {
    50
}

/// PRICE_FILTER maxPrice of every symbol.
pub const MAX_PRICE: u64 = 1_000_000;
/// NOTIONAL maxNotional of every symbol.
pub const MAX_NOTIONAL: u64 = 9_000_000_000;
/// LOT_SIZE maxQty when `max_qty` is not set.
pub const DEFAULT_MAX_QTY: u64 = 9_000_000_000;

/// One `[[symbols]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolConfig {
    /// Symbol name as the API spells it (upper case), e.g. `EURUSD`.
    pub symbol: String,
    /// Base asset, e.g. `EUR`.
    pub base_asset: String,
    /// Quote asset, e.g. `USD`.
    pub quote_asset: String,
    /// PRICE_FILTER tickSize.
    pub tick_size: Decimal,
    /// LOT_SIZE stepSize.
    pub step_size: Decimal,
    /// LOT_SIZE minQty. Default: the step size.
    pub min_qty: Option<Decimal>,
    /// LOT_SIZE maxQty. Default [`DEFAULT_MAX_QTY`].
    pub max_qty: Option<Decimal>,
    /// NOTIONAL minNotional. Default 0.
    #[serde(default)]
    pub min_notional: Decimal,
    /// Bar CSV file, relative to the configuration file.
    pub data: PathBuf,
}

/// One `[[accounts]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The `X-MBX-APIKEY` value.
    pub api_key: String,
    /// The HMAC-SHA256 secret.
    pub secret: String,
    /// Initial free balances per asset.
    #[serde(default)]
    pub balances: BTreeMap<String, Decimal>,
}

/// One OHLCV bar of a symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    /// Open time, milliseconds since the Unix epoch (UTC).
    pub time_ms: i64,
    /// Open price.
    pub open: Decimal,
    /// High price.
    pub high: Decimal,
    /// Low price.
    pub low: Decimal,
    /// Close price.
    pub close: Decimal,
    /// Volume in base units.
    pub volume: Decimal,
}

impl SymbolConfig {
    /// LOT_SIZE minQty.
    pub fn min_qty(&self) -> Decimal {
        self.min_qty.unwrap_or(self.step_size)
    }
    /// LOT_SIZE maxQty.
    pub fn max_qty(&self) -> Decimal {
        self.max_qty.unwrap_or(Decimal::from(DEFAULT_MAX_QTY))
    }
}

/// A validated configuration with its data loaded.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: EmulatorConfig,
    /// Kline interval in milliseconds.
    pub interval_ms: i64,
    /// Bars per symbol, in `config.symbols` order.
    pub bars: Vec<Vec<Bar>>,
}

impl EmulatorConfig {
    /// Reads, validates and loads the configuration file and its data files.
    pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: EmulatorConfig =
            toml::from_str(&text).map_err(|source| ConfigError::Parse {
                path: path.to_owned(),
                source,
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        config.into_loaded(path, base)
    }

    /// Validates the configuration and loads its data files relative to `base`;
    /// `path` names the configuration in errors.
    pub fn into_loaded(self, path: &Path, base: &Path) -> Result<Loaded, ConfigError> {
        let problems = self.validate();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid {
                path: path.to_owned(),
                problems,
            });
        }
        let interval_ms = parse_interval(&self.kline_interval).expect("validated");
        let bars = self
            .symbols
            .iter()
            .map(|s| load_bars(&base.join(&s.data)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Loaded {
            config: self,
            interval_ms,
            bars,
        })
    }

    /// Every problem with the values, one message per field.
    pub fn validate(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if parse_interval(&self.kline_interval).is_none() {
            problems.push(format!(
                "kline_interval: '{}' is not an interval like 1m, 1h, 1d",
                self.kline_interval
            ));
        }
        if self.depth <= Decimal::ZERO {
            problems.push(format!("depth: {} must be positive", self.depth));
        }
        for (name, fee) in [("maker_fee", self.maker_fee), ("taker_fee", self.taker_fee)] {
            if fee < Decimal::ZERO || fee >= Decimal::ONE {
                problems.push(format!("{name}: {fee} must be in [0, 1)"));
            }
        }
        if self.request_weight_per_minute == 0 {
            problems.push("request_weight_per_minute: must be positive".into());
        }
        if self.orders_per_10s == 0 {
            problems.push("orders_per_10s: must be positive".into());
        }
        if self.symbols.is_empty() {
            problems.push("symbols: at least one [[symbols]] entry is required".into());
        }
        let mut seen = HashSet::new();
        for (i, s) in self.symbols.iter().enumerate() {
            let at = format!("symbols[{i}] ({})", s.symbol);
            if s.symbol.is_empty() || s.symbol.chars().any(|c| !c.is_ascii_alphanumeric()) {
                problems.push(format!(
                    "{at}.symbol: must be non-empty ASCII letters/digits"
                ));
            }
            if !seen.insert(s.symbol.to_ascii_uppercase()) {
                problems.push(format!("{at}.symbol: duplicate symbol"));
            }
            if s.base_asset == s.quote_asset {
                problems.push(format!("{at}.quote_asset: same as base_asset"));
            }
            for (field, v) in [("tick_size", s.tick_size), ("step_size", s.step_size)] {
                if v <= Decimal::ZERO {
                    problems.push(format!("{at}.{field}: {v} must be positive"));
                }
            }
            if s.min_notional < Decimal::ZERO {
                problems.push(format!("{at}.min_notional: must not be negative"));
            }
            if let (Some(min), Some(max)) = (s.min_qty, s.max_qty) {
                if min > max {
                    problems.push(format!("{at}.min_qty: {min} above max_qty {max}"));
                }
            }
        }
        let mut keys = HashSet::new();
        for (i, a) in self.accounts.iter().enumerate() {
            if a.api_key.is_empty() || a.secret.is_empty() {
                problems.push(format!(
                    "accounts[{i}]: api_key and secret must be non-empty"
                ));
            }
            if !keys.insert(a.api_key.as_str()) {
                problems.push(format!("accounts[{i}].api_key: duplicate key"));
            }
            for (asset, amount) in &a.balances {
                if *amount < Decimal::ZERO {
                    problems.push(format!("accounts[{i}].balances.{asset}: negative"));
                }
            }
        }
        problems
    }
}

/// Parses a Binance interval label (`1s`, `5m`, `1h`, `1d`, `1w`) into milliseconds.
pub fn parse_interval(text: &str) -> Option<i64> {
    let unit = text.chars().last()?;
    let count: i64 = text[..text.len() - unit.len_utf8()].parse().ok()?;
    let unit_ms = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        'w' => 604_800_000,
        _ => return None,
    };
    (count > 0).then_some(count * unit_ms)
}

/// Parses a UTC timestamp `YYYY-MM-DD[ HH:MM[:SS]]` into epoch milliseconds.
fn parse_time(text: &str) -> Option<i64> {
    let text = text.trim();
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
        .or_else(|_| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| d.and_time(Default::default()))
        })
        .ok()?;
    Some(naive.and_utc().timestamp_millis())
}

/// Loads a `,Open,High,Low,Close,Volume` CSV file; rows must be in time order.
pub fn load_bars(path: &Path) -> Result<Vec<Bar>, ConfigError> {
    let file = std::fs::File::open(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut reader = csv::Reader::from_reader(file);
    let mut bars: Vec<Bar> = Vec::new();
    for record in reader.records() {
        let err = |line: u64, message: String| ConfigError::Data {
            path: path.to_owned(),
            line,
            message,
        };
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            err(line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != 6 {
            return Err(err(
                line,
                format!("expected 6 columns, found {}", record.len()),
            ));
        }
        let time_ms = parse_time(&record[0]).ok_or_else(|| {
            err(
                line,
                format!("column time: invalid timestamp '{}'", &record[0]),
            )
        })?;
        let mut values = [Decimal::ZERO; 5];
        for (i, name) in ["Open", "High", "Low", "Close", "Volume"]
            .iter()
            .enumerate()
        {
            let text = record[i + 1].trim();
            values[i] = text
                .parse::<Decimal>()
                .or_else(|_| Decimal::from_scientific(text))
                .map_err(|_| err(line, format!("column {name}: invalid number '{text}'")))?;
        }
        let [open, high, low, close, volume] = values;
        if high < low || open > high || open < low || close > high || close < low {
            return Err(err(line, "prices outside the high/low range".into()));
        }
        if volume < Decimal::ZERO {
            return Err(err(line, "column Volume: negative".into()));
        }
        if bars.last().is_some_and(|b| b.time_ms >= time_ms) {
            return Err(err(line, "timestamp not after the previous row".into()));
        }
        bars.push(Bar {
            time_ms,
            open,
            high,
            low,
            close,
            volume,
        });
    }
    if bars.is_empty() {
        return Err(ConfigError::Data {
            path: path.to_owned(),
            line: 1,
            message: "no bars".into(),
        });
    }
    Ok(bars)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1h"), Some(3_600_000));
        assert_eq!(parse_interval("15m"), Some(900_000));
        assert_eq!(parse_interval("0m"), None);
        assert_eq!(parse_interval("1M"), None);
        assert_eq!(parse_interval(""), None);
    }

    #[test]
    fn bad_csv_row_names_file_and_line() {
        let dir = std::env::temp_dir().join(format!("emu-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.csv");
        std::fs::write(
            &path,
            ",Open,High,Low,Close,Volume\n2020-01-01 00:00,1,2,0.5,1.5,10\n2020-01-01 01:00,1,x,0.5,1,1\n",
        )
        .unwrap();
        let message = load_bars(&path).unwrap_err().to_string();
        assert!(message.contains("bad.csv:3: column High"), "{message}");
    }

    #[test]
    fn validation_names_fields() {
        let config: EmulatorConfig = toml::from_str(
            r#"
kline_interval = "7x"
taker_fee = "2"
[[symbols]]
symbol = "AB"
base_asset = "A"
quote_asset = "A"
tick_size = "0"
step_size = "1"
data = "x.csv"
[[accounts]]
api_key = "k"
secret = "s"
"#,
        )
        .unwrap();
        let problems = config.validate().join("\n");
        for field in ["kline_interval", "taker_fee", "quote_asset", "tick_size"] {
            assert!(problems.contains(field), "{problems}");
        }
    }
}

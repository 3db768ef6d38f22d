//! The session file (TOML): what a session trades, on which data, with which
//! strategies. Each service owns the config section it reads; this module
//! ties them together, loads the file and collects validation problems.
//!
//! The format is documented in `docs/session-config.md`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::execution::binance::VenueConfig;
use crate::execution::ExecutionConfig;
use crate::market_data::DataConfig;
use crate::reference_data::InstrumentConfig;
use crate::risk::RiskLimits;
use crate::strategy_host::{CpuMeter, Limits};

/// The whole session file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// `[session]`: name and mode.
    pub session: SessionSection,
    /// `[[instruments]]`: reference data.
    #[serde(default)]
    pub instruments: Vec<InstrumentConfig>,
    /// `[[data]]`: one market data file per instrument.
    #[serde(default)]
    pub data: Vec<DataConfig>,
    /// `[[execution]]`: execution contexts (accounts) and their simulated venue.
    #[serde(default)]
    pub execution: Vec<ExecutionConfig>,
    /// `[[strategies]]`: strategy registrations.
    #[serde(default)]
    pub strategies: Vec<StrategyConfig>,
    /// `[[fx]]`: conversion rates for currencies no pair instrument prices.
    #[serde(default)]
    pub fx: Vec<FxConfig>,
    /// `[[venues]]`: venue APIs and accounts (sandbox and live modes, live data).
    #[serde(default)]
    pub venues: Vec<VenueConfig>,
    /// `[control]`: the HTTP control plane of a paper session, if any.
    pub control: Option<crate::control_plane::ControlConfig>,
    /// Directory that relative paths in the file are resolved against: the
    /// directory of the file itself.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[session]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSection {
    /// Name of the session, used in reports.
    pub name: String,
    /// `backtest`, `paper`, `sandbox` or `live`. Default `backtest`.
    #[serde(default)]
    pub mode: Mode,
    /// How guest CPU time is bounded. Default `fuel` (deterministic).
    pub cpu_meter: Option<CpuMeter>,
    /// Currency the session's equity is reported in. Default: that of the
    /// first `[[execution]]` context.
    pub currency: Option<String>,
}

/// One `[[fx]]` entry: the price of one `base` in `quote`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FxConfig {
    /// The currency priced, e.g. `EUR`.
    pub base: String,
    /// The currency it is priced in, e.g. `USD`.
    pub quote: String,
    /// Units of `quote` per unit of `base`; positive.
    #[serde(with = "decimal")]
    pub rate: rust_decimal::Decimal,
}

impl SessionSection {
    /// The CPU meter the session's plugins must be compiled with.
    pub fn cpu_meter(&self) -> CpuMeter {
        self.cpu_meter.unwrap_or(match self.mode {
            Mode::Backtest => CpuMeter::Fuel,
            Mode::Paper | Mode::Sandbox | Mode::Live => CpuMeter::Epoch,
        })
    }
}

/// How a session runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Stored data through the historical simulator; fully deterministic.
    #[default]
    Backtest,
    /// The same runtime with simulated fills, fed on the wall clock (a timed
    /// replay of stored data, or a venue's live streams); plugins are
    /// hot-reloaded.
    Paper,
    /// Orders go to a venue's test environment (its testnet, or the bundled
    /// emulator); market data from its streams.
    Sandbox,
    /// Orders go to a real venue with real money: needs `--confirm-live`
    /// and risk limits on every strategy.
    Live,
}

/// One `[[strategies]]` entry: a plugin registered in the session.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    /// Unique id of the registration; stamped on every intent as `strategy_id`.
    pub id: String,
    /// Path of the WebAssembly component, relative to the session file.
    pub plugin: PathBuf,
    /// Id of the `[[execution]]` context the strategy trades in.
    pub execution: String,
    /// Symbols the strategy is granted: it may subscribe to and trade these only.
    pub instruments: Vec<String>,
    /// Parameters passed to the strategy's `init` as text. Default empty.
    #[serde(default)]
    pub params: toml::Table,
    /// If set, the plugin file must have this sha256 (hex), or it is refused.
    pub sha256: Option<String>,
    /// Sandbox limits. Defaults in [`Limits`].
    #[serde(default)]
    pub limits: Limits,
    /// What happens to the strategy's working orders when it is quarantined.
    #[serde(default)]
    pub on_quarantine: OrderPolicy,
    /// In paper mode, whether a changed plugin file replaces the running
    /// version. Default true; a registration with `sha256` is never reloaded.
    #[serde(default = "yes")]
    pub reload: bool,
    /// Risk limits checked on every order. Default: none beyond cash and position.
    #[serde(default)]
    pub risk: RiskLimits,
}

impl StrategyConfig {
    /// The parameters as the text pairs a plugin receives, sorted by key.
    pub fn params_as_text(&self, problems: &mut Problems) -> Vec<(String, String)> {
        self.params
            .iter()
            .filter_map(|(key, value)| {
                let text = match value {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => {
                        problems.push(format!(
                            "strategies ({}).params.{key}: expected a string, number or boolean, got {}",
                            self.id,
                            other.type_str()
                        ));
                        return None;
                    }
                };
                Some((key.clone(), text))
            })
            .collect()
    }
}

fn yes() -> bool {
    true
}

/// What to do with a strategy's working orders when it is quarantined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OrderPolicy {
    /// Cancel them: nobody is left to manage them.
    #[default]
    CancelOrders,
    /// Leave them working (they may still fill).
    LeaveOrders,
}

/// Why a session file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read session file {path}: {source}")]
    Read {
        /// The session file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or does not match the schema.
    #[error("{path}: {message}")]
    Parse {
        /// The session file.
        path: PathBuf,
        /// What the TOML parser said, with line and column.
        message: String,
    },
    /// One or more values are invalid.
    #[error("invalid session file {path}:\n{problems}")]
    Invalid {
        /// The session file.
        path: PathBuf,
        /// Every problem found.
        problems: Problems,
    },
}

impl ConfigError {
    /// The session file at `path` is invalid for one reason.
    pub fn one(path: &Path, problem: String) -> Self {
        let mut problems = Problems::default();
        problems.push(problem);
        Self::Invalid {
            path: path.to_owned(),
            problems,
        }
    }
}

impl SessionConfig {
    /// Reads and parses a session file. Values are validated when the session
    /// is built from it.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new(".")).to_owned();
        Self::parse(&text, path, base_dir)
    }

    /// Parses session TOML text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path, base_dir: PathBuf) -> Result<Self, ConfigError> {
        let mut config: SessionConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.base_dir = base_dir;
        if let Some(problem) = session_name_problem(&config.session.name) {
            return Err(ConfigError::one(path, problem));
        }
        Ok(config)
    }

    /// Resolves a path from the file against the file's directory.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        self.base_dir.join(path)
    }
}

/// Longest `[session] name`, in characters: a file stem on every file system.
pub const MAX_SESSION_NAME: usize = 100;

/// Why `name` cannot be a `[session] name`, if it cannot. The name is the
/// stem of the report and journal files in `--report-dir`, so it must stay
/// a single file name there: no path separators, no `..`, no control
/// characters, not empty, bounded.
fn session_name_problem(name: &str) -> Option<String> {
    let why = if name.is_empty() {
        "must not be empty".to_owned()
    } else if name.chars().count() > MAX_SESSION_NAME {
        format!("is longer than {MAX_SESSION_NAME} characters")
    } else if name.contains(['/', '\\']) {
        "must not contain a path separator ('/' or '\\')".to_owned()
    } else if name.contains("..") {
        "must not contain '..'".to_owned()
    } else if name.chars().any(char::is_control) {
        "must not contain control characters".to_owned()
    } else {
        return None;
    };
    Some(format!(
        "[session] name {why}: it names the report files, got {name:?}"
    ))
}

/// Validation problems, each naming the offending field and value. Services
/// push into one list so that a user sees every problem at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(Vec<String>);

impl Problems {
    /// Records one problem.
    pub fn push(&mut self, problem: String) {
        self.0.push(problem);
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The problems, in the order found.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

/// Serde adapter for exact decimals written as strings (`"0.001"`) or TOML
/// numbers. A TOML float is read through its shortest text form, so `0.001`
/// becomes exactly 0.001 rather than the nearest binary fraction.
pub mod decimal {
    use std::fmt;

    use rust_decimal::Decimal;
    use serde::de::{self, Deserializer, Visitor};

    struct DecimalVisitor;

    impl Visitor<'_> for DecimalVisitor {
        type Value = Decimal;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a decimal number, e.g. \"0.001\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
            v.trim()
                .parse::<Decimal>()
                .or_else(|_| Decimal::from_scientific(v.trim()))
                .map_err(|_| E::custom(format!("invalid decimal '{v}'")))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
            Ok(Decimal::from(v))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
            if !v.is_finite() {
                return Err(E::custom(format!("invalid decimal {v}")));
            }
            self.visit_str(&v.to_string())
        }
    }

    /// Deserializes a decimal from a string or number.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        d.deserialize_any(DecimalVisitor)
    }

    /// An exact decimal as a value of its own (e.g. in a map of balances).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Exact(pub Decimal);

    impl<'de> serde::Deserialize<'de> for Exact {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            deserialize(d).map(Exact)
        }
    }

    /// Like [`deserialize`], for optional fields.
    pub mod option {
        use super::*;

        /// Deserializes `Some(decimal)`; a missing field is `None` via `#[serde(default)]`.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
            d.deserialize_any(DecimalVisitor).map(Some)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SessionConfig, ConfigError> {
        SessionConfig::parse(text, Path::new("s.toml"), PathBuf::from("."))
    }

    #[test]
    fn decimals_read_exactly_from_strings_and_numbers() {
        let cfg = parse(
            r#"
            [session]
            name = "x"
            [[instruments]]
            symbol = "A"
            base_currency = "A"
            quote_currency = "USD"
            tick_size = 0.001
            lot_size = "0.01"
            min_notional = 5
            "#,
        )
        .unwrap();
        let inst = &cfg.instruments[0];
        assert_eq!(inst.tick_size.unwrap().to_string(), "0.001");
        assert_eq!(inst.lot_size.unwrap().to_string(), "0.01");
        assert_eq!(inst.min_notional.unwrap().to_string(), "5");
    }

    #[test]
    fn unknown_fields_are_named_with_their_line() {
        let err = parse("[session]\nname = \"x\"\nnmae = 3\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("s.toml"), "{text}");
        assert!(text.contains("nmae"), "{text}");
        assert!(text.contains("line 3"), "{text}");
    }

    #[test]
    fn session_names_are_single_file_stems() {
        for (name, why) in [
            ("../../victim/pwn", "path separator"),
            ("", "must not be empty"),
            ("a..b", "'..'"),
            ("a\\b", "path separator"),
            ("a\u{7}b", "control characters"),
            (&"x".repeat(101), "longer than 100"),
        ] {
            let err = parse(&format!("[session]\nname = {}\n", toml::Value::from(name)))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("[session] name") && err.contains(why),
                "{name:?}: {err}"
            );
        }
        for name in ["sma-eurusd", "x", "run 2026.12.07"] {
            let text = format!("[session]\nname = {}\n", toml::Value::from(name));
            assert!(parse(&text).is_ok(), "{name}");
        }
    }

    #[test]
    fn bad_decimal_is_named() {
        let err = parse(
            "[session]\nname = \"x\"\n[[instruments]]\nsymbol = \"A\"\nbase_currency = \"A\"\nquote_currency = \"B\"\ntick_size = \"abc\"\nlot_size = 1\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("invalid decimal 'abc'"), "{err}");
    }
}

//! How to read a file: its format, which column holds which field, how its
//! times are written, its delimiter, and whether to sort it. The session's
//! `[[data]]` keys and the `cracktrader data import` flags both build these.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use chrono::format::{Item, StrftimeItems};
use serde::Deserialize;

use crate::kind::{DataKind, Field};

/// Everything that says how to read one market data file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOptions {
    /// The file format; `None`: by the file's extension (`.parquet` or CSV).
    pub format: Option<Format>,
    /// Which column holds which field; unnamed fields use their default names.
    pub columns: Columns,
    /// How times are written.
    pub time_format: TimeFormat,
    /// The time zone of times written without an offset; `None`: UTC.
    pub timezone: Option<TimeZone>,
    /// The CSV field separator.
    pub delimiter: Delimiter,
    /// Sort rows by time (dropping duplicate rows) instead of refusing
    /// unsorted files.
    pub sort: bool,
}

impl ReadOptions {
    /// The format of `path` under these options.
    pub fn format_of(&self, path: &Path) -> Format {
        self.format.unwrap_or_else(|| {
            let parquet = path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq"));
            if parquet {
                Format::Parquet
            } else {
                Format::Csv
            }
        })
    }

    /// What is wrong with these options for reading `path` as data of
    /// `kind`, one line per problem, each starting with the key it is about
    /// (`.columns.bid: …`).
    pub fn problems(&self, kind: DataKind, path: &Path) -> Vec<String> {
        let mut problems = Vec::new();
        for field in self.columns.0.keys() {
            if *field != Field::Time && !kind.fields().contains(field) {
                problems.push(format!(
                    ".columns.{field}: {} have no {field} column; their columns are time, {}",
                    kind.plural(),
                    kind.fields()
                        .iter()
                        .map(|f| f.key())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
        if self.format_of(path) == Format::Parquet && self.delimiter != Delimiter::default() {
            problems.push(".delimiter: Parquet files have no delimiter".to_owned());
        }
        problems
    }
}

/// A market data file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma (or `delimiter`) separated text with a header row.
    Csv,
    /// Apache Parquet, read row group by row group.
    Parquet,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            _ => Err(format!("unknown format '{text}'; expected csv or parquet")),
        }
    }
}

/// Which column holds which field: `columns = { time = "Date", close = "Adj Close" }`.
/// Fields left out are found by their default names (in any case); other
/// columns of the file are ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Columns(pub BTreeMap<Field, String>);

impl Columns {
    /// The column named for `field`, if one is.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.0.get(&field).map(String::as_str)
    }
}

impl FromStr for Columns {
    type Err = String;

    /// Parses `time=Date,close=Adj Close` (the command line's form).
    fn from_str(text: &str) -> Result<Self, String> {
        let mut columns = BTreeMap::new();
        for pair in text.split(',').filter(|p| !p.trim().is_empty()) {
            let (key, name) = pair
                .split_once('=')
                .ok_or_else(|| format!("'{pair}' is not FIELD=COLUMN, e.g. close=Adj Close"))?;
            columns.insert(key.trim().parse()?, name.trim().to_owned());
        }
        Ok(Columns(columns))
    }
}

/// The unit of integer (epoch) times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochUnit {
    /// Seconds since 1970-01-01T00:00:00Z.
    Seconds,
    /// Milliseconds.
    Millis,
    /// Microseconds.
    Micros,
    /// Nanoseconds.
    Nanos,
}

impl EpochUnit {
    /// Nanoseconds per unit.
    pub(crate) fn nanos(self) -> i64 {
        match self {
            EpochUnit::Seconds => 1_000_000_000,
            EpochUnit::Millis => 1_000_000,
            EpochUnit::Micros => 1_000,
            EpochUnit::Nanos => 1,
        }
    }

    /// The `time_format` value naming this unit.
    pub(crate) fn name(self) -> &'static str {
        match self {
            EpochUnit::Seconds => "epoch_s",
            EpochUnit::Millis => "epoch_ms",
            EpochUnit::Micros => "epoch_us",
            EpochUnit::Nanos => "epoch_ns",
        }
    }
}

/// How a file writes its times (`time_format`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TimeFormat {
    /// Detected per value: RFC 3339 / ISO 8601 with or without an offset,
    /// date-only, or epoch integers whose unit follows from their size.
    #[default]
    Auto,
    /// Integers (or decimals) in this unit since the epoch.
    Epoch(EpochUnit),
    /// A chrono strftime pattern, e.g. `%d/%m/%Y %H:%M`.
    Pattern(String),
}

impl FromStr for TimeFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let unit = match text {
            "auto" => return Ok(TimeFormat::Auto),
            "epoch_s" => EpochUnit::Seconds,
            "epoch_ms" => EpochUnit::Millis,
            "epoch_us" => EpochUnit::Micros,
            "epoch_ns" => EpochUnit::Nanos,
            pattern if pattern.contains('%') => {
                if StrftimeItems::new(pattern).any(|item| item == Item::Error) {
                    return Err(format!("'{pattern}' is not a valid strftime pattern"));
                }
                return Ok(TimeFormat::Pattern(pattern.to_owned()));
            }
            other => {
                return Err(format!(
                    "'{other}' is not a time format; expected auto, epoch_s, epoch_ms, epoch_us, epoch_ns or a strftime pattern such as \"%d/%m/%Y %H:%M\""
                ))
            }
        };
        Ok(TimeFormat::Epoch(unit))
    }
}

impl<'de> Deserialize<'de> for TimeFormat {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// An IANA time zone such as `America/New_York`, for times without an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl FromStr for TimeZone {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.parse().map(TimeZone).map_err(|_| {
            format!(
                "unknown time zone '{text}'; expected an IANA name such as America/New_York or UTC"
            )
        })
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.name())
    }
}

/// The byte separating CSV fields: one ASCII character (default `,`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiter(pub u8);

impl Default for Delimiter {
    fn default() -> Self {
        Delimiter(b',')
    }
}

impl FromStr for Delimiter {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let byte = match text {
            "\\t" | "tab" => b'\t',
            _ => match text.as_bytes() {
                [byte] => *byte,
                _ => return Err(format!("delimiter '{text}' is not one character")),
            },
        };
        if !byte.is_ascii() || matches!(byte, b'"' | b'\n' | b'\r') || byte.is_ascii_alphanumeric()
        {
            return Err(format!(
                "delimiter '{}' cannot separate fields; use a punctuation character such as ';' or a tab",
                text.escape_default()
            ));
        }
        Ok(Delimiter(byte))
    }
}

impl<'de> Deserialize<'de> for Delimiter {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Delimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", char::from(self.0).escape_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_from_text() {
        let columns: Columns = "time=Date, close=Adj Close".parse().unwrap();
        assert_eq!(columns.get(Field::Close), Some("Adj Close"));
        assert_eq!(columns.get(Field::Time), Some("Date"));
        assert!("opne=x"
            .parse::<Columns>()
            .unwrap_err()
            .contains("unknown column 'opne'"));
        assert_eq!("epoch_ms".parse(), Ok(TimeFormat::Epoch(EpochUnit::Millis)));
        assert!("%Q".parse::<TimeFormat>().is_err());
        assert!("dd/mm/yyyy"
            .parse::<TimeFormat>()
            .unwrap_err()
            .contains("strftime"));
        assert_eq!("tab".parse(), Ok(Delimiter(b'\t')));
        assert_eq!(";".parse(), Ok(Delimiter(b';')));
        assert!(";;".parse::<Delimiter>().is_err());
        assert!("a".parse::<Delimiter>().is_err());
        assert!("Mars/Olympus"
            .parse::<TimeZone>()
            .unwrap_err()
            .contains("IANA"));
    }

    #[test]
    fn columns_of_another_kind_are_problems() {
        let options = ReadOptions {
            columns: "bid=Bid".parse().unwrap(),
            ..Default::default()
        };
        assert_eq!(
            options.problems(DataKind::Bars, Path::new("x.csv")),
            [".columns.bid: bars have no bid column; their columns are time, open, high, low, close, volume"]
        );
        assert!(options
            .problems(DataKind::Quotes, Path::new("x.csv"))
            .is_empty());
        let semicolons = ReadOptions {
            delimiter: Delimiter(b';'),
            ..Default::default()
        };
        assert_eq!(
            semicolons.problems(DataKind::Bars, Path::new("x.parquet")),
            [".delimiter: Parquet files have no delimiter"]
        );
    }
}

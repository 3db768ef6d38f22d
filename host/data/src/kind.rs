//! What a market data file holds, and the fields (columns) of each kind.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;

/// What a market data file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    /// OHLCV bars: `time,Open,High,Low,Close,Volume` (the catalog's `ohlcv`).
    #[default]
    #[serde(alias = "ohlcv")]
    Bars,
    /// Top of book: `time,bid,bid_size,ask,ask_size`.
    Quotes,
    /// Trade prints: `time,price,size`.
    Trades,
}

/// Most value fields a kind has (bars: open, high, low, close, volume).
pub const MAX_FIELDS: usize = 5;

impl DataKind {
    /// The value fields of this kind, in the order of their default columns.
    pub fn fields(self) -> &'static [Field] {
        use Field::*;
        match self {
            DataKind::Bars => &[Open, High, Low, Close, Volume],
            DataKind::Quotes => &[Bid, BidSize, Ask, AskSize],
            DataKind::Trades => &[Price, Size],
        }
    }

    /// The catalog category holding this kind: `ohlcv`, `quotes` or `trades`.
    pub fn category(self) -> &'static str {
        match self {
            DataKind::Bars => "ohlcv",
            DataKind::Quotes => "quotes",
            DataKind::Trades => "trades",
        }
    }

    /// What one item of this kind is called in messages (`no bars`).
    pub fn plural(self) -> &'static str {
        match self {
            DataKind::Bars => "bars",
            DataKind::Quotes => "quotes",
            DataKind::Trades => "trades",
        }
    }

    /// Whether several items may share a timestamp (trade prints may).
    pub fn shares_times(self) -> bool {
        self == DataKind::Trades
    }

    /// Whether data of this kind is stored per timeframe (bars are; quotes
    /// and trades are events).
    pub fn has_timeframe(self) -> bool {
        self == DataKind::Bars
    }
}

impl FromStr for DataKind {
    type Err = String;

    /// Parses a kind by its session name or catalog category.
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "bars" | "ohlcv" => Ok(DataKind::Bars),
            "quotes" => Ok(DataKind::Quotes),
            "trades" => Ok(DataKind::Trades),
            _ => Err(format!(
                "unknown kind '{text}'; expected ohlcv (or bars), quotes or trades"
            )),
        }
    }
}

impl fmt::Display for DataKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.category())
    }
}

/// How a field's number becomes a scaled integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A price: positive, exactly on the tick precision.
    Price,
    /// A quantity held to the lot precision exactly (sizes of quotes and trades).
    Qty,
    /// Volume: informative rather than money, truncated to the lot precision.
    Volume,
}

/// A column of a market data file: the time, or one of a kind's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// The row's timestamp (a bar's open time).
    Time,
    /// A bar's first price.
    Open,
    /// A bar's highest price.
    High,
    /// A bar's lowest price.
    Low,
    /// A bar's last price.
    Close,
    /// A bar's traded quantity; optional (missing: 0).
    Volume,
    /// Best bid.
    Bid,
    /// Quantity at the best bid.
    BidSize,
    /// Best ask.
    Ask,
    /// Quantity at the best ask.
    AskSize,
    /// A trade's price.
    Price,
    /// A trade's quantity.
    Size,
}

impl Field {
    const ALL: [Field; 12] = [
        Field::Time,
        Field::Open,
        Field::High,
        Field::Low,
        Field::Close,
        Field::Volume,
        Field::Bid,
        Field::BidSize,
        Field::Ask,
        Field::AskSize,
        Field::Price,
        Field::Size,
    ];

    /// The key naming this field in `columns = { … }` and in the catalog's
    /// Parquet files: `time`, `open`, `bid_size`, …
    pub fn key(self) -> &'static str {
        match self {
            Field::Time => "time",
            Field::Open => "open",
            Field::High => "high",
            Field::Low => "low",
            Field::Close => "close",
            Field::Volume => "volume",
            Field::Bid => "bid",
            Field::BidSize => "bid_size",
            Field::Ask => "ask",
            Field::AskSize => "ask_size",
            Field::Price => "price",
            Field::Size => "size",
        }
    }

    /// The column header this field has by default, matched in any case
    /// (bars are written `Open,High,…` by pandas and the bundled files).
    pub(crate) fn default_header(self) -> &'static str {
        match self {
            Field::Open => "Open",
            Field::High => "High",
            Field::Low => "Low",
            Field::Close => "Close",
            Field::Volume => "Volume",
            other => other.key(),
        }
    }

    /// Whether a file may leave the column out.
    pub(crate) fn optional(self) -> bool {
        self == Field::Volume
    }

    pub(crate) fn role(self) -> Role {
        match self {
            Field::Volume => Role::Volume,
            Field::BidSize | Field::AskSize | Field::Size => Role::Qty,
            _ => Role::Price,
        }
    }
}

impl FromStr for Field {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Field::ALL
            .into_iter()
            .find(|f| f.key() == text)
            .ok_or_else(|| {
                let keys: Vec<&str> = Field::ALL.iter().map(|f| f.key()).collect();
                format!(
                    "unknown column '{text}'; expected one of {}",
                    keys.join(", ")
                )
            })
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

//! Market data in: bars, quotes and trades read from the files users have
//! (CSV of any column layout, Parquet) exactly into the scaled integers of
//! [`cracktrader_model`], and the local Parquet data catalog.
//!
//! Every file goes the same way: its columns are found by name
//! ([`ReadOptions::columns`], else the default names in any case), each row
//! is read as a time and exact decimals, checked (prices positive, bars'
//! lows and highs enclosing open and close, quotes not crossed), scaled to
//! the instrument's precision (prices and sizes exactly, volume truncated)
//! and collected in strictly increasing time order (trades: non-decreasing)
//! or, with [`ReadOptions::sort`], sorted. A bad row is an error naming the
//! file, the line (CSV) or row (Parquet) and the column, never a skip.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// The data catalog: monthly zstd Parquet partitions under a manifest with sha256s.
pub mod catalog;
mod csv_source;
mod error;
mod kind;
mod number;
mod options;
mod parquet_source;
mod read;
mod time;

pub use csv_source::MAX_LINE_BYTES;
pub use error::{Error, Location};
pub use kind::{DataKind, Field, MAX_FIELDS};
pub use options::{Columns, Delimiter, EpochUnit, Format, ReadOptions, TimeFormat, TimeZone};
pub use read::{read_file, Item, Precision, TimeRange};

/// Parses a time as `start`/`end` bounds and the catalog's manifest write
/// them: RFC 3339 with an offset, or a date or date-time in UTC.
pub fn parse_time(text: &str) -> Result<cracktrader_model::Timestamp, String> {
    time::TimeParser::new(TimeFormat::Auto, None).text(text)
}

//! The path every file takes: a [`Source`] (CSV or Parquet) yields rows of
//! a time and exact decimals; each row is checked, converted and collected
//! in time order (or sorted, on request).

use std::path::Path;

use rust_decimal::Decimal;

use cracktrader_model::{format_time, to_scaled, Bar, InstrumentId, Quote, Timestamp, Trade};

use crate::error::{Error, Location};
use crate::kind::{DataKind, Field, Role, MAX_FIELDS};
use crate::options::{Columns, Format, ReadOptions};
use crate::{csv_source, parquet_source};

/// The exact values of one row, in the order of its kind's fields (unused
/// places zero).
pub(crate) type Values = [Decimal; MAX_FIELDS];

/// One row as a source read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRow {
    pub at: Location,
    pub time: Timestamp,
    pub values: Values,
}

impl Default for RawRow {
    fn default() -> Self {
        Self {
            at: Location::Line(0),
            time: 0,
            values: [Decimal::ZERO; MAX_FIELDS],
        }
    }
}

/// Rows of one file.
pub(crate) trait Source {
    /// The file's names of the time column and of each value field's column
    /// (in field order), for messages.
    fn names(&self) -> &Names;
    /// Reads the next row into `row`; `false` at the end.
    fn next_row(&mut self, row: &mut RawRow) -> Result<bool, Error>;
}

/// Column names as messages give them: the file's header, or the field's
/// key where the header is empty.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    pub time: String,
    pub values: Vec<String>,
}

/// Where each field is among a file's columns.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub time: usize,
    /// Per value field of the kind; `None`: an optional column left out.
    pub values: [Option<usize>; MAX_FIELDS],
    pub names: Names,
}

/// Finds the columns of `kind` among `header`, by `columns` or the default
/// names (in any case). Without a `time` column the time is in column
/// `default_time`, if given. Problems name the option that fixes them.
pub(crate) fn resolve(
    kind: DataKind,
    columns: &Columns,
    header: &[&str],
    default_time: Option<usize>,
) -> Result<Layout, String> {
    let listed = || {
        if header.iter().all(|h| h.trim().is_empty()) {
            return "none (the header row is empty)".to_owned();
        }
        header
            .iter()
            .map(|h| format!("'{h}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let find = |name: &str| -> Result<Option<usize>, String> {
        if let Some(i) = header.iter().position(|h| h.trim() == name) {
            return Ok(Some(i));
        }
        let mut matches = header
            .iter()
            .enumerate()
            .filter(|(_, h)| h.trim().eq_ignore_ascii_case(name));
        match (matches.next(), matches.next()) {
            (Some((i, _)), None) => Ok(Some(i)),
            (None, _) => Ok(None),
            (Some(_), Some(_)) => Err(format!(
                "columns {} all match '{name}' but for case; name one in columns",
                listed()
            )),
        }
    };
    let missing = |field: Field, mapped: bool| {
        let name = columns.get(field).unwrap_or(field.default_header());
        let mut text = if mapped {
            format!(
                "no column '{name}' (columns.{field}); the columns are {}",
                listed()
            )
        } else {
            format!(
                "no column '{name}'; the columns are {}: name the one holding {} with columns.{field} = \"…\"",
                listed(),
                field.key()
            )
        };
        if let [only] = header {
            if let Some(sep) = [';', '\t', '|'].into_iter().find(|c| only.contains(*c)) {
                text.push_str(&format!(
                    " (the header is one column with '{}' in it: set delimiter = \"{}\")",
                    sep.escape_default(),
                    sep.escape_default()
                ));
            }
        }
        text
    };
    let mut values = [None; MAX_FIELDS];
    for (slot, &field) in values.iter_mut().zip(kind.fields()) {
        let mapped = columns.get(field);
        *slot = find(mapped.unwrap_or(field.default_header()))?;
        if slot.is_none() && (mapped.is_some() || !field.optional()) {
            return Err(missing(field, mapped.is_some()));
        }
    }
    let time = match columns.get(Field::Time) {
        Some(name) => find(name)?.ok_or_else(|| missing(Field::Time, true))?,
        None => match find(Field::Time.key())? {
            Some(i) => i,
            None => default_time
                .filter(|i| !values.contains(&Some(*i)))
                .ok_or_else(|| {
                    format!(
                        "no time column among {}; name it with columns.time = \"…\"",
                        listed()
                    )
                })?,
        },
    };
    let name = |i: usize, field: Field| match header[i].trim() {
        "" => field.key().to_owned(),
        text => text.to_owned(),
    };
    let names = Names {
        time: name(time, Field::Time),
        values: kind
            .fields()
            .iter()
            .zip(&values)
            .map(|(&f, i)| i.map_or_else(|| f.key().to_owned(), |i| name(i, f)))
            .collect(),
    };
    Ok(Layout {
        time,
        values,
        names,
    })
}

/// What loading needs to know of an instrument: its id and the precision
/// its prices and quantities are held at.
#[derive(Debug, Clone, PartialEq)]
pub struct Precision {
    /// The instrument every item is stamped with.
    pub instrument: InstrumentId,
    /// Its symbol, for messages.
    pub symbol: String,
    /// Smallest price step.
    pub tick_size: Decimal,
    /// Smallest quantity step.
    pub lot_size: Decimal,
    /// Decimal places of scaled prices (those of `tick_size`).
    pub price_scale: u8,
    /// Decimal places of scaled quantities (those of `lot_size`).
    pub qty_scale: u8,
}

/// A bar, quote or trade built from a row's scaled values.
pub trait Item: Copy + PartialEq {
    /// What kind of data this is.
    const KIND: DataKind;
    /// The item from a row's time and scaled values (in field order).
    fn build(instrument: InstrumentId, time: Timestamp, values: &[i64; MAX_FIELDS]) -> Self;
}

impl Item for Bar {
    const KIND: DataKind = DataKind::Bars;
    fn build(instrument: InstrumentId, time: Timestamp, v: &[i64; MAX_FIELDS]) -> Self {
        let [open, high, low, close, volume] = *v;
        Bar {
            instrument,
            time,
            open,
            high,
            low,
            close,
            volume,
        }
    }
}

impl Item for Quote {
    const KIND: DataKind = DataKind::Quotes;
    fn build(instrument: InstrumentId, time: Timestamp, v: &[i64; MAX_FIELDS]) -> Self {
        let [bid, bid_size, ask, ask_size, _] = *v;
        Quote {
            instrument,
            time,
            bid,
            bid_size,
            ask,
            ask_size,
        }
    }
}

impl Item for Trade {
    const KIND: DataKind = DataKind::Trades;
    fn build(instrument: InstrumentId, time: Timestamp, v: &[i64; MAX_FIELDS]) -> Self {
        let [price, size, ..] = *v;
        Trade {
            instrument,
            time,
            price,
            size,
        }
    }
}

/// Checks the signs of a row's values: prices positive, quantities not
/// negative.
pub(crate) fn check_signs(kind: DataKind, v: &Values, names: &Names) -> Result<(), String> {
    for ((field, value), name) in kind.fields().iter().zip(v).zip(&names.values) {
        let price = field.role() == Role::Price;
        if (value.is_sign_negative() && !value.is_zero()) || (price && value.is_zero()) {
            return Err(format!(
                "column {name}: {value} is not a valid {}",
                if price { "price" } else { "quantity" }
            ));
        }
    }
    Ok(())
}

/// Checks that bars' lows and highs enclose their open and close and that
/// quotes are not crossed, on `n`: the row's decimals, or its scaled
/// integers (prices scale exactly, so they order alike). Messages show the
/// decimals `shown`.
pub(crate) fn check_shape<N: PartialOrd + Copy>(
    kind: DataKind,
    n: &[N; MAX_FIELDS],
    shown: &Values,
) -> Result<(), String> {
    let min = |a: N, b: N| if b < a { b } else { a };
    let max = |a: N, b: N| if b > a { b } else { a };
    match kind {
        DataKind::Bars => {
            let [open, high, low, close, _] = *n;
            if low > min(open, close) || high < max(open, close) || low > high {
                let [open, high, low, close, _] = shown;
                return Err(format!(
                    "inconsistent bar: low {low} / high {high} do not enclose open {open} and close {close}"
                ));
            }
        }
        DataKind::Quotes => {
            let [bid, _, ask, ..] = *n;
            if bid >= ask {
                let [bid, _, ask, ..] = shown;
                return Err(format!("crossed quote: bid {bid} is not below ask {ask}"));
            }
        }
        DataKind::Trades => {}
    }
    Ok(())
}

/// A row's values as `precision`'s scaled integers: prices and sizes
/// exactly, volume truncated.
fn scale(
    kind: DataKind,
    v: &Values,
    names: &Names,
    p: &Precision,
) -> Result<[i64; MAX_FIELDS], String> {
    let mut out = [0i64; MAX_FIELDS];
    for (((slot, &field), &number), name) in
        out.iter_mut().zip(kind.fields()).zip(v).zip(&names.values)
    {
        let (scale, step, step_name) = match field.role() {
            Role::Price => (p.price_scale, p.tick_size, "tick size"),
            Role::Qty | Role::Volume => (p.qty_scale, p.lot_size, "lot size"),
        };
        let value = if field.role() == Role::Volume {
            number.trunc_with_scale(u32::from(scale))
        } else {
            number
        };
        *slot = scaled(value, scale).ok_or(()).map_err(|_| {
            if number.normalize().scale() <= u32::from(scale) {
                // On the grid, but too many digits for a 64-bit integer.
                format!(
                    "column {name}: {number} is too large: at {scale} decimal places (those of {step_name} {step}) it does not fit a 64-bit integer"
                )
            } else {
                format!(
                    "column {name}: {number} is finer than {step_name} {step} allows for {}",
                    p.symbol
                )
            }
        })?;
    }
    Ok(out)
}

/// `value` as an integer at `scale` places, exactly; what
/// [`to_scaled`] computes, without its power loop for the usual case of a
/// value with no more places than the scale.
fn scaled(value: Decimal, scale: u8) -> Option<i64> {
    const POW10: [i128; 19] = {
        let mut table = [1i128; 19];
        let mut i = 1;
        while i < table.len() {
            table[i] = table[i - 1] * 10;
            i += 1;
        }
        table
    };
    let places = value.scale();
    match POW10.get(usize::from(scale).wrapping_sub(places as usize)) {
        Some(factor) if places <= u32::from(scale) => {
            i64::try_from(value.mantissa().checked_mul(*factor)?).ok()
        }
        _ => to_scaled(value, scale).ok(),
    }
}

/// A collected row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Row<V> {
    pub time: Timestamp,
    pub at: Location,
    pub value: V,
}

/// The half-open time range `[start, end)` to keep; `None`: unbounded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    /// First time kept.
    pub start: Option<Timestamp>,
    /// First time no longer kept.
    pub end: Option<Timestamp>,
}

impl TimeRange {
    pub(crate) fn contains(&self, time: Timestamp) -> bool {
        self.start.is_none_or(|s| time >= s) && self.end.is_none_or(|e| time < e)
    }
}

/// Reads every row of `source` into `out`, after the rows already there:
/// sign-checked, converted (and checked further) by `convert`, within `range`, and in time order
/// unless `sort` (then sorted by [`sort_rows`] afterwards).
pub(crate) fn collect<V>(
    path: &Path,
    kind: DataKind,
    source: &mut dyn Source,
    sort: bool,
    range: TimeRange,
    out: &mut Vec<Row<V>>,
    mut convert: impl FnMut(&RawRow, &Names) -> Result<V, String>,
) -> Result<(), Error> {
    let names = source.names().clone();
    let mut row = RawRow::default();
    while source.next_row(&mut row)? {
        if !range.contains(row.time) {
            continue;
        }
        let fail = |problem| Error::row(path, row.at, problem);
        check_signs(kind, &row.values, &names).map_err(fail)?;
        let value = convert(&row, &names).map_err(fail)?;
        if let Some(prev) = out.last().filter(|_| !sort) {
            if row.time < prev.time || (row.time == prev.time && !kind.shares_times()) {
                return Err(fail(format!(
                    "column {}: {} is not after the previous row's {}; set sort = true to sort rows by time{}",
                    names.time,
                    format_time(row.time),
                    format_time(prev.time),
                    if kind.shares_times() { "" } else { " and drop repeated rows" }
                )));
            }
        }
        out.push(Row {
            time: row.time,
            at: row.at,
            value,
        });
    }
    Ok(())
}

/// Sorts rows by time, keeping the order of rows at one time; of kinds
/// whose times are unique, drops a row repeating the one before and
/// refuses two different rows at one time.
pub(crate) fn sort_rows<V: PartialEq>(
    path: &Path,
    kind: DataKind,
    rows: &mut Vec<Row<V>>,
    time_name: &str,
) -> Result<(), Error> {
    rows.sort_by_key(|r| r.time);
    if kind.shares_times() {
        return Ok(());
    }
    let mut conflict = None;
    rows.dedup_by(|later, kept| {
        let same_time = later.time == kept.time;
        if same_time && later.value != kept.value && conflict.is_none() {
            conflict = Some((later.at, kept.at, later.time));
        }
        same_time
    });
    match conflict {
        Some((at, first, time)) => Err(Error::row(
            path,
            at,
            format!(
                "column {time_name}: {} is also the time of {}, with other values",
                format_time(time),
                first.describe()
            ),
        )),
        None => Ok(()),
    }
}

/// Opens `path` as a source of `kind` rows under `options`.
pub(crate) fn open(
    path: &Path,
    kind: DataKind,
    options: &ReadOptions,
) -> Result<Box<dyn Source>, Error> {
    let file = std::fs::File::open(path).map_err(|cause| Error::Read {
        path: path.to_owned(),
        cause,
    })?;
    Ok(match options.format_of(path) {
        Format::Csv => Box::new(csv_source::CsvSource::new(file, path, kind, options)?),
        Format::Parquet => Box::new(parquet_source::ParquetSource::new(
            file, path, kind, options,
        )?),
    })
}

/// Reads the rows of a file as exact decimals, checked and in time order
/// (sorted if `options.sort`): what the catalog imports.
pub(crate) fn read_values(
    path: &Path,
    kind: DataKind,
    options: &ReadOptions,
) -> Result<Vec<Row<Values>>, Error> {
    let mut source = open(path, kind, options)?;
    let mut rows = Vec::new();
    collect(
        path,
        kind,
        source.as_mut(),
        options.sort,
        TimeRange::default(),
        &mut rows,
        decimals(kind),
    )?;
    finish(path, kind, rows, options.sort, &source.names().time)
}

/// Sorts (if asked) and refuses an empty result.
pub(crate) fn finish<V: PartialEq>(
    path: &Path,
    kind: DataKind,
    mut rows: Vec<Row<V>>,
    sort: bool,
    time_name: &str,
) -> Result<Vec<Row<V>>, Error> {
    if sort {
        sort_rows(path, kind, &mut rows, time_name)?;
    }
    if rows.is_empty() {
        return Err(Error::Empty {
            path: path.to_owned(),
            what: kind.plural().to_owned(),
        });
    }
    Ok(rows)
}

/// Checks a row's shape and keeps its decimals (the catalog's rows).
pub(crate) fn decimals(kind: DataKind) -> impl Fn(&RawRow, &Names) -> Result<Values, String> {
    move |row, _| {
        check_shape(kind, &row.values, &row.values)?;
        Ok(row.values)
    }
}

/// Converts through `precision` into items, checking their shape.
pub(crate) fn to_items<T: Item>(
    precision: &Precision,
) -> impl Fn(&RawRow, &Names) -> Result<T, String> + '_ {
    move |row, names| {
        let scaled = scale(T::KIND, &row.values, names, precision)?;
        check_shape(T::KIND, &scaled, &row.values)?;
        Ok(T::build(precision.instrument, row.time, &scaled))
    }
}

/// Reads a CSV or Parquet file of `T`s for the instrument of `precision`.
pub fn read_file<T: Item>(
    path: &Path,
    options: &ReadOptions,
    precision: &Precision,
) -> Result<Vec<T>, Error> {
    let mut source = open(path, T::KIND, options)?;
    let mut rows = Vec::new();
    collect(
        path,
        T::KIND,
        source.as_mut(),
        options.sort,
        TimeRange::default(),
        &mut rows,
        to_items::<T>(precision),
    )?;
    let rows = finish(path, T::KIND, rows, options.sort, &source.names().time)?;
    Ok(rows.into_iter().map(|r| r.value).collect())
}

//! Parquet files, read one record batch of one row group at a time: only
//! the columns needed are decoded, and memory holds one batch beyond the
//! rows collected. Columns are found by name as in CSV files; times may be
//! Arrow timestamps (any unit, with or without a time zone), dates,
//! integers or strings, values floats, decimals, integers or strings.

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrowPrimitiveType, PrimitiveArray};
use arrow_schema::{DataType, TimeUnit};
use chrono::{DateTime, NaiveDate};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;
use parquet::file::reader::ChunkReader;
use rust_decimal::Decimal;

use cracktrader_model::Timestamp;

use crate::error::{Error, Location};
use crate::kind::{DataKind, MAX_FIELDS};
use crate::number;
use crate::options::ReadOptions;
use crate::read::{resolve, Names, RawRow, Source};
use crate::time::TimeParser;

/// Rows per decoded batch: large enough that per-batch costs vanish, small
/// enough to stay in cache.
const BATCH_ROWS: usize = 8192;

/// Rows of a Parquet file.
pub(crate) struct ParquetSource {
    path: PathBuf,
    batches: ParquetRecordBatchReader,
    names: Names,
    /// Index in each batch of the time column and of each value column.
    time: usize,
    values: [Option<usize>; MAX_FIELDS],
    times: TimeParser,
    /// The current batch, decoded.
    time_buf: Vec<Timestamp>,
    value_bufs: [Vec<Decimal>; MAX_FIELDS],
    /// A row of the current batch that could not be decoded, with why;
    /// reported when the rows before it have been read.
    pending: Option<(usize, String)>,
    /// Next row of the current batch.
    pos: usize,
    /// Rows of the batches before the current one.
    done: u64,
}

impl ParquetSource {
    pub(crate) fn new<R: ChunkReader + 'static>(
        reader: R,
        path: &Path,
        kind: DataKind,
        options: &ReadOptions,
    ) -> Result<Self, Error> {
        let builder = guarded(path, || ParquetRecordBatchReaderBuilder::try_new(reader))?;
        let schema = builder.schema().clone();
        let header: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        // Without a `time` column, the first of a time type: pandas writes
        // its index (`Date`, `__index_level_0__`) after the other columns.
        let first_time = schema.fields().iter().position(|f| {
            matches!(
                f.data_type(),
                DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
            )
        });
        let schema_error = |problem: String| Error::row(path, Location::Schema, problem);
        let layout = resolve(kind, &options.columns, &header, first_time).map_err(schema_error)?;
        let check = |i: usize, name: &str, time: bool| {
            let ty = schema.field(i).data_type();
            let ok = if time {
                is_time_type(ty)
            } else {
                is_value_type(ty)
            };
            if ok {
                Ok(())
            } else {
                Err(schema_error(format!(
                    "column {name}: type {ty} is not {}",
                    if time {
                        "a time: expected a timestamp, date, integer or string column"
                    } else {
                        "a number: expected a float, decimal, integer or string column"
                    }
                )))
            }
        };
        check(layout.time, &layout.names.time, true)?;
        for (i, name) in layout.values.iter().zip(&layout.names.values) {
            if let Some(i) = i {
                check(*i, name, false)?;
            }
        }
        // The batches hold only the columns used, in file order.
        let mut used: Vec<usize> = std::iter::once(layout.time)
            .chain(layout.values.iter().flatten().copied())
            .collect();
        used.sort_unstable();
        used.dedup();
        let at = |i: usize| used.iter().position(|u| *u == i).unwrap_or_default();
        let mask = ProjectionMask::roots(builder.parquet_schema(), used.iter().copied());
        let batches = guarded(path, || {
            builder
                .with_projection(mask)
                .with_batch_size(BATCH_ROWS)
                .build()
        })?;
        Ok(Self {
            path: path.to_owned(),
            batches,
            time: at(layout.time),
            values: layout.values.map(|v| v.map(at)),
            names: layout.names,
            times: TimeParser::new(options.time_format.clone(), options.timezone),
            time_buf: Vec::new(),
            value_bufs: Default::default(),
            pending: None,
            pos: 0,
            done: 0,
        })
    }

    /// Decodes the next batch; `false` at the end of the file.
    fn next_batch(&mut self) -> Result<bool, Error> {
        let batches = &mut self.batches;
        let Some(batch) = guarded(&self.path, || batches.next().transpose())? else {
            return Ok(false);
        };
        self.done += self.time_buf.len() as u64;
        self.pos = 0;
        self.pending = None;
        let mut len = batch.num_rows();
        let names = &self.names;
        if let Err((row, problem)) = decode_times(
            batch.column(self.time).as_ref(),
            &mut self.times,
            &mut self.time_buf,
        ) {
            len = row;
            self.pending = Some((row, format!("column {}: {problem}", names.time)));
        }
        for ((column, buf), name) in self
            .values
            .iter()
            .zip(&mut self.value_bufs)
            .zip(&names.values)
        {
            buf.clear();
            match column {
                Some(i) => {
                    if let Err((row, problem)) = decode_values(batch.column(*i).as_ref(), buf) {
                        if row < len {
                            len = row;
                            self.pending = Some((row, format!("column {name}: {problem}")));
                        }
                    }
                }
                None => buf.resize(batch.num_rows(), Decimal::ZERO),
            }
        }
        self.time_buf.truncate(len);
        Ok(true)
    }
}

impl Source for ParquetSource {
    fn names(&self) -> &Names {
        &self.names
    }

    fn next_row(&mut self, row: &mut RawRow) -> Result<bool, Error> {
        while self.pos >= self.time_buf.len() {
            if let Some((i, problem)) = self.pending.take() {
                let at = Location::Row(self.done + i as u64 + 1);
                return Err(Error::row(&self.path, at, problem));
            }
            if !self.next_batch()? {
                return Ok(false);
            }
        }
        let i = self.pos;
        self.pos += 1;
        row.at = Location::Row(self.done + i as u64 + 1);
        row.time = self.time_buf[i];
        for (slot, buf) in row.values.iter_mut().zip(&self.value_bufs) {
            *slot = buf.get(i).copied().unwrap_or_default();
        }
        Ok(true)
    }
}

/// Runs a step of the Parquet decoder, a panic in it becoming an error
/// like any other: the decoder is third-party code fed any file a user
/// names, and the reader it panicked in is never used again.
fn guarded<T, E: std::fmt::Display>(
    path: &Path,
    step: impl FnOnce() -> Result<T, E>,
) -> Result<T, Error> {
    let unreadable = |cause: String| Error::Parquet {
        path: path.to_owned(),
        cause,
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(step))
        .map_err(|_| unreadable("the decoder failed on malformed input".to_owned()))?
        .map_err(|e| unreadable(e.to_string()))
}

fn is_time_type(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Timestamp(..)
            | DataType::Date32
            | DataType::Date64
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    ) || ty.is_integer()
}

fn is_value_type(ty: &DataType) -> bool {
    matches!(
        ty,
        DataType::Float32
            | DataType::Float64
            | DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
    ) || ty.is_integer()
}

/// A decode failure: the row within the batch, and why.
type Failure = (usize, String);

/// Appends `convert` of each value to `out`, stopping at the first null or
/// unconvertible value.
fn each<V, T>(
    values: impl IntoIterator<Item = Option<V>>,
    out: &mut Vec<T>,
    mut convert: impl FnMut(V) -> Result<T, String>,
) -> Result<(), Failure> {
    for (row, value) in values.into_iter().enumerate() {
        let value = value.ok_or_else(|| (row, "missing value (null)".to_owned()))?;
        out.push(convert(value).map_err(|problem| (row, problem))?);
    }
    Ok(())
}

/// [`each`] for a primitive array: over its values slice when it has no
/// nulls (most files), which the compiler can keep in registers.
fn each_primitive<P: ArrowPrimitiveType, T>(
    array: &PrimitiveArray<P>,
    out: &mut Vec<T>,
    mut convert: impl FnMut(P::Native) -> Result<T, String>,
) -> Result<(), Failure> {
    if array.null_count() > 0 {
        return each(array, out, convert);
    }
    out.reserve(array.len());
    for (row, value) in array.values().iter().enumerate() {
        out.push(convert(*value).map_err(|problem| (row, problem))?);
    }
    Ok(())
}

/// Runs `$body` with `$values` bound to `$array` as the primitive array of
/// its integer type, if it is one.
macro_rules! integers {
    ($array:expr, |$values:ident| $body:expr, $otherwise:expr) => {
        match $array.data_type() {
            DataType::Int8 => {
                let $values = $array.as_primitive::<Int8Type>();
                $body
            }
            DataType::Int16 => {
                let $values = $array.as_primitive::<Int16Type>();
                $body
            }
            DataType::Int32 => {
                let $values = $array.as_primitive::<Int32Type>();
                $body
            }
            DataType::Int64 => {
                let $values = $array.as_primitive::<Int64Type>();
                $body
            }
            DataType::UInt8 => {
                let $values = $array.as_primitive::<UInt8Type>();
                $body
            }
            DataType::UInt16 => {
                let $values = $array.as_primitive::<UInt16Type>();
                $body
            }
            DataType::UInt32 => {
                let $values = $array.as_primitive::<UInt32Type>();
                $body
            }
            DataType::UInt64 => {
                let $values = $array.as_primitive::<UInt64Type>();
                $body
            }
            _ => $otherwise,
        }
    };
}

/// Runs `$body` with `$values` bound to `$array` as a string array, if it
/// is one.
macro_rules! strings {
    ($array:expr, |$values:ident| $body:expr, $otherwise:expr) => {
        match $array.data_type() {
            DataType::Utf8 => {
                let $values = $array.as_string::<i32>();
                $body
            }
            DataType::LargeUtf8 => {
                let $values = $array.as_string::<i64>();
                $body
            }
            DataType::Utf8View => {
                let $values = $array.as_string_view();
                $body
            }
            _ => $otherwise,
        }
    };
}

/// The values of a number column, exactly.
fn decode_values(array: &dyn Array, out: &mut Vec<Decimal>) -> Result<(), Failure> {
    let unheld =
        |v: &dyn std::fmt::Display| format!("{v} is not a number a decimal holds (28 digits)");
    let decimals = |values: &PrimitiveArray<Decimal128Type>, scale: i8, out: &mut Vec<Decimal>| {
        each_primitive(values, out, |m: i128| {
            number::from_mantissa(m, scale).ok_or_else(|| unheld(&m))
        })
    };
    match array.data_type() {
        DataType::Float64 => each_primitive(array.as_primitive::<Float64Type>(), out, |v| {
            number::from_f64(v).ok_or_else(|| unheld(&v))
        }),
        DataType::Float32 => each_primitive(array.as_primitive::<Float32Type>(), out, |v| {
            number::from_f32(v).ok_or_else(|| unheld(&v))
        }),
        DataType::Decimal128(_, scale) => {
            decimals(array.as_primitive::<Decimal128Type>(), *scale, out)
        }
        DataType::Decimal64(_, scale) => {
            let wide: PrimitiveArray<Decimal128Type> =
                array.as_primitive::<Decimal64Type>().unary(i128::from);
            decimals(&wide, *scale, out)
        }
        DataType::Decimal32(_, scale) => {
            let wide: PrimitiveArray<Decimal128Type> =
                array.as_primitive::<Decimal32Type>().unary(i128::from);
            decimals(&wide, *scale, out)
        }
        _ => integers!(
            array,
            |values| each_primitive(values, out, |v| Ok(Decimal::from(v))),
            strings!(
                array,
                |values| each(values, out, |text| {
                    number::from_text(text).ok_or_else(|| format!("invalid number '{text}'"))
                }),
                Err((0, format!("type {} is not a number", array.data_type())))
            )
        ),
    }
}

/// The times of a time column, in UTC nanoseconds.
fn decode_times(
    array: &dyn Array,
    parser: &mut TimeParser,
    out: &mut Vec<Timestamp>,
) -> Result<(), Failure> {
    out.clear();
    let range = |v: &dyn std::fmt::Display| {
        format!("{v} is outside the years 1677 to 2262 that nanosecond times hold")
    };
    // Arrow timestamps with a time zone are UTC; without one they are wall
    // clock times, in `timezone` if the session gives one.
    let timestamps = |values: &PrimitiveArray<Int64Type>,
                      per: i64,
                      utc: bool,
                      parser: &TimeParser,
                      out: &mut Vec<Timestamp>| {
        each_primitive(values, out, |v: i64| {
            let nanos = v.checked_mul(per).ok_or_else(|| range(&v))?;
            if utc || !parser.zoned() {
                Ok(nanos)
            } else {
                parser.naive(DateTime::from_timestamp_nanos(nanos).naive_utc())
            }
        })
    };
    match array.data_type() {
        DataType::Timestamp(unit, zone) => {
            let utc = zone.is_some();
            match unit {
                TimeUnit::Second => timestamps(
                    &array
                        .as_primitive::<TimestampSecondType>()
                        .reinterpret_cast::<Int64Type>(),
                    1_000_000_000,
                    utc,
                    parser,
                    out,
                ),
                TimeUnit::Millisecond => timestamps(
                    &array
                        .as_primitive::<TimestampMillisecondType>()
                        .reinterpret_cast::<Int64Type>(),
                    1_000_000,
                    utc,
                    parser,
                    out,
                ),
                TimeUnit::Microsecond => timestamps(
                    &array
                        .as_primitive::<TimestampMicrosecondType>()
                        .reinterpret_cast::<Int64Type>(),
                    1_000,
                    utc,
                    parser,
                    out,
                ),
                TimeUnit::Nanosecond => timestamps(
                    &array
                        .as_primitive::<TimestampNanosecondType>()
                        .reinterpret_cast::<Int64Type>(),
                    1,
                    utc,
                    parser,
                    out,
                ),
            }
        }
        DataType::Date32 => each_primitive(array.as_primitive::<Date32Type>(), out, |days| {
            let date = NaiveDate::from_epoch_days(days).ok_or_else(|| range(&days))?;
            parser.naive(date.and_time(Default::default()))
        }),
        DataType::Date64 => each_primitive(array.as_primitive::<Date64Type>(), out, |millis| {
            let time = DateTime::from_timestamp_millis(millis).ok_or_else(|| range(&millis))?;
            parser.naive(time.naive_utc())
        }),
        _ => integers!(
            array,
            |values| each_primitive(values, out, |v| {
                let v = i64::try_from(i128::from(v)).map_err(|_| range(&v))?;
                parser.integer(v)
            }),
            strings!(
                array,
                |values| each(values, out, |text| parser.text(text)),
                Err((0, format!("type {} is not a time", array.data_type())))
            )
        ),
    }
}

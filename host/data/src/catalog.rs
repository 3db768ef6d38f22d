//! The data catalog: market data imported once, stored as zstd Parquet in
//! monthly partitions, and read by sessions by symbol and timeframe.
//!
//! Layout under the catalog's root:
//!
//! ```text
//! manifest.json                                   what is there, with a sha256 per partition
//! ohlcv/<symbol>/<timeframe>/<YYYY>/<YYYY-MM>.parquet
//! quotes/<symbol>/<YYYY>/<YYYY-MM>.parquet
//! trades/<symbol>/<YYYY>/<YYYY-MM>.parquet
//! ```
//!
//! A partition holds the rows of one UTC calendar month in time order: a
//! `time` column (timestamp, nanoseconds, UTC) and the kind's values as
//! `decimal128(38, s)`, exactly as imported. Every read checks the bytes
//! against the manifest's sha256 first. Re-importing overlapping data
//! merges it: rows already there are kept once, a row whose time is there
//! with other values is an error and nothing is written.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, Decimal128Array, RecordBatch, TimestampNanosecondArray};
use arrow_schema::{DataType, Field as ArrowField, Schema, TimeUnit};
use bytes::Bytes;
use chrono::{DateTime, Datelike};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use cracktrader_model::{format_time, Timestamp};

use crate::error::{Error, Location};
use crate::kind::DataKind;
use crate::options::ReadOptions;
use crate::parquet_source::ParquetSource;
use crate::read::{self, Item, Precision, Row, TimeRange, Values};

/// The manifest's `schema_version` this build writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// The manifest's file name under the root.
pub const MANIFEST: &str = "manifest.json";

/// Which data set: a kind, a symbol and (bars only) a timeframe.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DatasetKey {
    /// What the data set holds.
    pub kind: DataKind,
    /// The instrument's symbol, e.g. `EURUSD`.
    pub symbol: String,
    /// The bar interval, e.g. `1m`; `None` for quotes and trades.
    pub timeframe: Option<String>,
}

impl DatasetKey {
    /// A checked key: the symbol and timeframe become directory names, so
    /// they are kept to letters, digits, `.`, `_` and `-`.
    pub fn new(kind: DataKind, symbol: &str, timeframe: Option<&str>) -> Result<Self, String> {
        let valid = !symbol.is_empty()
            && symbol.len() <= 64
            && !symbol.starts_with('.')
            && symbol
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !valid {
            return Err(format!(
                "symbol '{symbol}' cannot name a directory: use up to 64 letters, digits, '.', '_' or '-', not starting with '.'"
            ));
        }
        let timeframe = match (kind.has_timeframe(), timeframe) {
            (true, None) => return Err("bars need a timeframe, e.g. 1m, 1h or 1d".to_owned()),
            (false, Some(_)) => {
                return Err(format!("{} have no timeframe; leave it out", kind.plural()))
            }
            (_, Some(tf)) => {
                let (count, unit) = tf.split_at(tf.len().saturating_sub(1));
                let count_ok = !count.is_empty()
                    && !count.starts_with('0')
                    && count.len() <= 6
                    && count.bytes().all(|b| b.is_ascii_digit());
                if !count_ok || !["s", "m", "h", "d", "w", "M"].contains(&unit) {
                    return Err(format!(
                        "timeframe '{tf}' is not a count and a unit (s, m, h, d, w or M for months), e.g. 1m, 15m, 4h, 1d"
                    ));
                }
                Some(tf.to_owned())
            }
            (false, None) => None,
        };
        Ok(Self {
            kind,
            symbol: symbol.to_owned(),
            timeframe,
        })
    }

    /// The data set's directory under the root.
    fn dir(&self) -> PathBuf {
        let mut dir = PathBuf::from(self.kind.category()).join(&self.symbol);
        if let Some(tf) = &self.timeframe {
            dir.push(tf);
        }
        dir
    }

    /// The partition file of `month` (`YYYY-MM`), relative to the root.
    fn partition_file(&self, month: &str) -> String {
        let dir = self
            .dir()
            .join(&month[..4])
            .join(format!("{month}.parquet"));
        // `/` on every platform: the manifest is shared between machines.
        dir.components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }
}

impl std::fmt::Display for DatasetKey {
    /// `ohlcv EURUSD 1h`, `trades BTCUSDT`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind.category(), self.symbol)?;
        if let Some(tf) = &self.timeframe {
            write!(f, " {tf}")?;
        }
        Ok(())
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    schema_version: u32,
    datasets: Vec<Dataset>,
}

/// One data set of the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// `ohlcv`, `quotes` or `trades`.
    pub category: String,
    /// The symbol.
    pub symbol: String,
    /// The bar interval (bars only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<String>,
    /// Its months, in time order.
    pub partitions: Vec<Partition>,
}

impl Dataset {
    /// Its key, checked (a manifest is input too).
    pub fn key(&self) -> Result<DatasetKey, String> {
        DatasetKey::new(
            self.category.parse()?,
            &self.symbol,
            self.timeframe.as_deref(),
        )
    }

    /// Rows over all partitions.
    pub fn rows(&self) -> u64 {
        self.partitions.iter().map(|p| p.rows).sum()
    }
}

/// One monthly partition file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partition {
    /// The month, `YYYY-MM` (UTC).
    pub month: String,
    /// The file, relative to the root, `/`-separated.
    pub file: String,
    /// Rows in it.
    pub rows: u64,
    /// Its first time, RFC 3339.
    pub first: String,
    /// Its last time, RFC 3339.
    pub last: String,
    /// sha256 of the file's bytes, in hex.
    pub sha256: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Rows read from the file.
    pub rows_read: usize,
    /// Of those, rows the catalog did not have.
    pub rows_added: usize,
    /// Partition files written (new or merged), relative to the root.
    pub written: Vec<String>,
    /// Partitions the file touched that already held all its rows.
    pub unchanged: usize,
}

/// What `verify` found wrong with one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The partition file, relative to the root.
    pub file: String,
    /// What is wrong.
    pub problem: String,
}

/// A catalog on disk.
#[derive(Debug, Clone)]
pub struct Catalog {
    root: PathBuf,
    manifest: Manifest,
}

impl Catalog {
    /// Opens the catalog at `root`, which must have a manifest.
    pub fn open(root: &Path) -> Result<Self, Error> {
        let path = root.join(MANIFEST);
        let text = fs::read_to_string(&path).map_err(|cause| {
            if cause.kind() == std::io::ErrorKind::NotFound {
                catalog_error(
                    root,
                    format!("no {MANIFEST}: not a catalog (`cracktrader data import` creates one)"),
                )
            } else {
                Error::Read {
                    path: path.clone(),
                    cause,
                }
            }
        })?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
            Error::row(
                &path,
                Location::Line(e.line() as u64),
                format!("invalid manifest: {e}"),
            )
        })?;
        if manifest.schema_version != SCHEMA_VERSION {
            return Err(catalog_error(
                root,
                format!(
                    "{MANIFEST} has schema_version {}; this cracktrader reads {SCHEMA_VERSION}",
                    manifest.schema_version
                ),
            ));
        }
        for set in &manifest.datasets {
            let key = set
                .key()
                .map_err(|p| catalog_error(root, format!("{MANIFEST}: {p}")))?;
            for p in &set.partitions {
                // Files are where the layout puts them: a manifest cannot
                // point outside the catalog.
                if !valid_month(&p.month) || p.file != key.partition_file(&p.month) {
                    return Err(catalog_error(
                        root,
                        format!("{MANIFEST}: {key}: partition '{}' of month '{}' is not where the layout puts it", p.file, p.month),
                    ));
                }
            }
        }
        Ok(Self {
            root: root.to_owned(),
            manifest,
        })
    }

    /// Opens the catalog at `root`, or an empty one there if it has no
    /// manifest yet (written by the first import).
    pub fn open_or_create(root: &Path) -> Result<Self, Error> {
        if root.join(MANIFEST).exists() {
            return Self::open(root);
        }
        Ok(Self {
            root: root.to_owned(),
            manifest: Manifest {
                schema_version: SCHEMA_VERSION,
                datasets: Vec::new(),
            },
        })
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every data set, ordered by category, symbol and timeframe.
    pub fn datasets(&self) -> &[Dataset] {
        &self.manifest.datasets
    }

    /// The data set of `key`.
    pub fn dataset(&self, key: &DatasetKey) -> Result<&Dataset, Error> {
        self.find(key).ok_or_else(|| {
            let have: Vec<String> = self
                .manifest
                .datasets
                .iter()
                .filter_map(|d| d.key().ok())
                .map(|k| k.to_string())
                .collect();
            catalog_error(
                &self.root,
                format!(
                    "no {key} data; it has {}",
                    if have.is_empty() {
                        "nothing".to_owned()
                    } else {
                        have.join(", ")
                    }
                ),
            )
        })
    }

    fn find(&self, key: &DatasetKey) -> Option<&Dataset> {
        self.manifest
            .datasets
            .iter()
            .find(|d| d.key().as_ref() == Ok(key))
    }

    /// The bytes of a partition, checked against the manifest's sha256.
    fn partition_bytes(&self, p: &Partition) -> Result<Bytes, Error> {
        let path = self.root.join(&p.file);
        let bytes = fs::read(&path).map_err(|cause| Error::Read {
            path: path.clone(),
            cause,
        })?;
        let found = hex::encode(Sha256::digest(&bytes));
        if found != p.sha256 {
            return Err(Error::Hash {
                path,
                expected: p.sha256.clone(),
                found,
            });
        }
        Ok(Bytes::from(bytes))
    }

    /// Collects the rows of a partition within `range` into `out`.
    fn read_partition<V>(
        &self,
        key: &DatasetKey,
        p: &Partition,
        range: TimeRange,
        out: &mut Vec<Row<V>>,
        convert: impl FnMut(&read::RawRow, &read::Names) -> Result<V, String>,
    ) -> Result<(), Error> {
        let path = self.root.join(&p.file);
        let bytes = self.partition_bytes(p)?;
        let mut source = ParquetSource::new(bytes, &path, key.kind, &ReadOptions::default())?;
        read::collect(&path, key.kind, &mut source, false, range, out, convert)
    }

    /// The `T`s of `key` within `range`, for the instrument of `precision`.
    pub fn read<T: Item>(
        &self,
        key: &DatasetKey,
        range: TimeRange,
        precision: &Precision,
    ) -> Result<Vec<T>, Error> {
        let set = self.dataset(key)?;
        let mut rows = Vec::new();
        for p in &set.partitions {
            let (first, last) = (
                parse_bound(&self.root, &p.first)?,
                parse_bound(&self.root, &p.last)?,
            );
            let before = range.end.is_some_and(|end| first >= end);
            let after = range.start.is_some_and(|start| last < start);
            if !before && !after {
                self.read_partition(key, p, range, &mut rows, read::to_items::<T>(precision))?;
            }
        }
        if rows.is_empty() {
            let mut what = format!("{} of {key}", key.kind.plural());
            if let Some(start) = range.start {
                what.push_str(&format!(" from {}", format_time(start)));
            }
            if let Some(end) = range.end {
                what.push_str(&format!(" before {}", format_time(end)));
            }
            return Err(Error::Empty {
                path: self.root.clone(),
                what,
            });
        }
        Ok(rows.into_iter().map(|r| r.value).collect())
    }

    /// Imports `file` (read under `options`) into the data set `key`,
    /// merging it with what is there; see the module docs.
    pub fn import(
        &mut self,
        file: &Path,
        options: &ReadOptions,
        key: &DatasetKey,
    ) -> Result<ImportSummary, Error> {
        let rows = read::read_values(file, key.kind, options)?;
        let mut summary = ImportSummary {
            rows_read: rows.len(),
            rows_added: 0,
            written: Vec::new(),
            unchanged: 0,
        };
        let mut months: BTreeMap<String, Vec<Row<Values>>> = BTreeMap::new();
        for row in rows {
            months.entry(month_of(row.time)).or_default().push(row);
        }
        let mut partitions: Vec<Partition> = self
            .find(key)
            .map(|d| d.partitions.clone())
            .unwrap_or_default();
        // Every partition is written to a temporary file first: a conflict
        // or failure anywhere leaves the catalog as it was.
        let mut staged = Vec::new();
        for (month, new) in months {
            let existing = partitions.iter().find(|p| p.month == month);
            let old = match existing {
                Some(p) => {
                    let mut old = Vec::new();
                    self.read_partition(key, p, TimeRange::default(), &mut old, |row, _| {
                        Ok(row.values)
                    })?;
                    old
                }
                None => Vec::new(),
            };
            let old_len = old.len();
            let merged = merge(file, key, old, new)?;
            if merged.len() == old_len {
                summary.unchanged += 1;
                continue;
            }
            summary.rows_added += merged.len() - old_len;
            let relative = key.partition_file(&month);
            let path = self.root.join(&relative);
            let bytes = encode(&path, key, &merged)?;
            let tmp = path.with_extension("parquet.tmp");
            write_file(&tmp, &bytes)?;
            staged.push((tmp, path));
            let partition = Partition {
                month: month.clone(),
                file: relative.clone(),
                rows: merged.len() as u64,
                first: format_time(merged[0].time),
                last: format_time(merged[merged.len() - 1].time),
                sha256: hex::encode(Sha256::digest(&bytes)),
            };
            partitions.retain(|p| p.month != month);
            partitions.push(partition);
            summary.written.push(relative);
        }
        if staged.is_empty() {
            return Ok(summary);
        }
        for (tmp, path) in &staged {
            fs::rename(tmp, path).map_err(|cause| Error::Write {
                path: path.clone(),
                cause,
            })?;
        }
        partitions.sort_by(|a, b| a.month.cmp(&b.month));
        let dataset = Dataset {
            category: key.kind.category().to_owned(),
            symbol: key.symbol.clone(),
            timeframe: key.timeframe.clone(),
            partitions,
        };
        let sets = &mut self.manifest.datasets;
        sets.retain(|d| d.key().as_ref() != Ok(key));
        sets.push(dataset);
        sets.sort_by_key(|d| d.key().ok());
        self.save()?;
        Ok(summary)
    }

    /// Writes the manifest (through a temporary file, so that it is whole).
    fn save(&self) -> Result<(), Error> {
        let mut text = serde_json::to_string_pretty(&self.manifest)
            .map_err(|e| catalog_error(&self.root, e.to_string()))?;
        text.push('\n');
        let path = self.root.join(MANIFEST);
        let tmp = path.with_extension("json.tmp");
        write_file(&tmp, text.as_bytes())?;
        fs::rename(&tmp, &path).map_err(|cause| Error::Write { path, cause })
    }

    /// Re-hashes every partition: the damaged or missing ones.
    pub fn verify(&self) -> Vec<Damage> {
        let mut damage = Vec::new();
        for set in &self.manifest.datasets {
            for p in &set.partitions {
                if let Err(e) = self.partition_bytes(p) {
                    damage.push(Damage {
                        file: p.file.clone(),
                        problem: e.to_string(),
                    });
                }
            }
        }
        damage
    }

    /// The columns of a partition file as `(name, type)`, from its schema.
    pub fn schema(&self, p: &Partition) -> Result<Vec<(String, String)>, Error> {
        let path = self.root.join(&p.file);
        let bytes = self.partition_bytes(p)?;
        let builder = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .map_err(|e| Error::Parquet {
                path,
                cause: e.to_string(),
            })?;
        Ok(builder
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect())
    }
}

fn catalog_error(root: &Path, problem: String) -> Error {
    Error::Catalog {
        root: root.to_owned(),
        problem,
    }
}

/// A manifest time back to a timestamp.
fn parse_bound(root: &Path, text: &str) -> Result<Timestamp, Error> {
    crate::parse_time(text).map_err(|p| catalog_error(root, format!("{MANIFEST}: {p}")))
}

fn valid_month(month: &str) -> bool {
    let b = month.as_bytes();
    b.len() == 7
        && b[4] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || c.is_ascii_digit())
}

/// The UTC month of a time, `YYYY-MM`.
fn month_of(time: Timestamp) -> String {
    let t = DateTime::from_timestamp_nanos(time);
    format!("{:04}-{:02}", t.year(), t.month())
}

/// Merges a partition's rows with imported ones (both in time order): at
/// each time, the rows of one side, or of both if they are the same.
fn merge(
    file: &Path,
    key: &DatasetKey,
    old: Vec<Row<Values>>,
    new: Vec<Row<Values>>,
) -> Result<Vec<Row<Values>>, Error> {
    let mut out = Vec::with_capacity(old.len() + new.len());
    let (mut i, mut j) = (0, 0);
    let group = |rows: &[Row<Values>], from: usize, time: Timestamp| {
        from + rows[from..].iter().take_while(|r| r.time == time).count()
    };
    while i < old.len() || j < new.len() {
        let time = match (old.get(i), new.get(j)) {
            (Some(a), Some(b)) => a.time.min(b.time),
            (Some(a), None) => a.time,
            (None, Some(b)) => b.time,
            (None, None) => break,
        };
        let (i_end, j_end) = (group(&old, i, time), group(&new, j, time));
        let (ours, theirs) = (&old[i..i_end], &new[j..j_end]);
        let same =
            ours.len() == theirs.len() && ours.iter().zip(theirs).all(|(a, b)| a.value == b.value);
        if !ours.is_empty() && !theirs.is_empty() && !same {
            return Err(Error::row(
                file,
                theirs[0].at,
                format!(
                    "{} of {key} at {} is in the catalog with other values: {} there, {} here; import data that agrees, or remove the partition first",
                    key.kind.plural(),
                    format_time(time),
                    describe(key.kind, ours),
                    describe(key.kind, theirs)
                ),
            ));
        }
        out.extend_from_slice(if ours.is_empty() { theirs } else { ours });
        (i, j) = (i_end, j_end);
    }
    Ok(out)
}

/// `open 1.07 high 1.08 …` of rows at one time, for messages.
fn describe(kind: DataKind, rows: &[Row<Values>]) -> String {
    rows.iter()
        .map(|r| {
            kind.fields()
                .iter()
                .zip(&r.value)
                .map(|(f, v)| format!("{f} {v}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A partition's Parquet bytes: `time` and the kind's values, each value
/// column a `decimal128(38, s)` at the most decimal places it needs.
fn encode(path: &Path, key: &DatasetKey, rows: &[Row<Values>]) -> Result<Vec<u8>, Error> {
    let fail = |problem: String| catalog_error(path, problem);
    let times = TimestampNanosecondArray::from(rows.iter().map(|r| r.time).collect::<Vec<_>>())
        .with_timezone("UTC");
    let mut fields = vec![ArrowField::new(
        "time",
        DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        false,
    )];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(times)];
    for (i, field) in key.kind.fields().iter().enumerate() {
        let scale = rows.iter().map(|r| r.value[i].scale()).max().unwrap_or(0);
        let mantissas = rows
            .iter()
            .map(|r| {
                let v: Decimal = r.value[i];
                10i128
                    .checked_pow(scale - v.scale())
                    .and_then(|f| v.mantissa().checked_mul(f))
                    .filter(|m| m.unsigned_abs() < 10u128.pow(38))
                    .ok_or_else(|| {
                        fail(format!(
                            "{field} {v} does not fit 38 digits at {scale} decimal places"
                        ))
                    })
            })
            .collect::<Result<Vec<i128>, Error>>()?;
        // Scales are at most 28 (a Decimal's), so the cast is exact.
        let scale = scale as i8;
        let array = Decimal128Array::from(mantissas)
            .with_precision_and_scale(38, scale)
            .map_err(|e| fail(e.to_string()))?;
        fields.push(ArrowField::new(
            field.key(),
            DataType::Decimal128(38, scale),
            false,
        ));
        columns.push(Arc::new(array));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| fail(e.to_string()))?;
    let mut meta = vec![
        KeyValue::new(
            "cracktrader.schema_version".into(),
            SCHEMA_VERSION.to_string(),
        ),
        KeyValue::new(
            "cracktrader.category".into(),
            key.kind.category().to_owned(),
        ),
        KeyValue::new("cracktrader.symbol".into(), key.symbol.clone()),
    ];
    if let Some(tf) = &key.timeframe {
        meta.push(KeyValue::new("cracktrader.timeframe".into(), tf.clone()));
    }
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_key_value_metadata(Some(meta))
        .build();
    let mut bytes = Vec::new();
    let parquet_error = |e: parquet::errors::ParquetError| fail(e.to_string());
    let mut writer =
        ArrowWriter::try_new(&mut bytes, schema, Some(props)).map_err(parquet_error)?;
    writer.write(&batch).map_err(parquet_error)?;
    writer.close().map_err(parquet_error)?;
    Ok(bytes)
}

/// Writes `bytes` to `path`, creating its directories, and syncs it.
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let fail = |cause| Error::Write {
        path: path.to_owned(),
        cause,
    };
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(fail)?;
    }
    let mut file = fs::File::create(path).map_err(fail)?;
    std::io::Write::write_all(&mut file, bytes).map_err(fail)?;
    file.sync_all().map_err(fail)
}

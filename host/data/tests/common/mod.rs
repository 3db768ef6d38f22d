//! Helpers of the data tests: instruments, files, options.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use cracktrader_data::{read_file, Error, Item, Precision, ReadOptions};
use cracktrader_model::InstrumentId;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

/// An instrument with prices to `tick` and quantities to `lot`.
pub fn precision(tick: &str, lot: &str) -> Precision {
    let tick_size: rust_decimal::Decimal = tick.parse().unwrap();
    let lot_size: rust_decimal::Decimal = lot.parse().unwrap();
    Precision {
        instrument: InstrumentId(0),
        symbol: "EURUSD".into(),
        tick_size,
        lot_size,
        price_scale: tick_size.normalize().scale() as u8,
        qty_scale: lot_size.normalize().scale() as u8,
    }
}

/// EURUSD: prices to 0.00001, whole units.
pub fn eurusd() -> Precision {
    precision("0.00001", "1")
}

/// The workspace's root directory.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Writes `text` to `name` in `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes `columns` as a Parquet file compressed with `compression`.
pub fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>, compression: Compression) {
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let props = WriterProperties::builder()
        .set_compression(compression)
        .set_max_row_group_row_count(Some(3))
        .build();
    let file = std::fs::File::create(path).unwrap();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

/// An Arrow array as a column.
pub fn col(array: impl arrow_array::Array + 'static) -> ArrayRef {
    Arc::new(array)
}

/// Reads `path` under `options` as EURUSD `T`s.
pub fn read<T: Item>(path: &Path, options: &ReadOptions) -> Result<Vec<T>, Error> {
    read_file(path, options, &eurusd())
}

/// The error reading `path` gives, as text.
pub fn error<T: Item + std::fmt::Debug>(path: &Path, options: &ReadOptions) -> String {
    read::<T>(path, options).unwrap_err().to_string()
}

//! How fast bars load from CSV, from a Parquet file and from the catalog
//! (docs/benchmarks.md, "Market data input").
//!
//! ```sh
//! cargo run --release -p cracktrader-data --example read_speed -- [--bars N] [--rounds R] [--keep DIR]
//! ```
//!
//! The series is the prices of the bundled `examples/data/EURUSD.csv`
//! (5000 bars) repeated to `--bars` bars (default 1,000,000), one a minute
//! from its first time: real prices, not a generator. It is written as CSV
//! (the bundled layout), as Parquet the way pandas writes it (float64
//! columns, a UTC nanosecond timestamp, snappy) and imported into a
//! catalog (decimal128, zstd); each is read whole `--rounds` times (default
//! 3) and the median is printed. All three must give the same bars.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, Float64Array, RecordBatch, TimestampNanosecondArray};
use cracktrader_data::catalog::{Catalog, DatasetKey};
use cracktrader_data::{read_file, DataKind, Precision, ReadOptions, TimeRange};
use cracktrader_model::{from_scaled, Bar, InstrumentId};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use rust_decimal::prelude::ToPrimitive;

fn main() {
    let mut bars = 1_000_000usize;
    let mut rounds = 3usize;
    let mut keep: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--bars" => bars = value().parse().expect("--bars N"),
            "--rounds" => rounds = value().parse().expect("--rounds R"),
            "--keep" => keep = Some(value().into()),
            other => panic!("unknown argument {other}"),
        }
    }
    let temp = tempfile::tempdir().expect("temporary directory");
    let dir = keep.unwrap_or_else(|| temp.path().to_owned());
    std::fs::create_dir_all(&dir).expect("output directory");
    let precision = Precision {
        instrument: InstrumentId(0),
        symbol: "EURUSD".into(),
        tick_size: "0.00001".parse().expect("decimal"),
        lot_size: "1".parse().expect("decimal"),
        price_scale: 5,
        qty_scale: 0,
    };

    let csv = dir.join("bars.csv");
    write_csv(&csv, bars);
    let options = ReadOptions::default();
    let (csv_time, from_csv) = median(rounds, || {
        read_file::<Bar>(&csv, &options, &precision).expect("read CSV")
    });
    assert_eq!(from_csv.len(), bars);

    let parquet = dir.join("bars.parquet");
    write_pandas_parquet(&parquet, &from_csv);
    let (parquet_time, from_parquet) = median(rounds, || {
        read_file::<Bar>(&parquet, &options, &precision).expect("read Parquet")
    });
    assert_eq!(from_parquet, from_csv, "Parquet gives the CSV's bars");

    let root = dir.join("catalog");
    let key = DatasetKey::new(DataKind::Bars, "EURUSD", Some("1m")).expect("key");
    let started = Instant::now();
    Catalog::open_or_create(&root)
        .and_then(|mut c| c.import(&csv, &options, &key))
        .expect("import");
    let import_time = started.elapsed();
    let catalog = Catalog::open(&root).expect("catalog");
    let (catalog_time, from_catalog) = median(rounds, || {
        catalog
            .read::<Bar>(&key, TimeRange::default(), &precision)
            .expect("read catalog")
    });
    assert_eq!(from_catalog, from_csv, "the catalog gives the CSV's bars");

    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or_default();
    let catalog_size: u64 = catalog.datasets()[0]
        .partitions
        .iter()
        .map(|p| size(&root.join(&p.file)))
        .sum();
    let rate = |t: Duration| bars as f64 / t.as_secs_f64();
    println!("bars: {bars}, rounds: {rounds} (median)");
    println!(
        "CSV                       {:>8.1} ms  {:>10.0} bars/s  {:>6.1} MB",
        ms(csv_time),
        rate(csv_time),
        mb(size(&csv))
    );
    println!(
        "Parquet (float64, snappy) {:>8.1} ms  {:>10.0} bars/s  {:>6.1} MB  {:.1}x CSV",
        ms(parquet_time),
        rate(parquet_time),
        mb(size(&parquet)),
        ratio(csv_time, parquet_time)
    );
    println!(
        "catalog (decimal, zstd)   {:>8.1} ms  {:>10.0} bars/s  {:>6.1} MB  {:.1}x CSV  ({} partitions, sha256 checked; import {:.0} ms)",
        ms(catalog_time),
        rate(catalog_time),
        mb(catalog_size),
        ratio(csv_time, catalog_time),
        catalog.datasets()[0].partitions.len(),
        ms(import_time)
    );
}

/// Runs `f` `rounds` times; the median time and the last result.
fn median<T>(rounds: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        last = Some(std::hint::black_box(f()));
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], last.expect("one round"))
}

fn ms(t: Duration) -> f64 {
    t.as_secs_f64() * 1000.0
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_000_000.0
}

fn ratio(slow: Duration, fast: Duration) -> f64 {
    slow.as_secs_f64() / fast.as_secs_f64()
}

/// The bundled EURUSD bars' prices repeated to `n` bars, one a minute.
fn write_csv(path: &Path, n: usize) {
    let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/EURUSD.csv");
    let text = std::fs::read_to_string(bundled).expect("bundled EURUSD.csv");
    let rows: Vec<&str> = text.lines().skip(1).collect();
    let first = rows[0].split_once(',').expect("a time column").0;
    let start =
        chrono::NaiveDateTime::parse_from_str(first, "%Y-%m-%d %H:%M:%S").expect("bundled time");
    let mut out = String::with_capacity(n * 56);
    out.push_str(",Open,High,Low,Close,Volume\n");
    for i in 0..n {
        let values = rows[i % rows.len()]
            .split_once(',')
            .expect("a time column")
            .1;
        let minutes = i64::try_from(i).expect("bars fit");
        let time = start + chrono::Duration::minutes(minutes);
        out += &format!("{},{values}\n", time.format("%Y-%m-%d %H:%M:%S"));
    }
    std::fs::write(path, out).expect("write CSV");
}

/// `bars` as pandas' `to_parquet` writes a float frame with a UTC index.
fn write_pandas_parquet(path: &Path, bars: &[Bar]) {
    let float = |f: fn(&Bar) -> i64, scale: u8| -> ArrayRef {
        Arc::new(Float64Array::from(
            bars.iter()
                .map(|b| from_scaled(f(b), scale).to_f64().expect("a float"))
                .collect::<Vec<_>>(),
        ))
    };
    let time: ArrayRef = Arc::new(
        TimestampNanosecondArray::from(bars.iter().map(|b| b.time).collect::<Vec<_>>())
            .with_timezone("UTC"),
    );
    let batch = RecordBatch::try_from_iter([
        ("Open", float(|b| b.open, 5)),
        ("High", float(|b| b.high, 5)),
        ("Low", float(|b| b.low, 5)),
        ("Close", float(|b| b.close, 5)),
        ("Volume", float(|b| b.volume, 0)),
        ("time", time),
    ])
    .expect("batch");
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let file = std::fs::File::create(path).expect("create Parquet file");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

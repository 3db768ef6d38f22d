//! Parquet input: the same rows as CSV give the same items, whatever the
//! column types; bad values are errors naming the row and column.

mod common;

use arrow_array::{
    Date32Array, Decimal128Array, Float32Array, Float64Array, Int64Array, StringArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use common::{col, error, read, write, write_parquet};
use cracktrader_data::ReadOptions;
use cracktrader_model::{Bar, Quote, Trade};
use parquet::basic::{Compression, ZstdLevel};

const CSV: &str = "time,Open,High,Low,Close,Volume\n\
2017-04-19 09:00:00,1.0716,1.0722,1.07083,1.07219,1413\n\
2017-04-19 10:00:00,1.07214,1.07296,1.07214,1.0726,1241\n\
2017-04-19 11:00:00,1.0726,1.0729,1.07196,1.07213,1108.9\n\
2017-04-19 12:00:00,1.07212,1.07258,1.07168,1.07246,1040\n";

const SECONDS: [i64; 4] = [1_492_592_400, 1_492_596_000, 1_492_599_600, 1_492_603_200];
const OPEN: [f64; 4] = [1.0716, 1.07214, 1.0726, 1.07212];
const HIGH: [f64; 4] = [1.0722, 1.07296, 1.0729, 1.07258];
const LOW: [f64; 4] = [1.07083, 1.07214, 1.07196, 1.07168];
const CLOSE: [f64; 4] = [1.07219, 1.0726, 1.07213, 1.07246];
const VOLUME: [f64; 4] = [1413.0, 1241.0, 1108.9, 1040.0];

fn csv_bars() -> Vec<Bar> {
    let dir = tempfile::tempdir().unwrap();
    read(&write(dir.path(), "b.csv", CSV), &ReadOptions::default()).unwrap()
}

fn floats(values: [f64; 4]) -> Float64Array {
    Float64Array::from(values.to_vec())
}

/// Decimals at 5 places, as mantissas.
fn decimals(values: [f64; 4]) -> Decimal128Array {
    let m: Vec<i128> = values
        .iter()
        .map(|v| (v * 100_000.0).round() as i128)
        .collect();
    Decimal128Array::from(m)
        .with_precision_and_scale(18, 5)
        .unwrap()
}

fn strings(values: [f64; 4]) -> StringArray {
    StringArray::from(values.iter().map(|v| v.to_string()).collect::<Vec<_>>())
}

#[test]
fn float_columns_and_timestamp_with_zone_equal_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.parquet");
    let millis: Vec<i64> = SECONDS.iter().map(|s| s * 1000).collect();
    write_parquet(
        &path,
        vec![
            ("Open", col(floats(OPEN))),
            ("High", col(floats(HIGH))),
            ("Low", col(floats(LOW))),
            ("Close", col(floats(CLOSE))),
            ("Volume", col(floats(VOLUME))),
            // pandas writes its index last, with a zone.
            (
                "Date",
                col(TimestampMillisecondArray::from(millis).with_timezone("UTC")),
            ),
        ],
        Compression::SNAPPY,
    );
    assert_eq!(
        read::<Bar>(&path, &ReadOptions::default()).unwrap(),
        csv_bars()
    );
}

#[test]
fn decimal_string_and_integer_columns_equal_csv() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.parquet");
    let nanos: Vec<i64> = SECONDS.iter().map(|s| s * 1_000_000_000).collect();
    write_parquet(
        &path,
        vec![
            ("time", col(TimestampNanosecondArray::from(nanos))),
            ("open", col(decimals(OPEN))),
            ("high", col(strings(HIGH))),
            ("low", col(decimals(LOW))),
            (
                "close",
                col(Float32Array::from(
                    CLOSE.iter().map(|v| *v as f32).collect::<Vec<_>>(),
                )),
            ),
            ("volume", col(strings(VOLUME))),
        ],
        Compression::ZSTD(ZstdLevel::default()),
    );
    assert_eq!(
        read::<Bar>(&path, &ReadOptions::default()).unwrap(),
        csv_bars()
    );
    // Epoch integers and string times, found by mapping.
    let path = dir.path().join("c.parquet");
    write_parquet(
        &path,
        vec![
            ("ts", col(Int64Array::from(SECONDS.to_vec()))),
            ("o", col(floats(OPEN))),
            ("h", col(floats(HIGH))),
            ("l", col(floats(LOW))),
            ("c", col(floats(CLOSE))),
        ],
        Compression::UNCOMPRESSED,
    );
    let options = ReadOptions {
        columns: "time=ts,open=o,high=h,low=l,close=c".parse().unwrap(),
        ..Default::default()
    };
    let bars = read::<Bar>(&path, &options).unwrap();
    let without_volume: Vec<Bar> = csv_bars()
        .into_iter()
        .map(|b| Bar { volume: 0, ..b })
        .collect();
    assert_eq!(bars, without_volume);
}

#[test]
fn format_option_reads_parquet_of_any_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.data");
    write_parquet(
        &path,
        vec![
            ("time", col(TimestampSecondArray::from(SECONDS.to_vec()))),
            ("Open", col(floats(OPEN))),
            ("High", col(floats(HIGH))),
            ("Low", col(floats(LOW))),
            ("Close", col(floats(CLOSE))),
            ("Volume", col(floats(VOLUME))),
        ],
        Compression::SNAPPY,
    );
    let err = error::<Bar>(&path, &ReadOptions::default());
    assert!(err.contains("set format = \"parquet\""), "{err}");
    let options = ReadOptions {
        format: Some(cracktrader_data::Format::Parquet),
        ..Default::default()
    };
    assert_eq!(read::<Bar>(&path, &options).unwrap(), csv_bars());
}

#[test]
fn naive_timestamps_and_dates_take_the_time_zone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.parquet");
    write_parquet(
        &path,
        vec![
            ("day", col(Date32Array::from(vec![17275]))), // 2017-04-19
            ("price", col(floats([1.0716; 4]).slice(0, 1))),
            ("size", col(Int64Array::from(vec![3]))),
        ],
        Compression::SNAPPY,
    );
    let utc = read::<Trade>(&path, &ReadOptions::default()).unwrap();
    assert_eq!(
        (utc[0].time, utc[0].price, utc[0].size),
        (1_492_560_000_000_000_000, 107160, 3)
    );
    let options = ReadOptions {
        timezone: Some("Europe/Berlin".parse().unwrap()),
        ..Default::default()
    };
    let berlin = read::<Trade>(&path, &options).unwrap();
    assert_eq!(berlin[0].time, utc[0].time - 2 * 3_600_000_000_000);
}

#[test]
fn bad_values_name_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let quote = |name: &str, bid: Float64Array| {
        let path = dir.path().join(name);
        write_parquet(
            &path,
            vec![
                (
                    "time",
                    col(TimestampSecondArray::from(SECONDS.to_vec()).with_timezone("+00:00")),
                ),
                ("bid", col(bid)),
                ("bid_size", col(Int64Array::from(vec![1, 1, 1, 1]))),
                ("ask", col(floats([2.0; 4]))),
                ("ask_size", col(Int64Array::from(vec![1, 1, 1, 1]))),
            ],
            Compression::SNAPPY,
        );
        error::<Quote>(&path, &ReadOptions::default()).replace(&path.display().to_string(), name)
    };
    // Row 4 is in the second row group (of 3 rows each).
    assert_eq!(
        quote(
            "nan.parquet",
            Float64Array::from(vec![1.0, 1.0, 1.0, f64::NAN])
        ),
        "nan.parquet: row 4: column bid: NaN is not a number a decimal holds (28 digits)"
    );
    assert_eq!(
        quote(
            "null.parquet",
            Float64Array::from(vec![Some(1.0), None, Some(1.0), Some(1.0)])
        ),
        "null.parquet: row 2: column bid: missing value (null)"
    );
    assert_eq!(
        quote("fine.parquet", floats([1.0, 1.0, 1.0000001, 1.0])),
        "fine.parquet: row 3: column bid: 1.0000001 is finer than tick size 0.00001 allows for EURUSD"
    );
    let path = dir.path().join("types.parquet");
    write_parquet(
        &path,
        vec![
            ("time", col(floats([1.0; 4]))),
            ("price", col(floats([1.0; 4]))),
            ("size", col(floats([1.0; 4]))),
        ],
        Compression::SNAPPY,
    );
    let err = error::<Trade>(&path, &ReadOptions::default());
    assert!(err.ends_with(": schema: column time: type Float64 is not a time: expected a timestamp, date, integer or string column"), "{err}");
    let garbage = write(dir.path(), "g.parquet", "not parquet at all");
    assert!(
        error::<Trade>(&garbage, &ReadOptions::default()).contains("not a readable Parquet file")
    );
}

#[test]
fn damaged_files_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.parquet");
    write_parquet(
        &good,
        vec![
            ("time", col(TimestampSecondArray::from(SECONDS.to_vec()))),
            ("price", col(floats(OPEN))),
            ("size", col(Int64Array::from(vec![1, 2, 3, 4]))),
        ],
        Compression::SNAPPY,
    );
    let bytes = std::fs::read(&good).unwrap();
    let bad = dir.path().join("bad.parquet");
    let mut refused = 0;
    for cut in (0..bytes.len()).step_by(5) {
        for flip in [None, Some(cut)] {
            let mut damaged = bytes.clone();
            match flip {
                Some(i) => damaged[i] ^= 0x5a,
                None => damaged.truncate(cut),
            }
            std::fs::write(&bad, &damaged).unwrap();
            // Either an error naming the file, or (a flip in a value) rows.
            match read::<Trade>(&bad, &ReadOptions::default()) {
                Err(e) => {
                    assert!(e.to_string().starts_with(&bad.display().to_string()), "{e}");
                    refused += 1;
                }
                Ok(trades) => assert!(trades.len() <= 4),
            }
        }
    }
    assert!(refused > 0);
}

//! The catalog: import, read back, re-import, verify.

mod common;

use std::path::Path;

use common::{eurusd, write};
use cracktrader_data::catalog::{Catalog, DatasetKey};
use cracktrader_data::{read_file, DataKind, ReadOptions, TimeRange};
use cracktrader_model::{Bar, Trade};

fn eurusd_csv() -> std::path::PathBuf {
    common::workspace().join("examples/data/EURUSD.csv")
}

fn key() -> DatasetKey {
    DatasetKey::new(DataKind::Bars, "EURUSD", Some("1h")).unwrap()
}

fn import(root: &Path, file: &Path) -> Result<cracktrader_data::catalog::ImportSummary, String> {
    Catalog::open_or_create(root)
        .unwrap()
        .import(file, &ReadOptions::default(), &key())
        .map_err(|e| e.to_string())
}

#[test]
fn csv_round_trips_through_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("catalog");
    let summary = import(&root, &eurusd_csv()).unwrap();
    let csv: Vec<Bar> = read_file(&eurusd_csv(), &ReadOptions::default(), &eurusd()).unwrap();
    assert_eq!(summary.rows_read, csv.len());
    assert_eq!(summary.rows_added, csv.len());
    let catalog = Catalog::open(&root).unwrap();
    let back: Vec<Bar> = catalog
        .read(&key(), TimeRange::default(), &eurusd())
        .unwrap();
    assert_eq!(back, csv);
    // The layout: monthly partitions under the manifest.
    let set = catalog.dataset(&key()).unwrap();
    assert_eq!(set.rows(), csv.len() as u64);
    let first = &set.partitions[0];
    assert_eq!(
        first.file,
        format!(
            "ohlcv/EURUSD/1h/{}/{}.parquet",
            &first.month[..4],
            first.month
        )
    );
    assert!(root.join(&first.file).exists());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["schema_version"], 1);
    let columns: Vec<String> = catalog
        .schema(first)
        .unwrap()
        .into_iter()
        .map(|(n, t)| format!("{n}: {t}"))
        .collect();
    assert_eq!(columns[0], "time: Timestamp(ns, \"UTC\")");
    assert!(
        columns[1].starts_with("open: Decimal128(38, 5)"),
        "{columns:?}"
    );
    // A range: [start, end).
    let start = cracktrader_data::parse_time("2017-05-01").unwrap();
    let end = cracktrader_data::parse_time("2017-05-02").unwrap();
    let day: Vec<Bar> = catalog
        .read(
            &key(),
            TimeRange {
                start: Some(start),
                end: Some(end),
            },
            &eurusd(),
        )
        .unwrap();
    let want: Vec<Bar> = csv
        .iter()
        .filter(|b| b.time >= start && b.time < end)
        .copied()
        .collect();
    assert!(!want.is_empty());
    assert_eq!(day, want);
    let err = catalog
        .read::<Bar>(
            &key(),
            TimeRange {
                start: Some(cracktrader_data::parse_time("2030-01-01").unwrap()),
                end: None,
            },
            &eurusd(),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("no bars of ohlcv EURUSD 1h from 2030-01-01T00:00:00Z"),
        "{err}"
    );
}

#[test]
fn reimports_merge_and_conflicts_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("catalog");
    let text = std::fs::read_to_string(eurusd_csv()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The first half, then an overlapping second part, then all of it.
    let head = write(dir.path(), "head.csv", &lines[..lines.len() / 2].join("\n"));
    let tail = write(
        dir.path(),
        "tail.csv",
        &[&[lines[0]], &lines[lines.len() / 3..]].concat().join("\n"),
    );
    import(&root, &head).unwrap();
    let summary = import(&root, &tail).unwrap();
    assert!(
        summary.rows_added > 0 && summary.rows_added < summary.rows_read,
        "{summary:?}"
    );
    let again = import(&root, &eurusd_csv()).unwrap();
    assert_eq!((again.rows_added, again.written.len()), (0, 0), "{again:?}");
    let csv: Vec<Bar> = read_file(&eurusd_csv(), &ReadOptions::default(), &eurusd()).unwrap();
    let catalog = Catalog::open(&root).unwrap();
    assert_eq!(
        catalog
            .read::<Bar>(&key(), TimeRange::default(), &eurusd())
            .unwrap(),
        csv
    );
    // A row at a time already there, with another close: refused, naming
    // both, and the catalog is unchanged.
    let manifest = std::fs::read(root.join("manifest.json")).unwrap();
    let mut cols: Vec<&str> = lines[10].split(',').collect();
    cols[4] = cols[3]; // close = low
    let changed = cols.join(",");
    let conflict = write(
        dir.path(),
        "conflict.csv",
        &format!("{}\n{}\n", lines[0], changed),
    );
    let err = import(&root, &conflict).unwrap_err();
    assert!(
        err.contains("conflict.csv:2: bars of ohlcv EURUSD 1h at 2017-04-"),
        "{err}"
    );
    assert!(err.contains("is in the catalog with other values"), "{err}");
    assert_eq!(std::fs::read(root.join("manifest.json")).unwrap(), manifest);
    assert_eq!(
        Catalog::open(&root)
            .unwrap()
            .read::<Bar>(&key(), TimeRange::default(), &eurusd())
            .unwrap(),
        csv
    );
}

#[test]
fn trades_merge_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("catalog");
    let key = DatasetKey::new(DataKind::Trades, "EURUSD", None).unwrap();
    let mut catalog = Catalog::open_or_create(&root).unwrap();
    let a = write(dir.path(), "a.csv", "time,price,size\n2017-04-19T00:00:00Z,1.1,1\n2017-04-19T00:00:00Z,1.2,2\n2017-05-01T00:00:00Z,1.3,3\n");
    let b = write(
        dir.path(),
        "b.csv",
        "time,price,size\n2017-05-01T00:00:00Z,1.3,3\n2017-05-02T00:00:00Z,1.4,4\n",
    );
    catalog.import(&a, &ReadOptions::default(), &key).unwrap();
    let summary = catalog.import(&b, &ReadOptions::default(), &key).unwrap();
    assert_eq!(
        (summary.rows_added, summary.written.len(), summary.unchanged),
        (1, 1, 0)
    );
    let trades: Vec<Trade> = catalog.read(&key, TimeRange::default(), &eurusd()).unwrap();
    assert_eq!(
        trades.iter().map(|t| t.size).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    // One print less at a time already there is a conflict.
    let c = write(
        dir.path(),
        "c.csv",
        "time,price,size\n2017-04-19T00:00:00Z,1.1,1\n",
    );
    assert!(catalog
        .import(&c, &ReadOptions::default(), &key)
        .unwrap_err()
        .to_string()
        .contains("with other values"));
}

#[test]
fn verify_and_reads_catch_changed_partitions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("catalog");
    import(&root, &eurusd_csv()).unwrap();
    let catalog = Catalog::open(&root).unwrap();
    assert!(catalog.verify().is_empty());
    let file = catalog.dataset(&key()).unwrap().partitions[1].file.clone();
    let mut bytes = std::fs::read(root.join(&file)).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(root.join(&file), bytes).unwrap();
    let damage = catalog.verify();
    assert_eq!(damage.len(), 1);
    assert_eq!(damage[0].file, file);
    assert!(
        damage[0].problem.contains("the manifest recorded"),
        "{}",
        damage[0].problem
    );
    let err = catalog
        .read::<Bar>(&key(), TimeRange::default(), &eurusd())
        .unwrap_err()
        .to_string();
    assert!(err.contains("sha256 is"), "{err}");
}

#[test]
fn manifests_and_keys_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let err = Catalog::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("no manifest.json: not a catalog"), "{err}");
    std::fs::write(
        dir.path().join("manifest.json"),
        r#"{"schema_version": 2, "datasets": []}"#,
    )
    .unwrap();
    assert!(Catalog::open(dir.path())
        .unwrap_err()
        .to_string()
        .contains("schema_version 2; this cracktrader reads 1"));
    std::fs::write(
        dir.path().join("manifest.json"),
        r#"{"schema_version": 1, "datasets": [{"category": "ohlcv", "symbol": "X", "timeframe": "1m", "partitions": [{"month": "2017-01", "file": "../../etc/passwd", "rows": 1, "first": "2017-01-01T00:00:00Z", "last": "2017-01-01T00:00:00Z", "sha256": "00"}]}]}"#,
    )
    .unwrap();
    assert!(Catalog::open(dir.path())
        .unwrap_err()
        .to_string()
        .contains("is not where the layout puts it"));
    assert!(DatasetKey::new(DataKind::Bars, "../x", Some("1m")).is_err());
    assert!(DatasetKey::new(DataKind::Bars, "X", None).is_err());
    assert!(DatasetKey::new(DataKind::Bars, "X", Some("01m")).is_err());
    assert!(DatasetKey::new(DataKind::Trades, "X", Some("1m")).is_err());
    assert!(DatasetKey::new(DataKind::Bars, "BTC-USD", Some("15m")).is_ok());
}

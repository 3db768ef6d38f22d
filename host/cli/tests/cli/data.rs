//! `cracktrader data` and `[[data]]` entries as a user meets them: a file
//! imported into the catalog backtests exactly as the file does, damage is
//! named, and files in other layouts backtest like the bundled one.

use std::path::{Path, PathBuf};
use std::process::Output;

use super::{command, plugins, root, text};

fn data(args: &[&str]) -> Output {
    command()
        .arg("data")
        .args(args)
        .output()
        .expect("run cracktrader data")
}

/// The example session in `dir`, with its `[[data]]` body replaced.
fn session(dir: &Path, name: &str, data_entry: &str) -> PathBuf {
    let example = std::fs::read_to_string(root().join("examples/sma_eurusd.toml")).unwrap();
    let plugin = plugins().join("sma-cross.wasm");
    let text = example
        .replace("path = \"data/EURUSD.csv\"", data_entry)
        .replace(
            "../target/plugins/sma-cross.wasm",
            &plugin.display().to_string(),
        );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Backtests `session` and returns its JSON report and fills.
fn backtest(session: &Path) -> (String, String) {
    let report = session.with_extension("json");
    let out = command()
        .args(["backtest", "--no-journal"])
        .arg(session)
        .arg("--report")
        .arg(&report)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let fills = report.with_file_name(format!(
        "{}-fills.csv",
        report.file_stem().unwrap().to_string_lossy()
    ));
    (
        std::fs::read_to_string(&report).unwrap(),
        std::fs::read_to_string(fills).unwrap(),
    )
}

#[test]
fn imported_csv_backtests_like_the_csv() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog");
    let catalog_arg = catalog.to_str().unwrap();
    let import = [
        "import",
        "examples/data/EURUSD.csv",
        "--catalog",
        catalog_arg,
        "--symbol",
        "EURUSD",
        "--kind",
        "ohlcv",
        "--timeframe",
        "1h",
    ];
    let out = data(&import);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("5000 rows read, 5000 new; 11 partitions written"),
        "{}",
        text(&out.stdout)
    );
    // Again: nothing new, nothing written.
    let out = data(&import);
    assert!(
        text(&out.stdout).contains("5000 rows read, 0 new; 0 partitions written, 11 unchanged"),
        "{}",
        text(&out.stdout)
    );

    let ls = text(&data(&["ls", "--catalog", catalog_arg]).stdout);
    assert!(ls.contains("ohlcv   EURUSD           1h                11         5000  2017-04-19T09:00:00Z to 2018-02-07T15:00:00Z"), "{ls}");
    let inspect = text(&data(&["inspect", "--catalog", catalog_arg, "--symbol", "EURUSD"]).stdout);
    for want in [
        "ohlcv EURUSD 1h: 5000 rows in 11 partitions",
        "time       Timestamp(ns, \"UTC\")",
        "close      Decimal128(38, 5)",
        "ohlcv/EURUSD/1h/2017/2017-04.parquet        183 rows",
    ] {
        assert!(inspect.contains(want), "{want:?} in {inspect}");
    }
    let out = data(&["verify", "--catalog", catalog_arg]);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "11 partitions verified\n");

    let from_csv = backtest(&session(
        dir.path(),
        "csv.toml",
        &format!(
            "path = \"{}\"",
            root().join("examples/data/EURUSD.csv").display()
        ),
    ));
    let from_catalog = backtest(&session(
        dir.path(),
        "cat.toml",
        "catalog = \"catalog\"\ntimeframe = \"1h\"",
    ));
    assert_eq!(from_csv, from_catalog);

    // One flipped byte: verify names the partition and exits 1.
    let partition = catalog.join("ohlcv/EURUSD/1h/2017/2017-06.parquet");
    let mut bytes = std::fs::read(&partition).unwrap();
    bytes[100] ^= 0x20;
    std::fs::write(&partition, bytes).unwrap();
    let out = data(&["verify", "--catalog", catalog_arg]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "1 of 11 partitions failed verification: ohlcv/EURUSD/1h/2017/2017-06.parquet"
        ),
        "{err}"
    );
    // And a backtest over that month refuses it.
    let out = command()
        .args(["backtest", "--no-journal"])
        .arg(session(dir.path(), "june.toml", "catalog = \"catalog\"\ntimeframe = \"1h\"\nstart = \"2017-06-01\"\nend = \"2017-07-01\""))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("2017-06.parquet: sha256 is"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn conflicting_reimport_exits_1_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = dir.path().join("catalog");
    let file = dir.path().join("one.csv");
    std::fs::write(
        &file,
        ",Open,High,Low,Close,Volume\n2017-04-19 09:00:00,1.0716,1.0722,1.07083,1.07219,1413\n",
    )
    .unwrap();
    let args = |f: &Path| {
        vec![
            "import".to_owned(),
            f.display().to_string(),
            "--catalog".into(),
            catalog.display().to_string(),
            "--symbol".into(),
            "EURUSD".into(),
            "--timeframe".into(),
            "1h".into(),
        ]
    };
    assert!(command()
        .arg("data")
        .args(args(&file))
        .output()
        .unwrap()
        .status
        .success());
    let manifest = std::fs::read(catalog.join("manifest.json")).unwrap();
    let other = dir.path().join("other.csv");
    std::fs::write(
        &other,
        ",Open,High,Low,Close,Volume\n2017-04-19 09:00:00,1.0716,1.0722,1.07083,1.07200,1413\n",
    )
    .unwrap();
    let out = command().arg("data").args(args(&other)).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("other.csv:2: bars of ohlcv EURUSD 1h at 2017-04-19T09:00:00Z is in the catalog with other values"), "{err}");
    assert_eq!(
        std::fs::read(catalog.join("manifest.json")).unwrap(),
        manifest
    );
}

#[test]
fn other_layouts_backtest_like_the_bundled_file() {
    // The example data as a pandas user in Europe might have it: `;`
    // separated, day-first times with an offset, newest first, an extra
    // column, the columns renamed and reordered.
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(root().join("examples/data/EURUSD.csv")).unwrap();
    let mut rows: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let (date, time) = f[0].split_once(' ').unwrap();
            let (y, rest) = date.split_once('-').unwrap();
            let (m, d) = rest.split_once('-').unwrap();
            format!(
                "{};{};{};{};{};{d}/{m}/{y} {time} +0000;x",
                f[4], f[2], f[3], f[1], f[5]
            )
        })
        .collect();
    rows.reverse();
    let file = dir.path().join("eurusd_eu.csv");
    std::fs::write(
        &file,
        format!(
            "Schluss;Hoch;Tief;Eroeffnung;Umsatz;Zeit;Notiz\n{}\n",
            rows.join("\n")
        ),
    )
    .unwrap();
    let entry = format!(
        "path = \"{}\"\ndelimiter = \";\"\ntime_format = \"%d/%m/%Y %H:%M:%S %z\"\nsort = true\ncolumns = {{ time = \"Zeit\", open = \"Eroeffnung\", high = \"Hoch\", low = \"Tief\", close = \"Schluss\", volume = \"Umsatz\" }}",
        file.display()
    );
    let bundled = backtest(&session(
        dir.path(),
        "bundled.toml",
        &format!(
            "path = \"{}\"",
            root().join("examples/data/EURUSD.csv").display()
        ),
    ));
    assert_eq!(backtest(&session(dir.path(), "eu.toml", &entry)), bundled);
    // Without `sort`, the error says which option reads the file.
    let unsorted = entry.replace("sort = true\n", "");
    let out = command()
        .arg("backtest")
        .arg(session(dir.path(), "unsorted.toml", &unsorted))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("eurusd_eu.csv:3: column Zeit: 2018-02-07T14:00:00Z is not after the previous row's 2018-02-07T15:00:00Z; set sort = true"), "{}", text(&out.stderr));
    // Bad keys are named by validation.
    let bad = entry.replace("sort = true\n", "sort = true\ntimeframe = \"1h\"\n");
    let out = command()
        .arg("backtest")
        .arg(session(dir.path(), "bad.toml", &bad))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("data[0] (EURUSD).timeframe: only a `catalog` entry has one"),
        "{}",
        text(&out.stderr)
    );
}

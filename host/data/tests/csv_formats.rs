//! Each CSV layout a user may have: accepted, or refused with a message
//! naming the option that reads it.

mod common;

use common::{error, read, write};
use cracktrader_data::ReadOptions;
use cracktrader_model::{Bar, Quote, Trade};

/// 2004-08-19T00:00:00Z and the next day, in nanoseconds.
const DAY1: i64 = 1_092_873_600_000_000_000;
const DAY2: i64 = DAY1 + 86_400_000_000_000;

fn options(toml_like: &[(&str, &str)]) -> ReadOptions {
    let mut o = ReadOptions::default();
    for (key, value) in toml_like {
        match *key {
            "columns" => o.columns = value.parse().unwrap(),
            "time_format" => o.time_format = value.parse().unwrap(),
            "timezone" => o.timezone = Some(value.parse().unwrap()),
            "delimiter" => o.delimiter = value.parse().unwrap(),
            "sort" => o.sort = true,
            other => panic!("{other}"),
        }
    }
    o
}

/// The two GOOG-like bars every layout below spells.
fn two_bars(volume: [i64; 2]) -> Vec<(i64, i64, i64, i64, i64, i64)> {
    vec![
        (DAY1, 10000000, 10406000, 9596000, 10034000, volume[0]),
        (DAY2, 10101000, 10908000, 10050000, 10831000, volume[1]),
    ]
}

fn bars(text: &str, opts: &ReadOptions) -> Vec<(i64, i64, i64, i64, i64, i64)> {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bars.csv", text);
    read::<Bar>(&path, opts)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .iter()
        .map(|b| (b.time, b.open, b.high, b.low, b.close, b.volume))
        .collect()
}

fn refused(text: &str, opts: &ReadOptions) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "bars.csv", text);
    error::<Bar>(&path, opts).replace(&path.display().to_string(), "bars.csv")
}

#[test]
fn bundled_layout_is_read_as_before() {
    let text = ",Open,High,Low,Close,Volume\n2004-08-19,100,104.06,95.96,100.34,22351900\n2004-08-20,101.01,109.08,100.5,108.31,11428600\n";
    assert_eq!(
        bars(text, &ReadOptions::default()),
        two_bars([22351900, 11428600])
    );
}

#[test]
fn yahoo_layout_with_adj_close_is_accepted() {
    let text = "Date,Open,High,Low,Close,Adj Close,Volume\n2004-08-19,100,104.06,95.96,100.34,50.22,22351900\n2004-08-20,101.01,109.08,100.5,108.31,54.21,11428600\n";
    assert_eq!(
        bars(text, &ReadOptions::default()),
        two_bars([22351900, 11428600])
    );
    // The adjusted close falls outside the unadjusted range: mapped, it is
    // refused as an inconsistent bar rather than silently used.
    let err = refused(text, &options(&[("columns", "close=Adj Close")]));
    assert!(err.starts_with("bars.csv:2: inconsistent bar"), "{err}");
}

#[test]
fn reordered_and_lowercase_columns_are_found_by_name() {
    let text = "volume,close,low,high,open,time\n22351900,100.34,95.96,104.06,100,2004-08-19\n11428600,108.31,100.5,109.08,101.01,2004-08-20\n";
    assert_eq!(
        bars(text, &ReadOptions::default()),
        two_bars([22351900, 11428600])
    );
}

#[test]
fn mapped_columns() {
    let text = "ts;o;h;l;c;v;extra\n19/08/2004 00:00;100;104.06;95.96;100.34;22351900;x\n20/08/2004 00:00;101.01;109.08;100.5;108.31;11428600;y\n";
    let opts = options(&[
        ("columns", "time=ts,open=o,high=h,low=l,close=c,volume=v"),
        ("time_format", "%d/%m/%Y %H:%M"),
        ("delimiter", ";"),
    ]);
    assert_eq!(bars(text, &opts), two_bars([22351900, 11428600]));
    let err = refused(
        text,
        &options(&[("columns", "time=stamp"), ("delimiter", ";")]),
    );
    assert!(err.starts_with("bars.csv:1: no column 'Open'"), "{err}");
    let err = refused(
        text,
        &options(&[
            ("columns", "time=stamp,open=o,high=h,low=l,close=c"),
            ("delimiter", ";"),
        ]),
    );
    assert!(
        err.starts_with("bars.csv:1: no column 'stamp' (columns.time)"),
        "{err}"
    );
}

#[test]
fn missing_volume_is_zero() {
    let text = "Date,Open,High,Low,Close\n2004-08-19,100,104.06,95.96,100.34\n2004-08-20,101.01,109.08,100.5,108.31\n";
    assert_eq!(bars(text, &ReadOptions::default()), two_bars([0, 0]));
    // Named but absent is an error, not a zero.
    let err = refused(text, &options(&[("columns", "volume=Vol")]));
    assert!(
        err.starts_with("bars.csv:1: no column 'Vol' (columns.volume)"),
        "{err}"
    );
}

#[test]
fn times_with_z_offsets_and_epochs_are_detected() {
    for (day1, day2) in [
        ("2004-08-19T00:00:00Z", "2004-08-20T00:00:00Z"),
        ("2004-08-19 00:00:00+00:00", "2004-08-20 00:00:00+00:00"),
        ("2004-08-19T02:00:00+02:00", "2004-08-19T20:00:00-04:00"),
        ("1092873600", "1092960000"),
        ("1092873600000", "1092960000000"),
        ("1092873600000000", "1092960000000000"),
        ("1092873600000000000", "1092960000000000000"),
    ] {
        let text = format!("time,Open,High,Low,Close,Volume\n{day1},100,104.06,95.96,100.34,1\n{day2},101.01,109.08,100.5,108.31,1\n");
        assert_eq!(
            bars(&text, &ReadOptions::default()),
            two_bars([1, 1]),
            "{day1}"
        );
    }
}

#[test]
fn epoch_seconds_before_2001_need_the_unit() {
    let text = "time,Open,High,Low,Close\n86400,1,1,1,1\n";
    let err = refused(text, &ReadOptions::default());
    assert!(err.contains("set time_format = \"epoch_s\""), "{err}");
    let got = bars(text, &options(&[("time_format", "epoch_s")]));
    assert_eq!(got[0].0, 86_400_000_000_000);
}

#[test]
fn naive_times_in_a_time_zone() {
    let text = "Date,Open,High,Low,Close\n2004-08-19 09:30:00,100,104.06,95.96,100.34\n";
    let got = bars(text, &options(&[("timezone", "America/New_York")]));
    assert_eq!(got[0].0, DAY1 + (9 * 60 + 30 + 4 * 60) * 60_000_000_000);
}

#[test]
fn semicolons_are_read_with_delimiter_and_named_without() {
    let text = "time;Open;High;Low;Close;Volume\n2004-08-19;100;104.06;95.96;100.34;22351900\n2004-08-20;101.01;109.08;100.5;108.31;11428600\n";
    let err = refused(text, &ReadOptions::default());
    assert!(err.contains("set delimiter = \";\""), "{err}");
    assert_eq!(
        bars(text, &options(&[("delimiter", ";")])),
        two_bars([22351900, 11428600])
    );
    let tabs = text.replace(';', "\t");
    assert!(refused(&tabs, &ReadOptions::default()).contains("set delimiter = \"\\t\""));
    assert_eq!(
        bars(&tabs, &options(&[("delimiter", "\t")])),
        two_bars([22351900, 11428600])
    );
}

#[test]
fn descending_and_repeated_rows_name_sort() {
    let text = ",Open,High,Low,Close,Volume\n2004-08-20,101.01,109.08,100.5,108.31,11428600\n2004-08-19,100,104.06,95.96,100.34,22351900\n2004-08-19,100,104.06,95.96,100.34,22351900\n";
    let err = refused(text, &ReadOptions::default());
    assert_eq!(
        err,
        "bars.csv:3: column time: 2004-08-19T00:00:00Z is not after the previous row's 2004-08-20T00:00:00Z; set sort = true to sort rows by time and drop repeated rows"
    );
    assert_eq!(
        bars(text, &options(&[("sort", "")])),
        two_bars([22351900, 11428600])
    );
    let conflict = text.replace(
        "100.34,22351900\n2004-08-19,100,104.06,95.96,100.34,22351900",
        "100.34,22351900\n2004-08-19,100,104.06,95.96,100.35,22351900",
    );
    let err = refused(&conflict, &options(&[("sort", "")]));
    assert_eq!(err, "bars.csv:4: column time: 2004-08-19T00:00:00Z is also the time of line 3, with other values");
}

#[test]
fn endless_and_empty_headers() {
    let long = format!("{}\n", "x".repeat(cracktrader_data::MAX_LINE_BYTES + 1));
    assert_eq!(
        refused(&long, &ReadOptions::default()),
        "bars.csv:1: line is longer than 65536 bytes"
    );
    let err = refused("\n", &ReadOptions::default());
    assert!(
        err.contains("the columns are none (the header row is empty)"),
        "{err}"
    );
}

#[test]
fn parquet_named_csv_says_so() {
    let err = refused("PAR1\u{15}\u{4}garbage", &ReadOptions::default());
    assert!(err.contains("set format = \"parquet\""), "{err}");
}

#[test]
fn errors_name_line_and_column() {
    let opts = ReadOptions::default();
    let cases = [
        (
            "2017-04-19 09:00:00,1.07,abc,1.06,1.07,1",
            "bars.csv:2: column High: invalid number 'abc'",
        ),
        (
            "2017-04-19 09:00:00,1.07,1.08,1.06,1.071234,1",
            "bars.csv:2: column Close: 1.071234 is finer than tick size 0.00001 allows for EURUSD",
        ),
        (
            "yesterday,1.07,1.08,1.06,1.07,1",
            "bars.csv:2: column time: invalid timestamp 'yesterday'",
        ),
        (
            "2017-04-19 09:00:00,1.07,1.08,1.06",
            "bars.csv:2: expected 6 columns, found 4",
        ),
        (
            "2017-04-19 09:00:00,1.07,1.06,1.08,1.07,1",
            "bars.csv:2: inconsistent bar",
        ),
        (
            "2017-04-19 09:00:00,0,1.06,1.08,1.07,1",
            "bars.csv:2: column Open: 0 is not a valid price",
        ),
        (
            "2017-04-19 09:00:00,1,1,1,1,-1",
            "bars.csv:2: column Volume: -1 is not a valid quantity",
        ),
    ];
    for (row, want) in cases {
        let err = refused(&format!(",Open,High,Low,Close,Volume\n{row}\n"), &opts);
        assert!(err.starts_with(want), "{row}: got {err}");
    }
    assert_eq!(
        refused(",Open,High,Low,Close,Volume\n", &opts),
        "bars.csv: no bars"
    );
    let err = refused("a,b\n", &opts);
    assert!(
        err.starts_with("bars.csv:1: no column 'Open'; the columns are 'a', 'b'"),
        "{err}"
    );
}

#[test]
fn quotes_and_trades_take_the_same_options() {
    let dir = tempfile::tempdir().unwrap();
    let quotes = write(
        dir.path(),
        "q.csv",
        "Ask,AskQty,Bid,BidQty,ts\n1.07220,5,1.07210,3,1492592400000\n",
    );
    let opts = options(&[("columns", "time=ts,ask_size=AskQty,bid_size=BidQty")]);
    let q = read::<Quote>(&quotes, &opts).unwrap();
    assert_eq!(
        (q[0].time, q[0].bid, q[0].bid_size, q[0].ask, q[0].ask_size),
        (1_492_592_400_000_000_000, 107210, 3, 107220, 5)
    );
    let crossed = write(
        dir.path(),
        "x.csv",
        "time,bid,bid_size,ask,ask_size\n2017-04-19,1.1,1,1.0,1\n",
    );
    assert!(error::<Quote>(&crossed, &ReadOptions::default())
        .contains("crossed quote: bid 1.1 is not below ask 1.0"));
    // Trades may share a time; out of order they are refused, or sorted
    // keeping the order of prints at one time.
    let trades = write(dir.path(), "t.csv", "time,price,size\n2017-04-19T00:00:01Z,1.2,1\n2017-04-19T00:00:01Z,1.1,2\n2017-04-19T00:00:00Z,1.3,3\n");
    let err = error::<Trade>(&trades, &ReadOptions::default());
    assert!(
        err.ends_with("set sort = true to sort rows by time"),
        "{err}"
    );
    let t = read::<Trade>(&trades, &options(&[("sort", "")])).unwrap();
    assert_eq!(t.iter().map(|t| t.size).collect::<Vec<_>>(), [3, 1, 2]);
}

#[test]
fn bundled_example_files_still_load() {
    let goog = cracktrader_data::Precision {
        symbol: "GOOG".into(),
        ..common::precision("0.01", "1")
    };
    let btc = cracktrader_data::Precision {
        symbol: "BTCUSD".into(),
        ..common::precision("0.01", "0.00000001")
    };
    for (file, p) in [
        ("EURUSD.csv", common::eurusd()),
        ("GOOG.csv", goog),
        ("BTCUSD.csv", btc),
    ] {
        let path = common::workspace().join("examples/data").join(file);
        let bars = cracktrader_data::read_file::<Bar>(&path, &ReadOptions::default(), &p).unwrap();
        let lines = std::fs::read_to_string(&path).unwrap().lines().count() - 1;
        assert_eq!(bars.len(), lines, "{file}");
    }
}

//! Issue 24, class 1: whatever numbers a guest puts in its intents — any
//! `s64`, `u64` or `u32` in every field of a place, replace, cancel, stop or
//! stop-limit, buy or sell — the host never panics: each comes back as a
//! report with a reason, and a good strategy in the same session ends with
//! exactly the fills it has alone. The intents cross the real WIT boundary
//! from `plugins/order-script`, which writes `#<integer>` values verbatim.

use std::sync::OnceLock;

use cracktrader::post_trade::Report;
use cracktrader::session::Session;
use cracktrader_tests::{host, plugin};
use proptest::prelude::*;

/// Daily bars, `open high low close`, from 2020-01-01, volume 1000: X (tick
/// 0.01) trades near 100; BIG (tick 1) near 10^12, so that a guest
/// quantity times its price overflows any decimal.
const BARS: [(&str, &str); 6] = [
    (
        "100 100 100 100",
        "1000000000000 1000000000000 1000000000000 1000000000000",
    ),
    (
        "100 102 99 101",
        "1000000000000 1000000000002 999999999999 1000000000001",
    ),
    (
        "101 101 101 101",
        "1000000000001 1000000000001 1000000000001 1000000000001",
    ),
    (
        "101 103 100.5 102",
        "1000000000001 1000000000003 1000000000000 1000000000002",
    ),
    (
        "102 102 98 99",
        "1000000000002 1000000000002 999999999998 999999999999",
    ),
    (
        "99 99 99 99",
        "999999999999 999999999999 999999999999 999999999999",
    ),
];

/// What the good strategy does: every order type, both sides, on X.
const GOOD: &str = "1: buy market 10 tag=g1
    1: buy limit 99.50 5 tag=g2
    1: buy stop 101.50 5 tag=g3
    2: sell limit 110 5 tag=g4
    3: sell stop-limit 98.50 98.40 5 tag=g5
    5: sell market 10 tag=g6";

/// A session of the good strategy (its own cash account) and, if given, a
/// hostile one running `script` in an account of `hostile_account` lines.
fn run(hostile: Option<(&str, &str)>) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let (mut x, mut big) = (String::new(), String::new());
    for (day, (a, b)) in BARS.iter().enumerate() {
        for (csv, line) in [(&mut x, a), (&mut big, b)] {
            let v: Vec<&str> = line.split_whitespace().collect();
            *csv += &format!("2020-01-{:02},{},1000\n", day + 1, v.join(","));
        }
    }
    for (name, rows) in [("x.csv", x), ("big.csv", big)] {
        let csv = format!(",Open,High,Low,Close,Volume\n{rows}");
        std::fs::write(dir.path().join(name), csv).unwrap();
    }
    let plugin = plugin("order-script");
    let mut text = format!(
        r#"[session]
name = "guest-numbers"

[[instruments]]
symbol = "X"
base_currency = "XXX"
quote_currency = "USD"
tick_size = "0.01"
lot_size = "1"

[[instruments]]
symbol = "BIG"
base_currency = "BBB"
quote_currency = "USD"
tick_size = "1"
lot_size = "1"

[[data]]
instrument = "X"
path = "x.csv"

[[data]]
instrument = "BIG"
path = "big.csv"

[[execution]]
id = "good"
currency = "USD"
starting_cash = "100000"
commission = "0.001"

[[strategies]]
id = "good"
plugin = "{plugin}"
execution = "good"
instruments = ["X"]

[strategies.params]
instrument = "X"
script = """
{GOOD}
"""
"#,
        plugin = plugin.display()
    );
    if let Some((account, script)) = hostile {
        text += &format!(
            r#"
[[execution]]
id = "bad"
currency = "USD"
{account}

[[strategies]]
id = "bad"
plugin = "{plugin}"
execution = "bad"
instruments = ["X", "BIG"]

[strategies.params]
instrument = "BIG"
script = """
{script}
"""
"#,
            plugin = plugin.display()
        );
    }
    let path = dir.path().join("session.toml");
    std::fs::write(&path, text).unwrap();
    Session::from_file(&path, &host()).unwrap().run()
}

/// The good strategy's fills, without the ids and sequence numbers the
/// hostile strategy's intents shift.
fn good_fills(report: &Report) -> Vec<String> {
    report
        .fills
        .iter()
        .filter(|f| f.strategy_id.as_str() == "good")
        .map(|f| {
            format!(
                "{} {} {} {} {} {} {}",
                f.time, f.side, f.qty, f.price, f.commission, f.maker, f.client_tag
            )
        })
        .collect()
}

fn alone() -> &'static [String] {
    static ALONE: OnceLock<Vec<String>> = OnceLock::new();
    ALONE.get_or_init(|| {
        let fills = good_fills(&run(None));
        assert_eq!(fills.len(), 5, "{fills:?}");
        fills
    })
}

/// The accounts a hostile strategy gets: as much money as a session file
/// may give, with and without the largest leverage.
const ACCOUNTS: [&str; 2] = [
    "starting_cash = \"1000000000000000000\"",
    "account = \"margin\"\nleverage = \"1000\"\nstarting_cash = \"1000000000000000000\"",
];

/// Checks the session survived `script` unharmed: no quarantine, the good
/// strategy's fills as alone, and a reason on every hostile refusal.
fn check(report: &Report) -> Result<(), TestCaseError> {
    let events: Vec<_> = report.events.iter().map(|e| &e.cause).collect();
    prop_assert!(events.is_empty(), "{events:?}");
    let fills = good_fills(report);
    prop_assert_eq!(fills.as_slice(), alone());
    for r in &report.refusals {
        prop_assert!(!r.reason.is_empty(), "{r:?}");
    }
    Ok(())
}

#[test]
fn extreme_values_are_rejected_with_reasons() {
    let script = "1: buy market #9223372036854775807
        1: sell market #9223372036854775807
        1: buy limit #9223372036854775807 #9223372036854775807
        1: sell limit #9223372036854775807 #9223372036854775807 reduce-only
        1: buy stop #9223372036854775807 #9223372036854775807
        1: sell stop-limit #9223372036854775807 #9223372036854775807 #9223372036854775807
        1: buy stop #1 #9223372036854775807 tag=overflow-at-fill
        1: buy limit #-9223372036854775808 #1 gtd=-9223372036854775808
        1: buy limit #1 #1 on=4294967295
        1: buy market #1 gtd=9223372036854775807 day
        1: cancel 18446744073709551615
        1: cancel-all 4294967295
        2: replace 7 qty=#9223372036854775807 limit=#9223372036854775807 stop=#9223372036854775807
        2: replace 18446744073709551615 qty=#-1";
    for account in ACCOUNTS {
        let report = run(Some((account, script)));
        check(&report).unwrap();
        let bad: Vec<_> = report
            .refusals
            .iter()
            .filter(|r| r.strategy_id.as_str() == "bad")
            .map(|r| format!("{} {}: {}", r.order_id, r.outcome, r.reason))
            .collect();
        assert!(
            bad.iter().any(|r| r
                .contains("order notional of an order of qty 9223372036854775807 is out of range")),
            "{account}: {bad:#?}"
        );
        assert!(bad.len() >= 10, "{account}: {bad:#?}");
    }
}

/// Any `s64`, with the edges and small values more often than chance.
fn any_s64() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MAX),
        Just(i64::MIN),
        Just(0),
        Just(-1),
        1i64..1_000,
        any::<i64>(),
    ]
}

fn any_line() -> impl Strategy<Value = String> {
    let side = prop_oneof![Just("buy"), Just("sell")];
    let order = prop_oneof![
        Just("market".to_owned()),
        any_s64().prop_map(|p| format!("limit #{p}")),
        any_s64().prop_map(|p| format!("stop #{p}")),
        (any_s64(), any_s64()).prop_map(|(s, l)| format!("stop-limit #{s} #{l}")),
    ];
    let options = (
        prop_oneof![
            Just(String::new()),
            Just(" ioc".to_owned()),
            Just(" fok".to_owned()),
            Just(" day".to_owned()),
            any_s64().prop_map(|t| format!(" gtd={t}")),
        ],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(0u32), Just(1), any::<u32>()],
    );
    let id = prop_oneof![1u64..40, any::<u64>()];
    let field = |name: &'static str| {
        prop_oneof![
            Just(String::new()),
            any_s64().prop_map(move |v| format!(" {name}=#{v}"))
        ]
    };
    prop_oneof![
        4 => (side, order, any_s64(), options).prop_map(
            |(side, order, qty, (tif, reduce, post, on))| {
                let flags = format!(
                    "{}{}",
                    if reduce { " reduce-only" } else { "" },
                    if post { " post-only" } else { "" }
                );
                format!("{side} {order} #{qty}{tif}{flags} on={on}")
            }
        ),
        1 => id.clone().prop_map(|id| format!("cancel {id}")),
        1 => prop_oneof![Just(None), Just(Some(1u32)), any::<u32>().prop_map(Some)]
            .prop_map(|on| on.map_or("cancel-all".to_owned(), |i| format!("cancel-all {i}"))),
        2 => (id, field("qty"), field("limit"), field("stop"))
            .prop_map(|(id, q, l, s)| format!("replace {id}{q}{l}{s}")),
    ]
}

proptest! {
    // Each case runs a real session of two WASM strategies.
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_intents_leave_the_host_and_a_good_strategy_unharmed(
        lines in proptest::collection::vec((1u32..=6, any_line()), 1..40),
        margin in any::<bool>(),
    ) {
        let script: Vec<String> = lines.iter().map(|(step, line)| format!("{step}: {line}")).collect();
        let report = run(Some((ACCOUNTS[usize::from(margin)], &script.join("\n"))));
        check(&report)?;
    }
}

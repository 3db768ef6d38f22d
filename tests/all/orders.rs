//! Every order type, time in force, flag, replace and cancel, end to end
//! through a real WASM strategy (`plugins/order-script`) on hand-made bars,
//! with the exact fills worked out by hand from the fill rules in
//! docs/execution.md. The script's `expect` lines check, inside the guest,
//! that the view carries the reports, positions and open orders it should;
//! a failed expectation traps the strategy and shows up as a quarantine.

use cracktrader::model::Side;
use cracktrader::post_trade::Report;
use cracktrader::session::Session;
use cracktrader_tests::{host, plugin};
use rust_decimal::Decimal;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Daily bars of instrument X (tick 0.01, lot 1, quoted in USD), one per
/// line as `open high low close`, from 2020-01-01; volume 1000.
const BARS: &str = "
100 100 100 100
100 102 99 101
101 101 101 101
101 103 100.5 102
102 102 98 99
99 99 99 99
";

/// How the session around a script differs from the default: an account
/// of 100000 USD trading X (lot 1) and nothing else.
#[derive(Default)]
struct Setup<'a> {
    /// Extra `[session]` lines.
    session: &'a str,
    /// The account's `currency` and `starting_cash` lines, if not the default.
    account: &'a str,
    /// Extra `[[execution]]` lines.
    execution: &'a str,
    /// X's lot size, if not 1.
    lot: &'a str,
    /// X's tick size, if not 0.01.
    tick: &'a str,
    /// Appended to the session file.
    extra: &'a str,
    /// X trades on [`QUOTES`] and [`TRADES`] instead of [`BARS`].
    ticks: bool,
}

/// Top of book of X: `time bid bid_size ask ask_size` (times in seconds
/// after 2020-01-01T00:00:00Z).
const QUOTES: &str = "
0 99.90 5 100.10 3
1 99.90 5 100.10 3
2 99.90 5 100.20 10
";

/// Trades of X: `time price size`.
const TRADES: &str = "
3 99.90 4
4 99.90 3
5 99.80 10
";

/// Runs `script` on [`BARS`] in the default setup with these `[[execution]]` lines.
fn run(execution: &str, script: &str) -> Report {
    run_in(
        Setup {
            execution,
            ..Setup::default()
        },
        script,
    )
}

/// Runs `script` on [`BARS`] in `setup`.
fn run_in(setup: Setup, script: &str) -> Report {
    let account = match setup.account {
        "" => "currency = \"USD\"\nstarting_cash = \"100000\"",
        account => account,
    };
    let Setup {
        session,
        execution,
        extra,
        ..
    } = setup;
    let dir = tempfile::tempdir().unwrap();
    let data = if setup.ticks {
        let write = |name: &str, header: &str, rows: &str| {
            let mut csv = format!("{header}\n");
            for line in rows.trim().lines() {
                let v: Vec<&str> = line.split_whitespace().collect();
                csv += &format!("2020-01-01 00:00:{:02},{}\n", v[0], v[1..].join(","));
            }
            std::fs::write(dir.path().join(name), csv).unwrap();
        };
        write("quotes.csv", "time,bid,bid_size,ask,ask_size", QUOTES);
        write("trades.csv", "time,price,size", TRADES);
        "[[data]]\ninstrument = \"X\"\nkind = \"quotes\"\npath = \"quotes.csv\"\n\n\
         [[data]]\ninstrument = \"X\"\nkind = \"trades\"\npath = \"trades.csv\""
    } else {
        let mut csv = String::from(",Open,High,Low,Close,Volume\n");
        for (day, line) in BARS.trim().lines().enumerate() {
            let v: Vec<&str> = line.split_whitespace().collect();
            let [o, h, l, c] = [v[0], v[1], v[2], v[3]];
            csv += &format!("2020-01-{:02},{o},{h},{l},{c},1000\n", day + 1);
        }
        std::fs::write(dir.path().join("x.csv"), csv).unwrap();
        "[[data]]\ninstrument = \"X\"\npath = \"x.csv\""
    };
    let text = format!(
        r#"[session]
name = "orders"
{session}

[[instruments]]
symbol = "X"
base_currency = "XXX"
quote_currency = "USD"
tick_size = "{tick}"
lot_size = "{lot}"

{data}

[[execution]]
id = "acc"
{account}
{execution}

[[strategies]]
id = "s1"
plugin = "{plugin}"
execution = "acc"
instruments = ["X"]

[strategies.params]
instrument = "X"
script = """
{script}
"""
{extra}"#,
        plugin = plugin("order-script").display(),
        lot = if setup.lot.is_empty() { "1" } else { setup.lot },
        tick = if setup.tick.is_empty() {
            "0.01"
        } else {
            setup.tick
        },
    );
    let path = dir.path().join("session.toml");
    std::fs::write(&path, text).unwrap();
    Session::from_file(&path, &host()).unwrap().run()
}

/// (day, order id, side, qty, price, maker, commission) of every fill.
fn fills(report: &Report) -> Vec<(u32, u64, Side, Decimal, Decimal, bool, Decimal)> {
    report
        .fills
        .iter()
        .map(|f| {
            let day = f.time[8..10].parse().unwrap();
            (
                day,
                f.order_id.0,
                f.side,
                f.qty,
                f.price,
                f.maker,
                f.commission,
            )
        })
        .collect()
}

/// (order id, outcome, reason) of every refusal, cancel by the venue and expiry.
fn refusals(report: &Report) -> Vec<(u64, &str, &str)> {
    report
        .refusals
        .iter()
        .map(|r| (r.order_id.0, r.outcome, r.reason.as_str()))
        .collect()
}

fn no_quarantine(report: &Report) {
    let causes: Vec<_> = report.events.iter().map(|e| &e.cause).collect();
    assert!(causes.is_empty(), "{causes:?}");
}

#[test]
fn every_order_type_fills_as_documented() {
    let report = run(
        "maker_fee = \"0.001\"\ntaker_fee = \"0.002\"",
        "1: buy market 10 tag=m
         1: buy limit 99.50 5 tag=l
         1: buy stop 101.50 5 tag=s
         2: expect report 1 fill
         2: expect report 3 triggered
         2: expect position 20
         2: expect open 0
         2: sell limit 110 5 tag=far
         3: replace 4 limit=102.50
         3: sell stop-limit 98.50 98.40 5 tag=sl
         3: buy limit 90 5 ioc tag=ioc
         3: cancel 99
         4: expect report 4 replaced
         4: expect report 4 fill
         4: expect report 6 expired
         4: expect open 1
         4: expect report 99 cancel-rejected
         4: expect position 15
         5: expect report 5 triggered
         5: expect report 5 fill
         5: expect position 10
         5: sell market 30 reduce-only
         6: expect position 0
         6: expect open 0",
    );
    no_quarantine(&report);
    use Side::{Buy, Sell};
    assert_eq!(
        fills(&report),
        vec![
            // Day 2 opens at 100, dips to 99, rises to 102.
            (2, 1, Buy, d("10"), d("100"), false, d("2.000")),
            (2, 2, Buy, d("5"), d("99.50"), true, d("0.49750")),
            (2, 3, Buy, d("5"), d("101.50"), false, d("1.01500")),
            // Day 4 (open 101, low 100.5 first, then 103) reaches the replaced 102.50.
            (4, 4, Sell, d("5"), d("102.50"), true, d("0.51250")),
            // Day 5 (open 102, down to 98) triggers at 98.50, marketable against 98.40.
            (5, 5, Sell, d("5"), d("98.50"), false, d("0.98500")),
            // Reduce-only sell of 30 capped at the 10 held, at day 6's open.
            (6, 7, Sell, d("10"), d("99"), false, d("1.980")),
        ]
    );
    assert_eq!(
        refusals(&report),
        vec![
            (99, "rejected", "no working order 99 of strategy s1"),
            (
                6,
                "expired",
                "IOC remainder of 5 not filled at its first opportunity"
            ),
            (
                7,
                "cancelled",
                "reduce-only order cancelled: the position is flat"
            ),
        ]
    );
    // Cash: −1000 − 497.50 − 507.50 + 512.50 + 492.50 + 990 − fees 6.99.
    let s = &report.summary;
    assert_eq!(s.commissions, d("6.99"));
    assert_eq!(s.final_equity, d("99983.01"));
    assert_eq!(s.realized_pnl, d("-10"));
}

#[test]
fn time_in_force_latency_and_participation() {
    // Submit latency of two days: an order decided on day 1 reaches the venue
    // on day 3. A 1% participation cap (10 of 1000 per bar) spreads a 25 lot
    // order over three bars. GTD and DAY orders expire unfilled.
    let report = run(
        "submit_latency_ms = 172800000\nmax_participation = \"0.01\"",
        "1: buy market 25 tag=slow
         1: buy limit 50 5 gtd=1578009600000000000 tag=gtd
         1: buy limit 50 5 day tag=day
         2: expect open 3
         3: expect report 1 accepted
         3: expect report 1 fill
         3: expect report 2 expired
         3: expect report 3 expired
         4: expect report 1 fill",
    );
    no_quarantine(&report);
    let filled: Vec<_> = fills(&report)
        .into_iter()
        .map(|f| (f.0, f.3, f.4))
        .collect();
    assert_eq!(
        filled,
        vec![
            (3, d("10"), d("101")),
            (4, d("10"), d("101")),
            (5, d("5"), d("102"))
        ]
    );
    let outcomes: Vec<_> = refusals(&report).into_iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(outcomes, vec![(2, "expired"), (3, "expired")]);
}

#[test]
fn bad_intents_are_rejected_with_reasons_and_the_session_goes_on() {
    let report = run_in(
        Setup {
            lot: "5",
            tick: "0.05",
            ..Setup::default()
        },
        "1: buy market 3
         1: buy limit 100.01 5
         1: sell market 5
         1: buy limit 101 5 post-only
         1: cancel 42
         1: replace 43 qty=3
         1: buy market 5 tag=ok
         2: expect position 5",
    );
    no_quarantine(&report);
    assert_eq!(fills(&report).len(), 1, "the good order still fills");
    let reasons: Vec<_> = refusals(&report)
        .into_iter()
        .map(|r| r.2.to_owned())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "order qty 3 is not a multiple of lot size 5 for X",
            "limit price 100.01 is not a multiple of tick size 0.05 for X",
            "sell qty 5 exceeds the position available to sell, 0",
            "post-only limit 101.00 would take liquidity at 100.00",
            "no working order 42 of strategy s1",
            "no working order 43 of strategy s1",
        ]
    );
}

#[test]
fn margin_accounts_short_and_check_margin() {
    let script = "1: sell market 100 tag=short
                  2: expect position -100
                  2: sell market 2000 tag=too-big";
    // A cash account cannot short.
    let cash = run("", script);
    assert!(
        cash.events[0].cause.contains("expect position -100"),
        "{:?}",
        cash.events
    );
    // A 2× margin account with 100000 USD: a short of 100 at 100 needs 5000
    // margin; 2000 more at ~101 would need 101000 more, above the equity.
    let margin = run("account = \"margin\"\nleverage = \"2\"", script);
    no_quarantine(&margin);
    assert_eq!(fills(&margin).len(), 1);
    let refusals = refusals(&margin);
    assert_eq!(refusals.len(), 1);
    assert!(
        refusals[0].2.starts_with("margin needed 101000"),
        "{refusals:?}"
    );
}

#[test]
fn accounts_in_other_currencies_are_converted() {
    // An EUR account holding USD trades X (quoted in USD); EURUSD bars price
    // the conversion at 1.25, and the session reports in EUR.
    let dir = tempfile::tempdir().unwrap();
    let eurusd = dir.path().join("eurusd.csv");
    let mut csv = String::from(",Open,High,Low,Close,Volume\n");
    for day in 1..=6 {
        csv += &format!("2020-01-{day:02},1.25,1.25,1.25,1.25,1000\n");
    }
    std::fs::write(&eurusd, csv).unwrap();
    let extra = format!(
        r#"
[[instruments]]
symbol = "EURUSD"
base_currency = "EUR"
quote_currency = "USD"
tick_size = "0.0001"
lot_size = "1"

[[data]]
instrument = "EURUSD"
path = "{}"
"#,
        eurusd.display()
    );
    let report = run_in(
        Setup {
            session: "currency = \"EUR\"",
            account: "currency = \"EUR\"\nstarting_cash = \"1000\"",
            execution: "balances = { USD = 5000 }",
            extra: &extra,
            ..Setup::default()
        },
        "1: buy market 10
         2: expect position 10",
    );
    no_quarantine(&report);
    // 1000 EUR + 5000 USD / 1.25 = 5000 EUR. Buying 10 X at 100 moves
    // 1000 USD into X, which closes at 99: 10 × (99 − 100) / 1.25 = −8 EUR.
    assert_eq!(report.summary.starting_equity, d("5000"));
    assert_eq!(report.summary.final_equity, d("4992"));
}

#[test]
fn quotes_and_trades_fill_at_the_top_of_the_book_and_through_the_queue() {
    // A market buy of 5 takes the 3 offered at 100.10, then 2 at the next
    // ask, 100.20. A buy limit joining the 99.90 bid waits behind its 5: a
    // print of 4 leaves 1 ahead, a print of 3 fills 2, a print through 99.90
    // fills the other 3.
    let report = run_in(
        Setup {
            ticks: true,
            ..Setup::default()
        },
        "1: buy market 5
         1: buy limit 99.90 5
         3: expect report 1 fill
         5: expect report 2 fill
         6: expect position 10",
    );
    no_quarantine(&report);
    let filled: Vec<_> = fills(&report)
        .into_iter()
        .map(|f| (f.1, f.3, f.4, f.5))
        .collect();
    assert_eq!(
        filled,
        vec![
            (1, d("3"), d("100.10"), false),
            (1, d("2"), d("100.20"), false),
            (2, d("2"), d("99.90"), true),
            (2, d("3"), d("99.90"), true),
        ]
    );
}

#[test]
fn open_orders_are_capped_per_strategy() {
    let report = run_in(
        Setup {
            extra: "[strategies.risk]\nmax_open_orders = 3",
            ..Setup::default()
        },
        "1: buy limit 50 1
         1: buy limit 51 1
         1: buy limit 52 1
         1: buy limit 53 1
         2: expect open 3
         2: cancel 1
         2: buy limit 54 1
         3: expect open 3",
    );
    no_quarantine(&report);
    assert_eq!(
        refusals(&report),
        vec![(
            4,
            "rejected",
            "3 orders already open, the most max_open_orders allows"
        )]
    );
}

#[test]
fn refusal_records_are_capped_with_a_summary() {
    // 250 refused cancels on each of the 5 first steps: 1250 refusals.
    let script: String = (1..=5)
        .flat_map(|step| (0..250).map(move |_| format!("{step}: cancel 42\n")))
        .collect();
    let report = run_in(
        Setup {
            extra: "[strategies.limits]\nmax_intents_per_step = 250",
            ..Setup::default()
        },
        &script,
    );
    no_quarantine(&report);
    assert_eq!(
        report.refusals.len() as u64,
        cracktrader::post_trade::MAX_REFUSALS_PER_STRATEGY
    );
    assert!(report
        .refusals
        .iter()
        .all(|r| r.reason == "no working order 42 of strategy s1"));
    let omitted: Vec<_> = report
        .refusals_omitted
        .iter()
        .map(|o| (o.strategy_id.as_str(), o.rejected, o.cancelled, o.expired))
        .collect();
    assert_eq!(omitted, vec![("s1", 250, 0, 0)]);
}

#[test]
fn csv_cells_cannot_be_formulas_and_always_have_headers() {
    use cracktrader::post_trade::files::ReportFiles;
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, report: &Report| {
        let files = ReportFiles::beside(&dir.path().join(format!("{name}.json")));
        files.write(report, "").unwrap();
        std::fs::read_to_string(&files.fills).unwrap()
    };
    let traded = write(
        "traded",
        &run(
            "",
            "1: buy market 1 tag==1+2
             1: buy market 1 tag=@SUM(A1)
             1: buy market 1 tag=-3
             1: buy market 1 tag=plain",
        ),
    );
    let rows: Vec<&str> = traded.lines().collect();
    assert_eq!(rows.len(), 5, "{traded}");
    for (row, cell) in rows[1..].iter().zip(["'=1+2", "'@SUM(A1)", "'-3", "plain"]) {
        assert!(row.split(',').any(|c| c == cell), "{cell} in {row}");
        assert!(
            !row.split(',').any(|c| c.starts_with(['=', '@'])),
            "a formula cell in {row}"
        );
    }
    let idle = write("idle", &run("", "2: expect open 0"));
    assert_eq!(idle.lines().collect::<Vec<_>>(), vec![rows[0]]);
}

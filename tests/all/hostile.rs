//! The hostile-plugin suite: each misbehaviour of `plugins/hostile` runs
//! beside the well-behaved `sma-cross` in one session. The session must
//! finish, the good strategy's fills must be exactly those of a run without
//! the hostile one, and the hostile one must be quarantined with the right
//! cause.

use std::path::{Path, PathBuf};

use cracktrader::model::{Bar, InstrumentId, SnapshotId, StrategyId};
use cracktrader::post_trade::{EventKind, Report};
use cracktrader::session::{Control, ControlError, Session};
use cracktrader::strategy::{InitConfig, Strategy, StrategyError};
use cracktrader::strategy_host::{CpuMeter, Limits};
use cracktrader::views::View;
use cracktrader_tests::{eurusd, eurusd_toml, host, host_with, plugin, workspace_root};

const GOOD: &str = r#"
[[strategies]]
id = "good"
plugin = "{sma}"
execution = "good-usd"
instruments = ["EURUSD"]

[strategies.params]
instrument = "EURUSD"
fast = 10
slow = 30
quantity = "1000"
"#;

/// A session file with the good strategy and, if `hostile` is given, the
/// hostile plugin with those `[strategies.params]` lines and `extra` lines
/// in its registration (before its params).
fn session_file(dir: &Path, meter: &str, hostile: Option<(&str, &str)>) -> PathBuf {
    session_beside_the_good_one(dir, meter, hostile.map(|h| (plugin("hostile"), h)))
}

/// As [`session_file`], with `bad`'s plugin at the given path.
pub(crate) fn session_beside_the_good_one(
    dir: &Path,
    meter: &str,
    bad: Option<(PathBuf, (&str, &str))>,
) -> PathBuf {
    let mut text = format!(
        r#"[session]
name = "hostile"
cpu_meter = "{meter}"

{eurusd}
[[execution]]
id = "good-usd"
currency = "USD"
starting_cash = "100000"
commission = "0.001"

[[execution]]
id = "bad-usd"
currency = "USD"
starting_cash = "100000"
commission = "0.001"
"#,
        eurusd = eurusd_toml(&workspace_root().join("examples/data/EURUSD.csv"))
    );
    text += &GOOD.replace("{sma}", &plugin("sma-cross").display().to_string());
    if let Some((bad, (params, extra))) = bad {
        text += &format!(
            r#"
[[strategies]]
id = "bad"
plugin = "{hostile}"
execution = "bad-usd"
instruments = ["EURUSD"]
{extra}

[strategies.params]
instrument = "EURUSD"
{params}
"#,
            hostile = bad.display()
        );
    }
    let path = dir.join("session.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn run(meter: CpuMeter, hostile: Option<(&str, &str)>) -> Report {
    let dir = tempfile::tempdir().unwrap();
    let name = match meter {
        CpuMeter::Fuel => "fuel",
        _ => "epoch",
    };
    let path = session_file(dir.path(), name, hostile);
    Session::from_file(&path, &host_with(meter))
        .expect("session builds")
        .run()
}

/// The good strategy's fills, without the session-wide sequence numbers
/// (which the hostile strategy's reports shift).
fn good_fills(report: &Report) -> Vec<(String, String, String, String)> {
    report
        .fills
        .iter()
        .filter(|f| f.strategy_id.as_str() == "good")
        .map(|f| {
            (
                f.time.clone(),
                format!("{:?}", f.side),
                f.qty.to_string(),
                f.price.to_string(),
            )
        })
        .collect()
}

fn assert_contains(text: &str, want: &str) {
    assert!(text.contains(want), "expected {want:?} in:\n{text}");
}

/// Runs `mode` beside the good strategy and checks what every hostile run
/// must show; returns the quarantine cause.
fn quarantined(meter: CpuMeter, mode: &str, extra: &str) -> String {
    let baseline = run(meter, None);
    let report = run(meter, Some((&format!("mode = \"{mode}\""), extra)));
    assert_eq!(report.equity_curve.len(), 5000, "{mode}: session finished");
    assert_eq!(
        good_fills(&report),
        good_fills(&baseline),
        "{mode}: good strategy unaffected"
    );
    assert!(!good_fills(&baseline).is_empty());
    assert_eq!(report.strategies[0].quarantined, None);
    let cause = report.strategies[1]
        .quarantined
        .clone()
        .unwrap_or_else(|| panic!("{mode}: hostile strategy not quarantined"));
    let events: Vec<_> = report
        .events
        .iter()
        .map(|e| (e.strategy_id.as_str(), e.kind, e.time.as_str()))
        .collect();
    // Quarantined at its 10th step, the 10th bar of the data.
    assert_eq!(
        events,
        [("bad", EventKind::Quarantined, "2017-04-19T18:00:00Z")],
        "{mode}"
    );
    // The default policy cancels the resting order it placed at step 1.
    let cancelled: Vec<_> = report
        .refusals
        .iter()
        .filter(|r| r.strategy_id.as_str() == "bad" && r.outcome == "cancelled")
        .map(|r| r.reason.as_str())
        .collect();
    assert_eq!(cancelled, ["cancelled: strategy quarantined"], "{mode}");
    cause
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let cause = quarantined(
        CpuMeter::Fuel,
        "spin",
        "[strategies.limits]\nfuel_per_call = 10_000_000",
    );
    assert_contains(
        &cause,
        "strategy bad exceeded its CPU budget of 10000000 fuel in on-step",
    );
}

#[test]
fn infinite_loop_runs_out_of_time_with_the_epoch_meter() {
    let cause = quarantined(
        CpuMeter::Epoch,
        "spin",
        "[strategies.limits]\ntime_per_call_ms = 20",
    );
    assert_contains(
        &cause,
        "strategy bad exceeded its time budget of 20 ms in on-step",
    );
}

#[test]
fn memory_bomb_hits_the_memory_cap() {
    let cause = quarantined(
        CpuMeter::Fuel,
        "grow",
        "[strategies.limits]\nmemory_mib = 16",
    );
    assert_contains(&cause, "strategy bad trapped in on-step");
}

#[test]
fn panic_is_a_trap_with_the_guest_message() {
    let cause = quarantined(CpuMeter::Fuel, "panic", "");
    assert_contains(&cause, "strategy bad trapped in on-step");
    assert_contains(&cause, "hostile: deliberate panic at step 10");
}

#[test]
fn process_exit_is_a_trap() {
    let cause = quarantined(CpuMeter::Fuel, "exit", "");
    assert_contains(&cause, "strategy bad trapped in on-step");
    // WASI 0.2 exit carries only success or failure: 7 becomes 1.
    assert_contains(
        &cause,
        "strategy bad trapped in on-step: called exit with status 1",
    );
}

#[test]
fn intent_flood_is_refused() {
    let cause = quarantined(CpuMeter::Fuel, "flood", "");
    assert_contains(
        &cause,
        "strategy bad returned 100000 intents in one step; the limit is 100",
    );
}

#[test]
fn oversized_result_is_refused() {
    let cause = quarantined(CpuMeter::Fuel, "big-result", "");
    assert_contains(&cause, "bytes of intents in one step; the limit is 65536");
}

#[test]
fn log_spam_breaks_the_log_budget() {
    let cause = quarantined(CpuMeter::Fuel, "log-spam", "");
    assert_contains(
        &cause,
        "strategy bad logged more than 4096 bytes in on-step",
    );
}

#[test]
fn leave_orders_policy_keeps_the_resting_order() {
    let baseline = run(CpuMeter::Fuel, None);
    let report = run(
        CpuMeter::Fuel,
        Some(("mode = \"panic\"", "on_quarantine = \"leave-orders\"")),
    );
    assert_eq!(good_fills(&report), good_fills(&baseline));
    assert!(report.strategies[1].quarantined.is_some());
    assert!(
        !report
            .refusals
            .iter()
            .any(|r| r.strategy_id.as_str() == "bad"),
        "{:?}",
        report.refusals
    );
}

/// Order ids are session-wide, so a strategy can guess its neighbours'. A
/// cancel of an order it does not own is refused and changes nothing.
#[test]
fn cancelling_other_strategies_orders_is_refused() {
    let baseline = run(CpuMeter::Fuel, None);
    let report = run(CpuMeter::Fuel, Some(("mode = \"forge\"\nat = 1", "")));
    assert_eq!(good_fills(&report), good_fills(&baseline));
    assert!(report.events.is_empty(), "{:?}", report.events);
    let refused: Vec<_> = report
        .refusals
        .iter()
        .filter(|r| r.strategy_id.as_str() == "bad")
        .collect();
    // It tried every one of the good strategy's first orders, and failed.
    let targets: std::collections::BTreeSet<_> = report
        .fills
        .iter()
        .filter(|f| f.strategy_id.as_str() == "good" && f.order_id.0 <= 90)
        .map(|f| f.order_id)
        .collect();
    assert!(!targets.is_empty());
    for id in &targets {
        assert!(refused.iter().any(|r| r.order_id == *id), "{id}");
    }
    for r in refused {
        assert_eq!(
            r.reason,
            format!("no working order {} of strategy bad", r.order_id)
        );
    }
    // Its tag claims another strategy; the fill is still attributed to it.
    for f in report
        .fills
        .iter()
        .filter(|f| f.client_tag == "strategy_id=good")
    {
        assert_eq!(f.strategy_id.as_str(), "bad");
    }
}

#[test]
fn operator_can_re_enable_a_quarantined_strategy() {
    let dir = tempfile::tempdir().unwrap();
    let path = session_file(dir.path(), "fuel", Some(("mode = \"panic\"", "")));
    let mut session = Session::from_file(&path, &host()).unwrap();
    let bad = StrategyId::new("bad".to_owned());
    for _ in 0..10 {
        assert!(session.step());
    }
    assert_eq!(
        session
            .quarantined()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>(),
        ["bad"]
    );
    assert_eq!(
        session.control(Control::Quarantine {
            strategy_id: bad.clone(),
            reason: "again".into()
        }),
        Err(ControlError::AlreadyQuarantined(bad.clone()))
    );
    session
        .control(Control::Enable {
            strategy_id: bad.clone(),
        })
        .expect("fresh instance starts");
    assert_eq!(session.quarantined().count(), 0);
    // A fresh instance counts its steps from 1 again: it panics 10 steps later.
    for _ in 0..9 {
        assert!(session.step());
    }
    assert_eq!(session.quarantined().count(), 0);
    assert!(session.step());
    assert_eq!(session.quarantined().count(), 1);
    // The operator can also quarantine a healthy strategy.
    let good = StrategyId::new("good".to_owned());
    session
        .control(Control::Quarantine {
            strategy_id: good.clone(),
            reason: "maintenance".into(),
        })
        .unwrap();
    assert_eq!(
        session.control(Control::Enable {
            strategy_id: StrategyId::new("nobody".to_owned())
        }),
        Err(ControlError::UnknownStrategy(StrategyId::new(
            "nobody".to_owned()
        )))
    );
    let report = session.run();
    let events: Vec<_> = report
        .events
        .iter()
        .map(|e| (e.strategy_id.as_str(), e.kind))
        .collect();
    assert_eq!(
        events,
        [
            ("bad", EventKind::Quarantined),
            ("bad", EventKind::Enabled),
            ("bad", EventKind::Quarantined),
            ("good", EventKind::Quarantined),
        ]
    );
    assert_eq!(report.events[3].cause, "operator: maintenance");
}

/// A sandboxed instance of the hostile plugin, initialised with `params`.
fn hostile_instance(id: &str, params: &[(&str, String)]) -> impl Strategy {
    let host = host();
    let plugin = host.load(&plugin("hostile"), &Limits::default()).unwrap();
    let mut strategy = host
        .instantiate(&plugin, &StrategyId::new(id.to_owned()), Limits::default())
        .unwrap();
    let mut all = vec![("instrument".to_owned(), "EURUSD".to_owned())];
    all.extend(params.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    strategy
        .init(&InitConfig {
            strategy_id: id.into(),
            params: all,
            instruments: vec![eurusd(1)],
        })
        .unwrap();
    strategy
}

fn view(time: i64) -> View {
    View {
        snapshot_id: SnapshotId(1),
        time,
        bars: vec![Bar {
            instrument: InstrumentId(0),
            time,
            open: 110_000,
            high: 110_100,
            low: 109_900,
            close: 110_050,
            volume: 0,
        }],
        quotes: Vec::new(),
        trades: Vec::new(),
        account: None,
    }
}

/// What the probe saw, as `key=value` pairs.
fn probe(id: &str, port: u16, time: i64) -> Vec<(String, String)> {
    let mut strategy = hostile_instance(
        id,
        &[
            ("mode", "probe".into()),
            ("at", "1".into()),
            ("port", port.to_string()),
        ],
    );
    strategy.on_step(&view(time)).unwrap();
    let state = String::from_utf8(strategy.save_state().unwrap()).unwrap();
    state
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn wasi_guest_sees_an_empty_deterministic_world() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let time = 1_500_000_000_123_456_789;
    let seen = probe("bad", port, time);
    let get = |key: &str| {
        seen.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("{key} missing from {seen:?}"))
    };
    for key in [
        "read_file",
        "write_file",
        "list_root",
        "list_cwd",
        "tcp_connect",
        "tcp_listen",
        "udp_bind",
        "resolve",
    ] {
        assert!(get(key).starts_with("denied"), "{key}: {}", get(key));
    }
    assert_eq!(get("env_vars"), "0");
    assert_eq!(get("args"), "0");
    assert_eq!(get("clock_matches_step"), "true");
    // Nothing reached the listener.
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock
    );
    // Random is seeded per strategy: the same id sees the same bytes.
    let random = get("random").to_owned();
    let again = probe("bad", port, time);
    assert!(again.contains(&("random".to_owned(), random.clone())));
    let other = probe("other", port, time);
    assert!(!other.contains(&("random".to_owned(), random)));
    assert!(!workspace_root().join("escape.txt").exists());
}

#[test]
fn oversized_state_is_refused() {
    let mut strategy = hostile_instance("bad", &[("mode", "huge-state".into())]);
    match strategy.save_state() {
        Err(e @ StrategyError::StateTooLarge { .. }) => assert_eq!(
            e.to_string(),
            "saved 16777216 bytes of state; the limit is 1048576"
        ),
        other => panic!("{other:?}"),
    }
}

/// Issue 24, class 2: WASI clock subscriptions are ready at once, so a guest
/// that sleeps (in `init` or in every step, under either meter) neither
/// stalls the session nor changes what it decides; it is not quarantined,
/// as sleeping is no fault.
#[test]
fn sleeping_guests_do_not_stall_the_session() {
    for (meter, mode) in [
        (CpuMeter::Fuel, "sleep"),
        (CpuMeter::Fuel, "init-sleep"),
        (CpuMeter::Epoch, "sleep"),
    ] {
        let baseline = run(meter, None);
        let hostile = format!("mode = \"{mode}\"\nat = 1");
        let report = run(meter, Some((&hostile, "")));
        assert_eq!(report.equity_curve.len(), 5000, "{mode}: session finished");
        assert_eq!(good_fills(&report), good_fills(&baseline), "{mode}");
        assert_eq!(report.strategies[1].quarantined, None, "{mode}");
        // Sleeping leaks nothing of the machine: a second run is the same.
        assert_eq!(
            run(meter, Some((&hostile, ""))).fills,
            report.fills,
            "{mode}"
        );
    }
}

/// Issue 24, class 2: sleeping in `save-state` (a journal checkpoint, a
/// hot-reload swap) returns at once.
#[test]
fn sleeping_in_save_state_returns_at_once() {
    let mut strategy = hostile_instance("bad", &[("mode", "state-sleep".into())]);
    assert_eq!(strategy.save_state().unwrap(), Vec::<u8>::new());
}

/// Issue 24, class 8: a trap in `save-state` (a journal checkpoint, whose
/// caller keeps no error, or a hot-reload swap) is not lost: the next call
/// names it, so the quarantine does.
#[test]
fn a_trap_in_save_state_is_named_by_the_next_call() {
    let mut strategy = hostile_instance("bad", &[("mode", "state-panic".into())]);
    let trap = strategy.save_state().unwrap_err().to_string();
    assert_contains(&trap, "deliberate panic in save-state");
    let next = strategy
        .on_step(&view(1_500_000_000_000_000_000))
        .unwrap_err();
    assert_eq!(
        next.to_string(),
        format!("is unusable after an earlier failure: {trap}")
    );
}

/// Issue 24, class 2: with fuel all but unlimited, the wall-clock deadline
/// every call has as a backstop stops a loop that never calls the host.
#[test]
fn spinning_past_the_fuel_meter_hits_the_deadline() {
    let cause = quarantined(
        CpuMeter::Fuel,
        "spin",
        "[strategies.limits]\nfuel_per_call = 9_000_000_000_000_000_000\ndeadline_per_call_ms = 200",
    );
    assert_contains(
        &cause,
        "strategy bad exceeded its time budget of 200 ms in on-step",
    );
}

/// Issue 24, class 4: a 4 MiB log line breaks the log budget at the first
/// call, before the host copies it, and traps the call.
#[test]
fn huge_log_line_breaks_the_log_budget_at_once() {
    let cause = quarantined(CpuMeter::Fuel, "log-big", "");
    assert_contains(
        &cause,
        "strategy bad logged more than 4096 bytes in on-step",
    );
}

/// Issue 24, class 4: host calls are counted, so empty log lines (free in
/// bytes) break the call's host-call budget.
#[test]
fn endless_empty_log_calls_break_the_host_call_budget() {
    let cause = quarantined(CpuMeter::Fuel, "log-calls", "");
    assert_contains(
        &cause,
        "strategy bad made more than 10000 host calls in on-step",
    );
}

/// The cause and quarantine step of `burn` at `iterations` per step, beside
/// the good strategy, with a per-call budget of 2M fuel.
fn burning(iterations: u32) -> Option<(String, String)> {
    let baseline = run(CpuMeter::Fuel, None);
    let params = format!("mode = \"burn\"\nat = 1\niterations = {iterations}");
    let limits = "[strategies.limits]\nfuel_per_call = 2000000\n";
    let report = run(CpuMeter::Fuel, Some((&params, limits)));
    assert_eq!(report.equity_curve.len(), 5000, "session finished");
    assert_eq!(
        good_fills(&report),
        good_fills(&baseline),
        "good strategy unaffected"
    );
    assert_eq!(report.strategies[0].quarantined, None);
    let cause = report.strategies[1].quarantined.clone()?;
    let at = report
        .events
        .iter()
        .find(|e| e.strategy_id.as_str() == "bad")?;
    Some((cause, at.time.clone()))
}

/// Class 7: every step within the per-call budget, but far above the
/// session share (20% of it per step): quarantined once the reserve of 20
/// calls is spent, after a few dozen steps, instead of slowing the session
/// for its 5000 steps.
#[test]
fn living_above_the_cpu_share_is_quarantined() {
    let (cause, at) = burning(150_000).expect("quarantined");
    assert_contains(&cause, "used more than its CPU share over the session");
    assert_contains(&cause, "cpu_share_percent = 20");
    assert_contains(&cause, "in on-step");
    // Deterministic, like the fuel it counts.
    assert_eq!(burning(150_000), Some((cause, at)));
}

/// Within its share a strategy may burn CPU on every step of the session.
#[test]
fn living_within_the_cpu_share_is_fine() {
    assert_eq!(burning(20_000), None);
}

/// Class 6: a guest whose name, version, log lines and panic message carry
/// terminal escape sequences reaches the operator's terminal and the report
/// with every control character escaped.
#[test]
fn guest_text_cannot_attack_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let session = session_file(dir.path(), "fuel", Some(("mode = \"escape\"", "")));
    let report = dir.path().join("report.json");
    let out = std::process::Command::new(cracktrader_tests::cracktrader_bin())
        .arg("backtest")
        .arg(&session)
        .arg("--report")
        .arg(&report)
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    // Piped, stderr has no colours of the host's own either: every control
    // character there would be the guest's.
    let mut shown = [out.stdout, out.stderr].concat();
    for file in ["report.json", "report.html"] {
        shown.extend(std::fs::read(dir.path().join(file)).unwrap());
    }
    let text = String::from_utf8_lossy(&shown);
    let unsafe_chars: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
        .collect();
    assert_eq!(
        unsafe_chars,
        Vec::<char>::new(),
        "raw control characters reached the operator"
    );
    // What the guest said is still there, visibly escaped.
    assert_contains(
        &text,
        "hostile: panic \\u{1b}[2J\\u{1b}]0;pwned\\u{7}\\u{9b}31m",
    );
    assert_contains(&text, "hostile\\u{1b}[2J");
}

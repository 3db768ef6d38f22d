//! Paper mode with hot reload: a running session over replayed real data
//! picks up a rebuilt plugin file at a step boundary, carrying its state;
//! broken rebuilds leave the running version trading.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use cracktrader::hot_reload::{ReloadTarget, Reloader};
use cracktrader::paper::{self, PaperOptions, Steering};
use cracktrader::post_trade::{EventKind, Report};
use cracktrader::session::Session;
use cracktrader::strategy_host::{CpuMeter, Limits};
use cracktrader_tests::{eurusd_toml, host_with, plugin, workspace_root};

const STEPS: usize = 1500;

/// Writes the first `STEPS` bars of the bundled EURUSD data, a paper session
/// file registering the plugin at `dir/strategy.wasm` (a copy of
/// `first_plugin`), and returns the session file.
fn paper_session(dir: &Path, first_plugin: &str, extra_params: &str) -> PathBuf {
    let csv = std::fs::read_to_string(workspace_root().join("examples/data/EURUSD.csv")).unwrap();
    let head: Vec<&str> = csv.lines().take(STEPS + 1).collect();
    std::fs::write(dir.join("eurusd.csv"), head.join("\n")).unwrap();
    std::fs::copy(plugin(first_plugin), dir.join("strategy.wasm")).unwrap();
    let text = format!(
        r#"[session]
name = "paper"
mode = "paper"

{eurusd}
[[execution]]
id = "paper-usd"
currency = "USD"
starting_cash = "100000"

[[strategies]]
id = "s1"
plugin = "strategy.wasm"
execution = "paper-usd"
instruments = ["EURUSD"]

[strategies.params]
instrument = "EURUSD"
every = 10
{extra_params}
"#,
        eurusd = eurusd_toml(Path::new("eurusd.csv"))
    );
    let path = dir.join("session.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// Replaces `dir/strategy.wasm` the way build tools do: write a temporary
/// file, then rename it over the plugin.
fn rebuild(dir: &Path, bytes: &[u8]) {
    let tmp = dir.join("strategy.wasm.tmp");
    std::fs::write(&tmp, bytes).unwrap();
    std::fs::rename(tmp, dir.join("strategy.wasm")).unwrap();
}

/// Runs the paper session at 1 ms per step while `edits` rewrite the plugin
/// file, one every `gap`, starting after `gap`.
fn run_with_edits(session_file: &Path, edits: Vec<Vec<u8>>, gap: Duration) -> Report {
    let host = Arc::new(host_with(CpuMeter::Epoch));
    let session = Session::from_file(session_file, &host).expect("session builds");
    let targets = session
        .strategies()
        .map(|(id, config)| ReloadTarget {
            strategy_id: id.clone(),
            path: session_file.parent().unwrap().join("strategy.wasm"),
            config: config.clone(),
            limits: Limits::default(),
        })
        .collect();
    let reloader = Reloader::start(Arc::clone(&host), targets, Duration::from_millis(10)).unwrap();
    let dir = session_file.parent().unwrap();
    let dir = dir.to_path_buf();
    let editor = std::thread::spawn(move || {
        for bytes in edits {
            std::thread::sleep(gap);
            rebuild(&dir, &bytes);
        }
    });
    let report = paper::run(
        session,
        Some(&reloader),
        PaperOptions {
            bar_interval: Duration::from_millis(1),
            max_steps: None,
        },
        &Steering::default(),
    );
    editor.join().unwrap();
    report
}

fn events(report: &Report) -> Vec<(EventKind, String)> {
    report
        .events
        .iter()
        .map(|e| (e.kind, e.cause.clone()))
        .collect()
}

/// Every step ran exactly once: the equity curve has one point per bar, in
/// strictly increasing time.
fn assert_every_step_once(report: &Report) {
    assert_eq!(report.summary.steps as usize, STEPS);
    assert_eq!(report.equity_curve.len(), STEPS);
    assert!(report
        .equity_curve
        .windows(2)
        .all(|w| w[0].time < w[1].time));
}

#[test]
fn rebuilt_plugin_takes_over_at_a_step_boundary_with_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let session_file = paper_session(dir.path(), "counter", "");
    let v2 = std::fs::read(plugin("counter-v2")).unwrap();
    let report = run_with_edits(&session_file, vec![v2], Duration::from_millis(300));

    assert_every_step_once(&report);
    let kinds: Vec<EventKind> = report.events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::ReloadDetected,
            EventKind::ReloadCompiled,
            EventKind::ReloadSwapped
        ],
        "{:?}",
        events(&report)
    );
    assert!(report.events[2].cause.contains("9 bytes of state carried"));
    let versions = &report.strategies[0].versions;
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0].version, "1.0.0");
    assert_eq!(versions[1].version, "2.0.0");
    let switch = versions[1].from_step;
    assert!(
        report.events[2]
            .cause
            .starts_with(&format!("trading from step {switch} ")),
        "{}",
        report.events[2].cause
    );
    assert!(switch > 10 && (switch as usize) < STEPS - 10, "{switch}");

    // One step in the data is one bar, so the counter equals the step number:
    // one order every 10 steps, decided at steps 10, 20, … with no gap or
    // repeat across the swap (the count survived), by v1 before the switch
    // and v2 (2 lots) from it, each fill naming the version that decided it.
    let mut expected = 10;
    for fill in &report.fills {
        let (tag_version, count) = fill.client_tag.split_once(':').unwrap();
        let count: u64 = count.parse().unwrap();
        assert_eq!(count, expected, "{fill:?}");
        expected += 10;
        let v2 = count >= switch;
        assert_eq!(tag_version, if v2 { "v2" } else { "v1" }, "{fill:?}");
        assert_eq!(fill.plugin_version, u32::from(v2), "{fill:?}");
        assert_eq!(fill.qty, if v2 { 2.into() } else { 1.into() });
    }
    // The last decision (step 1500) has no next bar to fill on.
    assert_eq!(expected, STEPS as u64);
}

#[test]
fn broken_rebuilds_leave_the_running_version_trading() {
    let dir = tempfile::tempdir().unwrap();
    // `mode` is ignored by counter; it makes the hostile plugin panic in init.
    let session_file = paper_session(dir.path(), "counter-v2", "mode = \"init-panic\"");
    let edits = vec![
        b"garbage, not a component".to_vec(),
        std::fs::read(plugin("hostile")).unwrap(),
        // Version 1 cannot read version 2's state format.
        std::fs::read(plugin("counter")).unwrap(),
    ];
    let report = run_with_edits(&session_file, edits, Duration::from_millis(250));

    assert_every_step_once(&report);
    let failures: Vec<String> = events(&report)
        .into_iter()
        .filter(|(kind, _)| *kind == EventKind::ReloadFailed)
        .map(|(_, cause)| cause)
        .collect();
    assert_eq!(failures.len(), 3, "{:?}", events(&report));
    assert!(
        failures[0].contains("not a WebAssembly component"),
        "{}",
        failures[0]
    );
    assert!(
        failures[1].contains("new version trapped in init")
            && failures[1].contains("hostile: deliberate panic in init"),
        "{}",
        failures[1]
    );
    assert_eq!(
        failures[2],
        "the new version refused the saved state: state format 2 is newer than this version (1) understands"
    );
    // Version 2 decided every order, from the first step to the last.
    assert_eq!(report.strategies[0].versions.len(), 1);
    assert_eq!(report.fills.len(), STEPS / 10 - 1);
    assert!(report
        .fills
        .iter()
        .all(|f| f.client_tag.starts_with("v2:") && f.plugin_version == 0));
    assert_eq!(report.strategies[0].quarantined, None);
}

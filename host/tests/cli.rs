//! The `cracktrader` binary as a user runs it: exit codes, messages, report.
//!
//! Needs the plugin components in `target/plugins` (`cargo xtask plugins`;
//! `cargo xtask test` builds them before running the tests).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn plugins() -> PathBuf {
    let dir = root().join("target").join("plugins");
    assert!(
        dir.join("sma-cross.wasm").exists(),
        "plugin components missing in {}: run `cargo xtask plugins` first",
        dir.display()
    );
    dir
}

fn cracktrader(args: &[&str], report: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cracktrader"))
        .args(args)
        .arg("--report")
        .arg(report)
        .env(
            "CRACKTRADER_CACHE_DIR",
            root().join("target").join("component-cache"),
        )
        .current_dir(root())
        .output()
        .expect("run cracktrader")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn example_prints_summary_and_writes_identical_reports() {
    plugins();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let first = cracktrader(&["backtest", "examples/sma_eurusd.toml"], &a);
    assert!(first.status.success(), "stderr: {}", text(&first.stderr));
    let out = text(&first.stdout);
    for line in [
        "Backtest sma-eurusd",
        "bars          5000 in 5000 steps",
        "round trips",
        "max drawdown",
        "sharpe",
        "commissions",
        "bars/s",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    let second = cracktrader(&["backtest", "examples/sma_eurusd.toml"], &b);
    assert!(second.status.success());
    assert_eq!(
        std::fs::read(&a).unwrap(),
        std::fs::read(&b).unwrap(),
        "reports differ between runs"
    );
}

#[test]
fn bad_session_file_exits_1_with_a_named_problem() {
    let dir = tempfile::tempdir().unwrap();
    let session = dir.path().join("s.toml");
    std::fs::write(&session, "[session]\nname = 3\n").unwrap();
    let out = cracktrader(
        &["backtest", session.to_str().unwrap()],
        &dir.path().join("r.json"),
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains("s.toml") && err.contains("invalid type"),
        "{err}"
    );
    assert!(
        !dir.path().join("r.json").exists(),
        "no report for a session that never started"
    );
}

#[test]
fn quarantined_strategy_exits_3_and_the_session_completes() {
    let plugins = plugins();
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(root().join("examples/sma_eurusd.toml")).unwrap();
    let session = example
        .replace(
            "../target/plugins/sma-cross.wasm",
            plugins.join("trap-on-step.wasm").to_str().unwrap(),
        )
        .replace(
            "data/EURUSD.csv",
            root().join("examples/data/EURUSD.csv").to_str().unwrap(),
        )
        .replace("fast = 10\nslow = 30\nquantity = \"1000\"", "trap_at = 7");
    let path = dir.path().join("trap.toml");
    std::fs::write(&path, session).unwrap();
    let report = dir.path().join("r.json");
    let out = cracktrader(&["backtest", path.to_str().unwrap()], &report);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("strategy sma-cross trapped in on-step"),
        "{}",
        text(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    // The session runs to the end; the strategy is quarantined at step 7.
    assert_eq!(json["equity_curve"].as_array().unwrap().len(), 5000);
    let cause = json["strategies"][0]["quarantined"].as_str().unwrap();
    assert!(cause.contains("trapped in on-step"), "{cause}");
    assert_eq!(json["events"][0]["kind"], "quarantined");
}

#[test]
fn usage_errors_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_cracktrader"))
        .arg("backtest")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

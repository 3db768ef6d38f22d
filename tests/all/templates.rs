//! The `cracktrader new-strategy` template of every language, generated and
//! built by `cargo xtask test` exactly as a user would (into
//! `target/templates/template-<lang>/`), backtests on the bundled EURUSD
//! data; the four implement the same strategy with the same arithmetic, so
//! each trades exactly like the Rust one.

use cracktrader::post_trade::Report;
use cracktrader::session::Session;
use cracktrader_templates::Lang;
use cracktrader_tests::{built_plugin, host, workspace_root};

/// The generated template's own session file, run.
fn backtest(lang: Lang) -> Report {
    let name = format!("template-{lang}");
    built_plugin(&name);
    let session = workspace_root()
        .join("target")
        .join("templates")
        .join(&name)
        .join("session.toml");
    let report = Session::from_file(&session, &host())
        .unwrap_or_else(|err| panic!("{}: {err:#}", session.display()))
        .run();
    assert!(report.events.is_empty(), "{name}: {:?}", report.events);
    assert_eq!(report.summary.steps, 5000, "{name}");
    assert!(report.summary.fills > 10, "{name}: {:?}", report.summary);
    report
}

fn trades_like_the_rust_template(lang: Lang) {
    let rust = backtest(Lang::Rust);
    let mut other = backtest(lang);
    // Each template's session names the strategy after the template.
    for fill in &mut other.fills {
        fill.strategy_id = rust.fills[0].strategy_id.clone();
    }
    assert_eq!(other.fills, rust.fills, "{lang}");
    assert_eq!(other.summary, rust.summary, "{lang}");
}

#[test]
fn rust_template_builds_and_backtests() {
    backtest(Lang::Rust);
}

#[test]
fn c_template_trades_like_the_rust_one() {
    trades_like_the_rust_template(Lang::C);
}

#[test]
fn js_template_trades_like_the_rust_one() {
    trades_like_the_rust_template(Lang::Js);
}

#[test]
fn python_template_trades_like_the_rust_one() {
    trades_like_the_rust_template(Lang::Python);
}

//! The `cracktrader new-strategy` template of every language, generated and
//! built by `cargo xtask test` exactly as a user would (into
//! `target/templates/template-<lang>/`), backtests on the bundled EURUSD
//! data; the four implement the same strategy, so they trade identically.

use cracktrader::session::Session;
use cracktrader_templates::Lang;
use cracktrader_tests::{built_plugin, host, workspace_root};

#[test]
fn every_template_builds_and_backtests_identically() {
    let mut reports = Vec::new();
    for lang in Lang::ALL {
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
        assert_eq!(report.error, None, "{name}");
        assert_eq!(report.summary.steps, 5000, "{name}");
        assert!(report.summary.fills > 10, "{name}: {:?}", report.summary);
        reports.push((name, report));
    }
    let (first, expected) = &reports[0];
    for (name, report) in &reports[1..] {
        assert_eq!(report.fills, expected.fills, "{name} vs {first}");
        assert_eq!(report.summary, expected.summary, "{name} vs {first}");
    }
}

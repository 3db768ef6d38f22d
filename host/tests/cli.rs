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
    // Same file names in two directories: the HTML links its siblings by name.
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (one.path().join("r.json"), two.path().join("r.json"));
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
    for file in [
        "r.json",
        "r.html",
        "r-fills.csv",
        "r-trades.csv",
        "r-equity.csv",
    ] {
        assert_eq!(
            std::fs::read(one.path().join(file)).unwrap(),
            std::fs::read(two.path().join(file)).unwrap(),
            "{file} differs between runs"
        );
    }
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

/// `cracktrader paper` replays on the wall clock until Ctrl-C (SIGINT),
/// then writes the report of the steps run so far and exits 0.
#[test]
fn paper_session_stops_cleanly_on_ctrl_c() {
    plugins();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("paper.json");
    let child = Command::new(env!("CARGO_BIN_EXE_cracktrader"))
        .args([
            "paper",
            "examples/sma_eurusd_paper.toml",
            "--bar-interval-ms",
            "2",
            "--report",
        ])
        .arg(&report)
        .env(
            "CRACKTRADER_CACHE_DIR",
            root().join("target").join("component-cache"),
        )
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run cracktrader paper");
    // Long enough to load and run some steps, far from the 10 s the whole
    // data takes at 2 ms per step.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("Paper sma-eurusd-paper"),
        "{}",
        text(&out.stdout)
    );
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(report).unwrap()).unwrap();
    let steps = json["summary"]["steps"].as_u64().unwrap();
    assert!(steps > 0 && steps < 5000, "{steps}");
    assert_eq!(json["mode"], "paper");
}

/// The headless browser the HTML report is checked in (`apt-get install
/// chromium`; `.ci/run` installs it).
fn chromium() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
    });
    found.expect(
        "chromium not found on PATH: the HTML report is checked in a real headless browser; \
         install it with `apt-get install -y chromium` (.ci/run does)",
    )
}

/// Runs headless chromium on `page` with `args`, in a fresh profile and
/// with no network services.
fn browse(page: &Path, args: &[&str]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium: {}", text(&out.stderr));
    out
}

/// `backtest` writes the HTML report and the CSV files beside the JSON; a
/// real browser renders the page with its plots and one table row per round
/// trip, and the screenshot shows more than a blank page.
#[test]
fn html_report_renders_in_a_headless_browser() {
    plugins();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cracktrader"))
        .args(["backtest", "examples/sma_eurusd.toml", "--report-dir"])
        .arg(dir.path())
        .env(
            "CRACKTRADER_CACHE_DIR",
            root().join("target").join("component-cache"),
        )
        .current_dir(root())
        .output()
        .expect("run cracktrader");
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "",
        "no progress bar when stderr is not a terminal"
    );
    let html = dir.path().join("sma-eurusd.html");
    assert!(
        text(&out.stdout).contains(&format!("report        {}", html.display())),
        "{}",
        text(&out.stdout)
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("sma-eurusd.json")).unwrap())
            .unwrap();
    let trades = json["summary"]["trades"].as_u64().unwrap() as usize;
    let fills = json["summary"]["fills"].as_u64().unwrap() as usize;
    assert_eq!(json["round_trips"].as_array().unwrap().len(), trades);
    for (file, rows) in [("fills", fills), ("trades", trades), ("equity", 5000)] {
        let csv =
            std::fs::read_to_string(dir.path().join(format!("sma-eurusd-{file}.csv"))).unwrap();
        assert_eq!(
            csv.lines().count(),
            rows + 1,
            "{file}.csv: header and one line per row"
        );
    }

    // Self-contained: nothing to fetch.
    let source = std::fs::read_to_string(&html).unwrap();
    for external in ["<script", "<link", " src=", "url("] {
        assert!(
            !source.contains(external),
            "the page refers to something outside: {external}"
        );
    }

    let dom = text(&browse(&html, &["--dump-dom"]).stdout);
    let dom = scraper::Html::parse_document(&dom);
    let select = |css: &str| {
        let selector = scraper::Selector::parse(css).unwrap();
        dom.select(&selector).count()
    };
    assert_eq!(select("#equity-plot svg"), 1);
    assert_eq!(select("#drawdown-plot svg"), 1);
    // The equity line and the drawdown area are drawn, with axis labels.
    assert!(select("#equity-plot svg polyline") >= 1, "no equity line");
    assert!(
        select("#drawdown-plot svg polygon") >= 1,
        "no drawdown area"
    );
    assert!(select("#equity-plot svg text") >= 8, "axis labels missing");
    assert_eq!(select("#trades tbody tr.trade"), trades);
    assert_eq!(
        select("#strategies tbody tr"),
        2,
        "the strategy and the session"
    );
    let sha = json["strategies"][0]["sha256"].as_str().unwrap();
    assert!(
        dom.root_element().html().contains(sha),
        "the plugin hash is on the page"
    );

    let shot = dir.path().join("report.png");
    browse(
        &html,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,1400",
        ],
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((frame.width, frame.height), (1280, 1400));
    let channels = frame.color_type.samples();
    let pixels = &pixels[..frame.buffer_size()];
    let colors: std::collections::BTreeSet<&[u8]> = pixels.chunks(channels).collect();
    let ink = pixels
        .chunks(channels)
        .filter(|p| p[..3].iter().any(|c| *c < 200))
        .count();
    let total = (frame.width * frame.height) as usize;
    assert!(
        colors.len() > 50,
        "only {} colours: a blank page?",
        colors.len()
    );
    assert!(ink * 100 > total, "only {ink} of {total} pixels are drawn");
}

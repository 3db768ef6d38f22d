//! The `cracktrader` binary as a user runs it: exit codes, messages, report.
//!
//! Needs the plugin components in `target/plugins` (`cargo xtask plugins`;
//! `cargo xtask test` builds them before running the tests).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[path = "cli/control_plane.rs"]
mod control_plane;
#[path = "cli/data.rs"]
mod data;
#[path = "cli/journal.rs"]
mod journal;

fn root() -> PathBuf {
    // host/cli is two levels below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
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

/// The `cracktrader` binary, run from the workspace root with the shared
/// component cache.
fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cracktrader"));
    command
        .env(
            "CRACKTRADER_CACHE_DIR",
            root().join("target").join("component-cache"),
        )
        .current_dir(root());
    command
}

fn cracktrader(args: &[&str], report: &Path) -> Output {
    command()
        .args(args)
        .arg("--report")
        .arg(report)
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

/// Writes a session of the trap-on-step plugin trapping at step 7 into `dir`.
fn trap_session(dir: &Path) -> PathBuf {
    let plugins = plugins();
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
    let path = dir.join("trap.toml");
    std::fs::write(&path, session).unwrap();
    path
}

#[test]
fn quarantined_strategy_exits_3_and_the_session_completes() {
    let dir = tempfile::tempdir().unwrap();
    let path = trap_session(dir.path());
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
    let out = command().arg("backtest").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `cracktrader paper` replays on the wall clock until Ctrl-C (SIGINT),
/// then writes the report of the steps run so far and exits 0.
#[test]
fn paper_session_stops_cleanly_on_ctrl_c() {
    plugins();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("paper.json");
    let child = command()
        .args([
            "paper",
            "examples/sma_eurusd_paper.toml",
            "--bar-interval-ms",
            "2",
            "--report",
        ])
        .arg(&report)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run cracktrader paper");
    // Interrupt once the session is trading: its journal holds steps
    // (records well beyond the session start), far from the 10 s the whole
    // data takes at 2 ms per step.
    let journal = dir.path().join("paper.journal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::fs::metadata(&journal).map_or(0, |m| m.len()) < 20_000 {
        assert!(
            std::time::Instant::now() < deadline,
            "the paper session wrote no steps to {} within 60 s",
            journal.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
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

/// Runs `cracktrader` with `args` as given (no `--report` added).
fn cracktrader_raw(args: &[&str]) -> Output {
    command().args(args).output().expect("run cracktrader")
}

/// `cracktrader replay` of `journal` finds the run identical (exit 0).
fn assert_replays(journal: &Path) {
    let replay = cracktrader_raw(&["replay", journal.to_str().unwrap()]);
    assert_eq!(
        replay.status.code(),
        Some(0),
        "{}{}",
        text(&replay.stdout),
        text(&replay.stderr)
    );
}

/// A backtest writes a journal next to its report; `replay` re-runs the
/// session from the journal alone and finds every event, the intent stream
/// and the final state identical. A torn last record is cut off.
#[test]
fn backtest_journal_replays_identically() {
    plugins();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("sma.json");
    let out = cracktrader(
        &[
            "backtest",
            "examples/sma_eurusd.toml",
            "--checkpoint-every",
            "1000",
        ],
        &report,
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let journal = dir.path().join("sma.journal");
    let stdout = text(&out.stdout);
    assert!(stdout.contains("5 checkpoints"), "{stdout}");

    let replay = cracktrader_raw(&["replay", journal.to_str().unwrap()]);
    let stdout = text(&replay.stdout);
    assert_eq!(
        replay.status.code(),
        Some(0),
        "{stdout}{}",
        text(&replay.stderr)
    );
    assert!(stdout.contains("over 5000 steps"), "{stdout}");
    assert!(stdout.contains("intents       identical"), "{stdout}");
    assert!(stdout.contains("final state   identical"), "{stdout}");

    // A crash mid-write: the last record is incomplete.
    let bytes = std::fs::read(&journal).unwrap();
    std::fs::write(&journal, &bytes[..bytes.len() - 5]).unwrap();
    let replay = cracktrader_raw(&["replay", journal.to_str().unwrap()]);
    assert_eq!(replay.status.code(), Some(0), "{}", text(&replay.stderr));
    assert!(
        text(&replay.stderr).contains("incomplete last record"),
        "{}",
        text(&replay.stderr)
    );
    assert!(
        text(&replay.stdout).contains("no session end"),
        "{}",
        text(&replay.stdout)
    );
}

/// A journal whose second intent was edited (and re-checksummed, as a
/// forger would) no longer matches the session: replay names the sequence
/// and the field, and exits 4.
#[test]
fn replay_reports_the_first_divergence() {
    use cracktrader::intents::Proposal;
    use cracktrader::journal::{self, store::Appender, Event, Existing};

    plugins();
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("sma.json");
    let out = cracktrader(&["backtest", "examples/sma_eurusd.toml"], &report);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let path = dir.path().join("sma.journal");
    let mut records = journal::scan(&path).unwrap().records;
    let altered = records
        .iter_mut()
        .filter(|r| matches!(r.event, Event::Intents { .. }))
        .nth(1)
        .unwrap();
    let Event::Intents { intents, .. } = &mut altered.event else {
        unreachable!()
    };
    let Proposal::Place(place) = &mut intents[0] else {
        panic!("sma-cross places orders: {intents:?}")
    };
    place.qty += 1;
    let sequence = altered.sequence;
    let mut appender = Appender::create(&path, Existing::Overwrite).unwrap();
    for record in &records {
        appender.append(record).unwrap();
    }
    appender.flush().unwrap();

    let replay = cracktrader_raw(&["replay", path.to_str().unwrap()]);
    let err = text(&replay.stderr);
    assert_eq!(replay.status.code(), Some(4), "{err}");
    assert!(
        err.contains(&format!(
            "diverged from the journal at sequence {sequence} "
        )),
        "{err}"
    );
    assert!(
        err.contains("intents event of strategy sma-cross")
            && err.contains("qty recorded 1001, the run 1000"),
        "{err}"
    );
}

/// Replay loads each plugin by its journalled path and refuses another build.
#[test]
fn replay_refuses_another_plugin_build() {
    let plugins = plugins();
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("counter.wasm");
    std::fs::copy(plugins.join("counter.wasm"), &plugin).unwrap();
    let example = std::fs::read_to_string(root().join("examples/sma_eurusd.toml")).unwrap();
    let session = example
        .replace("../target/plugins/sma-cross.wasm", plugin.to_str().unwrap())
        .replace(
            "data/EURUSD.csv",
            root().join("examples/data/EURUSD.csv").to_str().unwrap(),
        );
    let path = dir.path().join("counter.toml");
    std::fs::write(&path, session).unwrap();
    let out = cracktrader(
        &["backtest", path.to_str().unwrap()],
        &dir.path().join("r.json"),
    );
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    std::fs::copy(plugins.join("counter-v2.wasm"), &plugin).unwrap();
    let replay = cracktrader_raw(&["replay", dir.path().join("r.journal").to_str().unwrap()]);
    let err = text(&replay.stderr);
    assert_eq!(replay.status.code(), Some(1), "{err}");
    assert!(
        err.contains("strategy sma-cross: plugin") && err.contains("but the journal recorded"),
        "{err}"
    );
}

/// `kill -9` in the middle of a paper session, then `--resume`: the session
/// continues from its last checkpoint and ends with the report of a run that
/// was never interrupted — the same orders with the same ids, none twice,
/// none lost — and its journal replays as one session.
#[test]
fn paper_session_killed_and_resumed_matches_an_uninterrupted_run() {
    use cracktrader::journal::{self, Event};

    plugins();
    let dir = tempfile::tempdir().unwrap();
    let paper = |report: &Path, extra: &[&str]| {
        let mut args = vec![
            "paper",
            "examples/sma_eurusd_paper.toml",
            "--checkpoint-every",
            "100",
        ];
        args.extend_from_slice(extra);
        cracktrader(&args, report)
    };
    let whole = dir.path().join("whole.json");
    let out = paper(&whole, &["--bar-interval-ms", "0"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));

    let crashed = dir.path().join("crashed.json");
    let journal_path = dir.path().join("crashed.journal");
    let mut child = command()
        .args([
            "paper",
            "examples/sma_eurusd_paper.toml",
            "--checkpoint-every",
            "100",
            "--bar-interval-ms",
            "1",
            "--report",
        ])
        .arg(&crashed)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run cracktrader paper");
    let checkpoints = || {
        journal::scan(&journal_path).map_or(0, |s| {
            s.records
                .iter()
                .filter(|r| matches!(r.event, Event::Checkpoint(_)))
                .count()
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while checkpoints() < 3 {
        assert!(std::time::Instant::now() < deadline, "no checkpoints");
        assert!(child.try_wait().unwrap().is_none(), "paper ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-KILL", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait().unwrap();
    assert!(!crashed.exists(), "a killed session writes no report");
    let scan = journal::scan(&journal_path).unwrap();
    let last_step = scan
        .records
        .iter()
        .filter_map(|r| r.snapshot_id())
        .max()
        .unwrap();
    assert!(
        last_step < 4000,
        "killed at step {last_step}, too late to test"
    );

    let out = paper(&crashed, &["--bar-interval-ms", "0", "--resume"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let restored: u64 = stderr
        .split("resume: restored the checkpoint of step ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .and_then(|step| step.parse().ok())
        .unwrap_or_else(|| panic!("no resume line in {stderr}"));
    assert!(
        restored >= 300 && restored <= last_step,
        "restored step {restored}, killed at {last_step}"
    );

    let read = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let (whole, resumed) = (read(&whole), read(&crashed));
    let orders = |r: &serde_json::Value| -> Vec<u64> {
        r["fills"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["order_id"].as_u64().unwrap())
            .collect()
    };
    let ids = orders(&resumed);
    assert!(ids.len() > 100, "{} fills", ids.len());
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "an order filled twice");
    assert_eq!(ids, orders(&whole));
    assert_eq!(resumed, whole, "the resumed report differs");

    assert_replays(&journal_path);
}

/// A backtest cut short after a strategy was quarantined resumes through
/// the journalled failure: the rebuilt session quarantines it at the same
/// step, and the report equals that of the whole run.
#[test]
fn backtest_resumes_across_a_quarantine() {
    use cracktrader::journal::{self, Event};

    let dir = tempfile::tempdir().unwrap();
    let session = trap_session(dir.path());
    let session = session.to_str().unwrap();
    let whole = dir.path().join("whole.json");
    let out = cracktrader(&["backtest", session, "--checkpoint-every", "3"], &whole);
    assert_eq!(out.status.code(), Some(3), "stderr: {}", text(&out.stderr));

    // The process "died" in step 11, after the checkpoint of step 9.
    let cut = dir.path().join("cut.journal");
    let scan = journal::scan(&dir.path().join("whole.journal")).unwrap();
    assert!(scan
        .records
        .iter()
        .any(|r| matches!(r.event, Event::StrategyFailed { snapshot_id: 7, .. })));
    let last = scan
        .records
        .iter()
        .position(|r| r.snapshot_id() == Some(11))
        .unwrap();
    let bytes = std::fs::read(dir.path().join("whole.journal")).unwrap();
    std::fs::write(&cut, &bytes[..scan.ends[last] as usize + 3]).unwrap();

    let resumed = dir.path().join("resumed.json");
    let out = cracktrader(
        &[
            "backtest",
            session,
            "--checkpoint-every",
            "3",
            "--resume",
            "--journal",
            cut.to_str().unwrap(),
        ],
        &resumed,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert!(
        stderr.contains("restored the checkpoint of step 9"),
        "{stderr}"
    );
    assert!(stderr.contains("incomplete last record"), "{stderr}");
    assert_eq!(
        std::fs::read(&resumed).unwrap(),
        std::fs::read(&whole).unwrap()
    );
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
    let out = command()
        .args(["backtest", "examples/sma_eurusd.toml", "--report-dir"])
        .arg(dir.path())
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

/// A session on quotes and trades journals them too: replay rebuilds the
/// market from the journal alone and finds every event identical.
#[test]
fn tick_data_session_replays_from_its_journal() {
    let plugin = plugins().join("order-script.wasm");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("quotes.csv"),
        "time,bid,bid_size,ask,ask_size\n2020-01-01 00:00:00,99.90,5,100.10,3\n\
         2020-01-01 00:00:01,99.90,5,100.10,3\n2020-01-01 00:00:02,99.90,5,100.20,10\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("trades.csv"),
        "time,price,size\n2020-01-01 00:00:03,99.90,4\n2020-01-01 00:00:05,99.80,10\n",
    )
    .unwrap();
    let session = dir.path().join("ticks.toml");
    std::fs::write(
        &session,
        format!(
            r#"[session]
name = "ticks"

[[instruments]]
symbol = "X"
base_currency = "XXX"
quote_currency = "USD"
tick_size = "0.01"
lot_size = "1"

[[data]]
instrument = "X"
kind = "quotes"
path = "quotes.csv"

[[data]]
instrument = "X"
kind = "trades"
path = "trades.csv"

[[execution]]
id = "acc"
currency = "USD"
starting_cash = "100000"

[[strategies]]
id = "s1"
plugin = "{}"
execution = "acc"
instruments = ["X"]

[strategies.params]
instrument = "X"
script = "1: buy market 5\n1: buy limit 99.90 5"
"#,
            plugin.display()
        ),
    )
    .unwrap();
    let report = dir.path().join("ticks.json");
    let out = cracktrader(&["backtest", session.to_str().unwrap()], &report);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    assert_eq!(json["summary"]["fills"], 3, "{}", json["fills"]);
    let journal = dir.path().join("ticks.journal");
    assert_replays(&journal);
}

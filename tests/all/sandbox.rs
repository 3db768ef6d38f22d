//! Sandbox sessions: the real `cracktrader sandbox` process trading the
//! sma-cross WASM plugin at the real `cracktrader-venue-emulator` process on
//! loopback, once cleanly and once under each injectable fault. After each
//! session the emulator's books must match the session's: every fill once
//! (none lost, none doubled), every order once, balances equal.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cracktrader_tests::{built_plugin, cracktrader_bin, emulator_bin, workspace_root};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Digest;

/// The emulator as a child process, killed on drop.
struct Emulator {
    child: Child,
    addr: String,
}

impl Emulator {
    fn start(dir: &Path, faults: &[&str]) -> Self {
        let data = workspace_root().join("examples/data/EURUSD.csv");
        let config = std::fs::read_to_string(workspace_root().join("examples/venue/emulator.toml"))
            .unwrap()
            // The test moves the replay clock, so that a slow start loses no bars.
            .replace("bar_interval_ms = 20", "bar_interval_ms = 0")
            .replace(
                "\"../data/EURUSD.csv\"",
                &format!("{:?}", data.display().to_string()),
            );
        let path = dir.join("emulator.toml");
        std::fs::write(&path, config).unwrap();
        let mut command = Command::new(emulator_bin());
        command
            .arg("--config")
            .arg(&path)
            .args(["--bind", "127.0.0.1:0"]);
        for fault in faults {
            command.args(["--fault", fault]);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the emulator");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("emulator said {line:?}"))
            .to_owned();
        Self { child, addr }
    }

    fn state(&self) -> Value {
        reqwest::blocking::get(format!("http://{}/emulator/state", self.addr))
            .unwrap()
            .json()
            .unwrap()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The example sandbox session file in `dir`, pointed at `emulator`, in
/// `mode`: `sandbox`, or `paper` (the emulator's live data, simulated fills).
fn session_file(dir: &Path, emulator: &Emulator, mode: &str) -> PathBuf {
    let mut session =
        std::fs::read_to_string(workspace_root().join("examples/sandbox_emulator.toml")).unwrap();
    if mode == "paper" {
        session = session
            .replace("mode = \"sandbox\"", "mode = \"paper\"")
            .replace(
                "route = \"emulator\"\nvenue = \"emulator\"\n",
                "route = \"sim\"\nstarting_cash = \"100000\"\n",
            );
    }
    let session = session
        .replace(
            "http://127.0.0.1:9460",
            &format!("http://{}", emulator.addr),
        )
        .replace("ws://127.0.0.1:9460", &format!("ws://{}", emulator.addr))
        .replace(
            "\"../target/plugins/sma-cross.wasm\"",
            &format!("{:?}", built_plugin("sma-cross").display().to_string()),
        )
        // Short averages: an order every few bars.
        .replace("fast = 10", "fast = 2")
        .replace("slow = 30", "slow = 5");
    let path = dir.join("sandbox.toml");
    std::fs::write(&path, session).unwrap();
    path
}

/// `cracktrader <mode> <session> <args>` with the emulator account's keys.
fn cracktrader(mode: &str, session: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(cracktrader_bin());
    command
        .arg(mode)
        .arg(session)
        .args(args)
        .env("CRACKTRADER_SANDBOX_KEY", "sandbox-key")
        .env("CRACKTRADER_SANDBOX_SECRET", "sandbox-secret")
        .env("RUST_LOG", "warn");
    command
}

/// Runs the example session for `steps` steps at `emulator`, advancing its
/// replay one bar at a time and calling `between` with the number of
/// advances so far; the exit code, the report (if written) and stderr.
fn drive_session(
    dir: &Path,
    emulator: &Emulator,
    steps: u32,
    mode: &str,
    mut between: impl FnMut(u32),
) -> (Option<i32>, Option<Value>, String) {
    let path = session_file(dir, emulator, mode);
    let reports = dir.join("reports");
    let mut child = cracktrader(
        mode,
        &path,
        &[
            "--max-steps",
            &steps.to_string(),
            "--report-dir",
            reports.to_str().unwrap(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stderr_pipe = child.stderr.take().unwrap();
    let stderr_reader = std::thread::spawn(move || std::io::read_to_string(stderr_pipe).unwrap());
    // One bar per advance until the session has its steps.
    let client = reqwest::blocking::Client::new();
    let advance = format!("http://{}/emulator/advance?bars=1", emulator.addr);
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut advances = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!(
                "sandbox session did not end: {}",
                stderr_reader.join().unwrap()
            );
        }
        client.post(&advance).send().unwrap();
        advances += 1;
        between(advances);
        std::thread::sleep(Duration::from_millis(3));
    };
    let stderr = stderr_reader.join().unwrap();
    let report = std::fs::read_to_string(reports.join("sma-eurusd-sandbox.json"))
        .ok()
        .map(|r| serde_json::from_str(&r).unwrap());
    (status.code(), report, stderr)
}

/// Runs the example session for `steps` steps at `emulator`, which must
/// succeed; its report and stderr.
fn run_session(dir: &Path, emulator: &Emulator, steps: u32, mode: &str) -> (Value, String) {
    let (code, report, stderr) = drive_session(dir, emulator, steps, mode, |_| {});
    assert_eq!(code, Some(0), "sandbox session failed:\n{stderr}");
    (report.expect("no report"), stderr)
}

/// Checks the session's books against the emulator's; returns the fill count.
fn assert_reconciled(report: &Value, stderr: &str, state: &Value) -> usize {
    assert!(
        stderr.contains("reconciled: every venue account's balances agree"),
        "{stderr}"
    );
    let orders = state["orders"].as_array().unwrap();
    // Each host order id once at the venue: a retried submission never
    // became two orders.
    let mut host_ids = BTreeMap::new();
    for o in orders {
        let client = o["clientOrderId"].as_str().unwrap();
        assert!(
            client.starts_with("ct-"),
            "an order the session did not place: {o}"
        );
        let host_id: u64 = client.rsplit('-').next().unwrap().parse().unwrap();
        assert!(
            host_ids
                .insert(o["orderId"].as_i64().unwrap(), host_id)
                .is_none(),
            "venue order id repeated"
        );
    }
    let mut counted: BTreeMap<u64, usize> = BTreeMap::new();
    for host_id in host_ids.values() {
        *counted.entry(*host_id).or_default() += 1;
    }
    assert!(
        counted.values().all(|&n| n == 1),
        "a host order placed twice: {counted:?}"
    );
    // Every venue trade is one host fill, and nothing else is.
    let mut venue_fills: Vec<(u64, String, String)> = state["trades"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let host_id = host_ids[&t["orderId"].as_i64().unwrap()];
            (
                host_id,
                t["qty"].as_str().unwrap().to_owned(),
                t["price"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut host_fills: Vec<(u64, String, String)> = report["fills"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["order_id"].as_u64().unwrap(),
                f["qty"].as_str().unwrap().to_owned(),
                f["price"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let normal = |v: &mut Vec<(u64, String, String)>| {
        for (_, q, p) in v.iter_mut() {
            *q = q
                .parse::<rust_decimal::Decimal>()
                .unwrap()
                .normalize()
                .to_string();
            *p = p
                .parse::<rust_decimal::Decimal>()
                .unwrap()
                .normalize()
                .to_string();
        }
        v.sort();
    };
    normal(&mut venue_fills);
    normal(&mut host_fills);
    assert_eq!(
        host_fills, venue_fills,
        "fills differ between the session and the venue"
    );
    host_fills.len()
}

#[test]
fn sandbox_sessions_reconcile_with_the_venue_under_every_fault() {
    for faults in [
        &[][..],
        &["latency_ms=15"],
        &["http_429_every=7"],
        &["http_5xx_every=3"],
        &["lost_response_every=3"],
        &["drop_ws_every=40"],
        &["duplicate_events=true"],
        &["reorder_events=true"],
    ] {
        let dir = tempfile::tempdir().unwrap();
        let emulator = Emulator::start(dir.path(), faults);
        let (report, stderr) = run_session(dir.path(), &emulator, 150, "sandbox");
        let state = emulator.state();
        eprintln!("faults {faults:?}");
        let fills = assert_reconciled(&report, &stderr, &state);
        assert!(
            fills >= 6,
            "faults {faults:?}: only {fills} fills; the test needs trading"
        );
    }
}

/// Paper mode on the emulator's live streams: the strategy trades on the
/// venue's data, fills are simulated, and nothing reaches the venue.
#[test]
fn paper_session_trades_on_live_venue_data() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(dir.path(), &[]);
    let (report, stderr) = run_session(dir.path(), &emulator, 120, "paper");
    assert!(!stderr.contains("reconciled"), "{stderr}");
    assert_eq!(report["summary"]["steps"], 120, "{stderr}");
    let fills = report["fills"].as_array().unwrap();
    assert!(fills.len() >= 6, "only {} fills", fills.len());
    assert!(fills.iter().all(|f| f["route_id"] == "sim"));
    let state = emulator.state();
    assert_eq!(
        state["orders"].as_array().unwrap().len(),
        0,
        "an order reached the venue"
    );
    assert!(state["bars_replayed"].as_u64().unwrap() >= 120);
}

/// A venue that restarts and loses its state (orders, trades, balances;
/// its replay starts again from the first bar) is not traded on: the
/// session halts at the first input that goes back in time and exits 5,
/// with the discrepancy on stderr and as an event of the report.
#[test]
fn a_venue_that_restarts_and_loses_its_state_halts_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(dir.path(), &[]);
    let restart = format!("http://{}/emulator/restart", emulator.addr);
    // The restart must come after the session has traded at the venue: a
    // count of advances would race the session's start-up on a loaded
    // machine, and a restart before its first poll loses nothing.
    let mut restarted = false;
    let (code, report, stderr) = drive_session(dir.path(), &emulator, 200, "sandbox", |_| {
        if !restarted && !emulator.state()["trades"].as_array().unwrap().is_empty() {
            let response = reqwest::blocking::Client::new()
                .post(&restart)
                .send()
                .unwrap();
            assert!(response.status().is_success());
            restarted = true;
        }
    });
    assert!(restarted, "the session never traded at the venue: {stderr}");
    assert_eq!(code, Some(5), "{stderr}");
    assert!(
        stderr.contains("error: halted:") && stderr.contains("clock went back"),
        "{stderr}"
    );
    let report = report.expect("a halted session still writes its report");
    let steps = report["summary"]["steps"].as_u64().unwrap();
    assert!(steps < 200, "traded on after the restart: {steps} steps");
    assert!(
        report["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "venue" && e["cause"].as_str().unwrap().starts_with("halted:")),
        "{}",
        report["events"]
    );
}

/// `--resume` of a venue session is refused before the first venue
/// request (here with no journal at all): the venue sees nothing.
#[test]
fn resuming_a_venue_session_is_refused_before_any_venue_request() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(dir.path(), &[]);
    let path = session_file(dir.path(), &emulator, "sandbox");
    let missing = dir.path().join("missing.journal");
    let out = cracktrader(
        "sandbox",
        &path,
        &["--resume", "--journal", missing.to_str().unwrap()],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot be resumed"), "{stderr}");
    assert_eq!(emulator.state()["requests"], 0, "{stderr}");
}

/// An order of this session left open by an earlier run is cancelled at
/// start-up, and the cancel is in the journal and the report, stamped with
/// the venue's clock.
#[test]
fn start_up_cancels_are_journalled_at_the_venue_time() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(dir.path(), &[]);
    // The client id an earlier run of strategy sma-cross would have used.
    let tag = hex::encode(&sha2::Sha256::digest(b"sma-eurusd-sandbox/sma-cross")[..3]);
    let client_id = format!("ct-{tag}-earlier-7");
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let query = format!(
        "symbol=EURUSD&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1000&price=0.5\
         &newClientOrderId={client_id}&timestamp={timestamp}"
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"sandbox-secret").unwrap();
    mac.update(query.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    let placed = reqwest::blocking::Client::new()
        .post(format!(
            "http://{}/api/v3/order?{query}&signature={signature}",
            emulator.addr
        ))
        .header("X-MBX-APIKEY", "sandbox-key")
        .send()
        .unwrap();
    assert!(placed.status().is_success(), "{}", placed.text().unwrap());

    let (report, _) = run_session(dir.path(), &emulator, 3, "sandbox");
    let state = emulator.state();
    let order = state["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["clientOrderId"] == client_id.as_str())
        .unwrap();
    assert_eq!(order["status"], "CANCELED");
    let cause = format!("start-up: order {client_id} left open by an earlier run was cancelled");
    let journal =
        cracktrader::journal::scan(&dir.path().join("reports/sma-eurusd-sandbox.journal")).unwrap();
    assert!(
        journal.records.iter().any(|r| matches!(
            &r.event,
            cracktrader::journal::Event::Lifecycle { cause: c, .. } if c.starts_with(&cause)
        )),
        "the start-up cancel is not in the journal"
    );
    let event = report["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["cause"].as_str().unwrap().starts_with(&cause))
        .expect("the start-up cancel is not in the report");
    let year: i32 = event["time"].as_str().unwrap()[..4].parse().unwrap();
    assert!(year >= 2024, "stamped {}", event["time"]);
}

//! Sandbox sessions: the real `cracktrader sandbox` process trading the
//! sma-cross WASM plugin at the real `cracktrader-venue-emulator` process on
//! loopback, once cleanly and once under each injectable fault. After each
//! session the emulator's books must match the session's: every fill once
//! (none lost, none doubled), every order once, balances equal.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cracktrader_tests::{built_plugin, cracktrader_bin, emulator_bin, workspace_root};
use serde_json::Value;

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

/// Runs the example sandbox session for `steps` steps at `emulator`, in
/// `mode`: `sandbox`, or `paper` (the emulator's live data, simulated
/// fills); its report and stderr.
fn run_session(dir: &Path, emulator: &Emulator, steps: u32, mode: &str) -> (Value, String) {
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
    let mut child = Command::new(cracktrader_bin())
        .arg(mode)
        .arg(&path)
        .args(["--max-steps", &steps.to_string()])
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .env("CRACKTRADER_SANDBOX_KEY", "sandbox-key")
        .env("CRACKTRADER_SANDBOX_SECRET", "sandbox-secret")
        .env("RUST_LOG", "warn")
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
        std::thread::sleep(Duration::from_millis(3));
    };
    let stderr = stderr_reader.join().unwrap();
    assert!(status.success(), "sandbox session failed:\n{stderr}");
    let report = std::fs::read_to_string(dir.join("reports/sma-eurusd-sandbox.json")).unwrap();
    (serde_json::from_str(&report).unwrap(), stderr)
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

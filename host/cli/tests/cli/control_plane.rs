//! The control plane of `cracktrader paper` over real HTTP on loopback.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cracktrader::journal::{self, Envelope, Event};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{assert_replays, command, plugins, root, text};

const TOKEN: &str = "test-token-2f9c-81d7e3";
const TOKEN_ENV: &str = "CRACKTRADER_CONTROL_TOKEN";

/// The paper example in `dir`, with absolute paths and a `[control]`
/// section with `control` settings added.
fn paper_session(dir: &Path, control: &str) -> PathBuf {
    let plugins = plugins();
    let example = std::fs::read_to_string(root().join("examples/sma_eurusd_paper.toml")).unwrap();
    let session = example
        .replace(
            "../target/plugins/sma-cross.wasm",
            plugins.join("sma-cross.wasm").to_str().unwrap(),
        )
        .replace(
            "data/EURUSD.csv",
            root().join("examples/data/EURUSD.csv").to_str().unwrap(),
        )
        + "\n[control]\nbind = \"127.0.0.1:0\"\n"
        + control;
    let path = dir.join("paper.toml");
    std::fs::write(&path, session).unwrap();
    path
}

/// A running `cracktrader paper` with its control plane.
struct Paper {
    child: Child,
    /// `http://ADDR/runtimes/<id>`.
    url: String,
    journal: PathBuf,
    stderr: mpsc::Receiver<String>,
    http: Client,
}

impl Paper {
    /// Starts the session of `dir` at `bar_interval_ms` per step and waits
    /// for the control plane's line on stderr.
    fn start(dir: &Path, bar_interval_ms: u64) -> Self {
        Self::start_with(dir, bar_interval_ms, "")
    }

    /// [`Paper::start`] with `control` settings in `[control]`.
    fn start_with(dir: &Path, bar_interval_ms: u64, control: &str) -> Self {
        let session = paper_session(dir, control);
        let mut child = command()
            .env(TOKEN_ENV, TOKEN)
            .args(["paper", session.to_str().unwrap(), "--bar-interval-ms"])
            .arg(bar_interval_ms.to_string())
            .arg("--report")
            .arg(dir.join("paper.json"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run cracktrader paper");
        let (lines, stderr) = mpsc::channel();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = lines.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = loop {
            let line = stderr
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("no control plane line on stderr");
            if let Some(url) = line.strip_prefix("control plane listening on ") {
                break url.to_owned();
            }
        };
        Self {
            child,
            url,
            journal: dir.join("paper.journal"),
            stderr,
            http: Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    fn get(&self, path: &str) -> RequestBuilder {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(TOKEN)
    }

    fn json(&self, path: &str) -> Value {
        let response = self.get(path).send().unwrap();
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.json().unwrap()
    }

    /// Posts an action; returns the status and the body.
    fn post(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().unwrap();
        (response.status(), response.json().unwrap())
    }

    /// Posts an action that must succeed; returns the step it followed.
    fn act(&self, path: &str, body: Option<Value>) -> u64 {
        let (status, body) = self.post(path, body);
        assert_eq!(status, StatusCode::OK, "POST {path}: {body}");
        body["step"].as_u64().unwrap()
    }

    /// Polls `path` until `done` holds for its JSON.
    fn wait_for(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let value = self.json(path);
            if done(&value) {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {value}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the session has run `steps` more steps than `after`.
    fn wait_steps(&self, after: u64, steps: u64) -> u64 {
        let status = self.wait_for("", "steps", |s| {
            s["step"].as_u64().unwrap() >= after + steps
        });
        status["step"].as_u64().unwrap()
    }

    /// Stops the session with Ctrl-C and returns its journal records.
    fn stop(mut self) -> Vec<Envelope> {
        let kill = std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
        let status = self.child.wait().unwrap();
        let stderr: Vec<String> = self.stderr.try_iter().collect();
        assert_eq!(status.code(), Some(0), "stderr: {}", stderr.join("\n"));
        journal::scan(&self.journal).unwrap().records
    }
}

/// Decisions (views and intents) of strategies at steps after `step`.
fn decisions_after(records: &[Envelope], step: u64) -> Vec<u64> {
    records
        .iter()
        .filter(|r| matches!(r.event, Event::View { .. } | Event::Intents { .. }))
        .filter_map(Envelope::snapshot_id)
        .filter(|s| *s > step)
        .collect()
}

/// The operator actions of a journal: (step, action type, refusal).
fn actions(records: &[Envelope]) -> Vec<(u64, Value, Option<String>)> {
    records
        .iter()
        .filter_map(|r| match &r.event {
            Event::OperatorAction {
                step,
                action,
                refusal,
                who,
            } => {
                assert_eq!(who, "operator");
                Some((*step, json!(action)["type"].clone(), refusal.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn requests_without_the_right_token_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let paper = Paper::start(dir.path(), 20);
    let base = paper.url.rsplit_once("/runtimes/").unwrap().0.to_owned();
    let runtimes = format!("{base}/runtimes");

    let missing = paper.http.get(&runtimes).send().unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(missing.headers()["www-authenticate"], "Bearer");
    let wrong = paper
        .http
        .post(format!("{}/kill", paper.url))
        .bearer_auth("not-the-token")
        .send()
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert!(wrong.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .contains("invalid_token"));

    let ok = paper.http.get(&runtimes).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let list: Value = ok.json().unwrap();
    assert_eq!(list[0]["id"], "sma-eurusd-paper");
    assert_eq!(list[0]["killed"], false);
    let unknown = paper
        .http
        .get(format!("{base}/runtimes/other"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let records = paper.stop();
    assert!(actions(&records).is_empty(), "a refused request acted");
}

#[test]
fn the_control_plane_refuses_to_start_without_a_token_or_on_a_remote_address() {
    let dir = tempfile::tempdir().unwrap();
    let session = paper_session(dir.path(), "");
    let session = session.to_str().unwrap();
    let report = dir.path().join("r.json");
    let report = report.to_str().unwrap();
    let out = command()
        .env_remove(TOKEN_ENV)
        .args(["paper", session, "--report", report])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains(TOKEN_ENV),
        "{}",
        text(&out.stderr)
    );
    let remote = |extra: &[&str]| {
        let out = command()
            .env(TOKEN_ENV, TOKEN)
            .args(["paper", session, "--report", report])
            .args(extra)
            .output()
            .unwrap();
        (out.status.code(), text(&out.stderr))
    };
    let (code, err) = remote(&["--control-bind", "0.0.0.0:0"]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("not a loopback address") && err.contains("allow_remote"),
        "{err}"
    );
    let (code, err) = remote(&["--no-journal"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("without --no-journal"), "{err}");
}

/// The kill switch stops every strategy from the step after the one it
/// answers with; with `cancel_orders` no order is left working; a flatten
/// then closes the positions through the normal order path; the journal
/// with both actions replays identically.
#[test]
fn kill_switch_and_flatten_stop_trading_and_replay() {
    let dir = tempfile::tempdir().unwrap();
    let paper = Paper::start(dir.path(), 10);
    paper.wait_for("/positions", "a position", |p| {
        p.as_array()
            .unwrap()
            .iter()
            .any(|p| p["qty"].as_str() != Some("0"))
    });
    let killed = paper.act("/kill", Some(json!({ "cancel_orders": true })));
    let status = paper.json("");
    assert_eq!(status["killed"], true);
    assert!(paper.json("/orders").as_array().unwrap().is_empty());
    let (status, body) = paper.post("/kill", None);
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let flattened = paper.act("/flatten", None);
    assert!(flattened >= killed);
    let after = paper.wait_steps(flattened, 3);
    let positions = paper.json("/positions");
    assert!(
        positions
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["qty"].as_str() == Some("0")),
        "{positions}"
    );
    assert!(paper.json("/orders").as_array().unwrap().is_empty());

    // The operator actions are in the event stream, as journalled.
    let events = paper.json("/events?kind=operator_action");
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["action"]["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["kill", "kill", "flatten"]);

    let records = paper.stop();
    assert_eq!(decisions_after(&records, killed), Vec::<u64>::new());
    assert!(records
        .iter()
        .any(|r| r.snapshot_id().is_some_and(|s| s > after)));
    let acted = actions(&records);
    assert_eq!(acted.len(), 3, "{acted:?}");
    assert_eq!((acted[0].0, acted[0].2.as_deref()), (killed, None));
    assert_eq!(acted[1].2.as_deref(), Some("the kill switch is already on"));
    assert_eq!((acted[2].0, acted[2].2.as_deref()), (flattened, None));
    let flatten_fills = records
        .iter()
        .filter(|r| match &r.event {
            Event::OrderReport { report } => {
                report["request"]["client_tag"] == "flatten" && report["kind"] == "fill"
            }
            _ => false,
        })
        .count();
    assert!(flatten_fills > 0, "no flatten fill in the journal");

    let journal = dir.path().join("paper.journal");
    assert_replays(&journal);
}

/// Disable, enable, quarantine and reload, each seen in `/strategies` and
/// in the journal; unknown strategies and actions are refused.
#[test]
fn strategy_actions_change_its_state() {
    let dir = tempfile::tempdir().unwrap();
    let paper = Paper::start(dir.path(), 10);
    let state = || paper.json("/strategies")[0]["state"].clone();
    let strategy = paper.json("/strategies")[0].clone();
    assert_eq!(strategy["strategy_id"], "sma-cross");
    assert_eq!(strategy["state"], "running");
    assert_eq!(strategy["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(strategy["limits"]["memory_mib"], 16);
    assert_eq!(strategy["risk"]["max_position"], "100000");

    let disabled = paper.act("/strategies/sma-cross/disable", None);
    assert_eq!(state(), "disabled");
    let (status, _) = paper.post("/strategies/sma-cross/disable", None);
    assert_eq!(status, StatusCode::CONFLICT);
    paper.wait_steps(disabled, 2);
    let enabled = paper.act("/strategies/sma-cross/enable", None);
    assert_eq!(state(), "running");

    let quarantined = paper.act(
        "/strategies/sma-cross/quarantine",
        Some(json!({ "reason": "testing" })),
    );
    let strategy = paper.json("/strategies")[0].clone();
    assert_eq!(strategy["state"], "quarantined");
    assert_eq!(strategy["cause"], "operator: testing");
    let (status, body) = paper.post("/strategies/sma-cross/quarantine", None);
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    paper.act("/strategies/sma-cross/enable", None);
    assert_eq!(state(), "running");
    let (status, body) = paper.post("/strategies/sma-cross/enable", None);
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, body) = paper.post("/strategies/nobody/disable", None);
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body["error"].as_str().unwrap().contains("nobody"));
    let (status, _) = paper.post("/strategies/sma-cross/explode", None);
    assert_eq!(status, StatusCode::NOT_FOUND);

    let reloaded = paper.act("/strategies/sma-cross/reload", None);
    paper.wait_for("/strategies", "the reload", |s| {
        s[0]["plugin_versions"] == 2
    });
    let lifecycle = paper.json("/events?kind=lifecycle&strategy=sma-cross");
    assert!(lifecycle
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["event"]["what"] == "reload_swapped"));

    let records = paper.stop();
    let decided: Vec<u64> = decisions_after(&records, disabled);
    assert!(
        decided.iter().all(|s| *s > enabled),
        "decisions while disabled: {decided:?}"
    );
    let acted: Vec<(u64, String, bool)> = actions(&records)
        .into_iter()
        .map(|(step, kind, refusal)| (step, kind.as_str().unwrap().to_owned(), refusal.is_none()))
        .collect();
    let kinds: Vec<(&str, bool)> = acted.iter().map(|(_, k, ok)| (k.as_str(), *ok)).collect();
    assert_eq!(
        kinds,
        [
            ("disable", true),
            ("disable", false),
            ("enable", true),
            ("quarantine", true),
            ("quarantine", false),
            ("enable", true),
            ("enable", false),
            ("disable", false),
            ("reload", true),
        ]
    );
    assert_eq!(acted[3].0, quarantined);
    assert_eq!(acted[8].0, reloaded);
    assert!(records.iter().any(|r| matches!(
        &r.event,
        Event::Lifecycle { what, .. } if what == "quarantined"
    )));
}

/// A follower of `/events` with `Accept: text/event-stream` gets the
/// backlog, then live records, each with its journal sequence as id.
#[test]
fn events_stream_live_over_sse() {
    let dir = tempfile::tempdir().unwrap();
    let paper = Paper::start(dir.path(), 10);
    let response: Response = paper
        .get("/events?kind=market_input")
        .header("accept", "text/event-stream")
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let mut lines = BufReader::new(response.take(1 << 20)).lines();
    let mut ids = Vec::new();
    let started = paper.json("")["step"].as_u64().unwrap();
    let mut steps = Vec::new();
    while steps.last().is_none_or(|s| *s < started + 5) {
        let line = lines.next().expect("stream ended").unwrap();
        if let Some(id) = line.strip_prefix("id: ").or(line.strip_prefix("id:")) {
            ids.push(id.trim().parse::<u64>().unwrap());
        } else if let Some(data) = line.strip_prefix("data: ").or(line.strip_prefix("data:")) {
            let record: Value = serde_json::from_str(data).unwrap();
            assert_eq!(record["event"]["kind"], "market_input");
            assert_eq!(record["sequence"].as_u64(), ids.last().copied());
            steps.push(record["event"]["snapshot_id"].as_u64().unwrap());
        }
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(steps.windows(2).all(|w| w[1] == w[0] + 1), "{steps:?}");

    // A reconnecting follower resumes after the last id it saw.
    let last = *ids.last().unwrap();
    let mut resumed = BufReader::new(
        paper
            .get("/events?kind=market_input")
            .header("accept", "text/event-stream")
            .header("last-event-id", last.to_string())
            .send()
            .unwrap(),
    )
    .lines();
    let first = loop {
        let line = resumed.next().expect("stream ended").unwrap();
        if let Some(id) = line.strip_prefix("id:") {
            break id.trim().parse::<u64>().unwrap();
        }
    };
    assert!(first > last);
    paper.stop();
}

/// Whether the server closed `stream` (rather than leaving it open) within
/// `wait`.
fn closed_by_server(stream: &mut TcpStream, wait: Duration) -> bool {
    stream.set_read_timeout(Some(wait)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => {
                return !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                )
            }
        }
    }
}

/// Slow-loris on loopback: connections that never finish their headers,
/// or send nothing, are closed after the header timeout; with the general
/// slots held by event streams and the rest squatted, the kill switch is
/// still reached through the slot kept for an operator's action.
#[test]
fn slow_loris_connections_are_closed_and_the_kill_switch_stays_reachable() {
    let dir = tempfile::tempdir().unwrap();
    let paper = Paper::start_with(
        dir.path(),
        20,
        "max_connections = 8\nheader_timeout_ms = 300\n",
    );
    let addr = paper
        .url
        .strip_prefix("http://")
        .unwrap()
        .split_once('/')
        .unwrap()
        .0
        .to_owned();
    // Three authenticated event streams and the first slow connections
    // hold the general slots; one slow connection squats the reserved one.
    let followers: Vec<Response> = (0..3)
        .map(|_| {
            let response = paper
                .get("/events?kind=market_input")
                .header("accept", "text/event-stream")
                .send()
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response
        })
        .collect();
    let mut loris: Vec<TcpStream> = (0..12)
        .map(|i| {
            let mut stream = TcpStream::connect(&addr).unwrap();
            if i % 2 == 0 {
                stream
                    .write_all(b"GET /runtimes HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .unwrap();
            }
            stream
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    let killed = loop {
        // A fresh connection each time: a refused one is closed at once.
        let client = Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        match client
            .post(format!("{}/kill", paper.url))
            .bearer_auth(TOKEN)
            .send()
        {
            Ok(response) => break response,
            Err(e) => {
                assert!(Instant::now() < deadline, "kill switch unreachable: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    assert_eq!(killed.status(), StatusCode::OK);
    for (i, stream) in loris.iter_mut().enumerate() {
        assert!(
            closed_by_server(stream, Duration::from_secs(10)),
            "slow connection {i} is still open"
        );
    }
    drop(followers);
    let records = paper.stop();
    let acted = actions(&records);
    assert_eq!(acted.len(), 1, "{acted:?}");
    assert_eq!(acted[0].1, "kill");
}

/// Tokens a client could guess, and settings out of range, stop the start.
#[test]
fn weak_tokens_and_unbounded_settings_are_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("r.json");
    let start = |token: &str, control: &str| {
        let session = paper_session(dir.path(), control);
        let out = command()
            .env(TOKEN_ENV, token)
            .args(["paper", session.to_str().unwrap(), "--report"])
            .arg(&report)
            .output()
            .unwrap();
        (out.status.code(), text(&out.stderr))
    };
    for (token, why) in [
        ("a", "at least 16"),
        ("   padded token with spaces   ", "visible ASCII"),
        ("abababababababababab", "distinct"),
    ] {
        let (code, err) = start(token, "");
        assert_eq!(code, Some(1), "{token:?}: {err}");
        assert!(
            err.contains("too weak") && err.contains(why) && err.contains(TOKEN_ENV),
            "{token:?}: {err}"
        );
    }
    let (code, err) = start(TOKEN, "max_connections = 1\nheader_timeout_ms = 0\n");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("[control] max_connections = 1 is out of range")
            && err.contains("[control] header_timeout_ms = 0"),
        "{err}"
    );
}

/// Bodies that would be ignored are refused (415 for a wrong content type,
/// 400 for a malformed or unknown field) and act on nothing; wrong tokens
/// in a row lock the client out, even with the right token, until
/// `Retry-After` has passed.
#[test]
fn malformed_bodies_and_repeated_wrong_tokens_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let paper = Paper::start(dir.path(), 20);
    let post = |path: &str, content_type: &str, body: &str| {
        paper
            .http
            .post(format!("{}{path}", paper.url))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .unwrap()
            .status()
    };
    let json = "application/json";
    for (path, content_type, body, status) in [
        (
            "/kill",
            "text/plain",
            r#"{"cancel_orders": true}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "/kill",
            json,
            r#"{"cancel": true}"#,
            StatusCode::BAD_REQUEST,
        ),
        ("/flatten", json, "garbage", StatusCode::BAD_REQUEST),
        ("/resume", json, r#"{"now": 1}"#, StatusCode::BAD_REQUEST),
        (
            "/strategies/sma-cross/disable",
            "application/x-www-form-urlencoded",
            "a=b",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "/strategies/sma-cross/disable",
            json,
            "[1]",
            StatusCode::BAD_REQUEST,
        ),
    ] {
        assert_eq!(post(path, content_type, body), status, "{path} {body}");
    }
    let state = paper.json("");
    assert_eq!(state["killed"], false);
    assert_eq!(paper.json("/strategies")[0]["state"], "running");

    let wrong = || {
        paper
            .http
            .get(format!("{}/orders", paper.url))
            .bearer_auth("wrong-token-but-long-enough")
            .send()
            .unwrap()
    };
    for _ in 0..5 {
        assert_eq!(wrong().status(), StatusCode::UNAUTHORIZED);
    }
    let locked = paper.get("/orders").send().unwrap();
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    std::thread::sleep(Duration::from_secs(wait));
    assert_eq!(
        paper.get("/orders").send().unwrap().status(),
        StatusCode::OK
    );
    let records = paper.stop();
    assert!(actions(&records).is_empty(), "a refused request acted");
}

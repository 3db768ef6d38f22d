//! Test plugin: a strategy that misbehaves on purpose, for the host's
//! hostile-plugin suite (`tests/all/hostile.rs`).
//!
//! It is built for `wasm32-wasip2`, so it imports WASI and can *try* to use
//! files, sockets, the environment and clocks through Rust's `std`.
//!
//! Parameters:
//!
//! | key          | meaning                                                  |
//! |--------------|----------------------------------------------------------|
//! | `instrument` | symbol it subscribes to and trades (required)            |
//! | `mode`       | how it misbehaves, see below (required)                  |
//! | `at`         | the `on-step` call (from 1) at which it starts; default 10 |
//! | `port`       | loopback TCP port `probe` tries to connect to; default 9 |
//! | `iterations` | loop iterations of `burn` per step; default 0            |
//!
//! With `mode = "init-panic"` it panics in `init`; with `mode = "init-sleep"`
//! it sleeps for an hour in `init`, then behaves.
//!
//! On its first step it places a resting limit buy of one lot at half the
//! close, so that the host's quarantine order policy has something to act on.
//! From step `at` on, by `mode`:
//!
//! * `spin` — loops forever;
//! * `grow` — allocates memory until something stops it;
//! * `panic` — panics (a trap, plugins are built with `panic = "abort"`);
//! * `exit` — calls `std::process::exit`;
//! * `flood` — returns 100,000 intents;
//! * `big-result` — returns one order whose client tag is 1 MiB;
//! * `log-spam` — logs 1 MiB;
//! * `forge` — cancels order ids 1 to 90 (other strategies' orders) and
//!   tags an order with another strategy's id;
//! * `huge-state` — behaves, but `save-state` returns 16 MiB;
//! * `probe` — tries to read and write files, list directories, read the
//!   environment, connect and bind sockets and resolve names, and reads the
//!   clocks and random; `save-state` returns what it observed as
//!   `key=value` lines;
//! * `sleep` — sleeps for an hour in every step, then behaves;
//! * `state-sleep` — behaves, but sleeps for an hour in `save-state`;
//! * `state-panic` — behaves, but panics in `save-state`;
//! * `log-big` — logs a 4 MiB line, over and over;
//! * `log-calls` — logs empty lines, over and over;
//! * `burn` — loops `iterations` times in every step (within the per-call
//!   budget, if `iterations` is), then behaves;
//! * `escape` — its name and version carry terminal escape sequences, and
//!   it logs some and then panics with some, to attack the operator's
//!   terminal.

use std::hash::{BuildHasher, Hasher};
use std::hint::black_box;

use cracktrader_guest::{log, Config, Info, Intent, LogLevel, Side, Strategy, View};

/// How long the sleeping modes sleep: far beyond any test's patience.
const AN_HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

/// Terminal escape sequences: clear the screen, set the window title, ring
/// the bell, and a C1 control (CSI as one byte).
const ESCAPES: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m";

/// The misbehaving strategy; see the crate documentation.
#[derive(Debug)]
pub struct Hostile {
    instrument: u32,
    lot: i64,
    tick: i64,
    mode: String,
    at: u64,
    port: u16,
    iterations: u64,
    steps: u64,
    observed: Vec<String>,
}

impl Strategy for Hostile {
    fn init(config: &Config) -> Result<(Self, Info), String> {
        let symbol: String = config.param("instrument")?;
        let instrument = config.require_instrument(&symbol)?;
        let mode: String = config.param("mode")?;
        match mode.as_str() {
            "init-panic" => panic!("hostile: deliberate panic in init"),
            "init-sleep" => std::thread::sleep(AN_HOUR),
            _ => {}
        }
        let hostile = Hostile {
            instrument: instrument.id,
            lot: instrument.lot_size,
            tick: instrument.tick_size,
            mode,
            at: config.param_or("at", 10)?,
            port: config.param_or("port", 9)?,
            iterations: config.param_or("iterations", 0)?,
            steps: 0,
            observed: Vec::new(),
        };
        let escape = if hostile.mode == "escape" {
            ESCAPES
        } else {
            ""
        };
        let info = Info {
            name: format!("hostile{escape}"),
            version: format!("{}{escape}", env!("CARGO_PKG_VERSION")),
            subscriptions: vec![symbol],
            warmup: 0,
        };
        Ok((hostile, info))
    }

    fn on_step(&mut self, view: &View, intents: &mut Vec<Intent>) {
        self.steps += 1;
        if self.steps == 1 {
            if let Some(bar) = view.bar(self.instrument) {
                let price = (bar.close / 2 / self.tick).max(1) * self.tick;
                intents.push(Intent::limit(
                    self.instrument,
                    Side::Buy,
                    self.lot,
                    price,
                    "resting",
                ));
            }
        }
        if self.steps < self.at {
            return;
        }
        match self.mode.as_str() {
            "spin" => {
                let mut n = 0u64;
                loop {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "grow" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(black_box(vec![1; 1 << 20]));
                }
            }
            "panic" => panic!("hostile: deliberate panic at step {}", self.steps),
            "burn" => {
                let mut n = 0u64;
                for _ in 0..self.iterations {
                    n = black_box(n.wrapping_add(1));
                }
            }
            "escape" => {
                log(LogLevel::Warn, &format!("hostile: log {ESCAPES}"));
                log(LogLevel::Error, &format!("hostile: error log {ESCAPES}"));
                panic!("hostile: panic {ESCAPES}");
            }
            "exit" => std::process::exit(7),
            "flood" => intents.extend((0..100_000).map(Intent::Cancel)),
            "big-result" => intents.push(Intent::limit(
                self.instrument,
                Side::Buy,
                self.lot,
                self.tick,
                "x".repeat(1 << 20),
            )),
            "log-spam" => {
                let line = "spam ".repeat(20);
                for _ in 0..(1 << 20) / line.len() {
                    log(LogLevel::Info, &line);
                }
            }
            "forge" => {
                intents.extend((1..=90).map(Intent::Cancel));
                intents.push(Intent::limit(
                    self.instrument,
                    Side::Buy,
                    self.lot,
                    self.tick,
                    "strategy_id=good",
                ));
            }
            "sleep" => std::thread::sleep(AN_HOUR),
            "log-big" => {
                let line = "x".repeat(4 << 20);
                loop {
                    log(LogLevel::Info, black_box(&line));
                }
            }
            "log-calls" => loop {
                log(LogLevel::Info, black_box(""));
            },
            "probe" if self.observed.is_empty() => self.observed = probe(self.port, view.time),
            _ => {}
        }
    }

    fn save_state(&self) -> Vec<u8> {
        match self.mode.as_str() {
            "huge-state" => vec![7; 16 << 20],
            "state-panic" => panic!("hostile: deliberate panic in save-state"),
            "state-sleep" => {
                std::thread::sleep(AN_HOUR);
                Vec::new()
            }
            _ => self.observed.join("\n").into_bytes(),
        }
    }
}

/// What each attempt to reach outside the sandbox gave.
fn probe(port: u16, step_time: i64) -> Vec<String> {
    fn outcome<T>(result: std::io::Result<T>) -> String {
        match result {
            Ok(_) => "ok".to_string(),
            Err(e) => format!("denied ({:?})", e.kind()),
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(-1, |d| d.as_nanos() as i64);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(42);
    vec![
        format!("read_file={}", outcome(std::fs::read("/etc/passwd"))),
        format!("write_file={}", outcome(std::fs::write("escape.txt", b"x"))),
        format!("list_root={}", outcome(std::fs::read_dir("/"))),
        format!("list_cwd={}", outcome(std::fs::read_dir("."))),
        format!("env_vars={}", std::env::vars_os().count()),
        format!("args={}", std::env::args_os().count()),
        format!(
            "tcp_connect={}",
            outcome(std::net::TcpStream::connect(("127.0.0.1", port)))
        ),
        format!(
            "tcp_listen={}",
            outcome(std::net::TcpListener::bind("127.0.0.1:0"))
        ),
        format!(
            "udp_bind={}",
            outcome(std::net::UdpSocket::bind("127.0.0.1:0"))
        ),
        format!(
            "resolve={}",
            outcome(std::net::ToSocketAddrs::to_socket_addrs(&("localhost", 80)))
        ),
        format!("clock_matches_step={}", now == step_time),
        format!("random={:016x}", hasher.finish()),
    ]
}

#[cfg(target_arch = "wasm32")]
cracktrader_guest::export_strategy!(Hostile);

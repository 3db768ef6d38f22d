//! The same SMA(10, 30) crossover in Rust, C, JavaScript and Python, side by
//! side in one host: component size, compile time, instantiate time, memory
//! per instance, per-step cost and backtest bars/s over a synthetic
//! 1,000,000-bar series (every language must produce the same fills).
//!
//! Run: `cargo xtask plugins && cargo bench -p cracktrader-tests --bench languages`
//! (`-- --bars N --calls N --instances N` to change the sizes).

use std::time::{Duration, Instant};

use cracktrader::config::SessionConfig;
use cracktrader::model::StrategyId;
use cracktrader::session::{load_market_data, validate, LoadedStrategy};
use cracktrader::strategy::Strategy;
use cracktrader::strategy_host::{CpuMeter, Limits, StrategyHost};
use cracktrader_tests::bench::{arg, init_config, per_call, run, write_synthetic_csv};
use cracktrader_tests::{built_plugin, plugin, SessionFile};

/// (language, component).
const LANGS: [(&str, &str); 4] = [
    ("rust", "sma-cross"),
    ("c", "sma-cross-c"),
    ("js", "sma-cross-js"),
    ("python", "sma-cross-py"),
];

/// Resident set size of this process, from /proc (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("statm resident pages");
    pages * 4096
}

fn main() {
    let n = arg("--bars", 1_000_000);
    let calls = arg("--calls", 100_000);
    let instances = arg("--instances", 10);
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("synthetic.csv");
    write_synthetic_csv(&csv, n);
    let session = SessionFile::sma(csv).write(dir.path());
    let mut config = SessionConfig::load(&session).expect("session file");
    // Caps, not reservations: interpreters need more than Rust's few MiB,
    // and SpiderMonkey's occasional garbage collection inside one on-step
    // call can exceed the default 50M fuel over a million steps.
    let limits = Limits {
        memory_mib: 256,
        fuel_per_call: 2_000_000_000,
        ..Limits::default()
    };
    config.strategies[0].limits = limits;
    let reference = validate(&config, &session).expect("valid session");
    let data = load_market_data(&config, &reference).expect("synthetic data");
    // No compiled-component cache: compile time is one of the figures.
    let host = StrategyHost::new(None, CpuMeter::Fuel).expect("engine");
    let id = StrategyId::new("bench");

    println!("bars: {n}; on-step timed over {calls} calls (1 bar, no account change); memory over {instances} live instances");
    println!("| language | component | compile | instantiate | memory / instance | on-step | backtest | bars/s | fills |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut fills = Vec::new();
    for (lang, name) in LANGS {
        let path = if lang == "rust" {
            plugin(name)
        } else {
            built_plugin(name)
        };
        let size = std::fs::metadata(&path).expect("component").len();

        let start = Instant::now();
        let component = match host.load(&path, &limits) {
            Ok(component) => component,
            Err(err) => {
                // Reported, not fatal: the other languages are still measured.
                println!(
                    "| {lang} | {:.1} KiB | refused by the host: {err} |",
                    size as f64 / 1024.0
                );
                continue;
            }
        };
        let compile = start.elapsed();

        let start = Instant::now();
        let first = host.instantiate(&component, &id, limits).expect("instance");
        let instantiate = start.elapsed();
        drop(first);

        let before = rss_bytes();
        let mut live = Vec::new();
        for _ in 0..instances {
            let mut instance = host.instantiate(&component, &id, limits).expect("instance");
            instance.init(&init_config(&config)).expect("init");
            live.push(instance);
        }
        let memory = rss_bytes().saturating_sub(before) / instances as u64;
        drop(live);

        let mut instance = host.instantiate(&component, &id, limits).expect("instance");
        let step = per_call(&mut instance, &config, calls);

        let mut run_config = config.clone();
        run_config.strategies[0].plugin = path.clone();
        let strategy = LoadedStrategy {
            strategy: Box::new(host.instantiate(&component, &id, limits).expect("instance")),
            plugin: name.into(),
            sha256: String::new(),
        };
        let (elapsed, f) = run(&run_config, &reference, &data, vec![strategy]);
        fills.push(f);
        println!(
            "| {lang} | {:.1} KiB | {} | {} | {:.2} MiB | {} | {:.2} s | {:.0} | {f} |",
            size as f64 / 1024.0,
            ms(compile),
            us(instantiate),
            memory as f64 / (1024.0 * 1024.0),
            us(step),
            elapsed.as_secs_f64(),
            n as f64 / elapsed.as_secs_f64(),
        );
    }
    assert!(
        fills.windows(2).all(|w| w[0] == w[1]),
        "every language must trade identically: {fills:?}"
    );
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}

//! Hot reload latency: time from a rebuilt plugin file being written (write
//! a temporary file, rename it over the plugin, as build tools do) to the
//! new version having taken over the strategy, for the Rust example plugin
//! `sma-cross`. Includes the watcher's 10 ms debounce, reading, compiling
//! (no compiled-component cache), instantiating, `init`, and the swap with
//! `save-state`/`restore-state`.
//!
//! Run: `cargo bench -p cracktrader-tests --bench hot_reload` (`-- --rounds N`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use cracktrader::hot_reload::{ReloadEvent, ReloadTarget, Reloader};
use cracktrader::paper;
use cracktrader::post_trade::EventKind;
use cracktrader::session::Session;
use cracktrader::strategy_host::{CpuMeter, Limits, StrategyHost};
use cracktrader_tests::{plugin, workspace_root, SessionFile};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map_or(20, |v| v.parse().expect("a number"));
    let dir = tempfile::tempdir().expect("temp dir");
    let plugin_path = dir.path().join("sma-cross.wasm");
    let bytes = std::fs::read(plugin("sma-cross")).expect("plugin built");
    std::fs::write(&plugin_path, &bytes).expect("copy plugin");
    let mut file = SessionFile::sma(workspace_root().join("examples/data/EURUSD.csv"));
    file.plugin = plugin_path.clone();
    let session_file = file.write(dir.path());
    // No cache: every new version is compiled, as a rebuilt plugin would be.
    let host = Arc::new(StrategyHost::new(None, CpuMeter::Fuel).expect("engine"));
    let mut session = Session::from_file(&session_file, &host).expect("session");
    for _ in 0..100 {
        session.step();
    }
    let targets = session
        .strategies()
        .map(|(id, config)| ReloadTarget {
            strategy_id: id.clone(),
            path: plugin_path.clone(),
            config: config.clone(),
            limits: Limits::default(),
        })
        .collect();
    let reloader =
        Reloader::start(Arc::clone(&host), targets, Duration::from_millis(10)).expect("watch");

    let mut latencies = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let written = Instant::now();
        let tmp = dir.path().join("sma-cross.wasm.tmp");
        std::fs::write(&tmp, &bytes).expect("write");
        std::fs::rename(&tmp, &plugin_path).expect("rename");
        loop {
            let event = reloader
                .next_timeout(Duration::from_secs(10))
                .expect("a reload within 10 s");
            let ready = matches!(event, ReloadEvent::Ready { .. });
            paper::apply(&mut session, event);
            if ready {
                break;
            }
        }
        latencies.push(written.elapsed());
        // The next step decides on the new version.
        session.step();
    }
    let report = session.finish();
    let swaps = report
        .events
        .iter()
        .filter(|e| e.kind == EventKind::ReloadSwapped)
        .count();
    assert_eq!(swaps, rounds, "{:?}", report.events);
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "sma-cross ({} KiB): file written -> trading on the new version, {rounds} reloads: median {:.1} ms, p90 {:.1} ms, max {:.1} ms (min {:.1} ms)",
        bytes.len() / 1024,
        ms(latencies[rounds / 2]),
        ms(latencies[rounds * 9 / 10]),
        ms(latencies[rounds - 1]),
        ms(latencies[0]),
    );
    let compiled: Vec<&str> = report
        .events
        .iter()
        .filter(|e| e.kind == EventKind::ReloadCompiled)
        .map(|e| e.cause.as_str())
        .take(3)
        .collect();
    println!("first compile events: {compiled:#?}");
}

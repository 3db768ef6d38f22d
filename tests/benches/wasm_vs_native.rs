//! WASM vs native: the same SMA(10, 30) crossover strategy backtested over a
//! synthetic 1,000,000-bar series, once as the real `sma-cross` component and
//! once compiled natively behind the same host `Strategy` interface. Prints
//! bars/s for each and their ratio; runs alternate, and the median of each
//! is reported.
//!
//! Then the cost of bounding guest CPU time: the same component backtested
//! and called with no meter, with fuel (deterministic; backtests) and with
//! epoch deadlines (paper/live), side by side.
//!
//! Run: `cargo bench -p cracktrader-tests --bench wasm_vs_native`
//! (`-- --bars N --rounds R` to change the size).

use std::time::Duration;

use cracktrader::config::SessionConfig;
use cracktrader::market_data::MarketData;
use cracktrader::reference_data::ReferenceData;
use cracktrader::session::{load_market_data, load_strategies, validate, LoadedStrategy};
use cracktrader::strategy_host::CpuMeter;
use cracktrader_tests::bench::{arg, median, per_call, run, write_synthetic_csv};
use cracktrader_tests::{host, host_with, plugin, Native, SessionFile};
use sma_cross::SmaCross;

fn main() {
    let (n, rounds) = (arg("--bars", 1_000_000), arg("--rounds", 3));
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("synthetic.csv");
    write_synthetic_csv(&csv, n);
    let path = SessionFile::sma(csv).write(dir.path());
    let config = SessionConfig::load(&path).expect("session file");
    let reference = validate(&config, &path).expect("valid session");
    let data = load_market_data(&config, &reference).expect("synthetic data");
    let host = host();
    let (mut wasm, mut native) = (Vec::new(), Vec::new());
    let mut fills = (0, 0);
    for _ in 0..rounds {
        let strategy = load_strategies(&config, &host)
            .expect("plugin")
            .pop()
            .unwrap();
        let (t, f) = run(&config, &reference, &data, vec![strategy]);
        wasm.push(t);
        fills.0 = f;
        let strategy = LoadedStrategy {
            strategy: Box::new(Native::<SmaCross>::default()),
            plugin: "native".into(),
            sha256: String::new(),
        };
        let (t, f) = run(&config, &reference, &data, vec![strategy]);
        native.push(t);
        fills.1 = f;
    }
    assert_eq!(fills.0, fills.1, "WASM and native must trade identically");
    let (wasm, native) = (median(wasm), median(native));
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!("bars: {n}, rounds: {rounds}, fills per run: {}", fills.0);
    println!(
        "wasm   (sma-cross component): {:>12.0} bars/s  ({:.3} s)",
        rate(wasm),
        wasm.as_secs_f64()
    );
    println!(
        "native (same code, same host): {:>12.0} bars/s  ({:.3} s)",
        rate(native),
        native.as_secs_f64()
    );
    println!("ratio wasm/native: {:.3}", rate(wasm) / rate(native));

    let calls = n.min(1_000_000);
    let mut component = load_strategies(&config, &host)
        .expect("plugin")
        .pop()
        .unwrap()
        .strategy;
    let wasm_call = per_call(component.as_mut(), &config, calls);
    let native_call = per_call(&mut Native::<SmaCross>::default(), &config, calls);
    // The boundary alone: trap-on-step (never trapping here) does nothing per step.
    let mut trivial_config = config.clone();
    trivial_config.strategies[0].plugin = plugin("trap-on-step");
    trivial_config.strategies[0].params =
        toml::from_str("instrument = \"EURUSD\"\ntrap_at = 1000000000").expect("params");
    let mut trivial = load_strategies(&trivial_config, &host)
        .expect("plugin")
        .pop()
        .unwrap()
        .strategy;
    let boundary = per_call(trivial.as_mut(), &trivial_config, calls);
    println!("on-step, 1 bar, no account change ({calls} calls): sma-cross wasm {wasm_call:?}, native {native_call:?}; do-nothing wasm guest {boundary:?}");

    cpu_meters(&config, &reference, &data, rounds, calls);
}

/// Backtest time and per-call time of `sma-cross` under each CPU meter.
fn cpu_meters(
    config: &SessionConfig,
    reference: &ReferenceData,
    data: &MarketData,
    rounds: usize,
    calls: usize,
) {
    let meters = [CpuMeter::Unmetered, CpuMeter::Fuel, CpuMeter::Epoch];
    let hosts = meters.map(host_with);
    let mut runs = [(); 3].map(|()| Vec::new());
    for _ in 0..rounds {
        // Interleaved, so that drift in machine speed hits every meter alike.
        for (host, times) in hosts.iter().zip(&mut runs) {
            let strategy = load_strategies(config, host)
                .expect("plugin")
                .pop()
                .unwrap();
            times.push(run(config, reference, data, vec![strategy]).0);
        }
    }
    let base = median(runs[0].clone());
    for ((meter, host), times) in meters.iter().zip(&hosts).zip(runs) {
        let backtest = median(times);
        let mut component = load_strategies(config, host)
            .expect("plugin")
            .pop()
            .unwrap()
            .strategy;
        let call = per_call(component.as_mut(), config, calls);
        println!(
            "cpu meter {:<10} backtest {:>8.3} s ({:.3}x unmetered), on-step {call:?}",
            format!("{meter:?}"),
            backtest.as_secs_f64(),
            backtest.as_secs_f64() / base.as_secs_f64()
        );
    }
}

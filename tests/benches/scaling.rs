//! How the runtime scales beyond one strategy on one instrument:
//!
//! 1. bars/s of SMA(10, 30) over 1,000,000 synthetic bars spread over 20
//!    instruments (one `sma-cross` registration each), as WASM components
//!    and natively behind the same host interface, side by side;
//! 2. view construction on the host (the market part of each strategy's
//!    view) against the number of subscribed instruments and strategies;
//! 3. the `on-step` call against the number of bars in the view (lowering
//!    the view into the guest), with a guest that does nothing;
//! 4. loading and instantiating `sma-cross`: cold compile, from the
//!    compiled-component cache, instantiation on demand and from a pool, and
//!    memory per live instance;
//! 5. sweep scaling: runs/s of a 16-point `sma-cross` sweep with 1 and 2
//!    worker threads, and their ratio.
//!
//! Run: `cargo bench -p cracktrader-tests --bench scaling`
//! (`-- --bars N --rounds R --sweep-bars N` to change the sizes).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cracktrader::config::SessionConfig;
use cracktrader::market_data::MarketData;
use cracktrader::model::Bar;
use cracktrader::model::{InstrumentId, SnapshotId, StrategyId};
use cracktrader::session::{load_market_data, load_strategies, validate, LoadedStrategy};
use cracktrader::state::StateCoordinator;
use cracktrader::strategy::{InitConfig, Strategy};
use cracktrader::strategy_host::{CpuMeter, Limits, StrategyHost};
use cracktrader::sweep::{self, Grid, Metric, Options, Shard, Sweep};
use cracktrader::views::{fill_market_view, View};
use cracktrader_tests::bench::{arg, median, run, write_synthetic_csv};
use cracktrader_tests::{eurusd, host, plugin, Native, SessionFile};
use sma_cross::SmaCross;

fn main() {
    let (n, rounds) = (arg("--bars", 1_000_000), arg("--rounds", 3));
    let dir = tempfile::tempdir().expect("temp dir");
    instruments(dir.path(), n, rounds);
    views();
    calls();
    instantiation(dir.path());
    sweeps(dir.path(), arg("--sweep-bars", 100_000), rounds);
}

/// Item 1: `n` bars over 20 instruments, WASM vs native.
fn instruments(dir: &Path, n: usize, rounds: usize) {
    const COUNT: usize = 20;
    let csv = dir.join("per-instrument.csv");
    write_synthetic_csv(&csv, n / COUNT);
    let path = dir.join("twenty.toml");
    std::fs::write(&path, twenty_instruments(&csv, COUNT)).expect("session file");
    let config = SessionConfig::load(&path).expect("session file");
    let reference = validate(&config, &path).expect("valid session");
    let data = load_market_data(&config, &reference).expect("synthetic data");
    let host = host();
    let (mut wasm, mut native) = (Vec::new(), Vec::new());
    let mut fills = (0, 0);
    for _ in 0..rounds {
        let strategies = load_strategies(&config, &host).expect("plugins");
        let (t, f) = run(&config, &reference, &data, strategies);
        wasm.push(t);
        fills.0 = f;
        let strategies = (0..COUNT)
            .map(|_| LoadedStrategy {
                strategy: Box::new(Native::<SmaCross>::default()),
                plugin: "native".into(),
                sha256: String::new(),
            })
            .collect();
        let (t, f) = run(&config, &reference, &data, strategies);
        native.push(t);
        fills.1 = f;
    }
    assert_eq!(fills.0, fills.1, "WASM and native must trade identically");
    let (wasm, native) = (median(wasm), median(native));
    let bars = data.bar_count();
    let rate = |d: Duration| bars as f64 / d.as_secs_f64();
    println!("## {COUNT} instruments, one sma-cross each: {bars} bars ({} steps), rounds {rounds}, fills {}", bars / COUNT, fills.0);
    println!(
        "wasm   {:>12.0} bars/s ({:.3} s); native {:>12.0} bars/s ({:.3} s); ratio wasm/native {:.3}",
        rate(wasm),
        wasm.as_secs_f64(),
        rate(native),
        native.as_secs_f64(),
        rate(wasm) / rate(native)
    );
}

/// A session of `count` instruments with the bars of `csv` each, and one
/// SMA(10, 30) registration per instrument.
fn twenty_instruments(csv: &Path, count: usize) -> String {
    let mut text = String::from(
        "[session]\nname = \"twenty\"\n\n[[execution]]\nid = \"sim-usd\"\ncurrency = \"USD\"\nstarting_cash = \"100000000\"\ncommission = \"0.001\"\n",
    );
    for i in 0..count {
        text += &format!(
            r#"
[[instruments]]
symbol = "I{i:02}"
base_currency = "B{i:02}"
quote_currency = "USD"
tick_size = "0.00001"
lot_size = "1"

[[data]]
instrument = "I{i:02}"
path = "{csv}"

[[strategies]]
id = "s{i:02}"
plugin = "{plugin}"
execution = "sim-usd"
instruments = ["I{i:02}"]

[strategies.params]
instrument = "I{i:02}"
fast = 10
slow = 30
quantity = "1000"
"#,
            csv = csv.display(),
            plugin = plugin("sma-cross").display(),
        );
    }
    text
}

/// Item 2: the host's share of building views: `fill_market_view` for every
/// strategy at every step, less stepping the data alone.
fn views() {
    const STEPS: usize = 20_000;
    println!("## view construction (host side, market part), {STEPS} steps");
    println!("| instruments | strategies | per step | per strategy view |");
    println!("|---|---|---|---|");
    for instruments in [1usize, 20, 100] {
        let series = (0..instruments)
            .map(|i| {
                (0..STEPS)
                    .map(|t| Bar {
                        instrument: InstrumentId(i as u32),
                        time: t as i64 * 60_000_000_000,
                        open: 110_000,
                        high: 110_010,
                        low: 109_990,
                        close: 110_000 + (t % 7) as i64,
                        volume: 1,
                    })
                    .collect()
            })
            .collect();
        let data = MarketData::new(series);
        let stepping = {
            let mut coordinator = StateCoordinator::new(data.clone().into(), instruments);
            let start = Instant::now();
            while coordinator.advance().is_some() {}
            start.elapsed()
        };
        for strategies in [1usize, 20] {
            let subscribed = vec![true; instruments];
            let mut views = vec![View::default(); strategies];
            let mut coordinator = StateCoordinator::new(data.clone().into(), instruments);
            let start = Instant::now();
            while let Some(snapshot) = coordinator.advance() {
                for view in &mut views {
                    assert!(fill_market_view(view, snapshot, &subscribed));
                }
            }
            let views_only = start.elapsed().saturating_sub(stepping);
            println!(
                "| {instruments} | {strategies} | {:.0} ns | {:.0} ns |",
                views_only.as_nanos() as f64 / STEPS as f64,
                views_only.as_nanos() as f64 / (STEPS * strategies) as f64
            );
        }
    }
}

/// Item 3: `on-step` of a do-nothing guest (`trap-on-step`, never trapping here)
/// against the number of bars in the view.
fn calls() {
    const CALLS: u32 = 100_000;
    let host = host();
    let component = host
        .load(&plugin("trap-on-step"), &Limits::default())
        .expect("plugin");
    let mut guest = host
        .instantiate(&component, &StrategyId::new("bench"), Limits::default())
        .expect("instance");
    guest
        .init(&InitConfig {
            strategy_id: "bench".into(),
            params: vec![
                ("instrument".into(), "EURUSD".into()),
                ("trap_at".into(), u64::MAX.to_string()),
            ],
            instruments: vec![eurusd(1)],
        })
        .expect("init");
    println!("## on-step of a do-nothing guest against bars in the view ({CALLS} calls)");
    println!("| bars in view | per call |");
    println!("|---|---|");
    for bars in [1usize, 20, 100] {
        let mut view = View::default();
        let start = Instant::now();
        for i in 0..CALLS {
            view.snapshot_id = SnapshotId(i.into());
            view.bars.clear();
            view.bars.extend((0..bars).map(|b| Bar {
                instrument: InstrumentId(0),
                time: i64::from(i) * 1000 + b as i64,
                open: 110_000,
                high: 110_000,
                low: 110_000,
                close: 110_000,
                volume: 1,
            }));
            assert!(guest.on_step(&view).expect("on-step").is_empty());
        }
        println!("| {bars} | {:?} |", start.elapsed() / CALLS);
    }
}

/// Resident set size of this process, from /proc (Linux).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse::<u64>().ok())
        .expect("statm resident pages")
        * 4096
}

/// Item 4: loading and instantiating `sma-cross`.
fn instantiation(dir: &Path) {
    const INSTANCES: u32 = 200;
    const LIVE: usize = 20;
    let path = plugin("sma-cross");
    let cache = dir.join("component-cache");
    let limits = Limits::default();
    let id = StrategyId::new("bench");
    println!("## sma-cross: load and instantiate");

    let on_demand = StrategyHost::new(Some(cache.clone()), CpuMeter::Fuel).expect("engine");
    let start = Instant::now();
    let component = on_demand.load(&path, &Limits::default()).expect("compile");
    let cold = start.elapsed();
    let start = Instant::now();
    let cached = on_demand
        .load(&path, &Limits::default())
        .expect("from cache");
    let warm = start.elapsed();
    println!(
        "load: cold compile {:.1} ms; from the compiled-component cache {:.2} ms",
        cold.as_secs_f64() * 1e3,
        warm.as_secs_f64() * 1e3
    );
    drop(cached);

    let pooled = StrategyHost::pooled(None, CpuMeter::Fuel, LIVE as u32, &limits).expect("pool");
    let pooled_component = pooled.load(&path, &Limits::default()).expect("compile");
    let config = InitConfig {
        strategy_id: "bench".into(),
        params: vec![
            ("instrument".into(), "EURUSD".into()),
            ("fast".into(), "10".into()),
            ("slow".into(), "30".into()),
            ("quantity".into(), "1000".into()),
        ],
        instruments: vec![eurusd(1)],
    };
    println!("| allocation | instantiate + init | memory / live instance ({LIVE} live) |");
    println!("|---|---|---|");
    for (name, host, component) in [
        ("on demand", &on_demand, &component),
        ("pooled", &pooled, &pooled_component),
    ] {
        // The first instances warm the pool's slots and the allocator.
        let mut times = Vec::new();
        for _ in 0..INSTANCES {
            let start = Instant::now();
            let mut instance = host.instantiate(component, &id, limits).expect("instance");
            instance.init(&config).expect("init");
            times.push(start.elapsed());
        }
        let before = rss_bytes();
        let live: Vec<_> = (0..LIVE)
            .map(|_| {
                let mut instance = host.instantiate(component, &id, limits).expect("instance");
                instance.init(&config).expect("init");
                instance
            })
            .collect();
        let memory = rss_bytes().saturating_sub(before) / LIVE as u64;
        drop(live);
        println!(
            "| {name} | {:.1} µs (median of {INSTANCES}) | {:.0} KiB |",
            median(times).as_secs_f64() * 1e6,
            memory as f64 / 1024.0
        );
    }
}

/// Item 5: a 16-point sweep over `bars` synthetic bars with 1 and 2 jobs.
fn sweeps(dir: &Path, bars: usize, rounds: usize) {
    let csv = dir.join("sweep.csv");
    write_synthetic_csv(&csv, bars);
    let sweep_dir = dir.join("sweep");
    std::fs::create_dir_all(&sweep_dir).expect("dir");
    let path = SessionFile::sma(csv).write(&sweep_dir);
    let config = SessionConfig::load(&path).expect("session file");
    let grid = || {
        Grid::new(
            ["fast=5..20:5", "slow=30..60:10"]
                .map(|s| s.parse().expect("axis"))
                .to_vec(),
        )
        .expect("grid")
    };
    let points = grid().len();
    let mut times: [Vec<Duration>; 2] = Default::default();
    let mut results = Vec::new();
    for round in 0..rounds {
        for (slot, jobs) in [1usize, 2].into_iter().enumerate() {
            let host = sweep::host(&config, None, jobs).expect("engine");
            let sweep = Sweep::load(&path, &host, None, grid()).expect("sweep");
            let options = Options {
                jobs,
                shard: Shard::ALL,
                sort: Metric::Sharpe,
                keep: 1,
            };
            let out: PathBuf = dir.join(format!("sweep-out-{round}-{jobs}"));
            let start = Instant::now();
            let result = sweep.run(&host, &options, &out, |_| ()).expect("sweep");
            times[slot].push(start.elapsed());
            results.push(result);
        }
    }
    assert!(
        results.windows(2).all(|w| w[0] == w[1]),
        "jobs change no result"
    );
    let [one, two] = times.map(median);
    let rate = |d: Duration| points as f64 / d.as_secs_f64();
    println!(
        "## sweep: {points} runs of sma-cross over {bars} bars each, rounds {rounds} (median)"
    );
    println!(
        "jobs 1: {:.2} runs/s ({:.2} s); jobs 2: {:.2} runs/s ({:.2} s); ratio 2/1: {:.2}",
        rate(one),
        one.as_secs_f64(),
        rate(two),
        two.as_secs_f64(),
        rate(two) / rate(one)
    );
}

//! Shared parts of the benchmark binaries (`benches/`): synthetic data, one
//! timed backtest, per-call timing.

use std::path::Path;
use std::time::{Duration, Instant};

use cracktrader::config::SessionConfig;
use cracktrader::market_data::MarketData;
use cracktrader::model::{Bar, InstrumentId, SnapshotId};
use cracktrader::reference_data::ReferenceData;
use cracktrader::session::{LoadedStrategy, Session};
use cracktrader::strategy::{InitConfig, Strategy};
use cracktrader::views::View;

/// Writes a deterministic random walk around 1.10000 (5 decimals), one bar
/// a minute, as a CSV in the bundled format.
pub fn write_synthetic_csv(path: &Path, n: usize) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        // xorshift64*: fixed seed, so every run replays the same series.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let price = |p: i64| format!("{}.{:05}", p / 100_000, p % 100_000);
    let start = chrono::DateTime::from_timestamp(1_500_000_000, 0).expect("valid time");
    let mut csv = String::with_capacity(n * 64);
    csv.push_str(",Open,High,Low,Close,Volume\n");
    let mut close: i64 = 110_000;
    for i in 0..n {
        let open = close;
        close = (open + (next() % 41) as i64 - 20).max(1_000);
        let wick = (next() % 10) as i64;
        let time = start + chrono::Duration::minutes(i as i64);
        csv += &format!(
            "{},{},{},{},{},1000\n",
            time.format("%Y-%m-%d %H:%M:%S"),
            price(open),
            price(open.max(close) + wick),
            price((open.min(close) - wick).max(1)),
            price(close)
        );
    }
    std::fs::write(path, csv).expect("write synthetic data");
}

/// Runs one backtest of `strategies` (in the order of `config.strategies`)
/// and returns its step-loop time and its fills.
pub fn run(
    config: &SessionConfig,
    reference: &ReferenceData,
    data: &MarketData,
    strategies: Vec<LoadedStrategy>,
) -> (Duration, u64) {
    let session =
        Session::new(config, reference.clone(), data.clone(), strategies).expect("session");
    let start = Instant::now();
    let report = session.run();
    let elapsed = start.elapsed();
    for strategy in &report.strategies {
        assert_eq!(strategy.quarantined, None);
    }
    (elapsed, report.summary.fills)
}

/// The median of `v` (the upper one for an even count).
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The number after `name` on the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

/// The `init` config of the first registration of `config`, granting
/// EURUSD (5 price decimals) as instrument 0.
pub fn init_config(config: &SessionConfig) -> InitConfig {
    let params = config.strategies[0].params_as_text(&mut Default::default());
    InitConfig {
        strategy_id: "sma".into(),
        params,
        instruments: vec![crate::eurusd(1)],
    }
}

/// Time per `on-step` call alone: the same one-bar view, `calls` times,
/// through the host `Strategy` interface (no session around it).
pub fn per_call(strategy: &mut dyn Strategy, config: &SessionConfig, calls: usize) -> Duration {
    strategy.init(&init_config(config)).expect("init");
    let mut view = View::default();
    let start = Instant::now();
    for i in 0..calls {
        // Flat prices: no crossings, so no intents, just the call.
        view.snapshot_id = SnapshotId(i as u64);
        view.bars.clear();
        view.bars.push(Bar {
            instrument: InstrumentId(0),
            time: i as i64,
            open: 110_000,
            high: 110_000,
            low: 110_000,
            close: 110_000,
            volume: 1,
        });
        let intents = strategy.on_step(&view).expect("on-step");
        assert!(intents.is_empty());
    }
    start.elapsed() / calls as u32
}

//! The example session end to end: real component, real EURUSD data.

use cracktrader::config::SessionConfig;
use cracktrader::session::{load_market_data, validate, LoadedStrategy, Session};
use cracktrader_tests::{host, workspace_root, Native};
use sma_cross::SmaCross;

fn example() -> std::path::PathBuf {
    workspace_root().join("examples").join("sma_eurusd.toml")
}

#[test]
fn example_backtest_trades_and_reports() {
    let report = Session::from_file(&example(), &host())
        .expect("session builds")
        .run();
    assert!(report.events.is_empty(), "{:?}", report.events);
    let s = &report.summary;
    assert_eq!((s.bars, s.steps), (5000, 5000));
    assert!(
        s.fills > 10,
        "SMA(10,30) crosses often on 5000 hourly bars: {s:?}"
    );
    assert_eq!(s.fills as usize, report.fills.len());
    assert_eq!(report.equity_curve.len(), 5000);
    assert_eq!(report.strategies[0].name, "sma-cross");
    assert_eq!(report.strategies[0].sha256.len(), 64);
    // Long-only: buys and sells alternate, starting with a buy, each 1000 units.
    for (i, fill) in report.fills.iter().enumerate() {
        let want = if i % 2 == 0 {
            cracktrader::model::Side::Buy
        } else {
            cracktrader::model::Side::Sell
        };
        assert_eq!(fill.side, want, "fill {i}");
        assert_eq!(fill.qty, 1000.into());
    }
}

#[test]
fn two_runs_give_byte_identical_reports() {
    let host = host();
    let run = || {
        serde_json::to_vec_pretty(&Session::from_file(&example(), &host).unwrap().run()).unwrap()
    };
    assert_eq!(run(), run());
}

/// The same strategy code, compiled natively, behind the same host interface.
#[test]
fn wasm_and_native_strategies_agree_exactly() {
    let path = example();
    let config = SessionConfig::load(&path).unwrap();
    let reference = validate(&config, &path).unwrap();
    let data = load_market_data(&config, &reference).unwrap();
    let native = LoadedStrategy {
        strategy: Box::new(Native::<SmaCross>::default()),
        plugin: "native".into(),
        sha256: String::new(),
    };
    let native = Session::new(&config, reference, data, vec![native])
        .unwrap()
        .run();
    let wasm = Session::from_file(&path, &host()).unwrap().run();
    assert_eq!(native.fills, wasm.fills);
    assert_eq!(native.equity_curve, wasm.equity_curve);
    assert_eq!(native.summary, wasm.summary);
}

/// Two strategies on two instruments in two execution contexts (a cash
/// account and a margin account with fees, latency and a participation cap):
/// each trades only its own instrument in its own context, and the run is a
/// pure function of its inputs.
#[test]
fn two_contexts_example_keeps_strategies_apart() {
    let path = workspace_root().join("examples").join("two_contexts.toml");
    let report = Session::from_file(&path, &host()).unwrap().run();
    assert!(report.events.is_empty(), "{:?}", report.events);
    for (strategy, execution, instrument, route) in [
        ("goog-sma", "equities", "GOOG", "sim"),
        ("btc-sma", "crypto", "BTCUSD", "sim-crypto"),
    ] {
        let fills: Vec<_> = report
            .fills
            .iter()
            .filter(|f| f.strategy_id.as_str() == strategy)
            .collect();
        assert!(fills.len() >= 4, "{strategy}: {} fills", fills.len());
        for f in fills {
            assert_eq!(
                (
                    f.execution_id.as_str(),
                    f.instrument.as_str(),
                    f.route_id.as_str()
                ),
                (execution, instrument, route)
            );
        }
    }
    // The crypto context charges its fixed fee on every order's first fill.
    let btc = report
        .fills
        .iter()
        .find(|f| f.strategy_id.as_str() == "btc-sma")
        .unwrap();
    assert!(btc.commission > rust_decimal::Decimal::ONE, "{btc:?}");
    let again = Session::from_file(&path, &host()).unwrap().run();
    assert_eq!(again.fills, report.fills);
    assert_eq!(again.summary.final_equity, report.summary.final_equity);
}

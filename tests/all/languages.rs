//! The `sma-cross` strategy written in C, JavaScript and Python trades
//! exactly like the Rust original: same fills, same equity curve, same
//! summary on the example session, and the same saved-state bytes.

use std::path::Path;

use cracktrader::config::SessionConfig;
use cracktrader::intents::Proposal;
use cracktrader::model::{Bar, InstrumentId, SnapshotId, StrategyId};
use cracktrader::post_trade::Report;
use cracktrader::session::{load_market_data, load_strategies, validate, Session};
use cracktrader::strategy::{InitConfig, Strategy};
use cracktrader::strategy_host::Limits;
use cracktrader::views::View;
use cracktrader_tests::{built_plugin, eurusd, host, plugin, workspace_root};

/// The same tests for each port, one module per language, so that one
/// language's failure does not hide another's result.
macro_rules! port_tests {
    ($($lang:ident => $component:literal),* $(,)?) => {$(
        mod $lang {
            #[test]
            fn trades_exactly_like_rust() {
                super::trades_exactly_like_rust($component);
            }

            #[test]
            fn continues_from_rust_state_identically() {
                super::continues_from_rust_state_identically($component);
            }

            #[test]
            fn refuses_bad_config_and_state_like_rust() {
                super::refuses_bad_config_and_state_like_rust($component);
            }
        }
    )*};
}

port_tests!(c => "sma-cross-c", js => "sma-cross-js", python => "sma-cross-py");

/// Interpreters (SpiderMonkey, CPython) need more than the example's 16 MiB.
fn limits() -> Limits {
    Limits {
        memory_mib: 256,
        ..Limits::default()
    }
}

/// The example session (SMA(10, 30) on 5000 EURUSD hours) with `plugin`.
fn run_example(plugin: &Path) -> Report {
    let path = workspace_root().join("examples").join("sma_eurusd.toml");
    let mut config = SessionConfig::load(&path).unwrap();
    config.strategies[0].plugin = plugin.to_path_buf();
    config.strategies[0].limits = limits();
    let reference = validate(&config, &path).unwrap();
    let data = load_market_data(&config, &reference).unwrap();
    let strategies = load_strategies(&config, &host()).unwrap_or_else(|err| refused(plugin, err));
    let report = Session::new(&config, reference, data, strategies)
        .unwrap()
        .run();
    assert!(
        report.events.is_empty(),
        "{}: {:?}",
        plugin.display(),
        report.events
    );
    report
}

/// Fails the test because the host would not load or start `plugin`.
fn refused(plugin: &Path, err: impl std::fmt::Display) -> ! {
    panic!("the host refused {}: {err:#}", plugin.display())
}

fn trades_exactly_like_rust(port: &str) {
    let rust = run_example(&plugin("sma-cross"));
    let other = run_example(&built_plugin(port));
    assert!(
        rust.fills.len() > 10,
        "the example trades: {:?}",
        rust.summary
    );
    assert_eq!(other.fills, rust.fills, "{port}: fills");
    assert_eq!(
        other.equity_curve, rust.equity_curve,
        "{port}: equity curve"
    );
    assert_eq!(other.summary, rust.summary, "{port}: summary");
}

fn config(params: &[(&str, &str)]) -> InitConfig {
    InitConfig {
        strategy_id: "s1".into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        instruments: vec![eurusd(1000)],
    }
}

const PARAMS: [(&str, &str); 4] = [
    ("instrument", "EURUSD"),
    ("fast", "3"),
    ("slow", "7"),
    ("quantity", "1000"),
];

/// A started instance of the plugin at `path`, initialised with `params`
/// (`Err` if `init` refuses them).
fn start(path: &Path, params: &[(&str, &str)]) -> Result<Box<dyn Strategy>, String> {
    let host = host();
    let plugin = host
        .load(path, &limits())
        .unwrap_or_else(|err| refused(path, err));
    let mut strategy = host
        .instantiate(&plugin, &StrategyId::new("s1"), limits())
        .unwrap_or_else(|err| refused(path, err));
    match strategy.init(&config(params)) {
        Ok(_) => Ok(Box::new(strategy)),
        Err(err) => Err(err.to_string()),
    }
}

fn instance(path: &Path) -> Box<dyn Strategy> {
    start(path, &PARAMS).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// A wavy series of closes (in points) with crossings of SMA(3) and SMA(7),
/// and non-representable decimals so rounding matters.
fn close(step: usize) -> i64 {
    let wave = [0, 13, 29, 41, 37, 22, 3, -11, -27, -35, -30, -18, -2, 9];
    110_000 + wave[step % wave.len()] * 7 + (step as i64 % 5) * 3
}

fn step(strategy: &mut dyn Strategy, n: usize) -> Vec<Proposal> {
    let view = View {
        snapshot_id: SnapshotId(n as u64),
        time: n as i64,
        bars: vec![Bar {
            instrument: InstrumentId(0),
            time: n as i64,
            open: close(n),
            high: close(n),
            low: close(n),
            close: close(n),
            volume: 1,
        }],
        ..View::default()
    };
    strategy.on_step(&view).unwrap()
}

/// Each port restores state saved by the Rust component (the layouts are
/// the same, f64 bits included) and continues exactly as Rust does; along
/// the way both return the same intents and save the same bytes.
fn continues_from_rust_state_identically(port: &str) {
    let port_path = built_plugin(port);
    let mut rust = instance(&plugin("sma-cross"));
    let mut other = instance(&port_path);
    let mut intents = 0;
    for n in 0..40 {
        let expected = step(rust.as_mut(), n);
        intents += expected.len();
        assert_eq!(step(other.as_mut(), n), expected, "{port} step {n}");
    }
    assert!(intents > 0, "the series crosses");
    assert_eq!(
        other.save_state().unwrap(),
        rust.save_state().unwrap(),
        "{port}"
    );

    let mut restored = instance(&port_path);
    restored.restore_state(&rust.save_state().unwrap()).unwrap();
    for n in 40..80 {
        assert_eq!(
            step(restored.as_mut(), n),
            step(rust.as_mut(), n),
            "{port} restored, step {n}"
        );
    }
    assert_eq!(
        restored.save_state().unwrap(),
        rust.save_state().unwrap(),
        "{port}"
    );
}

/// Refusals carry the same messages in every language.
fn refuses_bad_config_and_state_like_rust(port: &str) {
    let bad: [&[(&str, &str)]; 3] = [
        &[],
        &[
            ("instrument", "GBPUSD"),
            ("fast", "0"),
            ("quantity", "1000"),
        ],
        &[
            ("instrument", "EURUSD"),
            ("fast", "20"),
            ("slow", "x"),
            ("quantity", "1500"),
        ],
    ];
    let refusal = |path: &Path, params: &[(&str, &str)]| {
        start(path, params).err().expect("init refuses the config")
    };
    let port_path = built_plugin(port);
    for params in bad {
        assert_eq!(
            refusal(&port_path, params),
            refusal(&plugin("sma-cross"), params),
            "{port} {params:?}"
        );
    }
    let mut rust = instance(&plugin("sma-cross"));
    let mut other = instance(&port_path);
    let mut truncated = rust.save_state().unwrap();
    truncated.pop();
    for state in [vec![], vec![2], truncated] {
        assert_eq!(
            other.restore_state(&state).unwrap_err().to_string(),
            rust.restore_state(&state).unwrap_err().to_string(),
            "{port} {state:?}"
        );
    }
}

//! Support for the integration tests and benchmarks: where the real plugin
//! components are, session files on disk, and a native adapter that runs a
//! guest-SDK strategy in the host process behind the same [`Strategy`]
//! interface as a WASM component (for like-for-like comparisons).

use std::path::{Path, PathBuf};

/// Shared parts of the benchmark binaries.
pub mod bench;

use cracktrader::intents::{PlaceOrder, Proposal, ReplaceOrder};
use cracktrader::model::{
    InstrumentId, OrderId, OrderStatus, OrderType, ReportKind, Side, TimeInForce,
};
use cracktrader::plugin_api::decimal_to_wit;
use cracktrader::strategy::{InitConfig, InstrumentSpec, Strategy, StrategyError, StrategyInfo};
use cracktrader::strategy_host::{CpuMeter, StrategyHost};
use cracktrader::views::View;
use cracktrader_guest as guest;
use rust_decimal::Decimal;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_owned()
}

/// A real plugin component built by this crate's build script.
pub fn plugin(name: &str) -> PathBuf {
    Path::new(env!("CRACKTRADER_PLUGIN_DIR")).join(format!("{name}.wasm"))
}

/// A plugin component built by `cargo xtask plugins` (the C, JavaScript and
/// Python plugins, which need toolchains the build script does not install)
/// or by `cargo xtask test` (the `new-strategy` templates).
///
/// # Panics
///
/// If the component is missing, naming the command that builds it: a test
/// over a missing plugin must fail, never skip.
pub fn built_plugin(name: &str) -> PathBuf {
    let path = Path::new(env!("CRACKTRADER_PLUGIN_DIR")).join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run `cargo xtask test` (or `cargo xtask plugins` for the \
         C, JavaScript and Python plugins), which installs the pinned toolchains and builds it",
        path.display()
    );
    path
}

/// The `cracktrader` CLI binary, built (once per test process) in the
/// profile the tests were built in, for tests that run it as a real process.
///
/// # Panics
///
/// If cargo cannot build it.
pub fn cracktrader_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| built_bin("cracktrader-cli", "cracktrader"))
}

/// The `cracktrader-venue-emulator` binary, built like [`cracktrader_bin`].
pub fn emulator_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BIN.get_or_init(|| built_bin("cracktrader-venue-emulator", "cracktrader-venue-emulator"))
}

/// Builds binary `bin` of `package` in the tests' profile; its path.
fn built_bin(package: &str, bin: &str) -> PathBuf {
    let profile = if cfg!(debug_assertions) {
        "dev"
    } else {
        "release"
    };
    let output = std::process::Command::new(env!("CARGO"))
        .current_dir(workspace_root())
        .args(["build", "--quiet", "-p", package, "--bin", bin])
        .args(["--profile", profile, "--message-format=json"])
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo build -p {package} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The last artifact message names the binary, wherever the target
    // directory is.
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|m| m["executable"].as_str().map(PathBuf::from))
        .next_back()
        .unwrap_or_else(|| panic!("cargo names the {bin} executable"))
}

/// EURUSD as the host grants it in `init`: instrument 0, prices with 5
/// decimals, whole units, lots of `lot_size`.
pub fn eurusd(lot_size: i64) -> InstrumentSpec {
    InstrumentSpec {
        id: InstrumentId(0),
        symbol: "EURUSD".into(),
        base_currency: "EUR".into(),
        quote_currency: "USD".into(),
        price_scale: 5,
        qty_scale: 0,
        tick_size: 1,
        lot_size,
        min_notional: Decimal::ZERO,
    }
}

/// A fuel-metered strategy host whose compiled-component cache lives under `target/`.
pub fn host() -> StrategyHost {
    host_with(CpuMeter::Fuel)
}

/// A strategy host with `meter`, caching compiled components under `target/`.
pub fn host_with(meter: CpuMeter) -> StrategyHost {
    StrategyHost::new(
        Some(workspace_root().join("target").join("component-cache")),
        meter,
    )
    .expect("engine")
}

/// The `[[instruments]]` and `[[data]]` entries of EURUSD (tick 0.00001,
/// lot 1) with its bars in the CSV at `data`, for session files.
pub fn eurusd_toml(data: &Path) -> String {
    format!(
        r#"[[instruments]]
symbol = "EURUSD"
base_currency = "EUR"
quote_currency = "USD"
tick_size = "0.00001"
lot_size = "1"

[[data]]
instrument = "EURUSD"
path = "{}"
"#,
        data.display()
    )
}

/// A session file for one `sma-cross` registration (or another plugin with
/// the same parameters) over one CSV, written into `dir`.
pub struct SessionFile {
    /// Plugin component to register.
    pub plugin: PathBuf,
    /// CSV of bars for instrument `EURUSD`.
    pub data: PathBuf,
    /// Extra `[strategies.params]` lines.
    pub params: String,
    /// Commission fraction.
    pub commission: &'static str,
}

impl SessionFile {
    /// The example's settings: SMA(10, 30), 1000 units, commission 0.001.
    pub fn sma(data: PathBuf) -> Self {
        Self {
            plugin: plugin("sma-cross"),
            data,
            params: "instrument = \"EURUSD\"\nfast = 10\nslow = 30\nquantity = \"1000\"\n".into(),
            commission: "0.001",
        }
    }

    /// Writes the session file into `dir` and returns its path.
    pub fn write(&self, dir: &Path) -> PathBuf {
        let text = format!(
            r#"[session]
name = "test"

{eurusd}
[[execution]]
id = "sim-usd"
currency = "USD"
starting_cash = "100000"
commission = "{commission}"

[[strategies]]
id = "s1"
plugin = "{plugin}"
execution = "sim-usd"
instruments = ["EURUSD"]

[strategies.params]
{params}"#,
            eurusd = eurusd_toml(&self.data),
            plugin = self.plugin.display(),
            commission = self.commission,
            params = self.params,
        );
        let path = dir.join("session.toml");
        std::fs::write(&path, text).expect("write session file");
        path
    }
}

/// Runs a guest-SDK strategy natively behind the host's [`Strategy`]
/// interface. Each step copies the host's view into the guest's view types —
/// the native counterpart of lowering it into a component.
pub struct Native<S: guest::Strategy> {
    strategy: Option<S>,
    view: guest::View,
    intents: Vec<guest::Intent>,
}

impl<S: guest::Strategy> Default for Native<S> {
    fn default() -> Self {
        Self {
            strategy: None,
            view: guest::View::default(),
            intents: Vec::new(),
        }
    }
}

/// Converts between the host's and the guest's names of one enum: the same
/// cases, written twice.
macro_rules! same_cases {
    ($name:ident: $from:ty => $to:ty { $($case:ident),* $(,)? }) => {
        fn $name(value: $from) -> $to {
            match value {
                $(<$from>::$case => <$to>::$case,)*
            }
        }
    };
}

same_cases!(side: Side => guest::Side { Buy, Sell });
same_cases!(host_side: guest::Side => Side { Buy, Sell });
same_cases!(status: OrderStatus => guest::OrderStatus {
    Submitted, Accepted, Rejected, PartiallyFilled, Filled, PendingCancel, Cancelled, Expired,
});
same_cases!(report_kind: ReportKind => guest::ReportKind {
    Submitted, Accepted, Rejected, Triggered, Fill, PendingCancel, Cancelled, Expired, Replaced,
    CancelRejected, ReplaceRejected,
});

/// A host decimal as a guest receives it (rounded to 64 bits as on the boundary).
fn dec(d: Decimal) -> guest::Decimal {
    let d = decimal_to_wit(d);
    guest::Decimal {
        mantissa: d.mantissa,
        scale: d.scale,
    }
}

fn order_type(t: OrderType<i64>) -> guest::OrderType {
    match t {
        OrderType::Market => guest::OrderType::Market,
        OrderType::Limit { price } => guest::OrderType::Limit(price),
        OrderType::Stop { stop } => guest::OrderType::Stop(stop),
        OrderType::StopLimit { stop, limit } => {
            guest::OrderType::StopLimit(guest::StopLimit { stop, limit })
        }
    }
}

fn host_order_type(t: guest::OrderType) -> OrderType<i64> {
    match t {
        guest::OrderType::Market => OrderType::Market,
        guest::OrderType::Limit(price) => OrderType::Limit { price },
        guest::OrderType::Stop(stop) => OrderType::Stop { stop },
        guest::OrderType::StopLimit(sl) => OrderType::StopLimit {
            stop: sl.stop,
            limit: sl.limit,
        },
    }
}

fn tif(t: TimeInForce) -> guest::TimeInForce {
    match t {
        TimeInForce::Gtc => guest::TimeInForce::Gtc,
        TimeInForce::Ioc => guest::TimeInForce::Ioc,
        TimeInForce::Fok => guest::TimeInForce::Fok,
        TimeInForce::Gtd(t) => guest::TimeInForce::Gtd(t),
        TimeInForce::Day => guest::TimeInForce::Day,
    }
}

fn host_tif(t: guest::TimeInForce) -> TimeInForce {
    match t {
        guest::TimeInForce::Gtc => TimeInForce::Gtc,
        guest::TimeInForce::Ioc => TimeInForce::Ioc,
        guest::TimeInForce::Fok => TimeInForce::Fok,
        guest::TimeInForce::Gtd(t) => TimeInForce::Gtd(t),
        guest::TimeInForce::Day => TimeInForce::Day,
    }
}

/// The native counterpart of the SDK's `View::update`: the step's market
/// data, and the account whenever the host sent one (else only reports are
/// cleared).
fn copy_view(from: &View, to: &mut guest::View) {
    to.snapshot_id = from.snapshot_id.0;
    to.time = from.time;
    to.bars.clear();
    to.bars.extend(from.bars.iter().map(|b| guest::Bar {
        instrument: b.instrument.0,
        time: b.time,
        open: b.open,
        high: b.high,
        low: b.low,
        close: b.close,
        volume: b.volume,
    }));
    to.quotes.clear();
    to.quotes.extend(from.quotes.iter().map(|q| guest::Quote {
        instrument: q.instrument.0,
        time: q.time,
        bid: q.bid,
        bid_size: q.bid_size,
        ask: q.ask,
        ask_size: q.ask_size,
    }));
    to.trades.clear();
    to.trades.extend(from.trades.iter().map(|t| guest::Trade {
        instrument: t.instrument.0,
        time: t.time,
        price: t.price,
        size: t.size,
    }));
    let Some(account) = &from.account else {
        to.reports.clear();
        return;
    };
    to.base_currency = account.base_currency.clone();
    to.equity = dec(account.equity);
    to.margin_used = dec(account.margin_used);
    to.positions = account
        .positions
        .iter()
        .map(|p| guest::Position {
            instrument: p.instrument.0,
            qty: p.qty,
            avg_price: dec(p.avg_price),
        })
        .collect();
    to.balances = account
        .balances
        .iter()
        .map(|b| guest::Balance {
            currency: b.currency.clone(),
            total: dec(b.total),
            free: dec(b.free),
        })
        .collect();
    to.open_orders = account
        .open_orders
        .iter()
        .map(|o| guest::OpenOrder {
            id: o.id.0,
            instrument: o.instrument.0,
            side: side(o.side),
            order_type: order_type(o.order_type),
            time_in_force: tif(o.time_in_force),
            qty: o.qty,
            filled_qty: o.filled_qty,
            status: status(o.status),
            triggered: o.triggered,
            reduce_only: o.reduce_only,
            post_only: o.post_only,
            client_tag: o.client_tag.clone(),
        })
        .collect();
    to.reports = account
        .reports
        .iter()
        .map(|r| guest::OrderReport {
            sequence: r.sequence,
            order_id: r.order_id.0,
            instrument: r.instrument.0,
            side: side(r.side),
            kind: report_kind(r.kind),
            status: status(r.status),
            client_tag: r.client_tag.clone(),
            fill_qty: r.fill_qty,
            fill_price: r.fill_price,
            maker: r.maker,
            commission: dec(r.commission),
            reason: r.reason.clone(),
            time: r.time,
        })
        .collect();
}

fn host_intent(intent: guest::Intent) -> Proposal {
    match intent {
        guest::Intent::Cancel(id) => Proposal::Cancel(OrderId(id)),
        guest::Intent::CancelAll(instrument) => Proposal::CancelAll(instrument.map(InstrumentId)),
        guest::Intent::Replace(r) => Proposal::Replace(ReplaceOrder {
            order_id: OrderId(r.order_id),
            qty: r.qty,
            limit_price: r.limit_price,
            stop_price: r.stop_price,
        }),
        guest::Intent::Place(p) => Proposal::Place(PlaceOrder {
            instrument: InstrumentId(p.instrument),
            side: host_side(p.side),
            order_type: host_order_type(p.order_type),
            time_in_force: host_tif(p.time_in_force),
            qty: p.qty,
            reduce_only: p.reduce_only,
            post_only: p.post_only,
            client_tag: p.client_tag,
        }),
    }
}

fn not_initialised() -> StrategyError {
    StrategyError::Trap {
        call: "native",
        message: "called before init".into(),
    }
}

impl<S: guest::Strategy> Strategy for Native<S> {
    fn init(&mut self, config: &InitConfig) -> Result<StrategyInfo, StrategyError> {
        let config = guest::Config {
            strategy_id: config.strategy_id.clone(),
            params: config.params.clone(),
            instruments: config
                .instruments
                .iter()
                .map(|i| guest::Instrument {
                    id: i.id.0,
                    symbol: i.symbol.clone(),
                    base_currency: i.base_currency.clone(),
                    quote_currency: i.quote_currency.clone(),
                    price_scale: i.price_scale,
                    qty_scale: i.qty_scale,
                    tick_size: i.tick_size,
                    lot_size: i.lot_size,
                    min_notional: dec(i.min_notional),
                })
                .collect(),
        };
        let (strategy, info) = S::init(&config).map_err(StrategyError::InitRefused)?;
        self.strategy = Some(strategy);
        Ok(StrategyInfo {
            name: info.name,
            version: info.version,
            subscriptions: info.subscriptions,
            warmup: info.warmup,
        })
    }

    fn on_step(&mut self, view: &View) -> Result<Vec<Proposal>, StrategyError> {
        let strategy = self.strategy.as_mut().ok_or_else(not_initialised)?;
        copy_view(view, &mut self.view);
        strategy.on_step(&self.view, &mut self.intents);
        Ok(self.intents.drain(..).map(host_intent).collect())
    }

    fn save_state(&mut self) -> Result<Vec<u8>, StrategyError> {
        Ok(self
            .strategy
            .as_ref()
            .ok_or_else(not_initialised)?
            .save_state())
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), StrategyError> {
        self.strategy
            .as_mut()
            .ok_or_else(not_initialised)?
            .restore_state(state)
            .map_err(StrategyError::RestoreRefused)
    }

    fn reset(&mut self) -> Result<(), StrategyError> {
        *self = Self::default();
        Ok(())
    }
}

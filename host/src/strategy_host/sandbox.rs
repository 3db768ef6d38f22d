//! The world a guest lives in: per-instance host state, the `host` import
//! (logging under a budget), and a virtual WASI environment.
//!
//! Guests built for WASI (every componentize-py component, Rust's
//! `wasm32-wasip2`) import clocks, random, stdio, files and sockets even when
//! they never use them. They get a deterministic, empty world:
//!
//! * wall and monotonic clocks read the time of the step being decided (the
//!   snapshot time), never the host's clock;
//! * random bytes come from a generator seeded by the strategy id, so two
//!   runs of a backtest see the same bytes;
//! * no environment variables, no arguments, no preopened directories (so no
//!   file can be opened), stdin closed, stdout and stderr discarded;
//! * sockets: TCP, UDP and name lookup are all refused.
//!
//! WASI interfaces outside that set (e.g. `wasi:http`) are refused at load
//! time by the import check in the parent module.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use sha2::{Digest, Sha256};
use wasmtime::component::ResourceTable;
use wasmtime::StoreLimits;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::model::StrategyId;
use crate::plugin_api::{host, wit};

/// WASI packages a guest may import; each is served by the virtual
/// environment described in the module documentation.
pub const VIRTUAL_WASI_PACKAGES: [&str; 6] = [
    "wasi:io",
    "wasi:clocks",
    "wasi:random",
    "wasi:cli",
    "wasi:filesystem",
    "wasi:sockets",
];

/// Per-instance host state: identity, resource limits, the per-call log
/// budget and the virtual WASI context.
pub struct HostState {
    pub(super) strategy_id: StrategyId,
    pub(super) limits: StoreLimits,
    pub(super) log_budget: u32,
    pub(super) max_log_bytes: u32,
    /// Set when a call tried to log beyond its budget.
    pub(super) log_overrun: bool,
    pub(super) last_error_log: Option<String>,
    /// The time guests see, in ns since the Unix epoch: the snapshot time.
    pub(super) clock: SnapshotClock,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl HostState {
    pub(super) fn new(
        strategy_id: StrategyId,
        limits: StoreLimits,
        max_log_bytes: u32,
        clock: SnapshotClock,
    ) -> Self {
        let wasi = WasiCtx::builder()
            .wall_clock(clock.clone())
            .monotonic_clock(clock.clone())
            .secure_random(seeded_rng(&strategy_id, "secure"))
            .insecure_random(seeded_rng(&strategy_id, "insecure"))
            .insecure_random_seed(u128::from_le_bytes(
                seed(&strategy_id, "insecure-seed")[..16]
                    .try_into()
                    .expect("16 bytes"),
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            strategy_id,
            limits,
            log_budget: 0,
            max_log_bytes,
            log_overrun: false,
            last_error_log: None,
            clock,
            wasi,
            table: ResourceTable::new(),
        }
    }
}

fn seed(strategy_id: &StrategyId, purpose: &str) -> [u8; 32] {
    Sha256::digest(format!("cracktrader/wasi/{purpose}/{strategy_id}")).into()
}

fn seeded_rng(strategy_id: &StrategyId, purpose: &str) -> StdRng {
    StdRng::from_seed(seed(strategy_id, purpose))
}

/// A clock that shows guests the time of the step being decided.
#[derive(Clone, Default)]
pub struct SnapshotClock(Arc<AtomicI64>);

impl SnapshotClock {
    /// Sets the time, in ns since the Unix epoch.
    pub fn set(&self, nanos: i64) {
        self.0.store(nanos, Ordering::Relaxed);
    }

    fn nanos(&self) -> u64 {
        u64::try_from(self.0.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

impl HostWallClock for SnapshotClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(1)
    }

    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos())
    }
}

impl HostMonotonicClock for SnapshotClock {
    fn resolution(&self) -> u64 {
        1
    }

    // Snapshot times increase strictly from step to step, so this is monotonic.
    fn now(&self) -> u64 {
        self.nanos()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl wit::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: wit::LogLevel, message: String) {
        if level == wit::LogLevel::Error {
            self.last_error_log = Some(message.chars().take(1024).collect());
        }
        let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
        if len > self.log_budget {
            // The call is failed when it returns (see `WasmStrategy::call`).
            self.log_budget = 0;
            self.log_overrun = true;
            return;
        }
        self.log_budget -= len;
        let id = &self.strategy_id;
        match level {
            wit::LogLevel::Trace => tracing::trace!(strategy_id = %id, "{message}"),
            wit::LogLevel::Debug => tracing::debug!(strategy_id = %id, "{message}"),
            wit::LogLevel::Info => tracing::info!(strategy_id = %id, "{message}"),
            wit::LogLevel::Warn => tracing::warn!(strategy_id = %id, "{message}"),
            wit::LogLevel::Error => tracing::error!(strategy_id = %id, "{message}"),
        }
    }
}

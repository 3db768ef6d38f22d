//! The world a guest lives in: per-instance host state, the `host` import
//! (logging under a budget), and a virtual WASI environment.
//!
//! Guests built for WASI (every componentize-py component, Rust's
//! `wasm32-wasip2`) import clocks, random, stdio, files and sockets even when
//! they never use them. They get a deterministic, empty world:
//!
//! * wall and monotonic clocks read the time of the step being decided (the
//!   snapshot time), never the host's clock;
//! * monotonic-clock subscriptions (`subscribe-duration`, `subscribe-instant`,
//!   which back `sleep` and poll timeouts) are ready at once: virtual time
//!   stands still during a call, so waiting on it would never end, and
//!   waiting on the host's clock would block the session and let a guest
//!   measure real time;
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
use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable, WasmStr};
use wasmtime::StoreContextMut;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock;
use wasmtime_wasi::p2::{subscribe, DynPollable, Pollable};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use super::guest_text::clean;
use super::limits::StoreBudget;
use crate::model::StrategyId;
use crate::plugin_api::{wit, WIT_PACKAGE, WIT_VERSION};

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

/// A host import call that broke the budget of the guest call it was made
/// in; the import fails with it, which traps the guest call at once.
#[derive(Debug, thiserror::Error)]
pub(super) enum HostBudget {
    /// A `log` line did not fit the call's remaining log bytes.
    #[error("log budget exceeded")]
    LogBytes,
    /// The call made more host import calls than allowed.
    #[error("host call budget exceeded")]
    Calls,
}

/// Per-instance host state: identity, resource limits, the per-call
/// host-import budgets and the virtual WASI context.
pub struct HostState {
    pub(super) strategy_id: StrategyId,
    pub(super) limits: StoreBudget,
    /// Log bytes left in the current call.
    pub(super) log_budget: u32,
    pub(super) max_log_bytes: u32,
    /// Calls of host imports left in the current call.
    pub(super) host_calls_left: u32,
    pub(super) max_host_calls: u32,
    pub(super) last_error_log: Option<String>,
    /// The time guests see, in ns since the Unix epoch: the snapshot time.
    pub(super) clock: SnapshotClock,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl HostState {
    pub(super) fn new(
        strategy_id: StrategyId,
        limits: StoreBudget,
        max_log_bytes: u32,
        max_host_calls: u32,
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
            host_calls_left: 0,
            max_host_calls,
            last_error_log: None,
            clock,
            wasi,
            table: ResourceTable::new(),
        }
    }

    /// Gives the next guest call its full host-import budgets.
    pub(super) fn refill_budgets(&mut self) {
        self.log_budget = self.max_log_bytes;
        self.host_calls_left = self.max_host_calls;
    }

    /// Counts one host import call against the current guest call's budget.
    fn charge_call(&mut self) -> Result<(), HostBudget> {
        self.host_calls_left = self
            .host_calls_left
            .checked_sub(1)
            .ok_or(HostBudget::Calls)?;
        Ok(())
    }
}

/// Links the `host` interface of the WIT package and the virtual parts of WASI
/// that wasmtime-wasi does not provide (see the module documentation) into
/// `linker`, which already holds wasmtime-wasi's implementation: ours shadow
/// its monotonic clock.
pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    // Linked by hand rather than through the generated `host::Host` trait,
    // which would receive the message already copied into a `String`: a
    // `WasmStr` is only a checked view of guest memory (its lifting is
    // charged to fuel by wasmtime), so an over-budget line is refused before
    // the host copies or prints any of it.
    linker
        .instance(&format!("{WIT_PACKAGE}/host@{WIT_VERSION}"))?
        .func_wrap(
            "log",
            |mut store: StoreContextMut<'_, HostState>,
             (level, message): (wit::LogLevel, WasmStr)| {
                store.data_mut().charge_call()?;
                let text = message.to_str(&store)?;
                let len = u32::try_from(text.len()).unwrap_or(u32::MAX);
                let state = store.data();
                if len > state.log_budget {
                    return Err(HostBudget::LogBytes.into());
                }
                let line = clean(&text);
                emit(&state.strategy_id, level, &line);
                let error_line = (level == wit::LogLevel::Error).then_some(line);
                let state = store.data_mut();
                state.log_budget -= len;
                if error_line.is_some() {
                    state.last_error_log = error_line;
                }
                Ok(())
            },
        )?;
    linker.allow_shadowing(true);
    monotonic_clock::add_to_linker::<HostState, HasSelf<HostState>>(linker, |s| s)?;
    linker.allow_shadowing(false);
    Ok(())
}

fn emit(id: &StrategyId, level: wit::LogLevel, message: &str) {
    match level {
        wit::LogLevel::Trace => tracing::trace!(strategy_id = %id, "{message}"),
        wit::LogLevel::Debug => tracing::debug!(strategy_id = %id, "{message}"),
        wit::LogLevel::Info => tracing::info!(strategy_id = %id, "{message}"),
        wit::LogLevel::Warn => tracing::warn!(strategy_id = %id, "{message}"),
        wit::LogLevel::Error => tracing::error!(strategy_id = %id, "{message}"),
    }
}

/// A pollable that is ready at once: what every clock subscription gives.
struct Ready;

#[async_trait::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

impl monotonic_clock::Host for HostState {
    fn now(&mut self) -> wasmtime::Result<monotonic_clock::Instant> {
        self.charge_call()?;
        Ok(HostMonotonicClock::now(&self.clock))
    }

    fn resolution(&mut self) -> wasmtime::Result<monotonic_clock::Duration> {
        self.charge_call()?;
        Ok(HostMonotonicClock::resolution(&self.clock))
    }

    fn subscribe_instant(
        &mut self,
        _when: monotonic_clock::Instant,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.subscribe_ready()
    }

    fn subscribe_duration(
        &mut self,
        _duration: monotonic_clock::Duration,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        self.subscribe_ready()
    }
}

impl HostState {
    fn subscribe_ready(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        self.charge_call()?;
        let ready = self.table.push(Ready)?;
        subscribe(&mut self.table, ready)
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

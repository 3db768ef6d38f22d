//! What one strategy registration may consume (`[strategies.limits]`), and
//! how CPU time is metered.

use serde::{Deserialize, Serialize};
use wasmtime::ResourceLimiter;

/// How the engine bounds the CPU time of one guest call. Engine-wide: both
/// are compiled into the guest's machine code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CpuMeter {
    /// Fuel (≈ WebAssembly instructions): deterministic, so a backtest's
    /// outcome never depends on the speed of the machine it ran on.
    #[default]
    Fuel,
    /// Wall-clock deadline, checked at epoch ticks (1 ms): cheaper than fuel
    /// on heavy guests, but a slow machine can stop a call that a fast one
    /// finishes. For paper and live sessions, which run on the clock anyway.
    Epoch,
    /// No CPU bound at all; only for measuring what the meters cost.
    #[serde(skip)]
    Unmetered,
}

/// Sandbox limits of one strategy registration (`[strategies.limits]`).
/// Breaking any of them quarantines the strategy; see `docs/security.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Linear memory cap in MiB: the sum of all the store's memories, so
    /// that many memories cannot add up past it. Default 64.
    pub memory_mib: u32,
    /// Most table elements (function pointers), summed over all the store's
    /// tables. Default 100,000.
    pub table_elements: u32,
    /// Most core instances, and most tables, the component may create (each
    /// counted separately). Default 64: componentize-py guests need ~20.
    pub instances: u32,
    /// Most linear memories the component may create. Default 8: guests of
    /// every supported language use one or two.
    pub memories: u32,
    /// Largest plugin file in MiB, checked before it is compiled. Default 64
    /// (a componentize-py guest is ~17 MiB).
    pub max_plugin_mib: u32,
    /// Most functions the plugin's core modules may define, counted before
    /// compiling: compile time and memory grow with it. Default 100,000 (a
    /// componentize-py guest defines ~13,000).
    pub max_functions: u32,
    /// Most data segments in the plugin's core modules. Default 100,000 (a
    /// componentize-js guest has ~10,000).
    pub max_data_segments: u32,
    /// Most bytes of data segments in MiB, summed over the plugin's core
    /// modules. Default 32 (a componentize-py guest has ~11 MiB).
    pub max_data_mib: u32,
    /// Fuel per call with the fuel meter. Default 50,000,000, about 10 ms of
    /// guest code on a current CPU.
    pub fuel_per_call: u64,
    /// Wall-clock budget per call in milliseconds with the epoch meter. Default 100.
    pub time_per_call_ms: u32,
    /// Wall-clock deadline per call in milliseconds with the fuel meter: a
    /// backstop, far above what the fuel budget allows, for guest time that
    /// fuel does not count. Default 10,000.
    pub deadline_per_call_ms: u32,
    /// Calls of host imports (`log`, WASI clocks) one guest call may make.
    /// Default 10,000.
    pub max_host_calls_per_call: u32,
    /// Most intents one step may return. Default 100.
    pub max_intents_per_step: u32,
    /// Most bytes of intents one step may return (fixed size per intent
    /// plus client tags). Default 65,536.
    pub max_result_bytes: u32,
    /// Log bytes a plugin may write per call. Default 4096.
    pub max_log_bytes_per_call: u32,
    /// Largest saved state in bytes. Default 1 MiB.
    pub max_state_bytes: u32,
    /// Share of one per-call CPU budget (fuel, or time with the epoch meter)
    /// each step adds to the registration's session reserve, in percent
    /// (1 to 100): what it may use per step on average. Default 20.
    pub cpu_share_percent: u32,
    /// The session reserve's size, in per-call budgets: how long a strategy
    /// may run above its share before it is quarantined. Default 20.
    pub cpu_reserve_calls: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_mib: 64,
            table_elements: 100_000,
            instances: 64,
            memories: 8,
            max_plugin_mib: 64,
            max_functions: 100_000,
            max_data_segments: 100_000,
            max_data_mib: 32,
            fuel_per_call: 50_000_000,
            time_per_call_ms: 100,
            deadline_per_call_ms: 10_000,
            max_host_calls_per_call: 10_000,
            max_intents_per_step: 100,
            max_result_bytes: 64 * 1024,
            max_log_bytes_per_call: 4096,
            max_state_bytes: 1024 * 1024,
            cpu_share_percent: 20,
            cpu_reserve_calls: 20,
        }
    }
}

impl Limits {
    /// What is wrong with these limits, one `field: problem` line each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems: Vec<String> = self
            .zero_fields()
            .map(|field| format!("{field}: must be positive"))
            .collect();
        if self.cpu_share_percent > 100 {
            problems.push(format!(
                "cpu_share_percent: must be at most 100, got {}",
                self.cpu_share_percent
            ));
        }
        problems
    }

    /// Names of the limits that are zero: each must be positive.
    fn zero_fields(&self) -> impl Iterator<Item = &'static str> {
        [
            ("memory_mib", self.memory_mib == 0),
            ("table_elements", self.table_elements == 0),
            ("instances", self.instances == 0),
            ("memories", self.memories == 0),
            ("max_plugin_mib", self.max_plugin_mib == 0),
            ("max_functions", self.max_functions == 0),
            ("max_data_segments", self.max_data_segments == 0),
            ("max_data_mib", self.max_data_mib == 0),
            ("fuel_per_call", self.fuel_per_call == 0),
            ("time_per_call_ms", self.time_per_call_ms == 0),
            ("deadline_per_call_ms", self.deadline_per_call_ms == 0),
            ("max_host_calls_per_call", self.max_host_calls_per_call == 0),
            ("max_intents_per_step", self.max_intents_per_step == 0),
            ("max_result_bytes", self.max_result_bytes == 0),
            ("max_state_bytes", self.max_state_bytes == 0),
            ("cpu_share_percent", self.cpu_share_percent == 0),
            ("cpu_reserve_calls", self.cpu_reserve_calls == 0),
        ]
        .into_iter()
        .filter_map(|(field, zero)| zero.then_some(field))
    }
}

/// Bytes in one MiB.
const MIB: u64 = 1024 * 1024;

/// `mib` MiB in bytes, saturating where `usize` is smaller.
pub(super) fn mib_bytes(mib: u32) -> usize {
    usize::try_from(u64::from(mib) * MIB).unwrap_or(usize::MAX)
}

/// What one store may hold, summed over everything in it: wasmtime's own
/// `StoreLimits` caps each memory and table separately, so a component with
/// many of them could grow the host without bound.
///
/// Growing past a cap fails the growth, which traps the guest (a
/// `memory.grow` that returns -1 to a guest that ignores it would only move
/// the failure somewhere less clear).
#[derive(Debug)]
pub(super) struct StoreBudget {
    memory_mib: u32,
    table_elements: u32,
    /// Bytes of linear memory, over all memories.
    memory: Pool,
    /// Table elements, over all tables.
    table: Pool,
    instances: usize,
    tables: usize,
    memories: usize,
}

/// What is left of one summed cap, and what the last permitted growth
/// charged to it: refunded if that growth then failed.
#[derive(Debug)]
struct Pool {
    left: usize,
    pending: usize,
}

impl Pool {
    fn new(left: usize) -> Self {
        Self { left, pending: 0 }
    }

    /// Takes `desired - current` and remembers it until the growth is known
    /// to have happened, or fails with `over`. A growth past the item's own
    /// `maximum` fails anyway, uncharged.
    fn grow(
        &mut self,
        (current, desired, maximum): (usize, usize, Option<usize>),
        over: OverBudget,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let more = desired.saturating_sub(current);
        self.left = self.left.checked_sub(more).ok_or(over)?;
        self.pending = more;
        Ok(true)
    }

    /// Gives back what the last growth charged: it failed.
    fn refund(&mut self) {
        self.left = self.left.saturating_add(std::mem::take(&mut self.pending));
    }
}

/// A growth the store budget refused; the error of the trap it causes.
#[derive(Debug, thiserror::Error)]
pub(super) enum OverBudget {
    /// The store's memories would exceed [`Limits::memory_mib`] in all.
    #[error("the plugin's memories would exceed memory_mib = {0} MiB in all")]
    Memory(u32),
    /// The store's tables would exceed [`Limits::table_elements`] in all.
    #[error("the plugin's tables would exceed table_elements = {0} in all")]
    Tables(u32),
}

impl StoreBudget {
    pub(super) fn new(limits: &Limits) -> Self {
        let count = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        Self {
            memory_mib: limits.memory_mib,
            table_elements: limits.table_elements,
            memory: Pool::new(mib_bytes(limits.memory_mib)),
            table: Pool::new(count(limits.table_elements)),
            instances: count(limits.instances),
            tables: count(limits.instances),
            memories: count(limits.memories),
        }
    }
}

impl ResourceLimiter for StoreBudget {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let over = OverBudget::Memory(self.memory_mib);
        self.memory.grow((current, desired, maximum), over)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory.refund();
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let over = OverBudget::Tables(self.table_elements);
        self.table.grow((current, desired, maximum), over)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table.refund();
        Ok(())
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
    }
}

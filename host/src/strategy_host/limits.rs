//! What one strategy registration may consume (`[strategies.limits]`), and
//! how CPU time is metered.

use serde::{Deserialize, Serialize};

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
    /// Linear memory cap in MiB, over all of the instance's memories. Default 64.
    pub memory_mib: u32,
    /// Most elements of any one table (function pointers). Default 100,000.
    pub table_elements: u32,
    /// Most core instances, tables and memories the component may create
    /// (each counted separately). Default 64: componentize-py guests need ~20.
    pub instances: u32,
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
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_mib: 64,
            table_elements: 100_000,
            instances: 64,
            fuel_per_call: 50_000_000,
            time_per_call_ms: 100,
            deadline_per_call_ms: 10_000,
            max_host_calls_per_call: 10_000,
            max_intents_per_step: 100,
            max_result_bytes: 64 * 1024,
            max_log_bytes_per_call: 4096,
            max_state_bytes: 1024 * 1024,
        }
    }
}

impl Limits {
    /// Names of the limits that are zero: each must be positive.
    pub fn zero_fields(&self) -> impl Iterator<Item = &'static str> {
        [
            ("memory_mib", self.memory_mib == 0),
            ("table_elements", self.table_elements == 0),
            ("instances", self.instances == 0),
            ("fuel_per_call", self.fuel_per_call == 0),
            ("time_per_call_ms", self.time_per_call_ms == 0),
            ("deadline_per_call_ms", self.deadline_per_call_ms == 0),
            ("max_host_calls_per_call", self.max_host_calls_per_call == 0),
            ("max_intents_per_step", self.max_intents_per_step == 0),
            ("max_result_bytes", self.max_result_bytes == 0),
            ("max_state_bytes", self.max_state_bytes == 0),
        ]
        .into_iter()
        .filter_map(|(field, zero)| zero.then_some(field))
    }
}

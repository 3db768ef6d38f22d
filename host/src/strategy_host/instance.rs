//! A strategy running in its own wasmtime store: its instance, how each
//! call is metered (per call, and against the session's CPU reserve), and
//! how a failed call is classified.

use wasmtime::{Store, Trap};

use super::guest_text;
use super::limits::StoreBudget;
use super::sandbox::{HostBudget, HostState, SnapshotClock};
use super::session_budget::{per_call, CpuReserve, Usage};
use super::{CpuMeter, Limits, EPOCH_TICK};
use crate::intents::Proposal;
use crate::model::StrategyId;
use crate::plugin_api::{empty_wit_view, fill_wit_view, wit, StrategyPlugin, StrategyPluginPre};
use crate::strategy::{InitConfig, Strategy, StrategyError, StrategyInfo};
use crate::views::View;

/// A store with `limits` and an instance of `pre` in it.
fn new_instance(
    pre: &StrategyPluginPre<HostState>,
    strategy_id: &StrategyId,
    limits: Limits,
    meter: CpuMeter,
) -> Result<(Store<HostState>, StrategyPlugin), StrategyError> {
    let state = HostState::new(
        strategy_id.clone(),
        StoreBudget::new(&limits),
        limits.max_log_bytes_per_call,
        limits.max_host_calls_per_call,
        SnapshotClock::default(),
    );
    let mut store = Store::new(pre.engine(), state);
    store.limiter(|s| &mut s.limits);
    arm_meter(
        &mut store,
        meter,
        &limits,
        per_call(meter, &limits),
        "instantiate",
    )?;
    let bindings = pre.instantiate(&mut store).map_err(|e| {
        match classify("instantiate", e, &mut store, &limits, meter) {
            // wasmtime's count errors name no setting: say which one it is.
            StrategyError::Trap { call, message } if message.contains("count too high") => {
                StrategyError::Trap {
                    call,
                    message: format!(
                        "{message} ([strategies.limits] instances = {}, memories = {}; \
                         tables count against instances)",
                        limits.instances, limits.memories
                    ),
                }
            }
            other => other,
        }
    })?;
    Ok((store, bindings))
}

/// Gives the next call `budget` in the meter's unit (fuel, or milliseconds
/// with the epoch meter); the fuel meter's deadline is its backstop.
fn arm_meter(
    store: &mut Store<HostState>,
    meter: CpuMeter,
    limits: &Limits,
    budget: u64,
    call: &'static str,
) -> Result<(), StrategyError> {
    let deadline_ms = match meter {
        CpuMeter::Fuel => {
            store.set_fuel(budget).map_err(|e| trap(call, e))?;
            u64::from(limits.deadline_per_call_ms)
        }
        CpuMeter::Epoch => budget,
        CpuMeter::Unmetered => return Ok(()),
    };
    // At least one tick: a deadline of 0 would have passed already.
    let ticks = (u128::from(deadline_ms) / EPOCH_TICK.as_millis()).max(1);
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
    store.epoch_deadline_trap();
    Ok(())
}

/// The wall-clock deadline of one call under `meter`, in milliseconds.
fn deadline_ms(meter: CpuMeter, limits: &Limits) -> Option<u32> {
    match meter {
        CpuMeter::Fuel => Some(limits.deadline_per_call_ms),
        CpuMeter::Epoch => Some(limits.time_per_call_ms),
        CpuMeter::Unmetered => None,
    }
}

/// A strategy running in its own wasmtime store.
pub struct WasmStrategy {
    store: Store<HostState>,
    bindings: StrategyPlugin,
    pre: StrategyPluginPre<HostState>,
    strategy_id: StrategyId,
    limits: Limits,
    meter: CpuMeter,
    /// Survives [`Strategy::reset`]: a fresh instance is no fresh budget.
    reserve: CpuReserve,
    /// The failure that left the instance unusable, if one did.
    poisoned: Option<String>,
    /// The last step's view as the boundary record; its lists are reused.
    view: wit::View,
}

fn trap(call: &'static str, e: wasmtime::Error) -> StrategyError {
    StrategyError::Trap {
        call,
        message: format!("{e:#}"),
    }
}

fn classify(
    call: &'static str,
    e: wasmtime::Error,
    store: &mut Store<HostState>,
    limits: &Limits,
    meter: CpuMeter,
) -> StrategyError {
    match e.downcast_ref::<HostBudget>() {
        Some(HostBudget::LogBytes) => {
            return StrategyError::LogBudget {
                call,
                limit: limits.max_log_bytes_per_call,
            }
        }
        Some(HostBudget::Calls) => {
            return StrategyError::HostCalls {
                call,
                limit: limits.max_host_calls_per_call,
            }
        }
        None => {}
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            return StrategyError::CpuBudget {
                call,
                fuel: limits.fuel_per_call,
            }
        }
        Some(Trap::Interrupt) => {
            return StrategyError::TimeBudget {
                call,
                ms: deadline_ms(meter, limits).unwrap_or(0),
            }
        }
        _ => {}
    }
    let mut message = if let Some(t) = e.downcast_ref::<Trap>() {
        t.to_string()
    } else if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        format!("called exit with status {}", exit.0)
    } else {
        format!("{e:#}")
    };
    if let Some(log) = store.data_mut().last_error_log.take() {
        message = format!("{message} (guest said: {log})");
    }
    // Backtraces name the guest's functions, which the guest names.
    let message = guest_text::clean(&message);
    StrategyError::Trap { call, message }
}

/// Bytes an intent occupies in a result, for [`Limits::max_result_bytes`]:
/// the fixed part of its record plus its client tag.
fn intent_bytes(intent: &wit::Intent) -> usize {
    const FIXED: usize = 48;
    match intent {
        wit::Intent::Place(order) => FIXED + order.client_tag.len(),
        wit::Intent::Cancel(_) | wit::Intent::Replace(_) | wit::Intent::CancelAll(_) => FIXED,
    }
}

impl WasmStrategy {
    /// A fresh instance of the component `pre` for registration
    /// `strategy_id`, with a full CPU reserve.
    pub(super) fn new(
        pre: &StrategyPluginPre<HostState>,
        strategy_id: &StrategyId,
        limits: Limits,
        meter: CpuMeter,
    ) -> Result<Self, StrategyError> {
        let (store, bindings) = new_instance(pre, strategy_id, limits, meter)?;
        Ok(Self {
            store,
            bindings,
            pre: pre.clone(),
            strategy_id: strategy_id.clone(),
            limits,
            meter,
            reserve: CpuReserve::new(meter, &limits),
            poisoned: None,
            view: empty_wit_view(),
        })
    }

    fn session_cpu_budget(&self, call: &'static str) -> StrategyError {
        StrategyError::SessionCpuBudget {
            call,
            share: self.limits.cpu_share_percent,
            reserve: self.limits.cpu_reserve_calls,
        }
    }

    /// Sets the time guests see through WASI clocks (ns since the Unix epoch).
    fn set_time(&mut self, nanos: i64) {
        self.store.data().clock.set(nanos);
    }

    fn call<R>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&StrategyPlugin, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, StrategyError> {
        if let Some(cause) = &self.poisoned {
            return Err(StrategyError::Poisoned(cause.clone()));
        }
        if call == "on-step" {
            self.reserve.earn_step();
        }
        let grant = self.reserve.grant(per_call(self.meter, &self.limits));
        arm_meter(
            &mut self.store,
            self.meter,
            &self.limits,
            grant.budget,
            call,
        )?;
        self.store.data_mut().refill_budgets();
        let usage = Usage::start();
        let result = f(&self.bindings, &mut self.store);
        self.reserve.spend(match self.meter {
            CpuMeter::Fuel => grant
                .budget
                .saturating_sub(self.store.get_fuel().unwrap_or(0)),
            CpuMeter::Epoch => usage.elapsed_ms(),
            CpuMeter::Unmetered => 0,
        });
        result.map_err(|e| {
            let error = match classify(call, e, &mut self.store, &self.limits, self.meter) {
                // Out of a grant the reserve cut short: the reserve's doing
                // (the fuel meter's deadline is a backstop, not the grant).
                StrategyError::CpuBudget { .. } if grant.reduced => self.session_cpu_budget(call),
                StrategyError::TimeBudget { .. }
                    if grant.reduced && self.meter == CpuMeter::Epoch =>
                {
                    self.session_cpu_budget(call)
                }
                other => other,
            };
            self.poisoned = Some(error.to_string());
            error
        })
    }
}

impl Strategy for WasmStrategy {
    fn init(&mut self, config: &InitConfig) -> Result<StrategyInfo, StrategyError> {
        let config = wit::Config::from(config);
        let info = self
            .call("init", |b, s| {
                b.cracktrader_strategy_strategy().call_init(s, &config)
            })?
            .map_err(|e| StrategyError::InitRefused(guest_text::clean(&e)))?;
        Ok(StrategyInfo {
            name: guest_text::clean(&info.name),
            version: guest_text::clean(&info.version),
            subscriptions: info
                .subscriptions
                .iter()
                .map(|s| guest_text::clean(s))
                .collect(),
            warmup: info.warmup,
        })
    }

    fn on_step(&mut self, view: &View) -> Result<Vec<Proposal>, StrategyError> {
        self.set_time(view.time);
        // The boundary record's lists are kept from step to step.
        let mut boundary = std::mem::replace(&mut self.view, empty_wit_view());
        fill_wit_view(&mut boundary, view);
        let result = self.call("on-step", |b, s| {
            b.cracktrader_strategy_strategy().call_on_step(s, &boundary)
        });
        self.view = boundary;
        let intents = result?;
        let limit = self.limits.max_intents_per_step;
        if intents.len() > limit as usize {
            return Err(StrategyError::TooManyIntents {
                count: intents.len(),
                limit,
            });
        }
        let bytes = intents.iter().map(intent_bytes).sum();
        if bytes > self.limits.max_result_bytes as usize {
            return Err(StrategyError::ResultTooLarge {
                bytes,
                limit: self.limits.max_result_bytes,
            });
        }
        Ok(intents.into_iter().map(Proposal::from).collect())
    }

    fn save_state(&mut self) -> Result<Vec<u8>, StrategyError> {
        let state = self.call("save-state", |b, s| {
            b.cracktrader_strategy_strategy().call_save_state(s)
        })?;
        let limit = self.limits.max_state_bytes;
        if state.len() > limit as usize {
            return Err(StrategyError::StateTooLarge {
                bytes: state.len(),
                limit,
            });
        }
        Ok(state)
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), StrategyError> {
        self.call("restore-state", |b, s| {
            b.cracktrader_strategy_strategy()
                .call_restore_state(s, state)
        })?
        .map_err(|e| StrategyError::RestoreRefused(guest_text::clean(&e)))
    }

    fn reset(&mut self) -> Result<(), StrategyError> {
        let (store, bindings) =
            new_instance(&self.pre, &self.strategy_id, self.limits, self.meter)?;
        self.store = store;
        self.bindings = bindings;
        self.poisoned = None;
        Ok(())
    }
}

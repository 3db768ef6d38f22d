//! The CPU a registration may use over a whole session, on top of its
//! per-call budget: without it, a guest that spends just under its per-call
//! budget on every step stays legal and slows the session for every other
//! strategy by as much as it likes.
//!
//! Each registration has a *reserve*, in the unit of its meter (fuel, or
//! milliseconds with the epoch meter). It starts full, at
//! [`Limits::cpu_reserve_calls`] per-call budgets, and every `on-step` call
//! adds [`Limits::cpu_share_percent`] of one per-call budget, up to that cap.
//! Every call is given the smaller of its per-call budget and the reserve,
//! and what it uses is taken from the reserve. So bursts of full calls are
//! fine, and a strategy may use `cpu_share_percent` of its per-call budget
//! per step on average; one that uses more drains the reserve, gets less
//! than a full call, runs out and is quarantined.
//!
//! With the fuel meter this is deterministic, like the per-call budget.

use std::time::Instant;

use super::{CpuMeter, Limits};

/// A registration's CPU reserve; see the module documentation.
#[derive(Debug, Clone)]
pub(super) struct CpuReserve {
    left: u64,
    cap: u64,
    earned_per_step: u64,
}

/// What one call may use, in the meter's unit (fuel, or milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Grant {
    /// The call's budget: the per-call budget or, if less, the reserve.
    pub(super) budget: u64,
    /// Whether that is less than the per-call budget: running out of it is
    /// then the reserve's doing.
    pub(super) reduced: bool,
}

/// The meter's per-call budget of `limits`, in its unit.
pub(super) fn per_call(meter: CpuMeter, limits: &Limits) -> u64 {
    match meter {
        CpuMeter::Fuel => limits.fuel_per_call,
        CpuMeter::Epoch => limits.time_per_call_ms.into(),
        CpuMeter::Unmetered => u64::MAX,
    }
}

impl CpuReserve {
    /// A full reserve for `limits` under `meter`.
    pub(super) fn new(meter: CpuMeter, limits: &Limits) -> Self {
        let one = per_call(meter, limits);
        let cap = one.saturating_mul(limits.cpu_reserve_calls.into());
        Self {
            left: cap,
            cap,
            earned_per_step: one / 100 * u64::from(limits.cpu_share_percent)
                + one % 100 * u64::from(limits.cpu_share_percent) / 100,
        }
    }

    /// Adds one step's share, up to the cap.
    pub(super) fn earn_step(&mut self) {
        self.left = self.left.saturating_add(self.earned_per_step).min(self.cap);
    }

    /// The budget of the next call, whose full budget is `per_call`.
    pub(super) fn grant(&self, per_call: u64) -> Grant {
        Grant {
            budget: per_call.min(self.left),
            reduced: self.left < per_call,
        }
    }

    /// Takes `used` from the reserve.
    pub(super) fn spend(&mut self, used: u64) {
        self.left = self.left.saturating_sub(used);
    }
}

/// Measures what one call used, in the meter's unit.
pub(super) struct Usage {
    started: Instant,
}

impl Usage {
    pub(super) fn start() -> Self {
        Self {
            started: Instant::now(),
        }
    }

    /// Milliseconds since [`start`](Self::start), rounded up: a call always
    /// costs something.
    pub(super) fn elapsed_ms(&self) -> u64 {
        let micros = self.started.elapsed().as_micros();
        u64::try_from(micros.div_ceil(1000)).unwrap_or(u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserve() -> CpuReserve {
        let limits = Limits {
            fuel_per_call: 1000,
            cpu_share_percent: 20,
            cpu_reserve_calls: 3,
            ..Limits::default()
        };
        CpuReserve::new(CpuMeter::Fuel, &limits)
    }

    /// One step: earn, take a grant, use `used` of it; the grant.
    fn step(r: &mut CpuReserve, used: u64) -> Grant {
        r.earn_step();
        let grant = r.grant(1000);
        r.spend(used.min(grant.budget));
        grant
    }

    #[test]
    fn bursts_are_free_and_the_share_is_the_average() {
        let mut r = reserve();
        // Full calls drain the reserve by 800 each (1000 used, 200 earned).
        for _ in 0..3 {
            assert_eq!(
                step(&mut r, 1000),
                Grant {
                    budget: 1000,
                    reduced: false
                }
            );
        }
        assert_eq!(
            step(&mut r, 1000),
            Grant {
                budget: 600,
                reduced: true
            }
        );
        // Using all of the share keeps the grant at the share.
        for _ in 0..100 {
            assert_eq!(
                step(&mut r, 1000),
                Grant {
                    budget: 200,
                    reduced: true
                }
            );
        }
        // Using less than the share refills the reserve.
        let full = (0..100).position(|_| !step(&mut r, 150).reduced);
        assert_eq!(full, Some(16), "50 a step back to 1000");
    }

    #[test]
    fn the_reserve_is_capped_and_earning_never_overflows() {
        let mut r = reserve();
        for _ in 0..10 {
            r.earn_step();
        }
        assert_eq!(r.left, 3000);
        let limits = Limits {
            fuel_per_call: u64::MAX,
            cpu_share_percent: 100,
            cpu_reserve_calls: u32::MAX,
            ..Limits::default()
        };
        let mut r = CpuReserve::new(CpuMeter::Fuel, &limits);
        r.earn_step();
        assert_eq!(r.grant(u64::MAX).budget, u64::MAX);
    }
}

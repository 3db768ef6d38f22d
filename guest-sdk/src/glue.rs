//! Runtime behind [`export_strategy!`](crate::export_strategy): connects the
//! generated `Guest` trait to a [`Strategy`] kept in a thread-local slot.
//!
//! Public only for the macro's expansion in the strategy's crate. The logic
//! lives here, generic over the strategy, so that it is written (and tested)
//! once instead of being expanded into every plugin.

use std::cell::RefCell;
use std::thread::LocalKey;

use crate::{Config, Info, Intent, Strategy, View};

pub use crate::bindings::cracktrader::strategy::types::View as StepView;
pub use crate::bindings::exports::cracktrader::strategy::strategy::Guest;

thread_local! {
    /// The view the strategy reads: market data of the current step plus the
    /// latest account the host sent.
    static VIEW: RefCell<View> = RefCell::new(View::default());
}

/// Where the exported functions keep the strategy between calls: `None` until
/// `init` succeeds.
pub type Slot<T> = LocalKey<RefCell<Option<T>>>;

/// `init` export: builds the strategy, replacing any previous instance.
pub fn init<T: Strategy>(slot: &'static Slot<T>, config: Config) -> Result<Info, String> {
    log_panics();
    // Drop the old instance first: if the new config is refused, no strategy
    // built from an earlier config must keep answering `on-step`.
    slot.with(|cell| *cell.borrow_mut() = None);
    VIEW.with(|view| *view.borrow_mut() = View::default());
    let (strategy, info) = T::init(&config)?;
    slot.with(|cell| *cell.borrow_mut() = Some(strategy));
    Ok(info)
}

/// `on-step` export. Traps (panics) if `init` has not succeeded.
pub fn on_step<T: Strategy>(slot: &'static Slot<T>, step: StepView) -> Vec<Intent> {
    log_panics();
    VIEW.with(|view| {
        let mut view = view.borrow_mut();
        view.update(step);
        slot.with(|cell| {
            let mut cell = cell.borrow_mut();
            let strategy = cell.as_mut().unwrap_or_else(|| not_initialised("on-step"));
            // A fresh Vec costs nothing until the first push. Reusing one across
            // steps would not save anything: the returned Vec is consumed by the
            // canonical-ABI lowering, which copies it into its own buffer and
            // frees it, so its capacity can never come back to the guest.
            let mut intents = Vec::new();
            strategy.on_step(&view, &mut intents);
            intents
        })
    })
}

/// `save-state` export. Traps (panics) if `init` has not succeeded.
pub fn save_state<T: Strategy>(slot: &'static Slot<T>) -> Vec<u8> {
    log_panics();
    slot.with(|cell| {
        cell.borrow()
            .as_ref()
            .unwrap_or_else(|| not_initialised("save-state"))
            .save_state()
    })
}

/// `restore-state` export. Unlike the other calls it has an error channel, so
/// a call before `init` is refused rather than trapped.
pub fn restore_state<T: Strategy>(slot: &'static Slot<T>, state: Vec<u8>) -> Result<(), String> {
    log_panics();
    slot.with(|cell| match cell.borrow_mut().as_mut() {
        Some(strategy) => strategy.restore_state(&state),
        None => Err("restore-state called before a successful init".to_string()),
    })
}

/// Sends panic messages to the host log (level error) before the trap.
///
/// In a `wasm32-unknown-unknown` plugin the default panic hook writes to a
/// stderr that does not exist, and `panic = "abort"` turns the panic into a
/// bare `unreachable` trap: without this the host would never see why. Runs
/// at every export (a `Once` check after the first) because any of them may
/// be the first call. Natively the process's own hook is left alone.
fn log_panics() {
    #[cfg(target_arch = "wasm32")]
    {
        static HOOK: std::sync::Once = std::sync::Once::new();
        HOOK.call_once(|| {
            std::panic::set_hook(Box::new(|info| {
                crate::log(crate::LogLevel::Error, &info.to_string());
            }));
        });
    }
}

fn not_initialised(call: &str) -> ! {
    panic!(
        "cracktrader-guest: {call} called before a successful init; the host must call init first"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Side;

    /// Counts steps; refuses a config whose strategy id is empty.
    struct Counter {
        steps: u8,
    }

    impl Strategy for Counter {
        fn init(config: &Config) -> Result<(Self, Info), String> {
            if config.strategy_id.is_empty() {
                return Err("empty strategy id".to_string());
            }
            let info = Info {
                name: "counter".to_string(),
                version: "1".to_string(),
                subscriptions: Vec::new(),
                warmup: 0,
            };
            Ok((Counter { steps: 0 }, info))
        }

        fn on_step(&mut self, _view: &View, intents: &mut Vec<Intent>) {
            self.steps += 1;
            if self.steps == 2 {
                intents.push(Intent::market(7, Side::Buy, 1, "second"));
            }
        }

        fn save_state(&self) -> Vec<u8> {
            vec![self.steps]
        }

        fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
            match state {
                [steps] => {
                    self.steps = *steps;
                    Ok(())
                }
                _ => Err(format!("expected 1 byte, got {}", state.len())),
            }
        }
    }

    fn config(strategy_id: &str) -> Config {
        Config {
            strategy_id: strategy_id.to_string(),
            params: Vec::new(),
            instruments: Vec::new(),
        }
    }

    fn empty_view() -> StepView {
        StepView {
            snapshot_id: 0,
            time: 0,
            bars: Vec::new(),
            quotes: Vec::new(),
            trades: Vec::new(),
            account: None,
        }
    }

    #[test]
    fn steps_return_the_strategys_intents() {
        thread_local!(static SLOT: RefCell<Option<Counter>> = const { RefCell::new(None) });
        assert_eq!(init(&SLOT, config("s")).unwrap().name, "counter");
        assert!(on_step(&SLOT, empty_view()).is_empty());
        assert_eq!(
            on_step(&SLOT, empty_view()),
            vec![Intent::market(7, Side::Buy, 1, "second")]
        );
    }

    #[test]
    fn state_round_trips_through_the_slot() {
        thread_local!(static SLOT: RefCell<Option<Counter>> = const { RefCell::new(None) });
        assert_eq!(
            restore_state(&SLOT, vec![1]),
            Err("restore-state called before a successful init".to_string())
        );
        init(&SLOT, config("s")).unwrap();
        restore_state(&SLOT, vec![1]).unwrap();
        assert_eq!(save_state(&SLOT), vec![1]);
        assert_eq!(on_step(&SLOT, empty_view()).len(), 1);
        assert_eq!(
            restore_state(&SLOT, vec![]),
            Err("expected 1 byte, got 0".to_string())
        );
    }

    #[test]
    fn refused_reinit_drops_the_old_instance() {
        thread_local!(static SLOT: RefCell<Option<Counter>> = const { RefCell::new(None) });
        init(&SLOT, config("s")).unwrap();
        assert_eq!(init(&SLOT, config("")).unwrap_err(), "empty strategy id");
        SLOT.with(|cell| assert!(cell.borrow().is_none()));
    }

    #[test]
    #[should_panic(expected = "on-step called before a successful init")]
    fn step_before_init_traps() {
        thread_local!(static SLOT: RefCell<Option<Counter>> = const { RefCell::new(None) });
        on_step(&SLOT, empty_view());
    }

    #[test]
    #[should_panic(expected = "save-state called before a successful init")]
    fn save_before_init_traps() {
        thread_local!(static SLOT: RefCell<Option<Counter>> = const { RefCell::new(None) });
        save_state(&SLOT);
    }
}

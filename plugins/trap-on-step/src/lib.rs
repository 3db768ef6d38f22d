//! Test plugin: a strategy that traps on purpose.
//!
//! It subscribes to `instrument` and, on the `trap_at`-th call of `on-step`
//! (counting from 1), panics. Plugins are built with `panic = "abort"`, so
//! the panic becomes a WebAssembly trap: the host's tests use it to check
//! that a trapping strategy is contained. Every other step returns no
//! intents.
//!
//! Parameters: `instrument` (a symbol) and `trap_at` (an integer of at least
//! 1), both required. Unlike a real strategy it does not check that
//! `instrument` was granted: it subscribes to whatever it is given, so the
//! host's tests can also use it to exercise the host's subscription check.

use cracktrader_guest::{Config, Info, Intent, Strategy, View};

/// The trapping strategy; see the crate documentation.
#[derive(Debug)]
pub struct TrapOnStep {
    trap_at: u64,
    steps: u64,
}

impl Strategy for TrapOnStep {
    fn init(config: &Config) -> Result<(Self, Info), String> {
        let symbol: String = config.param("instrument")?;
        let trap_at: u64 = config.param("trap_at")?;
        if trap_at == 0 {
            return Err("parameter 'trap_at' must be at least 1, got 0".to_string());
        }
        let info = Info {
            name: "trap-on-step".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            subscriptions: vec![symbol],
            warmup: 0,
        };
        Ok((TrapOnStep { trap_at, steps: 0 }, info))
    }

    fn on_step(&mut self, _view: &View, _intents: &mut Vec<Intent>) {
        self.steps += 1;
        if self.steps == self.trap_at {
            panic!("trap-on-step: deliberate trap at step {}", self.steps);
        }
    }
}

#[cfg(target_arch = "wasm32")]
cracktrader_guest::export_strategy!(TrapOnStep);

#[cfg(test)]
mod tests {
    use super::*;
    use cracktrader_guest::{Decimal, Instrument};

    fn config(params: &[(&str, &str)]) -> Config {
        Config {
            strategy_id: "trap".to_string(),
            params: params
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            instruments: vec![Instrument {
                id: 0,
                symbol: "EURUSD".to_string(),
                base_currency: "EUR".to_string(),
                quote_currency: "USD".to_string(),
                price_scale: 5,
                qty_scale: 0,
                tick_size: 1,
                lot_size: 1,
                min_notional: Decimal::new(0, 0),
            }],
        }
    }

    fn empty_view() -> View {
        View::default()
    }

    #[test]
    fn init_needs_an_instrument_and_a_positive_step() {
        // Not granted, still subscribed: refusing it is the host's job.
        let (_, info) =
            TrapOnStep::init(&config(&[("instrument", "GBPUSD"), ("trap_at", "3")])).unwrap();
        assert_eq!(info.subscriptions, ["GBPUSD"]);
        let refused = [
            (
                &[("trap_at", "3")][..],
                "missing required parameter 'instrument'",
            ),
            (
                &[("instrument", "EURUSD"), ("trap_at", "0")][..],
                "parameter 'trap_at' must be at least 1, got 0",
            ),
            (
                &[("instrument", "EURUSD")][..],
                "missing required parameter 'trap_at'",
            ),
        ];
        for (params, expected) in refused {
            assert_eq!(TrapOnStep::init(&config(params)).unwrap_err(), expected);
        }
    }

    #[test]
    #[should_panic(expected = "trap-on-step: deliberate trap at step 3")]
    fn panics_on_the_chosen_step() {
        let (mut strategy, _) =
            TrapOnStep::init(&config(&[("instrument", "EURUSD"), ("trap_at", "3")])).unwrap();
        let mut intents = Vec::new();
        for _ in 0..2 {
            strategy.on_step(&empty_view(), &mut intents);
        }
        assert!(intents.is_empty());
        strategy.on_step(&empty_view(), &mut intents);
    }
}

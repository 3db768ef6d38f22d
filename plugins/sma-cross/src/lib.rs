//! Long-only simple-moving-average crossover.
//!
//! On each bar of its instrument the strategy updates a fast and a slow
//! [`Sma`] of the close. When the fast average crosses above the slow one it
//! buys up to `quantity`; when it crosses below, it sells the whole position.
//! Orders are market orders tagged `sma-cross-entry` / `sma-cross-exit`.
//!
//! Parameters (session file, `[strategies.params]`):
//!
//! | key          | meaning                                              | default  |
//! |--------------|------------------------------------------------------|----------|
//! | `instrument` | symbol to trade; must be granted to the strategy     | required |
//! | `fast`       | period of the fast average, at least 1               | 10       |
//! | `slow`       | period of the slow average, greater than `fast`      | 30       |
//! | `quantity`   | target long position, decimal text such as `"1000"`; positive and a multiple of the lot size | required |
//!
//! The crate is both the WebAssembly plugin (built by `cargo xtask plugins`)
//! and a native library: [`SmaCross`] implements
//! [`cracktrader_guest::Strategy`], so a benchmark can run the same code in
//! the host process.

use cracktrader_guest::indicators::Sma;
use cracktrader_guest::state::{StateReader, StateWriter};
use cracktrader_guest::{Config, Decimal, Info, Instrument, Intent, Side, Strategy, View};

/// Client tag of the orders that open or add to the position.
pub const ENTRY_TAG: &str = "sma-cross-entry";
/// Client tag of the orders that close the position.
pub const EXIT_TAG: &str = "sma-cross-exit";

/// Layout of `save_state`: the fast and slow [`Sma`]s, then the previous
/// difference as a presence byte and an `f64`.
const STATE_VERSION: u8 = 1;

/// The crossover strategy; see the crate documentation.
#[derive(Debug, Clone)]
pub struct SmaCross {
    instrument: Instrument,
    /// Target long position, scaled by the instrument's `qty_scale`.
    quantity: i64,
    fast: Sma,
    slow: Sma,
    /// `fast - slow` at the previous bar where both were ready.
    prev_diff: Option<f64>,
}

impl Strategy for SmaCross {
    fn init(config: &Config) -> Result<(Self, Info), String> {
        // Check every parameter before giving up, so one run reports all
        // mistakes in the session file.
        let mut errors = Vec::new();
        let instrument = keep(
            &mut errors,
            config
                .param::<String>("instrument")
                .and_then(|symbol| config.require_instrument(&symbol).cloned()),
        );
        let fast = keep(
            &mut errors,
            config.param_or::<u32>("fast", 10).and_then(|fast| {
                if fast >= 1 {
                    Ok(fast)
                } else {
                    Err(format!("parameter 'fast' must be at least 1, got {fast}"))
                }
            }),
        );
        let slow = keep(&mut errors, config.param_or::<u32>("slow", 30));
        if let (Some(fast), Some(slow)) = (fast, slow) {
            if slow <= fast {
                errors.push(format!(
                    "parameter 'slow' ({slow}) must be greater than 'fast' ({fast})"
                ));
            }
        }
        let quantity = keep(&mut errors, config.param::<Decimal>("quantity"));
        let quantity = match (&instrument, quantity) {
            (Some(instrument), Some(quantity)) => {
                keep(&mut errors, target_quantity(instrument, &quantity))
            }
            _ => None,
        };

        match (instrument, fast, slow, quantity) {
            (Some(instrument), Some(fast), Some(slow), Some(quantity)) if errors.is_empty() => {
                let info = Info {
                    name: "sma-cross".to_string(),
                    version: env!("CARGO_PKG_VERSION").to_string(),
                    subscriptions: vec![instrument.symbol.clone()],
                    warmup: slow,
                };
                let strategy = SmaCross {
                    instrument,
                    quantity,
                    fast: Sma::new(fast as usize),
                    slow: Sma::new(slow as usize),
                    prev_diff: None,
                };
                Ok((strategy, info))
            }
            _ => Err(errors.join("; ")),
        }
    }

    fn on_step(&mut self, view: &View, intents: &mut Vec<Intent>) {
        let id = self.instrument.id;
        let Some(bar) = view.bar(id) else {
            return;
        };
        let close = self.instrument.price_to_f64(bar.close);
        // Update both averages on every bar, even while one is still warming up.
        let (fast, slow) = (self.fast.update(close), self.slow.update(close));
        let (Some(fast), Some(slow)) = (fast, slow) else {
            return;
        };
        let diff = fast - slow;
        // The first ready bar has nothing to cross from: it only records.
        if let Some(prev) = self.prev_diff.replace(diff) {
            let position = view.position(id);
            if prev <= 0.0 && diff > 0.0 {
                let qty = self.quantity - position - view.open_qty(id, Side::Buy);
                if qty > 0 {
                    intents.push(Intent::market(id, Side::Buy, qty, ENTRY_TAG));
                }
            } else if prev >= 0.0 && diff < 0.0 {
                let qty = position - view.open_qty(id, Side::Sell);
                if qty > 0 {
                    intents.push(Intent::market(id, Side::Sell, qty, EXIT_TAG));
                }
            }
        }
    }

    fn save_state(&self) -> Vec<u8> {
        let mut writer = StateWriter::new(STATE_VERSION);
        self.fast.save(&mut writer);
        self.slow.save(&mut writer);
        writer.write_u8(u8::from(self.prev_diff.is_some()));
        writer.write_f64(self.prev_diff.unwrap_or(0.0));
        writer.into_bytes()
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
        let mut reader = StateReader::new(state)?;
        if reader.version() != STATE_VERSION {
            return Err(format!(
                "unsupported sma-cross state version {} (this build reads version {STATE_VERSION})",
                reader.version()
            ));
        }
        let fast = Sma::restore(&mut reader)?;
        let slow = Sma::restore(&mut reader)?;
        let prev_diff = match reader.read_u8()? {
            0 => {
                reader.read_f64()?;
                None
            }
            1 => Some(reader.read_f64()?),
            flag => {
                return Err(format!(
                    "invalid previous-difference flag {flag} in sma-cross state"
                ))
            }
        };
        reader.finish()?;
        // Averages over other periods would silently change the strategy the
        // session file asked for.
        for (name, saved, configured) in [
            ("fast", fast.period(), self.fast.period()),
            ("slow", slow.period(), self.slow.period()),
        ] {
            if saved != configured {
                return Err(format!(
                    "saved state has {name} period {saved} but the config says {configured}"
                ));
            }
        }
        self.fast = fast;
        self.slow = slow;
        self.prev_diff = prev_diff;
        Ok(())
    }
}

/// `quantity` as a scaled, positive lot multiple of `instrument`.
fn target_quantity(instrument: &Instrument, quantity: &Decimal) -> Result<i64, String> {
    let qty = instrument
        .qty_from_decimal(quantity)
        .map_err(|err| format!("parameter 'quantity': {err}"))?;
    if qty > 0 {
        Ok(qty)
    } else {
        Err(format!(
            "parameter 'quantity' must be positive, got {quantity}"
        ))
    }
}

/// The value of `result`, or `None` after recording its error.
fn keep<T>(errors: &mut Vec<String>, result: Result<T, String>) -> Option<T> {
    result.map_err(|err| errors.push(err)).ok()
}

#[cfg(target_arch = "wasm32")]
cracktrader_guest::export_strategy!(SmaCross);

#[cfg(test)]
mod tests {
    use super::*;
    use cracktrader_guest::{
        Bar, OpenOrder, OrderStatus, OrderType, PlaceOrder, Position, TimeInForce,
    };

    const EURUSD: u32 = 7;

    fn eurusd() -> Instrument {
        Instrument {
            id: EURUSD,
            symbol: "EURUSD".to_string(),
            base_currency: "EUR".to_string(),
            quote_currency: "USD".to_string(),
            price_scale: 5,
            qty_scale: 0,
            tick_size: 1,
            lot_size: 1000,
            min_notional: Decimal::new(0, 0),
        }
    }

    fn config(params: &[(&str, &str)]) -> Config {
        Config {
            strategy_id: "sma-1".to_string(),
            params: params
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
            instruments: vec![eurusd()],
        }
    }

    /// fast 2, slow 3, 1000 units of EURUSD.
    fn strategy() -> SmaCross {
        let params = [
            ("instrument", "EURUSD"),
            ("fast", "2"),
            ("slow", "3"),
            ("quantity", "1000"),
        ];
        SmaCross::init(&config(&params)).unwrap().0
    }

    fn view(instrument: u32, close: i64, position: i64, open_orders: Vec<OpenOrder>) -> View {
        let bar = Bar {
            instrument,
            time: 0,
            open: close,
            high: close,
            low: close,
            close,
            volume: 0,
        };
        let positions = if position == 0 {
            Vec::new()
        } else {
            vec![Position {
                instrument,
                qty: position,
                avg_price: Decimal::new(0, 0),
            }]
        };
        View {
            snapshot_id: 0,
            time: 0,
            bars: vec![bar],
            positions,
            balances: Vec::new(),
            open_orders,
            ..View::default()
        }
    }

    /// Closes (in pips over 1.10000) with an up-cross at index 3 and a
    /// down-cross at index 6 for fast 2 / slow 3: fast - slow is 0 at index 2
    /// (the first ready bar), +5/3 pips at 3, positive until -5/3 pips at 6.
    const CROSSING: [i64; 9] = [0, 0, 0, 10, 20, 30, 0, -20, -40];

    /// Runs `closes` through `strategy`, filling every market order at once,
    /// and returns (step index, order) for each intent.
    fn run(
        strategy: &mut SmaCross,
        closes: &[i64],
        position: &mut i64,
    ) -> Vec<(usize, PlaceOrder)> {
        let mut orders = Vec::new();
        let mut intents = Vec::new();
        for (step, pips) in closes.iter().enumerate() {
            strategy.on_step(
                &view(EURUSD, 110_000 + pips * 10, *position, Vec::new()),
                &mut intents,
            );
            for intent in intents.drain(..) {
                let Intent::Place(order) = intent else {
                    panic!("sma-cross never cancels");
                };
                match order.side {
                    Side::Buy => *position += order.qty,
                    Side::Sell => *position -= order.qty,
                }
                orders.push((step, order));
            }
        }
        orders
    }

    fn market(side: Side, qty: i64, tag: &str) -> PlaceOrder {
        PlaceOrder {
            instrument: EURUSD,
            side,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            qty,
            reduce_only: false,
            post_only: false,
            client_tag: tag.to_string(),
        }
    }

    #[test]
    fn init_reads_params_and_describes_itself() {
        let (strategy, info) =
            SmaCross::init(&config(&[("instrument", "EURUSD"), ("quantity", "2000")])).unwrap();
        assert_eq!(info.name, "sma-cross");
        assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
        assert_eq!(info.subscriptions, ["EURUSD"]);
        assert_eq!(info.warmup, 30);
        assert_eq!((strategy.fast.period(), strategy.slow.period()), (10, 30));
        assert_eq!(strategy.quantity, 2000);
    }

    #[test]
    fn init_reports_every_bad_parameter() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (
                &[],
                "missing required parameter 'instrument'; missing required parameter 'quantity'",
            ),
            (
                &[("instrument", "GBPUSD"), ("fast", "0"), ("quantity", "1000")],
                "instrument 'GBPUSD' is not granted to this strategy (granted: EURUSD); \
                 parameter 'fast' must be at least 1, got 0",
            ),
            (
                &[("instrument", "EURUSD"), ("fast", "20"), ("slow", "20"), ("quantity", "1500")],
                "parameter 'slow' (20) must be greater than 'fast' (20); \
                 parameter 'quantity': quantity 1500 is not a multiple of the lot size 1000 for EURUSD",
            ),
            (
                &[("instrument", "EURUSD"), ("slow", "x"), ("quantity", "-1000")],
                "parameter 'slow': invalid value 'x': invalid digit found in string; \
                 parameter 'quantity' must be positive, got -1000",
            ),
            (
                &[("instrument", "EURUSD"), ("quantity", "1000.5")],
                "parameter 'quantity': quantity 1000.5 has more than 0 decimal places for EURUSD",
            ),
        ];
        for (params, expected) in cases {
            assert_eq!(SmaCross::init(&config(params)).unwrap_err(), expected);
        }
    }

    #[test]
    fn buys_on_the_up_cross_and_sells_on_the_down_cross() {
        let mut position = 0;
        let orders = run(&mut strategy(), &CROSSING, &mut position);
        assert_eq!(
            orders,
            [
                (3, market(Side::Buy, 1000, ENTRY_TAG)),
                (6, market(Side::Sell, 1000, EXIT_TAG)),
            ]
        );
        assert_eq!(position, 0);
    }

    #[test]
    fn first_ready_bar_only_records() {
        // Rising from the start: fast is above slow from the first ready bar,
        // which is not a cross.
        let mut position = 0;
        assert!(run(&mut strategy(), &[0, 10, 20, 30, 40], &mut position).is_empty());
    }

    #[test]
    fn ignores_bars_of_other_instruments() {
        let mut strategy = strategy();
        let mut intents = Vec::new();
        for pips in CROSSING {
            strategy.on_step(
                &view(EURUSD + 1, 110_000 + pips * 10, 0, Vec::new()),
                &mut intents,
            );
        }
        assert!(intents.is_empty());
        assert!(!strategy.fast.is_ready());
    }

    #[test]
    fn orders_account_for_position_and_working_orders() {
        let working = |side, qty, filled_qty| OpenOrder {
            id: 1,
            instrument: EURUSD,
            side,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            qty,
            filled_qty,
            status: OrderStatus::Accepted,
            triggered: false,
            reduce_only: false,
            post_only: false,
            client_tag: ENTRY_TAG.to_string(),
        };
        let mut strategy = strategy();
        let mut intents = Vec::new();
        for pips in &CROSSING[..3] {
            strategy.on_step(
                &view(EURUSD, 110_000 + pips * 10, 0, Vec::new()),
                &mut intents,
            );
        }
        // Up-cross holding 1000 with a buy of 4000 filled 3000: a 2000 target
        // is covered by the position plus the 1000 still working.
        let mut big = strategy.clone();
        big.quantity = 2000;
        big.on_step(
            &view(EURUSD, 110_100, 1000, vec![working(Side::Buy, 4000, 3000)]),
            &mut intents,
        );
        assert!(intents.is_empty());
        // The same cross with a 5000 target buys the 3000 missing.
        let mut bigger = strategy.clone();
        bigger.quantity = 5000;
        bigger.on_step(
            &view(EURUSD, 110_100, 1000, vec![working(Side::Buy, 4000, 3000)]),
            &mut intents,
        );
        assert_eq!(
            intents,
            [Intent::market(EURUSD, Side::Buy, 3000, ENTRY_TAG)]
        );
        intents.clear();
        // Down-cross holding 3000 with 1000 already being sold: sells 2000.
        for pips in &CROSSING[3..6] {
            strategy.on_step(
                &view(EURUSD, 110_000 + pips * 10, 3000, Vec::new()),
                &mut intents,
            );
        }
        intents.clear();
        strategy.on_step(
            &view(EURUSD, 110_000, 3000, vec![working(Side::Sell, 1000, 0)]),
            &mut intents,
        );
        assert_eq!(
            intents,
            [Intent::market(EURUSD, Side::Sell, 2000, EXIT_TAG)]
        );
    }

    #[test]
    fn restored_state_continues_identically() {
        for split in 0..=CROSSING.len() {
            let mut original = strategy();
            let mut original_position = 0;
            run(&mut original, &CROSSING[..split], &mut original_position);

            let mut restored = strategy();
            restored.restore_state(&original.save_state()).unwrap();
            let mut restored_position = original_position;

            let expected = run(&mut original, &CROSSING[split..], &mut original_position);
            let actual = run(&mut restored, &CROSSING[split..], &mut restored_position);
            assert_eq!(actual, expected, "split at {split}");
            assert_eq!(
                restored.save_state(),
                original.save_state(),
                "split at {split}"
            );
        }
    }

    #[test]
    fn restore_refuses_foreign_state() {
        let mut strategy = strategy();
        assert_eq!(
            strategy.restore_state(&[2]).unwrap_err(),
            "unsupported sma-cross state version 2 (this build reads version 1)"
        );
        assert_eq!(
            strategy.restore_state(&[]).unwrap_err(),
            "state is empty: no version byte"
        );
        let params = [
            ("instrument", "EURUSD"),
            ("fast", "4"),
            ("slow", "5"),
            ("quantity", "1000"),
        ];
        let other = SmaCross::init(&config(&params)).unwrap().0;
        assert_eq!(
            strategy.restore_state(&other.save_state()).unwrap_err(),
            "saved state has fast period 4 but the config says 2"
        );
        let mut truncated = strategy.save_state();
        truncated.pop();
        assert!(strategy
            .restore_state(&truncated)
            .unwrap_err()
            .contains("truncated"));
    }
}

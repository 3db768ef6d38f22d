//! Write Cracktrader strategies in Rust.
//!
//! A strategy is a type implementing [`Strategy`]; [`export_strategy!`] turns
//! it into the exports of a `cracktrader:strategy@0.2.0` component (the WIT
//! contract lives in the workspace's `wit/strategy.wit`).
//!
//! ```
//! use cracktrader_guest::{Config, Info, Intent, Strategy, View};
//!
//! /// Trades nothing.
//! pub struct Noop;
//!
//! impl Strategy for Noop {
//!     fn init(_config: &Config) -> Result<(Self, Info), String> {
//!         let info = Info {
//!             name: "noop".to_string(),
//!             version: env!("CARGO_PKG_VERSION").to_string(),
//!             subscriptions: Vec::new(),
//!             warmup: 0,
//!         };
//!         Ok((Noop, info))
//!     }
//!
//!     fn on_step(&mut self, _view: &View, _intents: &mut Vec<Intent>) {}
//! }
//!
//! #[cfg(target_arch = "wasm32")]
//! cracktrader_guest::export_strategy!(Noop);
//! # let config = Config { strategy_id: "s".into(), params: vec![], instruments: vec![] };
//! # assert_eq!(Noop::init(&config).unwrap().1.name, "noop");
//! ```
//!
//! # Vocabulary and invariants
//!
//! * The types ([`Bar`], [`Intent`], [`Position`], ...) are the ones generated
//!   from the WIT, re-exported as they are: the guest never converts them,
//!   because every conversion would cost time at every step. The SDK adds
//!   inherent helper methods to them instead. [`View`] is the SDK's own: it
//!   keeps the latest account the host sent (the host sends it only when it
//!   may have changed) next to the step's bars.
//! * Prices and quantities are `i64` integers scaled by the instrument's
//!   `price_scale` / `qty_scale` ([`Instrument`] converts them); amounts not
//!   tied to one instrument are exact [`Decimal`]s.
//! * The same strategy code also compiles natively (a benchmark runs it in the
//!   host process). Natively no host import is ever called: [`log`] is a no-op.

#![deny(missing_docs)]

mod config;
mod decimal;
#[doc(hidden)]
pub mod glue;
pub mod indicators;
mod instrument;
mod intent;
pub mod state;
mod view;

/// Bindings generated from the WIT contract. Public only so that
/// [`export_strategy!`] can reach them from the strategy's crate; use the
/// re-exports at the crate root instead.
#[doc(hidden)]
#[allow(missing_docs)] // Generated: documented by the WIT, not every field carries a doc comment.
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "strategy-plugin",
        pub_export_macro: true,
        default_bindings_module: "cracktrader_guest::bindings",
        // Equality lets tests (and the native benchmark) compare the intents of
        // two runs directly.
        additional_type_attributes: {
            "cracktrader:strategy/types@0.2.0/intent": [#[derive(PartialEq, Eq)]],
            "cracktrader:strategy/types@0.2.0/place-order": [#[derive(PartialEq, Eq)]],
            "cracktrader:strategy/types@0.2.0/replace-order": [#[derive(PartialEq, Eq)]],
            "cracktrader:strategy/types@0.2.0/order-type": [#[derive(PartialEq, Eq)]],
            "cracktrader:strategy/types@0.2.0/stop-limit": [#[derive(PartialEq, Eq)]],
            "cracktrader:strategy/types@0.2.0/time-in-force": [#[derive(PartialEq, Eq)]],
        },
    });
}

pub use bindings::cracktrader::strategy::types::{
    Balance, Bar, Config, Decimal, Info, Instrument, InstrumentId, Intent, LogLevel, OpenOrder,
    OrderId, OrderReport, OrderStatus, OrderType, PlaceOrder, Position, Quote, ReplaceOrder,
    ReportKind, Side, StopLimit, TimeInForce, Timestamp, Trade,
};
pub use view::View;

/// A trading strategy, run by the host one step at a time.
///
/// The host calls [`Strategy::init`] once, then [`Strategy::on_step`] at every
/// step that has data for the strategy's subscriptions. Around a hot reload it
/// calls [`Strategy::save_state`] on the old instance and
/// [`Strategy::restore_state`] on the new one (after `init`).
pub trait Strategy: Sized + 'static {
    /// Builds the strategy from its configuration, or refuses the
    /// configuration with a message naming the bad parameter and value.
    fn init(config: &Config) -> Result<(Self, Info), String>;

    /// Handles one step: reads `view` and pushes the step's intents, if any,
    /// onto `intents` (which is empty on entry).
    fn on_step(&mut self, view: &View, intents: &mut Vec<Intent>);

    /// Serialises the strategy's state. The default saves nothing.
    fn save_state(&self) -> Vec<u8> {
        Vec::new()
    }

    /// Restores state written by [`Strategy::save_state`], possibly by an
    /// older version of the strategy. The default accepts anything and keeps
    /// the state `init` built.
    fn restore_state(&mut self, state: &[u8]) -> Result<(), String> {
        let _ = state;
        Ok(())
    }
}

/// Writes a line to the session log, tagged by the host with the strategy id.
///
/// The host may drop lines beyond its per-step log budget. Natively (outside
/// WebAssembly) there is no host to call, so this does nothing.
pub fn log(level: LogLevel, message: &str) {
    #[cfg(target_arch = "wasm32")]
    bindings::cracktrader::strategy::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message);
}

/// Exports a [`Strategy`] implementation as the component's `strategy`
/// interface.
///
/// Invoke it once, at the top level of the strategy's crate, and only when
/// compiling to WebAssembly (`#[cfg(target_arch = "wasm32")]`): the exported
/// symbols have no meaning in a native build. The instance lives in a
/// thread-local slot between calls; `on-step` or `save-state` before a
/// successful `init` traps with a message saying so. Any panic traps the
/// component (plugins are built with `panic = "abort"`); its message is sent
/// to the host log at level error first.
#[macro_export]
macro_rules! export_strategy {
    ($strategy:ty) => {
        const _: () = {
            ::std::thread_local! {
                static INSTANCE: ::core::cell::RefCell<::core::option::Option<$strategy>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            struct Glue;

            impl $crate::glue::Guest for Glue {
                fn init(
                    config: $crate::Config,
                ) -> ::core::result::Result<$crate::Info, ::std::string::String> {
                    $crate::glue::init(&INSTANCE, config)
                }

                fn on_step(view: $crate::glue::StepView) -> ::std::vec::Vec<$crate::Intent> {
                    $crate::glue::on_step(&INSTANCE, view)
                }

                fn save_state() -> ::std::vec::Vec<u8> {
                    $crate::glue::save_state(&INSTANCE)
                }

                fn restore_state(
                    state: ::std::vec::Vec<u8>,
                ) -> ::core::result::Result<(), ::std::string::String> {
                    $crate::glue::restore_state(&INSTANCE, state)
                }
            }

    $crate::bindings::export!(Glue with_types_in $crate::bindings);
        };
    };
}

//! Cracktrader host runtime.
//!
//! A session folds market data into one immutable snapshot per step, gives
//! each registered strategy (a sandboxed WebAssembly component, or a native
//! implementation of the same interface) a filtered view of it, and turns the
//! intents it returns into risk-checked, executed and accounted orders.
//!
//! Data flows one way through the services, in the order of the modules below:
//! market data → state → strategy host → intents → risk → execution →
//! inventory → post-trade. The [`session`] owns them all and drives the steps;
//! [`paper`] paces a session on the wall clock and swaps in new plugin
//! versions prepared by [`hot_reload`]; [`control_plane`] lets an operator see and
//! steer a running session over HTTP; [`sweep`] backtests a session over a
//! grid of strategy parameters.
#![deny(missing_docs)]

pub use cracktrader_model as model;

pub mod config;

pub mod reference_data;

pub mod market_data;

pub mod state;

pub mod views;

pub mod strategy;

pub mod plugin_api;

pub mod strategy_host;

pub mod intents;

pub mod risk;

pub mod execution;

pub mod inventory;

pub mod post_trade;

pub mod events;

pub mod journal;

pub mod session;

pub mod hot_reload;

pub mod paper;

pub mod control_plane;

pub mod sweep;

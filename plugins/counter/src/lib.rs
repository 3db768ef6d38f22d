//! Test plugin for hot reload, version 1: see `strategy.rs`.

include!("strategy.rs");

#[cfg(target_arch = "wasm32")]
cracktrader_guest::export_strategy!(Counter<1>);

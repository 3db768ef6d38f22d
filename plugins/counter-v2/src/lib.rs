//! Test plugin for hot reload, version 2: the same source as `counter`
//! (`../counter/src/strategy.rs`), exported as `Counter<2>`.

include!("../../counter/src/strategy.rs");

#[cfg(target_arch = "wasm32")]
cracktrader_guest::export_strategy!(Counter<2>);

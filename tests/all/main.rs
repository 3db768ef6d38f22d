//! Integration tests over real WASM components built from `plugins/`.

mod accounting;
mod bad_input;
mod e2e;
mod guest_numbers;
mod hostile;
mod hostile_load;
mod hot_reload;
mod languages;
mod orders;
mod sandbox;
mod scenario;
mod sweep;
mod templates;

//! Test plugin: a real component built against another version of the WIT.
//!
//! `wit/strategy.wit` here is the project's contract with the package version
//! changed to `cracktrader:strategy@0.3.0` and nothing else (a unit test keeps
//! the two in step). The host's tests load this component to check that an
//! unsupported contract version is refused with a clear error. The strategy
//! itself does nothing.
//!
//! It uses wit-bindgen directly rather than the SDK, which is bound to the
//! project's version of the WIT.

wit_bindgen::generate!({
    path: "wit",
    world: "strategy-plugin",
});

/// The do-nothing strategy, exported only from WebAssembly builds: natively
/// the component's export names (`cracktrader:strategy/...`) are not valid
/// linker symbols for a shared library.
#[cfg(target_arch = "wasm32")]
mod plugin {
    use super::exports::cracktrader::strategy::strategy::{Config, Guest, Info, Intent, View};

    struct Mismatch;

    impl Guest for Mismatch {
        fn init(_config: Config) -> Result<Info, String> {
            Ok(Info {
                name: "wit-mismatch".to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                subscriptions: Vec::new(),
                warmup: 0,
            })
        }

        fn on_step(_view: View) -> Vec<Intent> {
            Vec::new()
        }

        fn save_state() -> Vec<u8> {
            Vec::new()
        }

        fn restore_state(_state: Vec<u8>) -> Result<(), String> {
            Ok(())
        }
    }

    super::export!(Mismatch with_types_in super);
}

#[cfg(test)]
mod tests {
    /// The copy must differ from the project's WIT only in its version, so
    /// that the host's test exercises the version check and nothing else.
    #[test]
    fn wit_is_the_project_wit_at_another_version() {
        let project = include_str!("../../../wit/strategy.wit");
        let copy = include_str!("../wit/strategy.wit");
        let from = "package cracktrader:strategy@0.2.0;";
        assert!(project.contains(from), "project WIT is no longer at 0.2.0");
        assert_eq!(
            copy,
            project.replace(from, "package cracktrader:strategy@0.3.0;"),
            "plugins/wit-mismatch/wit/strategy.wit has drifted from wit/strategy.wit"
        );
    }
}

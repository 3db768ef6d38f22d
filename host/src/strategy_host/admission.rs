//! Admission: what a plugin file must satisfy before it is compiled.
//!
//! Compiling costs time and memory in proportion to what the file defines (a
//! component with a million tiny functions took a minute and gigabytes), so
//! the sizes that drive that cost are read off the file's sections first —
//! cheaply, without validating or compiling anything — and a plugin over any
//! of the registration's [`Limits`] is refused, naming the limit.

use std::path::Path;

use wasmparser::{Parser, Payload};

use super::{Limits, PluginError};

/// What compiling a plugin would have to process.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Sizes {
    functions: u64,
    data_segments: u64,
    data_bytes: u64,
}

/// Refuses `bytes` (the plugin at `path`) if it is over one of `limits`'
/// admission limits; see the module documentation.
pub(super) fn admit(path: &Path, bytes: &[u8], limits: &Limits) -> Result<(), PluginError> {
    let over = |what: String, limit: &'static str, value: u32| PluginError::OverLimit {
        path: path.to_owned(),
        what,
        limit,
        value,
    };
    let mib = |n: u64| n.div_ceil(1024 * 1024);
    let file_bytes = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if mib(file_bytes) > u64::from(limits.max_plugin_mib) {
        let what = format!("is {} MiB", mib(file_bytes));
        return Err(over(what, "max_plugin_mib", limits.max_plugin_mib));
    }
    let sizes = measure(bytes, limits).map_err(|e| PluginError::Invalid {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    if sizes.functions > u64::from(limits.max_functions) {
        let what = format!("defines {} functions", sizes.functions);
        return Err(over(what, "max_functions", limits.max_functions));
    }
    if sizes.data_segments > u64::from(limits.max_data_segments) {
        let what = format!("has {} data segments", sizes.data_segments);
        return Err(over(what, "max_data_segments", limits.max_data_segments));
    }
    if mib(sizes.data_bytes) > u64::from(limits.max_data_mib) {
        let what = format!("has {} MiB of data segments", mib(sizes.data_bytes));
        return Err(over(what, "max_data_mib", limits.max_data_mib));
    }
    Ok(())
}

/// The sizes of every core module in `bytes`, nested ones included. Stops
/// counting once a count is over its limit: the rest of a bomb need not be
/// read.
fn measure(bytes: &[u8], limits: &Limits) -> wasmparser::Result<Sizes> {
    let mut sizes = Sizes::default();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::FunctionSection(functions) => {
                sizes.functions = sizes.functions.saturating_add(functions.count().into());
            }
            Payload::DataSection(data) => {
                sizes.data_segments = sizes.data_segments.saturating_add(data.count().into());
                for segment in data {
                    let len = u64::try_from(segment?.data.len()).unwrap_or(u64::MAX);
                    sizes.data_bytes = sizes.data_bytes.saturating_add(len);
                }
            }
            _ => {}
        }
        let over = sizes.functions > u64::from(limits.max_functions)
            || sizes.data_segments > u64::from(limits.max_data_segments);
        if over {
            break;
        }
    }
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(wat: &str) -> Sizes {
        measure(&wat::parse_str(wat).unwrap(), &Limits::default()).unwrap()
    }

    /// Functions and data of nested core modules are counted, imports are not.
    #[test]
    fn counts_every_core_module_of_a_component() {
        let component = r#"(component
            (core module (import "m" "f" (func)) (func) (func) (memory 1) (data (i32.const 0) "abc"))
            (core module (func) (memory 1) (data (i32.const 0) "de") (data (i32.const 8) "f"))
        )"#;
        assert_eq!(
            sizes(component),
            Sizes {
                functions: 3,
                data_segments: 3,
                data_bytes: 6
            }
        );
    }

    #[test]
    fn each_limit_is_named() {
        let limits = Limits {
            max_functions: 2,
            ..Limits::default()
        };
        let bytes = wat::parse_str("(component (core module (func) (func) (func)))").unwrap();
        let err = admit(Path::new("p.wasm"), &bytes, &limits).unwrap_err();
        assert_eq!(
            err.to_string(),
            "plugin p.wasm: defines 3 functions; the limit is max_functions = 2 ([strategies.limits])"
        );
        let limits = Limits {
            max_data_segments: 1,
            ..Limits::default()
        };
        let bytes = wat::parse_str(
            r#"(component (core module (memory 1) (data (i32.const 0) "a") (data (i32.const 1) "b")))"#,
        )
        .unwrap();
        let err = admit(Path::new("p.wasm"), &bytes, &limits).unwrap_err();
        assert!(
            err.to_string()
                .contains("has 2 data segments; the limit is max_data_segments = 1"),
            "{err}"
        );
        let garbage = b"\0asm\x0d\x00\x01\x00\x01\xff";
        let err = admit(Path::new("p.wasm"), garbage, &Limits::default()).unwrap_err();
        assert!(matches!(err, PluginError::Invalid { .. }), "{err}");
    }
}

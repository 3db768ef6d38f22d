//! Strategy host: loads strategy plugins (WebAssembly components) into
//! sandboxes and calls them through the engine's
//! [`Strategy`](crate::strategy::Strategy) interface, which native
//! strategies implement too.
//!
//! Sandbox, deny by default: a plugin may import the `host` interface of the
//! WIT package (logging) and, if it was built for WASI, the virtual WASI
//! environment of [`sandbox`] — clocks that show the snapshot time, seeded
//! random, and no files, sockets or environment. Each instance has its own
//! `Store` with memory, table and instance caps and a CPU budget per call
//! ([`CpuMeter`]), so a runaway guest traps instead of stalling the session;
//! what it returns is bounded by [`Limits`] too. The threat model is in
//! `docs/security.md`.
//!
//! Compiled components are cached on disk, keyed by the sha256 of the plugin
//! bytes and the engine's compatibility hash.

mod admission;
mod guest_text;
mod instance;
mod limits;
mod sandbox;
mod session_budget;

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;

pub use instance::WasmStrategy;

use crate::strategy::StrategyError;
use limits::mib_bytes;
pub use limits::{CpuMeter, Limits};
pub use sandbox::{HostState, SnapshotClock, VIRTUAL_WASI_PACKAGES};

use crate::model::StrategyId;
use crate::plugin_api::{StrategyPluginPre, WIT_PACKAGE, WIT_VERSION};

/// Interval of the epoch ticker: the resolution of [`Limits::time_per_call_ms`]
/// and [`Limits::deadline_per_call_ms`].
const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read.
    #[error("plugin {path}: cannot read: {source}")]
    Read {
        /// The plugin file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a WebAssembly component.
    #[error("plugin {path}: not a WebAssembly component ({found}); build it with `cargo xtask plugins` or `wasm-tools component new`")]
    NotAComponent {
        /// The plugin file.
        path: PathBuf,
        /// What the file looks like instead.
        found: &'static str,
    },
    /// wasmtime rejected the component.
    #[error("plugin {path}: invalid component: {message}")]
    Invalid {
        /// The plugin file.
        path: PathBuf,
        /// wasmtime's explanation.
        message: String,
    },
    /// The component targets another version of the WIT package.
    #[error(
        "plugin {path}: built against {found}; this host supports {WIT_PACKAGE}@{WIT_VERSION}"
    )]
    WitVersion {
        /// The plugin file.
        path: PathBuf,
        /// The package and version the plugin uses.
        found: String,
    },
    /// The component does not export the strategy interface.
    #[error("plugin {path}: does not export {WIT_PACKAGE}/strategy@{WIT_VERSION}")]
    MissingExport {
        /// The plugin file.
        path: PathBuf,
    },
    /// The component imports something the host does not grant.
    #[error("plugin {path}: import {import} is not granted (plugins may import only {WIT_PACKAGE}/host@{WIT_VERSION} and the virtual WASI interfaces {})", VIRTUAL_WASI_PACKAGES.join(", "))]
    ImportNotGranted {
        /// The plugin file.
        path: PathBuf,
        /// The refused import.
        import: String,
    },
    /// The file is not the one the registration pinned.
    #[error("plugin {path}: sha256 is {found}, but the registration pins {expected}")]
    HashMismatch {
        /// The plugin file.
        path: PathBuf,
        /// The pinned hash.
        expected: String,
        /// The hash of the file.
        found: String,
    },
    /// The file is over one of the registration's admission limits; it was
    /// not compiled.
    #[error("plugin {path}: {what}; the limit is {limit} = {value} ([strategies.limits])")]
    OverLimit {
        /// The plugin file.
        path: PathBuf,
        /// What the file has too much of.
        what: String,
        /// The limit's field in `[strategies.limits]`.
        limit: &'static str,
        /// The limit's value.
        value: u32,
    },
    /// The wasmtime engine could not be set up.
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    /// The compiled-component cache failed.
    #[error("component cache {path}: {message}")]
    Cache {
        /// The cache file or directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// The shared wasmtime engine and the on-disk cache of compiled components.
pub struct StrategyHost {
    engine: Engine,
    linker: Linker<HostState>,
    cache_dir: Option<PathBuf>,
    engine_key: String,
    meter: CpuMeter,
}

/// A loaded, interface-checked plugin, ready to instantiate.
#[derive(Clone)]
pub struct Plugin {
    path: PathBuf,
    sha256: String,
    pre: StrategyPluginPre<HostState>,
}

impl Plugin {
    /// Hex sha256 of the component bytes: the plugin's identity.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Where the plugin was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl StrategyHost {
    /// A host whose compiled components are cached in `cache_dir` (none: no
    /// cache) and whose guests' CPU time is bounded by `meter`.
    pub fn new(cache_dir: Option<PathBuf>, meter: CpuMeter) -> Result<Self, PluginError> {
        Self::build(cache_dir, meter, None)
    }

    /// Like [`new`](Self::new), with instances allocated from a pool of
    /// `slots` instances reserved up front, each within `limits` (memory,
    /// tables, core instances): instantiating is then cheaper, which pays when
    /// many short-lived instances are made, as in a parameter sweep. More than
    /// `slots` live instances at once fail to instantiate.
    pub fn pooled(
        cache_dir: Option<PathBuf>,
        meter: CpuMeter,
        slots: u32,
        limits: &Limits,
    ) -> Result<Self, PluginError> {
        let (instances, memories) = (limits.instances, limits.memories);
        let mut pool = wasmtime::PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .max_core_instances_per_component(instances)
            .max_memories_per_component(memories)
            .max_tables_per_component(instances)
            .total_core_instances(slots.saturating_mul(instances))
            .total_memories(slots.saturating_mul(memories))
            .total_tables(slots.saturating_mul(instances))
            .table_elements(limits.table_elements as usize)
            .max_memory_size(mib_bytes(limits.memory_mib));
        Self::build(
            cache_dir,
            meter,
            Some(wasmtime::InstanceAllocationStrategy::Pooling(pool)),
        )
    }

    fn build(
        cache_dir: Option<PathBuf>,
        meter: CpuMeter,
        allocation: Option<wasmtime::InstanceAllocationStrategy>,
    ) -> Result<Self, PluginError> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        if let Some(allocation) = allocation {
            config.allocation_strategy(allocation);
        }
        config.consume_fuel(meter == CpuMeter::Fuel);
        // Both meters get a wall-clock deadline: the budget of the epoch
        // meter, the backstop of the fuel meter.
        let deadline = meter != CpuMeter::Unmetered;
        config.epoch_interruption(deadline);
        let engine = Engine::new(&config).map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        if deadline {
            start_epoch_ticker(&engine)?;
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        let mut linker = Linker::new(&engine);
        let link_error =
            |e: wasmtime::Error| PluginError::Engine(format!("cannot link host functions: {e:#}"));
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link_error)?;
        sandbox::add_to_linker(&mut linker).map_err(link_error)?;
        Ok(Self {
            engine,
            linker,
            cache_dir,
            engine_key,
            meter,
        })
    }

    /// How this host bounds guest CPU time.
    pub fn meter(&self) -> CpuMeter {
        self.meter
    }

    /// Reads, checks and compiles (or loads from cache) the plugin at `path`,
    /// refusing it before compiling if it is over one of `limits`' admission
    /// limits (size, functions, data).
    pub fn load(&self, path: &Path, limits: &Limits) -> Result<Plugin, PluginError> {
        self.load_pinned(path, None, limits)
    }

    /// Like [`load`](Self::load), but refuses a file whose sha256 is not
    /// `pin` (hex), before compiling it.
    pub fn load_pinned(
        &self,
        path: &Path,
        pin: Option<&str>,
        limits: &Limits,
    ) -> Result<Plugin, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read {
            path: path.to_owned(),
            source,
        })?;
        if let Some(expected) = pin {
            let found = hex::encode(Sha256::digest(&bytes));
            if !found.eq_ignore_ascii_case(expected) {
                return Err(PluginError::HashMismatch {
                    path: path.to_owned(),
                    expected: expected.to_owned(),
                    found,
                });
            }
        }
        self.load_bytes(path, &bytes, limits)
    }

    /// Like [`load`](Self::load) for bytes already read; `path` names them.
    pub fn load_bytes(
        &self,
        path: &Path,
        bytes: &[u8],
        limits: &Limits,
    ) -> Result<Plugin, PluginError> {
        check_component_header(path, bytes)?;
        admission::admit(path, bytes, limits)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let component = self.compile_cached(path, bytes, &sha256)?;
        check_interface(&self.engine, &component, path)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(StrategyPluginPre::new)
            .map_err(|e| PluginError::Invalid {
                path: path.to_owned(),
                message: format!("{e:#}"),
            })?;
        Ok(Plugin {
            path: path.to_owned(),
            sha256,
            pre,
        })
    }

    fn compile_cached(
        &self,
        path: &Path,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<Component, PluginError> {
        let invalid = |e: wasmtime::Error| PluginError::Invalid {
            path: path.to_owned(),
            message: format!("{e:#}"),
        };
        let Some(dir) = &self.cache_dir else {
            return Component::new(&self.engine, bytes).map_err(invalid);
        };
        let cached = dir.join(format!("{sha256}-{}.cwasm", self.engine_key));
        if cached.exists() {
            // SAFETY: the file was written by `Component::serialize` of an engine
            // with the same compatibility hash (it is in the file name), and the
            // cache directory belongs to the operator; a truncated or corrupt file
            // fails the header checks and is recompiled below.
            match unsafe { Component::deserialize_file(&self.engine, &cached) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %cached.display(), "recompiling: unreadable cache entry: {e}")
                }
            }
        }
        let component = Component::new(&self.engine, bytes).map_err(invalid)?;
        let cache_err = |message: String| PluginError::Cache {
            path: cached.clone(),
            message,
        };
        let serialized = component
            .serialize()
            .map_err(|e| cache_err(e.to_string()))?;
        std::fs::create_dir_all(dir).map_err(|e| cache_err(e.to_string()))?;
        // Write then rename, so that a concurrent reader never sees half a
        // file; the name is unique to this call, as other threads and
        // processes may be caching the same component.
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let tmp = cached.with_extension(format!(
            "tmp{}-{}",
            std::process::id(),
            WRITES.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&tmp, serialized)
            .and_then(|()| std::fs::rename(&tmp, &cached))
            .map_err(|e| cache_err(e.to_string()))?;
        Ok(component)
    }

    /// A fresh sandboxed instance of `plugin` for registration `strategy_id`.
    pub fn instantiate(
        &self,
        plugin: &Plugin,
        strategy_id: &StrategyId,
        limits: Limits,
    ) -> Result<WasmStrategy, StrategyError> {
        WasmStrategy::new(&plugin.pre, strategy_id, limits, self.meter)
    }
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is dropped.
fn start_epoch_ticker(engine: &Engine) -> Result<(), PluginError> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
        .map_err(|e| PluginError::Engine(format!("cannot start the epoch ticker: {e}")))
}

fn check_component_header(path: &Path, bytes: &[u8]) -> Result<(), PluginError> {
    let not = |found| PluginError::NotAComponent {
        path: path.to_owned(),
        found,
    };
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(not("the file is not WebAssembly"));
    }
    // Bytes 4..8 are the version and layer: 1,0,0,0 is a core module;
    // components have layer 1.
    match bytes[4..8] {
        [_, _, 1, 0] => Ok(()),
        [1, 0, 0, 0] => Err(not("it is a core WebAssembly module")),
        _ => Err(not("unknown WebAssembly version")),
    }
}

/// Checks that the component exports our strategy interface at our version
/// and imports nothing beyond the granted host interface.
fn check_interface(engine: &Engine, component: &Component, path: &Path) -> Result<(), PluginError> {
    let ty = component.component_type();
    let ours = |name: &str| -> Option<(String, String)> {
        let (package_iface, version) = name.split_once('@')?;
        let (package, iface) = package_iface.split_once('/')?;
        (package == WIT_PACKAGE).then(|| (iface.to_owned(), version.to_owned()))
    };
    let version_error = |version: &str| PluginError::WitVersion {
        path: path.to_owned(),
        found: format!("{WIT_PACKAGE}@{version}"),
    };
    let mut exported = false;
    for (name, _) in ty.exports(engine) {
        if let Some((iface, version)) = ours(name) {
            if iface == "strategy" {
                if version != WIT_VERSION {
                    return Err(version_error(&version));
                }
                exported = true;
            }
        }
    }
    for (name, _) in ty.imports(engine) {
        let virtual_wasi = name
            .split_once('/')
            .is_some_and(|(package, _)| VIRTUAL_WASI_PACKAGES.contains(&package));
        match ours(name) {
            Some((_, version)) if version != WIT_VERSION => return Err(version_error(&version)),
            Some((iface, _)) if iface == "host" || iface == "types" => {}
            None if virtual_wasi => {}
            _ => {
                return Err(PluginError::ImportNotGranted {
                    path: path.to_owned(),
                    import: name.to_owned(),
                })
            }
        }
    }
    if !exported {
        return Err(PluginError::MissingExport {
            path: path.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_tell_modules_from_components() {
        let path = Path::new("p.wasm");
        assert!(check_component_header(path, b"\0asm\x0d\x00\x01\x00").is_ok());
        let core = check_component_header(path, b"\0asm\x01\x00\x00\x00").unwrap_err();
        assert!(
            core.to_string().contains("core WebAssembly module"),
            "{core}"
        );
        let text = check_component_header(path, b"hello world").unwrap_err();
        assert!(text.to_string().contains("not WebAssembly"), "{text}");
    }

    /// A component asking for a WASI interface outside the virtual set is
    /// refused at load, naming the import.
    #[test]
    fn refuses_imports_outside_the_granted_set() {
        let host = StrategyHost::new(None, CpuMeter::Fuel).unwrap();
        let load = |import: &str| {
            let text = format!("(component (import \"{import}\" (instance)))");
            let bytes = wat::parse_str(text).unwrap();
            host.load_bytes(Path::new("p.wasm"), &bytes, &Limits::default())
                .map(drop)
        };
        let err = load("wasi:http/outgoing-handler@0.2.0").unwrap_err();
        assert!(
            err.to_string().starts_with(
                "plugin p.wasm: import wasi:http/outgoing-handler@0.2.0 is not granted"
            ),
            "{err}"
        );
        // A granted WASI import passes the import check; the missing export is next.
        let err = load("wasi:clocks/wall-clock@0.2.0").unwrap_err();
        assert!(matches!(err, PluginError::MissingExport { .. }), "{err}");
    }
}

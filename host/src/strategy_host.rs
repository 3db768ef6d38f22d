//! Strategy host: loads strategy plugins (WebAssembly components) into
//! sandboxes and calls them through the [`Strategy`] interface, which native
//! strategies implement too.
//!
//! Sandbox, deny by default: a plugin may import only the `host` interface of
//! the WIT package (logging). No filesystem, network, environment, clock or
//! randomness exists for it. Each instance has its own `Store` with a linear
//! memory cap and a fuel budget per call, so a runaway guest traps
//! deterministically instead of stalling the session.
//!
//! Compiled components are cached on disk, keyed by the sha256 of the plugin
//! bytes and the engine's compatibility hash.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, Trap};

use crate::model::StrategyId;
use crate::plugin_api::{host, wit, StrategyPlugin, StrategyPluginPre, WIT_PACKAGE, WIT_VERSION};

/// Sandbox limits of one strategy registration (`[strategies.limits]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Linear memory cap in MiB. Default 64.
    pub memory_mib: u32,
    /// Fuel (≈ WebAssembly instructions) per call. Default 50,000,000, about
    /// 10 ms of guest code on a current CPU.
    pub fuel_per_call: u64,
    /// Most intents one step may return. Default 100.
    pub max_intents_per_step: u32,
    /// Log bytes a plugin may write per call; beyond, lines are dropped. Default 4096.
    pub max_log_bytes_per_call: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            memory_mib: 64,
            fuel_per_call: 50_000_000,
            max_intents_per_step: 100,
            max_log_bytes_per_call: 4096,
        }
    }
}

/// A strategy, sandboxed or native, as the session drives it.
pub trait Strategy {
    /// Initialises the strategy with its configuration.
    fn init(&mut self, config: &wit::Config) -> Result<wit::Info, StrategyError>;
    /// One step: a view in, intents out.
    fn on_step(&mut self, view: &wit::View) -> Result<Vec<wit::Intent>, StrategyError>;
    /// Serialises the strategy's state.
    fn save_state(&mut self) -> Result<Vec<u8>, StrategyError>;
    /// Restores state written by `save_state`.
    fn restore_state(&mut self, state: &[u8]) -> Result<(), StrategyError>;
}

/// A strategy call that failed. The session adds the strategy id.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    /// The guest trapped (panic, unreachable, out-of-bounds access, memory cap…).
    #[error("trapped in {call}: {message}")]
    Trap {
        /// The export being called.
        call: &'static str,
        /// The trap and the guest's last error log line, if any.
        message: String,
    },
    /// The guest used up its fuel budget for one call.
    #[error("exceeded its CPU budget of {fuel} fuel in {call}")]
    CpuBudget {
        /// The export being called.
        call: &'static str,
        /// The budget.
        fuel: u64,
    },
    /// The guest returned more intents than allowed.
    #[error("returned {count} intents in one step; the limit is {limit}")]
    TooManyIntents {
        /// Intents returned.
        count: usize,
        /// The limit.
        limit: u32,
    },
    /// `init` returned an error.
    #[error("refused its configuration: {0}")]
    InitRefused(String),
    /// `restore-state` returned an error.
    #[error("refused the saved state: {0}")]
    RestoreRefused(String),
    /// The instance trapped earlier and cannot be entered again.
    #[error("is unusable after an earlier trap")]
    Poisoned,
}

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
    #[error("plugin {path}: import {import} is not granted (plugins may import only {WIT_PACKAGE}/host@{WIT_VERSION})")]
    ImportNotGranted {
        /// The plugin file.
        path: PathBuf,
        /// The refused import.
        import: String,
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
    /// A host whose compiled components are cached in `cache_dir` (none: no cache).
    pub fn new(cache_dir: Option<PathBuf>) -> Result<Self, PluginError> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        // Fuel rather than epochs: it makes budgets independent of machine speed,
        // so a backtest's outcome never depends on the CPU it ran on.
        config.consume_fuel(true);
        let engine = Engine::new(&config).map_err(|e| PluginError::Engine(format!("{e:#}")))?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let engine_key = format!("{:016x}", hasher.finish());
        let mut linker = Linker::new(&engine);
        StrategyPlugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)
            .map_err(|e| PluginError::Engine(format!("cannot link host functions: {e:#}")))?;
        Ok(Self {
            engine,
            linker,
            cache_dir,
            engine_key,
        })
    }

    /// Reads, checks and compiles (or loads from cache) the plugin at `path`.
    pub fn load(&self, path: &Path) -> Result<Plugin, PluginError> {
        let bytes = std::fs::read(path).map_err(|source| PluginError::Read {
            path: path.to_owned(),
            source,
        })?;
        self.load_bytes(path, &bytes)
    }

    /// Like [`load`](Self::load) for bytes already read; `path` names them.
    pub fn load_bytes(&self, path: &Path, bytes: &[u8]) -> Result<Plugin, PluginError> {
        check_component_header(path, bytes)?;
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
        // Write then rename, so that a concurrent reader never sees half a file.
        let tmp = cached.with_extension(format!("tmp{}", std::process::id()));
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
        let memory_bytes =
            usize::try_from(u64::from(limits.memory_mib) * 1024 * 1024).unwrap_or(usize::MAX);
        let state = HostState {
            strategy_id: strategy_id.clone(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .instances(8)
                .tables(8)
                .memories(2)
                .trap_on_grow_failure(true)
                .build(),
            log_budget: 0,
            max_log_bytes: limits.max_log_bytes_per_call,
            last_error_log: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        store
            .set_fuel(limits.fuel_per_call)
            .map_err(|e| trap("instantiate", e))?;
        let bindings = plugin
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify("instantiate", e, &mut store, limits.fuel_per_call))?;
        Ok(WasmStrategy {
            store,
            bindings,
            limits,
            poisoned: false,
        })
    }
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
        match ours(name) {
            Some((_, version)) if version != WIT_VERSION => return Err(version_error(&version)),
            Some((iface, _)) if iface == "host" || iface == "types" => {}
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

/// Per-instance host state: identity, limits and the per-call log budget.
pub struct HostState {
    strategy_id: StrategyId,
    limits: StoreLimits,
    log_budget: u32,
    max_log_bytes: u32,
    last_error_log: Option<String>,
}

impl wit::Host for HostState {}

impl host::Host for HostState {
    fn log(&mut self, level: wit::LogLevel, message: String) {
        if level == wit::LogLevel::Error {
            self.last_error_log = Some(message.chars().take(1024).collect());
        }
        let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
        if len > self.log_budget {
            if self.log_budget > 0 {
                tracing::warn!(strategy_id = %self.strategy_id, "log budget of {} bytes per call used up; dropping lines", self.max_log_bytes);
            }
            self.log_budget = 0;
            return;
        }
        self.log_budget -= len;
        let id = &self.strategy_id;
        match level {
            wit::LogLevel::Trace => tracing::trace!(strategy_id = %id, "{message}"),
            wit::LogLevel::Debug => tracing::debug!(strategy_id = %id, "{message}"),
            wit::LogLevel::Info => tracing::info!(strategy_id = %id, "{message}"),
            wit::LogLevel::Warn => tracing::warn!(strategy_id = %id, "{message}"),
            wit::LogLevel::Error => tracing::error!(strategy_id = %id, "{message}"),
        }
    }
}

/// A strategy running in its own wasmtime store.
pub struct WasmStrategy {
    store: Store<HostState>,
    bindings: StrategyPlugin,
    limits: Limits,
    poisoned: bool,
}

fn trap(call: &'static str, e: wasmtime::Error) -> StrategyError {
    StrategyError::Trap {
        call,
        message: format!("{e:#}"),
    }
}

fn classify(
    call: &'static str,
    e: wasmtime::Error,
    store: &mut Store<HostState>,
    fuel: u64,
) -> StrategyError {
    if e.downcast_ref::<Trap>() == Some(&Trap::OutOfFuel) {
        return StrategyError::CpuBudget { call, fuel };
    }
    let mut message = e
        .downcast_ref::<Trap>()
        .map_or_else(|| format!("{e:#}"), |t| t.to_string());
    if let Some(log) = store.data_mut().last_error_log.take() {
        message = format!("{message} (guest said: {log})");
    }
    StrategyError::Trap { call, message }
}

impl WasmStrategy {
    fn call<R>(
        &mut self,
        call: &'static str,
        f: impl FnOnce(&StrategyPlugin, &mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, StrategyError> {
        if self.poisoned {
            return Err(StrategyError::Poisoned);
        }
        let fuel = self.limits.fuel_per_call;
        self.store.set_fuel(fuel).map_err(|e| trap(call, e))?;
        let state = self.store.data_mut();
        state.log_budget = state.max_log_bytes;
        f(&self.bindings, &mut self.store).map_err(|e| {
            self.poisoned = true;
            classify(call, e, &mut self.store, fuel)
        })
    }
}

impl Strategy for WasmStrategy {
    fn init(&mut self, config: &wit::Config) -> Result<wit::Info, StrategyError> {
        self.call("init", |b, s| {
            b.cracktrader_strategy_strategy().call_init(s, config)
        })?
        .map_err(StrategyError::InitRefused)
    }

    fn on_step(&mut self, view: &wit::View) -> Result<Vec<wit::Intent>, StrategyError> {
        let intents = self.call("on-step", |b, s| {
            b.cracktrader_strategy_strategy().call_on_step(s, view)
        })?;
        let limit = self.limits.max_intents_per_step;
        if intents.len() > limit as usize {
            return Err(StrategyError::TooManyIntents {
                count: intents.len(),
                limit,
            });
        }
        Ok(intents)
    }

    fn save_state(&mut self) -> Result<Vec<u8>, StrategyError> {
        self.call("save-state", |b, s| {
            b.cracktrader_strategy_strategy().call_save_state(s)
        })
    }

    fn restore_state(&mut self, state: &[u8]) -> Result<(), StrategyError> {
        self.call("restore-state", |b, s| {
            b.cracktrader_strategy_strategy()
                .call_restore_state(s, state)
        })?
        .map_err(StrategyError::RestoreRefused)
    }
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
}

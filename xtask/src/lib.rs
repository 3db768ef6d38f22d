//! Builds the workspace's WebAssembly strategy plugins into components.
//!
//! Every package under `plugins/` is compiled with one cargo invocation per
//! target (profile `plugin`, own target directory `target/wasm`). The default
//! target is `wasm32-unknown-unknown`, whose core modules import nothing but
//! the strategy's own WIT imports; each is wrapped into a component with
//! `wit-component`. A plugin that must import WASI (the hostile test plugin
//! that tries files and sockets) says so in its manifest:
//!
//! ```toml
//! [package.metadata.cracktrader]
//! target = "wasm32-wasip2"
//! ```
//!
//! and rustc links it into a component directly.
//!
//! Used by `cargo xtask plugins` and by the build script of the integration
//! tests, so it neither prints nor exits: the child cargo's output goes to
//! stderr, and failures come back as [`BuildError`].

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use wit_component::ComponentEncoder;

/// Builds C, JavaScript and Python plugins (and stand-alone Rust crates),
/// installing their pinned toolchains.
pub mod lang;

/// The target plugins are compiled for unless their manifest names another.
pub const PLUGIN_TARGET: &str = "wasm32-unknown-unknown";

/// The target of plugins that import WASI; its output is already a component.
pub const WASI_TARGET: &str = "wasm32-wasip2";

/// Every target a plugin may name, for `rustup target add`.
pub const PLUGIN_TARGETS: [&str; 2] = [PLUGIN_TARGET, WASI_TARGET];

/// The cargo profile plugins are compiled with (defined in the root
/// `Cargo.toml`: size-optimised, LTO, `panic = "abort"`).
const PLUGIN_PROFILE: &str = "plugin";

/// Environment variables of an enclosing cargo that must not leak into the
/// plugin build. Build scripts receive the outer build's flags and target
/// (which would be applied to, or fight with, the wasm build), and `cargo
/// clippy` sets a workspace wrapper that would lint and rebuild the plugins.
pub(crate) const SCRUBBED_ENV: [&str; 5] = [
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET",
    "RUSTC_WORKSPACE_WRAPPER",
];

/// Why plugins could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A plugin manifest has no `name = "..."` line in its `[package]`.
    #[error("{}: no package name in [package]", manifest.display())]
    NoPackageName {
        /// The `Cargo.toml` of the plugin.
        manifest: PathBuf,
    },
    /// `plugins/` holds no package.
    #[error("no plugin packages in {}", dir.display())]
    NoPlugins {
        /// The directory searched.
        dir: PathBuf,
    },
    /// The Rust standard library for a plugin target is missing.
    #[error("the {0} target is not installed: run `rustup target add {0}`")]
    TargetMissing(&'static str),
    /// A plugin manifest names a target plugins cannot use.
    #[error("{}: target '{target}' is not one of {PLUGIN_TARGETS:?}", manifest.display())]
    UnknownTarget {
        /// The `Cargo.toml` of the plugin.
        manifest: PathBuf,
        /// The target it names.
        target: String,
    },
    /// A tool could not be started.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The program, e.g. `cargo`.
        program: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A build step failed (its diagnostics went to stderr).
    #[error("`{command}` failed ({status})")]
    CommandFailed {
        /// The command line, for reproducing the failure by hand.
        command: String,
        /// How it ended.
        status: ExitStatus,
    },
    /// A language toolchain is not installed and cannot be installed by
    /// xtask (system packages); the message says what to run.
    #[error("{tool} is not installed: {install}")]
    ToolMissing {
        /// What is missing, e.g. "clang with the wasm32-wasi sysroot".
        tool: String,
        /// The command that installs it.
        install: String,
    },
    /// A directory holds no strategy xtask can build on its own.
    #[error("{}: not a strategy plugin: expected {expected}", dir.display())]
    NotAPlugin {
        /// The directory.
        dir: PathBuf,
        /// The entry files looked for.
        expected: String,
    },
    /// A core module could not be turned into a valid component.
    #[error("{}: cannot make a component: {message}", module.display())]
    Component {
        /// The core module.
        module: PathBuf,
        /// The encoder's error chain.
        message: String,
    },
}

/// Builds every plugin of the workspace at `workspace_root` and writes the
/// components to `out_dir/<package-name>.wasm`, returning their paths in
/// package-directory order.
///
/// A component file is only rewritten when its bytes change, so its
/// modification time tells dependents whether the plugin really changed.
pub fn build_plugins(workspace_root: &Path, out_dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let packages = plugin_packages(&workspace_root.join("plugins"))?;
    let target_dir = workspace_root.join("target").join("wasm");
    for target in PLUGIN_TARGETS {
        let names: Vec<&str> = packages
            .iter()
            .filter(|p| p.target == target)
            .map(|p| p.name.as_str())
            .collect();
        if !names.is_empty() {
            check_target_installed(target)?;
            cargo_build(workspace_root, &target_dir, target, &names)?;
        }
    }

    fs::create_dir_all(out_dir).map_err(io_error(out_dir))?;
    packages
        .iter()
        .map(|package| {
            let output = target_dir
                .join(package.target)
                .join(PLUGIN_PROFILE)
                .join(format!("{}.wasm", package.name.replace('-', "_")));
            let component = if package.target == WASI_TARGET {
                fs::read(&output).map_err(io_error(&output))?
            } else {
                componentize(&output)?
            };
            let path = out_dir.join(format!("{}.wasm", package.name));
            write_if_changed(&path, &component)?;
            Ok(path)
        })
        .collect()
}

/// A plugin package and the target it is built for.
#[derive(Debug, PartialEq, Eq)]
struct Package {
    name: String,
    target: &'static str,
}

/// The packages in the directories of `plugins_dir` that hold a
/// `Cargo.toml`, sorted by directory name.
fn plugin_packages(plugins_dir: &Path) -> Result<Vec<Package>, BuildError> {
    let mut manifests = Vec::new();
    for entry in fs::read_dir(plugins_dir).map_err(io_error(plugins_dir))? {
        let manifest = entry
            .map_err(io_error(plugins_dir))?
            .path()
            .join("Cargo.toml");
        if manifest.is_file() {
            manifests.push(manifest);
        }
    }
    if manifests.is_empty() {
        return Err(BuildError::NoPlugins {
            dir: plugins_dir.to_path_buf(),
        });
    }
    manifests.sort();
    manifests
        .iter()
        .map(|manifest| {
            let text = fs::read_to_string(manifest).map_err(io_error(manifest))?;
            let name = manifest_string(&text, "[package]", "name").ok_or_else(|| {
                BuildError::NoPackageName {
                    manifest: manifest.clone(),
                }
            })?;
            let target = match manifest_string(&text, "[package.metadata.cracktrader]", "target") {
                None => PLUGIN_TARGET,
                Some(target) => PLUGIN_TARGETS
                    .into_iter()
                    .find(|t| *t == target)
                    .ok_or_else(|| BuildError::UnknownTarget {
                        manifest: manifest.clone(),
                        target,
                    })?,
            };
            Ok(Package { name, target })
        })
        .collect()
}

/// The string value of `key` in table `table` (e.g. `[package]`) of a
/// manifest. Only the plain `key = "..."` form is understood: enough for
/// this workspace's manifests without a TOML parser in every build of the
/// tests.
pub(crate) fn manifest_string(manifest: &str, table: &str, key: &str) -> Option<String> {
    let mut in_table = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == table;
        } else if in_table {
            let Some((k, value)) = line.split_once('=') else {
                continue;
            };
            if k.trim() == key {
                let value = value.trim().strip_prefix('"')?.strip_suffix('"')?;
                return Some(value.to_string());
            }
        }
    }
    None
}

/// Fails with [`BuildError::TargetMissing`] unless the toolchain cargo will
/// use has a standard library for `target`. Without this check the build
/// would fail with rustc's less direct "can't find crate for `core`".
pub(crate) fn check_target_installed(target: &'static str) -> Result<(), BuildError> {
    // Cargo compiles with $RUSTC when set (as it is inside build scripts).
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let output = Command::new(&rustc)
        .args(["--print", "target-libdir", "--target", target])
        .stderr(Stdio::null())
        .output()
        .map_err(|source| BuildError::Spawn {
            program: rustc.to_string_lossy().into_owned(),
            source,
        })?;
    let libdir = String::from_utf8_lossy(&output.stdout);
    if output.status.success() && Path::new(libdir.trim()).is_dir() {
        Ok(())
    } else {
        Err(BuildError::TargetMissing(target))
    }
}

/// One `cargo build` for all plugin packages of one target.
fn cargo_build(
    workspace_root: &Path,
    target_dir: &Path,
    target: &str,
    packages: &[&str],
) -> Result<(), BuildError> {
    // The cargo that runs us (xtask via `cargo run`, or a build script) says
    // where it is; use the same one.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(&cargo);
    command
        .current_dir(workspace_root)
        .args(["build", "--profile", PLUGIN_PROFILE, "--target", target])
        .arg("--target-dir")
        .arg(target_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    for var in SCRUBBED_ENV {
        command.env_remove(var);
    }
    run_tool(&mut command)
}

/// Runs a build tool to completion. Its stdout goes to stderr: inside a build
/// script stdout carries `cargo:` directives to the outer cargo. A failure
/// names the whole command line, for reproducing it by hand.
pub(crate) fn run_tool(command: &mut Command) -> Result<(), BuildError> {
    command.stdout(Stdio::from(io::stderr()));
    let status = command.status().map_err(|source| BuildError::Spawn {
        program: command.get_program().to_string_lossy().into_owned(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        let args: Vec<String> = command
            .get_args()
            .map(|arg| arg.to_string_lossy().into_owned())
            .collect();
        Err(BuildError::CommandFailed {
            command: format!(
                "{} {}",
                command.get_program().to_string_lossy(),
                args.join(" ")
            ),
            status,
        })
    }
}

/// The component made from the core module at `module`, validated.
pub(crate) fn componentize(module: &Path) -> Result<Vec<u8>, BuildError> {
    let bytes = fs::read(module).map_err(io_error(module))?;
    ComponentEncoder::default()
        .validate(true)
        .module(&bytes)
        .and_then(|encoder| encoder.encode())
        .map_err(|err| BuildError::Component {
            module: module.to_path_buf(),
            message: format!("{err:#}"),
        })
}

/// Writes `bytes` to `path` unless it already holds them. The new file is
/// renamed into place, so a concurrent reader (another build running the same
/// step) never sees a partial component.
pub(crate) fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    if fs::read(path).is_ok_and(|existing| existing == bytes) {
        return Ok(());
    }
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".{}.partial", std::process::id()));
    let partial = PathBuf::from(partial);
    fs::write(&partial, bytes).map_err(io_error(&partial))?;
    fs::rename(&partial, path).map_err(io_error(path))
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(io::Error) -> BuildError + '_ {
    move |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_manifest_strings() {
        let cases = [
            ("[package]\nname = \"sma-cross\"\n", Some("sma-cross")),
            (
                "[lib]\nname = \"other\"\n\n[package]\ndescription = \"x = y\"\n  name=\"trap-on-step\"\n",
                Some("trap-on-step"),
            ),
            ("[package]\nversion.workspace = true\n[dependencies]\nname = \"dep\"\n", None),
            ("[package]\nname = sma\n", None),
        ];
        for (manifest, expected) in cases {
            assert_eq!(
                manifest_string(manifest, "[package]", "name").as_deref(),
                expected,
                "{manifest}"
            );
        }
    }

    #[test]
    fn discovers_plugin_packages_in_directory_order() {
        let dir = tempfile::tempdir().unwrap();
        for (subdir, manifest) in [
            (
                "b",
                "[package]\nname = \"beta\"\n[package.metadata.cracktrader]\ntarget = \"wasm32-wasip2\"\n",
            ),
            ("a", "[package]\nname = \"alpha\"\n"),
        ] {
            fs::create_dir(dir.path().join(subdir)).unwrap();
            fs::write(dir.path().join(subdir).join("Cargo.toml"), manifest).unwrap();
        }
        fs::create_dir(dir.path().join("not-a-package")).unwrap();
        let package = |name: &str, target| Package {
            name: name.to_owned(),
            target,
        };
        assert_eq!(
            plugin_packages(dir.path()).unwrap(),
            [
                package("alpha", PLUGIN_TARGET),
                package("beta", WASI_TARGET)
            ]
        );

        fs::write(
            dir.path().join("b").join("Cargo.toml"),
            "[package]\nname = \"beta\"\n[package.metadata.cracktrader]\ntarget = \"x86_64\"\n",
        )
        .unwrap();
        let err = plugin_packages(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "target 'x86_64' is not one of [\"wasm32-unknown-unknown\", \"wasm32-wasip2\"]"
            ),
            "{err}"
        );

        fs::write(dir.path().join("a").join("Cargo.toml"), "[package]\n").unwrap();
        let err = plugin_packages(dir.path()).unwrap_err().to_string();
        assert!(
            err.ends_with("Cargo.toml: no package name in [package]"),
            "{err}"
        );
    }

    #[test]
    fn refuses_an_empty_plugins_directory() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            plugin_packages(dir.path()),
            Err(BuildError::NoPlugins { .. })
        ));
    }

    #[test]
    fn rewrites_only_changed_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.wasm");
        write_if_changed(&path, b"one").unwrap();
        let before = fs::metadata(&path).unwrap().modified().unwrap();
        // Back-date the file so an unnecessary rewrite would be visible.
        let old = before - std::time::Duration::from_secs(60);
        fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        write_if_changed(&path, b"one").unwrap();
        assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), old);
        write_if_changed(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_ne!(fs::metadata(&path).unwrap().modified().unwrap(), old);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn reports_modules_that_are_not_wasm() {
        let dir = tempfile::tempdir().unwrap();
        let module = dir.path().join("broken.wasm");
        fs::write(&module, b"not wasm").unwrap();
        let err = componentize(&module).unwrap_err().to_string();
        assert!(
            err.contains("broken.wasm: cannot make a component: "),
            "{err}"
        );
    }
}

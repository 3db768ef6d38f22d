//! Builds strategy plugins written in C, JavaScript and Python (and
//! stand-alone Rust crates such as a generated template) into components,
//! installing each language's pinned toolchain under `target/toolchains/` on
//! first use.
//!
//! A plugin directory's language is the entry file it holds:
//!
//! | language | entry file | toolchain (pinned) |
//! |---|---|---|
//! | C | `strategy.c` (+ other `*.c`) | `wit-bindgen-cli` [`WIT_BINDGEN_VERSION`] (cargo install), Debian clang + wasi-libc ([`APT_INSTALL`]) |
//! | JavaScript | `strategy.js` | `@bytecodealliance/componentize-js` (npm, `xtask/toolchains/js/package-lock.json`) |
//! | Python | `strategy.py` | `componentize-py` [`COMPONENTIZE_PY_VERSION`] (pip, in a venv) |
//! | Rust | `Cargo.toml` with its own `[workspace]` | rustup's `wasm32-unknown-unknown` |
//!
//! Every build reads the project's `wit/` (never a copy) and the language's
//! helper module in `guest-sdk/<lang>/`. C and JavaScript components import
//! nothing but the strategy's own `host` interface: C is compiled as a WASI
//! *reactor* that calls no WASI function, JavaScript with every optional
//! engine feature (stdio, random, clocks, http) disabled. Python components
//! import WASI interfaces (the interpreter's), which the host serves from its
//! deterministic virtual WASI environment.
//!
//! Toolchains that xtask can install (wit-bindgen, componentize-js,
//! componentize-py) are installed once into `target/toolchains/` (or
//! `$CRACKTRADER_TOOLCHAINS_DIR`) and reused; system packages (clang,
//! wasi-libc, Node.js, Python) are only checked, and a missing one is
//! reported with the command that installs it ([`BuildError::ToolMissing`]).

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

pub use cracktrader_templates::Lang;

use crate::{
    check_target_installed, componentize, io_error, manifest_string, run_tool, write_if_changed,
    BuildError, PLUGIN_TARGET, SCRUBBED_ENV,
};

/// Version of `wit-bindgen-cli` that generates the C bindings.
pub const WIT_BINDGEN_VERSION: &str = "0.61.1";
/// Version of `componentize-py` that builds Python plugins.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// The Debian packages C plugins need (clang, the wasm linker, wasi-libc and
/// the wasm32 compiler runtime).
pub const APT_INSTALL: &str = "apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32";

/// Environment variable naming where toolchains are installed.
pub const TOOLCHAINS_DIR_ENV: &str = "CRACKTRADER_TOOLCHAINS_DIR";

/// The WIT world every plugin targets.
const WORLD: &str = "strategy-plugin";

/// The pinned npm packages of the JavaScript toolchain, installed with `npm ci`.
/// `preview2-shim` is listed because componentize-js 0.23.0 imports it
/// without declaring it as a dependency (`npm ci` would leave it out).
const JS_PACKAGE_JSON: &str = include_str!("../toolchains/js/package.json");
const JS_PACKAGE_LOCK: &str = include_str!("../toolchains/js/package-lock.json");

/// Builds every C, JavaScript and Python plugin in `workspace_root/plugins`
/// into `out_dir/<directory name>.wasm`, returning their paths in directory
/// order. Rust plugins (workspace members) are [`crate::build_plugins`]'s.
///
/// A plugin whose component is newer than its sources, the language's
/// `guest-sdk/` helpers, the WIT and the toolchain pins is not rebuilt.
pub fn build_lang_plugins(
    workspace_root: &Path,
    out_dir: &Path,
) -> Result<Vec<PathBuf>, BuildError> {
    let plugins_dir = workspace_root.join("plugins");
    let mut dirs = Vec::new();
    for entry in fs::read_dir(&plugins_dir).map_err(io_error(&plugins_dir))? {
        let dir = entry.map_err(io_error(&plugins_dir))?.path();
        if matches!(Lang::detect(&dir), Some(Lang::C | Lang::Js | Lang::Python)) {
            dirs.push(dir);
        }
    }
    dirs.sort();
    dirs.iter()
        .map(|dir| build_plugin_dir(workspace_root, dir, out_dir))
        .collect()
}

/// Builds the plugin in `dir` (any [`Lang`]) into `out_dir/<name>.wasm`,
/// where `name` is the directory's name, and returns that path.
pub fn build_plugin_dir(
    workspace_root: &Path,
    dir: &Path,
    out_dir: &Path,
) -> Result<PathBuf, BuildError> {
    let lang = Lang::detect(dir).ok_or_else(|| BuildError::NotAPlugin {
        dir: dir.to_path_buf(),
        expected: format!("one of {}", Lang::ALL.map(Lang::entry_file).join(", ")),
    })?;
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| BuildError::NotAPlugin {
            dir: dir.to_path_buf(),
            expected: "a named directory".to_string(),
        })?;
    let out = out_dir.join(format!("{name}.wasm"));
    let toolchains = Toolchains::new(workspace_root);
    let work = workspace_root.join("target").join("lang").join(&name);
    fs::create_dir_all(&work).map_err(io_error(&work))?;
    fs::create_dir_all(out_dir).map_err(io_error(out_dir))?;
    let inputs = [
        dir.to_path_buf(),
        workspace_root.join("wit"),
        workspace_root.join("guest-sdk").join(lang.name()),
        workspace_root.join("xtask").join("toolchains"),
    ];
    // Rust has cargo's own change tracking; the others take seconds to build.
    if lang != Lang::Rust && is_newer_than(&out, &inputs)? {
        return Ok(out);
    }
    let component = match lang {
        Lang::Rust => componentize(&toolchains.rust_module(dir)?)?,
        Lang::C => componentize(&toolchains.c_module(dir, &work)?)?,
        Lang::Js => toolchains.js_component(dir, &work)?,
        Lang::Python => toolchains.python_component(dir, &work)?,
    };
    write_if_changed(&out, &component)?;
    Ok(out)
}

/// The pinned toolchains of one workspace, under `target/toolchains/`.
struct Toolchains {
    root: PathBuf,
    dir: PathBuf,
}

impl Toolchains {
    /// `$CRACKTRADER_TOOLCHAINS_DIR` if set (CI points it outside the
    /// clone, so that clean clones reuse the installs), else
    /// `target/toolchains`.
    fn new(workspace_root: &Path) -> Toolchains {
        let dir = std::env::var_os(TOOLCHAINS_DIR_ENV).map_or_else(
            || workspace_root.join("target").join("toolchains"),
            PathBuf::from,
        );
        Toolchains {
            root: workspace_root.to_path_buf(),
            dir,
        }
    }

    fn wit(&self) -> PathBuf {
        self.root.join("wit")
    }

    fn sdk(&self, lang: Lang) -> PathBuf {
        self.root.join("guest-sdk").join(lang.name())
    }

    /// A stand-alone Rust plugin crate compiled to a core module.
    fn rust_module(&self, dir: &Path) -> Result<PathBuf, BuildError> {
        let manifest = dir.join("Cargo.toml");
        let text = fs::read_to_string(&manifest).map_err(io_error(&manifest))?;
        let package =
            manifest_string(&text, "[package]", "name").ok_or(BuildError::NoPackageName {
                manifest: manifest.clone(),
            })?;
        // A member of this workspace is built by `build_plugins` with the
        // workspace's profile; building it here would also drop a lock file
        // into its directory.
        if !text.lines().any(|line| line.trim() == "[workspace]") {
            return Err(BuildError::NotAPlugin {
                dir: dir.to_path_buf(),
                expected: "a stand-alone crate (with a `[workspace]` table); \
                           workspace members are built by `cargo xtask plugins`"
                    .to_string(),
            });
        }
        check_target_installed(PLUGIN_TARGET)?;
        // Start from this workspace's lock file, so a new crate builds with
        // the dependency versions the project is tested with.
        let lock = dir.join("Cargo.lock");
        if !lock.exists() {
            let pinned = self.root.join("Cargo.lock");
            fs::copy(&pinned, &lock).map_err(io_error(&pinned))?;
        }
        let target_dir = self.root.join("target").join("wasm-standalone");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let mut command = Command::new(cargo);
        command
            .args(["build", "--release", "--target", PLUGIN_TARGET])
            .arg("--manifest-path")
            .arg(&manifest)
            .arg("--target-dir")
            .arg(&target_dir);
        for var in SCRUBBED_ENV {
            command.env_remove(var);
        }
        run_tool(&mut command)?;
        Ok(target_dir
            .join(PLUGIN_TARGET)
            .join("release")
            .join(format!("{}.wasm", package.replace('-', "_"))))
    }

    /// `wit-bindgen` C bindings + clang: a core module with no WASI imports.
    fn c_module(&self, dir: &Path, work: &Path) -> Result<PathBuf, BuildError> {
        check_clang()?;
        let bindings = work.join("bindings");
        let mut generate = Command::new(self.wit_bindgen()?);
        generate
            .args(["c", "--world", WORLD, "--out-dir"])
            .arg(&bindings)
            .arg(self.wit());
        run_tool(&mut generate)?;
        let module = work.join("module.wasm");
        let mut compile = Command::new("clang");
        compile
            // A reactor has no `main`: the component calls its exports. It
            // links wasi-libc for malloc and string functions only; anything
            // that needs a WASI import (stdio, clocks) fails to componentise.
            .args(["--target=wasm32-wasi", "-mexec-model=reactor", "-O2"])
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
            // The generated bindings are not ours to make warning-free.
            .arg("-Wno-error=unused-parameter")
            .arg("-I")
            .arg(&bindings)
            .arg("-I")
            .arg(self.sdk(Lang::C))
            .arg("-o")
            .arg(&module);
        for source_dir in [dir, &self.sdk(Lang::C), &bindings] {
            for ext in ["c", "o"] {
                compile.args(files_with_extension(source_dir, ext)?);
            }
        }
        run_tool(&mut compile)?;
        Ok(module)
    }

    /// componentize-js with no WASI features: a component importing only `host`.
    fn js_component(&self, dir: &Path, work: &Path) -> Result<Vec<u8>, BuildError> {
        let out = work.join("component.wasm");
        let mut command = Command::new(self.componentize_js()?);
        // componentize-js lets the engine read files only below its working
        // directory (when the source is inside it). The project's plugins
        // import `guest-sdk/js` from the checkout; projects elsewhere (made
        // by `new-strategy`) carry a copy of it.
        let dir = dir.canonicalize().map_err(io_error(dir))?;
        let root = self.root.canonicalize().map_err(io_error(&self.root))?;
        let readable = if dir.starts_with(&root) { &root } else { &dir };
        command
            .current_dir(readable)
            .arg(dir.join(Lang::Js.entry_file()))
            .arg("--wit")
            .arg(self.wit())
            .args(["--world-name", WORLD, "--disable"])
            .args(["stdio", "random", "clocks", "http", "fetch-event"])
            .arg("-o")
            .arg(&out);
        run_tool(&mut command)?;
        fs::read(&out).map_err(io_error(&out))
    }

    /// componentize-py over the plugin directory and `guest-sdk/python`.
    fn python_component(&self, dir: &Path, work: &Path) -> Result<Vec<u8>, BuildError> {
        let out = work.join("component.wasm");
        let mut command = Command::new(self.componentize_py()?);
        command
            .arg("--wit-path")
            .arg(self.wit())
            .args(["--world", WORLD, "componentize", "strategy", "-p"])
            .arg(dir)
            .arg("-p")
            .arg(self.sdk(Lang::Python))
            .arg("-o")
            .arg(&out);
        run_tool(&mut command)?;
        fs::read(&out).map_err(io_error(&out))
    }

    /// `wit-bindgen`, installed with `cargo install` into the toolchain
    /// directory unless the pinned version is there.
    fn wit_bindgen(&self) -> Result<PathBuf, BuildError> {
        let bin = self.dir.join("bin").join("wit-bindgen");
        let installed = Command::new(&bin)
            .arg("--version")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains(WIT_BINDGEN_VERSION));
        if !installed {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
            let mut command = Command::new(cargo);
            command
                .args(["install", "--locked", "wit-bindgen-cli", "--version"])
                .arg(WIT_BINDGEN_VERSION)
                .arg("--root")
                .arg(&self.dir);
            for var in SCRUBBED_ENV {
                command.env_remove(var);
            }
            run_tool(&mut command)?;
        }
        Ok(bin)
    }

    /// componentize-js from the pinned lock file, installed with `npm ci`
    /// unless the installed pins are the current ones.
    fn componentize_js(&self) -> Result<PathBuf, BuildError> {
        let dir = self.dir.join("js");
        let bin = dir
            .join("node_modules")
            .join(".bin")
            .join("componentize-js");
        let lock = dir.join("package-lock.json");
        let current = bin.is_file()
            && fs::read_to_string(&lock).is_ok_and(|installed| installed == JS_PACKAGE_LOCK);
        if !current {
            require_tool(
                "npm",
                "Node.js 18 or newer with npm",
                "apt-get install -y nodejs npm",
            )?;
            fs::create_dir_all(&dir).map_err(io_error(&dir))?;
            let manifest = dir.join("package.json");
            fs::write(&manifest, JS_PACKAGE_JSON).map_err(io_error(&manifest))?;
            fs::write(&lock, JS_PACKAGE_LOCK).map_err(io_error(&lock))?;
            let mut command = Command::new("npm");
            command
                .current_dir(&dir)
                .args(["ci", "--no-audit", "--no-fund"]);
            run_tool(&mut command)?;
        }
        Ok(bin)
    }

    /// componentize-py in a virtual environment, installed with pip unless
    /// the pinned version is there.
    fn componentize_py(&self) -> Result<PathBuf, BuildError> {
        let venv = self.dir.join("python");
        let bin = venv.join("bin").join("componentize-py");
        // Written after a successful install: pip leaves a half-installed
        // venv behind when interrupted.
        let stamp = venv.join("componentize-py.version");
        let current =
            bin.is_file() && fs::read_to_string(&stamp).is_ok_and(|v| v == COMPONENTIZE_PY_VERSION);
        if !current {
            require_tool(
                "python3",
                "Python 3.10 or newer with venv",
                "apt-get install -y python3 python3-venv",
            )?;
            run_tool(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
            run_tool(
                Command::new(venv.join("bin").join("pip"))
                    .args(["install", "--quiet", "--disable-pip-version-check"])
                    .arg(format!("componentize-py=={COMPONENTIZE_PY_VERSION}")),
            )?;
            fs::write(&stamp, COMPONENTIZE_PY_VERSION).map_err(io_error(&stamp))?;
        }
        Ok(bin)
    }
}

/// Fails with the apt command to run unless clang, the wasm linker, the
/// wasi-libc sysroot and the wasm32 compiler runtime are all installed.
/// Checked up front because clang's own errors ("cannot find crt1-reactor.o")
/// do not say which package is missing.
fn check_clang() -> Result<(), BuildError> {
    let missing = |tool: &str| BuildError::ToolMissing {
        tool: tool.to_string(),
        install: format!("run `{APT_INSTALL}`"),
    };
    let print = |arg: &str| -> Result<PathBuf, BuildError> {
        let out = Command::new("clang")
            .args(["--target=wasm32-wasi", "-mexec-model=reactor", arg])
            .stderr(Stdio::null())
            .output()
            .map_err(|_| missing("clang"))?;
        Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    };
    // clang prints the bare name (or, for the runtime, its expected path)
    // when the file is not installed.
    for (arg, what) in [
        (
            "-print-file-name=crt1-reactor.o",
            "wasi-libc (the wasm32-wasi sysroot)",
        ),
        (
            "-print-libgcc-file-name",
            "the wasm32 compiler runtime (libclang-rt-dev-wasm32)",
        ),
        ("-print-prog-name=wasm-ld", "the wasm linker (lld)"),
    ] {
        if !print(arg)?.is_file() {
            return Err(missing(what));
        }
    }
    Ok(())
}

/// Fails with [`BuildError::ToolMissing`] unless `program --version` runs.
fn require_tool(program: &str, what: &str, install: &str) -> Result<(), BuildError> {
    let runs = Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if runs {
        Ok(())
    } else {
        Err(BuildError::ToolMissing {
            tool: what.to_string(),
            install: format!("run `{install}`"),
        })
    }
}

/// The files of `dir` (not recursive) ending in `.ext`, sorted.
fn files_with_extension(dir: &Path, ext: &str) -> Result<Vec<PathBuf>, BuildError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == ext) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Whether `out` exists and is newer than every file under `inputs`
/// (skipping dependency and cache directories).
fn is_newer_than(out: &Path, inputs: &[PathBuf]) -> Result<bool, BuildError> {
    let Ok(built) = fs::metadata(out).and_then(|m| m.modified()) else {
        return Ok(false);
    };
    let mut pending: Vec<PathBuf> = inputs.to_vec();
    while let Some(path) = pending.pop() {
        let Ok(meta) = fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            let skipped = ["target", "node_modules", "__pycache__"];
            if path
                .file_name()
                .is_some_and(|n| skipped.iter().any(|s| n == *s))
            {
                continue;
            }
            for entry in fs::read_dir(&path).map_err(io_error(&path))? {
                pending.push(entry.map_err(io_error(&path))?.path());
            }
        } else if meta.modified().unwrap_or(SystemTime::now()) > built {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_the_language_by_entry_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Lang::detect(dir.path()), None);
        for lang in [Lang::Python, Lang::Js, Lang::C, Lang::Rust] {
            fs::write(dir.path().join(lang.entry_file()), "").unwrap();
            assert_eq!(Lang::detect(dir.path()), Some(lang), "{}", lang.name());
            fs::remove_file(dir.path().join(lang.entry_file())).unwrap();
        }
        let err = build_plugin_dir(dir.path(), dir.path(), dir.path()).unwrap_err();
        assert!(
            err.to_string().ends_with(
                "not a strategy plugin: expected one of Cargo.toml, strategy.c, strategy.js, strategy.py"
            ),
            "{err}"
        );
    }

    #[test]
    fn freshness_follows_every_input_file() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        fs::create_dir_all(src.join("node_modules")).unwrap();
        fs::write(src.join("strategy.js"), "").unwrap();
        let out = dir.path().join("out.wasm");
        assert!(!is_newer_than(&out, std::slice::from_ref(&src)).unwrap());
        fs::write(&out, "").unwrap();
        let past = SystemTime::now() - std::time::Duration::from_secs(60);
        let set = |path: &Path, time| {
            fs::File::options()
                .write(true)
                .open(path)
                .unwrap()
                .set_modified(time)
                .unwrap()
        };
        set(&src.join("strategy.js"), past);
        assert!(is_newer_than(&out, std::slice::from_ref(&src)).unwrap());
        // Installed dependencies are not sources.
        fs::write(src.join("node_modules").join("dep.js"), "").unwrap();
        set(&out, past + std::time::Duration::from_secs(1));
        assert!(is_newer_than(&out, std::slice::from_ref(&src)).unwrap());
        set(&src.join("strategy.js"), SystemTime::now());
        assert!(!is_newer_than(&out, &[src]).unwrap());
    }
}

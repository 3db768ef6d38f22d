//! `cargo xtask <command>`: project automation (the alias lives in
//! `.cargo/config.toml`).
//!
//! Commands:
//!
//! * `plugins` — install the wasm targets if rustup is available, then build
//!   every plugin component (Rust, C, JavaScript, Python) into
//!   `target/plugins/`, installing the pinned language toolchains under
//!   `target/toolchains/` on first use.
//! * `plugin DIR` — build the one plugin in DIR (any language, e.g. a project
//!   made by `cracktrader new-strategy`) into `target/plugins/<dir name>.wasm`.
//! * `demo` — the Rust plugins (all the example needs, so a new user needs no
//!   other toolchain), `cargo build --workspace --all-targets` (the same
//!   artifacts as `test`), then run the example backtest
//!   (`examples/sma_eurusd.toml`).
//! * `sandbox` — as `demo`, then start the venue emulator on 127.0.0.1:9460
//!   and run the example sandbox session against it
//!   (`examples/sandbox_emulator.toml`, 400 steps).
//! * `test [ARGS...]` — `plugins`, then the `new-strategy` template of every
//!   language generated into `target/templates/` and built into
//!   `target/plugins/template-<lang>.wasm` (the integration tests backtest
//!   them), then `cargo test --workspace ARGS...`.
//!
//! Exit codes: that of the command run last (`demo`, `test`), 0 on success,
//! 1 if a step before it failed, 2 for a usage error.

use std::env;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use xtask::lang::{build_lang_plugins, build_plugin_dir, Lang};
use xtask::{build_plugins, BuildError, PLUGIN_TARGETS};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  plugins         build the WASM plugin components into target/plugins/
  plugin DIR      build the plugin in DIR (any language) into target/plugins/
  demo            build the plugins, then run the example backtest
  sandbox         build, start the venue emulator, run the example sandbox session
  test [ARGS...]  build the plugins, then `cargo test --workspace ARGS...`

examples:
  cargo xtask demo
  cargo xtask plugin ../my-strategy
  cargo xtask test -- --nocapture";

fn main() -> ExitCode {
    let mut args = env::args_os().skip(1);
    let command = args.next();
    let rest: Vec<OsString> = args.collect();
    let root = workspace_root();
    let result = match command.as_ref().and_then(|c| c.to_str()) {
        Some("plugins") if rest.is_empty() => plugins(&root).map(|()| ExitCode::SUCCESS),
        Some("plugin") if rest.len() == 1 => plugin(&root, Path::new(&rest[0])),
        Some("demo") if rest.is_empty() => rust_plugins(&root).and_then(|()| demo(&root)),
        Some("sandbox") if rest.is_empty() => rust_plugins(&root).and_then(|()| sandbox(&root)),
        Some("test") => plugins(&root)
            .and_then(|()| templates(&root))
            .and_then(|()| {
                let args = ["test", "--workspace"].map(OsString::from);
                cargo(&root, args.into_iter().chain(rest))
            }),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!("{USAGE}");
            Ok(ExitCode::from(2))
        }
    };
    result.unwrap_or_else(|err| {
        eprintln!("xtask: {err}");
        ExitCode::FAILURE
    })
}

/// The workspace this xtask was built in: the parent of its own package.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().unwrap_or(manifest_dir).to_path_buf()
}

/// Errors of the steps run before the final command.
#[derive(Debug, thiserror::Error)]
enum TaskError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Template(#[from] cracktrader_templates::TemplateError),
    #[error("cannot run `{program}`: {source}")]
    Spawn { program: String, source: io::Error },
}

/// Builds the plugins of every language into `target/plugins`.
fn plugins(root: &Path) -> Result<(), TaskError> {
    rust_plugins(root)?;
    for path in build_lang_plugins(root, &plugin_dir(root))? {
        report(root, &path);
    }
    Ok(())
}

/// Adds the wasm targets, then builds the Rust plugins into `target/plugins`.
fn rust_plugins(root: &Path) -> Result<(), TaskError> {
    add_wasm_targets();
    for path in build_plugins(root, &plugin_dir(root))? {
        report(root, &path);
    }
    Ok(())
}

/// Builds the plugin in `dir` into `target/plugins`.
fn plugin(root: &Path, dir: &Path) -> Result<ExitCode, TaskError> {
    add_wasm_targets();
    report(root, &build_plugin_dir(root, dir, &plugin_dir(root))?);
    Ok(ExitCode::SUCCESS)
}

/// Generates the `new-strategy` template of every language, as a user
/// would, and builds each with its build command's code path.
fn templates(root: &Path) -> Result<(), TaskError> {
    let out_dir = plugin_dir(root);
    for lang in Lang::ALL {
        let name = format!("template-{}", lang.name());
        let dir = root.join("target").join("templates").join(&name);
        cracktrader_templates::write(lang, &name, &dir, root, true)?;
        report(root, &build_plugin_dir(root, &dir, &out_dir)?);
    }
    Ok(())
}

fn plugin_dir(root: &Path) -> PathBuf {
    root.join("target").join("plugins")
}

/// Prints a built component's path and size.
fn report(root: &Path, component: &Path) {
    let size = component.metadata().map(|m| m.len()).unwrap_or(0);
    let shown = component.strip_prefix(root).unwrap_or(component);
    eprintln!(
        "xtask: {} ({:.1} KiB)",
        shown.display(),
        size as f64 / 1024.0
    );
}

/// `rustup target add` for the plugin targets. Failures are only warnings: a
/// toolchain without rustup may ship the targets already, and
/// [`build_plugins`] reports a missing target with the command to run.
fn add_wasm_targets() {
    let targets = PLUGIN_TARGETS.join(" ");
    match Command::new("rustup")
        .args(["target", "add"])
        .args(PLUGIN_TARGETS)
        .output()
    {
        Ok(output) if output.status.success() => {}
        Ok(output) => eprintln!(
            "xtask: warning: `rustup target add {targets}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => eprintln!("xtask: warning: cannot run rustup: {err}"),
    }
}

/// Builds the workspace as `test` does, then runs the example backtest.
///
/// `cargo run -p cracktrader-cli` would resolve dependency features for the CLI
/// alone, which differ from the whole workspace's, and so compile wasmtime a
/// second time; building every target of the workspace shares the tests'
/// artifacts instead.
fn demo(root: &Path) -> Result<ExitCode, TaskError> {
    let Some(bin) = build_workspace(root)? else {
        return Ok(ExitCode::FAILURE);
    };
    run(Command::new(bin.join("cracktrader"))
        .current_dir(root)
        // A demo run replaces the previous demo's journal.
        .args(["backtest", "examples/sma_eurusd.toml", "--overwrite"]))
}

/// Builds the workspace as `demo` does, starts the venue emulator and runs
/// the example sandbox session against it.
fn sandbox(root: &Path) -> Result<ExitCode, TaskError> {
    let Some(bin) = build_workspace(root)? else {
        return Ok(ExitCode::FAILURE);
    };
    let emulator_bin = bin.join("cracktrader-venue-emulator");
    let mut emulator = Command::new(&emulator_bin)
        .current_dir(root)
        .args([
            "--config",
            "examples/venue/emulator.toml",
            "--bind",
            "127.0.0.1:9460",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| TaskError::Spawn {
            program: emulator_bin.display().to_string(),
            source,
        })?;
    // The emulator says where it listens once it does (or exits).
    let mut line = String::new();
    if let Some(out) = emulator.stdout.take() {
        io::BufRead::read_line(&mut io::BufReader::new(out), &mut line).ok();
    }
    if !line.starts_with("listening on") {
        let _ = emulator.kill();
        eprintln!("xtask: the venue emulator did not start (is 127.0.0.1:9460 in use?)");
        return Ok(ExitCode::FAILURE);
    }
    eprintln!("venue emulator {}", line.trim());
    let mut session = Command::new(bin.join("cracktrader"));
    session.current_dir(root).args([
        "sandbox",
        "examples/sandbox_emulator.toml",
        "--max-steps",
        "400",
        // A rerun replaces the previous run's journal.
        "--overwrite",
    ]);
    // The emulator's example account, unless the caller set keys.
    for (var, value) in [
        ("CRACKTRADER_SANDBOX_KEY", "sandbox-key"),
        ("CRACKTRADER_SANDBOX_SECRET", "sandbox-secret"),
    ] {
        if env::var_os(var).is_none() {
            session.env(var, value);
        }
    }
    let code = run(&mut session);
    let _ = emulator.kill();
    let _ = emulator.wait();
    code
}

/// `cargo build --workspace --all-targets`; the directory of the built
/// binaries, or `None` if the build failed.
fn build_workspace(root: &Path) -> Result<Option<PathBuf>, TaskError> {
    let build = cargo(
        root,
        ["build", "--workspace", "--all-targets"].map(OsString::from),
    )?;
    if build != ExitCode::SUCCESS {
        return Ok(None);
    }
    let target_dir =
        env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    Ok(Some(target_dir.join("debug")))
}

/// Runs cargo with `args` in `root`, inheriting stdio, and passes its exit
/// code on.
fn cargo(root: &Path, args: impl IntoIterator<Item = OsString>) -> Result<ExitCode, TaskError> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    run(Command::new(&cargo).current_dir(root).args(args))
}

/// Runs a command inheriting stdio and passes its exit code on.
fn run(command: &mut Command) -> Result<ExitCode, TaskError> {
    let status = command.status().map_err(|source| TaskError::Spawn {
        program: command.get_program().to_string_lossy().into_owned(),
        source,
    })?;
    // Killed by a signal: no code to pass on.
    Ok(status
        .code()
        .map_or(ExitCode::FAILURE, |code| ExitCode::from(code as u8)))
}

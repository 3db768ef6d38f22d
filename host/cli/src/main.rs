//! `cracktrader`: the command-line edge of the runtime. Parses arguments,
//! calls the library, prints results; errors are printed once, whole chain.
//!
//! Exit codes: 0 success; 1 the session could not start (bad config, data or
//! plugin); 2 bad command line; 3 a strategy was quarantined (the session
//! ran on for the others; the report names it); 4 a replay diverged from
//! its journal; 5 a sandbox or live session halted because a venue broke
//! its contract (its clock went back, it forgot accepted orders: it lost
//! its state), with the discrepancy on stderr and in the report.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cracktrader::config::Mode;

/// Exit code of a session halted by a venue that lost its state.
const HALTED: u8 = 5;

mod backtest;
mod data;
mod journal;
mod new_strategy;
mod paper;
mod sweep;

/// Trading runtime whose strategies are sandboxed WebAssembly components.
#[derive(Parser)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// More logging (-v: info, -vv: debug, -vvv: trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    /// Backtest a session file on its stored data and print a summary.
    ///
    /// Example: cracktrader backtest examples/sma_eurusd.toml
    Backtest(backtest::BacktestArgs),
    /// Run a paper session: the stored data replayed on the wall clock with
    /// simulated fills; plugins are hot-reloaded when their files change.
    ///
    /// Example: cracktrader paper examples/sma_eurusd_paper.toml --bar-interval-ms 50
    Paper(paper::PaperArgs),
    /// Run a sandbox session: orders go to a venue's test environment (the
    /// Binance spot testnet, or the bundled cracktrader-venue-emulator) and
    /// market data comes from its streams.
    ///
    /// Example: cracktrader sandbox examples/sandbox_emulator.toml
    Sandbox(paper::PaperArgs),
    /// Run a live session: real orders with real money (needs --confirm-live
    /// and risk limits on every strategy).
    Live(paper::PaperArgs),
    /// Re-run a journalled session from its journal and verify that it
    /// produces the same events, intents and final state; exit 4 if not.
    ///
    /// Example: cracktrader replay reports/sma-eurusd.journal
    Replay(journal::ReplayArgs),
    /// Write a ready-to-build strategy project in Rust, C, JavaScript or Python.
    ///
    /// Example: cracktrader new-strategy my-momentum --lang js
    NewStrategy(new_strategy::Args),
    /// Backtest a session once per point of a grid of strategy parameters,
    /// in parallel; `sweep merge` combines the results of `--shard`ed runs.
    ///
    /// Example: cracktrader sweep examples/sma_eurusd.toml --grid fast=5..20:5 --grid slow=20..60:10
    Sweep(sweep::Args),
    /// Market data: import files into the data catalog, list, inspect and
    /// verify it (docs/data.md).
    ///
    /// Example: cracktrader data import examples/data/EURUSD.csv --catalog data --symbol EURUSD --timeframe 1h
    Data(data::Args),
}

/// Where compiled components are cached unless `--cache-dir` says otherwise.
fn default_cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("cracktrader").join("components"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Paper sessions run for a while: show reloads and quarantines by default.
    let base = u8::from(matches!(
        cli.command,
        Command::Paper(_) | Command::Sandbox(_) | Command::Live(_)
    ));
    let level = ["warn", "info", "debug", "trace"][usize::from((base + cli.verbose).min(3))];
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal: a log file or a pipe gets
        // plain text, and so does anyone who sets NO_COLOR.
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .init();
    let result = match cli.command {
        Command::Backtest(args) => backtest::run(args),
        Command::Paper(args) => paper::run(args, Mode::Paper),
        Command::Sandbox(args) => paper::run(args, Mode::Sandbox),
        Command::Live(args) => paper::run(args, Mode::Live),
        Command::Replay(args) => journal::replay(args),
        Command::NewStrategy(args) => new_strategy::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::Data(args) => data::run(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(1)
        }
    }
}

//! `cracktrader-venue-emulator`: serves a Binance-spot-compatible emulator on
//! loopback for sandbox tests. Prints `listening on ADDR` once bound.
//!
//! Exit codes: 0 never (it serves until killed), 1 on a configuration or bind error.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use cracktrader_venue_emulator::config::EmulatorConfig;
use cracktrader_venue_emulator::faults::Faults;

/// A Binance-spot-compatible venue emulator (test tooling).
///
/// Examples:
///   cracktrader-venue-emulator --config examples/venue/emulator.toml
///   cracktrader-venue-emulator --config emulator.toml --bind 127.0.0.1:9000 --fault http_5xx_every=5 --fault duplicate_events=true
#[derive(Debug, Parser)]
#[command(version, verbatim_doc_comment)]
struct Cli {
    /// The emulator configuration (TOML; see docs/venue-emulator.md).
    #[arg(long)]
    config: PathBuf,
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: SocketAddr,
    /// An injected fault, `name=value` (repeatable), e.g. `latency_ms=200`.
    #[arg(long = "fault", value_name = "NAME=VALUE")]
    faults: Vec<String>,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let mut faults = Faults::default();
    for arg in &cli.faults {
        faults.set_arg(arg).context("--fault")?;
    }
    let loaded = EmulatorConfig::load(&cli.config)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let running = cracktrader_venue_emulator::serve(loaded, faults, cli.bind)
            .await
            .with_context(|| format!("binding {}", cli.bind))?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on {}", running.addr)?;
        stdout.flush()?;
        running
            .server
            .await
            .context("server task")?
            .context("serving")
    })
}

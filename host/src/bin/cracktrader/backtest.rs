//! `cracktrader backtest`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use cracktrader::config::{Mode, SessionConfig};
use cracktrader::post_trade::Report;
use cracktrader::session::{default_report_path, Session};
use cracktrader::strategy_host::StrategyHost;
use rust_decimal::Decimal;

/// Arguments of `cracktrader backtest` (and the common part of `paper`).
#[derive(clap::Args)]
pub struct Args {
    /// The session file (TOML), e.g. examples/sma_eurusd.toml.
    pub session: PathBuf,
    /// Where to write the JSON report [default: reports/<session name>.json].
    #[arg(long)]
    report: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheArgs,
    #[command(flatten)]
    pub journal: super::journal::JournalArgs,
}

/// Where compiled components are cached (shared by the commands that load plugins).
#[derive(clap::Args)]
pub struct CacheArgs {
    /// Directory caching compiled components [default: ~/.cache/cracktrader/components].
    #[arg(long, env = "CRACKTRADER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile plugins every time instead of caching them.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
}

impl CacheArgs {
    /// The cache directory to use, if any.
    pub fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(super::default_cache_dir)
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (config, host) = load(&args)?;
    let loading = Instant::now();
    let mut session = Session::from_file(&args.session, &host)?;
    let journal = attach_journal(&args, &config, &mut session)?;
    let load_time = loading.elapsed();
    let running = Instant::now();
    while session.step() {}
    finish(
        &args,
        session,
        journal.as_deref(),
        load_time,
        running.elapsed(),
    )
}

/// Attaches the journal the options ask for (see `journal::attach`).
pub fn attach_journal(
    args: &Args,
    config: &SessionConfig,
    session: &mut Session,
) -> anyhow::Result<Option<PathBuf>> {
    let report = report_path(args, &config.session.name);
    super::journal::attach(&args.journal, &args.session, config, &report, session)
}

/// Closes the journal, writes the report and prints the summary.
pub fn finish(
    args: &Args,
    mut session: Session,
    journal: Option<&std::path::Path>,
    load_time: std::time::Duration,
    run_time: std::time::Duration,
) -> anyhow::Result<ExitCode> {
    let closed = super::journal::close(&mut session, journal);
    let code = write_and_print(args, &session.finish(), load_time, run_time)?;
    if let Some(closed) = closed {
        closed.print()?;
    }
    Ok(code)
}

fn report_path(args: &Args, session: &str) -> PathBuf {
    args.report
        .clone()
        .unwrap_or_else(|| default_report_path(session))
}

/// The session file and a strategy host for it.
pub fn load(args: &Args) -> anyhow::Result<(SessionConfig, StrategyHost)> {
    // The CPU meter is compiled into the plugins: read it before loading them.
    let config = SessionConfig::load(&args.session)?;
    let host = StrategyHost::new(args.cache.dir(), config.session.cpu_meter())?;
    Ok((config, host))
}

/// Writes the JSON report, prints the summary, and picks the exit code: 3
/// if a strategy ended quarantined.
pub fn write_and_print(
    args: &Args,
    report: &Report,
    load_time: std::time::Duration,
    run_time: std::time::Duration,
) -> anyhow::Result<ExitCode> {
    let path = report_path(args, &report.session);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create report directory {}", dir.display()))?;
    }
    let json = serde_json::to_vec_pretty(report).context("cannot serialise the report")?;
    std::fs::write(&path, json)
        .with_context(|| format!("cannot write report {}", path.display()))?;

    let mut out = std::io::stdout().lock();
    print_summary(&mut out, report, load_time, run_time, &path)
        .context("cannot print the summary")?;
    let quarantined: Vec<_> = report
        .strategies
        .iter()
        .filter_map(|s| s.quarantined.as_ref())
        .collect();
    for cause in &quarantined {
        eprintln!("error: quarantined: {cause}");
    }
    Ok(if quarantined.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}

fn percent(fraction: Decimal) -> String {
    format!("{:.2}%", (fraction * Decimal::ONE_HUNDRED).round_dp(2))
}

fn print_summary(
    out: &mut impl Write,
    report: &Report,
    load: std::time::Duration,
    run: std::time::Duration,
    path: &std::path::Path,
) -> std::io::Result<()> {
    let s = &report.summary;
    let mode = match report.mode {
        Mode::Backtest => "Backtest",
        Mode::Paper => "Paper",
    };
    writeln!(out, "{mode} {}", report.session)?;
    for st in &report.strategies {
        writeln!(
            out,
            "  strategy      {} = {} {} (sha256 {}…) on {}/{}",
            st.strategy_id,
            st.name,
            st.version,
            st.sha256.get(..12).unwrap_or(&st.sha256),
            st.execution_id,
            st.route_id
        )?;
        if st.versions.len() > 1 {
            writeln!(
                out,
                "                {} plugin versions (hot reloads: {})",
                st.versions.len(),
                st.versions.len() - 1
            )?;
        }
        if let Some(cause) = &st.quarantined {
            writeln!(out, "                quarantined: {cause}")?;
        }
    }
    writeln!(
        out,
        "  period        {} → {}",
        s.start.as_deref().unwrap_or("-"),
        s.end.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "  bars          {} in {} steps", s.bars, s.steps)?;
    writeln!(
        out,
        "  trades        {} round trips from {} fills; {} orders refused",
        s.trades, s.fills, s.refused
    )?;
    writeln!(
        out,
        "  equity        {} → {}",
        s.starting_equity.round_dp(2),
        s.final_equity.round_dp(2)
    )?;
    writeln!(out, "  return        {}", percent(s.total_return))?;
    writeln!(out, "  max drawdown  {}", percent(s.max_drawdown))?;
    writeln!(
        out,
        "  sharpe        {}",
        s.sharpe.map_or("n/a".to_owned(), |v| format!("{v:.3}"))
    )?;
    writeln!(out, "  commissions   {}", s.commissions.round_dp(2))?;
    writeln!(
        out,
        "  pnl           {} realized, {} unrealized",
        s.realized_pnl.round_dp(2),
        s.unrealized_pnl.round_dp(2)
    )?;
    let secs = run.as_secs_f64();
    writeln!(
        out,
        "  throughput    {:.0} bars/s ({:.1} ms run, {:.1} ms load)",
        s.bars as f64 / secs.max(1e-9),
        secs * 1e3,
        load.as_secs_f64() * 1e3
    )?;
    writeln!(out, "  report        {}", path.display())?;
    Ok(())
}

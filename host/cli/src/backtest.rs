//! `cracktrader backtest`.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use cracktrader::config::{Mode, SessionConfig};
use cracktrader::post_trade::files::ReportFiles;
use cracktrader::post_trade::html::{duration, percent};
use cracktrader::post_trade::Report;
use cracktrader::session::{default_report_path, Session};
use cracktrader::strategy_host::StrategyHost;
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `cracktrader backtest` (and the common part of `paper`).
#[derive(clap::Args)]
pub struct Args {
    /// The session file (TOML), e.g. examples/sma_eurusd.toml.
    pub session: PathBuf,
    /// Where to write the JSON report [default: reports/<session name>.json];
    /// the HTML report and the CSV files go beside it.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Directory of the report files, named after the session
    /// (<dir>/<session name>.json, .html, -fills.csv, -trades.csv, -equity.csv)
    /// [default: reports].
    #[arg(long, conflicts_with = "report")]
    report_dir: Option<PathBuf>,
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

/// Arguments of `cracktrader backtest`.
#[derive(clap::Args)]
pub struct BacktestArgs {
    #[command(flatten)]
    common: Args,
    /// No progress bar (it is also hidden when stderr is not a terminal).
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(args: BacktestArgs) -> anyhow::Result<ExitCode> {
    let (config, host) = load(&args.common)?;
    let loading = Instant::now();
    let mut session = Session::from_file(&args.common.session, &host)?;
    let journal = attach_journal(&args.common, &config, &mut session)?;
    let load_time = loading.elapsed();
    let running = Instant::now();
    let progress = if args.quiet {
        ProgressBar::hidden()
    } else {
        // Draws on stderr only if it is a terminal, at most 20 times a second.
        ProgressBar::new(0).with_style(
            ProgressStyle::with_template(
                "{bar:40.cyan/blue} {human_pos}/{human_len} bars  {per_sec}  ETA {eta}",
            )
            .context("progress bar template")?,
        )
    };
    session.run_steps(|done, total| {
        progress.set_length(total);
        progress.set_position(done);
    });
    progress.finish_and_clear();
    finish(
        &args.common,
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

/// The JSON report's path: `--report`, else `<--report-dir>/<session>.json`,
/// else `reports/<session>.json`.
fn report_path(args: &Args, session: &str) -> PathBuf {
    match (&args.report, &args.report_dir) {
        (Some(path), _) => path.clone(),
        (None, Some(dir)) => dir.join(format!("{session}.json")),
        (None, None) => default_report_path(session),
    }
}

/// The session file and a strategy host for it.
pub fn load(args: &Args) -> anyhow::Result<(SessionConfig, StrategyHost)> {
    // The CPU meter is compiled into the plugins: read it before loading them.
    let config = SessionConfig::load(&args.session)?;
    let host = StrategyHost::new(args.cache.dir(), config.session.cpu_meter())?;
    Ok((config, host))
}

/// Writes the report files, prints the summary, and picks the exit code: 3
/// if a strategy ended quarantined.
pub fn write_and_print(
    args: &Args,
    report: &Report,
    load_time: std::time::Duration,
    run_time: std::time::Duration,
) -> anyhow::Result<ExitCode> {
    let files = ReportFiles::beside(&report_path(args, &report.session));
    let session_file = std::fs::read_to_string(&args.session)
        .with_context(|| format!("cannot read {}", args.session.display()))?;
    files.write(report, &session_file)?;

    let mut out = std::io::stdout().lock();
    print_summary(&mut out, report, load_time, run_time, &files)
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

fn ratio(value: Option<f64>) -> String {
    value.map_or("n/a".to_owned(), |v| format!("{v:.3}"))
}

fn opt_percent(value: Option<f64>) -> String {
    value.map_or("n/a".to_owned(), |v| format!("{:.2}%", v * 100.0))
}

fn print_summary(
    out: &mut impl Write,
    report: &Report,
    load: std::time::Duration,
    run: std::time::Duration,
    files: &ReportFiles,
) -> std::io::Result<()> {
    let s = &report.summary;
    let m = &report.metrics.session;
    let mode = match report.mode {
        Mode::Backtest => "Backtest",
        Mode::Paper => "Paper",
        Mode::Sandbox => "Sandbox",
        Mode::Live => "Live",
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
    writeln!(
        out,
        "  return        {} ({} annualized)",
        percent(s.total_return),
        opt_percent(m.annualized_return)
    )?;
    writeln!(
        out,
        "  max drawdown  {} (longest {})",
        percent(s.max_drawdown),
        duration(m.max_drawdown_secs)
    )?;
    writeln!(
        out,
        "  sharpe        {} (sortino {}, volatility {})",
        ratio(s.sharpe),
        ratio(m.sortino),
        opt_percent(m.volatility)
    )?;
    writeln!(
        out,
        "  win rate      {} (profit factor {})",
        opt_percent(m.win_rate),
        ratio(m.profit_factor)
    )?;
    writeln!(
        out,
        "  exposure      {:.1}% (turnover {})",
        m.exposure * 100.0,
        ratio(m.turnover)
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
    writeln!(out, "  report        {}", files.html.display())?;
    writeln!(
        out,
        "                {}, {}, {}, {}",
        files.json.display(),
        files.fills.display(),
        files.trades.display(),
        files.equity.display()
    )?;
    Ok(())
}

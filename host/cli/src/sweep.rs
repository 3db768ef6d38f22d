//! `cracktrader sweep` and `cracktrader sweep merge`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use cracktrader::config::SessionConfig;
use cracktrader::sweep::{self, Axis, Grid, Metric, Options, Shard, Sweep, SweepResult};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rust_decimal::Decimal;

/// Arguments of `cracktrader sweep`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The session file (TOML), e.g. examples/sma_eurusd.toml.
    #[arg(required = true)]
    session: Option<PathBuf>,
    /// A parameter axis: name=start..end:step (inclusive), name=a,b,c or
    /// name=value. Repeat, or list several after one --grid.
    #[arg(long, required = true, num_args = 1.., value_parser = parse::<Axis>)]
    grid: Vec<Axis>,
    /// The [[strategies]] id whose params are swept (needed when the
    /// session has several).
    #[arg(long)]
    strategy: Option<String>,
    /// Runs in parallel [default: the number of cores].
    #[arg(long, short)]
    jobs: Option<usize>,
    /// Run only slice K of N of the grid (K from 0), for `sweep merge`.
    #[arg(long, value_parser = parse::<Shard>)]
    shard: Option<Shard>,
    /// Sort the table by: sharpe, return, drawdown, equity, trades, commissions.
    #[arg(long, default_value = "sharpe", value_parser = parse::<Metric>)]
    sort: Metric,
    /// Keep the full reports of the best K runs.
    #[arg(long, default_value_t = 5)]
    keep: usize,
    /// Output directory [default: sweeps/<session name>, or
    /// sweeps/<session name>-shard-K-of-N].
    #[arg(long)]
    out: Option<PathBuf>,
    /// No progress bar (there is none either when stderr is not a terminal).
    #[arg(long, short)]
    quiet: bool,
    #[command(flatten)]
    cache: super::backtest::CacheArgs,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Combine the sweep.json files of every shard into the table of the
    /// whole grid, as one unsharded run would have written it.
    ///
    /// Example: cracktrader sweep merge sweeps/*-shard-*/sweep.json --out sweeps/all
    Merge(MergeArgs),
}

#[derive(clap::Args)]
struct MergeArgs {
    /// The shards' sweep.json files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output directory [default: sweeps/<session name>].
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Parses with the library's `FromStr`, whose errors name the bad part.
fn parse<T: std::str::FromStr<Err = sweep::SweepError>>(text: &str) -> Result<T, String> {
    text.parse().map_err(|e: sweep::SweepError| e.to_string())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Command::Merge(merge)) = args.command {
        return run_merge(merge);
    }
    let session = args.session.context("a session file is required")?;
    let config = SessionConfig::load(&session)?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let host = sweep::host(&config, args.cache.dir(), jobs)?;
    let grid = Grid::new(args.grid)?;
    let sweep = Sweep::load(&session, &host, args.strategy.as_deref(), grid)?;
    let shard = args.shard.unwrap_or(Shard::ALL);
    let options = Options {
        jobs,
        shard,
        sort: args.sort,
        keep: args.keep,
    };
    let out = args.out.unwrap_or_else(|| {
        let name = &config.session.name;
        PathBuf::from("sweeps").join(if shard == Shard::ALL {
            name.clone()
        } else {
            format!("{name}-shard-{}-of-{}", shard.index, shard.count)
        })
    });
    let runs = shard.points(sweep.grid().len()).count();
    let bar = if args.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        ProgressBar::with_draw_target(Some(runs as u64), ProgressDrawTarget::stderr())
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs  {per_sec}  eta {eta}  {msg}")
            .context("progress bar template")?,
    );
    let started = Instant::now();
    let mut failed = 0;
    let result = sweep.run(&host, &options, &out, |row| {
        if row.metrics.is_none() {
            failed += 1;
            bar.set_message(format!("{failed} failed"));
        }
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "Sweep {} ({}), {runs} runs{} on {} jobs in {elapsed:.2} s ({:.1} runs/s)",
        result.session,
        result.strategy,
        if shard == Shard::ALL {
            String::new()
        } else {
            format!(" (shard {shard} of a {}-point grid)", sweep.grid().len())
        },
        options.jobs,
        runs as f64 / elapsed.max(1e-9),
    )?;
    print_table(&mut stdout, &result, &out)?;
    Ok(ExitCode::SUCCESS)
}

fn run_merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let out = match args.out {
        Some(out) => out,
        None => {
            let first = SweepResult::read(&args.files[0])?;
            PathBuf::from("sweeps").join(first.session)
        }
    };
    let result = sweep::merge(&args.files, &out)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "Merged {} shards of sweep {} ({}), {} runs",
        args.files.len(),
        result.session,
        result.strategy,
        result.rows.len()
    )?;
    print_table(&mut stdout, &result, &out)?;
    Ok(ExitCode::SUCCESS)
}

/// How many of the best rows are printed; the files hold them all.
const SHOWN: usize = 10;

fn print_table(out: &mut impl Write, result: &SweepResult, dir: &Path) -> anyhow::Result<()> {
    let percent = |d: Decimal| format!("{:.2}%", (d * Decimal::ONE_HUNDRED).round_dp(2));
    let names: Vec<_> = result.grid.axes().iter().map(|a| a.name.as_str()).collect();
    writeln!(
        out,
        "{:>4}  {:<24} {:>9} {:>9} {:>8} {:>7}",
        "rank",
        names.join(" "),
        "return",
        "drawdown",
        "sharpe",
        "trades"
    )?;
    for (rank, row) in result.rows.iter().take(SHOWN).enumerate() {
        let params = row.params.join(" ");
        match &row.metrics {
            Some(m) => writeln!(
                out,
                "{:>4}  {params:<24} {:>9} {:>9} {:>8} {:>7}{}",
                rank + 1,
                percent(m.total_return),
                percent(m.max_drawdown),
                m.sharpe.map_or("n/a".to_owned(), |s| format!("{s:.3}")),
                m.trades,
                row.error
                    .as_ref()
                    .map_or(String::new(), |e| format!("  ({e})"))
            )?,
            None => writeln!(
                out,
                "{:>4}  {params:<24} failed: {}",
                rank + 1,
                row.error.as_deref().unwrap_or("")
            )?,
        }
    }
    let failed = result.rows.iter().filter(|r| r.metrics.is_none()).count();
    if failed > 0 {
        writeln!(out, "  {failed} runs failed (see the error column)")?;
    }
    writeln!(
        out,
        "sorted by {}; table {}, {}; best {} reports in {}",
        result.sort,
        dir.join(sweep::TABLE_FILE).display(),
        dir.join(sweep::RESULT_FILE).display(),
        result.keep.min(result.rows.len()),
        dir.join(sweep::REPORTS_DIR).display()
    )?;
    Ok(())
}

//! `cracktrader data`: import market data files into the data catalog,
//! list it, inspect its data sets and verify its partitions.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cracktrader_data::catalog::{Catalog, Dataset, DatasetKey};
use cracktrader_data::{Columns, DataKind, Delimiter, Format, ReadOptions, TimeFormat, TimeZone};

/// `cracktrader data …`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(clap::Subcommand)]
enum DataCommand {
    /// Import a CSV or Parquet file into the catalog (monthly zstd Parquet
    /// partitions); rows already there are kept once, rows at a time that is
    /// there with other values are an error and nothing is written.
    ///
    /// Example: cracktrader data import examples/data/EURUSD.csv --catalog data --symbol EURUSD --kind ohlcv --timeframe 1h
    Import(ImportArgs),
    /// List the catalog's data sets.
    ///
    /// Example: cracktrader data ls --catalog data
    Ls(CatalogArg),
    /// Show data sets' columns, partitions, row counts and time ranges.
    ///
    /// Example: cracktrader data inspect --catalog data --symbol EURUSD
    Inspect(InspectArgs),
    /// Re-hash every partition against the manifest; exit 1 naming each
    /// that is missing or changed.
    ///
    /// Example: cracktrader data verify --catalog data
    Verify(CatalogArg),
}

#[derive(clap::Args)]
struct CatalogArg {
    /// The catalog's root directory (created by the first import).
    #[arg(long, env = "CRACKTRADER_CATALOG")]
    catalog: PathBuf,
}

#[derive(clap::Args)]
struct ImportArgs {
    /// The CSV or Parquet file.
    file: PathBuf,
    #[command(flatten)]
    catalog: CatalogArg,
    /// The symbol to store the data under, e.g. EURUSD.
    #[arg(long)]
    symbol: String,
    /// What the file holds: ohlcv (bars), quotes or trades.
    #[arg(long, default_value = "ohlcv")]
    kind: DataKind,
    /// The bars' interval, e.g. 1m, 1h, 1d (ohlcv only).
    #[arg(long)]
    timeframe: Option<String>,
    /// csv or parquet [default: by the file's extension].
    #[arg(long)]
    format: Option<Format>,
    /// Which column holds which field, e.g. "time=Date,close=Adj Close".
    #[arg(long)]
    columns: Option<Columns>,
    /// How times are written: auto, epoch_s, epoch_ms, epoch_us, epoch_ns
    /// or a strftime pattern such as "%d/%m/%Y %H:%M" [default: auto].
    #[arg(long)]
    time_format: Option<TimeFormat>,
    /// Time zone of times without an offset, e.g. America/New_York [default: UTC].
    #[arg(long)]
    timezone: Option<TimeZone>,
    /// CSV field separator, e.g. ';' or tab [default: ,].
    #[arg(long)]
    delimiter: Option<Delimiter>,
    /// Sort rows by time (dropping repeated rows) instead of refusing a file
    /// out of order.
    #[arg(long)]
    sort: bool,
}

#[derive(clap::Args)]
struct InspectArgs {
    #[command(flatten)]
    catalog: CatalogArg,
    /// Only this symbol's data sets.
    #[arg(long)]
    symbol: Option<String>,
    /// Only this kind: ohlcv, quotes or trades.
    #[arg(long)]
    kind: Option<DataKind>,
    /// Only this timeframe.
    #[arg(long)]
    timeframe: Option<String>,
}

/// Runs `cracktrader data …`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        DataCommand::Import(args) => import(args),
        DataCommand::Ls(args) => ls(&args),
        DataCommand::Inspect(args) => inspect(&args),
        DataCommand::Verify(args) => verify(&args),
    }
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let key = DatasetKey::new(args.kind, &args.symbol, args.timeframe.as_deref())
        .map_err(anyhow::Error::msg)
        .context("--symbol/--kind/--timeframe")?;
    let options = ReadOptions {
        format: args.format,
        columns: args.columns.unwrap_or_default(),
        time_format: args.time_format.unwrap_or_default(),
        timezone: args.timezone,
        delimiter: args.delimiter.unwrap_or_default(),
        sort: args.sort,
    };
    if let Some(problem) = options.problems(args.kind, &args.file).first() {
        anyhow::bail!("import options: {}", problem.trim_start_matches('.'));
    }
    let mut catalog = Catalog::open_or_create(&args.catalog.catalog)?;
    let summary = catalog.import(&args.file, &options, &key)?;
    println!(
        "imported {} into {} as {key}: {} rows read, {} new; {} partitions written, {} unchanged",
        args.file.display(),
        args.catalog.catalog.display(),
        summary.rows_read,
        summary.rows_added,
        summary.written.len(),
        summary.unchanged
    );
    Ok(ExitCode::SUCCESS)
}

/// `first … last` of a data set, or `empty`.
fn span(set: &Dataset) -> String {
    match (set.partitions.first(), set.partitions.last()) {
        (Some(first), Some(last)) => format!("{} to {}", first.first, last.last),
        _ => "empty".to_owned(),
    }
}

fn ls(args: &CatalogArg) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::open(&args.catalog)?;
    println!(
        "{:<7} {:<16} {:<9} {:>10} {:>12}  time range",
        "kind", "symbol", "timeframe", "partitions", "rows"
    );
    for set in catalog.datasets() {
        println!(
            "{:<7} {:<16} {:<9} {:>10} {:>12}  {}",
            set.category,
            set.symbol,
            set.timeframe.as_deref().unwrap_or("-"),
            set.partitions.len(),
            set.rows(),
            span(set)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::open(&args.catalog.catalog)?;
    let chosen: Vec<&Dataset> = catalog
        .datasets()
        .iter()
        .filter(|set| {
            args.symbol.as_ref().is_none_or(|s| *s == set.symbol)
                && args.kind.is_none_or(|k| k.category() == set.category)
                && args
                    .timeframe
                    .as_ref()
                    .is_none_or(|t| Some(t) == set.timeframe.as_ref())
        })
        .collect();
    anyhow::ensure!(
        !chosen.is_empty(),
        "catalog {}: no data set matches",
        args.catalog.catalog.display()
    );
    for set in chosen {
        let key = set.key().map_err(anyhow::Error::msg)?;
        println!(
            "{key}: {} rows in {} partitions, {}",
            set.rows(),
            set.partitions.len(),
            span(set)
        );
        if let Some(first) = set.partitions.first() {
            println!("  columns:");
            for (name, ty) in catalog.schema(first)? {
                println!("    {name:<10} {ty}");
            }
        }
        println!("  partitions:");
        for p in &set.partitions {
            println!(
                "    {}  {:>9} rows  {} to {}  sha256 {}",
                p.file, p.rows, p.first, p.last, p.sha256
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(args: &CatalogArg) -> anyhow::Result<ExitCode> {
    let catalog = Catalog::open(&args.catalog)?;
    let total: usize = catalog.datasets().iter().map(|s| s.partitions.len()).sum();
    let damage = catalog.verify();
    for d in &damage {
        eprintln!("damaged: {}", d.problem);
    }
    anyhow::ensure!(
        damage.is_empty(),
        "{} of {total} partitions failed verification: {}",
        damage.len(),
        damage
            .iter()
            .map(|d| d.file.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("{total} partitions verified");
    Ok(ExitCode::SUCCESS)
}

//! `cracktrader new-strategy`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use cracktrader_templates::{find_checkout, write, Lang};

/// Arguments of `cracktrader new-strategy`.
#[derive(clap::Args)]
pub struct Args {
    /// Name of the strategy: lowercase letters, digits and '-', e.g. my-momentum.
    name: String,
    /// Language of the template: rust, c, js or python.
    #[arg(long)]
    lang: Lang,
    /// Directory to create [default: ./<name>]. Must be empty if it exists.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The Cracktrader checkout whose guest SDK, WIT and example data the
    /// project uses [default: the checkout holding the current directory].
    #[arg(long)]
    checkout: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let lang = args.lang;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let checkout = match args.checkout {
        Some(checkout) => checkout,
        None => find_checkout(&cwd).with_context(|| {
            format!(
                "{} is not inside a Cracktrader checkout (no wit/strategy.wit above it); \
                 run in one or pass --checkout",
                cwd.display()
            )
        })?,
    };
    let dir = args.dir.unwrap_or_else(|| cwd.join(&args.name));
    let written = write(lang, &args.name, &dir, &checkout, false)?;
    println!("Created {lang} strategy '{}':", args.name);
    for file in &written.files {
        println!("  {}", file.display());
    }
    println!(
        "Build it, then backtest it on the bundled EURUSD data (in {}):",
        checkout.display()
    );
    println!("  {}", written.build);
    println!("  {}", written.backtest);
    Ok(ExitCode::SUCCESS)
}

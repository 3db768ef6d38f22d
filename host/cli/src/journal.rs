//! The journal options of `backtest` and `paper`, and `cracktrader replay`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use cracktrader::config::SessionConfig;
use cracktrader::journal::replay::{replay_session, resume, Survey};
use cracktrader::journal::{
    self, Existing, Journal, JournalError, JournalSummary, PluginRecord, SessionStart,
    SCHEMA_VERSION,
};
use cracktrader::session::Session;
use cracktrader::strategy_host::StrategyHost;

/// Exit code of a replay that diverged from its journal.
const DIVERGED: u8 = 4;

/// Journal options of `cracktrader backtest` and `cracktrader paper`.
#[derive(clap::Args)]
pub struct JournalArgs {
    /// Where to write the event journal [default: the report path with
    /// extension .journal].
    #[arg(long)]
    journal: Option<PathBuf>,
    /// Do not journal the session.
    #[arg(long, conflicts_with_all = ["journal", "resume"])]
    no_journal: bool,
    /// Replace the journal if it exists (a new session never does otherwise).
    #[arg(long, conflicts_with_all = ["no_journal", "resume"])]
    overwrite: bool,
    /// Steps between two checkpoints in the journal.
    #[arg(long, default_value_t = journal::DEFAULT_CHECKPOINT_EVERY, value_parser = clap::value_parser!(u64).range(1..))]
    checkpoint_every: u64,
    /// Continue a session that stopped (crash, kill) from the last
    /// checkpoint of its journal; the steps after it are re-run and must
    /// reproduce the journalled events.
    #[arg(long)]
    pub resume: bool,
}

/// Attaches a journal to `session` as the options say: a new one, or the
/// existing one resumed. Returns its path.
pub fn attach(
    args: &JournalArgs,
    session_file: &Path,
    config: &SessionConfig,
    report: &Path,
    session: &mut Session,
) -> anyhow::Result<Option<PathBuf>> {
    if args.no_journal {
        return Ok(None);
    }
    let path = args
        .journal
        .clone()
        .unwrap_or_else(|| report.with_extension("journal"));
    let text = std::fs::read_to_string(session_file)
        .with_context(|| format!("cannot read session file {}", session_file.display()))?;
    let base_dir = std::path::absolute(&config.base_dir)
        .with_context(|| format!("cannot resolve {}", config.base_dir.display()))?;
    let plugins = PluginRecord::of_session(config, &base_dir, session.plugins());
    if args.resume {
        let survey = Survey::read(&path)?;
        if let Some(torn) = &survey.torn {
            tracing::warn!(
                "journal {}: incomplete last record at byte {} ({} bytes, after sequence {}) cut off",
                path.display(),
                torn.offset,
                torn.bytes,
                survey.records
            );
        }
        if survey.ended.is_some() {
            anyhow::bail!(
                "{}: the journalled session ended normally; there is nothing to resume",
                path.display()
            );
        }
        let resumed = resume(session, &path, survey, &text, &plugins)?;
        eprintln!(
            "resume: restored the checkpoint of step {}; re-running {} journalled event(s) after it",
            resumed.checkpoint, resumed.tail
        );
    } else {
        let start = SessionStart {
            schema: SCHEMA_VERSION,
            session: config.session.name.clone(),
            session_file: session_file.to_owned(),
            base_dir,
            config: text,
            checkpoint_every: args.checkpoint_every,
            strategies: plugins,
        };
        let existing = if args.overwrite {
            Existing::Overwrite
        } else {
            Existing::Refuse
        };
        match Journal::create(&path, start, existing) {
            Ok(journal) => session.attach_sink(Box::new(journal)),
            Err(JournalError::Exists(path)) => anyhow::bail!(
                "journal {} already exists (an earlier run of this session); pass --overwrite to replace it, --resume to continue it, --journal PATH to write another, or --no-journal",
                path.display()
            ),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Some(path))
}

/// A journal closed at the end of a session.
pub struct Closed<'a> {
    path: &'a Path,
    result: Result<JournalSummary, JournalError>,
}

/// Records the end of the session in its journal and closes it.
pub fn close<'a>(session: &mut Session, path: Option<&'a Path>) -> Option<Closed<'a>> {
    Some(Closed {
        path: path?,
        result: journal::close(session)?,
    })
}

impl Closed<'_> {
    /// Prints the journal's line of the summary, or fails with its error.
    pub fn print(self) -> anyhow::Result<()> {
        let summary = self
            .result
            .with_context(|| format!("journal {}", self.path.display()))?;
        println!(
            "  journal       {} ({} records, {} checkpoints)",
            self.path.display(),
            summary.records,
            summary.checkpoints
        );
        Ok(())
    }
}

/// Arguments of `cracktrader replay`.
#[derive(clap::Args)]
pub struct ReplayArgs {
    /// The journal to replay, e.g. reports/sma-eurusd.journal.
    journal: PathBuf,
    /// Directory caching compiled components [default: ~/.cache/cracktrader/components].
    #[arg(long, env = "CRACKTRADER_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

pub fn replay(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let path = &args.journal;
    let mut survey = Survey::read_with_market(path)?;
    if let Some(torn) = &survey.torn {
        eprintln!(
            "warning: {}: incomplete last record at byte {} ({} bytes); replaying the records before it",
            path.display(),
            torn.offset,
            torn.bytes
        );
    }
    let start = survey.start.clone();
    let ended = survey.ended.clone();
    let config = SessionConfig::parse(&start.config, &start.session_file, start.base_dir.clone())?;
    let host = StrategyHost::new(
        args.cache_dir.or_else(super::default_cache_dir),
        config.session.cpu_meter(),
    )?;
    let mut actions = std::mem::take(&mut survey.actions);
    let mut session = replay_session(survey, path, &host)?;
    actions.apply_due(&mut session);
    while session.step() {
        actions.apply_due(&mut session);
    }
    let steps = session.snapshot_id();
    match journal::close(&mut session).context("the replayed session has no journal")? {
        Ok(summary) => {
            println!("Replay {} ({})", start.session, path.display());
            println!(
                "  verified      {} records ({} checkpoints) over {steps} steps",
                summary.verified, summary.checkpoints
            );
            match ended {
                Some(ended) => {
                    println!("  intents       identical (sha256 {})", ended.intent_stream);
                    println!("  final state   identical (sha256 {})", ended.state);
                }
                None => println!(
                    "  end           the journal has no session end (the session did not finish); \
                     everything it recorded is identical"
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ JournalError::Diverged { .. }) => {
            eprintln!("error: replay of {}: {e}", path.display());
            Ok(ExitCode::from(DIVERGED))
        }
        Err(e) => Err(e.into()),
    }
}

//! `cracktrader paper`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use cracktrader::config::{Mode, SessionConfig};
use cracktrader::control_plane::{token_from_env, ControlPlane};
use cracktrader::hot_reload::{ReloadTarget, Reloader};
use cracktrader::model::StrategyId;
use cracktrader::paper::{self, PaperOptions, Steering};
use cracktrader::post_trade::EventKind;
use cracktrader::session::Session;

/// How long a plugin file must be quiet before it is reloaded: long enough
/// for a build tool's write + rename, short enough to keep the reload fast.
const DEBOUNCE: Duration = Duration::from_millis(10);

/// Arguments of `cracktrader paper`.
#[derive(clap::Args)]
pub struct PaperArgs {
    #[command(flatten)]
    common: super::backtest::Args,
    /// Wall-clock milliseconds per step of the replayed data; 0 replays as
    /// fast as possible. Live data paces itself.
    #[arg(long, default_value_t = 100)]
    bar_interval_ms: u64,
    /// End after this many steps (default: at the end of the data, or on
    /// Ctrl-C for live data).
    #[arg(long)]
    max_steps: Option<u64>,
    /// `live` only: confirms that orders go to a real venue with real money.
    #[arg(long)]
    confirm_live: bool,
    /// Start the HTTP control plane on this address (overrides `bind` of
    /// the session file's [control] section, or starts it with the defaults).
    #[arg(long, value_name = "ADDR")]
    control_bind: Option<std::net::SocketAddr>,
}

/// Runs `cracktrader paper`, `sandbox` or `live` (the session file's mode
/// must be `mode`).
pub fn run(args: PaperArgs, mode: Mode) -> anyhow::Result<ExitCode> {
    let (config, host) = super::backtest::load(&args.common)?;
    let name = format!("{mode:?}").to_lowercase();
    anyhow::ensure!(
        config.session.mode == mode,
        "{}: [session] mode must be \"{name}\" for `cracktrader {name}`",
        args.common.session.display()
    );
    anyhow::ensure!(
        mode != Mode::Live || args.confirm_live,
        "{}: live sessions send real orders with real money; pass --confirm-live to start one",
        args.common.session.display()
    );
    let host = Arc::new(host);
    let loading = Instant::now();
    let mut steering = Steering::default();
    let live = !config.venues.is_empty();
    // Resuming rebuilds the session by re-running its steps, which a venue
    // cannot repeat: refused before the first venue request.
    anyhow::ensure!(
        !(live && args.common.journal.resume),
        "{}: --resume: a session connected to venues ([[venues]]) cannot be resumed: its fills and data came from the venue, so its steps cannot be re-run; start it again without --resume (it cancels the orders an earlier run left open and reports them)",
        args.common.session.display()
    );
    let (mut session, venues) = if live {
        let (session, venues) =
            Session::connect(&args.common.session, &host, Arc::clone(&steering.stop))?;
        (session, Some(venues))
    } else {
        (Session::from_file(&args.common.session, &host)?, None)
    };
    // The journal first, so that it records everything done at the venues.
    let journal = super::backtest::attach_journal(&args.common, &config, &mut session)?;
    let halts = match venues {
        Some(venues) => {
            let halts = venues.halts();
            venues.start(&mut session)?;
            Some(halts)
        }
        None => None,
    };
    let reloader = Reloader::start(
        Arc::clone(&host),
        reload_targets(&config, &session),
        DEBOUNCE,
    )?;
    let load_time = loading.elapsed();

    let control_config = match (&config.control, args.control_bind) {
        (None, None) => None,
        (section, bind) => {
            let mut c = section.clone().unwrap_or_default();
            c.bind = bind.unwrap_or(c.bind);
            Some(c)
        }
    };
    let control = match control_config {
        Some(c) => {
            let token = token_from_env(&c)?;
            let limits = config.strategies.iter().map(|s| s.limits);
            let (control, link) = ControlPlane::start(&c, token, &mut session, limits)?;
            eprintln!("control plane listening on {}", control.url());
            steering.control = Some(link);
            Some(control)
        }
        None => None,
    };
    let steering = Arc::new(steering);
    // Ctrl-C or SIGTERM: stop after the current step with the report so
    // far; SIGHUP: reload every plugin.
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let steering = Arc::clone(&steering);
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            signal_hook::low_level::register(signal, move || {
                steering
                    .stop
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            })
        }
        .context("cannot install the stop signal handler")?;
    }
    let hup = Arc::clone(&steering);
    // SAFETY: as above.
    unsafe {
        signal_hook::low_level::register(signal_hook::consts::SIGHUP, move || {
            hup.reload.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    }
    .context("cannot install the reload signal handler")?;
    let pace = if live {
        "live data".to_owned()
    } else if args.bar_interval_ms == 0 {
        "max step(s) per second".to_owned()
    } else {
        format!(
            "{:.1} step(s) per second",
            1000.0 / args.bar_interval_ms as f64
        )
    };
    eprintln!(
        "{name}: {pace}; edit and rebuild a plugin to reload it, `kill -HUP {}` to reload all, Ctrl-C to stop",
        std::process::id()
    );
    let running = Instant::now();
    paper::drive(
        &mut session,
        Some(&reloader),
        PaperOptions {
            bar_interval: Duration::from_millis(if live { 0 } else { args.bar_interval_ms }),
            max_steps: args.max_steps,
        },
        &steering,
    );
    // Stops the server: nothing can act on the session any more.
    drop(control);
    let discrepancies = halts.map(|h| h.discrepancies()).unwrap_or_default();
    for discrepancy in &discrepancies {
        session.record_event(
            &StrategyId::new("venue"),
            EventKind::Venue,
            format!("halted: {discrepancy}"),
        );
    }
    if config.execution.iter().any(|e| e.venue.is_some()) {
        let differences = session.reconcile_venues();
        if differences.is_empty() {
            eprintln!("reconciled: every venue account's balances agree with the session's books");
        }
        for difference in differences {
            eprintln!("warning: not reconciled: {difference}");
        }
    }
    let code = super::backtest::finish(
        &args.common,
        session,
        journal.as_deref(),
        load_time,
        running.elapsed(),
    )?;
    if discrepancies.is_empty() {
        return Ok(code);
    }
    for discrepancy in &discrepancies {
        eprintln!("error: halted: {discrepancy}");
    }
    Ok(ExitCode::from(super::HALTED))
}

/// The registrations whose plugin files are watched: all but those pinned by
/// hash or with `reload = false`.
fn reload_targets(config: &SessionConfig, session: &Session) -> Vec<ReloadTarget> {
    config
        .strategies
        .iter()
        .zip(session.strategies())
        .filter(|(s, _)| s.reload && s.sha256.is_none())
        .map(|(s, (id, init))| ReloadTarget {
            strategy_id: StrategyId::clone(id),
            path: config.resolve(&s.plugin),
            config: init.clone(),
            limits: s.limits,
        })
        .collect()
}

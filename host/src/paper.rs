//! Paper mode: the same session, fed on the wall clock, with plugins
//! hot-reloaded at step boundaries.
//!
//! The feed replays stored data at a fixed pace (one step per
//! `bar_interval`, or as fast as possible); the pacing lives here, never in
//! the strategy contract, so a strategy sees exactly what it would see in a
//! backtest. Between two steps the runner applies what the [`Reloader`] has
//! ready, and checks the stop and reload flags (set by the CLI's signal
//! handlers or by a test).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::hot_reload::{ReloadEvent, Reloader};
use crate::post_trade::{EventKind, Report};
use crate::session::{Session, SwapOutcome};

/// How the paper feed is paced.
#[derive(Debug, Clone, Copy)]
pub struct PaperOptions {
    /// Wall-clock time per step; zero replays as fast as possible (live
    /// feeds pace themselves).
    pub bar_interval: Duration,
    /// End after this many steps.
    pub max_steps: Option<u64>,
}

/// Flags another thread sets to steer a running paper session.
#[derive(Debug, Default)]
pub struct Steering {
    /// End after the current step, with the report so far (shared with a
    /// live feed, which stops waiting for data when it is set).
    pub stop: Arc<AtomicBool>,
    /// Reload every reloadable plugin, changed or not.
    pub reload: AtomicBool,
    /// The control plane's actions and overview, if it runs.
    pub control: Option<crate::control_plane::Link>,
}

/// Runs `session` to the end of its data or until `steering.stop`, applying
/// new plugin versions from `reloader` at step boundaries.
pub fn run(
    mut session: Session,
    reloader: Option<&Reloader>,
    options: PaperOptions,
    steering: &Steering,
) -> Report {
    drive(&mut session, reloader, options, steering);
    session.finish()
}

/// The steps of [`run`], leaving the session open (for its journal).
pub fn drive(
    session: &mut Session,
    reloader: Option<&Reloader>,
    options: PaperOptions,
    steering: &Steering,
) {
    let mut next = Instant::now();
    let mut steps = 0;
    while !steering.stop.load(Ordering::Relaxed) && options.max_steps.is_none_or(|m| steps < m) {
        if let Some(reloader) = reloader {
            if steering.reload.swap(false, Ordering::Relaxed) {
                reloader.request_all();
            }
            while let Some(event) = reloader.try_next() {
                apply(session, event);
            }
        }
        if let Some(control) = &steering.control {
            control.serve(session, reloader, Instant::now());
        }
        if !session.step() {
            break;
        }
        steps += 1;
        next += options.bar_interval;
        // Sleep in slices, so that a stop request is honoured promptly;
        // operator actions are applied as they arrive (between two steps).
        while !steering.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= next {
                break;
            }
            match &steering.control {
                Some(control) => control.serve(session, reloader, next),
                None => std::thread::sleep((next - now).min(Duration::from_millis(50))),
            }
        }
    }
    if let Some(control) = &steering.control {
        control.close(session);
    }
}

/// Records a reload event in the session and, for a ready version, swaps it in.
pub fn apply(session: &mut Session, event: ReloadEvent) {
    match event {
        ReloadEvent::Detected { strategy_id, cause } => {
            tracing::info!(%strategy_id, "reload: {cause}");
            session.record_event(&strategy_id, EventKind::ReloadDetected, cause.to_owned());
        }
        ReloadEvent::Failed { strategy_id, cause } => {
            tracing::warn!(%strategy_id, "reload failed, the running version stays: {cause}");
            session.record_event(&strategy_id, EventKind::ReloadFailed, cause);
        }
        ReloadEvent::Ready {
            strategy_id,
            strategy,
            info,
            sha256,
            detected,
            prepared_in,
        } => {
            let compiled = format!(
                "{} {} (sha256 {}) compiled, instantiated and initialised in {:.1} ms",
                info.name,
                info.version,
                sha256.get(..12).unwrap_or(&sha256),
                prepared_in.as_secs_f64() * 1e3
            );
            session.record_event(&strategy_id, EventKind::ReloadCompiled, compiled);
            let swapping = Instant::now();
            match session.swap(&strategy_id, strategy, info, sha256) {
                Ok(outcome) => {
                    let how = match outcome {
                        SwapOutcome::StateCarried(bytes) => {
                            format!("{bytes} bytes of state carried")
                        }
                        SwapOutcome::Restarted => "was quarantined: started from init".to_owned(),
                    };
                    let cause = format!(
                        "trading from step {} ({how}); swap {:.2} ms, change to trading {:.1} ms",
                        session.snapshot_id() + 1,
                        swapping.elapsed().as_secs_f64() * 1e3,
                        detected.elapsed().as_secs_f64() * 1e3
                    );
                    tracing::info!(%strategy_id, "reload: {cause}");
                    session.record_event(&strategy_id, EventKind::ReloadSwapped, cause);
                }
                Err(cause) => {
                    tracing::warn!(%strategy_id, "reload failed, the running version stays: {cause}");
                    session.record_event(&strategy_id, EventKind::ReloadFailed, cause);
                }
            }
        }
    }
}

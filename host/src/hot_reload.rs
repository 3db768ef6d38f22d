//! Hot reload: notices new versions of plugin files and prepares them off
//! the step loop.
//!
//! A [`Reloader`] watches the directory of every reloadable plugin (not the
//! file: editors and build tools often write a temporary file and rename it
//! over the old one, which replaces the file's inode). Events that change a
//! watched file (not mere reads: preparing a version reads the file) are
//! debounced — the file must be quiet for the debounce interval — then a
//! worker thread reads the file, compiles it (or takes it from the
//! cache), checks its interface, instantiates it with the registration's
//! limits and calls `init` with the registration's configuration. The result
//! — a ready instance, or the reason there is none — waits in
//! [`Reloader::try_next`] until the session reaches a step boundary and
//! swaps it in with [`Session::swap`](crate::session::Session::swap).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use crate::model::StrategyId;
use crate::strategy::{InitConfig, Strategy, StrategyInfo};
use crate::strategy_host::{Limits, StrategyHost, WasmStrategy};

/// A registration whose plugin file is watched.
#[derive(Debug, Clone)]
pub struct ReloadTarget {
    /// The registration.
    pub strategy_id: StrategyId,
    /// Its plugin file.
    pub path: PathBuf,
    /// What `init` is given.
    pub config: InitConfig,
    /// Sandbox limits of new instances.
    pub limits: Limits,
}

/// Why reloading could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file watcher failed.
    #[error("cannot watch {path}: {message}")]
    Watch {
        /// The directory.
        path: PathBuf,
        /// notify's explanation.
        message: String,
    },
    /// The worker thread could not start.
    #[error("cannot start the reload worker: {0}")]
    Worker(std::io::Error),
}

/// What the reloader has to report to the session.
pub enum ReloadEvent {
    /// A new version is being prepared.
    Detected {
        /// The registration.
        strategy_id: StrategyId,
        /// Why: the file changed, or a reload was requested.
        cause: &'static str,
    },
    /// A new version is compiled, instantiated and initialised.
    Ready {
        /// The registration.
        strategy_id: StrategyId,
        /// The new instance.
        strategy: Box<WasmStrategy>,
        /// What its `init` returned.
        info: StrategyInfo,
        /// sha256 of its plugin bytes.
        sha256: String,
        /// When the change was noticed.
        detected: Instant,
        /// Time to read, compile, instantiate and initialise it.
        prepared_in: Duration,
    },
    /// The new version cannot be used; the running one stays.
    Failed {
        /// The registration.
        strategy_id: StrategyId,
        /// Why, naming the stage that failed.
        cause: String,
    },
}

struct Request {
    target: usize,
    cause: &'static str,
}

/// Watches plugin files and prepares new versions; see the module docs.
pub struct Reloader {
    requests: Sender<Request>,
    events: Receiver<ReloadEvent>,
    targets: Arc<[ReloadTarget]>,
    // Dropping it stops the watcher.
    _watcher: RecommendedWatcher,
}

impl Reloader {
    /// Starts watching `targets`, preparing new versions with `host`; file
    /// events are debounced by `debounce`.
    pub fn start(
        host: Arc<StrategyHost>,
        targets: Vec<ReloadTarget>,
        debounce: Duration,
    ) -> Result<Self, ReloadError> {
        let targets: Arc<[ReloadTarget]> = targets.into();
        let (requests, requests_rx) = mpsc::channel();
        let (events_tx, events) = mpsc::channel();
        let worker_targets = Arc::clone(&targets);
        std::thread::Builder::new()
            .name("plugin-reload".into())
            .spawn(move || prepare_loop(&host, &worker_targets, &requests_rx, &events_tx, debounce))
            .map_err(ReloadError::Worker)?;

        let watched: Vec<(PathBuf, usize)> = targets
            .iter()
            .enumerate()
            .map(|(i, t)| (absolute(&t.path), i))
            .collect();
        let on_files = requests.clone();
        let handler = move |result: notify::Result<notify::Event>| match result {
            Ok(event) if !matches!(event.kind, EventKind::Access(_)) => {
                for path in &event.paths {
                    let path = absolute(path);
                    for (_, target) in watched.iter().filter(|(p, _)| *p == path) {
                        let _ = on_files.send(Request {
                            target: *target,
                            cause: "plugin file changed",
                        });
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("plugin watcher: {e}"),
        };
        let mut watcher = notify::recommended_watcher(handler).map_err(|e| ReloadError::Watch {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        let dirs: BTreeSet<PathBuf> = targets
            .iter()
            .map(|t| {
                absolute(&t.path)
                    .parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
            })
            .collect();
        for dir in dirs {
            watcher
                .watch(&dir, RecursiveMode::NonRecursive)
                .map_err(|e| ReloadError::Watch {
                    path: dir.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(Self {
            requests,
            events,
            targets,
            _watcher: watcher,
        })
    }

    /// Asks for the plugin of `strategy_id` to be reloaded even if its file
    /// did not change; `false` if it is not a reload target.
    pub fn request(&self, strategy_id: &StrategyId) -> bool {
        let Some(target) = self
            .targets
            .iter()
            .position(|t| &t.strategy_id == strategy_id)
        else {
            return false;
        };
        self.requests
            .send(Request {
                target,
                cause: "reload requested",
            })
            .is_ok()
    }

    /// Asks for every target to be reloaded.
    pub fn request_all(&self) {
        for t in self.targets.iter() {
            self.request(&t.strategy_id);
        }
    }

    /// The next event, if one is waiting.
    pub fn try_next(&self) -> Option<ReloadEvent> {
        self.events.try_recv().ok()
    }

    /// The next event, waiting up to `timeout`.
    pub fn next_timeout(&self, timeout: Duration) -> Option<ReloadEvent> {
        self.events.recv_timeout(timeout).ok()
    }
}

/// The path made absolute and its directory resolved through symlinks, so
/// that a watcher's event path and a configured path compare equal. The file
/// itself is not resolved: it may not exist mid-rename.
fn absolute(path: &Path) -> PathBuf {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .unwrap_or_else(|_| dir.to_path_buf())
            .join(name),
        _ => path,
    }
}

/// The worker: once requests stop arriving for `debounce`, prepares a new
/// version for each target requested, once.
fn prepare_loop(
    host: &StrategyHost,
    targets: &[ReloadTarget],
    requests: &Receiver<Request>,
    events: &Sender<ReloadEvent>,
    debounce: Duration,
) {
    while let Ok(first) = requests.recv() {
        let mut pending = vec![first];
        // A build tool writes in several events; wait until it is done.
        while let Ok(more) = requests.recv_timeout(debounce) {
            pending.push(more);
        }
        let mut seen = BTreeSet::new();
        for request in pending {
            if !seen.insert(request.target) {
                continue;
            }
            let target = &targets[request.target];
            let detected = Instant::now();
            let _ = events.send(ReloadEvent::Detected {
                strategy_id: target.strategy_id.clone(),
                cause: request.cause,
            });
            let event = match prepare(host, target) {
                Ok((strategy, info, sha256)) => ReloadEvent::Ready {
                    strategy_id: target.strategy_id.clone(),
                    strategy: Box::new(strategy),
                    info,
                    sha256,
                    detected,
                    prepared_in: detected.elapsed(),
                },
                Err(cause) => ReloadEvent::Failed {
                    strategy_id: target.strategy_id.clone(),
                    cause,
                },
            };
            if events.send(event).is_err() {
                return;
            }
        }
    }
}

/// Load, instantiate and `init` the plugin of `target`.
fn prepare(
    host: &StrategyHost,
    target: &ReloadTarget,
) -> Result<(WasmStrategy, StrategyInfo, String), String> {
    let plugin = host
        .load(&target.path, &target.limits)
        .map_err(|e| e.to_string())?;
    let mut strategy = host
        .instantiate(&plugin, &target.strategy_id, target.limits)
        .map_err(|e| format!("new version {e}"))?;
    let info = strategy
        .init(&target.config)
        .map_err(|e| format!("new version {e}"))?;
    Ok((strategy, info, plugin.sha256().to_owned()))
}

//! Control plane: an HTTP API on a running session (paper mode), so that an
//! operator can see it and stop it. See `docs/control-plane.md`.
//!
//! The server runs on its own thread with its own tokio runtime and never
//! touches the session: the session thread publishes an [`Overview`] at
//! step boundaries ([`Link::serve`]), the journal's records reach the event
//! stream through a [`Tap`](crate::journal::Tap) ([`events`]), and actions
//! travel to the session thread through a channel and are applied there,
//! between two steps, by [`Session::operate`] — the HTTP handler waits for
//! the outcome. Every endpoint needs the bearer token ([`auth`]).

pub mod auth;
pub mod events;
mod http;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::hot_reload::Reloader;
use crate::journal::Journal;
use crate::model::StrategyId;
use crate::session::{ActionError, OperatorAction, Overview, Session, OPERATOR};
use crate::strategy_host::Limits;

/// Environment variable holding the bearer token unless `token_env` says otherwise.
pub const DEFAULT_TOKEN_ENV: &str = "CRACKTRADER_CONTROL_TOKEN";

/// `[control]` of a session file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Address to listen on. Default `127.0.0.1:0` (loopback, any free port).
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// Environment variable holding the bearer token (never the file).
    /// Default `CRACKTRADER_CONTROL_TOKEN`.
    #[serde(default = "default_token_env")]
    pub token_env: String,
    /// Whether `bind` may be an address other hosts can reach. Default false.
    #[serde(default)]
    pub allow_remote: bool,
    /// Connections open at once, one of them kept for an authenticated
    /// action. Default 64.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Time a client has to send a request's headers, ms; a connection
    /// that takes longer (or stays idle longer between requests) is closed.
    /// Default 5000.
    #[serde(default = "default_header_timeout_ms")]
    pub header_timeout_ms: u64,
    /// Time to read a request's body and answer it, ms (event streams
    /// run on after their headers); `408` after it. Default 30000.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
}

/// Allowed `max_connections`: one slot is reserved, so at least 2.
pub const MAX_CONNECTIONS: std::ops::RangeInclusive<u32> = 2..=4096;
/// Allowed `header_timeout_ms`.
pub const HEADER_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 100..=60_000;
/// Allowed `request_timeout_ms`.
pub const REQUEST_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 100..=600_000;

fn default_max_connections() -> u32 {
    64
}

fn default_header_timeout_ms() -> u64 {
    5000
}

fn default_request_timeout_ms() -> u64 {
    30_000
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn default_token_env() -> String {
    DEFAULT_TOKEN_ENV.to_owned()
}

impl Default for ControlConfig {
    fn default() -> Self {
        Self {
            bind: default_bind(),
            token_env: default_token_env(),
            allow_remote: false,
            max_connections: default_max_connections(),
            header_timeout_ms: default_header_timeout_ms(),
            request_timeout_ms: default_request_timeout_ms(),
        }
    }
}

impl ControlConfig {
    /// Each setting outside its range, named as in the session file.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut check = |name: &str, value: u64, min: u64, max: u64| {
            if !(min..=max).contains(&value) {
                problems.push(format!(
                    "[control] {name} = {value} is out of range {min}..={max}"
                ));
            }
        };
        check(
            "max_connections",
            u64::from(self.max_connections),
            u64::from(*MAX_CONNECTIONS.start()),
            u64::from(*MAX_CONNECTIONS.end()),
        );
        check(
            "header_timeout_ms",
            self.header_timeout_ms,
            *HEADER_TIMEOUT_MS.start(),
            *HEADER_TIMEOUT_MS.end(),
        );
        check(
            "request_timeout_ms",
            self.request_timeout_ms,
            *REQUEST_TIMEOUT_MS.start(),
            *REQUEST_TIMEOUT_MS.end(),
        );
        problems
    }
}

/// Why the control plane could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlPlaneError {
    /// No token in the environment.
    #[error("control plane: environment variable {0} is not set or empty; it must hold the bearer token clients send")]
    NoToken(String),
    /// A token a client could guess.
    #[error("control plane: the token in {env} is too weak: {why} (e.g. `openssl rand -hex 32`)")]
    WeakToken {
        /// The variable holding it.
        env: String,
        /// What is wrong with it.
        why: String,
    },
    /// `[control]` settings out of range.
    #[error("control plane: {}", .0.join("; "))]
    Settings(Vec<String>),
    /// A non-loopback address without `allow_remote`.
    #[error("control plane: {0} is not a loopback address; set allow_remote = true in [control] to listen on it (see docs/control-plane.md)")]
    Remote(SocketAddr),
    /// The address could not be bound.
    #[error("control plane: cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The session has no journal to stream.
    #[error("control plane: the event stream is the session's journal; run the session with a journal (without --no-journal)")]
    NoJournal,
    /// The server's runtime could not be built.
    #[error("control plane: cannot start its runtime: {0}")]
    Runtime(std::io::Error),
}

/// The bearer token named by `config.token_env`; a weak one is refused.
pub fn token_from_env(config: &ControlConfig) -> Result<String, ControlPlaneError> {
    let token = std::env::var(&config.token_env)
        .ok()
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ControlPlaneError::NoToken(config.token_env.clone()))?;
    match auth::weakness(&token) {
        Some(why) => Err(ControlPlaneError::WeakToken {
            env: config.token_env.clone(),
            why,
        }),
        None => Ok(token),
    }
}

/// An action on its way to the session thread, and where its outcome goes.
struct Request {
    action: OperatorAction,
    reply: tokio::sync::oneshot::Sender<Result<u64, ActionError>>,
}

/// What the server and the session thread share.
struct Shared {
    runtime_id: String,
    token: auth::Token,
    lockout: auth::Lockout,
    /// The session at the last step boundary.
    overview: RwLock<Arc<Overview>>,
    /// Each registration's sandbox limits (from the session file).
    limits: BTreeMap<StrategyId, Limits>,
    requests: mpsc::Sender<Request>,
    events: Arc<events::EventLog>,
    /// Set once the session has stopped stepping.
    ended: AtomicBool,
}

/// A running control plane; dropping it stops the server.
pub struct ControlPlane {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::watch::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// The session thread's end: applies the actions that arrived and
/// publishes the overview (see `paper::drive`).
pub struct Link {
    requests: Mutex<Option<mpsc::Receiver<Request>>>,
    shared: Arc<Shared>,
    /// Step of the last overview published.
    published: Mutex<Option<u64>>,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("runtime_id", &self.shared.runtime_id)
            .finish_non_exhaustive()
    }
}

impl ControlPlane {
    /// Starts the server for `session` (its name is the runtime id) with
    /// `token`, and attaches the event stream to the session's journal.
    /// `limits` are the registrations' sandbox limits, in session-file order.
    pub fn start(
        config: &ControlConfig,
        token: String,
        session: &mut Session,
        limits: impl IntoIterator<Item = Limits>,
    ) -> Result<(Self, Link), ControlPlaneError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(ControlPlaneError::Settings(problems));
        }
        if !config.bind.ip().is_loopback() && !config.allow_remote {
            return Err(ControlPlaneError::Remote(config.bind));
        }
        if session.sink::<Journal>().is_none() {
            return Err(ControlPlaneError::NoJournal);
        }
        let listener =
            std::net::TcpListener::bind(config.bind).map_err(|source| ControlPlaneError::Bind {
                addr: config.bind,
                source,
            })?;
        let bind_error = |source| ControlPlaneError::Bind {
            addr: config.bind,
            source,
        };
        let addr = listener.local_addr().map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let overview = session.overview();
        let limits = overview
            .strategies
            .iter()
            .map(|s| s.strategy_id.clone())
            .zip(limits)
            .collect();
        let events = Arc::new(events::EventLog::new(events::RING_CAPACITY));
        if let Some(journal) = session.sink_mut::<Journal>() {
            journal.set_tap(Box::new(events::EventLogTap(Arc::clone(&events))));
        }
        let (sender, receiver) = mpsc::channel();
        let shared = Arc::new(Shared {
            runtime_id: overview.name.clone(),
            token: auth::Token::new(&token),
            lockout: auth::Lockout::default(),
            overview: RwLock::new(Arc::new(overview)),
            limits,
            requests: sender,
            events,
            ended: AtomicBool::new(false),
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("control-plane")
            .enable_all()
            .build()
            .map_err(ControlPlaneError::Runtime)?;
        let (shutdown, stop) = tokio::sync::watch::channel(false);
        let app = http::router(
            Arc::clone(&shared),
            stop.clone(),
            Duration::from_millis(config.request_timeout_ms),
        );
        let limits = http::ServeLimits::of(config);
        let thread = std::thread::Builder::new()
            .name("control-plane".to_owned())
            .spawn(move || runtime.block_on(http::serve(listener, app, limits, stop)))
            .map_err(ControlPlaneError::Runtime)?;
        tracing::info!(%addr, "control plane listening");
        let link = Link {
            requests: Mutex::new(Some(receiver)),
            shared: Arc::clone(&shared),
            published: Mutex::new(None),
        };
        Ok((
            Self {
                addr,
                shared,
                shutdown: Some(shutdown),
                thread: Some(thread),
            },
            link,
        ))
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of its session, `http://ADDR/runtimes/<id>`.
    pub fn url(&self) -> String {
        format!("http://{}/runtimes/{}", self.addr, self.shared.runtime_id)
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            // Ends the event streams too; the server then stops.
            let _ = shutdown.send(true);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Longest wait in [`Link::serve`] before it returns to the step loop, so
/// that a stop request is honoured promptly.
const SLICE: Duration = Duration::from_millis(50);

impl Link {
    /// Applies the actions that arrive until `until` (at most a short
    /// slice), then publishes the overview if anything changed. Called at
    /// step boundaries only. A reload goes to `reloader`.
    pub fn serve(&self, session: &mut Session, reloader: Option<&Reloader>, until: Instant) {
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(requests) = requests.as_ref() {
            let deadline = until.min(Instant::now() + SLICE);
            loop {
                let wait = deadline.saturating_duration_since(Instant::now());
                let Ok(request) = requests.recv_timeout(wait) else {
                    break;
                };
                let outcome = session.operate(OPERATOR, &request.action, |id| reload(reloader, id));
                // Before the answer, so that the client's next read sees the action.
                self.publish(session);
                // The client may have gone; the action stands.
                let _ = request.reply.send(outcome);
            }
        }
        let step = session.snapshot_id();
        if *self.published.lock().unwrap_or_else(|e| e.into_inner()) != Some(step) {
            self.publish(session);
        }
    }

    fn publish(&self, session: &Session) {
        *self
            .shared
            .overview
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(session.overview());
        *self.published.lock().unwrap_or_else(|e| e.into_inner()) = Some(session.snapshot_id());
    }

    /// Publishes the final overview and refuses actions from now on: the
    /// session has stopped stepping.
    pub fn close(&self, session: &Session) {
        self.publish(session);
        self.shared.ended.store(true, Ordering::Relaxed);
        // Dropping the receiver answers every waiting request.
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// Asks `reloader` to reload `strategy_id`'s plugin.
fn reload(reloader: Option<&Reloader>, strategy_id: &StrategyId) -> Result<(), String> {
    let reloader = reloader.ok_or("this session has no hot reloader")?;
    if reloader.request(strategy_id) {
        Ok(())
    } else {
        Err(format!(
            "strategy {strategy_id} is not hot-reloaded (pinned by sha256, or reload = false)"
        ))
    }
}

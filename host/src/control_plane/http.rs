//! The HTTP endpoints (axum) and the server around them (hyper, with a
//! header-read timeout, a connection cap and request timeouts). See
//! `docs/control-plane.md`.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request as HttpRequest, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use futures_util::stream::{self, Stream};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, watch, Semaphore};
use tokio::task::JoinSet;
use tower_http::timeout::TimeoutLayer;

use super::auth::Refusal;
use super::events::{Filter, Record};
use super::{Request, Shared};
use crate::model::StrategyId;
use crate::session::OperatorAction;

/// Records a JSON query returns unless `limit` says otherwise.
const DEFAULT_LIMIT: usize = 1000;

/// Grace for open connections once the server is asked to stop.
const GRACE: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct App {
    shared: Arc<Shared>,
    /// Becomes true when the server stops: ends the event streams.
    stop: watch::Receiver<bool>,
}

/// Who sent a request, as the server's connection knows it.
#[derive(Debug, Clone, Copy)]
struct Client {
    ip: IpAddr,
    /// The connection holds the slot kept for an operator's action.
    reserved: bool,
}

/// What the server admits: from `[control]`.
pub(super) struct ServeLimits {
    max_connections: usize,
    header_timeout: Duration,
}

impl ServeLimits {
    /// The limits of `config` (checked by [`super::ControlConfig::problems`]).
    pub(super) fn of(config: &super::ControlConfig) -> Self {
        Self {
            max_connections: config.max_connections as usize,
            header_timeout: Duration::from_millis(config.header_timeout_ms),
        }
    }
}

/// The routes, every one behind the bearer token, each answer within
/// `request_timeout` (else `408`).
pub(super) fn router(
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
    request_timeout: Duration,
) -> Router {
    let app = App { shared, stop };
    Router::new()
        .route("/runtimes", get(runtimes))
        .route("/runtimes/{id}", get(status))
        .route("/runtimes/{id}/strategies", get(strategies))
        .route("/runtimes/{id}/positions", get(positions))
        .route("/runtimes/{id}/orders", get(orders))
        .route("/runtimes/{id}/events", get(events))
        .route("/runtimes/{id}/kill", post(kill))
        .route("/runtimes/{id}/resume", post(resume))
        .route("/runtimes/{id}/flatten", post(flatten_all))
        .route(
            "/runtimes/{id}/strategies/{sid}/{action}",
            post(strategy_action),
        )
        .layer(middleware::from_fn_with_state(app.clone(), authorize))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .with_state(app)
}

/// Serves `app` on `listener` until `stop` becomes true, then gives open
/// connections a short grace.
///
/// At most `max_connections` are open at once. The last slot is kept for
/// an authenticated action (a `POST`, one request, then the connection
/// closes), so that the kill switch stays reachable while event streams or
/// idle clients hold the others; a connection beyond the cap is closed at
/// once. A client that does not send a request's headers within
/// `header_timeout` (also between requests) is disconnected.
pub(super) async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    limits: ServeLimits,
    mut stop: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("control plane: cannot listen: {e}");
            return;
        }
    };
    let general = Arc::new(Semaphore::new(limits.max_connections.saturating_sub(1)));
    let reserved = Arc::new(Semaphore::new(1));
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait for some to close
                    // rather than spin.
                    tracing::warn!("control plane: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.wait_for(|s| *s) => break,
        };
        while connections.try_join_next().is_some() {}
        let (permit, in_reserve) = match Arc::clone(&general).try_acquire_owned() {
            Ok(permit) => (permit, false),
            Err(_) => match Arc::clone(&reserved).try_acquire_owned() {
                Ok(permit) => (permit, true),
                Err(_) => {
                    tracing::debug!(%peer, "control plane: connection limit reached; closed");
                    continue;
                }
            },
        };
        let client = Client {
            ip: peer.ip(),
            reserved: in_reserve,
        };
        let service = TowerToHyperService::new(app.clone().layer(Extension(client)));
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .keep_alive(!in_reserve);
        connections.spawn(async move {
            let _permit = permit;
            if let Err(e) = http.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, "control plane connection: {e}");
            }
        });
    }
    // Event streams end on `stop`; what else is open gets a short grace.
    let _ = tokio::time::timeout(GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    connections.abort_all();
}

/// A JSON error body `{"error": …}` with `status`.
fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    ApiError(status, message.to_string()).into_response()
}

/// An answer other than 2xx, before it is a response.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

/// `status` with `Retry-After` (whole seconds, at least 1).
fn retry_after(status: StatusCode, wait: Duration, message: impl std::fmt::Display) -> Response {
    let mut response = error(status, message);
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
    response
}

async fn authorize(State(app): State<App>, request: HttpRequest, next: Next) -> Response {
    let client = request.extensions().get::<Client>().copied();
    let now = Instant::now();
    // A locked-out client is refused before its token is looked at:
    // otherwise guessing would go on, only slower.
    if let Some(wait) = client.and_then(|c| app.shared.lockout.locked(c.ip, now)) {
        return retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            wait,
            "too many wrong bearer tokens from this address; try again later",
        );
    }
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    let checked = app.shared.token.check(header);
    if let Some(c) = client {
        if checked != Err(Refusal::Missing) {
            app.shared.lockout.record(c.ip, checked.is_ok(), now);
        }
    }
    match checked {
        Ok(()) if client.is_some_and(|c| c.reserved) && request.method() != Method::POST => {
            retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                Duration::from_secs(1),
                "every connection is taken; the last one is kept for an operator's action (POST)",
            )
        }
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            let (challenge, message) = match refusal {
                Refusal::Missing => ("Bearer", "missing bearer token"),
                Refusal::Wrong => ("Bearer error=\"invalid_token\"", "wrong bearer token"),
            };
            let mut response = error(StatusCode::UNAUTHORIZED, message);
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
            response
        }
    }
}

/// The session, if `id` names it.
fn session(app: &App, id: &str) -> Result<Arc<crate::session::Overview>, ApiError> {
    if id != app.shared.runtime_id {
        return Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("no runtime '{id}' here"),
        ));
    }
    Ok(Arc::clone(
        &app.shared
            .overview
            .read()
            .unwrap_or_else(|e| e.into_inner()),
    ))
}

fn summary(app: &App, o: &crate::session::Overview) -> serde_json::Value {
    json!({
        "id": o.name,
        "mode": o.mode,
        "running": !app.shared.ended.load(Ordering::Relaxed),
        "step": o.step,
        "market_time": o.market_time,
        "equity": o.equity,
        "currency": o.currency,
        "killed": o.killed,
        "strategies": o.strategies.len(),
        "positions": o.positions.iter().filter(|p| !p.qty.is_zero()).count(),
        "open_orders": o.orders.len(),
        "events": format!("/runtimes/{}/events", o.name),
    })
}

async fn runtimes(State(app): State<App>) -> Response {
    let id = app.shared.runtime_id.clone();
    match session(&app, &id) {
        Ok(o) => Json(json!([summary(&app, &o)])).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn status(State(app): State<App>, Path(id): Path<String>) -> Response {
    match session(&app, &id) {
        Ok(o) => Json(summary(&app, &o)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn strategies(State(app): State<App>, Path(id): Path<String>) -> Response {
    match session(&app, &id) {
        Ok(o) => {
            let list: Vec<serde_json::Value> = o
                .strategies
                .iter()
                .map(|s| {
                    let mut value = json!(s);
                    value["limits"] = json!(app.shared.limits.get(&s.strategy_id));
                    value
                })
                .collect();
            Json(list).into_response()
        }
        Err(e) => e.into_response(),
    }
}

async fn positions(State(app): State<App>, Path(id): Path<String>) -> Response {
    match session(&app, &id) {
        Ok(o) => Json(&o.positions).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn orders(State(app): State<App>, Path(id): Path<String>) -> Response {
    match session(&app, &id) {
        Ok(o) => Json(&o.orders).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `?strategy=&kind=&since=&limit=` (no `serde(flatten)`: it would read
/// the numbers as text).
#[derive(Debug, Deserialize)]
struct EventQuery {
    strategy: Option<String>,
    kind: Option<String>,
    #[serde(default)]
    since: u64,
    limit: Option<usize>,
}

async fn events(
    State(app): State<App>,
    Path(id): Path<String>,
    Query(query): Query<EventQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(response) = session(&app, &id) {
        return response.into_response();
    }
    let mut filter = Filter {
        strategy: query.strategy,
        kind: query.kind,
        since: query.since,
    };
    let wants_stream = headers
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    if !wants_stream {
        let records = app
            .shared
            .events
            .query(&filter, query.limit.unwrap_or(DEFAULT_LIMIT));
        let body = format!(
            "[{}]",
            records
                .iter()
                .map(|r| r.json.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
        return ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    }
    // A reconnecting client resumes after the last record it saw.
    if let Some(last) = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
    {
        filter.since = last;
    }
    let (backlog, live) = app.shared.events.follow(&filter);
    Sse::new(follow(backlog, live, filter, app.stop.clone()))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The backlog, then each live record the filter selects, as SSE events
/// with the journal sequence as id. Ends when the server stops or when the
/// follower falls too far behind (it reconnects with `Last-Event-ID`).
fn follow(
    backlog: Vec<Arc<Record>>,
    live: broadcast::Receiver<Arc<Record>>,
    filter: Filter,
    stop: watch::Receiver<bool>,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let last = backlog.last().map_or(filter.since, |r| r.sequence);
    let state = (backlog.into_iter(), live, filter, stop, last);
    stream::unfold(
        state,
        |(mut backlog, mut live, filter, mut stop, mut last)| async move {
            let record = match backlog.next() {
                Some(record) => record,
                None => loop {
                    tokio::select! {
                        received = live.recv() => match received {
                            Ok(r) if r.sequence > last && filter.matches(&r) => break r,
                            Ok(_) => {}
                            Err(_) => return None,
                        },
                        _ = stop.wait_for(|s| *s) => return None,
                    }
                },
            };
            last = record.sequence;
            let event = SseEvent::default()
                .id(record.sequence.to_string())
                .event(record.kind.as_str())
                .data(record.json.as_str());
            Some((Ok(event), (backlog, live, filter, stop, last)))
        },
    )
}

/// Sends `action` to the session thread and answers with its outcome.
async fn act(app: &App, id: &str, action: OperatorAction) -> Response {
    if let Err(response) = session(app, id) {
        return response.into_response();
    }
    let ended = || error(StatusCode::CONFLICT, "the session has ended");
    if app.shared.ended.load(Ordering::Relaxed) {
        return ended();
    }
    let (reply, outcome) = tokio::sync::oneshot::channel();
    let request = Request {
        action: action.clone(),
        reply,
    };
    if app.shared.requests.send(request).is_err() {
        return ended();
    }
    match outcome.await {
        Ok(Ok(step)) => Json(json!({
            "action": action,
            "step": step,
            "effective_from_step": step + 1,
        }))
        .into_response(),
        Ok(Err(e)) => {
            let status = if e.is_unknown_strategy() {
                StatusCode::NOT_FOUND
            } else {
                StatusCode::CONFLICT
            };
            error(status, e)
        }
        Err(_) => ended(),
    }
}

/// An optional JSON body; empty means all defaults. Anything else must be
/// `application/json` (else `415`) and exactly `T` (else `400`): a body
/// that would be ignored is refused rather than guessed at.
fn body<T: Default + serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    bytes: &Bytes,
) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Err(ApiError(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request body: send it as Content-Type: application/json, or send none".to_owned(),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("request body: {e}")))
}

/// The body of an action without parameters: none, or `{}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NoBody {}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct KillBody {
    #[serde(default)]
    cancel_orders: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuarantineBody {
    reason: Option<String>,
}

/// An action body checked by [`body`], as an extractor.
struct Strict<T>(T);

impl<S, T> FromRequest<S> for Strict<T>
where
    S: Send + Sync,
    T: Default + serde::de::DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request(request: HttpRequest, state: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        body(&headers, &bytes)
            .map(Strict)
            .map_err(IntoResponse::into_response)
    }
}

async fn kill(
    State(app): State<App>,
    Path(id): Path<String>,
    Strict(b): Strict<KillBody>,
) -> Response {
    let action = OperatorAction::Kill {
        cancel_orders: b.cancel_orders,
    };
    act(&app, &id, action).await
}

async fn resume(
    State(app): State<App>,
    Path(id): Path<String>,
    Strict(NoBody {}): Strict<NoBody>,
) -> Response {
    act(&app, &id, OperatorAction::Resume).await
}

async fn flatten_all(
    State(app): State<App>,
    Path(id): Path<String>,
    Strict(NoBody {}): Strict<NoBody>,
) -> Response {
    act(&app, &id, OperatorAction::Flatten { strategy_id: None }).await
}

async fn strategy_action(
    State(app): State<App>,
    Path((id, sid, action)): Path<(String, String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let strategy_id = StrategyId::new(sid);
    if action != "quarantine" {
        if let Err(e) = body::<NoBody>(&headers, &bytes) {
            return e.into_response();
        }
    }
    let action = match action.as_str() {
        "enable" => OperatorAction::Enable { strategy_id },
        "disable" => OperatorAction::Disable { strategy_id },
        "reload" => OperatorAction::Reload { strategy_id },
        "flatten" => OperatorAction::Flatten {
            strategy_id: Some(strategy_id),
        },
        "quarantine" => match body::<QuarantineBody>(&headers, &bytes) {
            Ok(b) => OperatorAction::Quarantine {
                strategy_id,
                reason: b.reason.unwrap_or_else(|| "requested".to_owned()),
            },
            Err(e) => return e.into_response(),
        },
        other => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no action '{other}'; one of enable, disable, quarantine, reload, flatten"),
            )
        }
    };
    act(&app, &id, action).await
}

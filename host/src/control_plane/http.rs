//! The HTTP endpoints (axum). See `docs/control-plane.md`.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request as HttpRequest, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{broadcast, watch};

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

/// The routes, every one behind the bearer token.
pub(super) fn router(shared: Arc<Shared>, stop: watch::Receiver<bool>) -> Router {
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
        .with_state(app)
}

/// Serves `app` on `listener` until `stop` becomes true, then gives open
/// connections a short grace.
pub(super) async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!("control plane: cannot listen: {e}");
            return;
        }
    };
    let mut stopping = stop.clone();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = stopping.wait_for(|s| *s).await;
    });
    tokio::select! {
        result = server => if let Err(e) = result {
            tracing::error!("control plane: {e}");
        },
        _ = async {
            let _ = stop.wait_for(|s| *s).await;
            tokio::time::sleep(GRACE).await;
        } => {}
    }
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

async fn authorize(State(app): State<App>, request: HttpRequest, next: Next) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match app.shared.token.check(header) {
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

/// An optional JSON body; empty means all defaults.
fn body<T: Default + serde::de::DeserializeOwned>(bytes: &Bytes) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError(StatusCode::BAD_REQUEST, format!("request body: {e}")))
}

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

async fn kill(State(app): State<App>, Path(id): Path<String>, bytes: Bytes) -> Response {
    match body::<KillBody>(&bytes) {
        Ok(b) => {
            let action = OperatorAction::Kill {
                cancel_orders: b.cancel_orders,
            };
            act(&app, &id, action).await
        }
        Err(e) => e.into_response(),
    }
}

async fn resume(State(app): State<App>, Path(id): Path<String>) -> Response {
    act(&app, &id, OperatorAction::Resume).await
}

async fn flatten_all(State(app): State<App>, Path(id): Path<String>) -> Response {
    act(&app, &id, OperatorAction::Flatten { strategy_id: None }).await
}

async fn strategy_action(
    State(app): State<App>,
    Path((id, sid, action)): Path<(String, String, String)>,
    bytes: Bytes,
) -> Response {
    let strategy_id = StrategyId::new(sid);
    let action = match action.as_str() {
        "enable" => OperatorAction::Enable { strategy_id },
        "disable" => OperatorAction::Disable { strategy_id },
        "reload" => OperatorAction::Reload { strategy_id },
        "flatten" => OperatorAction::Flatten {
            strategy_id: Some(strategy_id),
        },
        "quarantine" => match body::<QuarantineBody>(&bytes) {
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

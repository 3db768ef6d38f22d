//! Test tooling, unauthenticated and answered to loopback clients only:
//! `GET /emulator/state`, `POST /emulator/advance?bars=N`,
//! `GET`/`POST /emulator/faults`, `POST /emulator/restart`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::{dec, Exchange};
use crate::Shared;

fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"code": -2015, "msg": "Admin endpoints answer loopback clients only."})),
    )
        .into_response()
}

fn amounts(map: &BTreeMap<String, rust_decimal::Decimal>) -> Value {
    map.iter()
        .map(|(k, v)| (k.clone(), Value::from(dec(*v))))
        .collect()
}

/// The whole exchange state as JSON.
pub fn state_json(e: &Exchange) -> Value {
    let accounts: serde_json::Map<String, Value> = e
        .accounts()
        .iter()
        .map(|a| {
            let balances: serde_json::Map<String, Value> = a
                .balances
                .iter()
                .map(|(asset, b)| {
                    (
                        asset.clone(),
                        json!({"free": dec(b.free), "locked": dec(b.locked)}),
                    )
                })
                .collect();
            (a.api_key.clone(), Value::Object(balances))
        })
        .collect();
    let key = |account: usize| e.accounts()[account].api_key.clone();
    let orders: Vec<Value> = e
        .orders()
        .iter()
        .map(|o| {
            json!({"account": key(o.account), "symbol": e.symbol_name(o.symbol),
            "orderId": o.id, "clientOrderId": o.client_id, "side": o.side.as_str(),
            "type": o.kind.as_str(), "status": o.status.as_str(), "origQty": dec(o.orig_qty),
            "executedQty": dec(o.executed_qty), "cummulativeQuoteQty": dec(o.cum_quote),
            "price": dec(o.price), "stopPrice": dec(o.stop_price)})
        })
        .collect();
    let trades: Vec<Value> = e
        .trades()
        .iter()
        .map(|t| {
            json!({"account": key(t.account), "symbol": e.symbol_name(t.symbol),
            "id": t.id, "orderId": t.order_id, "price": dec(t.price), "qty": dec(t.qty),
            "commission": dec(t.commission), "time": t.time, "isBuyer": t.is_buyer,
            "isMaker": t.is_maker})
        })
        .collect();
    json!({"replay_done": e.replay_done(), "bars_replayed": e.bars_replayed(),
        "market_time": e.market_time(), "accounts": accounts, "orders": orders,
        "trades": trades, "fees": amounts(e.fees()), "market_maker": amounts(e.market_maker()),
        "initial": amounts(e.initial())})
}

/// `GET /emulator/state`
pub async fn state(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if !peer.ip().is_loopback() {
        return forbidden();
    }
    let mut state = state_json(&shared.exchange.lock().expect("exchange"));
    state["requests"] = shared.requests().into();
    Json(state).into_response()
}

/// `POST /emulator/restart`: the emulator forgets everything, as a venue
/// restarted without its state would (see [`Shared::restart`]).
pub async fn restart(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if !peer.ip().is_loopback() {
        return forbidden();
    }
    shared.restart();
    Json(json!({"restarted": true})).into_response()
}

/// Query of `POST /emulator/advance`.
#[derive(Debug, Deserialize)]
pub struct Advance {
    /// Bar groups to replay (default 1).
    bars: Option<usize>,
}

/// `POST /emulator/advance?bars=N`: replays N bar groups now.
pub async fn advance(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<Advance>,
) -> Response {
    if !peer.ip().is_loopback() {
        return forbidden();
    }
    let (replayed, done) = shared.with_exchange(|e| {
        let replayed = (0..q.bars.unwrap_or(1)).take_while(|_| e.advance()).count();
        (replayed, e.replay_done())
    });
    Json(json!({"advanced": replayed, "replay_done": done})).into_response()
}

/// `GET /emulator/faults`
pub async fn faults(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if !peer.ip().is_loopback() {
        return forbidden();
    }
    Json(shared.faults.lock().expect("faults").clone()).into_response()
}

/// `POST /emulator/faults` with a JSON object of fault names and values.
pub async fn set_faults(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Json(body): Json<serde_json::Map<String, Value>>,
) -> Response {
    if !peer.ip().is_loopback() {
        return forbidden();
    }
    let mut faults = shared.faults.lock().expect("faults");
    match faults.apply_json(&body) {
        Ok(()) => Json(faults.clone()).into_response(),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            Json(json!({"code": -1100, "msg": e.to_string()})),
        )
            .into_response(),
    }
}

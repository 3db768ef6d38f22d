//! WebSocket streams on the REST port: `/ws/<stream>[/<stream>...]` (raw
//! payloads) and `/stream?streams=<s1>/<s2>` (combined: `{"stream", "data"}`).
//! A stream is a market stream (`<symbol>@trade`, `@bookTicker`,
//! `@kline_<interval>`) or a listen key (user data). `SUBSCRIBE`,
//! `UNSUBSCRIBE` and `LIST_SUBSCRIPTIONS` requests work as at Binance.
//!
//! Faults: `drop_ws_every` drops the connection without a close frame after N
//! messages; `duplicate_events` and `reorder_events` alter user-data delivery.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::{Shared, UserMessage};

/// How long a held-back user event waits for a successor under `reorder_events`.
const REORDER_FLUSH: Duration = Duration::from_millis(50);

/// `/ws/<streams>`
pub async fn raw(
    State(shared): State<Arc<Shared>>,
    Path(streams): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    open(shared, &streams, false, upgrade)
}

/// `/ws` without streams (for `SUBSCRIBE` requests).
pub async fn bare(State(shared): State<Arc<Shared>>, upgrade: WebSocketUpgrade) -> Response {
    open(shared, "", false, upgrade)
}

/// Query of `/stream`.
#[derive(Debug, Deserialize)]
pub struct Combined {
    streams: String,
}

/// `/stream?streams=...`
pub async fn combined(
    State(shared): State<Arc<Shared>>,
    Query(q): Query<Combined>,
    upgrade: WebSocketUpgrade,
) -> Response {
    open(shared, &q.streams, true, upgrade)
}

fn open(shared: Arc<Shared>, streams: &str, combined: bool, upgrade: WebSocketUpgrade) -> Response {
    shared.count_request();
    let mut market = BTreeSet::new();
    let mut user = None;
    for name in streams.split('/').filter(|s| !s.is_empty()) {
        if name.contains('@') {
            market.insert(name.to_owned());
        } else {
            let account = shared
                .listen_keys
                .lock()
                .expect("listen keys")
                .get(name)
                .copied();
            match (account, &user) {
                (Some(account), None) => user = Some((name.to_owned(), account)),
                (Some(_), Some(_)) => return refuse("one listen key per connection"),
                (None, _) => return refuse("This listenKey does not exist."),
            }
        }
    }
    upgrade.on_upgrade(move |socket| async move {
        let connection = Connection {
            drop_after: shared.faults.lock().expect("faults").drop_ws_every,
            sent: 0,
            combined,
        };
        connection.run(shared, socket, market, user).await;
    })
}

fn refuse(msg: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"code": -1125, "msg": msg})),
    )
        .into_response()
}

struct Connection {
    drop_after: u64,
    sent: u64,
    combined: bool,
}

/// The connection must end (closed by the peer, dropped by a fault, or lagging).
struct Closed;

impl Connection {
    async fn send(
        &mut self,
        socket: &mut WebSocket,
        stream: &str,
        data: &str,
    ) -> Result<(), Closed> {
        let text = if self.combined {
            format!("{{\"stream\":\"{stream}\",\"data\":{data}}}")
        } else {
            data.to_owned()
        };
        socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| Closed)?;
        self.sent += 1;
        if self.drop_after > 0 && self.sent >= self.drop_after {
            // Dropping the socket closes TCP without a close frame.
            return Err(Closed);
        }
        Ok(())
    }

    async fn run(
        mut self,
        shared: Arc<Shared>,
        mut socket: WebSocket,
        mut market: BTreeSet<String>,
        user: Option<(String, usize)>,
    ) {
        let mut market_rx = shared.market.subscribe();
        let mut user_rx: Option<broadcast::Receiver<UserMessage>> = user
            .as_ref()
            .map(|(_, account)| shared.users[*account].subscribe());
        let listen_key = user.as_ref().map(|(k, _)| k.clone()).unwrap_or_default();
        let mut restarted = shared.restarted();
        // A user event held back by `reorder_events`, and when it must go out.
        let mut held: Option<(Arc<str>, tokio::time::Instant)> = None;
        loop {
            let result = tokio::select! {
                incoming = socket.recv() => match incoming {
                    Some(Ok(Message::Ping(payload))) => socket.send(Message::Pong(payload)).await.map_err(|_| Closed),
                    Some(Ok(Message::Text(text))) => match control(&text, &mut market) {
                        Some(reply) => socket.send(Message::Text(reply.to_string().into())).await.map_err(|_| Closed),
                        None => Ok(()),
                    },
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Err(Closed),
                    Some(Ok(_)) => Ok(()),
                },
                message = market_rx.recv() => match message {
                    Ok(m) if market.contains(&*m.stream) => self.send(&mut socket, &m.stream, &m.data).await,
                    Ok(_) => Ok(()),
                    Err(_) => Err(Closed),
                },
                message = async { user_rx.as_mut().expect("guarded").recv().await }, if user_rx.is_some() => {
                    self.user_event(&shared, &mut socket, &listen_key, &mut held, message).await
                }
                // A restarted venue keeps no connection.
                _ = restarted.changed() => Err(Closed),
                _ = tokio::time::sleep_until(held.as_ref().map_or_else(tokio::time::Instant::now, |h| h.1)), if held.is_some() => {
                    let (event, _) = held.take().expect("guarded");
                    self.send(&mut socket, &listen_key, &event).await
                }
            };
            if result.is_err() {
                break;
            }
        }
        user_rx.take();
    }

    async fn user_event(
        &mut self,
        shared: &Shared,
        socket: &mut WebSocket,
        listen_key: &str,
        held: &mut Option<(Arc<str>, tokio::time::Instant)>,
        message: Result<UserMessage, RecvError>,
    ) -> Result<(), Closed> {
        match message {
            Ok(UserMessage::Event(event)) => {
                let faults = shared.faults.lock().expect("faults").clone();
                let copies = if faults.duplicate_events { 2 } else { 1 };
                for _ in 0..copies {
                    if faults.reorder_events {
                        // Send this one before the one held back, or hold it.
                        match held.take() {
                            Some((previous, _)) => {
                                self.send(socket, listen_key, &event).await?;
                                self.send(socket, listen_key, &previous).await?;
                            }
                            None => {
                                *held = Some((
                                    event.clone(),
                                    tokio::time::Instant::now() + REORDER_FLUSH,
                                ))
                            }
                        }
                    } else {
                        self.send(socket, listen_key, &event).await?;
                    }
                }
                Ok(())
            }
            Ok(UserMessage::Expired(key)) if *key == *listen_key => {
                let event = json!({"e": "listenKeyExpired", "E": crate::rest::wall_ms(), "listenKey": listen_key});
                let _ = self.send(socket, listen_key, &event.to_string()).await;
                Err(Closed)
            }
            Ok(UserMessage::Expired(_)) => Ok(()),
            Err(_) => Err(Closed),
        }
    }
}

/// Answers a live subscription request; None for anything else.
fn control(text: &str, market: &mut BTreeSet<String>) -> Option<Value> {
    let request: Value = serde_json::from_str(text).ok()?;
    let id = request.get("id").cloned().unwrap_or(Value::Null);
    let params: Vec<String> = request
        .get("params")
        .and_then(Value::as_array)
        .map(|p| {
            p.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    match request.get("method")?.as_str()? {
        "SUBSCRIBE" => {
            market.extend(params.into_iter().filter(|p| p.contains('@')));
            Some(json!({"result": null, "id": id}))
        }
        "UNSUBSCRIBE" => {
            for p in params {
                market.remove(&p);
            }
            Some(json!({"result": null, "id": id}))
        }
        "LIST_SUBSCRIPTIONS" => {
            Some(json!({"result": market.iter().collect::<Vec<_>>(), "id": id}))
        }
        _ => None,
    }
}

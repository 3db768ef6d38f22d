//! The venue's WebSocket streams: market data (klines, trades, book ticker)
//! and the user-data stream (order and fill updates).
//!
//! Each stream runs as a task that reconnects after a drop. Whatever the
//! venue sent while we were away is lost on a WebSocket, so a reconnected
//! user stream tells the adapter to reconcile its orders by query, and a
//! reconnected market stream backfills missed klines over REST.

use std::collections::BTreeMap;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use rust_decimal::Decimal;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

use super::rest::{clip, Rest};
use super::SymbolInfo;
use crate::market_data::live::MarketEvent;
use crate::model::from_millis;
use crate::model::{to_scaled, Timestamp};
use crate::model::{Bar, Quote, Trade};

/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// Binance closes user-data streams not kept alive for 60 minutes.
const KEEPALIVE: Duration = Duration::from_secs(30 * 60);

/// What the user-data stream tells the adapter.
#[derive(Debug)]
pub enum Inbound {
    /// An `executionReport`.
    Execution(Box<ExecutionReport>),
    /// The stream (re)connected: events may have been missed before it.
    Connected,
    /// The stream dropped; it is being reconnected.
    Dropped(String),
}

/// Binance's `executionReport` user-data event (the fields used).
#[derive(Debug, Clone, Deserialize)]
pub struct ExecutionReport {
    /// Symbol.
    #[serde(rename = "s")]
    pub symbol: String,
    /// Client order id.
    #[serde(rename = "c")]
    pub client_id: String,
    /// For cancels, the original client order id.
    #[serde(rename = "C", default)]
    pub orig_client_id: String,
    /// Execution type: NEW, TRADE, CANCELED, REJECTED, EXPIRED, ...
    #[serde(rename = "x")]
    pub execution_type: String,
    /// Order status.
    #[serde(rename = "X")]
    pub status: String,
    /// Reject reason.
    #[serde(rename = "r", default)]
    pub reject_reason: String,
    /// Venue order id.
    #[serde(rename = "i")]
    pub order_id: i64,
    /// Last executed quantity.
    #[serde(rename = "l")]
    pub last_qty: Decimal,
    /// Cumulative filled quantity.
    #[serde(rename = "z")]
    pub cum_qty: Decimal,
    /// Last executed price.
    #[serde(rename = "L")]
    pub last_price: Decimal,
    /// Commission of the last execution.
    #[serde(rename = "n", default)]
    pub commission: Option<Decimal>,
    /// Its asset.
    #[serde(rename = "N", default)]
    pub commission_asset: Option<String>,
    /// Transaction time, ms.
    #[serde(rename = "T")]
    pub time: i64,
    /// Trade id, -1 without a trade.
    #[serde(rename = "t")]
    pub trade_id: i64,
    /// Whether the execution was as maker.
    #[serde(rename = "m", default)]
    pub maker: bool,
}

#[derive(Deserialize)]
struct Combined {
    stream: String,
    data: serde_json::Value,
}

#[derive(Deserialize)]
struct KlineEvent {
    k: Kline,
}

#[derive(Deserialize)]
struct Kline {
    t: i64,
    o: Decimal,
    h: Decimal,
    l: Decimal,
    c: Decimal,
    v: Decimal,
    x: bool,
}

#[derive(Deserialize)]
struct TradeEvent {
    #[serde(rename = "T")]
    time: i64,
    p: Decimal,
    q: Decimal,
}

#[derive(Deserialize)]
struct BookTicker {
    b: Decimal,
    #[serde(rename = "B")]
    bid_size: Decimal,
    a: Decimal,
    #[serde(rename = "A")]
    ask_size: Decimal,
}

/// One subscribed market stream.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The instrument.
    pub symbol: SymbolInfo,
    /// `kline_<interval>`, `trade` or `bookTicker`.
    pub channel: String,
}

/// Runs the market streams of `subscriptions` until `events` is dropped.
pub async fn market(
    ws_base: String,
    rest: Arc<Rest>,
    subscriptions: Vec<Subscription>,
    events: Sender<MarketEvent>,
) {
    let names: Vec<String> = subscriptions
        .iter()
        .map(|s| format!("{}@{}", s.symbol.symbol.to_lowercase(), s.channel))
        .collect();
    let by_name: BTreeMap<&str, &Subscription> = names
        .iter()
        .map(String::as_str)
        .zip(&subscriptions)
        .collect();
    let url = format!(
        "{}/stream?streams={}",
        ws_base.trim_end_matches('/'),
        names.join("/")
    );
    // Open time of the last closed kline per stream, for backfill; and the
    // market time of the last event, to stamp book tickers (which carry none).
    let mut last_kline: BTreeMap<String, i64> = BTreeMap::new();
    // Per stream, the open time of the last kline before the latest
    // reconnection: the stream may repeat klines from there on that the
    // backfill delivered, which are dropped; an older one is passed on (the
    // feed halts on it: the venue's clock went back).
    let mut resumed_from: BTreeMap<String, i64> = BTreeMap::new();
    let mut market_time: Timestamp = 0;
    loop {
        let (mut ws, _) = until_ok("market stream: cannot connect", || {
            tokio_tungstenite::connect_async(url.as_str())
        })
        .await;
        for (name, sub) in &by_name {
            if let Some(&from) = last_kline.get(*name) {
                resumed_from.insert((*name).to_owned(), from);
                let missed = backfill(&rest, sub, from).await;
                for bar in missed {
                    last_kline.insert((*name).to_owned(), bar.time / 1_000_000);
                    if events.send(MarketEvent::Bar(bar)).is_err() {
                        return;
                    }
                }
            }
        }
        while let Some(message) = ws.next().await {
            let text = match message {
                Ok(Message::Text(text)) => text,
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => continue,
            };
            let Ok(combined) = serde_json::from_str::<Combined>(&text) else {
                tracing::warn!("market stream: unreadable message: {}", clip(&text));
                continue;
            };
            let Some(sub) = by_name.get(combined.stream.as_str()) else {
                continue;
            };
            let event = match decode(sub, combined.data, &mut market_time) {
                Ok(Some(event)) => event,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(stream = %combined.stream, "market stream: {e}");
                    continue;
                }
            };
            if let MarketEvent::Bar(bar) = &event {
                let open_ms = bar.time / 1_000_000;
                let backfilled = resumed_from
                    .get(&combined.stream)
                    .zip(last_kline.get(&combined.stream))
                    .is_some_and(|(&from, &last)| (from..=last).contains(&open_ms));
                if backfilled {
                    continue;
                }
                last_kline.insert(combined.stream.clone(), open_ms);
            }
            if events.send(event).is_err() {
                return;
            }
        }
        tracing::warn!("market stream dropped; reconnecting");
    }
}

fn decode(
    sub: &Subscription,
    data: serde_json::Value,
    market_time: &mut Timestamp,
) -> Result<Option<MarketEvent>, String> {
    let s = &sub.symbol;
    let price = |d: Decimal| {
        to_scaled(d, s.price_scale).map_err(|_| format!("price {d} is off the tick scale"))
    };
    let qty = |d: Decimal| {
        // Volumes may carry more digits than the lot size: whole lots count.
        to_scaled(d.trunc_with_scale(u32::from(s.qty_scale)), s.qty_scale)
            .map_err(|_| format!("quantity {d} out of range"))
    };
    let err = |e: serde_json::Error| e.to_string();
    if sub.channel.starts_with("kline_") {
        let k = serde_json::from_value::<KlineEvent>(data).map_err(err)?.k;
        if !k.x {
            return Ok(None);
        }
        let time = from_millis(k.t);
        *market_time = (*market_time).max(time);
        return Ok(Some(MarketEvent::Bar(Bar {
            instrument: s.id,
            time,
            open: price(k.o)?,
            high: price(k.h)?,
            low: price(k.l)?,
            close: price(k.c)?,
            volume: qty(k.v)?,
        })));
    }
    if sub.channel == "trade" {
        let t: TradeEvent = serde_json::from_value(data).map_err(err)?;
        let time = from_millis(t.time);
        *market_time = (*market_time).max(time);
        return Ok(Some(MarketEvent::Trade(Trade {
            instrument: s.id,
            time,
            price: price(t.p)?,
            size: qty(t.q)?,
        })));
    }
    let b: BookTicker = serde_json::from_value(data).map_err(err)?;
    Ok(Some(MarketEvent::Quote(Quote {
        instrument: s.id,
        time: *market_time,
        bid: price(b.b)?,
        bid_size: qty(b.bid_size)?,
        ask: price(b.a)?,
        ask_size: qty(b.ask_size)?,
    })))
}

/// Closed klines after open time `from_ms`, fetched over REST.
async fn backfill(rest: &Rest, sub: &Subscription, from_ms: i64) -> Vec<Bar> {
    let Some(interval) = sub.channel.strip_prefix("kline_") else {
        return Vec::new();
    };
    let rows: Vec<Vec<serde_json::Value>> = match rest
        .public(
            "/api/v3/klines",
            vec![
                ("symbol", sub.symbol.symbol.clone()),
                ("interval", interval.to_owned()),
                ("startTime", (from_ms + 1).to_string()),
                ("limit", "1000".to_owned()),
            ],
        )
        .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(symbol = %sub.symbol.symbol, "kline backfill failed: {e}");
            return Vec::new();
        }
    };
    let mut market_time = 0;
    rows.into_iter()
        .filter_map(|row| {
            // [open time, open, high, low, close, volume, close time, ...]
            let field = |i: usize| row.get(i).cloned().unwrap_or_default();
            let data = serde_json::json!({"k": {
                "t": field(0), "o": field(1), "h": field(2), "l": field(3),
                "c": field(4), "v": field(5), "x": true,
            }});
            match decode(sub, data, &mut market_time) {
                Ok(Some(MarketEvent::Bar(bar))) if bar.time > from_millis(from_ms) => Some(bar),
                _ => None,
            }
        })
        .collect()
}

/// Runs the user-data stream of the account behind `rest` until `inbound` is dropped.
pub async fn user(ws_base: String, rest: Arc<Rest>, inbound: Sender<Inbound>) {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct ListenKey {
        listen_key: String,
    }
    loop {
        let key: ListenKey = until_ok("user-data stream: no listen key", || {
            rest.keyed(Method::POST, "/api/v3/userDataStream", Vec::new())
        })
        .await;
        let url = format!("{}/ws/{}", ws_base.trim_end_matches('/'), key.listen_key);
        let (mut ws, _) = until_ok("user-data stream: cannot connect", || {
            tokio_tungstenite::connect_async(url.as_str())
        })
        .await;
        if inbound.send(Inbound::Connected).is_err() {
            return;
        }
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        let why = loop {
            tokio::select! {
                _ = keepalive.tick() => {
                    let params = vec![("listenKey", key.listen_key.clone())];
                    if let Err(e) = rest.keyed::<serde_json::Value>(Method::PUT, "/api/v3/userDataStream", params).await {
                        tracing::warn!("user-data stream keepalive failed: {e}");
                    }
                }
                message = ws.next() => {
                    let text = match message {
                        Some(Ok(Message::Text(text))) => text,
                        Some(Ok(Message::Close(frame))) => break format!("closed by the venue ({frame:?})"),
                        Some(Err(e)) => break e.to_string(),
                        None => break "connection ended".to_owned(),
                        Some(Ok(_)) => continue,
                    };
                    let value: serde_json::Value = match serde_json::from_str(&text) {
                        Ok(v) => v,
                        Err(e) => {
                            tracing::warn!("user-data stream: unreadable message: {e}");
                            continue;
                        }
                    };
                    if value.get("e").and_then(|e| e.as_str()) != Some("executionReport") {
                        continue;
                    }
                    match serde_json::from_value::<ExecutionReport>(value) {
                        Ok(report) => {
                            if inbound.send(Inbound::Execution(Box::new(report))).is_err() {
                                return;
                            }
                        }
                        Err(e) => tracing::warn!("user-data stream: bad executionReport: {e}"),
                    }
                }
            }
        };
        tracing::warn!("user-data stream dropped: {why}; reconnecting");
        if inbound.send(Inbound::Dropped(why)).is_err() {
            return;
        }
    }
}

/// Calls `attempt` until it succeeds, waiting longer after each failure
/// (up to [`MAX_BACKOFF`]).
async fn until_ok<T, E: std::fmt::Display, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> T {
    let mut backoff = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(e) => {
                tracing::warn!("{what}: {e}; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

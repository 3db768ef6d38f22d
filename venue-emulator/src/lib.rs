//! A Binance-spot-compatible venue emulator for sandbox tests.
//!
//! It serves the subset of Binance's spot REST API and WebSocket streams the
//! Cracktrader venue adapter uses, on one loopback port: signed requests
//! (HMAC-SHA256), exchange filters, rate limits, a matching engine over user
//! orders plus a synthetic market maker that follows replayed bars, user-data
//! streams, and injectable faults. The behaviour is documented in
//! `docs/venue-emulator.md`.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// Admin endpoints for tests: state, replay advance, faults.
pub mod admin;
/// The configuration file and bar data.
pub mod config;
/// Accounts, order book, matching and bar replay.
pub mod engine;
/// Injectable faults and their counters.
pub mod faults;
/// REST rate limits.
pub mod limits;
/// The `/api/v3` REST endpoints.
pub mod rest;
/// The WebSocket market and user-data streams.
pub mod ws;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::{any, get, post};
use axum::Router;
use sha2::{Digest, Sha256};
use tokio::sync::{broadcast, watch};

use crate::config::Loaded;
use crate::engine::{Event, Exchange};
use crate::faults::{Counters, Faults};
use crate::limits::Limits;

/// A market stream message: the stream name and the JSON payload.
#[derive(Debug, Clone)]
pub struct MarketMessage {
    /// Stream name, e.g. `eurusd@trade`.
    pub stream: Arc<str>,
    /// JSON payload.
    pub data: Arc<str>,
}

/// A message on an account's user-data channel.
#[derive(Debug, Clone)]
pub enum UserMessage {
    /// A JSON event payload.
    Event(Arc<str>),
    /// The listen key was closed: connections on it end.
    Expired(Arc<str>),
}

const CHANNEL_CAPACITY: usize = 1 << 16;

/// State shared by the handlers.
pub struct Shared {
    /// The exchange.
    pub exchange: Mutex<Exchange>,
    /// Faults in force.
    pub faults: Mutex<Faults>,
    /// Every-Nth fault counters.
    pub counters: Mutex<Counters>,
    /// Rate limiter.
    pub limits: Mutex<Limits>,
    /// Configured (weight per minute, orders per 10 s), for exchangeInfo and messages.
    pub rate: (u32, u32),
    /// Market stream messages.
    pub market: broadcast::Sender<MarketMessage>,
    /// User-data messages, one channel per account.
    pub users: Vec<broadcast::Sender<UserMessage>>,
    /// Active listen keys and their accounts.
    pub listen_keys: Mutex<HashMap<String, usize>>,
    listen_key_count: Mutex<u64>,
    /// The configuration, to start again from on a restart.
    loaded: Loaded,
    /// Bumped by each restart: every WebSocket connection ends.
    restarts: watch::Sender<u64>,
    /// REST requests and WebSocket connections received, from process
    /// start (a restart does not reset it).
    requests: AtomicU64,
}

impl Shared {
    fn new(loaded: Loaded, faults: Faults) -> Self {
        let rate = (
            loaded.config.request_weight_per_minute,
            loaded.config.orders_per_10s,
        );
        let users = loaded
            .config
            .accounts
            .iter()
            .map(|_| broadcast::channel(CHANNEL_CAPACITY).0)
            .collect();
        Self {
            exchange: Mutex::new(Exchange::new(loaded.clone())),
            loaded,
            restarts: watch::channel(0).0,
            requests: AtomicU64::new(0),
            faults: Mutex::new(faults),
            counters: Mutex::new(Counters::default()),
            limits: Mutex::new(Limits::new(rate.0, rate.1)),
            rate,
            market: broadcast::channel(CHANNEL_CAPACITY).0,
            users,
            listen_keys: Mutex::new(HashMap::new()),
            listen_key_count: Mutex::new(0),
        }
    }

    /// Runs an operation on the exchange and publishes the events it caused,
    /// under the lock so that every stream sees events in exchange order.
    pub fn with_exchange<R>(&self, f: impl FnOnce(&mut Exchange) -> R) -> R {
        let mut exchange = self.exchange.lock().expect("exchange");
        let result = f(&mut exchange);
        for event in exchange.drain_events() {
            // A send fails only when nobody listens, which is fine.
            match event {
                Event::Market { stream, data } => {
                    let _ = self.market.send(MarketMessage {
                        stream: stream.into(),
                        data: data.to_string().into(),
                    });
                }
                Event::User { account, data } => {
                    let _ = self.users[account].send(UserMessage::Event(data.to_string().into()));
                }
            }
        }
        result
    }

    /// The account's active listen key, created on first use.
    pub fn listen_key(&self, account: usize) -> String {
        let mut keys = self.listen_keys.lock().expect("listen keys");
        if let Some((key, _)) = keys.iter().find(|(_, a)| **a == account) {
            return key.clone();
        }
        let mut count = self.listen_key_count.lock().expect("count");
        *count += 1;
        let secret = self
            .exchange
            .lock()
            .expect("exchange")
            .account(account)
            .secret
            .clone();
        let key = hex::encode(Sha256::digest(format!("{secret}:{count}")));
        keys.insert(key.clone(), account);
        key
    }

    /// Counts one venue request (REST or WebSocket connection).
    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Venue requests received so far (REST requests and WebSocket connections).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Ends every WebSocket connection when the emulator restarts.
    pub fn restarted(&self) -> watch::Receiver<u64> {
        self.restarts.subscribe()
    }

    /// Simulates a restart that loses all state: the exchange starts again
    /// from its configuration (balances, no orders, no trades, replay from
    /// the first bar), listen keys, rate-limit windows and fault counters are
    /// forgotten, and every WebSocket connection is closed. Faults in force
    /// stay (they model the network, not the venue's memory).
    pub fn restart(&self) {
        *self.exchange.lock().expect("exchange") = Exchange::new(self.loaded.clone());
        self.listen_keys.lock().expect("listen keys").clear();
        *self.counters.lock().expect("counters") = Counters::default();
        *self.limits.lock().expect("limits") = Limits::new(self.rate.0, self.rate.1);
        self.restarts.send_modify(|n| *n += 1);
        tracing::info!("restarted: all state lost");
    }

    /// Closes a listen key; its connections receive `listenKeyExpired` and end.
    pub fn close_listen_key(&self, key: &str) {
        if let Some(account) = self.listen_keys.lock().expect("listen keys").remove(key) {
            let _ = self.users[account].send(UserMessage::Expired(key.into()));
        }
    }
}

/// A running emulator.
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    /// Shared state (tests inspect it).
    pub shared: Arc<Shared>,
    /// The server task.
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds `bind` and serves the emulator on the current Tokio runtime; the
/// replay clock runs when `bar_interval_ms` is positive.
pub async fn serve(loaded: Loaded, faults: Faults, bind: SocketAddr) -> std::io::Result<Running> {
    let bar_interval_ms = loaded.config.bar_interval_ms;
    let shared = Arc::new(Shared::new(loaded, faults));
    let listener = tokio::net::TcpListener::bind(bind).await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/api/v3/{*path}", any(rest::handle))
        .route("/ws", get(ws::bare))
        .route("/ws/{*streams}", get(ws::raw))
        .route("/stream", get(ws::combined))
        .route("/emulator/state", get(admin::state))
        .route("/emulator/advance", post(admin::advance))
        .route("/emulator/restart", post(admin::restart))
        .route(
            "/emulator/faults",
            get(admin::faults).post(admin::set_faults),
        )
        .with_state(shared.clone());
    if bar_interval_ms > 0 {
        let clock = shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(bar_interval_ms));
            // After a stall, keep the pace rather than replaying a burst.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if !clock.with_exchange(Exchange::advance) {
                    tracing::info!("replay done");
                    break;
                }
            }
        });
    }
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    tracing::info!(%addr, "venue emulator listening");
    Ok(Running {
        addr,
        shared,
        server,
    })
}

//! Signed REST calls to a Binance-spot-compatible API: HMAC-SHA256
//! signatures, server time offset and `recvWindow`, rate-limit headers and
//! the retry rules.
//!
//! Retries: a 429/418 answer means the request was not processed, so any
//! request is sent again once `Retry-After` has passed. A timeout or 5xx
//! leaves the outcome unknown, so only requests that cannot act twice are
//! retried here (queries, cancels); the order submitter reconciles a new
//! order by querying its client order id instead (see `super::Binance::submit`).

use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use sha2::Sha256;

use super::VenueError;

/// How many times a request that may be retried is sent in all.
const ATTEMPTS: u32 = 5;
/// Longest wait honoured from a `Retry-After` header before giving up.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// An API secret: never printed.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps `secret`.
    pub fn new(secret: String) -> Self {
        Self(secret)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// Hex HMAC-SHA256 of `payload` under `secret`, as Binance signs requests.
pub fn sign(secret: &Secret, payload: &str) -> String {
    // HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.0.as_bytes()).expect("any key length");
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether a request may be repeated after an unknown outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Queries and cancels: repeating cannot act twice.
    Idempotent,
    /// New orders: the caller reconciles instead.
    Once,
}

/// A REST client of one venue account.
#[derive(Debug)]
pub struct Rest {
    http: reqwest::Client,
    base: String,
    api_key: String,
    secret: Secret,
    recv_window_ms: u64,
    /// Server time minus local time, in ms.
    offset_ms: AtomicI64,
    /// The venue's request weight limit per minute (exchange info), 0 if unknown.
    weight_limit: AtomicU32,
    /// Nothing is sent before this instant (a 429/418 answer's `Retry-After`).
    paused_until: Mutex<Option<Instant>>,
}

impl Rest {
    /// A client of the API at `base` (e.g. `https://testnet.binance.vision`).
    pub fn new(
        base: &str,
        api_key: String,
        secret: Secret,
        recv_window_ms: u64,
        timeout: Duration,
    ) -> Result<Self, VenueError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("cracktrader/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| VenueError::Transport(format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            api_key,
            secret,
            recv_window_ms,
            offset_ms: AtomicI64::new(0),
            weight_limit: AtomicU32::new(0),
            paused_until: Mutex::new(None),
        })
    }

    /// Sets the request weight the venue allows per minute.
    pub fn set_weight_limit(&self, limit: u32) {
        self.weight_limit.store(limit, Ordering::Relaxed);
    }

    /// Measures the offset of the venue's clock (`GET /api/v3/time`), so
    /// that signed requests carry a timestamp inside its `recvWindow`.
    pub async fn sync_time(&self) -> Result<i64, VenueError> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Time {
            server_time: i64,
        }
        let before = now_ms();
        // Not through `call`, which syncs the clock itself after a -1021.
        let body = self
            .send(&Method::GET, "/api/v3/time", &[], Auth::None)
            .await?;
        let after = now_ms();
        let time: Time = serde_json::from_str(&body)
            .map_err(|e| VenueError::Decode(format!("GET /api/v3/time: {e}: {}", clip(&body))))?;
        let offset = time.server_time - (before + after) / 2;
        self.offset_ms.store(offset, Ordering::Relaxed);
        tracing::debug!(offset_ms = offset, "venue clock offset");
        Ok(offset)
    }

    /// The venue's clock now, ms, as measured by [`Rest::sync_time`].
    pub fn server_now_ms(&self) -> i64 {
        now_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// A public request.
    pub async fn public<T: DeserializeOwned>(
        &self,
        path: &str,
        params: Vec<(&'static str, String)>,
    ) -> Result<T, VenueError> {
        self.call(Method::GET, path, params, Auth::None, Retry::Idempotent)
            .await
    }

    /// A request that needs only the API key (user-data stream keys).
    pub async fn keyed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: Vec<(&'static str, String)>,
    ) -> Result<T, VenueError> {
        self.call(method, path, params, Auth::Key, Retry::Idempotent)
            .await
    }

    /// A signed request (`timestamp`, `recvWindow`, `signature` added).
    pub async fn signed<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: Vec<(&'static str, String)>,
        retry: Retry,
    ) -> Result<T, VenueError> {
        self.call(method, path, params, Auth::Signed, retry).await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: Vec<(&'static str, String)>,
        auth: Auth,
        retry: Retry,
    ) -> Result<T, VenueError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.wait_if_paused().await;
            let result = self.send(&method, path, &params, auth).await;
            let err = match result {
                Ok(body) => {
                    return serde_json::from_str(&body).map_err(|e| {
                        VenueError::Decode(format!("{method} {path}: {e}: {}", clip(&body)))
                    })
                }
                Err(e) => e,
            };
            let again = match &err {
                VenueError::RateLimited { retry_after, .. } => {
                    if *retry_after > MAX_RETRY_AFTER {
                        return Err(err);
                    }
                    *self.paused_until.lock().expect("not poisoned") =
                        Some(Instant::now() + *retry_after);
                    true
                }
                VenueError::Api { code: -1021, .. } => {
                    // Our clock drifted from the venue's: measure it again.
                    self.sync_time().await?;
                    true
                }
                VenueError::Transport(_) | VenueError::Server { .. } => retry == Retry::Idempotent,
                _ => false,
            };
            if !again || attempt >= ATTEMPTS {
                return Err(err);
            }
            tracing::warn!(%method, path, attempt, "venue request failed, retrying: {err}");
            if !matches!(err, VenueError::RateLimited { .. }) {
                tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
            }
        }
    }

    async fn wait_if_paused(&self) {
        let until = *self.paused_until.lock().expect("not poisoned");
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                tokio::time::sleep(until - now).await;
            }
        }
    }

    /// The query string of a request, signed if `auth` says so.
    fn query_string(&self, params: &[(&'static str, String)], auth: Auth) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            query.append_pair(k, v);
        }
        if auth == Auth::Signed {
            let timestamp = now_ms() + self.offset_ms.load(Ordering::Relaxed);
            query.append_pair("recvWindow", &self.recv_window_ms.to_string());
            query.append_pair("timestamp", &timestamp.to_string());
        }
        let mut query = query.finish();
        if auth == Auth::Signed {
            let signature = sign(&self.secret, &query);
            query.push_str("&signature=");
            query.push_str(&signature);
        }
        query
    }

    async fn send(
        &self,
        method: &Method,
        path: &str,
        params: &[(&'static str, String)],
        auth: Auth,
    ) -> Result<String, VenueError> {
        let query = self.query_string(params, auth);
        let url = if query.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}?{query}", self.base)
        };
        let mut request = self.http.request(method.clone(), &url);
        if auth != Auth::None {
            request = request.header("X-MBX-APIKEY", &self.api_key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| VenueError::Transport(format!("{method} {path}: {}", without_url(&e))))?;
        let status = response.status();
        let headers = response.headers();
        if let Some(w) = header_number(headers, "x-mbx-used-weight-1m") {
            let used = u32::try_from(w).unwrap_or(u32::MAX);
            let limit = self.weight_limit.load(Ordering::Relaxed);
            // Close to the limit: wait for the next minute rather than be banned.
            if limit > 0 && used >= limit / 10 * 9 {
                let into_minute = Duration::from_millis((now_ms().rem_euclid(60_000)) as u64);
                let wait = Duration::from_secs(60).saturating_sub(into_minute);
                tracing::warn!(
                    used,
                    limit,
                    "venue request weight nearly used up; pausing {wait:?}"
                );
                *self.paused_until.lock().expect("not poisoned") = Some(Instant::now() + wait);
            }
        }
        let retry_after = header_number(headers, "retry-after").map(Duration::from_secs);
        let body = response
            .text()
            .await
            .map_err(|e| VenueError::Transport(format!("{method} {path}: {}", without_url(&e))))?;
        if status.is_success() {
            return Ok(body);
        }
        let (code, msg) = match serde_json::from_str::<ApiError>(&body) {
            Ok(e) => (e.code, e.msg),
            Err(_) => (0, clip(&body).to_owned()),
        };
        Err(
            if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::IM_A_TEAPOT {
                VenueError::RateLimited {
                    status: status.as_u16(),
                    retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
                    msg,
                }
            } else if status.is_server_error() {
                VenueError::Server {
                    status: status.as_u16(),
                    msg: format!("{method} {path}: {msg}"),
                }
            } else {
                VenueError::Api {
                    status: status.as_u16(),
                    code,
                    msg,
                }
            },
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    None,
    Key,
    Signed,
}

#[derive(serde::Deserialize)]
struct ApiError {
    code: i64,
    msg: String,
}

fn header_number(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// reqwest errors name the URL, whose query holds the signature: leave it out.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "transport error"
    };
    let mut source = std::error::Error::source(e);
    let mut detail = String::new();
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    if detail.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {detail}")
    }
}

/// At most the first 200 characters of `s`, for error messages.
pub(super) fn clip(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Wall-clock milliseconds: signed requests carry them (live modes only).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Binance's API documentation ("SIGNED endpoint examples").
    #[test]
    fn signs_like_the_binance_documentation() {
        let secret =
            Secret::new("NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j".into());
        let query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        assert_eq!(
            sign(&secret, query),
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
        );
        assert_eq!(format!("{secret:?}"), "<secret>");
    }
}

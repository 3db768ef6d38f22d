//! The REST API (`/api/v3/*`, Binance spot subset): parameters, API keys and
//! signatures, rate limits, faults, and the JSON views of the exchange.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::config::{MAX_NOTIONAL, MAX_PRICE};
use crate::engine::{
    dec, kline_row, Exchange, NewOrder, Order, OrderType, Reject, Side, TimeInForce,
};
use crate::faults::Counted;
use crate::limits::Refusal;
use crate::Shared;

/// The wall clock in epoch milliseconds (serverTime and recvWindow use it).
pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// An error answer: HTTP status, Binance code and message.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: i32,
    msg: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: i32, msg: impl Into<String>) -> Self {
        Self {
            status,
            code,
            msg: msg.into(),
            retry_after: None,
        }
    }
    fn bad(code: i32, msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, msg)
    }
}

impl From<Reject> for ApiError {
    fn from(r: Reject) -> Self {
        Self::bad(r.code, r.msg)
    }
}

fn mandatory(name: &str) -> ApiError {
    ApiError::bad(
        -1102,
        format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
    )
}

fn not_required(name: &str) -> ApiError {
    ApiError::bad(-1106, format!("Parameter '{name}' sent when not required."))
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Security {
    None,
    ApiKey,
    Signed,
}

/// Request parameters from the query string and the form body.
struct Params(HashMap<String, String>);

impl Params {
    fn parse(query: &str, body: &str) -> Result<Self, ApiError> {
        let mut map = HashMap::new();
        for part in [query, body] {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(part)
                .map_err(|_| ApiError::bad(-1100, "Illegal characters found in a parameter."))?;
            for (k, v) in pairs {
                map.entry(k).or_insert(v);
            }
        }
        Ok(Self(map))
    }
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
    fn required(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| mandatory(name))
    }
    fn decimal(&self, name: &str) -> Result<Option<Decimal>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse::<Decimal>()
                    .ok()
                    .filter(|d| !d.is_sign_negative())
                    .ok_or_else(|| {
                        ApiError::bad(
                            -1100,
                            format!("Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'."),
                        )
                    })
            })
            .transpose()
    }
    fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::bad(
                        -1100,
                        format!("Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."),
                    )
                })
            })
            .transpose()
    }
}

/// Removes `signature=...` from a params string, keeping the rest verbatim.
fn without_signature(text: &str) -> String {
    text.split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("signature="))
        .collect::<Vec<_>>()
        .join("&")
}

/// Hex HMAC-SHA256 of `payload` with `secret`, as Binance signs requests.
pub fn sign(secret: &str, payload: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn verify(secret: &str, query: &str, body: &str, signature: &str) -> bool {
    // Binance's totalParams: the query string concatenated with the body.
    let payload = format!("{}{}", without_signature(query), without_signature(body));
    let Ok(expected) = hex::decode(signature) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(payload.as_bytes());
    mac.verify_slice(&expected).is_ok()
}

fn check_timestamp(params: &Params, now: i64) -> Result<(), ApiError> {
    let timestamp = params
        .integer("timestamp")?
        .ok_or_else(|| mandatory("timestamp"))?;
    let window = params.integer("recvWindow")?.unwrap_or(5000);
    if window > 60_000 {
        return Err(ApiError::bad(-1131, "recvWindow must be less than 60000"));
    }
    if timestamp >= now + 1000 {
        return Err(ApiError::bad(
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        ));
    }
    if now - timestamp > window {
        return Err(ApiError::bad(
            -1021,
            "Timestamp for this request is outside of the recvWindow.",
        ));
    }
    Ok(())
}

/// An endpoint: its security, weight and whether it is an order request.
fn endpoint(method: &Method, path: &str, params: &Params) -> Option<(Security, u32)> {
    let with_symbol = params.get("symbol").is_some();
    Some(match (method.as_str(), path) {
        ("GET", "ping" | "time") => (Security::None, 1),
        ("GET", "exchangeInfo") => (Security::None, 20),
        ("GET", "klines") => (Security::None, 2),
        ("POST" | "DELETE", "order") => (Security::Signed, 1),
        ("GET", "order") => (Security::Signed, 4),
        ("GET", "openOrders") => (Security::Signed, if with_symbol { 6 } else { 80 }),
        ("DELETE", "openOrders") => (Security::Signed, 1),
        ("GET", "account") => (Security::Signed, 20),
        ("GET", "myTrades") => (
            Security::Signed,
            if params.get("orderId").is_some() {
                5
            } else {
                20
            },
        ),
        ("POST" | "PUT" | "DELETE", "userDataStream") => (Security::ApiKey, 2),
        _ => return None,
    })
}

/// The `/api/v3/{*path}` handler.
pub async fn handle(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.count_request();
    let latency = shared.faults.lock().expect("faults").latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let path = uri.path().trim_start_matches("/api/v3/").to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    let api_key = headers
        .get("X-MBX-APIKEY")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut extra: Vec<(&'static str, String)> = Vec::new();
    let request = Incoming {
        peer,
        method,
        path,
        query,
        body,
        api_key,
    };
    let result = respond(&shared, &request, &mut extra);
    let (status, value) = match result {
        Ok(value) => (StatusCode::OK, value),
        Err(e) => {
            if let Some(seconds) = e.retry_after {
                extra.push(("Retry-After", seconds.to_string()));
            }
            (e.status, json!({"code": e.code, "msg": e.msg}))
        }
    };
    let mut response = (status, axum::Json(value)).into_response();
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

/// A REST request as received.
struct Incoming {
    peer: SocketAddr,
    method: Method,
    /// The path after `/api/v3/`.
    path: String,
    query: String,
    body: String,
    api_key: Option<String>,
}

/// Admits, authenticates and executes a request; `headers` receives the
/// rate-limit headers.
fn respond(
    shared: &Shared,
    request: &Incoming,
    headers: &mut Vec<(&'static str, String)>,
) -> Result<Value, ApiError> {
    let Incoming {
        peer,
        method,
        path,
        query,
        body,
        api_key,
    } = request;
    let (path, query, body) = (path.as_str(), query.as_str(), body.as_str());
    let params = Params::parse(query, body)?;
    let (security, weight) = endpoint(method, path, &params)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, -1000, "Unknown endpoint."))?;
    let limit_key = api_key
        .clone()
        .unwrap_or_else(|| format!("ip:{}", peer.ip()));
    let is_new_order = *method == Method::POST && path == "order";
    let used = shared
        .limits
        .lock()
        .expect("limits")
        .admit(&limit_key, weight, is_new_order, Instant::now())
        .map_err(|refusal| {
            let limits = &shared.rate;
            let (status, code, msg, seconds) = match refusal {
                Refusal::Weight(s) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    -1003,
                    format!("Too much request weight used; current limit is {} request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.", limits.0),
                    s,
                ),
                Refusal::Orders(s) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    -1015,
                    format!("Too many new orders; current limit is {} orders per 10 SECOND.", limits.1),
                    s,
                ),
                Refusal::Banned(s) => (
                    StatusCode::IM_A_TEAPOT,
                    -1003,
                    format!("Way too much request weight used; IP banned until {}. Please use WebSocket Streams for live updates to avoid bans.", wall_ms() + s as i64 * 1000),
                    s,
                ),
            };
            let mut e = ApiError::new(status, code, msg);
            e.retry_after = Some(seconds);
            e
        })?;
    headers.push(("X-MBX-USED-WEIGHT-1M", used.weight.to_string()));
    if path == "order" {
        headers.push(("X-MBX-ORDER-COUNT-10S", used.orders.to_string()));
    }
    let account = match security {
        Security::None => None,
        Security::ApiKey | Security::Signed => {
            let unauthorized = || {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    -2015,
                    "Invalid API-key, IP, or permissions for action.",
                )
            };
            let key = api_key.as_deref().ok_or_else(unauthorized)?;
            let exchange = shared.exchange.lock().expect("exchange");
            let account = exchange.account_by_key(key).ok_or_else(unauthorized)?;
            if security == Security::Signed {
                let signature = params
                    .get("signature")
                    .ok_or_else(|| mandatory("signature"))?;
                if !verify(&exchange.account(account).secret, query, body, signature) {
                    return Err(ApiError::bad(
                        -1022,
                        "Signature for this request is not valid.",
                    ));
                }
                check_timestamp(&params, wall_ms())?;
            }
            Some((key.to_owned(), account))
        }
    };
    let faults = shared.faults.lock().expect("faults").clone();
    if let (Some((key, _)), Security::Signed) = (&account, security) {
        let mut counters = shared.counters.lock().expect("counters");
        if counters.hit(Counted::Http429, key, faults.http_429_every) {
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                -1003,
                "Too many requests; injected fault http_429_every.",
            );
            e.retry_after = Some(1);
            return Err(e);
        }
        if path == "order"
            && (*method == Method::POST || *method == Method::DELETE)
            && counters.hit(Counted::Http5xx, key, faults.http_5xx_every)
        {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                -1001,
                "Internal error; unable to process your request. Please try again.",
            ));
        }
    }
    let result = dispatch(shared, method, path, &params, account.as_ref().map(|a| a.1))?;
    if let (Some((key, _)), true) = (&account, is_new_order) {
        let mut counters = shared.counters.lock().expect("counters");
        if counters.hit(Counted::LostResponse, key, faults.lost_response_every) {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                -1007,
                "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
            ));
        }
    }
    Ok(result)
}

fn dispatch(
    shared: &Shared,
    method: &Method,
    path: &str,
    params: &Params,
    account: Option<usize>,
) -> Result<Value, ApiError> {
    let a = || account.expect("authenticated endpoint");
    match (method.as_str(), path) {
        ("GET", "ping") => Ok(json!({})),
        ("GET", "time") => Ok(json!({"serverTime": wall_ms()})),
        ("GET", "exchangeInfo") => exchange_info(shared, params),
        ("GET", "klines") => klines(shared, params),
        ("POST", "order") => shared.with_exchange(|e| new_order(e, a(), params)),
        ("DELETE", "order") => shared.with_exchange(|e| cancel_order(e, a(), params)),
        ("GET", "order") => {
            let e = shared.exchange.lock().expect("exchange");
            let s = e.symbol_index(params.required("symbol")?)?;
            let order = find(&e, a(), s, params)?
                .ok_or_else(|| ApiError::bad(-2013, "Order does not exist."))?;
            Ok(order_query(&e, order))
        }
        ("GET", "openOrders") => {
            let e = shared.exchange.lock().expect("exchange");
            let s = params
                .get("symbol")
                .map(|s| e.symbol_index(s))
                .transpose()?;
            Ok(Value::Array(
                e.open_orders(a(), s)
                    .into_iter()
                    .map(|o| order_query(&e, o))
                    .collect(),
            ))
        }
        ("DELETE", "openOrders") => shared.with_exchange(|e| {
            let s = e.symbol_index(params.required("symbol")?)?;
            let ids: Vec<u64> = e.open_orders(a(), Some(s)).iter().map(|o| o.id).collect();
            if ids.is_empty() {
                return Err(Reject::new(-2011, "Unknown order sent.").into());
            }
            ids.into_iter()
                .map(|id| cancel(e, id, None))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }),
        ("GET", "account") => Ok(account_json(
            &shared.exchange.lock().expect("exchange"),
            a(),
        )),
        ("GET", "myTrades") => my_trades(&shared.exchange.lock().expect("exchange"), a(), params),
        ("POST", "userDataStream") => Ok(json!({"listenKey": shared.listen_key(a())})),
        ("PUT" | "DELETE", "userDataStream") => {
            let key = params.required("listenKey")?;
            let known = shared.listen_keys.lock().expect("listen keys").get(key) == Some(&a());
            if !known {
                return Err(ApiError::bad(-1125, "This listenKey does not exist."));
            }
            if method == Method::DELETE {
                shared.close_listen_key(key);
            }
            Ok(json!({}))
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            -1000,
            "Unknown endpoint.",
        )),
    }
}

fn find<'a>(
    e: &'a Exchange,
    account: usize,
    symbol: usize,
    params: &Params,
) -> Result<Option<&'a Order>, ApiError> {
    let order_id = params.integer("orderId")?;
    let client_id = params.get("origClientOrderId");
    if order_id.is_none() && client_id.is_none() {
        return Err(ApiError::bad(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        ));
    }
    Ok(e.find_order(account, symbol, order_id.map(|i| i as u64), client_id))
}

fn client_id_param(params: &Params, name: &str) -> Result<Option<String>, ApiError> {
    match params.get(name) {
        Some(c) if c.len() > 36 || !c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_') => {
            Err(ApiError::bad(
                -1100,
                format!("Illegal characters found in parameter '{name}'; legal range is '^[a-zA-Z0-9-_]{{1,36}}$'."),
            ))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

fn new_order(e: &mut Exchange, account: usize, params: &Params) -> Result<Value, ApiError> {
    let symbol = params.required("symbol")?.to_owned();
    let side = Side::parse(params.required("side")?)
        .ok_or_else(|| ApiError::bad(-1117, "Invalid side."))?;
    let kind = OrderType::parse(params.required("type")?)
        .ok_or_else(|| ApiError::bad(-1116, "Invalid orderType."))?;
    let time_in_force = match (params.get("timeInForce"), kind.needs_time_in_force()) {
        (Some(t), true) => {
            TimeInForce::parse(t).ok_or_else(|| ApiError::bad(-1115, "Invalid timeInForce."))?
        }
        (None, true) => return Err(mandatory("timeInForce")),
        (Some(_), false) => return Err(not_required("timeInForce")),
        (None, false) => TimeInForce::Gtc,
    };
    let quantity = params
        .decimal("quantity")?
        .ok_or_else(|| mandatory("quantity"))?;
    let price = params.decimal("price")?;
    let stop_price = params.decimal("stopPrice")?;
    match (price.is_some(), kind.has_price()) {
        (false, true) => return Err(mandatory("price")),
        (true, false) => return Err(not_required("price")),
        _ => {}
    }
    match (stop_price.is_some(), kind.has_stop()) {
        (false, true) => return Err(mandatory("stopPrice")),
        (true, false) => return Err(not_required("stopPrice")),
        _ => {}
    }
    let response_type = match params.get("newOrderRespType") {
        Some(t @ ("ACK" | "RESULT" | "FULL")) => t,
        Some(_) => {
            return Err(ApiError::bad(
                -1100,
                "Illegal characters found in parameter 'newOrderRespType'.",
            ))
        }
        // Binance: MARKET and LIMIT default to FULL, other types to ACK.
        None if matches!(kind, OrderType::Market | OrderType::Limit) => "FULL",
        None => "ACK",
    };
    let client_order_id = client_id_param(params, "newClientOrderId")?;
    let id = e.place(
        account,
        NewOrder {
            symbol,
            side,
            kind,
            time_in_force,
            quantity,
            price,
            stop_price,
            client_order_id,
        },
    )?;
    let o = &e.orders()[id as usize - 1];
    let mut value = json!({"symbol": e.symbol_name(o.symbol), "orderId": o.id, "orderListId": -1,
        "clientOrderId": o.client_id, "transactTime": e.market_time()});
    if response_type != "ACK" {
        let quote = &e.symbols().nth(o.symbol).expect("symbol").quote_asset;
        merge(&mut value, order_fields(o));
        merge(&mut value, json!({"workingTime": o.working_time}));
        if !o.kind.has_stop() {
            value.as_object_mut().expect("object").remove("stopPrice");
        }
        if response_type == "FULL" {
            let fills: Vec<Value> = e
                .trades()
                .iter()
                .filter(|t| t.order_id == id)
                .map(|t| {
                    json!({"price": dec(t.price), "qty": dec(t.qty),
                    "commission": dec(t.commission), "commissionAsset": quote, "tradeId": t.id})
                })
                .collect();
            merge(&mut value, json!({"fills": fills}));
        }
    }
    Ok(value)
}

fn merge(target: &mut Value, extra: Value) {
    if let (Value::Object(t), Value::Object(x)) = (target, extra) {
        t.extend(x);
    }
}

fn cancel_order(e: &mut Exchange, account: usize, params: &Params) -> Result<Value, ApiError> {
    let s = e.symbol_index(params.required("symbol")?)?;
    let id = find(e, account, s, params)?
        .ok_or_else(|| ApiError::bad(-2011, "Unknown order sent."))?
        .id;
    let cancel_id = client_id_param(params, "newClientOrderId")?;
    cancel(e, id, cancel_id)
}

fn cancel(e: &mut Exchange, id: u64, cancel_id: Option<String>) -> Result<Value, ApiError> {
    let cancel_id = cancel_id.unwrap_or_else(|| e.generate_client_id());
    e.cancel(id, &cancel_id)?;
    let o = &e.orders()[id as usize - 1];
    let mut value = json!({"symbol": e.symbol_name(o.symbol), "origClientOrderId": o.client_id,
        "orderId": o.id, "orderListId": -1, "clientOrderId": cancel_id,
        "transactTime": e.market_time()});
    merge(&mut value, order_fields(o));
    Ok(value)
}

/// The order fields every order response shares.
fn order_fields(o: &Order) -> Value {
    json!({"price": dec(o.price), "origQty": dec(o.orig_qty),
        "executedQty": dec(o.executed_qty), "origQuoteOrderQty": "0",
        "cummulativeQuoteQty": dec(o.cum_quote), "status": o.status.as_str(),
        "timeInForce": o.time_in_force.as_str(), "type": o.kind.as_str(),
        "side": o.side.as_str(), "stopPrice": dec(o.stop_price),
        "selfTradePreventionMode": "NONE"})
}

/// The order object of `GET /api/v3/order` and `openOrders`.
fn order_query(e: &Exchange, o: &Order) -> Value {
    let mut value = json!({"symbol": e.symbol_name(o.symbol), "orderId": o.id, "orderListId": -1,
        "clientOrderId": o.client_id, "icebergQty": "0", "time": o.time,
        "updateTime": o.update_time, "isWorking": o.status.is_open() && o.working_time >= 0,
        "workingTime": o.working_time});
    merge(&mut value, order_fields(o));
    value
}

fn account_json(e: &Exchange, account: usize) -> Value {
    let s = e.settings();
    let bps = |rate: Decimal| {
        (rate * Decimal::from(10_000))
            .trunc()
            .to_string()
            .parse::<i64>()
            .unwrap_or(0)
    };
    let balances: Vec<Value> = e
        .account(account)
        .balances
        .iter()
        .map(|(asset, b)| json!({"asset": asset, "free": dec(b.free), "locked": dec(b.locked)}))
        .collect();
    json!({"makerCommission": bps(s.maker_fee), "takerCommission": bps(s.taker_fee),
        "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": dec(s.maker_fee), "taker": dec(s.taker_fee), "buyer": "0", "seller": "0"},
        "canTrade": true, "canWithdraw": false, "canDeposit": false, "brokered": false,
        "requireSelfTradePrevention": false, "preventSor": false, "updateTime": e.market_time(),
        "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": account + 1})
}

fn my_trades(e: &Exchange, account: usize, params: &Params) -> Result<Value, ApiError> {
    let s = e.symbol_index(params.required("symbol")?)?;
    let order_id = params.integer("orderId")?;
    let from_id = params.integer("fromId")?;
    let limit = params.integer("limit")?.unwrap_or(500).clamp(1, 1000) as usize;
    let quote = &e.symbols().nth(s).expect("symbol").quote_asset;
    let selected: Vec<_> = e
        .trades()
        .iter()
        .filter(|t| t.account == account && t.symbol == s)
        .filter(|t| order_id.is_none_or(|o| t.order_id == o as u64))
        .filter(|t| from_id.is_none_or(|f| t.id >= f as u64))
        .collect();
    Ok(Value::Array(
        page(selected, from_id.is_some(), limit)
            .map(|t| {
                json!({"symbol": e.symbol_name(s), "id": t.id, "orderId": t.order_id,
                "orderListId": -1, "price": dec(t.price), "qty": dec(t.qty),
                "quoteQty": dec(t.price * t.qty), "commission": dec(t.commission),
                "commissionAsset": quote, "time": t.time, "isBuyer": t.is_buyer,
                "isMaker": t.is_maker, "isBestMatch": true})
            })
            .collect(),
    ))
}

fn klines(shared: &Shared, params: &Params) -> Result<Value, ApiError> {
    let e = shared.exchange.lock().expect("exchange");
    let s = e.symbol_index(params.required("symbol")?)?;
    if params.required("interval")? != e.settings().kline_interval {
        return Err(ApiError::bad(-1120, "Invalid interval."));
    }
    let limit = params.integer("limit")?.unwrap_or(500).clamp(1, 1000) as usize;
    let start = params.integer("startTime")?;
    let end = params.integer("endTime")?;
    let selected: Vec<_> = e
        .klines(s)
        .iter()
        .filter(|k| {
            start.is_none_or(|t| k.bar.time_ms >= t) && end.is_none_or(|t| k.bar.time_ms <= t)
        })
        .collect();
    Ok(Value::Array(
        page(selected, start.is_some(), limit)
            .map(kline_row)
            .collect(),
    ))
}

fn exchange_info(shared: &Shared, params: &Params) -> Result<Value, ApiError> {
    let e = shared.exchange.lock().expect("exchange");
    // `symbol=S` or `symbols=["S1","S2"]`; none: every symbol.
    let wanted: Option<Vec<String>> = match (params.get("symbol"), params.get("symbols")) {
        (Some(s), _) => Some(vec![s.to_owned()]),
        (None, Some(list)) => Some(serde_json::from_str(list).map_err(|_| {
            ApiError::bad(-1100, "Illegal characters found in parameter 'symbols'.")
        })?),
        (None, None) => None,
    };
    for symbol in wanted.iter().flatten() {
        e.symbol_index(symbol)?;
    }
    let symbols: Vec<Value> = e
        .symbols()
        .filter(|c| wanted.as_ref().is_none_or(|w| w.contains(&c.symbol)))
        .map(|c| {
            let precision = |d: Decimal| d.normalize().scale().max(8);
            json!({"symbol": c.symbol, "status": "TRADING", "baseAsset": c.base_asset,
                "baseAssetPrecision": precision(c.step_size), "quoteAsset": c.quote_asset,
                "quotePrecision": precision(c.tick_size), "quoteAssetPrecision": precision(c.tick_size),
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT"],
                "icebergAllowed": false, "ocoAllowed": false, "isSpotTradingAllowed": true,
                "isMarginTradingAllowed": false, "cancelReplaceAllowed": false,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": dec(c.tick_size),
                     "maxPrice": MAX_PRICE.to_string(), "tickSize": dec(c.tick_size)},
                    {"filterType": "LOT_SIZE", "minQty": dec(c.min_qty()),
                     "maxQty": dec(c.max_qty()),
                     "stepSize": dec(c.step_size)},
                    {"filterType": "NOTIONAL", "minNotional": dec(c.min_notional),
                     "applyMinToMarket": true, "maxNotional": MAX_NOTIONAL.to_string(),
                     "applyMaxToMarket": false, "avgPriceMins": 0}
                ],
                "permissions": [], "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "NONE", "allowedSelfTradePreventionModes": ["NONE"]})
        })
        .collect();
    let (weight, orders) = shared.rate;
    Ok(json!({"timezone": "UTC", "serverTime": wall_ms(),
        "rateLimits": [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": orders}
        ],
        "exchangeFilters": [], "symbols": symbols}))
}

/// Binance's paging of trades and klines: with a start (`fromId`,
/// `startTime`) the oldest `limit` from there, otherwise the most recent `limit`.
fn page<T>(selected: Vec<T>, from_start: bool, limit: usize) -> impl Iterator<Item = T> {
    let skip = if from_start {
        0
    } else {
        selected.len().saturating_sub(limit)
    };
    selected.into_iter().skip(skip).take(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binance_signature_example() {
        let secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j";
        let query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559";
        let expected = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71";
        assert_eq!(sign(secret, query), expected);
        let signed = format!("{query}&signature={expected}");
        assert!(verify(secret, &signed, "", expected));
        // Query and body are concatenated as they are (Binance's mixed example).
        let (q, b) = query.split_at(query.find("quantity").unwrap());
        let mixed = sign(secret, &format!("{}{}", q.trim_end_matches('&'), b));
        assert!(verify(
            secret,
            q.trim_end_matches('&'),
            &format!("{b}&signature={mixed}"),
            &mixed
        ));
        assert!(!verify(
            secret,
            &signed.replace("price=0.1", "price=0.2"),
            "",
            expected
        ));
    }
}

//! The emulator over real HTTP and WebSocket on loopback: signatures, filters,
//! matching, replay, rate limits, faults and user-data streams.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use cracktrader_venue_emulator::config::EmulatorConfig;
use cracktrader_venue_emulator::faults::Faults;
use cracktrader_venue_emulator::rest::{sign, wall_ms};
use cracktrader_venue_emulator::{serve, Running};
use futures_util::{SinkExt, StreamExt};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

const BARS: &str = ",Open,High,Low,Close,Volume
2024-01-01 00:00,100,101,99,100.5,1000
2024-01-01 01:00,100.5,103,100,102,1000
2024-01-01 02:00,102,102.5,97,98,1000
2024-01-01 03:00,98,99,97.5,98.5,1000
";

const ALICE: (&str, &str) = ("alice", "alice-secret");
const BOB: (&str, &str) = ("bob", "bob-secret");

struct Venue {
    running: Running,
    http: reqwest::Client,
    _dir: TempDir,
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("venue-emulator-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

async fn start(name: &str, extra: &str, faults: Faults) -> Venue {
    let dir = temp_dir(name);
    std::fs::write(dir.0.join("bars.csv"), BARS).unwrap();
    let config = format!(
        r#"
kline_interval = "1h"
{extra}
[[symbols]]
symbol = "TESTUSD"
base_asset = "TEST"
quote_asset = "USD"
tick_size = "0.01"
step_size = "1"
min_notional = "1"
data = "bars.csv"

[[accounts]]
api_key = "alice"
secret = "alice-secret"
balances = {{ USD = "100000", TEST = "1000" }}

[[accounts]]
api_key = "bob"
secret = "bob-secret"
balances = {{ USD = "100000", TEST = "1000" }}
"#
    );
    let path = dir.0.join("emulator.toml");
    std::fs::write(&path, config).unwrap();
    let loaded = EmulatorConfig::load(&path).unwrap();
    let running = serve(loaded, faults, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    Venue {
        running,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

struct Reply {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Venue {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.running.addr)
    }

    async fn public(&self, path: &str) -> Reply {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        reply(r).await
    }

    /// A signed request with the params in the query string.
    async fn signed(
        &self,
        method: Method,
        path: &str,
        who: (&str, &str),
        params: &[(&str, &str)],
    ) -> Reply {
        let mut query = params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>();
        query.push(format!("timestamp={}", wall_ms()));
        let query = query.join("&");
        let signature = sign(who.1, &query);
        let r = self
            .http
            .request(
                method,
                self.url(&format!("/api/v3/{path}?{query}&signature={signature}")),
            )
            .header("X-MBX-APIKEY", who.0)
            .send()
            .await
            .unwrap();
        reply(r).await
    }

    async fn order(&self, who: (&str, &str), params: &[(&str, &str)]) -> Reply {
        let mut all = vec![("symbol", "TESTUSD")];
        all.extend_from_slice(params);
        self.signed(Method::POST, "order", who, &all).await
    }

    async fn state(&self) -> Value {
        self.public("/emulator/state").await.body
    }

    async fn advance(&self, bars: usize) {
        let r = self
            .http
            .post(self.url(&format!("/emulator/advance?bars={bars}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }

    async fn faults(&self, faults: Value) {
        let r = self
            .http
            .post(self.url("/emulator/faults"))
            .json(&faults)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    }

    async fn ws(&self, path: &str) -> Ws {
        let (socket, _) =
            tokio_tungstenite::connect_async(format!("ws://{}{path}", self.running.addr))
                .await
                .unwrap();
        socket
    }

    async fn listen_key(&self, who: (&str, &str)) -> String {
        let r = self
            .http
            .post(self.url("/api/v3/userDataStream"))
            .header("X-MBX-APIKEY", who.0)
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        body["listenKey"].as_str().unwrap().to_owned()
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn reply(r: reqwest::Response) -> Reply {
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.json().await.unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        body,
    }
}

fn d(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))).unwrap()
}

fn assert_error(r: &Reply, status: u16, code: i64) {
    assert_eq!(r.status.as_u16(), status, "{}", r.body);
    assert_eq!(r.body["code"], code, "{}", r.body);
}

/// Next text message as JSON, failing after a second.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(1), ws.next())
            .await
            .expect("a message within a second")
            .expect("stream open")
            .expect("no error");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).unwrap();
        }
    }
}

/// Per asset: sum over accounts of free + locked, plus fees, plus the market maker's net flow.
fn check_conservation(state: &Value) {
    let mut total: BTreeMap<String, Decimal> = BTreeMap::new();
    for balances in state["accounts"].as_object().unwrap().values() {
        for (asset, b) in balances.as_object().unwrap() {
            *total.entry(asset.clone()).or_default() += d(&b["free"]) + d(&b["locked"]);
        }
    }
    for part in ["fees", "market_maker"] {
        for (asset, v) in state[part].as_object().unwrap() {
            *total.entry(asset.clone()).or_default() += d(v);
        }
    }
    for (asset, initial) in state["initial"].as_object().unwrap() {
        assert_eq!(
            total[asset],
            d(initial),
            "asset {asset} not conserved: {state}"
        );
    }
}

fn balance(state: &Value, key: &str, asset: &str) -> (Decimal, Decimal) {
    let b = &state["accounts"][key][asset];
    (d(&b["free"]), d(&b["locked"]))
}

#[tokio::test]
async fn signatures_keys_and_recv_window() {
    let v = start("sig", "", Faults::default()).await;
    let ok = v.signed(Method::GET, "account", ALICE, &[]).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.body["canTrade"], true);
    assert!(ok.headers.contains_key("x-mbx-used-weight-1m"));

    let wrong_secret = v
        .signed(Method::GET, "account", ("alice", "nope"), &[])
        .await;
    assert_error(&wrong_secret, 400, -1022);
    let unknown = v
        .signed(Method::GET, "account", ("mallory", "x"), &[])
        .await;
    assert_error(&unknown, 401, -2015);

    // A stale timestamp, one from the future, an oversized window.
    for (timestamp, window, code) in [
        (wall_ms() - 10_000, "5000", -1021),
        (wall_ms() + 5_000, "5000", -1021),
        (wall_ms(), "60001", -1131),
    ] {
        let query = format!("recvWindow={window}&timestamp={timestamp}");
        let url = v.url(&format!(
            "/api/v3/account?{query}&signature={}",
            sign(ALICE.1, &query)
        ));
        let r = reply(
            v.http
                .get(url)
                .header("X-MBX-APIKEY", "alice")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_error(&r, 400, code);
    }

    // Params split between query and form body: the signature covers both, concatenated.
    let query = "symbol=TESTUSD&side=BUY&type=MARKET".to_owned();
    let body = format!("quantity=1&timestamp={}", wall_ms());
    let signature = sign(ALICE.1, &format!("{query}{body}"));
    let r = reply(
        v.http
            .post(v.url(&format!("/api/v3/order?{query}")))
            .header("X-MBX-APIKEY", "alice")
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!("{body}&signature={signature}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["status"], "FILLED");
    assert!(r.headers.contains_key("x-mbx-order-count-10s"));
}

#[tokio::test]
async fn filters_and_rejections() {
    let v = start("filters", "", Faults::default()).await;
    let limit = |price: &'static str, qty: &'static str| {
        [
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("price", price),
            ("quantity", qty),
        ]
    };
    let r = v.order(ALICE, &limit("99.001", "1")).await;
    assert_error(&r, 400, -1013);
    assert_eq!(r.body["msg"], "Filter failure: PRICE_FILTER");
    let r = v.order(ALICE, &limit("99", "1.5")).await;
    assert_eq!(r.body["msg"], "Filter failure: LOT_SIZE");
    let r = v.order(ALICE, &limit("0.5", "1")).await;
    assert_eq!(r.body["msg"], "Filter failure: NOTIONAL");
    let r = v.order(ALICE, &limit("99", "100000")).await;
    assert_error(&r, 400, -2010);
    assert_eq!(
        r.body["msg"],
        "Account has insufficient balance for requested action."
    );
    let r = v
        .signed(
            Method::POST,
            "order",
            ALICE,
            &[
                ("symbol", "NOPE"),
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "1"),
            ],
        )
        .await;
    assert_error(&r, 400, -1121);
    let r = v
        .order(
            ALICE,
            &[
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("price", "99"),
                ("quantity", "1"),
            ],
        )
        .await;
    assert_error(&r, 400, -1102);
    // Post-only at the synthetic ask (100.01) would take.
    let r = v
        .order(
            ALICE,
            &[
                ("side", "BUY"),
                ("type", "LIMIT_MAKER"),
                ("price", "100.01"),
                ("quantity", "1"),
            ],
        )
        .await;
    assert_eq!(r.body["msg"], "Order would immediately match and take.");
    // A sell stop above the last price (100) would trigger at once.
    let r = v
        .order(
            ALICE,
            &[
                ("side", "SELL"),
                ("type", "STOP_LOSS"),
                ("stopPrice", "100.5"),
                ("quantity", "1"),
            ],
        )
        .await;
    assert_eq!(r.body["msg"], "Stop price would trigger immediately.");
    let mut with_id = limit("99", "1").to_vec();
    with_id.push(("newClientOrderId", "dup-1"));
    assert_eq!(v.order(ALICE, &with_id).await.status, StatusCode::OK);
    let r = v.order(ALICE, &with_id).await;
    assert_eq!(r.body["msg"], "Duplicate order sent.");
    // The refused orders left nothing behind.
    let state = v.state().await;
    assert_eq!(state["orders"].as_array().unwrap().len(), 1);
    check_conservation(&state);
}

#[tokio::test]
async fn market_limit_replay_and_cancel() {
    let v = start("matching", "maker_fee = \"0.0005\"", Faults::default()).await;
    // Market buy against the synthetic ask: last 100, two-tick spread.
    let r = v
        .order(
            ALICE,
            &[("side", "BUY"), ("type", "MARKET"), ("quantity", "10")],
        )
        .await;
    assert_eq!(r.body["status"], "FILLED", "{}", r.body);
    let fill = &r.body["fills"][0];
    assert_eq!(d(&fill["price"]), Decimal::from_str("100.01").unwrap());
    assert_eq!(d(&fill["commission"]), Decimal::from_str("1.0001").unwrap());
    assert_eq!(fill["commissionAsset"], "USD");

    // A resting bid at 99.5 is filled as maker when the first bar's path reaches 99.
    let r = v
        .order(
            ALICE,
            &[
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("price", "99.5"),
                ("quantity", "20"),
                ("newClientOrderId", "bid-1"),
            ],
        )
        .await;
    assert_eq!(r.body["status"], "NEW");
    let state = v.state().await;
    let (_, locked) = balance(&state, "alice", "USD");
    assert_eq!(locked, Decimal::from_str("1991.99").unwrap()); // 99.5 × 20 × 1.001
                                                               // Another bid below every price of the data, to cancel.
    let r = v
        .order(
            ALICE,
            &[
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("price", "50"),
                ("quantity", "3"),
            ],
        )
        .await;
    let low_id = r.body["orderId"].as_u64().unwrap().to_string();
    v.advance(1).await;
    let q = v
        .signed(
            Method::GET,
            "order",
            ALICE,
            &[("symbol", "TESTUSD"), ("origClientOrderId", "bid-1")],
        )
        .await;
    assert_eq!(q.body["status"], "FILLED", "{}", q.body);
    assert_eq!(d(&q.body["cummulativeQuoteQty"]), Decimal::from(1990));
    let trades = v
        .signed(Method::GET, "myTrades", ALICE, &[("symbol", "TESTUSD")])
        .await;
    let trades = trades.body.as_array().unwrap().clone();
    assert_eq!(trades.len(), 2);
    assert_eq!(trades[1]["isMaker"], true);
    assert_eq!(
        d(&trades[1]["commission"]),
        Decimal::from_str("0.995").unwrap()
    );

    let open = v
        .signed(Method::GET, "openOrders", ALICE, &[("symbol", "TESTUSD")])
        .await;
    assert_eq!(open.body.as_array().unwrap().len(), 1);
    let c = v
        .signed(
            Method::DELETE,
            "order",
            ALICE,
            &[("symbol", "TESTUSD"), ("orderId", &low_id)],
        )
        .await;
    assert_eq!(c.body["status"], "CANCELED", "{}", c.body);
    let again = v
        .signed(
            Method::DELETE,
            "order",
            ALICE,
            &[("symbol", "TESTUSD"), ("orderId", &low_id)],
        )
        .await;
    assert_error(&again, 400, -2011);
    let missing = v
        .signed(
            Method::GET,
            "order",
            ALICE,
            &[("symbol", "TESTUSD"), ("orderId", "999")],
        )
        .await;
    assert_error(&missing, 400, -2013);

    let state = v.state().await;
    assert_eq!(balance(&state, "alice", "USD").1, Decimal::ZERO);
    assert_eq!(balance(&state, "alice", "TEST").0, Decimal::from(1030));
    check_conservation(&state);

    let klines = v.public("/api/v3/klines?symbol=TESTUSD&interval=1h").await;
    let rows = klines.body.as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], 1_704_067_200_000i64);
    assert_eq!(rows[0][6], 1_704_067_200_000i64 + 3_600_000 - 1);
}

#[tokio::test]
async fn stops_ioc_fok_and_user_matching() {
    let v = start("stops", "", Faults::default()).await;
    // Sell stop at 99.5: the first bar goes 100 → 101 → 99 → 100.5.
    let r = v
        .order(
            ALICE,
            &[
                ("side", "SELL"),
                ("type", "STOP_LOSS"),
                ("stopPrice", "99.5"),
                ("quantity", "5"),
                ("newOrderRespType", "RESULT"),
            ],
        )
        .await;
    assert_eq!(r.body["status"], "NEW", "{}", r.body);
    assert_eq!(r.body["workingTime"], -1);
    // FOK for more than the book has expires untouched; IOC above the book expires.
    let r = v
        .order(
            BOB,
            &[
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "FOK"),
                ("price", "100.01"),
                ("quantity", "200000"),
            ],
        )
        .await;
    assert_error(&r, 400, -2010); // 200000 × 100.01 is more than Bob's USD
    let r = v
        .order(
            BOB,
            &[
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "IOC"),
                ("price", "99"),
                ("quantity", "5"),
            ],
        )
        .await;
    assert_eq!(r.body["status"], "EXPIRED");
    // Bob offers at the synthetic ask; Alice's bid there matches Bob first (same price, user priority).
    let r = v
        .order(
            BOB,
            &[
                ("side", "SELL"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("price", "100.01"),
                ("quantity", "4"),
            ],
        )
        .await;
    assert_eq!(r.body["status"], "NEW");
    let r = v
        .order(
            ALICE,
            &[
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "FOK"),
                ("price", "100.01"),
                ("quantity", "6"),
            ],
        )
        .await;
    assert_eq!(r.body["status"], "FILLED", "{}", r.body);
    let fills = r.body["fills"].as_array().unwrap();
    assert_eq!(fills.len(), 2);
    let bob_trades = v
        .signed(Method::GET, "myTrades", BOB, &[("symbol", "TESTUSD")])
        .await;
    assert_eq!(bob_trades.body[0]["id"], fills[0]["tradeId"]);
    assert_eq!(bob_trades.body[0]["isMaker"], true);

    v.advance(1).await;
    let state = v.state().await;
    let stop = &state["orders"][0];
    assert_eq!(stop["status"], "FILLED", "{state}");
    let trades = v
        .signed(
            Method::GET,
            "myTrades",
            ALICE,
            &[("symbol", "TESTUSD"), ("orderId", "1")],
        )
        .await;
    // Triggered at 99, sold at the synthetic bid one tick below.
    assert_eq!(
        d(&trades.body[0]["price"]),
        Decimal::from_str("98.99").unwrap()
    );
    check_conservation(&state);
}

#[tokio::test]
async fn weight_limit_429_then_418() {
    let v = start(
        "limits",
        "request_weight_per_minute = 45",
        Faults::default(),
    )
    .await;
    for _ in 0..2 {
        let r = v.signed(Method::GET, "account", ALICE, &[]).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let r = v.signed(Method::GET, "account", ALICE, &[]).await;
    assert_error(&r, 429, -1003);
    assert!(
        r.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    for _ in 0..3 {
        assert_eq!(
            v.signed(Method::GET, "account", ALICE, &[]).await.status,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
    let r = v.signed(Method::GET, "account", ALICE, &[]).await;
    assert_eq!(r.status, StatusCode::IM_A_TEAPOT);
    assert!(r.headers.contains_key("retry-after"));
    // Limits are per key.
    assert_eq!(
        v.signed(Method::GET, "account", BOB, &[]).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn rest_faults() {
    let mut faults = Faults::default();
    faults.set_arg("http_5xx_every=2").unwrap();
    let v = start("faults", "", faults).await;
    let buy = [("side", "BUY"), ("type", "MARKET"), ("quantity", "1")];
    assert_eq!(v.order(ALICE, &buy).await.status, StatusCode::OK);
    let r = v.order(ALICE, &buy).await;
    assert_error(&r, 503, -1001);
    assert_eq!(
        v.state().await["orders"].as_array().unwrap().len(),
        1,
        "the 5xx order was not processed"
    );

    v.faults(json!({"http_5xx_every": 0, "lost_response_every": 1}))
        .await;
    let r = v
        .order(
            ALICE,
            &[
                ("side", "BUY"),
                ("type", "MARKET"),
                ("quantity", "1"),
                ("newClientOrderId", "lost-1"),
            ],
        )
        .await;
    assert_error(&r, 504, -1007);
    let q = v
        .signed(
            Method::GET,
            "order",
            ALICE,
            &[("symbol", "TESTUSD"), ("origClientOrderId", "lost-1")],
        )
        .await;
    assert_eq!(
        q.body["status"], "FILLED",
        "the lost order went through: {}",
        q.body
    );

    v.faults(json!({"lost_response_every": 0, "http_429_every": 3, "latency_ms": 150}))
        .await;
    let shown = v.public("/emulator/faults").await.body;
    assert_eq!(shown["http_429_every"], 3);
    let started = Instant::now();
    let first = v.signed(Method::GET, "account", BOB, &[]).await;
    let second = v.signed(Method::GET, "account", BOB, &[]).await;
    let third = v.signed(Method::GET, "account", BOB, &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(450));
    assert_eq!(
        (first.status, second.status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_error(&third, 429, -1003);
    assert_eq!(third.headers["retry-after"], "1");
    check_conservation(&v.state().await);
}

#[tokio::test]
async fn user_data_stream_events_and_faults() {
    let v = start("user", "", Faults::default()).await;
    let key = v.listen_key(ALICE).await;
    let mut ws = v.ws(&format!("/ws/{key}")).await;
    v.order(
        ALICE,
        &[
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", "2"),
            ("newClientOrderId", "ws-1"),
        ],
    )
    .await;
    let new = next_json(&mut ws).await;
    assert_eq!(
        (new["e"].as_str(), new["x"].as_str(), new["c"].as_str()),
        (Some("executionReport"), Some("NEW"), Some("ws-1"))
    );
    let trade = next_json(&mut ws).await;
    assert_eq!(
        (trade["x"].as_str(), trade["X"].as_str()),
        (Some("TRADE"), Some("FILLED"))
    );
    assert_eq!(d(&trade["L"]), Decimal::from_str("100.01").unwrap());
    assert_eq!(trade["N"], "USD");
    let position = next_json(&mut ws).await;
    assert_eq!(position["e"], "outboundAccountPosition");
    assert_eq!(position["B"].as_array().unwrap().len(), 2);

    // Duplicates: every event twice.
    v.faults(json!({"duplicate_events": true})).await;
    v.order(
        ALICE,
        &[
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("price", "90"),
            ("quantity", "1"),
            ("newClientOrderId", "dup"),
        ],
    )
    .await;
    let a = next_json(&mut ws).await;
    let b = next_json(&mut ws).await;
    assert_eq!(a, b);
    assert_eq!(a["c"], "dup");
    let _ = next_json(&mut ws).await;
    let _ = next_json(&mut ws).await;

    // Reordering: the execution report comes after the position that followed it.
    v.faults(json!({"duplicate_events": false, "reorder_events": true}))
        .await;
    v.order(
        ALICE,
        &[
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("price", "90"),
            ("quantity", "1"),
            ("newClientOrderId", "swap"),
        ],
    )
    .await;
    assert_eq!(next_json(&mut ws).await["e"], "outboundAccountPosition");
    assert_eq!(next_json(&mut ws).await["c"], "swap");
    // Three events: the first pair swapped, the last one flushed alone after a short wait.
    v.order(
        ALICE,
        &[("side", "BUY"), ("type", "MARKET"), ("quantity", "1")],
    )
    .await;
    assert_eq!(next_json(&mut ws).await["x"], "TRADE");
    assert_eq!(next_json(&mut ws).await["x"], "NEW");
    assert_eq!(next_json(&mut ws).await["e"], "outboundAccountPosition");

    // Closing the listen key ends the stream.
    v.faults(json!({"reorder_events": false})).await;
    let url = v.url(&format!("/api/v3/userDataStream?listenKey={key}"));
    let r = v
        .http
        .delete(url)
        .header("X-MBX-APIKEY", "alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(next_json(&mut ws).await["e"], "listenKeyExpired");
}

#[tokio::test]
async fn market_streams_and_dropped_connection() {
    let v = start("market", "", Faults::default()).await;
    let mut ws = v
        .ws("/stream?streams=testusd@trade/testusd@kline_1h/testusd@bookTicker")
        .await;
    // Ping is answered.
    ws.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
    v.advance(1).await;
    let mut kinds = Vec::new();
    loop {
        let m = next_json(&mut ws).await;
        let stream = m["stream"].as_str().unwrap().to_owned();
        kinds.push(stream.clone());
        if stream.ends_with("kline_1h") {
            let k = &m["data"]["k"];
            assert_eq!(
                (k["x"].as_bool(), k["o"].as_str(), k["c"].as_str()),
                (Some(true), Some("100"), Some("100.5"))
            );
            break;
        }
    }
    // Four path points: a book ticker and a trade each, then the kline.
    assert_eq!(kinds.len(), 9, "{kinds:?}");
    assert_eq!(kinds[0], "testusd@bookTicker");
    assert_eq!(kinds[1], "testusd@trade");

    // A live subscription on a bare connection.
    let mut live = v.ws("/ws").await;
    live.send(Message::Text(
        r#"{"method":"SUBSCRIBE","params":["testusd@kline_1h"],"id":7}"#.into(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut live).await, json!({"result": null, "id": 7}));
    v.advance(1).await;
    let kline = next_json(&mut live).await;
    assert_eq!(
        (kline["e"].as_str(), kline["k"]["o"].as_str()),
        (Some("kline"), Some("100.5"))
    );
    let info = v
        .public("/api/v3/exchangeInfo?symbols=%5B%22TESTUSD%22%5D")
        .await;
    assert_eq!(info.body["symbols"][0]["symbol"], "TESTUSD");
    assert_eq!(
        v.public("/api/v3/exchangeInfo?symbol=NOPE").await.body["code"],
        -1121
    );

    v.faults(json!({"drop_ws_every": 3})).await;
    let mut raw = v.ws("/ws/testusd@trade").await;
    v.advance(2).await;
    for _ in 0..3 {
        assert_eq!(next_json(&mut raw).await["e"], "trade");
    }
    let end = tokio::time::timeout(Duration::from_secs(1), raw.next())
        .await
        .unwrap();
    assert!(
        !matches!(
            end,
            Some(Ok(Message::Text(_))) | Some(Ok(Message::Close(_)))
        ),
        "dropped without a close frame: {end:?}"
    );
    v.advance(10).await;
    assert_eq!(v.state().await["replay_done"], true);
}

#[tokio::test]
async fn binary_prints_its_address_and_serves() {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/venue/emulator.toml");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_cracktrader-venue-emulator"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "--fault",
            "latency_ms=1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    let line = lines.next_line().await.unwrap().unwrap();
    let addr = line.strip_prefix("listening on 127.0.0.1:").expect(&line);
    let http = reqwest::Client::new();
    let info: Value = http
        .get(format!(
            "http://127.0.0.1:{addr}/api/v3/exchangeInfo?symbol=EURUSD"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["symbols"][0]["filters"][0]["tickSize"], "0.00001");
    let faults: Value = http
        .get(format!("http://127.0.0.1:{addr}/emulator/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(faults["latency_ms"], 1);
    // The replay clock runs by itself (one bar per 20 ms in the example).
    let mut replayed = 0;
    for _ in 0..100 {
        let state: Value = http
            .get(format!("http://127.0.0.1:{addr}/emulator/state"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        replayed = state["bars_replayed"].as_u64().unwrap();
        if replayed >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(replayed >= 3, "the clock replayed {replayed} bars");
    child.kill().await.unwrap();

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_cracktrader-venue-emulator"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "--fault",
            "nonsense=1",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown fault 'nonsense'"));
}

/// `POST /emulator/restart` forgets everything — orders, trades, balances,
/// listen keys, the replay position — and closes every WebSocket
/// connection; `requests` counts what the venue received.
#[tokio::test]
async fn restart_loses_all_state_and_closes_connections() {
    let v = start("restart", "", Faults::default()).await;
    let before = v.state().await["requests"].as_u64().unwrap();
    assert_eq!(before, 0, "admin requests are not venue requests");
    let key = v.listen_key(ALICE).await;
    let mut user = v.ws(&format!("/ws/{key}")).await;
    let mut market = v.ws("/ws/testusd@kline_1h").await;
    let placed = v
        .order(
            ALICE,
            &[
                ("side", "BUY"),
                ("type", "LIMIT"),
                ("timeInForce", "GTC"),
                ("quantity", "1"),
                ("price", "50"),
            ],
        )
        .await;
    assert_eq!(placed.status, StatusCode::OK, "{}", placed.body);
    assert_eq!(next_json(&mut user).await["e"], "executionReport");
    v.advance(2).await;
    let state = v.state().await;
    assert_eq!(state["orders"].as_array().unwrap().len(), 1);
    assert_eq!(state["bars_replayed"], 2);
    assert_eq!(state["requests"], 4, "userDataStream, 2 connections, order");

    let r = v
        .http
        .post(v.url("/emulator/restart"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let state = v.state().await;
    assert_eq!(state["orders"], json!([]));
    assert_eq!(state["trades"], json!([]));
    assert_eq!(state["bars_replayed"], 0);
    assert_eq!(
        balance(&state, "alice", "USD"),
        (Decimal::from(100_000), Decimal::ZERO)
    );
    assert_eq!(state["requests"], 4, "a restart does not reset the count");
    for ws in [&mut user, &mut market] {
        // What was sent before the restart may still arrive; then the end.
        while let Some(Ok(Message::Text(_))) =
            tokio::time::timeout(Duration::from_secs(1), ws.next())
                .await
                .expect("closed within a second")
        {}
    }
    let gone = v
        .signed(Method::GET, "openOrders", ALICE, &[("symbol", "TESTUSD")])
        .await;
    assert_eq!(gone.body, json!([]));
    // The old listen key is forgotten.
    let stale = tokio_tungstenite::connect_async(format!("ws://{}/ws/{key}", v.running.addr)).await;
    assert!(stale.is_err(), "a forgotten listen key was accepted");
}

//! Bad input, proven harmless: property tests that send a running server generated REST requests (routes,
//! methods, bodies, query strings), tokens (garbage, forged, expired, tampered, and claims of every shape signed
//! with the server's own secret) and raw Engine.IO / Socket.IO frames, before and after authentication.
//!
//! Oracle, for every case: no 5xx (a 4xx with a `{message}` in words instead), nothing written to the store,
//! no panic anywhere in the process (a panic hook counts them, server tasks included), and afterwards the
//! server still serves a customer end to end. `BAD_INPUT_CASES` sets the cases per property (CI: a few dozen;
//! `cargo xtask fuzz`: thousands).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{http, login, open_order, set_status, RsClient, TestServer};

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// The fixture runtime's threads: the server's tasks and blocking work run on them.
const SERVER_THREADS: &str = "bad-input-server";

/// Counts every panic on the fixture's server threads (other tests of this binary run beside it), then lets
/// the default hook report it.
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if std::thread::current().name().is_some_and(|n| n.starts_with(SERVER_THREADS)) {
                PANICS.fetch_add(1, Ordering::SeqCst);
            }
            default(info);
        }));
    });
}

fn cases(default: u32) -> u32 {
    std::env::var("BAD_INPUT_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A server on its own runtime (the property runner blocks on requests from the test thread), with limits
/// loose enough that the generated traffic measures input handling, not the rate limits.
struct Fixture {
    rt: tokio::runtime::Runtime,
    server: TestServer,
    customer: String,
    secret: Vec<u8>,
}

impl Fixture {
    fn start() -> Fixture {
        count_panics();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(SERVER_THREADS)
            .enable_all()
            .build()
            .unwrap();
        let server = rt.block_on(TestServer::start_with(|c| {
            c.login_attempts_per_minute = 1_000_000;
            c.login_failures_free = 1_000_000;
            c.socket_events_per_second = 1_000_000;
            c.socket_event_burst = 1_000_000;
        }));
        let customer = rt.block_on(login(&server.api(), "alice@example.com", "alice-pass")).token;
        let secret = std::fs::read(order_server::auth::generated_secret_path(&server.db_path())).unwrap();
        Fixture { rt, server, customer, secret }
    }

    /// What the store holds, row counts of every table a request could write.
    fn writes(&self) -> Vec<i64> {
        self.rt.block_on(async {
            let mut counts = vec![self.server.server.ctx().store.latest_seq().await.unwrap() as i64];
            for table in ["users", "orders", "token_families", "session_ends", "notification_reads", "notifications"] {
                let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}"))
                    .fetch_one(self.server.server.ctx().store.pool())
                    .await
                    .unwrap();
                counts.push(n);
            }
            let (ended,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM token_families WHERE ended_at IS NOT NULL")
                .fetch_one(self.server.server.ctx().store.pool())
                .await
                .unwrap();
            counts.push(ended);
            counts
        })
    }

    /// The server still does its job: a customer connects, and a change reaches them.
    fn still_serves(&self) {
        self.rt.block_on(async {
            let api = self.server.api();
            let owner = login(&api, "owner@example.com", "owner-pass").await;
            let mut c = RsClient::connect(&self.server.base(), Some(&self.customer)).await;
            c.connected().await;
            let order = open_order(&api, &self.customer).await;
            let (code, body) = set_status(&api, &owner.token, &order.id, order.status.next().unwrap().as_str()).await;
            assert_eq!(code, 200, "{body}");
            loop {
                let (name, payload) = c.event().await;
                if name == "customer_order_update" && payload["orderId"] == order.id.as_str() {
                    break;
                }
            }
            c.close().await;
        });
        assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic happened on a server thread");
    }
}

/// One generated request.
#[derive(Clone, Debug)]
struct Req {
    method: &'static str,
    path: String,
    token: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("pending"),
            Just("confirmed"),
            Just("delivered"),
            Just("alice@example.com"),
            Just("owner@example.com")
        ]
        .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("email".to_owned()),
                        Just("password".to_owned()),
                        Just("items".to_owned()),
                        Just("status".to_owned()),
                        Just("location".to_owned()),
                        Just("deliveryAddress".to_owned()),
                        Just("name".to_owned()),
                        Just("quantity".to_owned()),
                        Just("price".to_owned()),
                        ".{0,12}"
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A path segment: an id-like string, a real-looking one, or bytes that need percent-encoding.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9a-f]{24}",
        "[a-zA-Z0-9_.~-]{0,30}",
        ".{0,20}".prop_map(|s| s.bytes().map(|b| format!("%{b:02X}")).collect()),
        Just("..%2F..%2Fetc%2Fpasswd".to_owned()),
        Just("%00".to_owned()),
    ]
}

fn path() -> impl Strategy<Value = String> {
    let query = prop_oneof![
        Just(String::new()),
        "[a-z]{0,6}=[^&#]{0,12}(&[a-z]{0,6}=[^&#]{0,12}){0,3}".prop_map(|q| format!("?{}", q.replace(' ', "%20"))),
        prop_oneof![Just("since"), Just("limit")].prop_flat_map(|k| {
            prop_oneof![
                any::<i64>().prop_map(|n| n.to_string()),
                any::<u64>().prop_map(|n| n.to_string()),
                "[-+0-9eE.x]{0,24}",
            ]
            .prop_map(move |v| format!("?{k}={v}"))
        }),
    ];
    let route = prop_oneof![
        Just("/api/auth/login".to_owned()),
        Just("/api/auth/me".to_owned()),
        Just("/api/auth/refresh".to_owned()),
        Just("/api/auth/logout".to_owned()),
        Just("/api/orders".to_owned()),
        Just("/api/orders/changes".to_owned()),
        segment().prop_map(|id| format!("/api/orders/{id}")),
        segment().prop_map(|id| format!("/api/orders/{id}/status")),
        segment().prop_map(|id| format!("/api/orders/{id}/delivery")),
        Just("/api/notifications".to_owned()),
        Just("/api/notifications/read-all".to_owned()),
        segment().prop_map(|id| format!("/api/notifications/{id}/read")),
        Just("/api/health".to_owned()),
        Just("/api/metrics".to_owned()),
        segment().prop_map(|s| format!("/api/{s}")),
    ];
    (route, query).prop_map(|(r, q)| format!("{r}{q}"))
}

fn body() -> impl Strategy<Value = (Option<&'static str>, Vec<u8>)> {
    prop_oneof![
        Just((None, Vec::new())),
        json_value().prop_map(|v| (Some("application/json"), v.to_string().into_bytes())),
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| (Some("application/json"), b)),
        ".{0,100}".prop_map(|s| (Some("text/plain"), s.into_bytes())),
        (1usize..200_000)
            .prop_map(|n| (Some("application/json"), format!("{{\"email\":\"{}\"}}", "a".repeat(n)).into_bytes())),
    ]
}

/// Tokens that must all be refused where a token is needed: nothing, garbage, three base64 parts of garbage,
/// and claims of any shape signed with the server's own secret (all lack a living sign-in).
fn token(secret: Vec<u8>) -> impl Strategy<Value = Option<String>> {
    let signed = json_value().prop_map(move |claims| {
        let key = jsonwebtoken::EncodingKey::from_secret(&secret);
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), &claims, &key).ok()
    });
    prop_oneof![
        Just(None),
        ".{0,64}".prop_map(Some),
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}".prop_map(Some),
        json_value().prop_map(|claims| Some(unsigned(&claims))),
        signed,
    ]
}

/// A token with `alg: none` and no signature, carrying `claims`.
fn unsigned(claims: &Value) -> String {
    format!("{}.{}.", base64url(br#"{"alg":"none","typ":"JWT"}"#), base64url(claims.to_string().as_bytes()))
}

fn base64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn request(secret: Vec<u8>) -> impl Strategy<Value = Req> {
    let method = prop_oneof![Just("GET"), Just("POST"), Just("PATCH"), Just("PUT"), Just("DELETE"), Just("OPTIONS")];
    (method, path(), token(secret), body()).prop_map(|(method, path, token, (content_type, body))| Req {
        method,
        path,
        token,
        content_type,
        body,
    })
}

/// Sends `req`; the answer must be no 5xx, and an error must say what is wrong in a `{message}`.
async fn check(base: &str, req: &Req) -> Result<(), TestCaseError> {
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).unwrap();
    let mut r = http().request(method, format!("{base}{}", req.path)).body(req.body.clone());
    if let Some(t) = &req.token {
        // A header value cannot hold every string; those never reach the server.
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {t}")).is_err() {
            return Ok(());
        }
        r = r.bearer_auth(t);
    }
    if let Some(ct) = req.content_type {
        r = r.header("content-type", ct);
    }
    let res = r.send().await.map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    prop_assert!(!status.is_server_error(), "{} {} -> {status}: {text}", req.method, req.path);
    if status.is_client_error() && req.method != "OPTIONS" {
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let message = body["message"].as_str().unwrap_or("");
        prop_assert!(!message.is_empty(), "{} {} -> {status} without a message: {text:?}", req.method, req.path);
    }
    Ok(())
}

#[test]
fn generated_rest_requests_get_a_4xx_in_words_and_write_nothing() {
    let f = Fixture::start();
    let before = f.writes();
    let base = f.server.base();
    let mut runner = TestRunner::new(Config { cases: cases(96), failure_persistence: None, ..Config::default() });
    let result = runner.run(&request(f.secret.clone()), |req| f.rt.block_on(check(&base, &req)));
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(f.writes(), before, "bad input wrote to the store");
    f.still_serves();
}

/// A customer's own token with generated query strings on the change log and generated ids elsewhere: reads
/// only, so every answer is a 2xx or a 4xx in words, and nothing is written.
#[test]
fn generated_queries_and_ids_with_a_valid_token_write_nothing() {
    let f = Fixture::start();
    let before = f.writes();
    let base = f.server.base();
    let token = f.customer.clone();
    let reads = path().prop_map(move |path| Req {
        method: "GET",
        path,
        token: Some(token.clone()),
        content_type: None,
        body: Vec::new(),
    });
    let mut runner = TestRunner::new(Config { cases: cases(96), failure_persistence: None, ..Config::default() });
    if let Err(e) = runner.run(&reads, |req| f.rt.block_on(check(&base, &req))) {
        panic!("{e}");
    }
    assert_eq!(f.writes(), before, "a read wrote to the store");
    f.still_serves();
}

/// One raw Engine.IO session: frames sent before a CONNECT, the CONNECT (with a generated or the real auth
/// payload), then more frames.
#[derive(Clone, Debug)]
struct RawSession {
    before: Vec<Frame>,
    auth: Option<Value>,
    after: Vec<Frame>,
}

#[derive(Clone, Debug)]
enum Frame {
    Text(String),
    Binary(Vec<u8>),
}

fn frame() -> impl Strategy<Value = Frame> {
    let socket_io = prop_oneof![
        // Socket.IO packets of every type, with or without attachments, namespaces and ack ids.
        ("[0-6]", "([0-9]{1,3}-)?", "(/[a-z]{0,5},)?", "[0-9]{0,4}", json_value())
            .prop_map(|(t, att, ns, ack, v)| format!("4{t}{att}{ns}{ack}{v}")),
        ("[0-6]", ".{0,60}").prop_map(|(t, s)| format!("4{t}{s}")),
        json_value().prop_map(|v| format!("42[\"join_order_room\",{v}]")),
        json_value().prop_map(|v| format!("42[\"leave_order_room\",{v}]")),
        json_value().prop_map(|v| format!("421[\"join_order_room\",{v}]")),
        Just("451-[\"join_order_room\",{\"_placeholder\":true,\"num\":0}]".to_owned()),
    ];
    prop_oneof![
        // Engine.IO packets: open, close, ping, pong, message, upgrade, noop, and junk.
        "[0-6]{0,1}.{0,40}".prop_map(Frame::Text),
        socket_io.prop_map(Frame::Text),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Frame::Binary),
    ]
}

fn raw_session() -> impl Strategy<Value = RawSession> {
    (
        prop::collection::vec(frame(), 0..4),
        prop_oneof![Just(None), json_value().prop_map(Some), ".{0,30}".prop_map(|s| Some(json!({ "token": s })))],
        prop::collection::vec(frame(), 0..8),
    )
        .prop_map(|(before, auth, after)| RawSession { before, auth, after })
}

async fn play(base: &str, customer: &str, session: &RawSession) -> Result<(), TestCaseError> {
    let url = format!("{}/socket.io/?EIO=4&transport=websocket", base.replace("http://", "ws://"));
    let (mut ws, _) =
        tokio_tungstenite::connect_async(url).await.map_err(|e| TestCaseError::fail(format!("no websocket: {e}")))?;
    let send = |f: &Frame| match f {
        Frame::Text(t) => Message::text(t.clone()),
        Frame::Binary(b) => Message::binary(b.clone()),
    };
    for f in &session.before {
        if ws.send(send(f)).await.is_err() {
            return Ok(()); // closed by the server: a fine answer to garbage
        }
    }
    let auth = session.auth.clone().unwrap_or_else(|| json!({ "token": customer }));
    let _ = ws.send(Message::text(format!("40{auth}"))).await;
    for f in &session.after {
        if ws.send(send(f)).await.is_err() {
            return Ok(());
        }
    }
    // Whatever comes back within a moment is drained; the connection may be closed, never the server hurt.
    let _ = tokio::time::timeout(Duration::from_millis(50), async { while let Some(Ok(_)) = ws.next().await {} }).await;
    let _ = ws.close(None).await;
    Ok(())
}

#[test]
fn generated_engine_io_and_socket_io_frames_do_no_harm() {
    let f = Fixture::start();
    let before = f.writes();
    let base = f.server.base();
    let customer = f.customer.clone();
    let mut runner = TestRunner::new(Config { cases: cases(64), failure_persistence: None, ..Config::default() });
    if let Err(e) = runner.run(&raw_session(), |s| f.rt.block_on(play(&base, &customer, &s))) {
        panic!("{e}");
    }
    assert_eq!(f.writes(), before, "socket frames wrote to the store");
    // Every session was closed: the server counts no socket any more (a count that leaks would refuse honest
    // customers at the per-address cap one day).
    f.rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let open = f.server.metrics().await["connectedSockets"].as_i64();
            if open == Some(0) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{open:?} sockets still counted after every session closed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    f.still_serves();
}

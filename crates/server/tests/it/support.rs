//! Helpers shared by the tests: a seeded server in a temp dir, logins, and waiting for conditions.

use std::time::Duration;

use order_protocol::{LoginResponse, Order};
use order_server::{spawn, RunningServer, ServerConfig};
use serde_json::Value;

/// Generous: the machine is small and shared.
pub const WAIT: Duration = Duration::from_secs(30);

pub struct TestServer {
    pub server: RunningServer,
    /// Kept so the database lives as long as the server.
    dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut ServerConfig)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::for_tests(dir.path().join("orders.db"));
        tweak(&mut config);
        let server = spawn(config).await.expect("server starts");
        TestServer { server, dir }
    }

    /// The server's database file.
    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("orders.db")
    }

    pub fn api(&self) -> String {
        self.server.api_url()
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// `/metrics`, from its own listener.
    pub async fn metrics(&self) -> Value {
        let addr = self.server.metrics_addr().expect("test servers serve metrics");
        let res = http().get(format!("http://{addr}/metrics")).send().await.expect("GET /metrics");
        assert_eq!(res.status(), 200);
        res.json().await.expect("metrics body")
    }
}

pub fn http() -> reqwest::Client {
    reqwest::Client::builder().timeout(WAIT).build().expect("http client")
}

pub async fn login(api: &str, email: &str, password: &str) -> LoginResponse {
    let res = http()
        .post(format!("{api}/auth/login"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("login request");
    assert_eq!(res.status(), 200, "login of {email}");
    res.json().await.expect("login body")
}

pub async fn get_json(api: &str, token: &str, path: &str) -> (u16, Value) {
    let res = http().get(format!("{api}{path}")).bearer_auth(token).send().await.expect("GET");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

pub async fn set_status(api: &str, token: &str, order_id: &str, status: &str) -> (u16, Value) {
    let res = http()
        .patch(format!("{api}/orders/{order_id}/status"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "status": status }))
        .send()
        .await
        .expect("PATCH");
    let code = res.status().as_u16();
    (code, res.json().await.unwrap_or(Value::Null))
}

/// The first open (non-final) order of the signed-in customer.
pub async fn open_order(api: &str, token: &str) -> Order {
    let (status, body) = get_json(api, token, "/orders").await;
    assert_eq!(status, 200);
    let orders: Vec<Order> = serde_json::from_value(body).expect("orders");
    orders.into_iter().find(|o| !o.status.is_final() && o.status.next().is_some()).expect("an open order")
}

/// What a rust_socketio client saw.
#[derive(Debug)]
pub enum Got {
    Connect,
    Error(String),
    Event(String, Value),
}

/// A rust_socketio 0.6 client that records everything it receives, with its own reconnection off.
pub struct RsClient {
    pub client: rust_socketio::asynchronous::Client,
    rx: tokio::sync::mpsc::UnboundedReceiver<Got>,
}

/// The first JSON object in a payload (events carry it first; acks nest it one level deeper).
fn first_object(v: &Value) -> Value {
    match v {
        Value::Array(items) => items.first().map(first_object).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

fn payload_value(p: rust_socketio::Payload) -> Value {
    match p {
        rust_socketio::Payload::Text(values) => first_object(&Value::Array(values)),
        _ => Value::Null,
    }
}

impl RsClient {
    pub async fn connect(base: &str, token: Option<&str>) -> RsClient {
        use futures_util::FutureExt;
        use rust_socketio::asynchronous::ClientBuilder;
        use rust_socketio::Event;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (t1, t2, t3) = (tx.clone(), tx.clone(), tx);
        let mut builder = ClientBuilder::new(base).reconnect(false);
        if let Some(token) = token {
            builder = builder.auth(serde_json::json!({ "token": token }));
        }
        let client = builder
            .on(Event::Connect, move |_, _| {
                let _ = t1.send(Got::Connect);
                async {}.boxed()
            })
            .on(Event::Error, move |p, _| {
                let text = match p {
                    rust_socketio::Payload::Text(v) => serde_json::to_string(&v).unwrap_or_default(),
                    #[allow(deprecated)]
                    rust_socketio::Payload::String(s) => s,
                    other => format!("{other:?}"),
                };
                let _ = t2.send(Got::Error(text));
                async {}.boxed()
            })
            .on_any(move |event, p, _| {
                let _ = t3.send(Got::Event(String::from(event), payload_value(p)));
                async {}.boxed()
            })
            .connect()
            .await
            .expect("rust_socketio connect");
        RsClient { client, rx }
    }

    pub async fn next(&mut self) -> Got {
        tokio::time::timeout(WAIT, self.rx.recv()).await.expect("timed out waiting for the socket").expect("open")
    }

    /// Waits for the CONNECT reply; panics on a connect error.
    pub async fn connected(&mut self) {
        match self.next().await {
            Got::Connect => {}
            other => panic!("expected a connect, got {other:?}"),
        }
    }

    /// The next server event (name, first argument).
    pub async fn event(&mut self) -> (String, Value) {
        loop {
            match self.next().await {
                Got::Event(name, v) => return (name, v),
                Got::Connect => continue,
                Got::Error(e) => panic!("socket error while waiting for an event: {e}"),
            }
        }
    }

    /// Emits with an ack and returns the ack's object.
    pub async fn emit_ack(&self, event: &str, arg: Value) -> Value {
        use futures_util::FutureExt;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let tx = std::sync::Mutex::new(Some(tx));
        self.client
            .emit_with_ack(event, arg, WAIT, move |p, _| {
                if let Some(tx) = tx.lock().unwrap().take() {
                    let _ = tx.send(payload_value(p));
                }
                async {}.boxed()
            })
            .await
            .expect("emit");
        tokio::time::timeout(WAIT, rx).await.expect("ack in time").expect("ack")
    }

    pub async fn close(self) {
        let _ = self.client.disconnect().await;
    }
}

/// The next `server_disconnect` of `c`, and how long it took; other events are skipped.
pub async fn server_disconnect(c: &mut RsClient, within: Duration) -> (Value, Duration) {
    let start = std::time::Instant::now();
    loop {
        let got = tokio::time::timeout(within.saturating_sub(start.elapsed()), c.next())
            .await
            .unwrap_or_else(|_| panic!("no server_disconnect within {within:?}"));
        if let Got::Event(name, payload) = got {
            if name == "server_disconnect" {
                return (payload, start.elapsed());
            }
        }
    }
}

/// Whether `c` receives an event named `name` within `within`.
pub async fn receives(c: &mut RsClient, name: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while let Ok(got) = tokio::time::timeout_at(deadline, c.next()).await {
        if matches!(&got, Got::Event(n, _) if n == name) {
            return true;
        }
    }
    false
}

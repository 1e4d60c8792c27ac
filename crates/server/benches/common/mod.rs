//! What the server benchmarks share: the server under test as a child process, a database of customers
//! signed in, the lean Socket.IO client that measures deliveries, and small helpers. Each benchmark uses a
//! part of it.
#![allow(dead_code)]

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use order_protocol::{Address, Delivery, Item, Order, Role, Status, StatusEntry, User};
use order_server::auth::{Claims, Keys};
use order_server::store::{DbLocation, Store};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

pub const SECRET: &str = "fanout-benchmark-secret-0123456789";

pub struct Target {
    pub name: &'static str,
    pub child: Child,
    pub base: String,
    /// `http://…/metrics`, when the server printed where its metrics listener is.
    pub metrics: Option<String>,
}

impl Target {
    /// The server's (private, whole) resident memory in KiB: `RssAnon` and `VmRSS` of /proc/PID/status.
    pub fn memory_kib(&self) -> (u64, u64) {
        let pid = self.child.id().unwrap_or(0);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next().and_then(|v| v.parse().ok()))
                .unwrap_or(0)
        };
        (field("RssAnon:"), field("VmRSS:"))
    }

    /// CPU time the server used so far (user + system), in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id().unwrap_or(0))
    }
}

/// CPU time process `pid` used so far (user + system), in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name: utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks()
}

pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Starts the built order-server on `db`, signing with the secret in `secret_file`, with `extra` flags and
/// `RUST_LOG=log`; returns once it listens.
pub async fn start_order_server(
    db: impl AsRef<std::ffi::OsStr>,
    secret_file: &Path,
    extra: &[&str],
    log: &str,
) -> anyhow::Result<Target> {
    let child = tokio::process::Command::new(order_server_binary())
        .args(["--addr", "127.0.0.1:0", "--db"])
        .arg(db)
        .arg("--jwt-secret-file")
        .arg(secret_file)
        .args(extra)
        .env("RUST_LOG", log)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    Ok(wait_listening(child, "order-server", "listening on ").await)
}

/// The order-server binary: cargo's, in order-server's own benchmarks; else the one of the profile
/// `LIVE_ORDERS_PROFILE` names (default `release`) in the target folder, for benchmarks of other packages.
pub fn order_server_binary() -> PathBuf {
    match option_env!("CARGO_BIN_EXE_order-server") {
        Some(path) => PathBuf::from(path),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
            target.join(std::env::var("LIVE_ORDERS_PROFILE").unwrap_or_else(|_| "release".into())).join("order-server")
        }
    }
}

pub async fn wait_listening(mut child: Child, name: &'static str, prefix: &str) -> Target {
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut metrics = None;
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("server started in time")
            .expect("read")
            .unwrap_or_else(|| panic!("{name} ended before listening"));
        if let Some(url) = line.split("metrics on ").nth(1) {
            metrics = Some(url.trim().to_owned());
        } else if let Some(base) = line.split(prefix).nth(1) {
            break base.trim().to_owned();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Target { name, child, base, metrics }
}

/// The benchmark's tokens: one per customer, and the store owner's.
pub struct Tokens {
    pub customers: Vec<String>,
    pub owner: String,
}

/// Fills the database with `n` customers with an order each, and signs each user in (a sign-in row and its
/// token), for both servers: order-server checks the sign-in, the Node server only the signature.
pub async fn prepare_db(db: &DbLocation, n: usize, keys: &Keys) -> anyhow::Result<Tokens> {
    let store = Store::open(db).await?;
    let exp = chrono::Utc::now().timestamp() + 24 * 3600;
    let mut tx = store.pool().begin().await?;
    let now = order_server::store::now();
    let ts = now.to_rfc3339();
    sqlx::query("INSERT INTO users VALUES ('owner', 'Owner', 'owner@bench', 'store_owner', 'x', $1)")
        .bind(&ts)
        .execute(&mut *tx)
        .await?;
    for i in 0..n {
        sqlx::query("INSERT INTO users VALUES ($1, $2, $3, 'customer', 'x', $4)")
            .bind(format!("c{i}"))
            .bind(format!("Customer {i}"))
            .bind(format!("c{i}@bench"))
            .bind(&ts)
            .execute(&mut *tx)
            .await?;
        let order = Order {
            id: format!("o{i}"),
            order_number: format!("ORD-{i}"),
            customer: format!("c{i}"),
            items: vec![Item { name: "Pizza".into(), quantity: 1, price: 12.5 }],
            total_amount: 12.5,
            status: Status::Preparing,
            status_history: vec![StatusEntry { status: Status::Preparing, timestamp: now }],
            delivery_address: Some(Address {
                street: "1 Bench Street".into(),
                city: "Springfield".into(),
                lat: Some(40.7),
                lng: Some(-74.0),
            }),
            delivery: Some(Delivery::default()),
            created_at: now,
            updated_at: now,
        };
        sqlx::query("INSERT INTO orders VALUES ($1, $2, $3, 'preparing', $4)")
            .bind(&order.id)
            .bind(i as i64)
            .bind(&order.customer)
            .bind(serde_json::to_string(&order)?)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "INSERT INTO order_counts (scope, status, n) SELECT customer_id, status, COUNT(*) FROM orders \
         GROUP BY customer_id, status UNION ALL SELECT '*', status, COUNT(*) FROM orders GROUP BY status",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let sign_in = async |user: User| -> anyhow::Result<String> {
        let claims = Claims::new(&user, &format!("f-{}", user.id), exp);
        sqlx::query(
            "INSERT INTO token_families (id, user_id, created_at, expires_at, current_jti, current_exp) \
             VALUES ($1, $2, 0, $3, $4, $5)",
        )
        .bind(&claims.fam)
        .bind(&user.id)
        .bind(exp)
        .bind(&claims.jti)
        .bind(exp)
        .execute(store.pool())
        .await?;
        Ok(keys.sign(&claims))
    };
    let owner = sign_in(User::new("owner", "Owner", "owner@bench", Role::StoreOwner)).await?;
    let mut customers = Vec::with_capacity(n);
    for i in 0..n {
        customers.push(sign_in(User::new(format!("c{i}"), "", format!("c{i}@bench"), Role::Customer)).await?);
    }
    store.close().await;
    Ok(Tokens { customers, owner })
}

/// Per client: the time its last change was sent (ns since `epoch`, 0 = none pending).
pub struct Shared {
    pub epoch: Instant,
    pub sent: Vec<AtomicU64>,
    pub latencies: std::sync::Mutex<Vec<u64>>,
    pub connected: AtomicUsize,
    pub delivered: AtomicU64,
}

impl Shared {
    pub fn new(n: usize) -> Arc<Shared> {
        Arc::new(Shared {
            epoch: Instant::now(),
            sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
            latencies: std::sync::Mutex::new(Vec::new()),
            connected: AtomicUsize::new(0),
            delivered: AtomicU64::new(0),
        })
    }
}

/// A lean Socket.IO client of customer `idx`: answers pings, counts its updates and their latency. With
/// `source`, it connects from that (loopback) address, as customers on their own machines would.
pub async fn client(base: String, token: String, idx: usize, shared: Arc<Shared>, source: Option<IpAddr>) {
    let url = format!("{}/socket.io/?EIO=4&transport=websocket", base.replace("http://", "ws://"));
    // tungstenite zero-fills its whole read buffer (128 KiB by default) on every read: at peak that took a
    // fifth of the benchmark's own CPU, which the server under test shares.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Some(mut ws) = open_websocket(&url, config, source).await else { return };
    let _open = ws.next().await;
    let connect = format!("40{}", serde_json::json!({ "token": token }));
    if ws.send(Message::text(connect)).await.is_err() {
        return;
    }
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        let text = text.as_str();
        if text == "2" {
            let _ = ws.send(Message::text("3")).await;
        } else if text.starts_with("40") {
            shared.connected.fetch_add(1, Ordering::Relaxed);
        } else if text.starts_with("42[\"customer_order_update\"") {
            // Every update counts as delivered; the latency is taken from the client's latest send, once (a
            // second send before the first update arrived replaces the timestamp of the first).
            shared.delivered.fetch_add(1, Ordering::Relaxed);
            let sent = shared.sent[idx].swap(0, Ordering::Relaxed);
            if sent != 0 {
                let now = shared.epoch.elapsed().as_nanos() as u64;
                shared.latencies.lock().unwrap().push(now.saturating_sub(sent));
            }
        }
    }
}

/// A websocket to `url`, from `source` if given.
async fn open_websocket(
    url: &str,
    config: WebSocketConfig,
    source: Option<IpAddr>,
) -> Option<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>> {
    let Some(source) = source else {
        return tokio_tungstenite::connect_async_with_config(url, Some(config), false).await.ok().map(|(ws, _)| ws);
    };
    let server: std::net::SocketAddr = url.split("://").nth(1)?.split('/').next()?.parse().ok()?;
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind((source, 0).into()).ok()?;
    let stream = socket.connect(server).await.ok()?;
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
    tokio_tungstenite::client_async_with_config(url, stream, Some(config)).await.ok().map(|(ws, _)| ws)
}

pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1e6
}

/// The final count once deliveries stopped: nothing new for one second (at most 20 s), so a backlog still in
/// the sockets' queues when the sending stops counts as delivered late, not as lost.
pub async fn drained(delivered: &AtomicU64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = delivered.load(Ordering::Relaxed);
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = delivered.load(Ordering::Relaxed);
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

/// Moves order `i`'s courier; `k` numbers the send. order-server emits nothing for a change that changes
/// nothing, so two sends to one order must differ: `k` modulo a prime that no client count is a multiple of.
pub async fn patch(http: &reqwest::Client, base: &str, owner: &str, i: usize, k: u64) {
    let body = serde_json::json!({ "location": { "lat": 40.0 + (k % 9973) as f64 / 1e5, "lng": -74.0 } });
    let _ = http.patch(format!("{base}/api/orders/o{i}/delivery")).bearer_auth(owner).json(&body).send().await;
}

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The workspace root (the folder of `Cargo.lock`), whichever package's benchmark this is.
pub fn root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().find(|d| d.join("Cargo.lock").exists()).unwrap_or(manifest).to_owned()
}

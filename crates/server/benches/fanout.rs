//! Fan-out benchmark: order-server against a minimal Node socket.io server (tests/peers/node-bench) doing the
//! same broadcasts, on loopback, with N logged-in Socket.IO clients (a lean websocket client, one per customer,
//! each in its customer room).
//!
//! Measures (a) latency from sending a `PATCH /orders/:id/delivery` to the `customer_order_update` at the
//! watching client, p50/p99; (b) sustained fan-out at one change per client per second: delivered rate within
//! the sending window, the share delivered in the end, and p99; (c) server memory per idle connection: the
//! growth of the server's private memory (`RssAnon`) as the clients connect, divided by their number, beside
//! the growth of its whole resident set (`VmRSS`, which also counts pages of the server's own code read in from
//! its file as connections run code paths for the first time: shared, clean, and not per connection);
//! (d) peak fan-out: changes sent as fast as the server answers them (64 writers in a closed loop), events
//! delivered per second, and the server's CPU time per delivered event (user + system, over the phase and its
//! drain), beside the benchmark's own CPU time per event (its clients and writers run on the same cores, so
//! what they use is not the server's to use). At one change per client per second the offered load is the
//! client count, which both servers may keep up with, so (d) is what shows how much more one can carry. Prints
//! a table and the ratios.
//!
//! `FANOUT_CLIENTS=1000,10000` (default 1000), `FANOUT_SECONDS` (sustained phase, default 5),
//! `FANOUT_SAMPLES` (latency samples, default 300), `FANOUT_WRITERS` (peak phase, default 64),
//! `FANOUT_SKIP_NODE=1` to run order-server alone.
//! The delivery route is used because status moves are one-way on order-server; the events and payloads are
//! the same ones a status change produces.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use order_protocol::{Address, Delivery, Item, Order, Role, Status, StatusEntry, User};
use order_server::auth::{Claims, Keys};
use order_server::store::Store;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "fanout-benchmark-secret-0123456789";

struct Target {
    name: &'static str,
    child: Child,
    base: String,
}

impl Target {
    /// The server's (private, whole) resident memory in KiB: `RssAnon` and `VmRSS` of /proc/PID/status.
    fn memory_kib(&self) -> (u64, u64) {
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
    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id().unwrap_or(0))
    }
}

/// CPU time process `pid` used so far (user + system), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name: utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / clock_ticks()
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

async fn wait_listening(mut child: Child, name: &'static str, prefix: &str) -> Target {
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("server started in time")
        .expect("read")
        .expect("a listening line");
    let base = line.split(prefix).nth(1).unwrap_or_else(|| panic!("{name}: {line}")).trim().to_owned();
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Target { name, child, base }
}

/// A database with `n` customers (`c<i>`), one preparing order each (`o<i>`), and a store owner.
/// The benchmark's tokens: one per customer, and the store owner's.
struct Tokens {
    customers: Vec<String>,
    owner: String,
}

/// Fills the database with `n` customers with an order each, and signs each user in (a sign-in row and its
/// token), for both servers: order-server checks the sign-in, the Node server only the signature.
async fn prepare_db(path: &Path, n: usize, keys: &Keys) -> anyhow::Result<Tokens> {
    let store = Store::open(path).await?;
    let exp = chrono::Utc::now().timestamp() + 24 * 3600;
    let mut tx = store.pool().begin().await?;
    let now = order_server::store::now();
    let ts = now.to_rfc3339();
    sqlx::query("INSERT INTO users VALUES ('owner', 'Owner', 'owner@bench', 'store_owner', 'x', ?)")
        .bind(&ts)
        .execute(&mut *tx)
        .await?;
    for i in 0..n {
        sqlx::query("INSERT INTO users VALUES (?, ?, ?, 'customer', 'x', ?)")
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
        sqlx::query("INSERT INTO orders VALUES (?, ?, ?, 'preparing', ?)")
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
             VALUES (?, ?, 0, ?, ?, ?)",
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
struct Shared {
    epoch: Instant,
    sent: Vec<AtomicU64>,
    latencies: std::sync::Mutex<Vec<u64>>,
    connected: AtomicUsize,
    delivered: AtomicU64,
}

async fn client(base: String, token: String, idx: usize, shared: Arc<Shared>) {
    let url = format!("{}/socket.io/?EIO=4&transport=websocket", base.replace("http://", "ws://"));
    // tungstenite zero-fills its whole read buffer (128 KiB by default) on every read: at peak that took a
    // fifth of the benchmark's own CPU, which the server under test shares.
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async_with_config(url, Some(config), false).await else {
        return;
    };
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

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1e6
}

#[derive(Default, Clone)]
struct Row {
    server: String,
    clients: usize,
    connected: usize,
    p50: f64,
    p99: f64,
    sustained_rate: f64,
    sustained_p99: f64,
    delivered_pct: f64,
    peak_rate: f64,
    peak_delivered_pct: f64,
    /// Server CPU time per event delivered in the peak phase, in microseconds.
    peak_cpu_us: f64,
    /// The benchmark's own CPU time per event in the peak phase (its clients and writers share the cores
    /// with the server), in microseconds.
    load_cpu_us: f64,
    /// Growth of private memory per connected client (`RssAnon`), KiB.
    kib_per_conn: f64,
    /// Growth of the whole resident set per connected client (`VmRSS`), KiB.
    rss_kib_per_conn: f64,
}

/// The final count once deliveries stopped: nothing new for one second (at most 20 s), so a backlog still in
/// the sockets' queues when the sending stops counts as delivered late, not as lost.
async fn drained(delivered: &AtomicU64) -> u64 {
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

/// Concurrent writers of the peak phase by default: enough to keep either server busy on two cores.
const WRITERS: usize = 64;

/// Moves order `i`'s courier; `k` numbers the send. order-server emits nothing for a change that changes
/// nothing, so two sends to one order must differ: `k` modulo a prime that no client count is a multiple of.
async fn patch(http: &reqwest::Client, base: &str, owner: &str, i: usize, k: u64) {
    let body = serde_json::json!({ "location": { "lat": 40.0 + (k % 9973) as f64 / 1e5, "lng": -74.0 } });
    let _ = http.patch(format!("{base}/api/orders/o{i}/delivery")).bearer_auth(owner).json(&body).send().await;
}

async fn run_level(target: &Target, n: usize, tokens: &Tokens, seconds: u64, samples: usize) -> Row {
    let shared = Arc::new(Shared {
        epoch: Instant::now(),
        sent: (0..n).map(|_| AtomicU64::new(0)).collect(),
        latencies: std::sync::Mutex::new(Vec::new()),
        connected: AtomicUsize::new(0),
        delivered: AtomicU64::new(0),
    });
    let (private_before, rss_before) = target.memory_kib();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        tasks.push(tokio::spawn(client(target.base.clone(), tokens.customers[i].clone(), i, shared.clone())));
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared.connected.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let connected = shared.connected.load(Ordering::Relaxed);
    let (private_after, rss_after) = target.memory_kib();
    let per_conn = |before: u64, after: u64| after.saturating_sub(before) as f64 / connected.max(1) as f64;
    let (kib_per_conn, rss_kib_per_conn) = (per_conn(private_before, private_after), per_conn(rss_before, rss_after));

    let owner = &tokens.owner;
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
    // (a) latency, one change at a time.
    for k in 0..samples {
        let i = (k * 7919) % n;
        shared.sent[i].store(shared.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        patch(&http, &target.base, owner, i, k as u64).await;
        let wait = Instant::now();
        while shared.sent[i].load(Ordering::Relaxed) != 0 && wait.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        shared.sent[i].store(0, Ordering::Relaxed);
    }
    let mut lat = std::mem::take(&mut *shared.latencies.lock().unwrap());
    lat.sort_unstable();
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));

    // (b) sustained: every client gets one change per second, spread over 10 ms ticks. The rate counts only
    // what arrived within the sending window, so the drain afterwards does not dilute it.
    shared.delivered.store(0, Ordering::Relaxed);
    let ticks_per_sec = 100usize;
    let per_tick = n.div_ceil(ticks_per_sec);
    let started = Instant::now();
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let inflight = Arc::new(tokio::sync::Semaphore::new(512));
    for t in 0..(seconds as usize * ticks_per_sec) {
        tick.tick().await;
        let first = (t % ticks_per_sec) * per_tick;
        for i in first..(first + per_tick).min(n) {
            let Ok(permit) = inflight.clone().try_acquire_owned() else { continue };
            shared.sent[i].store(shared.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
            sent += 1;
            let (http, base, owner) = (http.clone(), target.base.clone(), owner.clone());
            tokio::spawn(async move {
                patch(&http, &base, &owner, i, t as u64).await;
                drop(permit);
            });
        }
    }
    let window = started.elapsed().as_secs_f64();
    let in_window = shared.delivered.load(Ordering::Relaxed);
    let _ = inflight.acquire_many(512).await;
    let delivered = drained(&shared.delivered).await;
    let mut lat = std::mem::take(&mut *shared.latencies.lock().unwrap());
    lat.sort_unstable();
    let sustained_p99 = percentile(&lat, 0.99);

    // (d) peak: as many changes as the server takes, from `WRITERS` writers that each send the next change
    // as soon as the last one was answered, over distinct clients in turn; events delivered per second.
    for s in &shared.sent {
        s.store(0, Ordering::Relaxed);
    }
    shared.delivered.store(0, Ordering::Relaxed);
    let next = Arc::new(AtomicUsize::new(0));
    let cpu_before = target.cpu_seconds();
    let load_cpu_before = cpu_seconds(std::process::id());
    let stop_at = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let writers: Vec<_> = (0..env_or("FANOUT_WRITERS", WRITERS))
        .map(|_| {
            let (http, base, owner, shared, next) =
                (http.clone(), target.base.clone(), owner.clone(), shared.clone(), next.clone());
            tokio::spawn(async move {
                while Instant::now() < stop_at {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let i = k % n;
                    shared.sent[i].store(shared.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    patch(&http, &base, &owner, i, k as u64).await;
                }
            })
        })
        .collect();
    for w in writers {
        let _ = w.await;
    }
    let peak_window = started.elapsed().as_secs_f64();
    let peak_delivered = shared.delivered.load(Ordering::Relaxed);
    let peak_sent = next.load(Ordering::Relaxed);
    let peak_late = drained(&shared.delivered).await;
    let peak_cpu_us = (target.cpu_seconds() - cpu_before) * 1e6 / peak_late.max(1) as f64;
    let load_cpu_us = (cpu_seconds(std::process::id()) - load_cpu_before) * 1e6 / peak_late.max(1) as f64;
    shared.latencies.lock().unwrap().clear();
    for t in tasks {
        t.abort();
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    Row {
        server: target.name.into(),
        clients: n,
        connected,
        p50,
        p99,
        sustained_rate: in_window as f64 / window,
        sustained_p99,
        delivered_pct: 100.0 * delivered as f64 / sent.max(1) as f64,
        peak_rate: peak_delivered as f64 / peak_window,
        peak_delivered_pct: 100.0 * peak_late as f64 / peak_sent.max(1) as f64,
        peak_cpu_us,
        load_cpu_us,
        kib_per_conn,
        rss_kib_per_conn,
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let levels: Vec<usize> = std::env::var("FANOUT_CLIENTS")
        .unwrap_or_else(|_| "1000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let seconds: u64 = env_or("FANOUT_SECONDS", 5);
    let samples: usize = env_or("FANOUT_SAMPLES", 300);
    let with_node = std::env::var("FANOUT_SKIP_NODE").is_err();
    let max = levels.iter().copied().max().unwrap_or(1000);
    let (_, hard) = rlimit::Resource::NOFILE.get()?;
    rlimit::Resource::NOFILE.set(hard, hard)?;
    // The clients' sockets are this process's, the server's its own (it inherits the raised limit).
    anyhow::ensure!(hard as usize > max + 512, "open-file limit {hard} is too low for {max} clients");

    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let keys = Keys::new(SECRET.as_bytes());
    let tokens = prepare_db(&db, max, &keys).await?;
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, SECRET)?;

    let mut rows = Vec::new();
    for &n in &levels {
        let child = Command::new(env!("CARGO_BIN_EXE_order-server"))
            .args(["--addr", "127.0.0.1:0", "--db"])
            .arg(&db)
            .arg("--jwt-secret-file")
            .arg(&secret_file)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let target = wait_listening(child, "order-server", "listening on ").await;
        rows.push(run_level(&target, n, &tokens, seconds, samples).await);
        drop(target);
        if with_node {
            let peer = root().join("tests/peers/node-bench");
            anyhow::ensure!(
                peer.join("node_modules/socket.io").exists(),
                "the Node peer is not installed: run `cargo xtask setup` (npm ci in {})",
                peer.display()
            );
            let child = Command::new("node")
                .arg(peer.join("server.js"))
                .env("JWT_SECRET", SECRET)
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()?;
            let target = wait_listening(child, "node socket.io", "listening on ").await;
            rows.push(run_level(&target, n, &tokens, seconds, samples).await);
        }
    }

    println!();
    println!(
        "{:<16} {:>7} {:>9} {:>8} {:>8} {:>14} {:>12} {:>10} {:>11} {:>10} {:>11} {:>12} {:>9} {:>9}",
        "server",
        "clients",
        "connected",
        "p50 ms",
        "p99 ms",
        "sustained ev/s",
        "sust. p99 ms",
        "delivered",
        "peak ev/s",
        "delivered",
        "CPU us/ev",
        "load us/ev",
        "KiB/conn",
        "RSS/conn"
    );
    for r in &rows {
        println!(
            "{:<16} {:>7} {:>9} {:>8.2} {:>8.2} {:>14.0} {:>12.2} {:>9.1}% {:>11.0} {:>9.1}% {:>11.1} {:>12.1} {:>9.1} {:>9.1}",
            r.server,
            r.clients,
            r.connected,
            r.p50,
            r.p99,
            r.sustained_rate,
            r.sustained_p99,
            r.delivered_pct,
            r.peak_rate,
            r.peak_delivered_pct,
            r.peak_cpu_us,
            r.load_cpu_us,
            r.kib_per_conn,
            r.rss_kib_per_conn
        );
    }
    // Rows come in pairs per level (ours, then Node's) unless Node was skipped.
    for pair in rows.chunks(2).filter(|c| c.len() == 2 && c[0].clients == c[1].clients) {
        let (ours, node) = (&pair[0], &pair[1]);
        println!(
            "ratio order-server / node at {} clients: p99 latency {:.2}x, sustained rate {:.2}x, sustained p99 {:.2}x, \
             peak rate {:.2}x, server CPU per event {:.2}x, memory per connection {:.2}x",
            ours.clients,
            ours.p99 / node.p99,
            ours.sustained_rate / node.sustained_rate,
            ours.sustained_p99 / node.sustained_p99,
            ours.peak_rate / node.peak_rate,
            ours.peak_cpu_us / node.peak_cpu_us,
            ours.kib_per_conn / node.kib_per_conn
        );
    }
    println!(
        "targets: p99 <= 10 ms at 1,000 clients; fan-out >= 2x node (the peak rate: at one change per client per \
         second the offered load caps both); <= 20 KiB per idle connection (KiB/conn: private memory)"
    );
    Ok(())
}

//! Abuse benchmark: order-server keeps its honest customers served while other clients attack it.
//!
//! N honest customers (default 1,000, each from a loopback address of its own, 127.1.x.y, as customers on
//! their own machines) receive live updates at a steady rate (`ABUSE_RATE` changes a second over them, default
//! 200) for `ABUSE_SECONDS` (default 10), twice: quiet, then under attack from 127.0.0.1 by
//! - a login flood: wrong passwords for existing and unknown emails, 2,000 a second (`ABUSE_LOGINS_PER_S`);
//! - connections that never authenticate: 400 held open, reopened when the server closes them;
//! - garbage: connections that sign in and send junk frames, 200 a second (`ABUSE_GARBAGE_PER_S`);
//! - slow readers: 100 sockets of honest customers that sign in and never read;
//! - an order flood: one customer placing orders, 200 a second (`ABUSE_ORDERS_PER_S`).
//!
//! The attackers run on one thread of their own: on this machine they share the cores with the server.
//!
//! It prints the honest clients' delivery p50/p99 and delivered share in both phases, the server's private
//! memory (quiet, and the most it reached under attack), what each limit refused (from `/metrics`), and the
//! attack p99 as a multiple of the quiet one (the target: at most 2x). The server runs with its default limits.
//! `ABUSE_CLIENTS`, `ABUSE_RATE`, `ABUSE_SECONDS` change the honest load; `ABUSE_ONLY=login,unauth,garbage,slow,orders`
//! runs only the attacks named.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    client, drained, env_or, patch, percentile, prepare_db, start_order_server, Shared, Target, Tokens, SECRET,
};
use futures_util::{SinkExt, StreamExt};
use order_server::auth::Keys;
use order_server::store::DbLocation;
use tokio_tungstenite::tungstenite::Message;

/// Honest client `i`'s own loopback address.
fn honest_addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8))
}

/// What one phase of honest load measured.
struct Phase {
    p50: f64,
    p99: f64,
    delivered_pct: f64,
    /// Server private memory (RssAnon) at the end, and the most sampled during the phase, MiB.
    mib_end: f64,
    mib_peak: f64,
}

/// `rate` changes a second over the `n` honest customers for `seconds`, measuring each delivery. `round`
/// numbers the phase, so no change repeats one of an earlier phase (a change that changes nothing emits
/// nothing).
async fn honest_load(
    target: &Target,
    shared: &Arc<Shared>,
    owner: &str,
    (n, rate, seconds): (usize, usize, u64),
    round: u64,
) -> Phase {
    for s in &shared.sent {
        s.store(0, Ordering::Relaxed);
    }
    shared.latencies.lock().unwrap().clear();
    shared.delivered.store(0, Ordering::Relaxed);
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let ticks_per_sec = 100usize;
    let per_tick = rate.div_ceil(ticks_per_sec);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let inflight = Arc::new(tokio::sync::Semaphore::new(256));
    let (mut sent, mut next, mut peak) = (0u64, 0usize, 0u64);
    for t in 0..(seconds as usize * ticks_per_sec) {
        tick.tick().await;
        if t % 50 == 0 {
            peak = peak.max(target.memory_kib().0);
        }
        for _ in 0..per_tick {
            let i = (next * 7919) % n;
            next += 1;
            let Ok(permit) = inflight.clone().try_acquire_owned() else { continue };
            shared.sent[i].store(shared.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
            sent += 1;
            let (http, base, owner) = (http.clone(), target.base.clone(), owner.to_owned());
            tokio::spawn(async move {
                patch(&http, &base, &owner, i, round * 4999 + t as u64).await;
                drop(permit);
            });
        }
    }
    let _ = inflight.acquire_many(256).await;
    let delivered = drained(&shared.delivered).await;
    let mut lat = std::mem::take(&mut *shared.latencies.lock().unwrap());
    lat.sort_unstable();
    let end = target.memory_kib().0;
    Phase {
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        delivered_pct: 100.0 * delivered as f64 / sent.max(1) as f64,
        mib_end: end as f64 / 1024.0,
        mib_peak: peak.max(end) as f64 / 1024.0,
    }
}

/// What the attackers sent and what came back.
#[derive(Default)]
struct Attack {
    logins: AtomicU64,
    logins_429: AtomicU64,
    unauth_opened: AtomicU64,
    garbage_connections: AtomicU64,
    orders: AtomicU64,
    orders_429: AtomicU64,
}

/// Every `every`, at most: the attackers' pace is set and printed, so runs compare.
fn pace(every: Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    tick
}

async fn login_flood(base: String, n: usize, stop: Arc<AtomicBool>, a: Arc<Attack>, (k, every): (usize, Duration)) {
    let http = reqwest::Client::new();
    let mut j = k;
    let mut tick = pace(every);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        j += 16;
        let email = if j.is_multiple_of(2) { format!("c{}@bench", j % n) } else { format!("nobody{j}@bench") };
        let body = serde_json::json!({ "email": email, "password": "guess" });
        if let Ok(res) = http.post(format!("{base}/api/auth/login")).json(&body).send().await {
            a.logins.fetch_add(1, Ordering::Relaxed);
            if res.status() == 429 {
                a.logins_429.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn ws_url(base: &str) -> String {
    format!("{}/socket.io/?EIO=4&transport=websocket", base.replace("http://", "ws://"))
}

async fn unauthenticated(base: String, stop: Arc<AtomicBool>, a: Arc<Attack>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(ws_url(&base)).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        a.unauth_opened.fetch_add(1, Ordering::Relaxed);
        // Held without a CONNECT (pongs only, so only the handshake deadline ends it).
        while !stop.load(Ordering::Relaxed) {
            match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.as_str() == "2" => {
                    let _ = ws.send(Message::text("3")).await;
                }
                Ok(Some(Ok(_))) | Err(_) => {}
                Ok(None | Some(Err(_))) => break,
            }
        }
    }
}

async fn garbage(base: String, token: String, stop: Arc<AtomicBool>, a: Arc<Attack>, every: Duration) {
    let junk = [
        "4".to_owned(),
        "42[".to_owned(),
        "9garbage".to_owned(),
        "42[\"join_order_room\",{\"orderId\":\"nope\"}]".to_owned(),
        format!("40{}", "x".repeat(2000)),
    ];
    let mut tick = pace(every);
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let Ok((mut ws, _)) = tokio_tungstenite::connect_async(ws_url(&base)).await else { continue };
        a.garbage_connections.fetch_add(1, Ordering::Relaxed);
        let _ = ws.send(Message::text(format!("40{}", serde_json::json!({ "token": token })))).await;
        for k in 0..100 {
            if ws.send(Message::text(junk[k % junk.len()].clone())).await.is_err() {
                break;
            }
        }
        let _ = ws.close(None).await;
    }
}

async fn slow_reader(base: String, token: String, stop: Arc<AtomicBool>) {
    let server: std::net::SocketAddr = base.trim_start_matches("http://").parse().expect("address");
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    let _ = socket.set_recv_buffer_size(4096);
    let Ok(stream) = socket.connect(server).await else { return };
    let Ok((mut ws, _)) = tokio_tungstenite::client_async(ws_url(&base), stream).await else { return };
    let _ = ws.send(Message::text(format!("40{}", serde_json::json!({ "token": token })))).await;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn order_flood(base: String, token: String, stop: Arc<AtomicBool>, a: Arc<Attack>, every: Duration) {
    let http = reqwest::Client::new();
    let mut tick = pace(every);
    let body = serde_json::json!({
        "items": [{ "name": "Spam", "quantity": 1, "price": 1.0 }],
        "deliveryAddress": { "street": "1 Spam Street", "city": "Springfield" }
    });
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        if let Ok(res) = http.post(format!("{base}/api/orders")).bearer_auth(&token).json(&body).send().await {
            a.orders.fetch_add(1, Ordering::Relaxed);
            if res.status() == 429 {
                a.orders_429.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = env_or("ABUSE_CLIENTS", 1000);
    let rate: usize = env_or("ABUSE_RATE", 200);
    let seconds: u64 = env_or("ABUSE_SECONDS", 10);
    let slow = 100.min(n);
    let logins_per_s: usize = env_or("ABUSE_LOGINS_PER_S", 2000);
    let garbage_per_s: usize = env_or("ABUSE_GARBAGE_PER_S", 200);
    let orders_per_s: usize = env_or("ABUSE_ORDERS_PER_S", 200);
    let (_, hard) = rlimit::Resource::NOFILE.get()?;
    rlimit::Resource::NOFILE.set(hard, hard)?;
    anyhow::ensure!(hard as usize > n + 2048, "open-file limit {hard} is too low for {n} clients and the attack");

    let dir = tempfile::tempdir()?;
    let db = dir.path().join("bench.db");
    let keys = Keys::new(SECRET.as_bytes());
    let Tokens { customers, owner } = prepare_db(&DbLocation::Sqlite(db.clone()), n + 1, &keys).await?;
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, SECRET)?;
    let target = start_order_server(&db, &secret_file, &["--metrics-addr", "127.0.0.1:0"], "error").await?;
    let metrics_url = target.metrics.clone().expect("the metrics listener's address");

    let shared = Shared::new(n);
    let before = target.memory_kib().0;
    for (i, token) in customers.iter().take(n).enumerate() {
        tokio::spawn(client(target.base.clone(), token.clone(), i, shared.clone(), Some(honest_addr(i))));
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared.connected.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connected = shared.connected.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    eprintln!(
        "abuse bench: {connected} of {n} honest clients connected; quiet phase, {rate} changes/s for {seconds} s"
    );
    let quiet = honest_load(&target, &shared, &owner, (n, rate, seconds), 0).await;

    eprintln!("abuse bench: attack phase");
    let only = std::env::var("ABUSE_ONLY").unwrap_or_else(|_| "login,unauth,garbage,slow,orders".into());
    let on = |name: &str| only.split(',').any(|o| o.trim() == name);
    let stop = Arc::new(AtomicBool::new(false));
    let attack = Arc::new(Attack::default());
    // The attackers run on one thread of their own, so they take at most one core from the server and the
    // honest clients (which share the machine with them) however hard they push.
    let attack_rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let spawn = attack_rt.handle().clone();
    let attacker_thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            attack_rt.block_on(async move {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            })
        })
    };
    let per_task = |tasks: usize, per_second: usize| Duration::from_secs_f64(tasks as f64 / per_second.max(1) as f64);
    let mut attackers = Vec::new();
    for k in (0..16).filter(|_| on("login")) {
        let every = per_task(16, logins_per_s);
        attackers.push(spawn.spawn(login_flood(target.base.clone(), n, stop.clone(), attack.clone(), (k, every))));
    }
    for _ in (0..400).filter(|_| on("unauth")) {
        attackers.push(spawn.spawn(unauthenticated(target.base.clone(), stop.clone(), attack.clone())));
    }
    for k in (0..8).filter(|_| on("garbage")) {
        let token = customers[n - 1 - k % 8].clone();
        let every = per_task(8, garbage_per_s);
        attackers.push(spawn.spawn(garbage(target.base.clone(), token, stop.clone(), attack.clone(), every)));
    }
    let slow = if on("slow") { slow } else { 0 };
    for token in customers.iter().take(slow) {
        attackers.push(spawn.spawn(slow_reader(target.base.clone(), token.clone(), stop.clone())));
    }
    if on("orders") {
        let (token, every) = (customers[n].clone(), per_task(1, orders_per_s));
        attackers.push(spawn.spawn(order_flood(target.base.clone(), token, stop.clone(), attack.clone(), every)));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let attacked = honest_load(&target, &shared, &owner, (n, rate, seconds), 1).await;
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        a.abort();
    }
    let _ = attacker_thread.join();
    let metrics: serde_json::Value = reqwest::get(&metrics_url).await?.json().await?;
    // What the server keeps once the attack is over and its connections have timed out.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let after = target.memory_kib().0 as f64 / 1024.0;

    println!();
    println!(
        "order-server, {connected} honest clients ({} MiB private at start), {rate} changes/s, {seconds} s a phase",
        before / 1024
    );
    println!(
        "{:<8} {:>8} {:>8} {:>10} {:>12} {:>13}",
        "phase", "p50 ms", "p99 ms", "delivered", "memory MiB", "peak MiB"
    );
    for (name, p) in [("quiet", &quiet), ("attack", &attacked)] {
        println!(
            "{:<8} {:>8.2} {:>8.2} {:>9.1}% {:>12.1} {:>13.1}",
            name, p.p50, p.p99, p.delivered_pct, p.mib_end, p.mib_peak
        );
    }
    let a = &attack;
    println!(
        "attack pace: {logins_per_s} logins/s, {garbage_per_s} garbage connections/s, {orders_per_s} orders/s, 400 \
         unauthenticated connections held, {slow} slow readers (attackers on one thread of their own)"
    );
    println!(
        "attack sent: {} logins ({} refused 429), {} unauthenticated connections opened, {} garbage connections, \
         {slow} slow readers, {} orders ({} refused 429)",
        a.logins.load(Ordering::Relaxed),
        a.logins_429.load(Ordering::Relaxed),
        a.unauth_opened.load(Ordering::Relaxed),
        a.garbage_connections.load(Ordering::Relaxed),
        a.orders.load(Ordering::Relaxed),
        a.orders_429.load(Ordering::Relaxed),
    );
    println!(
        "server counted: refused {}, slow readers cut {}, sessions cut {}",
        metrics["refused"], metrics["slowConsumersCut"], metrics["sessionsCut"]
    );
    println!("server private memory 15 s after the attack: {after:.1} MiB");
    println!("honest p99 under attack / quiet: {:.2}x (target: at most 2x)", attacked.p99 / quiet.p99);
    Ok(())
}

//! `cargo xtask bench server --db postgres`: order-server on one SQLite file, on PostgreSQL with one instance,
//! and on PostgreSQL with two instances (the clients split between them, the writes sent to both in turn), in
//! one run, with the ratios.
//!
//! For each setup: N signed-in customers connected by the lean Socket.IO client of the fan-out benchmark,
//! then (a) latency of one change at a time, from the `PATCH` to the customer's `customer_order_update`
//! (with two instances, half the changes are written on the other instance than the customer's); (b) write
//! throughput: `SCALEOUT_WRITERS` writers in a closed loop for `SCALEOUT_SECONDS`, changes answered per
//! second, events delivered per second and the share delivered in the end.
//!
//! The servers are the release build (`LIVE_ORDERS_PROFILE`, default `release`); PostgreSQL is a throwaway
//! cluster in a temp dir (fsync off, as tests run it: the figures compare the servers, not disks).
//! `SCALEOUT_CLIENTS` (default 1000), `SCALEOUT_SAMPLES` (default 200).

#[path = "../../crates/server/benches/common/mod.rs"]
mod common;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{client, drained, env_or, percentile, prepare_db, start_order_server, Shared, Target, SECRET};
use live_orders_tests::pg::Postgres;
use order_server::auth::Keys;
use order_server::store::DbLocation;

struct Row {
    setup: &'static str,
    connected: usize,
    p50: f64,
    p99: f64,
    writes_per_s: f64,
    refused: u64,
    events_per_s: f64,
    delivered_pct: f64,
    peak_p99: f64,
}

/// Changes order `i`'s courier through `base`; whether the server took it.
async fn patch(http: &reqwest::Client, base: &str, owner: &str, i: usize, k: u64) -> bool {
    let body = serde_json::json!({ "location": { "lat": 40.0 + (k % 9973) as f64 / 1e5, "lng": -74.0 } });
    let sent = http.patch(format!("{base}/api/orders/o{i}/delivery")).bearer_auth(owner).json(&body).send().await;
    sent.is_ok_and(|r| r.status().is_success())
}

async fn run(setup: &'static str, targets: &[Target], n: usize, owner: &str, customers: &[String]) -> Row {
    let (samples, seconds, writers) =
        (env_or("SCALEOUT_SAMPLES", 200usize), env_or("SCALEOUT_SECONDS", 5u64), env_or("SCALEOUT_WRITERS", 64usize));
    let shared = Shared::new(n);
    let mut tasks = Vec::with_capacity(n);
    for (i, token) in customers.iter().enumerate().take(n) {
        let base = targets[i % targets.len()].base.clone();
        tasks.push(tokio::spawn(client(base, token.clone(), i, shared.clone(), None)));
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared.connected.load(Ordering::Relaxed) < n && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected = shared.connected.load(Ordering::Relaxed);
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build().expect("an HTTP client");

    // (a) one change at a time, written on each instance in turn (a customer on A hears a change made on B).
    for k in 0..samples {
        let i = (k * 7919) % n;
        let base = &targets[(k / 2 + i) % targets.len()].base;
        shared.sent[i].store(shared.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
        patch(&http, base, owner, i, k as u64).await;
        let wait = Instant::now();
        while shared.sent[i].load(Ordering::Relaxed) != 0 && wait.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        shared.sent[i].store(0, Ordering::Relaxed);
    }
    let mut lat = std::mem::take(&mut *shared.latencies.lock().expect("not poisoned"));
    lat.sort_unstable();
    let (p50, p99) = (percentile(&lat, 0.5), percentile(&lat, 0.99));

    // (b) writers in a closed loop, spread over the instances.
    shared.delivered.store(0, Ordering::Relaxed);
    let (next, ok, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop_at = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let bases: Vec<String> = targets.iter().map(|t| t.base.clone()).collect();
    let loops: Vec<_> = (0..writers)
        .map(|w| {
            let (http, owner, shared, next, ok, refused) =
                (http.clone(), owner.to_owned(), shared.clone(), next.clone(), ok.clone(), refused.clone());
            let base = bases[w % bases.len()].clone();
            tokio::spawn(async move {
                while Instant::now() < stop_at {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let i = k % n;
                    shared.sent[i].store(shared.epoch.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    let counter = if patch(&http, &base, &owner, i, k as u64).await { &ok } else { &refused };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for l in loops {
        let _ = l.await;
    }
    let window = started.elapsed().as_secs_f64();
    let in_window = shared.delivered.load(Ordering::Relaxed);
    let taken = ok.load(Ordering::Relaxed);
    let delivered = drained(&shared.delivered).await;
    let mut lat = std::mem::take(&mut *shared.latencies.lock().expect("not poisoned"));
    lat.sort_unstable();
    for t in tasks {
        t.abort();
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    Row {
        setup,
        connected,
        p50,
        p99,
        writes_per_s: taken as f64 / window,
        refused: refused.load(Ordering::Relaxed),
        events_per_s: in_window as f64 / window,
        delivered_pct: 100.0 * delivered as f64 / taken.max(1) as f64,
        peak_p99: percentile(&lat, 0.99),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = env_or("SCALEOUT_CLIENTS", 1000);
    let (_, hard) = rlimit::Resource::NOFILE.get()?;
    rlimit::Resource::NOFILE.set(hard, hard)?;
    let dir = tempfile::tempdir()?;
    let keys = Keys::new(SECRET.as_bytes());
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, SECRET)?;
    let extra = ["--sockets-per-addr", "1000000", "--orders-per-minute", "1000000"];
    let pg = Postgres::start()?;

    let mut rows = Vec::new();
    for (setup, instances) in [("sqlite x1", 0), ("postgres x1", 1), ("postgres x2", 2)] {
        let db = if instances == 0 {
            DbLocation::Sqlite(dir.path().join("bench.db"))
        } else {
            DbLocation::Postgres(pg.create_db(&format!("bench{instances}"))?)
        };
        let tokens = prepare_db(&db, n, &keys).await?;
        let arg = match &db {
            DbLocation::Sqlite(p) => p.display().to_string(),
            DbLocation::Postgres(url) => url.clone(),
        };
        let mut targets = Vec::new();
        for _ in 0..instances.max(1) {
            targets.push(start_order_server(&arg, &secret_file, &extra, "warn").await?);
        }
        eprintln!("{setup}: {n} clients");
        rows.push(run(setup, &targets, n, &tokens.owner, &tokens.customers).await);
    }

    println!();
    println!(
        "{:<12} {:>9} {:>8} {:>8} {:>10} {:>8} {:>10} {:>10} {:>11}",
        "setup", "connected", "p50 ms", "p99 ms", "writes/s", "refused", "events/s", "delivered", "load p99 ms"
    );
    for r in &rows {
        println!(
            "{:<12} {:>9} {:>8.2} {:>8.2} {:>10.0} {:>8} {:>10.0} {:>9.1}% {:>11.1}",
            r.setup, r.connected, r.p50, r.p99, r.writes_per_s, r.refused, r.events_per_s, r.delivered_pct, r.peak_p99
        );
    }
    let ratio = |a: &Row, b: &Row| {
        format!(
            "writes/s {:.2}x, events/s {:.2}x, p99 {:.2}x",
            a.writes_per_s / b.writes_per_s,
            a.events_per_s / b.events_per_s,
            a.p99 / b.p99
        )
    };
    println!("ratio postgres x1 / sqlite x1: {}", ratio(&rows[1], &rows[0]));
    println!("ratio postgres x2 / postgres x1: {}", ratio(&rows[2], &rows[1]));
    println!("ratio postgres x2 / sqlite x1: {}", ratio(&rows[2], &rows[0]));
    println!(
        "(one machine, 2 cores: the instances, PostgreSQL and the load share them, so x2 shows the cost of the \
         shared log, not the gain of a second machine)"
    );
    Ok(())
}

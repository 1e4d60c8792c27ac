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

mod common;

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    client, cpu_seconds, drained, env_or, patch, percentile, prepare_db, root, start_order_server, wait_listening,
    Shared, Target, Tokens, SECRET,
};
use order_server::auth::Keys;
use order_server::store::DbLocation;
use tokio::process::Command;

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

/// Concurrent writers of the peak phase by default: enough to keep either server busy on two cores.
const WRITERS: usize = 64;

async fn run_level(target: &Target, n: usize, tokens: &Tokens, seconds: u64, samples: usize) -> Row {
    let shared = Shared::new(n);
    let (private_before, rss_before) = target.memory_kib();
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        tasks.push(tokio::spawn(client(target.base.clone(), tokens.customers[i].clone(), i, shared.clone(), None)));
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
    let tokens = prepare_db(&DbLocation::Sqlite(db.clone()), max, &keys).await?;
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, SECRET)?;

    let mut rows = Vec::new();
    for &n in &levels {
        // Every client comes from 127.0.0.1 here: the per-address cap would otherwise refuse most of them.
        let target = start_order_server(&db, &secret_file, &["--sockets-per-addr", "1000000"], "warn").await?;
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

//! The push benchmark's run, shared by `cargo xtask bench push` (`benches/push.rs`: 500 customers, the release
//! server) and its short bounded version in `tests/push.rs` (a few customers, the debug server): customers with
//! 20 FCM devices each and no live socket, two waves of one status change per order through the FCM stand-in,
//! a burst (every change at once) and a paced one (spread over `spread`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use live_orders_tests::procs::{rest_login, OrderServer, TempDir};
use live_orders_tests::push::{Fcm, Standin};
use order_protocol::Status;

const DEVICES_PER_CUSTOMER: usize = 20;

pub struct Wave {
    pub name: &'static str,
    pub pushes: usize,
    pub seconds: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

/// What a run measured.
pub struct Report {
    pub customers: usize,
    pub waves: Vec<Wave>,
    /// The server's push counters (`/metrics`' `push.fcm`).
    pub counters: serde_json::Value,
    /// Access tokens the FCM stand-in issued.
    pub access_tokens: u64,
}

/// Runs both waves for `customers` customers, the paced one spread over `spread`.
pub async fn run(customers: usize, spread: Duration) -> Result<Report> {
    let dir = TempDir::new("bench-push");
    let (fcm, account) = Fcm::start(dir.path()).await?;
    let orders = prepare(&dir.path().join("orders.db"), customers).await?;
    let endpoint = fcm.endpoint();
    let args = ["--fcm-service-account", account.to_str().context("a UTF-8 path")?, "--fcm-endpoint", &endpoint];
    let server = tokio::task::block_in_place(|| OrderServer::start(dir.path(), &args))?;
    let http = reqwest::Client::new();
    let owner = rest_login(&http, &server.api_url(), ("owner@example.com", "owner-pass")).await?;

    let mut waves = Vec::new();
    for (name, status, spread) in [("burst", Status::Confirmed, Duration::ZERO), ("paced", Status::Preparing, spread)] {
        let already = fcm.deliveries().len();
        let changed = change_all(&http, &server.api_url(), &owner, &orders, status, spread).await?;
        let want = already + orders.len() * DEVICES_PER_CUSTOMER;
        let got = fcm.wait_for(want, Duration::from_secs(30 + customers as u64 / 10)).await?;
        let mut delays: Vec<f64> = got[already..]
            .iter()
            .map(|d| {
                let at = changed.get(&d.message.order_id).copied().unwrap_or(d.at);
                d.at.saturating_duration_since(at).as_secs_f64() * 1e3
            })
            .collect();
        delays.sort_by(f64::total_cmp);
        let first = changed.values().min().copied().context("changes were made")?;
        let last = got[already..].iter().map(|d| d.at).max().context("pushes arrived")?;
        waves.push(Wave {
            name,
            pushes: delays.len(),
            seconds: (last - first).as_secs_f64(),
            p50: percentile(&delays, 0.50),
            p99: percentile(&delays, 0.99),
            max: delays.last().copied().unwrap_or(0.0),
        });
    }
    // The stand-in counts a push when it answers; the server, once the answer reached it: a moment later.
    let sent = waves.iter().map(|w| w.pushes).sum::<usize>() as u64;
    let deadline = Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let m: serde_json::Value = http.get(server.metrics_url()).send().await?.json().await?;
        if m["push"]["fcm"]["sent"].as_u64() >= Some(sent) || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    Ok(Report { customers, waves, counters: metrics["push"]["fcm"].clone(), access_tokens: fcm.assertions_accepted() })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// A database of `n` customers (written directly: no password hashing), each with one pending order and 20 FCM
/// devices; returns the order ids. The orders are placed before push is on, so they push nothing.
async fn prepare(db: &std::path::Path, n: usize) -> Result<Vec<String>> {
    use order_protocol::{Address, Item, Role, User};
    use order_server::store::{OrderInput, Store};
    let store = Store::open(&order_server::store::DbLocation::Sqlite(db.to_owned())).await?;
    let mut tx = store.pool().begin().await?;
    let ts = chrono::Utc::now().to_rfc3339();
    let now = chrono::Utc::now().timestamp();
    for i in 0..n {
        sqlx::query("INSERT INTO users VALUES (?, ?, ?, 'customer', 'x', ?)")
            .bind(format!("c{i}"))
            .bind(format!("Customer {i}"))
            .bind(format!("c{i}@bench"))
            .bind(&ts)
            .execute(&mut *tx)
            .await?;
        for d in 0..DEVICES_PER_CUSTOMER {
            sqlx::query(
                "INSERT INTO devices (id, user_id, family, platform, token, created_at) VALUES (?, ?, 'bench', 'fcm', ?, ?)",
            )
            .bind(format!("d{i}-{d}"))
            .bind(format!("c{i}"))
            .bind(format!("bench-{i}-{d}:APA91b{:016x}", rand::random::<u64>()))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
    }
    tx.commit().await?;
    let mut orders = Vec::with_capacity(n);
    for i in 0..n {
        let user = User::new(format!("c{i}"), format!("Customer {i}"), format!("c{i}@bench"), Role::Customer);
        let input = OrderInput {
            items: vec![Item { name: "Pizza".into(), quantity: 1, price: 12.5 }],
            delivery_address: Address {
                street: "1 Bench Street".into(),
                city: "Springfield".into(),
                ..Default::default()
            },
        };
        orders.push(store.place_order(&user, input).await?.order.id);
    }
    store.close().await;
    Ok(orders)
}

/// Moves every order to `status` over REST as the store owner, spread evenly over `spread`; returns when each
/// change was answered (committed).
async fn change_all(
    http: &reqwest::Client,
    api: &str,
    owner: &str,
    orders: &[String],
    status: Status,
    spread: Duration,
) -> Result<HashMap<String, Instant>> {
    let gap = spread / orders.len().max(1) as u32;
    let start = tokio::time::Instant::now();
    let calls = orders.iter().enumerate().map(|(i, id)| {
        let (http, url) = (http.clone(), format!("{api}/orders/{id}/status"));
        let owner = owner.to_owned();
        let id = id.clone();
        async move {
            tokio::time::sleep_until(start + gap * i as u32).await;
            let res = http.patch(url).bearer_auth(owner).json(&serde_json::json!({ "status": status })).send().await?;
            anyhow::ensure!(res.status().is_success(), "PATCH status: {}", res.status());
            Ok::<_, anyhow::Error>((id, Instant::now()))
        }
    });
    futures_util::future::join_all(calls).await.into_iter().collect()
}

impl Report {
    /// The table `cargo xtask bench push` prints.
    pub fn print(&self) {
        println!();
        println!(
            "push: {} customers x {DEVICES_PER_CUSTOMER} devices = {} FCM devices, no live socket; one status \
             change per order per wave",
            self.customers,
            self.customers * DEVICES_PER_CUSTOMER
        );
        println!("| wave | pushes | seconds | pushes/s | change→send p50 | p99 | max |");
        println!("|---|---:|---:|---:|---:|---:|---:|");
        for w in &self.waves {
            println!(
                "| {} | {} | {:.2} | {:.0} | {:.0} ms | {:.0} ms | {:.0} ms |",
                w.name,
                w.pushes,
                w.seconds,
                w.pushes as f64 / w.seconds.max(1e-9),
                w.p50,
                w.p99,
                w.max
            );
        }
        let c = &self.counters;
        println!(
            "server counters: sent {}, retried {}, failed {}; access tokens fetched: {}",
            c["sent"], c["retried"], c["failed"], self.access_tokens
        );
    }
}

//! `cargo bench -p order-client --bench client` (what `cargo xtask bench client` runs): prints the engine's
//! figures.
//!
//! - reducer throughput: live order updates applied per second on one core (JSON already parsed);
//! - catch-up of 10,000 changes: parsing and applying a `GET /orders/changes` body of 10,000 changes, as the
//!   engine does after a long absence;
//! - memory per 1,000 orders: resident memory grown by holding 10,000 orders, divided by 10;
//! - reachable→Live: a real `order-server` comes up where the engine keeps failing to connect; the time from
//!   its listening to the engine reporting `Live`, beside the backoff delay that was pending.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use order_client::{ClientEvent, Engine, EngineConfig, Input, MemoryTokenStore, OrderBook};
use order_protocol::{
    Address, Change, ChangesResponse, Delivery, Item, LinkState, Order, OrderUpdate, Patch, ServerEvent, Source,
    Status, StatusEntry,
};

fn order(i: usize, status: Status, t: i64) -> Order {
    let at = Utc.timestamp_opt(1_795_000_000 + t, 0).unwrap();
    Order {
        id: format!("{i:024x}"),
        order_number: format!("ORD-{}", 1000 + i),
        customer: "64b0000000000000000000aa".into(),
        items: vec![
            Item { name: "Margherita pizza".into(), quantity: 1, price: 12.5 },
            Item { name: "Lemonade".into(), quantity: 2, price: 3.0 },
        ],
        total_amount: 18.5,
        status,
        status_history: vec![
            StatusEntry { status: Status::Pending, timestamp: at },
            StatusEntry { status, timestamp: at },
        ],
        delivery_address: Some(Address {
            street: "12 Elm Street".into(),
            city: "Springfield".into(),
            lat: Some(40.7),
            lng: Some(-74.0),
        }),
        delivery: Some(Delivery::default()),
        created_at: at,
        updated_at: at,
    }
}

const FLOW: [Status; 5] =
    [Status::Confirmed, Status::Preparing, Status::Ready, Status::OutForDelivery, Status::Delivered];

fn reducer_throughput() {
    let orders = 1_000;
    let mut inputs = Vec::new();
    for (step, status) in FLOW.iter().enumerate() {
        for i in 0..orders {
            let seq = (step * orders + i + 1) as u64;
            let u = OrderUpdate::of(&order(i, *status, 10 + step as i64), Some(seq));
            inputs.push(Input::Server {
                event: ServerEvent::CustomerOrderUpdate(u),
                source: Source::Live,
                at: Utc::now(),
            });
        }
    }
    let n = inputs.len();
    let mut book = OrderBook::new();
    book.apply(Input::Orders {
        orders: (0..orders).map(|i| order(i, Status::Pending, 0)).collect(),
        source: Source::Initial,
        at: Utc::now(),
    });
    let t = Instant::now();
    let mut effects = 0;
    for i in inputs {
        effects += book.apply(i).len();
    }
    let el = t.elapsed();
    println!(
        "reducer throughput: {:.0} updates/s ({n} order updates over {orders} orders in {:.1} ms, {effects} effects)",
        n as f64 / el.as_secs_f64(),
        el.as_secs_f64() * 1e3
    );
}

fn catch_up_10k() {
    let orders = 2_000;
    let mut changes = Vec::new();
    let mut seq = 0;
    for (step, status) in FLOW.iter().enumerate() {
        for i in 0..orders {
            seq += 1;
            let u = OrderUpdate::of(&order(i, *status, 10 + step as i64), Some(seq));
            changes.push(Change {
                seq,
                event: "customer_order_update".into(),
                payload: serde_json::to_value(u).unwrap(),
            });
        }
    }
    let body = serde_json::to_vec(&ChangesResponse { latest_seq: seq, changes, has_more: false }).unwrap();
    let mut book = OrderBook::new();
    book.apply(Input::Orders {
        orders: (0..orders).map(|i| order(i, Status::Pending, 0)).collect(),
        source: Source::Initial,
        at: Utc::now(),
    });
    // The bounds check on its own, for the figure in brackets.
    let tb = Instant::now();
    order_protocol::bounds::check_json(&body).unwrap();
    let bounds = tb.elapsed();
    let t = Instant::now();
    // As the engine reads it: bounds checked, then parsed.
    let resp: ChangesResponse = order_client::parse_body(&body).unwrap();
    let parsed = t.elapsed();
    let n = resp.changes.len();
    for c in resp.changes {
        book.apply(Input::Wire { event: c.event, payload: c.payload, source: Source::CatchUp, at: Utc::now() });
    }
    let el = t.elapsed();
    assert!(book.orders().all(|o| o.status == Status::Delivered));
    println!(
        "catch-up of {n} changes: {:.1} ms ({:.1} MB body; parse {:.1} ms with its bounds check {:.1} ms, apply {:.1} ms)",
        el.as_secs_f64() * 1e3,
        body.len() as f64 / 1e6,
        parsed.as_secs_f64() * 1e3,
        bounds.as_secs_f64() * 1e3,
        (el - parsed).as_secs_f64() * 1e3
    );
}

fn rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find(|l| l.starts_with("VmRSS:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn memory_per_1000_orders() {
    let n = 10_000;
    let orders: Vec<Order> = (0..n).map(|i| order(i, Status::Preparing, 5)).collect();
    let before = rss_kib();
    let mut book = OrderBook::new();
    book.apply(Input::Orders { orders, source: Source::Initial, at: Utc::now() });
    let after = rss_kib();
    match (before, after) {
        (Some(b), Some(a)) => println!(
            "memory per 1,000 orders: {:.0} KiB (resident growth holding {n} orders, /10; each order with 2 items, an address, a 2-step timeline)",
            a.saturating_sub(b) as f64 / (n as f64 / 1000.0)
        ),
        _ => println!("memory per 1,000 orders: not measurable here (no /proc)"),
    }
    std::hint::black_box(&book);
}

async fn reachable_to_live() {
    let dir = std::env::temp_dir().join(format!("order-client-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    // A token from a first run of the server, so the engine can start before the server is back.
    let mut config = order_server::ServerConfig::for_tests(dir.join("orders.db"));
    config.addr = addr;
    let srv = order_server::spawn(config.clone()).await.unwrap();
    let api = order_client::Api::new(&srv.api_url());
    let (token, _) = api.login("alice@example.com", "alice-pass").await.unwrap();
    srv.shutdown().await;

    let (engine, mut rx) =
        Engine::start(EngineConfig::new(format!("http://{addr}")), Arc::new(MemoryTokenStore::new(Some(token))));
    // Let a few attempts fail so a real backoff delay is pending.
    let mut pending_retry = None;
    let wait_until = Instant::now() + Duration::from_millis(3500);
    while Instant::now() < wait_until {
        if let Ok(Some(ClientEvent::Update {
            patch:
                Patch::Link {
                    link: LinkState::Connecting { next_retry_at, .. } | LinkState::Offline { next_retry_at, .. },
                    ..
                },
            ..
        })) = tokio::time::timeout(Duration::from_millis(50), rx.recv()).await
        {
            pending_retry = next_retry_at;
        }
    }
    let srv = order_server::spawn(config).await.unwrap();
    let up = Instant::now();
    let up_wall = Utc::now();
    let pending = pending_retry.map(|t| (t - up_wall).num_milliseconds().max(0)).unwrap_or(0);
    loop {
        match tokio::time::timeout(Duration::from_secs(30), rx.recv()).await {
            Ok(Some(ClientEvent::Update { patch: Patch::Link { link: LinkState::Live { .. }, .. }, .. })) => break,
            Ok(Some(_)) => {}
            _ => panic!("never live"),
        }
    }
    let took = up.elapsed().as_millis() as i64;
    println!(
        "reachable→Live: {took} ms after the server listened (pending backoff delay then: {pending} ms; overhead {} ms)",
        took - pending
    );
    engine.shutdown().await;
    srv.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    // Memory first: later benchmarks leave freed heap behind that would hide the growth.
    memory_per_1000_orders();
    reducer_throughput();
    catch_up_10k();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(reachable_to_live());
}

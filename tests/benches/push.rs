//! `cargo xtask bench push`: how fast order-server pushes, through the FCM stand-in, to 10,000 registered
//! devices of customers whose app is closed (`BENCH_PUSH_CUSTOMERS` customers, default 500, 20 devices each),
//! and the delay from a change's commit (its REST call answered) to the stand-in accepting each push.
//!
//! Two waves of one status change per order: a burst (every change at once) and a paced one (changes spread
//! over five seconds), printed side by side. The server is the release build (`LIVE_ORDERS_PROFILE=release`).
//! The run itself is `push_waves`, which `tests/push.rs` also runs, briefly.

mod push_waves;

use std::time::Duration;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let customers = std::env::var("BENCH_PUSH_CUSTOMERS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    push_waves::run(customers, Duration::from_secs(5)).await?.print();
    Ok(())
}

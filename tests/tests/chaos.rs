//! A short chaos soak per backend with a fresh seed each run (printed, so a failure replays with
//! `cargo xtask chaos --seed S --backend …`); the full soak is `cargo xtask chaos`.

use std::io::Write;

use live_orders_tests::chaos::{soak, Backend, Opts};

const CYCLES: u32 = 12;

async fn short_soak(backend: Backend) {
    let opts = Opts { cycles: CYCLES, seed: rand::random(), backend };
    // Straight to stderr, past the test harness's capture: the seed shows in every CI log, passing or not.
    let say = |line: String| {
        let _ = writeln!(std::io::stderr(), "{line}");
    };
    say(format!("chaos: {CYCLES} cycles against {backend}, seed {}", opts.seed));
    let report = soak(&opts).await.unwrap_or_else(|e| panic!("{e:#}"));
    say(format!("{} against {backend} ({:.1?} per cycle)", report.line(), report.elapsed / CYCLES));
    assert!(report.clean(), "{}", report.line());
    assert_eq!(report.cycles, CYCLES);
    assert!(report.transitions > 0, "the store moved orders");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_chaos_soak_against_order_server_loses_nothing() {
    short_soak(Backend::OrderServer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_chaos_soak_against_the_node_server_loses_nothing() {
    short_soak(Backend::Node).await;
}

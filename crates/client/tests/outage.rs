//! A long outage must cost next to no CPU: the engine sleeps its backoff (never below half a second, capped at
//! 5 s) instead of spinning, however long the server stays away. Its own test binary, so no other test's work
//! is counted in this process's CPU time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use order_client::{ClientEvent, Engine, EngineConfig, MemoryTokenStore, Token};
use order_protocol::{LinkState, Patch};

/// User + system CPU time of this process, from /proc (Linux).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or_default().split_whitespace().collect();
    // After the command name: state is field 3, utime 14 and stime 15 (1-based), i.e. indexes 11 and 12 here.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_waited_out_cheaply_with_capped_backoff_and_an_honest_link_state() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let token = Token::new("header.eyJ1c2VySWQiOiJ1MSJ9.sig");
    let (engine, mut rx) =
        Engine::start(EngineConfig::new(format!("http://{dead}")), Arc::new(MemoryTokenStore::new(Some(token))));
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let mut links = Vec::new();
    while t0.elapsed() < Duration::from_secs(14) {
        if let Ok(Some(ClientEvent::Update { patch: Patch::Link { link, .. }, .. })) =
            tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
        {
            links.push((t0.elapsed(), link));
        }
    }
    let cpu = cpu_time() - cpu0;
    let attempts = links.iter().filter(|(_, l)| !matches!(l, LinkState::Live { .. })).count();
    assert!(cpu < Duration::from_millis(1500), "14 s of outage cost {cpu:?} of CPU");
    // 1 s, 2 s, 4 s, then 5 s (±50 %): a handful of attempts, never a tight loop.
    assert!((3..=15).contains(&attempts), "{attempts} attempts in 14 s: {links:?}");
    assert!(links.iter().any(|(_, l)| matches!(l, LinkState::Connecting { .. })));
    // After about 10 s the outage is called Offline, with its reason, while retries go on.
    let offline = links.iter().find_map(|(t, l)| match l {
        LinkState::Offline { reason, next_retry_at, .. } => Some((*t, reason.clone(), *next_retry_at)),
        _ => None,
    });
    let (when, reason, next) = offline.unwrap_or_else(|| panic!("never offline: {links:?}"));
    assert!(when >= Duration::from_secs(9) && when <= Duration::from_millis(11_500), "offline at {when:?}, not ~10 s");
    assert!(reason.contains("refused"), "the reason is in words: {reason}");
    assert!(next.is_some(), "retries go on");
    engine.shutdown().await;
}

//! A phone app sent to the background: the engine, suspended, closes its link after the grace and hears
//! nothing while the store moves orders; resumed, it reconnects and catches up. Against a real order-server:
//! every moved order ends where the store put it, with exactly one notification each, and nothing arrived
//! while suspended.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use order_client::{Api, ClientEvent, Engine, EngineConfig, MemoryTokenStore};
use order_protocol::{LinkState, Patch};
use tokio::sync::mpsc::UnboundedReceiver;

/// Reads events until one matches, for up to 20 s; returns every event read, the match last.
async fn until(
    rx: &mut UnboundedReceiver<ClientEvent>,
    what: &str,
    f: impl Fn(&ClientEvent) -> bool,
) -> Vec<ClientEvent> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(ev)) => {
                let done = f(&ev);
                seen.push(ev);
                if done {
                    return seen;
                }
            }
            Ok(None) => panic!("the engine stopped before {what}"),
            Err(_) => panic!("no {what} within 20 s; saw {seen:?}"),
        }
    }
}

fn link(ev: &ClientEvent) -> Option<&LinkState> {
    match ev {
        ClientEvent::Update { patch: Patch::Link { link, .. }, .. } => Some(link),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspended_engine_hears_nothing_and_once_resumed_misses_nothing_and_notifies_each_moved_order_once() {
    let dir = tempfile::tempdir().unwrap();
    let srv = order_server::spawn(order_server::ServerConfig::for_tests(dir.path().join("orders.db"))).await.unwrap();
    let origin = format!("http://{}", srv.addr());
    let mut config = EngineConfig::new(&origin);
    config.suspend_grace = Duration::from_millis(300);
    let (engine, mut rx) = Engine::start(config, Arc::new(MemoryTokenStore::default()));
    engine.login("alice@example.com", "alice-pass").await.unwrap();
    until(&mut rx, "the link live", |e| link(e).is_some_and(LinkState::is_live)).await;

    engine.suspend().unwrap();
    let paused = until(&mut rx, "the link paused", |e| matches!(link(e), Some(LinkState::Offline { .. }))).await;
    let Some(LinkState::Offline { reason, .. }) = paused.last().and_then(link) else { unreachable!() };
    assert!(reason.contains("background"), "the view says why nothing arrives: {reason}");

    // The store moves every open order of alice's one step while the app is away.
    let api = Api::new(&origin);
    let (alice, _) = api.login("alice@example.com", "alice-pass").await.unwrap();
    let (owner, _) = api.login("owner@example.com", "owner-pass").await.unwrap();
    let mut moved = Vec::new();
    for order in api.orders(&alice).await.unwrap() {
        if let Some(next) = order.status.next() {
            api.set_status(&owner, &order.id, next).await.unwrap();
            moved.push((order.id.clone(), next));
        }
    }
    assert!(moved.len() >= 2, "the seed has open orders: {moved:?}");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut heard = Vec::new();
    while let Ok(ev) = rx.try_recv() {
        heard.push(ev);
    }
    let news =
        |e: &ClientEvent| matches!(e, ClientEvent::Notify(_) | ClientEvent::Update { patch: Patch::Order { .. }, .. });
    assert!(!heard.iter().any(news), "nothing arrives while suspended: {heard:?}");

    engine.resume().unwrap();
    let mut caught = until(&mut rx, "the link live again", |e| link(e).is_some_and(LinkState::is_live)).await;
    // Anything still on its way right after going live.
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(ev) = rx.try_recv() {
        caught.push(ev);
    }
    let notified: Vec<String> = caught
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Notify(n) => n.order_id.clone(),
            _ => None,
        })
        .collect();
    let moved_ids: BTreeSet<String> = moved.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(notified.len(), moved.len(), "one notification per moved order: {notified:?}");
    assert_eq!(notified.iter().cloned().collect::<BTreeSet<_>>(), moved_ids);
    let view = engine.snapshot().await.unwrap();
    for (id, status) in &moved {
        let shown = view.orders.iter().find(|o| &o.id == id).map(|o| o.status);
        assert_eq!(shown, Some(*status), "order {id} is shown where the store put it");
    }
    engine.shutdown().await;
    srv.shutdown().await;
}

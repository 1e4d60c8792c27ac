//! order-client against a backend that speaks only the base contract: the official `socket.io` 4.8 server with
//! connection state recovery on (every event carries an extra offset argument), in `tests/peers/node-base`.
//! Catch-up here is "reload and diff": the final state and one notification per order that moved must arrive,
//! nothing twice, nothing backwards, and the link state must tell the outage as it was.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use live_orders_tests::client_log::{link_of, monotonic, EventLog};
use live_orders_tests::cut_proxy::{CutProxy, Mode};
use live_orders_tests::node_peer::NodePeer;
use order_client::{Api, ApiError, ClientEvent, Engine, EngineConfig, EngineError, MemoryTokenStore, Token};
use order_protocol::{LinkState, Order, Status};

const LONG: Duration = Duration::from_secs(30);

async fn owner(api: &Api) -> Result<Token> {
    Ok(api.login("owner@example.com", "owner-pass").await?.0)
}

async fn alice_orders(api: &Api) -> Result<Vec<Order>> {
    let (token, _) = api.login("alice@example.com", "alice-pass").await?;
    Ok(api.orders(&token).await?)
}

async fn start_alice(api_url: &str) -> Result<(Engine, EventLog)> {
    let (engine, rx) = Engine::start(EngineConfig::new(api_url), Arc::new(MemoryTokenStore::default()));
    let log = EventLog::record(rx);
    engine.login("alice@example.com", "alice-pass").await?;
    Ok((engine, log))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_updates_arrive_once_despite_recovery_offsets_and_room_duplicates() -> Result<()> {
    let peer = NodePeer::start().await?;
    let api = Api::new(&peer.api_url());
    let orders = alice_orders(&api).await?;
    let id = orders[0].id.clone();
    let (engine, log) = start_alice(&peer.api_url()).await?;
    log.wait_link("live", 0, LONG).await?;
    // Watching adds the order room: every change then arrives twice (customer and order room), applied once.
    engine.watch(id.clone())?;
    tokio::time::sleep(Duration::from_millis(300)).await; // the join is fire-and-forget; give it a moment
    let owner = owner(&api).await?;
    for s in [Status::Confirmed, Status::Preparing, Status::OutForDelivery] {
        api.set_status(&owner, &id, s).await?;
    }
    log.wait_for("out_for_delivery applied", LONG, |_| log.statuses_of(&id).last() == Some(&Status::OutForDelivery))
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await; // duplicates, if any, would land now
    assert_eq!(
        log.statuses_of(&id),
        [Status::Pending, Status::Confirmed, Status::Preparing, Status::OutForDelivery],
        "{:#?}",
        log.summary()
    );
    assert_eq!(log.notifications_for(&id), 3);
    let state = engine.snapshot().await?;
    let o = state.orders.iter().find(|o| o.id == id).expect("the order is in the state");
    assert_eq!(o.progress, 85);
    assert_eq!(o.delivery.as_ref().and_then(|d| d.driver.as_ref()).map(|d| d.name.as_str()), Some("Dana Driver"));
    assert_eq!(o.timeline.len(), 4, "timeline: {:?}", o.timeline);
    assert_eq!(state.inbox.unread, 3);
    engine.mark_all_read()?;
    let state = engine.snapshot().await?;
    assert_eq!(state.inbox.unread, 0);
    assert!(state.link.is_live());
    engine.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_first_connect_and_a_server_side_kick_are_retried() -> Result<()> {
    let peer = NodePeer::start().await?;
    let proxy = CutProxy::start(peer.addr).await?;
    proxy.set(Mode::Cut);
    let (engine, rx) = Engine::start(EngineConfig::new(proxy.api_url()), Arc::new(MemoryTokenStore::default()));
    let log = EventLog::record(rx);
    // Logging in needs REST, so the token comes from the peer directly, as if stored by an earlier run.
    let (token, _) = Api::new(&peer.api_url()).login("alice@example.com", "alice-pass").await?;
    engine.use_token(token, None)?;
    // Down at start: attempts go on, with the backoff (1 s, 2 s, ...).
    log.wait_for("two retries scheduled", LONG, |ev| {
        ev.iter()
            .filter(|(_, e)| matches!(link_of(e), Some(LinkState::Connecting { next_retry_at: Some(_), .. })))
            .count()
            >= 2
    })
    .await?;
    proxy.set(Mode::Open);
    let live = log.wait_link("live", 0, LONG).await?;
    assert_eq!(engine.snapshot().await?.orders.len(), 3);

    // A server-side kick: rust_socketio alone would stay dead; the engine comes back.
    peer.disconnect_all().await?;
    let away = log.wait_link("connecting", live, LONG).await?;
    log.wait_link("live", away, LONG).await?;
    engine.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_logs_out_and_stops_retrying() -> Result<()> {
    let peer = NodePeer::start().await?;
    let store = Arc::new(MemoryTokenStore::new(Some(Token::new("not.a-valid.jwt"))));
    let (engine, rx) = Engine::start(EngineConfig::new(peer.api_url()), store.clone());
    let log = EventLog::record(rx);
    let out = log.wait_link("logged_out", 1, LONG).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after: Vec<_> = log.links().into_iter().skip(1).collect();
    assert!(
        matches!(after.last(), Some(LinkState::LoggedOut { reason: Some(_) })),
        "no retry after a refusal: {after:?}"
    );
    assert!(log.all()[out..].iter().filter(|(_, e)| link_of(e).is_some()).count() == 1);
    use order_client::TokenStore;
    assert!(store.load()?.is_none(), "the refused token is dropped from the store");

    // Wrong password: refused with the server's words; then the right one brings the link up.
    match engine.login("alice@example.com", "wrong").await {
        Err(EngineError::Api(ApiError::Unauthorized(m))) => assert!(m.contains("Invalid credentials"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    engine.login("alice@example.com", "alice-pass").await?;
    log.wait_link("live", out, LONG).await?;
    engine.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_cut_is_noticed_within_ten_seconds() -> Result<()> {
    let peer = NodePeer::start().await?;
    let proxy = CutProxy::start(peer.addr).await?;
    let (engine, log) = start_alice(&proxy.api_url()).await?;
    let live = log.wait_link("live", 0, LONG).await?;
    let t0 = Instant::now();
    proxy.set(Mode::Blackhole);
    let away = log.wait_link("connecting", live, Duration::from_secs(20)).await?;
    let noticed = log.all()[away].0.duration_since(t0);
    assert!(noticed <= Duration::from_secs(10), "a silent cut took {noticed:?} to notice");
    // While black-holed, new connections hang: attempts time out and go on, cheaply.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let owner = owner(&Api::new(&peer.api_url())).await?;
    let id = alice_orders(&Api::new(&peer.api_url())).await?[1].id.clone();
    Api::new(&peer.api_url()).set_status(&owner, &id, Status::Confirmed).await?;
    eprintln!("{:?} moved; opening", chrono::Utc::now());
    proxy.set(Mode::Open);
    log.wait_link("live", away, LONG).await?;
    log.wait_for("the missed change caught up", LONG, |_| log.statuses_of(&id).last() == Some(&Status::Confirmed))
        .await?;
    assert_eq!(log.notifications_for(&id), 1);
    engine.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_cuts_while_the_store_moves_orders_lose_nothing() -> Result<()> {
    let peer = NodePeer::start().await?;
    let direct = Api::new(&peer.api_url());
    let proxy = CutProxy::start(peer.addr).await?;
    let owner = owner(&direct).await?;
    let ids: Vec<String> = alice_orders(&direct).await?.into_iter().map(|o| o.id).collect();
    let (engine, log) = start_alice(&proxy.api_url()).await?;
    log.wait_link("live", 0, LONG).await?;

    let flow = [Status::Confirmed, Status::Preparing, Status::Ready, Status::OutForDelivery, Status::Delivered];
    let mut step = [0usize; 3];
    let mut moved_while_away = [false; 3];
    for round in 0..6 {
        let cut = round % 2 == 0;
        if cut {
            proxy.set(Mode::Cut);
        }
        for (i, id) in ids.iter().enumerate() {
            // Order 2 is cancelled half way; the others walk the whole flow.
            if (round + i) % 3 == 0 || step[i] >= flow.len() {
                continue;
            }
            let status = if i == 2 && step[i] == 2 { Status::Cancelled } else { flow[step[i]] };
            if step[i] < flow.len() && !(i == 2 && step[i] > 2) {
                direct.set_status(&owner, id, status).await?;
                moved_while_away[i] |= cut;
                step[i] = if status == Status::Cancelled { flow.len() } else { step[i] + 1 };
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        tokio::time::sleep(Duration::from_millis(400)).await;
        proxy.set(Mode::Open);
        if cut {
            // Let the engine get back before the next cut (a backoff delay and a catch-up).
            log.wait_for("live again", LONG, |ev| {
                ev.last().and_then(|(_, e)| link_of(e)).is_some_and(|l| l.is_live()) || {
                    log.links().last().is_some_and(|l| l.is_live())
                }
            })
            .await?;
        }
    }
    let server: Vec<Order> = alice_orders(&direct).await?;
    log.wait_for("the final state", LONG, |_| server.iter().all(|o| log.statuses_of(&o.id).last() == Some(&o.status)))
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let snapshot = engine.snapshot().await?;
    for o in &server {
        let seen = log.statuses_of(&o.id);
        assert!(monotonic(&seen), "{} went backwards or twice: {seen:?}", o.order_number);
        let held = snapshot.orders.iter().find(|v| v.id == o.id).expect("held");
        assert_eq!(held.status, o.status);
        let moves = seen.len() - 1;
        let notes = log.notifications_for(&o.id);
        assert!(notes >= 1 && notes <= moves, "{}: {notes} notifications for {moves} moves", o.order_number);
    }
    assert!(moved_while_away.iter().any(|m| *m), "the test must move orders during an outage");
    let links = log.links();
    assert!(links.iter().filter(|l| l.name() == "connecting").count() >= 3, "every cut shows: {links:?}");
    assert!(snapshot.link.is_live());
    engine.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_wipes_the_state() -> Result<()> {
    let peer = NodePeer::start().await?;
    let (engine, log) = start_alice(&peer.api_url()).await?;
    log.wait_link("live", 0, LONG).await?;
    engine.logout().await?;
    let s = engine.snapshot().await?;
    assert!(matches!(s.link, LinkState::LoggedOut { .. }), "{:?}", s.link);
    assert!(s.orders.is_empty() && s.inbox.items.is_empty());
    assert!(log
        .all()
        .iter()
        .any(|(_, e)| matches!(e, ClientEvent::Update { patch: order_protocol::Patch::Reset { .. }, .. })));
    Ok(())
}

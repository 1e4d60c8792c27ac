//! order-client against our own `order-server` (in this process, on a real SQLite file and real sockets): the
//! extensions make catch-up exact, so through cuts and a server restart every transition must be applied
//! exactly once, in order, with its `seq`; read state is synced through the server; a recreated server (a log
//! that went back) is survived with a reload.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use live_orders_tests::client_log::{link_of, monotonic, EventLog};
use live_orders_tests::cut_proxy::{CutProxy, Mode};
use live_orders_tests::fault_proxy::{Fault, FaultProxy};
use live_orders_tests::procs::TempDir;
use order_client::{Api, ClientEvent, Engine, EngineConfig, MemoryTokenStore, Token};
use order_protocol::{LinkState, Order, Patch, Status};
use order_server::{RunningServer, ServerConfig};

const LONG: Duration = Duration::from_secs(30);

async fn server(db: &std::path::Path) -> Result<RunningServer> {
    let mut config = ServerConfig::for_tests(db.to_owned());
    config.login_attempts_per_minute = 10_000;
    order_server::spawn(config).await
}

async fn login(api: &Api, who: &str) -> Result<Token> {
    let pass = format!("{}-pass", who);
    Ok(api.login(&format!("{who}@example.com"), &pass).await?.0)
}

async fn active_orders(api: &Api) -> Result<Vec<Order>> {
    let token = login(api, "alice").await?;
    Ok(api.orders(&token).await?.into_iter().filter(|o| o.status.is_active()).collect())
}

/// Moves one order one step along the flow; returns the status it reached.
async fn step(api: &Api, owner: &Token, id: &str, now: Status) -> Result<Option<Status>> {
    let Some(next) = now.next() else { return Ok(None) };
    api.set_status(owner, id, next).await?;
    Ok(Some(next))
}

/// The cursor regression: the socket comes back, a live event lands while the catch-up runs, and then that
/// catch-up dies. The change missed during the cut must still arrive with the next catch-up: a cursor that
/// jumped to the live event's `seq` would start the replay past it, and the order would never move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_event_during_a_catch_up_that_dies_does_not_skip_the_change_missed_before_it() -> Result<()> {
    let dir = TempDir::new("cursor");
    let srv = server(&dir.path().join("orders.db")).await?;
    let proxy = FaultProxy::start(srv.addr()).await?;
    let (engine, rx) = Engine::start(EngineConfig::new(proxy.api_url()), Arc::new(MemoryTokenStore::default()));
    let log = EventLog::record(rx);
    engine.login("alice@example.com", "alice-pass").await?;
    log.wait_link("live", 0, LONG).await?;

    let direct = Api::new(&srv.api_url());
    let owner = login(&direct, "owner").await?;
    let active = active_orders(&direct).await?;
    let (missed, live) = match active.as_slice() {
        [a, b, ..] => (a, b),
        _ => anyhow::bail!("the seed has two active orders for alice"),
    };

    // Cut: the first order moves while the client cannot hear it.
    proxy.cut();
    let from = log.len();
    log.wait_for("the link to go down", LONG, |events| {
        events[from..].iter().any(|(_, e)| link_of(e).is_some_and(|l| !l.is_live()))
    })
    .await?;
    let missed_to = step(&direct, &owner, &missed.id, missed.status).await?.expect("an active order moves on");

    // The socket comes back, but the replay request hangs; meanwhile the second order moves, live.
    proxy.fail("/api/orders/changes", Fault::Stall);
    proxy.reopen();
    proxy.wait_stalled(1, LONG).await?;
    let live_to = step(&direct, &owner, &live.id, live.status).await?.expect("an active order moves on");
    log.wait_for("the live update during the catch-up", LONG, |_| log.statuses_of(&live.id).last() == Some(&live_to))
        .await?;
    assert_ne!(log.statuses_of(&missed.id).last(), Some(&missed_to), "not replayed yet");

    // That catch-up dies; the next one goes through and must bring the missed change.
    proxy.clear();
    proxy.release();
    log.wait_for("the change missed during the cut", LONG, |_| log.statuses_of(&missed.id).last() == Some(&missed_to))
        .await?;
    assert_eq!(log.statuses_of(&missed.id), vec![missed.status, missed_to], "once, in order");
    assert_eq!(log.statuses_of(&live.id), vec![live.status, live_to], "the live one once");
    engine.shutdown().await;
    Ok(())
}

/// Discovery believes only definite answers: a 503 from `/orders/changes` in passing is retried, and does not
/// cost the session its extensions. Read state marked in the app still reaches the server, as it does only
/// with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passing_503_during_discovery_keeps_the_extensions() -> Result<()> {
    let dir = TempDir::new("discovery");
    let srv = server(&dir.path().join("orders.db")).await?;
    let proxy = FaultProxy::start(srv.addr()).await?;
    proxy.fail("/api/orders/changes", Fault::Status(503));
    let (engine, rx) = Engine::start(EngineConfig::new(proxy.api_url()), Arc::new(MemoryTokenStore::default()));
    let log = EventLog::record(rx);
    engine.login("alice@example.com", "alice-pass").await?;
    proxy.wait_faulted(1, LONG).await?;
    // The link says in words why it is not live yet.
    log.wait_for("the reason on the link", LONG, |events| {
        events.iter().any(|(_, e)| {
            matches!(link_of(e), Some(LinkState::Connecting { reason: Some(r), .. })
                if r.contains("catching up failed") && r.contains("503"))
        })
    })
    .await?;
    proxy.clear();
    log.wait_link("live", 0, LONG).await?;

    let direct = Api::new(&srv.api_url());
    let (owner, alice) = (login(&direct, "owner").await?, login(&direct, "alice").await?);
    let order = active_orders(&direct).await?.into_iter().next().expect("alice has an active order");
    step(&direct, &owner, &order.id, order.status).await?;
    let mut note = None;
    log.wait_for("the notification of that move", LONG, |events| {
        note = events.iter().find_map(|(_, e)| match e {
            ClientEvent::Notify(n) if n.order_id.as_deref() == Some(order.id.as_str()) => Some(n.id.clone()),
            _ => None,
        });
        note.is_some()
    })
    .await?;
    let note = note.expect("found above");
    engine.mark_read(note.clone())?;
    let deadline = tokio::time::Instant::now() + LONG;
    loop {
        let read = direct.notifications(&alice).await?.into_iter().any(|n| n.id == note && n.read);
        if read {
            break;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the read mark never reached the server");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    engine.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_cuts_and_a_restart_every_transition_is_applied_exactly_once() -> Result<()> {
    let dir = TempDir::new("exact");
    let db = dir.path().join("orders.db");
    let mut srv = server(&db).await?;
    let proxy = CutProxy::start(srv.addr()).await?;
    let (engine, rx) = Engine::start(EngineConfig::new(proxy.api_url()), Arc::new(MemoryTokenStore::default()));
    let log = EventLog::record(rx);
    engine.login("alice@example.com", "alice-pass").await?;
    log.wait_link("live", 0, LONG).await?;

    let direct = Api::new(&srv.api_url());
    let mut orders: HashMap<String, Status> =
        active_orders(&direct).await?.into_iter().map(|o| (o.id, o.status)).collect();
    assert!(orders.len() >= 2, "the seed has active orders for alice: {orders:?}");
    let start = orders.clone();
    let mut expected: HashMap<String, Vec<Status>> = orders.iter().map(|(id, s)| (id.clone(), vec![*s])).collect();
    let mut owner = login(&direct, "owner").await?;

    for round in 0..6 {
        let outage = round % 2 == 0;
        if outage {
            proxy.set(Mode::Cut);
        }
        if round == 4 {
            // Restart the server on the same database (and a new port behind the proxy): nothing is lost.
            srv.shutdown().await;
            srv = server(&db).await?;
            proxy.set_upstream(srv.addr());
            owner = login(&Api::new(&srv.api_url()), "owner").await?;
        }
        let api = Api::new(&srv.api_url());
        for (id, status) in orders.iter_mut() {
            if let Some(next) = step(&api, &owner, id, *status).await? {
                *status = next;
                expected.get_mut(id).expect("known").push(next);
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        proxy.set(Mode::Open);
        let from = log.len();
        if outage {
            log.wait_link("live", from.saturating_sub(1), LONG).await?;
        }
    }
    log.wait_for("every order's final status", LONG, |_| {
        orders.iter().all(|(id, s)| log.statuses_of(id).last() == Some(s))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;

    for (id, want) in &expected {
        let seen = log.statuses_of(id);
        // The first entry is the initial load; then every transition, once, in order.
        assert_eq!(&seen, want, "order {id}: {:#?}", log.summary());
        assert!(monotonic(&seen));
        let moves = want.len() - 1;
        assert_eq!(log.notifications_for(id), moves, "one notification per transition for {id}");
        let seqs: Vec<u64> = log
            .all()
            .iter()
            .filter_map(|(_, e)| match e {
                ClientEvent::Update { patch: Patch::Order { order, .. }, seq } if &order.id == id => *seq,
                _ => None,
            })
            .collect();
        assert_eq!(seqs.len(), moves, "every applied transition carries its seq");
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seqs increase: {seqs:?}");
    }
    assert_ne!(start, orders);
    let links = log.links();
    assert!(links.iter().filter(|l| l.name() == "connecting").count() >= 3, "outages shown: {links:?}");
    engine.shutdown().await;
    srv.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_state_is_synced_through_the_server_for_every_device() -> Result<()> {
    let dir = TempDir::new("read");
    let srv = server(&dir.path().join("orders.db")).await?;
    let api = Api::new(&srv.api_url());
    let start = |()| Engine::start(EngineConfig::new(srv.api_url()), Arc::new(MemoryTokenStore::default()));
    let (phone, rx) = start(());
    let phone_log = EventLog::record(rx);
    phone.login("alice@example.com", "alice-pass").await?;
    phone_log.wait_link("live", 0, LONG).await?;

    let owner = login(&api, "owner").await?;
    let order = active_orders(&api).await?.remove(0);
    step(&api, &owner, &order.id, order.status).await?;
    phone_log
        .wait_for("the notification", LONG, |ev| ev.iter().any(|(_, e)| matches!(e, ClientEvent::Notify(_))))
        .await?;
    let unread = phone.snapshot().await?.inbox.unread;
    assert!(unread >= 1);
    phone.mark_all_read()?;

    let alice = login(&api, "alice").await?;
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let stored = api.notifications(&alice).await?;
        if !stored.is_empty() && stored.iter().all(|n| n.read) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "read state never reached the server: {stored:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // A second device of the same customer starts with the same (zero) unread count.
    let (desktop, rx) = start(());
    let desk_log = EventLog::record(rx);
    desktop.login("alice@example.com", "alice-pass").await?;
    desk_log.wait_link("live", 0, LONG).await?;
    let s = desktop.snapshot().await?;
    assert!(!s.inbox.items.is_empty(), "the server's inbox is loaded");
    assert_eq!(s.inbox.unread, 0);
    phone.shutdown().await;
    desktop.shutdown().await;
    srv.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_shows_the_last_state_at_once_and_a_recreated_server_is_survived() -> Result<()> {
    let dir = TempDir::new("cache");
    let data = dir.path().join("client");
    let srv = server(&dir.path().join("a.db")).await?;
    let proxy = CutProxy::start(srv.addr()).await?;
    let store = Arc::new(MemoryTokenStore::default());
    let config = EngineConfig::new(proxy.api_url()).with_data_dir(&data);
    let (engine, rx) = Engine::start(config.clone(), store.clone());
    let log = EventLog::record(rx);
    engine.login("alice@example.com", "alice-pass").await?;
    log.wait_link("live", 0, LONG).await?;
    let api = Api::new(&srv.api_url());
    let owner = login(&api, "owner").await?;
    let order = active_orders(&api).await?.remove(0);
    let moved = step(&api, &owner, &order.id, order.status).await?.expect("an active order moves");
    log.wait_for("the move", LONG, |_| log.statuses_of(&order.id).last() == Some(&moved)).await?;
    let before = engine.snapshot().await?;
    engine.shutdown().await;

    // Offline restart: the cached state is there at once, marked as not live.
    proxy.set(Mode::Cut);
    let (engine, rx) = Engine::start(config.clone(), store.clone());
    let log = EventLog::record(rx);
    let first = log
        .wait_for("a reset from the cache", LONG, |ev| {
            ev.iter().any(|(_, e)| matches!(e, ClientEvent::Update { patch: Patch::Reset { state }, .. } if !state.orders.is_empty()))
        })
        .await;
    first?;
    let cached = engine.snapshot().await?;
    assert_eq!(cached.orders, before.orders);
    assert!(!cached.link.is_live());
    engine.shutdown().await;

    // The server's log went back below our position (its data was recreated): the next catch-up gets a 410,
    // reloads, and starts again from the server's latest seq. Here the cache is made to claim a position far
    // ahead, and an order moves while the client is away.
    let path = order_client::Cache::new(&data).path();
    let mut file: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    file["state"]["lastSeq"] = serde_json::json!(1_000_000);
    std::fs::write(&path, serde_json::to_vec(&file)?)?;
    let again = step(&api, &owner, &order.id, moved).await?.expect("still active");
    proxy.set(Mode::Open);
    let (engine, rx) = Engine::start(config, store);
    let log = EventLog::record(rx);
    log.wait_link("live", 0, LONG).await?;
    log.wait_for("the move made while away", LONG, |_| log.statuses_of(&order.id).last() == Some(&again)).await?;
    let truth = api.orders(&login(&api, "alice").await?).await?;
    let s = engine.snapshot().await?;
    let mut held: Vec<(String, Status)> = s.orders.iter().map(|o| (o.id.clone(), o.status)).collect();
    let mut want: Vec<(String, Status)> = truth.iter().map(|o| (o.id.clone(), o.status)).collect();
    held.sort_by(|a, b| a.0.cmp(&b.0));
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(held, want);
    assert_eq!(log.notifications_for(&order.id), 1, "the reload brings the missed move's notification");

    // Live again from the server's real position: the next change arrives live, with its seq.
    let third = step(&api, &owner, &order.id, again).await?.expect("still active");
    log.wait_for("a live change after the reset", LONG, |_| log.statuses_of(&order.id).last() == Some(&third)).await?;
    // The cache is written shortly after (debounced): wait for it.
    let deadline = std::time::Instant::now() + LONG;
    loop {
        let cached: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        if cached["state"]["lastSeq"].as_u64().is_some_and(|s| s < 1_000_000) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the cached position was never reset");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    engine.shutdown().await;
    srv.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_in_use_is_refreshed_before_it_expires() -> Result<()> {
    let dir = TempDir::new("refresh");
    let srv = server(&dir.path().join("orders.db")).await?;
    let store = Arc::new(MemoryTokenStore::default());
    let mut config = EngineConfig::new(srv.api_url());
    // Every token counts as "about to expire": the engine refreshes as soon as it is live.
    config.refresh_before = Duration::from_secs(100 * 24 * 3600);
    let (engine, rx) = Engine::start(config, store.clone());
    let log = EventLog::record(rx);
    engine.login("alice@example.com", "alice-pass").await?;
    use order_client::TokenStore;
    let first = store.load()?.expect("saved at login");
    log.wait_link("live", 0, LONG).await?;
    let deadline = std::time::Instant::now() + LONG;
    let fresh = loop {
        let t = store.load()?.expect("kept");
        if t != first {
            break t;
        }
        assert!(std::time::Instant::now() < deadline, "the token was never refreshed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let api = Api::new(&srv.api_url());
    assert_eq!(api.me(&fresh).await?.email, "alice@example.com", "the refreshed token works");
    assert!(engine.snapshot().await?.link.is_live());
    engine.shutdown().await;
    srv.shutdown().await;
    Ok(())
}

/// The real `order-server` binary is killed (`kill -9`) while the store keeps moving orders with its CLI on the
/// same database; the restarted server replays the change log, and the client applies every transition exactly
/// once. Needs the binary built (`cargo xtask test` builds it; or `cargo build -p order-server`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_and_changes_made_while_it_was_down_are_caught_up_exactly() -> Result<()> {
    use live_orders_tests::procs::{workspace_binary, OrderServer, TempDir as ProcDir};
    let dir = ProcDir::new("client-kill");
    let mut srv = tokio::task::block_in_place(|| OrderServer::start(dir.path(), &[]))?;
    let proxy = CutProxy::start(srv.addr).await?;
    let (engine, rx) = Engine::start(EngineConfig::new(proxy.api_url()), Arc::new(MemoryTokenStore::default()));
    let log = EventLog::record(rx);
    engine.login("alice@example.com", "alice-pass").await?;
    let live = log.wait_link("live", 0, LONG).await?;

    let api = Api::new(&srv.api_url());
    let owner = login(&api, "owner").await?;
    let mut orders: Vec<(String, Status)> = active_orders(&api).await?.into_iter().map(|o| (o.id, o.status)).collect();
    let mut expected: HashMap<String, Vec<Status>> = orders.iter().map(|(id, s)| (id.clone(), vec![*s])).collect();
    for (id, status) in orders.iter_mut() {
        if let Some(next) = step(&api, &owner, id, *status).await? {
            *status = next;
            expected.get_mut(id.as_str()).expect("known").push(next);
        }
    }

    tokio::task::block_in_place(|| srv.proc.kill_hard());
    // The store owner's CLI writes to the same database while the server is dead.
    let db = dir.path().join("orders.db");
    for (id, status) in orders.iter_mut() {
        let Some(next) = status.next() else { continue };
        let out = std::process::Command::new(workspace_binary("order-server")?)
            .args(["order", "set-status", id, next.as_str(), "--db"])
            .arg(&db)
            .output()?;
        assert!(out.status.success(), "CLI: {}", String::from_utf8_lossy(&out.stderr));
        *status = next;
        expected.get_mut(id.as_str()).expect("known").push(next);
    }
    let away = log.wait_link("connecting", live, LONG).await?;
    let srv2 = tokio::task::block_in_place(|| OrderServer::start(dir.path(), &[]))?;
    proxy.set_upstream(srv2.addr);
    log.wait_link("live", away, LONG).await?;
    log.wait_for("every order's final status", LONG, |_| {
        orders.iter().all(|(id, s)| log.statuses_of(id).last() == Some(s))
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (id, want) in &expected {
        assert_eq!(&log.statuses_of(id), want, "order {id}: {:#?}", log.summary());
        assert_eq!(log.notifications_for(id), want.len() - 1, "one notification per transition for {id}");
    }
    engine.shutdown().await;
    Ok(())
}

/// A customer away for a while: more changes than one page of `changes?since=` holds. The engine's catch-up
/// pages through them (every change once, in order, none skipped at a page's edge), and another customer's
/// changes are not in the pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catch_up_pages_through_more_changes_than_one_page_holds() -> Result<()> {
    let dir = TempDir::new("paging");
    let server = server(&dir.path().join("orders.db")).await?;
    let api = Api::new(&server.api_url());
    let alice = login(&api, "alice").await?;
    let since = match api.changes(&alice, 0).await? {
        order_client::Changes::Replay(r) => r.latest_seq,
        other => anyhow::bail!("no change log: {other:?}"),
    };
    let store = &server.ctx().store;
    let orders = store.orders(None).await?;
    let mine = orders.iter().find(|o| o.status.is_active()).expect("an open order").clone();
    let others = orders.iter().find(|o| o.customer != mine.customer).expect("another customer's order").clone();
    // 1,200 of the customer's changes, and 300 of another's in between.
    let n = 1200;
    for k in 0..n {
        let at = order_protocol::LatLng { lat: 40.0 + k as f64 / 1e4, lng: -74.0 };
        let patch = order_protocol::DeliveryPatch { location: Some(at), ..Default::default() };
        store.patch_delivery(&mine.id, patch).await?;
        if k % 4 == 0 {
            let at = order_protocol::LatLng { lat: 41.0 + k as f64 / 1e4, lng: -74.0 };
            let patch = order_protocol::DeliveryPatch { location: Some(at), ..Default::default() };
            store.patch_delivery(&others.id, patch).await?;
        }
    }
    let token = login(&api, mine_email(&server, &mine.customer).await?.as_str()).await?;
    let order_client::Changes::Replay(replay) = api.changes(&token, since).await? else {
        anyhow::bail!("no replay");
    };
    let seqs: Vec<u64> = replay.changes.iter().map(|c| c.seq).collect();
    let mut distinct = seqs.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), n, "every change of the customer once (events of one change share a seq)");
    assert!(seqs.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    assert!(replay.changes.iter().all(|c| c.payload["orderId"] == mine.id.as_str()), "only the customer's own");
    assert!(!replay.has_more);
    assert_eq!(replay.latest_seq, store.latest_seq().await?);
    server.shutdown().await;
    Ok(())
}

/// The email (login name) of the user `id`.
async fn mine_email(server: &RunningServer, id: &str) -> Result<String> {
    let user = server.ctx().store.user_by_id(id).await?.expect("the order's customer");
    Ok(user.user.email.trim_end_matches("@example.com").to_owned())
}

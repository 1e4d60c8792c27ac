//! order-server on PostgreSQL, against a throwaway PostgreSQL of each test's own (and HAProxy where there are
//! several instances):
//!
//! - the store behaves the same on SQLite and PostgreSQL (one body, two setups);
//! - the change log's `seq` stays gapless and in commit order while writers of two instances race, as a
//!   tailer reading all along sees it;
//! - a change written through one instance reaches a customer's socket on the other, once, with the `seq`
//!   both instances' `changes?since=` give;
//! - 200 customers' apps through HAProxy on two instances: one instance is killed with `-9` while orders
//!   move, every app reconnects to the other, and each applies every change of its orders once, in order;
//! - PostgreSQL restarted under load: the instances reconnect by themselves, every write they accepted is in
//!   the log and reaches the apps, and the writes they could not make were refused in words;
//! - a sign-out through one instance ends the session on the other; a task's lease is held by one instance at
//!   a time; what order-server cannot run on is refused in words.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use live_orders_tests::client_log::EventLog;
use live_orders_tests::pg::{Haproxy, Postgres};
use live_orders_tests::procs::{free_port, OrderServer, TempDir};
use order_client::{Api, ApiError, Changes, Engine, EngineConfig, MemoryTokenStore, Token};
use order_protocol::names::CUSTOMER_ORDER_UPDATE;
use order_protocol::{Address, DeliveryPatch, Item, LatLng, OrderUpdate, Role, Status, User};
use order_server::auth::{Claims, Keys};
use order_server::store::{DbLocation, OrderInput, Store, StoreError};
use order_server::{RunningServer, ServerConfig};

const LONG: Duration = Duration::from_secs(60);
const SECRET: &[u8] = b"a-secret-all-the-test-instances-share-0123456789";

fn input() -> OrderInput {
    OrderInput {
        items: vec![Item { name: "Margherita".into(), quantity: 1, price: 9.5 }],
        delivery_address: Address { street: "1 Main St".into(), city: "Springfield".into(), lat: None, lng: None },
    }
}

fn at(lat: f64) -> DeliveryPatch {
    DeliveryPatch { location: Some(LatLng { lat, lng: 1.0 }), ..DeliveryPatch::default() }
}

/// What the store must do on either backend.
async fn store_behaves(store: &Store) -> Result<()> {
    order_server::seed::seed(store).await?;
    // One account per address, whatever its case.
    let alice = store.user_by_email("ALICE@example.com").await?.context("alice, by any case")?.user;
    let mut committed = store.take_committed().context("the committed events")?;

    let head = store.latest_seq().await?;
    let placed = store.place_order(&alice, input()).await?;
    ensure!(placed.seq == Some(head + 1), "a new order is the next change: {:?} after {head}", placed.seq);
    let id = placed.order.id.clone();
    let confirmed = store.set_status(&id, Status::Confirmed).await?;
    ensure!(confirmed.seq == Some(head + 2));
    ensure!(store.set_status(&id, Status::Confirmed).await?.seq.is_none(), "no change, no log entry");
    ensure!(matches!(store.set_status(&id, Status::Pending).await, Err(StoreError::Conflict(_))), "never back");

    // Many mutations at once share commits; each that fails (a step back) rolls back alone.
    let jobs = (0..100u32).map(|i| {
        let (store, id) = (store.clone(), id.clone());
        tokio::spawn(async move {
            if i % 10 == 3 {
                store.set_status(&id, Status::Pending).await
            } else {
                store.patch_delivery(&id, at(f64::from(i) / 10.0)).await
            }
        })
    });
    let results = futures_util::future::join_all(jobs).await;
    let mut seqs = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        match (i % 10 == 3, r?) {
            (true, Err(StoreError::Conflict(_))) => {}
            (false, Ok(applied)) => seqs.push(applied.seq.context("a move is a change")?),
            (fails, other) => bail!("mutation {i} (fails: {fails}) answered {other:?}"),
        }
    }
    seqs.sort_unstable();
    ensure!(seqs == (head + 3..head + 93).collect::<Vec<_>>(), "90 changes, gapless: {seqs:?}");
    ensure!(store.latest_seq().await? == head + 92);
    let mut emitted = BTreeSet::new();
    while emitted.len() < 92 {
        let batch = tokio::time::timeout(LONG, committed.recv()).await?.context("the writer's events")?;
        emitted.extend(batch.iter().map(|e| e.seq).filter(|s| *s > head));
    }
    ensure!(emitted == (head + 1..=head + 92).collect(), "every committed change handed to the dispatcher");
    let logged: BTreeSet<u64> = store.events_after(head, u32::MAX, 10_000).await?.iter().map(|e| e.seq).collect();
    ensure!(logged == emitted, "the log holds what was emitted");

    // The replay pages, and a page's `latestSeq` is where the next one starts.
    let page = store.changes_since(&alice, head, 10).await?;
    ensure!(page.has_more && page.latest_seq == head + 10, "{} {}", page.has_more, page.latest_seq);
    let rest = store.changes_since(&alice, page.latest_seq, 1000).await?;
    ensure!(!rest.has_more && rest.latest_seq == head + 92);
    ensure!(rest.changes.iter().all(|c| c.seq > head + 10));

    // Sign-ins: rotation, reuse ends the family, ends are logged in order.
    let first_end = store.last_session_end().await?;
    let claims = store.start_session(&alice, 3600, 86_400).await?;
    let order_server::store::Rotation::Rotated(next) = store.rotate(&alice, &claims, 3600, 0).await? else {
        bail!("a fresh token rotates");
    };
    tokio::time::sleep(Duration::from_millis(1100)).await;
    ensure!(matches!(store.rotate(&alice, &claims, 3600, 0).await?, order_server::store::Rotation::Ended(_)));
    ensure!(matches!(store.rotate(&alice, &next, 3600, 0).await?, order_server::store::Rotation::Ended(_)));
    store.end_sessions(&alice.id, None, order_protocol::DisconnectReason::SignedOut).await?;
    let ends = store.session_ends_after(first_end).await?;
    ensure!(ends.len() == 2 && ends[0].id < ends[1].id, "two ends, in order: {ends:?}");

    // Devices: at most 20 per user, the newest kept.
    let claims = store.start_session(&alice, 3600, 86_400).await?;
    for i in 0..21 {
        let address = order_server::store::PushAddress::Token(order_protocol::PushPlatform::Fcm, format!("t{i}"));
        store.register_device(&alice.id, &claims.fam, &address).await?;
    }
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM devices WHERE user_id = $1")
        .bind(&alice.id)
        .fetch_one(store.pool())
        .await?;
    ensure!(n == 20, "{n} devices kept");

    // Push: the customer notifications after the cursor, queued once per device as the cursor moves, each
    // device's job due, settled.
    let (notables, to) = store.notables_after(0, 1000).await?;
    ensure!(notables.iter().any(|n| n.customer_id == alice.id), "alice's notifications are there to push");
    let cursor = store.push_cursor().await?;
    let message = notables.iter().find(|n| n.customer_id == alice.id).context("one of alice's")?.message.clone();
    let pushes = [(alice.id.clone(), message)];
    let queued = store.enqueue_pushes(&pushes, &[order_protocol::PushPlatform::Fcm], cursor, to).await?;
    ensure!(queued == Some(20), "one push per device: {queued:?}");
    let again = store.enqueue_pushes(&pushes, &[order_protocol::PushPlatform::Fcm], cursor, to).await?;
    ensure!(again.is_none(), "a cursor that moved meanwhile queues nothing twice");
    let due = store.due_pushes(order_protocol::PushPlatform::Fcm, 100, &Default::default()).await?;
    ensure!(due.len() == 20, "{} due", due.len());
    let settled: Vec<_> = due.into_iter().map(|j| (j, order_server::store::Settled::Done)).collect();
    store.settle_pushes(&settled).await?;
    ensure!(store.queued_pushes().await? == 0);

    // Read marks, kept on the server.
    let before = store.notifications(&alice).await?;
    ensure!(!before.is_empty() && before.iter().any(|n| !n.read));
    store.mark_read(&alice, &before[0].id).await?;
    store.mark_read(&alice, &before[0].id).await?;
    ensure!(store.notifications(&alice).await?[0].read);
    store.mark_all_read(&alice).await?;
    ensure!(store.notifications(&alice).await?.iter().all(|n| n.read));

    // Retention: everything older than tomorrow goes; a replay from before it is refused, the head stays.
    let removed = store.prune(chrono::Utc::now() + chrono::Duration::days(1)).await?;
    ensure!(removed >= 92, "{removed} changes pruned");
    ensure!(store.latest_seq().await? == head + 92, "the head survives pruning");
    ensure!(matches!(store.changes_since(&alice, 0, 10).await, Err(StoreError::Gone { .. })));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_behaves_the_same_on_sqlite_and_postgresql() -> Result<()> {
    let dir = TempDir::new("parity");
    let sqlite = Store::open(&DbLocation::Sqlite(dir.path().join("orders.db"))).await?;
    store_behaves(&sqlite).await.context("on SQLite")?;
    sqlite.close().await;

    let pg = Postgres::start()?;
    let postgres = Store::open(&DbLocation::Postgres(pg.create_db("parity")?)).await?;
    store_behaves(&postgres).await.context("on PostgreSQL")?;
    postgres.close().await;
    Ok(())
}

/// Two instances' writers race; a third process tails the log all along. Each read must continue exactly
/// where the last ended (a number handed out before another but committed after it would show as a gap the
/// tailer passes), and at the end the log is 1..N without a hole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seq_is_gapless_and_in_commit_order_while_two_instances_race() -> Result<()> {
    let pg = Postgres::start()?;
    let url = pg.create_db("race")?;
    let (a, b, tail) = (
        Store::open(&DbLocation::Postgres(url.clone())).await?,
        Store::open(&DbLocation::Postgres(url.clone())).await?,
        Store::open(&DbLocation::Postgres(url)).await?,
    );
    order_server::seed::seed(&a).await?;
    let alice = a.user_by_email("alice@example.com").await?.context("alice")?.user;
    let mut orders = Vec::new();
    for _ in 0..8 {
        orders.push(a.place_order(&alice, input()).await?.order.id);
    }
    let start = tail.latest_seq().await?;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tailer = {
        let (tail, done) = (tail.clone(), done.clone());
        tokio::spawn(async move {
            let mut last = start;
            let mut reads = 0u32;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let rows = tail.events_after(last, u32::MAX, 100_000).await?;
                reads += 1;
                for seq in rows.iter().map(|r| r.seq).collect::<BTreeSet<_>>() {
                    ensure!(seq == last + 1, "the tailer passed from {last} to {seq}: a change committed late");
                    last = seq;
                }
                if finished && rows.is_empty() {
                    return Ok::<_, anyhow::Error>((last, reads));
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    const PER_INSTANCE: usize = 300;
    let writers = [a.clone(), b.clone()].into_iter().enumerate().flat_map(|(w, store)| {
        let orders = orders.clone();
        (0..4).map(move |k| {
            let (store, orders) = (store.clone(), orders.clone());
            tokio::spawn(async move {
                for i in 0..PER_INSTANCE / 4 {
                    // Each writer its own orders: the race is for the numbers alone.
                    let id = &orders[w * 4 + k];
                    let lat = (w * 10_000 + k * 1000 + i) as f64 / 1000.0;
                    store.patch_delivery(id, at(lat)).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
    });
    for w in futures_util::future::join_all(writers).await {
        w??;
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (last, reads) = tailer.await??;
    ensure!(last == start + 2 * PER_INSTANCE as u64, "the tailer ended at {last}, {} written", 2 * PER_INSTANCE);
    ensure!(reads > 10, "the tailer read while the writers wrote ({reads} reads)");
    let (n, min, max): (i64, i64, i64) =
        sqlx::query_as("SELECT COUNT(*), MIN(seq), MAX(seq) FROM changes").fetch_one(tail.pool()).await?;
    ensure!(n == max && min == 1, "{n} changes numbered {min}..{max}");
    for s in [a, b, tail] {
        s.close().await;
    }
    Ok(())
}

async fn instance(url: &str) -> Result<RunningServer> {
    let mut config = ServerConfig::for_tests_on(DbLocation::Postgres(url.to_owned()), SECRET.to_vec());
    config.login_attempts_per_minute = 10_000;
    order_server::spawn(config).await
}

fn engine(api_url: &str, token: Token, rt: &tokio::runtime::Handle) -> (Engine, EventLog) {
    let mut config = EngineConfig::new(api_url);
    config.heartbeat_every = Duration::from_secs(1);
    config.heartbeat_timeout = Duration::from_secs(3);
    config.connect_timeout = Duration::from_secs(5);
    let (engine, rx) = Engine::start_on(rt, config, Arc::new(MemoryTokenStore::new(Some(token))));
    (engine, EventLog::record(rx))
}

/// The customer's status changes in a server's change log after `since`: (`seq`, order, status).
async fn truth(api: &Api, token: &Token, since: u64) -> Result<Vec<(u64, String, Status)>> {
    let mut out = Vec::new();
    let mut from = since;
    loop {
        let Changes::Replay(r) = api.changes(token, from).await? else { bail!("the change log did not answer") };
        out.extend(r.changes.into_iter().filter(|c| c.event == CUSTOMER_ORDER_UPDATE).filter_map(|c| {
            let u: OrderUpdate = serde_json::from_value(c.payload).ok()?;
            Some((c.seq, u.order_id, u.status))
        }));
        if !r.has_more {
            return Ok(out);
        }
        from = r.latest_seq;
    }
}

/// The oracle, the chaos soak's: the app applied each change of `truth` once, in order, and nothing else after
/// `since`. A change may go undrawn only when a later change of its order was drawn first (it arrived live
/// during the catch-up that brought the older one: the order is never drawn backwards); the callers then check
/// its notification was still shown.
fn exactly_once_in_order(who: &str, got: &[(u64, String, Status)], truth: &[(u64, String, Status)]) -> Result<()> {
    let mut seen = BTreeSet::new();
    let mut per_order: BTreeMap<&str, Vec<(u64, Status)>> = BTreeMap::new();
    for (seq, id, status) in got {
        ensure!(seen.insert(*seq), "{who}: seq {seq} applied twice");
        per_order.entry(id).or_default().push((*seq, *status));
    }
    for (id, steps) in &per_order {
        // In `seq` order, and never a status drawn backwards (a move of the courier keeps the status).
        let in_order = steps.windows(2).all(|w| w[0].0 < w[1].0 && w[1].1.rank() >= w[0].1.rank());
        ensure!(in_order, "{who}: {id} out of order {steps:?}");
    }
    let want: BTreeSet<u64> = truth.iter().map(|t| t.0).collect();
    let superseded = |c: &(u64, String, Status)| truth.iter().any(|d| d.1 == c.1 && d.0 > c.0 && seen.contains(&d.0));
    let missing: Vec<_> = truth.iter().filter(|c| !seen.contains(&c.0) && !superseded(c)).collect();
    ensure!(missing.is_empty(), "{who}: never applied {missing:?}");
    let extra: Vec<_> = seen.difference(&want).collect();
    ensure!(extra.is_empty(), "{who}: applied {extra:?}, not in the log");
    Ok(())
}

/// A change written through instance B reaches a customer's app connected to instance A, once, with the
/// `seq` both instances' replay gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_written_through_one_instance_reaches_a_socket_on_the_other() -> Result<()> {
    let pg = Postgres::start()?;
    let url = pg.create_db("cross")?;
    let (a, b) = (instance(&url).await?, instance(&url).await?);
    let (api_a, api_b) = (Api::new(&a.api_url()), Api::new(&b.api_url()));
    let customer = api_a.login("alice@example.com", "alice-pass").await?.0;
    let owner = api_b.login("owner@example.com", "owner-pass").await?.0;
    let (app, log) = engine(&a.api_url(), customer.clone(), &tokio::runtime::Handle::current());
    log.wait_link("live", 0, LONG).await?;
    let order = api_a.orders(&customer).await?.into_iter().find(|o| o.status.is_active()).context("an open order")?;
    let next = order.status.next().context("an open order moves on")?;
    let written = Instant::now();
    api_b.set_status(&owner, &order.id, next).await?;
    log.wait_for("the change written on B", LONG, |_| log.statuses_of(&order.id).last() == Some(&next)).await?;
    let latency = written.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got: Vec<_> = log.seqs().into_iter().filter(|(_, id, _)| *id == order.id).collect();
    ensure!(got.len() == 1, "applied once: {got:?}");
    for api in [&api_a, &api_b] {
        let log_seq = truth(api, &customer, 0).await?.into_iter().find(|t| t.1 == order.id && t.2 == next);
        ensure!(log_seq.as_ref().map(|t| t.0) == Some(got[0].0), "the same seq on both instances: {log_seq:?} {got:?}");
    }
    eprintln!("cross-instance delivery: {} ms", latency.as_millis());
    // A session ended through B ends on A too: the app connected to A is signed out.
    let ended = Instant::now();
    api_b.logout(&customer).await?;
    log.wait_link("logged_out", 0, Duration::from_secs(10)).await?;
    eprintln!("a sign-out through B reached the app on A in {} ms", ended.elapsed().as_millis());
    app.shutdown().await;
    a.shutdown().await;
    b.shutdown().await;
    Ok(())
}

/// `n` customers, written straight into the database (no password hashing), each with one order placed
/// through the store, and a token of a sign-in of theirs: the apps start signed in.
async fn customers(url: &str, n: usize) -> Result<Vec<(User, Token, String)>> {
    let store = Store::open(&DbLocation::Postgres(url.to_owned())).await?;
    let keys = Keys::new(SECRET);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let user =
            User::new(format!("load{i:03}"), format!("Customer {i}"), format!("load{i}@example.com"), Role::Customer);
        sqlx::query("INSERT INTO users (id, name, email, role, password_hash, created_at) VALUES ($1, $2, $3, 'customer', 'x', $4)")
            .bind(&user.id)
            .bind(&user.name)
            .bind(&user.email)
            .bind(chrono::Utc::now().to_rfc3339())
            .execute(store.pool())
            .await?;
        let claims: Claims = store.start_session(&user, 3600, 86_400).await?;
        let order = store.place_order(&user, input()).await?.order.id;
        out.push((user, Token::new(keys.sign(&claims)), order));
    }
    store.close().await;
    Ok(out)
}

/// Moves every order one step (retrying through the balancer while an instance is down), `rounds` times.
async fn move_orders(api: &Api, owner: &Token, orders: &[String], rounds: usize, refused: &mut usize) -> Result<()> {
    for _ in 0..rounds {
        let mut pending: Vec<_> = orders.iter().collect();
        while !pending.is_empty() {
            let mut next_round = Vec::new();
            let moves = pending.iter().map(|id| async move {
                let order = api.order(owner, id).await?;
                match order.status.next() {
                    Some(next) => api.set_status(owner, id, next).await.map(|_| ()),
                    None => Ok(()),
                }
            });
            for (id, result) in pending.iter().zip(futures_util::future::join_all(moves).await) {
                if let Err(e) = result {
                    *refused += 1;
                    eprintln!("a move of {id} was refused ({e}); trying again");
                    next_round.push(*id);
                }
            }
            pending = next_round;
            if !pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    Ok(())
}

/// 200 apps through HAProxy on two instances; instance A is killed with `-9` while orders move: every app
/// reconnects (to B), catches up, and applies each change of its order once, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_apps_survive_an_instance_killed_through_haproxy() -> Result<()> {
    const APPS: usize = 200;
    let pg = Postgres::start()?;
    let url = pg.create_db("failover")?;
    let secret_dir = TempDir::new("secret");
    let secret_file = secret_dir.path().join("jwt-secret");
    std::fs::write(&secret_file, SECRET)?;
    let secret_arg = secret_file.display().to_string();
    let limits = ["--trusted-proxy", "127.0.0.1", "--logins-per-minute", "100000", "--sockets-per-addr", "1000"];
    let start = |port: u16| {
        let mut extra = vec!["--jwt-secret-file", secret_arg.as_str()];
        extra.extend(limits);
        OrderServer::start_on(&url, &format!("127.0.0.1:{port}"), &extra)
    };
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = start(port_a)?;
    let b = start(port_b)?;
    let lb = Haproxy::start(&[port_a, port_b])?;
    let api = Api::new(&lb.api_url());
    let owner = api.login("owner@example.com", "owner-pass").await?.0;
    let people = customers(&url, APPS).await?;
    let since = Api::new(&b.api_url()).changes(&owner, 0).await.map(|c| match c {
        Changes::Replay(r) => r.latest_seq,
        _ => 0,
    })?;

    let apps: Vec<(Engine, EventLog)> = people
        .iter()
        .map(|(_, token, _)| engine(&lb.api_url(), token.clone(), &tokio::runtime::Handle::current()))
        .collect();
    for (i, (_, log)) in apps.iter().enumerate() {
        log.wait_link("live", 0, LONG).await.with_context(|| format!("app {i} live"))?;
    }
    let orders: Vec<String> = people.iter().map(|p| p.2.clone()).collect();
    let mut refused = 0;
    move_orders(&api, &owner, &orders, 2, &mut refused).await?;
    // Kill A mid-stream: a mover runs while it dies.
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        a.proc.kill_hard();
        a
    });
    move_orders(&api, &owner, &orders, 3, &mut refused).await?;
    let _a = killer.await?;
    eprintln!("moves refused while instance A died (retried): {refused}");

    let truth_api = Api::new(&b.api_url());
    let deadline = Instant::now() + Duration::from_secs(90);
    for (i, ((_, token, order), (_, log))) in people.iter().zip(&apps).enumerate() {
        let want = truth(&truth_api, token, since).await?;
        let last = want.iter().rfind(|t| t.1 == *order).map(|t| t.2);
        let left = deadline.saturating_duration_since(Instant::now());
        log.wait_for(&format!("app {i} to catch up"), left, |_| log.statuses_of(order).last().copied() == last).await?;
        let checked = exactly_once_in_order(&format!("app {i}"), &log.seqs(), &want).and_then(|()| {
            // Every move of the order in the notification center once, drawn or superseded; a native
            // notification at most once per move (one filed while the app was catching up may come in the
            // reloaded list instead).
            let moves = want.iter().filter(|t| t.1 == *order).count();
            let (filed, shown) = (log.inbox_for(order).len(), log.notifications_for(order));
            // (+1: the order was placed before the apps started, with its own entry.)
            ensure!(filed == moves + 1, "app {i}: {filed} entries in the notification center for {moves} moves");
            ensure!(shown <= moves, "app {i}: {shown} native notifications for {moves} moves");
            Ok(())
        });
        checked.with_context(|| format!("what app {i} did: {:#?}", log.summary()))?;
    }
    for (app, _) in apps {
        app.shutdown().await;
    }
    drop(lb);
    drop(b);
    Ok(())
}

/// PostgreSQL stops (as a crash would) while apps follow orders and the store writes through both instances;
/// it comes back. The instances reconnect by themselves; every write they accepted is in the log and reached
/// the apps once, in order; the writes made while it was down were refused with a 503 in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_restarted_under_load_loses_nothing() -> Result<()> {
    const APPS: usize = 20;
    let mut pg = Postgres::start()?;
    let url = pg.create_db("restart")?;
    let (a, b) = (instance(&url).await?, instance(&url).await?);
    let people = customers(&url, APPS).await?;
    let urls = [a.api_url(), b.api_url()];
    let apis = [Api::new(&urls[0]), Api::new(&urls[1])];
    let owner = apis[0].login("owner@example.com", "owner-pass").await?.0;
    let since = match apis[0].changes(&owner, 0).await? {
        Changes::Replay(r) => r.latest_seq,
        _ => 0,
    };
    let rt = tokio::runtime::Handle::current();
    let apps: Vec<(Engine, EventLog)> =
        people.iter().enumerate().map(|(i, (_, token, _))| engine(&urls[i % 2], token.clone(), &rt)).collect();
    for (_, log) in &apps {
        log.wait_link("live", 0, LONG).await?;
    }

    // Writers: each moves its orders' drivers through one instance, as fast as answers come.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let api = apis[w % 2].clone();
            let (owner, stop) = (owner.clone(), stop.clone());
            let orders: Vec<String> = people.iter().skip(w).step_by(4).map(|p| p.2.clone()).collect();
            tokio::spawn(async move {
                let (mut accepted, mut refused, mut i) = (0u32, Vec::new(), 0usize);
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let id = &orders[i % orders.len()];
                    i += 1;
                    match api.set_delivery(&owner, id, &at((w * 100_000 + i) as f64 / 10_000.0)).await {
                        Ok(_) => accepted += 1,
                        Err(e) => {
                            refused.push(e);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                    }
                }
                (accepted, refused)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(1)).await;
    pg.stop_hard()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    pg.start_again()?;
    // Writes go through again within seconds.
    let back = Instant::now();
    loop {
        let order = &people[0].2;
        if apis[1].set_delivery(&owner, order, &at(0.5)).await.is_ok() && apis[0].health().await.is_ok() {
            break;
        }
        ensure!(back.elapsed() < Duration::from_secs(30), "the instances did not recover within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("writes accepted again {} ms after PostgreSQL came back", back.elapsed().as_millis());
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (mut accepted, mut refused) = (0, Vec::new());
    for w in writers {
        let (a, r) = w.await?;
        accepted += a;
        refused.extend(r);
    }
    eprintln!("writes accepted: {accepted}; refused while PostgreSQL was down: {}", refused.len());
    ensure!(!refused.is_empty(), "writes while the database was down must have been refused");
    for e in &refused {
        let words = e.to_string();
        ensure!(
            matches!(e, ApiError::Status { status: 503, .. } | ApiError::Status { status: 500, .. })
                || words.contains("database")
                || words.contains("connect"),
            "a refusal in words: {words}"
        );
    }
    ensure!(refused.iter().any(|e| e.to_string().contains("database is unavailable")), "503s say why: {refused:?}");

    // Every accepted write is in the log (on both instances alike) and reached the apps, once, in order.
    for (i, ((_, token, order), (_, log))) in people.iter().zip(&apps).enumerate() {
        let want = truth(&apis[0], token, since).await?;
        ensure!(want == truth(&apis[1], token, since).await?, "both instances give one log");
        // Then the oracle says what is missing, if anything.
        let _ = log
            .wait_for(&format!("app {i} to catch up"), LONG, |_| {
                let got = log.seqs();
                got.len() >= want.len() && log.statuses_of(order).last() == want.last().map(|t| &t.2)
            })
            .await;
        exactly_once_in_order(&format!("app {i}"), &log.seqs(), &want)?;
    }
    let logged: i64 = {
        let store = Store::open(&DbLocation::Postgres(url.clone())).await?;
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM changes WHERE seq > $1 AND kind = 'delivery'")
            .bind(since as i64)
            .fetch_one(store.pool())
            .await?;
        store.close().await;
        n
    };
    ensure!(logged as u32 >= accepted, "{accepted} writes accepted, {logged} in the log");
    for (app, _) in apps {
        app.shutdown().await;
    }
    a.shutdown().await;
    b.shutdown().await;
    Ok(())
}

/// Across instances, one task runs once: a lease held by one store is refused to another until the holder
/// lets go (or its connection dies).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_held_by_one_instance_at_a_time() -> Result<()> {
    let pg = Postgres::start()?;
    let url = pg.create_db("lease")?;
    let (a, b) =
        (Store::open(&DbLocation::Postgres(url.clone())).await?, Store::open(&DbLocation::Postgres(url)).await?);
    let held = a.try_lease("push").await?.context("a free lease is granted")?;
    ensure!(b.try_lease("push").await?.is_none(), "a held lease is refused to another instance");
    ensure!(b.try_lease("retention").await?.is_some(), "another task's lease is another lock");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.try_lease("push").await?.is_none() {
        ensure!(Instant::now() < deadline, "the lease was not freed when its holder let go");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.close().await;
    b.close().await;
    Ok(())
}

/// What `--db` cannot be run on is refused in words, before anything is written: another scheme, and
/// PostgreSQL without the secret every instance must share.
#[test]
fn order_server_refuses_what_it_cannot_run_on() -> Result<()> {
    let dir = TempDir::new("refusals");
    let run = |db: &str| -> Result<String> {
        let out = std::process::Command::new(live_orders_tests::procs::workspace_binary("order-server")?)
            .current_dir(dir.path())
            .args(["--addr", "127.0.0.1:0", "--db", db])
            .env_remove("ORDER_SERVER_JWT_SECRET")
            .env_remove("ORDER_SERVER_JWT_SECRET_FILE")
            .output()?;
        ensure!(!out.status.success(), "order-server started on {db}");
        Ok(String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let mysql = run("mysql://root:hunter2@db.example/orders")?;
    ensure!(mysql.contains("`mysql://` is not a database order-server runs on"), "{mysql}");
    ensure!(!mysql.contains("hunter2"), "the password is never shown: {mysql}");
    let pg = run("postgres://live:hunter2@127.0.0.1:1/orders")?;
    ensure!(pg.contains("needs the JWT secret its instances share"), "{pg}");
    ensure!(!pg.contains("hunter2"), "the password is never shown: {pg}");
    ensure!(std::fs::read_dir(dir.path())?.next().is_none(), "nothing was written: no `mysql:` folder, no file");
    Ok(())
}

//! The chaos soak: a real backend (`order-server`, or the Node base-contract server), the fault proxy between
//! it and a real engine, and seeded random fault cycles while the store moves orders along. Each cycle picks a
//! fault (a cut, a silent socket, a 503 or 429 on the replay, a reset or truncated answer, slow frames, the
//! server killed with `-9`, the client killed over its cache or restarted cleanly), lets two writers move
//! orders meanwhile, lifts it, waits until the app shows what the server holds, and checks the oracle:
//!
//! - with the extensions, every `seq` of the customer's change log applied, once per client life, each
//!   order's changes in order; on the base contract, the final state, and a notification for every order
//!   that moved (never more than its moves);
//! - never a status drawn backwards;
//! - the link honest: a path gone silent longer than the heartbeat timeout stops showing `Live`;
//! - after a clean restart, the cache shows exactly the state before it.
//!
//! The same seed replays the same faults and writes (the timing of a real network and processes varies).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use order_client::{Api, ClientEvent, Engine, EngineConfig, MemoryTokenStore, Token};
use order_protocol::names::CUSTOMER_ORDER_UPDATE;
use order_protocol::{Address, Item, OrderUpdate, Patch, PlaceOrder, Status};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::client_log::{link_of, monotonic, EventLog};
use crate::fault_proxy::{Fault, FaultProxy, WsFault};
use crate::node_peer::NodePeer;
use crate::procs::{OrderServer, TempDir};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    OrderServer,
    Node,
}

impl std::str::FromStr for Backend {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Backend> {
        match s {
            "order-server" => Ok(Backend::OrderServer),
            "node" => Ok(Backend::Node),
            other => bail!("unknown backend `{other}` (order-server or node)"),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::OrderServer => "order-server",
            Backend::Node => "node",
        })
    }
}

#[derive(Clone, Debug)]
pub struct Opts {
    pub cycles: u32,
    pub seed: u64,
    pub backend: Backend,
}

/// What a soak found.
#[derive(Debug, Default)]
pub struct Report {
    pub cycles: u32,
    pub seed: u64,
    /// Status changes the store made (and the app had to show).
    pub transitions: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub regressions: usize,
    pub elapsed: Duration,
    /// Faults by name, how many times each.
    pub faults: BTreeMap<&'static str, u32>,
}

impl Report {
    /// The line the soak ends with.
    pub fn line(&self) -> String {
        format!(
            "chaos: {} cycles, seed {}, {} transitions, {} lost, {} duplicated, {} regressions",
            self.cycles, self.seed, self.transitions, self.lost, self.duplicated, self.regressions
        )
    }

    pub fn clean(&self) -> bool {
        self.lost == 0 && self.duplicated == 0 && self.regressions == 0
    }
}

/// One fault cycle's trouble.
#[derive(Clone, Copy, Debug)]
enum Trouble {
    Calm,
    /// Every connection cut; new ones refused.
    Cut,
    /// The live socket goes silent without closing.
    Silent,
    /// The live socket closes after a few more frames.
    CutAfterFrames(u32),
    SlowFrames,
    /// The replay (or, on the base contract, the reload) answers this status.
    CatchUpStatus(u16),
    CatchUpReset,
    CatchUpTruncated,
    CatchUpStalled,
    SlowRequests,
    /// `order-server` killed with `-9`, restarted on its database.
    ServerKilled,
    /// The client killed (no flush) and started again over its cache.
    ClientKilled,
    /// The client shut down and started again: the cache must show the state before.
    ClientRestarted,
}

impl Trouble {
    fn name(self) -> &'static str {
        match self {
            Trouble::Calm => "calm",
            Trouble::Cut => "cut",
            Trouble::Silent => "silent socket",
            Trouble::CutAfterFrames(_) => "socket cut mid-stream",
            Trouble::SlowFrames => "slow frames",
            Trouble::CatchUpStatus(503) => "catch-up 503",
            Trouble::CatchUpStatus(429) => "catch-up 429",
            Trouble::CatchUpStatus(_) => "catch-up 5xx",
            Trouble::CatchUpReset => "catch-up reset",
            Trouble::CatchUpTruncated => "catch-up truncated",
            Trouble::CatchUpStalled => "catch-up stalled",
            Trouble::SlowRequests => "slow requests",
            Trouble::ServerKilled => "server kill -9",
            Trouble::ClientKilled => "client killed",
            Trouble::ClientRestarted => "client restarted",
        }
    }

    fn pick(rng: &mut StdRng, backend: Backend) -> Trouble {
        let all = [
            Trouble::Calm,
            Trouble::Cut,
            Trouble::Cut,
            Trouble::Silent,
            Trouble::CutAfterFrames(rng.random_range(0..4)),
            Trouble::SlowFrames,
            Trouble::CatchUpStatus(503),
            Trouble::CatchUpStatus(429),
            Trouble::CatchUpStatus(502),
            Trouble::CatchUpReset,
            Trouble::CatchUpTruncated,
            Trouble::CatchUpStalled,
            Trouble::SlowRequests,
            Trouble::ServerKilled,
            Trouble::ClientKilled,
            Trouble::ClientRestarted,
        ];
        loop {
            let t = all[rng.random_range(0..all.len())];
            // The Node server keeps its orders in memory: killing it would lose the store itself.
            if !(backend == Backend::Node && matches!(t, Trouble::ServerKilled)) {
                return t;
            }
        }
    }
}

enum Peer {
    Server { srv: OrderServer, dir: TempDir },
    Node(NodePeer),
}

impl Peer {
    async fn start(backend: Backend) -> Result<Peer> {
        Ok(match backend {
            Backend::OrderServer => {
                let dir = TempDir::new("chaos");
                let srv = OrderServer::start(dir.path(), &[])?;
                Peer::Server { srv, dir }
            }
            // Engine.IO's keep-alive short enough for a soak: without acked heartbeats it is how a base-contract
            // client notices a silent path (socket.io's defaults take 45 s).
            Backend::Node => {
                Peer::Node(NodePeer::start_with(&[("PING_INTERVAL_MS", "2000"), ("PING_TIMEOUT_MS", "3000")]).await?)
            }
        })
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Peer::Server { srv, .. } => srv.addr,
            Peer::Node(n) => n.addr,
        }
    }

    fn api(&self) -> Api {
        Api::new(&format!("http://{}/api", self.addr()))
    }

    /// A new order for the customer; its id. On the base contract nothing is emitted when an order is placed
    /// (a customer's app learns of it from its own request), so the store confirms it at once: that it sends.
    async fn new_order(&self, customer: &Token, owner: &Token) -> Result<String> {
        Ok(match self {
            Peer::Server { .. } => {
                let order = PlaceOrder {
                    items: vec![Item { name: "Margherita".into(), quantity: 1, price: 9.5 }],
                    delivery_address: Address {
                        street: "1 Main St".into(),
                        city: "Springfield".into(),
                        lat: None,
                        lng: None,
                    },
                };
                self.api().place_order(customer, &order).await?.id
            }
            Peer::Node(n) => {
                let id = n.add_order().await?;
                self.api().set_status(owner, &id, Status::Confirmed).await?;
                id
            }
        })
    }
}

/// One run of the client: its own runtime, so a kill is a kill (no task of it survives, nothing is flushed).
struct Life {
    rt: Option<tokio::runtime::Runtime>,
    engine: Engine,
    log: EventLog,
}

impl Life {
    fn start(api_url: &str, data: &std::path::Path, token: &Token) -> Result<Life> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        let mut config = EngineConfig::new(api_url).with_data_dir(data);
        config.heartbeat_every = Duration::from_secs(1);
        config.heartbeat_timeout = Duration::from_secs(3);
        config.connect_timeout = Duration::from_secs(4);
        config.catch_up_timeout = Duration::from_secs(6);
        let store = Arc::new(MemoryTokenStore::new(Some(token.clone())));
        let (engine, rx) = Engine::start_on(rt.handle(), config, store);
        Ok(Life { rt: Some(rt), engine, log: EventLog::record(rx) })
    }

    fn kill(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }

    async fn stop(&mut self) {
        self.engine.shutdown().await;
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }

    /// Every `seq` drawn on an order, in order.
    fn seqs(&self) -> Vec<(u64, String, Status)> {
        self.log.seqs()
    }
}

impl Drop for Life {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// What the oracle keeps across lives.
#[derive(Default)]
struct Oracle {
    /// Every `seq` applied in any life.
    applied: BTreeSet<u64>,
    /// Changes already in the first load (no `seq` on them): covered.
    covered_up_to: u64,
    duplicated: usize,
    regressions: usize,
    /// Base contract: moves the writers made, and notifications seen, per order.
    moves: HashMap<String, usize>,
    notes: HashMap<String, usize>,
    /// Per order, what each life drew and notified: for the failure message.
    history: HashMap<String, Vec<String>>,
    lives: usize,
}

impl Oracle {
    /// Folds in what a life showed; `Err` with the first violation.
    fn check_life(&mut self, life: &Life) -> Result<()> {
        let mut seen = BTreeSet::new();
        let mut per_order: HashMap<String, Vec<(u64, Status)>> = HashMap::new();
        for (seq, id, status) in life.seqs() {
            if !seen.insert(seq) {
                self.duplicated += 1;
                bail!("seq {seq} (order {id} {status}) applied twice in one life");
            }
            self.applied.insert(seq);
            per_order.entry(id).or_default().push((seq, status));
        }
        for (id, steps) in &per_order {
            let statuses: Vec<Status> = steps.iter().map(|s| s.1).collect();
            if !monotonic(&statuses) || !steps.windows(2).all(|w| w[0].0 < w[1].0) {
                self.regressions += 1;
                bail!("order {id} drawn out of order: {steps:?}");
            }
        }
        for id in life.log.orders().iter().map(|o| o.id.clone()).collect::<BTreeSet<_>>() {
            let statuses = life.log.statuses_of(&id);
            if !monotonic(&statuses) {
                self.regressions += 1;
                bail!("order {id} went backwards: {statuses:?}");
            }
            let (notes, moves) = (life.log.notifications_for(&id), self.moves.get(&id).copied().unwrap_or(0));
            if notes > moves {
                self.duplicated += 1;
                bail!("order {id}: {notes} notifications in one life for {moves} moves");
            }
        }
        Ok(())
    }

    /// A life ends: its notifications count.
    fn end_life(&mut self, life: &Life) -> Result<()> {
        self.check_life(life)?;
        self.lives += 1;
        for id in life.log.orders().iter().map(|o| o.id.clone()).collect::<BTreeSet<_>>() {
            let notes = life.log.notifications_for(&id);
            *self.notes.entry(id.clone()).or_default() += notes;
            let line = format!("life {}: drew {:?}, {notes} notifications", self.lives, life.log.statuses_of(&id));
            self.history.entry(id).or_default().push(line);
        }
        Ok(())
    }
}

/// The customer's status changes in the server's change log: (`seq`, order, status).
async fn truth_log(api: &Api, customer: &Token) -> Result<Vec<(u64, String, Status)>> {
    match api.changes(customer, 0).await? {
        order_client::Changes::Replay(r) => Ok(r
            .changes
            .into_iter()
            .filter(|c| c.event == CUSTOMER_ORDER_UPDATE)
            .filter_map(|c| {
                let u: OrderUpdate = serde_json::from_value(c.payload).ok()?;
                Some((c.seq, u.order_id, u.status))
            })
            .collect()),
        other => bail!("the change log did not answer: {other:?}"),
    }
}

/// Runs a soak; `Ok` with the report even when the oracle found something (the report says so), `Err` when
/// the harness itself could not go on (or a cycle did not converge: that is a failure too).
pub async fn soak(opts: &Opts) -> Result<Report> {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(opts.seed);
    let mut report = Report { seed: opts.seed, ..Report::default() };
    let mut peer = Peer::start(opts.backend).await?;
    let proxy = FaultProxy::start(peer.addr()).await?;
    let data = TempDir::new("chaos-client");
    let customer = peer.api().login("alice@example.com", "alice-pass").await?.0;
    let owner = peer.api().login("owner@example.com", "owner-pass").await?.0;
    let extensions = opts.backend == Backend::OrderServer;
    let mut oracle = Oracle::default();
    if extensions {
        oracle.covered_up_to = truth_log(&peer.api(), &customer).await?.last().map_or(0, |c| c.0);
    }
    let mut life = Life::start(&proxy.api_url(), data.path(), &customer)?;
    life.log.wait_link("live", 0, Duration::from_secs(30)).await.context("the first connection")?;
    let mut trace: Vec<String> = Vec::new();

    for cycle in 1..=opts.cycles {
        let trouble = Trouble::pick(&mut rng, opts.backend);
        *report.faults.entry(trouble.name()).or_default() += 1;
        // A fault on the catch-up holds long enough for the link to come back into it, and for writes to land
        // live while it fails.
        let catch_up_fault = matches!(
            trouble,
            Trouble::CatchUpStatus(_) | Trouble::CatchUpReset | Trouble::CatchUpTruncated | Trouble::CatchUpStalled
        );
        let hold_ms = if catch_up_fault { rng.random_range(1500..3000) } else { rng.random_range(200..1200) };
        let hold = Duration::from_millis(hold_ms);
        trace.push(format!("cycle {cycle}: {}", trouble.name()));
        let catch_up_path = if extensions { "/api/orders/changes" } else { "/api/orders" };
        let mut killed_server = false;
        let mut before_restart = None;
        let from = life.log.len();
        match trouble {
            Trouble::Calm => {}
            Trouble::Cut => proxy.cut(),
            Trouble::Silent => proxy.set_ws(WsFault::Silent),
            Trouble::CutAfterFrames(n) => proxy.set_ws(WsFault::CutAfter(n)),
            Trouble::SlowFrames => proxy.set_ws(WsFault::Delay(Duration::from_millis(rng.random_range(50..400)))),
            Trouble::CatchUpStatus(code) => {
                proxy.fail(catch_up_path, Fault::Status(code));
                proxy.cut();
                proxy.reopen();
            }
            Trouble::CatchUpReset => {
                proxy.fail(catch_up_path, Fault::Reset);
                proxy.cut();
                proxy.reopen();
            }
            Trouble::CatchUpTruncated => {
                proxy.fail(catch_up_path, Fault::Truncate);
                proxy.cut();
                proxy.reopen();
            }
            Trouble::CatchUpStalled => {
                proxy.fail(catch_up_path, Fault::Stall);
                proxy.cut();
                proxy.reopen();
            }
            Trouble::SlowRequests => {
                proxy.fail("/api/", Fault::Delay(Duration::from_millis(rng.random_range(100..1500))));
                proxy.cut();
                proxy.reopen();
            }
            Trouble::ServerKilled => {
                if let Peer::Server { srv, .. } = &mut peer {
                    srv.proc.kill_hard();
                    killed_server = true;
                }
            }
            // A life is folded into the oracle once it can show nothing more: read before its end, an update or
            // a notification arriving between the reading and the end would be lost to the oracle (not to the
            // app, whose cache has it), which a loaded machine made happen.
            Trouble::ClientKilled => {
                life.kill();
                if let Err(e) = oracle.end_life(&life) {
                    return fail(&report, &oracle, &trace, &life, &e.to_string());
                }
                life = Life::start(&proxy.api_url(), data.path(), &customer)?;
            }
            Trouble::ClientRestarted => {
                let before = life.engine.snapshot().await?;
                life.stop().await;
                if let Err(e) = oracle.end_life(&life) {
                    return fail(&report, &oracle, &trace, &life, &e.to_string());
                }
                life = Life::start(&proxy.api_url(), data.path(), &customer)?;
                before_restart = Some(before);
            }
        }
        if let Some(before) = before_restart {
            let shown = life
                .log
                .wait_for("the cached state", Duration::from_secs(10), |ev| {
                    ev.iter().any(|(_, e)| matches!(e, ClientEvent::Update { patch: Patch::Reset { state }, .. } if !state.orders.is_empty()))
                })
                .await;
            let first = life.log.all().into_iter().find_map(|(_, e)| match e {
                ClientEvent::Update { patch: Patch::Reset { state }, .. } if !state.orders.is_empty() => Some(state),
                _ => None,
            });
            let same = first.as_ref().is_some_and(|s| s.orders == before.orders);
            if shown.is_err() || !same {
                return fail(
                    &report,
                    &oracle,
                    &trace,
                    &life,
                    "after a clean restart the cache did not show the state before it",
                );
            }
        }

        if catch_up_fault && rng.random_bool(0.5) {
            // Straight back into the failing catch-up, as on a network change.
            let _ = life.engine.retry_now();
        }

        // The store moves orders meanwhile: two writers, one or two steps each, at random times in the hold.
        let write_api = peer.api();
        // The server down (killed): no writes this cycle.
        let orders: Vec<order_protocol::Order> = write_api.orders(&customer).await.unwrap_or_default();
        let mut active: Vec<(String, Status)> =
            orders.iter().filter(|o| o.status.is_active()).map(|o| (o.id.clone(), o.status)).collect();
        let mut plans: Vec<Vec<(Duration, String, Status)>> = vec![Vec::new(), Vec::new()];
        for (w, plan) in plans.iter_mut().enumerate() {
            for _ in 0..rng.random_range(1..=2) {
                let mine: Vec<usize> = (0..active.len()).filter(|i| i % 2 == w).collect();
                if mine.is_empty() {
                    break;
                }
                let i = mine[rng.random_range(0..mine.len())];
                let (id, now) = active[i].clone();
                let next = if rng.random_bool(0.08) { Some(Status::Cancelled) } else { now.next() };
                let Some(next) = next else { continue };
                plan.push((Duration::ZERO, id, next));
                active[i].1 = next;
            }
            // Random times, in the order the steps were planned: one order's steps must not swap.
            let mut at: Vec<Duration> =
                plan.iter().map(|_| Duration::from_millis(rng.random_range(0..hold_ms))).collect();
            at.sort();
            for (step, t) in plan.iter_mut().zip(at) {
                step.0 = t;
            }
        }
        let writes_from = tokio::time::Instant::now();
        let writers: Vec<_> = plans
            .into_iter()
            .map(|plan| {
                let (api, owner) = (write_api.clone(), owner.clone());
                tokio::spawn(async move {
                    let mut done = Vec::new();
                    for (at, id, status) in plan {
                        tokio::time::sleep_until(writes_from + at).await;
                        if api.set_status(&owner, &id, status).await.is_ok() {
                            done.push(id);
                        }
                    }
                    done
                })
            })
            .collect();
        if matches!(trouble, Trouble::Silent) {
            // Longer than it takes to notice (the heartbeat timeout, 3 s, and a heartbeat with the extensions;
            // Engine.IO's ping interval and timeout, 2 + 3 s, on the base contract), with room for a busy machine.
            let window = if extensions { Duration::from_secs(7) } else { Duration::from_secs(10) };
            tokio::time::sleep(window).await;
            let left_live = life.log.all()[from..].iter().any(|(_, e)| link_of(e).is_some_and(|l| !l.is_live()));
            if !left_live {
                let why = format!("a path silent for {window:?} still showed Live");
                return fail(&report, &oracle, &trace, &life, &why);
            }
        } else {
            tokio::time::sleep(hold).await;
        }
        for w in writers {
            for id in w.await? {
                report.transitions += 1;
                *oracle.moves.entry(id).or_default() += 1;
            }
        }

        proxy.clear();
        proxy.release();
        proxy.reopen();
        if killed_server {
            if let Peer::Server { srv, dir } = &mut peer {
                *srv = OrderServer::start_at(dir.path(), &srv.addr.to_string(), &[])?;
            }
        }
        // Fresh orders now and then, so there is always something to move.
        let live_orders = peer.api().orders(&customer).await?;
        if live_orders.iter().filter(|o| o.status.is_active()).count() < 3 || rng.random_bool(0.1) {
            let id = peer.new_order(&customer, &owner).await?;
            // Placed is a change the app shows (and, with the extensions, notifies) too.
            report.transitions += 1;
            *oracle.moves.entry(id).or_default() += 1;
        }
        if rng.random_bool(0.5) {
            // As the app does when the network comes back or the machine wakes.
            let _ = life.engine.retry_now();
        }

        // The app must come to show what the server holds, and say Live.
        let server_orders = peer.api().orders(&customer).await?;
        let want: BTreeMap<String, Status> = server_orders.iter().map(|o| (o.id.clone(), o.status)).collect();
        let deadline = Instant::now() + Duration::from_secs(45);
        let view = loop {
            let view = life.engine.snapshot().await?;
            let shown: BTreeMap<String, Status> = view.orders.iter().map(|o| (o.id.clone(), o.status)).collect();
            if view.link.is_live() && shown == want {
                break view;
            }
            if Instant::now() > deadline {
                let diff: Vec<String> = want
                    .iter()
                    .filter(|(id, s)| shown.get(*id) != Some(s))
                    .map(|(id, s)| format!("{id}: server {s}, app {:?}", shown.get(id)))
                    .collect();
                report.lost += diff.len();
                let why = format!("not converged in 45 s (link {:?}): {}", view.link, diff.join("; "));
                return fail(&report, &oracle, &trace, &life, &why);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // Every step of every order in its timeline, as the server's history has it.
        for o in &server_orders {
            let history: Vec<Status> = o.status_history.iter().map(|e| e.status).collect();
            let timeline: Vec<Status> = view
                .orders
                .iter()
                .find(|v| v.id == o.id)
                .map(|v| v.timeline.iter().map(|e| e.status).collect())
                .unwrap_or_default();
            if history != timeline {
                report.lost += 1;
                let why = format!("order {}: the server's history {history:?}, the app's timeline {timeline:?}", o.id);
                return fail(&report, &oracle, &trace, &life, &why);
            }
        }

        // Every change of the log applied (in this life or an earlier one), none twice, none backwards.
        if let Err(e) = oracle.check_life(&life) {
            return fail(&report, &oracle, &trace, &life, &e.to_string());
        }
        if extensions {
            let truth = truth_log(&peer.api(), &customer).await?;
            // A change not drawn because a later one of its order was drawn first (live during the catch-up that
            // brought it) is in the timeline, checked above; any other is lost.
            let superseded = |c: &(u64, String, Status)| {
                truth.iter().any(|d| d.1 == c.1 && d.0 > c.0 && oracle.applied.contains(&d.0))
            };
            let missing: Vec<&(u64, String, Status)> = truth
                .iter()
                .filter(|c| c.0 > oracle.covered_up_to && !oracle.applied.contains(&c.0) && !superseded(c))
                .collect();
            if !missing.is_empty() {
                report.lost = missing.len();
                let of_order = |id: &str| truth.iter().filter(|c| c.1 == id).map(|c| (c.0, c.2)).collect::<Vec<_>>();
                let detail: Vec<String> = missing
                    .iter()
                    .map(|(seq, id, st)| format!("#{seq} {id} {st} (its log: {:?})", of_order(id)))
                    .collect();
                return fail(&report, &oracle, &trace, &life, &format!("changes never applied: {detail:?}"));
            }
        }
        report.cycles = cycle;
    }

    // A notification follows its update (on the base contract it is a separate event, or the reload's diff):
    // give the last ones time to arrive before counting.
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline
        && oracle
            .moves
            .keys()
            .any(|id| oracle.notes.get(id).copied().unwrap_or(0) + life.log.notifications_for(id) == 0)
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if let Err(e) = oracle.end_life(&life) {
        return fail(&report, &oracle, &trace, &life, &e.to_string());
    }
    life.stop().await;
    // A notification for every order that moved (on the base contract they come from the reload's diff).
    for (id, moves) in &oracle.moves {
        if oracle.notes.get(id).copied().unwrap_or(0) == 0 {
            report.lost += 1;
            let why = format!("order {id} moved {moves} times, never notified: {:?}", oracle.history.get(id));
            return fail(&report, &oracle, &trace, &life, &why);
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

fn fail(report: &Report, oracle: &Oracle, trace: &[String], life: &Life, why: &str) -> Result<Report> {
    let events = life.log.summary();
    let tail: Vec<&String> = events.iter().rev().take(25).rev().collect();
    let faults: Vec<&String> = trace.iter().rev().take(8).rev().collect();
    bail!(
        "chaos: FAILED at cycle {} with seed {} ({} lost, {} duplicated, {} regressions; replay with --seed {}): {why}\n\
         last faults: {faults:#?}\nlast events of the client: {tail:#?}",
        report.cycles + 1,
        report.seed,
        report.lost,
        oracle.duplicated,
        oracle.regressions,
        report.seed
    )
}

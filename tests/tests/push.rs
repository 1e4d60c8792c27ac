//! Push end to end: the real `order-server` binary with its push services pointed at the loopback stand-ins of
//! `live_orders_tests::push`, which check signatures, tokens and encryption as the real services do.

use std::time::Duration;

use anyhow::{Context as _, Result};
use live_orders_tests::procs::{rest_login, OrderServer, TempDir};
use live_orders_tests::push::{register_device, Apns, Delivery, Fcm, Standin, WebPushReceiver};
use order_protocol::{words, Status};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);
const ALICE: (&str, &str) = ("alice@example.com", "alice-pass");

/// The three stand-ins and a server using them.
struct Rig {
    dir: TempDir,
    fcm: Fcm,
    fcm_account: std::path::PathBuf,
    apns: Apns,
    web: WebPushReceiver,
    vapid: std::path::PathBuf,
    server: OrderServer,
    http: reqwest::Client,
}

impl Rig {
    async fn start() -> Result<Rig> {
        let dir = TempDir::new("push");
        let (fcm, fcm_account) = Fcm::start(dir.path()).await?;
        let apns = Apns::start(dir.path()).await?;
        let (web, vapid) = WebPushReceiver::start(dir.path()).await?;
        let server = start_server(dir.path(), &fcm, &fcm_account, &apns, &vapid)?;
        Ok(Rig { dir, fcm, fcm_account, apns, web, vapid, server, http: reqwest::Client::new() })
    }

    /// Kills the server with SIGKILL (no shutdown at all).
    fn kill9(&mut self) {
        self.server.proc.kill_hard();
    }

    /// Starts the server again on the same database.
    fn restart(&mut self) -> Result<()> {
        self.server = start_server(self.dir.path(), &self.fcm, &self.fcm_account, &self.apns, &self.vapid)?;
        Ok(())
    }

    fn api(&self) -> String {
        self.server.api_url()
    }

    /// Registers a device for the customer signed in with `token`: its status and id.
    async fn register(&self, token: &str, device: &Value) -> Result<(u16, String)> {
        register_device(&self.http, &self.api(), token, device).await
    }

    /// A new order of alice's, placed by the store owner; returns its id (its "placed" push goes out too).
    fn place_order(&self) -> Result<String> {
        let out = self.server.store_owner(&["place", "--customer", ALICE.0])?;
        let id = out.split(['(', ')']).nth(1).context("the placed order's id")?;
        Ok(id.to_owned())
    }

    fn set_status(&self, order: &str, status: Status) -> Result<()> {
        self.server.store_owner(&["set-status", order, status.as_str()])?;
        Ok(())
    }

    async fn metrics(&self) -> Result<Value> {
        Ok(self.http.get(self.server.metrics_url()).send().await?.json().await?)
    }
}

fn start_server(
    dir: &std::path::Path,
    fcm: &Fcm,
    account: &std::path::Path,
    apns: &Apns,
    vapid: &std::path::Path,
) -> Result<OrderServer> {
    let mut args: Vec<String> = vec![
        "--fcm-service-account".into(),
        account.display().to_string(),
        "--fcm-endpoint".into(),
        fcm.endpoint(),
        "--vapid-key".into(),
        vapid.display().to_string(),
        "--vapid-subject".into(),
        "mailto:ops@example.com".into(),
        "--webpush-allow-http".into(),
        "--push-ca-file".into(),
        apns.ca_file.display().to_string(),
    ];
    args.extend(apns.server_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    tokio::task::block_in_place(|| OrderServer::start(dir, &args))
}

fn fcm_token() -> String {
    format!("fcm-{:032x}:APA91b", rand::random::<u128>())
}

fn apns_token() -> String {
    format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>())
}

/// The pushes about `order`, in the order they were accepted.
fn about<'a>(got: &'a [Delivery], order: &str) -> Vec<&'a Delivery> {
    got.iter().filter(|d| d.message.order_id == order).collect()
}

/// A customer whose app is closed gets one push per transition on each of their devices, in the app's own
/// words, collapsed per order; registering the same token twice is one device.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_without_a_socket_gets_a_push_per_transition_on_every_service() -> Result<()> {
    let rig = Rig::start().await?;
    let alice = rest_login(&rig.http, &rig.api(), ALICE).await?;
    let (fcm, apns) = (fcm_token(), apns_token());
    let sub = rig.web.subscribe();
    let (code, first) = rig.register(&alice, &json!({ "platform": "fcm", "token": fcm })).await?;
    assert_eq!(code, 201);
    let (code, again) = rig.register(&alice, &json!({ "platform": "fcm", "token": fcm })).await?;
    assert_eq!((code, &again), (200, &first), "the same token again is the same device");
    rig.register(&alice, &json!({ "platform": "apns", "token": apns })).await?;
    rig.register(&alice, &json!({ "platform": "webpush", "subscription": sub.json })).await?;

    let order = rig.place_order()?;
    let other = rig.place_order()?;
    let steps = [Status::Confirmed, Status::Preparing, Status::Ready, Status::OutForDelivery];
    for status in steps {
        rig.set_status(&order, status)?;
    }
    rig.set_status(&other, Status::Cancelled)?;

    let services: [(&str, &dyn Standin, String); 3] =
        [("FCM", &rig.fcm, fcm), ("APNs", &rig.apns, apns), ("Web Push", &rig.web, sub.id.clone())];
    for (name, service, device) in services {
        let got = wait(service, 7).await.with_context(|| name.to_owned())?;
        assert!(got.iter().all(|d| d.device == device), "{name}: every push to alice's device");
        let mine = about(&got, &order);
        let statuses: Vec<Status> = mine.iter().map(|d| d.message.status).collect();
        assert_eq!(statuses, [&[Status::Pending][..], &steps].concat(), "{name}: one push per transition, in order");
        let number = &mine[0].message.order_number;
        for (i, d) in mine.iter().enumerate() {
            let (title, body) = words::status_note(i == 0, d.message.status, number);
            assert_eq!((&d.message.title, &d.message.body), (&title, &body), "{name}: the app's own words");
            assert_eq!(d.collapse, order, "{name}: collapsed per order");
        }
        let theirs = about(&got, &other);
        assert_eq!(
            theirs.last().map(|d| (d.message.status, d.collapse.as_str())),
            Some((Status::Cancelled, other.as_str()))
        );
        assert!(mine.windows(2).all(|w| w[0].message.seq < w[1].message.seq));
    }
    assert_eq!(rig.fcm.assertions_accepted(), 1, "one access token, kept until it expires");
    let m = rig.metrics().await?;
    for service in ["fcm", "apns", "webpush"] {
        assert_eq!(m["push"][service]["sent"], 7, "{m}");
    }
    Ok(())
}

async fn wait(service: &dyn Standin, n: usize) -> Result<Vec<Delivery>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = service.deliveries();
        if got.len() >= n {
            // Nothing more should follow.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let after = service.deliveries();
            anyhow::ensure!(after.len() == n, "{} pushes, not {n}: {after:?}", after.len());
            return Ok(after);
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "{} pushes in {WAIT:?}, not {n}: {got:?}", got.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// While the customer's app holds a live socket it shows the update itself: no push. Once it is gone, pushes
/// resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_push_while_the_app_has_a_live_socket() -> Result<()> {
    use futures_util::FutureExt as _;
    let rig = Rig::start().await?;
    let alice = rest_login(&rig.http, &rig.api(), ALICE).await?;
    rig.register(&alice, &json!({ "platform": "fcm", "token": fcm_token() })).await?;
    let order = rig.place_order()?;
    rig.fcm.wait_for(1, WAIT).await?;

    let (tx, mut updates) = tokio::sync::mpsc::unbounded_channel();
    let socket = rust_socketio::asynchronous::ClientBuilder::new(format!("http://{}", rig.server.addr))
        .auth(json!({ "token": alice }))
        .reconnect(false)
        .on_any(move |event, _, _| {
            let _ = tx.send(String::from(event));
            async {}.boxed()
        })
        .connect()
        .await?;
    while tokio::time::timeout(WAIT, updates.recv()).await?.context("socket open")? != "connection_status" {}
    rig.set_status(&order, Status::Confirmed)?;
    while tokio::time::timeout(WAIT, updates.recv()).await?.context("socket open")? != "customer_notification" {}
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(rig.fcm.deliveries().len(), 1, "no push while the socket is live");

    socket.disconnect().await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    rig.set_status(&order, Status::Preparing)?;
    let got = rig.fcm.wait_for(2, WAIT).await?;
    assert_eq!(got[1].message.status, Status::Preparing);
    Ok(())
}

/// A service that answers 503 (with `Retry-After`) and then 200 gets the push once; one that says the device is
/// gone (FCM `UNREGISTERED`, APNs 410, Web Push 410) loses the device, and nothing is sent to it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_and_gone_devices_removed() -> Result<()> {
    let rig = Rig::start().await?;
    let alice = rest_login(&rig.http, &rig.api(), ALICE).await?;
    let (fcm, apns) = (fcm_token(), apns_token());
    let sub = rig.web.subscribe();
    rig.register(&alice, &json!({ "platform": "fcm", "token": fcm })).await?;
    rig.register(&alice, &json!({ "platform": "apns", "token": apns })).await?;
    rig.register(&alice, &json!({ "platform": "webpush", "subscription": sub.json })).await?;

    rig.fcm.fail_next(503, Some(1));
    rig.apns.fail_next(503, None);
    rig.web.fail_next(429, Some(1));
    let order = rig.place_order()?;
    for service in [&rig.fcm as &dyn Standin, &rig.apns, &rig.web] {
        let got = wait(service, 1).await?;
        assert_eq!(got[0].message.order_id, order);
        assert_eq!(service.tries(), 2, "refused once, then accepted");
    }
    let m = rig.metrics().await?;
    for service in ["fcm", "apns", "webpush"] {
        assert_eq!((&m["push"][service]["sent"], &m["push"][service]["retried"]), (&json!(1), &json!(1)), "{m}");
    }

    rig.fcm.unregister(&fcm);
    rig.apns.unregister(&apns);
    rig.web.unregister(&sub.id);
    rig.set_status(&order, Status::Confirmed)?;
    live_orders_tests::eventually(
        "every device removed",
        || async { rig.metrics().await },
        |m| ["fcm", "apns", "webpush"].iter().all(|s| m["push"][s]["devicesRemoved"] == 1),
    )
    .await?;
    let tries = [rig.fcm.tries(), rig.apns.tries(), rig.web.tries()];
    rig.set_status(&order, Status::Preparing)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!([rig.fcm.tries(), rig.apns.tries(), rig.web.tries()], tries, "nothing goes to a removed device");
    Ok(())
}

/// `kill -9` while a push is on its way, and a change committed while the server is down: both are pushed after
/// the restart, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_to_a_kill_between_change_and_push() -> Result<()> {
    let mut rig = Rig::start().await?;
    let alice = rest_login(&rig.http, &rig.api(), ALICE).await?;
    let token = fcm_token();
    rig.register(&alice, &json!({ "platform": "fcm", "token": token })).await?;
    let order = rig.place_order()?;
    rig.fcm.wait_for(1, WAIT).await?;

    // The service holds the next push unanswered: it is in flight when the server dies.
    rig.fcm.fail_next(0, None);
    rig.set_status(&order, Status::Confirmed)?;
    live_orders_tests::eventually("the push in flight", || async { Ok(rig.fcm.tries()) }, |t| *t == 2).await?;
    rig.kill9();
    // A change while no server runs.
    rig.set_status(&order, Status::Preparing)?;
    rig.restart()?;

    let got = wait(&rig.fcm, 3).await?;
    let statuses: Vec<Status> = got.iter().map(|d| d.message.status).collect();
    assert_eq!(statuses, [Status::Pending, Status::Confirmed, Status::Preparing]);
    Ok(())
}

/// Sign-out removes the devices of that sign-in: its pushes stop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_out_stops_the_pushes_of_that_sign_in() -> Result<()> {
    let rig = Rig::start().await?;
    let alice = rest_login(&rig.http, &rig.api(), ALICE).await?;
    let sub = rig.web.subscribe();
    let (_, id) = rig.register(&alice, &json!({ "platform": "webpush", "subscription": sub.json })).await?;
    let res = rig.http.delete(format!("{}/devices/{id}", rig.api())).send().await?;
    assert_eq!(res.status(), 401, "removing a device needs the customer's token");
    let bob = rest_login(&rig.http, &rig.api(), ("bob@example.com", "bob-pass")).await?;
    let res = rig.http.delete(format!("{}/devices/{id}", rig.api())).bearer_auth(&bob).send().await?;
    assert_eq!(res.status(), 404, "nor can another customer");

    rig.http.post(format!("{}/auth/logout", rig.api())).bearer_auth(&alice).send().await?.error_for_status()?;
    rig.place_order()?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rig.web.tries(), 0, "no push after sign-out");
    let bad = json!({ "platform": "webpush", "subscription": { "endpoint": "http://127.0.0.1:1/x", "keys": { "p256dh": "AAAA", "auth": "AAAA" } } });
    let res = rig.http.post(format!("{}/devices", rig.api())).bearer_auth(&bob).json(&bad).send().await?;
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await?;
    assert!(v["message"].as_str().is_some_and(|m| m.contains("p256dh")), "{v}");
    Ok(())
}

/// The phone's story with the app's own engine: after sign-in it registers its FCM token; while its link is live
/// the updates come over the socket and nothing is pushed; once the app has been in the background past the
/// grace its link closes, and the next update arrives as a push; back in front it catches up on it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_apps_engine_registers_and_is_pushed_to_only_while_suspended() -> Result<()> {
    use std::sync::Arc;

    use live_orders_tests::client_log::EventLog;
    use order_client::{Engine, EngineConfig, MemoryTokenStore};
    use order_protocol::{DeviceRegistration, PushPlatform};

    let rig = Rig::start().await?;
    let mut config = EngineConfig::new(rig.api());
    config.suspend_grace = Duration::from_millis(200);
    let (engine, rx) = Engine::start(config, Arc::new(MemoryTokenStore::default()));
    let log = EventLog::record(rx);
    let token = fcm_token();
    engine.set_push_device(Some(DeviceRegistration {
        platform: PushPlatform::Fcm,
        token: Some(token.clone()),
        subscription: None,
    }))?;
    engine.login(ALICE.0, ALICE.1).await?;
    log.wait_link("live", 0, WAIT).await?;

    let order = rig.place_order()?;
    log.wait_for("the placed order", WAIT, |_| !log.statuses_of(&order).is_empty()).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(rig.fcm.deliveries().is_empty(), "no push while the app's link is live");

    engine.suspend()?;
    let from = log.len();
    log.wait_link("offline", from, WAIT).await?;
    rig.set_status(&order, Status::Confirmed)?;
    let got = rig.fcm.wait_for(1, WAIT).await?;
    assert_eq!((got[0].device.as_str(), got[0].message.status), (token.as_str(), Status::Confirmed));

    engine.resume()?;
    log.wait_for("the change caught up", WAIT, |_| log.statuses_of(&order).last() == Some(&Status::Confirmed)).await?;
    engine.logout().await?;
    rig.set_status(&order, Status::Preparing)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rig.fcm.deliveries().len(), 1, "signed out: the device was removed with the sign-in");
    Ok(())
}

/// A service that holds its requests unanswered holds up neither the other services nor the sockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_service_holds_up_no_other() -> Result<()> {
    let rig = Rig::start().await?;
    let alice = rest_login(&rig.http, &rig.api(), ALICE).await?;
    rig.register(&alice, &json!({ "platform": "apns", "token": apns_token() })).await?;
    rig.register(&alice, &json!({ "platform": "fcm", "token": fcm_token() })).await?;
    let bob = rest_login(&rig.http, &rig.api(), ("bob@example.com", "bob-pass")).await?;
    let sub = rig.web.subscribe();
    rig.register(&bob, &json!({ "platform": "webpush", "subscription": sub.json })).await?;
    rig.apns.fail_next(0, None);

    let order = rig.place_order()?;
    rig.fcm.wait_for(1, Duration::from_secs(5)).await?;
    let bobs = rig.server.store_owner(&["place", "--customer", "bob@example.com"])?;
    rig.web.wait_for(1, Duration::from_secs(5)).await?;
    assert!(bobs.contains("placed"), "{bobs}");
    rig.set_status(&order, Status::Confirmed)?;
    rig.fcm.wait_for(2, Duration::from_secs(5)).await?;
    assert_eq!((rig.apns.tries(), rig.apns.deliveries().len()), (1, 0), "APNs still holds the first push");
    Ok(())
}

#[path = "../benches/push_waves/mod.rs"]
mod push_waves;

/// The push benchmark, short (10 customers, 200 devices, the debug server): every push of both waves arrives,
/// none is retried, and one access token serves them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_push_benchmark_runs_bounded() -> Result<()> {
    let report = push_waves::run(10, Duration::from_secs(1)).await?;
    report.print();
    assert!(report.waves.iter().all(|w| w.pushes == 200), "every device got each wave's push");
    assert_eq!((&report.counters["sent"], &report.counters["retried"]), (&json!(400), &json!(0)));
    assert_eq!(report.access_tokens, 1);
    Ok(())
}

//! The desktop app in its OS, end to end on Linux, driven as a customer does: the offer to open at login
//! (after the first sign-in) and the Settings switch write and remove the XDG autostart entry, whose command
//! starts the app hidden in the tray with its link live, and a store's update then raises a notification over
//! D-Bus; `liveorders://orders/<id>` opens that order from a cold start and in the running app (the second
//! launch hands it over), and a link to someone else's order or a damaged one is refused in words; updates
//! are offered in Settings from a loopback update server and nothing is downloaded before the customer says
//! so, and a download that the app's public key does not verify is refused with the app left as it was.
//!
//! Needs the private session `cargo xtask test` provides: an unlocked gnome-keyring, dunst and openbox.

use std::process::Command;
use std::time::{Duration, Instant};

use live_orders_tests::desktop;
use live_orders_tests::e2e::{app_env, AppSession};
use live_orders_tests::eventually;
use live_orders_tests::procs::{workspace_binary, OrderServer, Proc, TempDir};
use live_orders_tests::updates::{SigningKey, UpdateServer};

/// One test of this file at a time: the hidden start runs the app outside an `AppSession` (whose turn keeps
/// apps of one test binary apart), and a second app in the same desktop session would only hand over to it.
static ONE_TEST: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The first order of `email` still open, from the orders page: (id, number, next status).
async fn an_open_order(app: &AppSession) -> anyhow::Result<(String, String, order_protocol::Status)> {
    app.click("header nav a[href='#/orders']").await?;
    let row = app
        .wait_for(".order-row[data-status='pending'], .order-row[data-status='confirmed'], .order-row[data-status='preparing']")
        .await?;
    let id = row.attr("data-order-id").await?.expect("rows carry their id");
    let status = row.attr("data-status").await?.expect("rows carry their status");
    let number = row.find(fantoccini::Locator::Css(".num")).await?.text().await?;
    let next = order_protocol::Status::parse(&status).and_then(order_protocol::Status::next).expect("an open order");
    Ok((id, number, next))
}

async fn connected_sockets(server: &OrderServer) -> anyhow::Result<i64> {
    let metrics: serde_json::Value = reqwest::get(server.metrics_url()).await?.json().await?;
    metrics["connectedSockets"].as_i64().ok_or_else(|| anyhow::anyhow!("no connectedSockets in {metrics}"))
}

/// A second launch of the app with these arguments, as the OS starts it for a link; it hands them to the
/// running app and ends.
async fn launch_again(home: &std::path::Path, args: &[&str]) -> anyhow::Result<()> {
    let mut second = Command::new(workspace_binary("live-orders")?).args(args).envs(app_env(home)).spawn()?;
    let started = Instant::now();
    loop {
        if let Some(status) = second.try_wait()? {
            anyhow::ensure!(status.success(), "the second launch ends quietly: {status}");
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = second.kill();
            let _ = second.wait();
            anyhow::bail!("the second launch kept running");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn opening_at_login_is_offered_once_and_starts_the_app_hidden_and_notifying() -> anyhow::Result<()> {
    let _turn = ONE_TEST.lock().await;
    let data = TempDir::new("e2e-autostart");
    let server = OrderServer::start(data.path(), &[])?;
    let app = AppSession::launch(&[]).await?;
    let entry = app.home.path().join(".config/autostart/live-orders.desktop");
    app.log_in(&server.api_url(), "bob@example.com", "bob-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;

    // Asked once, after the first sign-in; off until the customer says yes.
    app.wait_for("#open-at-login-offer").await?;
    assert!(!entry.exists(), "nothing is written before the customer answers");
    app.click("#open-at-login-yes").await?;
    let text = eventually("the autostart entry", || async { Ok(std::fs::read_to_string(&entry)?) }, |_| true).await?;
    let exec = text.lines().find_map(|l| l.strip_prefix("Exec=")).expect("an Exec line").to_owned();
    let binary = workspace_binary("live-orders")?;
    assert_eq!(exec, format!("{} --hidden", binary.display()), "the entry starts this app, hidden: {text}");

    // The switch in Settings removes it and writes it again; the offer does not come back.
    app.click("header nav a[href='#/settings']").await?;
    assert!(app.attr("#open-at-login", "checked").await?.is_some(), "the switch shows the entry: {text}");
    app.click("#open-at-login").await?;
    eventually("the entry removed", || async { Ok(entry.exists()) }, |e| !*e).await?;
    app.click("#open-at-login").await?;
    eventually("the entry written again", || async { Ok(entry.exists()) }, |e| *e).await?;
    app.reload().await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    assert!(app.client.find(fantoccini::Locator::Css("#open-at-login-offer")).await.is_err(), "the offer is made once");
    let (order_id, number, next) = an_open_order(&app).await?;
    let home = app.quit_keeping_home().await?;

    // The desktop session starts the entry's command: no window, the tray, and the link live.
    let before = eventually("the first app gone", || connected_sockets(&server), |n| *n == 0).await?;
    let mut monitor = Proc::spawn(
        "dbus-monitor",
        Command::new("dbus-monitor").arg("interface='org.freedesktop.Notifications',member='Notify'"),
    )?;
    let mut words = exec.split_whitespace();
    let mut cmd = Command::new(words.next().expect("a program"));
    cmd.args(words).envs(app_env(home.path()));
    let mut hidden = Proc::spawn("live-orders --hidden", &mut cmd)?;
    desktop::Tray::of(hidden.pid(), Duration::from_secs(30))?;
    eventually("the hidden app's link up", || connected_sockets(&server), |n| *n > before).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(desktop::windows_titled("Live Orders").is_empty(), "started at login, no window shows");

    server.store_owner(&["set-status", &order_id, next.as_str()])?;
    let line = monitor.wait_for_line(&number, Duration::from_secs(20))?;
    eprintln!("the hidden app raised: {line}");
    assert!(desktop::windows_titled("Live Orders").is_empty(), "a notification, not a window");
    monitor.stop();
    hidden.stop();
    drop(home);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_liveorders_link_opens_its_order_from_a_cold_start_and_in_the_running_app() -> anyhow::Result<()> {
    let _turn = ONE_TEST.lock().await;
    let data = TempDir::new("e2e-links");
    let server = OrderServer::start(data.path(), &[])?;
    let bobs = server.order_ids_of("bob@example.com", "bob-pass").await?;
    let alices = server.order_ids_of("alice@example.com", "alice-pass").await?;
    let (first, second) = {
        let mut ids = bobs.iter();
        (ids.next().expect("bob has orders").clone(), ids.next().expect("bob has two orders").clone())
    };
    let not_bobs = alices.iter().next().expect("alice has orders").clone();

    let app = AppSession::launch(&[]).await?;
    app.log_in(&server.api_url(), "bob@example.com", "bob-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    let home = app.quit_keeping_home().await?;

    // Cold start: the OS starts the app with the link.
    let link = format!("liveorders://orders/{first}");
    let app = AppSession::launch_with_args(home, &[&link]).await?;
    app.wait_for(&format!(".order-page[data-order-id='{first}']")).await?;

    // While it runs: a second launch hands its link over and ends.
    launch_again(app.home.path(), &[&format!("liveorders://orders/{second}")]).await?;
    app.wait_for(&format!(".order-page[data-order-id='{second}']")).await?;

    // Someone else's order: not shown, said in words.
    launch_again(app.home.path(), &[&format!("liveorders://orders/{not_bobs}")]).await?;
    let missing = app.text_of("#order-missing").await?;
    assert!(missing.contains("not among your orders"), "{missing}");

    // A damaged link and one to nothing the app has: refused in words, and the app carries on.
    launch_again(app.home.path(), &["liveorders://orders/../../api/users"]).await?;
    let refused = app.text_of("#link-problem").await?;
    assert!(refused.contains("damaged"), "{refused}");
    app.click("#dismiss-link-problem").await?;
    launch_again(app.home.path(), &["liveorders://settings?x=1"]).await?;
    let refused = app.text_of("#link-problem").await?;
    assert!(refused.contains("does not lead to an order"), "{refused}");
    app.wait_for("#link-indicator[data-state='live']").await?;
    assert_eq!(desktop::windows_titled("Live Orders").len(), 1, "still one app");
    app.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn updates_are_offered_in_settings_and_a_download_the_app_cannot_verify_is_refused() -> anyhow::Result<()> {
    let _turn = ONE_TEST.lock().await;
    let data = TempDir::new("e2e-updates");
    let server = OrderServer::start(data.path(), &[])?;
    let updates = UpdateServer::start().await?;
    // A key made now: not the publisher's, whose public key the app is built with.
    let stranger = SigningKey::generate();
    let binary = workspace_binary("live-orders")?;
    let binary_before = std::fs::read(&binary)?;

    let app = AppSession::launch(&[]).await?;
    app.log_in(&server.api_url(), "alice@example.com", "alice-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    app.click("header nav a[href='#/settings']").await?;
    let status = app.text_of("#update-status").await?;
    assert!(status.contains("Not checked yet") || status.contains("No update server"), "{status}");
    // The app asks by itself shortly after it starts: here the server answers with a broken manifest.
    updates.serve_manifest("{ \"version\": \"0.2.0\", \"platforms\": ");
    app.fill("input[name=update-url]", &updates.manifest_url()).await?;
    app.click("#save-update-url").await?;
    eventually("the check at start", || async { Ok(updates.hits("/latest.json")) }, |n| *n >= 1).await?;
    let status =
        eventually("its outcome", || app.text_of("#update-status"), |t| t.contains("could not be read")).await?;
    eprintln!("the check at start: {status}");

    let check = |want: &'static str| {
        let app = &app;
        async move {
            app.click("#check-updates").await?;
            eventually(want, || app.text_of("#update-status"), |t| t.contains(want)).await
        }
    };
    let package = b"a package of Live Orders 0.2.0".to_vec();
    let name = "live-orders_0.2.0_amd64.deb";
    updates.offer("0.0.9", "Old.", name, package.clone(), &stranger.sign(&package, name, "0.0.9"));
    check("older than the 0.1.0 you have").await?;
    updates.offer("0.2.0", "Faster and kinder.", name, package.clone(), &stranger.sign(&package, name, "0.2.0"));
    check("Version 0.2.0 is available.").await?;
    assert_eq!(app.text_of("#update-notes").await?, "Faster and kinder.");
    assert_eq!(updates.hits(&format!("/packages/{name}")), 0, "nothing is downloaded before the customer agrees");

    app.click("#install-update").await?;
    let refused = eventually(
        "the download refused",
        || app.text_of("#update-status"),
        |t| t.contains("does not carry the publisher's valid signature"),
    )
    .await?;
    eprintln!("refused: {refused}");
    assert_eq!(updates.hits(&format!("/packages/{name}")), 1, "downloaded once, on the customer's say");
    assert!(app.client.find(fantoccini::Locator::Css("#install-update")).await.is_err(), "not offered again");
    assert!(std::fs::read(&binary)? == binary_before, "the app on disk is untouched");
    app.wait_for("#link-indicator[data-state='live']").await?;

    updates.serve_manifest_none();
    check("You have the latest version.").await?;
    app.close().await
}

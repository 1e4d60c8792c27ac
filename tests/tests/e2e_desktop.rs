//! The desktop promises, end to end: the session lives in the Secret Service and nowhere on disk, survives
//! a restart, and is gone after logout; with the window minimized, a store update raises a native
//! notification (a `Notify` call on D-Bus) naming the order, and clicking it opens that order. The tray icon
//! (a StatusNotifierItem, read as a panel reads it) shows the unread count and its menu pauses notifications
//! and quits; the window comes back where it was left; a second launch brings up the first window; switching
//! the server in Settings ends the session on the old one.
//!
//! Needs the private session `cargo xtask test` provides: an unlocked gnome-keyring, dunst and openbox.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use live_orders_tests::desktop::{self, Tray};
use live_orders_tests::e2e::{app_env, AppSession};
use live_orders_tests::eventually;
use live_orders_tests::procs::{workspace_binary, OrderServer, Proc, TempDir};

const SERVICE: &str = "app.liveorders.client";

/// The secret stored for `api_url`, if any (`secret-tool lookup`).
fn keychain_secret(api_url: &str) -> Option<String> {
    let out = Command::new("secret-tool").args(["lookup", "service", SERVICE, "username", api_url]).output().ok()?;
    let s = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !s.is_empty()).then_some(s)
}

fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| String::from_utf8_lossy(&b).contains(needle)) {
                hits.push(p.display().to_string());
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread")]
async fn the_session_lives_in_the_keychain_survives_a_restart_and_ends_at_logout() -> anyhow::Result<()> {
    let data = TempDir::new("e2e-keychain");
    let server = OrderServer::start(data.path(), &[])?;
    let api_url = server.api_url();
    let app = AppSession::launch(&[]).await?;
    app.log_in(&api_url, "alice@example.com", "alice-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;

    let token = keychain_secret(&api_url).expect("the token is in the Secret Service after login");
    assert!(token.starts_with("eyJ"), "a JWT is stored");
    let leaks = files_containing(app.home.path(), &token);
    assert!(leaks.is_empty(), "the token must be in no file under the app's dirs: {leaks:?}");
    let home = app.quit_keeping_home().await?;

    // Restart: signed in without typing, live again.
    let app = AppSession::launch_in(home, &[]).await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    app.click("header nav a[href='#/settings']").await?;
    app.click("#logout").await?;
    app.wait_for("#login-title").await?;
    assert_eq!(keychain_secret(&api_url), None, "logout removes the keychain entry");
    app.close().await
}

/// A customer moves to another store's server in Settings. A server that cannot be reached is refused in
/// words and nothing changes; a real one ends the session on the old server (its keychain entry removed, its
/// orders gone from the screen), asks to sign in there, and then shows that server's orders.
#[tokio::test(flavor = "multi_thread")]
async fn switching_the_server_in_settings_ends_the_old_session_and_shows_the_new_ones_orders() -> anyhow::Result<()> {
    let (data_a, data_b) = (TempDir::new("e2e-switch-a"), TempDir::new("e2e-switch-b"));
    let (a, b) = (OrderServer::start(data_a.path(), &[])?, OrderServer::start(data_b.path(), &[])?);
    // The same seed on both: one more order on B tells the two lists apart by their length too.
    b.store_owner(&["place", "--customer", "alice@example.com"])?;
    let (orders_a, orders_b) = (
        a.order_ids_of("alice@example.com", "alice-pass").await?,
        b.order_ids_of("alice@example.com", "alice-pass").await?,
    );
    assert!(orders_a.is_disjoint(&orders_b), "two databases, two sets of ids");

    let app = AppSession::launch(&[]).await?;
    app.log_in(&a.api_url(), "alice@example.com", "alice-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    assert_eq!(app.listed_order_ids().await?, orders_a);
    assert!(keychain_secret(&a.api_url()).is_some(), "signed in on A");

    app.click("header nav a[href='#/settings']").await?;
    let nobody = format!("http://127.0.0.1:{}/api", live_orders_tests::procs::free_port());
    app.fill("#server-form input[name=server]", &nobody).await?;
    app.click("#switch-server").await?;
    let error = app.text_of("#server-error").await?;
    assert!(error.starts_with("The server cannot be reached"), "{error}");
    app.screenshot("settings-switch-refused").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    assert!(keychain_secret(&a.api_url()).is_some(), "a refused switch keeps the session on A");

    app.fill("#server-form input[name=server]", &b.api_url()).await?;
    app.click("#switch-server").await?;
    app.wait_for("#login-title").await?;
    assert_eq!(app.attr("input[name=server]", "value").await?.as_deref(), Some(b.api_url().as_str()));
    assert_eq!(keychain_secret(&a.api_url()), None, "the session on A ended with the switch");
    let shown = app.client.find_all(fantoccini::Locator::Css("[data-order-id]")).await?;
    assert!(shown.is_empty(), "nothing of A's is on screen after the switch");

    app.log_in(&b.api_url(), "alice@example.com", "alice-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    assert_eq!(app.listed_order_ids().await?, orders_b);
    assert!(keychain_secret(&b.api_url()).is_some(), "signed in on B");
    app.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_minimized_app_raises_a_native_notification_naming_the_order() -> anyhow::Result<()> {
    let data = TempDir::new("e2e-notify");
    let server = OrderServer::start(data.path(), &[])?;
    let app = AppSession::launch(&[]).await?;
    app.log_in(&server.api_url(), "bob@example.com", "bob-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    app.click("header nav a[href='#/orders']").await?;
    let row = app.wait_for(".order-row[data-status='pending'], .order-row[data-status='confirmed'], .order-row[data-status='preparing']").await?;
    let order_id = row.attr("data-order-id").await?.expect("rows carry their id");
    let status = row.attr("data-status").await?.expect("rows carry their status");
    let number = row.find(fantoccini::Locator::Css(".num")).await?.text().await?;
    let next = order_protocol::Status::parse(&status).and_then(order_protocol::Status::next).expect("an open order");

    let mut monitor = Proc::spawn(
        "dbus-monitor",
        Command::new("dbus-monitor").arg("interface='org.freedesktop.Notifications',member='Notify'"),
    )?;
    let minimized =
        Command::new("xdotool").args(["search", "--name", "^Live Orders$", "windowminimize", "%@"]).status()?;
    assert!(minimized.success(), "xdotool could minimize the window");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let changed = Instant::now();
    server.store_owner(&["set-status", &order_id, next.as_str()])?;
    let line = monitor.wait_for_line(&number, Duration::from_secs(20))?;
    let took = changed.elapsed();
    eprintln!("Notify naming {number} seen on D-Bus {took:?} after the change: {line}");
    // The budget is 1 s; a busy CI machine gets slack here, the benchmark reports the real figure.
    assert!(took < Duration::from_secs(5), "the notification took {took:?}");

    // The order moves on again: its bubble is replaced in place, not joined by a second one. Every
    // notification dunst ever got is on screen, waiting or in its history, except one replaced.
    let before = dunst_count()?;
    let then = next.next().expect("still open after one step");
    server.store_owner(&["set-status", &order_id, then.as_str()])?;
    monitor.wait_for_line(&number, Duration::from_secs(20))?;
    let after = eventually("dunst's count", || async { dunst_count() }, |n| *n >= before).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(dunst_count()?, after, "settled");
    assert_eq!(after, before, "the second update replaced the first bubble instead of adding one");
    monitor.stop();

    // Clicking it (dunst's default action, as a click on its bubble does) brings the window up on the order.
    let clicked = Command::new("dunstctl").args(["action", "0"]).status()?;
    assert!(clicked.success(), "dunstctl could act on the notification");
    app.wait_for(&format!(".order-page[data-order-id='{order_id}']")).await?;
    app.close().await
}

/// A token the server revoked (here: logged out from elsewhere) while the app was closed: the next start
/// lands on the login screen with the reason, and the dead token is gone from the keychain.
#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_session_returns_to_login_with_a_reason() -> anyhow::Result<()> {
    let data = TempDir::new("e2e-revoked");
    let server = OrderServer::start(data.path(), &[])?;
    let api_url = server.api_url();
    let app = AppSession::launch(&[]).await?;
    app.log_in(&api_url, "alice@example.com", "alice-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    let home = app.quit_keeping_home().await?;

    let token = keychain_secret(&api_url).expect("the session is in the keychain");
    let revoked = Command::new("curl")
        .args(["-sf", "-X", "POST", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("{api_url}/auth/logout"))
        .status()?;
    assert!(revoked.success(), "the server revoked the token");

    let app = AppSession::launch_in(home, &[]).await?;
    let reason = app.text_of("#logout-reason").await?;
    assert_eq!(reason, "Your session was revoked on the server. Please sign in again.");
    assert_eq!(keychain_secret(&api_url), None, "the refused token is cleared from the keychain");
    app.close().await
}

/// Every notification dunst holds: on screen, waiting, and in its history.
fn dunst_count() -> anyhow::Result<u32> {
    let mut total = 0;
    for what in ["displayed", "waiting", "history"] {
        let out = Command::new("dunstctl").args(["count", what]).output()?;
        anyhow::ensure!(out.status.success(), "dunstctl count {what}: {}", String::from_utf8_lossy(&out.stderr));
        total += String::from_utf8_lossy(&out.stdout).trim().parse::<u32>()?;
    }
    Ok(total)
}

fn labels(tray: &Tray) -> anyhow::Result<Vec<String>> {
    Ok(tray.menu()?.into_iter().map(|e| e.label).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tray_counts_unread_updates_pauses_notifications_and_quits_and_the_window_returns_where_it_was(
) -> anyhow::Result<()> {
    let data = TempDir::new("e2e-tray");
    let server = OrderServer::start(data.path(), &[])?;
    let api_url = server.api_url();
    let app = AppSession::launch(&[]).await?;
    let pid = desktop::app_pid(app.driver_pid(), Duration::from_secs(30))?;
    let tray = Tray::of(pid, Duration::from_secs(30))?;
    assert_eq!(labels(&tray)?, ["Open Live Orders", "Pause notifications", "Quit"]);

    // Beside the icon: the bell's unread count, following it when an update arrives.
    app.log_in(&api_url, "alice@example.com", "alice-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    let unread: usize = app.attr("#bell", "data-unread").await?.expect("the bell carries its count").parse()?;
    let shown = |n: usize| if n == 0 { String::new() } else { n.to_string() };
    eventually("the tray's count", || async { tray.label() }, |l| *l == shown(unread)).await?;
    app.click("header nav a[href='#/orders']").await?;
    let row = app.wait_for(".order-row[data-status='pending'], .order-row[data-status='confirmed'], .order-row[data-status='preparing']").await?;
    let order_id = row.attr("data-order-id").await?.expect("rows carry their id");
    let status = row.attr("data-status").await?.expect("rows carry their status");
    let next = order_protocol::Status::parse(&status).and_then(order_protocol::Status::next).expect("an open order");
    server.store_owner(&["set-status", &order_id, next.as_str()])?;
    app.wait_for(&format!("#bell[data-unread='{}']", unread + 1)).await?;
    eventually("the tray's count after an update", || async { tray.label() }, |l| *l == shown(unread + 1)).await?;

    // Pause from the menu: the entry turns into Resume.
    tray.click("Pause notifications")?;
    eventually("the pause entry", || async { labels(&tray) }, |l| l.iter().any(|l| l == "Resume notifications"))
        .await?;

    // Place the window, then Quit from the tray: the app ends by itself.
    let window = desktop::window_titled("Live Orders", Duration::from_secs(10))?;
    let before = desktop::geometry(&window)?;
    desktop::place(&window, 130, 90, 900, 650)?;
    // The size may already be 900x650 before the move lands: wait for the position to change too.
    let moved = |g: &(i32, i32, u32, u32)| (g.2, g.3) == (900, 650) && (g.0, g.1) != (before.0, before.1);
    let placed = eventually("the window's new place", || async { desktop::geometry(&window) }, moved).await?;
    tray.click("Quit")?;
    let home = app.after_app_quit(pid).await?;

    // Launched again: the same place and size, notifications still paused, still signed in.
    let app = AppSession::launch_in(home, &[]).await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    let window = desktop::window_titled("Live Orders", Duration::from_secs(10))?;
    assert_eq!(desktop::geometry(&window)?, placed, "the window comes back where it was left");
    let tray = Tray::of(desktop::app_pid(app.driver_pid(), Duration::from_secs(30))?, Duration::from_secs(30))?;
    assert_eq!(labels(&tray)?, ["Open Live Orders", "Resume notifications", "Quit"]);
    app.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_launch_brings_up_the_first_window_instead_of_starting_again() -> anyhow::Result<()> {
    let app = AppSession::launch(&[]).await?;
    app.wait_for("#login-title").await?;
    let window = desktop::window_titled("Live Orders", Duration::from_secs(10))?;
    desktop::minimize(&window)?;
    eventually("minimized", || async { desktop::is_minimized(&window) }, |m| *m).await?;

    // The same app again, as a user double-clicking its icon would start it.
    let mut second = Command::new(workspace_binary("live-orders")?).envs(app_env(app.home.path())).spawn()?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = second.try_wait()? {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = second.kill();
            let _ = second.wait();
            anyhow::bail!("the second launch kept running");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "the second launch ends quietly: {status}");
    eventually("the first window brought up", || async { desktop::is_minimized(&window) }, |m| !*m).await?;
    assert_eq!(desktop::windows_titled("Live Orders").len(), 1, "still one window");
    app.close().await
}

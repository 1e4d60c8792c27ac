//! The manual test of a live order-tracking system, automated in the real app: sign in, see the orders,
//! open one, the store moves it on, and the screen follows without a reload: status, progress, timeline,
//! a toast and the bell; clicking the notification opens that order.

use live_orders_tests::e2e::AppSession;
use live_orders_tests::eventually;
use live_orders_tests::procs::{OrderServer, TempDir};
use order_protocol::Status;

#[tokio::test(flavor = "multi_thread")]
async fn a_store_update_shows_live_with_a_toast_and_the_bell() -> anyhow::Result<()> {
    let data = TempDir::new("e2e-tracking");
    let server = OrderServer::start(data.path(), &[])?;
    let app = AppSession::launch(&[]).await?;

    app.log_in(&server.api_url(), "alice@example.com", "alice-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    app.click("header nav a[href='#/orders']").await?;
    app.wait_for(".order-row[data-order-id]").await?;

    // An order that can still move on.
    let rows = app.client.find_all(fantoccini::Locator::Css(".order-row")).await?;
    let mut target = None;
    for row in rows {
        let status = row.attr("data-status").await?.as_deref().and_then(Status::parse);
        if let Some(next) = status.and_then(Status::next) {
            target = Some((row.attr("data-order-id").await?.expect("rows carry their id"), next));
            break;
        }
    }
    let (order_id, next) = target.expect("the seed has an open order for alice");
    app.click(&format!(".order-row[data-order-id='{order_id}'] a")).await?;
    app.wait_for(&format!(".order-page[data-order-id='{order_id}']")).await?;
    let unread_before: usize = app.attr("#bell", "data-unread").await?.unwrap_or_default().parse()?;
    let timeline_before = app.client.find_all(fantoccini::Locator::Css("#timeline li")).await?.len();
    app.screenshot("order-before").await?;

    server.store_owner(&["set-status", &order_id, next.as_str()])?;

    app.wait_for(&format!(".order-page[data-status='{}']", next.as_str())).await?;
    let progress = app.attr(".progress", "aria-valuenow").await?;
    assert_eq!(progress.as_deref(), Some(next.progress().to_string().as_str()));
    app.wait_for(&format!("#timeline li[data-status='{}']", next.as_str())).await?;
    let timeline_after = app.client.find_all(fantoccini::Locator::Css("#timeline li")).await?.len();
    assert!(timeline_after > timeline_before, "the timeline grew: {timeline_before} → {timeline_after}");
    let toast = app.text_of(".toast").await?;
    assert!(!toast.is_empty());
    app.wait_for(&format!("#bell:not([data-unread='{unread_before}'])")).await?;
    let unread_after: usize = app.attr("#bell", "data-unread").await?.unwrap_or_default().parse()?;
    assert!(unread_after > unread_before, "bell {unread_before} → {unread_after}");
    app.screenshot("order-after-update").await?;

    // On a phone-sized screen: one column that fits, with no sideways scrolling, every control big enough for
    // a finger, and the navigation at hand.
    app.resize(360, 760).await?;
    let laid_out = || async { app.layout().await };
    let phone = eventually("the page laid out at 360 px", laid_out, |l| l.inner_width <= 360).await?;
    assert!(phone.scroll_width <= phone.inner_width, "no sideways scrolling at 360 px: {phone:?}");
    assert!(phone.small_targets.is_empty(), "controls smaller than 44 px: {:?}", phone.small_targets);
    assert!(phone.nav_reachable, "the navigation is on screen: {phone:?}");
    app.screenshot("order-phone").await?;
    app.click("header nav a[href='#/orders']").await?;
    app.wait_for("#orders-title").await?;
    let list = app.layout().await?;
    assert!(list.scroll_width <= list.inner_width, "the orders page fits too: {list:?}");
    assert!(list.small_targets.is_empty(), "controls smaller than 44 px: {:?}", list.small_targets);
    app.screenshot("orders-phone").await?;
    app.resize(1100, 760).await?;
    eventually("the page laid out wide again", laid_out, |l| l.inner_width > 600).await?;

    // From the orders page, the notification leads back to the order.
    app.click("header nav a[href='#/orders']").await?;
    app.wait_for("#orders-title").await?;
    app.click("#bell").await?;
    app.click(&format!("#notification-center .note[data-order-id='{order_id}']")).await?;
    app.wait_for(&format!(".order-page[data-order-id='{order_id}']")).await?;
    app.close().await
}

/// The server goes away: the indicator says Reconnecting, then Offline with the reason; the store moves the
/// order on while it is down; the server comes back: Live again, and the change made meanwhile is shown.
#[tokio::test(flavor = "multi_thread")]
async fn an_outage_is_shown_honestly_and_nothing_is_missed() -> anyhow::Result<()> {
    let data = TempDir::new("e2e-outage");
    let mut server = OrderServer::start(data.path(), &[])?;
    let addr = server.addr.to_string();
    let app = AppSession::launch(&[]).await?;
    app.log_in(&server.api_url(), "alice@example.com", "alice-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    app.click("header nav a[href='#/orders']").await?;
    let row = app.wait_for(".order-row[data-status='pending'], .order-row[data-status='confirmed']").await?;
    let order_id = row.attr("data-order-id").await?.expect("rows carry their id");
    let status = row.attr("data-status").await?.and_then(|s| Status::parse(&s)).expect("a known status");
    let next = status.next().expect("an open order");
    app.click(&format!(".order-row[data-order-id='{order_id}'] a")).await?;
    app.wait_for(&format!(".order-page[data-order-id='{order_id}']")).await?;

    server.proc.stop();
    let reconnecting = app.text_of("#link-indicator[data-state='connecting'] .link-text").await?;
    assert!(reconnecting.starts_with("Reconnecting") || reconnecting.starts_with("Connecting"), "{reconnecting}");
    let offline = app.text_of("#link-indicator[data-state='offline'] .link-text").await?;
    assert!(offline.starts_with("Offline: "), "{offline}");
    assert!(offline.len() > "Offline: ".len() + 5, "the reason is given: {offline}");
    app.screenshot("outage-offline").await?;

    server.store_owner(&["set-status", &order_id, next.as_str()])?;
    let _server = OrderServer::start_at(data.path(), &addr, &[])?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    app.wait_for(&format!(".order-page[data-status='{}']", next.as_str())).await?;
    app.close().await
}

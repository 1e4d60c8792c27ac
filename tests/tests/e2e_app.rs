//! End to end: the built app in the real webview (Xvfb when headless), against a real order-server.

use live_orders_tests::e2e::AppSession;
use live_orders_tests::procs::{OrderServer, TempDir};

/// The wasm UI loads in the real webview and talks to the backend through the shell: the status card is
/// drawn by Yew (index.html has none) with the backend's answer, which only the running app can produce.
#[tokio::test(flavor = "multi_thread")]
async fn the_yew_ui_loads_and_reaches_the_backend() -> anyhow::Result<()> {
    let data = TempDir::new("e2e-server");
    let server = OrderServer::start(data.path(), &[])?;
    let app = AppSession::launch(&server.api_url(), &[]).await?;

    let card = app.text_of("#backend-status[data-state='up']").await?;
    assert!(card.contains(&server.api_url()), "the card names the backend: {card}");
    assert!(card.contains("is up"), "{card}");
    let version = app.text_of("#app-version").await?;
    assert_eq!(version, format!("Live Orders {}", env!("CARGO_PKG_VERSION")));
    let shot = app.screenshot("first-window").await?;
    eprintln!("screenshot: {}", shot.display());
    app.close().await
}

/// With no backend listening, the app says so in words instead of hanging or crashing.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_backend_is_reported_in_words() -> anyhow::Result<()> {
    let port = live_orders_tests::procs::free_port();
    let url = format!("http://127.0.0.1:{port}/api");
    let app = AppSession::launch(&url, &[]).await?;
    let card = app.text_of("#backend-status[data-state='down']").await?;
    assert!(card.contains("not reachable"), "{card}");
    assert!(card.contains("cannot reach the server"), "{card}");
    app.close().await
}

//! End to end: the built app in the real webview (Xvfb when headless), against a real order-server.

use live_orders_tests::e2e::AppSession;
use live_orders_tests::procs::{free_port, OrderServer, TempDir};

/// The wasm UI loads in the real webview and talks to the shell: the login screen is drawn by Yew
/// (index.html has none of it) and shows the backend address the shell resolved from the environment.
#[tokio::test(flavor = "multi_thread")]
async fn the_yew_ui_loads_and_shows_the_backend_it_talks_to() -> anyhow::Result<()> {
    let data = TempDir::new("e2e-server");
    let server = OrderServer::start(data.path(), &[])?;
    let app = AppSession::launch(&server.api_url(), &[]).await?;

    let title = app.text_of("#login-title").await?;
    assert_eq!(title, "Sign in to follow your orders");
    let url = app.attr("input[name=server]", "value").await?;
    assert_eq!(url.as_deref(), Some(server.api_url().as_str()));
    let shot = app.screenshot("first-window").await?;
    eprintln!("screenshot: {}", shot.display());
    app.close().await
}

/// With no backend listening, signing in says so in words instead of hanging or crashing; wrong
/// credentials on a real backend are told apart from that.
#[tokio::test(flavor = "multi_thread")]
async fn login_failures_are_explained() -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{}/api", free_port());
    let app = AppSession::launch(&url, &[]).await?;
    app.log_in("alice@example.com", "alice-pass").await?;
    let error = app.text_of("#login-error").await?;
    assert!(error.starts_with("The server cannot be reached"), "{error}");
    app.close().await?;

    let data = TempDir::new("e2e-bad-password");
    let server = OrderServer::start(data.path(), &[])?;
    let app = AppSession::launch(&server.api_url(), &[]).await?;
    app.log_in("alice@example.com", "not-her-password").await?;
    let error = app.text_of("#login-error").await?;
    assert_eq!(error, "Wrong email or password.");
    app.close().await
}

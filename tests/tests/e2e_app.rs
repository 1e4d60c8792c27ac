//! End to end: the built app in the real webview (Xvfb when headless), against a real order-server, started
//! as a customer starts it: no backend in the environment, the server typed into the sign-in form.

use live_orders_tests::e2e::AppSession;
use live_orders_tests::procs::{free_port, OrderServer, TempDir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The one test about `LIVE_ORDERS_API_URL`: the wasm UI loads in the real webview and talks to the shell
/// (the login screen is drawn by Yew; index.html has none of it), the form shows the backend the variable
/// names, and signing in without touching the Server field goes there.
#[tokio::test(flavor = "multi_thread")]
async fn the_environment_variable_names_the_backend() -> anyhow::Result<()> {
    let data = TempDir::new("e2e-server");
    let server = OrderServer::start(data.path(), &[])?;
    let app = AppSession::launch(&[("LIVE_ORDERS_API_URL", &server.api_url())]).await?;

    let title = app.text_of("#login-title").await?;
    assert_eq!(title, "Sign in to follow your orders");
    let url = app.attr("input[name=server]", "value").await?;
    assert_eq!(url.as_deref(), Some(server.api_url().as_str()));
    let shot = app.screenshot("first-window").await?;
    eprintln!("screenshot: {}", shot.display());
    app.fill("input[name=email]", "alice@example.com").await?;
    app.fill("input[name=password]", "alice-pass").await?;
    app.click("button[type=submit]").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    app.close().await
}

/// A fresh app knows no server but the default; the customer types theirs in the form, signs in, sees that
/// server's orders live, and the app remembers the server for the next launch.
#[tokio::test(flavor = "multi_thread")]
async fn signing_in_to_a_server_typed_in_the_form_shows_its_orders() -> anyhow::Result<()> {
    let data = TempDir::new("e2e-typed-server");
    let server = OrderServer::start(data.path(), &[])?;
    let app = AppSession::launch(&[]).await?;
    let url = app.attr("input[name=server]", "value").await?;
    assert_eq!(url.as_deref(), Some("http://127.0.0.1:5001/api"), "a fresh app shows the default server");

    app.log_in(&server.api_url(), "alice@example.com", "alice-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    let expected = server.order_ids_of("alice@example.com", "alice-pass").await?;
    assert!(!expected.is_empty(), "the seed gives alice orders");
    assert_eq!(app.listed_order_ids().await?, expected);
    let home = app.quit_keeping_home().await?;

    // The next launch goes to the same server, signed in.
    let app = AppSession::launch_in(home, &[]).await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    assert_eq!(app.listed_order_ids().await?, expected);
    app.close().await
}

/// Answers every HTTP request with a web page saying 404, as a web server that is not an order backend does.
async fn a_web_server_that_is_not_an_order_backend() -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/api", listener.local_addr()?);
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let page = "<html><body><h1>Not Found</h1></body></html>";
                let reply = format!(
                    "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    Ok((url, task))
}

/// Every way a sign-in can fail says so in words, and the form is ready to try again: nothing listening at
/// the address, a server that never answers, a web server that is no order backend, and wrong credentials on
/// a real one.
#[tokio::test(flavor = "multi_thread")]
async fn login_failures_are_explained() -> anyhow::Result<()> {
    let app = AppSession::launch(&[]).await?;
    let nobody = format!("http://127.0.0.1:{}/api", free_port());
    app.log_in(&nobody, "alice@example.com", "alice-pass").await?;
    let error = app.text_of("#login-error").await?;
    assert!(error.starts_with("The server cannot be reached"), "{error}");
    app.wait_for("button[type=submit]:not([disabled])").await?;

    // A server that takes the connection and never answers: the form gives up in words, no endless spinner.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let silent_url = format!("http://{}/api", silent.local_addr()?);
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            held.push(stream);
        }
    });
    app.log_in(&silent_url, "alice@example.com", "alice-pass").await?;
    app.wait_for("button[type=submit][disabled]").await?;
    let error = app.text_of("#login-error").await?;
    assert!(error.starts_with("The server cannot be reached") && error.contains("no answer within"), "{error}");
    app.wait_for("button[type=submit]:not([disabled])").await?;
    held.abort();

    let (web, web_task) = a_web_server_that_is_not_an_order_backend().await?;
    app.log_in(&web, "alice@example.com", "alice-pass").await?;
    app.wait_for("#login-error[data-code='not_an_order_server']").await?;
    let error = app.text_of("#login-error").await?;
    assert!(error.contains("does not answer as an order server"), "{error}");
    app.wait_for("button[type=submit]:not([disabled])").await?;
    web_task.abort();

    let data = TempDir::new("e2e-bad-password");
    let server = OrderServer::start(data.path(), &[])?;
    app.log_in(&server.api_url(), "alice@example.com", "not-her-password").await?;
    app.wait_for("#login-error[data-code='bad_credentials']").await?;
    assert_eq!(app.text_of("#login-error").await?, "Wrong email or password.");

    // And the right password on that server, from the same form, gets in.
    app.log_in(&server.api_url(), "alice@example.com", "alice-pass").await?;
    app.wait_for("#link-indicator[data-state='live']").await?;
    app.close().await
}

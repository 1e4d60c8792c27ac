//! `order-watch` as a user runs it: the real binary against a real `order-server` on loopback, its `--json`
//! lines read as they come, its exit codes checked (0 on Ctrl-C, 2 on refused credentials, 1 otherwise).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use order_client::Api;
use order_protocol::Status;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_order-watch");

fn watch(api_url: &str, email: &str, password: &str, extra: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(["--api-url", api_url, "--email", email, "--json"]).args(extra).env("LIVE_ORDERS_PASSWORD", password);
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

/// Reads JSON lines until one matches, with a deadline.
fn wait_line(rx: &mpsc::Receiver<Value>, what: &str, mut f: impl FnMut(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(v) if f(&v) => return v,
            Ok(_) => {}
            Err(e) => panic!("no line for {what}: {e}"),
        }
    }
}

/// Ctrl-C, as a user presses it, and the exit that follows within a few seconds.
fn interrupt(child: &mut std::process::Child) -> std::process::ExitStatus {
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("order-watch still ran 10 s after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_follow_the_orders_and_the_exit_codes_tell_what_happened() {
    let dir = tempfile::tempdir().unwrap();
    let srv = order_server::spawn(order_server::ServerConfig::for_tests(dir.path().join("orders.db"))).await.unwrap();
    // Without `/api`: order-watch appends it.
    let origin = format!("http://{}", srv.addr());
    let api = Api::new(&origin);
    let (alice, _) = api.login("alice@example.com", "alice-pass").await.unwrap();
    let order = api.orders(&alice).await.unwrap().into_iter().find(|o| o.status.is_active()).expect("an active order");

    let mut child = watch(&origin, "alice@example.com", "alice-pass", &["--order", &order.id]).spawn().unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if tx.send(v).is_err() {
                return;
            }
        }
    });
    let first = wait_line(&rx, "the initial order", |v| v["type"] == "order" && v["orderId"] == order.id.as_str());
    assert_eq!(first["source"], "initial");
    assert_eq!(first["status"], order.status.as_str());
    wait_line(&rx, "live", |v| v["type"] == "link" && v["state"] == "live");

    let (owner, _) = api.login("owner@example.com", "owner-pass").await.unwrap();
    let next = order.status.next().unwrap_or(Status::Cancelled);
    api.set_status(&owner, &order.id, next).await.unwrap();
    let live = wait_line(&rx, "the live update", |v| v["type"] == "order" && v["status"] == next.as_str());
    assert_eq!(live["source"], "live");
    assert_eq!(live["progress"], next.progress());
    assert!(live["seq"].as_u64().is_some(), "order-server's events carry seq: {live}");
    assert!(live["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    let note = wait_line(&rx, "the notification", |v| v["type"] == "notification");
    assert_eq!(note["category"], "order_updates");

    // Ctrl-C: exit 0.
    assert_eq!(interrupt(&mut child).code(), Some(0), "Ctrl-C exits 0");

    // Refused credentials: exit 2, with the server's words on stderr and no password anywhere.
    let out = watch(&origin, "alice@example.com", "wrong-pass", &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("login refused"), "{err}");
    assert!(!err.contains("wrong-pass"));

    // Nothing listening: exit 1 with a message in words.
    let dead = format!("http://{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap());
    let out = watch(&dead, "alice@example.com", "alice-pass", &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot reach the server"), "{err}");

    srv.shutdown().await;
}

/// Whether `text` holds a JWT (`eyJ….eyJ….…`), as text or as the list of byte values a WebSocket frame is
/// logged as (`[52, 48, 123, …]`).
fn holds_a_jwt(text: &str) -> bool {
    let jwt = |s: &str| {
        s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')).any(|w| {
            let parts: Vec<&str> = w.split('.').collect();
            parts.len() == 3 && parts[0].starts_with("eyJ") && parts[1].starts_with("eyJ")
        })
    };
    let decoded: String = text
        .split(['[', ']'])
        .map(|list| {
            let bytes: Vec<u8> = list.split(", ").filter_map(|n| n.trim().parse().ok()).collect();
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect::<Vec<_>>()
        .join("\n");
    jwt(text) || jwt(&decoded)
}

/// At `RUST_LOG=trace`, everything the engine and the crates under it print, through a sign-in, the live
/// link and an update, holds no token: not as text, and not inside a logged WebSocket frame.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_in_the_output_at_trace_level() {
    let dir = tempfile::tempdir().unwrap();
    let srv = order_server::spawn(order_server::ServerConfig::for_tests(dir.path().join("orders.db"))).await.unwrap();
    let origin = format!("http://{}", srv.addr());
    let api = Api::new(&origin);
    let (alice, _) = api.login("alice@example.com", "alice-pass").await.unwrap();
    let order = api.orders(&alice).await.unwrap().into_iter().find(|o| o.status.is_active()).expect("an active order");

    let mut child = watch(&origin, "alice@example.com", "alice-pass", &[]).env("RUST_LOG", "trace").spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(serde_json::from_str::<Value>(&line).unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    wait_line(&rx, "live", |v| v["type"] == "link" && v["state"] == "live");
    let (owner, _) = api.login("owner@example.com", "owner-pass").await.unwrap();
    let next = order.status.next().unwrap_or(Status::Cancelled);
    api.set_status(&owner, &order.id, next).await.unwrap();
    wait_line(&rx, "the live update", |v| v["type"] == "order" && v["status"] == next.as_str());
    assert_eq!(interrupt(&mut child).code(), Some(0), "Ctrl-C exits 0");

    let log = log.join().unwrap();
    assert!(log.lines().count() > 20, "trace output was written: {} lines", log.lines().count());
    assert!(log.contains("TRACE"), "at trace level");
    assert!(holds_a_jwt(alice.expose()), "the oracle recognises a token");
    let frame: Vec<String> = format!("40{{\"token\":\"{}\"}}", alice.expose()).bytes().map(|b| b.to_string()).collect();
    assert!(holds_a_jwt(&format!("payload: [{}]", frame.join(", "))), "and a frame that carries one");
    assert!(!holds_a_jwt(&log), "a token in the trace output");
    srv.shutdown().await;
}

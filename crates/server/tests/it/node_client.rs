//! The official Node `socket.io-client` (tests/peers/node-client) against our server, over websocket and over
//! polling: a web client written for a Node backend must work unchanged.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::support::{login, open_order, set_status, TestServer, WAIT};

struct NodeClient {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/peers/node-client")
}

impl NodeClient {
    async fn start(base: &str, token: &str, args: &[&str]) -> NodeClient {
        let dir = peer_dir();
        assert!(
            dir.join("node_modules/socket.io-client").exists(),
            "socket.io-client is not installed: run `cargo xtask setup` (or `npm ci` in {})",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg(dir.join("client.js"))
            .arg(base)
            .arg(token)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (is Node.js installed?)");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        NodeClient { child, lines }
    }

    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(WAIT, self.lines.next_line())
            .await
            .expect("node client answered in time")
            .expect("read")
            .expect("node client still running");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line from node ({e}): {line}"))
    }

    async fn send(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
    }
}

async fn follows_one_change(transport: &str) {
    let s = TestServer::start().await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let owner = login(&s.api(), "owner@example.com", "owner-pass").await;
    let order = open_order(&s.api(), &alice.token).await;
    let mut node = NodeClient::start(&s.base(), &alice.token, &["--transport", transport, "--join", &order.id]).await;

    let connect = node.next().await;
    assert_eq!((connect["type"].as_str(), connect["transport"].as_str()), (Some("connect"), Some(transport)));
    // connection_status is emitted on connect; the join's ack follows.
    let mut seen = [node.next().await, node.next().await];
    seen.sort_by_key(|v| v["type"].as_str().map(String::from));
    assert_eq!(seen[0]["ack"], serde_json::json!({"success": true, "room": format!("order_{}", order.id)}));
    assert_eq!(seen[1]["event"], "connection_status");
    assert_eq!(seen[1]["args"][0]["userId"], alice.user.id.as_str());

    let next = order.status.next().unwrap();
    set_status(&s.api(), &owner.token, &order.id, next.as_str()).await;
    let mut names = Vec::new();
    let mut seqs = Vec::new();
    for _ in 0..4 {
        let v = node.next().await;
        assert_eq!(v["type"], "event", "{v}");
        assert_eq!(v["args"].as_array().unwrap().len(), 1, "one argument per event");
        let payload = &v["args"][0];
        seqs.push(payload["seq"].as_u64().expect("seq"));
        if v["event"] == "customer_order_update" || v["event"] == "single_order_update" {
            for field in ["orderId", "orderNumber", "status", "statusDisplay", "progress", "updatedAt", "order"] {
                assert!(payload.get(field).is_some(), "{} has {field}", v["event"]);
            }
            assert_eq!(payload["status"], next.as_str());
        }
        names.push(v["event"].as_str().unwrap().to_owned());
    }
    assert_eq!(names, ["customer_order_update", "single_order_update", "customer_notification", "order_stats_update"]);
    assert!(seqs.windows(2).all(|w| w[0] == w[1]));

    node.send(&format!("leave {}", order.id)).await;
    assert_eq!(node.next().await["ack"]["success"], true, "leave acked");
    node.send("quit").await;
    let _ = tokio::time::timeout(WAIT, node.child.wait()).await;
    s.server.shutdown().await;
}

#[tokio::test]
async fn the_official_client_follows_a_change_over_websocket() {
    follows_one_change("websocket").await;
}

#[tokio::test]
async fn the_official_client_follows_a_change_over_polling() {
    follows_one_change("polling").await;
}

#[tokio::test]
async fn the_official_client_gets_a_connect_error_for_a_bad_token() {
    let s = TestServer::start().await;
    for token in ["forged.token.value", "-"] {
        let mut node = NodeClient::start(&s.base(), token, &[]).await;
        let v = node.next().await;
        assert_eq!(v["type"], "connect_error", "{v}");
        assert!(v["message"].as_str().unwrap().starts_with("Authentication error"), "{v}");
    }
    s.server.shutdown().await;
}

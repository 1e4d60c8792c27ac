//! The binary itself: the store-owner CLI writing to the database a running server uses (its changes must be
//! emitted), `kill -9` followed by a restart (nothing committed is lost, `changes?since=` replays it), and the
//! JWT secret given in the environment.

use std::path::Path;
use std::process::Stdio;

use order_server::auth::Keys;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{get_json, login, open_order, server_disconnect, set_status, RsClient, WAIT};

const BIN: &str = env!("CARGO_BIN_EXE_order-server");

struct Proc {
    child: Child,
    base: String,
}

impl Proc {
    /// Starts `order-server --seed` on a free port and waits for its "listening" line.
    async fn start(db: &Path) -> Proc {
        Self::start_with(db, &[]).await
    }

    /// [`Proc::start`] with more environment variables.
    async fn start_with(db: &Path, env: &[(&str, &str)]) -> Proc {
        let mut child = Command::new(BIN)
            .args(["--seed", "--addr", "127.0.0.1:0", "--db"])
            .arg(db)
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("order-server starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(WAIT, lines.next_line()).await.expect("listening in time").unwrap().unwrap();
        let base = line.strip_prefix("order-server listening on ").unwrap_or_else(|| panic!("{line}")).to_owned();
        Proc { child, base }
    }

    fn api(&self) -> String {
        format!("{}/api", self.base)
    }

    async fn kill9(mut self) {
        self.child.start_kill().unwrap(); // SIGKILL on unix
        let _ = self.child.wait().await;
    }
}

async fn cli(db: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN).arg("--db").arg(db).args(args).output().await.expect("cli runs");
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn changes_made_by_the_cli_are_emitted_by_the_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orders.db");
    let server = Proc::start(&db).await;
    let alice = login(&server.api(), "alice@example.com", "alice-pass").await;
    let order = open_order(&server.api(), &alice.token).await;
    let mut c = RsClient::connect(&server.base, Some(&alice.token)).await;
    c.connected().await;
    assert_eq!(c.event().await.0, "connection_status");

    let listing = cli(&db, &["order", "list"]).await;
    assert!(listing.contains(&order.order_number) && listing.contains(&order.id), "{listing}");
    let out = cli(&db, &["order", "set-status", &order.order_number, "cancelled"]).await;
    assert!(out.contains("is now cancelled"), "{out}");
    let (name, payload) = c.event().await;
    assert_eq!((name.as_str(), payload["status"].as_str()), ("customer_order_update", Some("cancelled")));

    cli(&db, &["order", "place", "--customer", "alice@example.com", "--item", "Tea:2:2.5"]).await;
    let (name, payload) = loop {
        let (name, payload) = c.event().await;
        if name == "customer_order_update" {
            break (name, payload);
        }
    };
    assert_eq!((name.as_str(), payload["status"].as_str()), ("customer_order_update", Some("pending")));
    assert_eq!(payload["order"]["totalAmount"], 5.0);

    let bad = Command::new(BIN).arg("--db").arg(&db).args(["order", "set-status", &order.id, "flying"]).output().await;
    let bad = bad.unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown status `flying`"));
    c.close().await;
    server.kill9().await;
}

#[tokio::test]
async fn a_kill_9_loses_nothing_and_the_log_replays_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orders.db");
    let server = Proc::start(&db).await;
    let alice = login(&server.api(), "alice@example.com", "alice-pass").await;
    let owner = login(&server.api(), "owner@example.com", "owner-pass").await;
    let (_, body) = get_json(&server.api(), &alice.token, "/orders/changes?since=0").await;
    let since = body["latestSeq"].as_u64().unwrap();
    let order = open_order(&server.api(), &alice.token).await;
    let mut expected = Vec::new();
    let mut status = order.status;
    while let Some(next) = status.next().filter(|s| *s != order_protocol::Status::OutForDelivery) {
        let (code, _) = set_status(&server.api(), &owner.token, &order.id, next.as_str()).await;
        assert_eq!(code, 200);
        expected.push(next.as_str());
        status = next;
    }
    server.kill9().await;

    let server = Proc::start(&db).await;
    // The generated secret survived too: the old token still works.
    let (code, body) = get_json(&server.api(), &alice.token, &format!("/orders/changes?since={since}")).await;
    assert_eq!(code, 200, "{body}");
    let replayed: Vec<(u64, &str)> = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["event"] == "customer_order_update")
        .map(|c| (c["seq"].as_u64().unwrap(), c["payload"]["status"].as_str().unwrap()))
        .collect();
    let want: Vec<(u64, &str)> = expected.iter().enumerate().map(|(i, s)| (since + 1 + i as u64, *s)).collect();
    assert_eq!(replayed, want, "every committed change, in order, with its seq");
    assert_eq!(body["latestSeq"].as_u64(), Some(since + expected.len() as u64));

    let mut c = RsClient::connect(&server.base, Some(&alice.token)).await;
    c.connected().await;
    assert_eq!(c.event().await.0, "connection_status");
    let (code, _) = set_status(&server.api(), &owner.token, &order.id, "cancelled").await;
    assert_eq!(code, 200);
    let (name, payload): (String, Value) = c.event().await;
    assert_eq!(name, "customer_order_update");
    assert_eq!(payload["seq"].as_u64(), Some(since + expected.len() as u64 + 1), "seq continues after restart");
    c.close().await;
    server.kill9().await;
}

/// The JWT secret from `ORDER_SERVER_JWT_SECRET`: tokens signed with it are accepted, tokens signed otherwise
/// are not, nothing is generated on disk; a secret too short stops the server with a message that says so.
#[tokio::test]
async fn the_jwt_secret_can_come_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orders.db");
    let secret = "a secret given in the environment, long enough";
    let server = Proc::start_with(&db, &[("ORDER_SERVER_JWT_SECRET", secret)]).await;
    let alice = login(&server.api(), "alice@example.com", "alice-pass").await;
    // The login's token is signed with the given secret: its signature checks out with it.
    let claims = Keys::new(secret.as_bytes()).verify(&alice.token).expect("signed with the environment's secret");
    let (status, me) = get_json(&server.api(), &alice.token, "/auth/me").await;
    assert_eq!((status, me["email"].as_str()), (200, Some("alice@example.com")), "{me}");
    let forged = Keys::new(b"some other secret entirely").sign(&claims);
    let (status, _) = get_json(&server.api(), &forged, "/auth/me").await;
    assert_eq!(status, 401);
    assert!(
        !order_server::auth::generated_secret_path(&db).exists(),
        "nothing generated when the environment gives the secret"
    );
    server.kill9().await;

    let out = Command::new(BIN)
        .args(["--addr", "127.0.0.1:0", "--db"])
        .arg(&db)
        .env("ORDER_SERVER_JWT_SECRET", "short")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("shorter than 16 bytes"), "{stderr}");
}

/// An operator ends an account's sessions from the CLI, another process on the same database: the running
/// server cuts the account's sockets within a second (it tails the log of ended sessions), and refuses its tokens.
#[tokio::test]
async fn a_sign_out_from_the_cli_cuts_the_running_servers_sockets() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("orders.db");
    let server = Proc::start(&db).await;
    let alice = login(&server.api(), "alice@example.com", "alice-pass").await;
    let mut c = RsClient::connect(&server.base, Some(&alice.token)).await;
    c.connected().await;
    let out = cli(&db, &["user", "sign-out", "alice@example.com"]).await;
    assert!(out.contains("every session of alice@example.com ended"), "{out}");
    let (why, took) = server_disconnect(&mut c, std::time::Duration::from_secs(10)).await;
    assert_eq!(why["reason"], "session_revoked", "{why}");
    assert!(took < std::time::Duration::from_secs(1), "cut after {took:?}");
    // Within 2 s a token found valid may still be taken from memory; past it, the database's word holds.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(get_json(&server.api(), &alice.token, "/auth/me").await.0, 401);
    c.close().await;
    server.kill9().await;
}

//! The Node base-contract peer (`tests/peers/node-base`): the official `socket.io` 4.8 server with connection
//! state recovery on, JWT auth, rooms and in-memory orders. It proves the client against a backend that has
//! none of order-server's extensions. `cargo xtask setup` installs its npm packages; a test run without them
//! installs them once (`npm ci`), so a plain `cargo test` works too.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The peer's folder.
pub fn peer_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers").join("node-base")
}

fn ensure_installed() -> Result<()> {
    static INSTALL: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut done = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if *done || peer_dir().join("node_modules").join("socket.io").exists() {
        *done = true;
        return Ok(());
    }
    let status = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(peer_dir())
        .status()
        .context("running npm ci for the Node peer (is Node 20 installed? `cargo xtask setup`)")?;
    if !status.success() {
        bail!("npm ci in {} failed ({status})", peer_dir().display());
    }
    *done = true;
    Ok(())
}

/// A running Node peer; killed when dropped.
pub struct NodePeer {
    child: Child,
    pub addr: SocketAddr,
}

impl NodePeer {
    /// Starts `node server.js 0` and waits for its `listening on PORT` line.
    pub async fn start() -> Result<NodePeer> {
        Self::start_with(&[]).await
    }

    /// The same, with environment variables for the server (`PING_INTERVAL_MS`, `PING_TIMEOUT_MS`).
    pub async fn start_with(env: &[(&str, &str)]) -> Result<NodePeer> {
        ensure_installed()?;
        let mut child = Command::new("node")
            .envs(env.iter().copied())
            .arg("server.js")
            .arg("0")
            .current_dir(peer_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting node (is Node 20 installed?)")?;
        let mut lines = BufReader::new(child.stdout.take().context("node's stdout")?).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(p) = line.strip_prefix("listening on ") {
                    return Ok::<u16, anyhow::Error>(p.trim().parse()?);
                }
            }
            bail!("the Node peer exited before listening")
        })
        .await
        .context("the Node peer did not listen within 30 s")??;
        // Keep draining its stdout so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(NodePeer { child, addr: SocketAddr::from(([127, 0, 0, 1], port)) })
    }

    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// Test hook: the server disconnects every socket (`io.disconnectSockets(true)`).
    pub async fn disconnect_all(&self) -> Result<()> {
        let r = reqwest::Client::new().post(format!("http://{}/test/disconnect-all", self.addr)).send().await?;
        if !r.status().is_success() {
            bail!("disconnect-all answered {}", r.status());
        }
        Ok(())
    }

    /// Test hook: a new pending order for Alice; its id.
    pub async fn add_order(&self) -> Result<String> {
        let r = reqwest::Client::new().post(format!("http://{}/test/orders", self.addr)).send().await?;
        let o: serde_json::Value = r.error_for_status()?.json().await?;
        o["_id"].as_str().map(str::to_owned).context("the new order's id")
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

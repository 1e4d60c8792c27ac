//! The harness of the cross-crate tests: real processes on loopback, ended when their guard drops.
//!
//! - [`procs`]: starting binaries, waiting for their "listening" line, free ports, paths to built binaries.
//! - [`e2e`]: the real app under tauri-driver + WebKitWebDriver, driven over WebDriver.
//! - [`desktop`]: the tray icon on D-Bus and the app's X windows, as a panel and a window manager see them.
//! - [`node_peer`]: the Node base-contract server (official `socket.io`) of `tests/peers/node-base`.
//! - [`cut_proxy`]: a TCP proxy that cuts connections (cleanly or silently) between a client and a server.
//! - [`fault_proxy`]: an HTTP- and WebSocket-aware proxy that fails chosen requests (a status, a reset, a stall,
//!   a delay, a truncated answer) and live sockets frame by frame (silent, slow, cut), and cuts.
//! - [`client_log`]: what an engine under test reported, with waits on it.
//! - [`push`]: loopback stand-ins for FCM, APNs and a Web Push service, as strict as the real ones.
//! - [`updates`]: a loopback update server that signs with a key pair made at run time.
//! - [`chaos`]: the seeded chaos soak (`cargo xtask chaos`) and its oracle.
//! - [`eventually`]: waiting for what happens by itself.

pub mod chaos;
pub mod client_log;
pub mod cut_proxy;
pub mod desktop;
pub mod e2e;
pub mod fault_proxy;
pub mod node_peer;
pub mod pg;
mod pipe;
pub mod procs;
pub mod push;
pub mod tiles;
pub mod updates;

use std::time::{Duration, Instant};

/// Reads with `read` until `check` holds, for up to 20 s; fails with what it last saw. The one way these tests
/// wait for something that happens by itself.
pub async fn eventually<T: std::fmt::Debug, F: std::future::Future<Output = anyhow::Result<T>>>(
    what: &str,
    mut read: impl FnMut() -> F,
    check: impl Fn(&T) -> bool,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = read().await;
        match seen {
            Ok(v) if check(&v) => return Ok(v),
            _ if Instant::now() > deadline => anyhow::bail!("{what}: last seen {seen:?}"),
            _ => tokio::time::sleep(Duration::from_millis(150)).await,
        }
    }
}

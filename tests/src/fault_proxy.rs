//! A fault proxy that understands HTTP requests: between the client and a server on loopback, it forwards
//! everything, except that a test can fail chosen requests by their path (answer a status such as 503, reset
//! the connection before any answer, or stall the request until the test releases it) and cut every
//! connection at once. Networks fail in pieces: the socket comes back while the replay request dies.
//!
//! Each request gets a connection of its own (the proxy asks the server to close after answering), so every
//! request is seen and judged; a WebSocket upgrade keeps its connection and is piped as it is.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What happens to a request whose path starts with a rule's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answered by the proxy with this status and a JSON `{message}`, as an overloaded server would.
    Status(u16),
    /// The connection is closed before any answer.
    Reset,
    /// Held, unanswered, until [`FaultProxy::release`]; then reset.
    Stall,
}

struct Shared {
    upstream: SocketAddr,
    rules: Mutex<Vec<(String, Fault)>>,
    /// Bumped to cut every connection; while `true` inside, new connections are closed at once.
    cut: watch::Sender<(u64, bool)>,
    /// Bumped to release the stalled requests.
    release: watch::Sender<u64>,
    /// How many requests are stalled now.
    stalled: watch::Sender<usize>,
    /// How many requests met a fault so far.
    faulted: watch::Sender<usize>,
}

/// A running proxy; it stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Vec::new()),
            cut: watch::channel((0, false)).0,
            release: watch::channel(0).0,
            stalled: watch::channel(0).0,
            faulted: watch::channel(0).0,
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(serve(client, s.clone()));
            }
        });
        Ok(FaultProxy { addr, shared, task })
    }

    /// `http://ADDR/api` through the proxy.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// From now on, requests whose path starts with `path` meet `fault` (until [`FaultProxy::clear`]).
    pub fn fail(&self, path: &str, fault: Fault) {
        self.shared.rules.lock().expect("not poisoned").push((path.to_owned(), fault));
    }

    /// No more faults for new requests.
    pub fn clear(&self) {
        self.shared.rules.lock().expect("not poisoned").clear();
    }

    /// Cuts every connection, and refuses new ones until [`FaultProxy::reopen`].
    pub fn cut(&self) {
        self.shared.cut.send_modify(|(n, down)| (*n, *down) = (*n + 1, true));
    }

    pub fn reopen(&self) {
        self.shared.cut.send_modify(|(_, down)| *down = false);
    }

    /// Ends every stalled request with a reset.
    pub fn release(&self) {
        self.shared.release.send_modify(|n| *n += 1);
    }

    /// Waits until at least `n` requests are stalled.
    pub async fn wait_stalled(&self, n: usize, timeout: Duration) -> Result<()> {
        wait_count(&self.shared.stalled, n, timeout, "stalled").await
    }

    /// Waits until at least `n` requests met a fault since the start.
    pub async fn wait_faulted(&self, n: usize, timeout: Duration) -> Result<()> {
        wait_count(&self.shared.faulted, n, timeout, "faulted").await
    }
}

async fn wait_count(count: &watch::Sender<usize>, n: usize, timeout: Duration, what: &str) -> Result<()> {
    let mut rx = count.subscribe();
    let reached = tokio::time::timeout(timeout, async { rx.wait_for(|c| *c >= n).await.is_ok() }).await;
    if reached != Ok(true) {
        bail!("no {n} {what} request(s) within {timeout:?}");
    }
    Ok(())
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

/// The end of a request head, if `buf` holds it all.
fn head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

/// The head with `Connection: close` in place of any `Connection` header, unless it asks for an upgrade.
fn one_request_per_connection(head: &str) -> String {
    let upgrade = head.lines().any(|l| l.to_ascii_lowercase().starts_with("upgrade:"));
    if upgrade {
        return head.to_owned();
    }
    let mut out: Vec<&str> =
        head.trim_end().split("\r\n").filter(|l| !l.to_ascii_lowercase().starts_with("connection:")).collect();
    out.push("Connection: close");
    format!("{}\r\n\r\n", out.join("\r\n"))
}

async fn serve(mut client: TcpStream, shared: Arc<Shared>) {
    let mut cut = shared.cut.subscribe();
    let cut_at = cut.borrow_and_update().0;
    if cut.borrow().1 {
        return;
    }
    let mut buf = Vec::with_capacity(4096);
    let end = loop {
        let mut chunk = [0u8; 4096];
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(end) = head_end(&buf) {
            break end;
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
    let fault = shared.rules.lock().expect("not poisoned").iter().find(|(p, _)| path.starts_with(p)).map(|r| r.1);
    if fault.is_some() {
        shared.faulted.send_modify(|n| *n += 1);
    }
    match fault {
        Some(Fault::Status(code)) => {
            let body = format!("{{\"message\":\"the proxy answered {code}\"}}");
            let reply = format!(
                "HTTP/1.1 {code} Fault\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = client.write_all(reply.as_bytes()).await;
            return;
        }
        Some(Fault::Reset) => return,
        Some(Fault::Stall) => {
            let mut release = shared.release.subscribe();
            release.borrow_and_update();
            shared.stalled.send_modify(|n| *n += 1);
            tokio::select! {
                _ = release.changed() => {}
                _ = cut.changed() => {}
            }
            shared.stalled.send_modify(|n| *n -= 1);
            return;
        }
        None => {}
    }
    let Ok(mut server) = TcpStream::connect(shared.upstream).await else { return };
    let mut first = one_request_per_connection(&head).into_bytes();
    first.extend_from_slice(&buf[end..]);
    if server.write_all(&first).await.is_err() {
        return;
    }
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let (mut b1, mut b2) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    loop {
        if cut.borrow().0 != cut_at {
            return;
        }
        tokio::select! {
            r = cr.read(&mut b1) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => if sw.write_all(&b1[..n]).await.is_err() { return },
            },
            r = sr.read(&mut b2) => match r {
                Ok(0) | Err(_) => return,
                Ok(n) => if cw.write_all(&b2[..n]).await.is_err() { return },
            },
            c = cut.changed() => if c.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTP server that answers every request `200 <path>`.
    async fn path_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut b = vec![0u8; 4096];
                    let n = s.read(&mut b).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&b[..n]).into_owned();
                    let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
                    let closes = head.contains("Connection: close");
                    let body = format!("{path} close={closes}");
                    let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        addr
    }

    async fn get(url: String) -> Result<(u16, String), reqwest::Error> {
        let r = reqwest::get(url).await?;
        Ok((r.status().as_u16(), r.text().await?))
    }

    #[tokio::test]
    async fn fails_chosen_paths_and_forwards_the_rest_one_request_per_connection() {
        let proxy = FaultProxy::start(path_server().await).await.unwrap();
        let base = proxy.api_url();
        assert_eq!(get(format!("{base}/a")).await.unwrap(), (200, "/api/a close=true".into()));
        proxy.fail("/api/orders/changes", Fault::Status(503));
        assert_eq!(get(format!("{base}/orders/changes?since=1")).await.unwrap().0, 503);
        assert_eq!(get(format!("{base}/orders")).await.unwrap().0, 200, "other paths pass");
        proxy.clear();
        proxy.fail("/api/orders/changes", Fault::Reset);
        assert!(get(format!("{base}/orders/changes?since=1")).await.is_err(), "a reset is a transport failure");
        proxy.clear();
        proxy.fail("/api/orders/changes", Fault::Stall);
        let stalled = tokio::spawn(get(format!("{base}/orders/changes?since=1")));
        proxy.wait_stalled(1, Duration::from_secs(5)).await.unwrap();
        assert!(!stalled.is_finished(), "held without an answer");
        proxy.release();
        assert!(stalled.await.unwrap().is_err(), "released as a reset");
        proxy.clear();
        proxy.cut();
        assert!(get(format!("{base}/a")).await.is_err(), "cut: refused");
        proxy.reopen();
        assert_eq!(get(format!("{base}/a")).await.unwrap().0, 200);
    }
}

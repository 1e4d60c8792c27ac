//! A fault proxy that understands HTTP requests and WebSocket frames: between the client and a server on
//! loopback, it forwards everything, except that a test can fail chosen requests by their path (answer a
//! status such as 503 or 429, reset the connection before any answer, stall the request until released, delay
//! it, or cut its answer off halfway), fail the live sockets frame by frame (go silent without closing, delay
//! every frame, close after a number of frames) and cut every connection at once. Networks fail in pieces:
//! the socket comes back while the replay request dies.
//!
//! Each request gets a connection of its own (the proxy asks the server to close after answering), so every
//! request is seen and judged; a WebSocket upgrade keeps its connection, and the server's frames are read one
//! by one so a fault lands between two frames, as a real network's would.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::pipe::{buffers, step, Step};

/// What happens to a request whose path starts with a rule's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answered by the proxy with this status and a JSON `{message}`, as an overloaded server would.
    Status(u16),
    /// The connection is closed before any answer.
    Reset,
    /// Held, unanswered, until [`FaultProxy::release`]; then reset.
    Stall,
    /// Forwarded after this long.
    Delay(Duration),
    /// Forwarded, but the answer stops halfway through its body and the connection closes.
    Truncate,
}

/// What happens to the live sockets (WebSocket connections), frame by frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WsFault {
    Pass,
    /// Nothing moves either way, and nothing closes: a half-dead path. Once lifted, the held sockets close.
    Silent,
    /// Every frame from the server waits this long.
    Delay(Duration),
    /// Sockets close after passing this many more frames from the server.
    CutAfter(u32),
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
    ws: watch::Sender<WsFault>,
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
            ws: watch::channel(WsFault::Pass).0,
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

    /// The live sockets meet `fault` from now on.
    pub fn set_ws(&self, fault: WsFault) {
        self.shared.ws.send_replace(fault);
    }

    /// From now on, requests whose path starts with `path` meet `fault` (until [`FaultProxy::clear`]).
    pub fn fail(&self, path: &str, fault: Fault) {
        self.shared.rules.lock().expect("not poisoned").push((path.to_owned(), fault));
    }

    /// No more faults for new requests, nor for the live sockets.
    pub fn clear(&self) {
        self.shared.rules.lock().expect("not poisoned").clear();
        self.shared.ws.send_replace(WsFault::Pass);
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

fn is_upgrade(head: &str) -> bool {
    head.lines().any(|l| l.to_ascii_lowercase().starts_with("upgrade:"))
}

/// The head with `Connection: close` in place of any `Connection` header, unless it asks for an upgrade.
fn one_request_per_connection(head: &str) -> String {
    if is_upgrade(head) {
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
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
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
        Some(Fault::Truncate) | None => {}
    }
    let Ok(mut server) = TcpStream::connect(shared.upstream).await else { return };
    let upgrade = is_upgrade(&head);
    let mut first = one_request_per_connection(&head).into_bytes();
    first.extend_from_slice(&buf[end..]);
    if server.write_all(&first).await.is_err() {
        return;
    }
    if fault == Some(Fault::Truncate) {
        // The whole answer (the server closes after it), then only its head and half its body.
        let mut answer = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(30), server.read_to_end(&mut answer)).await;
        let cut_at = head_end(&answer).map_or(answer.len() / 2, |h| h + (answer.len() - h) / 2);
        let _ = client.write_all(&answer[..cut_at]).await;
        return;
    }
    if upgrade {
        return websocket(client, server, cut, cut_at, shared.ws.subscribe()).await;
    }
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let (mut b1, mut b2) = buffers();
    loop {
        if cut.borrow().0 != cut_at {
            return;
        }
        match step((&mut cr, &mut sw), &mut sr, (&mut b1, &mut b2), async { cut.changed().await.is_ok() }).await {
            Step::Closed => return,
            Step::FromServer(n) => {
                if cw.write_all(&b2[..n]).await.is_err() {
                    return;
                }
            }
            Step::Moved => {}
        }
    }
}

/// A WebSocket connection after its upgrade request: the server's answer head, then its frames one by one,
/// each under the current [`WsFault`]; the client's bytes as they come, except while silent.
async fn websocket(
    mut client: TcpStream,
    mut server: TcpStream,
    mut cut: watch::Receiver<(u64, bool)>,
    cut_at: u64,
    mut ws: watch::Receiver<WsFault>,
) {
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let mut passed_since_cut_after: Option<(WsFault, u32)> = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut answered = false;
    let (mut b1, mut b2) = buffers();
    loop {
        if cut.borrow().0 != cut_at {
            return;
        }
        let fault = *ws.borrow_and_update();
        if fault == WsFault::Silent {
            // Hold everything open and move nothing; once lifted, the socket is dead to both sides.
            tokio::select! {
                _ = ws.changed() => return,
                _ = cut.changed() => return,
            }
        }
        // Whole frames from the server, as they complete.
        while let Some(len) = if answered { frame_len(&pending) } else { head_end(&pending) } {
            // The answer head passes as it is; the faults are the frames'.
            match if answered { fault } else { WsFault::Pass } {
                WsFault::Delay(d) => tokio::time::sleep(d).await,
                WsFault::CutAfter(n) => {
                    let left = match passed_since_cut_after {
                        Some((f, left)) if f == fault => left,
                        _ => n,
                    };
                    if left == 0 {
                        return;
                    }
                    passed_since_cut_after = Some((fault, left - 1));
                }
                WsFault::Pass | WsFault::Silent => {}
            }
            if cw.write_all(&pending[..len]).await.is_err() {
                return;
            }
            pending.drain(..len);
            answered = true;
        }
        let wake = async {
            tokio::select! {
                c = cut.changed() => c.is_ok(),
                c = ws.changed() => c.is_ok(),
            }
        };
        match step((&mut cr, &mut sw), &mut sr, (&mut b1, &mut b2), wake).await {
            Step::Closed => return,
            Step::FromServer(n) => pending.extend_from_slice(&b2[..n]),
            Step::Moved => {}
        }
    }
}

/// The length of the first WebSocket frame in `buf` (RFC 6455 §5.2), if `buf` holds all of it.
fn frame_len(buf: &[u8]) -> Option<usize> {
    let b1 = *buf.get(1)?;
    let masked = b1 & 0x80 != 0;
    let (len, at) = match b1 & 0x7f {
        126 => (u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    let total = at + if masked { 4 } else { 0 } + len;
    (buf.len() >= total).then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An HTTP server that answers every request `200 <path>`.
    async fn path_server() -> SocketAddr {
        crate::pipe::loopback_server(|mut s| async move {
            let mut b = vec![0u8; 4096];
            let n = s.read(&mut b).await.unwrap_or(0);
            let head = String::from_utf8_lossy(&b[..n]).into_owned();
            let path = head.split_whitespace().nth(1).unwrap_or_default().to_owned();
            let closes = head.contains("Connection: close");
            let body = format!("{path} close={closes}");
            let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            let _ = s.write_all(reply.as_bytes()).await;
        })
        .await
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

    /// A server that answers any upgrade with a 101 and then five one-byte text frames, `a` to `e`.
    async fn frame_server() -> SocketAddr {
        crate::pipe::loopback_server(|mut s| async move {
            let mut b = vec![0u8; 4096];
            let _ = s.read(&mut b).await;
            let _ = s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n").await;
            for c in b'a'..=b'e' {
                let _ = s.write_all(&[0x81, 0x01, c]).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = s.read(&mut b).await;
        })
        .await
    }

    /// Opens a socket through the proxy; what arrives within `wait`, and whether it closed.
    async fn upgrade(proxy: &FaultProxy, wait: Duration) -> (Vec<u8>, bool) {
        let mut s = TcpStream::connect(proxy.addr).await.unwrap();
        s.write_all(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nUpgrade: websocket\r\n\r\n").await.unwrap();
        let mut got = Vec::new();
        let mut b = [0u8; 256];
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, s.read(&mut b)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
                Ok(Ok(n)) => got.extend_from_slice(&b[..n]),
                Err(_) => return (got, false),
            }
        }
    }

    fn frames(got: &[u8]) -> Vec<u8> {
        let body = &got[head_end(got).expect("the 101 came through")..];
        body.chunks(3).map(|f| f[2]).collect()
    }

    #[tokio::test]
    async fn fails_live_sockets_frame_by_frame() {
        let proxy = FaultProxy::start(frame_server().await).await.unwrap();
        let (got, closed) = upgrade(&proxy, Duration::from_millis(400)).await;
        assert_eq!((frames(&got), closed), (b"abcde".to_vec(), false), "passed whole");
        proxy.set_ws(WsFault::CutAfter(2));
        let (got, closed) = upgrade(&proxy, Duration::from_millis(400)).await;
        assert_eq!((frames(&got), closed), (b"ab".to_vec(), true), "closed between frames");
        proxy.set_ws(WsFault::Pass);
        let task = {
            let addr = proxy.addr;
            tokio::spawn(async move {
                let mut s = TcpStream::connect(addr).await.unwrap();
                s.write_all(b"GET /socket.io/ HTTP/1.1\r\nUpgrade: websocket\r\n\r\n").await.unwrap();
                let mut b = [0u8; 256];
                let mut got = Vec::new();
                while let Ok(n) = s.read(&mut b).await {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&b[..n]);
                }
                got
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        proxy.set_ws(WsFault::Silent);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!task.is_finished(), "silent: held open");
        proxy.set_ws(WsFault::Pass);
        let got = tokio::time::timeout(Duration::from_secs(2), task).await.expect("closed once lifted").unwrap();
        assert!(frames(&got).len() < 5, "the frames after the silence never came: {:?}", frames(&got));
        proxy.set_ws(WsFault::Delay(Duration::from_millis(100)));
        let started = std::time::Instant::now();
        let (got, _) = upgrade(&proxy, Duration::from_millis(1500)).await;
        assert_eq!(frames(&got), b"abcde".to_vec());
        assert!(started.elapsed() >= Duration::from_millis(500), "every frame waited");
    }

    #[tokio::test]
    async fn delays_and_truncates_chosen_answers() {
        let proxy = FaultProxy::start(path_server().await).await.unwrap();
        let base = proxy.api_url();
        proxy.fail("/api/slow", Fault::Delay(Duration::from_millis(300)));
        let started = std::time::Instant::now();
        assert_eq!(get(format!("{base}/slow")).await.unwrap().0, 200);
        assert!(started.elapsed() >= Duration::from_millis(300));
        proxy.fail("/api/cut", Fault::Truncate);
        assert!(get(format!("{base}/cut")).await.is_err(), "an answer cut off halfway is an error");
    }
}

//! A TCP proxy between the client and a server that a test can cut, refuse or black-hole at will: the network
//! failures of real life (a dropped Wi-Fi, a NAT that forgets a connection silently) on loopback.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::pipe::{buffers, step, Step};

/// What the proxy does with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forwards both ways.
    Open,
    /// Closes every connection and accepts-then-closes new ones (the server looks down).
    Cut,
    /// Keeps connections open but forwards nothing, and new connections hang: a silent cut.
    Blackhole,
}

/// A running proxy; it stops when dropped.
pub struct CutProxy {
    addr: SocketAddr,
    mode: Arc<watch::Sender<Mode>>,
    upstream: Arc<watch::Sender<SocketAddr>>,
    task: tokio::task::JoinHandle<()>,
}

impl CutProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<CutProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Self::serve(listener, upstream)
    }

    /// Listens on `addr` (a restarted test keeps its client's URL).
    pub async fn start_at(addr: SocketAddr, upstream: SocketAddr) -> std::io::Result<CutProxy> {
        Self::serve(TcpListener::bind(addr).await?, upstream)
    }

    fn serve(listener: TcpListener, upstream: SocketAddr) -> std::io::Result<CutProxy> {
        let addr = listener.local_addr()?;
        let mode = Arc::new(watch::channel(Mode::Open).0);
        let up = Arc::new(watch::channel(upstream).0);
        let (m, u) = (mode.clone(), up.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (mode_rx, upstream) = (m.subscribe(), *u.borrow());
                tokio::spawn(pipe(client, upstream, mode_rx));
            }
        });
        Ok(CutProxy { addr, mode, upstream: up, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/api` through the proxy.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }

    /// Where new connections go (a restarted server on another port).
    pub fn set_upstream(&self, upstream: SocketAddr) {
        self.upstream.send_replace(upstream);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.task.abort();
        self.mode.send_replace(Mode::Cut);
    }
}

async fn pipe(mut client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Mode>) {
    // New connections wait while black-holed, and are closed at once while cut.
    loop {
        let m = *mode.borrow_and_update();
        match m {
            Mode::Open => break,
            Mode::Cut => return,
            Mode::Blackhole => {
                if mode.changed().await.is_err() {
                    return;
                }
            }
        }
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else { return };
    let (mut cr, mut cw) = client.split();
    let (mut sr, mut sw) = server.split();
    let (mut b1, mut b2) = buffers();
    loop {
        if *mode.borrow() == Mode::Blackhole {
            // Hold both ends open and move nothing until the mode changes.
            if mode.changed().await.is_err() {
                return;
            }
            continue;
        }
        if *mode.borrow() == Mode::Cut {
            return;
        }
        match step((&mut cr, &mut sw), &mut sr, (&mut b1, &mut b2), async { mode.changed().await.is_ok() }).await {
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

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    async fn echo_server() -> SocketAddr {
        crate::pipe::loopback_server(|mut s| async move {
            let mut b = [0u8; 1024];
            while let Ok(n) = s.read(&mut b).await {
                if n == 0 || s.write_all(&b[..n]).await.is_err() {
                    return;
                }
            }
        })
        .await
    }

    async fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut b = vec![0u8; msg.len()];
        tokio::time::timeout(std::time::Duration::from_millis(500), s.read_exact(&mut b))
            .await
            .map_err(|_| std::io::Error::other("timeout"))??;
        Ok(b)
    }

    #[tokio::test]
    async fn forwards_cuts_and_blackholes() {
        let proxy = CutProxy::start(echo_server().await).await.unwrap();
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        for i in 0..5 {
            let msg = format!("hello {i}");
            assert_eq!(roundtrip(&mut s, msg.as_bytes()).await.unwrap(), msg.as_bytes());
        }
        proxy.set(Mode::Blackhole);
        assert!(roundtrip(&mut s, b"lost").await.is_err(), "nothing moves while black-holed");
        proxy.set(Mode::Cut);
        let mut b = [0u8; 16];
        let n = tokio::time::timeout(std::time::Duration::from_secs(2), s.read(&mut b)).await.unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "a cut closes the connection");
        proxy.set(Mode::Open);
        let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(roundtrip(&mut s, b"back").await.unwrap(), b"back");
    }
}

//! One step of a two-way TCP pipe, shared by the proxies: whichever side speaks first, or a wake-up (a mode
//! change), whichever comes first. The client's bytes go to the server at once; the server's are the caller's
//! to forward, hold or drop, so a proxy decides what a fault does to them.

use std::future::Future;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};

pub(crate) enum Step {
    /// The server sent these many bytes, now at the start of the server buffer.
    FromServer(usize),
    /// The client's bytes went to the server, or the wake-up fired.
    Moved,
    /// A side closed or failed, or the wake-up's sender is gone: the pipe is over.
    Closed,
}

/// Buffers of the usual size for [`step`].
pub(crate) fn buffers() -> (Vec<u8>, Vec<u8>) {
    (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024])
}

pub(crate) async fn step(
    (cr, sw): (&mut ReadHalf<'_>, &mut WriteHalf<'_>),
    sr: &mut ReadHalf<'_>,
    (from_client, from_server): (&mut [u8], &mut [u8]),
    wake: impl Future<Output = bool>,
) -> Step {
    tokio::select! {
        r = cr.read(from_client) => match r {
            Ok(0) | Err(_) => Step::Closed,
            Ok(n) => if sw.write_all(&from_client[..n]).await.is_err() { Step::Closed } else { Step::Moved },
        },
        r = sr.read(from_server) => match r {
            Ok(0) | Err(_) => Step::Closed,
            Ok(n) => Step::FromServer(n),
        },
        alive = wake => if alive { Step::Moved } else { Step::Closed },
    }
}

/// A loopback server for the proxies' tests: `each` runs on every connection it accepts. Its address.
#[cfg(test)]
pub(crate) async fn loopback_server<F, Fut>(each: F) -> std::net::SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Copy + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(each(s));
        }
    });
    addr
}

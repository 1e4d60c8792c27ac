//! Behind a load balancer every connection comes from the balancer. A request whose TCP peer is one of the
//! `--trusted-proxy` addresses is counted against the client the proxy names instead: the last address of
//! `X-Forwarded-For`, the one that proxy appended (anything before it the client could have written). The
//! limits of `limits.rs` (logins per address, the login backoff per account and address, sockets per
//! address) then hold per customer again, and one customer's wrong passwords cannot slow everyone down.

use axum::extract::{ConnectInfo, Request};
use std::net::{IpAddr, SocketAddr};

/// The address a request is from: the proxy's word when the peer is a trusted proxy and says one, else the
/// peer.
pub fn client_addr(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    forwarded_for
        .and_then(|list| list.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer)
}

/// Rewrites the connection info a handler sees (REST and Socket.IO alike) to the forwarded client.
pub fn rewrite(trusted: &[IpAddr], mut req: Request) -> Request {
    if trusted.is_empty() {
        return req;
    }
    if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>().copied() {
        let header = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
        let ip = client_addr(peer.ip(), header, trusted);
        if ip != peer.ip() {
            req.extensions_mut().insert(ConnectInfo(SocketAddr::new(ip, peer.port())));
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let trusted = [proxy];
        assert_eq!(client_addr(proxy, Some("203.0.113.7"), &trusted), client);
        // A client's own header comes first; the proxy's entry is the last one.
        assert_eq!(client_addr(proxy, Some("198.51.100.1, 203.0.113.7"), &trusted), client);
        assert_eq!(client_addr(proxy, None, &trusted), proxy);
        assert_eq!(client_addr(proxy, Some("not an address"), &trusted), proxy);
        // Anyone else's header is ignored.
        assert_eq!(client_addr(client, Some("10.9.9.9"), &trusted), client);
        assert_eq!(client_addr(proxy, Some("203.0.113.7"), &[]), proxy);
    }
}

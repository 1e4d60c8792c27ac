//! A loopback map tile server: it answers `/{z}/{x}/{y}.svg` with a generated tile (a light square with its
//! grid and its coordinates drawn in, so a screenshot shows which tiles the map asked for), refuses anything
//! else with 404 as a real provider does, and records every request it got (path, query, referrer, cookies),
//! so a test can count tiles and check that nothing but tile coordinates reached it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// One request, as the server saw it.
#[derive(Clone, Debug)]
pub struct TileRequest {
    pub path: String,
    pub query: Option<String>,
    pub referer: Option<String>,
    pub cookie: Option<String>,
}

pub struct TileServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<TileRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl TileServer {
    pub async fn start() -> Result<TileServer> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let router = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap| {
            let log = log.clone();
            async move { tile(&log, uri, headers) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(TileServer { addr, seen, task })
    }

    /// The XYZ template the app's "Map tiles address" takes.
    pub fn template(&self) -> String {
        format!("http://{}/{{z}}/{{x}}/{{y}}.svg", self.addr)
    }

    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<TileRequest> {
        self.seen.lock().expect("not poisoned").clone()
    }

    /// Stops answering: connections are refused from now on, as with a provider out of reach.
    pub fn stop(&self) {
        self.task.abort();
    }
}

impl Drop for TileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn tile(log: &Mutex<Vec<TileRequest>>, uri: Uri, headers: HeaderMap) -> Response {
    let text = |h: header::HeaderName| headers.get(h).and_then(|v| v.to_str().ok()).map(str::to_owned);
    log.lock().expect("not poisoned").push(TileRequest {
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        referer: text(header::REFERER),
        cookie: text(header::COOKIE),
    });
    let Some((z, x, y)) = coordinates(uri.path()) else {
        return (StatusCode::NOT_FOUND, "no such tile").into_response();
    };
    let svg = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='256' height='256' viewBox='0 0 256 256'>\
         <rect width='256' height='256' fill='#e8efe9'/>\
         <path d='M0 64H256M0 128H256M0 192H256M64 0V256M128 0V256M192 0V256' stroke='#cfdcd2' stroke-width='1'/>\
         <rect width='256' height='256' fill='none' stroke='#9fb5a5' stroke-width='2'/>\
         <text x='10' y='24' font-family='sans-serif' font-size='14' fill='#5b7263'>{z}/{x}/{y}</text></svg>"
    );
    // Cached as a provider's tiles are, so the webview keeps what it drew.
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "max-age=3600")], svg).into_response()
}

/// `(z, x, y)` of `/{z}/{x}/{y}.svg`, within the tile grid of zoom `z`.
fn coordinates(path: &str) -> Option<(u32, u64, u64)> {
    let mut parts = path.strip_prefix('/')?.strip_suffix(".svg")?.split('/');
    let z: u32 = parts.next()?.parse().ok()?;
    let x: u64 = parts.next()?.parse().ok()?;
    let y: u64 = parts.next()?.parse().ok()?;
    let n = 1u64.checked_shl(z.min(30))?;
    (parts.next().is_none() && z <= 22 && x < n && y < n).then_some((z, x, y))
}

//! `Api`: the REST half of the contract, over reqwest.
//!
//! One error type, [`ApiError`], that tells apart what a caller must treat differently: the network (retry
//! later), a refused token (stop and ask for login), and any other answer with the server's own message.
//! The token goes in the `Authorization` header only, never in a URL, and no error text ever contains it.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use order_protocol::{
    ChangesResponse, DeliveryPatch, ErrorBody, LoginRequest, LoginResponse, Order, PlaceOrder, RefreshResponse, Status,
    StatusPatch, StoredNotification, User,
};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;

use crate::token::Token;

/// The default backend of the contract.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:5001/api";

/// What went wrong talking to the backend, in words.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The backend could not be reached, or stopped answering.
    #[error("cannot reach the server: {0}")]
    Network(String),
    /// Wrong credentials, or a token that expired or was revoked.
    #[error("not authorised: {0}")]
    Unauthorized(String),
    /// Any other refusal or failure, with the server's message.
    #[error("the server answered {status}: {message}")]
    Status { status: u16, message: String },
    /// A 2xx whose body is not what the contract says.
    #[error("the server's answer was not understood: {0}")]
    Decode(String),
    /// `http://` to another machine, not allowed: the password and the token would cross the network in clear.
    #[error("{0} sends your password and session unencrypted to another machine; use https://")]
    Cleartext(String),
    /// An answer larger than any the contract gives ([`MAX_BODY`]): read no further.
    #[error("the server's answer is larger than {} MiB; not read", MAX_BODY / (1024 * 1024))]
    TooLarge,
    /// An answer past a bound of [`order_protocol::bounds`] (a huge text or list): not parsed.
    #[error("the server's answer holds {0}; not read")]
    Unbounded(order_protocol::bounds::TooBig),
    /// An address the user typed answers, but not as an order backend does (see `ApiError::at_typed_address`).
    #[error("this address does not answer as an order server: {0}")]
    NotAnOrderServer(String),
}

impl ApiError {
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, ApiError::Unauthorized(_))
    }
    pub fn is_network(&self) -> bool {
        matches!(self, ApiError::Network(_))
    }

    /// Reads a failure of a route every order backend has (sign-in, health) at an address the user typed: a
    /// 404 or 405 there, or a success that is not the contract's JSON, comes from some other web server (a
    /// wrong port or path), not from an order backend having a bad moment.
    fn at_typed_address(self, route: &str) -> ApiError {
        match self {
            ApiError::Status { status: status @ (404 | 405), .. } => {
                ApiError::NotAnOrderServer(format!("it answered {status} to {route}"))
            }
            ApiError::Decode(_) => {
                ApiError::NotAnOrderServer(format!("its answer to {route} is not an order server's"))
            }
            other => other,
        }
    }
}

/// The most changes one catch-up replays; past it, reloading the orders is cheaper than replaying each one.
pub const MAX_REPLAY: usize = 100_000;

/// The answer of `GET /orders/changes?since=`.
#[derive(Debug)]
pub enum Changes {
    /// The caller's events after `since`, oldest first.
    Replay(ChangesResponse),
    /// `410`: `since` is out of the retained log (or the data was recreated): reload and start from
    /// `latest_seq`, when the server said it.
    Gone { latest_seq: Option<u64> },
    /// The server has no change log (a base-contract backend): the contract's 404.
    Unsupported,
    /// A 400 or 500, what an Express backend's `/orders/:id` route answers when it takes `changes` for an id
    /// (or a 200 that is no change list). It means "no change log" only on a server not known to have one, and
    /// only once `GET /orders` works (the caller checks); from a server known to have the extensions it is a
    /// failure to retry.
    CatchAll(ApiError),
}

/// Normalises a base URL: trailing slashes off, `/api` appended when missing.
pub fn normalize_api_url(url: &str) -> String {
    let trimmed = url.trim().trim_end_matches('/');
    if trimmed.ends_with("/api") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/api")
    }
}

/// `LIVE_ORDERS_API_URL`, else the saved setting, else the default; normalised.
pub fn resolve_api_url(saved: Option<&str>) -> String {
    let env = std::env::var("LIVE_ORDERS_API_URL").ok().filter(|s| !s.trim().is_empty());
    normalize_api_url(env.as_deref().or(saved).unwrap_or(DEFAULT_API_URL))
}

/// Whether `url` is plain `http://` to a host other than this machine (loopback: `localhost`, 127.0.0.0/8,
/// `::1`). Such a backend sees the password and the token in clear, as does anyone on the way.
pub fn is_cleartext_remote(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url.trim()) else { return false };
    if u.scheme() != "http" {
        return false;
    }
    let Some(host) = u.host_str() else { return false };
    if host.eq_ignore_ascii_case("localhost") {
        return false;
    }
    match host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>() {
        Ok(ip) => !ip.is_loopback(),
        Err(_) => true,
    }
}

/// A REST client for one backend.
#[derive(Clone, Debug)]
pub struct Api {
    base: String,
    /// `http://` to another machine is refused unless the user allowed it ([`Api::allowing_cleartext`]).
    refuse_cleartext: bool,
    /// Built on first use: building it loads the system's TLS roots (about 100 ms with OpenSSL), which must not
    /// happen on the thread that calls `new` (the shell's main thread, while the window is being created).
    http: Arc<OnceLock<reqwest::Client>>,
}

impl Api {
    /// `url` with or without `/api`.
    pub fn new(url: &str) -> Api {
        let base = normalize_api_url(url);
        Api { refuse_cleartext: is_cleartext_remote(&base), base, http: Arc::default() }
    }

    /// The same client, allowed to talk `http://` to another machine (the user said so, warned).
    pub fn allowing_cleartext(mut self, allow: bool) -> Api {
        self.refuse_cleartext = is_cleartext_remote(&self.base) && !allow;
        self
    }

    /// Refuses, before anything is sent, a backend the user did not allow to see credentials in clear.
    pub fn check_transport(&self) -> Result<(), ApiError> {
        if self.refuse_cleartext {
            return Err(ApiError::Cleartext(self.origin().to_owned()));
        }
        Ok(())
    }

    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(|| {
            reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(5))
                .timeout(REQUEST_TIMEOUT)
                .build()
                .expect("a reqwest client with timeouts only always builds")
        })
    }

    /// Builds the HTTP client now (it blocks for a while: call it where blocking is fine).
    pub fn prepare(&self) {
        self.http();
    }

    /// The normalised `…/api` base.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The Socket.IO origin: the base without `/api`.
    pub fn origin(&self) -> &str {
        self.base.strip_suffix("/api").unwrap_or(&self.base)
    }

    /// `GET /health`: whether the backend answers, and its clock.
    pub async fn health(&self) -> Result<order_protocol::Health, ApiError> {
        self.json(Method::GET, "/health", None, None).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&Token>,
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response, ApiError> {
        self.check_transport()?;
        let mut req = self.http().request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t.expose());
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        // reqwest's error text names the URL, which never holds a secret here.
        req.send().await.map_err(network)
    }

    async fn error_of(resp: reqwest::Response) -> ApiError {
        let status = resp.status();
        let text = String::from_utf8_lossy(&read_body(resp, MAX_ERROR_BODY).await.unwrap_or_default()).into_owned();
        let message = serde_json::from_str::<ErrorBody>(&text).map(|b| b.message).unwrap_or_else(|_| {
            let t = text.trim();
            if t.is_empty() || t.len() > 200 {
                status.canonical_reason().unwrap_or("error").to_owned()
            } else {
                t.to_owned()
            }
        });
        if status == StatusCode::UNAUTHORIZED {
            ApiError::Unauthorized(message)
        } else {
            ApiError::Status { status: status.as_u16(), message }
        }
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&Token>,
        body: Option<serde_json::Value>,
    ) -> Result<T, ApiError> {
        let resp = self.send(method, path, token, body).await?;
        if !resp.status().is_success() {
            return Err(Self::error_of(resp).await);
        }
        let bytes = read_body(resp, MAX_BODY).await?;
        parse_body(&bytes).map_err(|e| match e {
            ApiError::Decode(e) => ApiError::Decode(format!("{path}: {e}")),
            e => e,
        })
    }

    async fn no_content(&self, method: Method, path: &str, token: &Token) -> Result<(), ApiError> {
        let resp = self.send(method, path, Some(token), None).await?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(Self::error_of(resp).await)
        }
    }

    /// `GET /health` at an address the user typed, before anything is switched to it: whether an order
    /// backend answers there ([`ApiError::NotAnOrderServer`] when some other web server does).
    pub async fn probe(&self) -> Result<order_protocol::Health, ApiError> {
        self.health().await.map_err(|e| e.at_typed_address("a health check"))
    }

    /// `POST /auth/login`. A refusal is [`ApiError::Unauthorized`] with the server's message; a web server that
    /// is no order backend is [`ApiError::NotAnOrderServer`].
    pub async fn login(&self, email: &str, password: &str) -> Result<(Token, User), ApiError> {
        let body = serde_json::to_value(LoginRequest { email: email.to_owned(), password: password.to_owned() })
            .map_err(|e| ApiError::Decode(e.to_string()))?;
        let r: LoginResponse = self
            .json(Method::POST, "/auth/login", None, Some(body))
            .await
            .map_err(|e| e.at_typed_address("a sign-in"))?;
        Ok((Token::new(r.token), r.user))
    }

    /// `GET /auth/me` (extension).
    pub async fn me(&self, token: &Token) -> Result<User, ApiError> {
        self.json(Method::GET, "/auth/me", Some(token), None).await
    }

    /// `POST /auth/refresh` (extension): the same session with a fresh expiry.
    pub async fn refresh(&self, token: &Token) -> Result<Token, ApiError> {
        let r: RefreshResponse = self.json(Method::POST, "/auth/refresh", Some(token), None).await?;
        Ok(Token::new(r.token))
    }

    /// `POST /auth/logout` (extension): revokes the token server-side.
    pub async fn logout(&self, token: &Token) -> Result<(), ApiError> {
        self.no_content(Method::POST, "/auth/logout", token).await
    }

    pub async fn orders(&self, token: &Token) -> Result<Vec<Order>, ApiError> {
        self.json(Method::GET, "/orders", Some(token), None).await
    }

    pub async fn order(&self, token: &Token, id: &str) -> Result<Order, ApiError> {
        self.json(Method::GET, &format!("/orders/{}", path_segment(id)), Some(token), None).await
    }

    /// `GET /orders/changes?since=` (extension), page after page until the server says there is no more. A
    /// base-contract backend answers 404 ([`Changes::Unsupported`]) or the 400/500 of its `/orders/:id` route
    /// ([`Changes::CatchAll`]). Any other failure (a 503 in passing, a 429) is an error: it says nothing about
    /// what the server speaks. More than [`MAX_REPLAY`] changes are not replayed one by one: the answer is
    /// [`Changes::Gone`], and the caller reloads the orders instead.
    pub async fn changes(&self, token: &Token, since: u64) -> Result<Changes, ApiError> {
        let mut replay = ChangesResponse { latest_seq: since, changes: Vec::new(), has_more: false };
        let mut from = since;
        loop {
            let page = match self.changes_page(token, from).await? {
                Changes::Replay(page) => page,
                // A later page that is no page is a failure of this catch-up, never a sign of another contract.
                Changes::CatchAll(e) if from != since => return Err(e),
                other => return Ok(other),
            };
            if page.has_more && page.latest_seq <= from {
                return Err(ApiError::Decode(format!(
                    "the change log said more follows after {from} but did not move past it"
                )));
            }
            replay.changes.extend(page.changes);
            replay.latest_seq = page.latest_seq;
            if !page.has_more {
                return Ok(Changes::Replay(replay));
            }
            if replay.changes.len() > MAX_REPLAY {
                return Ok(Changes::Gone { latest_seq: None });
            }
            from = page.latest_seq;
        }
    }

    /// One page of the change log after `since`.
    async fn changes_page(&self, token: &Token, since: u64) -> Result<Changes, ApiError> {
        let path = format!("/orders/changes?since={since}");
        let resp = self.send(Method::GET, &path, Some(token), None).await?;
        match resp.status() {
            s if s.is_success() => {
                let bytes = read_body(resp, MAX_BODY).await?;
                match parse_body::<ChangesResponse>(&bytes) {
                    Ok(c) => Ok(Changes::Replay(c)),
                    Err(e @ ApiError::Unbounded(_)) => Err(e),
                    // A 200 that is not a change list: an `/orders/:id` route that answered with an order, or a
                    // body cut short. Believed only as a catch-all would be (see `Changes::CatchAll`).
                    Err(e) => Ok(Changes::CatchAll(e)),
                }
            }
            StatusCode::GONE => {
                let v: serde_json::Value =
                    serde_json::from_slice(&read_body(resp, MAX_ERROR_BODY).await.unwrap_or_default())
                        .unwrap_or_default();
                Ok(Changes::Gone { latest_seq: v.get("latestSeq").and_then(|s| s.as_u64()) })
            }
            StatusCode::NOT_FOUND => Ok(Changes::Unsupported),
            StatusCode::BAD_REQUEST | StatusCode::INTERNAL_SERVER_ERROR => {
                Ok(Changes::CatchAll(Self::error_of(resp).await))
            }
            _ => Err(Self::error_of(resp).await),
        }
    }

    /// `GET /notifications` (extension).
    pub async fn notifications(&self, token: &Token) -> Result<Vec<StoredNotification>, ApiError> {
        self.json(Method::GET, "/notifications", Some(token), None).await
    }

    pub async fn mark_read(&self, token: &Token, id: &str) -> Result<(), ApiError> {
        self.no_content(Method::POST, &format!("/notifications/{}/read", path_segment(id)), token).await
    }

    pub async fn mark_all_read(&self, token: &Token) -> Result<(), ApiError> {
        self.no_content(Method::POST, "/notifications/read-all", token).await
    }

    /// `POST /devices` (extension): registers where this device receives push; returns the device's id.
    pub async fn register_device(
        &self,
        token: &Token,
        device: &order_protocol::DeviceRegistration,
    ) -> Result<String, ApiError> {
        let body = serde_json::to_value(device).map_err(|e| ApiError::Decode(e.to_string()))?;
        let created: order_protocol::DeviceCreated =
            self.json(Method::POST, "/devices", Some(token), Some(body)).await?;
        Ok(created.id)
    }

    /// `PATCH /orders/:id/status` (store owner).
    pub async fn set_status(&self, token: &Token, id: &str, status: Status) -> Result<Order, ApiError> {
        let body = serde_json::to_value(StatusPatch { status }).map_err(|e| ApiError::Decode(e.to_string()))?;
        self.json(Method::PATCH, &format!("/orders/{}/status", path_segment(id)), Some(token), Some(body)).await
    }

    /// `PATCH /orders/:id/delivery` (store owner, extension).
    pub async fn set_delivery(&self, token: &Token, id: &str, patch: &DeliveryPatch) -> Result<Order, ApiError> {
        let body = serde_json::to_value(patch).map_err(|e| ApiError::Decode(e.to_string()))?;
        self.json(Method::PATCH, &format!("/orders/{}/delivery", path_segment(id)), Some(token), Some(body)).await
    }

    /// `POST /orders` (customer, extension).
    pub async fn place_order(&self, token: &Token, order: &PlaceOrder) -> Result<Order, ApiError> {
        let body = serde_json::to_value(order).map_err(|e| ApiError::Decode(e.to_string()))?;
        self.json(Method::POST, "/orders", Some(token), Some(body)).await
    }
}

/// The largest answer read: the order list or a replay of a customer who was away a long while stays far
/// below it (10,000 changes make about 9 MB). A peer that sends more is not an order backend to trust.
pub const MAX_BODY: usize = 32 * 1024 * 1024;

/// A JSON body as `T`, once it is within [`order_protocol::bounds`].
pub fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    order_protocol::bounds::check_json(bytes).map_err(ApiError::Unbounded)?;
    serde_json::from_slice(bytes).map_err(|e| ApiError::Decode(e.to_string()))
}

/// The largest error answer read: its `{message}` is a sentence.
const MAX_ERROR_BODY: usize = 16 * 1024;

/// Reads a body up to `limit` bytes, as it arrives: a larger one fails with [`ApiError::TooLarge`] without
/// being held whole, whatever its `Content-Length` claims.
async fn read_body(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, ApiError> {
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge);
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(network)? {
        if out.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge);
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The longest one request may take, answer included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// A transport failure in words. reqwest's own text names only the kind of failure ("error sending request");
/// the innermost cause says what happened ("Connection refused"). The URL is left out: nothing in it is
/// secret, but it is noise beside the address the user typed.
fn network(e: reqwest::Error) -> ApiError {
    let e = e.without_url();
    if e.is_timeout() {
        return ApiError::Network(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs()));
    }
    let mut cause: &dyn std::error::Error = &e;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    ApiError::Network(cause.to_string())
}

/// Ids are opaque: keep one from breaking out of its path segment.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised() {
        assert_eq!(normalize_api_url("http://h:1"), "http://h:1/api");
        assert_eq!(normalize_api_url("http://h:1/"), "http://h:1/api");
        assert_eq!(normalize_api_url("http://h:1/api/"), "http://h:1/api");
        assert_eq!(Api::new("http://h:1/api").origin(), "http://h:1");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }

    /// A peer that streams without end (or claims a huge length) is cut off at `MAX_BODY`, in words.
    #[tokio::test]
    async fn an_answer_larger_than_any_backend_gives_is_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut head = [0u8; 4096];
                    let n = s.read(&mut head).await.unwrap_or(0);
                    if String::from_utf8_lossy(&head[..n]).contains("/health") {
                        let claim = "HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n";
                        let _ = s.write_all(claim.as_bytes()).await;
                        return;
                    }
                    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n").await;
                    let chunk = vec![b'['; 1024 * 1024];
                    for _ in 0..40 {
                        let frame = [format!("{:x}\r\n", chunk.len()).into_bytes(), chunk.clone(), b"\r\n".to_vec()];
                        if s.write_all(&frame.concat()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let api = Api::new(&format!("http://{addr}"));
        let token = Token::new(String::from("t"));
        assert!(matches!(api.orders(&token).await, Err(ApiError::TooLarge)), "a stream without end");
        assert!(matches!(api.health().await, Err(ApiError::TooLarge)), "a length beyond the cap");
        assert!(ApiError::TooLarge.to_string().contains("larger than 32 MiB"));
    }

    /// Within the size cap but past a bound: an order number of 100 KiB, a change list of a million entries.
    #[test]
    fn an_answer_past_a_bound_is_refused_in_words() {
        let huge_text = format!(r#"[{{"_id":"o1","orderNumber":"{}"}}]"#, "x".repeat(100 * 1024));
        let e = parse_body::<Vec<Order>>(huge_text.as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "the server's answer holds a text longer than 64 KiB; not read");
        let many = format!(r#"{{"latestSeq":1,"changes":[{}]}}"#, vec!["{}"; 1_000_000].join(","));
        let e = parse_body::<ChangesResponse>(many.as_bytes()).unwrap_err();
        assert_eq!(e.to_string(), "the server's answer holds a list of more than 100000 entries; not read");
    }

    #[test]
    fn plain_http_is_refused_for_another_machine_unless_allowed() {
        for url in ["http://orders.example.com/api", "http://10.1.2.3:5001", "http://[2001:db8::1]/api"] {
            assert!(is_cleartext_remote(url), "{url}");
            assert!(matches!(Api::new(url).check_transport(), Err(ApiError::Cleartext(_))), "{url}");
            assert!(Api::new(url).allowing_cleartext(true).check_transport().is_ok(), "{url} when allowed");
        }
        for url in [
            "https://orders.example.com",
            "http://127.0.0.1:5001/api",
            "http://127.8.0.1",
            "http://localhost:9/api",
            "http://[::1]:5001",
        ] {
            assert!(!is_cleartext_remote(url), "{url}");
            assert!(Api::new(url).check_transport().is_ok(), "{url}");
        }
    }

    #[test]
    fn only_answers_no_order_backend_gives_mean_a_wrong_address() {
        let not_found = ApiError::Status { status: 404, message: "Not Found".into() };
        assert!(matches!(not_found.at_typed_address("a sign-in"), ApiError::NotAnOrderServer(_)));
        let html = ApiError::Decode("expected value at line 1".into());
        assert!(matches!(html.at_typed_address("a sign-in"), ApiError::NotAnOrderServer(_)));
        // A backend that is there but unwell, or refuses, is not called a wrong address.
        let busy = ApiError::Status { status: 503, message: "busy".into() };
        assert!(matches!(busy.at_typed_address("a sign-in"), ApiError::Status { status: 503, .. }));
        let refused = ApiError::Unauthorized("Invalid credentials".into());
        assert!(refused.at_typed_address("a sign-in").is_unauthorized());
    }
}

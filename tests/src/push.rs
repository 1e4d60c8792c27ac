//! Loopback stand-ins for the push services, as strict as the real ones about what they receive:
//!
//! - [`Fcm`]: Google's OAuth2 token endpoint, which verifies the RS256 assertion against the service account's
//!   public key before issuing an access token, and FCM HTTP v1's `messages:send`, which checks that token on
//!   every send and answers with FCM's own error bodies.
//! - [`Apns`]: APNs over TLS and HTTP/2 only, verifying the ES256 provider token (key id, team, age), the
//!   topic and the device token, answering with Apple's `reason`s.
//! - [`WebPushReceiver`]: a push service holding subscriptions whose private keys it knows: it checks the VAPID
//!   signature (RFC 8292) and decrypts each message (RFC 8291), as a browser would.
//!
//! Each records what it accepted ([`Delivery`]) and can be told to answer the next sends with a failure or to
//! forget a device, as a real service does.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use order_protocol::{PushMessage, Status};
use serde::Deserialize;
use serde_json::{json, Value};

/// One push a stand-in accepted.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The device token (FCM, APNs) or the subscription id (Web Push) it went to.
    pub device: String,
    /// Its collapse key: FCM `collapse_key`, APNs `apns-collapse-id`, Web Push `Topic`.
    pub collapse: String,
    pub message: PushMessage,
    pub at: Instant,
}

/// A failure to answer with, instead of accepting.
#[derive(Clone, Copy, Debug)]
pub struct Failure {
    /// 0: never answer (hold the request until the sender gives up or dies).
    pub status: u16,
    pub retry_after: Option<u64>,
}

impl Failure {
    /// `res` with this failure's `Retry-After`.
    fn answer(self, mut res: Response) -> Response {
        if let Some(secs) = self.retry_after {
            res.headers_mut().insert("retry-after", secs.into());
        }
        res
    }
}

/// What every stand-in keeps: deliveries, scripted failures, devices it no longer knows, and a count of tries.
#[derive(Default)]
pub struct Inbox {
    got: Mutex<Vec<Delivery>>,
    failures: Mutex<VecDeque<Failure>>,
    gone: Mutex<HashSet<String>>,
    tries: std::sync::atomic::AtomicU64,
    bell: tokio::sync::Notify,
}

impl Inbox {
    fn record(&self, d: Delivery) {
        self.got.lock().unwrap().push(d);
        self.bell.notify_waiters();
    }

    /// The next scripted failure; a stall (status 0) waits here for good.
    async fn next_failure(&self) -> Option<Failure> {
        let f = self.failures.lock().unwrap().pop_front();
        if f.is_some_and(|f| f.status == 0) {
            std::future::pending::<()>().await;
        }
        f
    }

    fn is_gone(&self, device: &str) -> bool {
        self.gone.lock().unwrap().contains(device)
    }

    fn tried(&self) {
        self.tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// What the stand-ins share: reading and steering their [`Inbox`].
pub trait Standin {
    #[doc(hidden)]
    fn inbox(&self) -> &Inbox;

    /// Everything accepted so far.
    fn deliveries(&self) -> Vec<Delivery> {
        self.inbox().got.lock().unwrap().clone()
    }

    /// Requests to send that reached it, accepted or not.
    fn tries(&self) -> u64 {
        self.inbox().tries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Answers the next send with `status` (and `Retry-After`), as the service does when it is unwell; 0
    /// holds it unanswered.
    fn fail_next(&self, status: u16, retry_after: Option<u64>) {
        self.inbox().failures.lock().unwrap().push_back(Failure { status, retry_after });
    }

    /// Forgets a device, as the service does once the app is uninstalled.
    fn unregister(&self, device: &str) {
        self.inbox().gone.lock().unwrap().insert(device.to_owned());
    }

    /// Waits until at least `n` pushes were accepted; returns them all.
    fn wait_for(&self, n: usize, within: Duration) -> impl std::future::Future<Output = Result<Vec<Delivery>>> + Send
    where
        Self: Sync + Sized,
    {
        async move {
            let deadline = tokio::time::Instant::now() + within;
            loop {
                let notified = self.inbox().bell.notified();
                let got = self.deliveries();
                if got.len() >= n {
                    return Ok(got);
                }
                if tokio::time::timeout_at(deadline, notified).await.is_err() {
                    anyhow::bail!("{} push(es) arrived in {within:?}, not {n}: {got:?}", got.len());
                }
            }
        }
    }
}

/// A stand-in's server task, stopped when the stand-in is dropped.
struct Serving(tokio::task::JoinHandle<()>);

impl Drop for Serving {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `router` (plain HTTP) on `listener`.
fn serve(listener: tokio::net::TcpListener, router: Router) -> Serving {
    Serving(tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    }))
}

fn message_of(v: &Value) -> Option<PushMessage> {
    let s = |k: &str| v[k].as_str().map(str::to_owned);
    Some(PushMessage {
        order_id: s("orderId")?,
        order_number: s("orderNumber")?,
        status: Status::parse(v["status"].as_str()?)?,
        kind: s("kind")?,
        title: s("title")?,
        body: s("body")?,
        seq: v["seq"].as_str()?.parse().ok()?,
    })
}

// ---- FCM ----

/// Google's token endpoint and FCM HTTP v1 on loopback, with a service account of their own.
pub struct Fcm {
    pub addr: SocketAddr,
    state: Arc<FcmState>,
    _serving: Serving,
}

struct FcmState {
    inbox: Inbox,
    project_id: String,
    client_email: String,
    token_uri: String,
    public_key: DecodingKey,
    /// Access tokens issued, with their expiry.
    issued: Mutex<Vec<(String, Instant)>>,
    assertions: std::sync::atomic::AtomicU64,
}

pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

impl Fcm {
    /// Starts the stand-in and writes its service-account file into `dir`.
    pub async fn start(dir: &Path) -> Result<(Fcm, PathBuf)> {
        use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _, LineEnding};
        let key = rsa::RsaPrivateKey::new(&mut p256::elliptic_curve::rand_core::OsRng, 2048)?;
        let private_pem = key.to_pkcs8_pem(LineEnding::LF)?.to_string();
        let public_pem = key.to_public_key().to_public_key_pem(LineEnding::LF)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let token_uri = format!("http://{addr}/token");
        let state = Arc::new(FcmState {
            inbox: Inbox::default(),
            project_id: "live-orders-test".into(),
            client_email: "push@live-orders-test.iam.gserviceaccount.com".into(),
            token_uri: token_uri.clone(),
            public_key: DecodingKey::from_rsa_pem(public_pem.as_bytes())?,
            issued: Mutex::default(),
            assertions: Default::default(),
        });
        let account = json!({
            "type": "service_account",
            "project_id": state.project_id,
            "private_key_id": "0123456789abcdef",
            "private_key": private_pem,
            "client_email": state.client_email,
            "token_uri": token_uri,
        });
        let path = dir.join("fcm-service-account.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&account)?)?;
        let router = Router::new()
            .route("/token", post(fcm_token))
            .route("/v1/projects/{project}/messages:send", post(fcm_send))
            .with_state(state.clone());
        Ok((Fcm { addr, state, _serving: serve(listener, router) }, path))
    }

    /// What `--fcm-endpoint` takes.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Access tokens issued so far.
    pub fn assertions_accepted(&self) -> u64 {
        self.state.assertions.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Standin for Fcm {
    fn inbox(&self) -> &Inbox {
        &self.state.inbox
    }
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: String,
    assertion: String,
}

#[derive(Deserialize)]
struct AssertionClaims {
    scope: String,
    iat: i64,
    exp: i64,
}

fn oauth_error(error: &str, description: &str) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": error, "error_description": description }))).into_response()
}

async fn fcm_token(State(s): State<Arc<FcmState>>, Form(req): Form<TokenRequest>) -> Response {
    if req.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return oauth_error("unsupported_grant_type", "Invalid grant_type.");
    }
    let mut v = Validation::new(Algorithm::RS256);
    v.set_audience(&[&s.token_uri]);
    v.set_issuer(&[&s.client_email]);
    v.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    let claims = match jsonwebtoken::decode::<AssertionClaims>(&req.assertion, &s.public_key, &v) {
        Ok(d) => d.claims,
        Err(e) => return oauth_error("invalid_grant", &format!("Invalid JWT Signature or claims: {e}")),
    };
    if claims.scope.split(' ').all(|sc| sc != FCM_SCOPE) {
        return oauth_error("invalid_scope", "The assertion does not ask for the firebase.messaging scope.");
    }
    if claims.exp - claims.iat > 3600 {
        return oauth_error("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes).");
    }
    s.assertions.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let token = format!("ya29.stand-in-{:032x}", rand::random::<u128>());
    s.issued.lock().unwrap().push((token.clone(), Instant::now() + Duration::from_secs(3599)));
    Json(json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" })).into_response()
}

fn fcm_error(status: u16, name: &str, error_code: Option<&str>, message: &str) -> Response {
    let details = error_code.map_or(
        json!([]),
        |c| json!([{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": c }]),
    );
    let body = json!({ "error": { "code": status, "message": message, "status": name, "details": details } });
    (StatusCode::from_u16(status).unwrap(), Json(body)).into_response()
}

async fn fcm_send(
    State(s): State<Arc<FcmState>>,
    UrlPath(project): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.inbox.tried();
    let bearer = headers.get("authorization").and_then(|h| h.to_str().ok()).and_then(|h| h.strip_prefix("Bearer "));
    let valid =
        bearer.is_some_and(|b| s.issued.lock().unwrap().iter().any(|(t, until)| t == b && Instant::now() < *until));
    if !valid {
        return fcm_error(401, "UNAUTHENTICATED", None, "Request had invalid authentication credentials.");
    }
    if project != s.project_id {
        return fcm_error(403, "PERMISSION_DENIED", None, "Permission denied on the project.");
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return fcm_error(400, "INVALID_ARGUMENT", Some("INVALID_ARGUMENT"), "Invalid JSON payload received.");
    };
    let m = &body["message"];
    let Some(token) = m["token"].as_str().filter(|t| !t.is_empty()) else {
        return fcm_error(400, "INVALID_ARGUMENT", Some("INVALID_ARGUMENT"), "message.token is required.");
    };
    if !m["data"].as_object().is_some_and(|d| d.values().all(Value::is_string)) {
        return fcm_error(400, "INVALID_ARGUMENT", Some("INVALID_ARGUMENT"), "data values must be strings.");
    }
    if s.inbox.is_gone(token) {
        return fcm_error(404, "NOT_FOUND", Some("UNREGISTERED"), "Requested entity was not found.");
    }
    if let Some(f) = s.inbox.next_failure().await {
        return f.answer(fcm_error(
            f.status,
            "UNAVAILABLE",
            Some("UNAVAILABLE"),
            "The service is currently unavailable.",
        ));
    }
    let mut flat = m["data"].clone();
    flat["title"] = m["notification"]["title"].clone();
    flat["body"] = m["notification"]["body"].clone();
    let Some(message) = message_of(&flat) else {
        return fcm_error(400, "INVALID_ARGUMENT", Some("INVALID_ARGUMENT"), "not a Live Orders push");
    };
    let collapse = m["android"]["collapse_key"].as_str().unwrap_or_default().to_owned();
    s.inbox.record(Delivery { device: token.to_owned(), collapse, message, at: Instant::now() });
    let n = s.inbox.got.lock().unwrap().len();
    Json(json!({ "name": format!("projects/{project}/messages/{n}") })).into_response()
}

// ---- APNs ----

/// APNs on loopback: TLS with a certificate of its own authority (`ca_file`), HTTP/2 only.
pub struct Apns {
    pub addr: SocketAddr,
    /// The authority's certificate, for `--push-ca-file`.
    pub ca_file: PathBuf,
    /// The `.p8` signing key written for the server, its key id, team id and topic.
    pub key_file: PathBuf,
    pub key_id: String,
    pub team_id: String,
    pub topic: String,
    state: Arc<ApnsState>,
    _serving: Serving,
}

struct ApnsState {
    inbox: Inbox,
    public_key: DecodingKey,
    key_id: String,
    team_id: String,
    topic: String,
}

impl Apns {
    /// Starts the stand-in; writes its CA certificate and a signing key into `dir`.
    pub async fn start(dir: &Path) -> Result<Apns> {
        let signing = rcgen::KeyPair::generate()?;
        let key_file = dir.join("AuthKey_TESTKEY123.p8");
        std::fs::write(&key_file, signing.serialize_pem())?;
        let state = Arc::new(ApnsState {
            inbox: Inbox::default(),
            public_key: DecodingKey::from_ec_pem(signing.public_key_pem().as_bytes())?,
            key_id: "TESTKEY123".into(),
            team_id: "TEAM456789".into(),
            topic: "com.liveorders.app".into(),
        });

        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "Live Orders test push CA");
        let ca = ca_params.self_signed(&ca_key)?;
        let leaf_key = rcgen::KeyPair::generate()?;
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?
            .signed_by(&leaf_key, &ca, &ca_key)?;
        let ca_file = dir.join("push-ca.pem");
        std::fs::write(&ca_file, ca.pem())?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone()],
                rustls::pki_types::PrivatePkcs8KeyDer::from(leaf_key.serialize_der()).into(),
            )?;
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let router = Router::new().route("/3/device/{token}", post(apns_send)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    // APNs speaks HTTP/2 and nothing else.
                    if tls.get_ref().1.alpn_protocol() != Some(b"h2") {
                        return;
                    }
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        let (key_id, team_id, topic) = (state.key_id.clone(), state.team_id.clone(), state.topic.clone());
        Ok(Apns { addr, ca_file, key_file, key_id, team_id, topic, state, _serving: Serving(task) })
    }

    /// What `--apns-endpoint` takes.
    pub fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The `order-server` arguments that point APNs here.
    pub fn server_args(&self) -> Vec<String> {
        vec![
            "--apns-key".into(),
            self.key_file.display().to_string(),
            "--apns-key-id".into(),
            self.key_id.clone(),
            "--apns-team-id".into(),
            self.team_id.clone(),
            "--apns-topic".into(),
            self.topic.clone(),
            "--apns-endpoint".into(),
            self.endpoint(),
        ]
    }
}

impl Standin for Apns {
    fn inbox(&self) -> &Inbox {
        &self.state.inbox
    }
}

#[derive(Deserialize)]
struct ProviderClaims {
    iss: String,
    iat: i64,
}

fn apns_error(status: u16, reason: &str) -> Response {
    (StatusCode::from_u16(status).unwrap(), Json(json!({ "reason": reason }))).into_response()
}

async fn apns_send(
    State(s): State<Arc<ApnsState>>,
    UrlPath(token): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.inbox.tried();
    let header = |name: &str| headers.get(name).and_then(|h| h.to_str().ok()).map(str::to_owned);
    let Some(jwt) = header("authorization").and_then(|a| a.strip_prefix("bearer ").map(str::to_owned)) else {
        return apns_error(403, "MissingProviderToken");
    };
    let mut v = Validation::new(Algorithm::ES256);
    v.set_required_spec_claims::<&str>(&[]);
    v.validate_exp = false;
    v.validate_aud = false;
    let kid_ok = jsonwebtoken::decode_header(&jwt).ok().and_then(|h| h.kid).is_some_and(|k| k == s.key_id);
    let claims = match jsonwebtoken::decode::<ProviderClaims>(&jwt, &s.public_key, &v) {
        Ok(d) if kid_ok && d.claims.iss == s.team_id => d.claims,
        _ => return apns_error(403, "InvalidProviderToken"),
    };
    if chrono::Utc::now().timestamp() - claims.iat > 3600 {
        return apns_error(403, "ExpiredProviderToken");
    }
    if header("apns-topic").as_deref() != Some(&s.topic) {
        return apns_error(400, "TopicDisallowed");
    }
    if header("apns-push-type").as_deref() != Some("alert") {
        return apns_error(400, "InvalidPushType");
    }
    let collapse = header("apns-collapse-id").unwrap_or_default();
    if collapse.len() > 64 {
        return apns_error(400, "BadCollapseId");
    }
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return apns_error(400, "BadDeviceToken");
    }
    if body.len() > 4096 {
        return apns_error(413, "PayloadTooLarge");
    }
    if s.inbox.is_gone(&token) {
        return (
            StatusCode::GONE,
            Json(json!({ "reason": "Unregistered", "timestamp": chrono::Utc::now().timestamp_millis() })),
        )
            .into_response();
    }
    if let Some(f) = s.inbox.next_failure().await {
        return f.answer(apns_error(f.status, if f.status == 429 { "TooManyRequests" } else { "ServiceUnavailable" }));
    }
    let Ok(payload) = serde_json::from_slice::<Value>(&body) else {
        return apns_error(400, "PayloadEmpty");
    };
    let mut flat = payload.clone();
    flat["title"] = payload["aps"]["alert"]["title"].clone();
    flat["body"] = payload["aps"]["alert"]["body"].clone();
    let Some(message) = message_of(&flat) else {
        return apns_error(400, "BadPayload");
    };
    s.inbox.record(Delivery { device: token, collapse, message, at: Instant::now() });
    let mut res = StatusCode::OK.into_response();
    res.headers_mut().insert("apns-id", format!("{:032x}", rand::random::<u128>()).parse().unwrap());
    res
}

// ---- Web Push ----

/// A push service on loopback (plain HTTP: the server runs with `--webpush-allow-http`), holding subscriptions
/// whose private keys it knows, so it can check and decrypt what it is sent.
pub struct WebPushReceiver {
    pub addr: SocketAddr,
    state: Arc<WebPushState>,
    _serving: Serving,
}

struct WebPushState {
    inbox: Inbox,
    /// The operator's VAPID public key (base64url), the only one accepted.
    vapid_public: String,
    subscriptions: Mutex<Vec<(String, p256::SecretKey, [u8; 16])>>,
}

/// A new subscription, as a browser's `PushSubscription.toJSON()` would give it.
pub struct Subscription {
    pub id: String,
    pub json: Value,
}

impl WebPushReceiver {
    /// Starts the receiver and writes a VAPID key for the server into `dir`; returns the key's path.
    pub async fn start(dir: &Path) -> Result<(WebPushReceiver, PathBuf)> {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        use p256::pkcs8::EncodePrivateKey as _;
        let vapid = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let path = dir.join("vapid.pem");
        std::fs::write(&path, vapid.to_pkcs8_pem(p256::pkcs8::LineEnding::LF)?.as_bytes())?;
        let vapid_public = URL_SAFE_NO_PAD.encode(vapid.public_key().to_encoded_point(false).as_bytes());
        let state = Arc::new(WebPushState { inbox: Inbox::default(), vapid_public, subscriptions: Mutex::default() });
        let router = Router::new().route("/push/{id}", post(webpush_receive)).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        Ok((WebPushReceiver { addr, state, _serving: serve(listener, router) }, path))
    }

    /// A new subscription on this service.
    pub fn subscribe(&self) -> Subscription {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let auth: [u8; 16] = rand::random();
        let id = format!("{:016x}", rand::random::<u64>());
        let json = json!({
            "endpoint": format!("http://{}/push/{id}", self.addr),
            "keys": {
                "p256dh": URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes()),
                "auth": URL_SAFE_NO_PAD.encode(auth),
            },
        });
        self.state.subscriptions.lock().unwrap().push((id.clone(), secret, auth));
        Subscription { id, json }
    }
}

impl Standin for WebPushReceiver {
    fn inbox(&self) -> &Inbox {
        &self.state.inbox
    }
}

#[derive(Deserialize)]
struct VapidClaims {
    sub: String,
}

fn status(code: u16, text: &str) -> Response {
    (StatusCode::from_u16(code).unwrap(), text.to_owned()).into_response()
}

async fn webpush_receive(
    State(s): State<Arc<WebPushState>>,
    UrlPath(id): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    use p256::pkcs8::EncodePublicKey as _;
    s.inbox.tried();
    let header = |name: &str| headers.get(name).and_then(|h| h.to_str().ok()).map(str::to_owned);
    // RFC 8292: `Authorization: vapid t=<JWT>, k=<public key>`.
    let Some(auth) = header("authorization").and_then(|a| a.strip_prefix("vapid ").map(str::to_owned)) else {
        return status(401, "VAPID authorization required");
    };
    let part = |name: &str| auth.split(',').map(str::trim).find_map(|p| p.strip_prefix(name).map(str::to_owned));
    let (Some(t), Some(k)) = (part("t="), part("k=")) else {
        return status(401, "malformed VAPID authorization");
    };
    if k != s.vapid_public {
        return status(403, "not the application server key of this subscription");
    }
    let key = URL_SAFE_NO_PAD
        .decode(&k)
        .ok()
        .and_then(|b| p256::PublicKey::from_sec1_bytes(&b).ok())
        .and_then(|p| p.to_public_key_pem(p256::pkcs8::LineEnding::LF).ok())
        .and_then(|pem| DecodingKey::from_ec_pem(pem.as_bytes()).ok());
    let Some(key) = key else {
        return status(401, "the VAPID key is not a P-256 public key");
    };
    let Some(host) = header("host") else {
        return status(400, "no Host");
    };
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[format!("http://{host}")]);
    v.set_required_spec_claims(&["exp", "aud", "sub"]);
    let claims = match jsonwebtoken::decode::<VapidClaims>(&t, &key, &v) {
        Ok(d) => d.claims,
        Err(e) => return status(403, &format!("VAPID JWT refused: {e}")),
    };
    if !(claims.sub.starts_with("mailto:") || claims.sub.starts_with("https://")) {
        return status(403, "VAPID sub must be a mailto: or https: contact");
    }
    if header("content-encoding").as_deref() != Some("aes128gcm") {
        return status(415, "Content-Encoding must be aes128gcm");
    }
    if header("ttl").and_then(|t| t.parse::<u64>().ok()).is_none() {
        return status(400, "TTL required");
    }
    let topic = header("topic").unwrap_or_default();
    if topic.len() > 32 || !topic.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return status(400, "Topic must be at most 32 base64url characters");
    }
    if body.len() > 4096 {
        return status(413, "payload too large");
    }
    if s.inbox.is_gone(&id) {
        return status(410, "subscription expired");
    }
    let Some((secret, auth)) =
        s.subscriptions.lock().unwrap().iter().find(|(sid, ..)| *sid == id).map(|(_, k, a)| (k.clone(), *a))
    else {
        return status(404, "no such subscription");
    };
    if let Some(f) = s.inbox.next_failure().await {
        return f.answer(status(f.status, "push service unavailable"));
    }
    let plain = match web_push_native::decrypt(body.to_vec(), &secret, web_push_native::Auth::from_slice(&auth)) {
        Ok(p) => p,
        Err(e) => return status(400, &format!("cannot decrypt: {e}")),
    };
    let Ok(message) = serde_json::from_slice::<PushMessage>(&plain) else {
        return status(400, "not a Live Orders push");
    };
    s.inbox.record(Delivery { device: id, collapse: topic, message, at: Instant::now() });
    StatusCode::CREATED.into_response()
}

/// Registers a device with the server as the app does: `POST /api/devices` with the customer's token.
pub async fn register_device(http: &reqwest::Client, api: &str, token: &str, body: &Value) -> Result<(u16, String)> {
    let res = http.post(format!("{api}/devices")).bearer_auth(token).json(body).send().await?;
    let code = res.status().as_u16();
    let v: Value = res.json().await.context("a JSON answer")?;
    let id = v["id"].as_str().map(str::to_owned).with_context(|| format!("{code}: {v}"))?;
    Ok((code, id))
}

//! The one context struct every handler shares: the store, the token keys, the limits and the counters.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use order_protocol::User;
use serde_json::{json, Value};

use crate::auth::Keys;
use crate::limits::{Backoff, ConnectionCounts, KeyedRate};
use crate::store::Store;
use crate::ServerConfig;

/// Counters shown by `/metrics` (on its own listener) and in the periodic tracing line.
#[derive(Debug, Default)]
pub struct Metrics {
    pub connected_sockets: AtomicI64,
    /// Broadcasts (one event to its rooms) done by the dispatcher.
    pub emitted_events: AtomicU64,
    /// The last `seq` the dispatcher emitted.
    pub dispatched_seq: AtomicU64,
    /// Sockets disconnected because their session ended (logout, revocation, expiry, role change).
    pub sessions_cut: AtomicU64,
    /// Sockets disconnected because they did not read their events (their buffer was full).
    pub slow_consumers_cut: AtomicU64,
    /// What each limit refused.
    pub refused_login_rate: AtomicU64,
    pub refused_login_backoff: AtomicU64,
    pub refused_login_busy: AtomicU64,
    pub refused_orders_rate: AtomicU64,
    pub refused_sockets_per_addr: AtomicU64,
    pub refused_sockets_per_user: AtomicU64,
    /// Push, per service (in `PushPlatform::ALL` order), and where the push tailer stands.
    pub push: [crate::push::PushCounters; 3],
    pub push_cursor: AtomicU64,
}

impl Metrics {
    pub fn get(&self) -> (i64, u64, u64) {
        (
            self.connected_sockets.load(Ordering::Relaxed),
            self.emitted_events.load(Ordering::Relaxed),
            self.dispatched_seq.load(Ordering::Relaxed),
        )
    }

    /// The push counters of one service.
    pub fn push(&self, platform: order_protocol::PushPlatform) -> &crate::push::PushCounters {
        let i = order_protocol::PushPlatform::ALL.iter().position(|p| *p == platform).expect("every platform");
        &self.push[i]
    }

    /// Every counter, as `/metrics` shows it.
    pub fn snapshot(&self) -> Value {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "connectedSockets": self.connected_sockets.load(Ordering::Relaxed),
            "emittedEvents": n(&self.emitted_events),
            "dispatchedSeq": n(&self.dispatched_seq),
            "sessionsCut": n(&self.sessions_cut),
            "slowConsumersCut": n(&self.slow_consumers_cut),
            "refused": {
                "loginRate": n(&self.refused_login_rate),
                "loginBackoff": n(&self.refused_login_backoff),
                "loginBusy": n(&self.refused_login_busy),
                "ordersRate": n(&self.refused_orders_rate),
                "socketsPerAddr": n(&self.refused_sockets_per_addr),
                "socketsPerUser": n(&self.refused_sockets_per_user),
            },
            "push": self.push_snapshot(),
        })
    }

    /// `{cursor, fcm: {sent, …}, apns: …, webpush: …}`.
    fn push_snapshot(&self) -> Value {
        let mut push = serde_json::Map::new();
        push.insert("cursor".into(), self.push_cursor.load(Ordering::Relaxed).into());
        for p in order_protocol::PushPlatform::ALL {
            push.insert(p.as_str().into(), self.push(p).snapshot());
        }
        Value::Object(push)
    }
}

/// Socket.IO event limits, copied from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct SocketLimits {
    pub events_per_second: u32,
    pub burst: u32,
    pub per_addr: u32,
    pub per_user: u32,
}

/// How long tokens and sign-ins last, in seconds.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    pub token_ttl: i64,
    pub lifetime: i64,
    pub grace: i64,
}

/// Shared state; cheap to clone (one `Arc`): axum and socketioxide clone it for every request and event, and
/// a clone of the fields themselves would copy the JWT keys (two heap buffers holding the secret) each time.
#[derive(Clone)]
pub struct AppCtx(Arc<Shared>);

impl std::ops::Deref for AppCtx {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppCtx`] shares.
pub struct Shared {
    pub store: Store,
    pub keys: Keys,
    pub metrics: Metrics,
    pub sessions: SessionPolicy,
    /// Login attempts per client address.
    pub login_by_addr: KeyedRate<IpAddr>,
    /// Failed logins per (account, client address).
    pub login_failures: Backoff,
    /// Password hashes being computed at once.
    pub hashing: tokio::sync::Semaphore,
    /// Orders placed per customer.
    pub orders_by_customer: KeyedRate<String>,
    pub socket_limits: SocketLimits,
    /// Connected sockets per client address.
    pub sockets_by_addr: ConnectionCounts,
    /// Each socket's deadline: when its token expires.
    pub expiries: crate::sessions::Expiries,
    pub max_body_bytes: usize,
    /// The push services configured: devices of other platforms are refused.
    pub push_platforms: Vec<order_protocol::PushPlatform>,
    pub webpush_allow_http: bool,
}

impl AppCtx {
    pub fn new(store: Store, keys: Keys, config: &ServerConfig) -> Self {
        let secs = |d: Duration| d.as_secs() as i64;
        AppCtx(Arc::new(Shared {
            store,
            keys,
            metrics: Metrics::default(),
            sessions: SessionPolicy {
                token_ttl: secs(config.token_ttl).max(1),
                lifetime: secs(config.session_lifetime).max(1),
                grace: secs(config.refresh_grace),
            },
            login_by_addr: KeyedRate::per_minute(config.login_attempts_per_minute),
            login_failures: Backoff::new(config.login_failures_free, config.login_backoff_max),
            hashing: tokio::sync::Semaphore::new(config.concurrent_hashes.max(1)),
            orders_by_customer: KeyedRate::per_minute(config.orders_per_minute),
            socket_limits: SocketLimits {
                events_per_second: config.socket_events_per_second,
                burst: config.socket_event_burst,
                per_addr: config.sockets_per_addr,
                per_user: config.sockets_per_user,
            },
            sockets_by_addr: ConnectionCounts::default(),
            expiries: Default::default(),
            max_body_bytes: config.max_body_bytes,
            push_platforms: config.push.platforms(),
            webpush_allow_http: config.push.webpush_allow_http,
        }))
    }

    /// Signs `user` in: a new sign-in (token family) and its first token.
    pub async fn sign_in(&self, user: &User) -> Result<String, crate::store::StoreError> {
        let claims = self.store.start_session(user, self.sessions.token_ttl, self.sessions.lifetime).await?;
        Ok(self.keys.sign(&claims))
    }
}

//! The one context struct every handler shares: the store, the token keys, the limiters and the counters.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::auth::Keys;
use crate::limits::WindowLimiter;
use crate::store::Store;
use crate::ServerConfig;

/// Counters shown by `GET /api/metrics` and in the periodic tracing line.
#[derive(Debug, Default)]
pub struct Metrics {
    pub connected_sockets: AtomicI64,
    /// Broadcasts (one event to its rooms) done by the dispatcher.
    pub emitted_events: AtomicU64,
    /// The last `seq` the dispatcher emitted.
    pub dispatched_seq: AtomicU64,
}

impl Metrics {
    pub fn get(&self) -> (i64, u64, u64) {
        (
            self.connected_sockets.load(Ordering::Relaxed),
            self.emitted_events.load(Ordering::Relaxed),
            self.dispatched_seq.load(Ordering::Relaxed),
        )
    }
}

/// Socket.IO event limits, copied from the configuration.
#[derive(Clone, Copy, Debug)]
pub struct SocketLimits {
    pub events_per_second: u32,
    pub burst: u32,
}

/// Shared state; cheap to clone (one `Arc`): axum and socketioxide clone it for every request and event, and
/// a clone of the fields themselves copied the JWT keys (two heap buffers holding the secret) each time.
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
    /// Login attempts per client address.
    pub login_by_addr: WindowLimiter,
    /// Failed logins per account.
    pub login_failures: WindowLimiter,
    pub socket_limits: SocketLimits,
    pub max_body_bytes: usize,
}

impl AppCtx {
    pub fn new(store: Store, keys: Keys, config: &ServerConfig) -> Self {
        AppCtx(Arc::new(Shared {
            store,
            keys,
            metrics: Metrics::default(),
            login_by_addr: WindowLimiter::new(config.login_attempts_per_minute, Duration::from_secs(60)),
            login_failures: WindowLimiter::new(config.login_failures_per_account, config.login_failure_window),
            socket_limits: SocketLimits {
                events_per_second: config.socket_events_per_second,
                burst: config.socket_event_burst,
            },
            max_body_bytes: config.max_body_bytes,
        }))
    }
}

//! `order-server`: the reference order backend of Live Orders (docs/CONTRACT.md, base contract and every
//! extension), built on axum (REST), socketioxide (Socket.IO v4) and SQLite or PostgreSQL (sqlx).
//!
//! How a change travels: a REST handler (or the CLI, or the simulator) calls the [`store::Store`], which writes
//! the order, a change-log row and the change's events in one transaction; the [`dispatcher`] tails the log and
//! emits those events to their rooms. Because the log is the only source of events, a change written by any
//! process on the same file is emitted, nothing uncommitted is ever emitted, and `GET /api/orders/changes`
//! replays exactly what was sent.
//!
//! Terminology: a *change* is one committed mutation of one order, numbered by `seq`; an *event* is one
//! Socket.IO message a change emits (several per change, in CONTRACT.md's order); the *audience* of an event
//! is the set of rooms it goes to.

pub mod auth;
pub mod cli;
pub mod context;
pub mod demo;
pub mod dispatcher;
pub mod events;
pub mod http;
pub mod leases;
pub mod limits;
pub mod push;
pub mod realtime;
pub mod seed;
pub mod sessions;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use context::AppCtx;

/// Everything a server needs to run. Build it with [`ServerConfig::new`] or [`ServerConfig::for_tests`] and
/// change the fields you care about.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub db: store::DbLocation,
    /// The JWT signing secret; `None` loads or creates `<database file>.jwt-secret` beside a SQLite database
    /// (PostgreSQL's instances must be given the one they share).
    pub jwt_secret: Option<Vec<u8>>,
    /// Create the demo users and orders if absent.
    pub seed: bool,
    /// Seed, and run the simulator that moves orders along.
    pub demo: bool,
    /// How often the simulator acts.
    pub demo_interval: Duration,
    /// Lifetime of an issued token (a refresh issues the next).
    pub token_ttl: Duration,
    /// Absolute lifetime of a sign-in: no refresh reaches past it.
    pub session_lifetime: Duration,
    /// How long a token replaced by a refresh stays accepted, for requests already under way.
    pub refresh_grace: Duration,
    /// Where `/metrics` is served (never on the public address); `None`: nowhere.
    pub metrics_addr: Option<SocketAddr>,
    /// How long changes stay replayable by `changes?since=`.
    pub change_retention: Duration,
    /// How often the dispatcher looks for changes written by other processes.
    pub poll_interval: Duration,
    /// Allowed CORS origins; `scheme://host:*` allows any port, `*` allows every origin.
    pub cors_origins: Vec<String>,
    /// Load balancers whose `X-Forwarded-For` names the client (`http/forwarded.rs`).
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Login attempts per client address per minute.
    pub login_attempts_per_minute: u32,
    /// Failed logins of one account from one address before each further try waits (doubling from 1 s, at
    /// most `login_backoff_max`). Another address is not held back, so nobody can lock a customer out.
    pub login_failures_free: u32,
    pub login_backoff_max: Duration,
    /// Password hashes computed at once (argon2 takes 19 MiB each); more logins wait, then get a 429.
    pub concurrent_hashes: usize,
    /// Orders one customer may place per minute.
    pub orders_per_minute: u32,
    /// Socket.IO connections at once per client address and per user.
    pub sockets_per_addr: u32,
    pub sockets_per_user: u32,
    /// How long a new connection may take to authenticate (the Socket.IO CONNECT).
    pub handshake_timeout: Duration,
    /// Largest accepted REST request body.
    pub max_body_bytes: usize,
    /// Largest accepted Socket.IO (engine.io) payload.
    pub max_socket_payload: u64,
    /// Events queued for one socket at most; a socket that lets it fill (it does not read) is cut.
    pub socket_buffer: usize,
    /// Incoming Socket.IO events per second per socket, and the burst allowed above it.
    pub socket_events_per_second: u32,
    pub socket_event_burst: u32,
    pub ping_interval: Duration,
    pub ping_timeout: Duration,
    /// Push to devices without a live socket; off unless a service is configured.
    pub push: push::PushConfig,
}

impl ServerConfig {
    /// Defaults for a real server on `addr` with its data at `db`.
    pub fn new(addr: SocketAddr, db: store::DbLocation) -> Self {
        ServerConfig {
            addr,
            db,
            jwt_secret: None,
            seed: false,
            demo: false,
            demo_interval: Duration::from_secs(4),
            token_ttl: Duration::from_secs(12 * 3600),
            session_lifetime: Duration::from_secs(30 * 24 * 3600),
            refresh_grace: Duration::from_secs(10),
            metrics_addr: None,
            change_retention: Duration::from_secs(7 * 24 * 3600),
            poll_interval: Duration::from_millis(75),
            cors_origins: default_cors_origins(),
            trusted_proxies: Vec::new(),
            login_attempts_per_minute: 30,
            login_failures_free: 5,
            login_backoff_max: Duration::from_secs(300),
            concurrent_hashes: std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8),
            orders_per_minute: 20,
            sockets_per_addr: 200,
            sockets_per_user: 20,
            handshake_timeout: Duration::from_secs(10),
            max_body_bytes: 64 * 1024,
            max_socket_payload: 16 * 1024,
            socket_buffer: 1024,
            socket_events_per_second: 10,
            socket_event_burst: 30,
            ping_interval: Duration::from_secs(25),
            ping_timeout: Duration::from_secs(20),
            push: push::PushConfig { concurrency: push::DEFAULT_CONCURRENCY, ..Default::default() },
        }
    }

    /// 127.0.0.1 on a free port (and metrics on another), seeded, no simulator. The secret is generated beside the database as a real
    /// server's is, so a restart on the same file keeps tokens valid, and is in `jwt_secret` for tests to sign
    /// tokens with.
    pub fn for_tests(db_path: PathBuf) -> Self {
        let secret = auth::load_or_create_secret(None, &db_path).expect("a JWT secret beside the test database");
        ServerConfig::for_tests_on(store::DbLocation::Sqlite(db_path), secret)
    }

    /// [`ServerConfig::for_tests`] on any database, with the secret its instances share.
    pub fn for_tests_on(db: store::DbLocation, secret: Vec<u8>) -> Self {
        ServerConfig {
            jwt_secret: Some(secret),
            seed: true,
            metrics_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..ServerConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)), db)
        }
    }
}

/// The app's own origins and localhost on any port.
pub fn default_cors_origins() -> Vec<String> {
    [
        "tauri://localhost",
        "http://tauri.localhost",
        "https://tauri.localhost",
        "http://localhost:*",
        "http://127.0.0.1:*",
    ]
    .map(String::from)
    .to_vec()
}

/// The default database file: `<data dir>/live-orders/server/orders.db`.
pub fn default_db_path() -> PathBuf {
    dirs::data_dir().unwrap_or_else(|| PathBuf::from(".")).join("live-orders").join("server").join("orders.db")
}

/// A server running in this process; [`RunningServer::shutdown`] stops it.
pub struct RunningServer {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    ctx: AppCtx,
    io: socketioxide::SocketIo,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    server: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where `/metrics` is served, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// `http://127.0.0.1:PORT/api`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// The server's shared state (store, keys, metrics), for tests and benchmarks in this process.
    pub fn ctx(&self) -> &AppCtx {
        &self.ctx
    }

    /// Disconnects every socket, stops the background tasks and the listener, and closes the database.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.io.close().await;
        for t in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
        }
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(5), &mut server).await.is_err() {
            server.abort();
        }
        self.ctx.store.close().await;
    }
}

/// Opens the database, seeds it if asked, binds the address and serves REST + Socket.IO until shutdown.
pub async fn spawn(config: ServerConfig) -> anyhow::Result<RunningServer> {
    let secret = match (&config.jwt_secret, &config.db) {
        (Some(s), _) => s.clone(),
        (None, store::DbLocation::Sqlite(path)) => auth::load_or_create_secret(None, path)?,
        (None, store::DbLocation::Postgres(_)) => {
            anyhow::bail!("order-server on PostgreSQL needs the JWT secret its instances share")
        }
    };
    let store =
        store::Store::open(&config.db).await.with_context(|| format!("cannot open the database {}", config.db))?;
    if config.seed || config.demo {
        // Instances starting together on one database seed one after the other (the later find it done).
        leases::one_at_a_time(&store, "seed", seed::seed(&store)).await.context("cannot seed the database")?;
    }
    let ctx = AppCtx::new(store, auth::Keys::new(&secret), &config);
    let (sio_layer, io) = realtime::layer(ctx.clone(), &config);
    let app =
        http::app(ctx.clone()).layer(sio_layer).layer(axum::middleware::map_request(realtime::detach_request_head));
    let app = http::with_outer_layers(app, &config);

    let (stop, stopped) = watch::channel(false);
    // First, as it reads the configured key files: a bad one stops the start with its reason.
    let push = push::Push::new(&config.push)?;
    let mut tasks = Vec::new();
    let listener = match tokio::net::TcpListener::bind(config.addr).await {
        Ok(l) => l,
        Err(e) => {
            let _ = stop.send(true);
            return Err(e).with_context(|| format!("cannot listen on {}", config.addr));
        }
    };
    let addr = listener.local_addr()?;

    // The dispatcher starts from the log's end as of now: whatever is committed after this line is emitted.
    let start_seq = ctx.store.latest_seq().await?;
    let dispatch = dispatcher::run(ctx.clone(), io.clone(), start_seq, config.poll_interval, stopped.clone());
    tasks.push(tokio::spawn(dispatch));
    let first_end = ctx.store.last_session_end().await?;
    tasks.push(tokio::spawn(sessions::run(ctx.clone(), io.clone(), first_end, stopped.clone())));
    let mut metrics_addr = None;
    if let Some(wanted) = config.metrics_addr {
        let listener = tokio::net::TcpListener::bind(wanted)
            .await
            .with_context(|| format!("cannot listen on {wanted} for metrics"))?;
        metrics_addr = Some(listener.local_addr()?);
        let mut stop = stopped.clone();
        let metrics = http::metrics_app(ctx.clone());
        tasks.push(tokio::spawn(async move {
            let _ = axum::serve(listener, metrics)
                .with_graceful_shutdown(async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
        }));
    }
    tasks.push(tokio::spawn(dispatcher::stats(ctx.clone(), stopped.clone())));
    // Each of these runs on one instance of several (always here on SQLite).
    if push.is_on() {
        let (ctx, io, poll) = (ctx.clone(), io.clone(), config.poll_interval);
        tasks.push(tokio::spawn(leases::run_leased(ctx.store.clone(), "push", stopped.clone(), move |stop| {
            push.spawn(&ctx, &io, poll, stop)
        })));
    }
    let (retention_ctx, keep) = (ctx.clone(), config.change_retention);
    tasks.push(tokio::spawn(leases::run_leased(ctx.store.clone(), "retention", stopped.clone(), move |stop| {
        vec![tokio::spawn(dispatcher::retention(retention_ctx.clone(), keep, stop))]
    })));
    if config.demo {
        let (store, every) = (ctx.store.clone(), config.demo_interval);
        tasks.push(tokio::spawn(leases::run_leased(ctx.store.clone(), "demo", stopped.clone(), move |stop| {
            vec![tokio::spawn(demo::run(store.clone(), every, stop))]
        })));
    }
    let mut shutdown = stopped;
    let server = tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await
    });
    tracing::info!(%addr, "order-server listening");
    Ok(RunningServer { addr, metrics_addr, ctx, io, stop, tasks, server })
}

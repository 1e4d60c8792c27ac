//! The engine: one task that owns the [`OrderBook`], the live link and the cache, and a cheap [`Engine`] handle.
//!
//! Everything that happens (a socket callback, a REST reply, a timer, a command from the shell) becomes one
//! message of a closed enum consumed by a single loop, so there is no shared mutable state and no lock. The
//! loop owns reconnection (rust_socketio's is off): a backoff like socket.io-client's, a heartbeat that
//! notices a silent cut within seconds, a catch-up after every connect before the link is called `Live`, and a
//! generation number on every link so a torn-down connection's late callbacks change nothing. Slow work (REST
//! calls, socket emits, closing a dead link) runs in spawned tasks that report back as messages, so the loop
//! never waits on the network and a snapshot or command is answered at once.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use order_protocol::{LinkState, LogoutReason, Patch, Source, User, ViewState, AUTH_ERROR_PREFIX};
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;
use tracing::Instrument;

use crate::api::{Api, ApiError, Changes};
use crate::backoff::{outage_state, Backoff};
use crate::book::{Effect, Input, Notify, OrderBook};
use crate::cache::{Cache, Loaded};
use crate::link::{LinkEvent, LiveLink, Tagged};
use crate::token::{Token, TokenStore};

/// How the engine runs. [`EngineConfig::new`] has the production timings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The backend, with or without `/api`.
    pub api_url: String,
    /// Where the cache lives; `None`: no cache.
    pub data_dir: Option<PathBuf>,
    /// How often a heartbeat is sent while connected.
    pub heartbeat_every: Duration,
    /// A server that acks heartbeats and stays silent this long is taken as gone.
    pub heartbeat_timeout: Duration,
    /// The longest a connection attempt may take, up to the server's CONNECT reply.
    pub connect_timeout: Duration,
    /// With the extension, refresh the token when it expires within this.
    pub refresh_before: Duration,
    /// Talk plain `http://` to another machine (the user allowed it, warned); see [`Api::allowing_cleartext`].
    pub allow_cleartext: bool,
}

impl EngineConfig {
    pub fn new(api_url: impl Into<String>) -> EngineConfig {
        EngineConfig {
            api_url: api_url.into(),
            data_dir: None,
            heartbeat_every: Duration::from_secs(2),
            heartbeat_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(8),
            refresh_before: Duration::from_secs(15 * 60),
            allow_cleartext: false,
        }
    }

    pub fn with_data_dir(mut self, dir: impl Into<PathBuf>) -> EngineConfig {
        self.data_dir = Some(dir.into());
        self
    }
}

/// What the engine tells the shell.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientEvent {
    /// A change to the view state, for the UI. `seq` is the change-log number that caused it, if any.
    Update { patch: Patch, seq: Option<u64> },
    /// Show a native notification (the shell decides whether the window is visible enough to skip it).
    Notify(Notify),
    /// Something from the backend was skipped, or a side job failed; worth a log line, not a dialog.
    Warning(String),
    /// A session began (a login, another token, or the one kept in the store at start): who it belongs to,
    /// as far as the token or the login reply tell. Its end shows as the link turning `LoggedOut` with the reason.
    SessionStarted { user_id: String, email: Option<String>, name: Option<String> },
}

/// Why a command could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    TokenStore(#[from] crate::token::TokenStoreError),
    #[error("the engine has stopped")]
    Stopped,
}

enum Command {
    Session { token: Token, user: Option<User> },
    Watch(String),
    Unwatch(String),
    MarkRead(String),
    MarkAllRead,
    Logout(oneshot::Sender<()>),
    RetryNow,
    Snapshot(oneshot::Sender<ViewState>),
    Resync,
    Shutdown(oneshot::Sender<()>),
}

/// The result of a catch-up task.
struct CatchUp {
    inputs: Vec<Input>,
    extensions: bool,
    new_token: Option<Token>,
}

enum Msg {
    Cmd(Command),
    Link(Tagged),
    Opened { gen: u64, result: Result<LiveLink, String> },
    CaughtUp { gen: u64, result: Result<CatchUp, ApiError> },
    EmitFailed { gen: u64, reason: String },
    Refreshed(Result<Token, ApiError>),
}

/// The shell's handle on the engine. Cheap to clone; every method returns at once.
#[derive(Clone)]
pub struct Engine {
    tx: mpsc::UnboundedSender<Msg>,
    api: Api,
    store: Arc<dyn TokenStore>,
}

impl Engine {
    /// Starts the engine on the current tokio runtime (it panics outside one; see [`Engine::start_on`]).
    pub fn start(config: EngineConfig, store: Arc<dyn TokenStore>) -> (Engine, mpsc::UnboundedReceiver<ClientEvent>) {
        Self::start_on(&tokio::runtime::Handle::current(), config, store)
    }

    /// Starts the engine on the runtime `rt`, from any thread, inside that runtime or not; it never blocks.
    /// With a token in `store` it shows the cached state and connects at once; without one the link is
    /// `LoggedOut` until [`Engine::login`].
    pub fn start_on(
        rt: &tokio::runtime::Handle,
        config: EngineConfig,
        store: Arc<dyn TokenStore>,
    ) -> (Engine, mpsc::UnboundedReceiver<ClientEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (link_tx, link_rx) = mpsc::unbounded_channel();
        let api = Api::new(&config.api_url).allowing_cleartext(config.allow_cleartext);
        let runner = Runner {
            cache: config.data_dir.as_ref().map(Cache::new),
            config,
            api: api.clone(),
            store: store.clone(),
            book: OrderBook::new(),
            events: events_tx,
            tx: tx.clone(),
            link_tx,
            token: None,
            user_id: String::new(),
            gen: 0,
            phase: Phase::LoggedOut,
            backoff: Backoff::new(),
            outage_since: None,
            last_reason: String::new(),
            extensions: None,
            server_acks: false,
            dirty: false,
            flush_at: None,
            refresh_not_before: Instant::now(),
        };
        rt.spawn(runner.run(rx, link_rx));
        (Engine { tx, api, store }, events_rx)
    }

    /// The REST client of this engine's backend (for the shell's own one-off calls).
    pub fn api(&self) -> &Api {
        &self.api
    }

    fn send(&self, c: Command) -> Result<(), EngineError> {
        self.tx.send(Msg::Cmd(c)).map_err(|_| EngineError::Stopped)
    }

    /// Logs in, keeps the token in the store, and (re)starts the link. A refusal is `ApiError::Unauthorized`.
    pub async fn login(&self, email: &str, password: &str) -> Result<User, EngineError> {
        let (token, user) = self.api.login(email, password).await?;
        self.use_token(token, Some(user.clone()))?;
        Ok(user)
    }

    /// Starts a session with a token obtained elsewhere (kept in the store too): a sign-in made before this
    /// engine existed ([`Api::login`] on a server not switched to yet), or a token from a test. `user` is who
    /// the sign-in said it is, when known.
    pub fn use_token(&self, token: Token, user: Option<User>) -> Result<(), EngineError> {
        self.store.save(&token)?;
        self.send(Command::Session { token, user })
    }

    /// Follows one order's room (its detail page is open).
    pub fn watch(&self, order_id: impl Into<String>) -> Result<(), EngineError> {
        self.send(Command::Watch(order_id.into()))
    }

    pub fn unwatch(&self, order_id: impl Into<String>) -> Result<(), EngineError> {
        self.send(Command::Unwatch(order_id.into()))
    }

    pub fn mark_read(&self, id: impl Into<String>) -> Result<(), EngineError> {
        self.send(Command::MarkRead(id.into()))
    }

    pub fn mark_all_read(&self) -> Result<(), EngineError> {
        self.send(Command::MarkAllRead)
    }

    /// Woke from sleep, or the network changed: try now instead of waiting out the backoff.
    pub fn retry_now(&self) -> Result<(), EngineError> {
        self.send(Command::RetryNow)
    }

    /// Ends the session: revokes the token where the server can, clears the store and wipes the cache.
    pub async fn logout(&self) -> Result<(), EngineError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Logout(tx))?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// The whole current view state.
    pub async fn snapshot(&self) -> Result<ViewState, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Snapshot(tx))?;
        rx.await.map_err(|_| EngineError::Stopped)
    }

    /// Sends the whole state as a `Patch::Reset` through the event channel. A UI that (re)draws from this,
    /// rather than from [`Engine::snapshot`], cannot lose a patch that was in flight when it asked: the reset
    /// and the patches come in one ordered stream.
    pub fn resync(&self) -> Result<(), EngineError> {
        self.send(Command::Resync)
    }

    /// Closes the link and flushes the cache; the engine stops.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.send(Command::Shutdown(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

enum Phase {
    LoggedOut,
    /// Waiting out the backoff.
    Waiting {
        until: Instant,
    },
    /// Opening the transport, then waiting for the server's CONNECT reply.
    Connecting {
        gen: u64,
        link: Option<LiveLink>,
        deadline: Instant,
    },
    /// Connected; the catch-up runs. Events are applied as they come (the reducer dedupes).
    CatchingUp {
        gen: u64,
        link: LiveLink,
    },
    Live {
        gen: u64,
        link: LiveLink,
        next_heartbeat: Instant,
        last_ack: Instant,
    },
}

struct Runner {
    config: EngineConfig,
    api: Api,
    store: Arc<dyn TokenStore>,
    cache: Option<Cache>,
    book: OrderBook,
    events: mpsc::UnboundedSender<ClientEvent>,
    tx: mpsc::UnboundedSender<Msg>,
    link_tx: mpsc::UnboundedSender<Tagged>,
    token: Option<Token>,
    user_id: String,
    gen: u64,
    phase: Phase,
    backoff: Backoff,
    outage_since: Option<Instant>,
    last_reason: String,
    /// Whether the server has the extensions; `None` until a catch-up found out.
    extensions: Option<bool>,
    /// Whether this server ever acked a heartbeat: only then does a missing ack mean a dead path.
    server_acks: bool,
    dirty: bool,
    flush_at: Option<Instant>,
    /// No token refresh before this (one in flight, or the last one failed).
    refresh_not_before: Instant,
}

fn far() -> Instant {
    Instant::now() + Duration::from_secs(3600)
}

impl Runner {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>, mut link_rx: mpsc::UnboundedReceiver<Tagged>) {
        // A keychain read can take a few hundred milliseconds (a D-Bus round trip to the Secret Service on
        // Linux): done here, on a blocking thread, it never holds up the caller (the shell's main thread, which
        // is also creating the window). Commands sent meanwhile wait in `rx`.
        // The HTTP client's TLS set-up blocks for a while too: done on the same thread, before the first request.
        let (store, api) = (self.store.clone(), self.api.clone());
        let token = match tokio::task::spawn_blocking(move || {
            api.prepare();
            store.load()
        })
        .await
        {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                tracing::warn!("could not read the token store: {e}");
                None
            }
            Err(e) => {
                tracing::warn!("reading the token store failed: {e}");
                None
            }
        };
        match token {
            Some(token) => self.start_session(token, None),
            None => self.emit_reset(),
        }
        // Wall clock against monotonic clock: a jump means the machine slept; retry at once on wake.
        let mut wall = SystemTime::now();
        let mut mono = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.next_deadline();
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Cmd(Command::Shutdown(done))) => {
                        self.teardown();
                        self.flush();
                        let _ = done.send(());
                        return;
                    }
                    Some(msg) => self.handle(msg),
                    None => {
                        self.teardown();
                        self.flush();
                        return;
                    }
                },
                Some(t) = link_rx.recv() => self.handle(Msg::Link(t)),
                _ = sleep_until(deadline.into()) => self.on_deadline(),
                _ = tick.tick() => {
                    let wall_elapsed = wall.elapsed().unwrap_or_default();
                    if wall_elapsed > mono.elapsed() + Duration::from_secs(5) {
                        tracing::info!("the clock jumped (sleep?); retrying now");
                        self.retry_now();
                    }
                    wall = SystemTime::now();
                    mono = Instant::now();
                }
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        let phase = match &self.phase {
            Phase::Waiting { until } => *until,
            Phase::Connecting { deadline, .. } => *deadline,
            Phase::Live { next_heartbeat, .. } => *next_heartbeat,
            Phase::LoggedOut | Phase::CatchingUp { .. } => far(),
        };
        let phase = match self.offline_at() {
            Some(t) => phase.min(t),
            None => phase,
        };
        match self.flush_at {
            Some(f) => phase.min(f),
            None => phase,
        }
    }

    /// When a "Reconnecting" outage is to be shown as "Offline": on time, not at the next failed attempt.
    fn offline_at(&self) -> Option<Instant> {
        match self.book.link() {
            LinkState::Connecting { .. } => self.outage_since.map(|t| t + crate::backoff::RECONNECTING_FOR),
            _ => None,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc::now()
    }

    /// Applies an input and executes its effects.
    fn apply(&mut self, input: Input) {
        let _span = tracing::trace_span!("apply").entered();
        for fx in self.book.apply(input) {
            match fx {
                Effect::Ui { patch, seq } => {
                    let _ = self.events.send(ClientEvent::Update { patch, seq });
                }
                Effect::Notify(n) => {
                    tracing::debug!(id = %n.id, "notify");
                    let _ = self.events.send(ClientEvent::Notify(n));
                }
                Effect::Persist => {
                    self.dirty = true;
                    if self.flush_at.is_none() {
                        self.flush_at = Some(Instant::now() + Duration::from_millis(300));
                    }
                }
                Effect::ClearCache => {
                    self.dirty = false;
                    self.flush_at = None;
                    if let Some(c) = &self.cache {
                        c.clear();
                    }
                }
                Effect::SyncRead { id } => {
                    if self.extensions == Some(true) {
                        if let Some(token) = self.token.clone() {
                            let (api, events) = (self.api.clone(), self.events.clone());
                            tokio::spawn(async move {
                                let r = match &id {
                                    Some(id) => api.mark_read(&token, id).await,
                                    None => api.mark_all_read(&token).await,
                                };
                                if let Err(e) = r {
                                    let _ = events.send(ClientEvent::Warning(format!("read state not synced: {e}")));
                                }
                            });
                        }
                    }
                }
                Effect::Warn(w) => {
                    tracing::warn!("{w}");
                    let _ = self.events.send(ClientEvent::Warning(w));
                }
            }
        }
    }

    fn flush(&mut self) {
        self.flush_at = None;
        if !self.dirty {
            return;
        }
        self.dirty = false;
        if let (Some(cache), Some(_)) = (&self.cache, &self.token) {
            if let Err(e) = cache.save(self.api.base_url(), &self.user_id, &self.book.persisted()) {
                tracing::warn!("could not write the cache: {e}");
            }
        }
    }

    fn emit_reset(&self) {
        let _ = self
            .events
            .send(ClientEvent::Update { patch: Patch::Reset { state: Box::new(self.book.view()) }, seq: None });
    }

    fn set_link(&mut self, link: LinkState) {
        self.apply(Input::Link(link));
    }

    fn start_session(&mut self, token: Token, user: Option<User>) {
        self.teardown();
        let claims = token.claims();
        let (user_id, email, name) = match user {
            Some(u) => (u.id, Some(u.email), Some(u.name)),
            None => (
                claims.as_ref().and_then(|c| c.user_id.clone()).unwrap_or_else(|| "unknown".to_owned()),
                claims.and_then(|c| c.email),
                None,
            ),
        };
        let _ = self.events.send(ClientEvent::SessionStarted { user_id: user_id.clone(), email, name });
        if user_id != self.user_id || self.token.is_none() {
            // A new session (or another user): start from this user's cache, or from nothing.
            let watched: Vec<String> = self.book.watched().cloned().collect();
            self.book = match self.cache.as_ref().map(|c| c.load(self.api.base_url(), &user_id)) {
                Some(Loaded::State(p)) => OrderBook::restore(*p),
                _ => OrderBook::new(),
            };
            for w in watched {
                self.book.apply(Input::Watch { order_id: w });
            }
            self.extensions = None;
        }
        self.user_id = user_id;
        self.token = Some(token);
        self.backoff.reset();
        self.outage_since = None;
        self.apply(Input::Link(LinkState::Connecting { attempt: 1, next_retry_at: None, reason: None }));
        self.emit_reset();
        self.connect();
    }

    /// Starts one connection attempt.
    fn connect(&mut self) {
        let Some(token) = self.token.clone() else { return };
        // The socket's handshake carries the token: never in clear to another machine, unless allowed.
        if let Err(e) = self.api.check_transport() {
            self.link_down(e.to_string());
            return;
        }
        self.gen += 1;
        let gen = self.gen;
        let (origin, link_tx, tx, timeout) =
            (self.api.origin().to_owned(), self.link_tx.clone(), self.tx.clone(), self.config.connect_timeout);
        tracing::debug!(gen, "connecting");
        tokio::spawn(
            async move {
                let result = LiveLink::open(&origin, &token, gen, link_tx, timeout).await;
                if let Err(e) = &result {
                    tracing::debug!("failed: {e}");
                }
                let _ = tx.send(Msg::Opened { gen, result });
            }
            .instrument(tracing::info_span!("connect", gen)),
        );
        self.phase = Phase::Connecting { gen, link: None, deadline: Instant::now() + timeout };
    }

    fn current_gen(&self) -> Option<u64> {
        match &self.phase {
            Phase::Connecting { gen, .. } | Phase::CatchingUp { gen, .. } | Phase::Live { gen, .. } => Some(*gen),
            _ => None,
        }
    }

    /// Closes the current link, if any, in the background.
    fn teardown(&mut self) {
        let phase = std::mem::replace(&mut self.phase, Phase::LoggedOut);
        let link = match phase {
            Phase::Connecting { link, .. } => link,
            Phase::CatchingUp { link, .. } | Phase::Live { link, .. } => Some(link),
            _ => None,
        };
        if let Some(link) = link {
            tokio::spawn(link.close());
        }
    }

    /// The link failed or dropped: schedule the next attempt.
    fn link_down(&mut self, reason: String) {
        if self.token.is_none() {
            return;
        }
        tracing::info!(reason = %reason, "link down");
        self.teardown();
        let delay = self.backoff.next_delay();
        let now = Instant::now();
        let since = *self.outage_since.get_or_insert(now);
        self.last_reason = reason;
        let next_retry_at = Self::now() + chrono::Duration::from_std(delay).unwrap_or_default();
        self.phase = Phase::Waiting { until: now + delay };
        let state = outage_state(self.backoff.attempts() + 1, now - since, &self.last_reason, Some(next_retry_at));
        self.set_link(state);
    }

    /// The server refused the session (`message`, its words): it ends here, and the view says why.
    fn logged_out(&mut self, message: &str) {
        tracing::info!(message, "session refused; logged out");
        let exp = self.token.as_ref().and_then(|t| t.claims()).and_then(|c| c.exp);
        let reason = why_refused(exp, Utc::now().timestamp(), message);
        self.end_session(reason);
        let _ = self.events.send(ClientEvent::Warning(format!("logged out: {message}")));
    }

    /// The one way a session ends: the link closed, the token forgotten and out of the store, the view told why.
    fn end_session(&mut self, reason: LogoutReason) {
        self.teardown();
        self.token = None;
        if let Err(e) = self.store.clear() {
            tracing::warn!("could not clear the token store: {e}");
        }
        self.set_link(LinkState::LoggedOut { reason: Some(reason) });
    }

    fn retry_now(&mut self) {
        if let Phase::Waiting { .. } = self.phase {
            self.connect();
        }
    }

    /// With the extension, a session in use is kept: the token is refreshed before it expires, so the user is not
    /// asked for the password again. (Without it, an expired token means a new login.)
    fn maybe_refresh(&mut self) {
        let now = Instant::now();
        if self.extensions != Some(true) || now < self.refresh_not_before {
            return;
        }
        let Some(token) = self.token.clone() else { return };
        let Some(exp) = token.claims().and_then(|c| c.exp) else { return };
        if exp - Utc::now().timestamp() > self.config.refresh_before.as_secs() as i64 {
            return;
        }
        self.refresh_not_before = now + Duration::from_secs(60);
        let (api, tx) = (self.api.clone(), self.tx.clone());
        tokio::spawn(async move {
            let _ = tx.send(Msg::Refreshed(api.refresh(&token).await));
        });
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        if self.offline_at().is_some_and(|t| t <= now) {
            if let LinkState::Connecting { attempt, next_retry_at, .. } = self.book.link().clone() {
                self.set_link(LinkState::Offline { reason: self.last_reason.clone(), attempt, next_retry_at });
            }
        }
        if matches!(self.phase, Phase::Live { .. }) {
            self.maybe_refresh();
        }
        if self.flush_at.is_some_and(|f| f <= now) {
            self.flush();
        }
        match &mut self.phase {
            Phase::Waiting { until } if *until <= now => self.connect(),
            Phase::Connecting { deadline, .. } if *deadline <= now => {
                let s = self.config.connect_timeout.as_secs();
                self.link_down(format!("the server did not answer within {s} s"));
            }
            Phase::Live { gen, link, next_heartbeat, last_ack } if *next_heartbeat <= now => {
                if now.duration_since(*last_ack) > self.config.heartbeat_timeout {
                    if self.server_acks {
                        let s = self.config.heartbeat_timeout.as_secs();
                        self.link_down(format!("no answer from the server for {s} s"));
                        return;
                    }
                    // Never acked yet: either this server does not ack room requests, or the path died before
                    // the first ack. A health check over a fresh connection tells them apart.
                    *last_ack = now;
                    let (gen, api, tx) = (*gen, self.api.clone(), self.tx.clone());
                    let limit = self.config.heartbeat_every;
                    tokio::spawn(async move {
                        if !matches!(tokio::time::timeout(limit, api.health()).await, Ok(Ok(_))) {
                            let reason = "the server does not answer".to_owned();
                            let _ = tx.send(Msg::EmitFailed { gen, reason });
                        }
                    });
                }
                *next_heartbeat = now + self.config.heartbeat_every;
                tracing::trace!(gen = *gen, "heartbeat");
                let (gen, link, link_tx, tx, timeout) =
                    (*gen, link.clone(), self.link_tx.clone(), self.tx.clone(), self.config.heartbeat_timeout);
                tokio::spawn(async move {
                    let r = tokio::time::timeout(timeout, link.heartbeat(link_tx, timeout)).await;
                    let reason = match r {
                        Ok(Ok(())) => return,
                        Ok(Err(e)) => format!("the connection failed: {e}"),
                        Err(_) => "the connection is stuck".to_owned(),
                    };
                    let _ = tx.send(Msg::EmitFailed { gen, reason });
                });
            }
            _ => {}
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Cmd(c) => self.command(c),
            Msg::Opened { gen, result } => {
                if Some(gen) != self.current_gen() {
                    if let Ok(link) = result {
                        tokio::spawn(link.close());
                    }
                    return;
                }
                match result {
                    Ok(l) => {
                        if let Phase::Connecting { link, .. } = &mut self.phase {
                            *link = Some(l);
                        }
                    }
                    Err(reason) => self.link_down(reason),
                }
            }
            Msg::Link(Tagged { gen, event }) => {
                if Some(gen) != self.current_gen() {
                    return;
                }
                self.link_event(gen, event);
            }
            Msg::CaughtUp { gen, result } => {
                if Some(gen) != self.current_gen() {
                    return;
                }
                match result {
                    Ok(c) => self.caught_up(gen, c),
                    Err(e) if e.is_unauthorized() => self.logged_out(&e.to_string()),
                    Err(e) => self.link_down(format!("catch-up failed: {e}")),
                }
            }
            Msg::Refreshed(result) => match result {
                Ok(token) if self.token.is_some() => {
                    tracing::info!("session token refreshed");
                    if let Err(e) = self.store.save(&token) {
                        tracing::warn!("could not keep the refreshed token: {e}");
                    }
                    self.token = Some(token);
                    self.refresh_not_before = Instant::now() + Duration::from_secs(60);
                }
                Ok(_) => {}
                Err(e) if e.is_unauthorized() => self.logged_out(&e.to_string()),
                Err(e) => tracing::warn!("token not refreshed (will retry): {e}"),
            },
            Msg::EmitFailed { gen, reason } => {
                if Some(gen) == self.current_gen() {
                    self.link_down(reason);
                }
            }
        }
    }

    fn link_event(&mut self, gen: u64, event: LinkEvent) {
        if !matches!(event, LinkEvent::Event { .. }) {
            tracing::debug!(gen, ?event, "link");
        }
        match event {
            LinkEvent::Connected => {
                let phase = std::mem::replace(&mut self.phase, Phase::LoggedOut);
                match phase {
                    Phase::Connecting { link: Some(link), .. } => {
                        self.phase = Phase::CatchingUp { gen, link };
                        self.start_catch_up(gen);
                    }
                    // The CONNECT reply can beat `connect()`'s return: wait for `Opened` to bring the link.
                    Phase::Connecting { link: None, deadline, .. } => {
                        self.phase = Phase::Connecting { gen, link: None, deadline };
                        let tx = self.tx.clone();
                        tokio::spawn(async move {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            let _ = tx.send(Msg::Link(Tagged { gen, event: LinkEvent::Connected }));
                        });
                    }
                    other => self.phase = other,
                }
            }
            LinkEvent::Refused(message) => {
                if message.starts_with(AUTH_ERROR_PREFIX) {
                    self.logged_out(&message);
                } else {
                    self.link_down(format!("the server refused the connection: {message}"));
                }
            }
            LinkEvent::Down(reason) => self.link_down(reason),
            LinkEvent::Event { name, payload } => {
                self.apply(Input::Wire { event: name, payload, source: Source::Live, at: Self::now() });
            }
            LinkEvent::HeartbeatAck => {
                self.server_acks = true;
                if let Phase::Live { last_ack, .. } = &mut self.phase {
                    *last_ack = Instant::now();
                }
            }
        }
    }

    fn start_catch_up(&mut self, gen: u64) {
        let Some(token) = self.token.clone() else { return };
        let (api, tx) = (self.api.clone(), self.tx.clone());
        let since = self.book.last_seq();
        let first_load = self.book.orders().next().is_none() && since.is_none();
        let extensions = self.extensions;
        let refresh_before = self.config.refresh_before;
        tokio::spawn(
            async move {
                let result = catch_up(&api, token, since, first_load, extensions, refresh_before).await;
                match &result {
                    Ok(c) => tracing::debug!(inputs = c.inputs.len(), extensions = c.extensions, "caught up"),
                    Err(e) => tracing::debug!("failed: {e}"),
                }
                let _ = tx.send(Msg::CaughtUp { gen, result });
            }
            .instrument(tracing::info_span!("catch_up", gen, since)),
        );
    }

    fn caught_up(&mut self, gen: u64, c: CatchUp) {
        self.extensions = Some(c.extensions);
        if let Some(t) = c.new_token {
            if let Err(e) = self.store.save(&t) {
                tracing::warn!("could not keep the refreshed token: {e}");
            }
            self.token = Some(t);
        }
        for input in c.inputs {
            self.apply(input);
        }
        let Phase::CatchingUp { link, .. } = std::mem::replace(&mut self.phase, Phase::LoggedOut) else {
            return;
        };
        let watched: Vec<String> = self.book.watched().cloned().collect();
        let (l, tx) = (link.clone(), self.tx.clone());
        tokio::spawn(async move {
            for id in watched {
                if let Err(reason) = l.join(&id).await {
                    let _ = tx.send(Msg::EmitFailed { gen, reason });
                    return;
                }
            }
        });
        let now = Instant::now();
        self.phase = Phase::Live { gen, link, next_heartbeat: now + self.config.heartbeat_every, last_ack: now };
        self.backoff.reset();
        self.outage_since = None;
        self.set_link(LinkState::Live { since: Self::now() });
        self.flush_at.get_or_insert(Instant::now());
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Session { token, user } => self.start_session(token, user),
            Command::Watch(id) => {
                self.apply(Input::Watch { order_id: id.clone() });
                if let Phase::Live { link, gen, .. } = &self.phase {
                    let (l, tx, gen) = (link.clone(), self.tx.clone(), *gen);
                    tokio::spawn(async move {
                        if let Err(reason) = l.join(&id).await {
                            let _ = tx.send(Msg::EmitFailed { gen, reason });
                        }
                    });
                }
            }
            Command::Unwatch(id) => {
                self.apply(Input::Unwatch { order_id: id.clone() });
                if let Phase::Live { link, .. } = &self.phase {
                    let l = link.clone();
                    tokio::spawn(async move {
                        let _ = l.leave(&id).await;
                    });
                }
            }
            Command::MarkRead(id) => self.apply(Input::MarkRead { id }),
            Command::MarkAllRead => self.apply(Input::MarkAllRead),
            Command::RetryNow => self.retry_now(),
            Command::Snapshot(reply) => {
                let _ = reply.send(self.book.view());
            }
            Command::Resync => self.emit_reset(),
            Command::Logout(done) => {
                if let (Some(token), Some(true)) = (self.token.clone(), self.extensions) {
                    let api = self.api.clone();
                    tokio::spawn(async move {
                        let _ = api.logout(&token).await;
                    });
                }
                self.end_session(LogoutReason::SignedOut);
                self.apply(Input::Clear);
                let _ = done.send(());
            }
            Command::Shutdown(_) => unreachable!("handled by the loop"),
        }
    }
}

/// Why the server refused a session: a token past its `exp` expired; one the server says it revoked was
/// revoked; anything else is a plain refusal.
fn why_refused(exp: Option<i64>, now: i64, message: &str) -> LogoutReason {
    if exp.is_some_and(|exp| exp <= now) {
        LogoutReason::Expired
    } else if message.to_ascii_lowercase().contains("revoked") {
        LogoutReason::Revoked
    } else {
        LogoutReason::Refused
    }
}

/// The catch-up of CONTRACT.md, as inputs for the reducer: replay by `seq` where the server has the change log,
/// else reload the orders (the reducer diffs them against what it holds).
async fn catch_up(
    api: &Api,
    token: Token,
    since: Option<u64>,
    first_load: bool,
    extensions: Option<bool>,
    refresh_before: Duration,
) -> Result<CatchUp, ApiError> {
    let at = Utc::now();
    let mut inputs = Vec::new();
    let reload_source = if first_load { Source::Initial } else { Source::CatchUp };
    let mut new_token = None;
    let ext = match (extensions, since) {
        (Some(false), _) => {
            inputs.push(Input::Orders { orders: api.orders(&token).await?, source: reload_source, at });
            false
        }
        (_, Some(since)) => match api.changes(&token, since).await? {
            Changes::Replay(r) => {
                for c in r.changes {
                    inputs.push(Input::Wire { event: c.event, payload: c.payload, source: Source::CatchUp, at });
                }
                inputs.push(Input::CaughtUp { latest_seq: r.latest_seq, reset: false });
                true
            }
            Changes::Gone { latest_seq } => {
                let latest = match latest_seq {
                    Some(l) => Some(l),
                    None => match api.changes(&token, 0).await? {
                        Changes::Replay(r) => Some(r.latest_seq),
                        _ => None,
                    },
                };
                inputs.push(Input::Orders { orders: api.orders(&token).await?, source: reload_source, at });
                if let Some(latest_seq) = latest {
                    inputs.push(Input::CaughtUp { latest_seq, reset: true });
                }
                true
            }
            Changes::Unsupported => {
                inputs.push(Input::Orders { orders: api.orders(&token).await?, source: reload_source, at });
                false
            }
            // Known to have the log: a 400/500 from it now is a failure, retried; it downgrades nothing.
            Changes::CatchAll(e) if extensions == Some(true) => return Err(e),
            Changes::CatchAll(_) => {
                inputs.push(Input::Orders { orders: api.orders(&token).await?, source: reload_source, at });
                false
            }
        },
        (_, None) => {
            // No position yet: learn the log's head first, then load; a change in between is seen twice and
            // applied once.
            let latest = match api.changes(&token, 0).await? {
                Changes::Replay(r) => Some(r.latest_seq),
                Changes::Gone { latest_seq } => latest_seq.or(Some(0)),
                Changes::CatchAll(e) if extensions == Some(true) => return Err(e),
                // Believed only with the `GET /orders` just below answering: if it fails, so does this try.
                Changes::Unsupported | Changes::CatchAll(_) => None,
            };
            inputs.push(Input::Orders { orders: api.orders(&token).await?, source: reload_source, at });
            if let Some(latest_seq) = latest {
                inputs.push(Input::CaughtUp { latest_seq, reset: false });
            }
            latest.is_some()
        }
    };
    if extensions.is_none() && !ext && since.is_none() {
        tracing::info!("the server speaks the base contract only; catch-up reloads orders");
    }
    if ext {
        match api.notifications(&token).await {
            Ok(items) => inputs.push(Input::Notifications { items }),
            Err(e) if e.is_unauthorized() => return Err(e),
            Err(e) => tracing::warn!("inbox not synced: {e}"),
        }
        if let Some(exp) = token.claims().and_then(|c| c.exp) {
            let left = exp - Utc::now().timestamp();
            if left < refresh_before.as_secs() as i64 {
                match api.refresh(&token).await {
                    Ok(t) => new_token = Some(t),
                    Err(e) => tracing::warn!("token not refreshed: {e}"),
                }
            }
        }
    }
    Ok(CatchUp { inputs, extensions: ext, new_token })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_session_says_why() {
        assert_eq!(why_refused(Some(100), 100, "the token has expired"), LogoutReason::Expired);
        assert_eq!(
            why_refused(Some(100), 200, "Authentication error: invalid or expired token"),
            LogoutReason::Expired
        );
        assert_eq!(why_refused(Some(300), 200, "not authorised: the token was revoked"), LogoutReason::Revoked);
        assert_eq!(why_refused(None, 200, "Authentication error: invalid or expired token"), LogoutReason::Refused);
    }
}

//! The engine: the driver of the [`Supervisor`], and a cheap [`Engine`] handle on it.
//!
//! Every decision (when to connect, catch up, call the link live, retry, refresh, end the session) is the
//! supervisor's, a pure state machine. This file only carries out its [`Action`]s and reports what came of them
//! as [`Event`]s: everything that happens (a socket callback, a REST reply, a timer, a command from the shell)
//! becomes one message consumed by a single loop, so there is no shared mutable state and no lock. Slow work
//! (REST calls, socket emits, closing a dead link) runs in spawned tasks that report back as messages, so the
//! loop never waits on the network and a snapshot or command is answered at once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::Utc;
use order_protocol::{DeviceRegistration, Patch, Source, User, ViewState};
use tokio::sync::{mpsc, oneshot};
use tokio::time::sleep_until;
use tracing::Instrument;

use crate::api::{Api, ApiError, Changes};
use crate::book::{Input, Notify};
use crate::cache::{Cache, Loaded};
use crate::link::{LiveLink, Tagged};
use crate::supervisor::{Action, CatchUp, Event, Identity, Now, Supervisor, Timing};
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
    /// The longest a catch-up may take before the link is dropped and the attempt retried.
    pub catch_up_timeout: Duration,
    /// With the extension, refresh the token when it expires within this.
    pub refresh_before: Duration,
    /// How long the link stays up after [`Engine::suspend`]: a glance at another app costs no reconnect.
    pub suspend_grace: Duration,
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
            catch_up_timeout: Duration::from_secs(60),
            refresh_before: Duration::from_secs(15 * 60),
            suspend_grace: Duration::from_secs(30),
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
    Suspend,
    Resume,
    PushDevice(Option<DeviceRegistration>),
    Snapshot(oneshot::Sender<ViewState>),
    Resync,
    Shutdown(oneshot::Sender<()>),
}

enum Msg {
    Cmd(Command),
    Opened {
        gen: u64,
        result: Result<LiveLink, String>,
    },
    /// Any other result of the driver's I/O, for the supervisor.
    Event(Event),
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
        let timing = Timing {
            heartbeat_every: config.heartbeat_every,
            heartbeat_timeout: config.heartbeat_timeout,
            connect_timeout: config.connect_timeout,
            catch_up_timeout: config.catch_up_timeout,
            refresh_before: config.refresh_before,
            suspend_grace: config.suspend_grace,
        };
        let refused = api.check_transport().err().map(|e| e.to_string());
        let runner = Runner {
            cache: config.data_dir.as_ref().map(Cache::new),
            sup: Supervisor::new(timing, refused, rand::random(), now()),
            links: HashMap::new(),
            config,
            api: api.clone(),
            store: store.clone(),
            events: events_tx,
            tx: tx.clone(),
            link_tx,
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

    /// The app went to the background (a phone's OS stops a background app's socket within minutes anyway):
    /// after [`EngineConfig::suspend_grace`] the link closes and nothing reconnects until [`Engine::resume`].
    pub fn suspend(&self) -> Result<(), EngineError> {
        self.send(Command::Suspend)
    }

    /// The app is in front again: connect now and catch up on everything missed meanwhile.
    pub fn resume(&self) -> Result<(), EngineError> {
        self.send(Command::Resume)
    }

    /// Where this device receives push (the phone's FCM or APNs token), or `None`. The engine registers it with
    /// the server (`POST /devices`) whenever a session's link is live and it is not registered yet, and again
    /// when it changes; the server removes it when the session ends. A server without the route is not asked
    /// again in that session.
    pub fn set_push_device(&self, device: Option<DeviceRegistration>) -> Result<(), EngineError> {
        self.send(Command::PushDevice(device))
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

struct Runner {
    config: EngineConfig,
    api: Api,
    store: Arc<dyn TokenStore>,
    cache: Option<Cache>,
    sup: Supervisor,
    /// The open links, by generation: the supervisor names them, the driver holds them.
    links: HashMap<u64, LiveLink>,
    events: mpsc::UnboundedSender<ClientEvent>,
    tx: mpsc::UnboundedSender<Msg>,
    link_tx: mpsc::UnboundedSender<Tagged>,
}

fn now() -> Now {
    Now { mono: Instant::now(), wall: Utc::now() }
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
            Some(token) => self.command(Command::Session { token, user: None }),
            None => self.feed(Event::Resync),
        }
        // Wall clock against monotonic clock: a jump means the machine slept; retry at once on wake.
        let mut wall = SystemTime::now();
        let mut mono = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let deadline = self.sup.next_deadline().unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(Msg::Cmd(Command::Shutdown(done))) => {
                        self.feed(Event::Shutdown);
                        let _ = done.send(());
                        return;
                    }
                    Some(Msg::Cmd(c)) => self.command(c),
                    Some(Msg::Opened { gen, result }) => {
                        let result = result.map(|link| {
                            self.links.insert(gen, link);
                        });
                        self.feed(Event::Opened { gen, result });
                    }
                    Some(Msg::Event(e)) => self.feed(e),
                    None => {
                        self.feed(Event::Shutdown);
                        return;
                    }
                },
                Some(Tagged { gen, event }) = link_rx.recv() => self.feed(Event::Link { gen, event }),
                _ = sleep_until(deadline.into()) => self.feed(Event::Tick),
                _ = tick.tick() => {
                    let wall_elapsed = wall.elapsed().unwrap_or_default();
                    if wall_elapsed > mono.elapsed() + Duration::from_secs(5) {
                        tracing::info!("the clock jumped (sleep?); retrying now");
                        self.feed(Event::RetryNow);
                    }
                    wall = SystemTime::now();
                    mono = Instant::now();
                }
            }
        }
    }

    fn command(&mut self, c: Command) {
        match c {
            Command::Session { token, user } => {
                let who = Identity::of(&token, user);
                let restored = match self.cache.as_ref().map(|c| c.load(self.api.base_url(), &who.user_id)) {
                    Some(Loaded::State(p)) => Some(p),
                    _ => None,
                };
                self.feed(Event::Session { token, who, restored });
            }
            Command::Watch(id) => self.feed(Event::Watch(id)),
            Command::Unwatch(id) => self.feed(Event::Unwatch(id)),
            Command::MarkRead(id) => self.feed(Event::MarkRead(id)),
            Command::MarkAllRead => self.feed(Event::MarkAllRead),
            Command::RetryNow => self.feed(Event::RetryNow),
            Command::Suspend => self.feed(Event::Suspend),
            Command::Resume => self.feed(Event::Resume),
            Command::Snapshot(reply) => {
                let _ = reply.send(self.sup.view());
            }
            Command::Resync => self.feed(Event::Resync),
            Command::PushDevice(d) => self.feed(Event::PushDevice(d)),
            Command::Logout(done) => {
                self.feed(Event::Logout);
                let _ = done.send(());
            }
            Command::Shutdown(done) => {
                self.feed(Event::Shutdown);
                let _ = done.send(());
            }
        }
    }

    /// Hands one event to the supervisor and carries out what it asks for.
    fn feed(&mut self, event: Event) {
        for action in self.sup.handle(event, now()) {
            self.execute(action);
        }
    }

    /// One action: the quick ones here, anything that waits on the network in a task that reports back.
    fn execute(&mut self, action: Action) {
        let tx = self.tx.clone();
        let report = move |e: Event| {
            let _ = tx.send(Msg::Event(e));
        };
        match action {
            Action::Emit(e) => {
                let _ = self.events.send(e);
            }
            Action::SaveToken(token) => {
                if let Err(e) = self.store.save(&token) {
                    tracing::warn!("could not keep the refreshed token: {e}");
                }
            }
            Action::ClearToken => {
                if let Err(e) = self.store.clear() {
                    tracing::warn!("could not clear the token store: {e}");
                }
            }
            Action::SaveCache { user_id, state } => {
                if let Some(cache) = &self.cache {
                    if let Err(e) = cache.save(self.api.base_url(), &user_id, &state) {
                        tracing::warn!("could not write the cache: {e}");
                    }
                }
            }
            Action::ClearCache => {
                if let Some(cache) = &self.cache {
                    cache.clear();
                }
            }
            Action::Open { gen, token } => {
                let (origin, link_tx, tx, timeout) =
                    (self.api.origin().to_owned(), self.link_tx.clone(), self.tx.clone(), self.config.connect_timeout);
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
            }
            Action::Close { gen } => {
                if let Some(link) = self.links.remove(&gen) {
                    tokio::spawn(link.close());
                }
            }
            Action::CatchUp { gen, token, since, first_load, extensions } => {
                let (api, refresh_before) = (self.api.clone(), self.config.refresh_before);
                tokio::spawn(
                    async move {
                        let result = catch_up(&api, token, since, first_load, extensions, refresh_before).await;
                        if let Err(e) = &result {
                            tracing::debug!("failed: {e}");
                        }
                        report(Event::CaughtUp { gen, result });
                    }
                    .instrument(tracing::info_span!("catch_up", gen, since)),
                );
            }
            Action::Join { gen, order_ids } => {
                let Some(link) = self.links.get(&gen).cloned() else { return };
                tokio::spawn(async move {
                    for id in order_ids {
                        if let Err(reason) = link.join(&id).await {
                            report(Event::Failed { gen, reason });
                            return;
                        }
                    }
                });
            }
            Action::Leave { gen, order_id } => {
                let Some(link) = self.links.get(&gen).cloned() else { return };
                tokio::spawn(async move {
                    let _ = link.leave(&order_id).await;
                });
            }
            Action::Heartbeat { gen } => {
                let Some(link) = self.links.get(&gen).cloned() else { return };
                let (link_tx, timeout) = (self.link_tx.clone(), self.config.heartbeat_timeout);
                tokio::spawn(async move {
                    let reason = match tokio::time::timeout(timeout, link.heartbeat(link_tx, timeout)).await {
                        Ok(Ok(())) => return,
                        Ok(Err(e)) => format!("the connection failed: {e}"),
                        Err(_) => "the connection is stuck".to_owned(),
                    };
                    report(Event::Failed { gen, reason });
                });
            }
            Action::HealthCheck { gen } => {
                let (api, limit) = (self.api.clone(), self.config.heartbeat_every);
                tokio::spawn(async move {
                    if !matches!(tokio::time::timeout(limit, api.health()).await, Ok(Ok(_))) {
                        report(Event::Failed { gen, reason: "the server does not answer".to_owned() });
                    }
                });
            }
            Action::Refresh { token } => {
                let api = self.api.clone();
                tokio::spawn(async move { report(Event::Refreshed(api.refresh(&token).await)) });
            }
            Action::Revoke { token } => {
                let api = self.api.clone();
                tokio::spawn(async move {
                    let _ = api.logout(&token).await;
                });
            }
            Action::RegisterDevice { token, device } => {
                let api = self.api.clone();
                tokio::spawn(async move {
                    let result = api.register_device(&token, &device).await;
                    report(Event::DeviceRegistered { device, result })
                });
            }
            Action::SyncRead { token, id } => {
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

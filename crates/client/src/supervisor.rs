//! The supervisor: every decision of a session's life (connect, catch up, go live, keep alive, retry, refresh,
//! end) as a pure state machine, so it is tested without a network, a runtime or a clock.
//!
//! [`Supervisor::handle`] takes one [`Event`] (a command, a link event, a catch-up result, a timer) and the
//! time, changes the state, and queues [`Action`]s: the I/O a driver carries out (open or close a link, run a
//! catch-up, save the token, write the cache, tell the UI). The driver (`engine.rs`) reports each result back
//! as another event. Nothing here waits, spawns or reads a clock.
//!
//! # Invariants
//! - **One link at a time, named by its generation.** Every link-bound action carries `gen`; a result or a
//!   callback of any other generation changes nothing (a stale link that opens late is closed).
//! - **Live only over no gap.** The link is shown `Live` only after a catch-up of the current connection
//!   succeeded; a catch-up that fails or outlasts [`Timing::catch_up_timeout`] drops the link and retries.
//! - **The watermark is the reducer's** ([`crate::book`]): live events while catching up are applied but move
//!   no cursor; the successful catch-up does.
//! - **A session ends in one place** (`Supervisor::end_session`): link closed, token forgotten and out of
//!   the store, the view `LoggedOut` with the reason.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use order_protocol::{
    names, DeviceRegistration, LinkState, LogoutReason, Patch, ServerDisconnect, Source, User, UserView, ViewState,
    AUTH_ERROR_PREFIX,
};

use crate::api::ApiError;
use crate::backoff::{outage_state, Backoff, RECONNECTING_FOR};
use crate::book::{Effect, Input, OrderBook, Persisted};
use crate::engine::ClientEvent;
use crate::link::LinkEvent;
use crate::token::Token;

/// The supervisor's timings (from [`crate::EngineConfig`]).
#[derive(Clone, Debug)]
pub struct Timing {
    pub heartbeat_every: Duration,
    pub heartbeat_timeout: Duration,
    pub connect_timeout: Duration,
    pub catch_up_timeout: Duration,
    pub refresh_before: Duration,
    pub suspend_grace: Duration,
}

/// The time of an event, on both clocks: `mono` for timers, `wall` for what the user sees.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub mono: Instant,
    pub wall: DateTime<Utc>,
}

/// Who a session belongs to, as far as the sign-in reply or the token tell.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
}

impl Identity {
    /// From the sign-in reply when there is one, else from the token's claims.
    pub fn of(token: &Token, user: Option<User>) -> Identity {
        match user {
            Some(u) => Identity { user_id: u.id, email: Some(u.email), name: Some(u.name) },
            None => {
                let claims = token.claims();
                Identity {
                    user_id: claims.as_ref().and_then(|c| c.user_id.clone()).unwrap_or_else(|| "unknown".to_owned()),
                    email: claims.and_then(|c| c.email),
                    name: None,
                }
            }
        }
    }
}

/// What a catch-up brought: inputs for the reducer, whether the server has the extensions, and a refreshed
/// token if one was due.
#[derive(Debug)]
pub struct CatchUp {
    pub inputs: Vec<Input>,
    pub extensions: bool,
    pub new_token: Option<Token>,
}

/// Everything the supervisor reacts to.
#[derive(Debug)]
pub enum Event {
    /// A session begins with `token`; `restored` is the cache of `who`, if the driver has one.
    Session {
        token: Token,
        who: Identity,
        restored: Option<Box<Persisted>>,
    },
    /// The transport of link `gen` opened (the CONNECT reply follows as a link event), or could not.
    Opened {
        gen: u64,
        result: Result<(), String>,
    },
    Link {
        gen: u64,
        event: LinkEvent,
    },
    CaughtUp {
        gen: u64,
        result: Result<CatchUp, ApiError>,
    },
    /// A send, a heartbeat or a health check on link `gen` failed: the path is dead.
    Failed {
        gen: u64,
        reason: String,
    },
    Refreshed(Result<Token, ApiError>),
    Watch(String),
    Unwatch(String),
    MarkRead(String),
    MarkAllRead,
    /// Woke from sleep, or the network changed: try now instead of waiting out the backoff.
    RetryNow,
    /// The app went to the background: the link closes after the grace, and stays closed until `Resume`.
    Suspend,
    /// The app is in front again: connect now and catch up.
    Resume,
    Logout,
    /// Where this device receives push (`None`: it does not), from the phone's push service.
    PushDevice(Option<DeviceRegistration>),
    /// What registering `device` with the server came to: its id there, or why not.
    DeviceRegistered {
        device: DeviceRegistration,
        result: Result<String, ApiError>,
    },
    /// Send the whole state as a reset.
    Resync,
    Shutdown,
    /// A timer: the time passed [`Supervisor::next_deadline`].
    Tick,
}

/// The I/O the driver carries out, in the order given.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Emit(ClientEvent),
    SaveToken(Token),
    ClearToken,
    SaveCache {
        user_id: String,
        state: Box<Persisted>,
    },
    ClearCache,
    /// Open link `gen` with `token`; report [`Event::Opened`], then its events as [`Event::Link`].
    Open {
        gen: u64,
        token: Token,
    },
    Close {
        gen: u64,
    },
    /// Run the catch-up from the watermark `since`; report [`Event::CaughtUp`].
    CatchUp {
        gen: u64,
        token: Token,
        since: Option<u64>,
        first_load: bool,
        extensions: Option<bool>,
    },
    /// Join these order rooms on link `gen`; a failure is [`Event::Failed`].
    Join {
        gen: u64,
        order_ids: Vec<String>,
    },
    Leave {
        gen: u64,
        order_id: String,
    },
    /// Send a heartbeat on link `gen`; a failure or no acceptance within the timeout is [`Event::Failed`].
    Heartbeat {
        gen: u64,
    },
    /// Ask `/health` over a fresh connection; no answer within a heartbeat period is [`Event::Failed`].
    HealthCheck {
        gen: u64,
    },
    /// Refresh the token; report [`Event::Refreshed`].
    Refresh {
        token: Token,
    },
    /// Revoke the token on the server (logout); the result does not matter.
    Revoke {
        token: Token,
    },
    /// Tell the server a notification was read (`None`: all); a failure is worth a warning.
    SyncRead {
        token: Token,
        id: Option<String>,
    },
    /// Register this device for push; report [`Event::DeviceRegistered`].
    RegisterDevice {
        token: Token,
        device: DeviceRegistration,
    },
}

/// This device's push registration: what the phone's push service gave, and what the session registered.
#[derive(Debug, Default)]
struct PushRegistration {
    wanted: Option<DeviceRegistration>,
    /// Registered with the current session (a sign-in's devices end with it).
    done: Option<DeviceRegistration>,
    asking: bool,
    /// The server does not take this device (no devices route, or not that service): not asked again this
    /// session.
    refused: bool,
}

#[derive(Debug)]
enum Phase {
    LoggedOut,
    /// Waiting out the backoff.
    Waiting {
        until: Instant,
    },
    /// The transport opening (`opened`), and the server's CONNECT reply (`connected`): they may come in either
    /// order; the catch-up starts when both are in.
    Connecting {
        gen: u64,
        opened: bool,
        connected: bool,
        deadline: Instant,
    },
    CatchingUp {
        gen: u64,
        deadline: Instant,
    },
    Live {
        gen: u64,
        next_heartbeat: Instant,
        last_ack: Instant,
    },
    /// In the background past the grace: no link, no retries, until `Resume`.
    Suspended,
}

/// The state machine. See the module docs.
pub struct Supervisor {
    timing: Timing,
    /// Set when the backend's address must not see a token (plain `http://` to another machine, not allowed).
    transport_refused: Option<String>,
    book: OrderBook,
    token: Option<Token>,
    user_id: String,
    gen: u64,
    phase: Phase,
    backoff: Backoff,
    /// The backoff's jitter: a xorshift, seeded by the driver, so a test replays the same delays.
    rng: u64,
    outage_since: Option<Instant>,
    last_reason: String,
    /// Whether the server has the extensions; `None` until a catch-up found out.
    extensions: Option<bool>,
    /// Whether this server ever acked a heartbeat: then (or with the extensions, which always ack) a missing
    /// ack means a dead path.
    server_acks: bool,
    dirty: bool,
    flush_at: Option<Instant>,
    /// When a suspension closes the link (the grace after `Suspend`).
    suspend_at: Option<Instant>,
    /// No token refresh before this (one in flight, or the last one failed).
    refresh_not_before: Option<Instant>,
    push: PushRegistration,
    now: Now,
    out: Vec<Action>,
}

/// How long a changed state waits before the cache is written: a burst of updates makes one write.
const FLUSH_AFTER: Duration = Duration::from_millis(300);
/// Why the link is down while the app is in the background.
pub const PAUSED: &str = "paused while the app is in the background";

/// The pause after a refresh was asked for before another may be.
const REFRESH_PAUSE: Duration = Duration::from_secs(60);

impl Supervisor {
    pub fn new(timing: Timing, transport_refused: Option<String>, seed: u64, now: Now) -> Supervisor {
        Supervisor {
            timing,
            transport_refused,
            book: OrderBook::new(),
            token: None,
            user_id: String::new(),
            gen: 0,
            phase: Phase::LoggedOut,
            backoff: Backoff::new(),
            rng: seed | 1,
            outage_since: None,
            last_reason: String::new(),
            extensions: None,
            server_acks: false,
            dirty: false,
            flush_at: None,
            suspend_at: None,
            refresh_not_before: None,
            push: PushRegistration::default(),
            now,
            out: Vec::new(),
        }
    }

    /// Handles one event at `now` and returns the actions to carry out, in order.
    pub fn handle(&mut self, event: Event, now: Now) -> Vec<Action> {
        self.now = now;
        match event {
            Event::Session { token, who, restored } => self.start_session(token, who, restored),
            Event::Opened { gen, result } => {
                if Some(gen) != self.current_gen() {
                    if result.is_ok() {
                        self.out.push(Action::Close { gen });
                    }
                } else {
                    match result {
                        Ok(()) => self.connect_step(gen, true, false),
                        Err(reason) => self.link_down(reason),
                    }
                }
            }
            Event::Link { gen, event } => {
                if Some(gen) == self.current_gen() {
                    self.link_event(gen, event);
                }
            }
            Event::CaughtUp { gen, result } => {
                if matches!(self.phase, Phase::CatchingUp { gen: g, .. } if g == gen) {
                    match result {
                        Ok(c) => self.caught_up(gen, c),
                        Err(e) if e.is_unauthorized() => self.refused(&e.to_string()),
                        Err(e) => self.link_down(format!("catching up failed: {e}")),
                    }
                }
            }
            Event::Failed { gen, reason } => {
                if Some(gen) == self.current_gen() {
                    self.link_down(reason);
                }
            }
            Event::Refreshed(result) => match result {
                Ok(token) if self.token.is_some() => {
                    tracing::info!("session token refreshed");
                    self.out.push(Action::SaveToken(token.clone()));
                    self.token = Some(token);
                }
                Ok(_) => {}
                Err(e) if e.is_unauthorized() => self.refused(&e.to_string()),
                Err(e) => tracing::warn!("token not refreshed (will retry): {e}"),
            },
            Event::Watch(id) => {
                self.apply(Input::Watch { order_id: id.clone() });
                if let Phase::Live { gen, .. } = self.phase {
                    self.out.push(Action::Join { gen, order_ids: vec![id] });
                }
            }
            Event::Unwatch(id) => {
                self.apply(Input::Unwatch { order_id: id.clone() });
                if let Phase::Live { gen, .. } = self.phase {
                    self.out.push(Action::Leave { gen, order_id: id });
                }
            }
            Event::MarkRead(id) => self.apply(Input::MarkRead { id }),
            Event::MarkAllRead => self.apply(Input::MarkAllRead),
            Event::RetryNow => {
                if let Phase::Waiting { .. } = self.phase {
                    self.connect();
                }
            }
            Event::Suspend => {
                if self.token.is_some() && !matches!(self.phase, Phase::Suspended) {
                    self.suspend_at.get_or_insert(now.mono + self.timing.suspend_grace);
                }
            }
            Event::Resume => {
                self.suspend_at = None;
                if matches!(self.phase, Phase::Suspended | Phase::Waiting { .. }) && self.token.is_some() {
                    self.backoff.reset();
                    self.outage_since = None;
                    self.set_link(LinkState::Connecting { attempt: 1, next_retry_at: None, reason: None });
                    self.connect();
                }
            }
            Event::Logout => {
                // Unless the server is known to lack the route, a token left alive on it is worse than a 404.
                if let (Some(token), false) = (self.token.clone(), self.extensions == Some(false)) {
                    self.out.push(Action::Revoke { token });
                }
                self.end_session(LogoutReason::SignedOut);
                self.apply(Input::Clear);
            }
            Event::PushDevice(device) => {
                self.push.wanted = device;
                self.maybe_register();
            }
            Event::DeviceRegistered { device, result } => {
                self.push.asking = false;
                match result {
                    Ok(id) => {
                        tracing::info!(device = %id, platform = device.platform.as_str(), "registered for push");
                        self.push.done = Some(device);
                        self.maybe_register();
                    }
                    // The session's end is the link's business; a network failure is retried once live again.
                    Err(e) if e.is_unauthorized() || e.is_network() => {
                        tracing::info!("not registered for push yet: {e}");
                    }
                    Err(e) => {
                        self.push.refused = true;
                        let w = format!("this server does not send push notifications to this device: {e}");
                        self.apply_effect(Effect::Warn(w));
                    }
                }
            }
            Event::Resync => self.emit_reset(),
            Event::Shutdown => {
                self.teardown();
                self.flush();
            }
            Event::Tick => self.on_deadline(),
        }
        std::mem::take(&mut self.out)
    }

    /// The whole view state.
    pub fn view(&self) -> ViewState {
        self.book.view()
    }

    #[cfg(test)]
    pub fn book(&self) -> &OrderBook {
        &self.book
    }

    /// When the next [`Event::Tick`] is due, if anything waits on time.
    pub fn next_deadline(&self) -> Option<Instant> {
        let phase = match &self.phase {
            Phase::Waiting { until } => Some(*until),
            Phase::Connecting { deadline, .. } | Phase::CatchingUp { deadline, .. } => Some(*deadline),
            Phase::Live { next_heartbeat, .. } => Some(*next_heartbeat),
            Phase::LoggedOut | Phase::Suspended => None,
        };
        [phase, self.offline_at(), self.flush_at, self.suspend_at].into_iter().flatten().min()
    }

    /// When a "Reconnecting" outage is to be shown as "Offline": on time, not at the next failed attempt.
    fn offline_at(&self) -> Option<Instant> {
        match self.book.link() {
            LinkState::Connecting { .. } => self.outage_since.map(|t| t + RECONNECTING_FOR),
            _ => None,
        }
    }

    fn current_gen(&self) -> Option<u64> {
        match &self.phase {
            Phase::Connecting { gen, .. } | Phase::CatchingUp { gen, .. } | Phase::Live { gen, .. } => Some(*gen),
            Phase::LoggedOut | Phase::Waiting { .. } | Phase::Suspended => None,
        }
    }

    /// Applies an input to the reducer and turns its effects into actions.
    fn apply(&mut self, input: Input) {
        for fx in self.book.apply(input) {
            self.apply_effect(fx);
        }
    }

    fn apply_effect(&mut self, fx: Effect) {
        match fx {
            Effect::Ui { patch, seq } => self.out.push(Action::Emit(ClientEvent::Update { patch, seq })),
            Effect::Notify(n) => {
                tracing::debug!(id = %n.id, "notify");
                self.out.push(Action::Emit(ClientEvent::Notify(n)));
            }
            Effect::Persist => {
                self.dirty = true;
                self.flush_at.get_or_insert(self.now.mono + FLUSH_AFTER);
            }
            Effect::ClearCache => {
                self.dirty = false;
                self.flush_at = None;
                self.out.push(Action::ClearCache);
            }
            Effect::SyncRead { id } => {
                if let (Some(true), Some(token)) = (self.extensions, self.token.clone()) {
                    self.out.push(Action::SyncRead { token, id });
                }
            }
            Effect::Warn(w) => {
                tracing::warn!("{w}");
                self.out.push(Action::Emit(ClientEvent::Warning(w)));
            }
        }
    }

    fn set_link(&mut self, link: LinkState) {
        self.apply(Input::Link(link));
    }

    fn emit_reset(&mut self) {
        let patch = Patch::Reset { state: Box::new(self.book.view()) };
        self.out.push(Action::Emit(ClientEvent::Update { patch, seq: None }));
    }

    fn flush(&mut self) {
        self.flush_at = None;
        if !std::mem::take(&mut self.dirty) || self.token.is_none() {
            return;
        }
        self.out.push(Action::SaveCache { user_id: self.user_id.clone(), state: Box::new(self.book.persisted()) });
    }

    fn start_session(&mut self, token: Token, who: Identity, restored: Option<Box<Persisted>>) {
        self.teardown();
        if who.user_id != self.user_id || self.token.is_none() {
            // A new session (or another user): start from this user's cache, or from nothing.
            let watched: Vec<String> = self.book.watched().cloned().collect();
            self.book = restored.map_or_else(OrderBook::new, |p| OrderBook::restore(*p));
            for w in watched {
                self.book.apply(Input::Watch { order_id: w });
            }
            self.extensions = None;
        }
        // Into the reset below, not a patch of its own.
        let _ = self.book.apply(Input::User(Some(UserView { email: who.email, name: who.name })));
        self.user_id = who.user_id;
        self.token = Some(token);
        self.backoff.reset();
        self.outage_since = None;
        self.set_link(LinkState::Connecting { attempt: 1, next_retry_at: None, reason: None });
        self.emit_reset();
        self.connect();
    }

    /// Starts one connection attempt.
    fn connect(&mut self) {
        let Some(token) = self.token.clone() else { return };
        // The socket's handshake carries the token: never in clear to another machine, unless allowed.
        if let Some(why) = self.transport_refused.clone() {
            self.link_down(why);
            return;
        }
        self.gen += 1;
        let gen = self.gen;
        tracing::debug!(gen, "connecting");
        self.out.push(Action::Open { gen, token });
        self.phase = Phase::Connecting {
            gen,
            opened: false,
            connected: false,
            deadline: self.now.mono + self.timing.connect_timeout,
        };
    }

    /// The transport opened or the server accepted: once both, the catch-up starts.
    fn connect_step(&mut self, gen: u64, opened_now: bool, connected_now: bool) {
        let Phase::Connecting { opened, connected, .. } = &mut self.phase else { return };
        *opened |= opened_now;
        *connected |= connected_now;
        if !(*opened && *connected) {
            return;
        }
        self.phase = Phase::CatchingUp { gen, deadline: self.now.mono + self.timing.catch_up_timeout };
        let Some(token) = self.token.clone() else { return };
        let since = self.book.last_seq();
        let first_load = self.book.orders().next().is_none() && since.is_none();
        self.out.push(Action::CatchUp { gen, token, since, first_load, extensions: self.extensions });
    }

    fn link_event(&mut self, gen: u64, event: LinkEvent) {
        if !matches!(event, LinkEvent::Event { .. }) {
            tracing::debug!(gen, ?event, "link");
        }
        match event {
            LinkEvent::Connected => self.connect_step(gen, false, true),
            LinkEvent::Refused(message) => {
                if message.starts_with(AUTH_ERROR_PREFIX) {
                    self.refused(&message);
                } else {
                    self.link_down(format!("the server refused the connection: {message}"));
                }
            }
            LinkEvent::Down(reason) => self.link_down(reason),
            LinkEvent::Event { name, payload } if name == names::SERVER_DISCONNECT => self.server_disconnect(&payload),
            LinkEvent::Event { name, payload } => match order_protocol::bounds::check_value(&payload) {
                Ok(()) => self.apply(Input::Wire { event: name, payload, source: Source::Live, at: self.now.wall }),
                Err(e) => self.apply_effect(Effect::Warn(format!("skipped an event `{name}`: it holds {e}"))),
            },
            LinkEvent::HeartbeatAck => {
                self.server_acks = true;
                if let Phase::Live { last_ack, .. } = &mut self.phase {
                    *last_ack = self.now.mono;
                }
            }
        }
    }

    fn caught_up(&mut self, gen: u64, c: CatchUp) {
        tracing::debug!(inputs = c.inputs.len(), extensions = c.extensions, "caught up");
        if self.extensions.is_none() && !c.extensions {
            tracing::info!("the server speaks the base contract only; catch-up reloads orders");
        }
        self.extensions = Some(c.extensions);
        if let Some(t) = c.new_token {
            self.out.push(Action::SaveToken(t.clone()));
            self.token = Some(t);
        }
        for input in c.inputs {
            self.apply(input);
        }
        let order_ids: Vec<String> = self.book.watched().cloned().collect();
        if !order_ids.is_empty() {
            self.out.push(Action::Join { gen, order_ids });
        }
        let now = self.now.mono;
        self.phase = Phase::Live { gen, next_heartbeat: now + self.timing.heartbeat_every, last_ack: now };
        self.backoff.reset();
        self.outage_since = None;
        self.set_link(LinkState::Live { since: self.now.wall });
        self.flush_at.get_or_insert(now);
        self.maybe_register();
    }

    /// Registers this device for push once the link is live on a server with the extensions, unless it is
    /// registered with this session already, being registered, or refused.
    fn maybe_register(&mut self) {
        let p = &self.push;
        let due = p.wanted.is_some() && p.wanted != p.done && !p.asking && !p.refused;
        if !due || self.extensions != Some(true) || !matches!(self.phase, Phase::Live { .. }) {
            return;
        }
        let (Some(token), Some(device)) = (self.token.clone(), p.wanted.clone()) else { return };
        self.push.asking = true;
        self.out.push(Action::RegisterDevice { token, device });
    }

    /// Closes the current link, if any.
    fn teardown(&mut self) {
        if let Some(gen) = self.current_gen() {
            self.out.push(Action::Close { gen });
        }
        self.phase = Phase::LoggedOut;
    }

    /// The link failed or dropped: schedule the next attempt, and say why.
    fn link_down(&mut self, reason: String) {
        if self.token.is_none() {
            return;
        }
        tracing::info!(reason = %reason, "link down");
        self.teardown();
        let r = self.random();
        let delay = self.backoff.next_delay_with(r);
        let now = self.now.mono;
        let since = *self.outage_since.get_or_insert(now);
        self.last_reason = reason;
        let next_retry_at = self.now.wall + chrono::Duration::from_std(delay).unwrap_or_default();
        self.phase = Phase::Waiting { until: now + delay };
        let state = outage_state(self.backoff.attempts() + 1, now - since, &self.last_reason, Some(next_retry_at));
        self.set_link(state);
    }

    /// The server says why it is about to disconnect this link: a session it ended ends here too, with the
    /// reason in words; any other reason drops the link, and the next connection catches up on what it missed.
    fn server_disconnect(&mut self, payload: &serde_json::Value) {
        let Ok(why) = serde_json::from_value::<ServerDisconnect>(payload.clone()) else {
            return self.link_down("the server disconnected (it gave no reason this app understands)".into());
        };
        match why.reason.ends_session() {
            // A token already replaced by a refresh this app holds is not the end of the session.
            Some(LogoutReason::Expired) if self.token_outlives_now() => {
                self.link_down(format!("the server disconnected: {}", why.message))
            }
            Some(reason) => {
                tracing::info!(reason = why.reason.as_str(), "the server ended the session");
                self.end_session(reason);
                let message = if why.message.is_empty() { why.reason.message() } else { &why.message };
                self.out.push(Action::Emit(ClientEvent::Warning(format!("logged out: {message}"))));
            }
            None => self.link_down(format!("the server disconnected: {}", why.reason.message())),
        }
    }

    /// Whether the token held now is still within its time.
    fn token_outlives_now(&self) -> bool {
        let exp = self.token.as_ref().and_then(|t| t.claims()).and_then(|c| c.exp);
        exp.is_some_and(|exp| exp > self.now.wall.timestamp())
    }

    /// The server refused the session (`message`, its words): it ends here, and the view says why.
    fn refused(&mut self, message: &str) {
        tracing::info!(message, "session refused; logged out");
        let exp = self.token.as_ref().and_then(|t| t.claims()).and_then(|c| c.exp);
        let reason = why_refused(exp, self.now.wall.timestamp(), message);
        self.end_session(reason);
        self.out.push(Action::Emit(ClientEvent::Warning(format!("logged out: {message}"))));
    }

    /// The one way a session ends: the link closed, the token forgotten and out of the store, the view told why.
    /// The grace after `Suspend` is over: the link closes and the view says why nothing arrives.
    fn suspend_now(&mut self) {
        self.suspend_at = None;
        if self.token.is_none() {
            return;
        }
        self.teardown();
        self.phase = Phase::Suspended;
        self.outage_since = None;
        self.flush();
        self.set_link(LinkState::Offline { reason: PAUSED.to_owned(), attempt: 0, next_retry_at: None });
    }

    fn end_session(&mut self, reason: LogoutReason) {
        self.suspend_at = None;
        // The server removes the devices of a sign-in that ended; the next session registers again.
        self.push = PushRegistration { wanted: self.push.wanted.take(), ..Default::default() };
        self.teardown();
        self.token = None;
        self.out.push(Action::ClearToken);
        self.set_link(LinkState::LoggedOut { reason: Some(reason) });
        self.apply(Input::User(None));
    }

    /// With the extension, a session in use is kept: the token is refreshed before it expires, so the user is not
    /// asked for the password again. (Without it, an expired token means a new login.)
    fn maybe_refresh(&mut self) {
        let now = self.now.mono;
        if self.extensions != Some(true) || self.refresh_not_before.is_some_and(|t| now < t) {
            return;
        }
        let Some(token) = self.token.clone() else { return };
        let Some(exp) = token.claims().and_then(|c| c.exp) else { return };
        if exp - self.now.wall.timestamp() > self.timing.refresh_before.as_secs() as i64 {
            return;
        }
        self.refresh_not_before = Some(now + REFRESH_PAUSE);
        self.out.push(Action::Refresh { token });
    }

    fn on_deadline(&mut self) {
        let now = self.now.mono;
        if self.suspend_at.is_some_and(|t| t <= now) {
            self.suspend_now();
        }
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
        let timing = self.timing.clone();
        match &mut self.phase {
            Phase::Waiting { until } if *until <= now => self.connect(),
            Phase::Connecting { deadline, .. } if *deadline <= now => {
                let s = timing.connect_timeout.as_secs();
                self.link_down(format!("the server did not answer within {s} s"));
            }
            Phase::CatchingUp { deadline, .. } if *deadline <= now => {
                let s = timing.catch_up_timeout.as_secs();
                self.link_down(format!("catching up failed: no answer within {s} s"));
            }
            Phase::Live { gen, next_heartbeat, last_ack } if *next_heartbeat <= now => {
                let gen = *gen;
                *next_heartbeat = now + timing.heartbeat_every;
                if now.duration_since(*last_ack) > timing.heartbeat_timeout {
                    // A server with the extensions always acks (CONTRACT.md); another, once it has.
                    if self.server_acks || self.extensions == Some(true) {
                        let s = timing.heartbeat_timeout.as_secs();
                        self.link_down(format!("no answer from the server for {s} s"));
                        return;
                    }
                    // Never acked yet: either this server does not ack room requests, or the path died before
                    // the first ack. A health check over a fresh connection tells them apart.
                    *last_ack = now;
                    self.out.push(Action::HealthCheck { gen });
                }
                tracing::trace!(gen, "heartbeat");
                self.out.push(Action::Heartbeat { gen });
            }
            _ => {}
        }
    }

    /// A uniform number in [0, 1) for the backoff's jitter (xorshift64*).
    fn random(&mut self) -> f64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        let x = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D);
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Why the server refused a session: a token past its `exp` expired; one the server says it revoked was
/// revoked; anything else is a plain refusal.
pub fn why_refused(exp: Option<i64>, now: i64, message: &str) -> LogoutReason {
    if exp.is_some_and(|exp| exp <= now) {
        LogoutReason::Expired
    } else if message.to_ascii_lowercase().contains("revoked") {
        LogoutReason::Revoked
    } else {
        LogoutReason::Refused
    }
}

#[cfg(test)]
mod tests;

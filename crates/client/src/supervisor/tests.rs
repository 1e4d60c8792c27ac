//! The supervisor, walked through every interleaving of a reconnect without a network or a clock: how the
//! connection attempt ends, how its catch-up ends, where a live event lands, and a 401, a refresh or a logout
//! on the way. Each case ends with the invariants a customer relies on: never `Live` over a gap, a watermark
//! that never passes a change not applied, and every change applied exactly once after the recovery.
//!
//! The store's log for order `o1`: change `n` moves it to the `n`-th status (1 pending … 6 delivered). The
//! customer's cache holds changes up to [`CACHED`]; the server's head is [`HEAD`] when the link comes back, and
//! change [`NEW`] happens while the catch-up runs.

use std::time::{Duration, Instant};

use order_protocol::names::CUSTOMER_ORDER_UPDATE;
use order_protocol::*;

use super::*;
use crate::fixtures::{order, t};

const CACHED: u64 = 2;
const HEAD: u64 = 4;
const NEW: u64 = 5;

fn rank(s: Status) -> usize {
    Status::ALL.iter().position(|x| *x == s).unwrap()
}

fn status(seq: u64) -> Status {
    Status::ALL[seq as usize - 1]
}

/// Change `seq` as the server sends it (live or in a replay).
fn change(seq: u64) -> (String, serde_json::Value) {
    let o = order("o1", status(seq), seq as i64 * 10);
    let payload = serde_json::to_value(OrderUpdate::of(&o, Some(seq))).unwrap();
    (CUSTOMER_ORDER_UPDATE.to_owned(), payload)
}

/// The same change without a `seq`, as a base-contract server sends it.
fn base_change(seq: u64) -> (String, serde_json::Value) {
    let o = order("o1", status(seq), seq as i64 * 10);
    (CUSTOMER_ORDER_UPDATE.to_owned(), serde_json::to_value(OrderUpdate::of(&o, None)).unwrap())
}

/// The replay of changes `from..=to` and the log's head after it.
fn replay(from: u64, to: u64) -> CatchUp {
    let mut inputs: Vec<Input> = (from..=to)
        .map(|s| {
            let (event, payload) = change(s);
            Input::Wire { event, payload, source: Source::CatchUp, at: t(100) }
        })
        .collect();
    inputs.push(Input::CaughtUp { latest_seq: to, reset: false });
    CatchUp { inputs, extensions: true, new_token: None }
}

/// The 410 answer: the log was recreated; the driver reloads the orders and takes the new head.
fn reset_reload(to: u64) -> CatchUp {
    let inputs = vec![
        Input::Orders { orders: vec![order("o1", status(to), to as i64 * 10)], source: Source::CatchUp, at: t(100) },
        Input::CaughtUp { latest_seq: to, reset: true },
    ];
    CatchUp { inputs, extensions: true, new_token: None }
}

/// A base-contract catch-up: the orders as they are now.
fn reload(to: u64) -> CatchUp {
    let orders = vec![order("o1", status(to), to as i64 * 10)];
    CatchUp {
        inputs: vec![Input::Orders { orders, source: Source::CatchUp, at: t(100) }],
        extensions: false,
        new_token: None,
    }
}

/// A JWT-shaped token whose claims say `exp` (only the claims are read here).
fn token(exp: i64) -> Token {
    let claims = format!(r#"{{"userId":"u1","email":"a@b.c","exp":{exp}}}"#);
    Token::new(format!("h.{}.s", base64url(claims.as_bytes())))
}

fn base64url(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn timing() -> Timing {
    Timing {
        heartbeat_every: Duration::from_secs(2),
        heartbeat_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(8),
        catch_up_timeout: Duration::from_secs(60),
        refresh_before: Duration::from_secs(15 * 60),
        suspend_grace: Duration::from_secs(30),
    }
}

/// The cache of a customer who saw changes up to `upto` live.
fn cache(upto: u64, with_seq: bool) -> Persisted {
    let mut book = OrderBook::new();
    book.apply(Input::Link(LinkState::Live { since: t(0) }));
    for s in 1..=upto {
        let (event, payload) = if with_seq { change(s) } else { base_change(s) };
        book.apply(Input::Wire { event, payload, source: Source::Live, at: t(s as i64 * 10) });
    }
    book.persisted()
}

/// One supervisor on a made-up clock, with everything it asked for.
struct Run {
    sup: Supervisor,
    base: Instant,
    at: Duration,
    log: Vec<Action>,
    /// Every status `o1` was drawn at, in order.
    drawn: Vec<Status>,
    /// What `last_seq` was each time the link turned `Live`.
    live_at: Vec<Option<u64>>,
}

impl Run {
    /// A customer whose app starts with a token and a cache of `cached` changes.
    fn start(cached: Persisted, exp: i64) -> (Run, u64) {
        let base = Instant::now();
        let sup = Supervisor::new(timing(), None, 7, Now { mono: base, wall: t(0) });
        let mut run = Run { sup, base, at: Duration::ZERO, log: vec![], drawn: vec![], live_at: vec![] };
        let who = Identity { user_id: "u1".into(), email: None, name: None };
        let a = run.send(Event::Session { token: token(exp), who, restored: Some(Box::new(cached)) });
        let gen = opened_gen(&a).expect("a session opens a link");
        (run, gen)
    }

    fn now(&self) -> Now {
        Now { mono: self.base + self.at, wall: t(self.at.as_secs() as i64) }
    }

    fn send(&mut self, e: Event) -> Vec<Action> {
        let actions = self.sup.handle(e, self.now());
        for a in &actions {
            match a {
                Action::Emit(ClientEvent::Update { patch: Patch::Order { order, .. }, .. }) => {
                    self.drawn.push(order.status)
                }
                Action::Emit(ClientEvent::Update {
                    patch: Patch::Link { link: LinkState::Live { .. }, .. }, ..
                }) => {
                    self.live_at.push(self.sup.book().last_seq());
                }
                _ => {}
            }
        }
        self.log.extend(actions.iter().cloned());
        actions
    }

    /// Lets time run to the next deadline and fires it.
    fn tick(&mut self) -> Vec<Action> {
        let due = self.sup.next_deadline().expect("something waits on time");
        self.at = self.at.max(due - self.base);
        self.send(Event::Tick)
    }

    fn live(&mut self, gen: u64, (name, payload): (String, serde_json::Value)) {
        self.send(Event::Link { gen, event: LinkEvent::Event { name, payload } });
    }

    /// The transport opens and the server accepts: the catch-up starts, from where?
    fn connect(&mut self, gen: u64) -> Option<Option<u64>> {
        self.send(Event::Opened { gen, result: Ok(()) });
        let a = self.send(Event::Link { gen, event: LinkEvent::Connected });
        a.iter().find_map(|a| match a {
            Action::CatchUp { gen: g, since, .. } if *g == gen => Some(*since),
            _ => None,
        })
    }

    /// Lets time run, deadline by deadline, until `done` holds.
    fn tick_until(&mut self, done: impl Fn(&Run) -> bool) {
        for _ in 0..20 {
            if done(self) {
                return;
            }
            self.tick();
        }
        panic!("still waiting: {:?}", self.link());
    }

    /// Waits out the backoff: the next attempt's generation.
    fn retry(&mut self) -> u64 {
        for _ in 0..10 {
            if let Some(gen) = opened_gen(&self.tick()) {
                return gen;
            }
        }
        panic!("no retry: {:?}", self.link());
    }

    fn link(&self) -> LinkState {
        self.sup.view().link
    }

    /// Why the last attempt failed, if the link says.
    fn why(&self) -> String {
        match self.link() {
            LinkState::Connecting { reason, .. } => reason.unwrap_or_default(),
            LinkState::Offline { reason, .. } => reason,
            _ => String::new(),
        }
    }

    fn watermark(&self) -> Option<u64> {
        self.sup.book().last_seq()
    }

    /// Every state the cache was written with.
    fn saved(&self) -> Vec<&Persisted> {
        self.log
            .iter()
            .filter_map(|a| match a {
                Action::SaveCache { state, .. } => Some(&**state),
                _ => None,
            })
            .collect()
    }

    fn saved_watermarks(&self) -> Vec<Option<u64>> {
        self.saved().iter().map(|s| s.last_seq).collect()
    }
}

fn opened_gen(actions: &[Action]) -> Option<u64> {
    actions.iter().find_map(|a| match a {
        Action::Open { gen, .. } => Some(*gen),
        _ => None,
    })
}

fn reason(link: &LinkState) -> String {
    match link {
        LinkState::Connecting { reason, .. } => reason.clone().unwrap_or_default(),
        LinkState::Offline { reason, .. } => reason.clone(),
        other => panic!("not a retrying link: {other:?}"),
    }
}

#[derive(Clone, Copy, Debug)]
enum Connect {
    Ok,
    /// The transport could not open (refused, DNS, TLS).
    OpenFailed,
    /// The server refused the CONNECT for a reason other than the session.
    Refused,
    /// Opened, but no CONNECT reply within the timeout.
    NoAnswer,
}

#[derive(Clone, Copy, Debug)]
enum CatchUpEnd {
    Ok,
    /// The replay's answer broke off in the middle.
    FailedHalfway,
    TimedOut,
    Unavailable,
    /// 410: the log was recreated.
    Gone,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum LiveAt {
    /// None until the link is live.
    Nowhere,
    /// Change `HEAD` arrives live right after the CONNECT reply; the replay has it too.
    Before,
    /// Change `NEW` happens while the catch-up runs: it arrives live, the replay does not have it.
    During,
    /// Change `NEW` arrives once the link is live (and, for the others, again: a duplicate).
    After,
}

/// The first attempt ends as `connect` says; the second connects and catches up as `end` says; a third (if
/// needed) succeeds. Whatever the mix, the customer ends with every change applied once, in order.
fn reconnect(connect: Connect, end: CatchUpEnd, live: LiveAt) {
    let case = format!("{connect:?} / {end:?} / live {live:?}");
    let (mut run, mut gen) = Run::start(cache(CACHED, true), i64::MAX / 2);
    match connect {
        Connect::Ok => {}
        Connect::OpenFailed => {
            run.send(Event::Opened { gen, result: Err("connection refused".into()) });
        }
        Connect::Refused => {
            run.send(Event::Opened { gen, result: Ok(()) });
            run.send(Event::Link { gen, event: LinkEvent::Refused("too many connections".into()) });
        }
        Connect::NoAnswer => {
            run.send(Event::Opened { gen, result: Ok(()) });
            run.tick_until(|r| r.why().contains("did not answer"));
        }
    }
    if !matches!(connect, Connect::Ok) {
        assert!(!run.link().is_live(), "{case}");
        assert!(!reason(&run.link()).is_empty(), "{case}: the link says why");
        assert_eq!(run.watermark(), Some(CACHED), "{case}");
        gen = run.retry();
    }

    assert_eq!(run.connect(gen), Some(Some(CACHED)), "{case}: the replay starts at the watermark");
    if live == LiveAt::Before {
        run.live(gen, change(HEAD));
    }
    if live == LiveAt::During {
        run.live(gen, change(NEW));
        assert_eq!(run.watermark(), Some(CACHED), "{case}: a live event during the catch-up moves no cursor");
        assert!(!run.link().is_live(), "{case}");
    }
    let result = match end {
        CatchUpEnd::Ok => Ok(replay(CACHED + 1, HEAD)),
        CatchUpEnd::Gone => Ok(reset_reload(HEAD)),
        CatchUpEnd::FailedHalfway => Err(ApiError::Network("the connection was reset mid-answer".into())),
        CatchUpEnd::Unavailable => Err(ApiError::Status { status: 503, message: "Service Unavailable".into() }),
        CatchUpEnd::TimedOut => {
            run.tick_until(|r| r.why().contains("no answer within"));
            // Its answer comes after all, too late: it changes nothing.
            Ok(replay(CACHED + 1, HEAD))
        }
    };
    run.send(Event::CaughtUp { gen, result });

    let failed = matches!(end, CatchUpEnd::FailedHalfway | CatchUpEnd::Unavailable | CatchUpEnd::TimedOut);
    if failed {
        assert!(!run.link().is_live(), "{case}: never live over a gap");
        let why = reason(&run.link());
        assert!(why.starts_with("catching up failed: "), "{case}: {why}");
        assert_eq!(run.watermark(), Some(CACHED), "{case}: the watermark stays below the gap");
        gen = run.retry();
        // By now the store has moved on to `NEW`, whatever the customer saw of it.
        assert_eq!(run.connect(gen), Some(Some(CACHED)), "{case}: the retry replays from the watermark");
        run.send(Event::CaughtUp { gen, result: Ok(replay(CACHED + 1, NEW)) });
    }
    assert!(run.link().is_live(), "{case}: {:?}", run.link());
    // Once live, `NEW` comes live (again, if it came during the catch-up): applied once.
    run.live(gen, change(NEW));

    assert_eq!(run.watermark(), Some(NEW), "{case}");
    let o1 = run.sup.view().orders[0].clone();
    assert_eq!(o1.status, status(NEW), "{case}");
    let timeline: Vec<Status> = o1.timeline.iter().map(|e| e.status).collect();
    assert_eq!(timeline, (1..=NEW).map(status).collect::<Vec<_>>(), "{case}: every change in the timeline");
    // Drawn once each and never backwards; a step may be skipped when a newer one was drawn first.
    assert!(run.drawn.windows(2).all(|w| rank(w[0]) < rank(w[1])), "{case}: drawn {:?}", run.drawn);
    assert_eq!(run.drawn.last(), Some(&status(NEW)), "{case}");
    for at_live in &run.live_at {
        assert!(at_live.is_some_and(|s| s >= HEAD), "{case}: live at watermark {at_live:?}, before the head");
    }
    // Nothing the app writes to disk claims a change it had not applied by then.
    run.tick_until(|r| r.sup.next_deadline().is_some_and(|d| d > r.base + r.at + Duration::from_millis(300)));
    for state in run.saved() {
        let seq = state.last_seq.expect("a watermark");
        assert!(seq >= CACHED, "{case}");
        assert!(state.orders[0].timeline.len() as u64 >= seq, "{case}: saved watermark {seq} over a gap");
    }
    assert_eq!(run.saved_watermarks().last(), Some(&Some(NEW)), "{case}: the cache ends at the watermark");
}

#[test]
fn every_interleaving_of_a_reconnect_applies_each_change_once() {
    let connects = [Connect::Ok, Connect::OpenFailed, Connect::Refused, Connect::NoAnswer];
    let ends =
        [CatchUpEnd::Ok, CatchUpEnd::FailedHalfway, CatchUpEnd::TimedOut, CatchUpEnd::Unavailable, CatchUpEnd::Gone];
    let lives = [LiveAt::Nowhere, LiveAt::Before, LiveAt::During, LiveAt::After];
    for c in connects {
        for e in ends {
            for l in lives {
                reconnect(c, e, l);
            }
        }
    }
}

/// A live event lands during a catch-up, which then dies: the cursor must stay below the changes the catch-up
/// did not bring, or they would never come.
#[test]
fn a_catch_up_that_dies_after_a_live_event_leaves_the_cursor_below_the_gap() {
    let (mut run, gen) = Run::start(cache(CACHED, true), i64::MAX / 2);
    run.connect(gen);
    run.live(gen, change(NEW));
    run.send(Event::CaughtUp { gen, result: Err(ApiError::Network("reset".into())) });
    // The app is killed here: what is on disk?
    run.send(Event::Shutdown);
    let saved = run.saved_watermarks();
    assert_eq!(saved.last(), Some(&Some(CACHED)), "the cache must not skip changes 3 and 4");
}

#[test]
fn a_401_anywhere_ends_the_session_and_says_why() {
    let now = t(0).timestamp();
    type Steps = fn(&mut Run, u64);
    let cases: [(&str, Steps, LogoutReason); 3] = [
        (
            "the CONNECT is refused for the session",
            |r, g| {
                r.send(Event::Opened { gen: g, result: Ok(()) });
                r.send(Event::Link { gen: g, event: LinkEvent::Refused(format!("{AUTH_ERROR_PREFIX} invalid token")) });
            },
            LogoutReason::Refused,
        ),
        (
            "the catch-up is refused: revoked",
            |r, g| {
                r.connect(g);
                r.send(Event::CaughtUp { gen: g, result: Err(ApiError::Unauthorized("the token was revoked".into())) });
            },
            LogoutReason::Revoked,
        ),
        (
            "the refresh is refused while live",
            |r, g| {
                r.connect(g);
                r.send(Event::CaughtUp { gen: g, result: Ok(replay(CACHED + 1, HEAD)) });
                r.send(Event::Refreshed(Err(ApiError::Unauthorized("invalid token".into()))));
            },
            LogoutReason::Refused,
        ),
    ];
    for (case, steps, want) in cases {
        let (mut run, gen) = Run::start(cache(CACHED, true), now + 3600);
        steps(&mut run, gen);
        assert_eq!(run.link(), LinkState::LoggedOut { reason: Some(want) }, "{case}");
        assert!(run.log.contains(&Action::ClearToken), "{case}: the token leaves the store");
        assert!(run.log.contains(&Action::Close { gen }), "{case}: the link is closed");
        // No retry follows: an hour on, nothing opens.
        run.at += Duration::from_secs(3600);
        let a = run.send(Event::Tick);
        assert_eq!(opened_gen(&a), None, "{case}: a refused session does not reconnect");
        assert_eq!(opened_gen(&run.send(Event::RetryNow)), None, "{case}");
    }
}

#[test]
fn an_expired_token_refused_is_expired() {
    let (mut run, gen) = Run::start(cache(CACHED, true), t(0).timestamp() - 1);
    run.connect(gen);
    run.send(Event::CaughtUp { gen, result: Err(ApiError::Unauthorized("jwt expired".into())) });
    assert_eq!(run.link(), LinkState::LoggedOut { reason: Some(LogoutReason::Expired) });
}

#[test]
fn a_token_near_its_end_is_refreshed_once_live_and_a_failed_refresh_waits() {
    // Expires in ten minutes: inside `refresh_before`.
    let (mut run, gen) = Run::start(cache(CACHED, true), t(0).timestamp() + 600);
    run.connect(gen);
    run.send(Event::CaughtUp { gen, result: Ok(replay(CACHED + 1, HEAD)) });
    let refreshes = |run: &Run| run.log.iter().filter(|a| matches!(a, Action::Refresh { .. })).count();
    run.tick();
    assert_eq!(refreshes(&run), 1, "refreshed at the first timer once live");
    // A 503: the session goes on, and no new refresh for a minute.
    run.send(Event::Refreshed(Err(ApiError::Status { status: 503, message: "busy".into() })));
    assert!(run.link().is_live());
    // The server answers every heartbeat meanwhile.
    let tick_acked = |run: &mut Run| {
        run.tick();
        run.send(Event::Link { gen, event: LinkEvent::HeartbeatAck });
    };
    for _ in 0..10 {
        tick_acked(&mut run);
    }
    assert_eq!(refreshes(&run), 1, "no refresh storm");
    while run.at < Duration::from_secs(61) {
        tick_acked(&mut run);
    }
    assert!(run.link().is_live());
    assert_eq!(refreshes(&run), 2, "tried again after the pause");
    let fresh = token(t(0).timestamp() + 7200);
    run.send(Event::Refreshed(Ok(fresh.clone())));
    assert!(run.log.contains(&Action::SaveToken(fresh.clone())), "the new token is kept");
    // The next connection uses it.
    run.send(Event::Link { gen, event: LinkEvent::Down("gone".into()) });
    run.tick();
    assert!(run.log.iter().any(|a| matches!(a, Action::Open { token, .. } if *token == fresh)));
}

#[test]
fn a_base_contract_server_is_not_refreshed_and_not_revoked() {
    let (mut run, gen) = Run::start(cache(CACHED, false), t(0).timestamp() + 600);
    assert_eq!(run.connect(gen), Some(None), "no position on a base-contract cache");
    run.send(Event::CaughtUp { gen, result: Ok(reload(HEAD)) });
    for _ in 0..5 {
        run.tick();
    }
    run.send(Event::Logout);
    assert!(!run.log.iter().any(|a| matches!(a, Action::Refresh { .. } | Action::Revoke { .. })));
}

#[test]
fn logout_in_any_phase_closes_revokes_and_forgets() {
    type Steps = fn(&mut Run, u64);
    let phases: [(&str, Steps); 5] = [
        ("connecting", |_, _| {}),
        ("catching up", |r, g| {
            r.connect(g);
        }),
        ("live", |r, g| {
            r.connect(g);
            r.send(Event::CaughtUp { gen: g, result: Ok(replay(CACHED + 1, HEAD)) });
        }),
        ("waiting to retry", |r, g| {
            r.connect(g);
            r.send(Event::CaughtUp { gen: g, result: Ok(replay(CACHED + 1, HEAD)) });
            r.send(Event::Link { gen: g, event: LinkEvent::Down("cut".into()) });
        }),
        ("catching up after a failed one", |r, g| {
            r.connect(g);
            r.send(Event::CaughtUp { gen: g, result: Err(ApiError::Network("reset".into())) });
            let g = r.retry();
            r.connect(g);
        }),
    ];
    for (phase, steps) in phases {
        let (mut run, gen) = Run::start(cache(CACHED, true), i64::MAX / 2);
        steps(&mut run, gen);
        let before = run.log.len();
        run.send(Event::Logout);
        let after = &run.log[before..];
        assert_eq!(run.link(), LinkState::LoggedOut { reason: Some(LogoutReason::SignedOut) }, "{phase}");
        assert!(after.contains(&Action::ClearToken), "{phase}");
        assert!(after.contains(&Action::ClearCache), "{phase}");
        assert!(run.sup.view().orders.is_empty(), "{phase}: nothing personal stays on screen");
        let open = match run.log[..before].iter().rev().find_map(|a| match a {
            Action::Open { gen, .. } => Some(*gen),
            _ => None,
        }) {
            Some(g) => g,
            None => gen,
        };
        let closed_earlier = run.log[..before].contains(&Action::Close { gen: open });
        assert!(closed_earlier || after.contains(&Action::Close { gen: open }), "{phase}: the link is closed");
        // Revoked unless the server is known not to revoke (base contract): not knowing yet is no reason to
        // leave a live token behind.
        assert!(after.iter().any(|a| matches!(a, Action::Revoke { .. })), "{phase}: the token is revoked");
        // Whatever was in flight reports back after: nothing comes back to life.
        run.send(Event::CaughtUp { gen: open, result: Ok(replay(CACHED + 1, HEAD)) });
        run.send(Event::Link { gen: open, event: LinkEvent::Connected });
        run.live(open, change(NEW));
        run.at += Duration::from_secs(3600);
        assert_eq!(opened_gen(&run.send(Event::Tick)), None, "{phase}");
        assert!(run.sup.view().orders.is_empty(), "{phase}: a late event of the old session shows nothing");
        assert_eq!(run.link(), LinkState::LoggedOut { reason: Some(LogoutReason::SignedOut) }, "{phase}");
    }
}

#[test]
fn a_stale_link_is_closed_and_heard_no_more() {
    let (mut run, g1) = Run::start(cache(CACHED, true), i64::MAX / 2);
    // The first attempt times out before its transport opens; the retry is link 2.
    run.tick_until(|r| r.why().contains("did not answer"));
    let g2 = run.retry();
    assert!(g2 > g1);
    let a = run.send(Event::Opened { gen: g1, result: Ok(()) });
    assert_eq!(a, vec![Action::Close { gen: g1 }], "a link that opens too late is closed at once");
    run.send(Event::Link { gen: g1, event: LinkEvent::Connected });
    run.live(g1, change(NEW));
    run.send(Event::CaughtUp { gen: g1, result: Ok(replay(CACHED + 1, NEW)) });
    run.send(Event::Link { gen: g1, event: LinkEvent::Down("old link died".into()) });
    assert_eq!(run.watermark(), Some(CACHED), "nothing of link 1 counts");
    assert!(run.drawn.is_empty());
    assert_eq!(run.connect(g2), Some(Some(CACHED)));
    run.send(Event::CaughtUp { gen: g2, result: Ok(replay(CACHED + 1, HEAD)) });
    assert!(run.link().is_live());
}

/// Ticks until the link leaves `Live`; when it did.
fn dropped_at(run: &mut Run) -> Option<Duration> {
    for _ in 0..10 {
        run.tick();
        if !run.link().is_live() {
            return Some(run.at);
        }
    }
    None
}

#[test]
fn a_link_that_stops_answering_is_dropped_once_it_has_acked() {
    let (mut run, gen) = Run::start(cache(CACHED, false), i64::MAX / 2);
    run.connect(gen);
    run.send(Event::CaughtUp { gen, result: Ok(reload(HEAD)) });
    run.tick();
    run.send(Event::Link { gen, event: LinkEvent::HeartbeatAck });
    // Silence from here: after `heartbeat_timeout` the link is taken as gone.
    let down_at = dropped_at(&mut run).expect("a silent link is dropped");
    assert!(down_at <= Duration::from_secs(2 + 5 + 2), "dropped within a heartbeat of the timeout: {down_at:?}");
    assert_eq!(reason(&run.link()), "no answer from the server for 5 s");
}

/// The chaos soak's find: a client (re)started onto a path that went silent before any heartbeat was acked
/// asked `/health` (which answered) and showed `Live` for good.
#[test]
fn a_server_with_the_extensions_that_never_acks_is_dropped() {
    let (mut run, gen) = Run::start(cache(CACHED, true), i64::MAX / 2);
    run.connect(gen);
    run.send(Event::CaughtUp { gen, result: Ok(replay(CACHED + 1, HEAD)) });
    let down_at = dropped_at(&mut run).expect("a silent link is dropped");
    assert!(down_at <= Duration::from_secs(5 + 2), "{down_at:?}");
    assert_eq!(reason(&run.link()), "no answer from the server for 5 s");
}

#[test]
fn a_base_contract_server_that_never_acks_gets_a_health_check_not_a_drop() {
    let (mut run, gen) = Run::start(cache(CACHED, false), i64::MAX / 2);
    run.connect(gen);
    run.send(Event::CaughtUp { gen, result: Ok(reload(HEAD)) });
    for _ in 0..6 {
        run.tick();
    }
    assert!(run.link().is_live(), "a server that does not ack room requests is not dropped for it");
    assert!(run.log.iter().any(|a| matches!(a, Action::HealthCheck { .. })));
    run.send(Event::Failed { gen, reason: "the server does not answer".into() });
    assert_eq!(reason(&run.link()), "the server does not answer");
}

#[test]
fn a_long_outage_turns_offline_on_time_and_retry_now_skips_the_wait() {
    let (mut run, gen) = Run::start(cache(CACHED, true), i64::MAX / 2);
    run.send(Event::Opened { gen, result: Err("connection refused".into()) });
    while matches!(run.link(), LinkState::Connecting { .. }) {
        run.tick();
        assert!(run.at <= Duration::from_secs(11), "shown offline ~10 s into the outage, not later");
    }
    assert!(matches!(run.link(), LinkState::Offline { .. }), "{:?}", run.link());
    let a = run.send(Event::RetryNow);
    assert!(opened_gen(&a).is_some(), "waking up retries at once");
}

#[test]
fn a_refused_session_says_why() {
    assert_eq!(why_refused(Some(100), 100, "the token has expired"), LogoutReason::Expired);
    assert_eq!(why_refused(Some(100), 200, "Authentication error: invalid or expired token"), LogoutReason::Expired);
    assert_eq!(why_refused(Some(300), 200, "not authorised: the token was revoked"), LogoutReason::Revoked);
    assert_eq!(why_refused(None, 200, "Authentication error: invalid or expired token"), LogoutReason::Refused);
}

#[test]
fn the_backoff_replays_with_its_seed() {
    let delays = |seed| {
        let base = Instant::now();
        let at = |d: Duration| Now { mono: base + d, wall: t(d.as_secs() as i64) };
        let mut s = Supervisor::new(timing(), None, seed, at(Duration::ZERO));
        let who = Identity { user_id: "u1".into(), email: None, name: None };
        let mut a = s.handle(Event::Session { token: token(i64::MAX / 2), who, restored: None }, at(Duration::ZERO));
        let (mut out, mut now) = (Vec::new(), Duration::ZERO);
        while out.len() < 5 {
            if let Some(gen) = opened_gen(&a) {
                out.push(now);
                s.handle(Event::Opened { gen, result: Err("refused".into()) }, at(now));
            }
            now = s.next_deadline().unwrap() - base;
            a = s.handle(Event::Tick, at(now));
        }
        out
    };
    assert_eq!(delays(42), delays(42));
    assert_ne!(delays(42), delays(1000));
}

#[test]
fn a_live_event_past_a_bound_is_skipped_in_words() {
    let (mut run, gen) = Run::start(cache(CACHED, true), i64::MAX / 2);
    run.connect(gen);
    run.send(Event::CaughtUp { gen, result: Ok(replay(CACHED + 1, HEAD)) });
    let (name, mut payload) = change(NEW);
    payload["orderNumber"] = serde_json::Value::String("x".repeat(100 * 1024));
    let a = run.send(Event::Link { gen, event: LinkEvent::Event { name, payload } });
    let warned = a.iter().any(|a| {
        matches!(a, Action::Emit(ClientEvent::Warning(w))
            if w == "skipped an event `customer_order_update`: it holds a text longer than 64 KiB")
    });
    assert!(warned, "{a:?}");
    assert_eq!(run.sup.view().orders[0].status, status(HEAD), "nothing of it applied");
    assert!(run.link().is_live(), "one bad event does not cost the link");
}

/// The server says why it disconnects: a session it ended ends here with that reason and no reconnect; a
/// connection it dropped (a slow reader) reconnects and catches up from the watermark; a reason this app does
/// not know yet is a dropped connection too.
#[test]
fn a_server_disconnect_ends_the_session_or_only_the_link_as_its_reason_says() {
    let now = t(0).timestamp();
    let ends: [(&str, Option<LogoutReason>); 6] = [
        ("signed_out", Some(LogoutReason::Revoked)),
        ("session_revoked", Some(LogoutReason::Revoked)),
        ("session_expired", Some(LogoutReason::Expired)),
        ("role_changed", Some(LogoutReason::Refused)),
        ("too_slow", None),
        ("from_a_newer_server", None),
    ];
    for (reason, ends_session) in ends {
        // An expiry the server reports for a token this app no longer holds is not believed: here the token
        // held has expired too.
        let exp = if reason == "session_expired" { now - 1 } else { now + 3600 };
        let (mut run, gen) = Run::start(cache(CACHED, true), exp);
        run.connect(gen);
        run.send(Event::CaughtUp { gen, result: Ok(replay(CACHED + 1, HEAD)) });
        run.live(gen, ("server_disconnect".into(), serde_json::json!({ "reason": reason, "message": "words" })));
        match ends_session {
            Some(want) => {
                assert_eq!(run.link(), LinkState::LoggedOut { reason: Some(want) }, "{reason}");
                assert!(run.log.contains(&Action::ClearToken), "{reason}: the token leaves the store");
                run.at += Duration::from_secs(3600);
                assert_eq!(opened_gen(&run.send(Event::Tick)), None, "{reason}: no reconnect");
            }
            None => {
                assert!(run.why().contains("the server disconnected"), "{reason}: {}", run.why());
                assert!(!run.log.contains(&Action::ClearToken), "{reason}: the session lives on");
                let next = run.retry();
                assert_eq!(run.connect(next), Some(Some(HEAD)), "{reason}: the catch-up starts at the watermark");
            }
        }
    }
    // A token refreshed since the socket opened outlives the expiry the server saw: only the link drops.
    let (mut run, gen) = Run::start(cache(CACHED, true), now + 3600);
    run.connect(gen);
    run.send(Event::CaughtUp { gen, result: Ok(replay(CACHED + 1, HEAD)) });
    run.live(gen, ("server_disconnect".into(), serde_json::json!({ "reason": "session_expired" })));
    assert!(matches!(run.link(), LinkState::Connecting { .. }), "{:?}", run.link());
}

#[test]
fn a_suspension_closes_the_link_after_its_grace_and_a_resume_catches_up_from_where_it_stopped() {
    let (mut run, gen) = Run::start(cache(CACHED, true), i64::MAX / 2);
    assert_eq!(run.connect(gen), Some(Some(CACHED)));
    run.send(Event::CaughtUp { gen, result: Ok(replay(CACHED + 1, CACHED)) });
    assert!(run.link().is_live());

    // A glance at another app: a resume within the grace changes nothing, however long the app then stays.
    run.send(Event::Suspend);
    run.send(Event::Resume);
    let until = run.at + Duration::from_secs(60);
    let glance = stay_live(&mut run, gen, until);
    assert!(!glance.iter().any(|a| matches!(a, Action::Close { .. })), "still live after a short absence");
    assert!(run.link().is_live());

    // Away for longer: the link closes once the grace is over, and no retry follows however long it lasts.
    let suspended_at = run.at;
    run.send(Event::Suspend);
    run.live(gen, change(CACHED + 1));
    let until = run.at + Duration::from_secs(60);
    let closed = stay_live(&mut run, gen, until);
    assert!(closed.contains(&Action::Close { gen }), "{closed:?}");
    assert_eq!(run.at - suspended_at, timing().suspend_grace);
    assert_eq!(reason(&run.link()), super::PAUSED);
    assert_eq!(run.sup.next_deadline(), None, "nothing waits on time while suspended");
    assert_eq!(opened_gen(&run.send(Event::RetryNow)), None, "no retry while suspended");

    // In front again: a new link at once, catching up from the last change applied.
    run.at += Duration::from_secs(3600);
    let gen2 = opened_gen(&run.send(Event::Resume)).expect("a resume connects at once");
    assert!(matches!(run.link(), LinkState::Connecting { attempt: 1, .. }), "{:?}", run.link());
    assert_eq!(run.connect(gen2), Some(Some(CACHED + 1)));
    run.send(Event::CaughtUp { gen: gen2, result: Ok(replay(CACHED + 2, CACHED + 4)) });
    assert!(run.link().is_live());
    assert_eq!(run.sup.book().last_seq(), Some(CACHED + 4));
    assert_eq!(run.drawn, (CACHED + 1..=CACHED + 4).map(status).collect::<Vec<_>>(), "each change once, in order");
}

/// Lets time run on live link `gen` whose server acks every heartbeat, until `until` or until the link closes;
/// returns every action.
fn stay_live(run: &mut Run, gen: u64, until: Duration) -> Vec<Action> {
    let mut all = Vec::new();
    while run.at < until && !all.iter().any(|a| matches!(a, Action::Close { .. })) {
        let a = run.tick();
        if a.iter().any(|a| matches!(a, Action::Heartbeat { .. })) {
            run.send(Event::Link { gen, event: LinkEvent::HeartbeatAck });
        }
        all.extend(a);
    }
    all
}

fn fcm(token: &str) -> DeviceRegistration {
    DeviceRegistration { platform: PushPlatform::Fcm, token: Some(token.into()), subscription: None }
}

fn registrations(run: &Run) -> Vec<DeviceRegistration> {
    run.log
        .iter()
        .filter_map(|a| match a {
            Action::RegisterDevice { device, .. } => Some(device.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_push_token_is_registered_once_per_session_when_live_and_again_when_it_changes() {
    let far = t(0).timestamp() + 7200;
    let (mut run, gen) = Run::start(cache(CACHED, true), far);
    // Known before the link is live: registered once it is.
    run.send(Event::PushDevice(Some(fcm("a"))));
    assert!(registrations(&run).is_empty(), "nothing before the link is live");
    run.connect(gen);
    run.send(Event::CaughtUp { gen, result: Ok(replay(CACHED + 1, HEAD)) });
    assert_eq!(registrations(&run), [fcm("a")]);
    // A network failure: asked again when the link is next live, not at once.
    run.send(Event::DeviceRegistered { device: fcm("a"), result: Err(ApiError::Network("reset".into())) });
    assert_eq!(registrations(&run).len(), 1);
    run.send(Event::Link { gen, event: LinkEvent::Down("gone".into()) });
    let gen = run.retry();
    run.connect(gen);
    run.send(Event::CaughtUp { gen, result: Ok(replay(HEAD + 1, HEAD + 1)) });
    assert_eq!(registrations(&run), [fcm("a"), fcm("a")]);
    run.send(Event::DeviceRegistered { device: fcm("a"), result: Ok("d1".into()) });
    // Registered: a reconnect does not ask again; a new token does.
    run.send(Event::Link { gen, event: LinkEvent::Down("gone".into()) });
    let gen = run.retry();
    run.connect(gen);
    run.send(Event::CaughtUp { gen, result: Ok(replay(HEAD + 2, HEAD + 2)) });
    assert_eq!(registrations(&run).len(), 2);
    run.send(Event::PushDevice(Some(fcm("b"))));
    assert_eq!(registrations(&run).last(), Some(&fcm("b")));
    // A server without the devices route is not asked again in this session.
    let refusal = ApiError::Status { status: 404, message: "no route for POST /api/devices".into() };
    run.send(Event::DeviceRegistered { device: fcm("b"), result: Err(refusal) });
    run.send(Event::PushDevice(Some(fcm("c"))));
    assert_eq!(registrations(&run).len(), 3);
    // The next session registers again (the server removed the old session's devices).
    run.send(Event::Logout);
    let who = Identity { user_id: "u1".into(), email: None, name: None };
    let a = run.send(Event::Session { token: token(far), who, restored: None });
    let gen = opened_gen(&a).expect("a new session opens a link");
    run.connect(gen);
    run.send(Event::CaughtUp { gen, result: Ok(replay(1, HEAD + 2)) });
    assert_eq!(registrations(&run).last(), Some(&fcm("c")));
    assert_eq!(registrations(&run).len(), 4);
}

#[test]
fn a_base_contract_server_is_never_asked_to_register_a_device() {
    let (mut run, gen) = Run::start(cache(CACHED, false), t(0).timestamp() + 7200);
    run.send(Event::PushDevice(Some(fcm("a"))));
    run.connect(gen);
    run.send(Event::CaughtUp { gen, result: Ok(reload(HEAD)) });
    assert!(registrations(&run).is_empty());
}

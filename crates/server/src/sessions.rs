//! Ending sockets with their session: a sign-in that ended (logout, revocation, role change, whichever
//! process ended it, as `session_ends` says) and a token that expired (each socket's deadline, kept here)
//! disconnect their sockets within a second, after a `server_disconnect` that says why. A socket that does not
//! read its events is cut the same way (`cut`), so it learns it has a gap instead of silently losing events.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::Duration;

use order_protocol::{names, rooms, DisconnectReason, ServerDisconnect};
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;
use socketioxide::{SendError, SocketError, SocketIo};
use tokio::sync::watch;

use crate::realtime::Session;
use crate::store::SessionEnd;
use crate::AppCtx;

/// How often the log of ended sessions and the deadlines are looked at (an end in this process wakes it at once).
const TICK: Duration = Duration::from_millis(250);

/// Sockets by the time (Unix seconds) their token expires.
#[derive(Default)]
pub struct Expiries(Mutex<BTreeSet<(i64, Sid)>>);

impl Expiries {
    pub fn insert(&self, exp: i64, sid: Sid) {
        self.0.lock().expect("expiries lock").insert((exp, sid));
    }

    pub fn remove(&self, exp: i64, sid: Sid) {
        self.0.lock().expect("expiries lock").remove(&(exp, sid));
    }

    /// Takes the sockets whose deadline is `now` or past.
    fn due(&self, now: i64) -> Vec<(i64, Sid)> {
        let mut set = self.0.lock().expect("expiries lock");
        let later = set.split_off(&(now + 1, Sid::ZERO));
        std::mem::replace(&mut *set, later).into_iter().collect()
    }
}

/// Tails `session_ends` from after `after` and watches the deadlines, until `stop`.
pub async fn run(ctx: AppCtx, io: SocketIo, mut after: i64, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = ctx.store.session_ended() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match ctx.store.session_ends_after(after).await {
            Ok(ends) => {
                for end in ends {
                    after = end.id;
                    end_sockets(&ctx, &io, &end);
                }
            }
            Err(e) => tracing::error!(error = %e, "cannot read the ended sessions"),
        }
        let now = chrono::Utc::now().timestamp();
        for (exp, sid) in ctx.expiries.due(now) {
            expire(&ctx, &io, exp, sid, now).await;
        }
    }
}

/// Cuts the sockets of an ended session (its user's room holds them; a store owner's are among the owners').
fn end_sockets(ctx: &AppCtx, io: &SocketIo, end: &SessionEnd) {
    for socket in io.to([rooms::customer(&end.user_id), rooms::STORE_OWNERS.to_owned()]).sockets() {
        let Some(session) = socket.extensions.get::<Session>() else { continue };
        if session.user.id == end.user_id && end.family.as_deref().is_none_or(|f| *session.family == *f) {
            tracing::info!(user = %end.user_id, sid = %socket.id, reason = end.reason.as_str(), "session ended");
            ctx.metrics.sessions_cut.fetch_add(1, Ordering::Relaxed);
            cut(socket, end.reason);
        }
    }
}

/// A socket's deadline passed: it ends, unless a refresh of its sign-in moved the deadline (then it waits for
/// the new one).
async fn expire(ctx: &AppCtx, io: &SocketIo, exp: i64, sid: Sid, now: i64) {
    let Some(socket) = io.get_socket(sid) else { return };
    let Some(session) = socket.extensions.get::<Session>() else { return };
    if session.exp.load(Ordering::Relaxed) != exp {
        return;
    }
    let reason = match ctx.store.family(&session.family).await {
        Ok(Some(family)) => match family.ended {
            Some(reason) => reason,
            None if family.current_exp > now => {
                session.exp.store(family.current_exp, Ordering::Relaxed);
                ctx.expiries.insert(family.current_exp, sid);
                return;
            }
            None => DisconnectReason::SessionExpired,
        },
        Ok(None) => DisconnectReason::SessionExpired,
        Err(e) => {
            // Asked again in a moment rather than cutting a session the database may still hold.
            tracing::warn!(error = %e, "cannot read a sign-in; its socket's deadline is retried");
            ctx.expiries.insert(exp, sid);
            return;
        }
    };
    tracing::info!(user = %session.user.id, %sid, reason = reason.as_str(), "socket's session expired");
    ctx.metrics.sessions_cut.fetch_add(1, Ordering::Relaxed);
    cut(socket, reason);
}

/// How long a cut waits for room in a socket's buffer before leaving it to the ping timeout.
const CUT_PATIENCE: Duration = Duration::from_secs(30);

/// Tells `socket` why, then disconnects it. A socket whose buffer is full first leaves every room (so nothing
/// more piles up for it) and is told as soon as there is room; a peer that reads nothing at all is closed by
/// the ping timeout.
pub fn cut(socket: SocketRef, reason: DisconnectReason) {
    let mut told = false;
    if try_cut(&socket, reason, &mut told) {
        return;
    }
    socket.leave_all();
    tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        while start.elapsed() < CUT_PATIENCE && socket.connected() {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if try_cut(&socket, reason, &mut told) {
                return;
            }
        }
    });
}

/// Sends the reason (unless `told` already) and the disconnect; false if the buffer had no room.
fn try_cut(socket: &SocketRef, reason: DisconnectReason, told: &mut bool) -> bool {
    if !*told {
        let why = ServerDisconnect { reason, message: reason.message().to_owned() };
        if let Err(SendError::Socket(SocketError::InternalChannelFull)) = socket.emit(names::SERVER_DISCONNECT, &why) {
            return false;
        }
        *told = true;
    }
    !matches!(socket.clone().disconnect(), Err(SocketError::InternalChannelFull))
}

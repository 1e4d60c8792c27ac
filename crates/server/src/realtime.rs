//! Socket.IO: the connect middleware that authenticates the handshake's `{token}` (and holds the connection
//! caps), the rooms a socket joins, and the client events (`join_order_room`, `leave_order_room`),
//! rate-limited per socket.
//!
//! Sockets never receive order events from here: the dispatcher emits them to rooms, and `sessions.rs` ends
//! them with their session. This module only decides who is in which room.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Request};
use axum::http::header::{CONTENT_TYPE, SEC_WEBSOCKET_KEY};
use axum::http::{Extensions, HeaderMap, HeaderValue};
use order_protocol::{names, rooms, ConnectionStatus, Role, RoomAck, RoomRequest, User, AUTH_ERROR_PREFIX};
use serde::Deserialize;
use socketioxide::extract::{AckSender, Event, Extension, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::layer::SocketIoLayer;
use socketioxide::{ParserConfig, SocketIo};

use crate::limits::TokenBucket;
use crate::{AppCtx, ServerConfig};

/// The session of an authenticated socket, kept in its extensions (one allocation per connection).
#[derive(Clone)]
pub struct Session(Arc<SessionState>);

/// The user (shared with the sign-in memory), the sign-in (token family) the socket's token belongs to and
/// when that sign-in's current token expires (the socket ends then, unless a refresh moved it), the client's
/// address (counted against its cap), and the socket's event allowance.
pub struct SessionState {
    pub user: Arc<User>,
    pub family: Box<str>,
    pub exp: AtomicI64,
    pub addr: Option<IpAddr>,
    pub bucket: Mutex<TokenBucket>,
    /// Whether the socket is in the counts (connections, per-address cap, deadlines).
    pub counted: AtomicBool,
}

impl std::ops::Deref for Session {
    type Target = SessionState;
    fn deref(&self) -> &SessionState {
        &self.0
    }
}

impl SessionState {
    fn is_owner(&self) -> bool {
        self.user.role == Role::StoreOwner
    }
}

/// A refused handshake; its text is the `connect_error` message and always starts with `Authentication error`.
#[derive(Debug, thiserror::Error)]
#[error("{AUTH_ERROR_PREFIX}: {0}")]
pub struct AuthError(String);

/// Builds the Socket.IO layer for the router and the handle the dispatcher emits through.
pub fn layer(ctx: AppCtx, config: &ServerConfig) -> (SocketIoLayer, SocketIo) {
    let (layer, io) = SocketIo::builder()
        .with_state(ctx)
        .ping_interval(config.ping_interval)
        .ping_timeout(config.ping_timeout)
        // The same limit over both transports: `max_payload` bounds a polling request, the websocket limits
        // (64 MiB by default) a websocket message and frame.
        .max_payload(config.max_socket_payload)
        .ws_max_message_size(config.max_socket_payload as usize)
        .ws_max_frame_size(config.max_socket_payload as usize)
        .max_buffer_size(config.socket_buffer)
        // What a client sends is small (room joins, heartbeats); tungstenite zero-fills this buffer on every
        // read, so all of it is resident, and it doubles once as messages arrive: 1 KiB per connection from
        // 512, 0.5 KiB from 256. Larger messages (the handshake's token) just take more reads.
        .ws_read_buffer_size(256)
        // A connection that has not authenticated within this long is closed.
        .connect_timeout(config.handshake_timeout)
        // No client of this contract sends binary attachments: a packet that announces any is refused and its
        // connection closed, so nobody makes the server buffer attachments (before authentication or after).
        .with_parser(ParserConfig::common().max_incoming_binaries(0).max_incoming_binary_buf_size(0))
        .build_layer();
    io.ns("/", on_connect.with(authenticate));
    (layer, io)
}

/// Gives a Socket.IO request a small head of its own before the Socket.IO layer keeps it for the whole session.
///
/// hyper parses a request's URI and header values as slices of its 16 KiB read buffer, and engineioxide keeps
/// the request head (`req_parts`) as long as the socket lives: without this, every connected client holds that
/// buffer, about half of what an idle connection costs. The URI is copied, and of the headers only those the
/// transports read: the websocket key (to answer the upgrade) and the content type (of a polling POST); the
/// others (CORS is decided outside this layer) would cost about 0.6 KiB per connection, and no handler here
/// reads them. Of the extensions only hyper's upgrade handle is needed (axum's `OriginalUri` is another slice
/// of the buffer).
pub async fn detach_request_head(req: Request) -> Request {
    if !req.uri().path().starts_with(SOCKET_IO_PATH) {
        return req;
    }
    let (mut parts, body) = req.into_parts();
    parts.uri = parts.uri.to_string().parse().unwrap_or_default();
    let mut headers = HeaderMap::with_capacity(2);
    for name in [SEC_WEBSOCKET_KEY, CONTENT_TYPE] {
        if let Some(value) = parts.headers.get(&name).and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()) {
            headers.insert(name, value);
        }
    }
    parts.headers = headers;
    let upgrade = parts.extensions.remove::<hyper::upgrade::OnUpgrade>();
    let peer = parts.extensions.remove::<ConnectInfo<SocketAddr>>();
    parts.extensions = Extensions::new();
    if let Some(upgrade) = upgrade {
        parts.extensions.insert(upgrade);
    }
    // The client's address, for the per-address connection cap.
    if let Some(peer) = peer {
        parts.extensions.insert(peer);
    }
    Request::from_parts(parts, body)
}

/// socketioxide's default path, where clients connect.
const SOCKET_IO_PATH: &str = "/socket.io/";

#[derive(Deserialize)]
struct Handshake {
    #[serde(default)]
    token: Option<String>,
}

async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<Handshake>,
    State(ctx): State<AppCtx>,
) -> Result<(), AuthError> {
    let token = auth.ok().and_then(|h| h.token).unwrap_or_default();
    if token.is_empty() {
        return Err(AuthError("no token in the handshake auth payload".into()));
    }
    let auth = crate::http::authenticate(&ctx, &token).await.map_err(|e| AuthError(e.to_string()))?;
    let limits = ctx.socket_limits;
    let own = if auth.user.role == Role::StoreOwner {
        socket.broadcast().to(rooms::STORE_OWNERS).sockets().into_iter().filter(|s| is_users(s, &auth.user.id)).count()
    } else {
        socket.broadcast().to(rooms::customer(&auth.user.id)).sockets().len()
    };
    if own >= limits.per_user as usize {
        ctx.metrics.refused_sockets_per_user.fetch_add(1, Ordering::Relaxed);
        return Err(AuthError(format!("too many connections for this account (at most {})", limits.per_user)));
    }
    let addr = socket.req_parts().extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if addr.is_some_and(|ip| !ctx.sockets_by_addr.has_room(ip, limits.per_addr)) {
        ctx.metrics.refused_sockets_per_addr.fetch_add(1, Ordering::Relaxed);
        return Err(AuthError(format!("too many connections from this address (at most {})", limits.per_addr)));
    }
    socket.extensions.insert(Session(Arc::new(SessionState {
        user: auth.user,
        family: auth.claims.fam.into(),
        exp: AtomicI64::new(auth.claims.exp),
        addr,
        bucket: Mutex::new(TokenBucket::new(limits.events_per_second, limits.burst)),
        counted: AtomicBool::new(false),
    })));
    Ok(())
}

/// Whether `socket` is signed in as the user `user_id`.
fn is_users(socket: &SocketRef, user_id: &str) -> bool {
    socket.extensions.get::<Session>().is_some_and(|s| s.user.id == user_id)
}

async fn on_connect(socket: SocketRef, Extension(session): Extension<Session>, State(ctx): State<AppCtx>) {
    // The disconnect handler first: a client may close while this runs, and a close before the handler is
    // set calls nothing (the counts below would then never come down; seen in the bad-input harness).
    socket.on_disconnect(|socket: SocketRef, State(ctx): State<AppCtx>| async move {
        if let Some(session) = socket.extensions.get::<Session>() {
            count_out(&ctx, &socket, &session);
        }
    });
    let user = &session.user;
    if session.is_owner() {
        socket.join(rooms::STORE_OWNERS);
    } else {
        socket.join(rooms::customer(&user.id));
    }
    count_in(&ctx, &socket, &session);
    if !socket.connected() {
        // Closed before the handler above was set: nobody else takes it off the counts, or out of the rooms
        // it joined after its close had emptied them.
        count_out(&ctx, &socket, &session);
        socket.leave_all();
        return;
    }
    let status = ConnectionStatus { connected: true, user_id: user.id.clone(), server_time: chrono::Utc::now() };
    let _ = socket.emit(names::CONNECTION_STATUS, &status);

    // One handler for every client event, which dispatches by name: handlers registered by name with
    // `socket.on` go into a table each socket allocates, 0.2 KiB per idle connection in a heap profile.
    socket.on_fallback(on_client_event);
}

/// Counts a connected socket: the metric, its address's cap, its deadline. Once per socket, whoever calls.
fn count_in(ctx: &AppCtx, socket: &SocketRef, session: &Session) {
    if session.counted.swap(true, Ordering::AcqRel) {
        return;
    }
    ctx.expiries.insert(session.exp.load(Ordering::Relaxed), socket.id);
    if let Some(ip) = session.addr {
        ctx.sockets_by_addr.add(ip, socket.id);
    }
    let connected = ctx.metrics.connected_sockets.fetch_add(1, Ordering::Relaxed) + 1;
    tracing::debug!(user = %session.user.id, sid = %socket.id, connected, "socket connected");
}

/// Takes a socket off the counts, once, and only if it was counted.
fn count_out(ctx: &AppCtx, socket: &SocketRef, session: &Session) {
    if !session.counted.swap(false, Ordering::AcqRel) {
        return;
    }
    ctx.expiries.remove(session.exp.load(Ordering::Relaxed), socket.id);
    if let Some(ip) = session.addr {
        ctx.sockets_by_addr.remove(ip, socket.id);
    }
    let connected = ctx.metrics.connected_sockets.fetch_sub(1, Ordering::Relaxed) - 1;
    tracing::debug!(sid = %socket.id, connected, "socket disconnected");
}

/// Refused events beyond which a socket is dropped: it is not a client following the contract.
const MAX_REFUSED: u32 = 100;

/// Takes a token from the socket's bucket; drops a socket that keeps flooding.
fn allow(socket: &SocketRef, session: &Session) -> bool {
    let mut bucket = session.bucket.lock().expect("bucket lock");
    if bucket.try_take() {
        return true;
    }
    if bucket.refused == MAX_REFUSED {
        tracing::warn!(sid = %socket.id, user = %session.user.id, "socket dropped: too many events");
        let _ = socket.clone().disconnect();
    }
    false
}

fn refuse(ack: AckSender, error: impl Into<String>) {
    let _ = ack.send(&RoomAck { success: false, room: None, error: Some(error.into()) });
}

/// Every event a client sends counts against its socket's allowance; room joins and leaves are answered, other
/// events are ignored.
async fn on_client_event(
    socket: SocketRef,
    Event(event): Event,
    Extension(session): Extension<Session>,
    State(ctx): State<AppCtx>,
    TryData(req): TryData<RoomRequest>,
    ack: AckSender,
) {
    let join = event == names::JOIN_ORDER_ROOM;
    if !join && event != names::LEAVE_ORDER_ROOM {
        allow(&socket, &session);
        return;
    }
    if !allow(&socket, &session) {
        return refuse(ack, "too many events; slow down");
    }
    let Ok(req) = req else {
        return refuse(ack, "expected an order id or {orderId}");
    };
    if join {
        join_order_room(&socket, &session, &ctx, req.order_id(), ack).await;
    } else {
        let room = rooms::order(req.order_id());
        socket.leave(room.clone());
        let _ = ack.send(&RoomAck { success: true, room: Some(room), error: None });
    }
}

/// Joins the order's room if the user may see the order.
async fn join_order_room(socket: &SocketRef, session: &Session, ctx: &AppCtx, id: &str, ack: AckSender) {
    let order = match ctx.store.order(id).await {
        Ok(Some(order)) => order,
        Ok(None) => return refuse(ack, format!("order {id} not found")),
        Err(e) => {
            tracing::error!(error = %e, "join_order_room failed");
            return refuse(ack, "internal error");
        }
    };
    if !session.is_owner() && order.customer != session.user.id {
        tracing::warn!(user = %session.user.id, order = %id, "join refused: another customer's order");
        return refuse(ack, "this order is not yours");
    }
    let room = rooms::order(&order.id);
    socket.join(room.clone());
    let _ = ack.send(&RoomAck { success: true, room: Some(room), error: None });
}

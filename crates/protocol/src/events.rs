//! Socket.IO: event names, handshake auth and the payload of every server→client event.
//!
//! On our server every payload carries `seq`, the change-log number of the change that caused it (an
//! extension); on a base-contract server it is absent. One change emits several events with the same `seq`,
//! so an event is identified by (`seq`, event name).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{DeliveryStatus, Driver, LatLng, Order, Stats, Status};

/// Event names, exactly as on the wire.
pub mod names {
    pub const CONNECTION_STATUS: &str = "connection_status";
    pub const CUSTOMER_ORDER_UPDATE: &str = "customer_order_update";
    pub const SINGLE_ORDER_UPDATE: &str = "single_order_update";
    pub const DELIVERY_UPDATE: &str = "delivery_update";
    pub const CUSTOMER_NOTIFICATION: &str = "customer_notification";
    pub const ORDER_NOTIFICATION: &str = "order_notification";
    pub const ORDER_STATS_UPDATE: &str = "order_stats_update";
    pub const JOIN_ORDER_ROOM: &str = "join_order_room";
    pub const LEAVE_ORDER_ROOM: &str = "leave_order_room";
    /// Extension: why the server is about to disconnect this socket ([`ServerDisconnect`]).
    pub const SERVER_DISCONNECT: &str = "server_disconnect";
}

/// Room names.
pub mod rooms {
    pub const STORE_OWNERS: &str = "store_owners";
    pub fn customer(user_id: &str) -> String {
        format!("customer_{user_id}")
    }
    pub fn order(order_id: &str) -> String {
        format!("order_{order_id}")
    }
}

/// The prefix of every `connect_error` message caused by a bad or missing token.
pub const AUTH_ERROR_PREFIX: &str = "Authentication error";

/// The handshake auth payload: `io(url, {auth: {token}})`.
#[derive(Clone, Serialize, Deserialize)]
pub struct HandshakeAuth {
    pub token: String,
}

impl std::fmt::Debug for HandshakeAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HandshakeAuth { token: <redacted> }")
    }
}

/// `server_disconnect` (extension): sent to a socket just before the server disconnects it, so the client can
/// say why and knows whether to sign in again or to reconnect and catch up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerDisconnect {
    pub reason: DisconnectReason,
    /// The server's words, for a log or a screen.
    #[serde(default)]
    pub message: String,
}

/// Why the server disconnects a socket. The first four end the session (the token is no longer accepted); the
/// others only end this connection, and a client reconnects and catches up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisconnectReason {
    /// The session was signed out (`POST /auth/logout` with a token of this session).
    SignedOut,
    /// The session's token expired, or its sign-in reached its absolute lifetime.
    SessionExpired,
    /// The server revoked the session (by its operator, or because a replaced token was presented again).
    SessionRevoked,
    /// The account's role changed: its tokens no longer say what it may do.
    RoleChanged,
    /// The socket did not read its events fast enough; what it missed is in the change log.
    TooSlow,
    /// Anything this client does not know yet.
    #[serde(other)]
    Other,
}

impl DisconnectReason {
    /// How a session that the server ended this way reads on the sign-in screen; `None`: only this connection
    /// ended.
    pub fn ends_session(self) -> Option<crate::LogoutReason> {
        use crate::LogoutReason as L;
        match self {
            // Not by this app, or it would have ended the session itself: a sign-out elsewhere.
            DisconnectReason::SignedOut | DisconnectReason::SessionRevoked => Some(L::Revoked),
            DisconnectReason::SessionExpired => Some(L::Expired),
            DisconnectReason::RoleChanged => Some(L::Refused),
            DisconnectReason::TooSlow | DisconnectReason::Other => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::SignedOut => "signed_out",
            DisconnectReason::SessionExpired => "session_expired",
            DisconnectReason::SessionRevoked => "session_revoked",
            DisconnectReason::RoleChanged => "role_changed",
            DisconnectReason::TooSlow => "too_slow",
            DisconnectReason::Other => "other",
        }
    }

    /// The words the server sends with it.
    pub fn message(self) -> &'static str {
        match self {
            DisconnectReason::SignedOut => "signed out",
            DisconnectReason::SessionExpired => "session expired",
            DisconnectReason::SessionRevoked => "session revoked",
            DisconnectReason::RoleChanged => "the account's role changed",
            DisconnectReason::TooSlow => "events were not read fast enough; reconnect and catch up",
            DisconnectReason::Other => "disconnected by the server",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionStatus {
    pub connected: bool,
    #[serde(default)]
    pub user_id: String,
    pub server_time: DateTime<Utc>,
}

/// `customer_order_update` and `single_order_update`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderUpdate {
    pub order_id: String,
    #[serde(default)]
    pub order_number: String,
    pub status: Status,
    #[serde(default)]
    pub status_display: String,
    #[serde(default)]
    pub progress: u8,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub order: Option<Order>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

impl OrderUpdate {
    /// The update that describes `order` as it is now.
    pub fn of(order: &Order, seq: Option<u64>) -> Self {
        OrderUpdate {
            order_id: order.id.clone(),
            order_number: order.order_number.clone(),
            status: order.status,
            status_display: order.status.display().to_owned(),
            progress: order.status.progress(),
            updated_at: order.updated_at,
            order: Some(order.clone()),
            seq,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryUpdate {
    pub order_id: String,
    #[serde(default)]
    pub delivery_status: DeliveryStatus,
    #[serde(default)]
    pub estimated_delivery: Option<DateTime<Utc>>,
    #[serde(default)]
    pub driver: Option<Driver>,
    #[serde(default)]
    pub location: Option<LatLng>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// Notification `type` values the contract names.
pub mod notification_types {
    pub const ORDER_STATUS: &str = "order_status";
    pub const DELIVERY: &str = "delivery";
    pub const ORDER_STATUS_CHANGED: &str = "order_status_changed";
}

/// `customer_notification`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomerNotification {
    #[serde(deserialize_with = "crate::ids::id")]
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub message: String,
    #[serde(default, deserialize_with = "crate::ids::opt_id")]
    pub order_id: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// `order_notification`, for store owners.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderNotification {
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub message: String,
    pub order_id: String,
    #[serde(default)]
    pub order_number: String,
    #[serde(default)]
    pub customer_id: String,
    pub status: Status,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// `order_stats_update`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatsUpdate {
    #[serde(flatten)]
    pub stats: Stats,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// `join_order_room` / `leave_order_room` argument: the order id, or `{orderId}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RoomRequest {
    Id(String),
    Object {
        #[serde(rename = "orderId")]
        order_id: String,
    },
}

impl RoomRequest {
    pub fn order_id(&self) -> &str {
        match self {
            RoomRequest::Id(id) | RoomRequest::Object { order_id: id } => id,
        }
    }
}

/// The ack of a room request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoomAck {
    pub success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One server→client event, parsed. What a client receives and what the change log replays.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerEvent {
    ConnectionStatus(ConnectionStatus),
    CustomerOrderUpdate(OrderUpdate),
    SingleOrderUpdate(OrderUpdate),
    DeliveryUpdate(DeliveryUpdate),
    CustomerNotification(CustomerNotification),
    OrderNotification(OrderNotification),
    OrderStatsUpdate(StatsUpdate),
}

/// Why an event could not be understood; the client skips it with this as its warning.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventError {
    UnknownEvent(String),
    Malformed { event: String, reason: String },
}

impl std::fmt::Display for EventError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EventError::UnknownEvent(e) => write!(f, "unknown event `{e}`"),
            EventError::Malformed { event, reason } => write!(f, "malformed `{event}` payload: {reason}"),
        }
    }
}

impl std::error::Error for EventError {}

impl ServerEvent {
    /// Parses an event by name. Extra trailing Socket.IO arguments must already be dropped by the caller.
    pub fn parse(event: &str, payload: serde_json::Value) -> Result<ServerEvent, EventError> {
        fn p<T: serde::de::DeserializeOwned>(event: &str, v: serde_json::Value) -> Result<T, EventError> {
            serde_json::from_value(v)
                .map_err(|e| EventError::Malformed { event: event.to_owned(), reason: e.to_string() })
        }
        use names::*;
        Ok(match event {
            CONNECTION_STATUS => ServerEvent::ConnectionStatus(p(event, payload)?),
            CUSTOMER_ORDER_UPDATE => ServerEvent::CustomerOrderUpdate(p(event, payload)?),
            SINGLE_ORDER_UPDATE => ServerEvent::SingleOrderUpdate(p(event, payload)?),
            DELIVERY_UPDATE => ServerEvent::DeliveryUpdate(p(event, payload)?),
            CUSTOMER_NOTIFICATION => ServerEvent::CustomerNotification(p(event, payload)?),
            ORDER_NOTIFICATION => ServerEvent::OrderNotification(p(event, payload)?),
            ORDER_STATS_UPDATE => ServerEvent::OrderStatsUpdate(p(event, payload)?),
            other => return Err(EventError::UnknownEvent(other.to_owned())),
        })
    }

    /// The wire name of this event.
    pub fn name(&self) -> &'static str {
        use names::*;
        match self {
            ServerEvent::ConnectionStatus(_) => CONNECTION_STATUS,
            ServerEvent::CustomerOrderUpdate(_) => CUSTOMER_ORDER_UPDATE,
            ServerEvent::SingleOrderUpdate(_) => SINGLE_ORDER_UPDATE,
            ServerEvent::DeliveryUpdate(_) => DELIVERY_UPDATE,
            ServerEvent::CustomerNotification(_) => CUSTOMER_NOTIFICATION,
            ServerEvent::OrderNotification(_) => ORDER_NOTIFICATION,
            ServerEvent::OrderStatsUpdate(_) => ORDER_STATS_UPDATE,
        }
    }

    /// The change-log number, where the server has the extension.
    pub fn seq(&self) -> Option<u64> {
        match self {
            ServerEvent::ConnectionStatus(_) => None,
            ServerEvent::CustomerOrderUpdate(u) | ServerEvent::SingleOrderUpdate(u) => u.seq,
            ServerEvent::DeliveryUpdate(d) => d.seq,
            ServerEvent::CustomerNotification(n) => n.seq,
            ServerEvent::OrderNotification(n) => n.seq,
            ServerEvent::OrderStatsUpdate(s) => s.seq,
        }
    }
}

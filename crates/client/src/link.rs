//! `LiveLink`: one Socket.IO connection attempt on rust_socketio, reporting everything to the engine's loop.
//!
//! rust_socketio 0.6 has gaps the engine covers: a failed first connect and a server-side disconnect are not
//! retried, its backoff stops sleeping after 15 minutes of outage, an emit sent before the server's CONNECT
//! reply is lost, a refused token is retried forever, a silent cut is noticed only by the ping timeout, and
//! nothing missed is ever replayed. So a link here is deliberately dumb: its own reconnection is off, one link is one attempt, and every callback only forwards a
//! [`LinkEvent`] tagged with the link's generation number to the engine. A torn-down client can still fire
//! callbacks until its connection really ends; the generation tag lets the engine ignore them. Events are
//! reduced to their first argument: a server with connection state recovery appends an offset string to
//! every event, which is dropped here.

use std::time::Duration;

use futures_util::FutureExt;
use order_protocol::names;
use rust_socketio::asynchronous::{Client, ClientBuilder};
use rust_socketio::{Event, Payload, TransportType};
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedSender;

use crate::token::Token;

/// What a link tells the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkEvent {
    /// The server accepted the CONNECT: the socket is in its rooms.
    Connected,
    /// The server refused the CONNECT (`connect_error`), with its message.
    Refused(String),
    /// A server event, reduced to its first argument.
    Event { name: String, payload: Value },
    /// The transport failed or closed; the link is dead.
    Down(String),
    /// The server answered a heartbeat.
    HeartbeatAck,
}

/// A message from a link of generation `gen`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tagged {
    pub gen: u64,
    pub event: LinkEvent,
}

const CONNECT_ERROR_FRAME: &str = "Received an ConnectError frame";

/// One live connection. Dropping it does not close it: call [`LiveLink::close`].
#[derive(Clone)]
pub struct LiveLink {
    client: Client,
    gen: u64,
}

impl LiveLink {
    /// Opens the transport and sends the CONNECT with `{token}` as the auth payload. Returns once the transport
    /// is open; `Connected` or `Refused` follows as a [`LinkEvent`].
    pub async fn open(
        origin: &str,
        token: &Token,
        gen: u64,
        tx: UnboundedSender<Tagged>,
        timeout: Duration,
    ) -> Result<LiveLink, String> {
        let send = move |tx: &UnboundedSender<Tagged>, event: LinkEvent| {
            let _ = tx.send(Tagged { gen, event });
        };
        let (t1, t2, t3, t4) = (tx.clone(), tx.clone(), tx.clone(), tx.clone());
        let builder = ClientBuilder::new(origin)
            .transport_type(TransportType::Websocket)
            .auth(json!({ "token": token.expose() }))
            .reconnect(false)
            .reconnect_on_disconnect(false)
            .on(Event::Connect, move |_, _| {
                send(&t1, LinkEvent::Connected);
                async {}.boxed()
            })
            .on(Event::Close, move |_, _| {
                send(&t2, LinkEvent::Down("the server closed the connection".into()));
                async {}.boxed()
            })
            .on(Event::Error, move |p, _| {
                let text = payload_text(&p);
                let event = match text.find(CONNECT_ERROR_FRAME) {
                    Some(i) => {
                        let rest = text[i + CONNECT_ERROR_FRAME.len()..].trim_start().trim_start_matches(':');
                        LinkEvent::Refused(connect_error_message(rest))
                    }
                    None => LinkEvent::Down(format!("connection error: {}", text.trim())),
                };
                send(&t3, event);
                async {}.boxed()
            })
            .on_any(move |event, p, _| {
                if let Some(payload) = first_arg(p) {
                    send(&t4, LinkEvent::Event { name: event.as_str().to_owned(), payload });
                }
                async {}.boxed()
            });
        match tokio::time::timeout(timeout, builder.connect()).await {
            Ok(Ok(client)) => Ok(LiveLink { client, gen }),
            Ok(Err(e)) => Err(describe_connect_error(origin, &e.to_string()).await),
            Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
        }
    }

    /// `join_order_room` (fire and forget: an ack is optional in the contract).
    pub async fn join(&self, order_id: &str) -> Result<(), String> {
        self.client.emit(names::JOIN_ORDER_ROOM, json!(order_id)).await.map_err(|e| e.to_string())
    }

    pub async fn leave(&self, order_id: &str) -> Result<(), String> {
        self.client.emit(names::LEAVE_ORDER_ROOM, json!(order_id)).await.map_err(|e| e.to_string())
    }

    /// An acked emit that proves the path works end to end: a harmless `leave_order_room` of a room nobody is
    /// in. A server that acks room requests answers it; its `HeartbeatAck` arrives through the link channel.
    pub async fn heartbeat(&self, tx: UnboundedSender<Tagged>, timeout: Duration) -> Result<(), String> {
        let gen = self.gen;
        let cb = move |_: Payload, _: Client| {
            let _ = tx.send(Tagged { gen, event: LinkEvent::HeartbeatAck });
            async {}.boxed()
        };
        self.client
            .emit_with_ack(names::LEAVE_ORDER_ROOM, json!({ "orderId": "heartbeat" }), timeout, cb)
            .await
            .map_err(|e| e.to_string())
    }

    /// Closes the connection, bounded in time: a dead path must not hold the engine.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.disconnect()).await;
    }
}

#[allow(deprecated)]
fn payload_text(p: &Payload) -> String {
    match p {
        Payload::Text(v) => v.iter().map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).collect(),
        Payload::String(s) => s.clone(),
        Payload::Binary(_) => String::from("<binary>"),
    }
}

/// The event's first argument; the recovery offset and any other extra arguments are dropped.
#[allow(deprecated)]
pub fn first_arg(p: Payload) -> Option<Value> {
    match p {
        Payload::Text(v) => v.into_iter().next(),
        Payload::String(s) => serde_json::from_str(&s).ok(),
        Payload::Binary(_) => None,
    }
}

/// The server's message out of a `connect_error` frame's text (`{"message":"Authentication error: …"}`).
fn connect_error_message(rest: &str) -> String {
    let rest = rest.trim();
    serde_json::from_str::<Value>(rest)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str().map(str::to_owned)))
        .unwrap_or_else(|| rest.trim_matches('"').to_owned())
}

/// rust_socketio says little more than "EngineIO Error" when a connection fails; a plain TCP connect to the same
/// address tells the user what is actually wrong.
async fn describe_connect_error(origin: &str, e: &str) -> String {
    let Some(addr) = reqwest::Url::parse(origin).ok().and_then(|u| {
        let host = u.host_str()?.to_owned();
        Some(format!("{host}:{}", u.port_or_known_default()?))
    }) else {
        return format!("cannot connect: {e}");
    };
    match tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(&addr)).await {
        Ok(Err(io)) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("the server refused the connection ({addr}: nothing is listening)")
        }
        Ok(Err(io)) => format!("cannot reach the server at {addr}: {io}"),
        Err(_) => format!("the server at {addr} does not answer"),
        Ok(Ok(_)) => format!("the server at {addr} accepted the connection but the live link failed ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_arguments_are_dropped() {
        let p = Payload::Text(vec![json!({"orderId": "o1"}), json!("Q8J1-s8.2")]);
        assert_eq!(first_arg(p), Some(json!({"orderId": "o1"})));
    }

    #[test]
    fn connect_error_messages_are_extracted() {
        assert_eq!(
            connect_error_message(r#" {"message":"Authentication error: invalid token"}"#),
            "Authentication error: invalid token"
        );
        assert_eq!(connect_error_message("\"Authentication error\""), "Authentication error");
    }
}

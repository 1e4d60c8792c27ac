//! Socket.IO end to end with rust_socketio 0.6 (and a bare websocket client where a misbehaving one is needed)
//! against a real server on loopback: auth, rooms, the events of one change in CONTRACT.md's order, `seq`,
//! refusals, rate limits, garbage, size limits, the ping timeout, and the demo simulator.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use order_protocol::Status;
use order_server::auth::{Claims, Keys};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

use crate::support::{get_json, http, login, open_order, set_status, Got, RsClient, TestServer, WAIT};

async fn expect_events(client: &mut RsClient, names: &[&str]) -> Vec<Value> {
    let mut payloads = Vec::new();
    for expected in names {
        let (name, payload) = client.event().await;
        assert_eq!(&name, expected, "event order; got {name} {payload}");
        payloads.push(payload);
    }
    let seq = payloads[0]["seq"].as_u64().expect("seq");
    assert!(payloads.iter().all(|p| p["seq"] == seq), "one change, one seq");
    payloads
}

#[tokio::test]
async fn a_customer_gets_each_change_once_in_contract_order() {
    let s = TestServer::start().await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let owner = login(&s.api(), "owner@example.com", "owner-pass").await;
    let order = open_order(&s.api(), &alice.token).await;

    let mut c = RsClient::connect(&s.base(), Some(&alice.token)).await;
    c.connected().await;
    let (name, status) = c.event().await;
    assert_eq!(name, "connection_status");
    assert_eq!((status["connected"].as_bool(), status["userId"].as_str()), (Some(true), Some(alice.user.id.as_str())));
    let ack = c.emit_ack("join_order_room", json!(order.id)).await;
    assert_eq!(ack, json!({"success": true, "room": format!("order_{}", order.id)}));

    let next = order.status.next().unwrap();
    let (code, _) = set_status(&s.api(), &owner.token, &order.id, next.as_str()).await;
    assert_eq!(code, 200);
    let p = expect_events(
        &mut c,
        &["customer_order_update", "single_order_update", "customer_notification", "order_stats_update"],
    )
    .await;
    let first_seq = p[0]["seq"].as_u64().unwrap();
    assert_eq!(p[0], p[1], "both updates carry the same payload");
    assert_eq!(p[0]["status"], next.as_str());
    assert_eq!(p[0]["statusDisplay"], next.display());
    assert_eq!(p[0]["progress"], next.progress());
    assert_eq!(p[0]["order"]["_id"], order.id.as_str());
    assert_eq!(p[2]["type"], "order_status");
    assert_eq!(p[2]["orderId"], order.id.as_str());
    assert_eq!(p[3]["total"], 3);

    // A delivery change: one delivery_update although the socket is in both the customer and the order room.
    let res = http()
        .patch(format!("{}/orders/{}/delivery", s.api(), order.id))
        .bearer_auth(&owner.token)
        .json(&json!({"driver": {"name": "Sam", "phone": "555"}, "location": {"lat": 1.5, "lng": 2.5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let p = expect_events(
        &mut c,
        &["customer_order_update", "single_order_update", "delivery_update", "customer_notification"],
    )
    .await;
    assert!(p[0]["seq"].as_u64().unwrap() > first_seq, "seq increases");
    assert_eq!(p[2]["driver"], json!({"name": "Sam", "phone": "555"}));
    assert_eq!(p[2]["location"], json!({"lat": 1.5, "lng": 2.5}));
    assert_eq!((p[3]["type"].as_str(), p[3]["title"].as_str()), (Some("delivery"), Some("Driver assigned")));

    set_status(&s.api(), &owner.token, &order.id, "cancelled").await;
    let (name, payload) = c.event().await;
    assert_eq!(name, "customer_order_update", "no duplicate delivery_update before the next change");
    assert_eq!(payload["status"], "cancelled");
    c.close().await;
    s.server.shutdown().await;
}

#[tokio::test]
async fn a_bad_or_missing_token_is_refused_with_an_authentication_error() {
    let s = TestServer::start().await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let keys = &s.server.ctx().keys;
    let claims = keys.verify(&alice.token).unwrap();
    let expired = keys.sign(&Claims { exp: chrono::Utc::now().timestamp() - 3600, ..claims.clone() });
    let forged = Keys::new(b"another server's secret, not this one").sign(&claims);
    let revoked = login(&s.api(), "alice@example.com", "alice-pass").await.token;
    let res = http().post(format!("{}/auth/logout", s.api())).bearer_auth(&revoked).send().await.unwrap();
    assert_eq!(res.status(), 200);
    for token in [None, Some("not-a-jwt"), Some(expired.as_str()), Some(forged.as_str()), Some(revoked.as_str())] {
        let mut c = RsClient::connect(&s.base(), token).await;
        match c.next().await {
            Got::Error(e) => assert!(e.contains("Authentication error"), "{token:?}: {e}"),
            other => panic!("{token:?} was not refused: {other:?}"),
        }
        c.close().await;
    }
    s.server.shutdown().await;
}

#[tokio::test]
async fn another_customers_order_room_is_refused_and_nothing_leaks() {
    let s = TestServer::start().await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let bob = login(&s.api(), "bob@example.com", "bob-pass").await;
    let owner = login(&s.api(), "owner@example.com", "owner-pass").await;
    let bobs = open_order(&s.api(), &bob.token).await;
    let alices = open_order(&s.api(), &alice.token).await;

    let mut c = RsClient::connect(&s.base(), Some(&alice.token)).await;
    c.connected().await;
    assert_eq!(c.event().await.0, "connection_status");
    let ack = c.emit_ack("join_order_room", json!({"orderId": bobs.id})).await;
    assert_eq!(ack, json!({"success": false, "error": "this order is not yours"}));
    let ack = c.emit_ack("join_order_room", json!("no-such-order")).await;
    assert_eq!(ack["success"], false);
    let ack = c.emit_ack("join_order_room", json!(42)).await;
    assert_eq!(ack["success"], false, "a wrong type is refused, not a crash");

    set_status(&s.api(), &owner.token, &bobs.id, bobs.status.next().unwrap().as_str()).await;
    set_status(&s.api(), &owner.token, &alices.id, "cancelled").await;
    let (name, payload) = c.event().await;
    assert_eq!((name.as_str(), payload["orderId"].as_str()), ("customer_order_update", Some(alices.id.as_str())));
    c.close().await;
    s.server.shutdown().await;
}

#[tokio::test]
async fn store_owners_get_notifications_and_store_wide_stats() {
    let s = TestServer::start().await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let owner = login(&s.api(), "owner@example.com", "owner-pass").await;
    let order = open_order(&s.api(), &alice.token).await;
    let mut c = RsClient::connect(&s.base(), Some(&owner.token)).await;
    c.connected().await;
    assert_eq!(c.event().await.0, "connection_status");
    let ack = c.emit_ack("join_order_room", json!(order.id)).await;
    assert_eq!(ack["success"], true, "an owner may watch any order");

    set_status(&s.api(), &owner.token, &order.id, "cancelled").await;
    // Cancelling also cancels the delivery, hence the delivery_update (the owner is in the order's room).
    let p =
        expect_events(&mut c, &["single_order_update", "delivery_update", "order_notification", "order_stats_update"])
            .await;
    assert_eq!(p[1]["deliveryStatus"], "cancelled");
    assert_eq!(p[2]["type"], "order_status_changed");
    assert_eq!(
        (p[2]["customerId"].as_str(), p[2]["status"].as_str()),
        (Some(alice.user.id.as_str()), Some("cancelled"))
    );
    assert_eq!(p[3]["total"], 6);
    let (_, orders) = get_json(&s.api(), &owner.token, "/orders").await;
    let cancelled = orders.as_array().unwrap().iter().filter(|o| o["status"] == Status::Cancelled.as_str()).count();
    assert_eq!(p[3]["cancelled"], cancelled);
    c.close().await;
    s.server.shutdown().await;
}

#[tokio::test]
async fn a_flooding_socket_is_throttled() {
    let s = TestServer::start_with(|c| {
        c.socket_events_per_second = 1;
        c.socket_event_burst = 3;
    })
    .await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let order = open_order(&s.api(), &alice.token).await;
    let mut c = RsClient::connect(&s.base(), Some(&alice.token)).await;
    c.connected().await;
    let mut refused = 0;
    for _ in 0..8 {
        let ack = c.emit_ack("join_order_room", json!(order.id)).await;
        if ack["success"] == false {
            assert_eq!(ack["error"], "too many events; slow down");
            refused += 1;
        }
    }
    assert!(refused >= 4, "a burst of 3 at 1/s lets at most a few through; refused {refused}");
    c.close().await;
    s.server.shutdown().await;
}

#[tokio::test]
async fn garbage_packets_are_dropped_and_the_server_keeps_serving() {
    let s = TestServer::start().await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let url = format!("{}/socket.io/?EIO=4&transport=polling", s.base());
    let open = http().get(&url).send().await.unwrap().text().await.unwrap();
    let handshake: Value = serde_json::from_str(open.trim_start_matches('0')).expect("engine.io open packet");
    let sid = handshake["sid"].as_str().unwrap();
    for garbage in ["4zz[[[", "42[\"join_order_room\",", "\u{0}\u{1}binary?", "99999"] {
        let res = http().post(format!("{url}&sid={sid}")).body(garbage).send().await.unwrap();
        assert!(res.status().as_u16() < 500, "garbage answered with {}", res.status());
    }
    let huge = format!("40{}", json!({"token": "x".repeat(200 * 1024)}));
    let res = http().post(format!("{url}&sid={sid}")).body(huge).send().await.unwrap();
    assert!(res.status().is_client_error() || res.status().is_success(), "{}", res.status());

    let (code, _) = get_json(&s.api(), &alice.token, "/orders").await;
    assert_eq!(code, 200);
    let mut c = RsClient::connect(&s.base(), Some(&alice.token)).await;
    c.connected().await;
    assert_eq!(c.event().await.0, "connection_status");
    c.close().await;
    s.server.shutdown().await;
}

/// `--demo`: the simulator moves orders along, dispatches couriers and places new orders by itself, and
/// `/metrics` counts the connected sockets and the events emitted.
#[tokio::test]
async fn the_demo_moves_orders_by_itself_and_metrics_count_it() {
    let s = TestServer::start_with(|c| {
        c.demo = true;
        c.demo_interval = Duration::from_millis(50);
    })
    .await;
    let owner = login(&s.api(), "owner@example.com", "owner-pass").await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let mut socket = RsClient::connect(&s.base(), Some(&alice.token)).await;
    socket.connected().await;
    let metrics = s.metrics().await;
    let start = metrics["latestSeq"].as_u64().expect("latestSeq");
    let (_, orders) = get_json(&s.api(), &owner.token, "/orders").await;
    let orders_at_start = orders.as_array().expect("orders").len();

    let (mut moved, mut dispatched, mut placed) = (false, false, false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !(moved && dispatched && placed) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (status, body) = get_json(&s.api(), &owner.token, &format!("/orders/changes?since={start}")).await;
        assert_eq!(status, 200, "{body}");
        for change in body["changes"].as_array().expect("changes") {
            match change["event"].as_str() {
                Some("order_notification") => moved = true,
                Some("delivery_update") if !change["payload"]["driver"].is_null() => dispatched = true,
                _ => {}
            }
        }
        let (_, orders) = get_json(&s.api(), &owner.token, "/orders").await;
        placed = orders.as_array().expect("orders").len() > orders_at_start;
    }
    assert!(moved, "no status moved");
    assert!(dispatched, "no courier was dispatched");
    assert!(placed, "no order was placed");

    let metrics = s.metrics().await;
    assert_eq!(metrics["connectedSockets"], 1, "alice's socket: {metrics}");
    assert!(metrics["emittedEvents"].as_u64().unwrap_or(0) > 0, "{metrics}");
    assert!(metrics["dispatchedSeq"].as_u64().unwrap_or(0) > start, "{metrics}");
    socket.close().await;
    s.server.shutdown().await;
}

type RawSocket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A bare websocket Socket.IO client, connected with `token`; it answers nothing by itself (no pongs).
async fn raw_socket(base: &str, token: &str) -> RawSocket {
    let url = format!("{}/socket.io/?EIO=4&transport=websocket", base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
    ws.send(Message::text(format!("40{}", json!({ "token": token })))).await.expect("CONNECT");
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await.expect("a CONNECT reply in time") {
            Some(Ok(Message::Text(t))) if t.as_str().starts_with("40") => return ws,
            Some(Ok(_)) => continue,
            other => panic!("no CONNECT reply: {other:?}"),
        }
    }
}

/// Whether the server ended the connection within `within` (a close frame, an error or the end).
async fn closed_by_server(ws: &mut RawSocket, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => continue, // pings go unanswered
        }
    }
}

async fn connected_sockets(s: &TestServer) -> u64 {
    let metrics = s.metrics().await;
    metrics["connectedSockets"].as_u64().expect("connectedSockets")
}

/// A client that stops answering pings is dropped after the ping timeout, and counted out.
#[tokio::test]
async fn a_silent_connection_is_dropped_by_the_ping_timeout() {
    let s = TestServer::start_with(|c| {
        c.ping_interval = Duration::from_millis(300);
        c.ping_timeout = Duration::from_millis(300);
    })
    .await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let mut ws = raw_socket(&s.base(), &alice.token).await;
    assert_eq!(connected_sockets(&s).await, 1);
    assert!(closed_by_server(&mut ws, Duration::from_secs(10)).await, "still connected without answering pings");
    assert_eq!(connected_sockets(&s).await, 0);
    s.server.shutdown().await;
}

/// A websocket message over the payload limit ends that connection; nothing else is affected.
#[tokio::test]
async fn an_oversized_websocket_message_ends_the_connection() {
    let s = TestServer::start().await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let mut ws = raw_socket(&s.base(), &alice.token).await;
    let limit = 16 * 1024;
    let small = format!("42{}", json!(["leave_order_room", "x".repeat(100)]));
    ws.send(Message::text(small)).await.unwrap();
    assert!(!closed_by_server(&mut ws, Duration::from_millis(500)).await, "a small message is fine");
    let huge = format!("42{}", json!(["leave_order_room", "x".repeat(limit * 4)]));
    let _ = ws.send(Message::text(huge)).await;
    assert!(closed_by_server(&mut ws, Duration::from_secs(10)).await, "a 64 KiB message was accepted");

    let mut c = RsClient::connect(&s.base(), Some(&alice.token)).await;
    c.connected().await;
    assert_eq!(c.event().await.0, "connection_status");
    c.close().await;
    s.server.shutdown().await;
}

/// No client of the contract sends binary attachments: a packet announcing one closes its connection at once,
/// so no client can make the server hold attachments in memory, signed in or not.
#[tokio::test]
async fn a_packet_with_binary_attachments_ends_the_connection() {
    let s = TestServer::start().await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let mut ws = raw_socket(&s.base(), &alice.token).await;
    ws.send(Message::text("451-[\"join_order_room\",{\"_placeholder\":true,\"num\":0}]")).await.unwrap();
    assert!(closed_by_server(&mut ws, Duration::from_secs(5)).await, "the connection stays open");
    let url = format!("{}/socket.io/?EIO=4&transport=websocket", s.base().replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("websocket");
    ws.send(Message::text("451-/,{\"token\":{\"_placeholder\":true,\"num\":0}}")).await.unwrap();
    assert!(closed_by_server(&mut ws, Duration::from_secs(5)).await, "before authentication too");
    s.server.shutdown().await;
}

//! Sessions that really end: a socket is disconnected, with a reason it can show, within a second of its
//! session's logout, revocation, expiry or role change; refresh rotates within a sign-in (token family), a
//! replaced token presented again ends the sign-in, and a sign-in has an absolute lifetime.

use std::time::{Duration, Instant};

use order_protocol::Role;
use serde_json::{json, Value};

use crate::support::{
    get_json, http, login, open_order, receives, server_disconnect, set_status, RsClient, TestServer,
};

async fn socket(s: &TestServer, token: &str) -> RsClient {
    let mut c = RsClient::connect(&s.base(), Some(token)).await;
    c.connected().await;
    assert_eq!(c.event().await.0, "connection_status");
    c
}

async fn post(api: &str, path: &str, token: &str) -> (u16, Value) {
    let res = http().post(format!("{api}{path}")).bearer_auth(token).send().await.expect("POST");
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// The finding: a socket opened with a token that was then logged out still received the next update.
#[tokio::test]
async fn a_logout_cuts_that_sign_ins_sockets_within_a_second_and_no_other() {
    let s = TestServer::start().await;
    let owner = login(&s.api(), "owner@example.com", "owner-pass").await;
    let phone = login(&s.api(), "alice@example.com", "alice-pass").await;
    let laptop = login(&s.api(), "alice@example.com", "alice-pass").await;
    let mut on_phone = socket(&s, &phone.token).await;
    let mut on_laptop = socket(&s, &laptop.token).await;

    let (status, _) = post(&s.api(), "/auth/logout", &phone.token).await;
    assert_eq!(status, 200);
    let (why, took) = server_disconnect(&mut on_phone, Duration::from_secs(5)).await;
    assert_eq!(why["reason"], "signed_out", "{why}");
    assert_eq!(why["message"], "signed out");
    assert!(took < Duration::from_secs(1), "cut after {took:?}");

    let order = open_order(&s.api(), &laptop.token).await;
    let (code, _) = set_status(&s.api(), &owner.token, &order.id, order.status.next().unwrap().as_str()).await;
    assert_eq!(code, 200);
    assert!(
        receives(&mut on_laptop, "customer_order_update", Duration::from_secs(10)).await,
        "the other sign-in lives"
    );
    assert!(!receives(&mut on_phone, "customer_order_update", Duration::from_secs(1)).await, "nothing after the end");
    assert_eq!(s.metrics().await["sessionsCut"], 1);
    on_phone.close().await;
    on_laptop.close().await;
    s.server.shutdown().await;
}

/// A socket keeps its own deadline: it ends when its token expires, unless a refresh of its sign-in moved it.
#[tokio::test]
async fn a_socket_ends_when_its_token_expires_unless_the_sign_in_was_refreshed() {
    let s = TestServer::start_with(|c| c.token_ttl = Duration::from_secs(3)).await;
    let left = login(&s.api(), "alice@example.com", "alice-pass").await;
    let kept = login(&s.api(), "alice@example.com", "alice-pass").await;
    let started = Instant::now();
    let mut left_alone = socket(&s, &left.token).await;
    let mut refreshed = socket(&s, &kept.token).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = post(&s.api(), "/auth/refresh", &kept.token).await;
    assert_eq!(status, 200, "{body}");

    let (why, _) = server_disconnect(&mut left_alone, Duration::from_secs(10)).await;
    let at = started.elapsed();
    assert_eq!(why["reason"], "session_expired", "{why}");
    assert!(at < Duration::from_secs(5), "the expired socket was cut {at:?} after it opened (token of 3 s)");
    // The refreshed sign-in's socket outlives the first token's time; without another refresh, it ends too.
    let first_exp = s.server.ctx().keys.verify(&kept.token).unwrap().exp;
    let (why, _) = server_disconnect(&mut refreshed, Duration::from_secs(10)).await;
    assert_eq!(why["reason"], "session_expired", "{why}");
    let cut_at = chrono::Utc::now().timestamp();
    assert!(
        cut_at > first_exp,
        "the refresh moved the deadline: cut at {cut_at}, the first token ended at {first_exp}"
    );
    left_alone.close().await;
    refreshed.close().await;
    s.server.shutdown().await;
}

/// The finding: a refresh never revoked the token it replaced, so a copied token could be renewed forever.
#[tokio::test]
async fn refresh_rotates_and_a_replaced_token_presented_again_ends_the_sign_in() {
    let s = TestServer::start_with(|c| c.refresh_grace = Duration::from_secs(1)).await;
    let first = login(&s.api(), "alice@example.com", "alice-pass").await.token;
    let (status, body) = post(&s.api(), "/auth/refresh", &first).await;
    assert_eq!(status, 200);
    let second = body["token"].as_str().unwrap().to_owned();
    // Within the grace a request already under way with the old token still passes, and a retried refresh
    // gets the current token's twin, without ending anything.
    assert_eq!(get_json(&s.api(), &first, "/auth/me").await.0, 200);
    let (status, body) = post(&s.api(), "/auth/refresh", &first).await;
    assert_eq!(status, 200, "{body}");
    let twin = body["token"].as_str().unwrap().to_owned();
    assert_eq!(get_json(&s.api(), &twin, "/auth/me").await.0, 200);

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (status, body) = get_json(&s.api(), &first, "/auth/me").await;
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap_or("").contains("replaced"), "{body}");
    let mut live = socket(&s, &second).await;

    // The copy is used again: the whole sign-in ends, the current token and its socket with it.
    let (status, body) = post(&s.api(), "/auth/refresh", &first).await;
    assert_eq!(status, 401, "{body}");
    let (why, took) = server_disconnect(&mut live, Duration::from_secs(5)).await;
    assert_eq!(why["reason"], "session_revoked", "{why}");
    assert!(took < Duration::from_secs(1), "cut after {took:?}");
    let (status, body) = get_json(&s.api(), &second, "/auth/me").await;
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap_or("").contains("revoked"), "{body}");
    live.close().await;
    s.server.shutdown().await;
}

#[tokio::test]
async fn a_sign_in_has_an_absolute_lifetime_no_refresh_reaches_past() {
    let s = TestServer::start_with(|c| c.session_lifetime = Duration::from_secs(3)).await;
    let login_reply = login(&s.api(), "alice@example.com", "alice-pass").await;
    let keys = &s.server.ctx().keys;
    let first = keys.verify(&login_reply.token).unwrap();
    let (status, body) = post(&s.api(), "/auth/refresh", &login_reply.token).await;
    assert_eq!(status, 200);
    let next = keys.verify(body["token"].as_str().unwrap()).unwrap();
    assert!(next.exp <= first.iat + 3, "the refreshed token ends with the sign-in: {} > {}", next.exp, first.iat + 3);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (status, body) = post(&s.api(), "/auth/refresh", body["token"].as_str().unwrap()).await;
    assert_eq!(status, 401);
    assert!(body["message"].as_str().unwrap_or("").contains("expired"), "{body}");
    s.server.shutdown().await;
}

/// A role change ends the account's sessions: its sockets are cut and its tokens (which name the old role)
/// refused; so does an operator's sign-out of the account.
#[tokio::test]
async fn a_role_change_or_an_operators_sign_out_ends_every_session_of_the_account() {
    let s = TestServer::start().await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let mut c = socket(&s, &alice.token).await;
    s.server.ctx().store.set_role("alice@example.com", Role::StoreOwner).await.unwrap();
    let (why, took) = server_disconnect(&mut c, Duration::from_secs(5)).await;
    assert_eq!(why["reason"], "role_changed", "{why}");
    assert!(took < Duration::from_secs(1), "cut after {took:?}");
    let (status, body) = get_json(&s.api(), &alice.token, "/orders").await;
    assert_eq!(status, 401, "{body}");
    c.close().await;

    let again = login(&s.api(), "alice@example.com", "alice-pass").await;
    assert_eq!(again.user.role, Role::StoreOwner);
    let mut c = socket(&s, &again.token).await;
    let id = again.user.id.clone();
    s.server.ctx().store.end_sessions(&id, None, order_protocol::DisconnectReason::SessionRevoked).await.unwrap();
    let (why, _) = server_disconnect(&mut c, Duration::from_secs(5)).await;
    assert_eq!(why, json!({"reason": "session_revoked", "message": "session revoked"}));
    c.close().await;
    s.server.shutdown().await;
}

/// The finding: a socket whose send buffer was full lost events silently and stayed up. Now a client that stops
/// reading is cut (counted in `/metrics`), told why once it reads again, and the events it did get are a prefix
/// of its changes: `changes?since=` from the last one fills the gap exactly, so nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_cut_and_its_catch_up_fills_the_gap() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    let s = TestServer::start_with(|c| {
        c.socket_buffer = 16;
        c.ping_interval = Duration::from_secs(120);
    })
    .await;
    let alice = login(&s.api(), "alice@example.com", "alice-pass").await;
    let order = open_order(&s.api(), &alice.token).await;
    // A small receive window, so the server's writes back up soon after the client stops reading.
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(s.server.addr()).await.unwrap();
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", s.server.addr());
    let (mut ws, _) = tokio_tungstenite::client_async(url, stream).await.expect("websocket");
    ws.send(Message::text(format!("40{}", json!({ "token": alice.token })))).await.unwrap();
    while let Some(Ok(m)) = ws.next().await {
        if matches!(&m, Message::Text(t) if t.as_str().starts_with("42[\"connection_status\"")) {
            break;
        }
    }

    // The client reads nothing while the store moves its driver 3,000 times.
    let store = s.server.ctx().store.clone();
    let n = 3000;
    for chunk in 0..n / 50 {
        let moves = (0..50).map(|k| {
            let at = order_protocol::LatLng { lat: 40.0 + f64::from(chunk * 50 + k) / 1e5, lng: -74.0 };
            store.patch_delivery(&order.id, order_protocol::DeliveryPatch { location: Some(at), ..Default::default() })
        });
        for applied in futures_util::future::join_all(moves).await {
            applied.expect("a move is stored");
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.metrics().await["slowConsumersCut"] != 1 {
        assert!(Instant::now() < deadline, "the reader that stopped was not cut: {}", s.metrics().await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // It reads again: what was queued, then why it was cut, then the end.
    let (mut seen, mut told) = (Vec::new(), None);
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        let Message::Text(t) = m else { continue };
        let Some(body) = t.as_str().strip_prefix("42") else { continue };
        let event: Value = serde_json::from_str(body).unwrap();
        match event[0].as_str() {
            Some("delivery_update") => seen.push(event[1]["seq"].as_u64().unwrap()),
            Some("server_disconnect") => told = Some(event[1].clone()),
            _ => {}
        }
    }
    assert_eq!(told.as_ref().map(|t| t["reason"].clone()), Some(json!("too_slow")), "told why: {told:?}");
    seen.dedup();
    assert!(seen.len() < n as usize, "the client missed changes ({} seen)", seen.len());
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "what it got has no hole");
    let last = *seen.last().expect("some events arrived before the buffer filled");
    let (mut missed, mut from) = (Vec::new(), last);
    loop {
        let (status, page) = get_json(&s.api(), &alice.token, &format!("/orders/changes?since={from}")).await;
        assert_eq!(status, 200, "{page}");
        missed.extend(page["changes"].as_array().unwrap().iter().map(|c| c["seq"].as_u64().unwrap()));
        from = page["latestSeq"].as_u64().unwrap();
        if page["hasMore"] != true {
            break;
        }
    }
    missed.dedup();
    assert_eq!(seen.len() + missed.len(), n as usize, "every change, seen live or replayed");
    assert_eq!(missed.first(), Some(&(last + 1)));
    s.server.shutdown().await;
}

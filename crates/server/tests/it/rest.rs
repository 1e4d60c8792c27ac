//! The REST API through `tower::ServiceExt::oneshot`: contract shapes, permissions, bad input, limits.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use order_protocol::{LoginResponse, Order, Role};
use order_server::auth::{Claims, Keys};
use order_server::store::Store;
use order_server::{http, seed, AppCtx, ServerConfig};
use serde_json::{json, Value};
use tower::ServiceExt;

struct Api {
    app: Router,
    ctx: AppCtx,
    _dir: tempfile::TempDir,
}

async fn api() -> Api {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig::for_tests(dir.path().join("orders.db"));
    let store = Store::open(&config.db).await.unwrap();
    seed::seed(&store).await.unwrap();
    let ctx = AppCtx::new(store, Keys::new(config.jwt_secret.as_deref().expect("a test secret")), &config);
    let app = http::with_outer_layers(http::app(ctx.clone()), &config);
    Api { app, ctx, _dir: dir }
}

impl Api {
    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let (status, _, body) = self.raw(method, path, token, body.map(|b| b.to_string()), &[]).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(format!("/api{path}"));
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req.header(header::CONTENT_TYPE, "application/json").body(Body::from(b)),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX).await.unwrap();
        (status, headers, bytes.to_vec())
    }

    async fn login(&self, email: &str, password: &str) -> LoginResponse {
        let (status, body) =
            self.call("POST", "/auth/login", None, Some(json!({"email": email, "password": password}))).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body).unwrap()
    }

    async fn latest_seq(&self) -> u64 {
        self.ctx.store.latest_seq().await.unwrap()
    }
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_else(|| panic!("an error body {{message}}, got {body}"))
}

#[tokio::test]
async fn health_and_login_have_the_contract_shapes() {
    let api = api().await;
    let (status, body) = api.call("GET", "/health", None, None).await;
    assert_eq!((status, body["ok"].clone()), (StatusCode::OK, json!(true)));
    assert!(body["serverTime"].as_str().unwrap().ends_with('Z'));

    let (status, body) = api
        .call("POST", "/auth/login", None, Some(json!({"email": "alice@example.com", "password": "alice-pass"})))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["token"].as_str().unwrap().split('.').count() == 3, "a JWT");
    let user = &body["user"];
    assert_eq!(user["_id"], user["id"]);
    assert_eq!((user["email"].as_str(), user["role"].as_str()), (Some("alice@example.com"), Some("customer")));
    assert_eq!(user["name"], "Alice Martin");

    let claims = api.ctx.keys.verify(body["token"].as_str().unwrap()).unwrap();
    assert_eq!((claims.user_id.as_str(), claims.role), (user["id"].as_str().unwrap(), Role::Customer));

    let (status, body) =
        api.call("POST", "/auth/login", None, Some(json!({"email": "alice@example.com", "password": "nope"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(message(&body), "wrong email or password");
    let (status, body) =
        api.call("POST", "/auth/login", None, Some(json!({"email": "ghost@example.com", "password": "x"}))).await;
    assert_eq!((status, message(&body)), (StatusCode::UNAUTHORIZED, "wrong email or password"));
}

#[tokio::test]
async fn customers_see_only_their_orders_and_owners_see_all() {
    let api = api().await;
    let alice = api.login("alice@example.com", "alice-pass").await;
    let bob = api.login("bob@example.com", "bob-pass").await;
    let owner = api.login("owner@example.com", "owner-pass").await;

    let (_, body) = api.call("GET", "/orders", Some(&alice.token), None).await;
    let alices: Vec<Order> = serde_json::from_value(body).unwrap();
    assert_eq!(alices.len(), 3);
    assert!(alices.iter().all(|o| o.customer == alice.user.id));
    let statuses: std::collections::HashSet<_> = alices.iter().map(|o| o.status).collect();
    assert!(statuses.len() >= 3, "seeded in several statuses: {statuses:?}");

    let (_, body) = api.call("GET", "/orders", Some(&owner.token), None).await;
    assert_eq!(body.as_array().unwrap().len(), 6);

    let (_, body) = api.call("GET", "/orders", Some(&bob.token), None).await;
    let bobs: Vec<Order> = serde_json::from_value(body).unwrap();
    let (status, body) = api.call("GET", &format!("/orders/{}", bobs[0].id), Some(&alice.token), None).await;
    assert_eq!((status, message(&body)), (StatusCode::FORBIDDEN, "this order is not yours"));
    let (status, body) = api.call("GET", &format!("/orders/{}", alices[0].id), Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::OK);
    // Every field of the contract's Order, with `_id`.
    for field in
        ["_id", "orderNumber", "customer", "items", "totalAmount", "status", "statusHistory", "deliveryAddress"]
    {
        assert!(body.get(field).is_some(), "order has {field}: {body}");
    }
    for field in ["deliveryStatus", "estimatedDelivery", "driver", "location"] {
        assert!(body["delivery"].get(field).is_some(), "delivery has {field}");
    }
    let (status, _) = api.call("GET", "/orders/000000000000000000000000", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn status_changes_need_an_owner_a_known_status_and_a_forward_move() {
    let api = api().await;
    let alice = api.login("alice@example.com", "alice-pass").await;
    let owner = api.login("owner@example.com", "owner-pass").await;
    let (_, body) = api.call("GET", "/orders", Some(&alice.token), None).await;
    let orders: Vec<Order> = serde_json::from_value(body).unwrap();
    let pending = orders.iter().find(|o| o.status == order_protocol::Status::Pending).unwrap();
    let delivered = orders.iter().find(|o| o.status == order_protocol::Status::Delivered).unwrap();
    let path = format!("/orders/{}/status", pending.id);
    let before = api.latest_seq().await;

    let (status, _) = api.call("PATCH", &path, Some(&alice.token), Some(json!({"status": "confirmed"}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a customer cannot change a status");
    let delivery = format!("/orders/{}/delivery", pending.id);
    let (status, _) =
        api.call("PATCH", &delivery, Some(&alice.token), Some(json!({"location": {"lat": 1.0, "lng": 2.0}}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a customer cannot move a courier");
    let (status, body) = api.call("PATCH", &path, Some(&owner.token), Some(json!({"status": "teleported"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).starts_with("unknown status `teleported`"));
    let (status, body) = api.call("PATCH", &path, Some(&owner.token), Some(json!({"status": 3}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).starts_with("invalid request body"), "{body}");
    let (status, _, _) = api.raw("PATCH", &path, Some(&owner.token), Some("{\"status\": ".into()), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "malformed JSON");
    let (status, body) = api
        .call(
            "PATCH",
            &format!("/orders/{}/status", delivered.id),
            Some(&owner.token),
            Some(json!({"status": "pending"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(message(&body).contains("can no longer change"), "{body}");
    let (status, _) =
        api.call("PATCH", "/orders/nope/status", Some(&owner.token), Some(json!({"status": "confirmed"}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(api.latest_seq().await, before, "refused requests write nothing");

    let (status, body) = api.call("PATCH", &path, Some(&owner.token), Some(json!({"status": "confirmed"}))).await;
    assert_eq!(status, StatusCode::OK);
    let order: Order = serde_json::from_value(body).unwrap();
    assert_eq!(order.status, order_protocol::Status::Confirmed);
    assert_eq!(order.status_history.last().unwrap().status, order_protocol::Status::Confirmed);
    assert_eq!(api.latest_seq().await, before + 1);
    // The same status again is not a change.
    api.call("PATCH", &path, Some(&owner.token), Some(json!({"status": "confirmed"}))).await;
    assert_eq!(api.latest_seq().await, before + 1);
    let (status, _) = api.call("PATCH", &path, Some(&owner.token), Some(json!({"status": "pending"}))).await;
    assert_eq!(status, StatusCode::CONFLICT, "no going back");
}

#[tokio::test]
async fn tokens_expired_forged_or_revoked_are_refused() {
    let api = api().await;
    let alice = api.login("alice@example.com", "alice-pass").await;
    let claims = api.ctx.keys.verify(&alice.token).unwrap();
    let expired = api.ctx.keys.sign(&Claims { exp: chrono::Utc::now().timestamp() - 3600, ..claims.clone() });
    let forged = Keys::new(b"some other secret entirely!").sign(&claims);
    for (token, why) in [(expired.as_str(), "expired"), (forged.as_str(), "invalid"), ("garbage", "invalid")] {
        let (status, body) = api.call("GET", "/orders", Some(token), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(message(&body).contains(why), "{body}");
    }
    let (status, _) = api.call("GET", "/orders", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, me) = api.call("GET", "/auth/me", Some(&alice.token), None).await;
    assert_eq!((status, me["email"].as_str()), (StatusCode::OK, Some("alice@example.com")));
    let (status, body) = api.call("POST", "/auth/refresh", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::OK);
    let fresh = body["token"].as_str().unwrap().to_owned();
    assert_ne!(fresh, alice.token);
    let (status, _) = api.call("POST", "/auth/logout", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api.call("GET", "/auth/me", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(message(&body).contains("revoked"));
    let (status, _) = api.call("GET", "/auth/me", Some(&fresh), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a logout ends the sign-in, the refreshed token with it");
    let other = api.login("alice@example.com", "alice-pass").await;
    let (status, _) = api.call("GET", "/auth/me", Some(&other.token), None).await;
    assert_eq!(status, StatusCode::OK, "another sign-in of the account lives on");
}

#[tokio::test]
async fn changes_replay_the_callers_events_and_410_outside_the_log() {
    let api = api().await;
    let alice = api.login("alice@example.com", "alice-pass").await;
    let bob = api.login("bob@example.com", "bob-pass").await;
    let owner = api.login("owner@example.com", "owner-pass").await;
    let since = api.latest_seq().await;
    let alices = api.ctx.store.orders(Some(&alice.user.id)).await.unwrap();
    let bobs = api.ctx.store.orders(Some(&bob.user.id)).await.unwrap();
    let a = alices.iter().find(|o| o.status == order_protocol::Status::Pending).unwrap();
    let b = bobs.iter().find(|o| o.status == order_protocol::Status::Confirmed).unwrap();
    api.call("PATCH", &format!("/orders/{}/status", a.id), Some(&owner.token), Some(json!({"status": "confirmed"})))
        .await;
    api.call("PATCH", &format!("/orders/{}/status", b.id), Some(&owner.token), Some(json!({"status": "preparing"})))
        .await;

    let (status, body) = api.call("GET", &format!("/orders/changes?since={since}"), Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["latestSeq"], since + 2);
    let events: Vec<(u64, &str)> = body["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["seq"].as_u64().unwrap(), c["event"].as_str().unwrap()))
        .collect();
    let s = since + 1;
    assert_eq!(
        events,
        vec![
            (s, "customer_order_update"),
            (s, "single_order_update"),
            (s, "customer_notification"),
            (s, "order_stats_update")
        ],
        "alice replays her change only, in emission order"
    );
    for c in body["changes"].as_array().unwrap() {
        assert_eq!(c["payload"]["seq"], c["seq"], "the payload is the emitted one, seq included");
    }

    let (_, body) = api.call("GET", &format!("/orders/changes?since={since}"), Some(&owner.token), None).await;
    let owner_events: Vec<&str> =
        body["changes"].as_array().unwrap().iter().map(|c| c["event"].as_str().unwrap()).collect();
    assert_eq!(owner_events.iter().filter(|e| **e == "order_notification").count(), 2);
    assert!(!owner_events.contains(&"customer_notification"));

    let (status, body) =
        api.call("GET", &format!("/orders/changes?since={}", since + 50), Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::GONE, "newer than the log: the data was recreated");
    assert!(message(&body).contains("reload"));
    assert_eq!(body["latestSeq"], since + 2, "a 410 says where to start again");
    let (status, _) = api.call("GET", "/orders/changes?since=-1", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Retention: everything older than now is pruned; asking from before that is 410, from the end is fine.
    api.ctx.store.prune(chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap();
    for from in [0, since] {
        let (status, body) = api.call("GET", &format!("/orders/changes?since={from}"), Some(&alice.token), None).await;
        assert_eq!(status, StatusCode::GONE, "since={from} is before what is kept");
        assert_eq!(body["latestSeq"], since + 2, "a 410 says where to start again");
    }
    let (status, body) =
        api.call("GET", &format!("/orders/changes?since={}", since + 2), Some(&alice.token), None).await;
    assert_eq!((status, body["latestSeq"].as_u64()), (StatusCode::OK, Some(since + 2)));
}

#[tokio::test]
async fn notifications_keep_read_state_per_user() {
    let api = api().await;
    let alice = api.login("alice@example.com", "alice-pass").await;
    let bob = api.login("bob@example.com", "bob-pass").await;
    let (status, body) = api.call("GET", "/notifications", Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::OK);
    let list = body.as_array().unwrap().clone();
    assert!(list.len() >= 3, "the seed's story produced notifications");
    assert!(list.iter().all(|n| n["read"] == false && n["type"].is_string() && n["createdAt"].is_string()));
    let first = list[0]["id"].as_str().unwrap();

    let (status, _) = api.call("POST", &format!("/notifications/{first}/read"), Some(&bob.token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not bob's notification");
    let (status, _) = api.call("POST", &format!("/notifications/{first}/read"), Some(&alice.token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = api.call("GET", "/notifications", Some(&alice.token), None).await;
    let unread = body.as_array().unwrap().iter().filter(|n| n["read"] == false).count();
    assert_eq!(unread, list.len() - 1);
    api.call("POST", "/notifications/read-all", Some(&alice.token), None).await;
    let (_, body) = api.call("GET", "/notifications", Some(&alice.token), None).await;
    assert!(body.as_array().unwrap().iter().all(|n| n["read"] == true));
    let (_, body) = api.call("GET", "/notifications", Some(&bob.token), None).await;
    assert!(body.as_array().unwrap().iter().all(|n| n["read"] == false), "bob's state is his own");
}

#[tokio::test]
async fn placing_an_order_validates_and_logs_one_change() {
    let api = api().await;
    let alice = api.login("alice@example.com", "alice-pass").await;
    let owner = api.login("owner@example.com", "owner-pass").await;
    let before = api.latest_seq().await;
    let good = json!({"items": [{"name": "Tea", "quantity": 2, "price": 2.25}], "deliveryAddress": {"street": "1 A St", "city": "B"}});
    let (status, _) = api.call("POST", "/orders", Some(&owner.token), Some(good.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for bad in [
        json!({"items": [], "deliveryAddress": {}}),
        json!({"items": [{"name": "Tea", "quantity": 0, "price": 1}], "deliveryAddress": {}}),
        json!({"items": [{"name": "Tea", "quantity": 1, "price": -1}], "deliveryAddress": {}}),
        json!({"items": "tea"}),
    ] {
        let (status, body) = api.call("POST", "/orders", Some(&alice.token), Some(bad.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad} -> {body}");
        message(&body);
    }
    assert_eq!(api.latest_seq().await, before);
    let (status, body) = api.call("POST", "/orders", Some(&alice.token), Some(good)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!((body["status"].as_str(), body["totalAmount"].as_f64()), (Some("pending"), Some(4.5)));
    assert_eq!(body["customer"].as_str(), Some(alice.user.id.as_str()));
    assert_eq!(api.latest_seq().await, before + 1);
}

#[tokio::test]
async fn logins_are_rate_limited_with_retry_after() {
    let api = api().await;
    for _ in 0..5 {
        let (status, _) =
            api.call("POST", "/auth/login", None, Some(json!({"email": "bob@example.com", "password": "bad"}))).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let body = json!({"email": "bob@example.com", "password": "bob-pass"}).to_string();
    let (status, headers, body) = api.raw("POST", "/auth/login", None, Some(body), &[]).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "even the right password waits");
    let retry: u64 = headers[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert_eq!(retry, 1, "a backoff from one second, not a lockout");
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(message(&body).starts_with("too many failed logins for this account"), "{body}");
    // Another account is not affected, and the account itself only waits.
    api.login("alice@example.com", "alice-pass").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    api.login("bob@example.com", "bob-pass").await;
}

#[tokio::test]
async fn oversized_bodies_unknown_routes_and_cors() {
    let api = api().await;
    let huge = json!({"email": "a@b.c", "password": "x".repeat(100 * 1024)}).to_string();
    let (status, _, body) = api.raw("POST", "/auth/login", None, Some(huge), &[]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(serde_json::from_slice::<Value>(&body).unwrap()["message"].is_string());

    let (status, body) = api.call("GET", "/nothing/here", None, None).await;
    assert_eq!((status, message(&body)), (StatusCode::NOT_FOUND, "no route for GET /api/nothing/here"));

    let preflight = [("origin", "http://localhost:1420"), ("access-control-request-method", "PATCH")];
    let (_, headers, _) = api.raw("OPTIONS", "/orders", None, None, &preflight).await;
    assert_eq!(headers["access-control-allow-origin"], "http://localhost:1420");
    let (_, headers, _) = api.raw("GET", "/health", None, None, &[("origin", "https://evil.example")]).await;
    assert!(headers.get("access-control-allow-origin").is_none(), "an unknown origin is not allowed");
}

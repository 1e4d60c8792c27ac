//! The contract's shapes, parsed the way other backends send them and written the way ours must.

use order_protocol::*;
use serde_json::json;

fn mongo_order() -> serde_json::Value {
    json!({
        "_id": "64b7f0c2a1e4c3b2a1d0e9f8",
        "orderNumber": "ORD-1001",
        "customer": {"_id": "u1", "name": "Alice", "email": "alice@example.com"},
        "items": [{"name": "Pizza", "quantity": 2, "price": 9.5, "_id": "i1"}],
        "totalAmount": 19.0,
        "status": "out_for_delivery",
        "statusHistory": [{"status": "pending", "timestamp": "2026-11-25T10:00:00.000Z", "_id": "h1"}],
        "createdAt": "2026-11-25T10:00:00.000Z",
        "updatedAt": "2026-11-25T10:05:00.000Z",
        "__v": 0
    })
}

#[test]
fn order_from_a_mongoose_backend() {
    let o: Order = serde_json::from_value(mongo_order()).unwrap();
    assert_eq!(o.id, "64b7f0c2a1e4c3b2a1d0e9f8");
    assert_eq!(o.customer, "u1");
    assert_eq!(o.status, Status::OutForDelivery);
    assert_eq!(o.status.progress(), 85);
    assert_eq!(o.delivery, None);
    assert_eq!(o.items[0].quantity, 2);
}

#[test]
fn order_accepts_id_numbers_and_missing_optionals() {
    let o: Order = serde_json::from_value(json!({
        "id": 42, "status": "confirmed", "updatedAt": "2026-11-25T10:05:00Z"
    }))
    .unwrap();
    assert_eq!(o.id, "42");
    assert_eq!(o.order_number, "42");
    assert!(o.status_history.is_empty());
}

#[test]
fn order_without_any_id_is_refused_with_a_reason() {
    let e =
        serde_json::from_value::<Order>(json!({"status": "pending", "updatedAt": "2026-11-25T10:05:00Z"})).unwrap_err();
    assert!(e.to_string().contains("neither `_id` nor `id`"), "{e}");
}

#[test]
fn unknown_status_is_tolerated() {
    let u: OrderUpdate = serde_json::from_value(json!({
        "orderId": "o1", "status": "on_the_moon", "updatedAt": "2026-11-25T10:05:00Z"
    }))
    .unwrap();
    assert_eq!(u.status, Status::Unknown);
}

#[test]
fn order_is_written_with_underscore_id_and_camel_case() {
    let o: Order = serde_json::from_value(mongo_order()).unwrap();
    let v = serde_json::to_value(&o).unwrap();
    assert_eq!(v["_id"], "64b7f0c2a1e4c3b2a1d0e9f8");
    assert_eq!(v["orderNumber"], "ORD-1001");
    assert_eq!(v["statusHistory"][0]["status"], "pending");
    assert!(v.get("id").is_none());
}

#[test]
fn user_is_written_with_both_ids() {
    let u = User::new("u1", "Alice", "alice@example.com", Role::Customer);
    let v = serde_json::to_value(&u).unwrap();
    assert_eq!(v, json!({"_id": "u1", "id": "u1", "name": "Alice", "email": "alice@example.com", "role": "customer"}));
    let back: User = serde_json::from_value(v).unwrap();
    assert_eq!(back, u);
}

#[test]
fn events_parse_by_name_and_keep_seq() {
    let e = ServerEvent::parse(
        names::ORDER_STATS_UPDATE,
        json!({"total": 3, "active": 2, "delivered": 1, "cancelled": 0, "seq": 7}),
    )
    .unwrap();
    assert_eq!(e.seq(), Some(7));
    assert_eq!(e.name(), "order_stats_update");
    let err = ServerEvent::parse(names::DELIVERY_UPDATE, json!("garbage")).unwrap_err();
    assert!(matches!(err, EventError::Malformed { .. }));
    assert!(matches!(ServerEvent::parse("nope", json!({})), Err(EventError::UnknownEvent(_))));
}

#[test]
fn room_requests_take_a_string_or_an_object() {
    let a: RoomRequest = serde_json::from_value(json!("o1")).unwrap();
    let b: RoomRequest = serde_json::from_value(json!({"orderId": "o1"})).unwrap();
    assert_eq!(a.order_id(), b.order_id());
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let r = LoginRequest { email: "a@b".into(), password: "hunter2".into() };
    assert!(!format!("{r:?}").contains("hunter2"));
    let h = HandshakeAuth { token: "secret-token".into() };
    assert!(!format!("{h:?}").contains("secret-token"));
}

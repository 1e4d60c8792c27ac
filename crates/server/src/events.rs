//! What one change emits: a pure function from (order before, order after) to the list of Socket.IO events,
//! in CONTRACT.md's order, each with the audience it goes to.
//!
//! It is pure so that the rules (which events, in which order, which notification text) are tested without a
//! database or a socket, and so that the change log can store its result: live dispatch and the
//! `changes?since=` replay then send exactly the same payloads. Payloads are JSON text, serialized once here
//! straight from the wire types: the writer stores that text and the dispatcher emits it as it is.

use chrono::{DateTime, Utc};
use order_protocol::{
    names, notification_types, CustomerNotification, DeliveryStatus, DeliveryUpdate, Order, OrderNotification,
    OrderUpdate, Stats, StatsUpdate, Status,
};
use serde::Serialize;
use serde_json::value::RawValue;

/// Who receives an event, as a bit set (stored as is in `change_events.audience`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Audience(pub u8);

impl Audience {
    /// The customer's room, `customer_<id>`.
    pub const CUSTOMER: Audience = Audience(1);
    /// The order's room, `order_<id>`.
    pub const ORDER: Audience = Audience(2);
    /// The store owners' room.
    pub const OWNERS: Audience = Audience(4);

    pub fn has(self, other: Audience) -> bool {
        self.0 & other.0 != 0
    }

    /// The room names for an order of a customer.
    pub fn rooms(self, customer_id: &str, order_id: &str) -> Vec<String> {
        let mut rooms = Vec::with_capacity(2);
        if self.has(Audience::CUSTOMER) {
            rooms.push(order_protocol::rooms::customer(customer_id));
        }
        if self.has(Audience::ORDER) {
            rooms.push(order_protocol::rooms::order(order_id));
        }
        if self.has(Audience::OWNERS) {
            rooms.push(order_protocol::rooms::STORE_OWNERS.to_owned());
        }
        rooms
    }
}

impl std::ops::BitOr for Audience {
    type Output = Audience;
    fn bitor(self, rhs: Audience) -> Audience {
        Audience(self.0 | rhs.0)
    }
}

/// One event of a change, ready to store and emit.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub event: &'static str,
    pub audience: Audience,
    pub payload: Box<RawValue>,
}

/// A wire type as JSON text.
fn json(payload: &impl Serialize) -> Box<RawValue> {
    serde_json::value::to_raw_value(payload).expect("wire types serialize")
}

/// A notification a change creates, stored for `GET /notifications` as well as emitted.
#[derive(Clone, Debug, PartialEq)]
pub struct NewNotification {
    pub id: String,
    /// `customer_<id>` or `store_owners`.
    pub audience: String,
    pub kind: &'static str,
    pub title: String,
    pub message: String,
    pub order_id: String,
    pub created_at: DateTime<Utc>,
}

/// Everything the rules need besides the two versions of the order.
pub struct Context<'a> {
    pub seq: u64,
    pub now: DateTime<Utc>,
    /// Display name of the customer, for the store owners' texts.
    pub customer_name: &'a str,
    /// The customer's order counts after the change. Read only when the status changed (see
    /// [`status_changed`]), the one time they are sent, so the store counts them only then.
    pub customer_stats: Stats,
    /// Counts over all orders after the change; read only when the status changed.
    pub store_stats: Stats,
    /// Makes notification ids (random in the server, fixed in tests).
    pub new_id: &'a mut dyn FnMut() -> String,
}

/// The events and notifications of one change; `before` is `None` for a new order.
#[derive(Debug, Default)]
pub struct Planned {
    pub events: Vec<Outgoing>,
    pub notifications: Vec<NewNotification>,
}

/// Whether a change moved the status (a new order counts): only then are notifications and stats sent.
pub fn status_changed(before: Option<&Order>, after: &Order) -> bool {
    before.is_none_or(|b| b.status != after.status)
}

/// Computes what a change emits. Nothing when nothing a client sees changed.
pub fn plan(before: Option<&Order>, after: &Order, cx: Context<'_>) -> Planned {
    let mut out = Planned::default();
    let seq = Some(cx.seq);
    let status_changed = status_changed(before, after);
    let delivery_before = before.and_then(|b| b.delivery.clone()).unwrap_or_default();
    let delivery_after = after.delivery.clone().unwrap_or_default();
    let delivery_changed = before.is_some() && delivery_before != delivery_after;
    if before == Some(after) {
        return out;
    }

    let update = json(&OrderUpdate::of(after, seq));
    out.events.push(Outgoing {
        event: names::CUSTOMER_ORDER_UPDATE,
        audience: Audience::CUSTOMER,
        payload: update.clone(),
    });
    out.events.push(Outgoing { event: names::SINGLE_ORDER_UPDATE, audience: Audience::ORDER, payload: update });

    if delivery_changed {
        let d = DeliveryUpdate {
            order_id: after.id.clone(),
            delivery_status: delivery_after.delivery_status,
            estimated_delivery: delivery_after.estimated_delivery,
            driver: delivery_after.driver.clone(),
            location: delivery_after.location,
            seq,
        };
        out.events.push(Outgoing {
            event: names::DELIVERY_UPDATE,
            audience: Audience::CUSTOMER | Audience::ORDER,
            payload: json(&d),
        });
    }

    // One customer notification per change at most: a client identifies an event by (seq, name).
    let customer_note = if status_changed {
        Some((
            notification_types::ORDER_STATUS,
            order_protocol::words::status_note(before.is_none(), after.status, &after.order_number),
        ))
    } else if delivery_changed {
        delivery_milestone(&delivery_before, &delivery_after, after, cx.now)
            .map(|texts| (notification_types::DELIVERY, texts))
    } else {
        None
    };
    if let Some((kind, (title, message))) = customer_note {
        let n = NewNotification {
            id: (cx.new_id)(),
            audience: order_protocol::rooms::customer(&after.customer),
            kind,
            title,
            message,
            order_id: after.id.clone(),
            created_at: cx.now,
        };
        let wire = CustomerNotification {
            id: n.id.clone(),
            kind: n.kind.to_owned(),
            title: n.title.clone(),
            message: n.message.clone(),
            order_id: Some(n.order_id.clone()),
            created_at: n.created_at,
            seq,
        };
        out.events.push(Outgoing {
            event: names::CUSTOMER_NOTIFICATION,
            audience: Audience::CUSTOMER,
            payload: json(&wire),
        });
        out.notifications.push(n);
    }

    if status_changed {
        let (title, message) = owner_texts(before.map(|b| b.status), after, cx.customer_name);
        let n = NewNotification {
            id: (cx.new_id)(),
            audience: order_protocol::rooms::STORE_OWNERS.to_owned(),
            kind: notification_types::ORDER_STATUS_CHANGED,
            title,
            message,
            order_id: after.id.clone(),
            created_at: cx.now,
        };
        let wire = OrderNotification {
            id: n.id.clone(),
            kind: n.kind.to_owned(),
            title: n.title.clone(),
            message: n.message.clone(),
            order_id: after.id.clone(),
            order_number: after.order_number.clone(),
            customer_id: after.customer.clone(),
            status: after.status,
            created_at: n.created_at,
            seq,
        };
        out.events.push(Outgoing {
            event: names::ORDER_NOTIFICATION,
            audience: Audience::OWNERS,
            payload: json(&wire),
        });
        out.notifications.push(n);

        for (audience, stats) in [(Audience::CUSTOMER, cx.customer_stats), (Audience::OWNERS, cx.store_stats)] {
            out.events.push(Outgoing {
                event: names::ORDER_STATS_UPDATE,
                audience,
                payload: json(&StatsUpdate { stats, seq }),
            });
        }
    }
    out
}

fn owner_texts(before: Option<Status>, after: &Order, customer_name: &str) -> (String, String) {
    let n = &after.order_number;
    match before {
        None => (format!("New order {n}"), format!("{customer_name} placed {n} ({:.2}).", after.total_amount)),
        Some(b) => (
            format!("{n}: {}", after.status.display()),
            format!("{n} of {customer_name} moved from {} to {}.", b.display(), after.status.display()),
        ),
    }
}

/// A delivery milestone worth a notification, if the change reached one.
fn delivery_milestone(
    before: &order_protocol::Delivery,
    after: &order_protocol::Delivery,
    order: &Order,
    now: DateTime<Utc>,
) -> Option<(String, String)> {
    let n = &order.order_number;
    if after.delivery_status != before.delivery_status {
        return match after.delivery_status {
            DeliveryStatus::InTransit => Some(("Out for delivery".into(), format!("Your order {n} is on its way."))),
            DeliveryStatus::Delivered => Some(("Delivered".into(), format!("Your order {n} was delivered."))),
            _ => None,
        };
    }
    if let (Some(d), true) = (&after.driver, after.driver != before.driver) {
        return Some(("Driver assigned".into(), format!("{} is delivering your order {n}.", d.name)));
    }
    let soon = |eta: Option<DateTime<Utc>>| eta.is_some_and(|t| t - now <= chrono::Duration::minutes(5));
    if after.delivery_status == DeliveryStatus::InTransit
        && soon(after.estimated_delivery)
        && !soon(before.estimated_delivery)
    {
        return Some(("Arriving soon".into(), format!("Your order {n} arrives in a few minutes.")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_protocol::{Delivery, Driver, Item, StatusEntry};

    fn order(status: Status) -> Order {
        let t = DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z").unwrap().with_timezone(&Utc);
        Order {
            id: "o1".into(),
            order_number: "ORD-1001".into(),
            customer: "c1".into(),
            items: vec![Item { name: "Pizza".into(), quantity: 1, price: 12.5 }],
            total_amount: 12.5,
            status,
            status_history: vec![StatusEntry { status, timestamp: t }],
            delivery_address: None,
            delivery: Some(Delivery::default()),
            created_at: t,
            updated_at: t,
        }
    }

    fn value(e: &Outgoing) -> serde_json::Value {
        serde_json::from_str(e.payload.get()).unwrap()
    }

    fn check(before: Option<&Order>, after: &Order, expected: &[(&str, Audience)]) -> Planned {
        let mut n = 0;
        let mut ids = || {
            n += 1;
            format!("n{n}")
        };
        let cx = Context {
            seq: 7,
            now: after.updated_at,
            customer_name: "Alice",
            customer_stats: Stats::default(),
            store_stats: Stats::default(),
            new_id: &mut ids,
        };
        let planned = plan(before, after, cx);
        let got: Vec<_> = planned.events.iter().map(|e| (e.event, e.audience)).collect();
        assert_eq!(got, expected);
        for e in &planned.events {
            assert_eq!(value(e)["seq"], 7, "{} carries seq", e.event);
        }
        planned
    }

    const C: Audience = Audience::CUSTOMER;
    const O: Audience = Audience::ORDER;
    const W: Audience = Audience::OWNERS;

    #[test]
    fn a_status_change_emits_the_contract_order() {
        let before = order(Status::Pending);
        let after = order(Status::Confirmed);
        let p = check(
            Some(&before),
            &after,
            &[
                (names::CUSTOMER_ORDER_UPDATE, C),
                (names::SINGLE_ORDER_UPDATE, O),
                (names::CUSTOMER_NOTIFICATION, C),
                (names::ORDER_NOTIFICATION, W),
                (names::ORDER_STATS_UPDATE, C),
                (names::ORDER_STATS_UPDATE, W),
            ],
        );
        assert_eq!(p.notifications.len(), 2);
        assert_eq!(value(&p.events[2])["type"], "order_status");
        assert_eq!(value(&p.events[2])["title"], "Order Confirmed");
        assert_eq!(value(&p.events[0])["progress"], 25);
        assert_eq!(value(&p.events[0])["statusDisplay"], "Confirmed");
    }

    #[test]
    fn going_out_for_delivery_also_emits_the_delivery_update_once() {
        let before = order(Status::Ready);
        let mut after = order(Status::OutForDelivery);
        after.delivery = Some(Delivery { delivery_status: DeliveryStatus::InTransit, ..Default::default() });
        let p = check(
            Some(&before),
            &after,
            &[
                (names::CUSTOMER_ORDER_UPDATE, C),
                (names::SINGLE_ORDER_UPDATE, O),
                (names::DELIVERY_UPDATE, C | O),
                (names::CUSTOMER_NOTIFICATION, C),
                (names::ORDER_NOTIFICATION, W),
                (names::ORDER_STATS_UPDATE, C),
                (names::ORDER_STATS_UPDATE, W),
            ],
        );
        // The status notification wins; a second customer_notification with the same seq would be deduped away.
        assert_eq!(value(&p.events[3])["type"], "order_status");
    }

    #[test]
    fn a_driver_assignment_is_a_delivery_notification_without_stats() {
        let before = order(Status::Ready);
        let mut after = before.clone();
        after.delivery =
            Some(Delivery { driver: Some(Driver { name: "Sam".into(), phone: "555".into() }), ..Default::default() });
        let p = check(
            Some(&before),
            &after,
            &[
                (names::CUSTOMER_ORDER_UPDATE, C),
                (names::SINGLE_ORDER_UPDATE, O),
                (names::DELIVERY_UPDATE, C | O),
                (names::CUSTOMER_NOTIFICATION, C),
            ],
        );
        assert_eq!(value(&p.events[3])["type"], "delivery");
        assert_eq!(value(&p.events[3])["title"], "Driver assigned");
    }

    #[test]
    fn a_new_order_is_announced_to_both_sides() {
        let p = check(
            None,
            &order(Status::Pending),
            &[
                (names::CUSTOMER_ORDER_UPDATE, C),
                (names::SINGLE_ORDER_UPDATE, O),
                (names::CUSTOMER_NOTIFICATION, C),
                (names::ORDER_NOTIFICATION, W),
                (names::ORDER_STATS_UPDATE, C),
                (names::ORDER_STATS_UPDATE, W),
            ],
        );
        assert_eq!(value(&p.events[3])["title"], "New order ORD-1001");
    }

    #[test]
    fn no_visible_change_emits_nothing() {
        let o = order(Status::Ready);
        check(Some(&o), &o, &[]);
    }

    #[test]
    fn rooms_follow_the_audience() {
        assert_eq!((C | O).rooms("c1", "o1"), vec!["customer_c1", "order_o1"]);
        assert_eq!(W.rooms("c1", "o1"), vec!["store_owners"]);
    }
}

//! Test data shared by the reducer's and the supervisor's tables.

use chrono::{DateTime, TimeZone, Utc};
use order_protocol::{Order, Status, StatusEntry};

/// A fixed instant plus `s` seconds: tests never read the clock.
pub fn t(s: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_795_000_000 + s, 0).unwrap()
}

/// Order `id` at `status` since `at`, with the history that leads there, one second per step.
pub fn order(id: &str, status: Status, at: i64) -> Order {
    let flow: Vec<Status> = if status == Status::Cancelled {
        vec![Status::Pending, Status::Cancelled]
    } else {
        Status::ALL
            .into_iter()
            .take_while(|s| *s != status)
            .chain([status])
            .filter(|s| *s != Status::Cancelled)
            .collect()
    };
    let n = flow.len() as i64;
    Order {
        id: id.into(),
        order_number: format!("ORD-{id}"),
        customer: "u1".into(),
        items: vec![],
        total_amount: 10.0,
        status,
        status_history: flow
            .into_iter()
            .enumerate()
            .map(|(i, s)| StatusEntry { status: s, timestamp: t(at - (n - 1 - i as i64)) })
            .collect(),
        delivery_address: None,
        delivery: None,
        created_at: t(0),
        updated_at: t(at),
    }
}

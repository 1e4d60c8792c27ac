//! The reducer, table by table: each case is a list of inputs and the effects they must produce, written as
//! short lines (`order o1 preparing live #3`) so a case reads like the contract. `persist` is left out of the
//! lines (it follows every applied change) and checked on its own.

use order_protocol::*;
use serde_json::json;

use super::*;
use crate::fixtures::{order, t};

fn upd(id: &str, status: Status, at: i64, seq: Option<u64>) -> Input {
    let mut u = OrderUpdate::of(&order(id, status, at), seq);
    u.seq = seq;
    Input::Server { event: ServerEvent::CustomerOrderUpdate(u), source: Source::Live, at: t(at) }
}

fn single(id: &str, status: Status, at: i64, seq: Option<u64>) -> Input {
    let u = OrderUpdate::of(&order(id, status, at), seq);
    Input::Server { event: ServerEvent::SingleOrderUpdate(u), source: Source::Live, at: t(at) }
}

fn note(id: &str, kind: &str, order_id: &str, at: i64, seq: Option<u64>) -> Input {
    Input::Server {
        event: ServerEvent::CustomerNotification(CustomerNotification {
            id: id.into(),
            kind: kind.into(),
            title: format!("title {id}"),
            message: format!("message {id}"),
            order_id: Some(order_id.into()),
            created_at: t(at),
            seq,
        }),
        source: Source::Live,
        at: t(at),
    }
}

fn load(orders: Vec<Order>, source: Source) -> Input {
    Input::Orders { orders, source, at: t(1000) }
}

fn wire(event: &str, payload: serde_json::Value) -> Input {
    Input::Wire { event: event.into(), payload, source: Source::Live, at: t(500) }
}

fn line(e: &Effect) -> Option<String> {
    Some(match e {
        Effect::Ui { patch, seq } => {
            let seq = seq.map(|s| format!(" #{s}")).unwrap_or_default();
            match patch {
                Patch::Order { order, source } => {
                    format!("order {} {} {}{seq}", order.id, order.status.as_str(), source.as_str())
                }
                Patch::Delivery { order_id, delivery, .. } => {
                    format!("delivery {order_id} {}{seq}", delivery.delivery_status.as_str())
                }
                Patch::OrderRemoved { order_id } => format!("removed {order_id}"),
                Patch::Notification { item, unread } => {
                    format!("inbox+ {} {} unread={unread}{seq}", item.id, item.category.as_str())
                }
                Patch::Inbox { inbox } => format!("inbox unread={}", inbox.unread),
                Patch::Stats { stats: s } => {
                    format!("stats {}/{}/{}/{}{seq}", s.total, s.active, s.delivered, s.cancelled)
                }
                Patch::Link { link, .. } => format!("link {}", link.name()),
                Patch::Watched { watched } => format!("watched {}", watched.join(",")),
                Patch::User { user } => {
                    format!("user {}", user.as_ref().and_then(|u| u.email.clone()).unwrap_or_default())
                }
                Patch::Reset { state } => format!("reset orders={}", state.orders.len()),
            }
        }
        Effect::Notify(n) => format!("notify {}", n.id),
        Effect::Persist => return None,
        Effect::ClearCache => "clear-cache".into(),
        Effect::SyncRead { id } => format!("sync-read {}", id.as_deref().unwrap_or("*")),
        Effect::Warn(w) => format!("warn {}", w.split(':').next().unwrap_or(w)),
    })
}

/// Applies `inputs` to a fresh book and compares every effect produced, in order.
fn check(inputs: Vec<Input>, expected: &[&str]) -> OrderBook {
    let mut book = OrderBook::new();
    let mut got = Vec::new();
    for i in inputs {
        got.extend(book.apply(i).iter().filter_map(line));
    }
    assert_eq!(got, expected, "effects differ");
    // The patches, applied to the first state as the UI would, give the book's own view.
    book
}

#[test]
fn a_live_update_moves_an_order_and_its_duplicates_do_nothing() {
    check(
        vec![
            load(vec![order("o1", Status::Pending, 10)], Source::Initial),
            upd("o1", Status::Confirmed, 20, Some(5)),
            upd("o1", Status::Confirmed, 20, Some(5)), // same (seq, event): duplicate
            single("o1", Status::Confirmed, 20, Some(5)), // same change, other room: same order state
            upd("o1", Status::Confirmed, 20, None),    // base contract: same orderId+status+updatedAt
        ],
        &["order o1 pending initial", "stats 1/1/0/0", "order o1 confirmed live #5"],
    );
}

#[test]
fn never_backwards_in_time() {
    let book = check(
        vec![
            upd("o1", Status::Preparing, 30, Some(7)),
            upd("o1", Status::Confirmed, 20, Some(6)), // late arrival of an older change
            upd("o1", Status::Ready, 40, None),
            upd("o1", Status::Pending, 10, None),
        ],
        &["order o1 preparing live #7", "order o1 ready live"],
    );
    assert_eq!(book.order("o1").unwrap().status, Status::Ready);
}

#[test]
fn equal_times_count_only_when_the_status_is_further_along() {
    check(
        vec![
            upd("o1", Status::Ready, 40, None),
            upd("o1", Status::Preparing, 40, None),
            upd("o1", Status::Delivered, 40, None),
        ],
        &["order o1 ready live", "order o1 delivered live"],
    );
}

#[test]
fn cancelled_follows_any_status_and_nothing_moves_it_back() {
    let book = check(
        vec![
            upd("o1", Status::Preparing, 30, Some(1)),
            upd("o1", Status::Cancelled, 40, Some(2)),
            upd("o1", Status::Ready, 35, Some(3)), // older than the cancellation
        ],
        &["order o1 preparing live #1", "order o1 cancelled live #2"],
    );
    let o = book.order("o1").unwrap();
    assert_eq!((o.progress, o.status_display.as_str()), (0, "Cancelled"));
    assert_eq!(o.timeline.last().map(|e| e.status), Some(Status::Cancelled));
}

#[test]
fn an_unknown_status_is_kept_and_shown_but_never_notified() {
    let mut unknown = order("o1", Status::Pending, 10);
    unknown.status = Status::Unknown;
    unknown.updated_at = t(20);
    let book = check(
        vec![load(vec![order("o1", Status::Pending, 10)], Source::Initial), load(vec![unknown], Source::CatchUp)],
        &["order o1 pending initial", "stats 1/1/0/0", "order o1 unknown catch-up", "stats 1/0/0/0"],
    );
    assert_eq!(book.order("o1").unwrap().status_display, "Unknown");
}

#[test]
fn wire_payloads_with_missing_optional_fields_and_extra_fields_are_tolerated() {
    check(
        vec![
            // No `order` body, no display, no progress, an unknown field, `id` instead of `_id` inside.
            wire(
                "customer_order_update",
                json!({"orderId": "o9", "status": "pending", "updatedAt": "2026-11-25T10:00:00Z",
                       "order": {"id": "o9", "status": "pending", "updatedAt": "2026-11-25T10:00:00Z", "x": 1}}),
            ),
            wire(
                "customer_order_update",
                json!({"orderId": "o9", "status": "ready", "updatedAt": "2026-11-25T10:05:00Z"}),
            ),
            wire("delivery_update", json!({"orderId": "o9", "deliveryStatus": "in_transit"})),
        ],
        &["order o9 pending live", "order o9 ready live", "delivery o9 in_transit"],
    );
}

#[test]
fn a_malformed_or_unknown_payload_is_skipped_with_a_warning() {
    check(
        vec![
            wire("customer_order_update", json!({"orderId": "o1"})), // no status, no time
            wire("customer_order_update", json!("not an object")),
            wire("some_future_event", json!({})),
            upd("o1", Status::Pending, 10, Some(1)),
        ],
        &["warn skipped an event", "warn skipped an event", "warn skipped an event", "order o1 pending live #1"],
    );
}

#[test]
fn an_update_without_a_body_for_an_unknown_order_is_skipped() {
    check(
        vec![wire(
            "customer_order_update",
            json!({"orderId": "zz", "status": "ready", "updatedAt": "2026-11-25T10:00:00Z"}),
        )],
        &[],
    );
}

#[test]
fn notifications_are_filed_by_type_counted_and_deduplicated() {
    let book = check(
        vec![
            note("n1", "order_status", "o1", 10, Some(3)),
            note("n1", "order_status", "o1", 10, Some(3)),
            note("n2", "delivery", "o1", 11, Some(4)),
            note("n3", "promo", "o1", 12, None),
            note("n3", "promo", "o1", 12, None),
        ],
        &[
            "notify n1",
            "inbox+ n1 order_updates unread=1 #3",
            "notify n2",
            "inbox+ n2 delivery unread=2 #4",
            "notify n3",
            "inbox+ n3 other unread=3",
        ],
    );
    let v = book.view();
    assert_eq!(v.inbox.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(), ["n3", "n2", "n1"]);
    assert_eq!(v.inbox.unread_in(Category::Delivery), 1);
}

#[test]
fn mark_read_and_all_read_sync_with_the_server_once() {
    check(
        vec![
            note("n1", "order_status", "o1", 10, None),
            note("n2", "delivery", "o1", 11, None),
            Input::MarkRead { id: "n1".into() },
            Input::MarkRead { id: "n1".into() },
            Input::MarkRead { id: "nope".into() },
            Input::MarkAllRead,
            Input::MarkAllRead,
        ],
        &[
            "notify n1",
            "inbox+ n1 order_updates unread=1",
            "notify n2",
            "inbox+ n2 delivery unread=2",
            "inbox unread=1",
            "sync-read n1",
            "inbox unread=0",
            "sync-read *",
        ],
    );
}

#[test]
fn the_servers_inbox_brings_read_state_and_missed_items_without_native_notifications() {
    let stored = |id: &str, read: bool| StoredNotification {
        id: id.into(),
        kind: "order_status".into(),
        title: String::new(),
        message: String::new(),
        order_id: None,
        created_at: t(5),
        read,
    };
    let book = check(
        vec![
            note("n1", "order_status", "o1", 10, None),
            Input::Notifications { items: vec![stored("n1", true), stored("n0", false)] },
            Input::Notifications { items: vec![stored("n1", true), stored("n0", false)] },
        ],
        &["notify n1", "inbox+ n1 order_updates unread=1", "inbox unread=1"],
    );
    assert_eq!(book.unread(), 1);
}

/// On the base contract a reload after a reconnect shows a move with a notification of its own; the live update
/// and notification of that same change, arriving after it, are old news, while the next change is not.
#[test]
fn a_live_notification_of_a_move_a_reload_already_showed_is_not_shown_again() {
    check(
        vec![
            load(vec![order("o1", Status::Pending, 10)], Source::Initial),
            load(vec![order("o1", Status::Confirmed, 20)], Source::CatchUp),
            upd("o1", Status::Confirmed, 20, None),
            note("n1", "order_status", "o1", 20, None),
            upd("o1", Status::Preparing, 30, None),
            note("n2", "order_status", "o1", 30, None),
            // A notification after an update of another order that was old news is still shown.
            upd("o2", Status::Pending, 5, None),
            upd("o2", Status::Pending, 5, None),
            note("n3", "order_status", "o1", 31, None),
            // Watching o1: the order room's copy of a new change is old news, but the change's notification is not.
            upd("o1", Status::Ready, 40, None),
            single("o1", Status::Ready, 40, None),
            note("n4", "order_status", "o1", 40, None),
        ],
        &[
            "order o1 pending initial",
            "stats 1/1/0/0",
            "order o1 confirmed catch-up",
            "notify local:o1:confirmed:1795000020000",
            "inbox+ local:o1:confirmed:1795000020000 order_updates unread=1",
            "order o1 preparing live",
            "notify n2",
            "inbox+ n2 order_updates unread=2",
            "order o2 pending live",
            "notify n3",
            "inbox+ n3 order_updates unread=3",
            "order o1 ready live",
            "notify n4",
            "inbox+ n4 order_updates unread=4",
        ],
    );
}

#[test]
fn a_move_shown_live_whose_notification_the_lost_connection_took_is_filed_by_the_reload() {
    let reload = || {
        let orders = vec![
            order("o1", Status::Cancelled, 20),
            order("o2", Status::Confirmed, 21),
            order("o3", Status::Pending, 22),
        ];
        load(orders, Source::CatchUp)
    };
    check(
        vec![
            load(vec![order("o1", Status::Pending, 10), order("o2", Status::Pending, 10)], Source::Initial),
            // o1 is cancelled live, and the link drops before the change's notification; o2's comes.
            upd("o1", Status::Cancelled, 20, None),
            upd("o2", Status::Confirmed, 21, None),
            note("n2", "order_status", "o2", 21, None),
            // A new order placed live brings no notification and is owed none.
            upd("o3", Status::Pending, 22, None),
            reload(),
            // Owed once: the next reload files nothing more.
            reload(),
        ],
        &[
            "order o1 pending initial",
            "order o2 pending initial",
            "stats 2/2/0/0",
            "order o1 cancelled live",
            "order o2 confirmed live",
            "notify n2",
            "inbox+ n2 order_updates unread=1",
            "order o3 pending live",
            "notify local:o1:cancelled:1795000020000",
            "inbox+ local:o1:cancelled:1795000020000 order_updates unread=2",
            "stats 3/2/0/1",
        ],
    );
}

#[test]
fn a_reload_turns_every_moved_status_into_the_update_and_one_notification() {
    let book = check(
        vec![
            load(
                vec![
                    order("o1", Status::Pending, 10),
                    order("o2", Status::Ready, 10),
                    order("o3", Status::Pending, 10),
                ],
                Source::Initial,
            ),
            // Away: o1 went through two steps, o2 was delivered, o3 did not move, o4 is new, o5 is new and
            // already confirmed (a live app would have heard that), nothing else.
            load(
                vec![
                    order("o1", Status::Preparing, 30),
                    order("o2", Status::Delivered, 30),
                    order("o3", Status::Pending, 10),
                    order("o4", Status::Pending, 25),
                    order("o5", Status::Confirmed, 26),
                ],
                Source::CatchUp,
            ),
            // The same reload again: nothing new.
            load(
                vec![
                    order("o1", Status::Preparing, 30),
                    order("o2", Status::Delivered, 30),
                    order("o3", Status::Pending, 10),
                    order("o4", Status::Pending, 25),
                    order("o5", Status::Confirmed, 26),
                ],
                Source::CatchUp,
            ),
        ],
        &[
            "order o1 pending initial",
            "order o2 ready initial",
            "order o3 pending initial",
            "stats 3/3/0/0",
            "order o1 preparing catch-up",
            "notify local:o1:preparing:1795000030000",
            "inbox+ local:o1:preparing:1795000030000 order_updates unread=1",
            "order o2 delivered catch-up",
            "notify local:o2:delivered:1795000030000",
            "inbox+ local:o2:delivered:1795000030000 order_updates unread=2",
            "order o4 pending catch-up",
            "order o5 confirmed catch-up",
            "notify local:o5:confirmed:1795000026000",
            "inbox+ local:o5:confirmed:1795000026000 order_updates unread=3",
            "stats 5/4/1/0",
        ],
    );
    let o1 = book.order("o1").unwrap();
    assert_eq!(
        o1.timeline.iter().map(|e| e.status).collect::<Vec<_>>(),
        [Status::Pending, Status::Confirmed, Status::Preparing],
        "the timeline comes from the status history"
    );
}

#[test]
fn a_reload_older_than_a_live_update_changes_nothing_and_missing_orders_go() {
    check(
        vec![
            upd("o1", Status::Ready, 40, None),
            load(vec![order("o1", Status::Preparing, 30)], Source::CatchUp),
            load(vec![], Source::CatchUp),
        ],
        &["order o1 ready live", "stats 1/1/0/0", "removed o1", "stats 0/0/0/0"],
    );
}

#[test]
fn delivery_updates_apply_once_and_only_to_known_orders() {
    let d = |status: &str, seq: u64| {
        wire(
            "delivery_update",
            json!({"orderId": "o1", "deliveryStatus": status, "driver": {"name": "Dan", "phone": "1"}, "seq": seq}),
        )
    };
    let book = check(
        vec![
            wire("delivery_update", json!({"orderId": "o1", "deliveryStatus": "in_transit"})), // o1 not known yet
            upd("o1", Status::OutForDelivery, 10, Some(1)),
            d("in_transit", 2),
            d("in_transit", 2),
            wire(
                "delivery_update",
                json!({"orderId": "o1", "deliveryStatus": "in_transit", "driver": {"name": "Dan", "phone": "1"}}),
            ),
            d("delivered", 3),
        ],
        &["order o1 out_for_delivery live #1", "delivery o1 in_transit #2", "delivery o1 delivered #3"],
    );
    assert_eq!(book.order("o1").unwrap().delivery.as_ref().unwrap().driver.as_ref().unwrap().name, "Dan");
}

#[test]
fn a_drivers_position_is_dated_by_its_arrival_and_big_eta_moves_are_kept_through_patches_and_reloads() {
    let mut b = OrderBook::new();
    let mut view = ViewState::default();
    let mut apply = |b: &mut OrderBook, input: Input| {
        for e in b.apply(input) {
            if let Effect::Ui { patch, .. } = e {
                view.patch(&patch);
            }
        }
        view.orders.iter().find(|o| o.id == "o1").map(|o| o.tracking.clone())
    };
    let moved = |lat: f64, eta: i64, at: i64| Input::Wire {
        event: "delivery_update".into(),
        payload: json!({"orderId": "o1", "deliveryStatus": "in_transit", "location": {"lat": lat, "lng": -74.0},
                        "estimatedDelivery": t(eta)}),
        source: Source::Live,
        at: t(at),
    };
    apply(&mut b, upd("o1", Status::OutForDelivery, 10, None));
    let seen = apply(&mut b, moved(40.0, 2000, 100)).expect("held");
    assert_eq!((seen.located_at, seen.eta_moves.len()), (Some(t(100)), 0), "a first ETA is no move");
    // The ETA shifts by a minute (jitter, not news) and the driver has not moved: the position keeps its time.
    let seen = apply(&mut b, moved(40.0, 2060, 200)).expect("held");
    assert_eq!((seen.located_at, seen.eta_moves.len()), (Some(t(100)), 0));
    // Moved, and 10 minutes later: both recorded, in the engine and in the view the UI builds from patches.
    let seen = apply(&mut b, moved(40.01, 2660, 300)).expect("held");
    assert_eq!(seen.located_at, Some(t(300)));
    assert_eq!(seen.eta_moves, vec![delivery::EtaMove { from: t(2060), to: t(2660), at: t(300) }]);
    assert_eq!(b.order("o1").map(|o| &o.tracking), Some(&seen));
    // A reload bringing a newer position dates it by the order's last change, and keeps the ETA's history.
    let mut o = order("o1", Status::OutForDelivery, 400);
    o.delivery = Some(Delivery {
        delivery_status: DeliveryStatus::InTransit,
        estimated_delivery: Some(t(2660)),
        driver: None,
        location: Some(LatLng { lat: 40.02, lng: -74.0 }),
    });
    let seen = apply(&mut b, load(vec![o], Source::CatchUp)).expect("held");
    assert_eq!(seen.located_at, Some(t(400)));
    assert_eq!(seen.eta_moves.len(), 1);
}

#[test]
fn the_order_update_keeps_delivery_it_does_not_carry() {
    let mut b = OrderBook::new();
    b.apply(upd("o1", Status::OutForDelivery, 10, None));
    b.apply(wire("delivery_update", json!({"orderId": "o1", "deliveryStatus": "in_transit"})));
    b.apply(upd("o1", Status::Delivered, 20, None));
    assert_eq!(b.order("o1").unwrap().delivery.as_ref().map(|d| d.delivery_status), Some(DeliveryStatus::InTransit));
}

#[test]
fn server_stats_win_over_a_local_count_after_reloads() {
    let s = |total, active| Input::Server {
        event: ServerEvent::OrderStatsUpdate(StatsUpdate {
            stats: Stats { total, active, delivered: 0, cancelled: 0 },
            seq: None,
        }),
        source: Source::Live,
        at: t(1),
    };
    check(
        vec![s(5, 5), s(5, 5), load(vec![order("o1", Status::Pending, 10)], Source::CatchUp), s(6, 6)],
        &["stats 5/5/0/0", "order o1 pending catch-up", "stats 6/6/0/0"],
    );
}

#[test]
fn link_watch_and_clear() {
    let book = check(
        vec![
            Input::Link(LinkState::Connecting { attempt: 1, next_retry_at: None, reason: None }),
            Input::Link(LinkState::Connecting { attempt: 1, next_retry_at: None, reason: None }),
            Input::Link(LinkState::Live { since: t(3) }),
            Input::Watch { order_id: "o1".into() },
            Input::Watch { order_id: "o1".into() },
            Input::Unwatch { order_id: "o2".into() },
            upd("o1", Status::Pending, 10, Some(1)),
            Input::Clear,
        ],
        &["link connecting", "link live", "watched o1", "order o1 pending live #1", "reset orders=0", "clear-cache"],
    );
    assert_eq!(book.last_seq(), None);
    assert!(book.link().is_live(), "clearing data keeps the link state");
}

#[test]
fn caught_up_moves_the_position_forward_or_resets_it() {
    let mut b = OrderBook::new();
    b.apply(upd("o1", Status::Pending, 10, Some(9)));
    b.apply(Input::CaughtUp { latest_seq: 5, reset: false });
    assert_eq!(b.last_seq(), Some(9));
    b.apply(Input::CaughtUp { latest_seq: 12, reset: false });
    assert_eq!(b.last_seq(), Some(12));
    b.apply(Input::CaughtUp { latest_seq: 2, reset: true });
    assert_eq!(b.last_seq(), Some(2));
    // After a reset, a change numbered like an old one is new.
    let fx = b.apply(upd("o1", Status::Confirmed, 20, Some(9)));
    assert!(fx.iter().any(|e| matches!(e, Effect::Ui { patch: Patch::Order { .. }, .. })));
}

/// The same input, as a catch-up replays it.
fn replayed(input: Input) -> Input {
    match input {
        Input::Server { event, at, .. } => Input::Server { event, source: Source::CatchUp, at },
        other => other,
    }
}

fn connecting(attempt: u32) -> Input {
    Input::Link(LinkState::Connecting { attempt, next_retry_at: None, reason: None })
}

fn moved(fx: &[Effect]) -> bool {
    fx.iter().any(|e| matches!(e, Effect::Ui { patch: Patch::Order { .. }, .. }))
}

/// The cursor is a watermark: every change up to it is applied. A live event during a catch-up is applied at
/// once, but it lifts the cursor only when that catch-up finishes; if the connection goes first, the next
/// catch-up starts where the cursor was, and brings the change that was missed.
#[test]
fn a_live_event_during_a_catch_up_moves_the_cursor_only_when_the_catch_up_finishes() {
    let mut b = OrderBook::new();
    b.apply(connecting(1));
    b.apply(load(vec![order("o1", Status::Pending, 10), order("o2", Status::Pending, 10)], Source::Initial));
    b.apply(Input::CaughtUp { latest_seq: 10, reset: false });
    b.apply(Input::Link(LinkState::Live { since: t(0) }));
    assert!(moved(&b.apply(upd("o1", Status::Confirmed, 20, Some(11)))));
    assert_eq!(b.last_seq(), Some(11), "live after a finished catch-up: nothing between");

    // The link drops; o2 moves unseen (#12); the socket is back, and while its catch-up runs o1 moves (#13).
    b.apply(connecting(1));
    assert!(moved(&b.apply(upd("o1", Status::Preparing, 30, Some(13)))), "applied at once");
    assert_eq!(b.last_seq(), Some(11), "#12 is not applied: the cursor stays below it");
    assert_eq!(b.persisted().last_seq, Some(11), "and so does the cache");
    // That catch-up dies with its connection.
    b.apply(connecting(2));
    assert_eq!(b.last_seq(), Some(11));

    // The next catch-up replays after 11: #12, new, and #13, a duplicate now.
    assert!(moved(&b.apply(replayed(upd("o2", Status::Confirmed, 20, Some(12))))));
    assert_eq!(b.last_seq(), Some(11), "a replayed event moves nothing before its catch-up ends");
    assert!(!moved(&b.apply(replayed(upd("o1", Status::Preparing, 30, Some(13))))));
    // While it ran, o1 moved live again (#14): the finished catch-up covers that too.
    b.apply(upd("o1", Status::Ready, 40, Some(14)));
    b.apply(Input::CaughtUp { latest_seq: 13, reset: false });
    assert_eq!(b.last_seq(), Some(14));
    assert_eq!(b.order("o2").unwrap().status, Status::Confirmed);
    assert_eq!(b.order("o1").unwrap().status, Status::Ready);
}

fn delivery(order_id: &str, driver: &str, seq: u64) -> Input {
    Input::Server {
        event: ServerEvent::DeliveryUpdate(DeliveryUpdate {
            order_id: order_id.into(),
            delivery_status: DeliveryStatus::InTransit,
            estimated_delivery: None,
            driver: Some(Driver { name: driver.into(), phone: String::new() }),
            location: None,
            seq: Some(seq),
        }),
        source: Source::Live,
        at: t(100),
    }
}

fn stats(total: u64, seq: u64) -> Input {
    let stats = Stats { total, active: total, delivered: 0, cancelled: 0 };
    Input::Server {
        event: ServerEvent::OrderStatsUpdate(StatsUpdate { stats, seq: Some(seq) }),
        source: Source::Live,
        at: t(100),
    }
}

/// Delivery and stats carry no time of their own, so their `seq` says which is newer: a replayed or late event
/// never replaces what a later change set, and neither does the delivery inside an older order update. The
/// marks survive the cache, for the replay after a restart.
#[test]
fn a_replayed_or_late_delivery_or_stats_never_replaces_a_newer_one() {
    let mut b = OrderBook::new();
    b.apply(load(vec![order("o1", Status::OutForDelivery, 10)], Source::Initial));
    b.apply(delivery("o1", "Dana", 21));
    assert!(b.apply(replayed(delivery("o1", "Sam", 20))).is_empty(), "an older delivery changes nothing");
    // An order update from before that delivery (seq 19), later in time than what is held, moves the order
    // but keeps the newer delivery.
    let mut older = OrderUpdate::of(&order("o1", Status::OutForDelivery, 15), Some(19));
    if let Some(o) = older.order.as_mut() {
        o.delivery =
            Some(Delivery { driver: Some(Driver { name: "Sam".into(), phone: String::new() }), ..Delivery::default() });
    }
    b.apply(Input::Server { event: ServerEvent::CustomerOrderUpdate(older), source: Source::CatchUp, at: t(15) });
    let driver = |b: &OrderBook| b.order("o1").and_then(|o| o.delivery.clone()).and_then(|d| d.driver).map(|d| d.name);
    assert_eq!(driver(&b).as_deref(), Some("Dana"));

    b.apply(stats(3, 30));
    assert!(b.apply(replayed(stats(2, 29))).is_empty(), "older stats change nothing");
    let mut restored = OrderBook::restore(b.persisted());
    assert!(restored.apply(replayed(delivery("o1", "Sam", 20))).is_empty(), "nor after a restart");
    assert!(restored.apply(replayed(stats(2, 29))).is_empty());
    assert_eq!(driver(&restored).as_deref(), Some("Dana"));
    assert!(!restored.apply(delivery("o1", "Lee", 22)).is_empty(), "a newer one does");
}

#[test]
fn every_applied_change_persists_and_duplicates_do_not() {
    let mut b = OrderBook::new();
    assert!(b.apply(upd("o1", Status::Pending, 10, Some(1))).contains(&Effect::Persist));
    assert!(b.apply(upd("o1", Status::Pending, 10, Some(1))).is_empty());
}

#[test]
fn patches_replayed_by_the_ui_give_the_same_view_and_the_cache_restores_it() {
    let inputs = vec![
        load(vec![order("o1", Status::Pending, 10), order("o2", Status::Ready, 10)], Source::Initial),
        upd("o1", Status::Confirmed, 20, Some(2)),
        note("n1", "order_status", "o1", 20, Some(2)),
        wire("delivery_update", json!({"orderId": "o2", "deliveryStatus": "in_transit"})),
        Input::Watch { order_id: "o2".into() },
        Input::MarkAllRead,
        Input::Link(LinkState::Live { since: t(30) }),
        load(vec![order("o1", Status::Confirmed, 20)], Source::CatchUp),
    ];
    let mut book = OrderBook::new();
    let mut ui = ViewState::default();
    for i in inputs {
        for e in book.apply(i) {
            if let Effect::Ui { patch, .. } = e {
                ui.patch(&patch);
            }
        }
    }
    assert_eq!(ui, book.view());
    let restored = OrderBook::restore(book.persisted());
    let mut want = book.view();
    want.link = LinkState::LoggedOut { reason: None };
    want.last_update_at = None;
    assert_eq!(restored.view(), want);
}

#[test]
fn last_update_at_is_the_live_start_then_the_last_fresh_data_when_the_link_goes() {
    let mut b = OrderBook::new();
    b.apply(Input::Link(LinkState::Live { since: t(10) }));
    b.apply(upd("o1", Status::Pending, 50, None));
    assert_eq!(b.view().last_update_at, Some(t(10)));
    let fx = b.apply(Input::Link(LinkState::Connecting { attempt: 1, next_retry_at: None, reason: None }));
    assert_eq!(b.view().last_update_at, Some(t(50)));
    assert!(fx.contains(&Effect::Ui {
        patch: Patch::Link {
            link: LinkState::Connecting { attempt: 1, next_retry_at: None, reason: None },
            last_update_at: Some(t(50))
        },
        seq: None
    }));
}

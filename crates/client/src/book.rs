//! `OrderBook`: the pure reducer that is the truth of the client.
//!
//! Live events, catch-up replays, REST reloads, user commands and link changes all go through
//! [`OrderBook::apply`], so the two rules of the contract hold everywhere: an update is applied at most once,
//! and an order never moves backwards in time. `apply` performs no I/O; it returns [`Effect`]s (tell the UI,
//! notify, persist, sync read state) that the engine executes. That is what lets every decision be tested with a
//! table of inputs and expected outputs, without a socket in sight.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use order_protocol::{
    Category, CustomerNotification, Delivery, DeliveryUpdate, Inbox, InboxItem, LinkState, Order, OrderUpdate,
    OrderView, Patch, ServerEvent, Source, Stats, Status, StoredNotification, TimelineEntry, UserView, ViewState,
};
use serde::{Deserialize, Serialize};

/// How many (`seq`, event) keys are remembered for deduplication. Changes older than this are also older than
/// every order's `updatedAt` check, which catches them anyway.
const SEEN_CAPACITY: usize = 4096;

/// Everything that can change the state.
// Inputs are moved through once, never stored in bulk: their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// A server event, live or replayed by a catch-up; `at` is when it reached us.
    Server {
        event: ServerEvent,
        source: Source,
        at: DateTime<Utc>,
    },
    /// An event as it came off the wire (name and first argument): parsed here, skipped with a warning when
    /// malformed or unknown.
    Wire {
        event: String,
        payload: serde_json::Value,
        source: Source,
        at: DateTime<Utc>,
    },
    /// The full order list from `GET /orders`: the first load (`Source::Initial`, no notifications), or a
    /// reload after a reconnect on a base-contract server (`Source::CatchUp`): every status that moved becomes
    /// the update and the notification a live event would have produced.
    Orders {
        orders: Vec<Order>,
        source: Source,
        at: DateTime<Utc>,
    },
    /// The server's inbox with its read state (extension).
    Notifications {
        items: Vec<StoredNotification>,
    },
    /// The change-log position after a catch-up (extension): the next catch-up starts there. `reset`: the
    /// server's log was recreated, so the position may go down.
    CaughtUp {
        latest_seq: u64,
        reset: bool,
    },
    MarkRead {
        id: String,
    },
    MarkAllRead,
    Watch {
        order_id: String,
    },
    Unwatch {
        order_id: String,
    },
    Link(LinkState),
    /// Who is signed in (`None`: nobody).
    User(Option<UserView>),
    /// Logout, or a switch of user or server: everything personal goes.
    Clear,
}

/// A native notification to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notify {
    pub id: String,
    pub title: String,
    pub body: String,
    pub order_id: Option<String>,
    /// The inbox category, for the per-category notification switches.
    pub category: Category,
}

/// What the engine must do after an input; the reducer does none of it itself.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Forward to the UI (and `order-watch` prints it). Each carries `seq` where one caused it.
    Ui { patch: Patch, seq: Option<u64> },
    /// Show a native notification.
    Notify(Notify),
    /// The state worth keeping changed: write the cache.
    Persist,
    /// Wipe the cache (logout, user or server switch).
    ClearCache,
    /// Tell the server a notification was read (`None`: all of them). Only with the extension.
    SyncRead { id: Option<String> },
    /// Something from the backend was not understood and was skipped; the engine logs it.
    Warn(String),
}

/// What the local cache keeps: enough to show the last known state at once, even offline.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Persisted {
    pub orders: Vec<OrderView>,
    pub stats: Stats,
    pub inbox: Vec<InboxItem>,
    pub last_seq: Option<u64>,
    pub watched: Vec<String>,
    /// The `seq` of the stats shown.
    #[serde(default)]
    pub stats_seq: Option<u64>,
}

/// The client's state and the reducer over it.
#[derive(Clone, Debug)]
pub struct OrderBook {
    orders: BTreeMap<String, OrderView>,
    stats: Stats,
    /// Newest first.
    inbox: Vec<InboxItem>,
    inbox_ids: HashSet<String>,
    link: LinkState,
    /// Shown to the user: the start of the current live period, or the last fresh data before the link went.
    last_update_at: Option<DateTime<Utc>>,
    /// When the last fresh data arrived; becomes `last_update_at` when the link leaves `Live`.
    last_event_at: Option<DateTime<Utc>>,
    watched: BTreeSet<String>,
    /// The replay cursor, a watermark: every change numbered up to it has been applied. It is what the cache
    /// keeps and where the next catch-up starts, so it must never pass a change not applied yet.
    last_seq: Option<u64>,
    /// The highest `seq` applied live on the current connection before its catch-up finished. Events that
    /// arrive during a catch-up are applied at once, but they prove nothing about the changes before them
    /// (the catch-up brings those): only a finished catch-up lifts the watermark to them.
    held_seq: Option<u64>,
    /// Freshness of the stats, which carry no time of their own: the `seq` of the change that set them. A
    /// replayed or late event numbered at or below it is older news and changes nothing. (Delivery keeps its
    /// mark in its order: `OrderView::delivery_seq`.)
    stats_seq: Option<u64>,
    seen: HashSet<(u64, &'static str)>,
    seen_order: VecDeque<(u64, &'static str)>,
    /// Whether stats came from the server: then a reload does not overwrite them with a local count.
    server_stats: bool,
    /// The order whose last update was old news (already held). On the base contract a change's notification
    /// follows its order update and carries no `seq`; when the update was old news (a reload already showed
    /// that move, with a notification of its own), so is the notification.
    stale_update: Option<String>,
    /// On the base contract, moves applied live whose notification has not come yet: the server sends it right
    /// after the update, on the same connection, and it never replays it. A connection lost in between would
    /// lose it for good, and the reload after it sees no move (the update was applied), so the reload files it.
    unnoticed: BTreeMap<String, (Status, DateTime<Utc>)>,
    user: Option<UserView>,
}

impl Default for OrderBook {
    fn default() -> Self {
        OrderBook::new()
    }
}

impl OrderBook {
    pub fn new() -> OrderBook {
        OrderBook {
            orders: BTreeMap::new(),
            stats: Stats::default(),
            inbox: Vec::new(),
            inbox_ids: HashSet::new(),
            link: LinkState::LoggedOut { reason: None },
            last_update_at: None,
            last_event_at: None,
            watched: BTreeSet::new(),
            last_seq: None,
            held_seq: None,
            stats_seq: None,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            server_stats: false,
            stale_update: None,
            unnoticed: BTreeMap::new(),
            user: None,
        }
    }

    /// A book restored from the cache. The link starts as it is given (the engine says "connecting").
    pub fn restore(p: Persisted) -> OrderBook {
        let mut b = OrderBook::new();
        b.orders = p.orders.into_iter().map(|o| (o.id.clone(), o)).collect();
        b.stats = p.stats;
        b.inbox_ids = p.inbox.iter().map(|i| i.id.clone()).collect();
        b.inbox = p.inbox;
        b.last_seq = p.last_seq;
        b.watched = p.watched.into_iter().collect();
        b.stats_seq = p.stats_seq;
        b
    }

    pub fn persisted(&self) -> Persisted {
        Persisted {
            orders: self.orders.values().cloned().collect(),
            stats: self.stats,
            inbox: self.inbox.clone(),
            last_seq: self.last_seq,
            watched: self.watched.iter().cloned().collect(),
            stats_seq: self.stats_seq,
        }
    }

    /// The whole view state, as the UI draws it.
    pub fn view(&self) -> ViewState {
        let mut orders: Vec<Arc<OrderView>> = self.orders.values().cloned().map(Arc::new).collect();
        orders.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
        ViewState {
            orders,
            stats: self.stats,
            inbox: self.inbox_view(),
            link: self.link.clone(),
            last_update_at: self.last_update_at,
            watched: self.watched.iter().cloned().collect(),
            user: self.user.clone(),
        }
    }

    pub fn order(&self, id: &str) -> Option<&OrderView> {
        self.orders.get(id)
    }

    pub fn orders(&self) -> impl Iterator<Item = &OrderView> {
        self.orders.values()
    }

    pub fn link(&self) -> &LinkState {
        &self.link
    }

    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    pub fn watched(&self) -> impl Iterator<Item = &String> {
        self.watched.iter()
    }

    pub fn unread(&self) -> usize {
        self.inbox.iter().filter(|i| !i.read).count()
    }

    fn inbox_view(&self) -> Inbox {
        Inbox { items: self.inbox.iter().cloned().map(Arc::new).collect(), unread: self.unread() }
    }

    /// Applies one input and says what must follow.
    pub fn apply(&mut self, input: Input) -> Vec<Effect> {
        let mut fx = Vec::new();
        match input {
            Input::Server { event, source, at } => self.server_event(event, source, at, &mut fx),
            Input::Wire { event, payload, source, at } => match ServerEvent::parse(&event, payload) {
                Ok(event) => self.server_event(event, source, at, &mut fx),
                Err(e) => fx.push(Effect::Warn(format!("skipped an event: {e}"))),
            },
            Input::Orders { orders, source, at } => self.reload(orders, source, at, &mut fx),
            Input::Notifications { items } => self.sync_inbox(items, &mut fx),
            Input::CaughtUp { latest_seq, reset } => {
                // Everything up to `latest_seq` was in the replay, and whatever came live on this connection
                // since followed it without a gap: the watermark may now cover both.
                let reached = self.held_seq.take().map_or(latest_seq, |h| h.max(latest_seq));
                let forward = self.last_seq.is_none_or(|l| reached > l);
                if forward || (reset && self.last_seq != Some(reached)) {
                    self.last_seq = Some(reached);
                    if reset {
                        // Numbers of the old log mean nothing in the new one.
                        self.seen.clear();
                        self.seen_order.clear();
                        self.orders.values_mut().for_each(|o| o.delivery_seq = None);
                        self.stats_seq = None;
                    }
                    fx.push(Effect::Persist);
                }
            }
            Input::MarkRead { id } => {
                if let Some(item) = self.inbox.iter_mut().find(|i| i.id == id && !i.read) {
                    item.read = true;
                    fx.push(ui(Patch::Inbox { inbox: self.inbox_view() }, None));
                    fx.push(Effect::SyncRead { id: Some(id) });
                    fx.push(Effect::Persist);
                }
            }
            Input::MarkAllRead => {
                if self.unread() > 0 {
                    self.inbox.iter_mut().for_each(|i| i.read = true);
                    fx.push(ui(Patch::Inbox { inbox: self.inbox_view() }, None));
                    fx.push(Effect::SyncRead { id: None });
                    fx.push(Effect::Persist);
                }
            }
            Input::Watch { order_id } => {
                if self.watched.insert(order_id) {
                    fx.push(ui(Patch::Watched { watched: self.watched.iter().cloned().collect() }, None));
                    fx.push(Effect::Persist);
                }
            }
            Input::Unwatch { order_id } => {
                if self.watched.remove(&order_id) {
                    fx.push(ui(Patch::Watched { watched: self.watched.iter().cloned().collect() }, None));
                    fx.push(Effect::Persist);
                }
            }
            Input::Link(link) => {
                if !link.is_live() {
                    // The connection whose live events were held is gone, or never finished its catch-up.
                    self.held_seq = None;
                }
                if link != self.link {
                    match (&self.link, &link) {
                        (_, LinkState::Live { since }) => self.last_update_at = Some(*since),
                        (LinkState::Live { since }, _) => {
                            self.last_update_at = Some(self.last_event_at.map_or(*since, |e| e.max(*since)));
                        }
                        _ => {}
                    }
                    self.link = link;
                    fx.push(ui(Patch::Link { link: self.link.clone(), last_update_at: self.last_update_at }, None));
                }
            }
            Input::User(user) => {
                if user != self.user {
                    self.user = user.clone();
                    fx.push(ui(Patch::User { user }, None));
                }
            }
            Input::Clear => {
                let link = std::mem::replace(&mut self.link, LinkState::LoggedOut { reason: None });
                *self = OrderBook::new();
                self.link = link;
                fx.push(ui(Patch::Reset { state: Box::new(self.view()) }, None));
                fx.push(Effect::ClearCache);
            }
        }
        fx
    }

    /// Remembers (`seq`, event); false when it was seen before.
    fn first_time(&mut self, seq: Option<u64>, name: &'static str) -> bool {
        let Some(seq) = seq else { return true };
        if !self.seen.insert((seq, name)) {
            return false;
        }
        self.seen_order.push_back((seq, name));
        if self.seen_order.len() > SEEN_CAPACITY {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }

    fn server_event(&mut self, event: ServerEvent, source: Source, at: DateTime<Utc>, fx: &mut Vec<Effect>) {
        let seq = event.seq();
        if !self.first_time(seq, event.name()) {
            return;
        }
        if let (Some(seq), Source::Live) = (seq, source) {
            // Live on a connection whose catch-up finished, events follow each other without a gap; before
            // that, they are held (see `held_seq`). Replayed events move the watermark with their `CaughtUp`.
            if self.link.is_live() {
                self.last_seq = Some(self.last_seq.map_or(seq, |l| l.max(seq)));
            } else {
                self.held_seq = Some(self.held_seq.map_or(seq, |h| h.max(seq)));
            }
        }
        let before = fx.len();
        match event {
            ServerEvent::ConnectionStatus(_) | ServerEvent::OrderNotification(_) => {}
            ServerEvent::CustomerOrderUpdate(u) => {
                let (id, status, at, numbered) = (u.order_id.clone(), u.status, u.updated_at, u.seq.is_some());
                // The same rule as a reload's: a move of a held order, or a new one already past `pending`.
                let a_move = self.orders.get(&id).map_or(status != Status::Pending, |h| h.status != status);
                let n = fx.len();
                // Only the customer room's update is followed by the change's notification.
                self.stale_update = (!self.order_update(u, source, fx)).then_some(id.clone());
                if fx.len() > n && a_move && !numbered && source == Source::Live && status != Status::Unknown {
                    self.unnoticed.insert(id, (status, at));
                }
            }
            ServerEvent::SingleOrderUpdate(u) => {
                self.order_update(u, source, fx);
            }
            ServerEvent::DeliveryUpdate(d) => self.delivery_update(d, source, at, fx),
            ServerEvent::CustomerNotification(n) => self.notification(n, fx),
            ServerEvent::OrderStatsUpdate(s) => {
                self.server_stats = true;
                if !is_fresher(self.stats_seq, s.seq) {
                    return;
                }
                self.stats_seq = s.seq.or(self.stats_seq);
                if s.stats != self.stats {
                    self.stats = s.stats;
                    fx.push(ui(Patch::Stats { stats: self.stats }, s.seq));
                }
            }
        }
        if fx.len() > before {
            self.touch(at, fx);
        }
    }

    /// Something fresh arrived: remember when, and the cache is due.
    fn touch(&mut self, at: DateTime<Utc>, fx: &mut Vec<Effect>) {
        if self.last_event_at.is_none_or(|t| at > t) {
            self.last_event_at = Some(at);
        }
        fx.push(Effect::Persist);
    }

    /// Applies an order update; false when it was old news (the order is held as new or newer). An update that
    /// cannot be drawn is not old news: the notification after it is still shown.
    fn order_update(&mut self, u: OrderUpdate, source: Source, fx: &mut Vec<Effect>) -> bool {
        let held = self.orders.get(&u.order_id);
        if let Some(h) = held {
            if !is_newer(h.updated_at, h.status, u.updated_at, u.status) {
                return false;
            }
        }
        let mut view = match (&u.order, held) {
            (Some(order), held) => {
                let mut v = OrderView::of(order);
                // A backend without history: keep the timeline we built, and add this step.
                if order.status_history.is_empty() {
                    if let Some(h) = held {
                        v.timeline = h.timeline.clone();
                        push_step(&mut v.timeline, u.status, u.updated_at);
                    }
                }
                // The delivery shown came from a later change than this one (a late or replayed update): keep it.
                let held_delivery_seq = held.and_then(|h| h.delivery_seq);
                let newer_delivery_held = matches!((u.seq, held_delivery_seq), (Some(seq), Some(h)) if h > seq);
                if v.delivery.is_none() || newer_delivery_held {
                    v.delivery = held.and_then(|h| h.delivery.clone());
                    v.delivery_seq = held_delivery_seq;
                } else {
                    v.delivery_seq = u.seq.or(held_delivery_seq);
                }
                // A position that came with the order dates from its last change at the latest.
                v.tracking = held.map(|h| h.tracking.clone()).unwrap_or_default();
                v.tracking.observe(held.and_then(|h| h.delivery.as_ref()), v.delivery.as_ref(), u.updated_at);
                v
            }
            (None, Some(h)) => {
                let mut v = h.clone();
                push_step(&mut v.timeline, u.status, u.updated_at);
                v
            }
            // An update without the order for an order we never saw: not enough to draw it.
            (None, None) => {
                tracing::warn!(order_id = %u.order_id, "update for an unknown order without its body; skipped");
                return true;
            }
        };
        view.status = u.status;
        view.status_display = u.status.display().to_owned();
        view.progress = u.status.progress();
        view.updated_at = u.updated_at;
        view.seq = u.seq.or(held.and_then(|h| h.seq));
        self.orders.insert(view.id.clone(), view.clone());
        fx.push(ui(Patch::Order { order: Box::new(view), source }, u.seq));
        true
    }

    fn delivery_update(&mut self, d: DeliveryUpdate, source: Source, at: DateTime<Utc>, fx: &mut Vec<Effect>) {
        let Some(order) = self.orders.get_mut(&d.order_id) else {
            tracing::debug!(order_id = %d.order_id, "delivery update for an order not held; skipped");
            return;
        };
        if !is_fresher(order.delivery_seq, d.seq) {
            return;
        }
        order.delivery_seq = d.seq.or(order.delivery_seq);
        let delivery = Delivery {
            delivery_status: d.delivery_status,
            estimated_delivery: d.estimated_delivery,
            driver: d.driver,
            location: d.location,
        };
        if order.delivery.as_ref() == Some(&delivery) {
            return;
        }
        // A live position is as old as its arrival: the contract gives it no time of its own.
        order.tracking.observe(order.delivery.as_ref(), Some(&delivery), at);
        order.delivery = Some(delivery.clone());
        let tracking = order.tracking.clone();
        fx.push(ui(Patch::Delivery { order_id: d.order_id, delivery, tracking, source }, d.seq));
    }

    fn notification(&mut self, n: CustomerNotification, fx: &mut Vec<Effect>) {
        let seq = n.seq;
        if let Some(order_id) = &n.order_id {
            self.unnoticed.remove(order_id);
        }
        let stale = self.stale_update.take();
        if seq.is_none() && n.order_id.is_some() && n.order_id == stale {
            return;
        }
        self.add_notification(InboxItem::from(n), seq, fx);
    }

    fn add_notification(&mut self, item: InboxItem, seq: Option<u64>, fx: &mut Vec<Effect>) {
        if !self.inbox_ids.insert(item.id.clone()) {
            return;
        }
        let pos = self.inbox.iter().position(|i| i.created_at <= item.created_at).unwrap_or(self.inbox.len());
        self.inbox.insert(pos, item.clone());
        fx.push(Effect::Notify(Notify {
            id: item.id.clone(),
            title: item.title.clone(),
            body: item.message.clone(),
            order_id: item.order_id.clone(),
            category: item.category,
        }));
        fx.push(ui(Patch::Notification { item, unread: self.unread() }, seq));
    }

    fn reload(&mut self, orders: Vec<Order>, source: Source, at: DateTime<Utc>, fx: &mut Vec<Effect>) {
        let before = fx.len();
        let ids: HashSet<String> = orders.iter().map(|o| o.id.clone()).collect();
        // Moves shown live whose notification the lost connection took with it: filed below, once.
        let mut unnoticed = std::mem::take(&mut self.unnoticed);
        for order in orders {
            let held = self.orders.get(&order.id);
            // Moved while we were away: a held order whose status changed, or a new one already past `pending`
            // (its first step was an update a live app would have shown; placing one emits nothing).
            let moved = held.map_or(order.status != Status::Pending, |h| h.status != order.status);
            let (order_id, order_number, status) = (order.id.clone(), order.order_number.clone(), order.status);
            let delivery_before = held.and_then(|h| h.delivery.clone());
            let known = held.is_some();
            let n = fx.len();
            self.order_update(OrderUpdate::of(&order, None), source, fx);
            let shown_live = unnoticed.remove(&order_id);
            if fx.len() == n {
                // Same or older than held: nothing moved. A delivery change alone is still news, and so is a move
                // shown live whose notification never came.
                if let Some((status, ts)) = shown_live.filter(|(s, _)| *s == status && source != Source::Initial) {
                    self.status_note(&order_id, &order_number, status, ts, fx);
                }
                continue;
            }
            let now = self.orders.get(&order_id).map(|o| (o.delivery.clone(), o.tracking.clone()));
            if let (true, Some((Some(delivery), tracking))) = (known, now) {
                if Some(&delivery) != delivery_before.as_ref() {
                    fx.push(ui(Patch::Delivery { order_id: order_id.clone(), delivery, tracking, source }, None));
                }
            }
            if moved && source != Source::Initial && status != Status::Unknown {
                let ts = self.orders.get(&order_id).map(|o| o.updated_at).unwrap_or(at);
                self.status_note(&order_id, &order_number, status, ts, fx);
            }
        }
        let gone: Vec<String> = self.orders.keys().filter(|id| !ids.contains(*id)).cloned().collect();
        for order_id in gone {
            self.orders.remove(&order_id);
            fx.push(ui(Patch::OrderRemoved { order_id }, None));
        }
        if !self.server_stats || source == Source::Initial {
            let stats = local_stats(self.orders.values());
            if stats != self.stats {
                self.stats = stats;
                fx.push(ui(Patch::Stats { stats }, None));
            }
        }
        // A reload is fresh data even when nothing moved.
        if fx.len() > before || self.last_event_at.is_none_or(|t| at > t) {
            self.touch(at, fx);
        }
    }

    /// The notification a live event would have brought; its id is stable, so a second reload of the same
    /// change cannot file it twice.
    fn status_note(
        &mut self,
        order_id: &str,
        order_number: &str,
        status: Status,
        ts: DateTime<Utc>,
        fx: &mut Vec<Effect>,
    ) {
        let (title, message) = order_protocol::words::status_note(false, status, order_number);
        let item = InboxItem {
            id: format!("local:{order_id}:{}:{}", status.as_str(), ts.timestamp_millis()),
            category: Category::OrderUpdates,
            kind: order_protocol::notification_types::ORDER_STATUS.to_owned(),
            title,
            message,
            order_id: Some(order_id.to_owned()),
            created_at: ts,
            read: false,
        };
        self.add_notification(item, None, fx);
    }

    fn sync_inbox(&mut self, items: Vec<StoredNotification>, fx: &mut Vec<Effect>) {
        let mut changed = false;
        for n in items {
            match self.inbox.iter_mut().find(|i| i.id == n.id) {
                Some(item) => {
                    if n.read && !item.read {
                        item.read = true;
                        changed = true;
                    }
                }
                None => {
                    // Filed while we were away: into the inbox, but no native notification for old news.
                    self.inbox_ids.insert(n.id.clone());
                    let item = InboxItem::from(n);
                    let pos =
                        self.inbox.iter().position(|i| i.created_at <= item.created_at).unwrap_or(self.inbox.len());
                    self.inbox.insert(pos, item);
                    changed = true;
                }
            }
        }
        if changed {
            fx.push(ui(Patch::Inbox { inbox: self.inbox_view() }, None));
            fx.push(Effect::Persist);
        }
    }
}

fn ui(patch: Patch, seq: Option<u64>) -> Effect {
    Effect::Ui { patch, seq }
}

fn push_step(timeline: &mut Vec<TimelineEntry>, status: Status, at: DateTime<Utc>) {
    if timeline.last().map(|e| e.status) != Some(status) {
        timeline.push(TimelineEntry { status, at });
    }
}

/// Whether a part of the state last set by change `held` may take the value of change `seq`. Without numbers
/// (a base-contract backend) the last word wins, as the only order there is the order of arrival.
fn is_fresher(held: Option<u64>, seq: Option<u64>) -> bool {
    match (held, seq) {
        (Some(held), Some(seq)) => seq > held,
        _ => true,
    }
}

/// Whether an update (`time`, `status`) moves an order held at (`held_time`, `held_status`) forward. Older is
/// ignored (never backwards in time); the same time and status is a duplicate; the same time with another
/// status (a backend with coarse clocks) counts only if the status is further along the flow.
pub fn is_newer(held_time: DateTime<Utc>, held_status: Status, time: DateTime<Utc>, status: Status) -> bool {
    match time.cmp(&held_time) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => status.rank() > held_status.rank(),
    }
}

fn local_stats<'a>(orders: impl Iterator<Item = &'a OrderView>) -> Stats {
    Stats::of_statuses(orders.map(|o| o.status))
}

#[cfg(test)]
mod tests;

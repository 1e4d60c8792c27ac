//! The view state the UI draws, and the patches the shell forwards to it.
//!
//! These are produced by the engine's reducer (`order-client`'s `OrderBook`) and consumed by the shell and the
//! Yew UI, so they live here, beside the wire types, where both sides (native and wasm) can use one definition.
//! They are the app's own shapes, not the backend's: camelCase JSON, every field always written.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::delivery::Tracking;
use crate::events::notification_types;
use crate::model::{Address, Delivery, Item, Order, Stats, Status};

/// Where a change came from: the first load, a live event, or a catch-up after a (re)connect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Initial,
    Live,
    CatchUp,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Initial => "initial",
            Source::Live => "live",
            Source::CatchUp => "catch-up",
        }
    }
}

/// One step of an order's timeline: the status it entered and when.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub status: Status,
    pub at: DateTime<Utc>,
}

/// An order as the UI shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub id: String,
    pub order_number: String,
    pub status: Status,
    pub status_display: String,
    pub progress: u8,
    pub items: Vec<Item>,
    pub total_amount: f64,
    pub delivery_address: Option<Address>,
    /// Driver, ETA and location; `None` until the backend says anything about delivery.
    pub delivery: Option<Delivery>,
    /// Every status the order went through, oldest first.
    pub timeline: Vec<TimelineEntry>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The change-log number of the last change applied to this order (extension servers only).
    #[serde(default)]
    pub seq: Option<u64>,
    /// The change-log number of the change that set `delivery`: a late or replayed event numbered at or below
    /// it carries an older delivery (delivery has no time of its own to compare).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_seq: Option<u64>,
    /// When the driver's position came and how the ETA moved: what the engine learnt as the delivery changed.
    #[serde(default)]
    pub tracking: Tracking,
}

impl OrderView {
    /// The view of a wire order. The timeline is the order's status history, or (a backend that keeps none)
    /// its current status at its last update.
    pub fn of(order: &Order) -> OrderView {
        let mut timeline: Vec<TimelineEntry> =
            order.status_history.iter().map(|e| TimelineEntry { status: e.status, at: e.timestamp }).collect();
        if timeline.last().map(|e| e.status) != Some(order.status) {
            timeline.push(TimelineEntry { status: order.status, at: order.updated_at });
        }
        OrderView {
            id: order.id.clone(),
            order_number: order.order_number.clone(),
            status: order.status,
            status_display: order.status.display().to_owned(),
            progress: order.status.progress(),
            items: order.items.clone(),
            total_amount: order.total_amount,
            delivery_address: order.delivery_address.clone(),
            delivery: order.delivery.clone(),
            timeline,
            created_at: order.created_at,
            updated_at: order.updated_at,
            seq: None,
            delivery_seq: None,
            tracking: Tracking::default(),
        }
    }
}

/// The inbox's categories; the contract files notifications by their `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    OrderUpdates,
    Delivery,
    Other,
}

impl Category {
    /// `order_status` → order updates, `delivery` → delivery, anything else → other.
    pub fn of_type(kind: &str) -> Category {
        match kind {
            notification_types::ORDER_STATUS | notification_types::ORDER_STATUS_CHANGED => Category::OrderUpdates,
            notification_types::DELIVERY => Category::Delivery,
            _ => Category::Other,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Category::OrderUpdates => "order_updates",
            Category::Delivery => "delivery",
            Category::Other => "other",
        }
    }
}

/// One notification in the inbox.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxItem {
    pub id: String,
    pub category: Category,
    /// The wire `type`, kept for the UI's icon choice.
    pub kind: String,
    pub title: String,
    pub message: String,
    pub order_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

impl From<crate::events::CustomerNotification> for InboxItem {
    /// A notification as it arrives live: unread.
    fn from(n: crate::events::CustomerNotification) -> InboxItem {
        InboxItem {
            id: n.id,
            category: Category::of_type(&n.kind),
            kind: n.kind,
            title: n.title,
            message: n.message,
            order_id: n.order_id,
            created_at: n.created_at,
            read: false,
        }
    }
}

impl From<crate::rest::StoredNotification> for InboxItem {
    /// A notification as the server keeps it, with its read state.
    fn from(n: crate::rest::StoredNotification) -> InboxItem {
        InboxItem {
            id: n.id,
            category: Category::of_type(&n.kind),
            kind: n.kind,
            title: n.title,
            message: n.message,
            order_id: n.order_id,
            created_at: n.created_at,
            read: n.read,
        }
    }
}

/// The notification inbox, newest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inbox {
    /// Shared (`Arc`), like the view's orders: a copy of the state, which the UI makes for every batch of
    /// patches, copies pointers, not hundreds of notifications. The JSON is the same.
    pub items: Vec<Arc<InboxItem>>,
    pub unread: usize,
}

impl Inbox {
    /// Unread items per category, for the inbox's tabs.
    pub fn unread_in(&self, category: Category) -> usize {
        self.items.iter().filter(|i| !i.read && i.category == category).count()
    }
}

/// The state of the live link, as the user should understand it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum LinkState {
    /// Trying to (re)connect: shown as "Reconnecting" for the first ~10 s of an outage, with why the last
    /// attempt failed once one did (the server did not answer, catching up failed: …).
    #[serde(rename_all = "camelCase")]
    Connecting {
        attempt: u32,
        next_retry_at: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// Connected, caught up, rooms joined: updates arrive as they happen.
    #[serde(rename_all = "camelCase")]
    Live { since: DateTime<Utc> },
    /// Away for longer: the reason in words, while retries go on in the background.
    #[serde(rename_all = "camelCase")]
    Offline { reason: String, attempt: u32, next_retry_at: Option<DateTime<Utc>> },
    /// No session: the user must log in. `reason` says why the last one ended (`None`: there was none).
    #[serde(rename_all = "camelCase")]
    LoggedOut {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<LogoutReason>,
    },
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogoutReason {
    /// The user signed out (or left this server for another).
    SignedOut,
    /// The token's time was up.
    Expired,
    /// The server revoked the session (a sign-out elsewhere, a changed password).
    Revoked,
    /// The server refused the session for another reason.
    Refused,
}

impl LogoutReason {
    /// What the sign-in screen tells the user, if anything: a session that ended by itself needs a word.
    pub fn explain(self) -> Option<&'static str> {
        match self {
            LogoutReason::SignedOut => None,
            LogoutReason::Expired => Some("Your session expired. Please sign in again."),
            LogoutReason::Revoked => Some("Your session was revoked on the server. Please sign in again."),
            LogoutReason::Refused => Some("The server no longer accepts your session. Please sign in again."),
        }
    }
}

impl LinkState {
    pub fn name(&self) -> &'static str {
        match self {
            LinkState::Connecting { .. } => "connecting",
            LinkState::Live { .. } => "live",
            LinkState::Offline { .. } => "offline",
            LinkState::LoggedOut { .. } => "logged_out",
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(self, LinkState::Live { .. })
    }
}

/// Who is signed in, as the sign-in reply or the token tell.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub email: Option<String>,
    pub name: Option<String>,
}

/// Everything the UI draws.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ViewState {
    /// Newest first (by creation time). Shared, so copying the state copies pointers; a patch replaces the
    /// order it changes.
    pub orders: Vec<Arc<OrderView>>,
    pub stats: Stats,
    pub inbox: Inbox,
    pub link: LinkState,
    /// The last time anything fresh came from the backend (a live event or a catch-up).
    pub last_update_at: Option<DateTime<Utc>>,
    /// Orders whose room the user follows (the detail page being open, for example).
    pub watched: Vec<String>,
    /// Who is signed in; `None` whenever the link is `LoggedOut`.
    #[serde(default)]
    pub user: Option<UserView>,
}

impl Default for ViewState {
    fn default() -> Self {
        ViewState {
            orders: Vec::new(),
            stats: Stats::default(),
            inbox: Inbox::default(),
            link: LinkState::LoggedOut { reason: None },
            last_update_at: None,
            watched: Vec::new(),
            user: None,
        }
    }
}

/// A change to the view state, sent by the shell to the UI. Applying every patch in order to the state of the
/// last `Reset` gives the engine's current state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Patch {
    /// The whole state (start, cache load, login, logout).
    Reset {
        state: Box<ViewState>,
    },
    /// An order appeared or changed.
    Order {
        order: Box<OrderView>,
        source: Source,
    },
    /// An order's delivery changed (driver, ETA, location).
    #[serde(rename_all = "camelCase")]
    Delivery {
        order_id: String,
        delivery: Delivery,
        #[serde(default)]
        tracking: Tracking,
        source: Source,
    },
    /// An order is gone from the backend.
    #[serde(rename_all = "camelCase")]
    OrderRemoved {
        order_id: String,
    },
    /// A new notification arrived.
    Notification {
        item: InboxItem,
        unread: usize,
    },
    /// Read state changed (mark read, mark all read, sync with the server).
    Inbox {
        inbox: Inbox,
    },
    Stats {
        stats: Stats,
    },
    #[serde(rename_all = "camelCase")]
    Link {
        link: LinkState,
        last_update_at: Option<DateTime<Utc>>,
    },
    Watched {
        watched: Vec<String>,
    },
    /// Someone signed in, or nobody is any more.
    User {
        user: Option<UserView>,
    },
}

impl ViewState {
    /// Applies a patch, as the UI does; lets tests check that patches and snapshots agree.
    pub fn patch(&mut self, patch: &Patch) {
        match patch {
            Patch::Reset { state } => *self = (**state).clone(),
            Patch::Order { order, .. } => match self.orders.iter_mut().find(|o| o.id == order.id) {
                Some(o) => *o = Arc::new((**order).clone()),
                None => {
                    self.orders.push(Arc::new((**order).clone()));
                    self.orders.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.id.cmp(&b.id)));
                }
            },
            Patch::Delivery { order_id, delivery, tracking, .. } => {
                if let Some(o) = self.orders.iter_mut().find(|o| &o.id == order_id) {
                    let o = Arc::make_mut(o);
                    o.delivery = Some(delivery.clone());
                    o.tracking = tracking.clone();
                }
            }
            Patch::OrderRemoved { order_id } => self.orders.retain(|o| &o.id != order_id),
            Patch::Notification { item, unread } => {
                self.inbox.items.insert(0, Arc::new(item.clone()));
                self.inbox.unread = *unread;
            }
            Patch::Inbox { inbox } => self.inbox = inbox.clone(),
            Patch::Stats { stats } => self.stats = *stats,
            Patch::Link { link, last_update_at } => {
                self.link = link.clone();
                self.last_update_at = *last_update_at;
            }
            Patch::Watched { watched } => self.watched = watched.clone(),
            Patch::User { user } => self.user = user.clone(),
        }
    }
}

//! The domain objects of the contract: users, orders, statuses, delivery.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids;

/// An order's status. The normal flow is the declaration order; `Cancelled` can follow any non-final status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    Confirmed,
    Preparing,
    Ready,
    OutForDelivery,
    Delivered,
    Cancelled,
    /// A status this client does not know (a newer backend). Shown as-is, never acted upon.
    #[serde(other)]
    Unknown,
}

impl Status {
    /// The normal flow, in order: the one place the order of the statuses is written.
    pub const FLOW: [Status; 6] = [
        Status::Pending,
        Status::Confirmed,
        Status::Preparing,
        Status::Ready,
        Status::OutForDelivery,
        Status::Delivered,
    ];

    /// Every known status: the flow, then `Cancelled`.
    pub const ALL: [Status; 7] = [
        Status::FLOW[0],
        Status::FLOW[1],
        Status::FLOW[2],
        Status::FLOW[3],
        Status::FLOW[4],
        Status::FLOW[5],
        Status::Cancelled,
    ];

    /// Progress in percent, as the contract defines it.
    pub fn progress(self) -> u8 {
        match self {
            Status::Pending => 10,
            Status::Confirmed => 25,
            Status::Preparing => 50,
            Status::Ready => 70,
            Status::OutForDelivery => 85,
            Status::Delivered => 100,
            Status::Cancelled | Status::Unknown => 0,
        }
    }

    /// The display text of the contract ("Out for Delivery").
    pub fn display(self) -> &'static str {
        match self {
            Status::Pending => "Pending",
            Status::Confirmed => "Confirmed",
            Status::Preparing => "Preparing",
            Status::Ready => "Ready",
            Status::OutForDelivery => "Out for Delivery",
            Status::Delivered => "Delivered",
            Status::Cancelled => "Cancelled",
            Status::Unknown => "Unknown",
        }
    }

    /// The wire name (`out_for_delivery`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Confirmed => "confirmed",
            Status::Preparing => "preparing",
            Status::Ready => "ready",
            Status::OutForDelivery => "out_for_delivery",
            Status::Delivered => "delivered",
            Status::Cancelled => "cancelled",
            Status::Unknown => "unknown",
        }
    }

    /// Parses a wire name; `None` for anything the contract does not define.
    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Delivered and cancelled orders move no more.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Delivered | Status::Cancelled)
    }

    /// Whether an order counts as active in the stats (neither final nor unknown).
    pub fn is_active(self) -> bool {
        !self.is_final() && self != Status::Unknown
    }

    /// The next status of the normal flow, if any.
    pub fn next(self) -> Option<Status> {
        let at = Status::FLOW.iter().position(|s| *s == self)?;
        Status::FLOW.get(at + 1).copied()
    }

    /// How far along an order in this status is, for ordering two statuses: the place in the flow, the final
    /// statuses level, an unknown status before all.
    pub fn rank(self) -> u8 {
        match self {
            Status::Unknown => 0,
            Status::Cancelled => Status::Delivered.rank(),
            s => Status::FLOW.iter().position(|f| *f == s).map_or(0, |i| i as u8 + 1),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    StoreOwner,
    #[serde(other)]
    Unknown,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::StoreOwner => "store_owner",
            Role::Unknown => "unknown",
        }
    }
}

/// A user as `POST /auth/login` and `GET /auth/me` return it. Written with both `_id` and `id`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "UserIn")]
pub struct User {
    #[serde(rename = "_id")]
    pub underscore_id: String,
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub email: String,
    pub role: Role,
}

impl User {
    pub fn new(id: impl Into<String>, name: impl Into<String>, email: impl Into<String>, role: Role) -> Self {
        let id = id.into();
        User { underscore_id: id.clone(), id, name: name.into(), email: email.into(), role }
    }
}

#[derive(Deserialize)]
struct UserIn {
    #[serde(rename = "_id", default, deserialize_with = "ids::opt_id")]
    underscore_id: Option<String>,
    #[serde(default, deserialize_with = "ids::opt_id")]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<Role>,
}

impl TryFrom<UserIn> for User {
    type Error = String;
    fn try_from(u: UserIn) -> Result<Self, String> {
        let id = ids::pick(u.underscore_id, u.id, "user")?;
        Ok(User::new(id, u.name.unwrap_or_default(), u.email.unwrap_or_default(), u.role.unwrap_or(Role::Customer)))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub name: String,
    #[serde(default = "one")]
    pub quantity: u32,
    #[serde(default)]
    pub price: f64,
}

fn one() -> u32 {
    1
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusEntry {
    pub status: Status,
    pub timestamp: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LatLng {
    pub lat: f64,
    pub lng: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Address {
    #[serde(default)]
    pub street: String,
    #[serde(default)]
    pub city: String,
    #[serde(default)]
    pub lat: Option<f64>,
    #[serde(default)]
    pub lng: Option<f64>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    #[default]
    NotDispatched,
    InTransit,
    Delivered,
    Cancelled,
    #[serde(other)]
    Unknown,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::NotDispatched => "not_dispatched",
            DeliveryStatus::InTransit => "in_transit",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Cancelled => "cancelled",
            DeliveryStatus::Unknown => "unknown",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Driver {
    pub name: String,
    #[serde(default)]
    pub phone: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    #[serde(default)]
    pub delivery_status: DeliveryStatus,
    #[serde(default)]
    pub estimated_delivery: Option<DateTime<Utc>>,
    #[serde(default)]
    pub driver: Option<Driver>,
    #[serde(default)]
    pub location: Option<LatLng>,
}

/// An order as the REST API and the `order` field of update events carry it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "OrderIn")]
pub struct Order {
    #[serde(rename = "_id")]
    pub id: String,
    pub order_number: String,
    /// The customer's user id.
    pub customer: String,
    pub items: Vec<Item>,
    pub total_amount: f64,
    pub status: Status,
    pub status_history: Vec<StatusEntry>,
    pub delivery_address: Option<Address>,
    pub delivery: Option<Delivery>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Order {
    /// The time the order entered `status`, from its history.
    pub fn status_time(&self, status: Status) -> Option<DateTime<Utc>> {
        self.status_history.iter().rev().find(|e| e.status == status).map(|e| e.timestamp)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OrderIn {
    #[serde(rename = "_id", default, deserialize_with = "ids::opt_id")]
    underscore_id: Option<String>,
    #[serde(default, deserialize_with = "ids::opt_id")]
    id: Option<String>,
    #[serde(default)]
    order_number: Option<String>,
    #[serde(default, deserialize_with = "customer_id")]
    customer: Option<String>,
    #[serde(default)]
    items: Option<Vec<Item>>,
    #[serde(default)]
    total_amount: Option<f64>,
    status: Status,
    #[serde(default)]
    status_history: Option<Vec<StatusEntry>>,
    #[serde(default)]
    delivery_address: Option<Address>,
    #[serde(default)]
    delivery: Option<Delivery>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

/// `customer` is a user id, or (a populated Mongoose document) an object holding one.
fn customer_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum C {
        Id(#[serde(deserialize_with = "ids::id")] String),
        Obj(UserIn),
        Null(()),
    }
    Ok(match Option::<C>::deserialize(d)? {
        Some(C::Id(s)) => Some(s),
        Some(C::Obj(u)) => u.underscore_id.or(u.id),
        Some(C::Null(())) | None => None,
    })
}

impl TryFrom<OrderIn> for Order {
    type Error = String;
    fn try_from(o: OrderIn) -> Result<Self, String> {
        let id = ids::pick(o.underscore_id, o.id, "order")?;
        let status_history = o.status_history.unwrap_or_default();
        // A backend that omits the times still gets a consistent order: fall back on the history.
        let last_change = status_history.iter().map(|e| e.timestamp).max();
        let updated_at = o.updated_at.or(last_change).ok_or_else(|| format!("order {id} has no `updatedAt`"))?;
        let created_at = o.created_at.or_else(|| status_history.first().map(|e| e.timestamp)).unwrap_or(updated_at);
        Ok(Order {
            order_number: o.order_number.unwrap_or_else(|| id.clone()),
            id,
            customer: o.customer.unwrap_or_default(),
            items: o.items.unwrap_or_default(),
            total_amount: o.total_amount.unwrap_or_default(),
            status: o.status,
            status_history,
            delivery_address: o.delivery_address,
            delivery: o.delivery,
            created_at,
            updated_at,
        })
    }
}

/// Order counts as `order_stats_update` carries them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub active: u64,
    #[serde(default)]
    pub delivered: u64,
    #[serde(default)]
    pub cancelled: u64,
}

impl Stats {
    /// Counts a set of orders the way the server does.
    pub fn of<'a>(orders: impl IntoIterator<Item = &'a Order>) -> Stats {
        Stats::of_statuses(orders.into_iter().map(|o| o.status))
    }

    /// Counts orders by their statuses: every order in `total`, unknown statuses in no other count.
    pub fn of_statuses(statuses: impl IntoIterator<Item = Status>) -> Stats {
        let mut s = Stats::default();
        for status in statuses {
            s.count(status, 1);
        }
        s
    }

    /// Counts `n` more orders in `status`: the one rule of which count an order is in.
    pub fn count(&mut self, status: Status, n: u64) {
        self.total += n;
        match status {
            Status::Delivered => self.delivered += n,
            Status::Cancelled => self.cancelled += n,
            st if st.is_active() => self.active += n,
            _ => {}
        }
    }
}

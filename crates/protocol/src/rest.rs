//! REST request and response bodies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Address, DeliveryStatus, Driver, Item, LatLng, Status, User};

#[derive(Clone, Serialize, Deserialize)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest").field("email", &self.email).field("password", &"<redacted>").finish()
    }
}

#[derive(Clone, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub user: User,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse").field("token", &"<redacted>").field("user", &self.user).finish()
    }
}

/// `POST /auth/refresh` (extension).
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshResponse {
    pub token: String,
}

/// Every error body: `{message}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    pub ok: bool,
    pub server_time: DateTime<Utc>,
}

/// `PATCH /orders/:id/status`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StatusPatch {
    pub status: Status,
}

/// `PATCH /orders/:id/delivery` (extension). Absent fields are left as they are.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<Driver>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<LatLng>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_delivery: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_status: Option<DeliveryStatus>,
}

/// `POST /orders` (extension).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlaceOrder {
    pub items: Vec<Item>,
    pub delivery_address: Address,
}

/// One row of `GET /orders/changes` (extension): an event exactly as it was emitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub seq: u64,
    pub event: String,
    pub payload: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangesResponse {
    /// Where this answer brings the caller: the log's head, or with `has_more` the last change of this page.
    pub latest_seq: u64,
    pub changes: Vec<Change>,
    /// More changes follow: ask again with `since=latestSeq`.
    #[serde(default)]
    pub has_more: bool,
}

/// `GET /notifications` (extension): a notification with its read state kept on the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredNotification {
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub order_id: Option<String>,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub read: bool,
}

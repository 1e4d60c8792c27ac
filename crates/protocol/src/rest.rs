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

/// Where a device receives push (extension): Firebase Cloud Messaging (Android), Apple Push Notification
/// service (iOS), or a browser's Web Push service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushPlatform {
    Fcm,
    Apns,
    Webpush,
}

impl PushPlatform {
    pub const ALL: [PushPlatform; 3] = [PushPlatform::Fcm, PushPlatform::Apns, PushPlatform::Webpush];

    pub fn as_str(self) -> &'static str {
        match self {
            PushPlatform::Fcm => "fcm",
            PushPlatform::Apns => "apns",
            PushPlatform::Webpush => "webpush",
        }
    }

    pub fn parse(s: &str) -> Option<PushPlatform> {
        PushPlatform::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// The service's name as people know it.
    pub fn service(self) -> &'static str {
        match self {
            PushPlatform::Fcm => "FCM",
            PushPlatform::Apns => "APNs",
            PushPlatform::Webpush => "Web Push",
        }
    }
}

/// A browser's push subscription, as `PushSubscription.toJSON()` gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebPushSubscription {
    pub endpoint: String,
    pub keys: WebPushKeys,
}

/// The subscription's public key (P-256, uncompressed, base64url) and authentication secret (16 bytes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebPushKeys {
    pub p256dh: String,
    pub auth: String,
}

/// `POST /devices` (extension): `token` for FCM and APNs, `subscription` for Web Push.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRegistration {
    pub platform: PushPlatform,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<WebPushSubscription>,
}

impl std::fmt::Debug for DeviceRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A push token addresses one phone: kept out of logs like a session token.
        f.debug_struct("DeviceRegistration").field("platform", &self.platform).finish_non_exhaustive()
    }
}

/// `201 {id}` for a new device, `200 {id}` for one already registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCreated {
    pub id: String,
}

/// What a push carries (the data of an FCM message, the custom keys of an APNs payload, the JSON a Web Push
/// service worker decrypts): which order, its status, and the words the app shows for it. Nothing else about
/// the customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushMessage {
    pub order_id: String,
    pub order_number: String,
    pub status: Status,
    /// The notification's type (`order_status`, `delivery`): its category, and so its channel on Android.
    pub kind: String,
    pub title: String,
    pub body: String,
    /// The change that caused it: a repeat of the same push has the same `seq`.
    pub seq: u64,
}

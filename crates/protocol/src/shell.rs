//! Replies of the shell's commands to the UI that are not part of the order view.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the shell knows of the order backend it is configured for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendStatus {
    /// The REST base URL in use (`…/api`).
    pub api_url: String,
    /// The backend's clock, when it answered `GET /api/health`.
    pub server_time: Option<DateTime<Utc>>,
    /// Why it could not be reached, in words.
    pub problem: Option<String>,
    /// The app's version.
    pub app_version: String,
}

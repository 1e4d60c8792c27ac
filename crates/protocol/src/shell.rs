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

/// When native notifications are raised.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyPolicy {
    /// For every update, even with the window in front.
    Always,
    /// Only while the window is unfocused, minimized or hidden in the tray (the default).
    #[default]
    WhenUnfocused,
    Never,
}

/// Per-category switches for native notifications.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NotifyCategories {
    pub order_updates: bool,
    pub delivery: bool,
    pub other: bool,
}

impl Default for NotifyCategories {
    fn default() -> Self {
        NotifyCategories { order_updates: true, delivery: true, other: true }
    }
}

/// The app's settings, kept by the shell in the platform's config dir.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// The backend chosen in the app; `LIVE_ORDERS_API_URL` wins over it.
    pub api_url: Option<String>,
    pub notify_policy: NotifyPolicy,
    pub notify_categories: NotifyCategories,
    /// Notifications paused from the tray menu (until resumed).
    pub notifications_paused: bool,
    /// Closing the window hides it to the tray and keeps the link alive.
    pub close_to_tray: bool,
    /// Plain `http://` servers on other machines are allowed (the password and token then cross the network
    /// unencrypted). Off by default; loopback servers never need it.
    pub allow_insecure_http: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            api_url: None,
            notify_policy: NotifyPolicy::default(),
            notify_categories: NotifyCategories::default(),
            notifications_paused: false,
            close_to_tray: true,
            allow_insecure_http: false,
        }
    }
}

/// Who is signed in, and where the session is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub api_url: String,
    /// The signed-in user's name and email, when known.
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    /// Why the OS keychain cannot be used, when it cannot: the session then lasts until the app quits.
    pub keychain_problem: Option<String>,
}

/// What kind of failure a command reports, so the UI picks its words without matching strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Wrong email or password.
    BadCredentials,
    /// The backend cannot be reached.
    Unreachable,
    /// Too many login attempts: wait and try again.
    TooManyAttempts,
    /// The session ended; log in again.
    LoggedOut,
    /// The backend refused or failed, with its message.
    Server,
    /// Bad input from the UI (an empty field, a malformed URL).
    Invalid,
    /// The address answers, but not as an order backend (another web server, a wrong port or path).
    NotAnOrderServer,
    /// The shell did not answer a command in time (the UI's deadline passed).
    NoAnswer,
    /// A plain `http://` address of another machine, not allowed in Settings.
    Cleartext,
    /// Anything else.
    Internal,
}

/// A command's failure, as the UI receives it: a code, and the details in `message`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandError {
    pub code: ErrorCode,
    pub message: String,
}

impl CommandError {
    /// The failure in words for the customer: what happened and what to do, then the details. The one
    /// place these words are made, for every screen.
    pub fn explain(&self) -> String {
        let m = &self.message;
        match self.code {
            ErrorCode::BadCredentials => "Wrong email or password.".to_owned(),
            ErrorCode::Unreachable => {
                format!("The server cannot be reached. Check its address and your connection. ({m})")
            }
            ErrorCode::TooManyAttempts => format!("Too many attempts. Wait a moment and try again. ({m})"),
            ErrorCode::NotAnOrderServer => {
                format!("This address does not answer as an order server ({m}). Check it: it usually ends in /api.")
            }
            ErrorCode::NoAnswer => format!("Something went wrong: the app did not answer in time ({m}). Try again."),
            ErrorCode::Cleartext => format!(
                "{m} is not encrypted (http://) and on another machine: your password and session would cross the \
                 network readable by anyone on the way. Use its https:// address, or allow unencrypted servers in \
                 Settings if you trust the network."
            ),
            ErrorCode::LoggedOut | ErrorCode::Server | ErrorCode::Invalid | ErrorCode::Internal => m.clone(),
        }
    }
}

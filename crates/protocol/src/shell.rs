//! Everything the UI and the shell say to each other: each command with its name, what it takes and what it
//! answers, and each event with its name and payload. The shell's handlers and the UI's one `api` module are
//! both written against these declarations, so a command renamed or reshaped on one side no longer compiles
//! on the other; the shell's tests check that every command declared here is registered.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::tiles::{self, TileSource};
use crate::view::Patch;

/// A command the UI calls on the shell. The UI sends `{"args": Args}`; the handler takes `args: Args` (or
/// nothing, when `Args` is `()`) and answers `Result<Reply, CommandError>`.
pub trait Command {
    /// The handler's function name, which is what Tauri registers it under.
    const NAME: &'static str;
    type Args: Serialize + DeserializeOwned;
    type Reply: Serialize + DeserializeOwned;
}

/// An event the shell emits to the UI.
pub trait Event {
    const NAME: &'static str;
    type Payload: Serialize + DeserializeOwned;
}

macro_rules! commands {
    ($($(#[$doc:meta])* $ty:ident = $name:literal, $args:ty => $reply:ty;)*) => {
        $(
            $(#[$doc])*
            pub struct $ty;
            impl Command for $ty {
                const NAME: &'static str = $name;
                type Args = $args;
                type Reply = $reply;
            }
        )*
        /// The name of every command, for the check that the shell registers them all.
        pub const COMMANDS: &[&str] = &[$($name),*];
    };
}

commands! {
    /// The UI has drawn its first screen: the window, created hidden, may show.
    WindowReady = "window_ready", () => ();
    /// Where the app is connected, and whether the keychain works.
    GetSessionInfo = "session_info", () => SessionInfo;
    /// The whole view state, sent as a `Reset` among the patches (in order with them).
    Resync = "resync", () => ();
    Login = "login", LoginArgs => SessionInfo;
    Logout = "logout", () => ();
    /// Tries to reconnect now instead of waiting for the next retry.
    RetryNow = "retry_now", () => ();
    /// Follows an order's room (its page is open).
    WatchOrder = "watch_order", OrderArgs => ();
    UnwatchOrder = "unwatch_order", OrderArgs => ();
    MarkRead = "mark_read", MarkReadArgs => ();
    MarkAllRead = "mark_all_read", () => ();
    GetSettings = "get_settings", () => Settings;
    /// Whether the system lets the app raise native notifications.
    GetNotificationPermission = "notification_permission", () => NotificationPermission;
    /// Saves the settings; the server stays as it is (see [`SwitchServer`]).
    SaveSettings = "save_settings", Settings => ();
    /// Moves to another order server, signing out of this one.
    SwitchServer = "switch_server", ServerArgs => SessionInfo;
    /// Whether the app opens at login, hidden in the tray (the OS's autostart entry is the truth); `None` where
    /// the system has no such thing for apps (phones).
    GetOpenAtLogin = "open_at_login", () => Option<bool>;
    /// Writes or removes the autostart entry; answers whether it is there now.
    SetOpenAtLogin = "set_open_at_login", bool => bool;
    /// What is known about updates: the last check and whether one is being installed.
    GetUpdateState = "update_state", () => UpdateState;
    /// Asks the update server now (the app also asks at start and daily).
    CheckForUpdate = "check_for_update", () => UpdateState;
    /// Downloads the offered version, checks its signature and installs it: only on the customer's say.
    InstallUpdate = "install_update", () => UpdateState;
}

/// The view's changes, in order: a `Reset` first, then patches (see [`Patch`]).
pub struct ViewPatches;
impl Event for ViewPatches {
    const NAME: &'static str = "view-patches";
    type Payload = Vec<Patch>;
}

/// Show this order (a click on its native notification).
pub struct OpenOrder;
impl Event for OpenOrder {
    const NAME: &'static str = "open-order";
    type Payload = String;
}

/// An update's state changed (a check at start or a daily one found something, an install went on).
pub struct UpdateChanged;
impl Event for UpdateChanged {
    const NAME: &'static str = "update-changed";
    type Payload = UpdateState;
}

/// A `liveorders://` link the app was opened with could not be followed: why, in words.
pub struct LinkRefused;
impl Event for LinkRefused {
    const NAME: &'static str = "link-refused";
    type Payload = String;
}

/// What the app knows about updates, as Settings shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateState {
    /// The version running now.
    pub current: String,
    pub status: UpdateStatus,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum UpdateStatus {
    /// Not asked yet (or no update server is set).
    #[default]
    Unknown,
    Checking,
    UpToDate,
    /// A newer signed version can be installed when the customer agrees.
    Available {
        version: String,
        notes: Option<String>,
    },
    /// Downloading the offered version (bytes so far, of the total when the server said).
    Downloading {
        version: String,
        received: u64,
        total: Option<u64>,
    },
    /// Installed: the new version runs from the next start.
    Installed {
        version: String,
    },
    /// The last check or install failed: why, in words. The running app is unchanged.
    Failed {
        message: String,
    },
}

/// Sign in with a password. `api_url`, when given and not the server in use, is tried first and switched to
/// only once the sign-in there succeeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginArgs {
    pub email: String,
    pub password: String,
    #[serde(default)]
    pub api_url: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderArgs {
    pub order_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkReadArgs {
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerArgs {
    pub api_url: String,
}

/// Whether the system lets the app raise native notifications (a phone asks the customer once).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationPermission {
    Granted,
    /// Refused in the system's settings: only the customer can allow them again, there.
    Denied,
    /// Not asked yet.
    NotAsked,
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
    /// Where updates are looked for; `None` uses the one the app was built with.
    pub update_url: Option<String>,
    /// The customer has answered the offer to open the app at login (asked once, after the first sign-in).
    pub open_at_login_asked: bool,
    /// The map's tiles: an XYZ URL template; `None` uses the one the app was built with (`tiles`).
    pub map_tiles: Option<String>,
    /// The attribution the chosen tile provider requires.
    pub map_attribution: Option<String>,
}

impl Settings {
    /// Where map tiles come from: the chosen source, or the built-in one while the chosen one is unusable
    /// (saving refuses such a source, so only a hand-edited file gets here).
    pub fn tile_source(&self) -> TileSource {
        tiles::tile_source(self.map_tiles.as_deref(), self.map_attribution.as_deref())
            .or_else(|_| tiles::tile_source(None, None))
            .expect("the built-in tile source is valid")
    }
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
            update_url: None,
            open_at_login_asked: false,
            map_tiles: None,
            map_attribution: None,
        }
    }
}

/// Where the app is connected and where its session is kept. Who is signed in, and whether anyone is, is the
/// view's (`ViewState::user`, `ViewState::link`): the engine is its one owner.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInfo {
    pub api_url: String,
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
            ErrorCode::Server | ErrorCode::Invalid | ErrorCode::Internal => m.clone(),
        }
    }
}

//! Decisions about the user's attention that a shell must not make itself: whether an update deserves a
//! native notification now, what the tray says, and how a failure is explained on screen.

use order_protocol::shell::{CommandError, ErrorCode, NotifyPolicy, Settings};
use order_protocol::Category;

use crate::api::ApiError;
use crate::engine::EngineError;

/// Whether the app's window is in front of the user, kept from what happened to it rather than asked of it:
/// on Android a window answers "not visible, not focused" even in the foreground, so asking would notify
/// over the app itself. Starts hidden (the window shows once the UI has drawn).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Presence {
    shown: bool,
    focused: bool,
}

/// What happens to the window and the app, as the shell hears it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// The window gained (`true`) or lost keyboard focus: minimizing it, or on a phone the app going to the
    /// background, loses focus.
    Focused(bool),
    /// The app showed the window (first showing, tray, second launch, notification click).
    Shown,
    /// The app hid the window (closed to the tray).
    Hidden,
}

impl Presence {
    pub fn after(self, event: Lifecycle) -> Presence {
        match event {
            // Focus means the window is on screen and the app in front.
            Lifecycle::Focused(true) => Presence { shown: true, focused: true },
            Lifecycle::Focused(false) => Presence { focused: false, ..self },
            Lifecycle::Shown => Presence { shown: true, ..self },
            Lifecycle::Hidden => Presence { shown: false, focused: false },
        }
    }

    /// In front of the user: a toast in the window is enough.
    pub fn in_front(self) -> bool {
        self.shown && self.focused
    }
}

/// Whether a notification of `category` is raised natively, given the settings and the window's presence.
pub fn should_notify(settings: &Settings, window: Presence, category: Category) -> bool {
    let wanted = match category {
        Category::OrderUpdates => settings.notify_categories.order_updates,
        Category::Delivery => settings.notify_categories.delivery,
        Category::Other => settings.notify_categories.other,
    };
    wanted
        && !settings.notifications_paused
        && match settings.notify_policy {
            NotifyPolicy::Always => true,
            NotifyPolicy::WhenUnfocused => !window.in_front(),
            NotifyPolicy::Never => false,
        }
}

/// The tray icon's tooltip.
pub fn tray_tooltip(unread: usize, paused: bool) -> String {
    let unread = match unread {
        0 => "no unread updates".to_owned(),
        1 => "1 unread update".to_owned(),
        n => format!("{n} unread updates"),
    };
    if paused {
        format!("Live Orders: {unread} (notifications paused)")
    } else {
        format!("Live Orders: {unread}")
    }
}

/// The text beside the tray icon: the unread count, as a badge. Linux's tray (a StatusNotifierItem through
/// libappindicator) shows no tooltips, so there the count has to be on the icon itself; empty when nothing is
/// unread so the icon stays quiet.
pub fn tray_label(unread: usize) -> String {
    match unread {
        0 => String::new(),
        n if n > 99 => "99+".to_owned(),
        n => n.to_string(),
    }
}

/// The id of the native notification about `order_id`: the same for every update of the order, so a phone
/// replaces its notification in place instead of stacking one per update (FNV-1a, kept positive).
pub fn notification_id(order_id: &str) -> i32 {
    let hash = order_id.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    (hash & 0x7fff_ffff) as i32
}

/// The longest notification text handed to the OS; a notification is a glance.
pub const NOTIFICATION_CHARS: usize = 240;

/// A backend's words made safe for a native notification: plain text (freedesktop servers read the body as
/// markup, so `<`, `>` and `&` are escaped and show as themselves), no control characters, at most
/// [`NOTIFICATION_CHARS`] characters.
pub fn notification_text(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().filter(|c| !c.is_control() || *c == '\n').enumerate() {
        if i == NOTIFICATION_CHARS {
            out.push('…');
            break;
        }
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// A REST failure as the UI shows it: a code to choose the words, and the details.
pub fn api_error(e: &ApiError) -> CommandError {
    let (code, message) = match e {
        ApiError::Network(m) => (ErrorCode::Unreachable, m.clone()),
        ApiError::Unauthorized(m) => (ErrorCode::BadCredentials, m.clone()),
        ApiError::Status { status: 429, message } => (ErrorCode::TooManyAttempts, message.clone()),
        ApiError::Status { status: 400 | 422, message } => (ErrorCode::Invalid, message.clone()),
        ApiError::Status { message, .. } => (ErrorCode::Server, message.clone()),
        ApiError::Decode(m) => (ErrorCode::Server, m.clone()),
        ApiError::NotAnOrderServer(m) => (ErrorCode::NotAnOrderServer, m.clone()),
        ApiError::TooLarge | ApiError::Unbounded(_) => (ErrorCode::Server, e.to_string()),
        ApiError::Cleartext(origin) => (ErrorCode::Cleartext, origin.clone()),
    };
    CommandError { code, message }
}

/// An engine failure as the UI shows it.
pub fn engine_error(e: &EngineError) -> CommandError {
    match e {
        EngineError::Api(a) => api_error(a),
        other => CommandError { code: ErrorCode::Internal, message: other.to_string() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Lifecycle::*;

    /// The presence after `events`, from the start (hidden).
    fn after(events: &[Lifecycle]) -> Presence {
        events.iter().fold(Presence::default(), |p, e| p.after(*e))
    }

    const FRONT: &[Lifecycle] = &[Shown, Focused(true)];
    const TRAY: &[Lifecycle] = &[Shown, Focused(true), Focused(false), Hidden];

    #[test]
    fn presence_comes_from_what_happened_to_the_window_and_the_app() {
        let cases: &[(&[Lifecycle], bool, &str)] = &[
            (&[], false, "hidden until the UI has drawn"),
            (&[Shown], false, "shown but another window has the focus"),
            (FRONT, true, "shown and focused"),
            (&[Shown, Focused(true), Focused(false)], false, "minimized, or another window in front"),
            (TRAY, false, "closed to the tray"),
            (&[Shown, Focused(true), Hidden, Shown, Focused(true)], true, "brought back from the tray"),
            (&[Focused(true)], true, "focus alone means shown (Android says neither visible nor focused)"),
            (&[Focused(true), Hidden, Focused(false)], false, "hidden stays hidden"),
        ];
        for (events, in_front, case) in cases {
            assert_eq!(after(events).in_front(), *in_front, "{case}: {events:?}");
        }
    }

    #[test]
    fn the_default_notifies_only_when_the_window_is_not_in_front() {
        let s = Settings::default();
        let minimized: &[Lifecycle] = &[Shown, Focused(true), Focused(false)];
        for (events, expected) in [(FRONT, false), (minimized, true), (TRAY, true), (&[Shown][..], true)] {
            assert_eq!(should_notify(&s, after(events), Category::OrderUpdates), expected, "{events:?}");
        }
    }

    #[test]
    fn policy_pause_and_categories_are_obeyed() {
        let always = Settings { notify_policy: NotifyPolicy::Always, ..Settings::default() };
        assert!(should_notify(&always, after(FRONT), Category::Delivery));
        let never = Settings { notify_policy: NotifyPolicy::Never, ..Settings::default() };
        assert!(!should_notify(&never, after(TRAY), Category::Delivery));
        let paused = Settings { notifications_paused: true, ..Settings::default() };
        assert!(!should_notify(&paused, after(TRAY), Category::OrderUpdates));
        let mut no_delivery = Settings::default();
        no_delivery.notify_categories.delivery = false;
        assert!(!should_notify(&no_delivery, after(TRAY), Category::Delivery));
        assert!(should_notify(&no_delivery, after(TRAY), Category::OrderUpdates));
    }

    #[test]
    fn failures_get_codes_the_ui_can_word() {
        let cases = [
            (ApiError::Network("connection refused".into()), ErrorCode::Unreachable),
            (ApiError::Unauthorized("Invalid credentials".into()), ErrorCode::BadCredentials),
            (ApiError::Status { status: 429, message: "Too many attempts".into() }, ErrorCode::TooManyAttempts),
            (ApiError::Status { status: 500, message: "boom".into() }, ErrorCode::Server),
            (ApiError::NotAnOrderServer("it answered 404 to a sign-in".into()), ErrorCode::NotAnOrderServer),
        ];
        for (e, code) in cases {
            assert_eq!(api_error(&e).code, code, "{e}");
        }
    }

    #[test]
    fn notification_text_is_plain_and_bounded() {
        assert_eq!(
            notification_text("<b>Ready</b> & <a href='x'>go</a>"),
            "&lt;b&gt;Ready&lt;/b&gt; &amp; &lt;a href='x'&gt;go&lt;/a&gt;"
        );
        assert_eq!(notification_text("a\u{7}b\u{1b}[31mc"), "ab[31mc");
        let long = notification_text(&"x".repeat(10_000));
        assert_eq!(long.chars().count(), NOTIFICATION_CHARS + 1);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn one_notification_id_per_order() {
        assert_eq!(notification_id("64b0a01"), notification_id("64b0a01"));
        assert_ne!(notification_id("64b0a01"), notification_id("64b0a02"));
        assert!(["", "a", "64b0a01", &"x".repeat(1000)].iter().all(|o| notification_id(o) >= 0));
    }

    #[test]
    fn the_tray_counts_unread_updates() {
        assert_eq!(tray_tooltip(0, false), "Live Orders: no unread updates");
        assert_eq!(tray_tooltip(3, true), "Live Orders: 3 unread updates (notifications paused)");
        assert_eq!(tray_label(0), "");
        assert_eq!(tray_label(7), "7");
        assert_eq!(tray_label(500), "99+");
    }
}

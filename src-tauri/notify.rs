//! Native notifications, and what a click on one does: bring the window up on that order. One notification
//! per order: a newer update of the same order replaces its bubble in place instead of stacking another.
//!
//! On Linux the shell raises them itself over D-Bus with the freedesktop `default` action, because
//! tauri-plugin-notification's desktop path reports no click there: one task, one connection, for all of them.
//! Elsewhere the plugin shows them; on a phone in a channel per category, with a tap opening the order, and
//! only once the customer allowed them (asked after the first sign-in).

#[cfg(not(target_os = "linux"))]
use order_client::attention::{notification_id, notification_text};
#[cfg(not(target_os = "linux"))]
use order_client::Notify;
use order_protocol::shell::NotificationPermission;
use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::{NotificationExt, PermissionState};

#[cfg(target_os = "linux")]
pub(crate) use xdg::{show, start};

/// Whether the system lets the app raise notifications (a desktop always does).
pub(crate) fn permission<R: Runtime>(app: &AppHandle<R>) -> NotificationPermission {
    match app.notification().permission_state() {
        Ok(PermissionState::Granted) | Err(_) => NotificationPermission::Granted,
        Ok(PermissionState::Denied) => NotificationPermission::Denied,
        Ok(_) => NotificationPermission::NotAsked,
    }
}

/// Asks the customer to allow notifications, if nobody asked yet: after the first sign-in, when they know
/// what the app is for. The question waits on the customer, so it is asked off the async threads.
pub(crate) fn ask_permission<R: Runtime>(app: &AppHandle<R>) {
    if permission(app) != NotificationPermission::NotAsked {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || {
        if let Err(e) = app.notification().request_permission() {
            tracing::warn!("could not ask for the notification permission: {e}");
        }
    });
}

/// Elsewhere than Linux: on a phone, a channel per category (the customer can silence one in the system's
/// settings) and a tap on a notification opening its order; a desktop needs nothing started.
#[cfg(not(target_os = "linux"))]
pub(crate) fn start<R: Runtime>(_app: &AppHandle<R>) {
    // Channels are Android's: iOS groups by app, and its settings have no per-category switch.
    #[cfg(target_os = "android")]
    {
        use order_protocol::Category;
        use tauri_plugin_notification::{Channel, Importance};
        for (category, name, importance) in [
            (Category::OrderUpdates, "Order updates", Importance::High),
            (Category::Delivery, "Delivery", Importance::High),
            (Category::Other, "Other", Importance::Default),
        ] {
            let channel = Channel::builder(category.as_str(), name).importance(importance).build();
            if let Err(e) = _app.notification().create_channel(channel) {
                tracing::warn!("could not create the notification channel {name}: {e}");
            }
        }
    }
    #[cfg(mobile)]
    {
        let app = _app.clone();
        let tapped = _app.notification().on_action(move |performed| {
            let extra = performed.notification().map(|n| n.extra());
            let order = extra.and_then(|e| e.get(ORDER_KEY)).and_then(|v| v.as_str());
            open_order(&app, order);
        });
        if let Err(e) = tapped {
            tracing::warn!("could not listen to taps on notifications: {e}");
        }
    }
}

/// Where a notification carries the order it is about.
#[cfg(not(target_os = "linux"))]
const ORDER_KEY: &str = "orderId";

#[cfg(target_os = "linux")]
mod xdg {
    use std::collections::{HashMap, VecDeque};

    use futures_util::StreamExt;
    use order_client::attention::notification_text;
    use order_client::Notify;
    use tauri::{AppHandle, Manager, Runtime};
    use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
    use zbus::message::Type;
    use zbus::{Connection, MatchRule, MessageStream};

    const SERVICE: &str = "org.freedesktop.Notifications";
    const PATH: &str = "/org/freedesktop/Notifications";
    /// Clicks are remembered for this many of the latest notifications; an older one still on screen
    /// brings the window up without an order.
    const REMEMBERED: usize = 64;

    /// The way to the one notifier task.
    struct Notifier(UnboundedSender<Notify>);

    /// Starts the notifier: one task with one D-Bus connection for every notification, which also hears the
    /// clicks (servers such as GNOME Shell send `ActionInvoked` only to the connection that asked).
    pub(crate) fn start<R: Runtime>(app: &AppHandle<R>) {
        let (tx, rx) = unbounded_channel();
        app.manage(Notifier(tx));
        tauri::async_runtime::spawn(run(app.clone(), rx));
    }

    pub(crate) fn show<R: Runtime>(app: &AppHandle<R>, n: Notify) {
        match app.try_state::<Notifier>() {
            Some(notifier) if notifier.0.send(n).is_ok() => {}
            _ => tracing::warn!("no notifier running; a notification was not shown"),
        }
    }

    async fn run<R: Runtime>(app: AppHandle<R>, mut shown: UnboundedReceiver<Notify>) {
        let (conn, mut clicks) = match connect().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("no notification server on the session bus ({e}); notifications are off");
                while shown.recv().await.is_some() {}
                return;
            }
        };
        // Notification id → the order it names, newest last.
        let mut orders: VecDeque<(u32, Option<String>)> = VecDeque::new();
        loop {
            tokio::select! {
                next = shown.recv() => {
                    let Some(n) = next else { return };
                    let replaces = n
                        .order_id
                        .as_ref()
                        .and_then(|o| orders.iter().rev().find(|(_, of)| of.as_ref() == Some(o)))
                        .map_or(0, |(id, _)| *id);
                    match send(&conn, &n, replaces).await {
                        Ok(id) => {
                            orders.retain(|(known, _)| *known != id && *known != replaces);
                            if orders.len() == REMEMBERED {
                                orders.pop_front();
                            }
                            orders.push_back((id, n.order_id));
                        }
                        Err(e) => tracing::warn!("could not show a notification: {e}"),
                    }
                }
                Some(Ok(msg)) = clicks.next() => {
                    let Ok((id, action)) = msg.body().deserialize::<(u32, String)>() else { continue };
                    if action == "default" {
                        let order = orders.iter().find(|(i, _)| *i == id).and_then(|(_, o)| o.clone());
                        super::open_order(&app, order.as_deref());
                    }
                }
            }
        }
    }

    async fn connect() -> zbus::Result<(Connection, MessageStream)> {
        let conn = Connection::session().await?;
        let rule = MatchRule::builder().msg_type(Type::Signal).interface(SERVICE).member("ActionInvoked").build()?;
        let clicks = MessageStream::for_match_rule(rule, &conn, None).await?;
        Ok((conn, clicks))
    }

    /// The freedesktop `Notify` call: plain text, one `default` action (a click on the body), replacing the
    /// notification `replaces` (0: none) in place.
    async fn send(conn: &Connection, n: &Notify, replaces: u32) -> zbus::Result<u32> {
        let hints: HashMap<&str, zbus::Variant<'_>> = HashMap::new();
        let (summary, body) = (notification_text(&n.title), notification_text(&n.body));
        let args =
            ("Live Orders", replaces, "", summary.as_str(), body.as_str(), vec!["default", "Open"], hints, -1i32);
        conn.call_method(Some(SERVICE), PATH, Some(SERVICE), "Notify", &args).await?.body().deserialize()
    }
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn show<R: Runtime>(app: &AppHandle<R>, n: Notify) {
    let (title, body) = (notification_text(&n.title), notification_text(&n.body));
    let mut builder = app.notification().builder().title(title).body(body);
    if let Some(order) = &n.order_id {
        // One notification per order, replaced in place as it moves on.
        builder = builder.id(notification_id(order)).extra(ORDER_KEY, order);
    }
    #[cfg(target_os = "android")]
    let builder = builder.channel_id(n.category.as_str());
    if let Err(e) = builder.show() {
        tracing::warn!("could not show a notification: {e}");
    }
}

/// Brings the window up and has the UI show the order.
#[cfg_attr(not(any(target_os = "linux", mobile)), allow(dead_code))]
fn open_order<R: Runtime>(app: &AppHandle<R>, order_id: Option<&str>) {
    crate::window::show_main_window(app);
    if let Some(id) = order_id {
        if let Err(e) = crate::ui::emit::<_, order_protocol::shell::OpenOrder>(app, &id.to_owned()) {
            tracing::warn!("could not ask the window to open order {id}: {e}");
        }
    }
}

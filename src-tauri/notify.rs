//! Native notifications, and what a click on one does: bring the window up on that order. One notification
//! per order: a newer update of the same order replaces its bubble in place instead of stacking another.
//!
//! On Linux the shell raises them itself over D-Bus with the freedesktop `default` action, because
//! tauri-plugin-notification's desktop path reports no click there: one task, one connection, for all of them.
//! Elsewhere the plugin shows them.

#[cfg(not(target_os = "linux"))]
use order_client::attention::notification_text;
#[cfg(not(target_os = "linux"))]
use order_client::Notify;
use tauri::{AppHandle, Runtime};

#[cfg(target_os = "linux")]
pub(crate) use xdg::{show, start};

/// Elsewhere the plugin needs nothing started.
#[cfg(not(target_os = "linux"))]
pub(crate) fn start<R: Runtime>(_app: &AppHandle<R>) {}

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
    use tauri_plugin_notification::NotificationExt;
    let (title, body) = (notification_text(&n.title), notification_text(&n.body));
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!("could not show a notification: {e}");
    }
}

/// Brings the window up and has the UI show the order.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn open_order<R: Runtime>(app: &AppHandle<R>, order_id: Option<&str>) {
    crate::window::show_main_window(app);
    if let Some(id) = order_id {
        if let Err(e) = crate::ui::emit::<_, order_protocol::shell::OpenOrder>(app, &id.to_owned()) {
            tracing::warn!("could not ask the window to open order {id}: {e}");
        }
    }
}

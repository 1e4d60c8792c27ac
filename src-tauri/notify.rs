//! Native notifications, and what a click on one does: bring the window up on that order.
//!
//! On Linux the shell raises them itself through notify-rust with the freedesktop `default` action, because
//! tauri-plugin-notification's desktop path reports no click there; it waits for the answer on a thread of
//! its own. Elsewhere the plugin shows them.

use order_client::attention::notification_text;
use order_client::Notify;
use tauri::{AppHandle, Runtime};

/// The event that asks the UI to open an order (its id as payload).
pub const OPEN_ORDER_EVENT: &str = "open-order";

#[cfg(target_os = "linux")]
pub fn show<R: Runtime>(app: &AppHandle<R>, n: Notify) {
    let app = app.clone();
    std::thread::spawn(move || {
        let shown = notify_rust::Notification::new()
            .appname("Live Orders")
            .summary(&notification_text(&n.title))
            .body(&notification_text(&n.body))
            .action("default", "Open")
            .show();
        match shown {
            Ok(handle) => handle.wait_for_action(|action| {
                if action == "default" {
                    open_order(&app, n.order_id.as_deref());
                }
            }),
            Err(e) => tracing::warn!("could not show a notification: {e}"),
        }
    });
}

#[cfg(not(target_os = "linux"))]
pub fn show<R: Runtime>(app: &AppHandle<R>, n: Notify) {
    use tauri_plugin_notification::NotificationExt;
    let (title, body) = (notification_text(&n.title), notification_text(&n.body));
    if let Err(e) = app.notification().builder().title(title).body(body).show() {
        tracing::warn!("could not show a notification: {e}");
    }
}

/// Brings the window up and has the UI show the order.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn open_order<R: Runtime>(app: &AppHandle<R>, order_id: Option<&str>) {
    use tauri::Emitter;
    crate::state::show_main_window(app);
    if let Some(id) = order_id {
        if let Err(e) = app.emit(OPEN_ORDER_EVENT, id) {
            tracing::warn!("could not ask the window to open order {id}: {e}");
        }
    }
}

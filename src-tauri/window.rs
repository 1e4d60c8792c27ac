//! The main window's life: created hidden and shown once the UI has drawn (or after a timeout), brought up
//! by the tray, a second launch or a notification, and hidden to the tray on close when the setting says so;
//! and whether it is in front of the user, kept from those events (`attention::Presence`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use order_client::attention::{Lifecycle, Presence};
use tauri::{AppHandle, Manager, Runtime, Window, WindowEvent};

use crate::settings::SettingsStore;

/// How long the window waits, hidden, for the UI to say it has drawn, before it shows anyway: a page that
/// failed to start must still be seen.
const UI_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// The main window's presence, as its events tell it.
#[derive(Default)]
pub(crate) struct WindowPresence(Mutex<Presence>);

/// Something happened to the window or the app.
pub(crate) fn note<R: Runtime>(app: &AppHandle<R>, event: Lifecycle) {
    if let Some(p) = app.try_state::<WindowPresence>() {
        let mut presence = p.0.lock().expect("not poisoned");
        *presence = presence.after(event);
    }
}

/// Whether the main window is in front of the user now.
pub(crate) fn presence<R: Runtime>(app: &AppHandle<R>) -> Presence {
    app.try_state::<WindowPresence>().map(|p| *p.0.lock().expect("not poisoned")).unwrap_or_default()
}

/// Whether the main window has had its first showing.
#[derive(Default)]
pub(crate) struct FirstShow(AtomicBool);

impl FirstShow {
    /// True exactly once: for whoever first shows the main window.
    fn take(&self) -> bool {
        !self.0.swap(true, Ordering::SeqCst)
    }
}

/// Shows the main window if this is its first showing: later it may be in the tray on purpose.
pub(crate) fn show_first_time<R: Runtime>(app: &AppHandle<R>) -> bool {
    let first = app.try_state::<FirstShow>().is_some_and(|f| f.take());
    if first {
        show_main_window(app);
    }
    first
}

/// Keeps the main window in the tray at start (started at login): its first showing is then the customer's.
pub(crate) fn stay_hidden<R: Runtime>(app: &AppHandle<R>) {
    if let Some(f) = app.try_state::<FirstShow>() {
        f.take();
    }
}

/// Shows the main window after `UI_READY_TIMEOUT` if the UI has not had it shown by then.
pub(crate) fn show_if_the_ui_stays_silent<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(UI_READY_TIMEOUT).await;
        if show_first_time(&app) {
            tracing::warn!("the UI did not report its first screen within {UI_READY_TIMEOUT:?}; showing the window");
        }
    });
}

/// Brings the main window up (tray, second launch, notification).
pub(crate) fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        #[cfg(desktop)]
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
        note(app, Lifecycle::Shown);
    }
}

/// Closing the main window hides it to the tray when the setting says so; the link stays up.
pub(crate) fn on_window_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if window.label() != "main" {
        return;
    }
    if let WindowEvent::Focused(focused) = event {
        note(window.app_handle(), Lifecycle::Focused(*focused));
    }
    if let WindowEvent::CloseRequested { api, .. } = event {
        let hide = cfg!(desktop)
            && window.label() == "main"
            && window.app_handle().try_state::<SettingsStore>().is_some_and(|s| s.get().close_to_tray);
        if hide {
            let _ = window.hide();
            api.prevent_close();
            note(window.app_handle(), Lifecycle::Hidden);
        }
    }
}

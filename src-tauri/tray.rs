//! The tray icon (desktop): the unread count in its tooltip (beside the icon on Linux, whose trays show no
//! tooltips), and a menu to open the window, pause notifications, or quit. With the window closed to the tray,
//! the link stays up and notifications keep coming.

use std::sync::atomic::{AtomicUsize, Ordering};

use order_client::attention::tray_tooltip;
use order_protocol::Patch;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::{TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

use crate::AppState;

const TRAY_ID: &str = "main";
const PAUSE_ID: &str = "pause";

/// The unread count last seen in the patches, for the tooltip.
static UNREAD: AtomicUsize = AtomicUsize::new(0);

pub fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, "open", "Open Live Orders", true, None::<&str>)?;
    let pause = MenuItem::with_id(app, PAUSE_ID, pause_label(app), true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &pause, &quit])?;
    let mut tray = TrayIconBuilder::with_id(TRAY_ID).menu(&menu).tooltip(tooltip(app)).on_menu_event(|app, event| {
        match event.id.as_ref() {
            "open" => crate::state::show_main_window(app),
            PAUSE_ID => toggle_pause(app),
            "quit" => app.exit(0),
            _ => {}
        }
    });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.on_tray_icon_event(|tray, event| {
        if let TrayIconEvent::DoubleClick { .. } = event {
            crate::state::show_main_window(tray.app_handle());
        }
    })
    .build(app)?;
    // Keep the pause item reachable to relabel it.
    app.manage(PauseItem(pause));
    Ok(())
}

struct PauseItem<R: Runtime>(MenuItem<R>);

fn paused<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<AppState>().is_some_and(|s| s.settings().notifications_paused)
}

fn pause_label<R: Runtime>(app: &AppHandle<R>) -> &'static str {
    if paused(app) {
        "Resume notifications"
    } else {
        "Pause notifications"
    }
}

fn tooltip<R: Runtime>(app: &AppHandle<R>) -> String {
    tray_tooltip(UNREAD.load(Ordering::Relaxed), paused(app))
}

fn toggle_pause<R: Runtime>(app: &AppHandle<R>) {
    let Some(state) = app.try_state::<AppState>() else { return };
    let mut settings = state.settings();
    settings.notifications_paused = !settings.notifications_paused;
    if let Err(e) = state.set_settings(settings) {
        tracing::warn!("could not save the settings: {e}");
    }
    refresh(app);
}

/// Relabels the menu and the tooltip after a settings change.
pub fn refresh<R: Runtime>(app: &AppHandle<R>) {
    if let Some(item) = app.try_state::<PauseItem<R>>() {
        let _ = item.0.set_text(pause_label(app));
    }
    if let Some(tray) = app.tray_by_id(TRAY_ID) {
        let _ = tray.set_tooltip(Some(tooltip(app)));
        // Linux trays show no tooltip: the count goes beside the icon instead.
        #[cfg(target_os = "linux")]
        let _ = tray.set_title(Some(order_client::attention::tray_label(UNREAD.load(Ordering::Relaxed))));
    }
}

/// Follows the unread count through the patches going to the UI.
pub fn follow<R: Runtime>(app: &AppHandle<R>, patch: &Patch) {
    let unread = match patch {
        Patch::Reset { state } => state.inbox.unread,
        Patch::Notification { unread, .. } => *unread,
        Patch::Inbox { inbox } => inbox.unread,
        _ => return,
    };
    if UNREAD.swap(unread, Ordering::Relaxed) != unread {
        refresh(app);
    }
}

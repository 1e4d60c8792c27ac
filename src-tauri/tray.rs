//! The tray icon (desktop): the unread count in its tooltip (beside the icon on Linux, whose trays show no
//! tooltips), and a menu to open the window, pause notifications, or quit. With the window closed to the tray,
//! the link stays up and notifications keep coming.

use std::sync::atomic::{AtomicUsize, Ordering};

use order_client::attention::tray_tooltip;
use tauri::menu::{Menu, MenuItem};
use tauri::tray::{TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Manager, Runtime};

use crate::settings::SettingsStore;
use crate::window::show_main_window;

const TRAY_ID: &str = "main";
const PAUSE_ID: &str = "pause";

/// What the tray shows: its pause item, to relabel it, and the unread count of the view it last heard of.
struct Tray<R: Runtime> {
    pause: MenuItem<R>,
    unread: AtomicUsize,
}

pub(crate) fn create<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let paused = paused(app);
    let open = MenuItem::with_id(app, "open", "Open Live Orders", true, None::<&str>)?;
    let pause = MenuItem::with_id(app, PAUSE_ID, pause_label(paused), true, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit", true, None::<&str>)?;
    let menu = Menu::with_items(app, &[&open, &pause, &quit])?;
    let mut tray =
        TrayIconBuilder::with_id(TRAY_ID).menu(&menu).tooltip(tray_tooltip(0, paused)).on_menu_event(|app, event| {
            match event.id.as_ref() {
                "open" => show_main_window(app),
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
            show_main_window(tray.app_handle());
        }
    })
    .build(app)?;
    app.manage(Tray { pause, unread: AtomicUsize::new(0) });
    Ok(())
}

fn paused<R: Runtime>(app: &AppHandle<R>) -> bool {
    app.try_state::<SettingsStore>().is_some_and(|s| s.get().notifications_paused)
}

fn pause_label(paused: bool) -> &'static str {
    if paused {
        "Resume notifications"
    } else {
        "Pause notifications"
    }
}

fn toggle_pause<R: Runtime>(app: &AppHandle<R>) {
    let Some(settings) = app.try_state::<SettingsStore>() else { return };
    if let Err(e) = settings.update(|s| s.notifications_paused = !s.notifications_paused) {
        tracing::warn!("could not save the settings: {e}");
    }
    refresh(app);
}

/// Shows the view's unread count.
pub(crate) fn show_unread<R: Runtime>(app: &AppHandle<R>, unread: usize) {
    let changed = app.try_state::<Tray<R>>().is_some_and(|t| t.unread.swap(unread, Ordering::Relaxed) != unread);
    if changed {
        refresh(app);
    }
}

/// Relabels the menu and the tooltip (after a settings change or a new count).
pub(crate) fn refresh<R: Runtime>(app: &AppHandle<R>) {
    let Some(tray) = app.try_state::<Tray<R>>() else { return };
    let (paused, unread) = (paused(app), tray.unread.load(Ordering::Relaxed));
    let _ = tray.pause.set_text(pause_label(paused));
    if let Some(icon) = app.tray_by_id(TRAY_ID) {
        let _ = icon.set_tooltip(Some(tray_tooltip(unread, paused)));
        // Linux trays show no tooltip: the count goes beside the icon instead.
        #[cfg(target_os = "linux")]
        let _ = icon.set_title(Some(order_client::attention::tray_label(unread)));
    }
}

//! Opening at login (desktop): the OS's autostart entry (an XDG autostart file on Linux, a launch agent on
//! macOS, the Run key on Windows) written and removed by `tauri-plugin-autostart`, with the one argument
//! that starts the app hidden in the tray: a customer who logs in to their desktop gets notifications
//! without a window in their way.

use tauri::plugin::TauriPlugin;
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_autostart::AutoLaunchManager;

/// The argument of a start at login: no window, the tray and the link only.
pub(crate) const HIDDEN: &str = "--hidden";

/// The plugin, naming its entry after the binary (`live-orders.desktop`), not the spaced product name.
pub(crate) fn plugin<R: Runtime>() -> TauriPlugin<R> {
    tauri_plugin_autostart::Builder::new().app_name("live-orders").arg(HIDDEN).build()
}

/// Whether this process was started at login (hidden).
pub(crate) fn started_hidden() -> bool {
    std::env::args().skip(1).any(|a| a == HIDDEN)
}

/// The plugin's handle, when the app runs with it (not on the test runtime of the commands).
fn manager<R: Runtime>(app: &AppHandle<R>) -> Result<State<'_, AutoLaunchManager>, String> {
    app.try_state::<AutoLaunchManager>().ok_or_else(|| "this build does not manage opening at login".to_owned())
}

/// Whether the entry is there.
pub(crate) fn is_on<R: Runtime>(app: &AppHandle<R>) -> Result<bool, String> {
    manager(app)?.is_enabled().map_err(|e| e.to_string())
}

/// Writes or removes the entry; answers whether it is there now.
pub(crate) fn set<R: Runtime>(app: &AppHandle<R>, on: bool) -> Result<bool, String> {
    let manager = manager(app)?;
    if on { manager.enable() } else { manager.disable() }.map_err(|e| e.to_string())?;
    is_on(app)
}

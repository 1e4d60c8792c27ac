//! The map's tile server in the page's content security policy: images may come from the app itself and from
//! the one tile origin chosen in Settings (`order_protocol::tiles` says which), and from nowhere else. Tauri
//! writes the policy of `tauri.conf.json` into each page it serves; the main window is built here so that each
//! page load also gets the tile origin of that moment, and a new origin reloads the page to take effect.

use tauri::{AppHandle, Manager, Runtime, WebviewWindowBuilder};

use crate::settings::SettingsStore;

/// Builds the main window from its entry in `tauri.conf.json` (marked `"create": false` there for this).
pub(crate) fn create_main_window<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<()> {
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == "main").cloned() else {
        return Ok(());
    };
    let handle = app.clone();
    WebviewWindowBuilder::from_config(app, &config)?
        .on_web_resource_request(move |_request, response| {
            // Only the app's pages carry a policy; assets and scripts pass as they are.
            let Some(csp) = response.headers().get("Content-Security-Policy").and_then(|v| v.to_str().ok()) else {
                return;
            };
            let Some(settings) = handle.try_state::<SettingsStore>() else { return };
            let origin = settings.get().tile_source().origin;
            let patched = order_protocol::tiles::csp_with_tiles(csp, &origin);
            if let Ok(value) = patched.parse() {
                response.headers_mut().insert("Content-Security-Policy", value);
            }
        })
        .build()?;
    Ok(())
}

/// After the settings changed: a new tile origin takes effect in a fresh page (the policy of a page is fixed
/// once it loaded). The engine and the session live in Rust and stay as they are.
pub(crate) fn settings_changed<R: Runtime>(app: &AppHandle<R>, before: &str, after: &str) {
    if before == after {
        return;
    }
    tracing::info!(origin = after, "map tiles now come from a new origin; reloading the page");
    if let Some(w) = app.get_webview_window("main") {
        if let Err(e) = w.reload() {
            tracing::warn!("could not reload the page for the new map tiles: {e}");
        }
    }
}

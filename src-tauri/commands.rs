//! The commands the UI calls. Each is a few lines that ask the engine and return plain data; failures
//! carry an `ErrorCode` so the UI words them without matching strings.

use order_client::attention::engine_error;
use order_protocol::shell::{BackendStatus, CommandError, ErrorCode, SessionInfo, Settings};
use tauri::{AppHandle, Runtime, State};

use crate::AppState;

type Reply<T> = Result<T, CommandError>;

fn invalid(message: &str) -> CommandError {
    CommandError { code: ErrorCode::Invalid, message: message.to_owned() }
}

/// The UI has drawn its first screen: the window, created hidden, shows now, so it never shows a blank page.
/// On Linux, drawing in software, a window shown at once cost some cold starts half a second (1 s instead of
/// 0.5 s to the first order row, `cargo xtask bench app`): WebKitGTK waits for a first frame from a web process
/// that is still starting the UI.
/// Only the first call shows it: later the window may be in the tray on purpose.
#[tauri::command]
pub fn window_ready<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) {
    if state.take_first_show() {
        crate::state::show_main_window(&app);
    }
}

/// Whether the configured order backend answers, and where it is.
#[tauri::command]
pub async fn backend_status(state: State<'_, AppState>) -> Reply<BackendStatus> {
    let running = state.running();
    let api = running.engine.api();
    let health = api.health().await;
    Ok(BackendStatus {
        api_url: api.base_url().to_owned(),
        server_time: health.as_ref().ok().map(|h| h.server_time),
        problem: health.err().map(|e| e.to_string()),
        app_version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

#[tauri::command]
pub fn session_info(state: State<'_, AppState>) -> SessionInfo {
    state.session_info()
}

/// Asks for the whole view state as a `Reset` among the `view-patches` events, in order with every other
/// patch (a reply to the command could overtake or trail patches in flight).
#[tauri::command]
pub fn resync(state: State<'_, AppState>) -> Reply<()> {
    state.running().engine.resync().map_err(|e| engine_error(&e))
}

/// Signs in (on `api_url` when given: it becomes the saved backend).
#[tauri::command]
pub async fn login<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    email: String,
    password: String,
    api_url: Option<String>,
) -> Reply<SessionInfo> {
    if email.trim().is_empty() || password.is_empty() {
        return Err(invalid("Enter your email and password."));
    }
    if let Some(url) = api_url.filter(|u| !u.trim().is_empty()) {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid("The server address must start with http:// or https://"));
        }
        let settings = Settings { api_url: Some(url), ..state.settings() };
        state.set_settings(&app, settings).await.map_err(|e| invalid(&e.to_string()))?;
    }
    let user = state.running().engine.login(email.trim(), &password).await.map_err(|e| engine_error(&e))?;
    {
        let session = state.session();
        let mut s = session.lock().expect("not poisoned");
        s.user_name = Some(user.name);
        s.user_email = Some(user.email);
        s.logged_out_reason = None;
    }
    Ok(state.session_info())
}

#[tauri::command]
pub async fn logout(state: State<'_, AppState>) -> Reply<()> {
    let session = state.session();
    session.lock().expect("not poisoned").logging_out = true;
    let result = state.running().engine.logout().await.map_err(|e| engine_error(&e));
    let mut s = session.lock().expect("not poisoned");
    s.logging_out = false;
    s.user_name = None;
    s.user_email = None;
    result
}

#[tauri::command]
pub fn watch_order(state: State<'_, AppState>, order_id: String) -> Reply<()> {
    state.running().engine.watch(order_id).map_err(|e| engine_error(&e))
}

#[tauri::command]
pub fn unwatch_order(state: State<'_, AppState>, order_id: String) -> Reply<()> {
    state.running().engine.unwatch(order_id).map_err(|e| engine_error(&e))
}

#[tauri::command]
pub fn mark_read(state: State<'_, AppState>, id: String) -> Reply<()> {
    state.running().engine.mark_read(id).map_err(|e| engine_error(&e))
}

#[tauri::command]
pub fn mark_all_read(state: State<'_, AppState>) -> Reply<()> {
    state.running().engine.mark_all_read().map_err(|e| engine_error(&e))
}

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> Settings {
    state.settings()
}

#[tauri::command]
pub async fn save_settings<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>, settings: Settings) -> Reply<()> {
    state.set_settings(&app, settings).await.map_err(|e| CommandError {
        code: ErrorCode::Internal,
        message: format!("could not save the settings: {e}"),
    })?;
    #[cfg(desktop)]
    crate::tray::refresh(&app);
    Ok(())
}

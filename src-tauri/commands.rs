//! The commands the UI calls. Each is a few lines that ask the engine and return plain data; failures
//! carry an `ErrorCode` so the UI words them without matching strings.

use order_client::attention::{api_error, engine_error};
use order_client::Api;
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

/// A server address the customer typed, checked for its shape; `None` when the field was left empty.
fn typed_server(api_url: Option<String>) -> Reply<Option<String>> {
    let Some(url) = api_url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) else { return Ok(None) };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid("The server address must start with http:// or https://"));
    }
    Ok(Some(url))
}

/// A REST client for an address not switched to yet, built off the async threads (its TLS set-up blocks).
/// Plain `http://` to another machine is refused here, before anything is sent, unless Settings allow it.
async fn api_for(url: String, settings: &Settings) -> Reply<Api> {
    let api = Api::new(&url).allowing_cleartext(settings.allow_insecure_http);
    api.check_transport().map_err(|e| api_error(&e))?;
    tauri::async_runtime::spawn_blocking(move || {
        api.prepare();
        api
    })
    .await
    .map_err(|e| CommandError { code: ErrorCode::Internal, message: e.to_string() })
}

fn io_error(e: std::io::Error) -> CommandError {
    CommandError { code: ErrorCode::Internal, message: format!("could not save the settings: {e}") }
}

/// Signs in. With `api_url` naming another backend, the sign-in is tried there first, and only once it
/// succeeds does the app leave the backend in use for it (see `AppState::switch_backend`): a mistyped
/// address or a wrong password changes nothing.
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
    let elsewhere = typed_server(api_url)?.filter(|url| state.is_other_backend(url));
    let user = match elsewhere {
        Some(url) => {
            let (token, user) = api_for(url.clone(), &state.settings())
                .await?
                .login(email.trim(), &password)
                .await
                .map_err(|e| api_error(&e))?;
            let running = state.switch_backend(&app, &url).await.map_err(io_error)?;
            running.engine.use_token(token, Some(user.clone())).map_err(|e| engine_error(&e))?;
            user
        }
        None => state.running().engine.login(email.trim(), &password).await.map_err(|e| engine_error(&e))?,
    };
    {
        let session = state.session();
        let mut s = session.lock().expect("not poisoned");
        s.user_name = Some(user.name);
        s.user_email = Some(user.email);
    }
    Ok(state.session_info())
}

#[tauri::command]
pub async fn logout(state: State<'_, AppState>) -> Reply<()> {
    state.running().engine.logout().await.map_err(|e| engine_error(&e))
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

/// Saves the settings; the backend stays as it is (see `switch_server`).
#[tauri::command]
pub fn save_settings<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>, settings: Settings) -> Reply<()> {
    state.set_settings(settings).map_err(io_error)?;
    #[cfg(desktop)]
    crate::tray::refresh(&app);
    Ok(())
}

/// Moves to the order backend at `api_url` (Settings, "Switch server"): the address must answer as an order
/// backend first; then the session on the old one ends and the app is signed out, unless the keychain still
/// holds a session for the new one.
#[tauri::command]
pub async fn switch_server<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    api_url: String,
) -> Reply<SessionInfo> {
    let Some(url) = typed_server(Some(api_url))? else { return Err(invalid("Enter the server's address.")) };
    if state.is_other_backend(&url) {
        api_for(url.clone(), &state.settings()).await?.probe().await.map_err(|e| api_error(&e))?;
        state.switch_backend(&app, &url).await.map_err(io_error)?;
    }
    Ok(state.session_info())
}

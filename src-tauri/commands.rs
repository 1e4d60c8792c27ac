//! The commands the UI calls, each declared with its arguments and reply in `order_protocol::shell`. Each is
//! a few lines that ask the engine and return plain data; failures carry an `ErrorCode` so the UI words
//! them without matching strings.

use order_client::attention::{api_error, engine_error};
use order_client::Api;
use order_protocol::shell::{self, Command, CommandError, ErrorCode, Settings};
use tauri::{AppHandle, Runtime, State};

use crate::settings::SettingsStore;
use crate::state::AppState;

/// What command `C` answers.
type Reply<C> = Result<<C as Command>::Reply, CommandError>;
/// What command `C` takes.
type Args<C> = <C as Command>::Args;

fn invalid(message: &str) -> CommandError {
    CommandError { code: ErrorCode::Invalid, message: message.to_owned() }
}

fn io_error(e: std::io::Error) -> CommandError {
    CommandError { code: ErrorCode::Internal, message: format!("could not save the settings: {e}") }
}

/// The UI has drawn its first screen: the window, created hidden, shows now, so it never shows a blank page
/// (WebKitGTK would otherwise wait for a first frame from a web process still starting the UI).
#[tauri::command]
pub(crate) fn window_ready<R: Runtime>(app: AppHandle<R>) -> Reply<shell::WindowReady> {
    crate::window::show_first_time(&app);
    // A `liveorders://` link the app was started with can be shown now.
    crate::deep_links::ui_ready(&app);
    Ok(())
}

#[tauri::command]
pub(crate) fn session_info(state: State<'_, AppState>) -> Reply<shell::GetSessionInfo> {
    Ok(state.session_info())
}

/// The whole view state arrives as a `Reset` among the patches, in order with every other patch (a reply to
/// the command could overtake or trail patches in flight).
#[tauri::command]
pub(crate) fn resync(state: State<'_, AppState>) -> Reply<shell::Resync> {
    state.running().engine.resync().map_err(|e| engine_error(&e))
}

/// A server address the customer typed, checked for its shape; `None` when the field was left empty.
fn typed_server(api_url: Option<String>) -> Result<Option<String>, CommandError> {
    let Some(url) = api_url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()) else { return Ok(None) };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(invalid("The server address must start with http:// or https://"));
    }
    Ok(Some(url))
}

/// A REST client for an address not switched to yet, built off the async threads (its TLS set-up blocks).
/// Plain `http://` to another machine is refused here, before anything is sent, unless Settings allow it.
async fn api_for(url: String, settings: &Settings) -> Result<Api, CommandError> {
    let api = Api::new(&url).allowing_cleartext(settings.allow_insecure_http);
    api.check_transport().map_err(|e| api_error(&e))?;
    tauri::async_runtime::spawn_blocking(move || {
        api.prepare();
        api
    })
    .await
    .map_err(|e| CommandError { code: ErrorCode::Internal, message: e.to_string() })
}

/// Signs in. With `api_url` naming another backend, the sign-in is tried there first, and only once it
/// succeeds does the app leave the backend in use for it (see `AppState::switch_backend`): a mistyped
/// address or a wrong password changes nothing.
#[tauri::command]
pub(crate) async fn login<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    settings: State<'_, SettingsStore>,
    args: Args<shell::Login>,
) -> Reply<shell::Login> {
    let email = args.email.trim();
    if email.is_empty() || args.password.is_empty() {
        return Err(invalid("Enter your email and password."));
    }
    match typed_server(args.api_url)?.filter(|url| state.is_other_backend(url)) {
        Some(url) => {
            let (token, user) = api_for(url.clone(), &settings.get())
                .await?
                .login(email, &args.password)
                .await
                .map_err(|e| api_error(&e))?;
            let running = state.switch_backend(&app, &settings, &url).await.map_err(io_error)?;
            running.engine.use_token(token, Some(user)).map_err(|e| engine_error(&e))?;
        }
        None => {
            state.running().engine.login(email, &args.password).await.map_err(|e| engine_error(&e))?;
        }
    }
    Ok(state.session_info())
}

#[tauri::command]
pub(crate) async fn logout(state: State<'_, AppState>) -> Reply<shell::Logout> {
    state.running().engine.logout().await.map_err(|e| engine_error(&e))
}

#[tauri::command]
pub(crate) fn retry_now(state: State<'_, AppState>) -> Reply<shell::RetryNow> {
    state.running().engine.retry_now().map_err(|e| engine_error(&e))
}

#[tauri::command]
pub(crate) fn watch_order(state: State<'_, AppState>, args: Args<shell::WatchOrder>) -> Reply<shell::WatchOrder> {
    state.running().engine.watch(args.order_id).map_err(|e| engine_error(&e))
}

#[tauri::command]
pub(crate) fn unwatch_order(state: State<'_, AppState>, args: Args<shell::UnwatchOrder>) -> Reply<shell::UnwatchOrder> {
    state.running().engine.unwatch(args.order_id).map_err(|e| engine_error(&e))
}

#[tauri::command]
pub(crate) fn mark_read(state: State<'_, AppState>, args: Args<shell::MarkRead>) -> Reply<shell::MarkRead> {
    state.running().engine.mark_read(args.id).map_err(|e| engine_error(&e))
}

#[tauri::command]
pub(crate) fn mark_all_read(state: State<'_, AppState>) -> Reply<shell::MarkAllRead> {
    state.running().engine.mark_all_read().map_err(|e| engine_error(&e))
}

#[tauri::command]
pub(crate) fn notification_permission<R: Runtime>(app: AppHandle<R>) -> Reply<shell::GetNotificationPermission> {
    Ok(crate::notify::permission(&app))
}

#[tauri::command]
pub(crate) fn get_settings(settings: State<'_, SettingsStore>) -> Reply<shell::GetSettings> {
    Ok(settings.get())
}

/// Saves the settings; the backend stays as it is (see `switch_server`).
#[tauri::command]
pub(crate) fn save_settings<R: Runtime>(
    app: AppHandle<R>,
    settings: State<'_, SettingsStore>,
    args: Args<shell::SaveSettings>,
) -> Reply<shell::SaveSettings> {
    // A tile source that cannot be used is refused here, in words, rather than leaving the map blank.
    order_protocol::tiles::tile_source(args.map_tiles.as_deref(), args.map_attribution.as_deref())
        .map_err(|p| invalid(&p.to_string()))?;
    let before = settings.get().tile_source().origin;
    let after = settings.update(|s| *s = Settings { api_url: s.api_url.take(), ..args }).map_err(io_error)?;
    #[cfg(desktop)]
    crate::tray::refresh(&app);
    crate::map_tiles::settings_changed(&app, &before, &after.tile_source().origin);
    Ok(())
}

/// Moves to the order backend at `api_url` (Settings, "Switch server"): the address must answer as an order
/// backend first; then the session on the old one ends and the app is signed out, unless the keychain still
/// holds a session for the new one.
#[tauri::command]
pub(crate) async fn switch_server<R: Runtime>(
    app: AppHandle<R>,
    state: State<'_, AppState>,
    settings: State<'_, SettingsStore>,
    args: Args<shell::SwitchServer>,
) -> Reply<shell::SwitchServer> {
    let Some(url) = typed_server(Some(args.api_url))? else { return Err(invalid("Enter the server's address.")) };
    if state.is_other_backend(&url) {
        api_for(url.clone(), &settings.get()).await?.probe().await.map_err(|e| api_error(&e))?;
        state.switch_backend(&app, &settings, &url).await.map_err(io_error)?;
    }
    Ok(state.session_info())
}

/// Whether the app opens at login (desktop only).
#[tauri::command]
pub(crate) fn open_at_login<R: Runtime>(app: AppHandle<R>) -> Reply<shell::GetOpenAtLogin> {
    #[cfg(desktop)]
    return crate::autostart::is_on(&app).map(Some).map_err(autostart_error);
    #[cfg(not(desktop))]
    {
        let _ = app;
        Ok(None)
    }
}

#[tauri::command]
pub(crate) fn set_open_at_login<R: Runtime>(
    app: AppHandle<R>,
    args: Args<shell::SetOpenAtLogin>,
) -> Reply<shell::SetOpenAtLogin> {
    #[cfg(desktop)]
    return crate::autostart::set(&app, args).map_err(autostart_error);
    #[cfg(not(desktop))]
    {
        let _ = (app, args);
        Err(CommandError {
            code: ErrorCode::Invalid,
            message: "Opening at login is for computers; a phone wakes the app for its notifications by itself.".into(),
        })
    }
}

#[cfg(desktop)]
fn autostart_error(e: String) -> CommandError {
    CommandError {
        code: ErrorCode::Internal,
        message: format!("The system's list of apps to open at login could not be changed: {e}"),
    }
}

/// What is known about updates (desktop; phones are updated by their store).
#[tauri::command]
pub(crate) fn update_state<R: Runtime>(app: AppHandle<R>) -> Reply<shell::GetUpdateState> {
    #[cfg(desktop)]
    return Ok(crate::updates::state(&app));
    #[cfg(not(desktop))]
    Ok(shell::UpdateState { current: app.package_info().version.to_string(), ..Default::default() })
}

#[tauri::command]
pub(crate) async fn check_for_update<R: Runtime>(app: AppHandle<R>) -> Reply<shell::CheckForUpdate> {
    #[cfg(desktop)]
    return Ok(crate::updates::check(&app).await);
    #[cfg(not(desktop))]
    update_state(app)
}

/// Installs the offered version: only ever called by the customer's "Install" in Settings.
#[tauri::command]
pub(crate) async fn install_update<R: Runtime>(app: AppHandle<R>) -> Reply<shell::InstallUpdate> {
    #[cfg(desktop)]
    return Ok(crate::updates::install(&app).await);
    #[cfg(not(desktop))]
    update_state(app)
}

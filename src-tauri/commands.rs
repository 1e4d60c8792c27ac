//! The commands the UI calls. Each is a few lines that ask the engine and return plain data.

use order_protocol::shell::BackendStatus;
use tauri::State;

use crate::AppState;

/// Whether the configured order backend answers, and where it is.
#[tauri::command]
pub async fn backend_status(state: State<'_, AppState>) -> Result<BackendStatus, String> {
    let api = &state.api;
    let health = api.health().await;
    Ok(BackendStatus {
        api_url: api.base_url().to_owned(),
        server_time: health.as_ref().ok().map(|h| h.server_time),
        problem: health.err().map(|e| e.to_string()),
        app_version: env!("CARGO_PKG_VERSION").to_owned(),
    })
}

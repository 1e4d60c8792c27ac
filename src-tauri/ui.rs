//! What the shell sends the UI: only the events `order_protocol::shell` declares, each with its payload type.

use order_protocol::shell::Event;
use tauri::{AppHandle, Emitter, Runtime};

/// Emits event `E` to the UI.
pub(crate) fn emit<R: Runtime, E: Event>(app: &AppHandle<R>, payload: &E::Payload) -> tauri::Result<()> {
    app.emit(E::NAME, payload)
}

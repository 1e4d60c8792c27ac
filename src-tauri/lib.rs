//! The Live Orders shell: glue between the engine (`order-client`), the OS and the Yew UI.
//!
//! Every decision lives in `order-client`; this crate resolves where things are (the backend URL, the
//! platform's dirs), answers the UI's few commands by calling the engine, and hands events back. Desktop-only
//! parts sit behind `#[cfg(desktop)]`; `run` is also the mobile entry point.

mod commands;

use tauri::{Manager, Runtime};

/// What every command can reach.
pub struct AppState {
    /// The engine's REST client for the configured backend.
    pub api: order_client::Api,
}

#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    init_tracing();
    if let Err(e) = run_app(tauri::Builder::default()) {
        tracing::error!("Live Orders stopped: {e}");
        eprintln!("Live Orders could not run: {e}");
        std::process::exit(1);
    }
}

/// Builds and runs the app on any runtime, so tests can drive it with `tauri::test::mock_builder()`.
pub fn run_app<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Result<()> {
    builder
        .setup(|app| {
            let api_url = order_client::api::resolve_api_url(None);
            tracing::info!(%api_url, "Live Orders starting");
            app.manage(AppState { api: order_client::Api::new(&api_url) });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![commands::backend_status])
        .run(tauri::generate_context!())
}

/// Logs to stderr, filtered by `RUST_LOG` (default: info for our crates, warnings for the rest).
fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,live_orders_lib=info,order_client=info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

//! The Live Orders shell: glue between the engine (`order-client`), the OS and the Yew UI.
//!
//! Every decision lives in `order-client`; this crate finds the platform's places (keychain, config and data
//! dirs), starts the engine (`state`), answers the UI's commands by calling it (`commands`), and carries the
//! engine's events to the UI, the tray and native notifications (`forward`). What the UI and the shell say
//! to each other is declared once, in `order_protocol::shell`. Desktop-only parts (tray, single instance,
//! window state, opening at login, updates) sit behind `#[cfg(desktop)]`; `run` is also the mobile entry
//! point. `liveorders://` links (`deep_links`) work everywhere.
//!
//! Layers, each using only those below it: `commands` → `state` → `forward` → `notify`, `tray`, `deep_links`,
//! `updates`, `autostart`, `map_tiles` → `window` → `settings`, `keychain`, `ui`.

#![warn(unreachable_pub)]

#[cfg(desktop)]
mod autostart;
mod commands;
mod deep_links;
mod forward;
mod keychain;
mod map_tiles;
mod notify;
mod settings;
mod state;
#[cfg(desktop)]
mod tray;
mod ui;
#[cfg(desktop)]
mod updates;
mod window;

#[cfg(mobile)]
use tauri::AppHandle;
use tauri::{Manager, Runtime};

use crate::settings::SettingsStore;
use crate::state::AppState;
use crate::window::{FirstShow, WindowPresence};

#[cfg_attr(mobile, tauri::mobile_entry_point)]
pub fn run() {
    #[cfg(target_os = "linux")]
    draw_in_software();
    match app(with_os_plugins(tauri::Builder::default()), Parts::All).build(tauri::generate_context!()) {
        Ok(app) => app.run(|_app, _event| {
            // A phone's app back in front: reconnect and catch up at once.
            #[cfg(mobile)]
            if let tauri::RunEvent::Resumed = _event {
                on_focus(_app, true);
            }
        }),
        Err(e) => {
            tracing::error!("Live Orders stopped: {e}");
            eprintln!("Live Orders could not run: {e}");
            std::process::exit(1);
        }
    }
}

/// On a phone the app leaving the front suspends the engine (the OS would stop its socket soon anyway) and
/// coming back resumes it: it reconnects and catches up. A desktop app keeps its link in the tray.
#[cfg(mobile)]
fn on_focus<R: Runtime>(app: &AppHandle<R>, focused: bool) {
    if let Some(state) = app.try_state::<AppState>() {
        let engine = state.running().engine;
        let _ = if focused { engine.resume() } else { engine.suspend() };
    }
}

/// Has WebKitGTK draw the pages in software, unless the user chose otherwise through the variable.
///
/// Why: in its default accelerated compositing mode every web process sets up OpenGL, which on a machine
/// without a GPU driver (a VM, a remote session) is Mesa's software rasterizer, and keeps composited layers
/// besides: tens of MiB more for the same window (`cargo xtask bench app` shows it). The pages here are lists
/// and a timeline, which software draws quickly, and it also avoids the blank windows some Linux GPU drivers
/// give WebKitGTK. It runs first in `run`, before any thread exists, because changing the environment is not
/// thread-safe.
#[cfg(target_os = "linux")]
fn draw_in_software() {
    const VAR: &str = "WEBKIT_DISABLE_COMPOSITING_MODE";
    if std::env::var_os(VAR).is_none() {
        std::env::set_var(VAR, "1");
    }
}

/// Which parts of the app a build has: all of them, or (the tests of the commands, on Tauri's mock runtime)
/// none of those that need a real desktop session (the tray's icon, the process's one log subscriber).
#[derive(Clone, Copy, PartialEq)]
enum Parts {
    All,
    #[cfg(test)]
    Commands,
}

/// The plugins that need the OS (the tests of the commands run without them): `liveorders://` links
/// everywhere; on the desktop one instance per session, the window's size and place kept, starting at login
/// and signed updates.
fn with_os_plugins<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    #[cfg(desktop)]
    let builder = builder
        // A second launch focuses the first window instead of starting a second session. Started with a link
        // (the OS does that for `liveorders://`), it opens that link in the first; started at login while the
        // app already runs, it leaves the window as it is.
        .plugin(tauri_plugin_single_instance::init(|app, args, _cwd| {
            let args = args.get(1..).unwrap_or_default();
            if let Some(link) = order_client::deep_link::link_in_args(args) {
                deep_links::arrived(app, link);
            } else if !args.iter().any(|a| a == autostart::HIDDEN) {
                window::show_main_window(app);
            }
        }))
        // Size, position and the rest are restored; whether it shows is the shell's (`window::show_first_time`).
        .plugin(
            tauri_plugin_window_state::Builder::default()
                .with_state_flags(
                    tauri_plugin_window_state::StateFlags::all() - tauri_plugin_window_state::StateFlags::VISIBLE,
                )
                .build(),
        )
        .plugin(autostart::plugin())
        .plugin(tauri_plugin_updater::Builder::new().build());
    builder.plugin(tauri_plugin_deep_link::init())
}

/// The app on any runtime: the real one in `run`, Tauri's mock runtime in the tests of the commands.
fn app<R: Runtime>(builder: tauri::Builder<R>, parts: Parts) -> tauri::Builder<R> {
    builder
        .plugin(tauri_plugin_notification::init())
        .setup(move |app| {
            let handle = app.handle();
            // One subscriber and one panic hook per process: the tests of the commands share theirs.
            if parts == Parts::All {
                init_tracing(&handle.path().app_log_dir()?);
            }
            // Settings first: the engine's events read them as soon as it starts.
            app.manage(SettingsStore::open(handle.path().app_config_dir()?.join("settings.json")));
            app.manage(FirstShow::default());
            app.manage(WindowPresence::default());
            app.manage(deep_links::Links::default());
            #[cfg(desktop)]
            app.manage(updates::Updates::default());
            // Started at login: the window stays in the tray until the customer opens it.
            #[cfg(desktop)]
            let hidden = autostart::started_hidden();
            #[cfg(not(desktop))]
            let hidden = false;
            if hidden {
                window::stay_hidden(handle);
            }
            let state = AppState::new(handle, &handle.state::<SettingsStore>().get())?;
            app.manage(state);
            notify::start(handle);
            if !hidden {
                window::show_if_the_ui_stays_silent(handle.clone());
            }
            if parts == Parts::All {
                deep_links::start(handle);
                #[cfg(desktop)]
                tray::create(handle)?;
                #[cfg(desktop)]
                updates::start(handle);
            }
            if parts == Parts::All {
                // Built here rather than by Tauri, for the map's tile origin in its pages' policy.
                map_tiles::create_main_window(handle)?;
            }
            // The window appears once this returns: nothing above may block (see ARCHITECTURE.md).
            tracing::debug!("setup done");
            Ok(())
        })
        .on_window_event(|window, event| {
            window::on_window_event(window, event);
            #[cfg(mobile)]
            if let (true, tauri::WindowEvent::Focused(focused)) = (window.label() == "main", event) {
                on_focus(window.app_handle(), *focused);
            }
        })
        .invoke_handler(tauri::generate_handler![
            commands::window_ready,
            commands::session_info,
            commands::resync,
            commands::login,
            commands::logout,
            commands::retry_now,
            commands::watch_order,
            commands::unwatch_order,
            commands::mark_read,
            commands::mark_all_read,
            commands::get_settings,
            commands::notification_permission,
            commands::save_settings,
            commands::switch_server,
            commands::open_at_login,
            commands::set_open_at_login,
            commands::update_state,
            commands::check_for_update,
            commands::install_update,
        ])
}

/// Logs to stderr and to `live-orders.log` in the platform's log dir, filtered by `RUST_LOG` (default: info
/// for our crates, warnings for the rest). No log line carries the token: it never prints itself, and the
/// crates that would print it inside a WebSocket frame are held at `debug` (`order_client::logging`).
fn init_tracing(log_dir: &std::path::Path) {
    use tracing_subscriber::{fmt, prelude::*};
    let filter = || order_client::logging::filter("warn,live_orders_lib=info,order_client=info");
    let file = std::fs::create_dir_all(log_dir)
        .and_then(|_| std::fs::OpenOptions::new().create(true).append(true).open(log_dir.join("live-orders.log")));
    let file_layer =
        file.ok().map(|f| fmt::layer().with_ansi(false).with_writer(std::sync::Mutex::new(f)).with_filter(filter()));
    let _ = tracing_subscriber::registry()
        .with(fmt::layer().with_writer(std::io::stderr).with_filter(filter()))
        .with(file_layer)
        .try_init();
    log_panics();
}

/// Writes every panic, on any thread, to the log (and so to `live-orders.log`) before Rust's own report on
/// stderr: a panic in a command or a task otherwise leaves no trace where a user or a support person looks.
fn log_panics() {
    let rust_report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let location = info.location().map(|l| l.to_string()).unwrap_or_else(|| "an unknown place".into());
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        tracing::error!(
            target: "panic",
            "thread '{}' panicked at {location}: {what}\n{}",
            thread.name().unwrap_or("unnamed"),
            std::backtrace::Backtrace::force_capture()
        );
        rust_report(info);
    }));
}

#[cfg(test)]
mod commands_tests;

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    /// A log that tests can read: what a `fmt` layer writes, kept in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("not poisoned").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_panic_on_any_thread_is_written_to_the_log() {
        use tracing_subscriber::prelude::*;
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(move || writer.clone()));
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
        super::log_panics();
        let worker = std::thread::Builder::new()
            .name("tokio-rt-worker".into())
            .spawn(|| panic!("Cannot start a runtime from within a runtime"))
            .expect("a thread starts");
        assert!(worker.join().is_err(), "the thread panicked");
        let text = String::from_utf8(log.0.lock().expect("not poisoned").clone()).expect("utf-8");
        assert!(text.contains("ERROR"), "{text}");
        assert!(text.contains("thread 'tokio-rt-worker' panicked at src-tauri/lib.rs"), "{text}");
        assert!(text.contains("Cannot start a runtime from within a runtime"), "{text}");
    }
}

//! What the shell holds: the running engine (restarted when the backend changes), the settings, and who is
//! signed in. Also the window's lifecycle: close hides to the tray when the setting says so.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use order_client::attention::WindowState;
use order_client::{Engine, EngineConfig};
use order_protocol::shell::{SessionInfo, Settings};
use tauri::{AppHandle, Manager, Runtime, Window, WindowEvent};

use crate::keychain::KeychainStore;
use crate::{forward, settings};

pub struct AppState {
    running: Mutex<Running>,
    settings: Mutex<Settings>,
    settings_path: PathBuf,
    data_dir: PathBuf,
    session: Arc<Mutex<Session>>,
    /// Whether the main window has had its first showing (it is created hidden; see `commands::window_ready`).
    shown_once: AtomicBool,
}

/// How long the window waits, hidden, for the UI to say it has drawn, before it shows anyway: a page that
/// failed to start must still be seen. The UI says so within a second of a cold start.
const UI_READY_TIMEOUT: Duration = Duration::from_secs(5);

/// The engine of one backend, with the keychain entry of that backend.
#[derive(Clone)]
pub struct Running {
    pub engine: Engine,
    pub keychain: Arc<KeychainStore>,
    pub api_url: String,
}

/// Who is signed in, as far as the shell knows, and why the last session ended.
#[derive(Clone, Debug, Default)]
pub struct Session {
    pub user_name: Option<String>,
    pub user_email: Option<String>,
    pub logged_out_reason: Option<String>,
    /// Set while the user logs out, so the end of that session is not reported as an expiry.
    pub logging_out: bool,
}

impl AppState {
    pub fn new<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<AppState> {
        let settings_path = app.path().app_config_dir()?.join("settings.json");
        let settings = settings::load(&settings_path);
        let data_dir = app.path().app_data_dir()?;
        let session = Arc::new(Mutex::new(Session::default()));
        // The keychain is read by the engine, off this (main) thread; who is signed in arrives as an event.
        let running = start_engine(app, &settings, &data_dir, &session);
        Ok(AppState {
            running: Mutex::new(running),
            settings: Mutex::new(settings),
            settings_path,
            data_dir,
            session,
            shown_once: AtomicBool::new(false),
        })
    }

    /// True exactly once: for whoever first shows the main window.
    pub fn take_first_show(&self) -> bool {
        !self.shown_once.swap(true, Ordering::SeqCst)
    }

    pub fn running(&self) -> Running {
        self.running.lock().expect("not poisoned").clone()
    }

    pub fn settings(&self) -> Settings {
        self.settings.lock().expect("not poisoned").clone()
    }

    pub fn session(&self) -> Arc<Mutex<Session>> {
        self.session.clone()
    }

    /// Saves the settings; a changed backend restarts the engine against it.
    pub async fn set_settings<R: Runtime>(&self, app: &AppHandle<R>, new: Settings) -> std::io::Result<()> {
        settings::save(&self.settings_path, &new)?;
        let old = std::mem::replace(&mut *self.settings.lock().expect("not poisoned"), new.clone());
        if order_client::resolve_api_url(old.api_url.as_deref())
            != order_client::resolve_api_url(new.api_url.as_deref())
        {
            let fresh = start_engine(app, &new, &self.data_dir, &self.session);
            let old = std::mem::replace(&mut *self.running.lock().expect("not poisoned"), fresh);
            old.engine.shutdown().await;
        }
        Ok(())
    }

    pub fn session_info(&self) -> SessionInfo {
        let running = self.running();
        let session = self.session.lock().expect("not poisoned").clone();
        SessionInfo {
            api_url: running.api_url,
            user_name: session.user_name,
            user_email: session.user_email,
            keychain_problem: running.keychain.problem(),
            logged_out_reason: session.logged_out_reason,
        }
    }
}

fn start_engine<R: Runtime>(
    app: &AppHandle<R>,
    settings: &Settings,
    data_dir: &std::path::Path,
    session: &Arc<Mutex<Session>>,
) -> Running {
    let api_url = order_client::resolve_api_url(settings.api_url.as_deref());
    let keychain = Arc::new(KeychainStore::new(&api_url));
    let config = EngineConfig::new(&api_url).with_data_dir(data_dir.join("engine"));
    // Engine::start spawns its loop on the current runtime: enter Tauri's.
    let (engine, events) = tauri::async_runtime::block_on(async { Engine::start(config, keychain.clone()) });
    tauri::async_runtime::spawn(forward::run(app.clone(), events, session.clone()));
    tracing::info!(%api_url, "engine started");
    Running { engine, keychain, api_url }
}

/// How visible the main window is now (hidden if there is none).
pub fn window_state<R: Runtime>(app: &AppHandle<R>) -> WindowState {
    match app.get_webview_window("main") {
        Some(w) => WindowState {
            visible: w.is_visible().unwrap_or(false),
            minimized: w.is_minimized().unwrap_or(false),
            focused: w.is_focused().unwrap_or(false),
        },
        None => WindowState { visible: false, minimized: false, focused: false },
    }
}

/// Brings the main window up (tray, second launch, notification).
pub fn show_main_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(w) = app.get_webview_window("main") {
        let _ = w.unminimize();
        let _ = w.show();
        let _ = w.set_focus();
    }
}

/// Shows the main window after `UI_READY_TIMEOUT` if the UI has not had it shown by then.
pub fn show_window_if_the_ui_stays_silent<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(UI_READY_TIMEOUT).await;
        if app.state::<AppState>().take_first_show() {
            tracing::warn!("the UI did not report its first screen within {UI_READY_TIMEOUT:?}; showing the window");
            show_main_window(&app);
        }
    });
}

/// Closing the main window hides it to the tray when the setting says so; the link stays up.
pub fn on_window_event<R: Runtime>(window: &Window<R>, event: &WindowEvent) {
    if let WindowEvent::CloseRequested { api, .. } = event {
        let hide = cfg!(desktop)
            && window.label() == "main"
            && window.app_handle().try_state::<AppState>().is_some_and(|s| s.settings().close_to_tray);
        if hide {
            let _ = window.hide();
            api.prevent_close();
        }
    }
}

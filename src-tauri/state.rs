//! What the shell holds: the running engine (replaced when the customer switches to another backend), the
//! settings, and who is signed in. Also the window's lifecycle: close hides to the tray when the setting says so.
//!
//! Nothing here blocks on the async runtime: the engine starts on a handle of Tauri's runtime, so it can be
//! (re)started from the main thread at setup and from async commands alike.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    /// Which engine's events reach the UI: bumped when a backend is left, so nothing the old engine still
    /// says (its logout, a late patch) can land on the new backend's screen.
    current_engine: Arc<AtomicU64>,
    /// One backend switch at a time.
    switching: tokio::sync::Mutex<()>,
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

/// Who is signed in, as far as the shell knows (why a session ended is the engine's: the view's link says).
#[derive(Clone, Debug, Default)]
pub struct Session {
    pub user_name: Option<String>,
    pub user_email: Option<String>,
}

impl AppState {
    pub fn new<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<AppState> {
        let settings_path = app.path().app_config_dir()?.join("settings.json");
        let settings = settings::load(&settings_path);
        let data_dir = app.path().app_data_dir()?;
        let session = Arc::new(Mutex::new(Session::default()));
        let current_engine = Arc::new(AtomicU64::new(0));
        // The keychain is read by the engine, off this (main) thread; who is signed in arrives as an event.
        let running = start_engine(app, &settings, &data_dir, &session, Forwarding::new(&current_engine));
        Ok(AppState {
            running: Mutex::new(running),
            current_engine,
            switching: tokio::sync::Mutex::new(()),
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

    /// Saves the settings, keeping the backend in use: another backend is chosen with
    /// [`AppState::switch_backend`].
    pub fn set_settings(&self, new: Settings) -> std::io::Result<()> {
        let mut held = self.settings.lock().expect("not poisoned");
        let new = Settings { api_url: held.api_url.clone(), ..new };
        settings::save(&self.settings_path, &new)?;
        *held = new;
        Ok(())
    }

    /// Whether `api_url` (as typed) names a backend other than the one in use (`LIVE_ORDERS_API_URL` wins
    /// over any typed address, so with it set there is never another).
    pub fn is_other_backend(&self, api_url: &str) -> bool {
        order_client::resolve_api_url(Some(api_url)) != self.running().api_url
    }

    /// Leaves the backend in use for `api_url` (saved in the settings): the session there ends as a logout
    /// does (revoked where the server can, its keychain entry removed, the cache wiped), and an engine for
    /// the new backend starts, signed in if its keychain entry holds a session. Returns the new engine.
    pub async fn switch_backend<R: Runtime>(&self, app: &AppHandle<R>, api_url: &str) -> std::io::Result<Running> {
        let _one_at_a_time = self.switching.lock().await;
        let settings = {
            let mut held = self.settings.lock().expect("not poisoned");
            let next = Settings { api_url: Some(api_url.to_owned()), ..held.clone() };
            settings::save(&self.settings_path, &next)?;
            *held = next.clone();
            next
        };
        // From here the old engine's events reach nobody: its logout is not the new backend's news.
        let forwarding = Forwarding::new(&self.current_engine);
        let old = self.running();
        if let Err(e) = old.engine.logout().await {
            tracing::warn!("leaving {}: {e}", old.api_url);
        }
        old.engine.shutdown().await;
        *self.session.lock().expect("not poisoned") = Session::default();
        let fresh = start_engine(app, &settings, &self.data_dir, &self.session, forwarding);
        *self.running.lock().expect("not poisoned") = fresh.clone();
        tracing::info!(from = %old.api_url, to = %fresh.api_url, "switched backend");
        Ok(fresh)
    }

    pub fn session_info(&self) -> SessionInfo {
        let running = self.running();
        let session = self.session.lock().expect("not poisoned").clone();
        SessionInfo {
            api_url: running.api_url,
            user_name: session.user_name,
            user_email: session.user_email,
            keychain_problem: running.keychain.problem(),
        }
    }
}

/// Whether one engine's events are still the ones the UI follows.
#[derive(Clone)]
pub struct Forwarding {
    current: Arc<AtomicU64>,
    mine: u64,
}

impl Forwarding {
    /// Makes a new engine the one followed: from now on every earlier engine's events are dropped.
    fn new(current: &Arc<AtomicU64>) -> Forwarding {
        let mine = current.fetch_add(1, Ordering::SeqCst) + 1;
        Forwarding { current: current.clone(), mine }
    }

    pub fn is_current(&self) -> bool {
        self.current.load(Ordering::SeqCst) == self.mine
    }
}

/// Starts an engine for the backend the settings name, on Tauri's runtime, and forwards its events.
fn start_engine<R: Runtime>(
    app: &AppHandle<R>,
    settings: &Settings,
    data_dir: &std::path::Path,
    session: &Arc<Mutex<Session>>,
    forwarding: Forwarding,
) -> Running {
    let api_url = order_client::resolve_api_url(settings.api_url.as_deref());
    let keychain = Arc::new(KeychainStore::new(&api_url));
    let mut config = EngineConfig::new(&api_url).with_data_dir(data_dir.join("engine"));
    config.allow_cleartext = settings.allow_insecure_http;
    let rt = tauri::async_runtime::handle();
    let (engine, events) = Engine::start_on(rt.inner(), config, keychain.clone());
    rt.spawn(forward::run(app.clone(), events, session.clone(), forwarding));
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

//! The running engine, replaced when the customer switches to another backend.
//!
//! Nothing here blocks on the async runtime: the engine starts on a handle of Tauri's runtime, so it can be
//! (re)started from the main thread at setup and from async commands alike.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use order_client::{Engine, EngineConfig};
use order_protocol::shell::{SessionInfo, Settings};
use tauri::{AppHandle, Manager, Runtime};

use crate::forward::{self, Forwarding};
use crate::keychain::KeychainStore;
use crate::settings::SettingsStore;

pub(crate) struct AppState {
    running: Mutex<Running>,
    /// Which engine's events the app follows (see [`Forwarding`]).
    current_engine: Arc<AtomicU64>,
    /// One backend switch at a time.
    switching: tokio::sync::Mutex<()>,
    data_dir: PathBuf,
}

/// The engine of one backend, with the keychain entry of that backend.
#[derive(Clone)]
pub(crate) struct Running {
    pub(crate) engine: Engine,
    keychain: Arc<KeychainStore>,
    pub(crate) api_url: String,
}

impl AppState {
    pub(crate) fn new<R: Runtime>(app: &AppHandle<R>, settings: &Settings) -> tauri::Result<AppState> {
        let data_dir = app.path().app_data_dir()?;
        let current_engine = Arc::new(AtomicU64::new(0));
        // The keychain is read by the engine, off this (main) thread.
        let running = start_engine(app, settings, &data_dir, Forwarding::next(&current_engine));
        Ok(AppState { running: Mutex::new(running), current_engine, switching: tokio::sync::Mutex::new(()), data_dir })
    }

    pub(crate) fn running(&self) -> Running {
        self.running.lock().expect("not poisoned").clone()
    }

    /// Whether `api_url` (as typed) names a backend other than the one in use (`LIVE_ORDERS_API_URL` wins
    /// over any typed address, so with it set there is never another).
    pub(crate) fn is_other_backend(&self, api_url: &str) -> bool {
        order_client::resolve_api_url(Some(api_url)) != self.running().api_url
    }

    /// Leaves the backend in use for `api_url` (saved in the settings): the session there ends as a logout
    /// does (revoked where the server can, its keychain entry removed, the cache wiped), and an engine for
    /// the new backend starts, signed in if its keychain entry holds a session. Returns the new engine.
    pub(crate) async fn switch_backend<R: Runtime>(
        &self,
        app: &AppHandle<R>,
        settings: &SettingsStore,
        api_url: &str,
    ) -> std::io::Result<Running> {
        let _one_at_a_time = self.switching.lock().await;
        let settings = settings.update(|s| s.api_url = Some(api_url.to_owned()))?;
        // From here the old engine's events reach nobody: its logout is not the new backend's news.
        let forwarding = Forwarding::next(&self.current_engine);
        let old = self.running();
        if let Err(e) = old.engine.logout().await {
            tracing::warn!("leaving {}: {e}", old.api_url);
        }
        old.engine.shutdown().await;
        let fresh = start_engine(app, &settings, &self.data_dir, forwarding);
        *self.running.lock().expect("not poisoned") = fresh.clone();
        tracing::info!(from = %old.api_url, to = %fresh.api_url, "switched backend");
        Ok(fresh)
    }

    pub(crate) fn session_info(&self) -> SessionInfo {
        let running = self.running();
        SessionInfo { api_url: running.api_url, keychain_problem: running.keychain.problem() }
    }
}

/// Starts an engine for the backend the settings name, on Tauri's runtime, and forwards its events.
fn start_engine<R: Runtime>(
    app: &AppHandle<R>,
    settings: &Settings,
    data_dir: &Path,
    forwarding: Forwarding,
) -> Running {
    let api_url = order_client::resolve_api_url(settings.api_url.as_deref());
    let keychain = Arc::new(KeychainStore::new(&api_url));
    let mut config = EngineConfig::new(&api_url).with_data_dir(data_dir.join("engine"));
    config.allow_cleartext = settings.allow_insecure_http;
    let rt = tauri::async_runtime::handle();
    let (engine, events) = Engine::start_on(rt.inner(), config, keychain.clone());
    rt.spawn(forward::run(app.clone(), events, forwarding));
    tracing::info!(%api_url, "engine started");
    Running { engine, keychain, api_url }
}

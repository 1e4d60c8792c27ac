//! The app's settings: kept in memory for everyone who reads them, and in `settings.json` in the platform's
//! config dir, written atomically. A damaged file is set aside with a warning and the defaults are used; it
//! never stops the app.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use order_protocol::shell::Settings;

/// The settings in use and the file they are saved to (managed by Tauri, read from any thread).
pub(crate) struct SettingsStore {
    path: PathBuf,
    held: Mutex<Settings>,
}

impl SettingsStore {
    pub(crate) fn open(path: PathBuf) -> SettingsStore {
        let held = Mutex::new(load(&path));
        SettingsStore { path, held }
    }

    pub(crate) fn get(&self) -> Settings {
        self.held.lock().expect("not poisoned").clone()
    }

    /// Changes the settings and saves them; kept in memory only once saved.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Settings)) -> std::io::Result<Settings> {
        let mut held = self.held.lock().expect("not poisoned");
        let mut next = held.clone();
        change(&mut next);
        save(&self.path, &next)?;
        *held = next.clone();
        Ok(next)
    }
}

fn load(path: &Path) -> Settings {
    let Ok(text) = std::fs::read_to_string(path) else { return Settings::default() };
    match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            let aside = path.with_extension("json.damaged");
            tracing::warn!(
                "settings file {} is unreadable ({e}); using defaults, moved to {}",
                path.display(),
                aside.display()
            );
            let _ = std::fs::rename(path, aside);
            Settings::default()
        }
    }
}

fn save(path: &Path, settings: &Settings) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp: PathBuf = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(settings).map_err(std::io::Error::other)?)?;
    std::fs::rename(tmp, path)
}

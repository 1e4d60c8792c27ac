//! The settings file (`settings.json` in the platform's config dir): read at start, written atomically.
//! A damaged file is set aside with a warning and the defaults are used; it never stops the app.

use std::path::{Path, PathBuf};

use order_protocol::shell::Settings;

pub fn load(path: &Path) -> Settings {
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

pub fn save(path: &Path, settings: &Settings) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp: PathBuf = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(settings).map_err(std::io::Error::other)?)?;
    std::fs::rename(tmp, path)
}

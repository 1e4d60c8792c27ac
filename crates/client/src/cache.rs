//! The local cache: the last known orders, inbox and `seq`, so a restart shows them at once, even offline.
//!
//! One JSON file per data dir, written atomically (a temporary file, fsync, rename), so a crash mid-write
//! leaves the previous version. The file names the server and user it belongs to: addresses and phone numbers
//! are personal data, so another user's or another server's cache is wiped, never shown. A file that cannot be
//! read as ours (corrupted, or written by something else) is set aside with a warning, never a crash.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::book::Persisted;

const FILE: &str = "live-orders-cache.json";
const FORMAT: &str = "live-orders-cache/1";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CacheFile {
    format: String,
    api_url: String,
    user_id: String,
    state: Persisted,
}

/// What loading found.
#[derive(Debug, PartialEq)]
pub enum Loaded {
    /// Our state, for this server and user.
    State(Box<Persisted>),
    /// No usable cache (none, another user's or server's: wiped, or unreadable: set aside).
    Nothing,
}

/// The cache file in a data dir.
#[derive(Clone, Debug)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(FILE)
    }

    pub fn load(&self, api_url: &str, user_id: &str) -> Loaded {
        let path = self.path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Loaded::Nothing,
            Err(e) => {
                tracing::warn!(path = %path.display(), "cache unreadable ({e}); starting empty");
                return Loaded::Nothing;
            }
        };
        match serde_json::from_slice::<CacheFile>(&bytes) {
            Ok(f) if f.format == FORMAT => {
                if f.api_url == api_url && f.user_id == user_id {
                    Loaded::State(Box::new(f.state))
                } else {
                    tracing::info!("cache belongs to another user or server; wiped");
                    self.clear();
                    Loaded::Nothing
                }
            }
            Ok(f) => {
                self.set_aside(&path, &format!("unknown format `{}`", f.format));
                Loaded::Nothing
            }
            Err(e) => {
                self.set_aside(&path, &e.to_string());
                Loaded::Nothing
            }
        }
    }

    fn set_aside(&self, path: &Path, why: &str) {
        let aside = path.with_extension(format!("bad-{}", chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f")));
        match std::fs::rename(path, &aside) {
            Ok(()) => tracing::warn!(aside = %aside.display(), "cache file not usable ({why}); set aside"),
            Err(e) => tracing::warn!("cache file not usable ({why}) and could not be set aside: {e}"),
        }
    }

    /// Writes atomically: never a half-written cache.
    pub fn save(&self, api_url: &str, user_id: &str, state: &Persisted) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let file = CacheFile {
            format: FORMAT.to_owned(),
            api_url: api_url.to_owned(),
            user_id: user_id.to_owned(),
            state: state.clone(),
        };
        let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
        let tmp = self.dir.join(format!("{FILE}.tmp-{}", std::process::id()));
        {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, self.path())
    }

    /// Wipes the cache (logout, user or server switch).
    pub fn clear(&self) {
        if let Err(e) = std::fs::remove_file(self.path()) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!("could not wipe the cache: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_foreign_and_corrupt_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cache");
        let cache = Cache::new(&dir);
        assert_eq!(cache.load("u", "alice"), Loaded::Nothing);
        let state = Persisted { last_seq: Some(7), watched: vec!["o1".into()], ..Persisted::default() };
        cache.save("u", "alice", &state).unwrap();
        assert_eq!(cache.load("u", "alice"), Loaded::State(Box::new(state.clone())));

        // Another user: wiped, not shown.
        assert_eq!(cache.load("u", "bob"), Loaded::Nothing);
        assert!(!cache.path().exists());

        // Corrupt: set aside, not a crash, and the next save works.
        std::fs::write(cache.path(), b"{not json").unwrap();
        assert_eq!(cache.load("u", "alice"), Loaded::Nothing);
        assert!(!cache.path().exists());
        let aside = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().contains(".bad-"));
        assert!(aside, "the corrupt file is kept aside");
        cache.save("u", "alice", &state).unwrap();
        assert!(matches!(cache.load("u", "alice"), Loaded::State(_)));
    }
}

//! The session token in the OS keychain: the Secret Service on Linux, the Keychain on macOS, the Credential
//! Manager on Windows (through `keyring`, those stores enabled explicitly), and on phones through `keyring-core`
//! with the platform's own store: Android's keystore-backed store, and iOS's data-protection keychain, readable
//! after the phone's first unlock so the app can refresh its session in the background while the phone is
//! locked. The two crates name their entries and errors alike, so one code path serves all five.
//!
//! When no keychain can be reached, the token is kept in memory only (the session ends with the app) and
//! [`KeychainStore::problem`] says why, for the UI to tell the user. It is never written anywhere else.

use std::sync::Mutex;

#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
use keyring::{Entry, Error as KeyringError};
#[cfg(any(target_os = "android", target_os = "ios"))]
use keyring_core::{Entry, Error as KeyringError};
use order_client::{MemoryTokenStore, Token, TokenStore, TokenStoreError};

/// The keychain's service name for our entries; the account is the backend's URL, so two backends keep
/// two sessions.
#[cfg(keychain)]
const SERVICE: &str = "app.liveorders.client";

pub(crate) struct KeychainStore {
    #[cfg(keychain)]
    entry: Option<Entry>,
    memory: MemoryTokenStore,
    problem: Mutex<Option<String>>,
}

impl KeychainStore {
    pub(crate) fn new(api_url: &str) -> KeychainStore {
        let store = KeychainStore {
            #[cfg(keychain)]
            entry: None,
            memory: MemoryTokenStore::default(),
            problem: Mutex::new(None),
        };
        store.open(api_url)
    }

    #[cfg(keychain)]
    fn open(mut self, api_url: &str) -> KeychainStore {
        match entry(api_url) {
            Ok(entry) => self.entry = Some(entry),
            Err(e) => self.set_problem(&e),
        }
        self
    }

    #[cfg(not(keychain))]
    fn open(self, _api_url: &str) -> KeychainStore {
        *self.problem.lock().expect("not poisoned") =
            Some("This platform has no keychain the app can use: you stay signed in only until the app quits.".into());
        self
    }

    /// Why the keychain cannot be used, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        self.problem.lock().ok().and_then(|p| p.clone())
    }

    #[cfg(keychain)]
    fn set_problem(&self, e: &dyn std::fmt::Display) {
        let text =
            format!("The system keychain is not available, so you stay signed in only until the app quits ({e}).");
        tracing::warn!("{text}");
        if let Ok(mut p) = self.problem.lock() {
            *p = Some(text);
        }
    }
}

/// The desktop's entry for the backend at `api_url`.
#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows"))]
fn entry(api_url: &str) -> Result<Entry, KeyringError> {
    Entry::new(SERVICE, api_url)
}

/// A phone's entry for the backend at `api_url`, in the platform's store (made the default once).
#[cfg(any(target_os = "android", target_os = "ios"))]
fn entry(api_url: &str) -> Result<Entry, KeyringError> {
    static STORE: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    let store = STORE.get_or_init(|| {
        #[cfg(target_os = "android")]
        let store = android_native_keyring_store::Store::new();
        #[cfg(target_os = "ios")]
        let store = apple_native_keyring_store::protected::Store::new();
        store.map(|s| keyring_core::set_default_store(s)).map_err(|e| e.to_string())
    });
    if let Err(e) = store {
        return Err(KeyringError::NoStorageAccess(e.clone().into()));
    }
    #[cfg(target_os = "ios")]
    {
        let after_first_unlock = std::collections::HashMap::from([("access-policy", "AfterFirstUnlockThisDeviceOnly")]);
        Entry::new_with_modifiers(SERVICE, api_url, &after_first_unlock)
    }
    #[cfg(target_os = "android")]
    Entry::new(SERVICE, api_url)
}

#[cfg(keychain)]
impl TokenStore for KeychainStore {
    fn load(&self) -> Result<Option<Token>, TokenStoreError> {
        if let Some(t) = self.memory.load()? {
            return Ok(Some(t));
        }
        let Some(entry) = &self.entry else { return Ok(None) };
        match entry.get_password() {
            Ok(secret) => Ok(Some(Token::new(secret))),
            Err(KeyringError::NoEntry) => Ok(None),
            Err(e) => {
                self.set_problem(&e);
                Ok(None)
            }
        }
    }

    fn save(&self, token: &Token) -> Result<(), TokenStoreError> {
        if let Some(entry) = &self.entry {
            match entry.set_password(token.expose()) {
                Ok(()) => {
                    let _ = self.memory.clear();
                    if let Ok(mut p) = self.problem.lock() {
                        *p = None;
                    }
                    return Ok(());
                }
                Err(e) => self.set_problem(&e),
            }
        }
        self.memory.save(token)
    }

    fn clear(&self) -> Result<(), TokenStoreError> {
        self.memory.clear()?;
        let Some(entry) = &self.entry else { return Ok(()) };
        match entry.delete_credential() {
            Ok(()) | Err(KeyringError::NoEntry) => Ok(()),
            Err(e) => Err(TokenStoreError(format!("could not remove the session from the keychain: {e}"))),
        }
    }
}

#[cfg(not(keychain))]
impl TokenStore for KeychainStore {
    fn load(&self) -> Result<Option<Token>, TokenStoreError> {
        self.memory.load()
    }
    fn save(&self, token: &Token) -> Result<(), TokenStoreError> {
        self.memory.save(token)
    }
    fn clear(&self) -> Result<(), TokenStoreError> {
        self.memory.clear()
    }
}

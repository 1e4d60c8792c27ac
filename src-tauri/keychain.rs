//! The session token in the OS keychain (Secret Service on Linux, Keychain on Apple, Credential Manager on
//! Windows), through `keyring` with those stores enabled explicitly.
//!
//! When no keychain can be reached, the token is kept in memory only (the session ends with the app) and
//! [`KeychainStore::problem`] says why, for the UI to tell the user. It is never written anywhere else.

use std::sync::Mutex;

use order_client::{MemoryTokenStore, Token, TokenStore, TokenStoreError};

/// The keychain's service name for our entries; the account is the backend's URL, so two backends keep
/// two sessions.
pub(crate) const SERVICE: &str = "app.liveorders.client";

pub(crate) struct KeychainStore {
    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows", target_os = "ios"))]
    entry: Option<keyring::Entry>,
    memory: MemoryTokenStore,
    problem: Mutex<Option<String>>,
}

impl KeychainStore {
    pub(crate) fn new(api_url: &str) -> KeychainStore {
        let store = KeychainStore {
            #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows", target_os = "ios"))]
            entry: None,
            memory: MemoryTokenStore::default(),
            problem: Mutex::new(None),
        };
        store.open(api_url)
    }

    #[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows", target_os = "ios"))]
    fn open(mut self, api_url: &str) -> KeychainStore {
        match keyring::Entry::new(SERVICE, api_url) {
            Ok(entry) => self.entry = Some(entry),
            Err(e) => self.set_problem(&e),
        }
        self
    }

    #[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows", target_os = "ios")))]
    fn open(self, _api_url: &str) -> KeychainStore {
        *self.problem.lock().expect("not poisoned") =
            Some("This platform has no keychain the app can use: you stay signed in only until the app quits.".into());
        self
    }

    /// Why the keychain cannot be used, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        self.problem.lock().ok().and_then(|p| p.clone())
    }

    fn set_problem(&self, e: &dyn std::fmt::Display) {
        let text =
            format!("The system keychain is not available, so you stay signed in only until the app quits ({e}).");
        tracing::warn!("{text}");
        if let Ok(mut p) = self.problem.lock() {
            *p = Some(text);
        }
    }
}

#[cfg(any(target_os = "linux", target_os = "macos", target_os = "windows", target_os = "ios"))]
impl TokenStore for KeychainStore {
    fn load(&self) -> Result<Option<Token>, TokenStoreError> {
        if let Some(t) = self.memory.load()? {
            return Ok(Some(t));
        }
        let Some(entry) = &self.entry else { return Ok(None) };
        match entry.get_password() {
            Ok(secret) => Ok(Some(Token::new(secret))),
            Err(keyring::Error::NoEntry) => Ok(None),
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
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(TokenStoreError(format!("could not remove the session from the keychain: {e}"))),
        }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows", target_os = "ios")))]
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

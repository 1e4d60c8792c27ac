//! Where the session token lives. The engine never decides that: the app gives it a keychain-backed store,
//! tests and `order-watch` a memory one. A [`Token`] never prints itself, so it cannot end up in a log line.

use std::sync::Mutex;

/// A JWT. `Debug` and `Display` are redacted; [`Token::expose`] is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(s: impl Into<String>) -> Token {
        Token(s.into())
    }

    /// The secret itself: for the `Authorization` header and the handshake auth payload only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The unverified claims (`userId`, `email`, `role`, `exp`). Only for local decisions (when to refresh,
    /// whose cache this is); the server is the one that verifies.
    pub fn claims(&self) -> Option<Claims> {
        let payload = self.0.split('.').nth(1)?;
        serde_json::from_slice(&base64url_decode(payload)?).ok()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// The claims of the contract's JWT.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    #[serde(default)]
    pub exp: Option<i64>,
}

fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Why the token store failed (a locked keychain, say).
#[derive(Debug, thiserror::Error)]
#[error("token store: {0}")]
pub struct TokenStoreError(pub String);

/// Load, save, clear: all the engine asks of a secret store.
pub trait TokenStore: Send + Sync + 'static {
    fn load(&self) -> Result<Option<Token>, TokenStoreError>;
    fn save(&self, token: &Token) -> Result<(), TokenStoreError>;
    fn clear(&self) -> Result<(), TokenStoreError>;
}

/// A store that forgets on exit: tests and `order-watch`.
#[derive(Default)]
pub struct MemoryTokenStore(Mutex<Option<Token>>);

impl MemoryTokenStore {
    pub fn new(token: Option<Token>) -> MemoryTokenStore {
        MemoryTokenStore(Mutex::new(token))
    }
}

impl TokenStore for MemoryTokenStore {
    fn load(&self) -> Result<Option<Token>, TokenStoreError> {
        Ok(self.0.lock().map_err(|_| TokenStoreError("poisoned".into()))?.clone())
    }
    fn save(&self, token: &Token) -> Result<(), TokenStoreError> {
        *self.0.lock().map_err(|_| TokenStoreError("poisoned".into()))? = Some(token.clone());
        Ok(())
    }
    fn clear(&self) -> Result<(), TokenStoreError> {
        *self.0.lock().map_err(|_| TokenStoreError("poisoned".into()))? = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_read_and_the_token_never_prints() {
        // header.payload.signature with payload {"userId":"u1","email":"a@x","role":"customer","exp":2000000000}
        let payload = "eyJ1c2VySWQiOiJ1MSIsImVtYWlsIjoiYUB4Iiwicm9sZSI6ImN1c3RvbWVyIiwiZXhwIjoyMDAwMDAwMDAwfQ";
        let t = Token::new(format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig"));
        let c = t.claims().expect("claims");
        assert_eq!(c.user_id.as_deref(), Some("u1"));
        assert_eq!(c.exp, Some(2_000_000_000));
        assert!(!format!("{t:?}").contains(payload));
        assert_eq!(Token::new("not-a-jwt").claims(), None);
    }
}

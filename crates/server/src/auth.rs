//! JWT sessions: HS256 tokens with the contract's claims `{userId, email, role, exp}` plus an id (`jti`) so a
//! logout can revoke one token server-side, and the secret they are signed with.
//!
//! The secret comes from the configuration (a file or the environment); when none is given, one is generated
//! on first start and kept beside the database with mode 0600, so tokens survive restarts and no secret is
//! ever hard-coded.

use std::path::Path;
use std::time::Duration;

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use order_protocol::{Role, User};
use serde::{Deserialize, Serialize};

/// The claims of our tokens; `userId`, `email`, `role`, `exp` are what the contract names.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
}

/// Why a token was refused. The texts go to clients, so they say what is wrong and never echo the token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("no token was given")]
    Missing,
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid,
    #[error("the token was revoked")]
    Revoked,
}

/// Signs and checks tokens.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("secret", &"<redacted>").field("ttl", &self.ttl).finish()
    }
}

impl Keys {
    pub fn new(secret: &[u8], ttl: Duration) -> Keys {
        Keys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret), ttl }
    }

    /// A fresh token for `user`, valid for the configured lifetime.
    pub fn issue(&self, user: &User) -> String {
        let now = chrono::Utc::now().timestamp();
        self.issue_with_exp(user, now + self.ttl.as_secs() as i64)
    }

    /// A token with a chosen expiry (tests use it for expired tokens).
    pub fn issue_with_exp(&self, user: &User, exp: i64) -> String {
        let claims = Claims {
            user_id: user.id.clone(),
            email: user.email.clone(),
            role: user.role,
            exp,
            iat: chrono::Utc::now().timestamp(),
            jti: format!("{:032x}", rand::random::<u128>()),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).expect("HS256 signing cannot fail")
    }

    /// Checks signature, algorithm and expiry (revocation is the store's business).
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if token.trim().is_empty() {
            return Err(TokenError::Missing);
        }
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 5;
        v.set_required_spec_claims(&["exp"]);
        decode::<Claims>(token.trim(), &self.decoding, &v).map(|d| d.claims).map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            _ => TokenError::Invalid,
        })
    }
}

/// The secret in a file or variable's text, trimmed; `source` names it in the error when it is too short.
pub fn secret_from_text(text: &[u8], source: &str) -> anyhow::Result<Vec<u8>> {
    let trimmed = String::from_utf8_lossy(text).trim().as_bytes().to_vec();
    anyhow::ensure!(trimmed.len() >= 16, "the JWT secret in {source} is shorter than 16 bytes");
    Ok(trimmed)
}

/// Reads the secret file given by the user, or loads/creates the generated one in `data_dir`.
pub fn load_or_create_secret(given: Option<&Path>, data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context as _;
    if let Some(path) = given {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read the JWT secret file {}", path.display()))?;
        return secret_from_text(&bytes, &path.display().to_string());
    }
    let path = data_dir.join("jwt-secret");
    if path.exists() {
        return load_or_create_secret(Some(&path), data_dir);
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let secret = format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>());
    write_private(&path, secret.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new JWT secret");
    Ok(secret.into_bytes())
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        User::new("u1", "Alice", "alice@example.com", Role::Customer)
    }

    #[test]
    fn a_token_round_trips_and_a_wrong_secret_or_expiry_is_refused() {
        let keys = Keys::new(b"0123456789abcdef0123", Duration::from_secs(60));
        let claims = keys.verify(&keys.issue(&alice())).unwrap();
        assert_eq!((claims.user_id.as_str(), claims.role), ("u1", Role::Customer));
        let other = Keys::new(b"another-secret-of-enough-length", Duration::from_secs(60));
        assert_eq!(other.verify(&keys.issue(&alice())).unwrap_err(), TokenError::Invalid);
        let old = keys.issue_with_exp(&alice(), chrono::Utc::now().timestamp() - 120);
        assert_eq!(keys.verify(&old).unwrap_err(), TokenError::Expired);
        assert_eq!(keys.verify("garbage").unwrap_err(), TokenError::Invalid);
        assert_eq!(keys.verify(" ").unwrap_err(), TokenError::Missing);
    }

    #[test]
    fn a_generated_secret_is_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_secret(None, dir.path()).unwrap();
        let b = load_or_create_secret(None, dir.path()).unwrap();
        assert_eq!(a, b);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("jwt-secret")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

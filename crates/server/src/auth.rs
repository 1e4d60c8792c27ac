//! JWT sessions: HS256 tokens with the contract's claims `{userId, email, role, exp}` plus the token's id
//! (`jti`) and its sign-in (`fam`, the token family every refresh of one sign-in shares), so the store can tell
//! a current token from a replaced or ended one; and the secret they are signed with.
//!
//! The secret comes from the configuration (a file or the environment); when none is given, one is generated
//! on first start and kept beside the database with mode 0600, so tokens survive restarts and no secret is
//! ever hard-coded.

use std::path::Path;

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
    /// The sign-in (token family) this token belongs to.
    pub fam: String,
}

impl Claims {
    /// Fresh claims (a new `jti`) for `user` in sign-in `family`, expiring at `exp`.
    pub fn new(user: &User, family: &str, exp: i64) -> Claims {
        Claims {
            user_id: user.id.clone(),
            email: user.email.clone(),
            role: user.role,
            exp,
            iat: chrono::Utc::now().timestamp(),
            jti: new_token_id(),
            fam: family.to_owned(),
        }
    }
}

/// A random id for a token or a sign-in.
pub fn new_token_id() -> String {
    format!("{:032x}", rand::random::<u128>())
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
    /// A refresh replaced it; it was accepted a short while after, for requests already under way.
    #[error("the token was replaced by a newer one")]
    Replaced,
    #[error("the session expired")]
    SessionExpired,
    #[error("the account's role changed; sign in again")]
    RoleChanged,
}

/// Signs and checks tokens.
#[derive(Clone)]
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("secret", &"<redacted>").finish()
    }
}

impl Keys {
    pub fn new(secret: &[u8]) -> Keys {
        Keys { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret) }
    }

    /// The signed token of `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding).expect("HS256 signing cannot fail")
    }

    /// Checks signature, algorithm and expiry (whether the token is still its sign-in's is the store's business).
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

/// Where the generated secret of the database at `db` is kept: beside it, named after it, so each database has
/// its own (a token of one backend must not open another kept in the same folder).
pub fn generated_secret_path(db: &Path) -> std::path::PathBuf {
    let mut name = db.file_name().map(std::ffi::OsString::from).unwrap_or_else(|| "orders.db".into());
    name.push(".jwt-secret");
    db.with_file_name(name)
}

/// Reads the secret file given by the user, or loads/creates the generated one of the database at `db`.
pub fn load_or_create_secret(given: Option<&Path>, db: &Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context as _;
    if let Some(path) = given {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read the JWT secret file {}", path.display()))?;
        return secret_from_text(&bytes, &path.display().to_string());
    }
    let path = generated_secret_path(db);
    if path.exists() {
        return load_or_create_secret(Some(&path), db);
    }
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let secret = format!("{:032x}{:032x}", rand::random::<u128>(), rand::random::<u128>());
    // Written whole under a private name, then linked into place: a server starting at the same moment either
    // finds no file or a complete one, and the first link wins.
    let tmp = path.with_file_name(format!(
        ".{}.{:016x}",
        path.file_name().unwrap_or_default().display(),
        rand::random::<u64>()
    ));
    write_private(&tmp, secret.as_bytes()).with_context(|| format!("cannot write {}", tmp.display()))?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated a new JWT secret");
            Ok(secret.into_bytes())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_secret(Some(&path), db),
        Err(e) => Err(e).with_context(|| format!("cannot write {}", path.display())),
    }
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
        let keys = Keys::new(b"0123456789abcdef0123");
        let now = chrono::Utc::now().timestamp();
        let token = keys.sign(&Claims::new(&alice(), "f1", now + 60));
        let claims = keys.verify(&token).unwrap();
        assert_eq!((claims.user_id.as_str(), claims.role, claims.fam.as_str()), ("u1", Role::Customer, "f1"));
        let other = Keys::new(b"another-secret-of-enough-length");
        assert_eq!(other.verify(&token).unwrap_err(), TokenError::Invalid);
        let old = keys.sign(&Claims::new(&alice(), "f1", now - 120));
        assert_eq!(keys.verify(&old).unwrap_err(), TokenError::Expired);
        assert_eq!(keys.verify("garbage").unwrap_err(), TokenError::Invalid);
        assert_eq!(keys.verify(" ").unwrap_err(), TokenError::Missing);
    }

    #[test]
    fn a_generated_secret_is_private_stable_and_its_databases_own() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        let a = load_or_create_secret(None, &db).unwrap();
        let b = load_or_create_secret(None, &db).unwrap();
        assert_eq!(a, b);
        let other = load_or_create_secret(None, &dir.path().join("b.db")).unwrap();
        assert_ne!(a, other, "two databases in one folder have two secrets");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("a.db.jwt-secret")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    /// Servers started together on one database agree on one secret, and none fails.
    #[test]
    fn servers_starting_together_share_one_generated_secret() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("orders.db");
        let secrets: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8).map(|_| s.spawn(|| load_or_create_secret(None, &db).unwrap())).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(secrets.windows(2).all(|w| w[0] == w[1]));
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("orders.db.jwt-secret")], "no temporary file left");
    }
}

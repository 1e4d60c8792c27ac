//! Users and their argon2 password hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use order_protocol::{Role, User};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{new_id, now, Result, Store, StoreError};

/// A user row; the hash never leaves the store module except to be verified.
#[derive(Clone, Debug)]
pub struct UserRecord {
    pub user: User,
    password_hash: String,
}

fn role_from(s: &str) -> Role {
    match s {
        "store_owner" => Role::StoreOwner,
        _ => Role::Customer,
    }
}

fn record((id, name, email, role, hash): (String, String, String, String, String)) -> UserRecord {
    UserRecord { user: User::new(id, name, email, role_from(&role)), password_hash: hash }
}

impl UserRecord {
    /// Checks a password against the stored hash, off the async threads (argon2 is slow on purpose).
    pub async fn verify(&self, password: &str) -> bool {
        let hash = self.password_hash.clone();
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
        })
        .await
        .unwrap_or(false)
    }
}

/// Hashes a password with a fresh salt.
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| StoreError::Hash(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Hash(e.to_string()))
    })
    .await
    .map_err(|e| StoreError::Hash(e.to_string()))?
}

/// What a valid token stands for now.
#[derive(Debug)]
pub enum SignedIn {
    /// Shared with the sign-in memory and with the sessions of the sockets it authenticated.
    User(Arc<User>),
    /// The token was revoked (logout).
    Revoked,
    /// The account is gone.
    NoAccount,
}

/// How long a token found valid is taken as valid without asking the database again. Every request is
/// authenticated, and that query was a hop to sqlx's thread and back on each one, which bounded how many
/// changes a busy store owner could make a second. A logout here takes effect at once; a revocation or a
/// deleted account seen only in the database (another instance) within this long.
const SIGNED_IN_FRESH: Duration = Duration::from_secs(2);

/// How long a token logged out here is kept from being remembered again: a request that read the database
/// just before the logout committed must not put the token back.
const REVOKED_KEEP: Duration = Duration::from_secs(60);

/// More tokens than this remembered at once: forget the valid ones rather than grow.
const SIGNED_IN_MAX: usize = 4096;

/// One remembered token. Kept small (the user behind an `Arc`, without the password hash): every client that
/// signed in within `SIGNED_IN_MAX` sign-ins has a slot, which a heap profile of the fan-out bench's 1,000
/// idle clients counted at 0.4 KiB per connection when the whole record was stored inline.
enum Recent {
    Valid { checked: Instant, user: Arc<User> },
    LoggedOut { at: Instant },
}

/// Tokens by their id (`jti`): found valid lately, or logged out here.
#[derive(Default)]
pub(super) struct RecentSignIns(Mutex<HashMap<String, Recent>>);

impl RecentSignIns {
    fn get(&self, user_id: &str, jti: &str) -> Option<Arc<User>> {
        match self.0.lock().expect("not poisoned").get(jti)? {
            Recent::Valid { checked, user } if checked.elapsed() < SIGNED_IN_FRESH && user.id == user_id => {
                Some(user.clone())
            }
            _ => None,
        }
    }

    fn put(&self, jti: &str, user: &Arc<User>) {
        let mut map = self.0.lock().expect("not poisoned");
        if let Some(Recent::LoggedOut { at }) = map.get(jti) {
            if at.elapsed() < REVOKED_KEEP {
                return;
            }
        }
        if map.len() >= SIGNED_IN_MAX {
            map.retain(|_, recent| match recent {
                Recent::Valid { checked, .. } => checked.elapsed() < SIGNED_IN_FRESH,
                Recent::LoggedOut { at } => at.elapsed() < REVOKED_KEEP,
            });
            if map.len() >= SIGNED_IN_MAX {
                map.retain(|_, recent| matches!(recent, Recent::LoggedOut { .. }));
            }
            if map.len() >= SIGNED_IN_MAX {
                map.clear();
            }
        }
        map.insert(jti.to_owned(), Recent::Valid { checked: Instant::now(), user: user.clone() });
    }

    fn logged_out(&self, jti: &str) {
        self.0.lock().expect("not poisoned").insert(jti.to_owned(), Recent::LoggedOut { at: Instant::now() });
    }
}

const COLUMNS: &str = "id, name, email, role, password_hash";

impl Store {
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE email = ?"))
            .bind(email.trim())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(record))
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(record))
    }

    /// Creates a user unless one with this email exists; returns the user either way.
    pub async fn ensure_user(&self, name: &str, email: &str, role: Role, password: &str) -> Result<User> {
        if let Some(existing) = self.user_by_email(email).await? {
            return Ok(existing.user);
        }
        let hash = hash_password(password).await?;
        let id = new_id();
        sqlx::query("INSERT INTO users (id, name, email, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&id)
            .bind(name)
            .bind(email)
            .bind(role.as_str())
            .bind(hash)
            .bind(now().to_rfc3339())
            .execute(&self.pool)
            .await?;
        Ok(User::new(id, name, email, role))
    }

    /// Every customer (for the simulator and the CLI).
    pub async fn customers(&self) -> Result<Vec<User>> {
        let rows = sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE role = 'customer' ORDER BY email"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(|r| record(r).user).collect())
    }

    /// Marks a token id as revoked until it would have expired anyway.
    pub async fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<()> {
        // Before the database write: a request that read the token as valid meanwhile cannot remember it.
        self.recently_signed_in.logged_out(jti);
        sqlx::query("INSERT OR IGNORE INTO revoked_tokens (jti, expires_at) VALUES (?, ?)")
            .bind(jti)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Who a token's claims name, and whether it was revoked: one query, as every request asks (answered
    /// from memory for a token found valid in the last `SIGNED_IN_FRESH`).
    pub async fn signed_in(&self, user_id: &str, jti: &str) -> Result<SignedIn> {
        if let Some(user) = self.recently_signed_in.get(user_id, jti) {
            return Ok(SignedIn::User(user));
        }
        type Row = (bool, Option<String>, Option<String>, Option<String>, Option<String>);
        let (revoked, id, name, email, role): Row = sqlx::query_as(
            "SELECT EXISTS(SELECT 1 FROM revoked_tokens WHERE jti = ?1), u.id, u.name, u.email, u.role \
             FROM (SELECT 1) LEFT JOIN users u ON u.id = ?2",
        )
        .bind(jti)
        .bind(user_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(match (revoked, id, name, email, role) {
            (true, ..) => SignedIn::Revoked,
            (false, Some(id), Some(name), Some(email), Some(role)) => {
                let user = Arc::new(User::new(id, name, email, role_from(&role)));
                self.recently_signed_in.put(jti, &user);
                SignedIn::User(user)
            }
            _ => SignedIn::NoAccount,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Arc<User> {
        Arc::new(User::new("u1", "Alice", "alice@example.com", Role::Customer))
    }

    /// A token is remembered only for its own user, and a logout wins over a request that read the token as
    /// valid just before it (and puts it back afterwards).
    #[test]
    fn a_logged_out_token_is_not_remembered_again() {
        let recent = RecentSignIns::default();
        recent.put("j1", &alice());
        assert_eq!(recent.get("u1", "j1").map(|u| u.email.clone()), Some("alice@example.com".into()));
        assert!(recent.get("u2", "j1").is_none(), "another user's claims do not match");
        recent.logged_out("j1");
        assert!(recent.get("u1", "j1").is_none());
        recent.put("j1", &alice());
        assert!(recent.get("u1", "j1").is_none(), "a late put after the logout is refused");
    }
}

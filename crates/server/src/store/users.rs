//! Users and their argon2 password hashes.

use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::Argon2;
use order_protocol::{DisconnectReason, Role, User};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::sessions::{judge, Verdict};
use super::{new_id, now, Backend, Result, Store, StoreError};
use crate::auth::{Claims, TokenError};

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
        verify_hash(self.password_hash.clone(), password).await
    }
}

/// Does the work of checking a password for an email that has no account: the same argon2 verification
/// against a hash made once with the same parameters, so the time of the answer does not tell which emails
/// exist.
pub async fn verify_nobody(password: &str) {
    static NOBODY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = match NOBODY.get() {
        Some(h) => h.clone(),
        None => {
            let made = hash_password(&format!("{:032x}", rand::random::<u128>())).await.unwrap_or_default();
            NOBODY.get_or_init(|| made).clone()
        }
    };
    verify_hash(hash, password).await;
}

async fn verify_hash(hash: String, password: &str) -> bool {
    let password = password.to_owned();
    on_hash_thread(move || verify_in_kept_memory(&hash, password.as_bytes())).await.unwrap_or(false)
}

/// Checks `password` against a PHC argon2 `hash` in memory this thread keeps from one check to the next: an
/// allocation of 19 MiB per check is kept by the allocator anyway, one more each time it lands elsewhere (a
/// login flood grew the server by 200 MiB over thirty checks), while this buffer is one per hashing thread.
fn verify_in_kept_memory(hash: &str, password: &[u8]) -> bool {
    use argon2::{Algorithm, Block, Params, Version};
    thread_local! {
        static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    let (Ok(algorithm), Ok(params)) = (Algorithm::try_from(parsed.algorithm), Params::try_from(&parsed)) else {
        return false;
    };
    let Ok(version) = parsed.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else { return false };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else { return false };
    let mut out = vec![0u8; expected.len()];
    let blocks = params.block_count();
    let argon2 = Argon2::new(algorithm, version, params);
    let computed = BLOCKS.with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.len() < blocks {
            kept.resize(blocks, Block::default());
        }
        argon2.hash_password_into_with_memory(password, salt, &mut out, &mut kept[..blocks]).is_ok()
    });
    // `Output`'s comparison takes the same time wherever the bytes differ.
    computed && argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// Hashes a password with a fresh salt.
pub async fn hash_password(password: &str) -> Result<String> {
    let password = password.to_owned();
    on_hash_thread(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| StoreError::Hash(e.to_string()))?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Hash(e.to_string()))
    })
    .await
    .unwrap_or_else(|| Err(StoreError::Hash("the hashing threads have stopped".into())))
}

/// Runs argon2 work on one of a few threads kept for it (one per core, at most 8), off the async threads.
///
/// Each argon2 call takes 19 MiB, and the allocator keeps that much in an arena per thread that ever ran one:
/// on tokio's blocking pool, which hands work to whichever of its many threads is free, a login flood left
/// over 250 MiB resident after some thirty logins (the abuse benchmark). On threads of its own it stays at
/// their number times 19 MiB.
async fn on_hash_thread<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    type Job = Box<dyn FnOnce() + Send>;
    static JOBS: std::sync::OnceLock<std::sync::mpsc::Sender<Job>> = std::sync::OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
        for i in 0..threads {
            let rx = rx.clone();
            let _ = std::thread::Builder::new().name(format!("order-hash-{i}")).spawn(move || loop {
                let job = rx.lock().expect("hash queue lock").recv();
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            });
        }
        tx
    });
    let (reply, answer) = tokio::sync::oneshot::channel();
    jobs.send(Box::new(move || {
        let _ = reply.send(work());
    }))
    .ok()?;
    answer.await.ok()
}

/// What a valid token stands for now.
#[derive(Debug)]
pub enum SignedIn {
    /// Shared with the sign-in memory and with the sessions of the sockets it authenticated.
    User(Arc<User>),
    /// The token is no longer its sign-in's, or the sign-in ended: why, in the token's terms.
    Refused(TokenError),
    /// The account is gone.
    NoAccount,
}

/// How long a token found valid is taken as valid without asking the database again. Every request is
/// authenticated, and that query was a hop to sqlx's thread and back on each one, which bounded how many
/// changes a busy store owner could make a second. A session ended here takes effect at once; one ended only
/// in the database (another process) within this long.
const SIGNED_IN_FRESH: Duration = Duration::from_secs(2);

/// How long a session ended here keeps its tokens from being remembered again: a request that read the
/// database just before the end committed must not put one back.
const ENDED_KEEP: Duration = Duration::from_secs(60);

/// More tokens than this remembered at once: forget the valid ones rather than grow.
const SIGNED_IN_MAX: usize = 4096;

/// One remembered token. Kept small (the user behind an `Arc`, without the password hash): every client that
/// signed in within `SIGNED_IN_MAX` sign-ins has a slot.
struct Recent {
    checked: Instant,
    user: Arc<User>,
    family: Box<str>,
}

/// A session ended here lately: one sign-in of a user, or all of them (`family` `None`).
struct Ended {
    at: Instant,
    user_id: String,
    family: Option<String>,
}

impl Ended {
    fn covers(&self, user_id: &str, family: &str) -> bool {
        self.at.elapsed() < ENDED_KEEP && self.user_id == user_id && self.family.as_deref().is_none_or(|f| f == family)
    }
}

/// Tokens found valid lately, by their id (`jti`), and the sessions ended here lately.
#[derive(Default)]
pub(super) struct RecentSignIns(Mutex<(HashMap<String, Recent>, Vec<Ended>)>);

impl RecentSignIns {
    fn get(&self, claims: &Claims) -> Option<Arc<User>> {
        let guard = self.0.lock().expect("not poisoned");
        match guard.0.get(&claims.jti)? {
            Recent { checked, user, family }
                if checked.elapsed() < SIGNED_IN_FRESH && user.id == claims.user_id && **family == *claims.fam =>
            {
                Some(user.clone())
            }
            _ => None,
        }
    }

    fn put(&self, claims: &Claims, user: &Arc<User>) {
        let mut guard = self.0.lock().expect("not poisoned");
        let (map, ended) = &mut *guard;
        ended.retain(|e| e.at.elapsed() < ENDED_KEEP);
        if ended.iter().any(|e| e.covers(&user.id, &claims.fam)) {
            return;
        }
        if map.len() >= SIGNED_IN_MAX {
            map.retain(|_, recent| recent.checked.elapsed() < SIGNED_IN_FRESH);
            if map.len() >= SIGNED_IN_MAX {
                map.clear();
            }
        }
        map.insert(
            claims.jti.clone(),
            Recent { checked: Instant::now(), user: user.clone(), family: claims.fam.as_str().into() },
        );
    }

    pub(super) fn ended(&self, user_id: &str, family: Option<&str>) {
        let mut guard = self.0.lock().expect("not poisoned");
        let (map, ended) = &mut *guard;
        map.retain(|_, r| !(r.user.id == user_id && family.is_none_or(|f| *r.family == *f)));
        ended.push(Ended { at: Instant::now(), user_id: user_id.to_owned(), family: family.map(str::to_owned) });
    }
}

const COLUMNS: &str = "id, name, email, role, password_hash";

impl Store {
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        // One account per address whatever its case: SQLite's column compares without case (NOCASE), and
        // PostgreSQL's unique index is on `lower(email)`.
        let matches = match self.backend {
            Backend::Sqlite => "email = $1",
            Backend::Postgres => "lower(email) = lower($1)",
        };
        let row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE {matches}"))
            .bind(email.trim())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(record))
    }

    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
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
        sqlx::query(
            "INSERT INTO users (id, name, email, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
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

    /// Who a token's claims name, and whether the token is still its sign-in's (`grace`: how long a replaced
    /// token stays accepted): one query, as every request asks (answered from memory for a token found valid in
    /// the last `SIGNED_IN_FRESH`).
    pub async fn signed_in(&self, claims: &Claims, grace: i64) -> Result<SignedIn> {
        if let Some(user) = self.recently_signed_in.get(claims) {
            return Ok(SignedIn::User(user));
        }
        let Some(family) = self.family(&claims.fam).await? else {
            return Ok(SignedIn::Refused(TokenError::Revoked));
        };
        match judge(&family, &claims.jti, chrono::Utc::now().timestamp(), grace) {
            Verdict::Valid => {}
            Verdict::Replaced => return Ok(SignedIn::Refused(TokenError::Replaced)),
            Verdict::Ended(reason) => return Ok(SignedIn::Refused(token_error(reason))),
        }
        let Some(record) = self.user_by_id(&claims.user_id).await? else {
            return Ok(SignedIn::NoAccount);
        };
        if record.user.role != claims.role {
            return Ok(SignedIn::Refused(TokenError::RoleChanged));
        }
        let user = Arc::new(record.user);
        self.recently_signed_in.put(claims, &user);
        Ok(SignedIn::User(user))
    }
}

/// How an ended sign-in reads as a refused token.
fn token_error(reason: DisconnectReason) -> TokenError {
    match reason {
        DisconnectReason::SessionExpired => TokenError::SessionExpired,
        DisconnectReason::RoleChanged => TokenError::RoleChanged,
        _ => TokenError::Revoked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Arc<User> {
        Arc::new(User::new("u1", "Alice", "alice@example.com", Role::Customer))
    }

    /// The check in kept memory agrees with argon2's own, and twice in a row on one thread.
    #[tokio::test]
    async fn a_password_check_in_kept_memory_matches_argon2() {
        use argon2::password_hash::PasswordVerifier;
        let hash = hash_password("right horse").await.unwrap();
        let parsed = PasswordHash::new(&hash).unwrap();
        assert!(Argon2::default().verify_password(b"right horse", &parsed).is_ok());
        for _ in 0..2 {
            assert!(verify_in_kept_memory(&hash, b"right horse"));
            assert!(!verify_in_kept_memory(&hash, b"wrong horse"));
        }
        assert!(!verify_in_kept_memory("not a hash", b"right horse"));
        assert!(verify_hash(hash.clone(), "right horse").await);
    }

    fn claims(jti: &str, family: &str) -> Claims {
        let mut c = Claims::new(&alice(), family, 0);
        c.jti = jti.into();
        c
    }

    /// A token is remembered only for its own user and sign-in, and an end wins over a request that read the
    /// token as valid just before it (and puts it back afterwards).
    #[test]
    fn an_ended_sessions_token_is_not_remembered_again() {
        let recent = RecentSignIns::default();
        recent.put(&claims("j1", "f1"), &alice());
        assert_eq!(recent.get(&claims("j1", "f1")).map(|u| u.email.clone()), Some("alice@example.com".into()));
        let mut other_user = claims("j1", "f1");
        other_user.user_id = "u2".into();
        assert!(recent.get(&other_user).is_none(), "another user's claims do not match");
        recent.put(&claims("j2", "f2"), &alice());
        recent.ended("u1", Some("f1"));
        assert!(recent.get(&claims("j1", "f1")).is_none());
        assert!(recent.get(&claims("j2", "f2")).is_some(), "another sign-in of the user lives on");
        recent.put(&claims("j1", "f1"), &alice());
        assert!(recent.get(&claims("j1", "f1")).is_none(), "a late put after the end is refused");
        recent.ended("u1", None);
        assert!(recent.get(&claims("j2", "f2")).is_none(), "every sign-in of the user ended");
    }
}

//! Sign-ins as token families, and the log of sessions that ended.
//!
//! A sign-in (a family) has one current token; a refresh replaces it (rotation) and the replaced one stays
//! accepted for `grace` more seconds, for requests already under way. Presenting any other token of the
//! family, or the replaced one after the grace, means a copy is in other hands: the whole family ends
//! (`session_revoked`). A family also has an absolute lifetime no refresh reaches past. Every end of a session
//! (logout, revocation, role change) is appended to `session_ends`, which every server process tails to
//! disconnect that session's sockets, whichever process ended it.

use order_protocol::{DisconnectReason, Role, User};
use sqlx::Row as _;

use super::{Backend, Result, Store, StoreError};
use crate::auth::{new_token_id, Claims};

/// What a family row says about one token of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FamilyState {
    pub current_jti: String,
    pub current_exp: i64,
    pub previous_jti: Option<String>,
    pub rotated_at: Option<i64>,
    pub ended: Option<DisconnectReason>,
}

/// Whether a token of a family is accepted now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The family's current token, or the one it just replaced within the grace.
    Valid,
    /// The family ended, for this reason.
    Ended(DisconnectReason),
    /// An older token of a living family: replaced.
    Replaced,
}

/// The rule every request's token is held to (pure, so it is tested by a table).
pub fn judge(family: &FamilyState, jti: &str, now: i64, grace: i64) -> Verdict {
    if let Some(reason) = family.ended {
        return Verdict::Ended(reason);
    }
    if family.current_jti == jti {
        return Verdict::Valid;
    }
    let just_replaced =
        family.previous_jti.as_deref() == Some(jti) && family.rotated_at.is_some_and(|t| now - t <= grace);
    if just_replaced {
        Verdict::Valid
    } else {
        Verdict::Replaced
    }
}

/// What a refresh did.
#[derive(Debug)]
pub enum Rotation {
    /// The new current token's claims.
    Rotated(Claims),
    /// The family ended before (or by) this refresh, for this reason.
    Ended(DisconnectReason),
}

/// One ended session, as tailed from `session_ends`.
#[derive(Clone, Debug)]
pub struct SessionEnd {
    pub id: i64,
    pub user_id: String,
    /// `None`: every session of the user.
    pub family: Option<String>,
    pub reason: DisconnectReason,
}

fn reason_from(s: &str) -> DisconnectReason {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).unwrap_or(DisconnectReason::SessionRevoked)
}

impl Store {
    /// A new sign-in of `user`: its family, and the claims of its first token (`token_ttl` seconds, never past the
    /// sign-in's `lifetime`).
    pub async fn start_session(&self, user: &User, token_ttl: i64, lifetime: i64) -> Result<Claims> {
        let now = chrono::Utc::now().timestamp();
        let family = new_token_id();
        let claims = Claims::new(user, &family, now + token_ttl.min(lifetime));
        sqlx::query(
            "INSERT INTO token_families (id, user_id, created_at, expires_at, current_jti, current_exp) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&family)
        .bind(&user.id)
        .bind(now)
        .bind(now + lifetime)
        .bind(&claims.jti)
        .bind(claims.exp)
        .execute(&self.pool)
        .await?;
        Ok(claims)
    }

    /// The state of `family`, if it exists.
    pub async fn family(&self, family: &str) -> Result<Option<FamilyState>> {
        let row = sqlx::query(
            "SELECT current_jti, current_exp, previous_jti, rotated_at, end_reason FROM token_families WHERE id = $1",
        )
        .bind(family)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| FamilyState {
            current_jti: r.get(0),
            current_exp: r.get(1),
            previous_jti: r.get(2),
            rotated_at: r.get(3),
            ended: r.get::<Option<String>, _>(4).map(|s| reason_from(&s)),
        }))
    }

    /// Replaces the token `claims` names by a new one (`token_ttl` seconds, capped by the sign-in's lifetime).
    /// The token just replaced, presented again within `grace`, gets the current token's twin (same id and
    /// expiry: a retried refresh is not a theft); any other replaced token ends the family.
    pub async fn rotate(&self, user: &User, claims: &Claims, token_ttl: i64, grace: i64) -> Result<Rotation> {
        let now = chrono::Utc::now().timestamp();
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "SELECT current_jti, current_exp, previous_jti, rotated_at, end_reason, expires_at, user_id \
             FROM token_families WHERE id = $1{}",
            self.for_update()
        ))
        .bind(&claims.fam)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Rotation::Ended(DisconnectReason::SessionRevoked));
        };
        let state = FamilyState {
            current_jti: row.get(0),
            current_exp: row.get(1),
            previous_jti: row.get(2),
            rotated_at: row.get(3),
            ended: row.get::<Option<String>, _>(4).map(|s| reason_from(&s)),
        };
        let (expires_at, owner): (i64, String) = (row.get(5), row.get(6));
        if owner != user.id {
            return Ok(Rotation::Ended(DisconnectReason::SessionRevoked));
        }
        match judge(&state, &claims.jti, now, grace) {
            Verdict::Ended(reason) => return Ok(Rotation::Ended(reason)),
            Verdict::Replaced => {
                self.recently_signed_in.ended(&user.id, Some(&claims.fam));
                self.end_family(&mut tx, &user.id, Some(&claims.fam), DisconnectReason::SessionRevoked, now).await?;
                tx.commit().await?;
                self.session_ended.notify_one();
                tracing::warn!(user = %user.id, "a replaced token was presented again: its sign-in is ended");
                return Ok(Rotation::Ended(DisconnectReason::SessionRevoked));
            }
            Verdict::Valid if claims.jti != state.current_jti => {
                let mut twin = Claims::new(user, &claims.fam, state.current_exp);
                twin.jti = state.current_jti;
                return Ok(Rotation::Rotated(twin));
            }
            Verdict::Valid => {}
        }
        if now >= expires_at {
            return Ok(Rotation::Ended(DisconnectReason::SessionExpired));
        }
        let next = Claims::new(user, &claims.fam, (now + token_ttl).min(expires_at));
        sqlx::query(
            "UPDATE token_families SET previous_jti = current_jti, rotated_at = $1, current_jti = $2, current_exp = $3 \
             WHERE id = $4",
        )
        .bind(now)
        .bind(&next.jti)
        .bind(next.exp)
        .bind(&claims.fam)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Rotation::Rotated(next))
    }

    /// Ends one sign-in of `user_id` (`family`) or all of them (`None`), and logs it for every process's sockets.
    pub async fn end_sessions(&self, user_id: &str, family: Option<&str>, reason: DisconnectReason) -> Result<()> {
        self.recently_signed_in.ended(user_id, family);
        let mut tx = self.begin_write().await?;
        self.end_family(&mut tx, user_id, family, reason, chrono::Utc::now().timestamp()).await?;
        tx.commit().await?;
        self.session_ended.notify_one();
        Ok(())
    }

    /// Changes the role of the account with `email` and ends its sessions (their tokens carry the old role).
    pub async fn set_role(&self, email: &str, role: Role) -> Result<User> {
        let record = self.user_by_email(email).await?.ok_or_else(|| StoreError::NotFound(format!("user {email}")))?;
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2")
            .bind(role.as_str())
            .bind(&record.user.id)
            .execute(&self.pool)
            .await?;
        self.end_sessions(&record.user.id, None, DisconnectReason::RoleChanged).await?;
        Ok(User::new(record.user.id, record.user.name, record.user.email, role))
    }

    /// Ended sessions logged after `after`, oldest first.
    pub async fn session_ends_after(&self, after: i64) -> Result<Vec<SessionEnd>> {
        let rows =
            sqlx::query("SELECT id, user_id, family, reason FROM session_ends WHERE id > $1 ORDER BY id LIMIT 1000")
                .bind(after)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|r| SessionEnd {
                id: r.get(0),
                user_id: r.get(1),
                family: r.get(2),
                reason: reason_from(r.get::<&str, _>(3)),
            })
            .collect())
    }

    /// The last ended session logged (0: none).
    pub async fn last_session_end(&self) -> Result<i64> {
        let (id,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM session_ends").fetch_one(&self.pool).await?;
        Ok(id)
    }

    /// Waits until this process ends a session (the tail of `session_ends` then looks at once).
    pub async fn session_ended(&self) {
        self.session_ended.notified().await;
    }
}

impl Store {
    async fn end_family(
        &self,
        tx: &mut sqlx::AnyConnection,
        user_id: &str,
        family: Option<&str>,
        reason: DisconnectReason,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE token_families SET ended_at = $1, end_reason = $2 \
             WHERE user_id = $3 AND ($4 IS NULL OR id = $4) AND ended_at IS NULL",
        )
        .bind(now)
        .bind(reason.as_str())
        .bind(user_id)
        .bind(family)
        .execute(&mut *tx)
        .await?;
        // A device registered by a sign-in that ended must not go on showing that customer's orders.
        sqlx::query("DELETE FROM devices WHERE user_id = $1 AND ($2 IS NULL OR family = $2)")
            .bind(user_id)
            .bind(family)
            .execute(&mut *tx)
            .await?;
        // On PostgreSQL the id comes from `counters`, in commit order, for every instance's tailer.
        let insert = match self.backend {
            Backend::Sqlite => "INSERT INTO session_ends (user_id, family, reason, created_at) VALUES ($1, $2, $3, $4)",
            Backend::Postgres => {
                "WITH next AS (UPDATE counters SET value = value + 1 WHERE name = 'session_ends' RETURNING value) \
                 INSERT INTO session_ends (id, user_id, family, reason, created_at) SELECT value, $1, $2, $3, $4 FROM next"
            }
        };
        sqlx::query(insert).bind(user_id).bind(family).bind(reason.as_str()).bind(now).execute(&mut *tx).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family() -> FamilyState {
        FamilyState {
            current_jti: "b".into(),
            current_exp: 1000,
            previous_jti: Some("a".into()),
            rotated_at: Some(100),
            ended: None,
        }
    }

    #[test]
    fn a_token_is_accepted_only_while_it_is_its_sign_ins_own() {
        let grace = 10;
        let ended = FamilyState { ended: Some(DisconnectReason::SignedOut), ..family() };
        let table: &[(&FamilyState, &str, i64, Verdict)] = &[
            (&family(), "b", 100, Verdict::Valid),
            (&family(), "b", 900, Verdict::Valid),
            (&family(), "a", 105, Verdict::Valid),
            (&family(), "a", 110, Verdict::Valid),
            (&family(), "a", 111, Verdict::Replaced),
            (&family(), "z", 100, Verdict::Replaced),
            (&ended, "b", 100, Verdict::Ended(DisconnectReason::SignedOut)),
            (&ended, "a", 101, Verdict::Ended(DisconnectReason::SignedOut)),
        ];
        for (f, jti, now, want) in table {
            assert_eq!(judge(f, jti, *now, grace), *want, "token {jti} at {now}");
        }
    }
}

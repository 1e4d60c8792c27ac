//! Reading the change log: the dispatcher's tail, the `changes?since=` replay, and retention.

use chrono::{DateTime, Utc};
use order_protocol::{Change, ChangesResponse, Role, User};

use super::{meta_number, set_meta_number, Result, Store, StoreError};
use crate::events::Audience;

/// The `meta` key of the highest `seq` retention removed.
const PRUNED_THROUGH: &str = "pruned_through";

/// One stored event with what the dispatcher needs to address it.
#[derive(Clone, Debug)]
pub struct EventRow {
    pub seq: u64,
    /// Position of the event within its change.
    pub idx: u32,
    pub event: String,
    pub audience: Audience,
    /// The event's JSON text; `None` for a stored row that is not JSON.
    pub payload: Option<Box<serde_json::value::RawValue>>,
    pub order_id: String,
    pub customer_id: String,
}

impl Store {
    /// The highest `seq` ever assigned (0 for a new database), kept even when retention pruned the rows.
    pub async fn latest_seq(&self) -> Result<u64> {
        let (seq,): (i64,) = sqlx::query_as(self.latest_seq_sql()).fetch_one(&self.pool).await?;
        Ok(seq as u64)
    }

    /// The highest `seq` that retention removed (0 when nothing was removed).
    pub async fn pruned_through(&self) -> Result<u64> {
        Ok(meta_number(&self.pool, PRUNED_THROUGH).await?.unwrap_or(0))
    }

    /// Events after position (`seq`, `idx`), oldest first, for the dispatcher.
    pub async fn events_after(&self, seq: u64, idx: u32, limit: u32) -> Result<Vec<EventRow>> {
        let rows: Vec<(i64, i64, String, i64, String, String, String)> = sqlx::query_as(
            "SELECT e.seq, e.idx, e.event, e.audience, e.payload, c.order_id, c.customer_id \
             FROM change_events e JOIN changes c ON c.seq = e.seq \
             WHERE e.seq > $1 OR (e.seq = $1 AND e.idx > $2) ORDER BY e.seq, e.idx LIMIT $3",
        )
        .bind(seq as i64)
        .bind(i64::from(idx))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, idx, event, audience, payload, order_id, customer_id)| EventRow {
                seq: seq as u64,
                idx: idx as u32,
                // An unreadable row (written by something else than this server) is passed on without a
                // payload, which the dispatcher skips with an error, so one bad row cannot stop the feed.
                payload: serde_json::value::RawValue::from_string(payload)
                    .inspect_err(|e| tracing::error!(seq, idx, error = %e, "an unreadable stored event"))
                    .ok(),
                event,
                audience: Audience(audience as u8),
                order_id,
                customer_id,
            })
            .collect())
    }

    /// The events `user` would have received after `since` (a customer's own: their room and their orders'
    /// rooms; a store owner's: their room and every order room), at most `limit` changes of them, read in one
    /// transaction so the page and `latest_seq` are one snapshot. With more to come, `has_more` is set and
    /// `latest_seq` is the page's last change, where the next page starts (so a client that does not know
    /// paging still never skips a change). `Gone` outside the retained log.
    pub async fn changes_since(&self, user: &User, since: u64, limit: u32) -> Result<ChangesResponse> {
        let mut tx = self.begin_snapshot().await?;
        let (head,): (i64,) = sqlx::query_as(self.latest_seq_sql()).fetch_one(&mut *tx).await?;
        let head = head as u64;
        if since > head {
            return Err(StoreError::Gone {
                message: format!(
                    "since={since} is newer than the latest change ({head}): the server's data was recreated; \
                     reload the orders"
                ),
                latest_seq: head,
            });
        }
        let pruned = meta_number(&mut *tx, PRUNED_THROUGH).await?.unwrap_or(0);
        if since < pruned {
            return Err(StoreError::Gone {
                message: format!(
                    "changes up to {pruned} are no longer kept; reload the orders and continue from {head}"
                ),
                latest_seq: head,
            });
        }
        // The page's changes first (by the customer index, or the log's key for a store owner), one more than
        // asked to learn whether more follow, then their events.
        let owner = user.role == Role::StoreOwner;
        let mask = if owner { Audience::OWNERS | Audience::ORDER } else { Audience::CUSTOMER | Audience::ORDER };
        let seqs: Vec<(i64,)> = if owner {
            sqlx::query_as("SELECT seq FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2")
                .bind(since as i64)
                .bind(i64::from(limit) + 1)
                .fetch_all(&mut *tx)
                .await?
        } else {
            sqlx::query_as("SELECT seq FROM changes WHERE customer_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")
                .bind(&user.id)
                .bind(since as i64)
                .bind(i64::from(limit) + 1)
                .fetch_all(&mut *tx)
                .await?
        };
        let has_more = seqs.len() > limit as usize;
        let last = if has_more { seqs[limit as usize - 1].0 } else { seqs.last().map_or(since as i64, |s| s.0) };
        let rows: Vec<(i64, String, String)> = if seqs.is_empty() {
            Vec::new()
        } else if owner {
            sqlx::query_as(
                "SELECT seq, event, payload FROM change_events \
                 WHERE seq > $1 AND seq <= $2 AND (audience & $3) != 0 ORDER BY seq, idx",
            )
            .bind(since as i64)
            .bind(last)
            .bind(i64::from(mask.0))
            .fetch_all(&mut *tx)
            .await?
        } else {
            sqlx::query_as(
                "SELECT e.seq, e.event, e.payload FROM change_events e \
                 WHERE e.seq IN (SELECT seq FROM changes WHERE customer_id = $1 AND seq > $2 AND seq <= $3) \
                   AND (e.audience & $4) != 0 ORDER BY e.seq, e.idx",
            )
            .bind(&user.id)
            .bind(since as i64)
            .bind(last)
            .bind(i64::from(mask.0))
            .fetch_all(&mut *tx)
            .await?
        };
        tx.commit().await?;
        let changes = rows
            .into_iter()
            .map(|(seq, event, payload)| {
                Ok(Change { seq: seq as u64, event, payload: serde_json::from_str(&payload)? })
            })
            .collect::<Result<Vec<_>>>()?;
        let latest_seq = if has_more { last as u64 } else { head };
        Ok(ChangesResponse { latest_seq, changes, has_more })
    }

    /// Removes changes older than `before` (their events and notifications stay readable elsewhere) and
    /// expired token revocations. Returns how many changes were removed.
    pub async fn prune(&self, before: DateTime<Utc>) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        // A push still queued after a day is news nobody wants (its service may not even be configured now).
        let day_ago_ms = chrono::Utc::now().timestamp_millis() - 86_400_000;
        sqlx::query("DELETE FROM push_outbox WHERE created_at < $1").bind(day_ago_ms).execute(&mut *tx).await?;
        let cutoff = before.to_rfc3339();
        let (max,): (Option<i64>,) = sqlx::query_as("SELECT MAX(seq) FROM changes WHERE created_at < $1")
            .bind(&cutoff)
            .fetch_one(&mut *tx)
            .await?;
        let Some(max) = max else {
            tx.commit().await?;
            return Ok(0);
        };
        let removed =
            sqlx::query("DELETE FROM changes WHERE seq <= $1").bind(max).execute(&mut *tx).await?.rows_affected();
        set_meta_number(&mut *tx, PRUNED_THROUGH, max as u64).await?;
        let now = Utc::now().timestamp();
        // A sign-in whose last token expired can never be used again; an ended session's log entry has been
        // tailed by every process within seconds.
        sqlx::query("DELETE FROM token_families WHERE current_exp < $1 OR expires_at < $2")
            .bind(now - 3600)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM session_ends WHERE created_at < $1").bind(now - 86_400).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(removed)
    }
}

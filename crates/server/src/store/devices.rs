//! Devices that receive push, the push tailer's cursor, and the outbox of pushes not yet accepted by their
//! service (see `push/`).

use order_protocol::{names, CustomerNotification, OrderUpdate, PushMessage, PushPlatform};
use sqlx::Row as _;

use super::{meta_number, new_id, set_meta_number, Result, Store, StoreError};

/// The `meta` key of the push tailer's cursor.
const PUSH_CURSOR: &str = "push_cursor";

/// A customer keeps at most this many devices; registering one more forgets the oldest (phones are reset and
/// apps reinstalled without unregistering).
pub const DEVICES_PER_USER: i64 = 20;

/// Where one device receives push.
#[derive(Clone, PartialEq, Eq)]
pub enum PushAddress {
    /// An FCM registration token or an APNs device token.
    Token(PushPlatform, String),
    /// A Web Push subscription: its endpoint, public key and secret (base64url, as the browser gave them).
    WebPush { endpoint: String, p256dh: String, auth: String },
}

impl PushAddress {
    pub fn platform(&self) -> PushPlatform {
        match self {
            PushAddress::Token(p, _) => *p,
            PushAddress::WebPush { .. } => PushPlatform::Webpush,
        }
    }
}

impl std::fmt::Debug for PushAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} device", self.platform().service())
    }
}

/// A push waiting in the outbox, with where it goes.
#[derive(Clone, Debug)]
pub struct OutboxJob {
    pub id: i64,
    pub device_id: String,
    pub address: PushAddress,
    pub message: PushMessage,
    /// Tries already made.
    pub attempts: u32,
}

/// What became of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settled {
    /// The service took it, or refused it for good: the job is done.
    Done,
    /// Try again at this time (Unix milliseconds).
    RetryAt(i64),
    /// The service says the device no longer exists: it and its other jobs go.
    DeviceGone,
}

/// A customer notification found in the change log, and who it is for.
#[derive(Clone, Debug)]
pub struct Notable {
    pub customer_id: String,
    pub message: PushMessage,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Store {
    /// Registers a device for `user_id`, from the sign-in `family`. The same token (or endpoint) again is the same
    /// device, now of this user and sign-in; returns its id and whether it is new.
    pub async fn register_device(&self, user_id: &str, family: &str, address: &PushAddress) -> Result<(String, bool)> {
        let (token, p256dh, auth) = match address {
            PushAddress::Token(_, token) => (token.as_str(), None, None),
            PushAddress::WebPush { endpoint, p256dh, auth } => (endpoint.as_str(), Some(p256dh), Some(auth)),
        };
        let platform = address.platform().as_str();
        let mut tx = self.begin_write().await?;
        let existing: Option<(String,)> = sqlx::query_as("SELECT id FROM devices WHERE platform = $1 AND token = $2")
            .bind(platform)
            .bind(token)
            .fetch_optional(&mut *tx)
            .await?;
        let now = chrono::Utc::now().timestamp();
        let (id, created) = match existing {
            Some((id,)) => {
                sqlx::query(
                    "UPDATE devices SET user_id = $1, family = $2, p256dh = $3, auth = $4, created_at = $5 WHERE id = $6",
                )
                .bind(user_id)
                .bind(family)
                .bind(p256dh)
                .bind(auth)
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
                (id, false)
            }
            None => {
                let id = new_id();
                sqlx::query(
                    "INSERT INTO devices (id, user_id, family, platform, token, p256dh, auth, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&id)
                .bind(user_id)
                .bind(family)
                .bind(platform)
                .bind(token)
                .bind(p256dh)
                .bind(auth)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                (id, true)
            }
        };
        sqlx::query(
            "DELETE FROM devices WHERE user_id = $1 AND id NOT IN \
             (SELECT id FROM devices WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2)",
        )
        .bind(user_id)
        .bind(DEVICES_PER_USER)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((id, created))
    }

    /// Removes one of the user's devices; `NotFound` if it is not theirs.
    pub async fn remove_device(&self, user_id: &str, id: &str) -> Result<()> {
        let done = sqlx::query("DELETE FROM devices WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("device {id}")));
        }
        Ok(())
    }

    /// Where the push tailer stands: every change up to it has been turned into outbox jobs. `None` before its
    /// first run.
    pub async fn push_cursor(&self) -> Result<Option<u64>> {
        meta_number(&self.pool, PUSH_CURSOR).await
    }

    /// The customer notifications committed after `cursor`, at most `limit`, and the position they take the
    /// cursor to (past changes without one too), read as one snapshot.
    pub async fn notables_after(&self, cursor: u64, limit: u32) -> Result<(Vec<Notable>, u64)> {
        let mut tx = self.begin_snapshot().await?;
        let (head,): (i64,) = sqlx::query_as(self.latest_seq_sql()).fetch_one(&mut *tx).await?;
        let rows = sqlx::query(
            "SELECT n.seq, c.customer_id, n.payload, u.payload FROM change_events n \
             JOIN changes c ON c.seq = n.seq \
             JOIN change_events u ON u.seq = n.seq AND u.event = $1 \
             WHERE n.seq > $2 AND n.seq <= $3 AND n.event = $4 ORDER BY n.seq LIMIT $5",
        )
        .bind(names::CUSTOMER_ORDER_UPDATE)
        .bind(cursor as i64)
        .bind(head)
        .bind(names::CUSTOMER_NOTIFICATION)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let full = rows.len() == limit as usize;
        let mut notables = Vec::with_capacity(rows.len());
        let mut last = cursor;
        for row in rows {
            let seq = row.get::<i64, _>(0) as u64;
            last = seq;
            let note: CustomerNotification = match serde_json::from_str(row.get::<&str, _>(2)) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(seq, error = %e, "push: an unreadable stored notification, skipped");
                    continue;
                }
            };
            let update: OrderUpdate = match serde_json::from_str(row.get::<&str, _>(3)) {
                Ok(u) => u,
                Err(e) => {
                    tracing::error!(seq, error = %e, "push: an unreadable stored order update, skipped");
                    continue;
                }
            };
            notables.push(Notable {
                customer_id: row.get(1),
                created_at: note.created_at,
                message: PushMessage {
                    order_id: update.order_id,
                    order_number: update.order_number,
                    status: update.status,
                    kind: note.kind,
                    title: note.title,
                    body: note.message,
                    seq,
                },
            });
        }
        // A full page may end before the head: the next read starts after its last row.
        let next = if full { last } else { head as u64 };
        Ok((notables, next.max(cursor)))
    }

    /// Queues `message` for every device of each customer on the given platforms, and moves the cursor from
    /// `from` to `to`, in one transaction. Returns how many jobs were queued, or `None` when the cursor was not
    /// at `from` (another server process on this database queued them): nothing is queued twice.
    pub async fn enqueue_pushes(
        &self,
        pushes: &[(String, PushMessage)],
        platforms: &[PushPlatform],
        from: Option<u64>,
        to: u64,
    ) -> Result<Option<u64>> {
        let mut tx = self.begin_write().await?;
        // One tailer at a time moves the cursor (the push lease); the row lock makes sure of it on PostgreSQL.
        let cursor: Option<(String,)> =
            sqlx::query_as(&format!("SELECT value FROM meta WHERE key = $1{}", self.for_update()))
                .bind(PUSH_CURSOR)
                .fetch_optional(&mut *tx)
                .await?;
        if cursor.and_then(|(v,)| v.parse().ok()) != from {
            return Ok(None);
        }
        let now = now_ms();
        let mut queued = 0;
        for (customer, message) in pushes {
            let text = serde_json::to_string(message)?;
            for platform in platforms {
                queued += sqlx::query(
                    "INSERT INTO push_outbox (device_id, platform, seq, message, due_at, created_at) \
                     SELECT id, platform, $1, $2, $3, $4 FROM devices WHERE user_id = $5 AND platform = $6",
                )
                .bind(message.seq as i64)
                .bind(&text)
                .bind(now)
                .bind(now)
                .bind(customer)
                .bind(platform.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
        }
        set_meta_number(&mut *tx, PUSH_CURSOR, to).await?;
        tx.commit().await?;
        Ok(Some(queued))
    }

    /// Jobs of `platform` due now, at most `limit`: for each device its oldest job only, and none for the
    /// devices in `busy` (one of theirs is being sent). A device gets its pushes one at a time and in order, so
    /// the last it shows of an order is that order's latest news.
    pub async fn due_pushes(
        &self,
        platform: PushPlatform,
        limit: usize,
        busy: &std::collections::HashSet<String>,
    ) -> Result<Vec<OutboxJob>> {
        let rows = sqlx::query(
            "SELECT j.id, j.device_id, j.message, j.attempts, d.token, d.p256dh, d.auth \
             FROM push_outbox j JOIN devices d ON d.id = j.device_id \
             WHERE j.platform = $1 AND j.due_at <= $2 \
               AND j.id = (SELECT MIN(o.id) FROM push_outbox o WHERE o.device_id = j.device_id) \
             ORDER BY j.due_at, j.id LIMIT $3",
        )
        .bind(platform.as_str())
        .bind(now_ms())
        .bind((limit + busy.len()) as i64)
        .fetch_all(&self.pool)
        .await?;
        let mut jobs = Vec::new();
        for row in rows {
            let id: i64 = row.get(0);
            if busy.contains(row.get::<&str, _>(1)) {
                continue;
            }
            let message = match serde_json::from_str(row.get::<&str, _>(2)) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(job = id, error = %e, "push: an unreadable queued push, dropped");
                    sqlx::query("DELETE FROM push_outbox WHERE id = $1").bind(id).execute(&self.pool).await?;
                    continue;
                }
            };
            let token: String = row.get(4);
            let address = match (platform, row.get::<Option<String>, _>(5), row.get::<Option<String>, _>(6)) {
                (PushPlatform::Webpush, Some(p256dh), Some(auth)) => {
                    PushAddress::WebPush { endpoint: token, p256dh, auth }
                }
                (PushPlatform::Webpush, _, _) => continue,
                (p, _, _) => PushAddress::Token(p, token),
            };
            jobs.push(OutboxJob { id, device_id: row.get(1), address, message, attempts: row.get::<i64, _>(3) as u32 });
            if jobs.len() == limit {
                break;
            }
        }
        Ok(jobs)
    }

    /// When the next job of `platform` is due (Unix milliseconds), if any is queued.
    pub async fn next_push_due(&self, platform: PushPlatform) -> Result<Option<i64>> {
        let (due,): (Option<i64>,) = sqlx::query_as("SELECT MIN(due_at) FROM push_outbox WHERE platform = $1")
            .bind(platform.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(due)
    }

    /// How many pushes wait in the outbox.
    pub async fn queued_pushes(&self) -> Result<i64> {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM push_outbox").fetch_one(&self.pool).await?;
        Ok(n)
    }

    /// Records what became of sent jobs, in one transaction.
    pub async fn settle_pushes(&self, settled: &[(OutboxJob, Settled)]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for (job, what) in settled {
            match what {
                Settled::Done => {
                    sqlx::query("DELETE FROM push_outbox WHERE id = $1").bind(job.id).execute(&mut *tx).await?;
                }
                Settled::RetryAt(at) => {
                    sqlx::query("UPDATE push_outbox SET attempts = attempts + 1, due_at = $1 WHERE id = $2")
                        .bind(at)
                        .bind(job.id)
                        .execute(&mut *tx)
                        .await?;
                }
                Settled::DeviceGone => {
                    // Its other queued pushes go with it (ON DELETE CASCADE).
                    sqlx::query("DELETE FROM devices WHERE id = $1").bind(&job.device_id).execute(&mut *tx).await?;
                    sqlx::query("DELETE FROM push_outbox WHERE device_id = $1")
                        .bind(&job.device_id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

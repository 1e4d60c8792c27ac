//! Notifications with their read state kept on the server, so every device of one user agrees.

use order_protocol::{rooms, Role, StoredNotification, User};

use super::{Result, Store, StoreError};

/// The notifications room of a user: their customer room, or the store owners' room.
fn audience(user: &User) -> String {
    if user.role == Role::StoreOwner {
        rooms::STORE_OWNERS.to_owned()
    } else {
        rooms::customer(&user.id)
    }
}

/// A notification row: id, kind, title, message, order id, created at, read.
type Row = (String, String, String, String, Option<String>, String, i64);

/// How many notifications `GET /notifications` returns at most (newest first).
const LIST_LIMIT: i64 = 200;

impl Store {
    pub async fn notifications(&self, user: &User) -> Result<Vec<StoredNotification>> {
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT n.id, n.kind, n.title, n.message, n.order_id, n.created_at, \
                    CASE WHEN EXISTS (SELECT 1 FROM notification_reads r \
                                     WHERE r.notification_id = n.id AND r.user_id = $1) THEN 1 ELSE 0 END \
             FROM notifications n WHERE n.audience = $2 ORDER BY n.seq DESC, n.id LIMIT $3",
        )
        .bind(&user.id)
        .bind(audience(user))
        .bind(LIST_LIMIT)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(id, kind, title, message, order_id, created_at, read)| {
                let created_at = chrono::DateTime::parse_from_rfc3339(&created_at)
                    .map_err(|e| StoreError::Invalid(format!("stored notification time: {e}")))?
                    .with_timezone(&chrono::Utc);
                Ok(StoredNotification { id, kind, title, message, order_id, created_at, read: read != 0 })
            })
            .collect()
    }

    /// Marks one notification read; `NotFound` if it is not one of the user's.
    pub async fn mark_read(&self, user: &User, id: &str) -> Result<()> {
        let found: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM notifications WHERE id = $1 AND audience = $2")
            .bind(id)
            .bind(audience(user))
            .fetch_optional(&self.pool)
            .await?;
        if found.is_none() {
            return Err(StoreError::NotFound(format!("notification {id}")));
        }
        sqlx::query("INSERT INTO notification_reads (notification_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(&user.id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks every notification of the user read; returns how many were unread.
    pub async fn mark_all_read(&self, user: &User) -> Result<u64> {
        let done = sqlx::query(
            "INSERT INTO notification_reads (notification_id, user_id) \
             SELECT id, $1 FROM notifications WHERE audience = $2 ON CONFLICT DO NOTHING",
        )
        .bind(&user.id)
        .bind(audience(user))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}

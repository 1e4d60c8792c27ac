//! The store on PostgreSQL: several instances on one database, each with its own writer, its own tail of the
//! change log, and a doorbell (LISTEN/NOTIFY) that tells it another instance committed.
//!
//! - **Numbers in commit order.** Every writer transaction first locks the `changes` row of `counters` and
//!   counts each `seq` of its batch from it (writing it back before the commit), so transactions that write changes run one after the other across the
//!   instances, `seq` is gapless, and a change is visible before any change numbered after it (a reader that
//!   saw N can never later find a smaller number it missed). Batching many changes per transaction keeps that
//!   one lock cheap.
//! - **Doorbell.** A writer that committed changes sends `NOTIFY order_changes` in the same transaction (it is
//!   delivered at commit). Each instance LISTENs and rings the dispatcher's and the push tailer's bells; the
//!   dispatcher's poll remains the fallback, and the listener rings them once more after it reconnects, for
//!   whatever it may have missed.
//! - **Leases.** A task that must run once across the instances (push delivery, retention, the demo) runs
//!   while its instance holds a session advisory lock on a connection of its own; when that instance dies, its
//!   session ends, the lock is free and another instance takes the task over.

use std::sync::Arc;
use std::time::Duration;

use order_protocol::Order;
use sqlx::any::AnyPoolOptions;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection as _, PgConnection};
use tokio::sync::{mpsc, Notify};

use super::orders::{apply, WriteTx};
use super::writer::{gather, Job, Writer};
use super::{Backend, EventRow, Result, Store, StoreError};
use crate::events::NewNotification;

/// The channel of the doorbell.
const CHANGES_CHANNEL: &str = "order_changes";

/// How long a statement may wait for a lock or a busy server before it fails (and its caller hears why).
const STATEMENT_TIMEOUT: &str = "15s";

/// What the store keeps of PostgreSQL besides its `Any` pool: native connections for the writer, the
/// listener and leases.
#[derive(Clone)]
pub(super) struct Shared {
    native: PgPool,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    pub async fn close(&self) {
        let _ = self.stop.send(true);
        self.native.close().await;
    }
}

impl Store {
    /// Connects to `url`, applies the migrations (one instance at a time: sqlx takes an advisory lock), and
    /// starts the writer and the listener.
    pub(super) async fn open_postgres(url: &str) -> Result<Store> {
        let options: PgConnectOptions = url.parse()?;
        let options = options.options([("statement_timeout", STATEMENT_TIMEOUT)]).application_name("order-server");
        let native = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.clone())
            .await
            .map_err(unavailable)?;
        let pool = AnyPoolOptions::new()
            .max_connections(super::read_connections())
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    let set = format!("SET statement_timeout = '{STATEMENT_TIMEOUT}'");
                    sqlx::Executor::execute(&mut *conn, set.as_str()).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(unavailable)?;
        sqlx::migrate!("./migrations/postgres").run(&native).await?;
        let (sender, committed) = mpsc::unbounded_channel();
        let commit_bell = Arc::new(Notify::new());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(write(native.clone(), queue, sender, commit_bell.clone()));
        let shared = Shared { native: native.clone(), stop };
        let store = Store::assemble(
            pool,
            Backend::Postgres,
            Writer::Postgres(PgWriter(jobs)),
            Some(shared),
            committed,
            commit_bell.clone(),
        );
        tokio::spawn(listen(native, vec![store.doorbell(), commit_bell], stopped));
        Ok(store)
    }

    /// Holds the lease named `name` when no other instance does: `Some` while held (until the returned lease
    /// is dropped or its connection is lost). On SQLite there is one process per file, so it always has it.
    pub async fn try_lease(&self, name: &str) -> Result<Option<Lease>> {
        let Some(pg) = &self.postgres else { return Ok(Some(Lease(None))) };
        let mut conn = pg.native.acquire().await.map_err(unavailable)?.detach();
        let (held,): (bool,) =
            sqlx::query_as("SELECT pg_try_advisory_lock($1)").bind(lease_key(name)).fetch_one(&mut conn).await?;
        Ok(held.then_some(Lease(Some(conn))))
    }
}

/// Holding a task's lease (see [`Store::try_lease`]); dropping it closes its connection, which frees it.
pub struct Lease(Option<PgConnection>);

impl Lease {
    /// Resolves when the lease is lost: its connection failed (the database restarted, or the network). Never
    /// on SQLite.
    pub async fn lost(&mut self) {
        let Some(conn) = &mut self.0 else { return std::future::pending().await };
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let alive = tokio::time::timeout(Duration::from_secs(5), conn.ping()).await;
            if !matches!(alive, Ok(Ok(()))) {
                return;
            }
        }
    }
}

/// The advisory lock key of a lease name (a stable hash, FNV-1a, so every instance computes the same).
fn lease_key(name: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in format!("live-orders:{name}").bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

/// An error reaching the database, in words.
fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

/// The handle the store queues mutations on.
#[derive(Clone)]
pub struct PgWriter(mpsc::UnboundedSender<Job>);

impl PgWriter {
    pub(super) fn send(&self, job: Job) -> bool {
        self.0.send(job).is_ok()
    }
}

/// The writer task: batches waiting mutations into one transaction each, like SQLite's writer thread.
async fn write(
    pool: PgPool,
    mut queue: mpsc::UnboundedReceiver<Job>,
    committed: mpsc::UnboundedSender<Vec<EventRow>>,
    bell: Arc<Notify>,
) {
    while let Some(first) = queue.recv().await {
        let mut batch = gather(first, || queue.try_recv().ok());
        let mut events = Vec::new();
        match run_batch(&pool, &mut batch, &mut events).await {
            Ok(()) => {
                if !events.is_empty() {
                    let _ = committed.send(events);
                    bell.notify_one();
                }
                batch.into_iter().for_each(|job| job.answer(Ok(())));
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), "a batch of changes could not be committed");
                let failed = match e {
                    StoreError::Db(e) if super::is_connection_error(&e) => StoreError::Unavailable(e.to_string()),
                    other => other,
                };
                batch.into_iter().for_each(|job| job.answer(Err(&failed)));
            }
        }
    }
}

/// One batch in one transaction. Round trips are what a change costs here, so a change makes few: the rows
/// of `changes`, `change_events` and `notifications` are gathered and written once per batch, and `seq` is
/// counted in memory from the counter row read (and locked) at the start, which is written back at the end.
/// A mutation refused by its rules (not found, invalid, a conflict) is refused before it writes anything
/// (`orders::apply`), so it needs no savepoint; any other failure fails the whole batch, whose callers all
/// hear it, and nothing of it is committed.
async fn run_batch(pool: &PgPool, batch: &mut [Job], events: &mut Vec<EventRow>) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    // First, so every writer of every instance queues here and nowhere else (no deadlock on an order's row).
    let (head,): (i64,) =
        sqlx::query_as("SELECT value FROM counters WHERE name = 'changes' FOR UPDATE").fetch_one(&mut *tx).await?;
    let mut rows = Rows { next_seq: head as u64, ..Rows::default() };
    for job in batch.iter_mut() {
        let Some(mutation) = job.mutation.take() else { continue };
        let result = apply(&mut PgTx { conn: &mut tx, rows: &mut rows }, mutation, events).await;
        match result {
            Err(StoreError::NotFound(_) | StoreError::Invalid(_) | StoreError::Conflict(_)) | Ok(_) => {
                job.result = Some(result);
            }
            Err(other) => return Err(other),
        }
    }
    let last = rows.next_seq;
    if last > head as u64 {
        rows.write(&mut tx).await?;
        sqlx::query("UPDATE counters SET value = $1 WHERE name = 'changes'")
            .bind(last as i64)
            .execute(&mut *tx)
            .await?;
        sqlx::query("SELECT pg_notify($1, '')").bind(CHANGES_CHANNEL).execute(&mut *tx).await?;
    }
    Ok(tx.commit().await?)
}

/// The log rows of a batch, by column, written with one `INSERT … SELECT FROM UNNEST` per table.
#[derive(Default)]
struct Rows {
    /// The last `seq` handed out.
    next_seq: u64,
    change_seq: Vec<i64>,
    change_order: Vec<String>,
    change_customer: Vec<String>,
    change_kind: Vec<String>,
    change_at: Vec<String>,
    event_seq: Vec<i64>,
    event_idx: Vec<i64>,
    event_name: Vec<String>,
    event_audience: Vec<i64>,
    event_payload: Vec<String>,
    notes: Vec<(NewNotification, i64)>,
}

impl Rows {
    async fn write(self, conn: &mut PgConnection) -> Result<()> {
        sqlx::query(
            "INSERT INTO changes (seq, order_id, customer_id, kind, created_at) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])",
        )
        .bind(self.change_seq)
        .bind(self.change_order)
        .bind(self.change_customer)
        .bind(self.change_kind)
        .bind(self.change_at)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO change_events (seq, idx, event, audience, payload) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], $5::text[])",
        )
        .bind(self.event_seq)
        .bind(self.event_idx)
        .bind(self.event_name)
        .bind(self.event_audience)
        .bind(self.event_payload)
        .execute(&mut *conn)
        .await?;
        if !self.notes.is_empty() {
            let column =
                |f: &dyn Fn(&NewNotification) -> String| self.notes.iter().map(|(n, _)| f(n)).collect::<Vec<_>>();
            sqlx::query(
                "INSERT INTO notifications (id, audience, kind, title, message, order_id, created_at, seq) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                                      $7::text[], $8::bigint[])",
            )
            .bind(column(&|n| n.id.clone()))
            .bind(column(&|n| n.audience.clone()))
            .bind(column(&|n| n.kind.to_owned()))
            .bind(column(&|n| n.title.clone()))
            .bind(column(&|n| n.message.clone()))
            .bind(column(&|n| n.order_id.clone()))
            .bind(column(&|n| n.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
            .bind(self.notes.iter().map(|(_, seq)| *seq).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// The writer's statements on PostgreSQL: reads and the order's own row at once, the log's rows gathered.
struct PgTx<'c> {
    conn: &'c mut PgConnection,
    rows: &'c mut Rows,
}

impl WriteTx for PgTx<'_> {
    async fn next_order_number(&mut self) -> Result<i64> {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COALESCE(MAX(num), 1000) + 1 FROM orders").fetch_one(&mut *self.conn).await?;
        Ok(n)
    }

    async fn insert_order(&mut self, num: i64, order: &Order, doc: &str) -> Result<()> {
        sqlx::query("INSERT INTO orders (id, num, customer_id, status, doc) VALUES ($1, $2, $3, $4, $5)")
            .bind(&order.id)
            .bind(num)
            .bind(&order.customer)
            .bind(order.status.as_str())
            .bind(doc)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn order_and_name(&mut self, id: &str) -> Result<Option<(String, Option<String>)>> {
        Ok(sqlx::query_as(
            "SELECT o.doc, u.name FROM orders o LEFT JOIN users u ON u.id = o.customer_id WHERE o.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *self.conn)
        .await?)
    }

    async fn update_order(&mut self, order: &Order, doc: &str) -> Result<()> {
        sqlx::query("UPDATE orders SET status = $1, doc = $2 WHERE id = $3")
            .bind(order.status.as_str())
            .bind(doc)
            .bind(&order.id)
            .execute(&mut *self.conn)
            .await?;
        Ok(())
    }

    async fn insert_change(&mut self, order: &Order, kind: &str, at: &str) -> Result<u64> {
        // The counter row is locked by this batch: the next number is ours.
        let rows = &mut *self.rows;
        rows.next_seq += 1;
        rows.change_seq.push(rows.next_seq as i64);
        rows.change_order.push(order.id.clone());
        rows.change_customer.push(order.customer.clone());
        rows.change_kind.push(kind.to_owned());
        rows.change_at.push(at.to_owned());
        Ok(rows.next_seq)
    }

    async fn add_count(&mut self, scope: &str, status: &str, delta: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO order_counts (scope, status, n) VALUES ($1, $2, $3) \
             ON CONFLICT (scope, status) DO UPDATE SET n = order_counts.n + excluded.n",
        )
        .bind(scope)
        .bind(status)
        .bind(delta)
        .execute(&mut *self.conn)
        .await?;
        Ok(())
    }

    async fn counts(&mut self, scope: &str) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as("SELECT status, n FROM order_counts WHERE scope = $1")
            .bind(scope)
            .fetch_all(&mut *self.conn)
            .await?)
    }

    async fn insert_event(&mut self, seq: u64, idx: u32, event: &str, audience: u8, payload: &str) -> Result<()> {
        let rows = &mut *self.rows;
        rows.event_seq.push(seq as i64);
        rows.event_idx.push(i64::from(idx));
        rows.event_name.push(event.to_owned());
        rows.event_audience.push(i64::from(audience));
        rows.event_payload.push(payload.to_owned());
        Ok(())
    }

    async fn insert_notification(&mut self, n: &NewNotification, seq: u64) -> Result<()> {
        self.rows.notes.push((n.clone(), seq as i64));
        Ok(())
    }
}

/// LISTENs for other instances' commits and rings `bells`; reconnects (ringing them, as notifications sent
/// while it was away are lost) until the store closes.
async fn listen(pool: PgPool, bells: Vec<Arc<Notify>>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let ring = || bells.iter().for_each(|b| b.notify_one());
    let mut wait = Duration::from_millis(100);
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANGES_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let attempt = tokio::select! {
            l = connected => l,
            _ = stop.wait_for(|s| *s) => return,
        };
        let mut listener = match attempt {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other instances' changes; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                wait = (wait * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        wait = Duration::from_millis(100);
        ring();
        loop {
            tokio::select! {
                got = listener.try_recv() => match got {
                    Ok(Some(_)) => ring(),
                    Ok(None) | Err(_) => {
                        tracing::warn!("lost the database's change notifications; reconnecting");
                        break;
                    }
                },
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn lease_keys_are_stable_and_distinct() {
        assert_eq!(super::lease_key("push"), super::lease_key("push"));
        assert_ne!(super::lease_key("push"), super::lease_key("retention"));
    }
}

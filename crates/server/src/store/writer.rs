//! The store's one writer of orders, per process: on SQLite a thread of its own holding a rusqlite connection,
//! on PostgreSQL a task (`postgres.rs`).
//!
//! Callers queue mutations and await their answers. The writer takes every mutation waiting, runs each in a
//! savepoint of one transaction (a mutation that fails rolls back alone), commits once, and only then answers
//! the callers and hands the batch's events to the dispatcher, in `seq` order. Under load that is one commit
//! for many changes, and on SQLite no statement of a change waits on a hop between threads, which is what
//! bounded the server when each statement went through sqlx's worker. SQLite's checkpoints run on a second
//! thread (`checkpoint`), so commits do not wait for them: at peak in the fan-out bench that gave 7 % more
//! changes a second and a third of the delivery p99 under one change per client per second.

use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt as _;
use order_protocol::Order;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tokio::sync::{mpsc::UnboundedSender, oneshot, Notify};

use super::orders::{apply, Applied, Mutation, WriteTx};
use super::postgres::PgWriter;
use super::{EventRow, Result, StoreError};
use crate::events::NewNotification;

/// The most mutations committed together: enough to amortise a commit, small enough to answer quickly.
pub(super) const MAX_BATCH: usize = 256;

/// One queued mutation and where its answer goes.
pub(super) struct Job {
    pub mutation: Option<Mutation>,
    pub result: Option<Result<Applied>>,
    pub reply: oneshot::Sender<Result<Applied>>,
}

impl Job {
    /// Answers the caller once its batch committed, or with the reason the commit failed (`Unavailable`
    /// when the database could not be reached, else `Commit`).
    pub fn answer(self, commit: Result<(), &StoreError>) {
        let result = match (commit, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Commit("the change was not run".into())),
            (Err(StoreError::Unavailable(e)), _) => Err(StoreError::Unavailable(e.clone())),
            (Err(e), _) => Err(StoreError::Commit(e.to_string())),
        };
        let _ = self.reply.send(result);
    }
}

/// A batch: `first` and the jobs already waiting behind it (`next`), at most `MAX_BATCH`.
pub(super) fn gather(first: Job, mut next: impl FnMut() -> Option<Job>) -> Vec<Job> {
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match next() {
            Some(job) => batch.push(job),
            None => break,
        }
    }
    batch
}

/// The handle callers queue mutations on; cheap to clone.
#[derive(Clone)]
pub enum Writer {
    Sqlite(mpsc::Sender<Job>),
    Postgres(PgWriter),
}

impl Writer {
    /// Opens its own connection to `path` (already migrated) and starts the thread. Committed events go to
    /// `committed`, one batch at a time.
    pub fn start_sqlite(path: &Path, committed: UnboundedSender<Vec<EventRow>>, bell: Arc<Notify>) -> Result<Writer> {
        let conn = Connection::open(path)?;
        // The same settings as the pool's connections: WAL, and NORMAL sync (a killed process loses no
        // committed transaction; only a power cut could).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // Checkpoints (copying the WAL's pages into the database file) run on a thread of their own, so a
        // commit never waits for one: SQLite runs them in the committing connection by default.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpointer = Connection::open(path)?;
        checkpointer.busy_timeout(Duration::from_secs(10))?;
        let (wrote, nudges) = mpsc::sync_channel::<()>(1);
        std::thread::Builder::new()
            .name("order-checkpoint".into())
            .spawn(move || checkpoint(checkpointer, nudges))
            .map_err(|e| StoreError::Commit(format!("cannot start the checkpoint thread: {e}")))?;
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("order-writer".into())
            .spawn(move || run(conn, queue, committed, bell, wrote))
            .map_err(|e| StoreError::Commit(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer::Sqlite(jobs))
    }

    /// Runs `mutation` in the next batch's transaction and returns its result once that batch is committed.
    pub async fn write(&self, mutation: Mutation) -> Result<Applied> {
        let (reply, answer) = oneshot::channel();
        let job = Job { mutation: Some(mutation), result: None, reply };
        let sent = match self {
            Writer::Sqlite(jobs) => jobs.send(job).is_ok(),
            Writer::Postgres(pg) => pg.send(job),
        };
        if !sent {
            return Err(StoreError::Commit("the writer has stopped".into()));
        }
        answer.await.map_err(|_| StoreError::Commit("the writer stopped before answering".into()))?
    }
}

/// Copies committed pages from the WAL into the database file after writes, at most every `CHECKPOINT_EVERY`,
/// without blocking the writer (`PASSIVE`). Under a steady stream of commits the WAL would then never start
/// over and grow without end, so past `WAL_RESTART_FRAMES` a `RESTART` checkpoint makes the writer wait once
/// for the (by then small) rest to be copied. Ends with the writer.
fn checkpoint(conn: Connection, nudges: mpsc::Receiver<()>) {
    let run = |mode: &str| conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| r.get::<_, i64>(1));
    while nudges.recv().is_ok() {
        let result = match run("PASSIVE") {
            Ok(frames) if frames > WAL_RESTART_FRAMES => run("RESTART"),
            other => other,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "checkpoint failed");
        }
        std::thread::sleep(CHECKPOINT_EVERY);
    }
}

/// The least time between two checkpoints.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// The WAL's length (in pages of 4 KiB) past which a checkpoint makes it start over: 16 MiB.
const WAL_RESTART_FRAMES: i64 = 4096;

fn run(
    mut conn: Connection,
    queue: mpsc::Receiver<Job>,
    committed: UnboundedSender<Vec<EventRow>>,
    bell: Arc<Notify>,
    wrote: mpsc::SyncSender<()>,
) {
    // Ends when every `Writer` handle is gone.
    while let Ok(first) = queue.recv() {
        let batch = gather(first, || queue.try_recv().ok());
        let mut events = Vec::new();
        let mut batch = batch;
        match run_batch(&mut conn, &mut batch, &mut events) {
            Ok(()) => {
                // Handed over before the callers hear back, so a caller that saw its change committed
                // finds its events already on their way.
                if !events.is_empty() {
                    let _ = committed.send(events);
                    bell.notify_one();
                }
                // A nudge already waiting covers this batch too.
                let _ = wrote.try_send(());
                batch.into_iter().for_each(|job| job.answer(Ok(())));
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = batch.len(), "a batch of changes could not be committed");
                let failed = StoreError::Write(e);
                batch.into_iter().for_each(|job| job.answer(Err(&failed)));
            }
        }
    }
}

fn run_batch(conn: &mut Connection, batch: &mut [Job], events: &mut Vec<EventRow>) -> rusqlite::Result<()> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for job in batch.iter_mut() {
        let Some(mutation) = job.mutation.take() else { continue };
        let mark = events.len();
        let savepoint = tx.savepoint()?;
        let result = apply(&mut SqliteTx(&savepoint), mutation, events)
            .now_or_never()
            .expect("rusqlite's statements never wait");
        if result.is_ok() {
            savepoint.commit()?;
        } else {
            // Dropping the savepoint rolls the failed mutation back; its events were never committed.
            events.truncate(mark);
        }
        job.result = Some(result);
    }
    tx.commit()
}

/// The writer's statements on SQLite: synchronous, so each future is ready when first polled.
struct SqliteTx<'c>(&'c Connection);

impl WriteTx for SqliteTx<'_> {
    async fn next_order_number(&mut self) -> Result<i64> {
        Ok(self.0.prepare_cached("SELECT COALESCE(MAX(num), 1000) + 1 FROM orders")?.query_row([], |r| r.get(0))?)
    }

    async fn insert_order(&mut self, num: i64, order: &Order, doc: &str) -> Result<()> {
        self.0
            .prepare_cached("INSERT INTO orders (id, num, customer_id, status, doc) VALUES (?, ?, ?, ?, ?)")?
            .execute(params![order.id, num, order.customer, order.status.as_str(), doc])?;
        Ok(())
    }

    async fn order_and_name(&mut self, id: &str) -> Result<Option<(String, Option<String>)>> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT o.doc, u.name FROM orders o LEFT JOIN users u ON u.id = o.customer_id WHERE o.id = ?",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    async fn update_order(&mut self, order: &Order, doc: &str) -> Result<()> {
        self.0.prepare_cached("UPDATE orders SET status = ?, doc = ? WHERE id = ?")?.execute(params![
            order.status.as_str(),
            doc,
            order.id
        ])?;
        Ok(())
    }

    async fn insert_change(&mut self, order: &Order, kind: &str, at: &str) -> Result<u64> {
        // AUTOINCREMENT under the one write lock: the next number, in commit order.
        self.0
            .prepare_cached("INSERT INTO changes (order_id, customer_id, kind, created_at) VALUES (?, ?, ?, ?)")?
            .execute(params![order.id, order.customer, kind, at])?;
        Ok(self.0.last_insert_rowid() as u64)
    }

    async fn add_count(&mut self, scope: &str, status: &str, delta: i64) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO order_counts (scope, status, n) VALUES (?1, ?2, ?3) \
                 ON CONFLICT(scope, status) DO UPDATE SET n = n + excluded.n",
            )?
            .execute(params![scope, status, delta])?;
        Ok(())
    }

    async fn counts(&mut self, scope: &str) -> Result<Vec<(String, i64)>> {
        let mut q = self.0.prepare_cached("SELECT status, n FROM order_counts WHERE scope = ?")?;
        let rows = q.query_map([scope], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    async fn insert_event(&mut self, seq: u64, idx: u32, event: &str, audience: u8, payload: &str) -> Result<()> {
        self.0
            .prepare_cached("INSERT INTO change_events (seq, idx, event, audience, payload) VALUES (?, ?, ?, ?, ?)")?
            .execute(params![seq as i64, i64::from(idx), event, i64::from(audience), payload])?;
        Ok(())
    }

    async fn insert_notification(&mut self, n: &NewNotification, seq: u64) -> Result<()> {
        self.0
            .prepare_cached(
                "INSERT INTO notifications (id, audience, kind, title, message, order_id, created_at, seq) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                n.id,
                n.audience,
                n.kind,
                n.title,
                n.message,
                n.order_id,
                n.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                seq as i64
            ])?;
        Ok(())
    }
}

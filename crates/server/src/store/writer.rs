//! The store's one writer of orders: a thread of its own holding a rusqlite connection.
//!
//! Callers queue jobs (closures over the connection) and await their answers. The thread takes every job
//! waiting, runs each in a savepoint of one `BEGIN IMMEDIATE` transaction (a job that fails rolls back alone),
//! commits once, and only then answers the callers and hands the batch's events to the dispatcher, in `seq`
//! order. Under load that is one commit for many changes, and no statement of a change waits on a hop between
//! threads, which is what bounded the server when each statement went through sqlx's worker. Checkpoints run
//! on a second thread (`checkpoint`), so commits do not wait for them: at peak in the fan-out bench that gave
//! 7 % more changes a second and a third of the delivery p99 under one change per client per second.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};
use std::sync::Arc;

use tokio::sync::{mpsc::UnboundedSender, oneshot, Notify};

use super::{EventRow, Result, StoreError};

/// The most jobs committed together: enough to amortise a commit, small enough to answer quickly.
const MAX_BATCH: usize = 256;

/// One queued piece of work.
trait Job: Send {
    /// Runs inside the batch's transaction, appending the events it commits to `events`; false if it failed.
    fn run(&mut self, conn: &Connection, events: &mut Vec<EventRow>) -> bool;
    /// Answers the caller once its batch committed, or with the reason the commit failed.
    fn answer(self: Box<Self>, commit: Result<(), String>);
}

struct Typed<T, F> {
    work: Option<F>,
    result: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send,
    F: FnOnce(&Connection, &mut Vec<EventRow>) -> Result<T> + Send,
{
    fn run(&mut self, conn: &Connection, events: &mut Vec<EventRow>) -> bool {
        let Some(work) = self.work.take() else { return false };
        let result = work(conn, events);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, commit: Result<(), String>) {
        let result = match (commit, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(StoreError::Commit("the change was not run".into())),
            (Err(e), _) => Err(StoreError::Commit(e)),
        };
        let _ = self.reply.send(result);
    }
}

/// The handle callers queue jobs on; cheap to clone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Opens its own connection to `path` (already migrated) and starts the thread. Committed events go to
    /// `committed`, one batch at a time.
    pub fn start(path: &Path, committed: UnboundedSender<Vec<EventRow>>, bell: Arc<Notify>) -> Result<Writer> {
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
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        std::thread::Builder::new()
            .name("order-writer".into())
            .spawn(move || run(conn, queue, committed, bell, wrote))
            .map_err(|e| StoreError::Commit(format!("cannot start the writer thread: {e}")))?;
        Ok(Writer { jobs })
    }

    /// Runs `work` in the next batch's transaction and returns its result once that batch is committed.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Vec<EventRow>) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(Typed { work: Some(work), result: None, reply });
        self.jobs.send(job).map_err(|_| StoreError::Commit("the writer has stopped".into()))?;
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
    queue: mpsc::Receiver<Box<dyn Job>>,
    committed: UnboundedSender<Vec<EventRow>>,
    bell: Arc<Notify>,
    wrote: mpsc::SyncSender<()>,
) {
    // Ends when every `Writer` handle is gone.
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut events = Vec::new();
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
                let reason = e.to_string();
                batch.into_iter().for_each(|job| job.answer(Err(reason.clone())));
            }
        }
    }
}

fn run_batch(conn: &mut Connection, batch: &mut [Box<dyn Job>], events: &mut Vec<EventRow>) -> rusqlite::Result<()> {
    let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for job in batch.iter_mut() {
        let mark = events.len();
        let savepoint = tx.savepoint()?;
        if job.run(&savepoint, events) {
            savepoint.commit()?;
        } else {
            // Dropping the savepoint rolls the failed job back; its events were never committed.
            events.truncate(mark);
        }
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Audience;

    fn event(seq: u64) -> EventRow {
        EventRow {
            seq,
            idx: 0,
            event: "test".into(),
            audience: Audience::CUSTOMER,
            payload: Some(serde_json::value::to_raw_value(&serde_json::json!({ "seq": seq })).unwrap()),
            order_id: "o".into(),
            customer_id: "c".into(),
        }
    }

    /// Many jobs at once share commits; one that fails leaves no trace, and the others are unaffected.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_job_rolls_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("w.db")).await.unwrap();
        let mut committed = store.take_committed().unwrap();
        let jobs = (0..100u64).map(|i| {
            let writer = store.writer.clone();
            tokio::spawn(async move {
                writer
                    .write(move |conn, events| {
                        conn.execute("INSERT INTO meta (key, value) VALUES (?, 'x')", [format!("k{i}")])?;
                        events.push(event(i));
                        if i % 10 == 3 {
                            return Err(StoreError::Invalid(format!("job {i} fails")));
                        }
                        Ok(i)
                    })
                    .await
            })
        });
        let results: Vec<_> = futures_util::future::join_all(jobs).await.into_iter().map(|r| r.unwrap()).collect();
        for (i, r) in results.iter().enumerate() {
            assert_eq!(r.is_ok(), i % 10 != 3, "job {i}: {r:?}");
        }
        let (kept,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM meta WHERE key LIKE 'k%'").fetch_one(store.pool()).await.unwrap();
        assert_eq!(kept, 90);
        let mut seen = Vec::new();
        while seen.len() < 90 {
            seen.extend(committed.recv().await.unwrap().into_iter().map(|e| e.seq));
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..100).filter(|i| i % 10 != 3).collect::<Vec<_>>());
    }
}

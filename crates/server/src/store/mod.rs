//! The SQLite store: users, orders, the change log, notifications, sign-ins (token families), and the devices
//! and pending pushes of push notifications.
//!
//! Every mutation of an order runs in one `BEGIN IMMEDIATE` transaction that writes the order, a `changes` row
//! (its `seq`) and the exact events that change emits (`change_events`), on the store's writer thread
//! (`writer.rs`), which commits many changes at once under load. Nothing is emitted from here: the writer hands
//! committed events to the dispatcher (`take_committed`), which also tails the log for changes written by
//! another process (the store-owner CLI, a second instance), and a crash can never emit something that was not
//! committed. Reads, and the rare other writes (users, read marks, revocations, retention), go through sqlx.

mod changes;
mod devices;
mod notifications;
mod orders;
mod sessions;
mod users;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

pub use changes::EventRow;
pub use devices::{Notable, OutboxJob, PushAddress, Settled, DEVICES_PER_USER};
pub use orders::OrderInput;
pub use sessions::{judge, FamilyState, Rotation, SessionEnd, Verdict};
pub use users::{verify_nobody, SignedIn, UserRecord};

/// What can go wrong in the store, in words a caller can pass on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The input breaks a rule (empty order, negative price, ...).
    #[error("{0}")]
    Invalid(String),
    /// The change is not possible in the current state (e.g. a delivered order cannot move).
    #[error("{0}")]
    Conflict(String),
    /// `since` is outside the retained change log; a client starts again from `latest_seq`.
    #[error("{message}")]
    Gone { message: String, latest_seq: u64 },
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Write(#[from] rusqlite::Error),
    /// The writer could not commit the batch the change was in (or has stopped).
    #[error("the change could not be saved: {0}")]
    Commit(String),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored record cannot be read: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    /// The thread that writes orders and the change log.
    writer: writer::Writer,
    /// The events this process committed, batch by batch, until the dispatcher takes them.
    committed: Arc<std::sync::Mutex<Option<UnboundedReceiver<Vec<EventRow>>>>>,
    /// Tokens found valid in the last moments, so a busy client is not looked up on every request.
    recently_signed_in: Arc<users::RecentSignIns>,
    /// Rung when this process ends a session, so its sockets are cut at once.
    session_ended: Arc<tokio::sync::Notify>,
    /// Rung after each commit of changes, for the push tailer.
    commit_bell: Arc<tokio::sync::Notify>,
}

impl Store {
    /// Opens (creating if absent) the database file, in WAL mode, and applies the embedded migrations.
    pub async fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Invalid(format!("cannot create the data directory {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a killed process loses no committed transaction (only a power cut could).
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // 64 KiB of page cache per read connection instead of SQLite's 2 MiB: each (8 then) filled its
            // own copy of the users table as clients signed in, which the fan-out bench counted at 0.8 (10,000
            // clients) to 1.5 KiB (1,000) per idle connection. In WAL mode a connection drops its cache whenever
            // another one has written, so under a stream of changes it rarely served a read anyway; the OS keeps
            // the file's pages.
            .pragma("cache_size", "-64");
        let pool = SqlitePoolOptions::new().max_connections(read_connections()).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        let (sender, committed) = unbounded_channel();
        let commit_bell = Arc::new(tokio::sync::Notify::new());
        let writer = writer::Writer::start(path, sender, commit_bell.clone())?;
        Ok(Store {
            pool,
            writer,
            committed: Arc::new(std::sync::Mutex::new(Some(committed))),
            recently_signed_in: Arc::default(),
            session_ended: Arc::default(),
            commit_bell,
        })
    }

    /// The events of this process's commits, in `seq` order, for the one dispatcher (`None` once taken). A
    /// store nobody dispatches for (the CLI) keeps them until it closes.
    pub fn take_committed(&self) -> Option<UnboundedReceiver<Vec<EventRow>>> {
        self.committed.lock().expect("not poisoned").take()
    }

    /// Rung after this process commits changes (one permit is kept while nobody waits).
    pub fn commit_bell(&self) -> Arc<tokio::sync::Notify> {
        self.commit_bell.clone()
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// How many connections the read pool may open: two per core, at most 8. A SQLite read is CPU work, so more
/// connections than that only wait, and each one costs a thread and about 150 KiB of SQLite's memory (a heap
/// profile of 1,000 clients signing in found 8 connections opened for them, 1.2 MiB).
fn read_connections() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
    (2 * cores).clamp(2, 8)
}

/// A number kept in `meta` under `key` (`None` when absent or not a number).
async fn meta_number<'e>(db: impl sqlx::SqliteExecutor<'e>, key: &str) -> Result<Option<u64>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT value FROM meta WHERE key = ?").bind(key).fetch_optional(db).await?;
    Ok(row.and_then(|(v,)| v.parse().ok()))
}

/// Keeps `value` in `meta` under `key`.
async fn set_meta_number<'e>(db: impl sqlx::SqliteExecutor<'e>, key: &str, value: u64) -> Result<()> {
    sqlx::query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(value.to_string())
        .execute(db)
        .await?;
    Ok(())
}

/// The current time at millisecond precision (what JavaScript clients can represent).
pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now is representable")
}

/// A new opaque id shaped like a MongoDB ObjectId (24 hex digits, time first), as clients of the original
/// backend are used to.
pub fn new_id() -> String {
    let secs = Utc::now().timestamp() as u32;
    format!("{secs:08x}{:016x}", rand::random::<u64>())
}

//! The store: users, orders, the change log, notifications, sign-ins (token families), and the devices and
//! pending pushes of push notifications, on SQLite (one file, the embedded default) or PostgreSQL (one database
//! shared by several instances). The rest of the server does not know which: the statements are written once
//! for both (`$1` parameters, standard SQL), and the few that differ ask [`Backend`].
//!
//! Every mutation of an order runs in one transaction that writes the order, a `changes` row (its `seq`) and
//! the exact events that change emits (`change_events`), on the store's writer (`writer.rs`: a thread of its
//! own on SQLite, a task on PostgreSQL), which commits many changes at once under load. Nothing is emitted from
//! here: the writer hands committed events to the dispatcher (`take_committed`), which also tails the log for
//! changes written by another process (the store-owner CLI, another instance), and a crash can never emit
//! something that was not committed. Reads, and the rare other writes (users, read marks, revocations,
//! retention), go through sqlx's `Any` pool.

mod changes;
mod devices;
mod location;
mod notifications;
mod orders;
mod postgres;
mod sessions;
mod users;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyPool, ConnectOptions as _, Executor as _};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

pub use changes::EventRow;
pub use devices::{Notable, OutboxJob, PushAddress, Settled, DEVICES_PER_USER};
pub use location::DbLocation;
pub use orders::OrderInput;
pub use postgres::Lease;
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
    /// The database cannot be reached (PostgreSQL down or restarting); nothing was written.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
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

impl StoreError {
    /// Whether the database could not be reached (down, restarting, the network), as opposed to a refused
    /// or broken request: the caller may try again shortly.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Db(e) => is_connection_error(e),
            _ => false,
        }
    }
}

/// An error of reaching the database rather than of the statement.
pub(super) fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => true,
        // PostgreSQL's admin shutdown, crash shutdown, cannot connect now (class 57P), connection exceptions (08).
        sqlx::Error::Database(d) => d.code().is_some_and(|c| c.starts_with("57P") || c.starts_with("08")),
        _ => false,
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store runs on; the few statements that differ between the two ask it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle on the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// Reads, and the rare other writes (users, read marks, sign-ins, devices, retention), on either backend.
    pool: AnyPool,
    backend: Backend,
    /// Where the orders and the change log are written.
    writer: writer::Writer,
    /// PostgreSQL: the leases (advisory locks) that let one instance of several run a task.
    postgres: Option<postgres::Shared>,
    /// The events this process committed, batch by batch, until the dispatcher takes them.
    committed: Arc<std::sync::Mutex<Option<UnboundedReceiver<Vec<EventRow>>>>>,
    /// Tokens found valid in the last moments, so a busy client is not looked up on every request.
    recently_signed_in: Arc<users::RecentSignIns>,
    /// Rung when this process ends a session, so its sockets are cut at once.
    session_ended: Arc<tokio::sync::Notify>,
    /// Rung after each commit of changes, for the push tailer.
    commit_bell: Arc<tokio::sync::Notify>,
    /// Rung when another instance committed changes (PostgreSQL's NOTIFY), for the dispatcher.
    doorbell: Arc<tokio::sync::Notify>,
}

impl Store {
    /// Opens the database, creating it if absent, and applies the embedded migrations of its backend.
    pub async fn open(location: &DbLocation) -> Result<Store> {
        sqlx::any::install_default_drivers();
        match location {
            DbLocation::Sqlite(path) => Store::open_sqlite(path).await,
            DbLocation::Postgres(url) => Store::open_postgres(url).await,
        }
    }

    /// A SQLite file (created if absent), in WAL mode.
    async fn open_sqlite(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Invalid(format!("cannot create the data directory {}: {e}", dir.display())))?;
        }
        let url = SqliteConnectOptions::new().filename(path).create_if_missing(true).to_url_lossy();
        let options = AnyConnectOptions::from_url(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(read_connections())
            .after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL + NORMAL: a killed process loses no committed transaction (only a power cut could).
                    // 64 KiB of page cache per read connection instead of SQLite's 2 MiB: each (8 then) filled its
                    // own copy of the users table as clients signed in, which the fan-out bench counted at 0.8
                    // (10,000 clients) to 1.5 KiB (1,000) per idle connection. In WAL mode a connection drops its
                    // cache whenever another one has written, so under a stream of changes it rarely served a
                    // read anyway; the OS keeps the file's pages.
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                         PRAGMA busy_timeout = 10000; PRAGMA cache_size = -64;",
                    )
                    .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let (sender, committed) = unbounded_channel();
        let commit_bell = Arc::new(tokio::sync::Notify::new());
        let writer = writer::Writer::start_sqlite(path, sender, commit_bell.clone())?;
        Ok(Store::assemble(pool, Backend::Sqlite, writer, None, committed, commit_bell))
    }

    fn assemble(
        pool: AnyPool,
        backend: Backend,
        writer: writer::Writer,
        postgres: Option<postgres::Shared>,
        committed: UnboundedReceiver<Vec<EventRow>>,
        commit_bell: Arc<tokio::sync::Notify>,
    ) -> Store {
        Store {
            pool,
            backend,
            writer,
            postgres,
            committed: Arc::new(std::sync::Mutex::new(Some(committed))),
            recently_signed_in: Arc::default(),
            session_ended: Arc::default(),
            commit_bell,
            doorbell: Arc::default(),
        }
    }

    /// The events of this process's commits, in `seq` order, for the one dispatcher (`None` once taken). A
    /// store nobody dispatches for (the CLI) keeps them until it closes.
    pub fn take_committed(&self) -> Option<UnboundedReceiver<Vec<EventRow>>> {
        self.committed.lock().expect("not poisoned").take()
    }

    /// Rung after this process commits changes, and on PostgreSQL after any instance does (one permit is kept
    /// while nobody waits).
    pub fn commit_bell(&self) -> Arc<tokio::sync::Notify> {
        self.commit_bell.clone()
    }

    /// Rung when another instance committed changes (PostgreSQL only; SQLite has no such signal, the
    /// dispatcher's poll finds them).
    pub fn doorbell(&self) -> Arc<tokio::sync::Notify> {
        self.doorbell.clone()
    }

    /// Whether the database answers, within 2 s.
    pub async fn ping(&self) -> Result<()> {
        let query = sqlx::query("SELECT 1").execute(&self.pool);
        match tokio::time::timeout(Duration::from_secs(2), query).await {
            Ok(done) => done.map(|_| ()).map_err(|e| StoreError::Unavailable(e.to_string())),
            Err(_) => Err(StoreError::Unavailable("no answer within 2 s".into())),
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        if let Some(pg) = &self.postgres {
            pg.close().await;
        }
        self.pool.close().await;
    }

    /// Starts a transaction that writes: on SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so it
    /// cannot fail halfway on a lock another writer holds; PostgreSQL locks rows as they are written, and the
    /// statements that must see a row unchanged until commit add [`Store::for_update`].
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        Ok(self.pool.begin_with(begin).await?)
    }

    /// Starts a read-only transaction that sees one snapshot throughout (SQLite's reads always do; PostgreSQL's
    /// default takes a new snapshot per statement).
    async fn begin_snapshot(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        let begin = match self.backend {
            Backend::Sqlite => "BEGIN",
            Backend::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        Ok(self.pool.begin_with(begin).await?)
    }

    /// The suffix that locks the rows a `SELECT` read until the transaction ends (SQLite's `BEGIN IMMEDIATE`
    /// already holds the whole database).
    fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// The query of the highest `seq` ever assigned, kept even when retention pruned the rows.
    fn latest_seq_sql(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)",
            Backend::Postgres => "SELECT value FROM counters WHERE name = 'changes'",
        }
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
async fn meta_number<'e>(db: impl sqlx::Executor<'e, Database = sqlx::Any>, key: &str) -> Result<Option<u64>> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT value FROM meta WHERE key = $1").bind(key).fetch_optional(db).await?;
    Ok(row.and_then(|(v,)| v.parse().ok()))
}

/// Keeps `value` in `meta` under `key`.
async fn set_meta_number<'e>(db: impl sqlx::Executor<'e, Database = sqlx::Any>, key: &str, value: u64) -> Result<()> {
    sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
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

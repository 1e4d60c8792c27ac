//! Tasks that run on one instance of several: push delivery, log retention, the demo simulator. Each runs
//! while its instance holds the task's lease (a PostgreSQL advisory lock, see `store/postgres.rs`; always held
//! on SQLite); when the holder dies or loses its database connection, another instance takes the task over
//! within about a second of its lock being freed.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::store::{Lease, Store};

/// How often an instance without the lease asks for it again.
const RETRY: Duration = Duration::from_secs(1);

/// Runs the tasks `start` makes while this instance holds the lease `name`, until `stop`. When the lease is
/// lost the tasks are told to stop (their own `stop`), and the instance asks for the lease again.
pub async fn run_leased(
    store: Store,
    name: &'static str,
    mut stop: watch::Receiver<bool>,
    start: impl Fn(watch::Receiver<bool>) -> Vec<JoinHandle<()>>,
) {
    loop {
        let mut lease = tokio::select! {
            lease = acquire(&store, name) => lease,
            _ = stop.wait_for(|s| *s) => return,
        };
        tracing::info!(task = name, "this instance runs the task");
        let (end, ended) = watch::channel(false);
        let tasks = start(ended);
        let stopping = tokio::select! {
            _ = lease.lost() => {
                tracing::warn!(task = name, "lost the task's lease (database connection); another instance may take it");
                false
            }
            _ = stop.wait_for(|s| *s) => true,
        };
        let _ = end.send(true);
        for task in tasks {
            let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
        }
        drop(lease);
        if stopping {
            return;
        }
    }
}

async fn acquire(store: &Store, name: &str) -> Lease {
    loop {
        match store.try_lease(name).await {
            Ok(Some(lease)) => return lease,
            Ok(None) => {}
            Err(e) => tracing::warn!(task = name, error = %e, "cannot ask for the task's lease"),
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Waits for the lease `name`, runs `work` while holding it, and frees it: for a step every instance runs but
/// one at a time (seeding).
pub async fn one_at_a_time<T>(store: &Store, name: &str, work: impl std::future::Future<Output = T>) -> T {
    let lease = acquire(store, name).await;
    let out = work.await;
    drop(lease);
    out
}

//! The dispatcher: tails the change log and emits each committed event to its rooms, oldest first.
//!
//! It wakes at once when this process commits (the store's notifier) and otherwise polls every
//! `poll_interval` for changes written by other processes on the same file (the store-owner CLI, another
//! instance), the way a MongoDB change stream would surface them. It starts at the log's end: events from
//! before a restart are not re-sent live; clients get them by `changes?since=`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use socketioxide::SocketIo;
use tokio::sync::watch;

use crate::AppCtx;

const BATCH: u32 = 1000;

/// Emits every event after `start_seq` (the log's end when the server started) until `stop`.
pub async fn run(ctx: AppCtx, io: SocketIo, start_seq: u64, poll_interval: Duration, mut stop: watch::Receiver<bool>) {
    let committed = ctx.store.committed();
    let mut pos = (start_seq, u32::MAX);
    ctx.metrics.dispatched_seq.store(pos.0, Ordering::Relaxed);
    loop {
        tokio::select! {
            _ = committed.notified() => {}
            _ = tokio::time::sleep(poll_interval) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        loop {
            let rows = match ctx.store.events_after(pos.0, pos.1, BATCH).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "dispatcher cannot read the change log");
                    break;
                }
            };
            let full = rows.len() as u32 == BATCH;
            for row in rows {
                let payload: serde_json::Value = match serde_json::from_str(&row.payload) {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!(seq = row.seq, error = %e, "skipping an unreadable stored event");
                        pos = (row.seq, row.idx);
                        continue;
                    }
                };
                let rooms = row.audience.rooms(&row.customer_id, &row.order_id);
                if let Err(e) = io.to(rooms).emit(&row.event, &payload).await {
                    tracing::warn!(seq = row.seq, event = %row.event, error = %e, "emit failed");
                }
                ctx.metrics.emitted_events.fetch_add(1, Ordering::Relaxed);
                ctx.metrics.dispatched_seq.store(row.seq, Ordering::Relaxed);
                pos = (row.seq, row.idx);
            }
            if !full {
                break;
            }
        }
    }
}

/// Prunes the change log past its retention, hourly, and logs the counters.
pub async fn retention(ctx: AppCtx, keep: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::days(7));
        match ctx.store.prune(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "pruned old changes"),
            Err(e) => tracing::error!(error = %e, "pruning the change log failed"),
        }
        let (connected, emitted, seq) = ctx.metrics.get();
        tracing::info!(connected_sockets = connected, emitted_events = emitted, dispatched_seq = seq, "server stats");
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

//! The dispatcher: emits each committed event to its rooms, oldest first, whichever process committed it.
//!
//! This process's own changes arrive from the store's writer right after their commit, with their payloads,
//! and are emitted at once. Changes written by other processes on the same database (the store-owner CLI,
//! another instance) are found by reading the change log: when the database rings the store's doorbell
//! (PostgreSQL's NOTIFY), every `poll_interval`, and at once whenever an arriving event does not follow the
//! last one emitted (something was committed in between). So the events go out in
//! `seq` order, each once, the way a MongoDB change stream would surface them. It starts at the log's end:
//! events from before a restart are not re-sent live; clients get them by `changes?since=`.

use std::sync::atomic::Ordering;
use std::time::Duration;

use order_protocol::DisconnectReason;
use socketioxide::{SendError, SocketError, SocketIo};
use tokio::sync::watch;

use crate::store::EventRow;
use crate::AppCtx;

const BATCH: u32 = 1000;

/// Where the feed stands: the last event emitted, as (`seq`, index within its change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Position(u64, u32);

impl Position {
    /// Whether `row` is the very next event: the next of the same change, or the first of the next change.
    fn is_followed_by(self, row: &EventRow) -> bool {
        (row.seq == self.0 && self.1 != u32::MAX && row.idx == self.1 + 1) || (row.seq == self.0 + 1 && row.idx == 0)
    }
}

/// Emits every event after `start_seq` (the log's end when the server started) until `stop`.
pub async fn run(ctx: AppCtx, io: SocketIo, start_seq: u64, poll_interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut committed = ctx.store.take_committed();
    // `u32::MAX`: every event of `start_seq` is behind us.
    let mut pos = Position(start_seq, u32::MAX);
    ctx.metrics.dispatched_seq.store(pos.0, Ordering::Relaxed);
    // Rung by the database when another instance committed (PostgreSQL); the poll is the fallback.
    let doorbell = ctx.store.doorbell();
    let mut poll = tokio::time::interval(poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        enum Wake {
            Committed(Option<Vec<EventRow>>),
            Poll,
            Stop,
        }
        let wake = tokio::select! {
            batch = async {
                match committed.as_mut() {
                    Some(events) => events.recv().await,
                    None => std::future::pending().await,
                }
            } => Wake::Committed(batch),
            _ = poll.tick() => Wake::Poll,
            _ = doorbell.notified() => Wake::Poll,
            _ = stop.wait_for(|s| *s) => Wake::Stop,
        };
        match wake {
            Wake::Committed(Some(rows)) => {
                for row in rows {
                    if Position(row.seq, row.idx) <= pos {
                        continue; // already emitted from the log
                    }
                    if !pos.is_followed_by(&row) {
                        // Another process committed in between: emit from the log up to and past this row.
                        catch_up(&ctx, &io, &mut pos).await;
                        continue;
                    }
                    emit(&ctx, &io, &row, &mut pos).await;
                }
            }
            // The store was closed: the log alone from now on.
            Wake::Committed(None) => committed = None,
            Wake::Poll => catch_up(&ctx, &io, &mut pos).await,
            Wake::Stop => return,
        }
    }
}

/// Emits everything the log holds after `pos`.
async fn catch_up(ctx: &AppCtx, io: &SocketIo, pos: &mut Position) {
    loop {
        let rows = match ctx.store.events_after(pos.0, pos.1, BATCH).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "dispatcher cannot read the change log");
                return;
            }
        };
        let full = rows.len() as u32 == BATCH;
        for row in rows {
            emit(ctx, io, &row, pos).await;
        }
        if !full {
            return;
        }
    }
}

async fn emit(ctx: &AppCtx, io: &SocketIo, row: &EventRow, pos: &mut Position) {
    *pos = Position(row.seq, row.idx);
    ctx.metrics.dispatched_seq.store(row.seq, Ordering::Relaxed);
    let Some(payload) = &row.payload else {
        tracing::error!(seq = row.seq, event = %row.event, "skipping an unreadable stored event");
        return;
    };
    // Socket by socket (a room holds one customer's few sockets, or the store owners'), so a socket whose
    // buffer is full is known and cut: it reconnects and catches up, instead of silently missing this event.
    let rooms = row.audience.rooms(&row.customer_id, &row.order_id);
    for socket in io.to(rooms).sockets() {
        match socket.emit(&row.event, payload) {
            Ok(()) | Err(SendError::Socket(SocketError::Closed)) => {}
            Err(SendError::Socket(SocketError::InternalChannelFull)) => {
                ctx.metrics.slow_consumers_cut.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(sid = %socket.id, seq = row.seq, "socket cut: it does not read its events");
                crate::sessions::cut(socket, DisconnectReason::TooSlow);
            }
            Err(e) => tracing::warn!(seq = row.seq, event = %row.event, error = %e, "emit failed"),
        }
    }
    ctx.metrics.emitted_events.fetch_add(1, Ordering::Relaxed);
}

/// Prunes the change log past its retention, hourly.
pub async fn retention(ctx: AppCtx, keep: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::days(7));
        match ctx.store.prune(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "pruned old changes"),
            Err(e) => tracing::error!(error = %e, "pruning the change log failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// Logs the counters hourly (every instance its own).
pub async fn stats(ctx: AppCtx, mut stop: watch::Receiver<bool>) {
    loop {
        let (connected, emitted, seq) = ctx.metrics.get();
        tracing::info!(connected_sockets = connected, emitted_events = emitted, dispatched_seq = seq, "server stats");
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Audience;

    fn row(seq: u64, idx: u32) -> EventRow {
        EventRow {
            seq,
            idx,
            event: "e".into(),
            audience: Audience::CUSTOMER,
            payload: None,
            order_id: "o".into(),
            customer_id: "c".into(),
        }
    }

    #[test]
    fn only_the_very_next_event_follows() {
        // At the start, every event of the last change is behind us.
        let start = Position(7, u32::MAX);
        assert!(start.is_followed_by(&row(8, 0)));
        assert!(!start.is_followed_by(&row(7, 0)));
        assert!(!start.is_followed_by(&row(9, 0)), "seq 8 came from another process");
        let mid = Position(8, 1);
        assert!(mid.is_followed_by(&row(8, 2)));
        assert!(mid.is_followed_by(&row(9, 0)));
        assert!(!mid.is_followed_by(&row(8, 3)));
        assert!(!mid.is_followed_by(&row(9, 1)));
    }
}

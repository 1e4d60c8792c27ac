//! `/health` (for load balancers and the client's reachability check) and `/metrics` (connected sockets,
//! emitted events, change-log position).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use order_protocol::Health;
use serde_json::{json, Value};

use super::ApiError;
use crate::AppCtx;

pub fn router() -> Router<AppCtx> {
    Router::new().route("/health", get(health)).route("/metrics", get(metrics))
}

async fn health() -> Json<Health> {
    Json(Health { ok: true, server_time: chrono::Utc::now() })
}

async fn metrics(State(ctx): State<AppCtx>) -> Result<Json<Value>, ApiError> {
    let (connected, emitted, dispatched) = ctx.metrics.get();
    Ok(Json(json!({
        "connectedSockets": connected,
        "emittedEvents": emitted,
        "dispatchedSeq": dispatched,
        "latestSeq": ctx.store.latest_seq().await?,
    })))
}

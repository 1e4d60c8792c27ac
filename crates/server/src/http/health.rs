//! `/health` (for load balancers and the client's reachability check) on the public address, and `/metrics`
//! (connections, emitted events, change-log position, what each limit refused) on its own listener only.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use order_protocol::Health;
use serde_json::Value;

use super::ApiError;
use crate::AppCtx;

pub fn router() -> Router<AppCtx> {
    Router::new().route("/health", get(health))
}

/// The metrics listener's application: `GET /metrics` (and `/api/metrics`), nothing else.
pub fn metrics_app(ctx: AppCtx) -> Router {
    Router::new().route("/metrics", get(metrics)).route("/api/metrics", get(metrics)).with_state(ctx)
}

async fn health() -> Json<Health> {
    Json(Health { ok: true, server_time: chrono::Utc::now() })
}

async fn metrics(State(ctx): State<AppCtx>) -> Result<Json<Value>, ApiError> {
    let mut body = ctx.metrics.snapshot();
    body["latestSeq"] = ctx.store.latest_seq().await?.into();
    Ok(Json(body))
}

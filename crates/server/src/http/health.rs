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

/// Up when this instance can reach its database: a load balancer then sends customers elsewhere (or tells
/// them to wait) while it cannot.
async fn health(State(ctx): State<AppCtx>) -> Result<Json<Health>, ApiError> {
    ctx.store.ping().await?;
    Ok(Json(Health { ok: true, server_time: chrono::Utc::now() }))
}

async fn metrics(State(ctx): State<AppCtx>) -> Result<Json<Value>, ApiError> {
    let mut body = ctx.metrics.snapshot();
    let latest = ctx.store.latest_seq().await?;
    body["latestSeq"] = latest.into();
    // How far this instance's live feed is behind the log (changes committed, not yet emitted here).
    let dispatched = body["dispatchedSeq"].as_u64().unwrap_or(0);
    body["feedBehind"] = latest.saturating_sub(dispatched).into();
    Ok(Json(body))
}

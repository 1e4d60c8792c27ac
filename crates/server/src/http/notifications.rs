//! `/notifications` (extension): the user's notifications with read state kept on the server.

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use order_protocol::StoredNotification;
use serde_json::{json, Value};

use super::{ApiError, AuthUser};
use crate::AppCtx;

pub fn router() -> Router<AppCtx> {
    Router::new()
        .route("/notifications", get(list))
        .route("/notifications/read-all", post(read_all))
        .route("/notifications/{id}/read", post(read_one))
}

async fn list(State(ctx): State<AppCtx>, auth: AuthUser) -> Result<Json<Vec<StoredNotification>>, ApiError> {
    Ok(Json(ctx.store.notifications(&auth.user).await?))
}

async fn read_one(State(ctx): State<AppCtx>, auth: AuthUser, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    ctx.store.mark_read(&auth.user, &id).await?;
    Ok(Json(json!({ "ok": true })))
}

async fn read_all(State(ctx): State<AppCtx>, auth: AuthUser) -> Result<Json<Value>, ApiError> {
    let marked = ctx.store.mark_all_read(&auth.user).await?;
    Ok(Json(json!({ "ok": true, "marked": marked })))
}

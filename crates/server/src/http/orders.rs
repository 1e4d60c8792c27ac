//! `/orders`: list, read, place (extension), change status and delivery (store owners), and the change-log
//! replay `changes?since=` (extension).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};
use order_protocol::{ChangesResponse, DeliveryPatch, Order, PlaceOrder, Status};
use serde::Deserialize;

use super::{ApiError, AppJson, AuthUser};
use crate::store::OrderInput;
use crate::AppCtx;

pub fn router() -> Router<AppCtx> {
    Router::new()
        .route("/orders", get(list).post(place))
        .route("/orders/changes", get(changes))
        .route("/orders/{id}", get(one))
        .route("/orders/{id}/status", patch(set_status))
        .route("/orders/{id}/delivery", patch(set_delivery))
}

async fn list(State(ctx): State<AppCtx>, auth: AuthUser) -> Result<Json<Vec<Order>>, ApiError> {
    let customer = (!auth.is_owner()).then_some(auth.user.id.as_str());
    Ok(Json(ctx.store.orders(customer).await?))
}

/// Reads an order the user may see: `404` if there is none, `403` if it is another customer's.
async fn visible_order(ctx: &AppCtx, auth: &AuthUser, id: &str) -> Result<Order, ApiError> {
    let order = ctx.store.order(id).await?.ok_or_else(|| ApiError::NotFound(format!("order {id} not found")))?;
    if !auth.is_owner() && order.customer != auth.user.id {
        tracing::warn!(user = %auth.user.id, order = %id, "refused: another customer's order");
        return Err(ApiError::Forbidden("this order is not yours".into()));
    }
    Ok(order)
}

async fn one(State(ctx): State<AppCtx>, auth: AuthUser, Path(id): Path<String>) -> Result<Json<Order>, ApiError> {
    Ok(Json(visible_order(&ctx, &auth, &id).await?))
}

async fn place(
    State(ctx): State<AppCtx>,
    auth: AuthUser,
    AppJson(body): AppJson<PlaceOrder>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    if auth.is_owner() {
        return Err(ApiError::Forbidden("only customers place orders".into()));
    }
    if let Err(wait) = ctx.orders_by_customer.check(&auth.user.id) {
        ctx.metrics.refused_orders_rate.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return Err(ApiError::TooManyRequests { what: "orders placed in a minute", wait });
    }
    let input = OrderInput { items: body.items, delivery_address: body.delivery_address };
    let applied = ctx.store.place_order(&auth.user, input).await?;
    Ok((StatusCode::CREATED, Json(applied.order)))
}

fn require_owner(auth: &AuthUser) -> Result<(), ApiError> {
    if auth.is_owner() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only a store owner can change an order".into()))
    }
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
}

async fn set_status(
    State(ctx): State<AppCtx>,
    auth: AuthUser,
    Path(id): Path<String>,
    body: Result<AppJson<StatusBody>, ApiError>,
) -> Result<Json<Order>, ApiError> {
    require_owner(&auth)?;
    let AppJson(body) = body?;
    let status = Status::parse(&body.status).ok_or_else(|| {
        let known: Vec<_> = Status::ALL.iter().map(|s| s.as_str()).collect();
        ApiError::BadRequest(format!("unknown status `{}`; expected one of {}", body.status, known.join(", ")))
    })?;
    let applied = ctx.store.set_status(&id, status).await?;
    if let Some(seq) = applied.seq {
        tracing::info!(order = %id, status = %status, seq, "status changed");
    }
    Ok(Json(applied.order))
}

async fn set_delivery(
    State(ctx): State<AppCtx>,
    auth: AuthUser,
    Path(id): Path<String>,
    body: Result<AppJson<DeliveryPatch>, ApiError>,
) -> Result<Json<Order>, ApiError> {
    require_owner(&auth)?;
    let AppJson(patch) = body?;
    Ok(Json(ctx.store.patch_delivery(&id, patch).await?.order))
}

/// Changes per page of `changes?since=` unless `limit` says fewer.
pub const CHANGES_PAGE: u32 = 500;
/// The most changes one page may hold.
pub const CHANGES_PAGE_MAX: u32 = 2000;

async fn changes(
    State(ctx): State<AppCtx>,
    auth: AuthUser,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<ChangesResponse>, ApiError> {
    let since = match query.get("since") {
        None => 0,
        Some(s) => s
            .parse::<u64>()
            .ok()
            .filter(|n| i64::try_from(*n).is_ok())
            .ok_or_else(|| ApiError::BadRequest(format!("since must be a change number (0 or more), not `{s}`")))?,
    };
    let limit = match query.get("limit") {
        None => CHANGES_PAGE,
        Some(s) => s.parse::<u32>().ok().filter(|n| (1..=CHANGES_PAGE_MAX).contains(n)).ok_or_else(|| {
            ApiError::BadRequest(format!("limit must be a number from 1 to {CHANGES_PAGE_MAX}, not `{s}`"))
        })?,
    };
    Ok(Json(ctx.store.changes_since(&auth.user, since, limit).await?))
}

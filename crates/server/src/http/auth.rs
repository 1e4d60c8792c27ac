//! `/auth/*`: login (rate-limited), me, refresh and logout (server-side revocation).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use order_protocol::{LoginRequest, LoginResponse, RefreshResponse, User};

use super::{ApiError, AppJson, AuthUser};
use crate::AppCtx;

pub fn router() -> Router<AppCtx> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/me", get(me))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
}

const WRONG: &str = "wrong email or password";

async fn login(
    State(ctx): State<AppCtx>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    AppJson(req): AppJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let addr_key = peer.map(|Extension(ConnectInfo(a))| a.ip().to_string()).unwrap_or_else(|| "local".into());
    let email = req.email.trim().to_lowercase();
    let account_key = format!("account:{email}");
    if let Some(wait) =
        ctx.login_by_addr.blocked_for(&addr_key).or_else(|| ctx.login_failures.blocked_for(&account_key))
    {
        tracing::warn!(addr = %addr_key, "login refused: rate limit");
        return Err(ApiError::TooManyRequests(wait));
    }
    ctx.login_by_addr.hit(&addr_key);
    if email.is_empty() || email.len() > 254 || req.password.is_empty() || req.password.len() > 1024 {
        return Err(ApiError::BadRequest("email and password are required".into()));
    }
    let record = ctx.store.user_by_email(&email).await?;
    let ok = match &record {
        Some(r) => r.verify(&req.password).await,
        None => false,
    };
    let Some(record) = record.filter(|_| ok) else {
        ctx.login_failures.hit(&account_key);
        tracing::info!(addr = %addr_key, "login failed");
        return Err(ApiError::Unauthorized(WRONG.into()));
    };
    ctx.login_failures.clear(&account_key);
    tracing::info!(user = %record.user.id, "login");
    Ok(Json(LoginResponse { token: ctx.keys.issue(&record.user), user: record.user }))
}

async fn me(auth: AuthUser) -> Json<User> {
    Json(User::clone(&auth.user))
}

async fn refresh(State(ctx): State<AppCtx>, auth: AuthUser) -> Json<RefreshResponse> {
    Json(RefreshResponse { token: ctx.keys.issue(&auth.user) })
}

async fn logout(State(ctx): State<AppCtx>, auth: AuthUser) -> Result<Json<serde_json::Value>, ApiError> {
    ctx.store.revoke_token(&auth.claims.jti, auth.claims.exp).await?;
    tracing::info!(user = %auth.user.id, "logout");
    Ok(Json(serde_json::json!({ "ok": true })))
}

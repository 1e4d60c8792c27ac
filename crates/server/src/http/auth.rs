//! `/auth/*`: login (limited per address, backed off per account and address, hashing bounded), me, refresh
//! (rotation within a sign-in) and logout (the sign-in ends, and its sockets with it).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{ConnectInfo, State};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use order_protocol::{DisconnectReason, LoginRequest, LoginResponse, RefreshResponse, User};

use super::{ApiError, AppJson, AuthUser, SignedClaims};
use crate::auth::TokenError;
use crate::store::{verify_nobody, Rotation};
use crate::AppCtx;

pub fn router() -> Router<AppCtx> {
    Router::new()
        .route("/auth/login", post(login))
        .route("/auth/me", get(me))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
}

const WRONG: &str = "wrong email or password";

/// How long a login waits for a turn to hash before it is told to come back.
const HASH_WAIT: Duration = Duration::from_secs(5);

/// The client's address (loopback when the server runs without connection info, as in `oneshot` tests).
pub fn client_ip(peer: Option<Extension<ConnectInfo<SocketAddr>>>) -> IpAddr {
    peer.map_or(IpAddr::from([127, 0, 0, 1]), |Extension(ConnectInfo(a))| a.ip())
}

async fn login(
    State(ctx): State<AppCtx>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    AppJson(req): AppJson<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let ip = client_ip(peer);
    if let Err(wait) = ctx.login_by_addr.check(&ip) {
        ctx.metrics.refused_login_rate.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(addr = %ip, "login refused: too many from this address");
        return Err(ApiError::TooManyRequests { what: "login attempts from this address", wait });
    }
    let email = req.email.trim().to_lowercase();
    if email.is_empty() || email.len() > 254 || req.password.is_empty() || req.password.len() > 1024 {
        return Err(ApiError::BadRequest("email and password are required".into()));
    }
    let key = format!("{email} {ip}");
    if let Err(wait) = ctx.login_failures.begin(&key) {
        ctx.metrics.refused_login_backoff.fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::TooManyRequests { what: "failed logins for this account", wait: wait.0 });
    }
    let result = check_password(&ctx, &email, &req.password).await;
    ctx.login_failures.finish(&key, matches!(result, Ok(Some(_))));
    let Some(user) = result? else {
        tracing::info!(addr = %ip, "login failed");
        return Err(ApiError::Unauthorized(WRONG.into()));
    };
    tracing::info!(user = %user.id, "login");
    Ok(Json(LoginResponse { token: ctx.sign_in(&user).await?, user }))
}

/// The user whose password this is, or `None`; the same work whether the email exists or not, and at most
/// `concurrent_hashes` at once (argon2 takes 19 MiB and tens of milliseconds each).
async fn check_password(ctx: &AppCtx, email: &str, password: &str) -> Result<Option<User>, ApiError> {
    let Ok(Ok(_turn)) = tokio::time::timeout(HASH_WAIT, ctx.hashing.acquire()).await else {
        ctx.metrics.refused_login_busy.fetch_add(1, Ordering::Relaxed);
        return Err(ApiError::TooManyRequests { what: "logins at this moment", wait: Duration::from_secs(1) });
    };
    Ok(match ctx.store.user_by_email(email).await? {
        Some(record) if record.verify(password).await => Some(record.user),
        Some(_) => None,
        None => {
            verify_nobody(password).await;
            None
        }
    })
}

async fn me(auth: AuthUser) -> Json<User> {
    Json(User::clone(&auth.user))
}

/// The next token of the caller's sign-in; the presented one stays accepted for the grace only. A token that
/// was replaced before, presented here again, ends the sign-in.
async fn refresh(
    State(ctx): State<AppCtx>,
    SignedClaims(claims): SignedClaims,
) -> Result<Json<RefreshResponse>, ApiError> {
    let Some(record) = ctx.store.user_by_id(&claims.user_id).await? else {
        return Err(ApiError::Unauthorized("not signed in: the account no longer exists".into()));
    };
    if record.user.role != claims.role {
        return Err(TokenError::RoleChanged.into());
    }
    let policy = ctx.sessions;
    match ctx.store.rotate(&record.user, &claims, policy.token_ttl, policy.grace).await? {
        Rotation::Rotated(claims) => Ok(Json(RefreshResponse { token: ctx.keys.sign(&claims) })),
        Rotation::Ended(DisconnectReason::SessionExpired) => Err(TokenError::SessionExpired.into()),
        Rotation::Ended(_) => Err(TokenError::Revoked.into()),
    }
}

/// Ends the caller's sign-in: every token of it, and every socket opened with one.
async fn logout(State(ctx): State<AppCtx>, auth: AuthUser) -> Result<Json<serde_json::Value>, ApiError> {
    ctx.store.end_sessions(&auth.user.id, Some(&auth.claims.fam), DisconnectReason::SignedOut).await?;
    tracing::info!(user = %auth.user.id, "logout");
    Ok(Json(serde_json::json!({ "ok": true })))
}

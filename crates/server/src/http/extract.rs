//! Extractors: a JSON body whose rejections are `{message}` errors, and the signed-in user from the bearer
//! token (checked for signature, expiry and revocation, and looked up so a deleted user is refused).

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::Json;
use order_protocol::{Role, User};
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::auth::Claims;
use crate::store::SignedIn;
use crate::AppCtx;

/// `Json<T>`, but a malformed body is a `400 {message}` (and a too large one a `413`).
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(AppJson(v)),
            Err(rejection) => Err(json_error(rejection)),
        }
    }
}

fn json_error(rejection: JsonRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return ApiError::PayloadTooLarge("the request body is too large".into());
    }
    ApiError::BadRequest(format!("invalid request body: {}", rejection.body_text()))
}

/// The signed-in user of a request.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub user: Arc<User>,
    pub claims: Claims,
}

impl AuthUser {
    pub fn is_owner(&self) -> bool {
        self.user.role == Role::StoreOwner
    }
}

/// Checks a token fully: signature, expiry, that it is still its sign-in's current token (or the one just
/// replaced, within the grace), that the sign-in did not end, and that its user still exists with the role it
/// names (as the database said at most 2 s ago, see `Store::signed_in`).
pub async fn authenticate(ctx: &AppCtx, token: &str) -> Result<AuthUser, ApiError> {
    let claims = ctx.keys.verify(token)?;
    match ctx.store.signed_in(&claims, ctx.sessions.grace).await? {
        SignedIn::User(user) => Ok(AuthUser { user, claims }),
        SignedIn::Refused(e) => Err(e.into()),
        SignedIn::NoAccount => Err(ApiError::Unauthorized("not signed in: the account no longer exists".into())),
    }
}

impl FromRequestParts<AppCtx> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &AppCtx) -> Result<Self, ApiError> {
        authenticate(ctx, bearer(parts)?).await
    }
}

/// A bearer token whose signature and expiry check out, not yet held to its sign-in: `/auth/refresh` judges a
/// replaced token itself (presenting one again ends the sign-in).
pub struct SignedClaims(pub Claims);

impl FromRequestParts<AppCtx> for SignedClaims {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, ctx: &AppCtx) -> Result<Self, ApiError> {
        Ok(SignedClaims(ctx.keys.verify(bearer(parts)?)?))
    }
}

fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let header = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or(ApiError::Unauthorized("not signed in: send `Authorization: Bearer <token>`".into()))
}

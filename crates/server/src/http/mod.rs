//! The REST API under `/api`: one `router()` per module, merged by [`app`], plus the pieces every handler
//! shares: the one HTTP error type, a JSON extractor whose errors are `{message}` bodies, and the bearer-token
//! extractors.

mod auth;
mod devices;
mod error;
mod extract;
mod forwarded;
mod health;
mod notifications;
mod orders;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, Method};
use axum::Router;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::trace::TraceLayer;

use crate::{AppCtx, ServerConfig};

pub use auth::client_ip;
pub use error::ApiError;
pub use extract::{authenticate, AppJson, AuthUser, SignedClaims};
pub use health::metrics_app;

/// The REST application, without Socket.IO (tests drive it with `oneshot`).
pub fn app(ctx: AppCtx) -> Router {
    let api = Router::new()
        .merge(auth::router())
        .merge(orders::router())
        .merge(notifications::router())
        .merge(devices::router())
        .merge(health::router())
        .fallback(no_route)
        .method_not_allowed_fallback(
            |method: Method, axum::extract::OriginalUri(uri): axum::extract::OriginalUri| async move {
                ApiError::MethodNotAllowed(format!("{} does not take {method}", uri.path()))
            },
        );
    let body_limit = ctx.max_body_bytes;
    // The same words for a path outside `/api` (or `/api/` itself), which the nested router never sees.
    Router::new().nest("/api", api).fallback(no_route).layer(DefaultBodyLimit::max(body_limit)).with_state(ctx)
}

async fn no_route(method: Method, axum::extract::OriginalUri(uri): axum::extract::OriginalUri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

/// CORS and request tracing, around everything (REST and Socket.IO's polling transport alike).
pub fn with_outer_layers(app: Router, config: &ServerConfig) -> Router {
    let trusted = std::sync::Arc::new(config.trusted_proxies.clone());
    app.layer(cors(&config.cors_origins)).layer(TraceLayer::new_for_http()).layer(axum::middleware::map_request(
        move |req: axum::extract::Request| {
            let trusted = trusted.clone();
            async move { forwarded::rewrite(&trusted, req) }
        },
    ))
}

/// Allows the configured origins; an entry `scheme://host:*` allows every port of that host.
fn cors(origins: &[String]) -> CorsLayer {
    let origins = origins.to_vec();
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| origins.iter().any(|allowed| origin_matches(allowed, o)))
        })
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}

fn origin_matches(allowed: &str, origin: &str) -> bool {
    match allowed.strip_suffix(":*") {
        Some(base) => {
            origin == base
                || origin
                    .strip_prefix(base)
                    .and_then(|rest| rest.strip_prefix(':'))
                    .is_some_and(|port| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        }
        None => allowed == origin,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_match_exactly_or_by_any_port() {
        use super::origin_matches as m;
        assert!(m("http://localhost:*", "http://localhost:1420"));
        assert!(m("http://localhost:*", "http://localhost"));
        assert!(!m("http://localhost:*", "http://localhost.evil.com"));
        assert!(!m("http://localhost:*", "http://localhost:80x"));
        assert!(m("tauri://localhost", "tauri://localhost"));
        assert!(!m("tauri://localhost", "tauri://localhost:1"));
    }
}

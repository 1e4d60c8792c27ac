//! `/devices` (extension): a customer's phones and browsers that receive push while the app has no live
//! socket. Registered with the caller's sign-in, so signing out removes them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, post};
use axum::{Json, Router};
use order_protocol::{DeviceCreated, DeviceRegistration, PushPlatform};

use super::{ApiError, AppJson, AuthUser};
use crate::store::PushAddress;
use crate::AppCtx;

pub fn router() -> Router<AppCtx> {
    Router::new().route("/devices", post(register)).route("/devices/{id}", delete(remove))
}

async fn register(
    State(ctx): State<AppCtx>,
    auth: AuthUser,
    AppJson(reg): AppJson<DeviceRegistration>,
) -> Result<(StatusCode, Json<DeviceCreated>), ApiError> {
    if !ctx.push_platforms.contains(&reg.platform) {
        return Err(ApiError::BadRequest(format!("this server does not send {} pushes", reg.platform.service())));
    }
    let address = address(&reg, ctx.webpush_allow_http).map_err(ApiError::BadRequest)?;
    let (id, created) = ctx.store.register_device(&auth.user.id, &auth.claims.fam, &address).await?;
    tracing::info!(user = %auth.user.id, device = %id, platform = reg.platform.as_str(), created, "device registered");
    Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(DeviceCreated { id })))
}

async fn remove(State(ctx): State<AppCtx>, auth: AuthUser, Path(id): Path<String>) -> Result<StatusCode, ApiError> {
    ctx.store.remove_device(&auth.user.id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Longest accepted FCM token, Web Push endpoint, and APNs token (in hex digits).
const MAX_FCM_TOKEN: usize = 4096;
const MAX_ENDPOINT: usize = 2048;
const APNS_HEX: std::ops::RangeInclusive<usize> = 64..=200;

/// Where the registration says to push, checked (pure): a token the service could have issued, or a
/// subscription whose keys can encrypt and whose endpoint is `https://` (`http://` only when allowed).
pub fn address(reg: &DeviceRegistration, allow_http: bool) -> Result<PushAddress, String> {
    let token = || reg.token.as_deref().map(str::trim).filter(|t| !t.is_empty());
    match reg.platform {
        PushPlatform::Fcm => {
            let t = token().ok_or("an FCM device needs its registration token in `token`")?;
            if t.len() > MAX_FCM_TOKEN || !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err("`token` is not an FCM registration token".into());
            }
            Ok(PushAddress::Token(PushPlatform::Fcm, t.to_owned()))
        }
        PushPlatform::Apns => {
            let t = token().ok_or("an APNs device needs its device token in `token`")?;
            if !APNS_HEX.contains(&t.len()) || t.len() % 2 != 0 || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err("`token` is not an APNs device token (hex digits)".into());
            }
            Ok(PushAddress::Token(PushPlatform::Apns, t.to_ascii_lowercase()))
        }
        PushPlatform::Webpush => {
            let s = reg.subscription.as_ref().ok_or("a Web Push device needs its `subscription`")?;
            if s.endpoint.len() > MAX_ENDPOINT {
                return Err("the subscription's endpoint is too long".into());
            }
            let uri: http::Uri = s.endpoint.parse().map_err(|_| "the subscription's endpoint is not a URL")?;
            let secure = match uri.scheme_str() {
                Some("https") => true,
                Some("http") if allow_http => false,
                _ => return Err("the subscription's endpoint must be an https:// URL".into()),
            };
            if uri.host().is_none_or(str::is_empty) || (secure && uri.authority().is_none()) {
                return Err("the subscription's endpoint has no host".into());
            }
            crate::push::webpush::subscription_keys(&s.keys.p256dh, &s.keys.auth)?;
            Ok(PushAddress::WebPush {
                endpoint: s.endpoint.clone(),
                p256dh: s.keys.p256dh.clone(),
                auth: s.keys.auth.clone(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_protocol::{WebPushKeys, WebPushSubscription};

    fn reg(platform: PushPlatform, token: Option<&str>) -> DeviceRegistration {
        DeviceRegistration { platform, token: token.map(String::from), subscription: None }
    }

    fn web(endpoint: &str, p256dh: &str, auth: &str) -> DeviceRegistration {
        DeviceRegistration {
            platform: PushPlatform::Webpush,
            token: None,
            subscription: Some(WebPushSubscription {
                endpoint: endpoint.into(),
                keys: WebPushKeys { p256dh: p256dh.into(), auth: auth.into() },
            }),
        }
    }

    #[test]
    fn registrations_are_checked() {
        let hex = "a1".repeat(32);
        assert!(address(&reg(PushPlatform::Fcm, Some("dGVzdA:APA91b-x_y")), false).is_ok());
        assert!(address(&reg(PushPlatform::Fcm, None), false).is_err());
        assert!(address(&reg(PushPlatform::Fcm, Some("has space")), false).is_err());
        assert!(address(&reg(PushPlatform::Fcm, Some(&"x".repeat(5000))), false).is_err());
        assert_eq!(
            address(&reg(PushPlatform::Apns, Some(&hex.to_uppercase())), false).unwrap(),
            PushAddress::Token(PushPlatform::Apns, hex.clone())
        );
        assert!(address(&reg(PushPlatform::Apns, Some("../../3/device")), false).is_err(), "it goes into a path");
        assert!(address(&reg(PushPlatform::Apns, Some(&hex[..63])), false).is_err());

        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let key = crate::push::webpush::public_key(&secret);
        let auth = "AAECAwQFBgcICQoLDA0ODw";
        assert!(address(&web("https://push.example.net/send/abc", &key, auth), false).is_ok());
        assert!(address(&web("http://127.0.0.1:9/send/abc", &key, auth), false).is_err());
        assert!(address(&web("http://127.0.0.1:9/send/abc", &key, auth), true).is_ok());
        assert!(address(&web("file:///etc/passwd", &key, auth), true).is_err());
        assert!(address(&web("https://push.example.net/x", "AAAA", auth), false).is_err());
        assert!(address(&web("https://push.example.net/x", &key, "AAAA"), false).is_err());
    }
}

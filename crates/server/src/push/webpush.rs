//! Web Push: the message encrypted for the subscription (RFC 8291, `aes128gcm`, by `web-push-native`) and the
//! request signed for the push service with the server's VAPID key (RFC 8292); one `POST {endpoint}` per push.
//!
//! The VAPID token is signed here rather than by `web-push-native`, whose audience leaves out the endpoint's
//! port: RFC 8292 asks for the endpoint's origin, port included when it is not the scheme's default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use order_protocol::PushMessage;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use serde::Serialize;
use web_push_native::Auth;

use super::{collapse_key, read_answer, Outcome};
use crate::store::PushAddress;

#[derive(Clone, Debug)]
pub struct WebPushConfig {
    /// The VAPID private key: a P-256 key in PEM (PKCS#8 or SEC1), or its 32 bytes in base64url.
    pub vapid_key: PathBuf,
    /// Who runs this server, for the push services: `mailto:…` or `https://…`.
    pub subject: String,
}

pub struct WebPush {
    client: reqwest::Client,
    key: EncodingKey,
    /// The public key, as the `k=` of the `Authorization` header.
    public: String,
    subject: String,
}

/// The claims of a VAPID token.
#[derive(Serialize)]
struct VapidClaims<'a> {
    aud: &'a str,
    exp: i64,
    sub: &'a str,
}

/// Reads a VAPID private key file.
pub fn read_vapid_key(path: &Path) -> anyhow::Result<p256::SecretKey> {
    use p256::pkcs8::DecodePrivateKey as _;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read the VAPID key {}", path.display()))?;
    let text = text.trim();
    let key = if text.contains("-----BEGIN") {
        p256::SecretKey::from_pkcs8_pem(text).or_else(|_| p256::SecretKey::from_sec1_pem(text)).ok()
    } else {
        URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok().and_then(|b| p256::SecretKey::from_slice(&b).ok())
    };
    key.with_context(|| {
        format!("{} is not a VAPID key (a P-256 private key in PEM, or its 32 bytes in base64url)", path.display())
    })
}

/// The public half of a VAPID key as browsers take it (`applicationServerKey`): the uncompressed point in
/// base64url.
pub fn public_key(secret: &p256::SecretKey) -> String {
    URL_SAFE_NO_PAD.encode(secret.public_key().to_encoded_point(false).as_bytes())
}

impl WebPush {
    pub fn new(config: &WebPushConfig, root: Option<&reqwest::Certificate>) -> anyhow::Result<WebPush> {
        let secret = read_vapid_key(&config.vapid_key)?;
        let subject = config.subject.trim();
        anyhow::ensure!(
            subject.starts_with("mailto:") || subject.starts_with("https://"),
            "the VAPID subject must be a mailto: or https: address where the push services can reach the operator"
        );
        use p256::pkcs8::EncodePrivateKey as _;
        let pem = secret.to_pkcs8_pem(p256::pkcs8::LineEnding::LF).context("the VAPID key cannot be encoded")?;
        let key = EncodingKey::from_ec_pem(pem.as_bytes()).context("the VAPID key cannot sign")?;
        let public = public_key(&secret);
        tracing::info!(application_server_key = %public, "Web Push: the VAPID public key");
        Ok(WebPush { client: super::http_client(root, false)?, key, public, subject: subject.to_owned() })
    }

    pub async fn send(&self, to: &PushAddress, message: &PushMessage) -> Outcome {
        let PushAddress::WebPush { endpoint, p256dh, auth } = to else {
            return Outcome::Rejected { why: "not a Web Push subscription".into() };
        };
        let (authorization, body) = match self.sealed(endpoint, p256dh, auth, message) {
            Ok(r) => r,
            Err(why) => return Outcome::Gone { why },
        };
        let res = self
            .client
            .post(endpoint)
            .header("Authorization", authorization)
            .header("TTL", super::MAX_AGE.as_secs())
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Topic", collapse_key(message))
            .header("Urgency", "high")
            .body(body)
            .send()
            .await;
        match read_answer(res).await {
            Ok(answer) => classify(answer.status, answer.retry_after),
            Err(outcome) => outcome,
        }
    }

    /// The `Authorization` header and the encrypted body; an error means the stored subscription is unusable.
    fn sealed(
        &self,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        message: &PushMessage,
    ) -> Result<(String, Vec<u8>), String> {
        let (ua_public, ua_auth) = subscription_keys(p256dh, auth)?;
        let uri: http::Uri = endpoint.parse().map_err(|e| format!("the endpoint is not a URL: {e}"))?;
        let aud = origin(&uri).ok_or("the endpoint has no origin")?;
        let claims = VapidClaims { aud: &aud, exp: chrono::Utc::now().timestamp() + 12 * 3600, sub: &self.subject };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.key)
            .map_err(|e| format!("cannot sign the VAPID token: {e}"))?;
        let plain = serde_json::to_vec(message).map_err(|e| e.to_string())?;
        let body = web_push_native::encrypt(plain, &ua_public, &ua_auth)
            .map_err(|e| format!("cannot encrypt for the subscription: {e}"))?;
        Ok((format!("vapid t={token}, k={}", self.public), body))
    }
}

/// `scheme://host[:port]` of a URL (the port only when the URL names one), as RFC 6454 writes an origin.
pub fn origin(uri: &http::Uri) -> Option<String> {
    let scheme = uri.scheme_str()?;
    let host = uri.host()?;
    let default = matches!((scheme, uri.port_u16()), ("https", Some(443)) | ("http", Some(80)));
    Some(match uri.port_u16() {
        Some(port) if !default => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// The subscription's public key and secret, checked: a point on P-256 and 16 bytes.
pub fn subscription_keys(p256dh: &str, auth: &str) -> Result<(p256::PublicKey, Auth), String> {
    let decode = |s: &str| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|_| "not base64url".to_owned());
    let public = p256::PublicKey::from_sec1_bytes(&decode(p256dh)?)
        .map_err(|_| "keys.p256dh is not a P-256 public key".to_owned())?;
    let auth = decode(auth)?;
    if auth.len() != 16 {
        return Err("keys.auth is not 16 bytes".into());
    }
    Ok((public, Auth::clone_from_slice(&auth)))
}

/// What a push service's answer means (pure; RFC 8030 and the services' documented codes).
pub fn classify(status: u16, after: Option<Duration>) -> Outcome {
    let why = format!("{status}");
    match status {
        200..=299 => Outcome::Sent,
        404 | 410 => Outcome::Gone { why },
        429 | 500..=599 => Outcome::Retry { after, why },
        _ => Outcome::Rejected { why },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_service_answers() {
        assert_eq!(classify(201, None), Outcome::Sent);
        assert!(matches!(classify(410, None), Outcome::Gone { .. }));
        assert!(matches!(classify(404, None), Outcome::Gone { .. }));
        assert!(matches!(classify(413, None), Outcome::Rejected { .. }));
        let later = Some(Duration::from_secs(9));
        assert!(matches!(classify(429, later), Outcome::Retry { after, .. } if after == later));
        assert!(matches!(classify(502, None), Outcome::Retry { .. }));
    }

    #[test]
    fn the_audience_is_the_endpoints_origin() {
        let o = |u: &str| origin(&u.parse().unwrap()).unwrap();
        assert_eq!(o("https://fcm.googleapis.com/fcm/send/abc"), "https://fcm.googleapis.com");
        assert_eq!(o("https://push.example.net:443/x"), "https://push.example.net");
        assert_eq!(o("http://127.0.0.1:4711/push/1"), "http://127.0.0.1:4711");
    }

    #[test]
    fn subscription_keys_are_checked() {
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let p256dh = public_key(&secret);
        let auth = URL_SAFE_NO_PAD.encode([7u8; 16]);
        assert!(subscription_keys(&p256dh, &auth).is_ok());
        assert!(subscription_keys("AAAA", &auth).is_err());
        assert!(subscription_keys(&p256dh, "AAAA").is_err());
        assert!(subscription_keys("not base64!", &auth).is_err());
    }
}

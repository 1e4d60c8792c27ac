//! Web Push: the message encrypted for the subscription (RFC 8291, `aes128gcm`) and signed for the push
//! service with the server's VAPID key (RFC 8292), by `web-push-native`; one `POST {endpoint}` per push.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use order_protocol::PushMessage;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use web_push_native::jwt_simple::algorithms::ES256KeyPair;
use web_push_native::{Auth, WebPushBuilder};

use super::{collapse_key, network_error, retry_after, Outcome};
use crate::store::Address;

#[derive(Clone, Debug)]
pub struct WebPushConfig {
    /// The VAPID private key: a P-256 key in PEM (PKCS#8 or SEC1), or its 32 bytes in base64url.
    pub vapid_key: PathBuf,
    /// Who runs this server, for the push services: `mailto:…` or `https://…`.
    pub subject: String,
}

pub struct WebPush {
    client: reqwest::Client,
    key: ES256KeyPair,
    subject: String,
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
        let key = ES256KeyPair::from_bytes(&secret.to_bytes()).context("the VAPID key cannot sign")?;
        tracing::info!(application_server_key = %public_key(&secret), "Web Push: the VAPID public key");
        Ok(WebPush { client: super::http_client(root, false)?, key, subject: subject.to_owned() })
    }

    pub async fn send(&self, to: &Address, message: &PushMessage) -> Outcome {
        let Address::WebPush { endpoint, p256dh, auth } = to else {
            return Outcome::Rejected { why: "not a Web Push subscription".into() };
        };
        let request = match self.request(endpoint, p256dh, auth, message) {
            Ok(r) => r,
            Err(why) => return Outcome::Gone { why },
        };
        let (parts, body) = request.into_parts();
        let res = self
            .client
            .post(parts.uri.to_string())
            .headers(parts.headers)
            .header("Topic", collapse_key(message))
            .header("Urgency", "high")
            .body(body)
            .send()
            .await;
        match res {
            Ok(res) => {
                let status = res.status().as_u16();
                let after = retry_after(res.headers());
                classify(status, after)
            }
            Err(e) => network_error(&e),
        }
    }

    /// The encrypted, signed request; an error means the stored subscription is unusable.
    fn request(
        &self,
        endpoint: &str,
        p256dh: &str,
        auth: &str,
        message: &PushMessage,
    ) -> Result<http::Request<Vec<u8>>, String> {
        let (ua_public, ua_auth) = subscription_keys(p256dh, auth)?;
        let uri: http::Uri = endpoint.parse().map_err(|e| format!("the endpoint is not a URL: {e}"))?;
        let body = serde_json::to_vec(message).map_err(|e| e.to_string())?;
        WebPushBuilder::new(uri, ua_public, ua_auth)
            .with_valid_duration(super::MAX_AGE)
            .with_vapid(&self.key, &self.subject)
            .build(body)
            .map_err(|e| format!("cannot encrypt for the subscription: {e}"))
    }
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

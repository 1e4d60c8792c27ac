//! Apple Push Notification service: token-based authentication (an ES256 provider token signed with the
//! `.p8` key, renewed every 40 minutes, as Apple asks: not more often than every 20, valid for 60), over
//! HTTP/2, one `POST {endpoint}/3/device/{token}` per push.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use order_protocol::PushMessage;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{collapse_key, read_answer, Outcome};
use crate::store::PushAddress;

/// The public production endpoint (the sandbox one is `https://api.sandbox.push.apple.com`).
pub const DEFAULT_ENDPOINT: &str = "https://api.push.apple.com";

/// How long one provider token is used.
const TOKEN_LIFE: Duration = Duration::from_secs(40 * 60);

#[derive(Clone, Debug)]
pub struct ApnsConfig {
    /// The `.p8` signing key (PKCS#8 PEM) from the Apple developer account.
    pub key_file: PathBuf,
    pub key_id: String,
    pub team_id: String,
    /// The app's bundle id.
    pub topic: String,
    pub endpoint: String,
}

/// The claims of a provider token.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProviderClaims {
    pub iss: String,
    pub iat: i64,
}

pub struct Apns {
    client: reqwest::Client,
    key: EncodingKey,
    key_id: String,
    team_id: String,
    topic: String,
    endpoint: String,
    token: std::sync::Mutex<Option<(String, Instant)>>,
}

impl Apns {
    pub fn new(config: &ApnsConfig, root: Option<&reqwest::Certificate>) -> anyhow::Result<Apns> {
        let path = &config.key_file;
        let pem = std::fs::read(path).with_context(|| format!("cannot read the APNs key {}", path.display()))?;
        let key = EncodingKey::from_ec_pem(&pem)
            .with_context(|| format!("{} is not an APNs signing key (a .p8 file: an EC key in PEM)", path.display()))?;
        for (what, v) in [("key id", &config.key_id), ("team id", &config.team_id), ("topic", &config.topic)] {
            anyhow::ensure!(!v.trim().is_empty(), "APNs needs its {what}");
        }
        Ok(Apns {
            client: super::http_client(root, true)?,
            key,
            key_id: config.key_id.clone(),
            team_id: config.team_id.clone(),
            topic: config.topic.clone(),
            endpoint: config.endpoint.trim_end_matches('/').to_owned(),
            token: Default::default(),
        })
    }

    pub async fn send(&self, to: &PushAddress, message: &PushMessage) -> Outcome {
        let PushAddress::Token(_, device) = to else {
            return Outcome::Rejected { why: "not an APNs device".into() };
        };
        let provider = match self.provider_token() {
            Ok(t) => t,
            Err(why) => return Outcome::Retry { after: None, why },
        };
        let expiration = chrono::Utc::now().timestamp() + super::MAX_AGE.as_secs() as i64;
        let res = self
            .client
            .post(format!("{}/3/device/{device}", self.endpoint))
            .header("authorization", format!("bearer {provider}"))
            .header("apns-topic", &self.topic)
            .header("apns-push-type", "alert")
            .header("apns-priority", "10")
            .header("apns-expiration", expiration.to_string())
            .header("apns-collapse-id", collapse_key(message))
            .json(&body(message))
            .send()
            .await;
        let answer = match read_answer(res).await {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let outcome = classify(answer.status, &answer.body, answer.retry_after);
        if answer.status == 403 {
            // ExpiredProviderToken or InvalidProviderToken: sign a new one for the next try.
            *self.token.lock().expect("not poisoned") = None;
        }
        outcome
    }

    fn provider_token(&self) -> Result<String, String> {
        let mut cached = self.token.lock().expect("not poisoned");
        if let Some((token, since)) = &*cached {
            if since.elapsed() < TOKEN_LIFE {
                return Ok(token.clone());
            }
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = ProviderClaims { iss: self.team_id.clone(), iat: chrono::Utc::now().timestamp() };
        let token = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the APNs provider token: {e}"))?;
        *cached = Some((token.clone(), Instant::now()));
        Ok(token)
    }
}

/// The payload: the alert iOS shows when the app is not running, grouped per order, and the order's facts as
/// top-level strings (what the app reads from a tapped notification).
pub fn body(m: &PushMessage) -> Value {
    json!({
        "aps": {
            "alert": { "title": m.title, "body": m.body },
            "sound": "default",
            "thread-id": collapse_key(m),
        },
        "orderId": m.order_id,
        "orderNumber": m.order_number,
        "status": m.status.as_str(),
        "kind": m.kind,
        "seq": m.seq.to_string(),
    })
}

/// What an APNs answer means (pure; the `reason`s of Apple's "Handling notification responses from APNs").
pub fn classify(status: u16, body: &str, after: Option<Duration>) -> Outcome {
    if status == 200 {
        return Outcome::Sent;
    }
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let reason = v["reason"].as_str().unwrap_or("").to_owned();
    let why = format!("{status} {reason}");
    match (status, reason.as_str()) {
        (410, _) | (400, "BadDeviceToken" | "DeviceTokenNotForTopic") => Outcome::Gone { why },
        // The token is signed anew for the next try.
        (403, "ExpiredProviderToken" | "InvalidProviderToken") => Outcome::Retry { after: None, why },
        (429, _) | (500..=599, _) => Outcome::Retry { after, why },
        _ => Outcome::Rejected { why },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apns_answers_are_read_as_apple_defines_them() {
        let r = |reason: &str| json!({ "reason": reason }).to_string();
        assert_eq!(classify(200, "", None), Outcome::Sent);
        assert!(matches!(
            classify(410, &json!({"reason": "Unregistered", "timestamp": 1}).to_string(), None),
            Outcome::Gone { .. }
        ));
        assert!(matches!(classify(400, &r("BadDeviceToken"), None), Outcome::Gone { .. }));
        assert!(matches!(classify(400, &r("DeviceTokenNotForTopic"), None), Outcome::Gone { .. }));
        assert!(matches!(classify(400, &r("PayloadTooLarge"), None), Outcome::Rejected { .. }));
        assert!(matches!(classify(413, &r("PayloadTooLarge"), None), Outcome::Rejected { .. }));
        assert!(matches!(classify(403, &r("ExpiredProviderToken"), None), Outcome::Retry { after: None, .. }));
        let later = Some(Duration::from_secs(3));
        assert!(matches!(classify(429, &r("TooManyRequests"), later), Outcome::Retry { after, .. } if after == later));
        assert!(matches!(classify(503, &r("ServiceUnavailable"), None), Outcome::Retry { .. }));
    }
}

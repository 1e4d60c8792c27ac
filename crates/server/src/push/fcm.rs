//! Firebase Cloud Messaging, HTTP v1: an OAuth2 access token got by a JWT assertion signed (RS256) with the
//! service account's key and posted to its `token_uri`, kept until shortly before it expires; then one
//! `POST {endpoint}/v1/projects/{project_id}/messages:send` per push.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use order_protocol::{Category, PushMessage};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{collapse_key, read_answer, Answer, Outcome};
use crate::store::PushAddress;

/// The public endpoint.
pub const DEFAULT_ENDPOINT: &str = "https://fcm.googleapis.com";

/// The scope FCM's send API asks for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

#[derive(Clone, Debug)]
pub struct FcmConfig {
    /// A Google service-account JSON file.
    pub service_account: PathBuf,
    pub endpoint: String,
}

/// The fields of a service-account file FCM needs.
#[derive(Clone, Deserialize)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    pub private_key: String,
    pub token_uri: String,
}

/// The claims of the assertion exchanged for an access token (RFC 7523).
#[derive(Debug, Serialize, Deserialize)]
pub struct Assertion {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct Fcm {
    client: reqwest::Client,
    account: ServiceAccount,
    key: EncodingKey,
    send_url: String,
    /// The access token and when to stop using it; fetched by one send at a time.
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl Fcm {
    pub fn new(config: &FcmConfig, root: Option<&reqwest::Certificate>) -> anyhow::Result<Fcm> {
        let path = &config.service_account;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the FCM service account {}", path.display()))?;
        let account: ServiceAccount = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a service-account file (project_id, client_email, private_key, token_uri)",
                path.display()
            )
        })?;
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .with_context(|| format!("the private_key of {} is not an RSA key in PEM", path.display()))?;
        let send_url =
            format!("{}/v1/projects/{}/messages:send", config.endpoint.trim_end_matches('/'), account.project_id);
        Ok(Fcm { client: super::http_client(root, false)?, account, key, send_url, token: Default::default() })
    }

    pub async fn send(&self, to: &PushAddress, message: &PushMessage) -> Outcome {
        let PushAddress::Token(_, token) = to else {
            return Outcome::Rejected { why: "not an FCM device".into() };
        };
        let access = match self.access_token().await {
            Ok(t) => t,
            Err(outcome) => return outcome,
        };
        let sent = self.client.post(&self.send_url).bearer_auth(&access).json(&body(token, message)).send().await;
        let answer = match read_answer(sent).await {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let outcome = classify(answer.status, &answer.body, answer.retry_after);
        if answer.status == 401 {
            // The access token was refused (revoked, or the clock was off): fetch a new one next time.
            *self.token.lock().await = None;
        }
        outcome
    }

    /// The cached access token, or a new one.
    async fn access_token(&self) -> Result<String, Outcome> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = &*cached {
            if Instant::now() < *until {
                return Ok(token.clone());
            }
        }
        let now = chrono::Utc::now().timestamp();
        let claims = Assertion {
            iss: self.account.client_email.clone(),
            scope: SCOPE.into(),
            aud: self.account.token_uri.clone(),
            iat: now,
            exp: now + 3600,
        };
        let assertion = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map_err(|e| Outcome::Retry { after: None, why: format!("cannot sign the FCM assertion: {e}") })?;
        let sent = self
            .client
            .post(&self.account.token_uri)
            .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", &assertion)])
            .send()
            .await;
        let Answer { status, retry_after: after, body } = read_answer(sent).await?;
        let body: Value = serde_json::from_str(&body).unwrap_or_default();
        if !(200..300).contains(&status) {
            // A refused assertion is the operator's to fix (a revoked key, a wrong file): retried with backoff,
            // and said in the log each time.
            let why = format!(
                "the token endpoint refused the service account's assertion ({status}): {} {}",
                body["error"].as_str().unwrap_or(""),
                body["error_description"].as_str().unwrap_or("")
            );
            tracing::error!("FCM: {why}");
            return Err(Outcome::Retry { after, why });
        }
        let (Some(token), Some(expires_in)) = (body["access_token"].as_str(), body["expires_in"].as_u64()) else {
            return Err(Outcome::Retry { after: None, why: "the token endpoint's answer has no access_token".into() });
        };
        // A minute early, so no send goes out with a token that expires on the way.
        let until = Instant::now() + Duration::from_secs(expires_in.saturating_sub(60).max(1));
        *cached = Some((token.to_owned(), until));
        Ok(token.to_owned())
    }
}

/// The `messages:send` body: a notification the system shows when the app is not running, replaced per order
/// (`tag`, `collapse_key`), in the app's channel for its category, and the order's facts as data.
pub fn body(token: &str, m: &PushMessage) -> Value {
    let key = collapse_key(m);
    json!({
        "message": {
            "token": token,
            "notification": { "title": m.title, "body": m.body },
            "data": {
                "orderId": m.order_id,
                "orderNumber": m.order_number,
                "status": m.status.as_str(),
                "kind": m.kind,
                "seq": m.seq.to_string(),
            },
            "android": {
                "collapse_key": key,
                "priority": "high",
                "ttl": "3600s",
                "notification": { "tag": key, "channel_id": Category::of_type(&m.kind).as_str() },
            },
        }
    })
}

/// What an FCM answer means (pure; the error codes of FCM HTTP v1's `FcmError`).
pub fn classify(status: u16, body: &str, after: Option<Duration>) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Sent;
    }
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    let code = v["error"]["details"]
        .as_array()
        .and_then(|d| d.iter().find_map(|x| x["errorCode"].as_str()))
        .or_else(|| v["error"]["status"].as_str())
        .unwrap_or("")
        .to_owned();
    let why = format!(
        "{status} {code}: {}",
        v["error"]["message"].as_str().unwrap_or("").chars().take(200).collect::<String>()
    );
    match (status, code.as_str()) {
        (_, "UNREGISTERED") | (404, _) | (403, "SENDER_ID_MISMATCH") => Outcome::Gone { why },
        (429, _) | (500..=599, _) | (_, "QUOTA_EXCEEDED" | "UNAVAILABLE" | "INTERNAL") => Outcome::Retry { after, why },
        // The access token is fetched anew for the next try.
        (401, _) => Outcome::Retry { after: None, why },
        _ => Outcome::Rejected { why },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: u16, status: &str, error_code: Option<&str>) -> String {
        let details = error_code.map_or(
            json!([]),
            |c| json!([{ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": c }]),
        );
        json!({ "error": { "code": code, "message": "m", "status": status, "details": details } }).to_string()
    }

    #[test]
    fn fcm_answers_are_read_as_the_service_defines_them() {
        let later = Some(Duration::from_secs(7));
        assert_eq!(classify(200, r#"{"name":"projects/p/messages/1"}"#, None), Outcome::Sent);
        let gone = |o: Outcome| matches!(o, Outcome::Gone { .. });
        assert!(gone(classify(404, &err(404, "NOT_FOUND", Some("UNREGISTERED")), None)));
        assert!(gone(classify(400, &err(400, "INVALID_ARGUMENT", Some("UNREGISTERED")), None)));
        assert!(gone(classify(403, &err(403, "PERMISSION_DENIED", Some("SENDER_ID_MISMATCH")), None)));
        for (code, status, ec) in [(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"), (503, "UNAVAILABLE", "UNAVAILABLE")] {
            assert!(
                matches!(classify(code, &err(code, status, Some(ec)), later), Outcome::Retry { after, .. } if after == later)
            );
        }
        assert!(matches!(classify(500, "not json", None), Outcome::Retry { .. }));
        assert!(matches!(classify(401, &err(401, "UNAUTHENTICATED", None), None), Outcome::Retry { after: None, .. }));
        assert!(matches!(
            classify(400, &err(400, "INVALID_ARGUMENT", Some("INVALID_ARGUMENT")), None),
            Outcome::Rejected { .. }
        ));
    }

    #[test]
    fn a_push_names_its_order_and_nothing_else() {
        let m = PushMessage {
            order_id: "65a1b2c3d4e5f60718293a4b".into(),
            order_number: "ORD-1001".into(),
            status: order_protocol::Status::OutForDelivery,
            kind: "order_status".into(),
            title: "Out for delivery".into(),
            body: "Your order ORD-1001 is on its way.".into(),
            seq: 42,
        };
        let b = body("device-token", &m);
        let msg = &b["message"];
        assert_eq!(msg["token"], "device-token");
        assert_eq!(msg["android"]["collapse_key"], "65a1b2c3d4e5f60718293a4b");
        assert_eq!(msg["android"]["notification"]["channel_id"], "order_updates");
        let data = msg["data"].as_object().unwrap();
        let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["kind", "orderId", "orderNumber", "seq", "status"]);
        assert!(data.values().all(Value::is_string), "FCM data values are strings");
    }
}

//! Webhooks: what the owner of public codes sends to subscribe a URL, what the broker answers, the
//! body of a delivery, and its signature, `Smartcode-Signature: t=<unix seconds>,v1=<hex
//! HMAC-SHA256 of "t.body" under the subscription's secret>`. [`sign`] is the broker's side and
//! [`verify`] a receiver's (and `smartcode webhook verify`'s).
//!
//! ```
//! use smartcode_api::webhooks::{sign, verify, VerifyError};
//!
//! let body = br#"{"id":"ev_x","type":"ping"}"#;
//! let header = sign("whsec_abc", 1_700_000_000, body);
//! assert_eq!(verify("whsec_abc", &header, body, 1_700_000_100, 300), Ok(()));
//! // Too old, or tampered with, or under another secret: refused.
//! assert_eq!(verify("whsec_abc", &header, body, 1_700_000_400, 300), Err(VerifyError::TooOld));
//! assert_eq!(verify("whsec_abc", &header, b"{}", 1_700_000_100, 300), Err(VerifyError::Mismatch));
//! assert_eq!(verify("whsec_other", &header, body, 1_700_000_100, 300), Err(VerifyError::Mismatch));
//! ```

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The header a delivery's signature travels in.
pub const SIGNATURE_HEADER: &str = "smartcode-signature";
/// The header naming the event (the same on every retry of it).
pub const EVENT_ID_HEADER: &str = "smartcode-event-id";

/// `POST /v1/me/webhooks`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebhookRequest {
    pub url: String,
    /// `payment.received`, `refund.created`, `hold.captured`, `hold.voided`, `license.bought`.
    pub events: Vec<String>,
    /// Only this public code's events (one of the caller's), if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_code: Option<String>,
}

/// A subscription as its owner reads it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WebhookJson {
    /// `wh_…`.
    pub id: String,
    pub url: String,
    pub events: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_code: Option<String>,
    pub created_at: String,
    /// The signing secret: only in the answer to a subscription and to a rotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// `GET /v1/me/webhooks`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WebhooksJson {
    pub webhooks: Vec<WebhookJson>,
}

/// One delivery as the subscription's owner reads it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DeliveryJson {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `delivered` or `failed`.
    pub state: String,
    pub attempts: u32,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempt_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When a pending delivery is tried next.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
}

/// `GET /v1/me/webhooks/{id}/deliveries`: newest first.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DeliveriesJson {
    pub webhook: WebhookJson,
    pub deliveries: Vec<DeliveryJson>,
}

/// The body of a delivery: the event, and what it is about as the API shows it (a receipt, a
/// refund, a hold, or for a ping the subscription).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct EventJson {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: String,
    pub webhook_id: String,
    pub data: serde_json::Value,
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `Smartcode-Signature` value of `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, timestamp, body).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Why a delivery's signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyError {
    /// Not `t=<seconds>,v1=<hex>`.
    Malformed,
    /// Signed more than the tolerance ago (or that far in the future).
    TooOld,
    /// No `v1` matches the body under this secret.
    Mismatch,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VerifyError::Malformed => "the signature is not t=<seconds>,v1=<hex>",
            VerifyError::TooOld => "the signature is older than the tolerance",
            VerifyError::Mismatch => "the signature does not match the body under this secret",
        })
    }
}

/// Checks `header` (a `Smartcode-Signature` value) against `body` under `secret` at `now` (unix
/// seconds), refusing a signature more than `tolerance_seconds` away. The comparison takes the
/// same time wherever the tags differ.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_seconds: i64) -> Result<(), VerifyError> {
    let mut timestamp = None;
    let mut tags = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| VerifyError::Malformed)?),
            Some(("v1", tag)) => tags.push(hex::decode(tag).map_err(|_| VerifyError::Malformed)?),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(VerifyError::Malformed)?;
    if tags.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if (now - timestamp).abs() > tolerance_seconds {
        return Err(VerifyError::TooOld);
    }
    let matches = tags
        .iter()
        .any(|tag| mac(secret, timestamp, body).verify_slice(tag).is_ok());
    if matches {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

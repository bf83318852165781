//! Calls out to the seller's broker: a receipt (`GET /v1/receipts/{id}`, public) and the key that
//! signs receipts (`GET /.well-known/smartcode`). Every call is bounded in time
//! ([`BROKER_CALL_SECONDS`]) and in the bytes read ([`BROKER_ANSWER_BYTES_MAX`]) and follows no
//! redirect; a broker that breaks a bound counts as unreachable.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use serde::Deserialize;
use smartcode_api::{Money, ReceiptJson};

use crate::config::ConfigError;

/// How long one call to the broker may take, connecting included.
pub const BROKER_CALL_SECONDS: u64 = 5;
/// Bytes of one answer of the broker read at most.
pub const BROKER_ANSWER_BYTES_MAX: usize = 64 * 1024;
/// How long the broker's receipt key is used before it is read again.
pub const BROKER_KEY_KEPT_SECONDS: u64 = 5 * 60;

/// The broker did not answer as a broker does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BrokerUnavailable(pub String);

/// A receipt as the broker shows it, with what has been refunded of it.
pub(crate) struct FetchedReceipt {
    pub receipt: ReceiptJson,
    pub refunded_units: i64,
}

#[derive(Deserialize)]
struct ReceiptAnswer {
    receipt: ReceiptJson,
    #[serde(default)]
    refunded: Option<Money>,
}

pub(crate) struct BrokerClient {
    base: String,
    http: reqwest::Client,
    key: Mutex<Option<(VerifyingKey, Instant)>>,
}

impl BrokerClient {
    pub fn new(base: String) -> Result<BrokerClient, ConfigError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(BROKER_CALL_SECONDS))
            .connect_timeout(Duration::from_secs(BROKER_CALL_SECONDS))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        Ok(BrokerClient {
            base,
            http,
            key: Mutex::new(None),
        })
    }

    /// The receipt of that id, or `None` when the broker knows none (`404`).
    pub async fn receipt(&self, id: &str) -> Result<Option<FetchedReceipt>, BrokerUnavailable> {
        let url = format!("{}/v1/receipts/{id}", self.base);
        let (status, body) = self.get(&url).await?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status != reqwest::StatusCode::OK {
            return Err(BrokerUnavailable(format!("{url} answered {status}")));
        }
        let answer: ReceiptAnswer =
            serde_json::from_slice(&body).map_err(|e| BrokerUnavailable(format!("{url} answered no receipt: {e}")))?;
        if answer.receipt.id != id {
            return Err(BrokerUnavailable(format!("{url} answered another receipt")));
        }
        let refunded_units = match answer.refunded {
            Some(money) => units_or_zero(&money.amount)
                .ok_or_else(|| BrokerUnavailable(format!("{url} answered an unreadable refunded amount")))?,
            None => 0,
        };
        Ok(Some(FetchedReceipt {
            receipt: answer.receipt,
            refunded_units,
        }))
    }

    /// The key the broker signs receipts with, read again every [`BROKER_KEY_KEPT_SECONDS`].
    pub async fn receipt_key(&self) -> Result<VerifyingKey, BrokerUnavailable> {
        let kept = *self.key.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((key, read_at)) = kept {
            if read_at.elapsed() < Duration::from_secs(BROKER_KEY_KEPT_SECONDS) {
                return Ok(key);
            }
        }
        let url = format!("{}/.well-known/smartcode", self.base);
        let (status, body) = self.get(&url).await?;
        if status != reqwest::StatusCode::OK {
            return Err(BrokerUnavailable(format!("{url} answered {status}")));
        }
        let metadata: serde_json::Value =
            serde_json::from_slice(&body).map_err(|_| BrokerUnavailable(format!("{url} is not JSON")))?;
        let key = metadata["receipt_signature"]["public_key"]
            .as_str()
            .and_then(|hex_text| smartcode_receipt::public_key(hex_text).ok())
            .ok_or_else(|| BrokerUnavailable(format!("{url} gives no receipt_signature.public_key")))?;
        *self.key.lock().unwrap_or_else(|p| p.into_inner()) = Some((key, Instant::now()));
        Ok(key)
    }

    /// Whether the receipt key has been read (and so receipts checked with it).
    #[cfg(test)]
    pub fn knows_key(&self) -> bool {
        self.key.lock().unwrap_or_else(|p| p.into_inner()).is_some()
    }

    /// A GET, its status and at most [`BROKER_ANSWER_BYTES_MAX`] bytes of its body.
    async fn get(&self, url: &str) -> Result<(reqwest::StatusCode, Vec<u8>), BrokerUnavailable> {
        let mut response = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| BrokerUnavailable(format!("{url} did not answer: {e}")))?;
        let too_large = || BrokerUnavailable(format!("{url} answered more than {BROKER_ANSWER_BYTES_MAX} bytes"));
        if response
            .content_length()
            .is_some_and(|length| length > BROKER_ANSWER_BYTES_MAX as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| BrokerUnavailable(format!("{url} stopped answering: {e}")))?
        {
            if body.len() + chunk.len() > BROKER_ANSWER_BYTES_MAX {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((response.status(), body))
    }
}

/// Micro-units of a decimal amount that may be zero (`"0.00"`, as a receipt's `refunded` is
/// before any refund).
fn units_or_zero(text: &str) -> Option<i64> {
    let zero = !text.is_empty()
        && text.bytes().any(|b| b == b'0')
        && text.bytes().all(|b| b == b'0' || b == b'.')
        && text.matches('.').count() <= 1;
    if zero {
        return Some(0);
    }
    smartcode_core::money::Amount::parse(text).ok().map(|a| a.units())
}

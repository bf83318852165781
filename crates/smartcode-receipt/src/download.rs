//! A download token: what a buyer of an item kept on its seller's own server is handed, so the
//! seller's server can let the download through with nothing but the broker's public key (the
//! `receipt_signature.public_key` of its `/.well-known/smartcode`), offline.
//!
//! A token is the text `v1.{item_id}.{receipt_id}.{expires_at}.{signature}`: the item's id, the
//! purchase's receipt id, when it stops being valid (Unix seconds, decimal) and the broker's
//! Ed25519 signature (lowercase hex) over the *message*
//! `smartcode-download-v1\n{item_id}\n{receipt_id}\n{expires_at}\n`. Ids hold no `.`, so the
//! text splits one way only. A seller's server checks the signature, that the item is the one it
//! serves, and that the time has not passed; a token names its purchase, so a server that wants
//! to count fetches counts them by `receipt_id`.
//!
//! ```
//! use smartcode_receipt::{sign_download_token, verify_download_token};
//! let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let token = sign_download_token(&key, "it_1", "r_1", 1_000);
//! let checked = verify_download_token(&token, &key.verifying_key(), "it_1", 999).unwrap();
//! assert_eq!(checked.receipt_id, "r_1");
//! assert!(verify_download_token(&token, &key.verifying_key(), "it_2", 999).is_err());
//! assert!(verify_download_token(&token, &key.verifying_key(), "it_1", 1_000).is_err());
//! ```

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::approval::{sign_message, verify_message};

/// The first line of a download token's message.
pub const DOWNLOAD_V1: &str = "smartcode-download-v1";

/// A token that checked: whose purchase it is, and until when it is valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DownloadToken {
    pub item_id: String,
    pub receipt_id: String,
    pub expires_at: i64,
}

/// Why a token is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DownloadTokenError {
    /// Not a token of this form.
    Malformed,
    /// The signature is not the broker's over this token.
    BadSignature,
    /// A token for another item.
    OtherItem,
    /// Its time has passed.
    Expired,
}

impl std::fmt::Display for DownloadTokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DownloadTokenError::Malformed => "not a smartcode download token",
            DownloadTokenError::BadSignature => "the signature is not the broker's",
            DownloadTokenError::OtherItem => "the token is for another item",
            DownloadTokenError::Expired => "the token's time has passed",
        })
    }
}

impl std::error::Error for DownloadTokenError {}

/// The bytes a token's signature covers.
pub fn download_message(item_id: &str, receipt_id: &str, expires_at: i64) -> String {
    format!("{DOWNLOAD_V1}\n{item_id}\n{receipt_id}\n{expires_at}\n")
}

/// The broker's token for the purchase `receipt_id` of `item_id`, valid before `expires_at`.
pub fn sign_download_token(key: &SigningKey, item_id: &str, receipt_id: &str, expires_at: i64) -> String {
    assert!(!item_id.contains('.') && !receipt_id.contains('.'), "ids hold no dot");
    let signature = sign_message(key, download_message(item_id, receipt_id, expires_at).as_bytes());
    format!("v1.{item_id}.{receipt_id}.{expires_at}.{signature}")
}

/// Checks a token offline: the broker's signature, for `item_id`, valid at `now` (Unix seconds).
pub fn verify_download_token(
    token: &str,
    key: &VerifyingKey,
    item_id: &str,
    now: i64,
) -> Result<DownloadToken, DownloadTokenError> {
    let parts: Vec<&str> = token.trim().split('.').collect();
    let [version, item, receipt, expires_at, signature] = parts[..] else {
        return Err(DownloadTokenError::Malformed);
    };
    if version != "v1" {
        return Err(DownloadTokenError::Malformed);
    }
    let expires_at: i64 = expires_at.parse().map_err(|_| DownloadTokenError::Malformed)?;
    let message = download_message(item, receipt, expires_at);
    verify_message(key, message.as_bytes(), signature).map_err(|_| DownloadTokenError::BadSignature)?;
    if item != item_id {
        return Err(DownloadTokenError::OtherItem);
    }
    if now >= expires_at {
        return Err(DownloadTokenError::Expired);
    }
    Ok(DownloadToken {
        item_id: item.to_owned(),
        receipt_id: receipt.to_owned(),
        expires_at,
    })
}

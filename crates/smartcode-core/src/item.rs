//! An item (`ledger::items`): content the owner of a public code sells at a price, stored by the
//! broker (its bytes uploaded after it is made) or kept on the seller's own server (its `url`).
//! A purchase is a payment into the item's public code stamped with the item's id; the payment's
//! receipt is its download grant, fetched a bounded number of times for a bounded time.

use crate::clock::{Timestamp, MICROS_PER_SECOND};
use crate::code::{CodeId, ItemId, PublicCode};
use crate::limits::DOWNLOAD_GRANT_SECONDS;
use crate::money::{Amount, Currency};

/// What an upload stored: its size, its SHA-256 (hex) and the type it was sent as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentInfo {
    pub bytes: u64,
    pub sha256_hex: String,
    pub content_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemRecord {
    pub id: ItemId,
    /// The secret code that owns `payee`, and so sells the item and is paid for it.
    pub owner_id: CodeId,
    pub payee: PublicCode,
    pub payee_id: CodeId,
    pub title: String,
    pub description: Option<String>,
    pub price: Amount,
    pub currency: Currency,
    pub category: Option<String>,
    /// Where the content is, for an item kept on its seller's server; `None` when stored here.
    pub url: Option<String>,
    /// The stored content's description, once uploaded (never for an item with a `url`).
    pub content: Option<ContentInfo>,
    pub created_at: Timestamp,
}

impl ItemRecord {
    /// Whether a buyer could get it now: its content uploaded, or kept on its seller's server.
    pub fn available(&self) -> bool {
        self.url.is_some() || self.content.is_some()
    }
}

/// When the download grant of a purchase made at `paid_at` ends.
pub fn grant_expires_at(paid_at: Timestamp) -> Timestamp {
    Timestamp(paid_at.0 + DOWNLOAD_GRANT_SECONDS * MICROS_PER_SECOND)
}

//! The JSON of items (content a public code's owner sells) and their purchases: what the broker
//! answers, and what the CLI and sellers' programs read.

use serde::{Deserialize, Serialize};

use crate::{Money, ReceiptJson, RequestAmount};

/// `POST /v1/me/items`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ItemRequest {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub price: RequestAmount,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub public_code: String,
    /// Where the content is kept, on the seller's own server; without it the broker stores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// What an upload stored.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ContentJson {
    pub bytes: u64,
    pub sha256: String,
    pub content_type: String,
}

/// An item as anyone reads it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ItemJson {
    pub id: String,
    pub public_code: String,
    pub title: String,
    pub description: Option<String>,
    pub price: Money,
    pub category: Option<String>,
    /// `stored` (the broker keeps its bytes) or `url` (its seller's server does).
    pub delivery: String,
    /// The stored content, once uploaded; `null` before, and for an item kept elsewhere.
    pub content: Option<ContentJson>,
    pub available: bool,
    pub page: String,
    pub created_at: String,
}

/// `GET /v1/items/{id}`, `POST /v1/me/items`, `PUT /v1/me/items/{id}/content`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ItemEnvelopeJson {
    pub item: ItemJson,
}

/// `GET /v1/me/items` and a public code's items.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ItemsJson {
    pub items: Vec<ItemJson>,
}

/// `POST /v1/items/{id}/purchase`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ItemPurchaseRequest {
    pub code: String,
    /// The code's PIN, if it has one (or send it as `Smartcode-Pin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
}

/// A purchase's download grant.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DownloadJson {
    pub url: String,
    pub expires_at: String,
    pub fetches_left: u32,
}

/// The answer of `POST /v1/items/{id}/purchase`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct BoughtJson {
    pub receipt: ReceiptJson,
    pub download: DownloadJson,
}

/// What a download of an item kept on its seller's server answers: a token signed by the broker
/// that the seller's server checks offline (`smartcode_receipt::verify_download_token`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DownloadTokenJson {
    pub token: String,
    pub url: String,
    pub expires_at: String,
}

/// `POST /v1/me/shares`: `uses` free downloads of an item, given out by one link.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ShareRequest {
    pub item_id: String,
    #[serde(deserialize_with = "crate::requests::whole")]
    pub uses: u32,
    #[serde(deserialize_with = "crate::requests::whole")]
    pub expires_in_seconds: i64,
}

/// A share as its giver sees it (`GET /v1/me/shares`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ShareJson {
    /// The share's code id: the giver cancels it with `POST /v1/me/children/{id}/cancel`.
    pub id: String,
    pub item_id: String,
    pub item_title: String,
    pub uses: u32,
    pub used: u32,
    /// Free downloads it still gives (0 once cancelled or expired).
    pub remaining: u32,
    /// The value it still holds.
    pub left: Money,
    /// `active`, `expired` or `cancelled`.
    pub status: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

/// The answer of `POST /v1/me/shares`: the share's code, shown this once, and its link.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ShareCreatedJson {
    pub code: String,
    /// `/s/{code}`: the page that gives the free downloads.
    pub link: String,
    pub id: String,
    pub share: ShareJson,
}

/// `GET /v1/me/shares`: the shares the holder's code gave, newest first.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SharesJson {
    pub shares: Vec<ShareJson>,
}

//! The JSON of licenses (copies of an item or a named work paid for, each with a public license
//! code): what a buyer asks, what the broker answers, and what anyone reads of a license.

use serde::{Deserialize, Serialize};

use crate::{Money, ReceiptJson, RequestAmount};

/// `POST /v1/me/licenses`: either `item_id` (its price and payee are the item's; a `payee` given
/// must be the item's public code), or `work` with `price` (of one copy) and `payee`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LicenseRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<RequestAmount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee: Option<String>,
    #[serde(deserialize_with = "crate::requests::whole")]
    pub copies: u32,
    /// Who the license is for (a company's name, say), shown as text on its page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licensee: Option<String>,
}

/// What a license is for.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LicensedJson {
    /// `item` (sold here, `item_id`) or `work` (named by its title).
    pub kind: String,
    pub item_id: Option<String>,
    pub title: String,
}

/// A license as anyone reads it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LicenseJson {
    pub license_code: String,
    pub page: String,
    pub licensed: LicensedJson,
    pub copies: u32,
    /// The price of one copy.
    pub price: Money,
    /// What was paid: the price times the copies.
    pub total: Money,
    /// The paying code's profile name when it paid, or "a smartcode holder".
    pub paid_by: String,
    pub licensee: Option<String>,
    /// The public code paid.
    pub payee: String,
    /// What the seller refunded of the payment since.
    pub refunded: Money,
    pub created_at: String,
}

/// The answer of `POST /v1/me/licenses`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LicenseBoughtJson {
    pub license_code: String,
    pub license: LicenseJson,
    pub receipt: ReceiptJson,
}

/// `GET /v1/licenses/{license_code}`: the license and its payment's receipt, signed.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LicenseEnvelopeJson {
    pub license: LicenseJson,
    pub receipt: ReceiptJson,
}

//! Offers and purchases (zero-click buying, API.md): what a seller's resource answers with `402
//! Payment Required`, what a buyer's program sends its broker to buy it, what the broker answers,
//! its approval queue, and the messages of a negotiation between the buyer's broker and the
//! seller's endpoint. Shared by the broker, the seller's crate (`smartcode-seller`), the client and
//! `smartcode fetch`, so that all of them read and write the same bytes.
//!
//! ```
//! use smartcode_api::{Money, OfferJson};
//!
//! let offer = OfferJson {
//!     id: "of_1".into(),
//!     payee: "P-4WZ8N-K3QJD".into(),
//!     price: Money { amount: "0.02".into(), currency: "USD".into() },
//!     unit: "item".into(),
//!     item: Some("article-7".into()),
//!     category: Some("news".into()),
//!     description: "An article of the archive".into(),
//!     negotiable: None,
//!     expires_at: "2026-12-03T12:00:00Z".into(),
//! };
//! // The seller sends it in the body and, base64url, in the `Smartcode-Offer` header...
//! let header = offer.to_header();
//! // ...and the buyer's program reads either back into the same offer.
//! assert_eq!(OfferJson::from_header(&header), Some(offer));
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Money, ReceiptJson, SessionJson};

/// The header a `402` answer carries its offer in (base64url JSON, no padding).
pub const OFFER_HEADER: &str = "smartcode-offer";
/// The header a buyer's program sends the request again with: the id of the receipt that paid.
pub const PAYMENT_HEADER: &str = "smartcode-payment";

/// An offer, as a seller's resource answers `402` with it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OfferJson {
    /// Chosen by the seller, unique among its offers.
    pub id: String,
    /// The seller's public code, at the broker that is to receive the payment.
    pub payee: String,
    pub price: Money,
    /// `item` (one payment for the resource) or `minute` (a metered session).
    pub unit: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negotiable: Option<NegotiableJson>,
    /// RFC 3339; a purchase after it is refused (`410 expired`).
    pub expires_at: String,
}

/// Where and for how long the seller negotiates its price.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NegotiableJson {
    /// An absolute `http` or `https` URL the buyer's broker POSTs its bids to.
    pub endpoint: String,
    pub max_rounds: u32,
}

impl OfferJson {
    /// The header value: base64url (no padding) of the JSON.
    pub fn to_header(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("an offer serializes"))
    }

    pub fn from_header(value: &str) -> Option<OfferJson> {
        let bytes = URL_SAFE_NO_PAD.decode(value.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// The offer's fingerprint: SHA-256 (hex) of its JSON as this crate writes it, fields in their
    /// declared order. A queued purchase keeps it, so an approval pays exactly the offer that was
    /// queued; any change to any field is another offer.
    pub fn fingerprint(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("an offer serializes");
        hex_of(&Sha256::digest(bytes))
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `POST /v1/me/purchases`: buy an offer under the code's spending rules.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRequest {
    pub offer: OfferJson,
    /// How the broker bids for the buyer when the offer is negotiable and over what the rules
    /// allow; absent: `plain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<StrategyJson>,
}

/// A buyer's negotiation strategy: `{name: "plain"}` bids the rules' limit and takes any counter
/// within it; `{name: "concede", start, step}` bids `start`, raises by `step` each round up to
/// the limit, and takes a counter no higher than its bid (any within the limit in the last round).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StrategyJson {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<crate::RequestAmount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<crate::RequestAmount>,
}

/// The broker's answer to a purchase: `paid` (201, with the receipt), `needs_approval` (202, with
/// the approval's id) or, for a metered offer, `session_open` (201, with the session).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PurchaseJson {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<String>,
    /// For `needs_approval`: the approval as queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<QueuedApprovalJson>,
    /// For `session_open`: the session, which the seller charges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionJson>,
    /// The price paid or asked: the offer's, or the one a negotiation agreed (for a metered
    /// offer, its price per minute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    /// The rounds a negotiation took (0 when there was none).
    #[serde(default)]
    pub rounds: u32,
}

/// A purchase waiting for its holder (or a holder above it) in the approval queue.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct QueuedApprovalJson {
    pub id: String,
    /// The code that made the purchase.
    pub code_id: String,
    /// `pending`, `approved`, `declined` or `expired`.
    pub status: String,
    pub offer: OfferJson,
    /// The seller's last counter-offer, when a negotiation ended without agreement.
    pub counter: Option<Money>,
    /// The rule that stopped it (`null`: no rule covers it), and why.
    pub rule: Option<String>,
    pub why: String,
    /// The code whose rule stopped it: its holder, or the buyer's, may approve.
    pub stopped_by: String,
    pub created_at: String,
    /// The offer's expiry: the approval expires with it.
    pub expires_at: String,
    /// Once approved, the payment's receipt id.
    pub receipt_id: Option<String>,
}

/// `GET /v1/me/approvals`: pending approvals first, then those resolved lately, newest first.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ApprovalQueueJson {
    pub approvals: Vec<QueuedApprovalJson>,
}

/// `POST /v1/me/approvals/{id}/approve`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// Also add a rule that pays the same kind of purchase (this payee, this category) up to this
    /// price with no one asked.
    #[serde(default)]
    pub make_rule: bool,
    /// The counter-offer's price instead of the offer's, when the seller made one.
    #[serde(default)]
    pub at_counter: bool,
}

/// What an approval answers: the approval as it now stands, and the receipt if it paid.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ApprovedJson {
    pub approval: QueuedApprovalJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<ReceiptJson>,
    /// For a metered offer: the session the approval opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionJson>,
    /// The rule added, with `make_rule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_added: Option<String>,
}

/// A bid, as the buyer's broker POSTs it to an offer's negotiation endpoint.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BidJson {
    pub offer_id: String,
    /// 1 for the first bid.
    pub round: u32,
    pub bid: Money,
}

/// The seller's answer to a bid: `{accept: true, price}`, `{counter}` or `{reject: true}`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct BidAnswerJson {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub accept: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counter: Option<Money>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reject: bool,
}

impl BidAnswerJson {
    pub fn accept(price: Money) -> BidAnswerJson {
        BidAnswerJson {
            accept: true,
            price: Some(price),
            ..BidAnswerJson::default()
        }
    }

    pub fn counter(price: Money) -> BidAnswerJson {
        BidAnswerJson {
            counter: Some(price),
            ..BidAnswerJson::default()
        }
    }

    pub fn reject() -> BidAnswerJson {
        BidAnswerJson {
            reject: true,
            ..BidAnswerJson::default()
        }
    }
}

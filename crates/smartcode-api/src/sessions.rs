//! Metered sessions (zero-click buying, "up to ten cents a minute"): what the broker answers when a
//! purchase of an offer priced per minute opens one, what a seller sends to charge it as use
//! accrues, and what the buyer lists and closes. Shared by the broker, the client and the CLI.
//!
//! ```
//! use smartcode_api::{ChargeRequest, SESSION_HEADER};
//!
//! // The buyer's program hands the session's id to the seller in a header...
//! assert_eq!(SESSION_HEADER, "smartcode-session");
//! // ...and the seller charges it with its own code, as use accrues.
//! let charge = ChargeRequest { amount: "0.05".into() };
//! assert_eq!(serde_json::to_string(&charge).unwrap(), r#"{"amount":"0.05"}"#);
//! ```

use serde::{Deserialize, Serialize};

use crate::{Money, ReceiptJson, RequestAmount};

/// The header a buyer's program sends a seller the session's id in. The id is no secret: a charge
/// needs the seller's own code.
pub const SESSION_HEADER: &str = "smartcode-session";

/// A metered session, as its buyer and its seller read it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SessionJson {
    /// `se_…`.
    pub id: String,
    /// The seller's id of the offer it was opened for.
    pub offer_id: String,
    pub payee: String,
    pub price_per_minute: Money,
    /// The most its charges may add up to; it closes when they reach it.
    pub cap: Money,
    /// What its charges add up to.
    pub charged: Money,
    pub charges: u32,
    /// `open` or `closed`.
    pub state: String,
    /// Why it closed: `cap_reached`, `closed_by_buyer`, `expired` or `code_closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_reason: Option<String>,
    pub opened_at: String,
    /// The offer's expiry: no use accrues after it.
    pub expires_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
}

/// `GET /v1/sessions/{id}` and `POST /v1/me/sessions/{id}/close`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SessionEnvelopeJson {
    pub session: SessionJson,
}

/// `GET /v1/me/sessions`: open sessions first, then the newest others.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SessionsJson {
    pub sessions: Vec<SessionJson>,
}

/// `POST /v1/sessions/{id}/charge`, by the seller.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ChargeRequest {
    pub amount: RequestAmount,
}

/// What a charge answers: its receipt (memo `session:<id>`) and the session as it now stands.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ChargedJson {
    pub receipt: ReceiptJson,
    pub session: SessionJson,
}

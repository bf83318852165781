//! What a caller sends: request bodies and query strings. The server reads them (unknown fields
//! are refused, so a misspelt field is a 400, not silently ignored); the client writes them (an
//! absent optional field is left out, not sent as `null`).
//!
//! These are text as the caller typed it. Reading them into domain types (`Amount`, `Currency`,
//! `Restrictions`, ...) refuses bad input with the server's problem words, so it stays in the
//! server's `wire` module.

use serde::{Deserialize, Serialize};

/// An amount as a request may give it: a decimal string (`"0.25"`) or a whole number (`10`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum RequestAmount {
    Text(String),
    Whole(u64),
}

impl From<&str> for RequestAmount {
    fn from(text: &str) -> RequestAmount {
        RequestAmount::Text(text.to_owned())
    }
}

impl From<String> for RequestAmount {
    fn from(text: String) -> RequestAmount {
        RequestAmount::Text(text)
    }
}

/// `POST /v1/admin/codes`: the operator issues a new code at the top of a tree.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    pub amount: RequestAmount,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `POST /v1/admin/deposits`: the operator adds money to an existing secret code.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DepositRequest {
    /// The secret code to credit. Either this or `code_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_id: Option<String>,
    pub amount: RequestAmount,
    pub currency: String,
}

/// `POST /v1/me/children`: a secret child (`kind` absent or `"secret"`, with an amount) or a
/// public child (`"public"`, with an optional profile and `under`).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ChildRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<RequestAmount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub irrevocable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub under: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restrictions: Option<RestrictionsRequest>,
}

/// The rules asked for a new secret child (API.md's restrictions object). Every field is
/// optional, and a child is never allowed more than its parent.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RestrictionsRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payees: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_per_use_max: Option<RequestAmount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uses_max: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend_per_period: Option<SpendRequest>,
}

/// At most `amount` spent in any `period_seconds`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SpendRequest {
    pub amount: RequestAmount,
    pub period_seconds: i64,
}

/// `POST /v1/me/children/{id}/fund`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FundRequest {
    pub amount: RequestAmount,
}

/// `POST /v1/payments`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub code: String,
    pub payee: String,
    pub amount: RequestAmount,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}

/// `PUT /v1/me/pin`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    pub pin: String,
}

/// `POST /v1/admin/clock`, on a broker started with the test clock.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ClockRequest {
    pub advance_seconds: i64,
}

/// `PUT /v1/me/profile` and `PUT /v1/me/children/{id}/profile`, and a public child's profile.
/// An empty string clears a field.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub show_stats: Option<bool>,
}

/// The query string of `GET /v1/me/transactions`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TransactionsParams {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The query string of `GET /v1/me/report`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// `day` (the default), `month` or `public_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

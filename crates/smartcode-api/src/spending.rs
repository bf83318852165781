//! The JSON of a code's spending rules (zero-click buying): `PUT /v1/me/rules` takes a
//! [`RulesRequest`], and both it and `GET /v1/me/rules` answer a [`RulesJson`], each rule with
//! what it has spent and has left now. Amounts are in the code's currency.

use serde::{Deserialize, Serialize};

use crate::requests::whole;
use crate::RequestAmount;

/// `PUT /v1/me/rules`: the code's rules, in order (the first that matches a payment decides);
/// they replace the ones before, and their counters start from zero. `[]` removes them.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RulesRequest {
    pub rules: Vec<RuleRequest>,
}

/// One rule as a request gives it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleRequest {
    pub name: String,
    /// What it matches; absent or `{}` matches every payment.
    #[serde(default, rename = "match")]
    pub matches: RuleMatchJson,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_payment: Option<RequestAmount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_period: Option<PeriodRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rate: Option<RateCapRequest>,
    /// `pay`, `ask` or `refuse`.
    pub action: String,
}

/// What a rule matches: each list, where given, must hold what the payment is for (its payee's
/// public code, and the category and item the broker stamped from the payee's catalog).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuleMatchJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payees: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
}

/// At most `amount` in each period of `period_seconds`, counted from when the rules were set.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeriodRequest {
    pub amount: RequestAmount,
    #[serde(deserialize_with = "whole")]
    pub period_seconds: i64,
}

/// At most `amount` per `per_seconds`, draining continuously ("0.10 per 60 s").
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateCapRequest {
    pub amount: RequestAmount,
    #[serde(deserialize_with = "whole")]
    pub per_seconds: i64,
}

/// A code's rules as they stand now.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RulesJson {
    pub code_id: String,
    pub currency: String,
    pub rules: Vec<RuleJson>,
}

/// One rule, as it was set, with what it has spent and left.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RuleJson {
    #[serde(flatten)]
    pub rule: RuleRequest,
    pub set_at: String,
    /// Spent in the current period (`null` without `max_per_period`).
    pub spent: Option<String>,
    /// Left in the current period, and when it ends (`null` without `max_per_period`).
    pub left: Option<String>,
    pub period_ends_at: Option<String>,
    /// What the rate lets through at once now (`null` without `max_rate`).
    pub rate_left_now: Option<String>,
}

//! Where JSON meets the core on the server: the shapes come from `smartcode-api` (re-exported
//! here, so handlers import them from one place), and this module reads requests into domain
//! types, refusing bad input with the server's `ApiError`. Domain types never derive serde.

use smartcode_core::clock::Timestamp;
use smartcode_core::code::{parse_code, ParsedCode, PublicCode};
use smartcode_core::format::CodeFormat;
use smartcode_core::model::{Catalog, CodeKind, Profile, Restrictions, SpendLimit};
use smartcode_core::money::{Amount, AmountError, Currency};

pub use smartcode_api::*;

use crate::problem::{ApiError, ProblemCode};

/// Reads a request's amount into an `Amount`.
pub trait ParseAmount {
    fn parse(&self) -> Result<Amount, ApiError>;
}

impl ParseAmount for RequestAmount {
    fn parse(&self) -> Result<Amount, ApiError> {
        Amount::parse(&self.0).map_err(|error| match error {
            AmountError::TooLarge => ApiError::new(
                axum::http::StatusCode::BAD_REQUEST,
                ProblemCode::LimitExceeded,
                error.to_string(),
            ),
            other => ApiError::invalid_request(other.to_string()),
        })
    }
}

pub fn parse_currency(text: &str) -> Result<Currency, ApiError> {
    Currency::parse(text).map_err(|e| ApiError::invalid_request(e.to_string()))
}

pub fn parse_time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| {
        ApiError::invalid_request(format!("{field} must be an RFC 3339 time such as 2026-11-24T12:00:00Z"))
    })
}

/// Reads the rules asked for a new secret child into `Restrictions`; payees must be public codes
/// of this broker (`domain`).
pub trait ParseRestrictions {
    fn parse(&self, domain: &str) -> Result<Restrictions, ApiError>;
}

impl ParseRestrictions for RestrictionsRequest {
    fn parse(&self, domain: &str) -> Result<Restrictions, ApiError> {
        let payees = self
            .payees
            .as_deref()
            .map(|list| parse_payees(list, domain, "payees"))
            .transpose()?;
        Ok(Restrictions {
            categories: self.categories.clone(),
            payees,
            items: self.items.clone(),
            amount_per_use_max: self.amount_per_use_max.as_ref().map(ParseAmount::parse).transpose()?,
            uses_max: self.uses_max,
            spend_per_period: match &self.spend_per_period {
                None => None,
                Some(spend) => Some(SpendLimit {
                    amount: spend.amount.parse()?,
                    period_seconds: spend.period_seconds,
                }),
            },
        })
    }
}

/// Reads a list of payees (`field`, for the refusal): public codes only, which read alike
/// whatever a broker's format.
pub fn parse_payees(list: &[String], domain: &str, field: &str) -> Result<Vec<PublicCode>, ApiError> {
    list.iter()
        .map(|text| match parse_code(text, domain, CodeFormat::DEFAULT) {
            Ok(ParsedCode::Public(code)) => Ok(code),
            _ => Err(ApiError::invalid_request(format!(
                "each of {field} is a public code (P-…)"
            ))),
        })
        .collect()
}

/// Reads a profile request into a `Profile`.
pub trait IntoProfile {
    fn into_profile(self) -> Profile;
}

impl IntoProfile for ProfileRequest {
    /// Empty strings mean "no value", so a form can clear a field.
    fn into_profile(self) -> Profile {
        let present = |text: Option<String>| text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty());
        Profile {
            name: present(self.name),
            description: present(self.description),
            url: present(self.url),
            contact: present(self.contact),
            show_stats: self.show_stats.unwrap_or(false),
        }
    }
}

/// What a public code sells, as a request declares it. An empty list declares nothing.
pub fn catalog_of(categories: Option<Vec<String>>, items: Option<Vec<String>>) -> Catalog {
    let declared = |list: Option<Vec<String>>| list.filter(|entries| !entries.is_empty());
    Catalog {
        categories: declared(categories),
        items: declared(items),
    }
}

pub fn kind_word(kind: CodeKind) -> String {
    kind.as_str().to_owned()
}

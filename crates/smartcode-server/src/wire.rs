//! The JSON shapes of the API (serde structs), and their conversion to and from domain types.
//! Domain types never derive serde: this module is the only place where JSON meets the core.

use serde::{Deserialize, Deserializer, Serialize};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{parse_code, ParsedCode, PublicCode};
use smartcode_core::ledger::{CodeView, Entry};
use smartcode_core::model::{CodeKind, CodeStatus, Profile, Receipt, ReportRow, Restrictions, SpendLimit};
use smartcode_core::money::{format_units, Amount, AmountError, Currency};

use crate::problem::ApiError;

/// An amount as a request gives it: a decimal string (`"0.25"`). A JSON number is refused, as
/// API.md and openapi.json say amounts are strings.
#[derive(Deserialize, Debug, Clone)]
#[serde(transparent)]
pub struct WireAmount(pub String);

impl WireAmount {
    pub fn parse(&self) -> Result<Amount, ApiError> {
        Amount::parse(&self.0).map_err(|error| match error {
            AmountError::TooLarge => {
                ApiError::new(axum::http::StatusCode::BAD_REQUEST, "limit_exceeded", error.to_string())
            }
            other => ApiError::invalid_request(other.to_string()),
        })
    }
}

/// A whole number as JSON gives it: `484` or `484.0`. JSON has one kind of number and JSON Schema's
/// `integer` (what openapi.json says) takes both; a fraction, or a number out of range, is refused.
fn whole<'de, D: Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<T, D::Error> {
    struct WholeVisitor;

    impl serde::de::Visitor<'_> for WholeVisitor {
        type Value = i64;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a whole number")
        }

        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<i64, E> {
            Ok(value)
        }

        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<i64, E> {
            i64::try_from(value).map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(value), &self))
        }

        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<i64, E> {
            // The cast is exact: the value is whole and inside the range of i64.
            let in_range = value >= i64::MIN as f64 && value < i64::MAX as f64;
            if value.fract() == 0.0 && in_range {
                return Ok(value as i64);
            }
            Err(E::invalid_value(serde::de::Unexpected::Float(value), &self))
        }
    }

    let value = deserializer.deserialize_any(WholeVisitor)?;
    T::try_from(value)
        .map_err(|_| serde::de::Error::invalid_value(serde::de::Unexpected::Signed(value), &"a number in range"))
}

fn optional_whole<'de, D: Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<Option<T>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped<T: TryFrom<i64>>(#[serde(deserialize_with = "whole")] T);
    Ok(Option::<Wrapped<T>>::deserialize(deserializer)?.map(|Wrapped(value)| value))
}

pub fn parse_currency(text: &str) -> Result<Currency, ApiError> {
    Currency::parse(text).map_err(|e| ApiError::invalid_request(e.to_string()))
}

pub fn parse_time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| {
        ApiError::invalid_request(format!("{field} must be an RFC 3339 time such as 2026-11-24T12:00:00Z"))
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    pub amount: WireAmount,
    pub currency: String,
    pub label: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositRequest {
    /// The secret code to credit. Either this or `code_id`.
    pub code: Option<String>,
    pub code_id: Option<String>,
    pub amount: WireAmount,
    pub currency: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChildRequest {
    pub kind: Option<String>,
    pub amount: Option<WireAmount>,
    pub label: Option<String>,
    pub expires_at: Option<String>,
    #[serde(default, deserialize_with = "optional_whole")]
    pub expires_in_seconds: Option<i64>,
    pub irrevocable: Option<bool>,
    pub profile: Option<ProfileRequest>,
    pub under: Option<String>,
    pub restrictions: Option<RestrictionsRequest>,
}

/// The rules asked for a new secret child (API.md's restrictions object).
#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct RestrictionsRequest {
    pub categories: Option<Vec<String>>,
    pub payees: Option<Vec<String>>,
    pub items: Option<Vec<String>>,
    pub amount_per_use_max: Option<WireAmount>,
    #[serde(default, deserialize_with = "optional_whole")]
    pub uses_max: Option<u32>,
    pub spend_per_period: Option<SpendRequest>,
}

#[derive(Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SpendRequest {
    pub amount: WireAmount,
    #[serde(deserialize_with = "whole")]
    pub period_seconds: i64,
}

impl RestrictionsRequest {
    pub fn parse(&self, domain: &str) -> Result<Restrictions, ApiError> {
        let payees = match &self.payees {
            None => None,
            Some(list) => Some(
                list.iter()
                    .map(|text| match parse_code(text, domain) {
                        Ok(ParsedCode::Public(code)) => Ok(code),
                        _ => Err(ApiError::invalid_request("each of payees is a public code (P-…)")),
                    })
                    .collect::<Result<Vec<PublicCode>, ApiError>>()?,
            ),
        };
        Ok(Restrictions {
            categories: self.categories.clone(),
            payees,
            items: self.items.clone(),
            amount_per_use_max: self.amount_per_use_max.as_ref().map(WireAmount::parse).transpose()?,
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClockRequest {
    #[serde(deserialize_with = "whole")]
    pub advance_seconds: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    pub pin: String,
}

/// A code's effective rules and what is left of them, as its holder sees them.
#[derive(Serialize, Default)]
pub struct RestrictionsJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payees: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_per_use_max: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uses_max: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend_per_period: Option<SpendJson>,
    /// The fewest uses left over this code and its ancestors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uses_left: Option<u32>,
    /// The least spending left in the current periods of this code and its ancestors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend_left: Option<Money>,
}

#[derive(Serialize)]
pub struct SpendJson {
    pub amount: Money,
    pub period_seconds: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FundRequest {
    pub amount: WireAmount,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub code: String,
    pub payee: String,
    pub amount: WireAmount,
    pub currency: Option<String>,
    pub memo: Option<String>,
    pub category: Option<String>,
    pub item: Option<String>,
}

#[derive(Deserialize, Serialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub contact: Option<String>,
    pub show_stats: Option<bool>,
}

impl ProfileRequest {
    /// Empty strings mean "no value", so a form can clear a field.
    pub fn into_profile(self) -> Profile {
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionsParams {
    pub since: Option<String>,
    pub until: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    pub group_by: Option<String>,
    pub since: Option<String>,
    pub until: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Responses.

#[derive(Serialize, Clone, Debug)]
pub struct Money {
    pub amount: String,
    pub currency: String,
}

impl Money {
    pub fn new(units: i64, currency: Currency) -> Money {
        Money {
            amount: format_units(units),
            currency: currency.to_string(),
        }
    }
}

#[derive(Serialize)]
pub struct ProfileJson {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub contact: Option<String>,
    pub show_stats: bool,
}

impl From<&Profile> for ProfileJson {
    fn from(p: &Profile) -> ProfileJson {
        ProfileJson {
            name: p.name.clone(),
            description: p.description.clone(),
            url: p.url.clone(),
            contact: p.contact.clone(),
            show_stats: p.show_stats,
        }
    }
}

#[derive(Serialize)]
pub struct CodeJson {
    pub id: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<Money>,
    pub currency: String,
    pub status: &'static str,
    pub parent_id: Option<String>,
    pub label: Option<String>,
    pub profile: ProfileJson,
    pub restrictions: RestrictionsJson,
    pub expires_at: Option<String>,
    pub irrevocable: bool,
    pub pin_set: bool,
    pub children_count: u32,
    pub created_at: String,
}

impl From<&CodeView> for CodeJson {
    fn from(view: &CodeView) -> CodeJson {
        let r = &view.record;
        let money = |units: i64| Money::new(units, r.currency);
        CodeJson {
            id: r.id.to_string(),
            kind: r.kind.as_str(),
            public_code: r.public_code.as_ref().map(ToString::to_string),
            balance: view.account.map(|a| money(a.balance_units)),
            available: view.account.map(|a| money(a.available_units())),
            currency: r.currency.to_string(),
            status: if r.pin.locked && view.status == CodeStatus::Active {
                "locked"
            } else {
                view.status.as_str()
            },
            parent_id: r.parent_id.as_ref().map(ToString::to_string),
            label: r.label.clone(),
            profile: ProfileJson::from(&r.profile),
            restrictions: restrictions_json(view),
            expires_at: r.expires_at.map(Timestamp::to_rfc3339),
            irrevocable: r.irrevocable,
            pin_set: r.pin.hash.is_some(),
            children_count: view.children,
            created_at: r.created_at.to_rfc3339(),
        }
    }
}

/// A code just created: its view, and for a secret code the secret, shown this once.
#[derive(Serialize)]
pub struct CreatedJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(flatten)]
    pub view: CodeJson,
}

#[derive(Serialize)]
pub struct ReceiptJson {
    pub id: String,
    pub payer_id: String,
    pub payee: String,
    pub payee_id: String,
    pub amount: Money,
    pub memo: Option<String>,
    pub category: Option<String>,
    pub item: Option<String>,
    pub created_at: String,
    /// The broker that signed it, and an Ed25519 signature over [`receipt_message`], checkable with
    /// the public key at `/.well-known/smartcode`.
    pub broker: String,
    pub signature: String,
}

/// The exact bytes a receipt's signature covers.
pub fn receipt_message(receipt: &Receipt) -> String {
    format!(
        "smartcode-receipt-v1\n{}\n{}\n{}\n{}\n{}\n{}\n",
        receipt.id,
        receipt.payer_id,
        receipt.payee,
        format_units(receipt.amount.units()),
        receipt.currency,
        receipt.created_at.to_rfc3339()
    )
}

#[derive(Serialize)]
pub struct EntryJson {
    pub id: String,
    pub at: String,
    pub kind: &'static str,
    pub amount: String,
    pub currency: String,
    pub counterparty_id: Option<String>,
    pub memo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_code_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}

impl From<&Entry> for EntryJson {
    fn from(entry: &Entry) -> EntryJson {
        let t = &entry.transfer;
        EntryJson {
            id: t.id.clone(),
            at: t.at.to_rfc3339(),
            kind: t.kind.as_str(),
            amount: format_units(entry.signed_units),
            currency: t.currency.to_string(),
            counterparty_id: entry.counterparty_id.as_ref().map(ToString::to_string),
            memo: t.memo.clone(),
            public_code_id: t.public_code_id.as_ref().map(ToString::to_string),
            category: t.category.clone(),
            item: t.item.clone(),
        }
    }
}

#[derive(Serialize)]
pub struct ReportRowJson {
    pub key: String,
    pub count: u64,
    pub total_in: String,
    pub total_out: String,
}

impl From<&ReportRow> for ReportRowJson {
    fn from(row: &ReportRow) -> ReportRowJson {
        ReportRowJson {
            key: row.key.clone(),
            count: row.count,
            total_in: format_units(row.total_in_units),
            total_out: format_units(row.total_out_units),
        }
    }
}

#[derive(Serialize)]
pub struct AncestorJson {
    pub depth: u32,
    pub kind: &'static str,
    pub profile: Option<ProfileJson>,
}

pub fn kind_word(kind: CodeKind) -> &'static str {
    kind.as_str()
}

fn restrictions_json(view: &CodeView) -> RestrictionsJson {
    let r = &view.record.restrictions;
    let currency = view.record.currency;
    RestrictionsJson {
        categories: r.categories.clone(),
        payees: r.payees.as_ref().map(|p| p.iter().map(ToString::to_string).collect()),
        items: r.items.clone(),
        amount_per_use_max: r.amount_per_use_max.map(|a| Money::new(a.units(), currency)),
        uses_max: r.uses_max,
        spend_per_period: r.spend_per_period.map(|l| SpendJson {
            amount: Money::new(l.amount.units(), currency),
            period_seconds: l.period_seconds,
        }),
        uses_left: view.usage_left.and_then(|u| u.uses),
        spend_left: view
            .usage_left
            .and_then(|u| u.spend_units)
            .map(|units| Money::new(units, currency)),
    }
}

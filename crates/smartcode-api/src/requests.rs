//! What a caller sends: request bodies and query strings. The server reads them (unknown fields
//! are refused, so a misspelt field is a 400, not silently ignored); the client writes them (an
//! absent optional field is left out, not sent as `null`).
//!
//! These are text as the caller typed it. Reading them into domain types (`Amount`, `Currency`,
//! `Restrictions`, ...) refuses bad input with the server's problem words, so it stays in the
//! server's `wire` module.

use serde::{Deserialize, Deserializer, Serialize};

/// An amount as a request gives it: a decimal string (`"0.25"`). A JSON number is refused, as
/// API.md and openapi.json say amounts are strings (a number would invite floating point).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(transparent)]
pub struct RequestAmount(pub String);

impl From<&str> for RequestAmount {
    fn from(text: &str) -> RequestAmount {
        RequestAmount(text.to_owned())
    }
}

impl From<String> for RequestAmount {
    fn from(text: String) -> RequestAmount {
        RequestAmount(text)
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

/// `POST /v1/admin/payouts`: the operator pays value out of a code to its holder outside the
/// system; the value goes back to the issuance account.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PayoutRequest {
    pub code_id: String,
    pub amount: RequestAmount,
    /// The code's currency, if the caller wants it checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The operator's record of the payment made outside the system (a bank transfer's reference).
    pub reference: String,
}

/// `PUT /v1/me/children/{id}/check` and `PUT /v1/admin/codes/{id}/check`: the checker names the
/// name it checked, and the broker marks the profile only if that is its name now.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub name: String,
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
    #[serde(default, deserialize_with = "optional_whole")]
    pub expires_in_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub irrevocable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub under: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restrictions: Option<RestrictionsRequest>,
    /// What a public child sells (its owner declares it; a payment into it is stamped with one).
    /// A secret child's rules go in `restrictions`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
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
    #[serde(default, deserialize_with = "optional_whole")]
    pub uses_max: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend_per_period: Option<SpendRequest>,
}

/// At most `amount` spent in any `period_seconds`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SpendRequest {
    pub amount: RequestAmount,
    #[serde(deserialize_with = "whole")]
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
    /// Required without a quote; with one, if given, it must be the quote's price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<RequestAmount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// A quote's id: the payer pays the quote's `pay` in its currency, the payee gets its price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// With an assurance code as `code`: the certificate the payment is made under.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
}

/// `POST /v1/holds`: the payment's fields, and how long the hold stays pending.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HoldRequest {
    pub code: String,
    pub payee: String,
    pub amount: RequestAmount,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "optional_whole")]
    pub expires_in_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}

/// `POST /v1/me/authorizations`: the exact amount, and optionally the only payee and how long it
/// lives (`AUTHORIZATION_SECONDS_DEFAULT` when absent).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationRequest {
    pub amount: RequestAmount,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payee: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "optional_whole")]
    pub expires_in_seconds: Option<i64>,
}

/// `POST /v1/me/assurances`: the floor, and how long the assurance lasts.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AssuranceRequest {
    pub floor: RequestAmount,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[serde(default, deserialize_with = "optional_whole")]
    pub expires_in_seconds: Option<i64>,
}

/// `POST /v1/assurances/certify`: the assurance code a seller was given, and the seller's payee.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CertifyRequest {
    pub assurance_code: String,
    pub payee: String,
}

/// `POST /v1/receipts/{id}/refund`: how much to give back (all that is left when absent), and why.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<RequestAmount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/holds/{id}/capture`: how much to take (the whole hold when absent).
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<RequestAmount>,
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
    #[serde(deserialize_with = "whole")]
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
    /// What a public code sells; a secret code's own profile has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
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

/// A whole number as JSON gives it: `484` or `484.0`. JSON has one kind of number and JSON Schema's
/// `integer` (what openapi.json says) takes both; a fraction, or a number out of range, is refused.
/// Only counts and seconds are read this way, never money.
pub(crate) fn whole<'de, D: Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<T, D::Error> {
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

        // serde hands `484.0` over as an IEEE 754 double; its bits are read with integer
        // arithmetic only, so no floating-point operation ever touches a request.
        fn visit_f64<E: serde::de::Error>(self, value: f64) -> Result<i64, E> {
            whole_from_bits(value.to_bits()).ok_or_else(|| E::invalid_value(serde::de::Unexpected::Float(value), &self))
        }
    }

    let value = deserializer.deserialize_any(WholeVisitor)?;
    T::try_from(value)
        .map_err(|_| serde::de::Error::invalid_value(serde::de::Unexpected::Signed(value), &"a number in range"))
}

/// The whole number a double's bits stand for (sign, exponent, 52-bit fraction), by integer
/// arithmetic: `None` for a fraction, an infinity, NaN, or a value beyond `i64`.
pub(crate) fn whole_from_bits(bits: u64) -> Option<i64> {
    const FRACTION_BITS: u32 = 52;
    let negative = bits >> 63 == 1;
    let exponent = i64::try_from((bits >> FRACTION_BITS) & 0x7ff).ok()?;
    let fraction = bits & ((1 << FRACTION_BITS) - 1);
    match exponent {
        // Zero, or a subnormal (always a fraction).
        0 => return (fraction == 0).then_some(0),
        0x7ff => return None,
        _ => {}
    }
    let mantissa = fraction | (1 << FRACTION_BITS);
    // The value is mantissa × 2^(exponent − 1075).
    let shift = exponent - 1075;
    let magnitude = if shift >= 0 {
        // mantissa < 2^53, so up to 2^10 more stays below 2^63.
        (shift <= 10).then(|| mantissa << shift)?
    } else {
        let right = u32::try_from(-shift).ok().filter(|right| *right <= FRACTION_BITS)?;
        (mantissa & ((1 << right) - 1) == 0).then(|| mantissa >> right)?
    };
    let magnitude = i64::try_from(magnitude).ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

fn optional_whole<'de, D: Deserializer<'de>, T: TryFrom<i64>>(deserializer: D) -> Result<Option<T>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapped<T: TryFrom<i64>>(#[serde(deserialize_with = "whole")] T);
    Ok(Option::<Wrapped<T>>::deserialize(deserializer)?.map(|Wrapped(value)| value))
}

/// `PUT /v1/admin/rates/{from}/{to}`: units of `to` per unit of `from`, as a decimal string, and
/// a quote's fee in basis points (none when absent).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateRequest {
    pub rate: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_whole"
    )]
    pub fee_bps: Option<u32>,
}

/// An amount of one currency as a request gives it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MoneyRequest {
    pub amount: RequestAmount,
    pub currency: String,
}

/// `POST /v1/quotes`: what `price` costs in `pay_currency`, for anyone or only for `payee`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QuoteRequest {
    pub pay_currency: String,
    pub price: MoneyRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee: Option<String>,
}

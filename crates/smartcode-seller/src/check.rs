//! Whether a receipt pays for a resource: the rules, apart from any I/O. The receipt comes from
//! the seller's own broker; the offer from the seller's memory.
//!
//! A receipt is accepted only if it names this seller's public code as payee, is in the price's
//! currency, names in its memo (`offer:<id>`) an offer this seller issued for this same resource,
//! was made no later than a minute after that offer expired, and moved (less what was refunded)
//! at least the lowest price the seller offered for it.

use smartcode_api::ReceiptJson;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::PublicCode;
use smartcode_core::money::{Amount, Currency};

use crate::book::IssuedOffer;
use crate::config::public_code;
use crate::offer::offer_id_of;

/// How much later than its offer's expiry a receipt may have been made: the buyer's broker
/// refuses to buy an expired offer, and its clock and the seller's may differ by this much.
pub const CLOCK_SKEW_SECONDS: i64 = 60;
/// Characters of a receipt id the `Smartcode-Payment` header may carry.
pub const RECEIPT_ID_CHARS_MAX: usize = 100;

/// Why a payment does not open the resource. The `reason` words are part of the crate's
/// contract (the problem body's `reason`): a variant may be added, never renamed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// `Smartcode-Payment` is not a receipt id.
    MalformedPayment,
    /// The seller's broker knows no such receipt.
    ReceiptNotFound,
    /// The receipt's signature is not the broker's.
    BadSignature,
    /// The receipt pays someone else.
    WrongPayee,
    /// The receipt is in another currency than the price.
    WrongCurrency,
    /// The memo names no offer (`offer:<id>`).
    NoOffer,
    /// The memo names an offer this seller did not issue, or no longer remembers.
    UnknownOffer,
    /// The memo names an offer for another resource.
    OtherResource,
    /// The payment was made after the offer expired.
    PaidAfterExpiry,
    /// The payment is less than the price (after refunds).
    AmountTooLow { paid_units: i64, price: Amount },
    /// The receipt opened another resource already.
    ReceiptUsed,
}

impl Refusal {
    /// The word a program matches on.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::MalformedPayment => "malformed_payment",
            Refusal::ReceiptNotFound => "receipt_not_found",
            Refusal::BadSignature => "bad_signature",
            Refusal::WrongPayee => "wrong_payee",
            Refusal::WrongCurrency => "wrong_currency",
            Refusal::NoOffer => "no_offer",
            Refusal::UnknownOffer => "unknown_offer",
            Refusal::OtherResource => "other_resource",
            Refusal::PaidAfterExpiry => "paid_after_expiry",
            Refusal::AmountTooLow { .. } => "amount_too_low",
            Refusal::ReceiptUsed => "receipt_used",
        }
    }

    /// A sentence for the buyer.
    pub fn detail(&self) -> String {
        match self {
            Refusal::MalformedPayment => {
                "Smartcode-Payment must carry the id of the receipt that paid this offer".to_owned()
            }
            Refusal::ReceiptNotFound => "the seller's broker knows no receipt of that id".to_owned(),
            Refusal::BadSignature => "the receipt's signature is not the seller's broker's".to_owned(),
            Refusal::WrongPayee => "the receipt pays another payee than this seller".to_owned(),
            Refusal::WrongCurrency => "the receipt is in another currency than the price".to_owned(),
            Refusal::NoOffer => "the receipt's memo names no offer (it must be offer:<offer id>)".to_owned(),
            Refusal::UnknownOffer => {
                "the receipt's memo names an offer this seller did not make or no longer keeps".to_owned()
            }
            Refusal::OtherResource => "the receipt paid an offer for another resource".to_owned(),
            Refusal::PaidAfterExpiry => "the receipt was made after its offer expired".to_owned(),
            Refusal::AmountTooLow { paid_units, price } => format!(
                "the receipt moved {} (after refunds), less than the price {price}",
                smartcode_core::money::format_units(*paid_units)
            ),
            Refusal::ReceiptUsed => "the receipt already paid for another resource".to_owned(),
        }
    }
}

/// What the seller expects of every receipt.
pub(crate) struct Expected<'a> {
    pub payee: &'a PublicCode,
    pub currency: Currency,
    pub resource: &'a str,
}

/// A receipt id as a URL path segment may carry it: letters, digits, `_` and `-`.
pub(crate) fn receipt_id(header: &str) -> Result<&str, Refusal> {
    let id = header.trim();
    let fits = !id.is_empty()
        && id.len() <= RECEIPT_ID_CHARS_MAX
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    fits.then_some(id).ok_or(Refusal::MalformedPayment)
}

/// The offer id a receipt names in its memo.
pub(crate) fn named_offer(receipt: &ReceiptJson) -> Result<&str, Refusal> {
    offer_id_of(receipt.memo.as_deref()).ok_or(Refusal::NoOffer)
}

/// Judges a receipt against the offer its memo names (`None`: not one this seller remembers).
/// Answers what it paid, less refunds, in micro-units.
pub(crate) fn judge(
    receipt: &ReceiptJson,
    refunded_units: i64,
    expected: &Expected<'_>,
    offer: Option<&IssuedOffer>,
) -> Result<i64, Refusal> {
    if public_code(&receipt.payee).as_ref() != Some(expected.payee) {
        return Err(Refusal::WrongPayee);
    }
    if Currency::parse(&receipt.amount.currency) != Ok(expected.currency) {
        return Err(Refusal::WrongCurrency);
    }
    named_offer(receipt)?;
    let offer = offer.ok_or(Refusal::UnknownOffer)?;
    if offer.resource != expected.resource {
        return Err(Refusal::OtherResource);
    }
    let latest = offer
        .expires_at
        .plus_seconds(CLOCK_SKEW_SECONDS)
        .unwrap_or(offer.expires_at);
    match Timestamp::parse_rfc3339(&receipt.created_at) {
        Some(created_at) if created_at <= latest => {}
        _ => return Err(Refusal::PaidAfterExpiry),
    }
    // A receipt whose amount does not parse moved nothing this seller can count.
    let amount_units = Amount::parse(&receipt.amount.amount).map_or(0, Amount::units);
    let paid_units = amount_units.saturating_sub(refunded_units.max(0));
    let price = offer.price_min();
    if paid_units < price.units() {
        return Err(Refusal::AmountTooLow { paid_units, price });
    }
    Ok(paid_units)
}

//! What a page says when the broker refuses: words for people, never the API's (no `code` words,
//! no header or field names), and which field of the form was wrong, so the page can mark it
//! (`aria-invalid`) and tie the message to it (`aria-describedby`).

use smartcode_core::error::Conflict;

use crate::problem::{ApiError, ProblemCode};

/// A refusal as a page shows it.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub text: String,
    /// The form field the refusal is about, by its name in the form (`code`, `pin`, `amount`, …).
    pub field: Option<&'static str>,
}

/// The form fields a refusal's detail may name first (the API's field names, which the forms share).
const FIELDS: [&str; 14] = [
    "amount",
    "memo",
    "label",
    "currency",
    "categories",
    "payees",
    "items",
    "uses_max",
    "amount_per_use_max",
    "url",
    "name",
    "description",
    "contact",
    "expires_at",
];

pub fn for_people(error: &ApiError) -> Refusal {
    let said = |text: &str, field: Option<&'static str>| Refusal {
        text: text.to_owned(),
        field,
    };
    match error.code {
        ProblemCode::InvalidCode => said(
            "That is not a working secret code. Check it and type it again.",
            Some("code"),
        ),
        ProblemCode::InvalidCodeFormat => said(
            "That does not look like a code: a secret code is 8 letters and digits, such as 7KQ2-M9XD.",
            Some("code"),
        ),
        ProblemCode::InsufficientFunds => Refusal {
            text: match &error.available {
                Some(available) => format!(
                    "This code does not hold enough: {} {} is available.",
                    available.amount, available.currency
                ),
                None => "This code does not hold enough for that amount.".to_owned(),
            },
            field: Some("amount"),
        },
        ProblemCode::PinRequired => said("This code has a PIN: type it too.", Some("pin")),
        ProblemCode::PinInvalid => {
            let tries = error.tries_left.unwrap_or(0);
            let plural = if tries == 1 { "try" } else { "tries" };
            Refusal {
                text: format!("That PIN is wrong: {tries} {plural} left before the code locks."),
                field: Some("pin"),
            }
        }
        ProblemCode::CodeLocked => said(
            "Too many wrong PINs: this code is locked. The code it was made from can unlock it \
             (for a code the broker issued, the broker's operator can).",
            Some("pin"),
        ),
        ProblemCode::Expired => said(
            "This code has expired; what it held went back to the code it was made from.",
            Some("code"),
        ),
        ProblemCode::CurrencyMismatch => said(
            "This code holds another currency than the one this seller is paid in.",
            Some("code"),
        ),
        ProblemCode::NotRevocable => said("This child was made irrevocable: no code above it can cancel it.", None),
        ProblemCode::NotFound => Refusal {
            text: format!("Not found: {}.", error.detail.trim_end_matches(" not found")),
            field: None,
        },
        ProblemCode::Restricted => restricted(&error.detail),
        ProblemCode::ApprovalRequired => Refusal {
            text: format!("This code's holder wants to be asked first: {}.", error.detail),
            field: None,
        },
        ProblemCode::HoldNotPending => said("This hold was already captured, voided or has expired.", None),
        ProblemCode::AmountMismatch => said("That is more than the hold set aside.", Some("amount")),
        ProblemCode::RefundExceedsPayment => {
            said("That is more than is left to refund of this payment.", Some("amount"))
        }
        ProblemCode::RefundWindowClosed => said("This payment is too old to refund.", None),
        ProblemCode::Conflict => conflict(&error.detail),
        ProblemCode::InvalidRequest | ProblemCode::LimitExceeded => invalid(&error.detail),
        ProblemCode::IdempotencyConflict => said(
            "This form was already sent with other values. Reload the page and fill it in again.",
            None,
        ),
        ProblemCode::Unauthorized => said("That is not the operator token.", Some("token")),
        ProblemCode::Overloaded => said("The broker is busy. Try again in a moment.", None),
        ProblemCode::PayloadTooLarge => said("That is more text than the form takes.", None),
        _ if error.retry_after_seconds.is_some() => Refusal {
            text: format!(
                "Too many wrong codes were tried from here lately. Try again in {} minutes.",
                error.retry_after_seconds.unwrap_or(60).div_ceil(60)
            ),
            field: Some("code"),
        },
        _ => said("Something went wrong in the broker; nothing was changed.", None),
    }
}

/// A restriction's detail is `rule: what it forbids`; people get the second half.
fn restricted(detail: &str) -> Refusal {
    let (rule, why) = detail.split_once(": ").unwrap_or(("", detail));
    let field = match rule {
        "amount_per_use_max" | "spend_per_period" => Some("amount"),
        _ => None,
    };
    Refusal {
        text: format!("This code may not make that payment: {}.", why.replace('_', " ")),
        field,
    }
}

fn conflict(detail: &str) -> Refusal {
    let is = |conflict: Conflict| detail == conflict.to_string();
    let (text, field) = if is(Conflict::PayOwnPublicCode) {
        ("A code cannot pay into its own public code.", Some("code"))
    } else if is(Conflict::FundPublicCode) {
        (
            "A public code holds no value: move value into a secret child instead.",
            None,
        )
    } else if is(Conflict::PinWithoutPin) {
        ("This code has no PIN: leave the PIN empty.", Some("pin"))
    } else if is(Conflict::ExpiryInPast) {
        ("The expiry must be in the future.", Some("expires_at"))
    } else if is(Conflict::ExpiryTooFar) {
        ("The expiry may be at most ten years away.", Some("expires_at"))
    } else {
        return Refusal {
            text: sentence(detail),
            field: None,
        };
    };
    Refusal {
        text: text.to_owned(),
        field,
    }
}

/// A malformed field: the detail names it first; a few details get words of their own.
fn invalid(detail: &str) -> Refusal {
    let first = detail.split([' ', ':']).next().unwrap_or("");
    let mut field = FIELDS.iter().copied().find(|f| *f == first);
    let text = if detail.starts_with("amount must be a decimal") {
        "Type the amount as a number, such as 0.25.".to_owned()
    } else if detail.contains("PIN is") {
        field = Some("pin");
        "A PIN is 4 to 12 digits.".to_owned()
    } else if detail.starts_with("expires") {
        field = Some("expires_at");
        "That expiry cannot be used: give a number of hours, or a date and time ahead.".to_owned()
    } else if detail.contains("payees") {
        field = Some("payees");
        "Payees are public codes, each starting with P-.".to_owned()
    } else if detail.contains("needs an amount") {
        field = Some("amount");
        "Type the amount the child gets.".to_owned()
    } else if detail.contains("url") {
        field = Some("url");
        "The web address must start with http:// or https://.".to_owned()
    } else if detail.contains("JSON") || detail.contains("Idempotency-Key") {
        "The form could not be read. Reload the page and try again.".to_owned()
    } else {
        sentence(&detail.replace('_', " "))
    };
    Refusal { text, field }
}

/// A detail as a sentence: a capital first and a full stop last.
fn sentence(detail: &str) -> String {
    let mut chars = detail.chars();
    let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    let text = format!("{first}{}", chars.as_str());
    if text.ends_with('.') {
        text
    } else {
        format!("{text}.")
    }
}

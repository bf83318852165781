//! Every refusal as RFC 9457 problem+json, with a stable `code` word. This is the one place where
//! the core's errors meet HTTP statuses.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use smartcode_core::error::{
    HoldRefusal, ItemRefusal, LicenseRefusal, OpError, PeerRefusal, QuoteRefusal, RefundRefusal, SessionRefusal,
};

/// The `code` word of a problem: what a client matches on. The words are part of the API (API.md,
/// the OpenAPI document): a variant may be added, never renamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemCode {
    InvalidRequest,
    InvalidCode,
    InvalidCodeFormat,
    InsufficientFunds,
    NotRevocable,
    NotFound,
    CurrencyMismatch,
    /// A well-formed request the state of the codes or the clock rules out.
    Conflict,
    Expired,
    PinRequired,
    PinInvalid,
    CodeLocked,
    Restricted,
    /// A spending rule of the code (or an ancestor) asks its holder first.
    ApprovalRequired,
    /// A hold that is captured, voided or expired cannot be captured or voided.
    HoldNotPending,
    /// An amount other than the one the instrument is for (a capture over its hold).
    AmountMismatch,
    /// Refunds of a payment would add up to more than the payment.
    RefundExceedsPayment,
    /// The payment is older than the refund window.
    RefundWindowClosed,
    /// The broker keeps no rate for the pair a quote asks for.
    RateUnknown,
    /// A quote past its expiry.
    QuoteExpired,
    /// A quote that paid already.
    QuoteUsed,
    /// A quote made for another payee.
    QuotePayeeMismatch,
    /// At the rate, the price costs more than one payment may move.
    QuoteTooLarge,
    /// A peer of that name is there already.
    PeerExists,
    /// A peer did not answer in time, or not at all.
    PeerUnreachable,
    /// A peer answered with metadata the broker cannot use.
    PeerMetadataInvalid,
    /// A peer publishes another signing key than the one the operator gave.
    PeerKeyMismatch,
    /// A message between brokers from a broker that is no peer of this one.
    PeerUnknown,
    /// A message between brokers through a peer the operator suspended (either side).
    PeerSuspended,
    /// The peer owes as much as its credit limit allows.
    PeerLimitReached,
    /// A message between brokers whose signature does not check (or is missing, or too old).
    BadSignature,
    /// A charge the seller's broker voided: it is never made.
    ChargeClosed,
    /// A charge that came after its deadline.
    ChargeExpired,
    /// A metered session that is closed (its cap reached, closed by its buyer, expired, or its
    /// code closed) takes no charge.
    SessionClosed,
    /// A charge of a metered session beyond what its cap leaves.
    SessionCapExceeded,
    /// A charge of a metered session faster than its price per minute, or than the buyer's
    /// spending rules let through now.
    SessionRateExceeded,
    /// An item's upload larger than the broker stores.
    ContentTooLarge,
    /// An item bought or fetched before its content was uploaded.
    ItemNoContent,
    /// An upload to an item kept on its seller's own server.
    ItemKeptElsewhere,
    /// A download fetched as many times as its purchase allows.
    DownloadExhausted,
    /// A download whose time is over.
    DownloadExpired,
    /// A download grant presented for another item than the one bought.
    DownloadWrongItem,
    /// A download of a purchase its seller refunded in full.
    DownloadRefunded,
    ShareCancelled,
    ShareExpired,
    ShareUsedUp,
    /// A license for an item naming another payee than the item's public code.
    LicensePayeeMismatch,
    /// A license whose price times its copies is more than one payment may move.
    LicenseTotalTooLarge,
    LimitExceeded,
    IdempotencyConflict,
    Overloaded,
    RateLimited,
    /// Free tries are used up: answer the `Smartcode-Challenge` (a proof of work) or wait.
    ChallengeRequired,
    Unauthorized,
    MethodNotAllowed,
    PayloadTooLarge,
    RequestTimeout,
    Internal,
}

impl ProblemCode {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemCode::InvalidRequest => "invalid_request",
            ProblemCode::InvalidCode => "invalid_code",
            ProblemCode::InvalidCodeFormat => "invalid_code_format",
            ProblemCode::InsufficientFunds => "insufficient_funds",
            ProblemCode::NotRevocable => "not_revocable",
            ProblemCode::NotFound => "not_found",
            ProblemCode::CurrencyMismatch => "currency_mismatch",
            ProblemCode::Conflict => "conflict",
            ProblemCode::Expired => "expired",
            ProblemCode::PinRequired => "pin_required",
            ProblemCode::PinInvalid => "pin_invalid",
            ProblemCode::CodeLocked => "code_locked",
            ProblemCode::Restricted => "restricted",
            ProblemCode::ApprovalRequired => "approval_required",
            ProblemCode::HoldNotPending => "hold_not_pending",
            ProblemCode::AmountMismatch => "amount_mismatch",
            ProblemCode::RefundExceedsPayment => "refund_exceeds_payment",
            ProblemCode::RefundWindowClosed => "refund_window_closed",
            ProblemCode::RateUnknown => "rate_unknown",
            ProblemCode::QuoteExpired => "quote_expired",
            ProblemCode::QuoteUsed => "quote_used",
            ProblemCode::QuotePayeeMismatch => "quote_payee_mismatch",
            ProblemCode::QuoteTooLarge => "quote_too_large",
            ProblemCode::PeerExists => "peer_exists",
            ProblemCode::PeerUnreachable => "peer_unreachable",
            ProblemCode::PeerMetadataInvalid => "peer_metadata_invalid",
            ProblemCode::PeerKeyMismatch => "peer_key_mismatch",
            ProblemCode::PeerUnknown => "peer_unknown",
            ProblemCode::PeerSuspended => "peer_suspended",
            ProblemCode::PeerLimitReached => "peer_limit_reached",
            ProblemCode::BadSignature => "bad_signature",
            ProblemCode::ChargeClosed => "charge_closed",
            ProblemCode::ChargeExpired => "charge_expired",
            ProblemCode::SessionClosed => "session_closed",
            ProblemCode::SessionCapExceeded => "session_cap_exceeded",
            ProblemCode::SessionRateExceeded => "session_rate_exceeded",
            ProblemCode::ContentTooLarge => "content_too_large",
            ProblemCode::ItemNoContent => "item_no_content",
            ProblemCode::ItemKeptElsewhere => "item_kept_elsewhere",
            ProblemCode::DownloadExhausted => "download_exhausted",
            ProblemCode::DownloadExpired => "download_expired",
            ProblemCode::DownloadWrongItem => "download_wrong_item",
            ProblemCode::DownloadRefunded => "download_refunded",
            ProblemCode::ShareCancelled => "share_cancelled",
            ProblemCode::ShareExpired => "share_expired",
            ProblemCode::ShareUsedUp => "share_used_up",
            ProblemCode::LicensePayeeMismatch => "license_payee_mismatch",
            ProblemCode::LicenseTotalTooLarge => "license_total_too_large",
            ProblemCode::LimitExceeded => "limit_exceeded",
            ProblemCode::IdempotencyConflict => "idempotency_conflict",
            ProblemCode::Overloaded => "overloaded",
            ProblemCode::RateLimited => "rate_limited",
            ProblemCode::ChallengeRequired => "challenge_required",
            ProblemCode::Unauthorized => "unauthorized",
            ProblemCode::MethodNotAllowed => "method_not_allowed",
            ProblemCode::PayloadTooLarge => "payload_too_large",
            ProblemCode::RequestTimeout => "request_timeout",
            ProblemCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ProblemCode,
    pub detail: String,
    /// Seconds to send in `Retry-After`.
    pub retry_after_seconds: Option<u64>,
    /// Free tries of a code or PIN left to whoever sent it (`tries_left` in the problem).
    pub tries_left: Option<i64>,
    /// The `Smartcode-Challenge` to send, base64url.
    pub challenge: Option<String>,
    /// What the code has available, on a refusal for want of funds (`available` in the problem).
    pub available: Option<Box<smartcode_api::Money>>,
}

#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    tries_left: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    difficulty_bits: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    available: Option<&'a smartcode_api::Money>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ProblemCode, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            detail: detail.into(),
            retry_after_seconds: None,
            tries_left: None,
            challenge: None,
            available: None,
        }
    }

    /// Says how many free tries are left; the detail says it too, for people.
    pub fn with_tries_left(mut self, tries: i64) -> ApiError {
        let tries = tries.max(0);
        let plural = if tries == 1 { "try" } else { "tries" };
        self.detail = format!("{} ({tries} {plural} left today)", self.detail);
        self.tries_left = Some(tries);
        self
    }

    /// Free tries are used up: a challenge to answer, or the seconds until a free try.
    pub fn challenge_required(required: &crate::guard::ChallengeRequired) -> ApiError {
        let minutes = required.retry_after_seconds.div_ceil(60);
        let mut detail = format!(
            "too many wrong codes were tried lately; answer the challenge in Smartcode-Challenge \
             ({} bits of work) or try again in {minutes} minutes",
            required.challenge.difficulty_bits
        );
        if let Some(why) = required.answer_refused {
            detail = format!("{why}; {detail}");
        }
        let mut error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, ProblemCode::ChallengeRequired, detail);
        error.retry_after_seconds = Some(required.retry_after_seconds);
        error.tries_left = Some(0);
        error.challenge = Some(required.challenge.to_header());
        error
    }

    /// A wrong PIN: how many more wrong ones the code takes before it locks.
    pub fn pin_invalid(tries_left: i64) -> ApiError {
        let tries_left = tries_left.max(0);
        let plural = if tries_left == 1 { "try" } else { "tries" };
        let mut error = ApiError::new(
            StatusCode::FORBIDDEN,
            ProblemCode::PinInvalid,
            format!("the PIN is wrong: {tries_left} {plural} left before the code locks"),
        );
        error.tries_left = Some(tries_left);
        error
    }

    /// Too little available: says how much there is.
    pub fn with_available(mut self, available: smartcode_api::Money) -> ApiError {
        self.detail = format!("{}: {} {} available", self.detail, available.amount, available.currency);
        self.available = Some(Box::new(available));
        self
    }

    pub fn invalid_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, ProblemCode::InvalidRequest, detail)
    }

    pub fn invalid_code() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            ProblemCode::InvalidCode,
            "no usable secret code matches",
        )
    }

    /// The broker's own failure, opaque to the caller; whoever returns it logs what happened.
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ProblemCode::Internal,
            "the broker failed; nothing was changed",
        )
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ProblemCode::NotFound,
            format!("{what} not found"),
        )
    }
}

impl ProblemCode {
    /// The code for a `code` word, as another broker answered it.
    pub fn from_word(word: &str) -> Option<ProblemCode> {
        crate::web::problems::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == word)
    }
}

impl From<OpError> for ApiError {
    fn from(error: OpError) -> ApiError {
        let detail = error.to_string();
        use ProblemCode as P;
        let (status, code) = match &error {
            OpError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, P::InvalidRequest),
            OpError::InvalidCode => (StatusCode::UNAUTHORIZED, P::InvalidCode),
            OpError::InsufficientFunds => (StatusCode::PAYMENT_REQUIRED, P::InsufficientFunds),
            OpError::NotRevocable => (StatusCode::FORBIDDEN, P::NotRevocable),
            OpError::NotFound(_) => (StatusCode::NOT_FOUND, P::NotFound),
            OpError::CurrencyMismatch => (StatusCode::CONFLICT, P::CurrencyMismatch),
            OpError::Conflict(smartcode_core::error::Conflict::PeerExists) => (StatusCode::CONFLICT, P::PeerExists),
            OpError::Conflict(_) => (StatusCode::CONFLICT, P::Conflict),
            OpError::Expired => (StatusCode::GONE, P::Expired),
            OpError::PinRequired => (StatusCode::FORBIDDEN, P::PinRequired),
            OpError::PinInvalid => (StatusCode::FORBIDDEN, P::PinInvalid),
            OpError::CodeLocked => (StatusCode::LOCKED, P::CodeLocked),
            OpError::Restricted(_) => (StatusCode::FORBIDDEN, P::Restricted),
            OpError::ApprovalRequired { .. } => (StatusCode::FORBIDDEN, P::ApprovalRequired),
            OpError::Hold(HoldRefusal::NotPending { .. }) => (StatusCode::CONFLICT, P::HoldNotPending),
            OpError::Hold(HoldRefusal::MoreThanHeld { .. } | HoldRefusal::NotAuthorizedAmount { .. }) => {
                (StatusCode::CONFLICT, P::AmountMismatch)
            }
            OpError::Refund(RefundRefusal::ExceedsPayment { .. }) => {
                (StatusCode::UNPROCESSABLE_ENTITY, P::RefundExceedsPayment)
            }
            OpError::Refund(RefundRefusal::WindowClosed) => (StatusCode::GONE, P::RefundWindowClosed),
            OpError::Quote(refusal) => match refusal {
                QuoteRefusal::NoRate { .. } => (StatusCode::UNPROCESSABLE_ENTITY, P::RateUnknown),
                QuoteRefusal::Expired => (StatusCode::GONE, P::QuoteExpired),
                QuoteRefusal::Used => (StatusCode::CONFLICT, P::QuoteUsed),
                QuoteRefusal::OtherPayee => (StatusCode::CONFLICT, P::QuotePayeeMismatch),
                QuoteRefusal::NotThePrice { .. } => (StatusCode::CONFLICT, P::AmountMismatch),
                QuoteRefusal::PayTooLarge => (StatusCode::UNPROCESSABLE_ENTITY, P::QuoteTooLarge),
            },
            OpError::Peer(refusal) => match refusal {
                PeerRefusal::Suspended => (StatusCode::FORBIDDEN, P::PeerSuspended),
                PeerRefusal::LimitReached { .. } => (StatusCode::FORBIDDEN, P::PeerLimitReached),
                PeerRefusal::ChargeClosed => (StatusCode::CONFLICT, P::ChargeClosed),
                PeerRefusal::ChargeLate => (StatusCode::GONE, P::ChargeExpired),
                PeerRefusal::ChargeNotPrepared { .. } => (StatusCode::CONFLICT, P::Conflict),
            },
            OpError::Session(refusal) => match refusal {
                SessionRefusal::Closed { .. } => (StatusCode::CONFLICT, P::SessionClosed),
                SessionRefusal::CapExceeded { .. } => (StatusCode::CONFLICT, P::SessionCapExceeded),
                SessionRefusal::Accrual { .. } | SessionRefusal::Rules { .. } => {
                    (StatusCode::CONFLICT, P::SessionRateExceeded)
                }
            },
            OpError::Item(refusal) => match refusal {
                ItemRefusal::NoContent => (StatusCode::CONFLICT, P::ItemNoContent),
                ItemRefusal::KeptElsewhere => (StatusCode::CONFLICT, P::ItemKeptElsewhere),
                ItemRefusal::DownloadExhausted { .. } => (StatusCode::GONE, P::DownloadExhausted),
                ItemRefusal::DownloadExpired => (StatusCode::GONE, P::DownloadExpired),
                ItemRefusal::DownloadOtherItem => (StatusCode::FORBIDDEN, P::DownloadWrongItem),
                ItemRefusal::DownloadRefunded => (StatusCode::GONE, P::DownloadRefunded),
                ItemRefusal::ShareCancelled => (StatusCode::GONE, P::ShareCancelled),
                ItemRefusal::ShareExpired => (StatusCode::GONE, P::ShareExpired),
                ItemRefusal::ShareUsedUp { .. } => (StatusCode::GONE, P::ShareUsedUp),
            },
            OpError::License(refusal) => match refusal {
                LicenseRefusal::PayeeMismatch { .. } => (StatusCode::CONFLICT, P::LicensePayeeMismatch),
                LicenseRefusal::TotalTooLarge => (StatusCode::UNPROCESSABLE_ENTITY, P::LicenseTotalTooLarge),
            },
            OpError::LimitExceeded(_) => (StatusCode::BAD_REQUEST, P::LimitExceeded),
            OpError::IdempotencyConflict => (StatusCode::UNPROCESSABLE_ENTITY, P::IdempotencyConflict),
            OpError::Overloaded => (StatusCode::SERVICE_UNAVAILABLE, P::Overloaded),
            OpError::CodeCollision | OpError::VerifyPin { .. } | OpError::Storage(_) => {
                // Complete in the log, opaque to the caller.
                tracing::error!(error = ?error, "request failed inside the broker");
                return ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ProblemCode::Internal,
                    "the broker failed; nothing was changed",
                );
            }
        };
        ApiError::new(status, code, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        crate::metrics::METRICS.refused(self.code.as_str());
        let problem = Problem {
            // A reference resolved against the broker's own address (RFC 9457 allows it): the
            // broker serves the word's page there (`web::problems`).
            kind: format!("/problems/{}", self.code.as_str()),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code.as_str(),
            tries_left: self.tries_left,
            difficulty_bits: self
                .challenge
                .as_deref()
                .and_then(smartcode_api::challenge::ChallengeJson::from_header)
                .map(|c| c.difficulty_bits),
            available: self.available.as_deref(),
        };
        let body = serde_json::to_vec(&problem).expect("a problem serializes");
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        let retry_after_seconds = match self.retry_after_seconds {
            Some(seconds) => Some(seconds),
            None if self.status == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            None => None,
        };
        if let Some(seconds) = retry_after_seconds {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        if let Some(value) = self.challenge.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
            response
                .headers_mut()
                .insert(smartcode_api::challenge::CHALLENGE_HEADER, value);
        }
        response
    }
}

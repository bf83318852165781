//! The broker's own documentation of its refusals: `GET /problems/{code}`, one page per `code`
//! word, which is where a problem's `type` (`/problems/insufficient_funds`, a reference resolved
//! against the broker's address) leads. Each word has a human explanation and what to do next;
//! [`explain`] matches every [`ProblemCode`], so a new word cannot be added without its page.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;

use super::{page, pages, Csrf};
use crate::problem::ProblemCode;
use crate::AppState;

/// What a page says of one refusal: its usual HTTP status, what it means, and what to do.
pub struct Explanation {
    pub status: u16,
    pub meaning: &'static str,
    pub remedy: &'static str,
}

/// Every word, in the order of the page that lists them.
pub const ALL: &[ProblemCode] = &[
    ProblemCode::InvalidRequest,
    ProblemCode::InvalidCodeFormat,
    ProblemCode::LimitExceeded,
    ProblemCode::InvalidCode,
    ProblemCode::Unauthorized,
    ProblemCode::InsufficientFunds,
    ProblemCode::PinRequired,
    ProblemCode::PinInvalid,
    ProblemCode::Restricted,
    ProblemCode::ApprovalRequired,
    ProblemCode::NotRevocable,
    ProblemCode::NotFound,
    ProblemCode::MethodNotAllowed,
    ProblemCode::CurrencyMismatch,
    ProblemCode::Conflict,
    ProblemCode::HoldNotPending,
    ProblemCode::AmountMismatch,
    ProblemCode::RefundExceedsPayment,
    ProblemCode::RateUnknown,
    ProblemCode::QuoteExpired,
    ProblemCode::QuoteUsed,
    ProblemCode::QuotePayeeMismatch,
    ProblemCode::QuoteTooLarge,
    ProblemCode::PeerExists,
    ProblemCode::PeerUnreachable,
    ProblemCode::PeerMetadataInvalid,
    ProblemCode::PeerKeyMismatch,
    ProblemCode::PeerUnknown,
    ProblemCode::PeerSuspended,
    ProblemCode::PeerLimitReached,
    ProblemCode::BadSignature,
    ProblemCode::ChargeClosed,
    ProblemCode::ChargeExpired,
    ProblemCode::SessionClosed,
    ProblemCode::SessionCapExceeded,
    ProblemCode::SessionRateExceeded,
    ProblemCode::ContentTooLarge,
    ProblemCode::ItemNoContent,
    ProblemCode::ItemKeptElsewhere,
    ProblemCode::DownloadExhausted,
    ProblemCode::DownloadExpired,
    ProblemCode::DownloadWrongItem,
    ProblemCode::DownloadRefunded,
    ProblemCode::ShareCancelled,
    ProblemCode::ShareExpired,
    ProblemCode::ShareUsedUp,
    ProblemCode::LicensePayeeMismatch,
    ProblemCode::LicenseTotalTooLarge,
    ProblemCode::RefundWindowClosed,
    ProblemCode::Expired,
    ProblemCode::PayloadTooLarge,
    ProblemCode::RequestTimeout,
    ProblemCode::IdempotencyConflict,
    ProblemCode::CodeLocked,
    ProblemCode::RateLimited,
    ProblemCode::ChallengeRequired,
    ProblemCode::Internal,
    ProblemCode::Overloaded,
];

/// The word's code, if it is one of the broker's.
pub fn parse(word: &str) -> Option<ProblemCode> {
    ALL.iter().copied().find(|code| code.as_str() == word)
}

pub fn explain(code: ProblemCode) -> Explanation {
    use ProblemCode as P;
    let (status, meaning, remedy) = match code {
        P::InvalidRequest => (
            400,
            "The request does not fit the API: malformed JSON, a field missing, unknown or of the wrong type, or an amount the broker cannot take (zero, negative, a number instead of a decimal string, or more than 6 decimal places). Nothing happened.",
            "Read the detail, which names what is wrong, and send the request again corrected. The OpenAPI document at /openapi.json describes every field.",
        ),
        P::InvalidCodeFormat => (
            400,
            "The text given as a code cannot be a code of this broker: the wrong length or letters, or a code that names another broker after @.",
            "Check the code as written on its card or screen. Case, spaces and hyphens do not matter, and O, I and L read as 0, 1 and 1.",
        ),
        P::LimitExceeded => (
            400,
            "The request would pass one of the broker's named bounds: a text too long, a tree too deep, too many children of one code, a cancel of too many codes, or more than a balance may hold.",
            "The detail names the bound. Split the work (cancel lower branches first, use shorter text) or use smaller amounts.",
        ),
        P::InvalidCode => (
            401,
            "No usable secret code matches: the code is unknown, was cancelled, or is a public code, which can receive payments but never make them. Every such try counts as a guess.",
            "Check the code. A cancelled code no longer works; its parent took back what it held.",
        ),
        P::Unauthorized => (
            401,
            "The operator's token is missing or wrong.",
            "Send it as Authorization: Bearer <token>; the token is the operator-token file in the broker's data directory.",
        ),
        P::InsufficientFunds => (
            402,
            "The code's available balance (its balance less any value set aside) is below the amount. Nothing was paid.",
            "Pay a smaller amount, or add value to the code: its parent can fund it, or the operator can deposit into it.",
        ),
        P::PinRequired => (
            403,
            "This code has a PIN, and the request did not give it.",
            "Send the PIN with the code: the Smartcode-Pin header, --pin or SMARTCODE_PIN on the command line, or the PIN field of the page.",
        ),
        P::PinInvalid => (
            403,
            "The PIN given is not the code's. Wrong PINs in a row lock the code.",
            "Try again with the right PIN. A forgotten PIN cannot be recovered: the code's parent can cancel it and take back its value.",
        ),
        P::Restricted => (
            403,
            "One of the code's rules (or an ancestor's) forbids this use: a category, payee or item it may not pay for, an amount above its per-payment limit, its uses spent, or its spending per period reached.",
            "The detail names the rule. The code's holder sees its rules and what is left of them on the code's page or with smartcode balance.",
        ),
        P::ApprovalRequired => (
            403,
            "A spending rule of the code (or of a code above it) asks its holder before this payment: the rule says ask, or the payment is over its most per payment, what its period has left, or what its rate lets through now.",
            "The detail names the rule and why. The code's holder can change its rules (PUT /v1/me/rules, smartcode rules set), or wait: a period starts again and a rate drains with time.",
        ),
        P::NotRevocable => (
            403,
            "This child was created irrevocable: no code above it may cancel it or anything below it. Its value is its holder's for good.",
            "Nothing to retry; only the child's own holder decides what happens to it.",
        ),
        P::NotFound => (
            404,
            "There is no such thing here, or it is not visible to the credential that asked: an id, a public code, a receipt, or an endpoint.",
            "Check the id or address. A code's children are found only through that code or its ancestors.",
        ),
        P::MethodNotAllowed => (
            405,
            "This endpoint exists but does not take that HTTP method.",
            "The OpenAPI document at /openapi.json lists the methods of each endpoint.",
        ),
        P::CurrencyMismatch => (
            409,
            "The codes involved hold different currencies, or the currency named is not the code's. Value never crosses currencies silently.",
            "Use a code of the right currency.",
        ),
        P::Conflict => (
            409,
            "The request is well formed, but the state of the codes rules it out: a PIN sent for a code that has none, paying one's own public code, funding a public code, an expiry in the past or too far ahead, or a payout from a cancelled code.",
            "The detail says which. Change the request to fit the codes as they are.",
        ),
        P::SessionClosed => (
            409,
            "The metered session is closed: its charges reached its cap, its buyer closed it, its offer expired, or the buyer's code was cancelled or expired. A closed session takes no more charges, and this one took nothing.",
            "Read the session (GET /v1/sessions/{id}) to see why it closed. To go on, the buyer buys a new offer, which opens a new session.",
        ),
        P::SessionCapExceeded => (
            409,
            "The charge would take the metered session past its cap, the most its charges may add up to (fixed when it opened from the buyer's balance and spending rules). Nothing was charged.",
            "Charge at most what the detail says is left: a charge that reaches the cap exactly is taken, and closes the session.",
        ),
        P::SessionRateExceeded => (
            409,
            "The charge is faster than the metered session allows: more than its price per minute has accrued since it opened, less what was charged, or more than the buyer's spending rules let through now. Nothing was charged.",
            "Charge at most what the detail says has accrued, or wait: use accrues by the minute and a rule's rate drains with time. Charge small amounts often.",
        ),
        P::ContentTooLarge => (
            413,
            "The upload is larger than the broker stores for one item (ITEM_CONTENT_BYTES_MAX, 4 MiB). Nothing was stored; what the item held before is unchanged.",
            "Upload a smaller file, or keep the content on your own server and make the item with its url: buyers then get a signed token for it.",
        ),
        P::ItemNoContent => (
            409,
            "The item has no content yet: its seller made it but has not uploaded its file. Nothing was paid.",
            "Try again once the seller has uploaded it (PUT /v1/me/items/{id}/content).",
        ),
        P::ItemKeptElsewhere => (
            409,
            "The item is kept on its seller's own server (it was made with a url), so the broker stores no upload for it. Nothing was stored.",
            "Make another item without a url to have the broker store its content.",
        ),
        P::DownloadExhausted => (
            410,
            "The download was fetched as many times as a purchase allows (DOWNLOAD_FETCHES_MAX). Nothing was counted.",
            "Buy the item again for more downloads, or keep the copy already fetched.",
        ),
        P::DownloadExpired => (
            410,
            "The download's time is over: a purchase may be fetched only for a bounded time after it (DOWNLOAD_GRANT_SECONDS). Nothing was counted.",
            "Buy the item again for a new download.",
        ),
        P::DownloadWrongItem => (
            403,
            "This download was granted by the purchase of another item: a purchase downloads what it bought and nothing else. Nothing was counted.",
            "Use the download URL the purchase answered, which names its item.",
        ),
        P::DownloadRefunded => (
            410,
            "The seller gave back all of this purchase, so its download grant ended with it. Nothing was counted.",
            "Buy the item again to download it.",
        ),
        P::ShareCancelled => (
            410,
            "Whoever gave this share cancelled it and took back what was left, so its link gives no more free downloads. Nothing was paid.",
            "Buy the item on its page (/i/{item}), or ask the giver for a new link.",
        ),
        P::ShareExpired => (
            410,
            "This share's time is over: what was left of it went back to whoever gave it. Nothing was paid.",
            "Buy the item on its page (/i/{item}), or ask the giver for a new link.",
        ),
        P::ShareUsedUp => (
            410,
            "Every free download this share paid for was taken already. Nothing was paid.",
            "Buy the item for its price: the share's page offers it.",
        ),
        P::LicensePayeeMismatch => (
            409,
            "A license for an item pays the item's own public code, and the request named another payee. Nothing was paid.",
            "Leave payee out, or give the item's public code (GET /v1/items/{id} shows it).",
        ),
        P::LicenseTotalTooLarge => (
            422,
            "The price of one copy times the copies is more than one payment may move. Nothing was paid.",
            "Buy fewer copies in each license, and several licenses if you need more.",
        ),
        P::HoldNotPending => (
            409,
            "The hold was captured, voided or has expired already: only a pending hold can be captured or voided, and each only once.",
            "Read the hold (GET /v1/holds/{id}) to see how it ended. An expired hold gave its value back; ask the buyer for a new one.",
        ),
        P::AmountMismatch => (
            409,
            "The amount is not one the instrument allows: a capture takes at most what its hold set aside, and a payment with a quote pays exactly the quote's price.",
            "Capture the hold's amount or less (for more, ask the buyer for a new hold or a payment); with a quote, leave the amount out or give its price.",
        ),
        P::RefundExceedsPayment => (
            422,
            "The refunds of one payment would add up to more than the payment.",
            "The detail says how much is left to refund; refund that or less.",
        ),
        P::RefundWindowClosed => (
            410,
            "A payment can be refunded for 180 days after it was made; this one is older.",
            "Pay the buyer back with a payment of your own code instead.",
        ),
        P::RateUnknown => (
            422,
            "The broker keeps no rate from the currency to pay in to the price's currency, so it cannot quote that pair.",
            "GET /v1/rates lists the pairs the broker exchanges; pay in one of those currencies, or ask the operator for the rate.",
        ),
        P::QuoteExpired => (
            410,
            "The quote's 15 minutes are over: its price in the other currency is no longer guaranteed. Nothing was paid.",
            "Ask for a new quote (POST /v1/quotes) and pay with it.",
        ),
        P::PeerExists => (
            409,
            "A peer of this name is there already. Nothing was added.",
            "List the peers (smartcode peer list); remove the old one first, or give the new one another --name.",
        ),
        P::PeerUnreachable => (
            503,
            "The other broker did not answer in time. Nothing happened.",
            "Check its URL and that it is up, and try again; nothing needs undoing.",
        ),
        P::PeerMetadataInvalid => (
            502,
            "The other broker answered, but not with metadata this broker can use (its /.well-known/smartcode). Nothing was added.",
            "Check that the URL is the broker's own address and that it runs smartcode.",
        ),
        P::PeerUnknown => (
            403,
            "A message came from a broker that is no peer of this one. Nothing happened.",
            "The operators of both brokers add each other as peers (smartcode peer add URL) first.",
        ),
        P::PeerSuspended => (
            403,
            "The operator suspended this peer: payments through it are refused both ways. Nothing happened.",
            "Pay with a code of this broker, or ask the operator to resume the peer (smartcode peer resume NAME).",
        ),
        P::PeerLimitReached => (
            403,
            "The buyer's broker owes this broker as much as its credit limit allows. Nothing was paid.",
            "Try again once the two brokers have settled, or pay with a code of this broker.",
        ),
        P::BadSignature => (
            401,
            "A message between brokers was not signed by the key pinned for its sender, or is dated too far from now. Nothing happened.",
            "Check both brokers' clocks and the key pinned for the peer (smartcode peer list shows its fingerprint).",
        ),
        P::ChargeClosed => (
            409,
            "The seller's broker voided this charge before it arrived: it is never made. Nothing was paid.",
            "The seller's broker sends a new charge with a new id.",
        ),
        P::ChargeExpired => (
            410,
            "This charge arrived after its deadline; the seller's broker no longer waits for it. Nothing was paid.",
            "The seller's broker sends a new charge with a new id; check both brokers' clocks.",
        ),
        P::PeerKeyMismatch => (
            409,
            "The other broker publishes another signing key than the one given. Nothing was added.",
            "Check the key with its operator out of band; someone may be standing between the two brokers.",
        ),
        P::QuoteUsed => (
            409,
            "This quote paid already: a quote pays once. Nothing more was paid.",
            "Ask for a new quote for another payment; a retry of the same payment sends its Idempotency-Key again and gets the first receipt.",
        ),
        P::QuotePayeeMismatch => (
            409,
            "The quote was made for one payee, and this payment is to another. Nothing was paid.",
            "Pay the public code the quote names, or ask for a quote for this one.",
        ),
        P::QuoteTooLarge => (
            422,
            "At the broker's rate, the price would cost more than one payment may move (1,000,000,000 units of a currency).",
            "Ask for a smaller price, or pay in parts.",
        ),
        P::Expired => (
            410,
            "The code has expired. What it held went, or is going, back to its parent by itself.",
            "Use another code; the parent may make a new child.",
        ),
        P::PayloadTooLarge => (
            413,
            "The request's body is larger than the broker takes (16 KiB).",
            "Send a smaller body.",
        ),
        P::RequestTimeout => (
            408,
            "The request's body took too long to arrive.",
            "Send it again over a better connection.",
        ),
        P::IdempotencyConflict => (
            422,
            "This Idempotency-Key was already used with a different request. A key names one request, so a retry happens once.",
            "Send the same request again with that key, or a new request with a new key.",
        ),
        P::CodeLocked => (
            423,
            "Too many wrong PINs in a row: the code is locked, even for the right PIN. Payments into its public codes still work.",
            "Its parent can unlock it (the code's page, or smartcode unlock <id>); an issued code is unlocked by the operator.",
        ),
        P::RateLimited => (
            429,
            "Too many requests for now. (The guessing defence no longer answers this: it asks for a proof of work, challenge_required.)",
            "Wait as long as the Retry-After header says, then try again.",
        ),
        P::ChallengeRequired => (
            429,
            "Many wrong codes were tried lately from where this request came (or with its proof or seller key), so the broker asks for a moment of work before it tries this code: guessing codes is how codes are stolen, and the work makes guessing dear while honest customers still get in.",
            "Send the same request again with Smartcode-Challenge-Response: <id>:<nonce>, the answer to the Smartcode-Challenge header (the pages and the smartcode CLI do it by themselves), or wait as long as Retry-After says for a free try. Keeping the proof the broker gives after a success (POST /v1/me/proof) spares the work next time.",
        ),
        P::Internal => (
            500,
            "The broker failed inside. Nothing was changed, and the operator's log has what happened.",
            "Try again later; if it persists, tell the broker's operator.",
        ),
        P::Overloaded => (
            503,
            "The broker has more work waiting than it takes on. Nothing was changed.",
            "Try again shortly, as Retry-After says; with an Idempotency-Key a retry happens once.",
        ),
    };
    Explanation {
        status,
        meaning,
        remedy,
    }
}

/// `GET /problems/{code}`: the page of one word, or 404 for a word the broker does not use.
pub(super) async fn problem_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(word): Path<String>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    // The type URLs of earlier brokers wrote the word with hyphens.
    match parse(&word.replace('-', "_")) {
        Some(code) => page(StatusCode::OK, &csrf, pages::problem(code, &explain(code))),
        None => page(StatusCode::NOT_FOUND, &csrf, pages::problems(Some(&word))),
    }
}

/// `GET /problems`: every word, with a line each.
pub(super) async fn problems_index(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let csrf = Csrf::of(&state, &headers);
    page(StatusCode::OK, &csrf, pages::problems(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_word_reads_back_and_has_its_own_explanation() {
        let mut meanings = std::collections::BTreeSet::new();
        for &code in ALL {
            assert_eq!(parse(code.as_str()), Some(code));
            let explanation = explain(code);
            assert!((400..600).contains(&explanation.status), "{code}");
            assert!(meanings.insert(explanation.meaning), "{code} has a meaning of its own");
        }
        assert_eq!(parse("no_such_word"), None);
    }
}

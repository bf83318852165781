//! Every answer the paywall gives instead of the resource, in one place: `402` with an offer,
//! `402` with a problem saying why a payment was not accepted (and a fresh offer), `503` when the
//! broker cannot be asked, and `400` for a body that is not a bid. Problems are RFC 9457
//! `application/problem+json` with a `code` word, as the broker's are.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use smartcode_api::{OfferJson, OFFER_HEADER};

use crate::check::Refusal;

/// The problem `code` of a payment that does not open the resource.
pub const PAYMENT_NOT_ACCEPTED: &str = "payment_not_accepted";
/// The problem `code` of a `503`: the seller's broker could not be asked about the payment.
pub const BROKER_UNAVAILABLE: &str = "broker_unavailable";
/// Seconds a buyer is told to wait after a `503`.
const RETRY_AFTER_SECONDS: u64 = 5;

const PROBLEM_JSON: &str = "application/problem+json";

/// `402 Payment Required` with the offer as the JSON body and in `Smartcode-Offer`.
pub(crate) fn payment_required(offer: &OfferJson) -> Response {
    let body = serde_json::to_vec(offer).expect("an offer serializes");
    with_offer(StatusCode::PAYMENT_REQUIRED, "application/json", body, offer)
}

/// `402` again: a problem saying why the payment was refused, with a fresh offer in the header
/// and as the problem's `offer` member.
pub(crate) fn payment_refused(offer: &OfferJson, refusal: &Refusal) -> Response {
    let body = json!({
        "type": format!("/problems/{PAYMENT_NOT_ACCEPTED}"),
        "title": "Payment Required",
        "status": 402,
        "detail": refusal.detail(),
        "code": PAYMENT_NOT_ACCEPTED,
        "reason": refusal.reason(),
        "offer": offer,
    });
    with_offer(
        StatusCode::PAYMENT_REQUIRED,
        PROBLEM_JSON,
        body.to_string().into_bytes(),
        offer,
    )
}

/// `503`: the payment could not be checked, so the resource stays closed. Opaque to the buyer;
/// the cause is in the seller's log.
pub(crate) fn broker_unavailable() -> Response {
    let body = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        BROKER_UNAVAILABLE,
        "the seller's broker could not be asked about the payment; send the request again shortly",
    );
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    set(&mut response, header::CONTENT_TYPE, PROBLEM_JSON);
    set(&mut response, header::RETRY_AFTER, &RETRY_AFTER_SECONDS.to_string());
    response
}

/// `400 invalid_request`: the negotiation endpoint was sent something that is not a bid.
pub(crate) fn invalid_bid(why: &str) -> Response {
    let detail = format!("the body must be a bid {{offer_id, round, bid: {{amount, currency}}}}: {why}");
    let body = problem(StatusCode::BAD_REQUEST, "invalid_request", &detail);
    let mut response = (StatusCode::BAD_REQUEST, body).into_response();
    set(&mut response, header::CONTENT_TYPE, PROBLEM_JSON);
    response
}

fn problem(status: StatusCode, code: &str, detail: &str) -> String {
    json!({
        "type": format!("/problems/{code}"),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    })
    .to_string()
}

fn with_offer(status: StatusCode, content_type: &str, body: Vec<u8>, offer: &OfferJson) -> Response {
    let mut response = (status, body).into_response();
    set(&mut response, header::CONTENT_TYPE, content_type);
    set(&mut response, header::CACHE_CONTROL, "no-store");
    set(&mut response, OFFER_HEADER, &offer.to_header());
    response
}

fn set(response: &mut Response, name: impl header::IntoHeaderName, value: &str) {
    let value = HeaderValue::from_str(value).expect("header values here are ASCII");
    response.headers_mut().insert(name, value);
}

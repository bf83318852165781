//! Federation between brokers: the signed endpoint other brokers charge this broker's codes
//! through (`POST /v1/federation`, [`inbound`]), and the seller's side of a payment with a code of
//! another broker ([`outbound`]: the charge, its retries and outcome query, and the resolver that
//! voids charges left in doubt). The state machines are in ARCHITECTURE.md ("A payment across two
//! brokers"); the rules each side's store keeps are the core's, in `ledger::federation`; the bytes
//! each signature covers are `smartcode-receipt`'s (`request_message`, `answer_message`,
//! `approval_message`).
//!
//! Every message is bounded: one request within [`PEER_REQUEST_SECONDS`], at most
//! [`PEER_MESSAGE_BYTES_MAX`] bytes each way and [`PEER_ENTRIES_PER_MESSAGE_MAX`] entries, dated
//! within [`PEER_CLOCK_SKEW_SECONDS`] of the receiver's clock, never following a redirect.

mod batch;
mod certify;
mod holds;
mod inbound;
mod outbound;
pub(crate) mod refunds;
mod statements;
mod work;

pub use batch::Batches;

pub(crate) use certify::certify_elsewhere;
pub(crate) use holds::{capture_elsewhere, hold_elsewhere, hold_json, read_hold, void_elsewhere};
pub(crate) use outbound::{listed_peers, pay_elsewhere, peer_for_code, resolve_in_doubt};

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use smartcode_api::{FederationAnswer, FederationMessage};
use smartcode_core::limits::{
    PEER_CLOCK_SKEW_SECONDS, PEER_ENTRIES_PER_MESSAGE_MAX, PEER_MESSAGE_BYTES_MAX, PEER_REQUEST_SECONDS,
};
use smartcode_core::model::PeerRecord;
use smartcode_receipt::{answer_message, body_digest, request_message, sign_message, verify_message, RequestParts};

use super::Entry;
use crate::problem::ApiError;
use crate::Broker;

/// The sender's domain.
pub const BROKER_HEADER: &str = "smartcode-broker";
/// When the message was sent, in Unix seconds.
pub const DATE_HEADER: &str = "smartcode-date";
/// Ed25519 over the message's signed form, hex.
pub const SIGNATURE_HEADER: &str = "smartcode-signature";
/// Where every broker takes messages from its peers (`federation.endpoint`).
pub const ENDPOINT_PATH: &str = "/v1/federation";
/// Where a peer asks for this broker's statement of what moved between them.
pub const STATEMENT_PATH: &str = "/v1/federation/statement";

pub(super) fn routes() -> Vec<Entry> {
    let endpoint = post(inbound::handle).layer(axum::extract::DefaultBodyLimit::max(PEER_MESSAGE_BYTES_MAX));
    let mut routes = vec![
        (Method::POST, ENDPOINT_PATH, endpoint),
        (Method::POST, STATEMENT_PATH, post(statements::handle_asked)),
    ];
    routes.extend(statements::routes());
    routes
}

/// The HTTP client of calls out to peers: bounded in time, no redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(PEER_REQUEST_SECONDS))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client builds")
}

fn now_seconds(state: &Broker) -> i64 {
    state.clock.now().0 / smartcode_core::clock::MICROS_PER_SECOND
}

fn within_skew(state: &Broker, date: i64) -> bool {
    (now_seconds(state) - date).abs() <= PEER_CLOCK_SKEW_SECONDS
}

/// Why a message to a peer has no usable answer.
#[derive(Clone, Debug)]
pub(crate) enum SendError {
    /// No answer, or none this broker can trust (unsigned, signed by another key, malformed, too
    /// large, too old): whether the peer acted on it is unknown.
    Unreachable(String),
    /// The peer refused the whole message, signed: nothing happened there.
    Refused(smartcode_api::EntryProblem),
}

/// Sends `message` to `peer` and checks its answer: signed by the key pinned for it, for this
/// very request, in time, one answer per entry with the entry's id.
pub(crate) async fn send(
    state: &Broker,
    peer: &PeerRecord,
    message: &FederationMessage,
    timeout: Duration,
) -> Result<FederationAnswer, SendError> {
    if message.entries.len() > PEER_ENTRIES_PER_MESSAGE_MAX {
        return Err(SendError::Unreachable("too many entries for one message".into()));
    }
    let body = serde_json::to_vec(message).expect("a message serializes");
    let answer = exchange(state, peer, ENDPOINT_PATH, body, timeout).await?;
    let answer: FederationAnswer = serde_json::from_slice(&answer)
        .map_err(|_| SendError::Unreachable(format!("{}: an answer this broker cannot read", peer.name)))?;
    let matches = answer.entries.len() == message.entries.len()
        && answer
            .entries
            .iter()
            .zip(&message.entries)
            .all(|(a, m)| a.id == entry_id(m));
    if !matches {
        return Err(SendError::Unreachable(format!(
            "{}: an answer to other entries",
            peer.name
        )));
    }
    Ok(answer)
}

/// Posts `body` to `peer`'s `path`, signed, and answers the body of its signed 200 answer: a
/// signed refusal is [`SendError::Refused`], anything unsigned or off is no answer.
pub(crate) async fn exchange(
    state: &Broker,
    peer: &PeerRecord,
    path: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<Vec<u8>, SendError> {
    let date = now_seconds(state);
    let signature = sign_message(
        state.keys.federation_signing_key(),
        &request_message(&RequestParts {
            method: "POST",
            path,
            from: &state.config.domain,
            to: &peer.domain,
            date,
            body: &body,
        }),
    );
    let unreachable = |why: String| SendError::Unreachable(format!("{}: {why}", peer.name));
    let mut response = state
        .federation_client
        .post(format!("{}{path}", peer.url))
        .timeout(timeout)
        .header("content-type", "application/json")
        .header(BROKER_HEADER, &state.config.domain)
        .header(DATE_HEADER, date.to_string())
        .header(SIGNATURE_HEADER, signature)
        .body(body.clone())
        .send()
        .await
        .map_err(|e| unreachable(format!("no answer ({e})")))?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (from, date, signature) = (header(BROKER_HEADER), header(DATE_HEADER), header(SIGNATURE_HEADER));
    let mut answer = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unreachable(format!("the answer stopped ({e})")))?
    {
        if answer.len() + chunk.len() > PEER_MESSAGE_BYTES_MAX {
            return Err(unreachable("the answer is too large".into()));
        }
        answer.extend_from_slice(&chunk);
    }
    let date: i64 = date
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| unreachable("an unsigned answer".into()))?;
    if !from.is_some_and(|f| f.eq_ignore_ascii_case(&peer.domain)) || !within_skew(state, date) {
        return Err(unreachable("an answer from another broker, or too old".into()));
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(&peer.signing_key)
        .map_err(|_| unreachable("its pinned key is no Ed25519 key".into()))?;
    let signed = answer_message(&body_digest(&body), status, &peer.domain, date, &answer);
    verify_message(&key, &signed, signature.as_deref().unwrap_or(""))
        .map_err(|_| unreachable("an answer not signed by its pinned key".into()))?;
    if status != 200 {
        let problem: serde_json::Value =
            serde_json::from_slice(&answer).map_err(|_| unreachable("a refusal that is no problem".into()))?;
        return Err(SendError::Refused(smartcode_api::EntryProblem {
            status,
            code: problem["code"].as_str().unwrap_or("peer_unreachable").to_owned(),
            detail: problem["detail"].as_str().unwrap_or_default().to_owned(),
            challenge: None,
        }));
    }
    Ok(answer)
}

pub(crate) fn entry_id(entry: &smartcode_api::FederationEntry) -> &str {
    use smartcode_api::FederationEntry as E;
    match entry {
        E::Charge { id, .. }
        | E::Hold { id, .. }
        | E::Capture { id, .. }
        | E::Certify { id, .. }
        | E::Outcome { id, .. }
        | E::Void { id, .. }
        | E::Refund { id, .. } => id,
    }
}

/// An answer to a peer, signed for the request it answers (whose body was `request`).
pub(crate) fn signed_answer(state: &Broker, request: &[u8], status: StatusCode, body: Vec<u8>, json: &str) -> Response {
    let date = now_seconds(state);
    let message = answer_message(
        &body_digest(request),
        status.as_u16(),
        &state.config.domain,
        date,
        &body,
    );
    let signature = sign_message(state.keys.federation_signing_key(), &message);
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_str(json).expect("a content type is a header value"),
    );
    headers.insert(
        BROKER_HEADER,
        HeaderValue::from_str(&state.config.domain).expect("a domain is a header value"),
    );
    headers.insert(DATE_HEADER, HeaderValue::from(date));
    headers.insert(
        SIGNATURE_HEADER,
        HeaderValue::from_str(&signature).expect("hex is a header value"),
    );
    response
}

/// A refusal of a whole message, signed like any answer.
pub(crate) fn signed_refusal(state: &Broker, request: &[u8], refusal: ApiError) -> Response {
    let status = refusal.status;
    let problem = serde_json::json!({
        "type": format!("/problems/{}", refusal.code.as_str()),
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": refusal.detail,
        "code": refusal.code.as_str(),
    });
    let body = serde_json::to_vec(&problem).expect("a problem serializes");
    crate::metrics::METRICS.refused(refusal.code.as_str());
    signed_answer(state, request, status, body, "application/problem+json")
}

/// The headers a request from a peer must carry: who sent it, when, and its signature.
pub(crate) fn signed_headers(headers: &HeaderMap) -> Option<(String, i64, String)> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    Some((
        text(BROKER_HEADER)?,
        text(DATE_HEADER)?.parse().ok()?,
        text(SIGNATURE_HEADER)?,
    ))
}

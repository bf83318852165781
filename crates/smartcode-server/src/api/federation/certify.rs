//! The seller's broker's side of an assurance code of another broker: `POST
//! /v1/assurances/certify` with `A-…@domain` asks that broker to certify it for a seller here.
//! The certificate is that broker's, signed with its federation key (the one this broker pinned):
//! this broker checks it before handing it on, and the seller checks it the same way. Payments
//! presented with it are charges that carry its id (`outbound::pay_elsewhere`).
//!
//! A certify moves nothing, so it is sent once (within [`PEER_REQUEST_SECONDS`]); if its answer
//! is lost, the seller asks again, and the certificate the peer made meanwhile sets its floor
//! aside there until its end (a few minutes), as an unused certificate at home does.

use std::time::Duration;

use smartcode_api::{CertificateJson, FederationEntry, FederationMessage, Secret};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::ReceiptId;
use smartcode_core::ledger::federation::seller_elsewhere;
use smartcode_core::limits::PEER_REQUEST_SECONDS;
use smartcode_core::model::PeerRecord;

use super::outbound::{admit, refused, unreachable};
use super::{send, SendError};
use crate::extract::Caller;
use crate::problem::ApiError;
use crate::AppState;

/// Asks `peer` to certify its assurance code `code` for the seller `payee` here.
pub(crate) async fn certify_elsewhere(
    state: &AppState,
    mut caller: Caller,
    (peer, code): (PeerRecord, String),
    payee: &str,
) -> Result<CertificateJson, ApiError> {
    admit(state, &mut caller).await?;
    let payee = crate::api::aliases::payee(state, payee).await?;
    let now = state.clock.now();
    let entry = FederationEntry::Certify {
        id: ReceiptId::generate_at(now).to_string(),
        assurance_code: Secret(code),
        payee: payee.to_string(),
    };
    let timeout = Duration::from_secs(PEER_REQUEST_SECONDS);
    let mut answer = match send(state, &peer, &FederationMessage { entries: vec![entry] }, timeout).await {
        Ok(answer) => answer,
        Err(SendError::Refused(problem)) => {
            let answered = smartcode_api::EntryAnswer {
                id: String::new(),
                status: "refused".into(),
                approval: None,
                expires_at: None,
                certificate: None,
                problem: Some(problem),
            };
            return Err(refused(state, &caller, answered).await);
        }
        Err(SendError::Unreachable(_)) => return Err(unreachable(&peer)),
    };
    let Some(answered) = answer.entries.pop() else {
        return Err(unreachable(&peer));
    };
    if answered.status == "refused" {
        return Err(refused(state, &caller, answered).await);
    }
    let ours = seller_elsewhere(&payee.to_string(), &state.config.domain);
    match answered.certificate {
        Some(certificate) if checked(&peer, &certificate, &ours, now) => Ok(certificate),
        _ => {
            tracing::warn!(peer = %peer.name, "a peer certified with a certificate that does not check");
            Err(unreachable(&peer))
        }
    }
}

/// Whether `certificate` is the peer's, signed by its pinned key, for `payee` here, still valid.
fn checked(peer: &PeerRecord, certificate: &CertificateJson, payee: &str, now: Timestamp) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&peer.signing_key) else {
        return false;
    };
    certificate.broker.eq_ignore_ascii_case(&peer.domain)
        && certificate.payee == payee
        && Timestamp::parse_rfc3339(&certificate.valid_until).is_some_and(|until| until > now)
        && smartcode_receipt::verify_certificate(certificate, &key).is_ok()
}

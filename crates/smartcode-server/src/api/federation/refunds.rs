//! Refunds of payments made with a code of another broker, the seller's broker's side
//! (ARCHITECTURE.md, "A refund across two brokers"). The refund itself is made here as a local one
//! is (`POST /v1/receipts/{id}/refund`), into the peer's account, with a charge record
//! `refunding` beside it; the seller is answered at once. The resolver ([`super::outbound`])
//! sends every refunding record to the peer as a `refund` entry, at once and then each second,
//! until the peer answers: `refunded` (given back to the buyer's code) ends it, and so does a
//! refusal for good (a 4xx: the record becomes `failed`; the refund stands here, so this broker's
//! statement keeps its line and reconcile names the difference). Refunds go in a message of their
//! own, apart from voids, so a refund the peer cannot take never holds up a void.

use smartcode_api::{EntryAnswer, FederationEntry, Money};
use smartcode_core::ledger::federation::refund_of;
use smartcode_core::ledger::{payments, Outcome};
use smartcode_core::model::{AccountKey, ChargeRecord, ChargeState};

use super::outbound::shown_payee;
use crate::api::Reply;
use crate::AppState;

/// The `refund` entry that sends a refunding record on; `None` for a record that is no refund.
pub(super) fn entry(record: &ChargeRecord) -> Option<FederationEntry> {
    let (charge, seq) = refund_of(&record.id)?;
    Some(FederationEntry::Refund {
        id: record.id.clone(),
        charge: charge.to_owned(),
        seq,
        amount: Money::new(record.amount.units(), record.currency),
        payee: shown_payee(record),
        refunded_at: record.deadline.to_rfc3339(),
    })
}

/// Whether the peer refused one of the refunds among `sent` for good (a 4xx: sending it again
/// would be refused again), not for a while.
pub(super) fn refused_for_good(sent: &[ChargeRecord], answered: &EntryAnswer) -> bool {
    let refund = sent
        .iter()
        .any(|c| c.id == answered.id && c.state == ChargeState::Refunding);
    let final_refusal = answered
        .problem
        .as_ref()
        .is_some_and(|p| (400..500).contains(&p.status) && p.status != 429);
    if refund && final_refusal {
        let detail = answered.problem.as_ref().map_or("", |p| p.detail.as_str());
        tracing::warn!(refund = %answered.id, detail, "a peer refused a refund for good: reconcile shows it");
    }
    refund && final_refusal
}

/// After a refund here: if it goes to a peer, the resolver sends it now rather than within a second.
pub(crate) fn made(state: &AppState, reply: &Reply) {
    if let Reply::Done {
        outcome: Outcome::Payments(payments::Outcome::Refunded(refund)),
        ..
    } = reply
    {
        if matches!(refund.credited, AccountKey::Peer { .. }) {
            state.federation_batches.resolve_soon.notify_one();
        }
    }
}

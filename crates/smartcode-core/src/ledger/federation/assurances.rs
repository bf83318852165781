//! Assurance certificates across brokers: a seller of the peer B presents an assurance code of
//! this broker (A) at B, B asks A to certify it for that seller ([`certify`]), and payments B then
//! charges with the certificate take from what it set aside ([`from_certificate`]), never refused
//! for lack of funds, as at home ([`super::super::assurances`]).
//!
//! The certificate is a hold of kind `certificate` on the holder's code with no local payee; its
//! memo names the seller at the peer (`P-… at b.test`), and only charges from that peer for that
//! seller take from it.

use crate::clock::Timestamp;
use crate::code::{CodeHash, HoldId};
use crate::error::{HoldRefusal, Invalid, OpError, Restriction};
use crate::limits::CODE_INPUT_CHARS_MAX;
use crate::model::*;
use crate::money::Amount;

use super::super::{check_text, restrictions, Context, LedgerTx};
use super::{active_peer, Outcome};

/// How a seller of another broker is named: its public code there, and that broker's domain.
pub fn seller_elsewhere(payee: &str, domain: &str) -> String {
    format!("{payee} at {domain}")
}

/// At A: certifies the assurance `hash` for the seller `payee` of `peer` (its public code as
/// the peer writes it): the floor set aside for [`CERTIFICATE_SECONDS`], if the code can.
pub(super) fn certify(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    peer: &str,
    hash: &CodeHash,
    payee: &str,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    if payee.is_empty() {
        return Err(OpError::InvalidRequest(Invalid::EmptyText { field: "payee" }));
    }
    check_text("payee", Some(payee), CODE_INPUT_CHARS_MAX)?;
    let peer = active_peer(tx, peer)?;
    let certifiable = super::super::assurances::certifiable(tx, now, hash)?;
    // Whether the holder may pay a seller elsewhere at all, for one payment's worth: nothing is
    // counted until a payment is made.
    restrictions::check_payment_elsewhere(tx, now, &certifiable.holder, certifiable.probe)?;
    let outcome = certifiable.certify(tx, cx, (None, Some(seller_elsewhere(payee, &peer.domain))))?;
    match outcome {
        super::super::assurances::Outcome::Certified { certificate, assurance } => {
            Ok(Outcome::Certified { certificate, assurance })
        }
        _ => Err(OpError::NotFound("certificate")),
    }
}

/// At A: a charge presented with an assurance code (`hash`) and its certificate `id` for this
/// peer's seller `payee`: `amount` comes out of what the certificate set aside (so the code's
/// balance always has it), and the certificate is the payer's. Its restrictions are judged by the
/// charge as ever.
pub(super) fn from_certificate(
    tx: &mut (impl LedgerTx + ?Sized),
    (now, peer): (Timestamp, &PeerRecord),
    (hash, id): (&CodeHash, &HoldId),
    (payee, amount): (&str, Amount),
) -> Result<CodeRecord, OpError> {
    let assurance = tx.assurance_by_hash(hash)?.ok_or(OpError::InvalidCode)?;
    let mut certificate = tx
        .hold_by_id(id)?
        .filter(|h| h.kind == HoldKind::Certificate && h.assurance_id.as_ref() == Some(&assurance.id))
        .ok_or(OpError::NotFound("certificate"))?;
    if certificate.payee.is_some()
        || certificate.memo.as_deref() != Some(seller_elsewhere(payee, &peer.domain).as_str())
    {
        return Err(OpError::Restricted(Restriction::Payee));
    }
    match certificate.state_at(now) {
        HoldState::Pending => {}
        HoldState::Captured => return Err(OpError::Hold(HoldRefusal::MoreThanHeld { held_units: 0 })),
        HoldState::Voided => return Err(OpError::Expired),
    }
    let left = certificate.held_units();
    if amount.units() > left {
        return Err(OpError::Hold(HoldRefusal::MoreThanHeld { held_units: left }));
    }
    tx.add_held(&AccountKey::Code(certificate.payer_id.clone()), -amount.units())?;
    let taken = certificate.captured.map_or(0, Amount::units) + amount.units();
    certificate.captured = Amount::from_units(taken).ok();
    if taken == certificate.amount.units() {
        certificate.state = HoldState::Captured;
        certificate.resolved_at = Some(now);
    }
    tx.take_from_hold(&certificate, amount.units(), now)?;
    tx.code_by_id(&certificate.payer_id)?.ok_or(OpError::NotFound("code"))
}

//! Refunds of payments across brokers (ARCHITECTURE.md, "A refund across two brokers").
//!
//! - At the seller's broker B, the refund is made as a local one is (`payments::Command::Refund`:
//!   the same window, the same bounds), except that what goes back goes into the account of the
//!   peer A whose code paid. With it B writes a charge record `refunding` under the refund's id
//!   ([`refund_id`]: the charge's id and the refund's number), which B sends A until A answers.
//! - At A ([`Command::Refund`](super::Command::Refund)), the value goes from B's account to the
//!   code that paid (or its nearest active ancestor, or the closed code itself: a refund B has
//!   made must land), once per refund id, and never more in all than the charge moved.

use crate::clock::Timestamp;
use crate::error::{Limit, OpError, RefundRefusal};
use crate::limits::REFUNDS_PER_PAYMENT_MAX;
use crate::model::*;
use crate::money::{Amount, Currency};

use super::super::{post, Context, LedgerTx};
use super::{active_peer, check_reference, ChargeRef, Outcome};

/// The id both brokers keep a refund under: its charge's id and its number among that charge's
/// refunds (from 1).
pub fn refund_id(charge: &str, seq: u32) -> String {
    format!("{charge}-r{seq}")
}

/// The charge and number a refund's id names, or `None` for the id of a charge (a receipt id,
/// which has no `-`).
pub fn refund_of(id: &str) -> Option<(&str, u32)> {
    let (charge, seq) = id.rsplit_once("-r")?;
    let seq = seq.parse().ok().filter(|seq| *seq >= 1)?;
    (!charge.is_empty() && refund_id(charge, seq) == id).then_some((charge, seq))
}

/// At A: the peer refunded `amount` of charge `charge`, as its refund number `seq`; B dated it `at`.
#[derive(Clone, Debug)]
pub struct RefundOrder {
    pub peer: String,
    pub charge: String,
    pub seq: u32,
    pub amount: Amount,
    pub currency: Currency,
    /// The seller's public code at the peer, as its text (the charge's).
    pub payee: String,
    pub at: Timestamp,
}

/// At B, in the refund's own transaction: the refund `seq` of `paid` (a payment by a code of
/// `peer`), `amount` in `currency` as A is to give it back, to be sent to A.
pub(in crate::ledger) fn refunding(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    (peer, paid, seq): (&str, &Receipt, u32),
    (amount, currency): (Amount, Currency),
) -> Result<(), OpError> {
    let reference = ChargeRef {
        peer: peer.to_owned(),
        id: refund_id(&paid.id, seq),
        amount,
        currency,
        payee: paid.payee.as_stored().to_owned(),
    };
    let record = reference.record(ChargeSide::Seller, ChargeState::Refunding, now, now);
    tx.insert_charge(&record)?;
    Ok(())
}

/// At A: gives a refund of the peer's back to the code its charge debited.
pub(super) fn refund(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    order: &RefundOrder,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    check_reference(&order.charge, &order.payee)?;
    if !(1..=REFUNDS_PER_PAYMENT_MAX).contains(&order.seq) {
        return Err(OpError::LimitExceeded(Limit::RefundsPerPayment));
    }
    let peer = active_peer(tx, &order.peer)?;
    let id = refund_id(&order.charge, order.seq);
    if let Some(record) = tx.charge(ChargeSide::Buyer, &peer.name, &id)? {
        // Sent again: its first answer; the same id with another amount is not this refund.
        let same =
            record.state == ChargeState::Refunded && record.amount == order.amount && record.currency == order.currency;
        return match same {
            true => Ok(Outcome::Charge(Box::new(record))),
            false => Err(OpError::IdempotencyConflict),
        };
    }
    let charge = tx
        .charge(ChargeSide::Buyer, &peer.name, &order.charge)?
        .filter(|c| c.state == ChargeState::Charged && c.currency == order.currency && c.payee == order.payee)
        .ok_or(OpError::NotFound("charge"))?;
    // The charge's row is written first (its `changed_at`): on PostgreSQL that locks it to the
    // end of the transaction, so two processes refunding one charge sum its refunds one after the
    // other and never both pass the bound.
    let touched = ChargeRecord {
        changed_at: now,
        ..charge.clone()
    };
    tx.update_charge(&touched, ChargeState::Charged)?;
    // Refunds may arrive in any order: every other one of this charge counts.
    let mut refunded = 0i64;
    for seq in (1..=REFUNDS_PER_PAYMENT_MAX).filter(|seq| *seq != order.seq) {
        let other = tx.charge(ChargeSide::Buyer, &peer.name, &refund_id(&order.charge, seq))?;
        if let Some(other) = other.filter(|other| other.state == ChargeState::Refunded) {
            refunded += other.amount.units();
        }
    }
    let refundable_units = charge.amount.units() - refunded;
    if order.amount.units() > refundable_units {
        return Err(OpError::Refund(RefundRefusal::ExceedsPayment { refundable_units }));
    }
    let code_id = charge.code_id.clone().ok_or(OpError::NotFound("charge's code"))?;
    let payer = tx.code_by_id(&code_id)?.ok_or(OpError::NotFound("charge's code"))?;
    let credited = super::beneficiary(tx, now, &payer)?;
    let account = AccountKey::Peer {
        peer: peer.name.clone(),
        currency: order.currency,
    };
    let transfer = Transfer {
        id: cx.draws.receipt_id(now).to_string(),
        at: now,
        kind: TransferKind::Refund,
        debit: account,
        credit: AccountKey::Code(credited.clone()),
        amount: order.amount,
        currency: order.currency,
        // Who refunded, at the peer: the payer's history names the seller by it.
        memo: Some(order.payee.clone()),
        public_code_id: None,
        category: None,
        item: None,
    };
    post(tx, transfer.clone())?;
    let reference = ChargeRef {
        peer: peer.name,
        id,
        amount: order.amount,
        currency: order.currency,
        payee: order.payee.clone(),
    };
    let record = ChargeRecord {
        code_id: Some(credited),
        transfer_id: Some(transfer.id),
        ..reference.record(ChargeSide::Buyer, ChargeState::Refunded, order.at, now)
    };
    tx.insert_charge(&record)?;
    Ok(Outcome::Charge(Box::new(record)))
}

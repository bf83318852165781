//! Holds across brokers (ARCHITECTURE.md, "A hold across two brokers"): a seller of B holds value
//! on a code of A, and later captures part or all of it, or voids it.
//!
//! - At A, the hold is a local hold ([`super::super::holds`]) with no local payee, linked to B's id
//!   by the charge record (`held`): [`hold`] makes it as a payment elsewhere would be judged,
//!   [`capture`] takes part of it into the peer's account (the record becomes `charged`, exactly
//!   a charge from then on), and a void releases it ([`release`]).
//! - At B, the record is `held` while the seller may capture it: [`capture_asked`] moves it back to
//!   `prepared` with the amount and a new deadline (so it is credited only on A's approval, and
//!   voided otherwise, as a charge), and [`void_asked`] moves it to `voiding`.

use crate::clock::{Timestamp, MICROS_PER_SECOND};
use crate::code::{CodeHash, HoldId};
use crate::error::{HoldRefusal, Invalid, OpError};
use crate::limits::{HOLD_SECONDS_MAX, PEERS_MAX, PEER_CLOCK_SKEW_SECONDS};
use crate::model::*;
use crate::money::Amount;

use super::super::holds::{hand_back, set_aside};
use super::super::payments::release_expired_holds;
use super::super::rules::{authenticate, present};
use super::super::{post, restrictions, Context, Credential, LedgerRead, LedgerTx};
use super::seller::within_credit;
use super::{active_peer, admit, Admitted, ChargeOrder, ChargeRef, Outcome};

/// At A: sets `order.amount` aside on the code for the peer's seller until `expires_at`.
pub(super) fn hold(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    order: &ChargeOrder,
    expires_at: Timestamp,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    let peer = match admit(tx, now, order)? {
        Admitted::Again(record) => return Ok(Outcome::Charge(Box::new(record))),
        Admitted::New(peer) => peer,
    };
    let longest = (HOLD_SECONDS_MAX + PEER_CLOCK_SKEW_SECONDS) * MICROS_PER_SECOND;
    if expires_at <= now || expires_at.0 - now.0 > longest {
        return Err(OpError::InvalidRequest(Invalid::HoldExpiry { max: HOLD_SECONDS_MAX }));
    }
    if order.authorization {
        // An authorization code pays its amount once; it holds nothing more for anyone.
        return Err(OpError::InvalidCode);
    }
    let payer = authenticate(tx, &order.payer, now)?;
    let payer = release_expired_holds(tx, now, payer)?;
    if payer.currency != order.currency {
        return Err(OpError::CurrencyMismatch);
    }
    let checked = restrictions::check_payment_elsewhere(tx, now, &payer, order.amount)?;
    let hold = HoldRecord {
        id: HoldId::draw_at(now, &mut cx.draws),
        kind: HoldKind::Hold,
        payer_id: payer.id.clone(),
        payee: None,
        amount: order.amount,
        currency: order.currency,
        // The seller is of another broker: the buyer's view names it here.
        memo: Some(super::assurances::seller_elsewhere(&order.payee, &peer.domain)),
        category: None,
        item: None,
        created_at: now,
        expires_at,
        state: HoldState::Pending,
        resolved_at: None,
        captured: None,
        receipt_id: None,
        release_to: None,
        assurance_id: None,
    };
    set_aside(tx, &hold, None)?;
    checked.record(tx)?;
    let record = ChargeRecord {
        code_id: Some(payer.id),
        fingerprint: Some(order.fingerprint),
        hold_id: Some(hold.id),
        expires_at: Some(expires_at),
        ..order
            .reference(peer.name)
            .record(ChargeSide::Buyer, ChargeState::Held, order.deadline, now)
    };
    tx.insert_charge(&record)?;
    Ok(Outcome::Charge(Box::new(record)))
}

/// At A: takes `reference.amount` of the hold B made under `reference.id` into the peer's
/// account; the rest goes back. Asked again for the same amount, the same charge.
pub(super) fn capture(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    reference: &ChargeRef,
    deadline: Timestamp,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    let peer = active_peer(tx, &reference.peer)?;
    let mut record = tx
        .charge(ChargeSide::Buyer, &peer.name, &reference.id)?
        .filter(|r| r.hold_id.is_some())
        .ok_or(OpError::NotFound("hold"))?;
    match record.state {
        ChargeState::Held => {}
        ChargeState::Charged if record.amount == reference.amount => return Ok(Outcome::Charge(Box::new(record))),
        ChargeState::Charged => return Err(OpError::IdempotencyConflict),
        _ => return Err(OpError::Hold(HoldRefusal::NotPending { state: "voided" })),
    }
    if reference.currency != record.currency {
        return Err(OpError::CurrencyMismatch);
    }
    let hold_id = record.hold_id.clone().ok_or(OpError::NotFound("hold"))?;
    let mut hold = tx.hold_by_id(&hold_id)?.ok_or(OpError::NotFound("hold"))?;
    match hold.state_at(now) {
        HoldState::Pending => {}
        _ if hold.state == HoldState::Pending => {
            return Err(OpError::Hold(HoldRefusal::NotPending { state: "expired" }))
        }
        state => return Err(OpError::Hold(HoldRefusal::NotPending { state: state.as_str() })),
    }
    if reference.amount > hold.amount {
        return Err(OpError::Hold(HoldRefusal::MoreThanHeld {
            held_units: hold.amount.units(),
        }));
    }
    let code = AccountKey::Code(hold.payer_id.clone());
    tx.add_held(&code, -hold.amount.units())?;
    let account = AccountKey::Peer {
        peer: peer.name.clone(),
        currency: record.currency,
    };
    tx.open_account(&account, record.currency)?;
    let transfer = Transfer {
        id: cx.draws.receipt_id(now).to_string(),
        at: now,
        kind: TransferKind::Payment,
        debit: code,
        credit: account,
        amount: reference.amount,
        currency: record.currency,
        memo: Some(record.payee.clone()),
        public_code_id: None,
        category: None,
        item: None,
    };
    post(tx, transfer.clone())?;
    hand_back(tx, cx, &hold, hold.amount.units() - reference.amount.units(), false)?;
    hold.state = HoldState::Captured;
    hold.resolved_at = Some(now);
    hold.captured = Some(reference.amount);
    hold.receipt_id = Some(transfer.id.clone());
    tx.update_hold(&hold)?;
    record.state = ChargeState::Charged;
    record.amount = reference.amount;
    record.transfer_id = Some(transfer.id);
    record.deadline = deadline;
    record.changed_at = now;
    tx.update_charge(&record, ChargeState::Held)?;
    Ok(Outcome::Charge(Box::new(record)))
}

/// At A: B voided a hold it had not captured: whatever is still set aside goes back (an expired
/// hold has given it back already, or gives it now). Nothing had moved, so the record is
/// `reversed` with no transfer.
pub(super) fn release(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    mut record: ChargeRecord,
) -> Result<Outcome, OpError> {
    let hold_id = record.hold_id.clone().ok_or(OpError::NotFound("hold"))?;
    let mut hold = tx.hold_by_id(&hold_id)?.ok_or(OpError::NotFound("hold"))?;
    if hold.state == HoldState::Pending {
        tx.add_held(&AccountKey::Code(hold.payer_id.clone()), -hold.held_units())?;
        hand_back(tx, cx, &hold, hold.held_units(), true)?;
        hold.state = HoldState::Voided;
        hold.resolved_at = Some(cx.now);
        tx.update_hold(&hold)?;
    }
    record.state = ChargeState::Reversed;
    record.changed_at = cx.now;
    tx.update_charge(&record, ChargeState::Held)?;
    Ok(Outcome::Charge(Box::new(record)))
}

/// At B: the hold `id` (a seller-side record with an expiry), if `seller` owns its payee now.
fn sellers_hold(tx: &mut (impl LedgerRead + ?Sized), seller: &CodeRecord, id: &str) -> Result<ChargeRecord, OpError> {
    for peer in tx.peers(PEERS_MAX)? {
        let Some(record) = tx.charge(ChargeSide::Seller, &peer.name, id)? else {
            continue;
        };
        let payee = crate::code::PublicCode::from_stored(&record.payee).ok_or(OpError::NotFound("hold"))?;
        let owner = tx.code_by_public(&payee)?.map(|p| p.owner_id);
        if record.expires_at.is_some() && owner.as_ref() == Some(&seller.id) {
            return Ok(record);
        }
        break;
    }
    Err(OpError::NotFound("hold"))
}

/// At B: how a hold stands as of `now`, as its seller is told (`pending`, `captured`, `voided`).
pub fn hold_state(record: &ChargeRecord, now: Timestamp) -> &'static str {
    match record.state {
        ChargeState::Held if record.expires_at.is_some_and(|at| at > now) => "pending",
        ChargeState::Prepared => "pending",
        ChargeState::Credited => "captured",
        _ => "voided",
    }
}

/// At B: the seller's hold `record`, if it is still capturable now.
fn capturable(record: ChargeRecord, now: Timestamp) -> Result<ChargeRecord, OpError> {
    let state = match record.state {
        ChargeState::Held if record.expires_at.is_some_and(|at| at > now) => return Ok(record),
        ChargeState::Held => "expired",
        // A hold being made, or a capture on its way.
        ChargeState::Prepared => "pending",
        ChargeState::Credited => "captured",
        _ => "voided",
    };
    Err(OpError::Hold(HoldRefusal::NotPending { state }))
}

/// At B: the seller captures `amount` (all of it if `None`) of hold `id`: the record goes back
/// to `prepared` for that amount, with `deadline`, to be sent to A as a capture. A hold captured
/// already for that amount is answered as it is (`credited`), for its first receipt's replay.
pub(super) fn capture_asked(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    seller: &Credential,
    (id, amount): (&str, Option<Amount>),
    deadline: Timestamp,
) -> Result<Outcome, OpError> {
    let seller = authenticate(tx, seller, now)?;
    let found = sellers_hold(tx, &seller, id)?;
    if found.state == ChargeState::Credited && amount.is_none_or(|a| a == found.amount) {
        // Asked again: the server replays the first receipt under the seller's Idempotency-Key.
        return Ok(Outcome::Charge(Box::new(found)));
    }
    let mut record = capturable(found, now)?;
    let taken = amount.unwrap_or(record.amount);
    if taken > record.amount {
        return Err(OpError::Hold(HoldRefusal::MoreThanHeld {
            held_units: record.amount.units(),
        }));
    }
    let peer = active_peer(tx, &record.peer)?;
    within_credit(tx, &peer, record.currency, taken)?;
    record.state = ChargeState::Prepared;
    record.amount = taken;
    record.deadline = deadline;
    record.changed_at = now;
    tx.update_charge(&record, ChargeState::Held)?;
    Ok(Outcome::Charge(Box::new(record)))
}

/// At B: the seller gives hold `id` back: `voiding`, for the resolver (or the request) to tell A.
/// Asked again, the same.
pub(super) fn void_asked(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    seller: &Credential,
    id: &str,
) -> Result<Outcome, OpError> {
    let seller = authenticate(tx, seller, now)?;
    let found = sellers_hold(tx, &seller, id)?;
    if matches!(found.state, ChargeState::Voiding | ChargeState::Voided) {
        // Voided already: asked before, or ended by a capture the buyer's broker did not approve.
        return Ok(Outcome::Charge(Box::new(found)));
    }
    let mut record = capturable(found, now)?;
    record.state = ChargeState::Voiding;
    record.changed_at = now;
    tx.update_charge(&record, ChargeState::Held)?;
    Ok(Outcome::Charge(Box::new(record)))
}

/// At B: the hold `id`, for the seller that presents `reader`.
pub(super) fn read(tx: &mut (impl LedgerRead + ?Sized), id: &str, reader: &CodeHash) -> Result<ChargeRecord, OpError> {
    let reader = present(tx, reader)?;
    sellers_hold(tx, &reader, id)
}

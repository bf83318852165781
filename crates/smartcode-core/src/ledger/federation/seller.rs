//! The seller's broker's side of a charge (B): prepared before it is sent, credited on A's
//! approval, marked refused, in doubt or voided. See [`super`].

use crate::clock::Timestamp;
use crate::code::PublicCode;
use crate::error::{Invalid, OpError, PeerRefusal, QuoteRefusal};
use crate::limits::MEMO_CHARS_MAX;
use crate::model::*;
use crate::money::{Amount, Currency};

use super::super::payments::{post_payment_as, Paying};
use super::super::quotes::{exchange_leg_id, open_quote_for};
use super::super::{check_text, post, restrictions, LedgerRead, LedgerTx};
use super::{active_peer, check_reference, ChargeRef, Outcome, PrepareOrder};

/// At B: checks the payee and the peer's credit, and writes the charge as prepared.
pub(super) fn prepare(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    order: &PrepareOrder,
) -> Result<Outcome, OpError> {
    check_reference(&order.id, order.payee.as_stored())?;
    let peer = active_peer(tx, &order.peer)?;
    let (_, owner) = seller(tx, now, &order.payee)?;
    // With a quote, the peer is charged its `pay` (in the buyer's currency), and the seller gets
    // its price (in the seller's).
    let (amount, currency) = match &order.quote {
        Some(id) => {
            let quote = open_quote_for(tx, now, (id, &order.payee), (order.amount, order.currency))?;
            if quote.price_currency != owner.currency {
                return Err(OpError::CurrencyMismatch);
            }
            (quote.pay, quote.pay_currency)
        }
        None => {
            if order.currency.is_some_and(|c| c != owner.currency) {
                return Err(OpError::CurrencyMismatch);
            }
            let amount = order
                .amount
                .ok_or(OpError::InvalidRequest(Invalid::EmptyText { field: "amount" }))?;
            (amount, owner.currency)
        }
    };
    within_credit(tx, &peer, currency, amount)?;
    check_text("memo", order.memo.as_deref(), MEMO_CHARS_MAX)?;
    let reference = ChargeRef {
        peer: peer.name,
        id: order.id.clone(),
        amount,
        currency,
        payee: order.payee.as_stored().to_owned(),
    };
    let record = ChargeRecord {
        expires_at: order.expires_at,
        memo: order.memo.clone(),
        quote_id: order.quote.clone(),
        ..reference.record(ChargeSide::Seller, ChargeState::Prepared, order.deadline, now)
    };
    tx.insert_charge(&record)?;
    Ok(Outcome::Charge(Box::new(record)))
}

/// At B: refuses `amount` more through `peer` if what the peer would owe then (minus its
/// account's balance, plus every charge on its way, plus this) passes its credit limit.
pub(super) fn within_credit(
    tx: &mut (impl LedgerTx + ?Sized),
    peer: &PeerRecord,
    currency: Currency,
    amount: Amount,
) -> Result<(), OpError> {
    let limit = peer
        .credit_limits
        .iter()
        .find(|(c, _)| *c == currency)
        .map_or(0, |(_, units)| *units);
    // The charges on their way first, then the balance: a charge another process credits in
    // between is then counted twice (refusing a little early), never missed. (On PostgreSQL the
    // first read also locks the peer's row, so two processes' charges are counted one after the
    // other.)
    let on_their_way = tx.prepared_charge_units(&peer.name, currency)?;
    let balance = tx
        .account(&AccountKey::Peer {
            peer: peer.name.clone(),
            currency,
        })?
        .map_or(0, |a| a.balance_units);
    let owed = (-balance).saturating_add(on_their_way).saturating_add(amount.units());
    if owed > limit {
        return Err(OpError::Peer(PeerRefusal::LimitReached { currency }));
    }
    Ok(())
}

/// The public code paid and its owner, both active.
fn seller(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    payee: &PublicCode,
) -> Result<(CodeRecord, CodeRecord), OpError> {
    let record = tx.code_by_public(payee)?.ok_or(OpError::NotFound("payee"))?;
    let owner = tx.code_by_id(&record.owner_id)?.ok_or(OpError::NotFound("payee"))?;
    if record.status_at(now) != CodeStatus::Active || owner.status_at(now) != CodeStatus::Active {
        return Err(OpError::NotFound("payee"));
    }
    Ok((record, owner))
}

/// The seller-side record of charge `id` through `peer`, which must be in one of `states`.
fn seller_charge(
    tx: &mut (impl LedgerRead + ?Sized),
    (peer, id): (&str, &str),
    states: &[ChargeState],
) -> Result<ChargeRecord, OpError> {
    let record = tx
        .charge(ChargeSide::Seller, peer, id)?
        .ok_or(OpError::NotFound("charge"))?;
    if !states.contains(&record.state) {
        return Err(OpError::Peer(PeerRefusal::ChargeNotPrepared {
            state: record.state.as_str(),
        }));
    }
    Ok(record)
}

/// At B: A approved; the seller's owner is credited from the peer's account, under the charge's
/// id as the receipt's. The payee is taken as it is now: a seller closed meanwhile is still paid
/// (A has debited the buyer), to the owner the public code had when the charge was prepared.
pub(super) fn credit(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    (peer, id): (&str, &str),
    approval: &str,
    memo: Option<&String>,
) -> Result<Outcome, OpError> {
    check_text("memo", memo.map(String::as_str), MEMO_CHARS_MAX)?;
    let mut record = seller_charge(tx, (peer, id), &[ChargeState::Prepared])?;
    let payee = PublicCode::from_stored(&record.payee).ok_or(OpError::NotFound("payee"))?;
    let payee_record = tx.code_by_public(&payee)?.ok_or(OpError::NotFound("payee"))?;
    let peer_account = AccountKey::Peer {
        peer: record.peer.clone(),
        currency: record.currency,
    };
    tx.open_account(&peer_account, record.currency)?;
    let memo = memo.cloned().or_else(|| record.memo.clone());
    // What the seller is paid from: the peer's account, or, through a quote, the exchange account
    // of the price's currency once the peer's `pay` went into the exchange account of its own.
    let (debit, amount, currency, mut quote) = match &record.quote_id {
        None => (peer_account, record.amount, record.currency, None),
        Some(id) => {
            let quote = tx.quote_by_id(id)?.ok_or(OpError::NotFound("quote"))?;
            if quote.used.is_some() {
                return Err(OpError::Quote(QuoteRefusal::Used));
            }
            let (paid_in, paid_out) = (
                AccountKey::Exchange(quote.pay_currency),
                AccountKey::Exchange(quote.price_currency),
            );
            tx.open_account(&paid_in, quote.pay_currency)?;
            tx.open_account(&paid_out, quote.price_currency)?;
            let leg = Transfer {
                id: exchange_leg_id(&record.id),
                at: now,
                kind: TransferKind::Exchange,
                debit: peer_account,
                credit: paid_in,
                amount: record.amount,
                currency: record.currency,
                memo: memo.clone(),
                public_code_id: Some(payee_record.id.clone()),
                category: None,
                item: None,
            };
            post(tx, leg)?;
            (paid_out, quote.price, quote.price_currency, Some(quote))
        }
    };
    let owner = tx
        .code_by_id(&payee_record.owner_id)?
        .ok_or(OpError::NotFound("payee"))?;
    let receipt = post_payment_as(
        tx,
        now,
        record.id.clone(),
        Paying {
            payer: Payer::Peer {
                peer: record.peer.clone(),
                approval: None,
            },
            debit,
            owner: &owner,
            payee: &payee,
            payee_id: &payee_record.id,
            amount,
            currency,
            memo,
            stamped: restrictions::Stamped::default(),
        },
    )?;
    if let Some(quote) = &mut quote {
        quote.used = Some(QuoteUse {
            receipt_id: receipt.id.clone(),
            payer: receipt.payer.clone(),
            at: now,
        });
        tx.use_quote(quote)?;
    }
    record.state = ChargeState::Credited;
    record.approval = Some(approval.to_owned());
    record.changed_at = now;
    tx.update_charge(&record, ChargeState::Prepared)?;
    let receipt = Receipt {
        payer: Payer::Peer {
            peer: record.peer,
            approval: record.approval,
        },
        ..receipt
    };
    Ok(Outcome::Credited(Box::new(receipt)))
}

/// At B: a prepared charge refused or in doubt, or a voiding one whose void A answered.
pub(super) fn mark(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    (peer, id): (&str, &str),
    to: ChargeState,
) -> Result<Outcome, OpError> {
    let from: &[ChargeState] = match to {
        ChargeState::Failed => &[ChargeState::Prepared, ChargeState::Refunding],
        ChargeState::Voiding => &[ChargeState::Prepared],
        ChargeState::Held => &[ChargeState::Prepared],
        ChargeState::Voided => &[ChargeState::Prepared, ChargeState::Voiding],
        // A refund A answered: given back there, or refused for good.
        ChargeState::Refunded => &[ChargeState::Refunding],
        _ => &[],
    };
    let mut record = seller_charge(tx, (peer, id), from)?;
    if to == ChargeState::Held && record.expires_at.is_none() {
        return Err(OpError::Peer(PeerRefusal::ChargeNotPrepared {
            state: record.state.as_str(),
        }));
    }
    let was = std::mem::replace(&mut record.state, to);
    record.changed_at = now;
    tx.update_charge(&record, was)?;
    Ok(Outcome::Charge(Box::new(record)))
}

//! Authorization codes: the buyer asks for an all-digit code for one exact amount (optionally for
//! one payee); the amount is set aside on the buyer's code as a hold of kind `authorization` until
//! the code is used, cancelled or expires. Whoever presents it pays that amount, once, to a payee
//! it allows: it is a secret like a code, for a seller's till or a phone keypad.
//!
//! An authorization is a [`HoldRecord`] and lives by the holds' rules ([`super::holds`]): it counts
//! in `held` while pending and unexpired, so at its expiry its value is back at once (the sweep only
//! records it), and a closed code's pending authorizations stay usable until they expire. What
//! differs: it is found by the keyed hash of its digits, not by a seller; it is used in full or not
//! at all; and the payer's restrictions are judged, and its usage counted, when it is used (its
//! payee may not be known before), not when it is made.

use crate::code::{CodeHash, HoldId};
use crate::error::{HoldRefusal, Invalid, OpError, Restriction};
use crate::limits::*;
use crate::model::*;
use crate::money::{Amount, Currency};

use super::holds::{expires_within, set_aside};
use super::payments::{parties_of, release_expired_holds, Parties, PaymentOrder};
use super::rules::{authenticate, present};
use super::{Context, Credential, LedgerRead, LedgerTx, Touches};
use crate::code::PublicCode;

#[derive(Clone, Debug)]
pub enum Command {
    /// The buyer sets `amount` aside for the authorization code whose keyed hash is `hash`.
    Authorize {
        payer: Credential,
        hash: CodeHash,
        amount: Amount,
        currency: Option<Currency>,
        payee: Option<PublicCode>,
        expires_in_seconds: i64,
    },
    /// Pays with the authorization code whose keyed hash is `order.payer.hash` (its PIN is never
    /// asked: the code is the proof).
    Use(PaymentOrder),
    /// The buyer gives an unused authorization's value back at once.
    Cancel { payer: Credential, id: HoldId },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Authorized(Box<HoldRecord>),
    Used {
        authorization: Box<HoldRecord>,
        receipt: Receipt,
    },
    Cancelled(Box<HoldRecord>),
}

#[derive(Clone, Debug)]
pub enum Query {
    /// The authorizations a code made, newest first.
    List { holder: CodeHash },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    List(Vec<HoldRecord>),
}

impl Command {
    pub(super) fn touches(&self, touches: &mut Touches) {
        match self {
            Command::Authorize { payer, .. } | Command::Cancel { payer, .. } => touches.codes.push(payer.hash),
            Command::Use(order) => touches.public_codes.push(order.payee.clone()),
        }
    }
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Authorize {
            payer,
            hash,
            amount,
            currency,
            payee,
            expires_in_seconds,
        } => authorize(
            tx,
            cx,
            payer,
            hash,
            *amount,
            *currency,
            payee.as_ref(),
            *expires_in_seconds,
        ),
        Command::Use(order) => use_authorization(tx, cx, order),
        Command::Cancel { payer, id } => cancel(tx, cx, payer, id),
    }
}

pub(super) fn query(tx: &mut (impl LedgerRead + ?Sized), query: &Query) -> Result<QueryOutcome, OpError> {
    match query {
        Query::List { holder } => {
            let holder = present(tx, holder)?;
            Ok(QueryOutcome::List(
                tx.authorizations_of(&holder.id, AUTHORIZATIONS_LISTED_MAX)?,
            ))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn authorize(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    payer: &Credential,
    hash: &CodeHash,
    amount: Amount,
    currency: Option<Currency>,
    payee: Option<&PublicCode>,
    seconds: i64,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    let max = AUTHORIZATION_SECONDS_MAX;
    let expires_at = expires_within(now, seconds, max, Invalid::AuthorizationExpiry { max })?;
    let payer = authenticate(tx, payer, now)?;
    let payer = release_expired_holds(tx, now, payer)?;
    if currency.is_some_and(|c| c != payer.currency) {
        return Err(OpError::CurrencyMismatch);
    }
    // A payee named now is checked now, as a payment to it would be (nothing is counted yet), so
    // an authorization its payee could never use is refused to the buyer, not to the seller later.
    let to = match payee {
        Some(payee) => {
            let order = order_for(payer_credential(hash), payee.clone(), amount);
            let Parties { payee, owner, .. } = parties_of(tx, now, payer.clone(), &order)?;
            Some(HoldPayee {
                owner_id: owner.id,
                payee: order.payee,
                payee_id: payee.id,
            })
        }
        None => {
            if let Some(max) = payer.restrictions.amount_per_use_max.filter(|max| amount > *max) {
                return Err(OpError::Restricted(Restriction::AmountPerUse {
                    max_units: max.units(),
                }));
            }
            None
        }
    };
    let record = HoldRecord {
        id: HoldId::draw_at(cx.now, &mut cx.draws),
        kind: HoldKind::Authorization,
        payer_id: payer.id.clone(),
        payee: to,
        amount,
        currency: payer.currency,
        memo: None,
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
    set_aside(tx, &record, Some(hash))?;
    Ok(Outcome::Authorized(Box::new(record)))
}

fn payer_credential(hash: &CodeHash) -> Credential {
    Credential::new(*hash, false)
}

fn order_for(payer: Credential, payee: PublicCode, amount: Amount) -> PaymentOrder {
    PaymentOrder {
        payer,
        payee,
        amount,
        currency: None,
        memo: None,
        category: None,
        item: None,
    }
}

/// A payment with an authorization code: the exact amount, once, to a payee it allows, under the
/// rules of the code that made it.
fn use_authorization(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    order: &PaymentOrder,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    // Unknown, used and cancelled look the same: a wrong guess learns nothing.
    let mut authorization = tx.hold_by_code(&order.payer.hash)?.ok_or(OpError::InvalidCode)?;
    match authorization.state_at(now) {
        HoldState::Pending => {}
        _ if authorization.state == HoldState::Pending || expired_by_time(&authorization) => {
            return Err(OpError::Expired)
        }
        _ => return Err(OpError::InvalidCode),
    }
    if authorization.payee.as_ref().is_some_and(|p| p.payee != order.payee) {
        return Err(OpError::Restricted(Restriction::Payee));
    }
    if order.amount != authorization.amount {
        return Err(OpError::Hold(HoldRefusal::NotAuthorizedAmount {
            authorized_units: authorization.amount.units(),
        }));
    }
    let payer = tx
        .code_by_id(&authorization.payer_id)?
        .ok_or(OpError::NotFound("code"))?;
    let key = AccountKey::Code(payer.id.clone());
    tx.add_held(&key, -authorization.amount.units())?;
    let parties = parties_of(tx, now, payer, order)?;
    let debit = AccountKey::Code(parties.payer.id.clone());
    let receipt_id = cx.draws.receipt_id(now).to_string();
    let receipt = parties.pay(tx, now, receipt_id, order, (debit, order.amount))?;
    authorization.payee = Some(HoldPayee {
        owner_id: receipt.owner_id.clone(),
        payee: order.payee.clone(),
        payee_id: receipt.payee_id.clone(),
    });
    authorization.state = HoldState::Captured;
    authorization.resolved_at = Some(now);
    authorization.captured = Some(order.amount);
    authorization.receipt_id = Some(receipt.id.clone());
    tx.update_hold(&authorization)?;
    Ok(Outcome::Used {
        authorization: Box::new(authorization),
        receipt,
    })
}

/// Whether a voided hold was voided by its time running out (the sweep records it at or after its
/// expiry) rather than by its maker.
pub fn expired_by_time(hold: &HoldRecord) -> bool {
    hold.state == HoldState::Voided && hold.resolved_at.is_some_and(|at| at >= hold.expires_at)
}

fn cancel(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    payer: &Credential,
    id: &HoldId,
) -> Result<Outcome, OpError> {
    let payer = authenticate(tx, payer, cx.now)?;
    let mut authorization = tx
        .hold_by_id(id)?
        .filter(|h| h.kind == HoldKind::Authorization && h.payer_id == payer.id)
        .ok_or(OpError::NotFound("authorization"))?;
    let state = match authorization.state_at(cx.now) {
        HoldState::Pending => None,
        _ if authorization.state == HoldState::Pending || expired_by_time(&authorization) => Some("expired"),
        HoldState::Captured => Some("used"),
        HoldState::Voided => Some("cancelled"),
    };
    if let Some(state) = state {
        return Err(OpError::Hold(HoldRefusal::NotPending { state }));
    }
    tx.add_held(&AccountKey::Code(payer.id.clone()), -authorization.amount.units())?;
    authorization.state = HoldState::Voided;
    authorization.resolved_at = Some(cx.now);
    tx.update_hold(&authorization)?;
    Ok(Outcome::Cancelled(Box::new(authorization)))
}

//! Holds: a seller sets value aside on a buyer's code (a two-phase payment) and later captures all
//! or part of it (that part becomes a payment with a receipt, the rest is released) or voids it.
//!
//! The state machine: `pending` → `captured` (by the seller, once) | `voided` (by the seller, or
//! by time: a pending hold at or past `expires_at` is void at once, and the sweep only records
//! it). A hold's amount is in its code's account `held` while the stored state is `pending`, so
//! `available` (balance − held) is what the code can spend. A pending hold whose time has passed
//! still sits in `held` until something releases it: [`release_expired`] does so, in the very
//! transaction that needs the value (a payment the stored `held` would refuse, a cancel that takes
//! back what is not held), so correctness never waits for the sweep.
//!
//! Restrictions, the PIN and the guessing defence apply to a hold as to a payment (it is made by
//! whoever presents the buyer's code); uses and spending per period are counted when it is made
//! and given back by what a void or a partial capture releases. A hold is a promise to a seller:
//! when its code is closed (cancelled, or expired as a child), pending holds stay capturable until
//! their own expiry, the closing takes only what is not held, and what is released later goes to
//! the code that took the rest (`release_to`).

use crate::clock::Timestamp;
use crate::code::{CodeHash, CodeId, HoldId};
use crate::error::{HoldRefusal, Invalid, Limit, OpError};
use crate::limits::*;
use crate::model::*;
use crate::money::Amount;
use crate::webhook::EventKind;

use super::payments::{parties, post_payment, Parties, Paying, PaymentOrder};
use super::post::new_transfer;
use super::restrictions::{self, Stamped};
use super::rules::{authenticate, present};
use super::{post, Context, Credential, LedgerRead, LedgerTx, Touches};

#[derive(Clone, Debug)]
pub enum Command {
    /// Sets `order.amount` aside on the payer's code for the payee, for `expires_in_seconds`.
    Hold {
        order: PaymentOrder,
        expires_in_seconds: i64,
    },
    /// The seller (the payee's owner) takes `amount` (the whole hold if `None`) as a payment.
    Capture {
        seller: Credential,
        hold: HoldId,
        amount: Option<Amount>,
    },
    /// The seller gives the whole hold back.
    Void { seller: Credential, hold: HoldId },
    /// Records up to `limit` expired holds as voided (the background sweep).
    ExpireDue { limit: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Held(Box<HoldRecord>),
    Captured { hold: Box<HoldRecord>, receipt: Receipt },
    Voided(Box<HoldRecord>),
    Swept { holds: u32 },
}

#[derive(Clone, Debug)]
pub enum Query {
    /// A hold, for the buyer's code or the seller's that presents `reader`.
    Hold { id: HoldId, reader: CodeHash },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Hold(Box<HoldRecord>),
}

impl Command {
    pub(super) fn touches(&self, touches: &mut Touches) {
        match self {
            Command::Hold { order, .. } => {
                touches.codes.push(order.payer.hash);
                touches.public_codes.push(order.payee.clone());
            }
            Command::Capture { seller, hold, .. } | Command::Void { seller, hold } => {
                touches.codes.push(seller.hash);
                touches.holds.push(hold.clone());
            }
            Command::ExpireDue { .. } => {}
        }
    }
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Hold {
            order,
            expires_in_seconds,
        } => hold(tx, cx, order, *expires_in_seconds),
        Command::Capture { seller, hold, amount } => capture(tx, cx, seller, hold, *amount),
        Command::Void { seller, hold } => void(tx, cx, seller, hold),
        Command::ExpireDue { limit } => expire_due(tx, cx, *limit),
    }
}

pub(super) fn query(tx: &mut (impl LedgerRead + ?Sized), query: &Query) -> Result<QueryOutcome, OpError> {
    match query {
        Query::Hold { id, reader } => {
            let reader = present(tx, reader)?;
            let hold = tx.hold_by_id(id)?.ok_or(OpError::NotFound("hold"))?;
            if hold.kind != HoldKind::Hold || (hold.payer_id != reader.id && !hold.owned_by(&reader.id)) {
                return Err(OpError::NotFound("hold"));
            }
            Ok(QueryOutcome::Hold(Box::new(hold)))
        }
    }
}

fn hold(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    order: &PaymentOrder,
    seconds: i64,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    let expires_at = expires_within(
        now,
        seconds,
        HOLD_SECONDS_MAX,
        Invalid::HoldExpiry { max: HOLD_SECONDS_MAX },
    )?;
    let Parties {
        payer,
        payee,
        owner,
        checked,
    } = parties(tx, now, order)?;
    let record = HoldRecord {
        id: HoldId::draw_at(cx.now, &mut cx.draws),
        kind: HoldKind::Hold,
        payer_id: payer.id.clone(),
        payee: Some(HoldPayee {
            owner_id: owner.id,
            payee: order.payee.clone(),
            payee_id: payee.id,
        }),
        amount: order.amount,
        currency: payer.currency,
        memo: order.memo.clone(),
        category: checked.stamped.category.clone(),
        item: checked.stamped.item.clone(),
        created_at: now,
        expires_at,
        state: HoldState::Pending,
        resolved_at: None,
        captured: None,
        receipt_id: None,
        release_to: None,
        assurance_id: None,
    };
    // `parties` released the payer's expired holds: what is pending now is live.
    set_aside(tx, &record, None)?;
    checked.record(tx)?;
    Ok(Outcome::Held(Box::new(record)))
}

/// Sets `hold` aside on its payer's code (`code`: an authorization's keyed hash): within the
/// pending holds a code may have and what it has available, then stored and counted in `held`.
/// The payer's expired holds must have been released first.
pub(super) fn set_aside(
    tx: &mut (impl LedgerTx + ?Sized),
    hold: &HoldRecord,
    code: Option<&CodeHash>,
) -> Result<(), OpError> {
    let key = AccountKey::Code(hold.payer_id.clone());
    let account = tx.account(&key)?.ok_or(OpError::NotFound("account"))?;
    if account.available_units() < hold.amount.units() {
        return Err(OpError::InsufficientFunds);
    }
    // Nothing held means no pending hold (`held` is their sum): only then is there none to count.
    let full = account.held_units > 0
        && tx.pending_holds(&hold.payer_id, HOLDS_PER_CODE_MAX)?.len() >= HOLDS_PER_CODE_MAX as usize;
    if full {
        return Err(OpError::LimitExceeded(Limit::HoldsPerCode));
    }
    tx.insert_hold(hold, code)?;
    tx.add_held(&key, hold.amount.units())?;
    Ok(())
}

/// `seconds` from `now`, if that is 1 to `max` seconds; else `invalid`.
pub(super) fn expires_within(now: Timestamp, seconds: i64, max: i64, invalid: Invalid) -> Result<Timestamp, OpError> {
    now.plus_seconds(seconds)
        .filter(|_| (1..=max).contains(&seconds))
        .ok_or(OpError::InvalidRequest(invalid))
}

/// The hold `id` if `seller` owns its payee and it is still pending now, with the seller's record.
fn sellers_pending_hold(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    seller: &Credential,
    id: &HoldId,
) -> Result<(CodeRecord, HoldRecord), OpError> {
    let seller = authenticate(tx, seller, now)?;
    let hold = tx
        .hold_by_id(id)?
        .filter(|h| h.kind == HoldKind::Hold && h.owned_by(&seller.id))
        .ok_or(OpError::NotFound("hold"))?;
    let state = match hold.state_at(now) {
        HoldState::Pending => return Ok((seller, hold)),
        _ if hold.state == HoldState::Pending => "expired",
        state => state.as_str(),
    };
    Err(OpError::Hold(HoldRefusal::NotPending { state }))
}

fn capture(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    seller: &Credential,
    id: &HoldId,
    amount: Option<Amount>,
) -> Result<Outcome, OpError> {
    let (seller, mut hold) = sellers_pending_hold(tx, cx.now, seller, id)?;
    let taken = amount.unwrap_or(hold.amount);
    if taken > hold.amount {
        return Err(OpError::Hold(HoldRefusal::MoreThanHeld {
            held_units: hold.amount.units(),
        }));
    }
    let to = hold.payee.clone().ok_or(OpError::NotFound("hold"))?;
    tx.add_held(&AccountKey::Code(hold.payer_id.clone()), -hold.amount.units())?;
    let receipt = post_payment(
        tx,
        cx,
        Paying {
            payer: Payer::Code(hold.payer_id.clone()),
            debit: AccountKey::Code(hold.payer_id.clone()),
            owner: &seller,
            payee: &to.payee,
            payee_id: &to.payee_id,
            amount: taken,
            currency: hold.currency,
            memo: hold.memo.clone(),
            stamped: Stamped {
                category: hold.category.clone(),
                item: hold.item.clone(),
            },
        },
    )?;
    let released = hold.amount.units() - taken.units();
    hand_back(tx, cx, &hold, released, false)?;
    hold.state = HoldState::Captured;
    hold.resolved_at = Some(cx.now);
    hold.captured = Some(taken);
    hold.receipt_id = Some(receipt.id.clone());
    tx.update_hold(&hold)?;
    let event = (EventKind::HoldCaptured, Some(&to.payee_id));
    super::webhooks::notify(tx, cx.now, &seller, event, hold.id.as_str())?;
    Ok(Outcome::Captured {
        hold: Box::new(hold),
        receipt,
    })
}

fn void(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    seller: &Credential,
    id: &HoldId,
) -> Result<Outcome, OpError> {
    let (seller, mut hold) = sellers_pending_hold(tx, cx.now, seller, id)?;
    tx.add_held(&AccountKey::Code(hold.payer_id.clone()), -hold.held_units())?;
    hand_back(tx, cx, &hold, hold.held_units(), true)?;
    hold.state = HoldState::Voided;
    hold.resolved_at = Some(cx.now);
    tx.update_hold(&hold)?;
    let event = (EventKind::HoldVoided, hold.payee.as_ref().map(|p| &p.payee_id));
    super::webhooks::notify(tx, cx.now, &seller, event, hold.id.as_str())?;
    Ok(Outcome::Voided(Box::new(hold)))
}

fn expire_due(tx: &mut (impl LedgerTx + ?Sized), cx: &mut Context, limit: u32) -> Result<Outcome, OpError> {
    let mut holds = 0;
    for mut hold in tx.due_holds(cx.now, limit)? {
        tx.add_held(&AccountKey::Code(hold.payer_id.clone()), -hold.held_units())?;
        hand_back(tx, cx, &hold, hold.held_units(), true)?;
        hold.state = HoldState::Voided;
        hold.resolved_at = Some(cx.now);
        tx.update_hold(&hold)?;
        voided_by_time(tx, cx.now, &hold)?;
        holds += 1;
    }
    Ok(Outcome::Swept { holds })
}

/// What releasing `released_units` of a hold (already out of `held`) gives back: the usage it
/// counted (an authorization counts none until it is used), and, if its code was closed
/// meanwhile, the value itself to the code that took the rest.
pub(super) fn hand_back(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    hold: &HoldRecord,
    released_units: i64,
    use_too: bool,
) -> Result<(), OpError> {
    if released_units == 0 && !use_too {
        // A whole capture gives back nothing: no usage, no value.
        return Ok(());
    }
    if hold.kind == HoldKind::Hold {
        let payer = tx.code_by_id(&hold.payer_id)?.ok_or(OpError::NotFound("code"))?;
        restrictions::give_back(
            tx,
            cx.now,
            &payer,
            (hold.created_at, released_units),
            use_too,
            &for_what(hold),
        )?;
    }
    if let (Some(first), Ok(amount)) = (&hold.release_to, Amount::from_units(released_units)) {
        // The code that took the rest may have closed since: then the nearest active one above it.
        let first = tx.code_by_id(first)?.ok_or(OpError::NotFound("code"))?;
        let beneficiary = if first.status_at(cx.now) == CodeStatus::Active {
            first.id
        } else {
            super::expiry::revert_beneficiary(tx, cx.now, &first)?.ok_or(OpError::NotFound("code"))?
        };
        let transfer = new_transfer(
            cx,
            TransferKind::Reclaim,
            AccountKey::Code(hold.payer_id.clone()),
            AccountKey::Code(beneficiary),
            amount,
            hold.currency,
        );
        post(tx, transfer)?;
    }
    Ok(())
}

/// Releases the expired holds of an open code in place: out of `held`, their usage given back,
/// recorded as voided. A closed code's expired holds (whose value goes elsewhere) wait for the
/// sweep. Called where a stored `held` would refuse what the code can afford now.
pub(super) fn release_expired(tx: &mut (impl LedgerTx + ?Sized), now: Timestamp, code: &CodeId) -> Result<(), OpError> {
    let key = AccountKey::Code(code.clone());
    for mut hold in tx.pending_holds(code, HOLDS_PER_CODE_MAX)? {
        if hold.is_live(now) || hold.release_to.is_some() {
            continue;
        }
        tx.add_held(&key, -hold.held_units())?;
        if hold.kind == HoldKind::Hold {
            let payer = tx.code_by_id(code)?.ok_or(OpError::NotFound("code"))?;
            restrictions::give_back(
                tx,
                now,
                &payer,
                (hold.created_at, hold.amount.units()),
                true,
                &for_what(&hold),
            )?;
        }
        hold.state = HoldState::Voided;
        hold.resolved_at = Some(now);
        tx.update_hold(&hold)?;
        voided_by_time(tx, now, &hold)?;
    }
    Ok(())
}

/// Tells the seller's subscriptions that a hold for it expired (an authorization or a
/// certificate has no seller of its own to tell).
fn voided_by_time(tx: &mut (impl LedgerTx + ?Sized), now: Timestamp, hold: &HoldRecord) -> Result<(), OpError> {
    match (&hold.kind, &hold.payee) {
        (HoldKind::Hold, Some(payee)) => super::webhooks::notify_owner_of(
            tx,
            now,
            &payee.owner_id,
            (EventKind::HoldVoided, Some(&payee.payee_id)),
            hold.id.as_str(),
        ),
        _ => Ok(()),
    }
}

/// When `code` is closed with value going to `beneficiary`: its live holds stay capturable, and
/// what they release later goes there.
pub(super) fn on_close(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    code: &CodeId,
    beneficiary: &CodeId,
) -> Result<(), OpError> {
    release_expired(tx, now, code)?;
    for mut hold in tx.pending_holds(code, HOLDS_PER_CODE_MAX)? {
        if hold.release_to.is_none() {
            hold.release_to = Some(beneficiary.clone());
            tx.update_hold(&hold)?;
        }
    }
    Ok(())
}

/// The holds that set value aside on `code` now.
pub fn live_holds(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    code: &CodeId,
) -> Result<Vec<HoldRecord>, OpError> {
    let mut holds = tx.pending_holds(code, HOLDS_PER_CODE_MAX)?;
    holds.retain(|h| h.is_live(now));
    Ok(holds)
}

/// What a hold was for, as its spending rules judged it when it was made.
fn for_what(hold: &HoldRecord) -> crate::spending::Asked<'_> {
    crate::spending::Asked {
        payee: hold.payee.as_ref().map(|p| &p.payee),
        category: hold.category.as_deref(),
        item: hold.item.as_deref(),
        amount: hold.amount,
        per_minute: false,
    }
}

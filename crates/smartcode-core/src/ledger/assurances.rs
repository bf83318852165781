//! Assurance codes: the broker certifies to a seller that at least an amount (the floor) remains on
//! a holder's code, so the seller can deliver at once and settle afterwards.
//!
//! How the guarantee is kept: a certificate is a hold ([`HoldKind::Certificate`]) of the whole floor
//! on the holder's code for the certificate's payee, for [`CERTIFICATE_SECONDS`]. While it stands,
//! the floor is out of `available`, so nothing the holder does meanwhile (payments, children,
//! payouts, other certificates) can spend it; payments presented with the certificate take from
//! the hold, in any number, up to the floor in total, and are never refused for lack of funds. At
//! the certificate's end what it did not take is released, like any expired hold, at that instant.
//! The broker certifies only while the code can set the floor aside (else `402`); a revoked or
//! expired assurance gives no new certificate, and those given stand until they end.
//!
//! The holder's restrictions are judged, and its usage counted, for each payment (a certificate
//! promises funds, never that a payment the code's rules forbid will be made).

use crate::clock::Timestamp;
use crate::code::{AssuranceId, CodeHash, HoldId, PublicCode};
use crate::error::{HoldRefusal, Invalid, OpError, Restriction};
use crate::limits::*;
use crate::model::*;
use crate::money::Amount;

use super::holds::{expires_within, set_aside};
use super::payments::{parties_of, release_expired_holds, Parties, PaymentOrder};
use super::rules::{authenticate, present};
use super::{Context, Credential, LedgerRead, LedgerTx, Touches};

#[derive(Clone, Debug)]
pub enum Command {
    /// The holder makes an assurance code (keyed hash `hash`) with `floor`.
    Create {
        holder: Credential,
        hash: CodeHash,
        floor: Amount,
        expires_in_seconds: i64,
    },
    /// A seller presents an assurance code (keyed hash `assurance`) for `payee`.
    Certify { assurance: CodeHash, payee: PublicCode },
    /// A payment presented with an assurance code (`order.payer.hash`) and one of its certificates.
    Pay { order: PaymentOrder, certificate: HoldId },
    /// The holder revokes an assurance: no new certificates.
    Cancel { holder: Credential, id: AssuranceId },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created(Box<AssuranceRecord>),
    Certified {
        certificate: Box<HoldRecord>,
        assurance: Box<AssuranceRecord>,
    },
    Paid {
        certificate: Box<HoldRecord>,
        receipt: Receipt,
    },
    Cancelled(Box<AssuranceRecord>),
}

#[derive(Clone, Debug)]
pub enum Query {
    /// The assurances a code made, newest first.
    List { holder: CodeHash },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    List(Vec<AssuranceRecord>),
}

impl Command {
    pub(super) fn touches(&self, touches: &mut Touches) {
        match self {
            Command::Create { holder, .. } | Command::Cancel { holder, .. } => touches.codes.push(holder.hash),
            Command::Certify { payee, .. } => touches.public_codes.push(payee.clone()),
            Command::Pay { order, .. } => touches.public_codes.push(order.payee.clone()),
        }
    }
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Create {
            holder,
            hash,
            floor,
            expires_in_seconds,
        } => create(tx, cx, holder, hash, *floor, *expires_in_seconds),
        Command::Certify { assurance, payee } => certify(tx, cx, assurance, payee),
        Command::Pay { order, certificate } => pay(tx, cx, order, certificate),
        Command::Cancel { holder, id } => cancel(tx, cx.now, holder, id),
    }
}

pub(super) fn query(tx: &mut (impl LedgerRead + ?Sized), query: &Query) -> Result<QueryOutcome, OpError> {
    match query {
        Query::List { holder } => {
            let holder = present(tx, holder)?;
            Ok(QueryOutcome::List(tx.assurances_of(&holder.id, ASSURANCES_LISTED_MAX)?))
        }
    }
}

fn create(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    holder: &Credential,
    hash: &CodeHash,
    floor: Amount,
    seconds: i64,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    let max = ASSURANCE_SECONDS_MAX;
    let expires_at = expires_within(now, seconds, max, Invalid::AssuranceExpiry { max })?;
    let holder = authenticate(tx, holder, now)?;
    if tx.assurance_by_hash(hash)?.is_some() {
        return Err(OpError::CodeCollision);
    }
    // It never outlives its code.
    let expires_at = holder.expires_at.map_or(expires_at, |at| at.min(expires_at));
    let record = AssuranceRecord {
        id: AssuranceId::draw(&mut cx.draws),
        code_id: holder.id,
        floor,
        currency: holder.currency,
        created_at: now,
        expires_at,
        cancelled_at: None,
    };
    tx.insert_assurance(&record, hash)?;
    Ok(Outcome::Created(Box::new(record)))
}

/// The assurance a presented code names, if it still certifies at `now`.
pub(super) fn live_assurance(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    hash: &CodeHash,
) -> Result<AssuranceRecord, OpError> {
    // Unknown and revoked look the same: a wrong guess learns nothing.
    let assurance = tx
        .assurance_by_hash(hash)?
        .filter(|a| a.cancelled_at.is_none())
        .ok_or(OpError::InvalidCode)?;
    if assurance.expires_at <= now {
        return Err(OpError::Expired);
    }
    Ok(assurance)
}

/// What a certificate of assurance `hash` is made from now: the live assurance, its holder (active,
/// its expired holds released), what one payment of the floor may be (to judge the payee by), and
/// when the certificate ends.
pub(super) struct Certifiable {
    pub assurance: AssuranceRecord,
    pub holder: CodeRecord,
    pub probe: Amount,
    pub expires_at: Timestamp,
}

pub(super) fn certifiable(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    hash: &CodeHash,
) -> Result<Certifiable, OpError> {
    let assurance = live_assurance(tx, now, hash)?;
    let holder = tx.code_by_id(&assurance.code_id)?.ok_or(OpError::InvalidCode)?;
    match holder.status_at(now) {
        CodeStatus::Active => {}
        CodeStatus::Expired => return Err(OpError::Expired),
        CodeStatus::Cancelled => return Err(OpError::InvalidCode),
    }
    let holder = release_expired_holds(tx, now, holder)?;
    // Who is paid is checked now as a payment to it would be (nothing is counted yet), for what
    // one payment of the floor may be: the floor may be paid in several.
    let probe = holder
        .restrictions
        .amount_per_use_max
        .map_or(assurance.floor, |max| max.min(assurance.floor));
    let expires_at = now
        .plus_seconds(CERTIFICATE_SECONDS)
        .map(|at| at.min(assurance.expires_at))
        .ok_or(OpError::InvalidRequest(Invalid::AssuranceExpiry {
            max: ASSURANCE_SECONDS_MAX,
        }))?;
    Ok(Certifiable {
        assurance,
        holder,
        probe,
        expires_at,
    })
}

impl Certifiable {
    /// The certificate for `payee` (a seller here) or, with `None`, for the seller `memo` names
    /// elsewhere, set aside on the holder's code.
    pub(super) fn certify(
        self,
        tx: &mut (impl LedgerTx + ?Sized),
        cx: &mut Context,
        (payee, memo): (Option<HoldPayee>, Option<String>),
    ) -> Result<Outcome, OpError> {
        let certificate = HoldRecord {
            id: HoldId::draw_at(cx.now, &mut cx.draws),
            kind: HoldKind::Certificate,
            payer_id: self.holder.id.clone(),
            payee,
            amount: self.assurance.floor,
            currency: self.holder.currency,
            memo,
            category: None,
            item: None,
            created_at: cx.now,
            expires_at: self.expires_at,
            state: HoldState::Pending,
            resolved_at: None,
            captured: None,
            receipt_id: None,
            release_to: None,
            assurance_id: Some(self.assurance.id.clone()),
        };
        set_aside(tx, &certificate, None)?;
        Ok(Outcome::Certified {
            certificate: Box::new(certificate),
            assurance: Box::new(self.assurance),
        })
    }
}

fn certify(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    hash: &CodeHash,
    payee: &PublicCode,
) -> Result<Outcome, OpError> {
    let certifiable = certifiable(tx, cx.now, hash)?;
    let order = PaymentOrder {
        payer: Credential::new(*hash, false),
        payee: payee.clone(),
        amount: certifiable.probe,
        currency: None,
        memo: None,
        category: None,
        item: None,
    };
    let Parties { payee: to, owner, .. } = parties_of(tx, cx.now, certifiable.holder.clone(), &order)?;
    let payee = HoldPayee {
        owner_id: owner.id,
        payee: payee.clone(),
        payee_id: to.id,
    };
    certifiable.certify(tx, cx, (Some(payee), None))
}

/// A payment under a certificate: from what it set aside, never refused for lack of funds.
fn pay(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    order: &PaymentOrder,
    id: &HoldId,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    // The assurance code proves the right to pay; a revoked assurance's certificates still stand.
    let assurance = tx.assurance_by_hash(&order.payer.hash)?.ok_or(OpError::InvalidCode)?;
    let mut certificate = tx
        .hold_by_id(id)?
        .filter(|h| h.kind == HoldKind::Certificate && h.assurance_id.as_ref() == Some(&assurance.id))
        .ok_or(OpError::NotFound("certificate"))?;
    if certificate.payee.as_ref().is_some_and(|p| p.payee != order.payee) {
        return Err(OpError::Restricted(Restriction::Payee));
    }
    // A certificate ends used up (nothing left to pay) or by time (the sweep records it voided).
    match certificate.state_at(now) {
        HoldState::Pending => {}
        HoldState::Captured => return Err(OpError::Hold(HoldRefusal::MoreThanHeld { held_units: 0 })),
        HoldState::Voided => return Err(OpError::Expired),
    }
    let left = certificate.held_units();
    if order.amount.units() > left {
        return Err(OpError::Hold(HoldRefusal::MoreThanHeld { held_units: left }));
    }
    let payer = tx.code_by_id(&certificate.payer_id)?.ok_or(OpError::NotFound("code"))?;
    tx.add_held(&AccountKey::Code(payer.id.clone()), -order.amount.units())?;
    let parties = parties_of(tx, now, payer, order)?;
    let debit = AccountKey::Code(parties.payer.id.clone());
    let receipt_id = cx.draws.receipt_id(now).to_string();
    let receipt = parties.pay(tx, now, receipt_id, order, (debit, order.amount))?;
    let taken = certificate.captured.map_or(0, Amount::units) + order.amount.units();
    certificate.captured = Amount::from_units(taken).ok();
    certificate.receipt_id = Some(receipt.id.clone());
    if taken == certificate.amount.units() {
        certificate.state = HoldState::Captured;
        certificate.resolved_at = Some(now);
    }
    tx.take_from_hold(&certificate, order.amount.units(), now)?;
    Ok(Outcome::Paid {
        certificate: Box::new(certificate),
        receipt,
    })
}

fn cancel(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    holder: &Credential,
    id: &AssuranceId,
) -> Result<Outcome, OpError> {
    let holder = authenticate(tx, holder, now)?;
    let mut assurance = tx
        .assurance_by_id(id)?
        .filter(|a| a.code_id == holder.id)
        .ok_or(OpError::NotFound("assurance"))?;
    if assurance.cancelled_at.is_none() {
        assurance.cancelled_at = Some(now);
        tx.cancel_assurance(&assurance.id, now)?;
    }
    Ok(Outcome::Cancelled(Box::new(assurance)))
}

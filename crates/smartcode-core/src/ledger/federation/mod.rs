//! Payments across brokers: a seller of this broker paid with a code of a peer's, or a code of
//! this broker's paying a seller of a peer's. The protocol is a one-step charge that is reversed
//! when in doubt (ARCHITECTURE.md, "A payment across two brokers"):
//!
//! - At the seller's broker B: [`Command::Prepare`] writes the charge before it is sent (nothing
//!   moves; the code stays in memory), [`Command::Credit`] credits the seller from the peer's
//!   account once A approved, and [`Command::Mark`] records a refusal, a charge in doubt
//!   (`voiding`) and A's answer to its void.
//! - At the buyer's broker A: [`Command::Charge`] debits the code into the peer's account exactly
//!   as a payment would be judged (PIN, restrictions, expiry), once per id; [`Command::Conclude`]
//!   answers what became of an id and closes one never charged, so it never will be;
//!   [`Command::Void`] reverses a charge made (the value back to the code, or its nearest active
//!   ancestor) or closes one never made; [`Command::Refund`] gives back what the peer's seller
//!   refunded of a charge ([`refunds`]).
//!
//! Each side's record of a charge is a [`ChargeRecord`]; neither ever holds the buyer's code.

mod assurances;
mod holds;
mod refunds;
mod seller;

pub use assurances::seller_elsewhere;
pub use holds::hold_state;
pub(in crate::ledger) use refunds::refunding;
pub use refunds::{refund_id, refund_of, RefundOrder};

use crate::clock::{Timestamp, MICROS_PER_SECOND};
use crate::code::{CodeHash, CodeId, PublicCode};
use crate::error::{OpError, PeerRefusal};
use crate::limits::{CHARGE_ID_CHARS_MAX, CODE_INPUT_CHARS_MAX, PEER_CLOCK_SKEW_SECONDS};
use crate::model::*;
use crate::money::{Amount, Currency};

use super::payments::release_expired_holds;
use super::rules::authenticate;
use super::{check_text, post, restrictions, Context, Credential, LedgerRead, LedgerTx};

/// At A: a charge as the peer sent it, with the buyer's code as a credential.
#[derive(Clone, Debug)]
pub struct ChargeOrder {
    pub peer: String,
    pub id: String,
    pub payer: Credential,
    pub amount: Amount,
    pub currency: Currency,
    /// The seller's public code at the peer, as its text.
    pub payee: String,
    pub deadline: Timestamp,
    /// The keyed hash of the charge's entry: the same id sent again with another body is refused.
    pub fingerprint: [u8; 32],
    /// The code is an authorization code: it pays its exact amount, once, and the value it held
    /// is what moves.
    pub authorization: bool,
    /// The code is an assurance code, and this its certificate for the seller: what it set aside
    /// is what moves, never refused for lack of funds.
    pub certificate: Option<crate::code::HoldId>,
}

/// At B: a payment to a seller of this broker, by a code of the peer `peer`, about to be charged.
#[derive(Clone, Debug)]
pub struct PrepareOrder {
    pub peer: String,
    pub id: String,
    pub payee: PublicCode,
    /// What is charged; with a quote, its price if given (what is charged is then its `pay`).
    pub amount: Option<Amount>,
    pub currency: Option<Currency>,
    pub deadline: Timestamp,
    /// A hold (until then) instead of a payment: A sets the value aside, and the seller captures
    /// it later.
    pub expires_at: Option<Timestamp>,
    /// A hold's memo, for the receipt of its capture.
    pub memo: Option<String>,
    /// The quote it pays: the charge is the quote's `pay`, the seller is credited its price.
    pub quote: Option<crate::code::QuoteId>,
}

/// An id and what it was for, as B sends it again in an outcome query or a void: with it A can
/// close an id it never saw.
#[derive(Clone, Debug)]
pub struct ChargeRef {
    pub peer: String,
    pub id: String,
    pub amount: Amount,
    pub currency: Currency,
    pub payee: String,
}

impl ChargeOrder {
    /// The charge's id and what it is for, through `peer` (its name here).
    fn reference(&self, peer: String) -> ChargeRef {
        ChargeRef {
            peer,
            id: self.id.clone(),
            amount: self.amount,
            currency: self.currency,
            payee: self.payee.clone(),
        }
    }
}

impl ChargeRef {
    /// A new record of this charge on `side`, in `state`, made `now`.
    fn record(self, side: ChargeSide, state: ChargeState, deadline: Timestamp, now: Timestamp) -> ChargeRecord {
        ChargeRecord {
            side,
            peer: self.peer,
            id: self.id,
            state,
            amount: self.amount,
            currency: self.currency,
            payee: self.payee,
            code_id: None,
            transfer_id: None,
            fingerprint: None,
            approval: None,
            quote_id: None,
            memo: None,
            hold_id: None,
            expires_at: None,
            deadline,
            created_at: now,
            changed_at: now,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Command {
    Charge(Box<ChargeOrder>),
    Conclude(ChargeRef),
    Void(ChargeRef),
    /// At A: a hold for the peer's seller, until `expires_at`.
    Hold {
        order: Box<ChargeOrder>,
        expires_at: Timestamp,
    },
    /// At A: take `reference.amount` of the hold made under `reference.id`, with B's `deadline`.
    Capture {
        reference: ChargeRef,
        deadline: Timestamp,
    },
    /// At A: the peer's seller refunded part or all of a charge.
    Refund(Box<RefundOrder>),
    /// At A: certify the assurance code `assurance` (its keyed hash) for the seller `payee` of `peer`.
    Certify {
        peer: String,
        assurance: CodeHash,
        payee: String,
    },
    Prepare(Box<PrepareOrder>),
    /// At B: the seller (the payee's owner) asks to capture `amount` (all if `None`) of hold `id`.
    CaptureAsked {
        seller: Credential,
        id: String,
        amount: Option<Amount>,
        deadline: Timestamp,
    },
    /// At B: the seller gives hold `id` back.
    VoidAsked {
        seller: Credential,
        id: String,
    },
    /// A approved charge `id` (`approval`: its signed answer): credit the seller.
    Credit {
        peer: String,
        id: String,
        approval: String,
        memo: Option<String>,
    },
    /// Moves a prepared or voiding charge on B's side to `to` (failed, voiding, voided; held for
    /// a hold A made), or a refunding one to refunded (or failed, refused for good).
    Mark {
        peer: String,
        id: String,
        to: ChargeState,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The charge as it stands on this side after the command.
    Charge(Box<ChargeRecord>),
    /// B credited its seller: the receipt.
    Credited(Box<Receipt>),
    /// A certified an assurance code for a seller of the peer's.
    Certified {
        certificate: Box<HoldRecord>,
        assurance: Box<AssuranceRecord>,
    },
}

#[derive(Clone, Debug)]
pub enum Query {
    /// B's charges in doubt with `peer`: voiding and refunding ones, and prepared ones whose
    /// deadline passed before `before` (by then the request that prepared one has given up on it).
    InDoubt {
        peer: String,
        before: Timestamp,
        limit: u32,
    },
    /// What moved between this broker and `peer` from `since` (the beginning, if `None`) to
    /// `until`, both included: the charges that moved value (either side, by their deadline,
    /// which both sides keep alike) and the settlements, at most `limit` of each.
    Statement {
        peer: String,
        since: Option<Timestamp>,
        until: Timestamp,
        limit: u32,
    },
    /// At B: a hold across brokers, for the seller that presents `reader`.
    Hold { id: String, reader: CodeHash },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Charges(Vec<ChargeRecord>),
    Hold(Box<ChargeRecord>),
    Statement {
        /// Charges that may have moved value: credited, refunding, refunded or failed (a refund
        /// the peer refused still stands) at the seller's side, charged, reversed or refunded at
        /// the buyer's, oldest deadline first.
        charges: Vec<ChargeRecord>,
        /// Settlement transfers with the peer, newest first.
        settlements: Vec<Transfer>,
        /// Whether every charge and settlement up to `until` is listed (neither hit `limit`).
        complete: bool,
    },
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Charge(order) => charge(tx, cx, order),
        Command::Conclude(reference) => {
            let record = match tx.charge(ChargeSide::Buyer, &reference.peer, &reference.id)? {
                Some(record) => record,
                None => close(tx, cx.now, reference)?,
            };
            Ok(Outcome::Charge(Box::new(record)))
        }
        Command::Void(reference) => void(tx, cx, reference),
        Command::Refund(order) => refunds::refund(tx, cx, order),
        Command::Hold { order, expires_at } => holds::hold(tx, cx, order, *expires_at),
        Command::Capture { reference, deadline } => holds::capture(tx, cx, reference, *deadline),
        Command::Certify { peer, assurance, payee } => assurances::certify(tx, cx, peer, assurance, payee),
        Command::Prepare(order) => seller::prepare(tx, cx.now, order),
        Command::CaptureAsked {
            seller,
            id,
            amount,
            deadline,
        } => holds::capture_asked(tx, cx.now, seller, (id, *amount), *deadline),
        Command::VoidAsked { seller, id } => holds::void_asked(tx, cx.now, seller, id),
        Command::Credit {
            peer,
            id,
            approval,
            memo,
        } => seller::credit(tx, cx.now, (peer, id), approval, memo.as_ref()),
        Command::Mark { peer, id, to } => seller::mark(tx, cx.now, (peer, id), *to),
    }
}

pub(super) fn query(tx: &mut (impl LedgerRead + ?Sized), query: &Query) -> Result<QueryOutcome, OpError> {
    match query {
        Query::InDoubt { peer, before, limit } => {
            Ok(QueryOutcome::Charges(tx.charges_in_doubt(peer, *before, *limit)?))
        }
        Query::Statement {
            peer,
            since,
            until,
            limit,
        } => statement(tx, peer, (*since, *until), *limit),
        Query::Hold { id, reader } => Ok(QueryOutcome::Hold(Box::new(holds::read(tx, id, reader)?))),
    }
}

fn statement(
    tx: &mut (impl LedgerRead + ?Sized),
    peer: &str,
    (since, until): (Option<Timestamp>, Timestamp),
    limit: u32,
) -> Result<QueryOutcome, OpError> {
    tx.peer(peer)?.ok_or(OpError::NotFound("peer"))?;
    let from = since.unwrap_or(Timestamp(i64::MIN));
    let charges = tx.charges_with(peer, (from, until), limit.saturating_add(1))?;
    let mut settlements = Vec::new();
    let mut complete = charges.len() <= limit as usize;
    for (currency, _) in tx.peer_balances(peer)? {
        let account = AccountKey::Peer {
            peer: peer.to_owned(),
            currency,
        };
        let filter = super::TransferFilter {
            since,
            until: Some(until),
            before_sequence: None,
            limit: limit.saturating_add(1),
        };
        let transfers = tx.transfers_of(&account, &filter)?;
        complete &= transfers.len() <= limit as usize;
        let settled = transfers.into_iter().map(|(_, t)| t);
        settlements.extend(settled.filter(|t| t.kind == TransferKind::Settlement));
    }
    let mut charges = charges;
    charges.truncate(limit as usize);
    settlements.truncate(limit as usize);
    Ok(QueryOutcome::Statement {
        charges,
        settlements,
        complete,
    })
}

/// The peer `name`, if it is there and active.
fn active_peer(tx: &mut (impl LedgerRead + ?Sized), name: &str) -> Result<PeerRecord, OpError> {
    let peer = tx.peer(name)?.ok_or(OpError::NotFound("peer"))?;
    if peer.status != PeerStatus::Active {
        return Err(OpError::Peer(PeerRefusal::Suspended));
    }
    Ok(peer)
}

fn check_reference(id: &str, payee: &str) -> Result<(), OpError> {
    if id.is_empty() {
        return Err(OpError::InvalidRequest(crate::error::Invalid::EmptyText {
            field: "id",
        }));
    }
    check_text("id", Some(id), CHARGE_ID_CHARS_MAX)?;
    check_text("payee", Some(payee), CODE_INPUT_CHARS_MAX)
}

/// Whether a charge or hold at A is one already made (sent again), or new.
enum Admitted {
    /// Made before with this very body: its record, answered again.
    Again(ChargeRecord),
    /// New, in time, through this active peer.
    New(PeerRecord),
}

/// At A: a charge or hold sent again with the same body is what it was (a hold captured since
/// answers as its charge); another body under its id is a conflict; an id closed or reversed is
/// never made; and a new one must arrive by its deadline (and the clocks' skew).
fn admit(tx: &mut (impl LedgerTx + ?Sized), now: Timestamp, order: &ChargeOrder) -> Result<Admitted, OpError> {
    check_reference(&order.id, &order.payee)?;
    let peer = active_peer(tx, &order.peer)?;
    if let Some(record) = tx.charge(ChargeSide::Buyer, &peer.name, &order.id)? {
        return match record.state {
            ChargeState::Charged | ChargeState::Held if record.fingerprint == Some(order.fingerprint) => {
                Ok(Admitted::Again(record))
            }
            ChargeState::Charged | ChargeState::Held => Err(OpError::IdempotencyConflict),
            _ => Err(OpError::Peer(PeerRefusal::ChargeClosed)),
        };
    }
    if now.0
        > order
            .deadline
            .0
            .saturating_add(PEER_CLOCK_SKEW_SECONDS * MICROS_PER_SECOND)
    {
        return Err(OpError::Peer(PeerRefusal::ChargeLate));
    }
    Ok(Admitted::New(peer))
}

fn charge(tx: &mut (impl LedgerTx + ?Sized), cx: &mut Context, order: &ChargeOrder) -> Result<Outcome, OpError> {
    let now = cx.now;
    let peer = match admit(tx, now, order)? {
        Admitted::Again(record) => return Ok(Outcome::Charge(Box::new(record))),
        Admitted::New(peer) => peer,
    };
    let authorization = match order.authorization {
        true => Some(authorization_for(tx, now, order)?),
        false => None,
    };
    let payer = match (&authorization, &order.certificate) {
        (_, Some(certificate)) => assurances::from_certificate(
            tx,
            (now, &peer),
            (&order.payer.hash, certificate),
            (&order.payee, order.amount),
        )?,
        (Some(authorization), None) => {
            let payer = tx.code_by_id(&authorization.payer_id)?.ok_or(OpError::InvalidCode)?;
            // What it held is what pays: given back to the code's available balance first.
            tx.add_held(&AccountKey::Code(payer.id.clone()), -authorization.amount.units())?;
            payer
        }
        (None, None) => {
            let payer = authenticate(tx, &order.payer, now)?;
            release_expired_holds(tx, now, payer)?
        }
    };
    if payer.currency != order.currency {
        return Err(OpError::CurrencyMismatch);
    }
    let checked = restrictions::check_payment_elsewhere(tx, now, &payer, order.amount)?;
    let account = AccountKey::Peer {
        peer: peer.name.clone(),
        currency: order.currency,
    };
    tx.open_account(&account, order.currency)?;
    let transfer = Transfer {
        id: cx.draws.receipt_id(now).to_string(),
        at: now,
        kind: TransferKind::Payment,
        debit: AccountKey::Code(payer.id.clone()),
        credit: account,
        amount: order.amount,
        currency: order.currency,
        // Who was paid, at the peer: the payer's history names the seller by it.
        memo: Some(order.payee.clone()),
        public_code_id: None,
        category: None,
        item: None,
    };
    post(tx, transfer.clone())?;
    checked.record(tx)?;
    if let Some(mut authorization) = authorization {
        authorization.state = HoldState::Captured;
        authorization.resolved_at = Some(now);
        authorization.captured = Some(order.amount);
        authorization.receipt_id = Some(transfer.id.clone());
        tx.update_hold(&authorization)?;
    }
    let record = ChargeRecord {
        code_id: Some(payer.id),
        transfer_id: Some(transfer.id),
        fingerprint: Some(order.fingerprint),
        ..order
            .reference(peer.name)
            .record(ChargeSide::Buyer, ChargeState::Charged, order.deadline, now)
    };
    tx.insert_charge(&record)?;
    Ok(Outcome::Charge(Box::new(record)))
}

/// The pending authorization a charge presents, if it may pay this charge: made for no payee in
/// particular (one made for a seller of this broker pays only that seller), for exactly this
/// amount. Unknown, used and cancelled look alike, as for a local payment.
fn authorization_for(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    order: &ChargeOrder,
) -> Result<HoldRecord, OpError> {
    let authorization = tx.hold_by_code(&order.payer.hash)?.ok_or(OpError::InvalidCode)?;
    match authorization.state_at(now) {
        HoldState::Pending => {}
        _ if authorization.state == HoldState::Pending || super::authorizations::expired_by_time(&authorization) => {
            return Err(OpError::Expired)
        }
        _ => return Err(OpError::InvalidCode),
    }
    if authorization.payee.is_some() {
        return Err(OpError::Restricted(crate::error::Restriction::Payee));
    }
    if order.amount != authorization.amount {
        return Err(OpError::Hold(crate::error::HoldRefusal::NotAuthorizedAmount {
            authorized_units: authorization.amount.units(),
        }));
    }
    Ok(authorization)
}

/// At A: remembers an id never charged as closed, so that a charge of it arriving later is refused.
fn close(tx: &mut (impl LedgerTx + ?Sized), now: Timestamp, reference: &ChargeRef) -> Result<ChargeRecord, OpError> {
    check_reference(&reference.id, &reference.payee)?;
    tx.peer(&reference.peer)?.ok_or(OpError::NotFound("peer"))?;
    let record = reference
        .clone()
        .record(ChargeSide::Buyer, ChargeState::Closed, now, now);
    tx.insert_charge(&record)?;
    Ok(record)
}

/// At A: who gets back what went to the peer from `payer`: the code, or its nearest active
/// ancestor if it is closed now. A void or a refund must always land: with no active code left
/// above it, on the closed code itself (the operator can pay it out), never refused, or the peer
/// would wait on it forever.
fn beneficiary(tx: &mut (impl LedgerTx + ?Sized), now: Timestamp, payer: &CodeRecord) -> Result<CodeId, OpError> {
    if payer.status_at(now) == CodeStatus::Active {
        return Ok(payer.id.clone());
    }
    Ok(super::expiry::revert_beneficiary(tx, now, payer)?.unwrap_or_else(|| payer.id.clone()))
}

/// At A: reverses a charge made (its value back to the code, or to the code's nearest active
/// ancestor if it is closed now, and its usage given back), or closes an id never charged.
fn void(tx: &mut (impl LedgerTx + ?Sized), cx: &mut Context, reference: &ChargeRef) -> Result<Outcome, OpError> {
    let now = cx.now;
    let Some(mut record) = tx.charge(ChargeSide::Buyer, &reference.peer, &reference.id)? else {
        return Ok(Outcome::Charge(Box::new(close(tx, now, reference)?)));
    };
    if record.state == ChargeState::Held {
        return holds::release(tx, cx, record);
    }
    if record.state != ChargeState::Charged {
        return Ok(Outcome::Charge(Box::new(record)));
    }
    let code_id = record.code_id.clone().ok_or(OpError::NotFound("charge's code"))?;
    let payer = tx.code_by_id(&code_id)?.ok_or(OpError::NotFound("charge's code"))?;
    let credited = beneficiary(tx, now, &payer)?;
    let reversal = Transfer {
        id: record.reversal_id().ok_or(OpError::NotFound("charge's transfer"))?,
        at: now,
        kind: TransferKind::Refund,
        debit: AccountKey::Peer {
            peer: record.peer.clone(),
            currency: record.currency,
        },
        credit: AccountKey::Code(credited),
        amount: record.amount,
        currency: record.currency,
        memo: Some(record.payee.clone()),
        public_code_id: None,
        category: None,
        item: None,
    };
    post(tx, reversal)?;
    let for_what = crate::spending::Asked {
        payee: None,
        category: None,
        item: None,
        amount: record.amount,
        per_minute: false,
    };
    restrictions::give_back(
        tx,
        now,
        &payer,
        (record.created_at, record.amount.units()),
        true,
        &for_what,
    )?;
    record.state = ChargeState::Reversed;
    record.changed_at = now;
    tx.update_charge(&record, ChargeState::Charged)?;
    Ok(Outcome::Charge(Box::new(record)))
}

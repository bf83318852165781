//! Metered sessions (zero-click buying, "up to ten cents a minute"): a purchase of an offer priced
//! per minute opens a session instead of paying (`super::purchases`), and the seller charges it as
//! use accrues. The broker, not the seller, keeps the charges to the price per minute, to the cap
//! fixed when the session opened, and to what the buyer's spending rules let through now.
//!
//! ```text
//! (purchase, unit minute) --rules pay a minute's price--> open
//!                         --they ask, or none pays------> approval pending --approved--> open
//! open --charge a: open, charged + a <= cap, charged + a <= accrued,--> open (a payment, receipt)
//!        the rules pay a now, the code can pay it
//!      --such a charge that makes charged = cap-----------------------> closed (cap_reached)
//!      --the buyer (or a code above it) closes------------------------> closed (closed_by_buyer)
//!      --its expiry passes--------------------------------------------> closed (expired: read so)
//!      --the buyer's code is cancelled or expires--------------------> closed (code_closed: read so)
//! closed --charge, close--> session_closed (nothing written)
//! ```
//!
//! `accrued` is the price per minute times the time since the session opened (until its expiry),
//! rounded down ([`SessionRecord::accrued_units`]). A charge is a payment from the buyer's code to
//! the payee's owner, judged by the buyer's spending rules with the consent the session was opened
//! with, counted in them, with a receipt (memo `session:<id>`); a refused charge writes nothing.
//! A store reads a session for a write under a lock held to the commit (PostgreSQL: `FOR
//! UPDATE`), so a second charge of it waits for the first and is judged on what that one left;
//! its row is written naming the `charged` it was read with, so a charge that raced anyway runs
//! again.

use crate::approval::OfferTerms;
use crate::clock::Timestamp;
use crate::code::{ApprovalId, CodeHash, SessionId};
use crate::error::{Limit, OpError, SessionRefusal};
use crate::limits::*;
use crate::model::*;
use crate::money::Amount;
use crate::session::{CloseReason, SessionRecord, SessionState};

use super::payments::{parties_consented, release_expired_holds, Parties, PaymentOrder};
use super::restrictions::{self, Consent};
use super::rules::{authenticate, descendant, present};
use super::{Context, Credential, LedgerRead, LedgerTx, Touches};

#[derive(Clone, Debug)]
pub enum Command {
    /// The seller (the owner of the session's payee) charges `amount` of what has accrued.
    Charge {
        seller: Credential,
        id: SessionId,
        amount: Amount,
    },
    /// The holder of the buyer's code, or of a code above it, closes the session.
    Close { holder: Credential, id: SessionId },
}

/// A session with where it stands now (its expiry and its code's status read in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    pub record: SessionRecord,
    pub state: SessionState,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Charged { session: SessionView, receipt: Receipt },
    Closed(SessionView),
}

#[derive(Clone, Debug)]
pub enum Query {
    /// The sessions a code opened, open ones first, then the newest.
    Sessions { holder: CodeHash },
    /// One session, for the owner of its payee.
    Session { seller: CodeHash, id: SessionId },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Sessions(Vec<SessionView>),
    Session(SessionView),
}

impl Command {
    pub(super) fn touches(&self, touches: &mut Touches) {
        match self {
            Command::Charge { seller, .. } => touches.codes.push(seller.hash),
            Command::Close { holder, .. } => touches.codes.push(holder.hash),
        }
    }
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Charge { seller, id, amount } => charge(tx, cx, seller, id, *amount),
        Command::Close { holder, id } => close(tx, cx.now, holder, id),
    }
}

pub(super) fn query(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    query: &Query,
) -> Result<QueryOutcome, OpError> {
    match query {
        Query::Sessions { holder } => {
            let holder = present(tx, holder)?;
            let sessions = tx.sessions_for(&holder.id, now, SESSIONS_LISTED_MAX)?;
            Ok(QueryOutcome::Sessions(
                sessions.into_iter().map(|record| view(record, &holder, now)).collect(),
            ))
        }
        Query::Session { seller, id } => {
            let seller = present(tx, seller)?;
            let record = tx
                .session_by_id(id)?
                .filter(|s| s.owner_id == seller.id)
                .ok_or(OpError::NotFound("session"))?;
            let payer = tx.code_by_id(&record.code_id)?.ok_or(OpError::NotFound("session"))?;
            Ok(QueryOutcome::Session(view(record, &payer, now)))
        }
    }
}

/// `record` as it stands at `now`, its buyer's code being `payer`.
fn view(record: SessionRecord, payer: &CodeRecord, now: Timestamp) -> SessionView {
    let state = match record.state_at(now) {
        SessionState::Open if payer.status_at(now) != CodeStatus::Active => {
            SessionState::Closed(CloseReason::CodeClosed)
        }
        state => state,
    };
    SessionView { record, state }
}

/// The session `payer` has open for the offer of this fingerprint, if any: a purchase of it again
/// answers that session.
pub(super) fn open_for_offer(
    tx: &mut (impl LedgerRead + ?Sized),
    payer: &CodeRecord,
    offer: &OfferTerms,
    now: Timestamp,
) -> Result<Option<SessionRecord>, OpError> {
    let open = tx.sessions_for(&payer.id, now, SESSIONS_OPEN_PER_CODE_MAX + 1)?;
    Ok(open
        .into_iter()
        .find(|s| s.state_at(now) == SessionState::Open && s.offer.fingerprint == offer.fingerprint))
}

/// Opens a session of `offer` between `parties` (judged on one minute's price), its cap what the
/// payer's balance and rules leave now. `approved`: the depth of the code whose holder approved it
/// and the approval, for a session opened from the queue.
pub(super) fn open(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    parties: &Parties,
    offer: &OfferTerms,
    approved: Option<(u32, ApprovalId)>,
) -> Result<SessionRecord, OpError> {
    let now = cx.now;
    let payer = &parties.payer;
    let open = tx.sessions_for(&payer.id, now, SESSIONS_OPEN_PER_CODE_MAX + 1)?;
    let open = open.iter().filter(|s| s.state_at(now) == SessionState::Open).count();
    if open >= SESSIONS_OPEN_PER_CODE_MAX as usize {
        return Err(OpError::LimitExceeded(Limit::SessionsPerCode));
    }
    let stamped = &parties.checked.stamped;
    let asked = crate::spending::Asked {
        payee: Some(&offer.payee),
        category: stamped.category.as_deref(),
        item: stamped.item.as_deref(),
        amount: offer.price,
        per_minute: true,
    };
    let depth = approved.as_ref().map(|(depth, _)| *depth);
    let cap = restrictions::session_cap(tx, now, payer, &asked, depth)?;
    // A cap above what one operation may move is that much (the charges are bounded by it anyway);
    // only nothing to charge is a refusal.
    let cap = Amount::from_units(cap.min(crate::limits::AMOUNT_UNITS_MAX)).map_err(|_| OpError::InsufficientFunds)?;
    let session = SessionRecord {
        id: SessionId::draw(&mut cx.draws),
        code_id: payer.id.clone(),
        owner_id: parties.owner.id.clone(),
        offer: OfferTerms {
            category: stamped.category.clone(),
            item: stamped.item.clone(),
            ..offer.clone()
        },
        cap,
        charged_units: 0,
        charges: 0,
        approved_at_depth: depth,
        state: SessionState::Open,
        opened_at: now,
        closed_at: None,
        approval_id: approved.map(|(_, id)| id),
    };
    tx.insert_session(&session)?;
    Ok(session)
}

fn charge(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    credential: &Credential,
    id: &SessionId,
    amount: Amount,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    let seller = authenticate(tx, credential, now)?;
    let mut session = tx
        .session_by_id(id)?
        .filter(|s| s.owner_id == seller.id)
        .ok_or(OpError::NotFound("session"))?;
    let payer = tx.code_by_id(&session.code_id)?.ok_or(OpError::NotFound("session"))?;
    if let SessionState::Closed(reason) = view(session.clone(), &payer, now).state {
        return Err(OpError::Session(SessionRefusal::Closed {
            reason: reason.as_str(),
        }));
    }
    let was = session.charged_units;
    let total = check_room(&session, amount, now)?;
    let payer = release_expired_holds(tx, now, payer)?;
    let offer = &session.offer;
    let order = PaymentOrder {
        // The seller's credential, checked above; the payer is the session's code.
        payer: *credential,
        payee: offer.payee.clone(),
        amount,
        currency: Some(offer.currency),
        memo: Some(format!("session:{id}")),
        category: offer.category.clone(),
        item: offer.item.clone(),
    };
    let consent = match session.approved_at_depth {
        Some(depth) => Consent::ApprovedAt { depth },
        None => Consent::ZeroClick,
    };
    let parties = parties_consented(tx, now, payer, (&order, consent), None).map_err(|error| match error {
        OpError::ApprovalRequired { rule, why, .. } => OpError::Session(SessionRefusal::Rules {
            why: match rule {
                Some(rule) => format!("rule {rule:?}: {why}"),
                None => why,
            },
        }),
        other => other,
    })?;
    let debit = AccountKey::Code(parties.payer.id.clone());
    let receipt_id = cx.draws.receipt_id(now).to_string();
    let receipt = parties.pay(tx, now, receipt_id, &order, (debit, amount))?;
    session.charged_units = total;
    session.charges = session.charges.saturating_add(1);
    if total == session.cap.units() {
        session.state = SessionState::Closed(CloseReason::CapReached);
        session.closed_at = Some(now);
    }
    assert!(
        session.charged_units <= session.cap.units(),
        "a session never charges past its cap"
    );
    tx.update_session(&session, was)?;
    let state = session.state;
    Ok(Outcome::Charged {
        session: SessionView { record: session, state },
        receipt,
    })
}

/// What the session will have charged with `amount` more, if that stays within its cap and what
/// its use has accrued by `now`.
fn check_room(session: &SessionRecord, amount: Amount, now: Timestamp) -> Result<i64, OpError> {
    let was = session.charged_units;
    let left_units = session.cap_left_units();
    let total = match was.checked_add(amount.units()) {
        Some(total) if total <= session.cap.units() => total,
        _ => return Err(OpError::Session(SessionRefusal::CapExceeded { left_units })),
    };
    let accrued = session.accrued_units(now);
    if total > accrued {
        return Err(OpError::Session(SessionRefusal::Accrual {
            accrued_left_units: (accrued - was).max(0),
        }));
    }
    Ok(total)
}

fn close(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    holder: &Credential,
    id: &SessionId,
) -> Result<Outcome, OpError> {
    let closer = authenticate(tx, holder, now)?;
    let mut session = tx.session_by_id(id)?.ok_or(OpError::NotFound("session"))?;
    let payer = match session.code_id == closer.id {
        true => closer,
        false => descendant(tx, &closer, &session.code_id).map_err(|_| OpError::NotFound("session"))?,
    };
    if let SessionState::Closed(reason) = view(session.clone(), &payer, now).state {
        return Err(OpError::Session(SessionRefusal::Closed {
            reason: reason.as_str(),
        }));
    }
    session.state = SessionState::Closed(CloseReason::ClosedByBuyer);
    session.closed_at = Some(now);
    tx.update_session(&session, session.charged_units)?;
    let state = session.state;
    Ok(Outcome::Closed(SessionView { record: session, state }))
}

//! Purchases of offers (zero-click buying, PLAN-ZERO-CLICK.md): a buyer's program hands the
//! broker a seller's offer, and the broker pays it if the code's spending rules pay it with no one
//! asked; what they do not settle waits in the approval queue, for the holder of the code that
//! made the purchase or of the code above it whose rule stopped it.
//!
//! ```text
//! offer --a rule pays it----------------------> paid (a payment, memo "offer:<id>")
//!       --a rule refuses it-------------------> refused (403 restricted)
//!       --a rule asks, a cap is passed, or----> queued (pending)
//!         no rule pays it
//! pending --approved by the buyer or a code above it--> approved (paid, and with make_rule a
//!                                                        rule that pays the same kind of purchase)
//!         --declined---------------------------------> declined
//!         --the offer's expiry passes----------------> expired (read so, never written)
//! ```
//!
//! An offer priced per minute (`OfferUnit::Minute`) is judged the same way on the price of one
//! minute, and where an item purchase pays, it opens a metered session instead (`super::sessions`;
//! an approval of one opens it too). Nothing is paid when a session opens; its seller charges it.
//!
//! An approval pays under the spending rules of the codes above the one that approved it; the
//! rules of the approver and of the codes below it count the payment but do not ask (the holder's
//! click is the answer they asked for), and a rule that refuses still refuses. Nothing is held
//! while a purchase waits: the payment, when it comes, is judged and made at once.

use crate::approval::{ApprovalRecord, ApprovalState, OfferTerms, OfferUnit};
use crate::clock::Timestamp;
use crate::code::{ApprovalId, CodeHash, CodeId};
use crate::error::{Conflict, Invalid, Limit, OpError};
use crate::limits::*;
use crate::model::*;
use crate::money::Amount;
use crate::session::SessionRecord;
use crate::spending::{RateLimit, RuleAction, RuleCounters, RuleMatch, SpendingRule};

use super::payments::{parties_judged, release_expired_holds, Parties, PaymentOrder};
use super::restrictions::{self, Consent};
use super::rules::{authenticate, effective_catalog, present};
use super::{controls, sessions, Context, Credential, LedgerRead, LedgerTx, Touches};

#[derive(Clone, Debug)]
pub enum Command {
    /// Buys `offer` with no one asked, paying `order.amount` (its price, or a lower one a
    /// negotiation agreed) with the memo `offer:<id>`; what the rules do not settle is queued,
    /// with `counter`, the seller's last counter-offer if a negotiation ended without agreement.
    Purchase {
        order: PaymentOrder,
        offer: OfferTerms,
        counter: Option<Amount>,
        /// The rounds of the negotiation before it (0 for none), told back in the outcome.
        rounds: u32,
        /// How a negotiation before it ended without agreement, added to why it waits.
        note: Option<String>,
    },
    /// The holder of the buyer's code, or of a code above it, approves a queued purchase: pays it
    /// (at the counter-offer with `at_counter`), and with `make_rule` adds a rule to the
    /// approver's code that pays the same kind of purchase up to this price from then on.
    Approve {
        holder: Credential,
        id: ApprovalId,
        make_rule: bool,
        at_counter: bool,
    },
    Decline {
        holder: Credential,
        id: ApprovalId,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Paid {
        receipt: Receipt,
        rounds: u32,
    },
    Queued {
        approval: ApprovalRecord,
        rounds: u32,
    },
    /// A metered offer's session, opened (or open already for this offer).
    Opened {
        session: SessionRecord,
    },
    /// An approval's payment, or for a metered offer its session (both `None` when a rule above
    /// the approver still asks: the approval now waits for that code's holder), and the name of
    /// the rule it added.
    Approved {
        approval: ApprovalRecord,
        receipt: Option<Receipt>,
        session: Option<SessionRecord>,
        rule_added: Option<String>,
    },
    Declined(ApprovalRecord),
}

#[derive(Clone, Debug)]
pub enum Query {
    /// The approvals a code made or whose rule stopped, waiting ones first.
    Approvals { holder: CodeHash },
    /// The most a purchase like `order` (its amount unread) may cost now with no one asked, if
    /// any rule pays it: what a negotiation bids within.
    Room { order: PaymentOrder },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Approvals(Vec<ApprovalRecord>),
    Room(Option<Amount>),
}

impl Command {
    pub(super) fn touches(&self, touches: &mut Touches) {
        match self {
            Command::Purchase { order, .. } => {
                touches.codes.push(order.payer.hash);
                touches.public_codes.push(order.payee.clone());
            }
            Command::Approve { holder, .. } | Command::Decline { holder, .. } => touches.codes.push(holder.hash),
        }
    }
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Purchase {
            order,
            offer,
            counter,
            rounds,
            note,
        } => purchase(tx, cx, (order, offer), (*counter, note.as_deref()), *rounds),
        Command::Approve {
            holder,
            id,
            make_rule,
            at_counter,
        } => approve(tx, cx, holder, id, (*make_rule, *at_counter)),
        Command::Decline { holder, id } => decline(tx, cx.now, holder, id),
    }
}

pub(super) fn query(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    query: &Query,
) -> Result<QueryOutcome, OpError> {
    match query {
        Query::Approvals { holder } => {
            let holder = present(tx, holder)?;
            Ok(QueryOutcome::Approvals(tx.approvals_for(
                &holder.id,
                now,
                APPROVALS_LISTED_MAX,
            )?))
        }
        Query::Room { order } => {
            let payer = present(tx, &order.payer.hash)?;
            let payee = tx.code_by_public(&order.payee)?.ok_or(OpError::NotFound("payee"))?;
            let sold = effective_catalog(tx, &payee)?;
            let room = restrictions::zero_click_room(tx, now, &payer, order, &sold)?;
            Ok(QueryOutcome::Room(
                room.and_then(|units| Amount::from_units(units).ok()),
            ))
        }
    }
}

/// Checks that `order` pays what `offer` asks: its payee, in its currency, no more than its price.
fn check_terms(order: &PaymentOrder, offer: &OfferTerms, now: Timestamp) -> Result<(), OpError> {
    if offer.expires_at <= now {
        return Err(OpError::Expired);
    }
    if order.payee != offer.payee || order.amount > offer.price || order.currency != Some(offer.currency) {
        return Err(OpError::InvalidRequest(Invalid::Rules {
            why: "a purchase pays its offer's payee, in its currency, at most its price".to_owned(),
        }));
    }
    // A session is judged on the price it is opened at: one minute's, never a lower figure.
    if offer.unit == OfferUnit::Minute && order.amount != offer.price {
        return Err(OpError::InvalidRequest(Invalid::Rules {
            why: "a metered offer is bought at its price per minute".to_owned(),
        }));
    }
    Ok(())
}

fn purchase(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    (order, offer): (&PaymentOrder, &OfferTerms),
    (counter, note): (Option<Amount>, Option<&str>),
    rounds: u32,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    check_terms(order, offer, now)?;
    let payer = authenticate(tx, &order.payer, now)?;
    let payer = release_expired_holds(tx, now, payer)?;
    // A purchase of an offer that waits already answers that approval again.
    let waiting = tx.approvals_for(&payer.id, now, APPROVALS_PENDING_PER_CODE_MAX + 1)?;
    let mine: Vec<&ApprovalRecord> = waiting
        .iter()
        .filter(|a| a.code_id == payer.id && a.state_at(now) == ApprovalState::Pending)
        .collect();
    if let Some(same) = mine.iter().find(|a| a.offer.fingerprint == offer.fingerprint) {
        return Ok(Outcome::Queued {
            approval: (*same).clone(),
            rounds,
        });
    }
    let per_minute = offer.unit == OfferUnit::Minute;
    if per_minute {
        if let Some(session) = sessions::open_for_offer(tx, &payer, offer, now)? {
            return Ok(Outcome::Opened { session });
        }
    }
    match parties_judged(tx, now, payer.clone(), (order, Consent::ZeroClick, per_minute), None) {
        Ok(parties) if per_minute => {
            let session = sessions::open(tx, cx, &parties, offer, None)?;
            Ok(Outcome::Opened { session })
        }
        Ok(parties) => {
            let debit = AccountKey::Code(parties.payer.id.clone());
            let receipt_id = cx.draws.receipt_id(now).to_string();
            let receipt = parties.pay(tx, now, receipt_id, order, (debit, order.amount))?;
            Ok(Outcome::Paid { receipt, rounds })
        }
        Err(OpError::ApprovalRequired { rule, code, why }) => {
            if mine.len() >= APPROVALS_PENDING_PER_CODE_MAX as usize {
                return Err(OpError::LimitExceeded(Limit::ApprovalsPerCode));
            }
            let agreed = (order.amount < offer.price).then_some(order.amount);
            let approval = ApprovalRecord {
                id: ApprovalId::draw(&mut cx.draws),
                code_id: payer.id.clone(),
                stopped_by: CodeId::parse(&code).unwrap_or_else(|| payer.id.clone()),
                offer: offer.clone(),
                counter: counter.or(agreed),
                rule,
                why: match note {
                    Some(note) => format!("{why}; negotiation: {note}"),
                    None => why,
                },
                state: ApprovalState::Pending,
                created_at: now,
                resolved_at: None,
                receipt_id: None,
            };
            tx.insert_approval(&approval)?;
            Ok(Outcome::Queued { approval, rounds })
        }
        Err(other) => Err(other),
    }
}

/// The approval `id`, pending, and the approver: the buyer's code or a code above it.
fn pending_for(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    holder: &Credential,
    id: &ApprovalId,
) -> Result<(CodeRecord, ApprovalRecord), OpError> {
    let approver = authenticate(tx, holder, now)?;
    let approval = tx.approval_by_id(id)?.ok_or(OpError::NotFound("approval"))?;
    if approval.code_id != approver.id {
        super::rules::descendant(tx, &approver, &approval.code_id).map_err(|_| OpError::NotFound("approval"))?;
    }
    match approval.state_at(now) {
        ApprovalState::Pending => Ok((approver, approval)),
        ApprovalState::Expired => Err(OpError::Expired),
        state => Err(OpError::Conflict(Conflict::ApprovalNotPending {
            state: state.as_str(),
        })),
    }
}

fn approve(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    holder: &Credential,
    id: &ApprovalId,
    (make_rule, at_counter): (bool, bool),
) -> Result<Outcome, OpError> {
    let now = cx.now;
    let (approver, mut approval) = pending_for(tx, now, holder, id)?;
    let price = match at_counter {
        true => approval.counter.ok_or(OpError::Conflict(Conflict::NoCounterOffer))?,
        false => approval.offer.price,
    };
    let offer = &approval.offer;
    let order = PaymentOrder {
        // The approver's credential, checked above; the payer is the buyer's code, read below.
        payer: *holder,
        payee: offer.payee.clone(),
        amount: price,
        currency: Some(offer.currency),
        memo: Some(offer.memo()),
        category: offer.category.clone(),
        item: offer.item.clone(),
    };
    let payer = match approval.code_id == approver.id {
        true => approver.clone(),
        false => tx.code_by_id(&approval.code_id)?.ok_or(OpError::InvalidCode)?,
    };
    super::rules::require_active(&payer, now)?;
    let payer = release_expired_holds(tx, now, payer)?;
    let consent = Consent::ApprovedAt { depth: approver.depth };
    let per_minute = offer.unit == OfferUnit::Minute;
    let parties = match parties_judged(tx, now, payer, (&order, consent, per_minute), None) {
        Ok(parties) => parties,
        // A rule above the approver asks too: the purchase now waits for that code's holder.
        Err(OpError::ApprovalRequired { rule, code, why }) => {
            approval.stopped_by = CodeId::parse(&code).unwrap_or(approval.stopped_by);
            approval.rule = rule;
            approval.why = why;
            tx.update_approval(&approval)?;
            return Ok(Outcome::Approved {
                approval,
                receipt: None,
                session: None,
                rule_added: None,
            });
        }
        Err(other) => return Err(other),
    };
    let (receipt, session) = settle(tx, cx, (parties, &order), &approval, approver.depth)?;
    let rule_added = match make_rule {
        true => {
            let kind = Kind {
                payee: &order.payee,
                category: parties_category(receipt.as_ref(), session.as_ref()),
                price,
                per_minute,
            };
            Some(add_rule(tx, now, &approver.id, &kind)?)
        }
        false => None,
    };
    approval.state = ApprovalState::Approved;
    approval.resolved_at = Some(now);
    approval.receipt_id = receipt.as_ref().map(|r| r.id.clone());
    tx.update_approval(&approval)?;
    Ok(Outcome::Approved {
        approval,
        receipt,
        session,
        rule_added,
    })
}

/// What an approved purchase does: pays an item, or opens a metered session judged as approved
/// at `depth`.
fn settle(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    (parties, order): (Parties, &PaymentOrder),
    approval: &ApprovalRecord,
    depth: u32,
) -> Result<(Option<Receipt>, Option<SessionRecord>), OpError> {
    if approval.offer.unit == OfferUnit::Minute {
        let session = sessions::open(tx, cx, &parties, &approval.offer, Some((depth, approval.id.clone())))?;
        return Ok((None, Some(session)));
    }
    let debit = AccountKey::Code(parties.payer.id.clone());
    let receipt_id = cx.draws.receipt_id(cx.now).to_string();
    let receipt = parties.pay(tx, cx.now, receipt_id, order, (debit, order.amount))?;
    Ok((Some(receipt), None))
}

/// The category the broker stamped on what an approval paid or opened.
fn parties_category<'a>(receipt: Option<&'a Receipt>, session: Option<&'a SessionRecord>) -> Option<&'a String> {
    receipt
        .and_then(|r| r.category.as_ref())
        .or_else(|| session.and_then(|s| s.offer.category.as_ref()))
}

/// The kind of purchase a rule made from an approval pays: its payee and category, up to its price
/// (per payment, or per minute as a rate of that much per 60 s).
struct Kind<'a> {
    payee: &'a crate::code::PublicCode,
    category: Option<&'a String>,
    price: Amount,
    per_minute: bool,
}

/// Adds to `code`'s rules, first, one that pays the `kind` of purchase approved (its payee, and
/// its category if it had one) up to its price with no one asked; or raises the cap of such a rule
/// added before. Answers the rule's name.
fn add_rule(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    code: &CodeId,
    kind: &Kind<'_>,
) -> Result<String, OpError> {
    // Read again: the payment just counted in this code's rules.
    let mut record = tx.code_by_id(code)?.ok_or(OpError::InvalidCode)?;
    let matches = RuleMatch {
        categories: kind.category.cloned().map(|c| vec![c]),
        payees: Some(vec![kind.payee.clone()]),
        items: None,
    };
    let per_minute = kind.per_minute.then_some(RateLimit {
        amount: kind.price,
        per_seconds: 60,
    });
    let mut rules: Vec<(SpendingRule, RuleCounters)> = record.spending.as_deref().cloned().unwrap_or_default();
    let same = rules.iter_mut().find(|(rule, _)| {
        rule.matches == matches
            && rule.action == RuleAction::Pay
            && rule.max_per_period.is_none()
            && rule.max_rate.is_some() == kind.per_minute
            && rule.max_rate.is_none_or(|rate| rate.per_seconds == 60)
    });
    let name = match same {
        Some((rule, _)) => {
            rule.max_per_payment = rule.max_per_payment.map(|max| max.max(kind.price));
            rule.max_rate = rule.max_rate.map(|rate| RateLimit {
                amount: rate.amount.max(kind.price),
                ..rate
            });
            rule.name.clone()
        }
        None => {
            let what = kind.category.map(|c| format!(" for {c}")).unwrap_or_default();
            let name: String = format!("approved: {}{what}", kind.payee)
                .chars()
                .take(RULE_NAME_CHARS_MAX)
                .collect();
            let rule = SpendingRule {
                name: name.clone(),
                matches,
                max_per_payment: (!kind.per_minute).then_some(kind.price),
                max_per_period: None,
                max_rate: per_minute,
                action: RuleAction::Pay,
            };
            rules.insert(0, (rule, RuleCounters::new(now)));
            name
        }
    };
    let plain: Vec<SpendingRule> = rules.iter().map(|(rule, _)| rule.clone()).collect();
    crate::spending::check_rules(&plain)?;
    controls::put_rules(tx, &mut record, Some(std::sync::Arc::new(rules)))?;
    Ok(name)
}

fn decline(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    holder: &Credential,
    id: &ApprovalId,
) -> Result<Outcome, OpError> {
    let (_, mut approval) = pending_for(tx, now, holder, id)?;
    approval.state = ApprovalState::Declined;
    approval.resolved_at = Some(now);
    tx.update_approval(&approval)?;
    Ok(Outcome::Declined(approval))
}

//! Payments: a buyer's secret code pays a seller's public code, under the code's restrictions,
//! and the broker keeps the receipt, which anyone holding its id may read.

use crate::code::{CodeId, PublicCode};
use crate::error::{Conflict, Limit, OpError, RefundRefusal};
use crate::limits::*;
use crate::model::*;
use crate::money::{Amount, Currency};
use crate::webhook::EventKind;

use super::restrictions;
use super::rules::{authenticate, effective_catalog};
use super::{check_text, post, Context, Credential, LedgerRead, LedgerTx, Touches};

#[derive(Clone, Debug)]
pub enum Command {
    Pay(PaymentOrder),
    /// The seller (the payee's owner) gives back `amount` of a payment (all that is left if
    /// `None`), within [`REFUND_WINDOW_SECONDS`].
    Refund {
        seller: Credential,
        receipt_id: String,
        amount: Option<Amount>,
        reason: Option<String>,
    },
}

#[derive(Clone, Debug)]
pub struct PaymentOrder {
    pub payer: Credential,
    pub payee: PublicCode,
    pub amount: Amount,
    pub currency: Option<Currency>,
    pub memo: Option<String>,
    /// What the payer says the payment is for: checked against what the payee sells, never
    /// trusted on its own (see `restrictions::check_payment`).
    pub category: Option<String>,
    pub item: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Paid(Receipt),
    Refunded(RefundRecord),
}

#[derive(Clone, Debug)]
pub enum Query {
    Receipt {
        id: String,
    },
    /// A payment's refunds, oldest first.
    Refunds {
        receipt_id: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Receipt(Receipt),
    Refunds(Vec<RefundRecord>),
}

impl Command {
    pub(super) fn touches(&self, touches: &mut Touches) {
        match self {
            Command::Pay(order) => {
                touches.codes.push(order.payer.hash);
                touches.public_codes.push(order.payee.clone());
            }
            Command::Refund { seller, .. } => touches.codes.push(seller.hash),
        }
    }
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Pay(order) => pay(tx, cx, order),
        Command::Refund {
            seller,
            receipt_id,
            amount,
            reason,
        } => refund(tx, cx, seller, receipt_id, *amount, reason.as_ref()),
    }
}

pub(super) fn query(tx: &mut (impl LedgerRead + ?Sized), query: &Query) -> Result<QueryOutcome, OpError> {
    match query {
        Query::Receipt { id } => receipt(tx, id).map(QueryOutcome::Receipt),
        Query::Refunds { receipt_id } => Ok(QueryOutcome::Refunds(tx.refunds_of(receipt_id)?)),
    }
}

/// Who pays whom, checked: what a payment and a hold both establish before value moves or is set
/// aside (the payer usable now, the payee and its owner active, one currency, the payer's rules,
/// the category and item stamped from what the payee sells).
pub(super) struct Parties {
    pub payer: CodeRecord,
    pub payee: CodeRecord,
    pub owner: CodeRecord,
    pub checked: restrictions::Checked,
}

pub(super) fn parties(
    tx: &mut (impl LedgerTx + ?Sized),
    now: crate::clock::Timestamp,
    order: &PaymentOrder,
) -> Result<Parties, OpError> {
    let payer = authenticate(tx, &order.payer, now)?;
    let payer = release_expired_holds(tx, now, payer)?;
    parties_of(tx, now, payer, order)
}

/// Releases the payer's holds past their expiry, so they give back their value and usage before
/// the rules are judged (a code with nothing held, nearly every payer, reads nothing more), and
/// answers the payer as it stands then.
pub(super) fn release_expired_holds(
    tx: &mut (impl LedgerTx + ?Sized),
    now: crate::clock::Timestamp,
    payer: CodeRecord,
) -> Result<CodeRecord, OpError> {
    let held = tx
        .account(&AccountKey::Code(payer.id.clone()))?
        .is_some_and(|a| a.held_units > 0);
    if !held {
        return Ok(payer);
    }
    super::holds::release_expired(tx, now, &payer.id)?;
    tx.code_by_id(&payer.id)?.ok_or(OpError::InvalidCode)
}

/// [`parties`] for a payer already established (by its code, or by an authorization it made).
pub(super) fn parties_of(
    tx: &mut (impl LedgerTx + ?Sized),
    now: crate::clock::Timestamp,
    payer: CodeRecord,
    order: &PaymentOrder,
) -> Result<Parties, OpError> {
    parties_priced_in(tx, now, payer, order, None)
}

/// [`parties_of`] for a payment whose payee's owner receives `priced_in` (a quote's price
/// currency) while the payer gives its own (`None`: one currency on both sides).
pub(super) fn parties_priced_in(
    tx: &mut (impl LedgerTx + ?Sized),
    now: crate::clock::Timestamp,
    payer: CodeRecord,
    order: &PaymentOrder,
    priced_in: Option<Currency>,
) -> Result<Parties, OpError> {
    parties_consented(tx, now, payer, (order, restrictions::Consent::Presented), priced_in)
}

/// [`parties_priced_in`] for a payment whose spending rules judge it by who consented to it
/// (a purchase made with no one asked, or one its holder approved: `super::purchases`).
pub(super) fn parties_consented(
    tx: &mut (impl LedgerTx + ?Sized),
    now: crate::clock::Timestamp,
    payer: CodeRecord,
    (order, consent): (&PaymentOrder, restrictions::Consent),
    priced_in: Option<Currency>,
) -> Result<Parties, OpError> {
    parties_judged(tx, now, payer, (order, consent, false), priced_in)
}

/// [`parties_consented`], or with `per_minute` the parties of a metered session being opened:
/// `order.amount` is the price of one minute, judged as `restrictions::check_priced` does.
pub(super) fn parties_judged(
    tx: &mut (impl LedgerTx + ?Sized),
    now: crate::clock::Timestamp,
    payer: CodeRecord,
    (order, consent, per_minute): (&PaymentOrder, restrictions::Consent, bool),
    priced_in: Option<Currency>,
) -> Result<Parties, OpError> {
    parties_selling(tx, now, payer, (order, consent, per_minute), priced_in, |sold| sold)
}

/// [`parties_judged`] with what the payee sells as `selling` makes it of the payee's effective
/// catalog: an item's purchase ([`super::items`]) sells that item, declared by its seller.
pub(super) fn parties_selling(
    tx: &mut (impl LedgerTx + ?Sized),
    now: crate::clock::Timestamp,
    payer: CodeRecord,
    (order, consent, per_minute): (&PaymentOrder, restrictions::Consent, bool),
    priced_in: Option<Currency>,
    selling: impl FnOnce(Catalog) -> Catalog,
) -> Result<Parties, OpError> {
    check_text("memo", order.memo.as_deref(), MEMO_CHARS_MAX)?;
    check_text("category", order.category.as_deref(), CATEGORY_CHARS_MAX)?;
    check_text("item", order.item.as_deref(), CATEGORY_CHARS_MAX)?;
    let payee = tx.code_by_public(&order.payee)?.ok_or(OpError::NotFound("payee"))?;
    if payee.status_at(now) != CodeStatus::Active {
        return Err(OpError::NotFound("payee"));
    }
    let owner = tx.code_by_id(&payee.owner_id)?.ok_or(OpError::NotFound("payee"))?;
    if owner.status_at(now) != CodeStatus::Active {
        return Err(OpError::NotFound("payee"));
    }
    let received = priced_in.unwrap_or(payer.currency);
    if order.currency.is_some_and(|c| c != payer.currency) || owner.currency != received {
        return Err(OpError::CurrencyMismatch);
    }
    if owner.id == payer.id {
        return Err(OpError::Conflict(Conflict::PayOwnPublicCode));
    }
    let sold = selling(effective_catalog(tx, &payee)?);
    let checked = restrictions::check_priced(tx, now, &payer, (order, consent, per_minute), &sold)?;
    Ok(Parties {
        payer,
        payee,
        owner,
        checked,
    })
}

impl Parties {
    /// Posts the payment these parties agreed on, `amount` of the payee's currency out of `debit`
    /// (the payer's account, or for a quote the exchange account), under `receipt_id`, with
    /// `order`'s memo and the stamped category and item, then records the usage it counted.
    pub(super) fn pay(
        self,
        tx: &mut (impl LedgerTx + ?Sized),
        now: crate::clock::Timestamp,
        receipt_id: String,
        order: &PaymentOrder,
        (debit, amount): (AccountKey, Amount),
    ) -> Result<Receipt, OpError> {
        let receipt = post_payment_as(
            tx,
            now,
            receipt_id,
            Paying {
                payer: Payer::Code(self.payer.id.clone()),
                debit,
                owner: &self.owner,
                payee: &order.payee,
                payee_id: &self.payee.id,
                amount,
                currency: self.owner.currency,
                memo: order.memo.clone(),
                stamped: self.checked.stamped.clone(),
            },
        )?;
        self.checked.record(tx)?;
        Ok(receipt)
    }
}

/// The payment transfer from `payer` to the payee's owner, with its receipt id and what it is for.
pub(super) struct Paying<'a> {
    pub payer: Payer,
    /// Where the value comes from: the payer's own account, or for a quote the broker's exchange
    /// account in the price's currency (the payer paid the exchange account in its own).
    pub debit: AccountKey,
    /// The payee's owner, whose account is credited (and whose subscriptions hear of it).
    pub owner: &'a CodeRecord,
    pub payee: &'a PublicCode,
    pub payee_id: &'a CodeId,
    pub amount: Amount,
    pub currency: Currency,
    pub memo: Option<String>,
    pub stamped: restrictions::Stamped,
}

/// Posts a payment and answers its receipt.
pub(super) fn post_payment(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    p: Paying<'_>,
) -> Result<Receipt, OpError> {
    let receipt_id = cx.draws.receipt_id(cx.now).to_string();
    post_payment_as(tx, cx.now, receipt_id, p)
}

/// [`post_payment`] with its receipt id drawn already.
pub(super) fn post_payment_as(
    tx: &mut (impl LedgerTx + ?Sized),
    now: crate::clock::Timestamp,
    receipt_id: String,
    p: Paying<'_>,
) -> Result<Receipt, OpError> {
    let transfer = Transfer {
        id: receipt_id.clone(),
        at: now,
        kind: TransferKind::Payment,
        debit: p.debit,
        credit: AccountKey::Code(p.owner.id.clone()),
        amount: p.amount,
        currency: p.currency,
        memo: p.memo.clone(),
        public_code_id: Some(p.payee_id.clone()),
        category: p.stamped.category.clone(),
        item: p.stamped.item.clone(),
    };
    post(tx, transfer)?;
    let event = (EventKind::PaymentReceived, Some(p.payee_id));
    super::webhooks::notify(tx, now, p.owner, event, &receipt_id)?;
    Ok(Receipt {
        id: receipt_id,
        payer: p.payer,
        owner_id: p.owner.id.clone(),
        payee: p.payee.clone(),
        payee_id: p.payee_id.clone(),
        amount: p.amount,
        currency: p.currency,
        memo: p.memo,
        category: p.stamped.category,
        item: p.stamped.item,
        created_at: now,
    })
}

fn pay(tx: &mut (impl LedgerTx + ?Sized), cx: &mut Context, order: &PaymentOrder) -> Result<Outcome, OpError> {
    let parties = parties(tx, cx.now, order)?;
    let debit = AccountKey::Code(parties.payer.id.clone());
    let receipt_id = cx.draws.receipt_id(cx.now).to_string();
    let receipt = parties.pay(tx, cx.now, receipt_id, order, (debit, order.amount))?;
    Ok(Outcome::Paid(receipt))
}

fn refund(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    seller: &Credential,
    receipt_id: &str,
    amount: Option<Amount>,
    reason: Option<&String>,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    let seller = authenticate(tx, seller, now)?;
    check_text("reason", reason.map(String::as_str), MEMO_CHARS_MAX)?;
    let paid = receipt(tx, receipt_id)?;
    if paid.owner_id != seller.id {
        return Err(OpError::NotFound("receipt"));
    }
    if now.0 - paid.created_at.0 > REFUND_WINDOW_SECONDS * crate::clock::MICROS_PER_SECOND {
        return Err(OpError::Refund(RefundRefusal::WindowClosed));
    }
    let earlier = tx.refunds_of(receipt_id)?;
    if earlier.len() >= REFUNDS_PER_PAYMENT_MAX as usize {
        return Err(OpError::LimitExceeded(Limit::RefundsPerPayment));
    }
    let refunded: i64 = earlier.iter().map(|r| r.amount.units()).sum();
    let refundable_units = paid.amount.units() - refunded;
    let exceeds = || OpError::Refund(RefundRefusal::ExceedsPayment { refundable_units });
    let amount = match amount {
        Some(amount) if amount.units() <= refundable_units => amount,
        Some(_) => return Err(exceeds()),
        None => Amount::from_units(refundable_units).map_err(|_| exceeds())?,
    };
    // Who gets it back, in the currency it paid in: the paying code (or its nearest active
    // ancestor), or, for a code of another broker's, that broker's account, which sends it on.
    let (credited, pay_currency) = match &paid.payer {
        Payer::Code(payer_id) => {
            let payer = tx.code_by_id(payer_id)?.ok_or(OpError::NotFound("receipt"))?;
            let credited = if payer.status_at(now) == CodeStatus::Active {
                payer.id
            } else {
                super::expiry::revert_beneficiary(tx, now, &payer)?.ok_or(OpError::NotFound("payer"))?
            };
            if credited == seller.id {
                return Err(OpError::Conflict(Conflict::RefundToSelf));
            }
            (AccountKey::Code(credited), payer.currency)
        }
        Payer::Peer { peer, .. } => {
            let charge = tx
                .charge(ChargeSide::Seller, peer, &paid.id)?
                .ok_or(OpError::NotFound("receipt"))?;
            let account = AccountKey::Peer {
                peer: peer.clone(),
                currency: charge.currency,
            };
            (account, charge.currency)
        }
    };
    // A payment made with a quote is refunded back through the exchange account, at its quote.
    let exchanged = (pay_currency != paid.currency)
        .then(|| super::quotes::refund_in_pay_currency(tx, &paid, refunded, amount))
        .transpose()?;
    let to = match exchanged {
        Some(_) => AccountKey::Exchange(paid.currency),
        None => credited.clone(),
    };
    let mut transfer = super::post::new_transfer(
        cx,
        TransferKind::Refund,
        AccountKey::Code(seller.id.clone()),
        to,
        amount,
        paid.currency,
    );
    transfer.memo = reason.cloned();
    transfer.public_code_id = Some(paid.payee_id.clone());
    let record = RefundRecord {
        id: transfer.id.clone(),
        receipt_id: paid.id.clone(),
        seq: earlier.len() as u32 + 1,
        amount,
        currency: paid.currency,
        reason: reason.cloned(),
        credited,
        created_at: now,
    };
    if let Some(given) = exchanged {
        let mut back = super::post::new_transfer(
            cx,
            TransferKind::Refund,
            AccountKey::Exchange(pay_currency),
            record.credited.clone(),
            given,
            pay_currency,
        );
        back.memo = transfer.memo.clone();
        back.public_code_id = transfer.public_code_id.clone();
        post(tx, transfer)?;
        post(tx, back)?;
    } else {
        post(tx, transfer)?;
    }
    if let AccountKey::Peer { peer, currency } = &record.credited {
        let sent = exchanged.unwrap_or(amount);
        super::federation::refunding(tx, now, (peer, &paid, record.seq), (sent, *currency))?;
    }
    tx.insert_refund(&record)?;
    // The subject names the receipt and which of its refunds: `r_…#2`.
    let event = (EventKind::RefundCreated, Some(&paid.payee_id));
    super::webhooks::notify(tx, now, &seller, event, &format!("{}#{}", paid.id, record.seq))?;
    Ok(Outcome::Refunded(record))
}

pub(super) fn receipt(tx: &mut (impl LedgerRead + ?Sized), id: &str) -> Result<Receipt, OpError> {
    let transfer = tx
        .transfer_by_id(id)?
        .filter(|t| t.kind == TransferKind::Payment)
        .ok_or(OpError::NotFound("receipt"))?;
    let payee_id = transfer.public_code_id.clone().ok_or(OpError::NotFound("receipt"))?;
    let payee = tx
        .code_by_id(&payee_id)?
        .and_then(|r| r.public_code)
        .ok_or(OpError::NotFound("receipt"))?;
    // Paid through the exchange account: the payer is the one who paid its pair in.
    let paid_from = match &transfer.debit {
        AccountKey::Exchange(_) => super::quotes::payer_of(tx, &transfer.id)?,
        other => other.clone(),
    };
    let payer = match paid_from {
        AccountKey::Code(id) => Payer::Code(id),
        // A code of another broker's paid: the charge keeps that broker's approval.
        AccountKey::Peer { peer, .. } => {
            let approval = tx
                .charge(ChargeSide::Seller, &peer, &transfer.id)?
                .and_then(|charge| charge.approval);
            Payer::Peer { peer, approval }
        }
        AccountKey::Exchange(_) | AccountKey::Issuance(_) => return Err(OpError::NotFound("receipt")),
    };
    let owner_id = transfer.credit.code_id().cloned().ok_or(OpError::NotFound("receipt"))?;
    Ok(Receipt {
        id: transfer.id,
        payer,
        owner_id,
        payee,
        payee_id,
        amount: transfer.amount,
        currency: transfer.currency,
        memo: transfer.memo,
        category: transfer.category,
        item: transfer.item,
        created_at: transfer.at,
    })
}

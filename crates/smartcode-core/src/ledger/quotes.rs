//! Quotes across currencies: the operator keeps a table of rates, each with a fee; a quote fixes
//! what a buyer pays in its currency for a price in another, fee included, for
//! [`QUOTE_SECONDS`]; paying with it moves the payer's currency into the broker's exchange
//! account and the price's currency out of it to the payee's owner.
//!
//! A quote's state machine: `open` → `used` (by one payment, once) | `expired` (by time: at or
//! past `expires_at` it is refused, `used` or not). Paying with it is one command of two
//! transfers, both or neither: the payer's code pays `pay` into `exchange:{pay_currency}` (kind
//! `exchange`, the buyer's history line), then `exchange:{price_currency}` pays `price` to the
//! payee's owner (kind `payment`, with the receipt the seller sees). Each currency still sums to
//! zero: the exchange account's balance per currency is its position, what buyers paid in that
//! currency less what sellers were paid in it, and like the issuance account's it may be below
//! zero. The first transfer's id is the receipt's with `x_` for `r_` ([`exchange_leg_id`]), so a
//! receipt finds its payer and a history line its receipt without another table.
//!
//! The payment is judged as any other: the buyer's PIN, restrictions (in its own currency, on
//! `pay`), guessing defence and available balance; the payee's owner must hold the price's
//! currency. How the conversion rounds is [`crate::rate::pay_units_for`]: once, up, by less than
//! a micro-unit.

use crate::clock::Timestamp;
use crate::code::{PublicCode, QuoteId};
use crate::error::{Conflict, Invalid, Limit, OpError, QuoteRefusal};
use crate::limits::*;
use crate::model::*;
use crate::money::{Amount, Currency};
use crate::rate::{pay_units_for, Rate};

use super::payments::{parties_priced_in, release_expired_holds, PaymentOrder};
use super::rules::authenticate;
use super::{post, Context, LedgerRead, LedgerTx, Touches};

#[derive(Clone, Debug)]
pub enum Command {
    /// The operator sets (or replaces) the rate from `from` to `to`: `rate` units of `to` per unit
    /// of `from`, and a quote's fee.
    SetRate {
        from: Currency,
        to: Currency,
        rate: Rate,
        fee_bps: u32,
    },
    /// Anyone asks what `price` costs in `pay_currency`, for anyone or for one payee.
    Quote {
        pay_currency: Currency,
        price: Amount,
        price_currency: Currency,
        payee: Option<PublicCode>,
    },
    /// A buyer pays with a quote.
    Pay(QuotePayment),
    /// Forgets the quotes that expired unused before `expired_before` (the sweep, now and then):
    /// they moved nothing, and anyone may ask for quotes, so keeping them would let the table
    /// grow without bound. Used quotes are kept with the payments they made.
    ForgetUnused { expired_before: Timestamp },
}

/// A payment made with a quote: the payer gives the quote's `pay`, the payee's owner gets its
/// price. `amount` and `currency`, when given, must be the price's.
#[derive(Clone, Debug)]
pub struct QuotePayment {
    pub payer: super::Credential,
    pub payee: PublicCode,
    pub quote: QuoteId,
    pub amount: Option<Amount>,
    pub currency: Option<Currency>,
    pub memo: Option<String>,
    pub category: Option<String>,
    pub item: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    RateSet(RateRecord),
    Quoted(Box<QuoteRecord>),
    /// The receipt of the payment to the seller, and the quote as used.
    Paid {
        receipt: Receipt,
        quote: Box<QuoteRecord>,
    },
    Forgotten {
        quotes: u64,
    },
}

#[derive(Clone, Debug)]
pub enum Query {
    /// Every rate, by pair.
    Rates,
    /// The exchange account's position per currency.
    Exchange,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Rates(Vec<RateRecord>),
    /// `(currency, position in micro-units)`, by currency.
    Exchange(Vec<(Currency, i64)>),
}

impl Command {
    pub(super) fn touches(&self, touches: &mut Touches) {
        if let Command::Pay(payment) = self {
            touches.codes.push(payment.payer.hash);
            touches.public_codes.push(payment.payee.clone());
        }
    }
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::SetRate {
            from,
            to,
            rate,
            fee_bps,
        } => set_rate(tx, cx.now, *from, *to, *rate, *fee_bps),
        Command::Quote {
            pay_currency,
            price,
            price_currency,
            payee,
        } => quote(tx, cx, *pay_currency, *price, *price_currency, payee.as_ref()),
        Command::Pay(payment) => pay(tx, cx, payment),
        Command::ForgetUnused { expired_before } => Ok(Outcome::Forgotten {
            quotes: tx.forget_unused_quotes(*expired_before)?,
        }),
    }
}

pub(super) fn query(tx: &mut (impl LedgerRead + ?Sized), query: &Query) -> Result<QueryOutcome, OpError> {
    match query {
        Query::Rates => Ok(QueryOutcome::Rates(tx.rates(RATES_MAX)?)),
        Query::Exchange => Ok(QueryOutcome::Exchange(tx.exchange_positions()?)),
    }
}

fn set_rate(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    from: Currency,
    to: Currency,
    rate: Rate,
    fee_bps: u32,
) -> Result<Outcome, OpError> {
    if from == to {
        return Err(OpError::Conflict(Conflict::RateWithinCurrency(from)));
    }
    if fee_bps > FEE_BPS_MAX {
        return Err(OpError::InvalidRequest(Invalid::FeeBps { max: FEE_BPS_MAX }));
    }
    if tx.rate(from, to)?.is_none() && tx.rates(RATES_MAX)?.len() >= RATES_MAX as usize {
        return Err(OpError::LimitExceeded(Limit::Rates));
    }
    let record = RateRecord {
        from,
        to,
        rate,
        fee_bps,
        set_at: now,
    };
    tx.set_rate(&record)?;
    Ok(Outcome::RateSet(record))
}

fn quote(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    pay_currency: Currency,
    price: Amount,
    price_currency: Currency,
    payee: Option<&PublicCode>,
) -> Result<Outcome, OpError> {
    if pay_currency == price_currency {
        return Err(OpError::Conflict(Conflict::QuoteWithinCurrency(price_currency)));
    }
    if let Some(payee) = payee {
        // A quote for a payee that cannot take the price is no use to anyone: say so now.
        let record = tx.code_by_public(payee)?.ok_or(OpError::NotFound("payee"))?;
        let owner = tx.code_by_id(&record.owner_id)?.ok_or(OpError::NotFound("payee"))?;
        let active = |code: &CodeRecord| code.status_at(cx.now) == CodeStatus::Active;
        if !active(&record) || !active(&owner) {
            return Err(OpError::NotFound("payee"));
        }
        if owner.currency != price_currency {
            return Err(OpError::CurrencyMismatch);
        }
    }
    let rate = tx
        .rate(pay_currency, price_currency)?
        .ok_or(OpError::Quote(QuoteRefusal::NoRate {
            from: pay_currency,
            to: price_currency,
        }))?;
    let pay = pay_units_for(price.units(), rate.rate, rate.fee_bps)
        .and_then(|units| Amount::from_units(units).ok())
        .ok_or(OpError::Quote(QuoteRefusal::PayTooLarge))?;
    let record = QuoteRecord {
        id: QuoteId::draw(&mut cx.draws),
        pay,
        pay_currency,
        price,
        price_currency,
        rate: rate.rate,
        fee_bps: rate.fee_bps,
        payee: payee.cloned(),
        created_at: cx.now,
        expires_at: cx
            .now
            .plus_seconds(QUOTE_SECONDS)
            .expect("now plus 15 minutes is a time"),
        used: None,
    };
    tx.insert_quote(&record)?;
    Ok(Outcome::Quoted(Box::new(record)))
}

/// The quote of `payment` if it may pay it now.
fn open_quote(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    payment: &QuotePayment,
) -> Result<QuoteRecord, OpError> {
    let asked = (payment.amount, payment.currency);
    open_quote_for(tx, now, (&payment.quote, &payment.payee), asked)
}

/// Quote `id` if it may pay `payee` now, `amount` and `currency` (when given) being its price's.
pub(super) fn open_quote_for(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    (id, payee): (&QuoteId, &PublicCode),
    (amount, currency): (Option<Amount>, Option<Currency>),
) -> Result<QuoteRecord, OpError> {
    let quote = tx.quote_by_id(id)?.ok_or(OpError::NotFound("quote"))?;
    if quote.used.is_some() {
        return Err(OpError::Quote(QuoteRefusal::Used));
    }
    if quote.expires_at <= now {
        return Err(OpError::Quote(QuoteRefusal::Expired));
    }
    if quote.payee.as_ref().is_some_and(|only| only != payee) {
        return Err(OpError::Quote(QuoteRefusal::OtherPayee));
    }
    if amount.is_some_and(|amount| amount != quote.price) {
        return Err(OpError::Quote(QuoteRefusal::NotThePrice {
            price_units: quote.price.units(),
        }));
    }
    if currency.is_some_and(|currency| currency != quote.price_currency) {
        return Err(OpError::CurrencyMismatch);
    }
    Ok(quote)
}

fn pay(tx: &mut (impl LedgerTx + ?Sized), cx: &mut Context, payment: &QuotePayment) -> Result<Outcome, OpError> {
    let now = cx.now;
    let mut quote = open_quote(tx, now, payment)?;
    // The payer's rules judge what it gives, in its own currency.
    let order = PaymentOrder {
        payer: payment.payer,
        payee: payment.payee.clone(),
        amount: quote.pay,
        currency: Some(quote.pay_currency),
        memo: payment.memo.clone(),
        category: payment.category.clone(),
        item: payment.item.clone(),
    };
    let parties = {
        let payer = authenticate(tx, &order.payer, now)?;
        let payer = release_expired_holds(tx, now, payer)?;
        parties_priced_in(tx, now, payer, &order, Some(quote.price_currency))?
    };
    let (paid_in, paid_out) = (
        AccountKey::Exchange(quote.pay_currency),
        AccountKey::Exchange(quote.price_currency),
    );
    tx.open_account(&paid_in, quote.pay_currency)?;
    tx.open_account(&paid_out, quote.price_currency)?;
    let receipt_id = cx.draws.receipt_id(now).to_string();
    // What the payer gives first: a refusal for want of funds comes before anything is written.
    post(
        tx,
        Transfer {
            id: exchange_leg_id(&receipt_id),
            at: now,
            kind: TransferKind::Exchange,
            debit: AccountKey::Code(parties.payer.id.clone()),
            credit: paid_in,
            amount: quote.pay,
            currency: quote.pay_currency,
            memo: order.memo.clone(),
            public_code_id: Some(parties.payee.id.clone()),
            category: parties.checked.stamped.category.clone(),
            item: parties.checked.stamped.item.clone(),
        },
    )?;
    let receipt = parties.pay(tx, now, receipt_id, &order, (paid_out, quote.price))?;
    quote.used = Some(QuoteUse {
        receipt_id: receipt.id.clone(),
        payer: receipt.payer.clone(),
        at: now,
    });
    tx.use_quote(&quote)?;
    Ok(Outcome::Paid {
        receipt,
        quote: Box::new(quote),
    })
}

/// The id of the transfer that paid for a receipt's quote: the receipt's id with `x_` for `r_`.
pub fn exchange_leg_id(receipt_id: &str) -> String {
    format!("x_{}", receipt_id.strip_prefix("r_").unwrap_or(receipt_id))
}

/// The receipt an exchange transfer paid for: its id with `r_` for `x_`.
pub fn receipt_of_exchange_leg(transfer_id: &str) -> Option<String> {
    transfer_id.strip_prefix("x_").map(|rest| format!("r_{rest}"))
}

/// What a refund of `amount` (in the price's currency) of a payment made with a quote gives back
/// to the payer in its own currency, `refunded_before` having been refunded already: the refunds'
/// running total converted at the quote (what the payer paid per unit of the price), rounded
/// down, less what the earlier refunds gave. So refunds never give back more than the payer paid,
/// their rounding loses the payer less than a micro-unit in all, and refunding the whole price
/// gives back exactly what was paid.
pub(super) fn refund_in_pay_currency(
    tx: &mut (impl LedgerRead + ?Sized),
    paid: &Receipt,
    refunded_before: i64,
    amount: Amount,
) -> Result<Amount, OpError> {
    let leg = tx
        .transfer_by_id(&exchange_leg_id(&paid.id))?
        .filter(|leg| leg.kind == TransferKind::Exchange)
        .ok_or(OpError::NotFound("receipt"))?;
    let (pay, price) = (i128::from(leg.amount.units()), i128::from(paid.amount.units()));
    let back_by = |refunded: i64| i128::from(refunded) * pay / price;
    let given = back_by(refunded_before + amount.units()) - back_by(refunded_before);
    assert!(given <= pay, "a refund gives back at most what was paid");
    i64::try_from(given)
        .ok()
        .and_then(|units| Amount::from_units(units).ok())
        .ok_or(OpError::Conflict(Conflict::RefundBelowUnit))
}

/// Who paid a receipt paid out of the exchange account: the account that paid its pair in (a
/// code's, or a peer's for a code of another broker's).
pub(super) fn payer_of(tx: &mut (impl LedgerRead + ?Sized), receipt_id: &str) -> Result<AccountKey, OpError> {
    tx.transfer_by_id(&exchange_leg_id(receipt_id))?
        .filter(|leg| leg.kind == TransferKind::Exchange)
        .map(|leg| leg.debit)
        .ok_or(OpError::NotFound("receipt"))
}

//! Licenses ([`crate::license`]): a buyer's secret code pays for `copies` copies of an item sold
//! here or of a named work ([`Command::Buy`]), and the broker makes a license code: a public code,
//! a child of the paying code labelled `license`, whose record says who paid for how many copies
//! of what, and when, beside the payment's receipt ([`Query::License`]).
//!
//! For an item the price is the item's and the payee its public code (a payee named must be that
//! one), and the payment is stamped with the item as a purchase is ([`super::items`]), so the
//! payer's restrictions on items judge it; for a work the buyer names its title, the price of a
//! copy and the payee. The payment is the price times the copies, checked: a product past what
//! one payment may move is refused, never wrapped or capped.
//!
//! One command pays, makes the code, writes the record and tells the seller's subscriptions
//! (`license.bought`, beside the payment's own `payment.received`): a refusal leaves none of them.
//! The license code is a public code like any other: paid into, it credits the code that bought
//! the license, under the ordinary rules, and it expires with that code; its record never does.

use crate::code::{ItemId, PublicCode};
use crate::error::{Invalid, LicenseRefusal, OpError};
use crate::license::{LicenseRecord, Licensed};
use crate::limits::*;
use crate::model::*;
use crate::money::Amount;
use crate::webhook::EventKind;

use super::payments::{parties_selling, release_expired_holds, PaymentOrder};
use super::restrictions::Consent;
use super::rules::{authenticate, check_room_for_child};
use super::{check_text, Context, Credential, LedgerRead, LedgerTx, Touches};

/// What a license is asked for.
#[derive(Clone, Debug)]
pub enum Wanted {
    Item(ItemId),
    /// A work named by its title, at `price` a copy.
    Work {
        title: String,
        price: Amount,
    },
}

/// A buyer's order for a license.
#[derive(Clone, Debug)]
pub struct LicenseOrder {
    pub wanted: Wanted,
    pub copies: u32,
    /// The public code paid: required for a work, and for an item its own (if named at all).
    pub payee: Option<PublicCode>,
    /// Who the license is for, in the buyer's words.
    pub licensee: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Command {
    /// `payer` pays for the order, and `code` (drawn by the caller) becomes its license code.
    Buy {
        payer: Credential,
        code: PublicCode,
        order: LicenseOrder,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Bought { license: LicenseRecord, receipt: Receipt },
}

#[derive(Clone, Debug)]
pub enum Query {
    /// A license by its code, as anyone reads it.
    License { code: PublicCode },
}

/// A license as anyone reads it: its record, its payment's receipt, and what its seller refunded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenseView {
    pub license: LicenseRecord,
    pub receipt: Receipt,
    pub refunded_units: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    License(Box<LicenseView>),
}

impl Command {
    pub(super) fn touches(&self, touches: &mut Touches) {
        let Command::Buy { payer, order, .. } = self;
        touches.codes.push(payer.hash);
        touches.public_codes.extend(order.payee.clone());
    }
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Buy { payer, code, order } => buy(tx, cx, payer, code, order),
    }
}

pub(super) fn query(tx: &mut (impl LedgerRead + ?Sized), query: &Query) -> Result<QueryOutcome, OpError> {
    let Query::License { code } = query;
    let license = tx.license_by_code(code)?.ok_or(OpError::NotFound("license"))?;
    let receipt = super::payments::receipt(tx, &license.receipt_id)?;
    let refunded_units = tx
        .refunds_of(&license.receipt_id)?
        .iter()
        .map(|r| r.amount.units())
        .sum();
    Ok(QueryOutcome::License(Box::new(LicenseView {
        license,
        receipt,
        refunded_units,
    })))
}

/// What the order is for, priced, and whom it pays.
struct Priced {
    licensed: Licensed,
    price: Amount,
    payee: PublicCode,
    item: Option<crate::item::ItemRecord>,
}

fn priced(tx: &mut (impl LedgerTx + ?Sized), order: &LicenseOrder) -> Result<Priced, OpError> {
    match &order.wanted {
        Wanted::Item(id) => {
            let item = super::items::item(tx, id)?;
            if order.payee.as_ref().is_some_and(|payee| payee != &item.payee) {
                return Err(OpError::License(LicenseRefusal::PayeeMismatch {
                    expected: item.payee.to_string(),
                }));
            }
            Ok(Priced {
                licensed: Licensed::Item {
                    id: item.id.clone(),
                    title: item.title.clone(),
                },
                price: item.price,
                payee: item.payee.clone(),
                item: Some(item),
            })
        }
        Wanted::Work { title, price } => {
            let title = title.trim();
            if title.is_empty() {
                return Err(OpError::InvalidRequest(Invalid::EmptyText { field: "work" }));
            }
            check_text("work", Some(title), LICENSE_WORK_CHARS_MAX)?;
            let payee = order.payee.clone().ok_or(OpError::InvalidRequest(Invalid::Rules {
                why: "a license for a named work names its payee".to_owned(),
            }))?;
            Ok(Priced {
                licensed: Licensed::Work {
                    title: title.to_owned(),
                },
                price: *price,
                payee,
                item: None,
            })
        }
    }
}

/// The price of `copies` copies, or the refusal of a product one payment cannot move.
fn total_of(price: Amount, copies: u32) -> Result<Amount, OpError> {
    price
        .times(copies)
        .ok_or(OpError::License(LicenseRefusal::TotalTooLarge))
}

fn buy(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    credential: &Credential,
    code: &PublicCode,
    order: &LicenseOrder,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    if !(1..=LICENSE_COPIES_MAX).contains(&order.copies) {
        return Err(OpError::InvalidRequest(Invalid::Rules {
            why: format!("copies is 1 to {LICENSE_COPIES_MAX}"),
        }));
    }
    let licensee = order.licensee.as_deref().map(str::trim).filter(|l| !l.is_empty());
    check_text("licensee", licensee, LICENSEE_CHARS_MAX)?;
    let priced = priced(tx, order)?;
    let total = total_of(priced.price, order.copies)?;
    let payer = authenticate(tx, credential, now)?;
    let payer = release_expired_holds(tx, now, payer)?;
    let payment = PaymentOrder {
        payer: *credential,
        payee: priced.payee.clone(),
        amount: total,
        currency: priced.item.as_ref().map(|item| item.currency),
        memo: Some(format!("license {code}: {} copies", order.copies)),
        category: priced.item.as_ref().and_then(|item| item.category.clone()),
        item: priced.licensed.item_id().map(ItemId::to_string),
    };
    let judged = (&payment, Consent::Presented, false);
    let parties = match &priced.item {
        Some(item) => parties_selling(tx, now, payer, judged, None, super::items::selling(item))?,
        None => parties_selling(tx, now, payer, judged, None, |sold| sold)?,
    };
    check_room_for_child(tx, &parties.payer)?;
    if tx.code_by_public(code)?.is_some() {
        return Err(OpError::CodeCollision);
    }
    let (buyer, seller, payee_id) = (parties.payer.clone(), parties.owner.clone(), parties.payee.id.clone());
    let receipt_id = cx.draws.receipt_id(now).to_string();
    let debit = AccountKey::Code(buyer.id.clone());
    let receipt = parties.pay(tx, now, receipt_id, &payment, (debit, total))?;
    let label = Some("license".to_owned());
    let record = super::tree::public_child_record(
        cx,
        (&buyer, &buyer),
        code,
        label,
        (&Profile::default(), &Catalog::default()),
    );
    tx.insert_code(&record, None)?;
    let license = LicenseRecord {
        code: code.clone(),
        code_id: record.id,
        payer_id: buyer.id.clone(),
        payee: priced.payee,
        payee_id: payee_id.clone(),
        owner_id: seller.id.clone(),
        licensed: priced.licensed,
        copies: order.copies,
        price: priced.price,
        currency: receipt.currency,
        licensee: licensee.map(str::to_owned),
        payer_name: buyer.profile.name.clone(),
        receipt_id: receipt.id.clone(),
        created_at: now,
    };
    assert_eq!(
        license.price.units().checked_mul(i64::from(license.copies)),
        Some(receipt.amount.units()),
        "a license's payment is its price times its copies"
    );
    tx.insert_license(&license)?;
    let event = (EventKind::LicenseBought, Some(&payee_id));
    super::webhooks::notify(tx, now, &seller, event, code.as_stored())?;
    Ok(Outcome::Bought { license, receipt })
}

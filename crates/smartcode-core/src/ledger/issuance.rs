//! Issuance, deposits and payouts: the operator puts money received outside the system into a new
//! code at the top of a tree, or into an existing one (both debit the currency's issuance account,
//! the only account whose balance goes below zero), and pays value out of a code to someone
//! outside the system (a payout credits the issuance account back).

use crate::code::{CodeHash, CodeId};
use crate::error::{Conflict, Invalid, OpError};
use crate::limits::{LABEL_CHARS_MAX, REFERENCE_CHARS_MAX};
use crate::model::*;
use crate::money::{Amount, Currency};

use super::post::new_transfer;
use super::rules::{require_active, view};
use super::{check_text, post, CodeView, Context, LedgerTx};

#[derive(Clone, Debug)]
pub enum Command {
    Issue {
        hash: CodeHash,
        amount: Amount,
        currency: Currency,
        label: Option<String>,
    },
    Deposit {
        target: CodeRef,
        amount: Amount,
        currency: Currency,
    },
    /// Value leaves the system: from a code back to the issuance account, for money the operator
    /// pays its holder outside the system. `reference` is the operator's record of that payment
    /// (a bank transfer's reference), kept as the transfer's memo.
    Payout {
        code_id: CodeId,
        amount: Amount,
        /// When given, it must be the code's currency.
        currency: Option<Currency>,
        reference: String,
    },
}

/// How the operator names the code a deposit goes to.
#[derive(Clone, Debug)]
pub enum CodeRef {
    Hash(CodeHash),
    Id(CodeId),
}

/// Code views are boxed: an outcome is moved several times on its way from the writer to the
/// caller (batch results, the syncer, the reply).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Issued(Box<CodeView>),
    Deposited {
        transfer_id: String,
        code: Box<CodeView>,
    },
    /// The payout's transfer (its memo is the reference) and the code after it.
    PaidOut {
        transfer: Box<Transfer>,
        code: Box<CodeView>,
    },
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Issue {
            hash,
            amount,
            currency,
            label,
        } => issue(tx, cx, hash, *amount, *currency, label.as_ref()),
        Command::Deposit {
            target,
            amount,
            currency,
        } => deposit(tx, cx, target, *amount, *currency),
        Command::Payout {
            code_id,
            amount,
            currency,
            reference,
        } => payout(tx, cx, code_id, *amount, *currency, reference),
    }
}

fn issue(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    hash: &CodeHash,
    amount: Amount,
    currency: Currency,
    label: Option<&String>,
) -> Result<Outcome, OpError> {
    check_text("label", label.map(String::as_str), LABEL_CHARS_MAX)?;
    if tx.code_by_hash(hash)?.is_some() {
        return Err(OpError::CodeCollision);
    }
    let id = cx.draws.code_id();
    let record = CodeRecord {
        id: id.clone(),
        kind: CodeKind::Secret,
        parent_id: None,
        owner_id: id.clone(),
        public_code: None,
        currency,
        label: label.cloned(),
        profile: Profile::default(),
        check: None,
        catalog: Catalog::default(),
        status: CodeStatus::Active,
        depth: 1,
        created_at: cx.now,
        // An issued code never expires, so every line has a code its expired value reverts to.
        expires_at: None,
        irrevocable: false,
        restrictions: Restrictions::default(),
        restricted_lineage: false,
        usage: Usage::default(),
        pin: PinState::default(),
        spending: None,
        webhooks: false,
    };
    tx.insert_code(&record, Some(hash))?;
    let account = AccountKey::Code(id.clone());
    tx.open_account(&account, currency)?;
    tx.open_account(&AccountKey::Issuance(currency), currency)?;
    let transfer = new_transfer(
        cx,
        TransferKind::Issue,
        AccountKey::Issuance(currency),
        account,
        amount,
        currency,
    );
    post(tx, transfer)?;
    Ok(Outcome::Issued(Box::new(view(tx, cx.now, record)?)))
}

fn deposit(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    target: &CodeRef,
    amount: Amount,
    currency: Currency,
) -> Result<Outcome, OpError> {
    let record = match target {
        CodeRef::Hash(hash) => tx.code_by_hash(hash)?.ok_or(OpError::InvalidCode)?,
        CodeRef::Id(id) => tx
            .code_by_id(id)?
            .filter(|r| r.kind == CodeKind::Secret)
            .ok_or(OpError::NotFound("code"))?,
    };
    require_active(&record, cx.now)?;
    if record.currency != currency {
        return Err(OpError::CurrencyMismatch);
    }
    tx.open_account(&AccountKey::Issuance(currency), currency)?;
    let transfer = new_transfer(
        cx,
        TransferKind::Deposit,
        AccountKey::Issuance(currency),
        AccountKey::Code(record.id.clone()),
        amount,
        currency,
    );
    let transfer_id = transfer.id.clone();
    post(tx, transfer)?;
    Ok(Outcome::Deposited {
        transfer_id,
        code: Box::new(view(tx, cx.now, record)?),
    })
}

fn payout(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    code_id: &CodeId,
    amount: Amount,
    currency: Option<Currency>,
    reference: &str,
) -> Result<Outcome, OpError> {
    if reference.trim().is_empty() {
        return Err(OpError::InvalidRequest(Invalid::EmptyText { field: "reference" }));
    }
    check_text("reference", Some(reference), REFERENCE_CHARS_MAX)?;
    let record = tx
        .code_by_id(code_id)?
        .filter(|r| r.kind == CodeKind::Secret)
        .ok_or(OpError::NotFound("code"))?;
    match record.status_at(cx.now) {
        CodeStatus::Active => {}
        // Before the sweep reverts it, an expired code's value is its parent's already.
        CodeStatus::Expired => return Err(OpError::Expired),
        CodeStatus::Cancelled => return Err(OpError::Conflict(Conflict::CodeCancelled)),
    }
    if currency.is_some_and(|c| c != record.currency) {
        return Err(OpError::CurrencyMismatch);
    }
    let currency = record.currency;
    tx.open_account(&AccountKey::Issuance(currency), currency)?;
    let mut transfer = new_transfer(
        cx,
        TransferKind::Payout,
        AccountKey::Code(record.id.clone()),
        AccountKey::Issuance(currency),
        amount,
        currency,
    );
    transfer.memo = Some(reference.to_owned());
    // `post` refuses a payout above the code's available value (balance less open holds).
    post(tx, transfer.clone())?;
    let code = view(tx, cx.now, record)?;
    assert!(
        code.account.is_some_and(|a| a.available_units() >= 0),
        "a payout leaves the code a non-negative available balance"
    );
    Ok(Outcome::PaidOut {
        transfer: Box::new(transfer),
        code: Box::new(code),
    })
}

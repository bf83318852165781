//! Issuance and deposits: the operator puts money received outside the system into a new code at
//! the top of a tree, or into an existing one. Both debit the currency's issuance account, the
//! only account whose balance goes below zero.

use crate::code::{CodeHash, CodeId};
use crate::error::OpError;
use crate::limits::LABEL_CHARS_MAX;
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
    Deposited { transfer_id: String, code: Box<CodeView> },
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

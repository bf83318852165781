//! [`post`], the only way value moves, and [`Posted`], the only thing a store appends.

use crate::error::{Limit, OpError};
use crate::limits::BALANCE_UNITS_MAX;
use crate::model::{AccountKey, Transfer, TransferKind};
use crate::money::{Amount, Currency};

use super::{Context, LedgerTx};

/// A transfer that [`post`] checked: both accounts exist and hold its currency, the debited code
/// can afford it, and no balance leaves its bounds. Its field is private to this module, so a
/// store can append a transfer only after `post` made it one.
#[derive(Debug)]
pub struct Posted(Transfer);

impl Posted {
    pub fn transfer(&self) -> &Transfer {
        &self.0
    }
}

/// Moves value between two accounts, after checking every bound; the only way value moves.
pub fn post(tx: &mut (impl LedgerTx + ?Sized), transfer: Transfer) -> Result<(), OpError> {
    assert_ne!(
        transfer.debit, transfer.credit,
        "a transfer moves value between two different accounts"
    );
    let units = transfer.amount.units();
    let mut debit = tx.account(&transfer.debit)?.ok_or(OpError::NotFound("account"))?;
    if let AccountKey::Code(code) = &transfer.debit {
        // Holds past their expiry still sit in `held` until released: release them before
        // refusing what the code can afford now.
        if debit.available_units() < units && debit.held_units > 0 {
            super::holds::release_expired(tx, transfer.at, code)?;
            debit = tx.account(&transfer.debit)?.ok_or(OpError::NotFound("account"))?;
        }
    }
    let credit = tx.account(&transfer.credit)?.ok_or(OpError::NotFound("account"))?;
    assert_eq!(
        debit.currency, transfer.currency,
        "debit account holds the transfer's currency"
    );
    assert_eq!(
        credit.currency, transfer.currency,
        "credit account holds the transfer's currency"
    );
    let debit_after = debit
        .balance_units
        .checked_sub(units)
        .ok_or(OpError::LimitExceeded(Limit::Issuance))?;
    let credit_after = credit
        .balance_units
        .checked_add(units)
        .ok_or(OpError::LimitExceeded(Limit::BalanceOverflow))?;
    if matches!(transfer.debit, AccountKey::Code(_)) && debit.available_units() < units {
        return Err(OpError::InsufficientFunds);
    }
    if matches!(transfer.credit, AccountKey::Code(_)) && credit_after > BALANCE_UNITS_MAX {
        return Err(OpError::LimitExceeded(Limit::Balance));
    }
    debug_assert!(debit_after >= 0 || transfer.debit.is_brokers());
    Ok(tx.append_transfer(&Posted(transfer))?)
}

/// A transfer of `kind` with a fresh id and no payment details.
pub(super) fn new_transfer(
    cx: &mut Context,
    kind: TransferKind,
    debit: AccountKey,
    credit: AccountKey,
    amount: Amount,
    currency: Currency,
) -> Transfer {
    Transfer {
        id: cx.draws.transfer_id().to_string(),
        at: cx.now,
        kind,
        debit,
        credit,
        amount,
        currency,
        memo: None,
        public_code_id: None,
        category: None,
        item: None,
    }
}

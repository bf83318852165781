//! Expiry and the sweep: a code past its `expires_at` is refused at once (its status says so
//! without any write); the sweep then closes it and posts what its subtree held back up the tree.

use crate::code::CodeId;
use crate::error::OpError;
use crate::model::*;

use super::tree::close_subtree;
use super::{Context, LedgerRead, LedgerTx};
use crate::clock::Timestamp;

#[derive(Clone, Debug)]
pub enum Command {
    /// Reverts up to `limit` codes whose expiry has passed (the background sweep).
    ExpireDue { limit: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Swept { codes: u32 },
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::ExpireDue { limit } => expire_due(tx, cx, *limit),
    }
}

fn expire_due(tx: &mut (impl LedgerTx + ?Sized), cx: &mut Context, limit: u32) -> Result<Outcome, OpError> {
    let now = cx.now;
    let mut codes = 0;
    for record in tx.due_expiries(now, limit)? {
        // An earlier code of this sweep may have closed this one already (it was its descendant).
        let current = tx.code_by_id(&record.id)?.ok_or(OpError::NotFound("code"))?;
        if current.status != CodeStatus::Active {
            continue;
        }
        let Some(beneficiary) = revert_beneficiary(tx, now, &current)? else {
            continue;
        };
        let closed = close_subtree(
            tx,
            cx,
            &current,
            &beneficiary,
            TransferKind::Revert,
            CodeStatus::Expired,
        )?;
        codes += closed.codes;
    }
    Ok(Outcome::Swept { codes })
}

/// Where an expired code's value reverts: its parent's owner, or, if that code was cancelled (an
/// irrevocable child outlives its parent's cancel), the nearest ancestor still active. An issued
/// code has no expiry and cannot be cancelled, so every line has one.
pub(super) fn revert_beneficiary(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    expired: &CodeRecord,
) -> Result<Option<CodeId>, OpError> {
    let mut next = expired.parent_id.clone();
    while let Some(id) = next {
        let ancestor = tx.code_by_id(&id)?.ok_or(OpError::NotFound("parent"))?;
        let owner = tx.code_by_id(&ancestor.owner_id)?.ok_or(OpError::NotFound("owner"))?;
        if owner.status_at(now) == CodeStatus::Active {
            return Ok(Some(owner.id));
        }
        next = owner.parent_id;
    }
    Ok(None)
}

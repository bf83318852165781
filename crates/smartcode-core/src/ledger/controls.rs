//! Controls a holder keeps over its code and its children: the PIN (set, removed, counted when
//! wrong, locking the code at [`restrictions::PIN_FAILURES_MAX`]), unlocking a locked code, and
//! rekeying (a new secret for the same account), and the code's spending rules
//! (`crate::spending`). Restrictions and usage rules are in [`restrictions`].

use crate::clock::Timestamp;
use crate::code::{CodeHash, CodeId};
use crate::error::OpError;
use crate::model::*;

use super::restrictions;
use super::rules::{authenticate, descendant, present, view};
use super::{CodeView, Context, Credential, LedgerTx};

pub use super::restrictions::{Pin, PIN_DIGITS_MAX, PIN_DIGITS_MIN, PIN_FAILURES_MAX};

#[derive(Clone, Debug)]
pub enum Command {
    /// Sets (`Some`, an argon2id PHC string) or removes (`None`) the holder's PIN.
    SetPin {
        holder: Credential,
        pin_hash: Option<String>,
    },
    /// The edge found a presented PIN wrong: count it, and lock the code at the limit.
    PinFailed { hash: CodeHash, generation: u32 },
    /// The edge found a presented PIN right: the count of wrong ones starts again from zero.
    PinMatched { hash: CodeHash, generation: u32 },
    /// Replaces the holder's spending rules, in order, their counters starting from zero (an empty
    /// list removes them). They hold for the code's payments and its descendants'.
    SetSpendingRules {
        holder: Credential,
        rules: Vec<crate::spending::SpendingRule>,
    },
    /// A parent lets a child locked by wrong PINs work again.
    Unlock { parent: Credential, child: CodeId },
    /// The operator lets any code locked by wrong PINs work again (an issued code has no parent).
    OperatorUnlock { code: CodeId },
    /// A new secret replaces the holder's; id, balance, tree, history and PIN stay.
    /// A new secret (keyed hash `hash`) for the holder's code; if the code has an alias, `alias`
    /// (the keyed hash of new digits) replaces it, for the old alias would name the old secret.
    Rekey {
        holder: Credential,
        hash: CodeHash,
        alias: CodeHash,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A code's controls changed; here is how it stands now.
    Changed(Box<CodeView>),
    /// A code's spending rules were set; here is how it stands now.
    RulesSet(Box<CodeView>),
    /// A wrong PIN was counted (or a right one reset the count); `locked` when the code is locked.
    /// Wrong PINs in a row the code now counts, and whether they locked it.
    PinCounted { locked: bool, failures: u32 },
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    match command {
        Command::SetPin { holder, pin_hash } => set_pin(tx, now, holder, pin_hash.as_ref()),
        Command::PinFailed { hash, generation } => pin_failed(tx, hash, *generation),
        Command::PinMatched { hash, generation } => pin_matched(tx, hash, *generation),
        Command::SetSpendingRules { holder, rules } => set_spending_rules(tx, now, holder, rules),
        Command::Unlock { parent, child } => unlock(tx, now, parent, child),
        Command::OperatorUnlock { code } => operator_unlock(tx, now, code),
        Command::Rekey { holder, hash, alias } => rekey(tx, now, holder, hash, alias),
    }
}

fn set_pin(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    holder: &Credential,
    pin_hash: Option<&String>,
) -> Result<Outcome, OpError> {
    let mut record = authenticate(tx, holder, now)?;
    record.pin = PinState {
        hash: pin_hash.cloned(),
        generation: record.pin.generation + 1,
        failures: 0,
        locked: false,
    };
    tx.set_pin(&record.id, &record.pin)?;
    Ok(Outcome::Changed(Box::new(view(tx, now, record)?)))
}

fn set_spending_rules(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    holder: &Credential,
    rules: &[crate::spending::SpendingRule],
) -> Result<Outcome, OpError> {
    crate::spending::check_rules(rules)?;
    let mut record = authenticate(tx, holder, now)?;
    // A rule kept as it was keeps what it has counted (so adding or removing another rule opens no
    // room under it); a new or changed rule starts counting now.
    let mut before: Vec<_> = record.spending.as_deref().cloned().unwrap_or_default();
    let counted = rules.iter().map(|rule| {
        let kept = before
            .iter()
            .position(|(old, _)| old == rule)
            .map(|i| before.remove(i).1);
        (
            rule.clone(),
            kept.unwrap_or_else(|| crate::spending::RuleCounters::new(now)),
        )
    });
    let counted: Vec<_> = counted.collect();
    let rules = (!counted.is_empty()).then(|| std::sync::Arc::new(counted));
    put_rules(tx, &mut record, rules)?;
    Ok(Outcome::RulesSet(Box::new(view(tx, now, record)?)))
}

/// Gives `record` these spending rules (with their counters) and writes them, marking the
/// lineage below it when they are its first.
pub(super) fn put_rules(
    tx: &mut (impl LedgerTx + ?Sized),
    record: &mut CodeRecord,
    rules: Option<crate::spending::Rules>,
) -> Result<(), OpError> {
    record.spending = rules;
    tx.set_spending(&record.id, record.spending.as_ref())?;
    // A restricted lineage is inherited at creation and never lost, so if this code has one, so
    // does every code below it; otherwise they are marked now, to walk up to these rules.
    if record.spending.is_some() && !record.restricted_lineage {
        tx.mark_lineage(&record.id)?;
        record.restricted_lineage = true;
    }
    Ok(())
}

fn pin_failed(tx: &mut (impl LedgerTx + ?Sized), hash: &CodeHash, generation: u32) -> Result<Outcome, OpError> {
    let mut record = present(tx, hash)?;
    // A PIN changed since it was checked is not this PIN's failure.
    if record.pin.generation == generation && record.pin.hash.is_some() && !record.pin.locked {
        record.pin.failures += 1;
        record.pin.locked = record.pin.failures >= restrictions::PIN_FAILURES_MAX;
        tx.set_pin(&record.id, &record.pin)?;
    }
    Ok(Outcome::PinCounted {
        locked: record.pin.locked,
        failures: record.pin.failures,
    })
}

fn pin_matched(tx: &mut (impl LedgerTx + ?Sized), hash: &CodeHash, generation: u32) -> Result<Outcome, OpError> {
    let mut record = present(tx, hash)?;
    // A locked code stays locked until its parent unlocks it, right PIN or not.
    if record.pin.generation == generation && !record.pin.locked && record.pin.failures > 0 {
        record.pin.failures = 0;
        tx.set_pin(&record.id, &record.pin)?;
    }
    Ok(Outcome::PinCounted {
        locked: record.pin.locked,
        failures: record.pin.failures,
    })
}

fn unlock(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    parent: &Credential,
    child: &CodeId,
) -> Result<Outcome, OpError> {
    let parent = authenticate(tx, parent, now)?;
    let mut child = descendant(tx, &parent, child)?;
    child.pin.failures = 0;
    child.pin.locked = false;
    tx.set_pin(&child.id, &child.pin)?;
    Ok(Outcome::Changed(Box::new(view(tx, now, child)?)))
}

fn operator_unlock(tx: &mut (impl LedgerTx + ?Sized), now: Timestamp, id: &CodeId) -> Result<Outcome, OpError> {
    let mut record = tx
        .code_by_id(id)?
        .filter(|r| r.kind == CodeKind::Secret && r.status != CodeStatus::Cancelled)
        .ok_or(OpError::NotFound("code"))?;
    record.pin.failures = 0;
    record.pin.locked = false;
    tx.set_pin(&record.id, &record.pin)?;
    Ok(Outcome::Changed(Box::new(view(tx, now, record)?)))
}

fn rekey(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    holder: &Credential,
    hash: &CodeHash,
    alias: &CodeHash,
) -> Result<Outcome, OpError> {
    let record = authenticate(tx, holder, now)?;
    if tx.code_by_hash(hash)?.is_some() || tx.alias_target(hash)?.is_some() {
        return Err(OpError::CodeCollision);
    }
    tx.set_code_hash(&record.id, hash)?;
    if tx.alias_of(&record.id)?.is_some() {
        let renewed = AliasRecord {
            code_id: record.id.clone(),
            hash: *alias,
            public_digits: None,
            created_at: now,
        };
        super::aliases::replace(tx, &renewed)?;
    }
    Ok(Outcome::Changed(Box::new(view(tx, now, record)?)))
}

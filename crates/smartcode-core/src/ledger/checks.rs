//! Who stands behind a name. Anyone can call a code "UNICEF"; a check says that someone looked and
//! stands behind it. The operator checks any code's profile (as the broker); a code checks the
//! profiles of codes below it in its tree (an organization vouching for the branches it gave codes
//! to). A check covers the profile's name and web address, exactly as they were when the checker
//! named the name it checked, and ends when either is edited (see `tree::set_profile`).
//!
//! A check stands while its checker does: a check by a code that is no longer active is no
//! check. Each check says whether it *reaches the broker*: made by the broker, or by a code whose
//! own profile is checked by a check that reaches the broker. That is what tells a branch that the
//! broker checked UNICEF, and UNICEF checked the branch, from a tree someone grew under a name
//! they typed themselves.
//!
//! Authority runs down the tree: the broker's check outranks every code's, and a code's outranks
//! those of codes below it. A checker may replace or withdraw a check made by itself or by a code
//! below it, never one made above it.

use crate::clock::Timestamp;
use crate::code::{CodeId, PublicCode};
use crate::error::{Conflict, OpError};
use crate::model::*;

use super::rules::{authenticate, descendant, view};
use super::{Context, Credential, LedgerRead, LedgerTx};

/// Who asks for a check (or its withdrawal).
#[derive(Clone, Debug)]
pub enum By {
    /// The operator, as the broker: any code.
    Operator,
    /// A code, for a code below it.
    Ancestor(Credential),
}

/// Which code's profile: by id, or by the public code a public code is known by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Id(CodeId),
    Public(PublicCode),
}

/// What the checker says of the profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// "I checked the profile whose name is this": refused if the name is another by now, so a
    /// check never covers a name the checker did not see.
    Checked { name: String },
    /// The checker no longer stands behind it.
    Withdrawn,
}

/// A check as the public sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckView {
    pub by: CheckedBy,
    pub at: Timestamp,
    /// Made by the broker, or by a code whose own check reaches the broker.
    pub reaches_broker: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckedBy {
    Broker,
    /// A code above the checked one: its depth in the tree (as in an ancestry) and its profile's
    /// name, if it has one.
    Ancestor {
        depth: u32,
        name: Option<String>,
    },
}

pub(super) fn set_check(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    by: &By,
    target: &Target,
    mark: &Mark,
) -> Result<super::tree::Outcome, OpError> {
    let (checker, checker_depth, mut record) = match by {
        By::Operator => (Checker::Broker, 0, find(tx, target)?),
        By::Ancestor(credential) => {
            let holder = authenticate(tx, credential, cx.now)?;
            let record = find(tx, target)?;
            let record = descendant(tx, &holder, &record.id)?;
            (Checker::Ancestor(holder.id), holder.depth, record)
        }
    };
    if record.status_at(cx.now) == CodeStatus::Cancelled {
        return Err(OpError::NotFound("code"));
    }
    if let Some(existing) = &record.check {
        if made_above(tx, cx.now, &existing.by, checker_depth)? {
            return Err(OpError::Conflict(Conflict::CheckedAbove));
        }
    }
    let check = match mark {
        Mark::Checked { name } => {
            let current = record
                .profile
                .name
                .as_deref()
                .ok_or(OpError::Conflict(Conflict::NoNameToCheck))?;
            if current != name.trim() {
                return Err(OpError::Conflict(Conflict::NameNotChecked {
                    current: current.to_owned(),
                }));
            }
            Some(ProfileCheck {
                by: checker,
                at: cx.now,
            })
        }
        Mark::Withdrawn => None,
    };
    if record.check != check {
        tx.set_check(&record.id, check.as_ref())?;
        record.check = check;
    }
    Ok(super::tree::Outcome::ProfileSet(Box::new(view(tx, cx.now, record)?)))
}

fn find(tx: &mut (impl LedgerRead + ?Sized), target: &Target) -> Result<CodeRecord, OpError> {
    match target {
        Target::Id(id) => tx.code_by_id(id)?,
        Target::Public(code) => tx.code_by_public(code)?,
    }
    .ok_or(OpError::NotFound("code"))
}

/// Whether a standing check by `by` was made above a checker at `depth` (the broker is depth 0).
fn made_above(tx: &mut (impl LedgerRead + ?Sized), now: Timestamp, by: &Checker, depth: u32) -> Result<bool, OpError> {
    Ok(match by {
        Checker::Broker => depth > 0,
        Checker::Ancestor(id) => tx
            .code_by_id(id)?
            .is_some_and(|checker| checker.status_at(now) == CodeStatus::Active && checker.depth < depth),
    })
}

/// The check that stands on `record`'s profile now, if one does.
pub fn standing(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    record: &CodeRecord,
) -> Result<Option<CheckView>, OpError> {
    let Some(check) = &record.check else {
        return Ok(None);
    };
    let view = match &check.by {
        Checker::Broker => CheckView {
            by: CheckedBy::Broker,
            at: check.at,
            reaches_broker: true,
        },
        Checker::Ancestor(id) => {
            let Some(checker) = tx.code_by_id(id)?.filter(|c| c.status_at(now) == CodeStatus::Active) else {
                return Ok(None);
            };
            // A checker is always above the code it checked, so this ends at the top of the tree.
            assert!(checker.depth < record.depth, "a checker is an ancestor");
            let reaches_broker = standing(tx, now, &checker)?.is_some_and(|c| c.reaches_broker);
            CheckView {
                by: CheckedBy::Ancestor {
                    depth: checker.depth,
                    name: checker.profile.name.clone(),
                },
                at: check.at,
                reaches_broker,
            }
        }
    };
    Ok(Some(view))
}

/// Whether an edit from `old` to `new` ends a check: it covers the name and the web address.
pub(super) fn edit_ends_check(old: &Profile, new: &Profile) -> bool {
    old.name != new.name || old.url != new.url
}

//! The rules every capability shares: who presents a code ([`Credential`], [`authenticate`]),
//! where a code sits in the tree, the checks of text, profiles and expiries, and how a code is
//! shown ([`CodeView`]).

use crate::clock::Timestamp;
use crate::code::{CodeHash, CodeId};
use crate::error::{Conflict, Invalid, Limit, OpError};
use crate::limits::*;
use crate::model::*;

use super::{LedgerRead, LedgerTx};

/// A secret code presented by a caller, and what is known of the PIN it came with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credential {
    pub hash: CodeHash,
    pub pin: PinPresented,
}

impl Credential {
    /// A credential whose PIN, if any, is still to be checked.
    pub fn new(hash: CodeHash, pin_given: bool) -> Credential {
        Credential {
            hash,
            pin: if pin_given {
                PinPresented::Unverified
            } else {
                PinPresented::Absent
            },
        }
    }
}

/// The PIN side of a credential. Checking a PIN costs an argon2id hash, which the edge computes
/// outside the store's writer: the core answers [`OpError::VerifyPin`] with the stored hash, the
/// edge verifies, and resubmits with `Verified` (or reports [`super::controls::Command::PinFailed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinPresented {
    Absent,
    Unverified,
    /// The edge checked the PIN against the hash of this generation and it matched.
    Verified {
        generation: u32,
    },
}

/// A code with its balance as of now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeView {
    pub record: CodeRecord,
    pub status: CodeStatus,
    /// `None` for a public code, which holds no value.
    pub account: Option<AccountState>,
    pub children: u32,
    /// What is left of the usage rules of this code and its ancestors; `None` if there are none.
    pub usage_left: Option<UsageLeft>,
    /// Who stands behind the profile's name, if anyone does now.
    pub check: Option<super::checks::CheckView>,
    /// The holds and authorizations that set value aside on it now (the account's `held_units`
    /// is their sum).
    pub holds: Vec<HoldRecord>,
    /// Its numeric alias, if it has one.
    pub alias: Option<AliasRecord>,
}

/// The tightest of a code's and its ancestors' usage rules, as of now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UsageLeft {
    pub uses: Option<u32>,
    pub spend_units: Option<i64>,
}

/// Finds the code a secret (or its numeric alias) presents, unless it is unknown or cancelled
/// (which look the same). A code's own hash is looked up first: an alias costs a read only when
/// no code matches, which a payment with a real code never does.
pub(super) fn present(tx: &mut (impl LedgerRead + ?Sized), hash: &CodeHash) -> Result<CodeRecord, OpError> {
    let record = match tx.code_by_hash(hash)? {
        Some(record) => record,
        None => super::aliases::by_alias(tx, hash)?.ok_or(OpError::InvalidCode)?,
    };
    if record.status == CodeStatus::Cancelled {
        return Err(OpError::InvalidCode);
    }
    Ok(record)
}

/// Like [`present`], for a change or a payment: the code must be usable now (not expired, not
/// locked) and, if it has a PIN, the PIN must have been verified against its current hash.
pub(super) fn authenticate(
    tx: &mut (impl LedgerTx + ?Sized),
    credential: &Credential,
    now: Timestamp,
) -> Result<CodeRecord, OpError> {
    let mut record = present(tx, &credential.hash)?;
    require_active(&record, now)?;
    if record.pin.locked {
        return Err(OpError::CodeLocked);
    }
    let Some(pin_hash) = record.pin.hash.clone() else {
        // A PIN sent with a code that has none is a client's mistake, not a proof: taken silently,
        // each different PIN would name another idempotency slot for the same request.
        if credential.pin != PinPresented::Absent {
            return Err(OpError::Conflict(Conflict::PinWithoutPin));
        }
        return Ok(record);
    };
    match credential.pin {
        PinPresented::Absent => Err(OpError::PinRequired),
        PinPresented::Verified { generation } if generation == record.pin.generation => {
            if record.pin.failures > 0 {
                record.pin.failures = 0;
                tx.set_pin(&record.id, &record.pin)?;
            }
            Ok(record)
        }
        PinPresented::Unverified | PinPresented::Verified { .. } => Err(OpError::VerifyPin {
            pin_hash,
            generation: record.pin.generation,
            failures: record.pin.failures,
        }),
    }
}

/// What a public code sells, bounded by every public code it is nested under: each declared list
/// is intersected with the enclosing ones', and a list it does not declare is theirs. Only a nested
/// public code reads more than itself: the walk stops at the first secret ancestor.
pub(super) fn effective_catalog(tx: &mut (impl LedgerRead + ?Sized), record: &CodeRecord) -> Result<Catalog, OpError> {
    let mut catalog = record.catalog.clone();
    let mut cursor = record.parent_id.clone();
    let mut steps = 0;
    while let Some(parent_id) = cursor {
        if record.kind != CodeKind::Public || parent_id == record.owner_id {
            break;
        }
        let parent = tx
            .code_by_id(&parent_id)?
            .ok_or(OpError::NotFound("enclosing public code"))?;
        if parent.kind != CodeKind::Public {
            break;
        }
        catalog.categories = bounded(catalog.categories, parent.catalog.categories.as_ref());
        catalog.items = bounded(catalog.items, parent.catalog.items.as_ref());
        cursor = parent.parent_id;
        steps += 1;
        assert!(steps <= TREE_DEPTH_MAX, "the code tree has no cycles");
    }
    Ok(catalog)
}

fn bounded(own: Option<Vec<String>>, bound: Option<&Vec<String>>) -> Option<Vec<String>> {
    match (own, bound) {
        (own, None) => own,
        (None, Some(bound)) => Some(bound.clone()),
        (Some(own), Some(bound)) => Some(own.into_iter().filter(|entry| bound.contains(entry)).collect()),
    }
}

/// Checks that what a public code declares fits what the public code it is nested under sells
/// (`enclosing`, that code's effective catalog; `None` when it is not nested).
pub(super) fn check_within(catalog: &Catalog, enclosing: Option<&Catalog>) -> Result<(), OpError> {
    let Some(enclosing) = enclosing else { return Ok(()) };
    let pairs = [
        ("categories", &catalog.categories, &enclosing.categories),
        ("items", &catalog.items, &enclosing.items),
    ];
    for (field, own, bound) in pairs {
        let (Some(own), Some(bound)) = (own, bound) else {
            continue;
        };
        if own.iter().any(|entry| !bound.contains(entry)) {
            return Err(OpError::Conflict(Conflict::OutsideEnclosingCatalog {
                field,
                allowed: if bound.is_empty() {
                    "nothing".to_owned()
                } else {
                    bound.join(", ")
                },
            }));
        }
    }
    Ok(())
}

pub(super) fn require_active(record: &CodeRecord, now: Timestamp) -> Result<(), OpError> {
    match record.status_at(now) {
        CodeStatus::Active => Ok(()),
        CodeStatus::Expired => Err(OpError::Expired),
        CodeStatus::Cancelled => Err(OpError::InvalidCode),
    }
}

/// Finds `id` below `ancestor` in the tree; anything else (or unknown) is not found.
pub(super) fn descendant(
    tx: &mut (impl LedgerRead + ?Sized),
    ancestor: &CodeRecord,
    id: &CodeId,
) -> Result<CodeRecord, OpError> {
    descendant_line(tx, ancestor, id).map(|(record, _)| record)
}

/// The code `id` if it is a descendant of `ancestor`, and whether it or a code between them is
/// irrevocable: what lies below an irrevocable code is its holder's for good, and no code above it
/// may cancel any of it.
pub(super) fn descendant_line(
    tx: &mut (impl LedgerRead + ?Sized),
    ancestor: &CodeRecord,
    id: &CodeId,
) -> Result<(CodeRecord, bool), OpError> {
    let record = tx.code_by_id(id)?.ok_or(OpError::NotFound("child"))?;
    let mut irrevocable = record.irrevocable;
    let mut cursor = record.clone();
    while cursor.depth > ancestor.depth {
        let Some(parent_id) = cursor.parent_id.clone() else {
            break;
        };
        if parent_id == ancestor.id {
            return Ok((record, irrevocable));
        }
        cursor = tx.code_by_id(&parent_id)?.ok_or(OpError::NotFound("child"))?;
        irrevocable |= cursor.irrevocable;
    }
    Err(OpError::NotFound("child"))
}

pub(super) fn check_room_for_child(tx: &mut (impl LedgerRead + ?Sized), parent: &CodeRecord) -> Result<(), OpError> {
    if parent.depth >= TREE_DEPTH_MAX {
        return Err(OpError::LimitExceeded(Limit::TreeDepth));
    }
    if tx.child_count(&parent.id)? >= CHILDREN_PER_CODE_MAX {
        return Err(OpError::LimitExceeded(Limit::ChildrenPerCode));
    }
    Ok(())
}

pub(super) fn check_expiry(now: Timestamp, at: Timestamp) -> Result<Timestamp, OpError> {
    if at <= now {
        return Err(OpError::Conflict(Conflict::ExpiryInPast));
    }
    let latest = now
        .plus_seconds(EXPIRY_SECONDS_MAX)
        .expect("ten years from now is representable");
    if at > latest {
        return Err(OpError::Conflict(Conflict::ExpiryTooFar));
    }
    Ok(at)
}

pub(super) fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Refuses text longer than `chars_max` characters, or holding control characters.
pub fn check_text(field: &'static str, text: Option<&str>, chars_max: usize) -> Result<(), OpError> {
    let Some(text) = text else { return Ok(()) };
    if text.chars().count() > chars_max {
        return Err(OpError::LimitExceeded(Limit::TextTooLong { field, chars_max }));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(OpError::InvalidRequest(Invalid::ControlCharacters { field }));
    }
    Ok(())
}

pub(super) fn check_profile(profile: &Profile) -> Result<(), OpError> {
    check_text("profile name", profile.name.as_deref(), PROFILE_NAME_CHARS_MAX)?;
    check_text(
        "profile description",
        profile.description.as_deref(),
        PROFILE_DESCRIPTION_CHARS_MAX,
    )?;
    check_text("profile url", profile.url.as_deref(), PROFILE_URL_CHARS_MAX)?;
    check_text("profile contact", profile.contact.as_deref(), PROFILE_CONTACT_CHARS_MAX)?;
    if let Some(url) = &profile.url {
        let web = url.starts_with("https://") || url.starts_with("http://");
        if !web || url.contains(char::is_whitespace) {
            return Err(OpError::InvalidRequest(Invalid::ProfileUrl));
        }
    }
    Ok(())
}

pub(super) fn view(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    record: CodeRecord,
) -> Result<CodeView, OpError> {
    let mut account = match record.kind {
        CodeKind::Secret => Some(
            tx.account(&AccountKey::Code(record.id.clone()))?
                .ok_or(OpError::NotFound("account"))?,
        ),
        CodeKind::Public => None,
    };
    let mut holds = Vec::new();
    if let Some(account) = account.as_mut().filter(|a| a.held_units > 0) {
        // Expired holds no longer set anything aside, swept or not.
        holds = super::holds::live_holds(tx, now, &record.id)?;
        account.held_units = holds.iter().map(HoldRecord::held_units).sum();
    }
    let children = tx.child_count(&record.id)?;
    let usage_left = super::restrictions::usage_left(tx, now, &record)?;
    let check = super::checks::standing(tx, now, &record)?;
    let alias = tx.alias_of(&record.id)?;
    Ok(CodeView {
        alias,
        holds,
        check,
        status: record.status_at(now),
        record,
        account,
        children,
        usage_left,
    })
}

/// A new code's record, checked against its parent before it is stored: one generation below it,
/// in its currency, and never outliving it (expiry only narrows down a tree, so a code's own
/// expiry is enough to know its whole line is alive).
pub(super) fn assert_child_of(record: &CodeRecord, parent: &CodeRecord) {
    assert_eq!(record.parent_id.as_ref(), Some(&parent.id), "a child names its parent");
    assert_eq!(
        record.depth,
        parent.depth + 1,
        "a child is one generation below its parent"
    );
    assert_eq!(record.currency, parent.currency, "a child holds its parent's currency");
    if let Some(parent_expiry) = parent.expires_at {
        assert!(
            record.expires_at.is_some_and(|at| at <= parent_expiry),
            "a child never outlives its parent"
        );
    }
}

//! Children and the tree: a code makes secret children with part of its value (narrowed
//! restrictions, an expiry no later than its own) and public children to receive into, funds them,
//! edits their public profiles (and checks them: [`checks`]), and cancels a lost child to take back what its subtree held.

use crate::code::{CodeHash, CodeId, PublicCode};
use crate::error::{Conflict, Limit, OpError};
use crate::limits::*;
use crate::model::*;
use crate::money::{Amount, Currency};

use super::checks;
use super::post::new_transfer;
use super::restrictions;
use super::rules::*;
use super::{check_text, post, CodeView, Context, Credential, LedgerTx};

#[derive(Clone, Debug)]
pub enum Command {
    CreateSecretChild {
        parent: Credential,
        hash: CodeHash,
        amount: Amount,
        options: ChildOptions,
    },
    CreatePublicChild {
        parent: Credential,
        code: PublicCode,
        label: Option<String>,
        profile: Profile,
        /// What it sells, as its owner declares it.
        catalog: Catalog,
        under: Option<CodeId>,
    },
    FundChild {
        parent: Credential,
        child: CodeId,
        amount: Amount,
    },
    CancelChild {
        parent: Credential,
        child: CodeId,
    },
    /// Replaces a code's profile, and for a public code what it sells (a secret code sells
    /// nothing: its catalog must be empty).
    SetProfile {
        holder: Credential,
        target: Option<CodeId>,
        profile: Profile,
        catalog: Catalog,
    },
    /// Marks a profile's name and web address as checked, or withdraws the mark (see [`checks`]).
    SetCheck {
        by: checks::By,
        target: checks::Target,
        mark: checks::Mark,
    },
}

#[derive(Clone, Debug, Default)]
pub struct ChildOptions {
    pub label: Option<String>,
    pub expires_at: Option<crate::clock::Timestamp>,
    pub irrevocable: bool,
    /// The rules asked for; the child gets them narrowed by its parent's.
    pub restrictions: Restrictions,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A child was made; here is how it stands.
    Created(Box<CodeView>),
    Funded {
        child: Box<CodeView>,
        parent: Box<CodeView>,
    },
    Cancelled {
        reclaimed_units: i64,
        currency: Currency,
        codes_cancelled: u32,
    },
    /// A profile was edited; here is the code it belongs to.
    ProfileSet(Box<CodeView>),
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::CreateSecretChild {
            parent,
            hash,
            amount,
            options,
        } => create_secret_child(tx, cx, parent, hash, *amount, options),
        Command::CreatePublicChild {
            parent,
            code,
            label,
            profile,
            catalog,
            under,
        } => create_public_child(tx, cx, parent, code, label.as_ref(), (profile, catalog), under.as_ref()),
        Command::FundChild { parent, child, amount } => fund_child(tx, cx, parent, child, *amount),
        Command::CancelChild { parent, child } => cancel_child(tx, cx, parent, child),
        Command::SetProfile {
            holder,
            target,
            profile,
            catalog,
        } => set_profile(tx, cx, holder, target.as_ref(), profile, catalog),
        Command::SetCheck { by, target, mark } => checks::set_check(tx, cx, by, target, mark),
    }
}

pub(super) fn create_secret_child(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    parent: &Credential,
    hash: &CodeHash,
    amount: Amount,
    options: &ChildOptions,
) -> Result<Outcome, OpError> {
    let parent = authenticate(tx, parent, cx.now)?;
    check_text("label", options.label.as_deref(), LABEL_CHARS_MAX)?;
    restrictions::check_requested(&options.restrictions)?;
    let restrictions = restrictions::narrow(&parent, &options.restrictions)?;
    let expires_at = match options.expires_at {
        Some(at) => Some(check_expiry(cx.now, at)?),
        None => None,
    };
    check_room_for_child(tx, &parent)?;
    if tx.code_by_hash(hash)?.is_some() {
        return Err(OpError::CodeCollision);
    }
    let id = cx.draws.code_id();
    let record = CodeRecord {
        id: id.clone(),
        kind: CodeKind::Secret,
        parent_id: Some(parent.id.clone()),
        owner_id: id.clone(),
        public_code: None,
        currency: parent.currency,
        label: options.label.clone(),
        profile: Profile::default(),
        check: None,
        catalog: Catalog::default(),
        status: CodeStatus::Active,
        depth: parent.depth + 1,
        created_at: cx.now,
        // A child never outlives its parent: expiry only narrows down a tree.
        expires_at: earliest(expires_at, parent.expires_at),
        irrevocable: options.irrevocable,
        restricted_lineage: parent.restricted_lineage || parent.spending.is_some() || restrictions.counts_usage(),
        restrictions,
        usage: Usage::default(),
        pin: PinState::default(),
        spending: None,
        webhooks: false,
    };
    assert_child_of(&record, &parent);
    tx.insert_code(&record, Some(hash))?;
    let account = AccountKey::Code(id);
    tx.open_account(&account, record.currency)?;
    post(
        tx,
        new_transfer(
            cx,
            TransferKind::Fund,
            AccountKey::Code(parent.id),
            account,
            amount,
            record.currency,
        ),
    )?;
    Ok(Outcome::Created(Box::new(view(tx, cx.now, record)?)))
}

fn create_public_child(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    parent: &Credential,
    code: &PublicCode,
    label: Option<&String>,
    (profile, catalog): (&Profile, &Catalog),
    under: Option<&CodeId>,
) -> Result<Outcome, OpError> {
    let owner = authenticate(tx, parent, cx.now)?;
    check_text("label", label.map(String::as_str), LABEL_CHARS_MAX)?;
    check_profile(profile)?;
    restrictions::check_catalog(catalog)?;
    let parent = match under {
        None => owner.clone(),
        Some(id) => {
            let under = tx
                .code_by_id(id)?
                .ok_or(OpError::NotFound("public code to nest under"))?;
            let usable = under.kind == CodeKind::Public
                && under.owner_id == owner.id
                && under.status_at(cx.now) == CodeStatus::Active;
            if !usable {
                return Err(OpError::NotFound("public code to nest under"));
            }
            check_within(catalog, Some(&effective_catalog(tx, &under)?))?;
            under
        }
    };
    check_room_for_child(tx, &parent)?;
    if tx.code_by_public(code)?.is_some() {
        return Err(OpError::CodeCollision);
    }
    let record = public_child_record(cx, (&owner, &parent), code, label.cloned(), (profile, catalog));
    tx.insert_code(&record, None)?;
    Ok(Outcome::Created(Box::new(view(tx, cx.now, record)?)))
}

/// A new public code `code` of `owner`, a child of `parent` (the owner itself, or one of its
/// public codes): it expires with its owner and carries no restrictions of its own. A license's
/// code ([`super::licenses`]) is one too.
pub(super) fn public_child_record(
    cx: &mut Context,
    (owner, parent): (&CodeRecord, &CodeRecord),
    code: &PublicCode,
    label: Option<String>,
    (profile, catalog): (&Profile, &Catalog),
) -> CodeRecord {
    let record = CodeRecord {
        id: cx.draws.code_id(),
        kind: CodeKind::Public,
        parent_id: Some(parent.id.clone()),
        owner_id: owner.id.clone(),
        public_code: Some(code.clone()),
        currency: owner.currency,
        label,
        profile: profile.clone(),
        check: None,
        catalog: catalog.clone(),
        status: CodeStatus::Active,
        depth: parent.depth + 1,
        created_at: cx.now,
        expires_at: owner.expires_at,
        irrevocable: false,
        restrictions: Restrictions::default(),
        restricted_lineage: false,
        usage: Usage::default(),
        pin: PinState::default(),
        spending: None,
        webhooks: false,
    };
    assert_child_of(&record, parent);
    record
}

fn fund_child(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    parent: &Credential,
    child_id: &CodeId,
    amount: Amount,
) -> Result<Outcome, OpError> {
    let parent = authenticate(tx, parent, cx.now)?;
    let child = descendant(tx, &parent, child_id)?;
    if child.kind != CodeKind::Secret {
        return Err(OpError::Conflict(Conflict::FundPublicCode));
    }
    // The parent's code is fine; it is the child that cannot take value any more.
    match child.status_at(cx.now) {
        CodeStatus::Active => {}
        CodeStatus::Expired => return Err(OpError::Expired),
        CodeStatus::Cancelled => return Err(OpError::NotFound("child (it was cancelled)")),
    }
    post(
        tx,
        new_transfer(
            cx,
            TransferKind::Fund,
            AccountKey::Code(parent.id.clone()),
            AccountKey::Code(child.id.clone()),
            amount,
            parent.currency,
        ),
    )?;
    Ok(Outcome::Funded {
        child: Box::new(view(tx, cx.now, child)?),
        parent: Box::new(view(tx, cx.now, parent)?),
    })
}

fn cancel_child(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    parent: &Credential,
    child_id: &CodeId,
) -> Result<Outcome, OpError> {
    let parent = authenticate(tx, parent, cx.now)?;
    let (child, irrevocable) = descendant_line(tx, &parent, child_id)?;
    if irrevocable {
        return Err(OpError::NotRevocable);
    }
    let closed = close_subtree(tx, cx, &child, &parent.id, TransferKind::Reclaim, CodeStatus::Cancelled)?;
    Ok(Outcome::Cancelled {
        reclaimed_units: closed.value_units,
        currency: parent.currency,
        codes_cancelled: closed.codes,
    })
}

fn set_profile(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    holder: &Credential,
    target: Option<&CodeId>,
    profile: &Profile,
    catalog: &Catalog,
) -> Result<Outcome, OpError> {
    let holder = authenticate(tx, holder, cx.now)?;
    check_profile(profile)?;
    restrictions::check_catalog(catalog)?;
    let mut record = match target {
        None => holder,
        Some(id) => descendant(tx, &holder, id)?,
    };
    if record.kind == CodeKind::Secret && !catalog.is_empty() {
        return Err(OpError::Conflict(Conflict::CatalogOfSecretCode));
    }
    if record.kind == CodeKind::Public {
        let enclosing = enclosing_public_code(tx, &record)?;
        let bound = enclosing.map(|e| effective_catalog(tx, &e)).transpose()?;
        check_within(catalog, bound.as_ref())?;
        if record.catalog != *catalog {
            tx.set_catalog(&record.id, catalog)?;
            record.catalog = catalog.clone();
        }
    }
    if record.check.is_some() && checks::edit_ends_check(&record.profile, profile) {
        tx.set_check(&record.id, None)?;
        record.check = None;
    }
    tx.set_profile(&record.id, profile)?;
    record.profile = profile.clone();
    Ok(Outcome::ProfileSet(Box::new(view(tx, cx.now, record)?)))
}

/// The public code a public code is nested under, if it is.
fn enclosing_public_code(
    tx: &mut (impl LedgerTx + ?Sized),
    record: &CodeRecord,
) -> Result<Option<CodeRecord>, OpError> {
    let Some(parent_id) = record.parent_id.as_ref().filter(|p| **p != record.owner_id) else {
        return Ok(None);
    };
    let parent = tx
        .code_by_id(parent_id)?
        .ok_or(OpError::NotFound("enclosing public code"))?;
    Ok((parent.kind == CodeKind::Public).then_some(parent))
}

pub(super) struct Closed {
    pub(super) value_units: i64,
    pub(super) codes: u32,
}

/// Stops `root` and every still-active code below it and moves what each held to `beneficiary`.
/// On cancel, irrevocable descendants keep working with their value: it is their holders' for good.
pub(super) fn close_subtree(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    root: &CodeRecord,
    beneficiary: &CodeId,
    kind: TransferKind,
    status: CodeStatus,
) -> Result<Closed, OpError> {
    let mut closed = Closed {
        value_units: 0,
        codes: 0,
    };
    let mut pending = vec![root.clone()];
    while let Some(record) = pending.pop() {
        let skip = record.status != CodeStatus::Active
            || (kind == TransferKind::Reclaim && record.irrevocable && record.id != root.id);
        if skip {
            continue;
        }
        closed.codes += 1;
        if closed.codes as usize > CANCEL_SUBTREE_CODES_MAX {
            return Err(OpError::LimitExceeded(Limit::CancelSubtree));
        }
        if record.kind == CodeKind::Secret {
            let key = AccountKey::Code(record.id.clone());
            let mut state = tx.account(&key)?.ok_or(OpError::NotFound("account"))?;
            if state.held_units > 0 {
                // What is held stays for the sellers; what their holds release comes here later.
                super::holds::on_close(tx, cx.now, &record.id, beneficiary)?;
                state = tx.account(&key)?.ok_or(OpError::NotFound("account"))?;
            }
            if let Ok(amount) = Amount::from_units(state.available_units()) {
                post(
                    tx,
                    new_transfer(
                        cx,
                        kind,
                        key,
                        AccountKey::Code(beneficiary.clone()),
                        amount,
                        record.currency,
                    ),
                )?;
                closed.value_units = closed
                    .value_units
                    .checked_add(amount.units())
                    .ok_or(OpError::LimitExceeded(Limit::ReclaimOverflow))?;
            }
        }
        tx.set_status(&record.id, status, cx.now)?;
        pending.extend(tx.children(&record.id, CHILDREN_PER_CODE_MAX)?);
    }
    Ok(closed)
}

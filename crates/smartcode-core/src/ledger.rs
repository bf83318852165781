//! The rules of the broker, written once over the [`LedgerRead`] and [`LedgerTx`] traits that each
//! store implements. Nothing here does I/O of its own: a store hands in a transaction, the core
//! decides, and the store commits (or rolls back) what the core wrote.
//!
//! Every change of value goes through [`post`], which checks that the debited code can afford it,
//! that no balance leaves its bounds, and only then asks the store to append the transfer.

use crate::clock::Timestamp;
use crate::code::{CodeHash, CodeId, PublicCode, ReceiptId, TransferId};
use crate::error::{OpError, StoreResult};
use crate::limits::*;
use crate::model::*;
use crate::money::{Amount, Currency};

/// What the core reads from a store. All reads of one operation see one consistent snapshot.
pub trait LedgerRead {
    fn code_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeRecord>>;
    fn code_by_id(&mut self, id: &CodeId) -> StoreResult<Option<CodeRecord>>;
    fn code_by_public(&mut self, code: &PublicCode) -> StoreResult<Option<CodeRecord>>;
    fn account(&mut self, key: &AccountKey) -> StoreResult<Option<AccountState>>;
    /// Direct children, oldest first, at most `limit`.
    fn children(&mut self, parent: &CodeId, limit: u32) -> StoreResult<Vec<CodeRecord>>;
    fn child_count(&mut self, parent: &CodeId) -> StoreResult<u32>;
    /// Transfers touching `account`, newest first, as `(sequence, transfer)`.
    fn transfers_of(&mut self, account: &AccountKey, filter: &TransferFilter) -> StoreResult<Vec<(i64, Transfer)>>;
    fn transfer_by_id(&mut self, id: &str) -> StoreResult<Option<Transfer>>;
    fn report(
        &mut self,
        account: &AccountKey,
        grouping: ReportGrouping,
        filter: &TransferFilter,
    ) -> StoreResult<Vec<ReportRow>>;
    /// Payments received through one public code: `(count, total units)`.
    fn public_code_stats(&mut self, public_code: &CodeId) -> StoreResult<(u64, i64)>;
    fn ledger_totals(&mut self) -> StoreResult<LedgerTotals>;
    /// Active codes whose expiry is at or before `now`, at most `limit`: earliest first, and of
    /// those expiring together the deepest first. A child expires no later than its parent, so by
    /// the time a code is closed its descendants are, and however large its tree, closing it stops
    /// a single code (a whole tree at once could exceed what one cancel may stop).
    fn due_expiries(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<CodeRecord>>;
}

/// What the core writes. A store applies these inside the transaction of the current operation.
pub trait LedgerTx: LedgerRead {
    /// Inserts a code; `hash` is the keyed hash of a secret code and `None` for a public code.
    fn insert_code(&mut self, record: &CodeRecord, hash: Option<&CodeHash>) -> StoreResult<()>;
    /// Opens an account with a zero balance, or does nothing if it is open already.
    fn open_account(&mut self, key: &AccountKey, currency: Currency) -> StoreResult<()>;
    /// Appends the transfer and moves its amount from the debit to the credit account's balance.
    fn append_transfer(&mut self, transfer: &Transfer) -> StoreResult<()>;
    fn set_status(&mut self, id: &CodeId, status: CodeStatus, at: Timestamp) -> StoreResult<()>;
    fn set_profile(&mut self, id: &CodeId, profile: &Profile) -> StoreResult<()>;
    fn set_pin(&mut self, id: &CodeId, pin: &PinState) -> StoreResult<()>;
    /// Replaces a secret code's hash (rekey): the old code stops working at once.
    fn set_code_hash(&mut self, id: &CodeId, hash: &CodeHash) -> StoreResult<()>;
    fn set_usage(&mut self, id: &CodeId, usage: &Usage) -> StoreResult<()>;
}

/// A window and page over a code's transfers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferFilter {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only transfers with a sequence number below this (the page cursor).
    pub before_sequence: Option<i64>,
    pub limit: u32,
}

/// The longest expiry a child may be given, in seconds (ten years).
pub const EXPIRY_SECONDS_MAX: i64 = 10 * 366 * 24 * 3600;

// ---------------------------------------------------------------------------------------------
// Commands: everything that writes.

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
/// edge verifies, and resubmits with `Verified` (or reports [`Command::PinFailed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinPresented {
    Absent,
    Unverified,
    /// The edge checked the PIN against the hash of this generation and it matched.
    Verified {
        generation: u32,
    },
}

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
    SetProfile {
        holder: Credential,
        target: Option<CodeId>,
        profile: Profile,
    },
    Pay(PaymentOrder),
    /// Sets (`Some`, an argon2id PHC string) or removes (`None`) the holder's PIN.
    SetPin {
        holder: Credential,
        pin_hash: Option<String>,
    },
    /// The edge found a presented PIN wrong: count it, and lock the code at the limit.
    PinFailed {
        hash: CodeHash,
        generation: u32,
    },
    /// The edge found a presented PIN right: the count of wrong ones starts again from zero.
    PinMatched {
        hash: CodeHash,
        generation: u32,
    },
    /// A parent lets a child locked by wrong PINs work again.
    Unlock {
        parent: Credential,
        child: CodeId,
    },
    /// The operator lets any code locked by wrong PINs work again (an issued code has no parent).
    OperatorUnlock {
        code: CodeId,
    },
    /// A new secret replaces the holder's; id, balance, tree, history and PIN stay.
    Rekey {
        holder: Credential,
        hash: CodeHash,
    },
    /// Reverts up to `limit` codes whose expiry has passed (the background sweep).
    ExpireDue {
        limit: u32,
    },
}

/// How the operator names the code a deposit goes to.
#[derive(Clone, Debug)]
pub enum CodeRef {
    Hash(CodeHash),
    Id(CodeId),
}

#[derive(Clone, Debug, Default)]
pub struct ChildOptions {
    pub label: Option<String>,
    pub expires_at: Option<Timestamp>,
    pub irrevocable: bool,
    /// The rules asked for; the child gets them narrowed by its parent's.
    pub restrictions: Restrictions,
}

#[derive(Clone, Debug)]
pub struct PaymentOrder {
    pub payer: Credential,
    pub payee: PublicCode,
    pub amount: Amount,
    pub currency: Option<Currency>,
    pub memo: Option<String>,
    pub category: Option<String>,
    pub item: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
///
/// Code views are boxed: an outcome is moved several times on its way from the writer to the
/// caller (batch results, the syncer, the reply), and a payment's receipt is a fifth of a view.
pub enum Outcome {
    /// A code was created or changed; here is how it stands now.
    Code(Box<CodeView>),
    Deposited {
        transfer_id: String,
        code: Box<CodeView>,
    },
    Funded {
        child: Box<CodeView>,
        parent: Box<CodeView>,
    },
    Cancelled {
        reclaimed_units: i64,
        currency: Currency,
        codes_cancelled: u32,
    },
    Paid(Receipt),
    /// A wrong PIN was counted (or a right one reset the count); `locked` when the code is locked.
    PinCounted {
        locked: bool,
    },
    ExpiredSwept {
        codes: u32,
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
}

/// The tightest of a code's and its ancestors' usage rules, as of now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UsageLeft {
    pub uses: Option<u32>,
    pub spend_units: Option<i64>,
}

/// Runs one command inside the store's transaction. On `Err`, the store rolls back everything the
/// command wrote, so a refusal never leaves a partial effect.
pub fn execute(tx: &mut (impl LedgerTx + ?Sized), now: Timestamp, command: &Command) -> Result<Outcome, OpError> {
    match command {
        Command::Issue {
            hash,
            amount,
            currency,
            label,
        } => issue(tx, now, hash, *amount, *currency, label),
        Command::Deposit {
            target,
            amount,
            currency,
        } => deposit(tx, now, target, *amount, *currency),
        Command::CreateSecretChild {
            parent,
            hash,
            amount,
            options,
        } => create_secret_child(tx, now, parent, hash, *amount, options),
        Command::CreatePublicChild {
            parent,
            code,
            label,
            profile,
            under,
        } => create_public_child(tx, now, parent, code, label, profile, under.as_ref()),
        Command::FundChild { parent, child, amount } => fund_child(tx, now, parent, child, *amount),
        Command::CancelChild { parent, child } => cancel_child(tx, now, parent, child),
        Command::SetProfile {
            holder,
            target,
            profile,
        } => set_profile(tx, now, holder, target.as_ref(), profile),
        Command::Pay(order) => pay(tx, now, order),
        Command::SetPin { holder, pin_hash } => set_pin(tx, now, holder, pin_hash),
        Command::PinFailed { hash, generation } => pin_failed(tx, hash, *generation),
        Command::PinMatched { hash, generation } => pin_matched(tx, hash, *generation),
        Command::Unlock { parent, child } => unlock(tx, now, parent, child),
        Command::OperatorUnlock { code } => operator_unlock(tx, now, code),
        Command::Rekey { holder, hash } => rekey(tx, now, holder, hash),
        Command::ExpireDue { limit } => expire_due(tx, now, *limit),
    }
}

fn issue(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    hash: &CodeHash,
    amount: Amount,
    currency: Currency,
    label: &Option<String>,
) -> Result<Outcome, OpError> {
    check_text("label", label.as_deref(), LABEL_CHARS_MAX)?;
    if tx.code_by_hash(hash)?.is_some() {
        return Err(OpError::CodeCollision);
    }
    let id = CodeId::generate();
    let record = CodeRecord {
        id: id.clone(),
        kind: CodeKind::Secret,
        parent_id: None,
        owner_id: id.clone(),
        public_code: None,
        currency,
        label: label.clone(),
        profile: Profile::default(),
        status: CodeStatus::Active,
        depth: 1,
        created_at: now,
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
    post(
        tx,
        new_transfer(
            now,
            TransferKind::Issue,
            AccountKey::Issuance(currency),
            account,
            amount,
            currency,
        ),
    )?;
    Ok(Outcome::Code(Box::new(view(tx, now, record)?)))
}

fn deposit(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
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
    require_active(&record, now)?;
    if record.currency != currency {
        return Err(OpError::CurrencyMismatch);
    }
    tx.open_account(&AccountKey::Issuance(currency), currency)?;
    let transfer = new_transfer(
        now,
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
        code: Box::new(view(tx, now, record)?),
    })
}

fn create_secret_child(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    parent: &Credential,
    hash: &CodeHash,
    amount: Amount,
    options: &ChildOptions,
) -> Result<Outcome, OpError> {
    let parent = authenticate(tx, parent, now)?;
    check_text("label", options.label.as_deref(), LABEL_CHARS_MAX)?;
    crate::controls::check_requested(&options.restrictions)?;
    let restrictions = crate::controls::narrow(&parent, &options.restrictions)?;
    let expires_at = match options.expires_at {
        Some(at) => Some(check_expiry(now, at)?),
        None => None,
    };
    check_room_for_child(tx, &parent)?;
    if tx.code_by_hash(hash)?.is_some() {
        return Err(OpError::CodeCollision);
    }
    let id = CodeId::generate();
    let record = CodeRecord {
        id: id.clone(),
        kind: CodeKind::Secret,
        parent_id: Some(parent.id.clone()),
        owner_id: id.clone(),
        public_code: None,
        currency: parent.currency,
        label: options.label.clone(),
        profile: Profile::default(),
        status: CodeStatus::Active,
        depth: parent.depth + 1,
        created_at: now,
        // A child never outlives its parent: expiry only narrows down a tree.
        expires_at: earliest(expires_at, parent.expires_at),
        irrevocable: options.irrevocable,
        restricted_lineage: parent.restricted_lineage || restrictions.counts_usage(),
        restrictions,
        usage: Usage::default(),
        pin: PinState::default(),
    };
    tx.insert_code(&record, Some(hash))?;
    let account = AccountKey::Code(id);
    tx.open_account(&account, record.currency)?;
    post(
        tx,
        new_transfer(
            now,
            TransferKind::Fund,
            AccountKey::Code(parent.id),
            account,
            amount,
            record.currency,
        ),
    )?;
    Ok(Outcome::Code(Box::new(view(tx, now, record)?)))
}

fn create_public_child(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    parent: &Credential,
    code: &PublicCode,
    label: &Option<String>,
    profile: &Profile,
    under: Option<&CodeId>,
) -> Result<Outcome, OpError> {
    let owner = authenticate(tx, parent, now)?;
    check_text("label", label.as_deref(), LABEL_CHARS_MAX)?;
    check_profile(profile)?;
    let parent = match under {
        None => owner.clone(),
        Some(id) => {
            let under = tx
                .code_by_id(id)?
                .ok_or(OpError::NotFound("public code to nest under"))?;
            let usable = under.kind == CodeKind::Public
                && under.owner_id == owner.id
                && under.status_at(now) == CodeStatus::Active;
            if !usable {
                return Err(OpError::NotFound("public code to nest under"));
            }
            under
        }
    };
    check_room_for_child(tx, &parent)?;
    if tx.code_by_public(code)?.is_some() {
        return Err(OpError::CodeCollision);
    }
    let record = CodeRecord {
        id: CodeId::generate(),
        kind: CodeKind::Public,
        parent_id: Some(parent.id.clone()),
        owner_id: owner.id.clone(),
        public_code: Some(code.clone()),
        currency: owner.currency,
        label: label.clone(),
        profile: profile.clone(),
        status: CodeStatus::Active,
        depth: parent.depth + 1,
        created_at: now,
        expires_at: owner.expires_at,
        irrevocable: false,
        restrictions: Restrictions::default(),
        restricted_lineage: false,
        usage: Usage::default(),
        pin: PinState::default(),
    };
    tx.insert_code(&record, None)?;
    Ok(Outcome::Code(Box::new(view(tx, now, record)?)))
}

fn fund_child(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    parent: &Credential,
    child_id: &CodeId,
    amount: Amount,
) -> Result<Outcome, OpError> {
    let parent = authenticate(tx, parent, now)?;
    let child = descendant(tx, &parent, child_id)?;
    if child.kind != CodeKind::Secret {
        return Err(OpError::Conflict(
            "a public code holds no value; fund a secret child".into(),
        ));
    }
    // The parent's code is fine; it is the child that cannot take value any more.
    match child.status_at(now) {
        CodeStatus::Active => {}
        CodeStatus::Expired => return Err(OpError::Expired),
        CodeStatus::Cancelled => return Err(OpError::NotFound("child (it was cancelled)")),
    }
    post(
        tx,
        new_transfer(
            now,
            TransferKind::Fund,
            AccountKey::Code(parent.id.clone()),
            AccountKey::Code(child.id.clone()),
            amount,
            parent.currency,
        ),
    )?;
    Ok(Outcome::Funded {
        child: Box::new(view(tx, now, child)?),
        parent: Box::new(view(tx, now, parent)?),
    })
}

fn cancel_child(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    parent: &Credential,
    child_id: &CodeId,
) -> Result<Outcome, OpError> {
    let parent = authenticate(tx, parent, now)?;
    let (child, irrevocable) = descendant_line(tx, &parent, child_id)?;
    if irrevocable {
        return Err(OpError::NotRevocable);
    }
    let closed = close_subtree(
        tx,
        now,
        &child,
        &parent.id,
        TransferKind::Reclaim,
        CodeStatus::Cancelled,
    )?;
    Ok(Outcome::Cancelled {
        reclaimed_units: closed.value_units,
        currency: parent.currency,
        codes_cancelled: closed.codes,
    })
}

fn set_profile(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    holder: &Credential,
    target: Option<&CodeId>,
    profile: &Profile,
) -> Result<Outcome, OpError> {
    let holder = authenticate(tx, holder, now)?;
    check_profile(profile)?;
    let mut record = match target {
        None => holder,
        Some(id) => descendant(tx, &holder, id)?,
    };
    tx.set_profile(&record.id, profile)?;
    record.profile = profile.clone();
    Ok(Outcome::Code(Box::new(view(tx, now, record)?)))
}

fn pay(tx: &mut (impl LedgerTx + ?Sized), now: Timestamp, order: &PaymentOrder) -> Result<Outcome, OpError> {
    let payer = authenticate(tx, &order.payer, now)?;
    check_text("memo", order.memo.as_deref(), MEMO_CHARS_MAX)?;
    check_text("category", order.category.as_deref(), CATEGORY_CHARS_MAX)?;
    check_text("item", order.item.as_deref(), CATEGORY_CHARS_MAX)?;
    let payee = tx.code_by_public(&order.payee)?.ok_or(OpError::NotFound("payee"))?;
    if payee.status_at(now) != CodeStatus::Active {
        return Err(OpError::NotFound("payee"));
    }
    let owner = tx.code_by_id(&payee.owner_id)?.ok_or(OpError::NotFound("payee"))?;
    if owner.status_at(now) != CodeStatus::Active {
        return Err(OpError::NotFound("payee"));
    }
    if order.currency.is_some_and(|c| c != payer.currency) || payer.currency != owner.currency {
        return Err(OpError::CurrencyMismatch);
    }
    if owner.id == payer.id {
        return Err(OpError::Conflict("a code cannot pay into its own public code".into()));
    }
    let counted = crate::controls::check_payment(tx, now, &payer, order)?;
    let receipt_id = ReceiptId::generate_at(now).to_string();
    let transfer = Transfer {
        id: receipt_id.clone(),
        at: now,
        kind: TransferKind::Payment,
        debit: AccountKey::Code(payer.id.clone()),
        credit: AccountKey::Code(owner.id.clone()),
        amount: order.amount,
        currency: payer.currency,
        memo: order.memo.clone(),
        public_code_id: Some(payee.id.clone()),
        category: order.category.clone(),
        item: order.item.clone(),
    };
    post(tx, transfer)?;
    for (id, usage) in &counted {
        tx.set_usage(id, usage)?;
    }
    Ok(Outcome::Paid(Receipt {
        id: receipt_id,
        payer_id: payer.id,
        payee: order.payee.clone(),
        payee_id: payee.id,
        amount: order.amount,
        currency: payer.currency,
        memo: order.memo.clone(),
        category: order.category.clone(),
        item: order.item.clone(),
        created_at: now,
    }))
}

fn set_pin(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    holder: &Credential,
    pin_hash: &Option<String>,
) -> Result<Outcome, OpError> {
    let mut record = authenticate(tx, holder, now)?;
    record.pin = PinState {
        hash: pin_hash.clone(),
        generation: record.pin.generation + 1,
        failures: 0,
        locked: false,
    };
    tx.set_pin(&record.id, &record.pin)?;
    Ok(Outcome::Code(Box::new(view(tx, now, record)?)))
}

fn pin_failed(tx: &mut (impl LedgerTx + ?Sized), hash: &CodeHash, generation: u32) -> Result<Outcome, OpError> {
    let mut record = present(tx, hash)?;
    // A PIN changed since it was checked is not this PIN's failure.
    if record.pin.generation == generation && record.pin.hash.is_some() && !record.pin.locked {
        record.pin.failures += 1;
        record.pin.locked = record.pin.failures >= crate::controls::PIN_FAILURES_MAX;
        tx.set_pin(&record.id, &record.pin)?;
    }
    Ok(Outcome::PinCounted {
        locked: record.pin.locked,
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
    Ok(Outcome::Code(Box::new(view(tx, now, child)?)))
}

fn operator_unlock(tx: &mut (impl LedgerTx + ?Sized), now: Timestamp, id: &CodeId) -> Result<Outcome, OpError> {
    let mut record = tx
        .code_by_id(id)?
        .filter(|r| r.kind == CodeKind::Secret && r.status != CodeStatus::Cancelled)
        .ok_or(OpError::NotFound("code"))?;
    record.pin.failures = 0;
    record.pin.locked = false;
    tx.set_pin(&record.id, &record.pin)?;
    Ok(Outcome::Code(Box::new(view(tx, now, record)?)))
}

fn rekey(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    holder: &Credential,
    hash: &CodeHash,
) -> Result<Outcome, OpError> {
    let record = authenticate(tx, holder, now)?;
    if tx.code_by_hash(hash)?.is_some() {
        return Err(OpError::CodeCollision);
    }
    tx.set_code_hash(&record.id, hash)?;
    Ok(Outcome::Code(Box::new(view(tx, now, record)?)))
}

fn expire_due(tx: &mut (impl LedgerTx + ?Sized), now: Timestamp, limit: u32) -> Result<Outcome, OpError> {
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
            now,
            &current,
            &beneficiary,
            TransferKind::Revert,
            CodeStatus::Expired,
        )?;
        codes += closed.codes;
    }
    Ok(Outcome::ExpiredSwept { codes })
}

/// Where an expired code's value reverts: its parent's owner, or, if that code was cancelled (an
/// irrevocable child outlives its parent's cancel), the nearest ancestor still active. An issued
/// code has no expiry and cannot be cancelled, so every line has one.
fn revert_beneficiary(
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

struct Closed {
    value_units: i64,
    codes: u32,
}

/// Stops `root` and every still-active code below it and moves what each held to `beneficiary`.
/// On cancel, irrevocable descendants keep working with their value: it is their holders' for good.
fn close_subtree(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
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
            return Err(OpError::LimitExceeded(format!(
                "a cancel may stop at most {CANCEL_SUBTREE_CODES_MAX} codes"
            )));
        }
        if record.kind == CodeKind::Secret {
            let key = AccountKey::Code(record.id.clone());
            let state = tx.account(&key)?.ok_or(OpError::NotFound("account"))?;
            if let Ok(amount) = Amount::from_units(state.available_units()) {
                post(
                    tx,
                    new_transfer(
                        now,
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
                    .ok_or_else(|| OpError::LimitExceeded("reclaimed value overflows".into()))?;
            }
        }
        tx.set_status(&record.id, status, now)?;
        pending.extend(tx.children(&record.id, CHILDREN_PER_CODE_MAX)?);
    }
    Ok(closed)
}

/// Moves value between two accounts, after checking every bound; the only way value moves.
pub fn post(tx: &mut (impl LedgerTx + ?Sized), transfer: Transfer) -> Result<(), OpError> {
    assert_ne!(
        transfer.debit, transfer.credit,
        "a transfer moves value between two different accounts"
    );
    let units = transfer.amount.units();
    let debit = tx.account(&transfer.debit)?.ok_or(OpError::NotFound("account"))?;
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
        .ok_or_else(|| OpError::LimitExceeded("issuance limit reached".into()))?;
    let credit_after = credit
        .balance_units
        .checked_add(units)
        .ok_or_else(|| OpError::LimitExceeded("balance limit reached".into()))?;
    if matches!(transfer.debit, AccountKey::Code(_)) && debit.available_units() < units {
        return Err(OpError::InsufficientFunds);
    }
    if matches!(transfer.credit, AccountKey::Code(_)) && credit_after > BALANCE_UNITS_MAX {
        return Err(OpError::LimitExceeded(format!(
            "a code may hold at most {} units",
            crate::money::format_units(BALANCE_UNITS_MAX)
        )));
    }
    debug_assert!(debit_after >= 0 || matches!(transfer.debit, AccountKey::Issuance(_)));
    Ok(tx.append_transfer(&transfer)?)
}

fn new_transfer(
    now: Timestamp,
    kind: TransferKind,
    debit: AccountKey,
    credit: AccountKey,
    amount: Amount,
    currency: Currency,
) -> Transfer {
    Transfer {
        id: TransferId::generate().to_string(),
        at: now,
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

// ---------------------------------------------------------------------------------------------
// Queries: everything that only reads.

#[derive(Clone, Debug)]
pub enum Query {
    Me {
        holder: CodeHash,
    },
    Children {
        holder: CodeHash,
    },
    /// The holder's descendants, breadth first, at most [`TREE_VIEW_CODES_MAX`].
    Tree {
        holder: CodeHash,
    },
    Transactions {
        holder: CodeHash,
        filter: TransferFilter,
    },
    Report {
        holder: CodeHash,
        grouping: ReportGrouping,
        filter: TransferFilter,
    },
    Public {
        code: PublicCode,
    },
    Receipt {
        id: String,
    },
    LedgerCheck,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Code(CodeView),
    Children(Vec<CodeView>),
    Tree {
        /// Each descendant with the id of its parent, parents before their children.
        nodes: Vec<CodeView>,
        /// The tree had more codes than one view shows.
        truncated: bool,
    },
    Transactions {
        entries: Vec<Entry>,
        next_cursor: Option<i64>,
    },
    Report(Vec<ReportRow>),
    Public(PublicView),
    Receipt(Receipt),
    LedgerCheck {
        ok: bool,
        totals: LedgerTotals,
    },
}

/// One transfer as seen from one code: the amount is signed (negative when value left the code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub transfer: Transfer,
    pub signed_units: i64,
    /// The code on the other side; `None` when it is the broker (issue, deposit).
    pub counterparty_id: Option<CodeId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicView {
    pub record: CodeRecord,
    /// From the nearest ancestor up to the depth-1 code; the broker's root is added by the edge.
    pub ancestry: Vec<Ancestor>,
    /// `(payments received, total units)`, only if the owner chose to show statistics.
    pub stats: Option<(u64, i64)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ancestor {
    pub depth: u32,
    pub kind: CodeKind,
    /// `None` when the ancestor has no public profile.
    pub profile: Option<Profile>,
}

pub fn query(tx: &mut (impl LedgerRead + ?Sized), now: Timestamp, query: &Query) -> Result<QueryOutcome, OpError> {
    match query {
        Query::Me { holder } => {
            let record = present(tx, holder)?;
            Ok(QueryOutcome::Code(view(tx, now, record)?))
        }
        Query::Children { holder } => {
            let record = present(tx, holder)?;
            let children = tx.children(&record.id, CHILDREN_PER_CODE_MAX)?;
            let views = children
                .into_iter()
                .map(|child| view(tx, now, child))
                .collect::<Result<_, _>>()?;
            Ok(QueryOutcome::Children(views))
        }
        Query::Tree { holder } => {
            let record = present(tx, holder)?;
            tree(tx, now, &record)
        }
        Query::Transactions { holder, filter } => {
            let record = present(tx, holder)?;
            let account = AccountKey::Code(record.id.clone());
            let rows = tx.transfers_of(&account, filter)?;
            let next_cursor = if rows.len() as u32 == filter.limit {
                rows.last().map(|(sequence, _)| *sequence)
            } else {
                None
            };
            let entries = rows
                .into_iter()
                .map(|(_, transfer)| entry_for(&account, transfer))
                .collect();
            Ok(QueryOutcome::Transactions { entries, next_cursor })
        }
        Query::Report {
            holder,
            grouping,
            filter,
        } => {
            let record = present(tx, holder)?;
            Ok(QueryOutcome::Report(tx.report(
                &AccountKey::Code(record.id),
                *grouping,
                filter,
            )?))
        }
        Query::Public { code } => public_view(tx, now, code).map(QueryOutcome::Public),
        Query::Receipt { id } => receipt(tx, id).map(QueryOutcome::Receipt),
        Query::LedgerCheck => {
            let totals = tx.ledger_totals()?;
            let ok = totals.negative_balances == 0
                && totals.mismatched_accounts == 0
                && totals
                    .currencies
                    .iter()
                    .all(|c| c.sum_units == 0 && c.held_by_codes_units == c.issued_units);
            Ok(QueryOutcome::LedgerCheck { ok, totals })
        }
    }
}

fn tree(tx: &mut (impl LedgerRead + ?Sized), now: Timestamp, root: &CodeRecord) -> Result<QueryOutcome, OpError> {
    let mut nodes = Vec::new();
    let mut pending = std::collections::VecDeque::from([root.id.clone()]);
    let mut truncated = false;
    while let Some(parent) = pending.pop_front() {
        for child in tx.children(&parent, CHILDREN_PER_CODE_MAX)? {
            if nodes.len() == TREE_VIEW_CODES_MAX {
                truncated = true;
                break;
            }
            pending.push_back(child.id.clone());
            nodes.push(view(tx, now, child)?);
        }
        if truncated {
            break;
        }
    }
    Ok(QueryOutcome::Tree { nodes, truncated })
}

fn entry_for(account: &AccountKey, transfer: Transfer) -> Entry {
    let outgoing = &transfer.debit == account;
    let (signed_units, other) = if outgoing {
        (-transfer.amount.units(), &transfer.credit)
    } else {
        (transfer.amount.units(), &transfer.debit)
    };
    let counterparty_id = other.code_id().cloned();
    Entry {
        transfer,
        signed_units,
        counterparty_id,
    }
}

fn public_view(tx: &mut (impl LedgerRead + ?Sized), now: Timestamp, code: &PublicCode) -> Result<PublicView, OpError> {
    let record = tx.code_by_public(code)?.ok_or(OpError::NotFound("public code"))?;
    if record.status_at(now) == CodeStatus::Cancelled {
        return Err(OpError::NotFound("public code"));
    }
    let mut ancestry = Vec::new();
    let mut next = record.parent_id.clone();
    while let Some(id) = next {
        let ancestor = tx.code_by_id(&id)?.ok_or(OpError::NotFound("ancestor"))?;
        let profile = (!ancestor.profile.is_empty()).then(|| ancestor.profile.clone());
        ancestry.push(Ancestor {
            depth: ancestor.depth,
            kind: ancestor.kind,
            profile,
        });
        next = ancestor.parent_id;
        assert!(
            ancestry.len() <= TREE_DEPTH_MAX as usize + 1,
            "the code tree has no cycles"
        );
    }
    let stats = if record.profile.show_stats {
        Some(tx.public_code_stats(&record.id)?)
    } else {
        None
    };
    Ok(PublicView {
        record,
        ancestry,
        stats,
    })
}

fn receipt(tx: &mut (impl LedgerRead + ?Sized), id: &str) -> Result<Receipt, OpError> {
    let transfer = tx
        .transfer_by_id(id)?
        .filter(|t| t.kind == TransferKind::Payment)
        .ok_or(OpError::NotFound("receipt"))?;
    let payee_id = transfer.public_code_id.clone().ok_or(OpError::NotFound("receipt"))?;
    let payee = tx
        .code_by_id(&payee_id)?
        .and_then(|r| r.public_code)
        .ok_or(OpError::NotFound("receipt"))?;
    let payer_id = transfer.debit.code_id().cloned().ok_or(OpError::NotFound("receipt"))?;
    Ok(Receipt {
        id: transfer.id,
        payer_id,
        payee,
        payee_id,
        amount: transfer.amount,
        currency: transfer.currency,
        memo: transfer.memo,
        category: transfer.category,
        item: transfer.item,
        created_at: transfer.at,
    })
}

// ---------------------------------------------------------------------------------------------
// Shared rules.

/// Finds the code a secret presents, unless it is unknown or cancelled (which look the same).
fn present(tx: &mut (impl LedgerRead + ?Sized), hash: &CodeHash) -> Result<CodeRecord, OpError> {
    let record = tx.code_by_hash(hash)?.ok_or(OpError::InvalidCode)?;
    if record.status == CodeStatus::Cancelled {
        return Err(OpError::InvalidCode);
    }
    Ok(record)
}

/// Like [`present`], for a change or a payment: the code must be usable now (not expired, not
/// locked) and, if it has a PIN, the PIN must have been verified against its current hash.
fn authenticate(
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
            return Err(OpError::Conflict(
                "this code has no PIN: send the request without one".into(),
            ));
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

fn require_active(record: &CodeRecord, now: Timestamp) -> Result<(), OpError> {
    match record.status_at(now) {
        CodeStatus::Active => Ok(()),
        CodeStatus::Expired => Err(OpError::Expired),
        CodeStatus::Cancelled => Err(OpError::InvalidCode),
    }
}

/// Finds `id` below `ancestor` in the tree; anything else (or unknown) is not found.
fn descendant(tx: &mut (impl LedgerRead + ?Sized), ancestor: &CodeRecord, id: &CodeId) -> Result<CodeRecord, OpError> {
    descendant_line(tx, ancestor, id).map(|(record, _)| record)
}

/// The code `id` if it is a descendant of `ancestor`, and whether it or a code between them is
/// irrevocable: what lies below an irrevocable code is its holder's for good, and no code above it
/// may cancel any of it.
fn descendant_line(
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

fn check_room_for_child(tx: &mut (impl LedgerRead + ?Sized), parent: &CodeRecord) -> Result<(), OpError> {
    if parent.depth >= TREE_DEPTH_MAX {
        return Err(OpError::LimitExceeded(format!(
            "a code tree is at most {TREE_DEPTH_MAX} generations deep"
        )));
    }
    if tx.child_count(&parent.id)? >= CHILDREN_PER_CODE_MAX {
        return Err(OpError::LimitExceeded(format!(
            "a code may have at most {CHILDREN_PER_CODE_MAX} children"
        )));
    }
    Ok(())
}

fn check_expiry(now: Timestamp, at: Timestamp) -> Result<Timestamp, OpError> {
    if at <= now {
        return Err(OpError::Conflict("expiry must be in the future".into()));
    }
    let latest = now
        .plus_seconds(EXPIRY_SECONDS_MAX)
        .expect("ten years from now is representable");
    if at > latest {
        return Err(OpError::Conflict(format!(
            "expiry may be at most {EXPIRY_SECONDS_MAX} seconds away"
        )));
    }
    Ok(at)
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Refuses text longer than `chars_max` characters, or holding control characters.
pub fn check_text(field: &str, text: Option<&str>, chars_max: usize) -> Result<(), OpError> {
    let Some(text) = text else { return Ok(()) };
    if text.chars().count() > chars_max {
        return Err(OpError::LimitExceeded(format!(
            "{field} is longer than {chars_max} characters"
        )));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(OpError::InvalidRequest(format!("{field} holds control characters")));
    }
    Ok(())
}

fn check_profile(profile: &Profile) -> Result<(), OpError> {
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
            return Err(OpError::InvalidRequest(
                "profile url must be an http:// or https:// address".into(),
            ));
        }
    }
    Ok(())
}

fn view(tx: &mut (impl LedgerRead + ?Sized), now: Timestamp, record: CodeRecord) -> Result<CodeView, OpError> {
    let account = match record.kind {
        CodeKind::Secret => Some(
            tx.account(&AccountKey::Code(record.id.clone()))?
                .ok_or(OpError::NotFound("account"))?,
        ),
        CodeKind::Public => None,
    };
    let children = tx.child_count(&record.id)?;
    let usage_left = crate::controls::usage_left(tx, now, &record)?;
    Ok(CodeView {
        status: record.status_at(now),
        record,
        account,
        children,
        usage_left,
    })
}

//! What the writer remembers of codes, accounts, public-code totals and pending holds, and the only ways to change
//! it: [`Memory::saw_code`] and its kin record what was read from SQLite, as SQLite has it; a
//! command's own writes reach memory only through a [`Writes`] (which `Cached::write` hands out
//! once SQLite took the write), and every entry a `Writes` changes is recorded as the running
//! command's, so that [`Memory::forget_command`] can forget all of it. The fields are private to
//! this module: nothing else can change memory without that record.

// The keys are ids, hashes and public codes the broker made itself (a code hash is an HMAC under
// the broker's key), never text a client chose, so a fast hash without flooding resistance is safe.
use rustc_hash::FxHashMap as HashMap;

use smartcode_core::code::{CodeHash, CodeId, HoldId, PublicCode};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::limits::{CACHE_ACCOUNTS_MAX, CACHE_CODES_MAX, CACHE_HOLDS_MAX};
use smartcode_core::model::*;

use crate::sqlite::AccountRow;

struct CachedCode {
    record: CodeRecord,
    /// The hash of a secret code, when the writer has seen it (a code read by id comes without).
    hash: Option<CodeHash>,
}

/// An account as memory holds it.
#[derive(Clone, Copy)]
pub struct CachedAccount {
    pub state: AccountState,
    /// Where its row is and which transfer ends its chain (row ids of `accounts` are stable: the
    /// store is never vacuumed, and the migration that rebuilt the table kept them).
    pub row: AccountRow,
    /// Memory holds a balance and chain end SQLite does not have yet.
    unwritten: bool,
    /// ...and a `held` too (a payment's flush writes no `held`, so its statement stays as small).
    held_unwritten: bool,
}

/// A public code's payment totals.
#[derive(Clone, Copy)]
pub struct CachedTotals {
    /// Where its row is; `None` until the code's first payment is written.
    pub rowid: Option<i64>,
    pub payments: i64,
    pub units: i64,
    /// Memory holds totals SQLite does not have yet.
    unwritten: bool,
}

/// What the writer remembers between batches.
#[derive(Default)]
pub struct Memory {
    codes: HashMap<CodeId, CachedCode>,
    by_hash: HashMap<CodeHash, CodeId>,
    by_public: HashMap<PublicCode, CodeId>,
    accounts: HashMap<AccountKey, CachedAccount>,
    /// Codes and accounts written by the current command, to forget if it is rolled back.
    written_codes: Vec<CodeId>,
    written_accounts: Vec<AccountKey>,
    /// The current command sent SQLite a write (even one that failed).
    wrote: bool,
    /// Accounts whose balance SQLite does not have yet, in the order they changed.
    unwritten_accounts: Vec<AccountKey>,
    /// Public codes' payment totals, and those written by the current command and not yet to SQLite.
    public_totals: HashMap<CodeId, CachedTotals>,
    written_totals: Vec<CodeId>,
    unwritten_totals: Vec<CodeId>,
    /// Pending holds as SQLite has them (their rows are written at once, so nothing is unwritten):
    /// a capture or a void finds its hold here. A hold leaves when it is resolved.
    holds: HashMap<HoldId, HoldRecord>,
    /// Codes whose every pending hold is in `holds`, with their ids: a code's pending holds (the
    /// limit of a new hold, the release of expired ones before a payment) are read here and not
    /// from SQLite. A code enters once SQLite answered all its pending holds.
    pending_of: HashMap<CodeId, Vec<HoldId>>,
    /// Holds written by the current command and their payers, to forget if it is rolled back.
    written_holds: Vec<(HoldId, CodeId)>,
    /// Each owner's live webhook subscriptions as SQLite has them, so a payment to a subscribed
    /// seller reads them from here. Not filled while a command that changed one runs.
    webhooks: HashMap<CodeId, Vec<smartcode_core::webhook::WebhookRecord>>,
    /// The current command changed a subscription: memory learns no subscriptions until it ends,
    /// and forgets them all if it is rolled back.
    wrote_webhooks: bool,
    /// Why the batch must not commit: a flush failed, or a savepoint could not be rolled back or
    /// released, so the transaction no longer holds what memory and the answers say.
    lost: Option<StorageFailure>,
}

impl Memory {
    // -----------------------------------------------------------------------------------------
    // Reads.

    /// The code `hash` names, if memory holds it under that hash (a rekey leaves the old hash
    /// pointing at the code; the code's own hash says which is current).
    pub fn code_by_hash(&self, hash: &CodeHash) -> Option<&CodeRecord> {
        let cached = self.by_hash.get(hash).and_then(|id| self.codes.get(id))?;
        (cached.hash.as_ref() == Some(hash)).then_some(&cached.record)
    }

    pub fn code(&self, id: &CodeId) -> Option<&CodeRecord> {
        self.codes.get(id).map(|cached| &cached.record)
    }

    pub fn code_by_public(&self, code: &PublicCode) -> Option<&CodeRecord> {
        self.by_public.get(code).and_then(|id| self.code(id))
    }

    pub fn account(&self, key: &AccountKey) -> Option<CachedAccount> {
        self.accounts.get(key).copied()
    }

    pub fn totals(&self, public_code: &CodeId) -> Option<CachedTotals> {
        self.public_totals.get(public_code).copied()
    }

    pub fn hold(&self, id: &HoldId) -> Option<&HoldRecord> {
        self.holds.get(id)
    }

    /// Every pending hold of `code`, oldest first, if memory knows them all.
    pub fn pending_of(&self, code: &CodeId) -> Option<Vec<HoldRecord>> {
        let ids = self.pending_of.get(code)?;
        let mut holds: Vec<HoldRecord> = ids.iter().filter_map(|id| self.holds.get(id).cloned()).collect();
        if holds.len() != ids.len() {
            return None;
        }
        holds.sort_by(|a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())));
        Some(holds)
    }

    pub fn webhooks_of(&self, owner: &CodeId) -> Option<&Vec<smartcode_core::webhook::WebhookRecord>> {
        self.webhooks.get(owner)
    }

    // -----------------------------------------------------------------------------------------
    // What was read from SQLite, remembered as SQLite holds it.

    /// An owner's live subscriptions as SQLite answered them (unless the running command changed
    /// one: then SQLite holds what a rollback may take back).
    pub fn saw_webhooks(&mut self, owner: &CodeId, webhooks: &[smartcode_core::webhook::WebhookRecord]) {
        if !self.wrote_webhooks {
            self.webhooks.insert(owner.clone(), webhooks.to_vec());
        }
    }

    pub fn saw_code(&mut self, record: CodeRecord, hash: Option<CodeHash>) {
        if let Some(hash) = hash {
            self.by_hash.insert(hash, record.id.clone());
        }
        if let Some(public) = &record.public_code {
            self.by_public.insert(public.clone(), record.id.clone());
        }
        let hash = hash.or_else(|| self.codes.get(&record.id).and_then(|cached| cached.hash));
        self.codes.insert(record.id.clone(), CachedCode { record, hash });
    }

    pub fn saw_account(&mut self, key: &AccountKey, state: AccountState, row: AccountRow) -> CachedAccount {
        let account = CachedAccount {
            state,
            row,
            unwritten: false,
            held_unwritten: false,
        };
        self.accounts.insert(key.clone(), account);
        account
    }

    pub fn saw_totals(&mut self, public_code: &CodeId, rowid: Option<i64>, payments: i64, units: i64) -> CachedTotals {
        let totals = CachedTotals {
            rowid,
            payments,
            units,
            unwritten: false,
        };
        self.public_totals.insert(public_code.clone(), totals);
        totals
    }

    /// A hold read from SQLite: remembered if it is pending (a resolved hold never changes again).
    pub fn saw_hold(&mut self, record: &HoldRecord) {
        if record.state == HoldState::Pending {
            self.holds.insert(record.id.clone(), record.clone());
        }
    }

    /// All the pending holds of `code`, as SQLite answered them (fewer than were asked for, so
    /// none is missing): remembered, and the code's list of them with them.
    pub fn saw_pending_of(&mut self, code: &CodeId, records: &[HoldRecord]) {
        for record in records {
            self.saw_hold(record);
        }
        let ids = records.iter().map(|r| r.id.clone()).collect();
        self.pending_of.insert(code.clone(), ids);
    }

    // -----------------------------------------------------------------------------------------
    // Commands.

    /// A command begins: what it writes is recorded from here on.
    pub fn begin_command(&mut self) {
        self.written_codes.clear();
        self.written_accounts.clear();
        self.written_totals.clear();
        self.written_holds.clear();
        self.wrote_webhooks = false;
        self.wrote = false;
    }

    /// The current command is about to send SQLite a write.
    pub fn writing(&mut self) {
        self.wrote = true;
    }

    pub fn command_wrote(&self) -> bool {
        self.wrote
    }

    /// The handle through which the current command's writes change memory.
    pub fn writes(&mut self) -> Writes<'_> {
        Writes { memory: self }
    }

    /// The command was rolled back to its savepoint: forget what it wrote, so memory again agrees
    /// with SQLite. The writer flushed before the savepoint, so whatever is unwritten is the
    /// command's own and goes too.
    pub fn forget_command(&mut self) {
        self.unwritten_accounts.clear();
        self.unwritten_totals.clear();
        for code in std::mem::take(&mut self.written_totals) {
            self.public_totals.remove(&code);
        }
        for id in std::mem::take(&mut self.written_codes) {
            self.forget_code(&id);
        }
        for key in std::mem::take(&mut self.written_accounts) {
            self.accounts.remove(&key);
        }
        for (id, payer) in std::mem::take(&mut self.written_holds) {
            self.holds.remove(&id);
            self.pending_of.remove(&payer);
        }
        if std::mem::take(&mut self.wrote_webhooks) {
            self.webhooks.clear();
        }
    }

    fn forget_code(&mut self, id: &CodeId) {
        if let Some(cached) = self.codes.remove(id) {
            if let Some(hash) = cached.hash {
                self.by_hash.remove(&hash);
            }
            if let Some(public) = cached.record.public_code {
                self.by_public.remove(&public);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Batches.

    /// Writes what memory holds and SQLite does not yet: `account` gets each changed account's
    /// row and balance once, with its held if that changed (together, so the row never breaks
    /// `held <= balance`); `totals` each changed public code's totals once, with their row if
    /// they have one, and answers where their row is.
    pub fn flush_with(
        &mut self,
        mut account: impl FnMut(AccountRow, i64, Option<i64>) -> StoreResult<()>,
        mut totals: impl FnMut(&CodeId, Option<i64>, i64, i64) -> StoreResult<i64>,
    ) -> StoreResult<()> {
        if let Some(error) = &self.lost {
            return Err(error.clone());
        }
        for key in std::mem::take(&mut self.unwritten_accounts) {
            if let Some(cached) = self.accounts.get_mut(&key).filter(|cached| cached.unwritten) {
                let held = cached.held_unwritten.then_some(cached.state.held_units);
                account(cached.row, cached.state.balance_units, held)?;
                cached.unwritten = false;
                cached.held_unwritten = false;
            }
        }
        for code in std::mem::take(&mut self.unwritten_totals) {
            if let Some(cached) = self.public_totals.get_mut(&code).filter(|cached| cached.unwritten) {
                cached.rowid = Some(totals(&code, cached.rowid, cached.payments, cached.units)?);
                cached.unwritten = false;
            }
        }
        Ok(())
    }

    /// The batch's transaction no longer holds what memory and the answers say. The first reason
    /// is kept.
    pub fn lose_batch(&mut self, why: StorageFailure) {
        self.lost.get_or_insert(why);
    }

    pub fn batch_lost(&self) -> Option<&StorageFailure> {
        self.lost.as_ref()
    }

    /// Whether memory holds more than its bounds.
    pub fn too_large(&self) -> bool {
        self.codes.len() > CACHE_CODES_MAX
            || self.accounts.len() > CACHE_ACCOUNTS_MAX
            || self.public_totals.len() > CACHE_ACCOUNTS_MAX
            || self.holds.len() > CACHE_HOLDS_MAX
            || self.pending_of.len() > CACHE_CODES_MAX
            || self.webhooks.len() > CACHE_CODES_MAX
    }
}

/// The running command's writes, as they reach memory after SQLite took them. Each method records
/// what it changes as the command's, so that a rollback forgets it.
pub struct Writes<'m> {
    memory: &'m mut Memory,
}

impl Writes<'_> {
    /// A subscription of `owner` was written: its owner's list is read again when next needed.
    pub fn wrote_webhook(&mut self, owner: &CodeId) {
        self.memory.wrote_webhooks = true;
        self.memory.webhooks.remove(owner);
    }

    pub fn inserted_code(&mut self, record: &CodeRecord, hash: Option<CodeHash>) {
        self.memory.written_codes.push(record.id.clone());
        self.memory.saw_code(record.clone(), hash);
    }

    /// Applies `change` to the remembered record of `id`; a code not in memory stays out (it is
    /// read from SQLite when needed).
    pub fn changed_code(&mut self, id: &CodeId, change: impl FnOnce(&mut CodeRecord)) {
        self.memory.written_codes.push(id.clone());
        if let Some(cached) = self.memory.codes.get_mut(id) {
            change(&mut cached.record);
        }
    }

    /// A hold was inserted or changed to `record`: remembered while it is pending, forgotten once
    /// it is resolved.
    pub fn wrote_hold(&mut self, record: &HoldRecord) {
        let memory = &mut *self.memory;
        memory.written_holds.push((record.id.clone(), record.payer_id.clone()));
        let pending = memory.pending_of.get_mut(&record.payer_id);
        if record.state == HoldState::Pending {
            memory.holds.insert(record.id.clone(), record.clone());
            if let Some(ids) = pending.filter(|ids| !ids.contains(&record.id)) {
                ids.push(record.id.clone());
            }
        } else {
            memory.holds.remove(&record.id);
            if let Some(ids) = pending {
                ids.retain(|id| id != &record.id);
            }
        }
    }

    /// Codes changed in SQLite beyond what memory can follow (a lineage marked down a tree): every
    /// code is forgotten, to be read again.
    pub fn forgot_codes(&mut self) {
        let memory = &mut *self.memory;
        memory.codes.clear();
        memory.by_hash.clear();
        memory.by_public.clear();
    }

    /// The code `id` is now found by `hash` only.
    pub fn rekeyed(&mut self, id: &CodeId, hash: CodeHash) {
        self.memory.written_codes.push(id.clone());
        if let Some(cached) = self.memory.codes.get_mut(id) {
            cached.hash = Some(hash);
        }
        self.memory.by_hash.insert(hash, id.clone());
    }

    /// An account was opened, or was open already and kept its balance, so what memory holds of it
    /// stays true; one not in memory is read when needed.
    pub fn opened_account(&mut self, key: &AccountKey) {
        self.memory.written_accounts.push(key.clone());
    }

    /// What `key` (which memory holds: it was read first) holds aside is now `held_units`. SQLite
    /// has it after the next flush, with the balance.
    pub fn held(&mut self, key: &AccountKey, held_units: i64) {
        self.memory.written_accounts.push(key.clone());
        let account = self
            .memory
            .accounts
            .get_mut(key)
            .expect("a hold's account was read first");
        account.state.held_units = held_units;
        account.held_unwritten = true;
        if !account.unwritten {
            account.unwritten = true;
            self.memory.unwritten_accounts.push(key.clone());
        }
    }

    /// A transfer moved an account (which memory holds: it was read to check the transfer) to
    /// `balance_units`, and transfer `seq` now ends its chain. SQLite has it after the next flush.
    pub fn moved(&mut self, key: &AccountKey, balance_units: i64, seq: i64) {
        self.memory.written_accounts.push(key.clone());
        let account = self
            .memory
            .accounts
            .get_mut(key)
            .expect("a transfer's accounts were read first");
        account.state.balance_units = balance_units;
        account.row.last_seq = Some(seq);
        if !account.unwritten {
            account.unwritten = true;
            self.memory.unwritten_accounts.push(key.clone());
        }
    }

    /// A payment through `public_code` (whose totals memory holds: they were read first) brought its
    /// totals to `payments` and `units`. SQLite has them after the next flush.
    pub fn counted(&mut self, public_code: &CodeId, payments: i64, units: i64) {
        self.memory.written_totals.push(public_code.clone());
        let totals = (self.memory.public_totals.get_mut(public_code)).expect("a payment's totals were read first");
        totals.payments = payments;
        totals.units = units;
        if !totals.unwritten {
            totals.unwritten = true;
            self.memory.unwritten_totals.push(public_code.clone());
        }
    }
}

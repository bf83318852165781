//! The embedded writer's memory of codes and accounts, so that a payment reads nothing from SQLite.
//!
//! The writer is the only one that ever changes the embedded store, so what it wrote is what the
//! database holds: [`Cached`] answers the core's lookups of codes (by hash, id or public code) and
//! balances from memory and writes every change to SQLite *and* to memory. The other reads
//! (children, history, expiries) go to SQLite.
//!
//! Every write goes through one function, `Cached::write`: it marks the command as having written,
//! sends SQLite the write, and only if SQLite took it lets the change into memory, through a
//! [`memory::Writes`] that records each entry it changes as the command's. So a refused command
//! never leaves part of its writes in memory: what SQLite refused never got there, and what it
//! took is forgotten with the command.
//!
//! Balances and public-code totals are the exception: a transfer is inserted at once, but the
//! new balances of its two accounts and the payee's totals stay in memory until
//! [`WriterCache::flush`] writes each changed account and total once. The writer flushes before it
//! commits, before and after a savepoint, and before any read of accounts, history or totals goes
//! to SQLite, so SQLite is behind memory only where nobody looks. A busy payee's account is then
//! written once per batch instead of once per payment.
//!
//! Two moments make memory and database differ, and both forget instead of repair: a command that
//! fails is rolled back to its savepoint, so the entries it wrote are dropped ([`WriterCache::forget_command`]);
//! a flush or commit that fails drops everything ([`WriterCache::clear`]). A dropped entry is read again
//! from SQLite the next time it is needed.
//!
//! Not for the PostgreSQL store: there other processes write too, and only the database knows.

mod ledger;
mod memory;

use smartcode_core::code::CodeId;
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::model::AccountKey;

use self::memory::{CachedAccount, CachedTotals, Memory, Writes};
use crate::sqlite::{self, HotStatements, SqliteLedger};

/// The writer's memory and the statements it writes payments with.
pub struct WriterCache<'c> {
    statements: HotStatements<'c>,
    memory: Memory,
}

impl<'c> WriterCache<'c> {
    pub fn new(statements: HotStatements<'c>) -> WriterCache<'c> {
        WriterCache {
            statements,
            memory: Memory::default(),
        }
    }

    /// Forgets everything remembered (the statements stay).
    pub fn clear(&mut self) {
        self.memory = Memory::default();
    }

    /// A command begins: what it writes is recorded from here on.
    pub fn begin_command(&mut self) {
        self.memory.begin_command();
    }

    /// Whether the current command sent SQLite any write: if it then failed, only rolling back
    /// undoes what it left.
    pub fn command_wrote(&self) -> bool {
        self.memory.command_wrote()
    }

    /// Writes what memory holds and SQLite does not yet: each changed balance once, each public
    /// code's new payments once. A failure also loses the batch (see [`WriterCache::lose_batch`]).
    pub fn flush(&mut self, ledger: &SqliteLedger<'_>) -> StoreResult<()> {
        let hot = &mut self.statements;
        let result = self.memory.flush_with(
            |row, balance, held| {
                let statements = (&mut hot.write_account, &mut hot.write_account_held);
                sqlite::write_account(statements, row.rowid, (balance, held), row.last_seq)
            },
            |code, rowid, payments, units| match rowid {
                Some(rowid) => {
                    sqlite::write_public_totals(&mut hot.write_public_totals, rowid, payments, units).map(|()| rowid)
                }
                // A public code's first payment ever: rare, so no statement of its own is kept.
                None => ledger.insert_public_totals(code, payments, units),
            },
        );
        if let Err(error) = &result {
            self.lose_batch(error.clone());
        }
        result
    }

    /// The batch's transaction no longer holds what memory and the answers say: it must not
    /// commit, and no command of it happens. The first reason is kept.
    pub fn lose_batch(&mut self, why: StorageFailure) {
        self.memory.lose_batch(why);
    }

    /// Why the batch must not commit, if it must not.
    pub fn batch_lost(&self) -> Option<&StorageFailure> {
        self.memory.batch_lost()
    }

    /// The command was rolled back to its savepoint: forget what it wrote (see
    /// [`memory::Memory::forget_command`]).
    pub fn forget_command(&mut self) {
        self.memory.forget_command();
    }

    /// Forgets everything once it holds more than its bounds; called between batches.
    pub fn trim(&mut self) {
        if self.memory.too_large() {
            self.clear();
        }
    }
}

/// The core's store traits over `inner`, answered from and written through to `cache`.
pub struct Cached<'a, 'c, 's> {
    pub inner: SqliteLedger<'c>,
    pub cache: &'a mut WriterCache<'s>,
}

impl Cached<'_, '_, '_> {
    /// The one way a command writes. The command is marked as having written (even if SQLite
    /// refuses: a refused statement may leave the transaction changed, see
    /// [`WriterCache::command_wrote`]); `sqlite` sends the write, with the writer's prepared
    /// statements at hand; and only if SQLite took it does `remember` change memory, through a
    /// [`Writes`] that records every entry it changes as the command's.
    fn write<T>(
        &mut self,
        sqlite: impl FnOnce(&mut SqliteLedger<'_>, &mut HotStatements<'_>) -> StoreResult<T>,
        remember: impl FnOnce(&mut Writes<'_>, &T),
    ) -> StoreResult<T> {
        self.cache.memory.writing();
        let written = sqlite(&mut self.inner, &mut self.cache.statements)?;
        remember(&mut self.cache.memory.writes(), &written);
        Ok(written)
    }

    /// A public code's totals as memory holds them, read from SQLite first if they are not there.
    fn cached_totals(&mut self, public_code: &CodeId) -> StoreResult<CachedTotals> {
        if let Some(totals) = self.cache.memory.totals(public_code) {
            return Ok(totals);
        }
        let (rowid, payments, units) = match self.inner.public_totals_row(public_code)? {
            Some((rowid, payments, units)) => (Some(rowid), payments, units),
            None => (None, 0, 0),
        };
        Ok(self.cache.memory.saw_totals(public_code, rowid, payments, units))
    }

    /// The account of `key` as memory holds it, read from SQLite first if it is not there.
    fn cached_account(&mut self, key: &AccountKey) -> StoreResult<Option<CachedAccount>> {
        if let Some(account) = self.cache.memory.account(key) {
            return Ok(Some(account));
        }
        let found = self.inner.account_row(key)?;
        Ok(found.map(|(state, row)| self.cache.memory.saw_account(key, state, row)))
    }
}

#[cfg(test)]
mod tests;

//! The embedded writer's memory of codes and accounts, so that a payment reads nothing from SQLite.
//!
//! The writer is the only one that ever changes the embedded store, so what it wrote is what the
//! database holds: [`Cached`] answers the core's lookups of codes (by hash, id or public code) and
//! balances from memory and writes every change to SQLite *and* to memory. The other reads
//! (children, history, expiries) go to SQLite.
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

// The keys are ids, hashes and public codes the broker made itself (a code hash is an HMAC under
// the broker's key), never text a client chose, so a fast hash without flooding resistance is safe.
use rustc_hash::FxHashMap as HashMap;

use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeHash, CodeId, PublicCode};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::ledger::{LedgerRead, LedgerTx, Posted, TransferFilter};
pub use smartcode_core::limits::{CACHE_ACCOUNTS_MAX, CACHE_CODES_MAX};
use smartcode_core::model::*;
use smartcode_core::money::Currency;

use crate::sqlite::{self, AccountRow, HotStatements, SqliteLedger};

struct CachedCode {
    record: CodeRecord,
    /// The hash of a secret code, when the writer has seen it (a code read by id comes without).
    hash: Option<CodeHash>,
}

#[derive(Clone, Copy)]
struct CachedAccount {
    state: AccountState,
    /// Where its row is and which transfer ends its chain (row ids of `accounts` are stable: the
    /// store is never vacuumed).
    row: AccountRow,
    /// Memory holds a balance and chain end SQLite does not have yet.
    unwritten: bool,
}

/// A public code's payment totals.
#[derive(Clone, Copy)]
struct CachedTotals {
    /// Where its row is; `None` until the code's first payment is written.
    rowid: Option<i64>,
    payments: i64,
    units: i64,
    /// Memory holds totals SQLite does not have yet.
    unwritten: bool,
}

/// What the writer remembers between batches.
#[derive(Default)]
struct Memory {
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
    /// Why the batch must not commit: a flush failed, or a savepoint could not be rolled back or
    /// released, so the transaction no longer holds what memory and the answers say.
    lost: Option<StorageFailure>,
}

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
        self.memory.written_codes.clear();
        self.memory.written_accounts.clear();
        self.memory.written_totals.clear();
        self.memory.wrote = false;
    }

    /// The current command is about to write to SQLite (through [`Cached`] or beside it).
    pub fn writing(&mut self) {
        self.memory.wrote = true;
    }

    /// Whether the current command sent SQLite any write: if it then failed, only rolling back
    /// undoes what it left.
    pub fn command_wrote(&self) -> bool {
        self.memory.wrote
    }

    /// Writes what memory holds and SQLite does not yet: each changed balance once, each public
    /// code's new payments once. A failure also loses the batch (see [`WriterCache::lose_batch`]).
    pub fn flush(&mut self, ledger: &SqliteLedger<'_>) -> StoreResult<()> {
        let result = self.write_unwritten(ledger);
        if let Err(error) = &result {
            self.lose_batch(error.clone());
        }
        result
    }

    /// The batch's transaction no longer holds what memory and the answers say: it must not
    /// commit, and no command of it happens. The first reason is kept.
    pub fn lose_batch(&mut self, why: StorageFailure) {
        self.memory.lost.get_or_insert(why);
    }

    /// Why the batch must not commit, if it must not.
    pub fn batch_lost(&self) -> Option<&StorageFailure> {
        self.memory.lost.as_ref()
    }

    fn write_unwritten(&mut self, ledger: &SqliteLedger<'_>) -> StoreResult<()> {
        let (memory, hot) = (&mut self.memory, &mut self.statements);
        if let Some(error) = &memory.lost {
            return Err(error.clone());
        }
        for key in std::mem::take(&mut memory.unwritten_accounts) {
            if let Some(account) = memory.accounts.get_mut(&key).filter(|account| account.unwritten) {
                let (balance, last_seq) = (account.state.balance_units, account.row.last_seq);
                sqlite::write_account(&mut hot.write_account, account.row.rowid, balance, last_seq)?;
                account.unwritten = false;
            }
        }
        for code in std::mem::take(&mut memory.unwritten_totals) {
            let Some(totals) = memory.public_totals.get_mut(&code).filter(|totals| totals.unwritten) else {
                continue;
            };
            match totals.rowid {
                Some(rowid) => {
                    sqlite::write_public_totals(&mut hot.write_public_totals, rowid, totals.payments, totals.units)?
                }
                // A public code's first payment ever: rare, so no statement of its own is kept.
                None => totals.rowid = Some(ledger.insert_public_totals(&code, totals.payments, totals.units)?),
            }
            totals.unwritten = false;
        }
        Ok(())
    }

    /// The command was rolled back to its savepoint: forget what it wrote, so memory again agrees
    /// with SQLite. The writer flushed before the savepoint, so whatever is unwritten is the
    /// command's own and goes too.
    pub fn forget_command(&mut self) {
        self.memory.unwritten_accounts.clear();
        self.memory.unwritten_totals.clear();
        for code in std::mem::take(&mut self.memory.written_totals) {
            self.memory.public_totals.remove(&code);
        }
        for id in std::mem::take(&mut self.memory.written_codes) {
            self.forget_code(&id);
        }
        for key in std::mem::take(&mut self.memory.written_accounts) {
            self.memory.accounts.remove(&key);
        }
    }

    /// Forgets everything once it holds more than its bounds; called between batches.
    pub fn trim(&mut self) {
        if self.memory.codes.len() > CACHE_CODES_MAX
            || self.memory.accounts.len() > CACHE_ACCOUNTS_MAX
            || self.memory.public_totals.len() > CACHE_ACCOUNTS_MAX
        {
            self.clear();
        }
    }

    fn remember(&mut self, record: CodeRecord, hash: Option<CodeHash>) {
        if let Some(hash) = hash {
            self.memory.by_hash.insert(hash, record.id.clone());
        }
        if let Some(public) = &record.public_code {
            self.memory.by_public.insert(public.clone(), record.id.clone());
        }
        let hash = hash.or_else(|| self.memory.codes.get(&record.id).and_then(|cached| cached.hash));
        self.memory.codes.insert(record.id.clone(), CachedCode { record, hash });
    }

    fn forget_code(&mut self, id: &CodeId) {
        if let Some(cached) = self.memory.codes.remove(id) {
            if let Some(hash) = cached.hash {
                self.memory.by_hash.remove(&hash);
            }
            if let Some(public) = cached.record.public_code {
                self.memory.by_public.remove(&public);
            }
        }
    }
}

/// The core's store traits over `inner`, answered from and written through to `cache`.
pub struct Cached<'a, 'c, 's> {
    pub inner: SqliteLedger<'c>,
    pub cache: &'a mut WriterCache<'s>,
}

impl Cached<'_, '_, '_> {
    /// A public code's totals as memory holds them, read from SQLite first if they are not there.
    fn cached_totals(&mut self, public_code: &CodeId) -> StoreResult<CachedTotals> {
        if let Some(totals) = self.cache.memory.public_totals.get(public_code) {
            return Ok(*totals);
        }
        let (rowid, payments, units) = match self.inner.public_totals_row(public_code)? {
            Some((rowid, payments, units)) => (Some(rowid), payments, units),
            None => (None, 0, 0),
        };
        let totals = CachedTotals {
            rowid,
            payments,
            units,
            unwritten: false,
        };
        self.cache.memory.public_totals.insert(public_code.clone(), totals);
        Ok(totals)
    }

    /// The account of `key` as memory holds it, read from SQLite first if it is not there.
    fn cached_account(&mut self, key: &AccountKey) -> StoreResult<Option<CachedAccount>> {
        if let Some(account) = self.cache.memory.accounts.get(key) {
            return Ok(Some(*account));
        }
        let found = self.inner.account_row(key)?.map(|(state, row)| CachedAccount {
            state,
            row,
            unwritten: false,
        });
        if let Some(account) = found {
            self.cache.memory.accounts.insert(key.clone(), account);
        }
        Ok(found)
    }

    /// Applies `change` to the remembered record of `id` after SQLite took it; a code not in
    /// memory stays out (it is read from SQLite when needed).
    fn change_code(&mut self, id: &CodeId, change: impl FnOnce(&mut CachedCode)) {
        self.cache.memory.written_codes.push(id.clone());
        if let Some(cached) = self.cache.memory.codes.get_mut(id) {
            change(cached);
        }
    }
}

impl LedgerRead for Cached<'_, '_, '_> {
    fn code_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeRecord>> {
        if let Some(cached) = self
            .cache
            .memory
            .by_hash
            .get(hash)
            .and_then(|id| self.cache.memory.codes.get(id))
        {
            // A rekey leaves the old hash pointing at the code; the code's own hash says.
            if cached.hash.as_ref() == Some(hash) {
                return Ok(Some(cached.record.clone()));
            }
        }
        let found = self.inner.code_by_hash(hash)?;
        if let Some(record) = &found {
            self.cache.remember(record.clone(), Some(*hash));
        }
        Ok(found)
    }

    fn code_by_id(&mut self, id: &CodeId) -> StoreResult<Option<CodeRecord>> {
        if let Some(cached) = self.cache.memory.codes.get(id) {
            return Ok(Some(cached.record.clone()));
        }
        let found = self.inner.code_by_id(id)?;
        if let Some(record) = &found {
            self.cache.remember(record.clone(), None);
        }
        Ok(found)
    }

    fn code_by_public(&mut self, code: &PublicCode) -> StoreResult<Option<CodeRecord>> {
        if let Some(cached) = self
            .cache
            .memory
            .by_public
            .get(code)
            .and_then(|id| self.cache.memory.codes.get(id))
        {
            return Ok(Some(cached.record.clone()));
        }
        let found = self.inner.code_by_public(code)?;
        if let Some(record) = &found {
            self.cache.remember(record.clone(), None);
        }
        Ok(found)
    }

    fn account(&mut self, key: &AccountKey) -> StoreResult<Option<AccountState>> {
        Ok(self.cached_account(key)?.map(|account| account.state))
    }

    fn children(&mut self, parent: &CodeId, limit: u32) -> StoreResult<Vec<CodeRecord>> {
        self.inner.children(parent, limit)
    }

    fn child_count(&mut self, parent: &CodeId) -> StoreResult<u32> {
        self.inner.child_count(parent)
    }

    fn transfers_of(&mut self, account: &AccountKey, filter: &TransferFilter) -> StoreResult<Vec<(i64, Transfer)>> {
        self.cache.flush(&self.inner)?;
        self.inner.transfers_of(account, filter)
    }

    fn transfer_by_id(&mut self, id: &str) -> StoreResult<Option<Transfer>> {
        self.inner.transfer_by_id(id)
    }

    fn report(
        &mut self,
        account: &AccountKey,
        grouping: ReportGrouping,
        filter: &TransferFilter,
    ) -> StoreResult<Vec<ReportRow>> {
        self.cache.flush(&self.inner)?;
        self.inner.report(account, grouping, filter)
    }

    fn public_code_stats(&mut self, public_code: &CodeId) -> StoreResult<(u64, i64)> {
        self.cache.flush(&self.inner)?;
        self.inner.public_code_stats(public_code)
    }

    fn ledger_totals(&mut self) -> StoreResult<LedgerTotals> {
        self.cache.flush(&self.inner)?;
        self.inner.ledger_totals()
    }

    fn due_expiries(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<CodeRecord>> {
        self.inner.due_expiries(now, limit)
    }
}

impl LedgerTx for Cached<'_, '_, '_> {
    fn insert_code(&mut self, record: &CodeRecord, hash: Option<&CodeHash>) -> StoreResult<()> {
        self.cache.writing();
        self.inner.insert_code(record, hash)?;
        self.cache.memory.written_codes.push(record.id.clone());
        self.cache.remember(record.clone(), hash.copied());
        Ok(())
    }

    fn open_account(&mut self, key: &AccountKey, currency: Currency) -> StoreResult<()> {
        self.cache.writing();
        self.inner.open_account(key, currency)?;
        // An account already open keeps its balance, so what memory holds of it stays true; one
        // not in memory is read when needed.
        self.cache.memory.written_accounts.push(key.clone());
        Ok(())
    }

    fn append_transfer(&mut self, posted: &Posted) -> StoreResult<()> {
        let transfer = posted.transfer();
        let missing = || StorageFailure(format!("transfer {} names a missing account", transfer.id));
        let debit = self.cached_account(&transfer.debit)?.ok_or_else(missing)?;
        let credit = self.cached_account(&transfer.credit)?.ok_or_else(missing)?;
        let units = transfer.amount.units();
        let overflow = || StorageFailure(format!("transfer {} overflows a balance", transfer.id));
        let debit_after = debit.state.balance_units.checked_sub(units).ok_or_else(overflow)?;
        let credit_after = credit.state.balance_units.checked_add(units).ok_or_else(overflow)?;
        let counted = match &transfer.public_code_id {
            Some(public_code) => Some((public_code, self.cached_totals(public_code)?)),
            None => None,
        };
        let total_units = match counted {
            Some((_, totals)) => totals.units.checked_add(units).ok_or_else(overflow)?,
            None => 0,
        };
        self.cache.writing();
        let (debit_prev, credit_prev) = (debit.row.last_seq, credit.row.last_seq);
        let seq = sqlite::insert_transfer(
            &mut self.cache.statements.insert_transfer,
            transfer,
            debit_prev,
            credit_prev,
        )?;
        for (key, balance) in [(&transfer.debit, debit_after), (&transfer.credit, credit_after)] {
            self.cache.memory.written_accounts.push(key.clone());
            let account = self.cache.memory.accounts.get_mut(key).expect("read just above");
            account.state.balance_units = balance;
            account.row.last_seq = Some(seq);
            if !account.unwritten {
                account.unwritten = true;
                self.cache.memory.unwritten_accounts.push(key.clone());
            }
        }
        if let Some((public_code, mut totals)) = counted {
            totals.payments += 1;
            totals.units = total_units;
            if !totals.unwritten {
                totals.unwritten = true;
                self.cache.memory.unwritten_totals.push(public_code.clone());
            }
            self.cache.memory.written_totals.push(public_code.clone());
            self.cache.memory.public_totals.insert(public_code.clone(), totals);
        }
        Ok(())
    }

    fn set_status(&mut self, id: &CodeId, status: CodeStatus, at: Timestamp) -> StoreResult<()> {
        self.cache.writing();
        self.inner.set_status(id, status, at)?;
        self.change_code(id, |cached| cached.record.status = status);
        Ok(())
    }

    fn set_profile(&mut self, id: &CodeId, profile: &Profile) -> StoreResult<()> {
        self.cache.writing();
        self.inner.set_profile(id, profile)?;
        self.change_code(id, |cached| cached.record.profile = profile.clone());
        Ok(())
    }

    fn set_pin(&mut self, id: &CodeId, pin: &PinState) -> StoreResult<()> {
        self.cache.writing();
        self.inner.set_pin(id, pin)?;
        self.change_code(id, |cached| cached.record.pin = pin.clone());
        Ok(())
    }

    fn set_code_hash(&mut self, id: &CodeId, hash: &CodeHash) -> StoreResult<()> {
        self.cache.writing();
        self.inner.set_code_hash(id, hash)?;
        self.change_code(id, |cached| cached.hash = Some(*hash));
        self.cache.memory.by_hash.insert(*hash, id.clone());
        Ok(())
    }

    fn set_usage(&mut self, id: &CodeId, usage: &Usage) -> StoreResult<()> {
        self.cache.writing();
        self.inner.set_usage(id, usage)?;
        self.change_code(id, |cached| cached.record.usage = *usage);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;
    use smartcode_core::code::{BrokerKey, SecretCode};
    use smartcode_core::ledger::{post, LedgerRead, LedgerTx};

    use super::*;
    use crate::sqlite::SqliteLedger;

    fn database() -> Connection {
        let connection = Connection::open_in_memory().unwrap();
        for (_, sql) in crate::schema::MIGRATIONS {
            connection.execute_batch(sql).unwrap();
        }
        connection
    }

    fn secret_code(currency: Currency) -> CodeRecord {
        let id = CodeId::generate();
        CodeRecord {
            id: id.clone(),
            kind: CodeKind::Secret,
            parent_id: None,
            owner_id: id,
            public_code: None,
            currency,
            label: None,
            profile: Profile::default(),
            status: CodeStatus::Active,
            depth: 1,
            created_at: Timestamp(1),
            expires_at: None,
            irrevocable: false,
            restrictions: Restrictions::default(),
            restricted_lineage: false,
            usage: Usage::default(),
            pin: PinState::default(),
        }
    }

    fn hash() -> CodeHash {
        BrokerKey::generate().hash_code(&SecretCode::generate())
    }

    /// What SQLite itself holds, bypassing the memory.
    fn stored(connection: &Connection, id: &CodeId) -> CodeRecord {
        SqliteLedger { conn: connection }.code_by_id(id).unwrap().unwrap()
    }

    #[test]
    fn a_rolled_back_command_is_forgotten_and_read_again_from_sqlite() {
        let connection = database();
        let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
        let usd = Currency::parse("USD").unwrap();
        let record = secret_code(usd);
        let key = AccountKey::Code(record.id.clone());
        {
            let mut ledger = Cached {
                inner: SqliteLedger { conn: &connection },
                cache: &mut cache,
            };
            ledger.insert_code(&record, Some(&hash())).unwrap();
            ledger.open_account(&key, usd).unwrap();
            assert_eq!(ledger.account(&key).unwrap().unwrap().balance_units, 0);
        }
        connection.execute_batch("SAVEPOINT command").unwrap();
        cache.begin_command();
        let counted = Usage {
            uses: 3,
            period_index: 1,
            period_spent_units: 7,
        };
        {
            let mut ledger = Cached {
                inner: SqliteLedger { conn: &connection },
                cache: &mut cache,
            };
            ledger.set_usage(&record.id, &counted).unwrap();
            assert_eq!(ledger.code_by_id(&record.id).unwrap().unwrap().usage, counted);
        }
        connection
            .execute_batch("ROLLBACK TO command; RELEASE command")
            .unwrap();
        cache.forget_command();
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        let read = ledger.code_by_id(&record.id).unwrap().unwrap();
        assert_eq!(read.usage, Usage::default());
        assert_eq!(read, stored(&connection, &record.id));
    }

    #[test]
    fn a_rekeyed_code_is_found_by_its_new_hash_only() {
        let connection = database();
        let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
        let record = secret_code(Currency::parse("EUR").unwrap());
        let (old, new) = (hash(), hash());
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        ledger.insert_code(&record, Some(&old)).unwrap();
        assert_eq!(ledger.code_by_hash(&old).unwrap().unwrap().id, record.id);
        ledger.set_code_hash(&record.id, &new).unwrap();
        assert_eq!(ledger.code_by_hash(&old).unwrap(), None);
        assert_eq!(ledger.code_by_hash(&new).unwrap().unwrap().id, record.id);
        // Forgotten (as after a failed commit), the code is read again from SQLite the same way.
        ledger.cache.clear();
        assert_eq!(ledger.code_by_hash(&old).unwrap(), None);
        assert_eq!(ledger.code_by_hash(&new).unwrap().unwrap().id, record.id);
    }

    /// A ledger of three accounts (issuance, a payer, a payee) with every account in memory.
    fn three_accounts(connection: &Connection, cache: &mut WriterCache) -> [AccountKey; 3] {
        let usd = Currency::parse("USD").unwrap();
        let (payer, payee) = (secret_code(usd), secret_code(usd));
        let mut ledger = Cached {
            inner: SqliteLedger { conn: connection },
            cache,
        };
        let issuance = AccountKey::Issuance(usd);
        ledger.open_account(&issuance, usd).unwrap();
        for record in [&payer, &payee] {
            ledger.insert_code(record, Some(&hash())).unwrap();
            ledger.open_account(&AccountKey::Code(record.id.clone()), usd).unwrap();
        }
        let keys = [issuance, AccountKey::Code(payer.id), AccountKey::Code(payee.id)];
        for key in &keys {
            ledger.account(key).unwrap();
        }
        keys
    }

    fn transfer(
        id: &str,
        debit: &AccountKey,
        credit: &AccountKey,
        units: i64,
        public_code: Option<&CodeId>,
    ) -> Transfer {
        Transfer {
            id: id.into(),
            at: Timestamp(2),
            kind: TransferKind::Payment,
            debit: debit.clone(),
            credit: credit.clone(),
            amount: smartcode_core::money::Amount::from_units(units).unwrap(),
            currency: Currency::parse("USD").unwrap(),
            memo: None,
            public_code_id: public_code.cloned(),
            category: None,
            item: None,
        }
    }

    /// The ids of an account's transfers as SQLite's history chain gives them, newest first.
    fn history(connection: &Connection, key: &AccountKey) -> Vec<String> {
        let filter = TransferFilter {
            since: None,
            until: None,
            before_sequence: None,
            limit: 10,
        };
        let mut ledger = SqliteLedger { conn: connection };
        ledger
            .transfers_of(key, &filter)
            .unwrap()
            .into_iter()
            .map(|(_, t)| t.id)
            .collect()
    }

    fn balance_in_sqlite(connection: &Connection, key: &AccountKey) -> i64 {
        SqliteLedger { conn: connection }
            .account(key)
            .unwrap()
            .unwrap()
            .balance_units
    }

    #[test]
    fn balances_in_memory_reach_sqlite_when_flushed() {
        let connection = database();
        let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
        let [issuance, from, to] = three_accounts(&connection, &mut cache);
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        post(&mut ledger, transfer("t_1", &issuance, &from, 500, None)).unwrap();
        post(&mut ledger, transfer("t_2", &from, &to, 120, None)).unwrap();
        for (key, units) in [(&issuance, -500), (&from, 380), (&to, 120)] {
            assert_eq!(ledger.account(key).unwrap().unwrap().balance_units, units);
            assert_eq!(balance_in_sqlite(&connection, key), 0, "not written before the flush");
        }
        ledger.cache.flush(&ledger.inner).unwrap();
        for (key, units) in [(&issuance, -500), (&from, 380), (&to, 120)] {
            assert_eq!(balance_in_sqlite(&connection, key), units);
        }
        // The chains were linked from memory: each account's history, newest first.
        assert_eq!(history(&connection, &from), ["t_2", "t_1"]);
        assert_eq!(history(&connection, &to), ["t_2"]);
        assert_eq!(history(&connection, &issuance), ["t_1"]);
    }

    #[test]
    fn a_busy_payee_is_written_once_per_flush_and_reads_through_sqlite_flush_first() {
        let connection = database();
        let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
        let [issuance, from, to] = three_accounts(&connection, &mut cache);
        let public_code = CodeId::generate();
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        post(&mut ledger, transfer("t_0", &issuance, &from, 1000, None)).unwrap();
        for n in 1..=10 {
            let id = format!("t_{n}");
            post(&mut ledger, transfer(&id, &from, &to, 7, Some(&public_code))).unwrap();
        }
        let before = connection.total_changes();
        // A read of the totals goes to SQLite, so memory is written first: three balances and one
        // public code's totals, one row each however many payments they took.
        assert_eq!(ledger.public_code_stats(&public_code).unwrap(), (10, 70));
        assert_eq!(connection.total_changes() - before, 4);
        assert_eq!(balance_in_sqlite(&connection, &to), 70);
        assert_eq!(balance_in_sqlite(&connection, &from), 930);
        // Nothing is left to write.
        ledger.cache.flush(&ledger.inner).unwrap();
        assert_eq!(connection.total_changes() - before, 4);
        // The totals' row now exists and is updated in place; forgotten memory reads it back.
        post(&mut ledger, transfer("t_11", &from, &to, 5, Some(&public_code))).unwrap();
        assert_eq!(ledger.public_code_stats(&public_code).unwrap(), (11, 75));
        ledger.cache.clear();
        post(&mut ledger, transfer("t_12", &from, &to, 5, Some(&public_code))).unwrap();
        assert_eq!(ledger.public_code_stats(&public_code).unwrap(), (12, 80));
        assert_eq!(balance_in_sqlite(&connection, &to), 80);
    }

    #[test]
    fn a_forgotten_command_takes_its_unwritten_balances_with_it() {
        let connection = database();
        let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
        let [issuance, from, to] = three_accounts(&connection, &mut cache);
        let public_code = CodeId::generate();
        {
            let mut ledger = Cached {
                inner: SqliteLedger { conn: &connection },
                cache: &mut cache,
            };
            post(&mut ledger, transfer("t_1", &issuance, &from, 500, None)).unwrap();
            ledger.cache.flush(&ledger.inner).unwrap();
        }
        connection.execute_batch("SAVEPOINT command").unwrap();
        cache.begin_command();
        {
            let mut ledger = Cached {
                inner: SqliteLedger { conn: &connection },
                cache: &mut cache,
            };
            post(&mut ledger, transfer("t_2", &from, &to, 120, Some(&public_code))).unwrap();
        }
        connection
            .execute_batch("ROLLBACK TO command; RELEASE command")
            .unwrap();
        cache.forget_command();
        let mut ledger = Cached {
            inner: SqliteLedger { conn: &connection },
            cache: &mut cache,
        };
        ledger.cache.flush(&ledger.inner).unwrap();
        for (key, units) in [(&issuance, -500), (&from, 500), (&to, 0)] {
            assert_eq!(ledger.account(key).unwrap().unwrap().balance_units, units);
            assert_eq!(balance_in_sqlite(&connection, key), units);
        }
        assert_eq!(ledger.public_code_stats(&public_code).unwrap(), (0, 0));
        // The next transfer links to the last one SQLite kept, not to the forgotten one.
        post(&mut ledger, transfer("t_3", &from, &to, 50, None)).unwrap();
        ledger.cache.flush(&ledger.inner).unwrap();
        assert_eq!(history(&connection, &from), ["t_3", "t_1"]);
    }
}

//! The core's store traits over one PostgreSQL connection, inside whatever transaction is open on
//! it: a reader's snapshot, or the writer's batch.
//!
//! In the writer, [`PgLedger`] does three things the SQLite ledger need not, because other
//! processes write to the same database while the batch runs (see the module doc of
//! [`crate::postgres`] for the whole design):
//! - balance changes are not written at once but kept per account in the [`BatchState`] (reads add
//!   them in) and applied once, at the end of the batch, in key order, by `PgLedger::apply` (in [`finish_batch`]);
//! - each code row carries its version (`xmin`); an update of a code names the version the command
//!   first read, so a change by another process since then is found, not overwritten;
//! - a lost race is recorded as a conflict: the writer rolls the whole batch back and runs it again,
//!   reading the rows that raced under `FOR UPDATE` the next time.

use std::collections::{BTreeMap, HashMap, HashSet};

use postgres::error::SqlState;
use postgres::types::{FromSql, ToSql};
use postgres::Row;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeHash, CodeId, PublicCode};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::ledger::{LedgerRead, LedgerTx, Posted, TransferFilter};
use smartcode_core::limits::BALANCE_UNITS_MAX;
use smartcode_core::model::*;
use smartcode_core::money::{Amount, Currency};

use super::conn::{classify, describe, Conn, ErrorKind};
use crate::rows::account_kind;
use crate::StoredResponse;

type Param<'a> = &'a (dyn ToSql + Sync);

/// Rows that lost a race in an earlier attempt of a batch. The next attempt reads them under
/// `FOR UPDATE`, waiting for the other process rather than racing it again.
#[derive(Default, Debug)]
pub struct Contended {
    /// Code ids.
    pub codes: HashSet<String>,
    /// Account keys as stored (`code:…`, `issuance:…`).
    pub accounts: HashSet<String>,
}

impl Contended {
    pub fn len(&self) -> usize {
        self.codes.len() + self.accounts.len()
    }
}

/// Rows the writer read in bulk when its batch began ([`PgLedger::prefetch`]): the codes and
/// balances its payments name, read in three statements instead of five per payment. A row the
/// batch changes is dropped from here, so the batch then reads its own change from the database.
#[derive(Default)]
struct Prefetched {
    /// By id: the record and its version (`xmin`).
    codes: HashMap<String, (CodeRecord, i64)>,
    by_hash: HashMap<[u8; 32], String>,
    by_public: HashMap<String, String>,
    /// By stored key: currency, stored balance, held.
    accounts: HashMap<String, (Currency, i64, i64)>,
}

/// What the writer knows of its open batch beyond what the database holds.
pub struct BatchState {
    /// Net balance change per account of the commands kept so far; applied at the end.
    deltas: BTreeMap<String, i64>,
    /// Each code's status as the batch first read it, or as the batch set it.
    statuses: HashMap<String, CodeStatus>,
    /// The same for the command running now; merged into the above only if the command is kept.
    command: CommandState,
    contended: Contended,
    /// Why this attempt cannot commit, if it cannot.
    conflict: Option<String>,
    prefetched: Prefetched,
    /// Transfers of the kept commands, not yet written: [`finish_batch`] inserts them all in
    /// one statement before the balances are applied (`finish_batch`).
    transfers: Vec<Transfer>,
}

#[derive(Default)]
struct CommandState {
    /// Between `begin_command` and `end_command`.
    running: bool,
    /// The command opened its savepoint, as it does just before its first statement. A command
    /// that sends none (a payment whose rows were prefetched) needs none: if it is refused, there
    /// is nothing in the database to roll back.
    savepoint: bool,
    /// Its transfers, not yet written.
    transfers: Vec<Transfer>,
    /// It made the batch write its pending transfers inside its savepoint (see `read_transfers`).
    wrote_batch_transfers: bool,
    deltas: HashMap<String, i64>,
    statuses_read: HashMap<String, CodeStatus>,
    statuses_set: HashMap<String, CodeStatus>,
    /// The version (`xmin`) of each code row as this command first read it or last wrote it.
    versions: HashMap<String, i64>,
    /// Each account's stored balance as this command first read it (without pending changes).
    balances_read: HashMap<String, i64>,
}

impl BatchState {
    pub fn new(contended: Contended) -> BatchState {
        BatchState {
            deltas: BTreeMap::new(),
            statuses: HashMap::new(),
            command: CommandState::default(),
            contended,
            conflict: None,
            prefetched: Prefetched::default(),
            transfers: Vec::new(),
        }
    }

    pub fn begin_command(&mut self) {
        self.command = CommandState {
            running: true,
            ..CommandState::default()
        };
    }

    /// Whether the running command opened its savepoint (so its end must release or roll back).
    pub fn savepoint_open(&self) -> bool {
        self.command.savepoint
    }

    /// Whether rolling the running command back would also undo transfers of commands kept before
    /// it (written inside its savepoint): then only running the whole batch again is right.
    pub fn rollback_undoes_others(&self) -> bool {
        self.command.wrote_batch_transfers
    }

    /// Ends the running command: `kept` when it was released into the batch, not rolled back.
    pub fn end_command(&mut self, kept: bool) {
        let command = std::mem::take(&mut self.command);
        if !kept {
            return;
        }
        self.transfers.extend(command.transfers);
        for (key, delta) in command.deltas {
            *self.deltas.entry(key).or_insert(0) += delta;
        }
        for (id, status) in command.statuses_read {
            self.statuses.entry(id).or_insert(status);
        }
        self.statuses.extend(command.statuses_set);
    }

    pub fn conflict(&self) -> Option<&str> {
        self.conflict.as_deref()
    }

    /// The rows to lock on the next attempt: those of earlier attempts and of this one.
    pub fn into_contended(self) -> Contended {
        self.contended
    }

    fn pending(&self, key: &str) -> i64 {
        self.deltas.get(key).copied().unwrap_or(0) + self.command.deltas.get(key).copied().unwrap_or(0)
    }
}

/// What an idempotency key's first request left: its fingerprint and its response.
pub struct Remembered {
    pub fingerprint: Vec<u8>,
    pub response: StoredResponse,
}

pub struct PgLedger<'a> {
    pub conn: &'a mut Conn,
    /// The writer's batch; `None` in a reader's read-only snapshot.
    pub batch: Option<&'a mut BatchState>,
}

fn corrupt(what: &str) -> StorageFailure {
    StorageFailure(format!("unreadable stored {what}"))
}

fn get<'r, T: FromSql<'r>>(row: &'r Row, index: usize) -> StoreResult<T> {
    row.try_get(index)
        .map_err(|error| StorageFailure(format!("unreadable stored column {index}: {error}")))
}

fn count(row: &Row, index: usize) -> StoreResult<u64> {
    u64::try_from(get::<i64>(row, index)?).map_err(|_| corrupt("count"))
}

fn small(value: i64, what: &str) -> StoreResult<u32> {
    u32::try_from(value).map_err(|_| corrupt(what))
}

fn amount_column(units: Option<i64>) -> StoreResult<Option<Amount>> {
    units
        .map(|u| Amount::from_units(u).map_err(|_| corrupt("amount")))
        .transpose()
}

fn code_id(text: &str, what: &str) -> StoreResult<CodeId> {
    CodeId::parse(text).ok_or_else(|| corrupt(what))
}

/// The columns of a code, in the order [`code_from_row`] reads them; the row's version last.
const CODE_COLUMNS: &str =
    "id, kind, parent_id, owner_id, public_code, currency, label, profile_name, profile_description, \
     profile_url, profile_contact, show_stats, status, depth, created_at, expires_at, irrevocable, \
     pin_hash, pin_generation, pin_failures, locked, allowed_categories, allowed_payees, allowed_items, \
     amount_per_use_max, uses_max, spend_period_amount, spend_period_seconds, restricted_lineage, \
     uses, period_index, period_spent, xmin::text::bigint";

fn code_from_row(row: &Row) -> StoreResult<(CodeRecord, i64)> {
    let parent_id: Option<String> = get(row, 2)?;
    let public_code: Option<String> = get(row, 4)?;
    let payees: Option<Vec<String>> = get(row, 22)?;
    let record = CodeRecord {
        id: code_id(&get::<String>(row, 0)?, "code id")?,
        kind: CodeKind::parse(&get::<String>(row, 1)?).ok_or_else(|| corrupt("code kind"))?,
        parent_id: parent_id.map(|p| code_id(&p, "parent id")).transpose()?,
        owner_id: code_id(&get::<String>(row, 3)?, "owner id")?,
        public_code: public_code
            .map(|p| PublicCode::from_stored(&p).ok_or_else(|| corrupt("public code")))
            .transpose()?,
        currency: Currency::parse(&get::<String>(row, 5)?).map_err(|_| corrupt("currency"))?,
        label: get(row, 6)?,
        profile: Profile {
            name: get(row, 7)?,
            description: get(row, 8)?,
            url: get(row, 9)?,
            contact: get(row, 10)?,
            show_stats: get(row, 11)?,
        },
        status: CodeStatus::parse(&get::<String>(row, 12)?).ok_or_else(|| corrupt("status"))?,
        depth: small(get(row, 13)?, "depth")?,
        created_at: Timestamp(get(row, 14)?),
        expires_at: get::<Option<i64>>(row, 15)?.map(Timestamp),
        irrevocable: get(row, 16)?,
        pin: PinState {
            hash: get(row, 17)?,
            generation: small(get(row, 18)?, "pin generation")?,
            failures: small(get(row, 19)?, "pin failures")?,
            locked: get(row, 20)?,
        },
        restrictions: Restrictions {
            categories: get(row, 21)?,
            payees: payees
                .map(|list| {
                    list.iter()
                        .map(|p| PublicCode::from_stored(p).ok_or_else(|| corrupt("payee")))
                        .collect()
                })
                .transpose()?,
            items: get(row, 23)?,
            amount_per_use_max: amount_column(get(row, 24)?)?,
            uses_max: get::<Option<i64>>(row, 25)?.map(|u| small(u, "uses_max")).transpose()?,
            spend_per_period: match (amount_column(get(row, 26)?)?, get::<Option<i64>>(row, 27)?) {
                (Some(amount), Some(period_seconds)) => Some(SpendLimit { amount, period_seconds }),
                _ => None,
            },
        },
        restricted_lineage: get(row, 28)?,
        usage: Usage {
            uses: small(get(row, 29)?, "uses")?,
            period_index: get(row, 30)?,
            period_spent_units: get(row, 31)?,
        },
    };
    Ok((record, get(row, 32)?))
}

const TRANSFER_COLUMNS: &str =
    "seq, id, at, kind, debit, credit, amount, currency, memo, public_code_id, category, item";

fn transfer_from_row(row: &Row) -> StoreResult<(i64, Transfer)> {
    let public_code_id: Option<String> = get(row, 9)?;
    let transfer = Transfer {
        id: get(row, 1)?,
        at: Timestamp(get(row, 2)?),
        kind: TransferKind::parse(&get::<String>(row, 3)?).ok_or_else(|| corrupt("transfer kind"))?,
        debit: AccountKey::from_stored(&get::<String>(row, 4)?).ok_or_else(|| corrupt("account"))?,
        credit: AccountKey::from_stored(&get::<String>(row, 5)?).ok_or_else(|| corrupt("account"))?,
        amount: Amount::from_units(get(row, 6)?).map_err(|_| corrupt("amount"))?,
        currency: Currency::parse(&get::<String>(row, 7)?).map_err(|_| corrupt("currency"))?,
        memo: get(row, 8)?,
        public_code_id: public_code_id.map(|p| code_id(&p, "public code id")).transpose()?,
        category: get(row, 10)?,
        item: get(row, 11)?,
    };
    Ok((get(row, 0)?, transfer))
}

/// One arm of a history page: the transfers on one side (`debit` or `credit`) of an account,
/// newest first, so that each arm walks its own index backwards and stops at the page's end.
fn history_arm(side: &str) -> String {
    format!(
        "(SELECT {TRANSFER_COLUMNS} FROM transfers WHERE {side} = $1 \
           AND ($2::bigint IS NULL OR at >= $2) AND ($3::bigint IS NULL OR at < $3) \
           AND ($4::bigint IS NULL OR seq < $4) ORDER BY seq DESC LIMIT $5)"
    )
}

/// The `WHERE` fragment of reports: one account, an optional window.
const ACCOUNT_WINDOW: &str =
    "(debit = $1 OR credit = $1) AND ($2::bigint IS NULL OR at >= $2) AND ($3::bigint IS NULL OR at < $3)";

impl PgLedger<'_> {
    /// Turns a database error into a storage failure; one that a new attempt can cure (a race
    /// lost, a connection gone) also marks the batch for a retry.
    fn fail(&mut self, error: postgres::Error) -> StorageFailure {
        let described = describe(&error);
        // A new row that collides with one another process just committed (a drawn id or code)
        // is a race too: on the next attempt the core sees the other row and decides afresh.
        let curable = classify(&error) != ErrorKind::Fatal || error.code() == Some(&SqlState::UNIQUE_VIOLATION);
        if curable {
            if let Some(batch) = self.batch.as_deref_mut() {
                batch.conflict.get_or_insert_with(|| described.clone());
            }
        }
        StorageFailure(described)
    }

    /// Marks the batch for a retry that locks the named rows, and fails the command.
    fn conflict(&mut self, reason: String, code: Option<&str>, account: Option<&str>) -> StorageFailure {
        if let Some(batch) = self.batch.as_deref_mut() {
            batch.contended.codes.extend(code.map(str::to_owned));
            batch.contended.accounts.extend(account.map(str::to_owned));
            batch.conflict.get_or_insert_with(|| reason.clone());
        }
        StorageFailure(format!("postgres: a concurrent change: {reason}"))
    }

    /// Opens the running command's savepoint before its first statement.
    fn savepoint(&mut self) -> StoreResult<()> {
        let Some(batch) = self.batch.as_deref_mut() else {
            return Ok(());
        };
        if !batch.command.running || batch.command.savepoint {
            return Ok(());
        }
        batch.command.savepoint = true;
        match self.conn.batch("SAVEPOINT command") {
            Ok(()) => Ok(()),
            Err(error) => Err(self.fail(error)),
        }
    }

    fn query(&mut self, sql: &str, params: &[Param]) -> StoreResult<Vec<Row>> {
        self.savepoint()?;
        match self.conn.query(sql, params) {
            Ok(rows) => Ok(rows),
            Err(error) => Err(self.fail(error)),
        }
    }

    fn query_opt(&mut self, sql: &str, params: &[Param]) -> StoreResult<Option<Row>> {
        self.savepoint()?;
        match self.conn.query_opt(sql, params) {
            Ok(row) => Ok(row),
            Err(error) => Err(self.fail(error)),
        }
    }

    fn query_one(&mut self, sql: &str, params: &[Param]) -> StoreResult<Row> {
        self.savepoint()?;
        match self.conn.query_one(sql, params) {
            Ok(row) => Ok(row),
            Err(error) => Err(self.fail(error)),
        }
    }

    fn execute(&mut self, sql: &str, params: &[Param]) -> StoreResult<u64> {
        self.savepoint()?;
        match self.conn.execute(sql, params) {
            Ok(rows) => Ok(rows),
            Err(error) => Err(self.fail(error)),
        }
    }

    fn is_contended_code(&self, id: &str) -> bool {
        self.batch.as_ref().is_some_and(|b| b.contended.codes.contains(id))
    }

    /// Notes what the writer read of a code: its version and status, the first time this command
    /// reads it.
    fn saw_code(&mut self, record: &CodeRecord, version: i64) {
        if let Some(batch) = self.batch.as_deref_mut() {
            let id = record.id.as_str();
            batch.command.versions.entry(id.to_owned()).or_insert(version);
            batch
                .command
                .statuses_read
                .entry(id.to_owned())
                .or_insert(record.status);
        }
    }

    /// Reads in bulk the codes that secret-code `hashes` and `publics` codes name, the owners of
    /// those public codes, and the balances of all the secret codes among them. Rows contended on
    /// an earlier attempt are left to be read under lock, one by one.
    pub fn prefetch(&mut self, hashes: &[&[u8]], publics: &[&str]) -> StoreResult<()> {
        if hashes.is_empty() && publics.is_empty() {
            return Ok(());
        }
        // Two arms, not one `OR`: a generic plan of the `OR` scans the whole table.
        let sql = format!(
            "SELECT {CODE_COLUMNS}, code_hash FROM codes WHERE code_hash = ANY($1) \
             UNION ALL SELECT {CODE_COLUMNS}, code_hash FROM codes WHERE public_code = ANY($2)"
        );
        let rows = self.query(&sql, &[&hashes, &publics])?;
        let mut fetched = self.remember_prefetched(&rows)?;
        let owners: Vec<String> = fetched
            .iter()
            .filter(|record| record.kind == CodeKind::Public)
            .map(|record| record.owner_id.as_str().to_owned())
            .filter(|owner| !fetched.iter().any(|record| record.id.as_str() == owner))
            .collect();
        if !owners.is_empty() {
            let sql = format!("SELECT {CODE_COLUMNS}, code_hash FROM codes WHERE id = ANY($1)");
            let rows = self.query(&sql, &[&owners])?;
            fetched.extend(self.remember_prefetched(&rows)?);
        }
        let keys: Vec<String> = fetched
            .iter()
            .filter(|record| record.kind == CodeKind::Secret)
            .map(|record| AccountKey::Code(record.id.clone()).to_stored())
            .collect();
        let rows = self.query(
            "SELECT key, currency, balance, held FROM accounts WHERE key = ANY($1)",
            &[&keys],
        )?;
        let Some(batch) = self.batch.as_deref_mut() else {
            return Ok(());
        };
        for row in &rows {
            let key: String = get(row, 0)?;
            if batch.contended.accounts.contains(&key) {
                continue;
            }
            let currency = Currency::parse(&get::<String>(row, 1)?).map_err(|_| corrupt("currency"))?;
            batch
                .prefetched
                .accounts
                .insert(key, (currency, get(row, 2)?, get(row, 3)?));
        }
        Ok(())
    }

    fn remember_prefetched(&mut self, rows: &[Row]) -> StoreResult<Vec<CodeRecord>> {
        let mut records = Vec::with_capacity(rows.len());
        let Some(batch) = self.batch.as_deref_mut() else {
            return Ok(records);
        };
        for row in rows {
            let (record, version) = code_from_row(row)?;
            let id = record.id.as_str().to_owned();
            if batch.contended.codes.contains(&id) {
                continue;
            }
            let hash: Option<Vec<u8>> = get(row, 33)?;
            if let Some(hash) = hash.and_then(|h| <[u8; 32]>::try_from(h).ok()) {
                batch.prefetched.by_hash.insert(hash, id.clone());
            }
            if let Some(public) = &record.public_code {
                batch
                    .prefetched
                    .by_public
                    .insert(public.as_stored().to_owned(), id.clone());
            }
            batch.prefetched.codes.insert(id, (record.clone(), version));
            records.push(record);
        }
        Ok(records)
    }

    /// A code the batch prefetched and has not changed since, as if read now.
    fn prefetched_code(&mut self, id: Option<String>) -> Option<CodeRecord> {
        let (record, version) = self.batch.as_ref()?.prefetched.codes.get(&id?)?.clone();
        self.saw_code(&record, version);
        Some(record)
    }

    /// Before a read of transfers in the writer, writes the batch's pending transfers, so the
    /// read sees them. No command does this today (only queries read transfers); if one does, its
    /// savepoint then holds other commands' transfers, and refusing it means running the batch again.
    fn read_transfers(&mut self) -> StoreResult<()> {
        let pending = self
            .batch
            .as_ref()
            .is_some_and(|b| !b.transfers.is_empty() || !b.command.transfers.is_empty());
        if !pending {
            return Ok(());
        }
        self.savepoint()?;
        let batch = self.batch.as_deref_mut().expect("pending transfers are a batch's");
        batch.command.wrote_batch_transfers = !batch.transfers.is_empty();
        let mut transfers = std::mem::take(&mut batch.transfers);
        transfers.append(&mut batch.command.transfers);
        self.insert_transfers(&transfers)
    }

    /// Adds payments through public codes to those codes' running totals: one row per public
    /// code, in key order (every process locks them in the same order), as the last step before
    /// COMMIT, so a popular public code's row is locked only for that moment, like its owner's
    /// balance.
    fn count_public_payments(&mut self, transfers: &[Transfer]) -> StoreResult<()> {
        let mut totals: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for transfer in transfers {
            if let Some(public_code) = &transfer.public_code_id {
                let total = totals.entry(public_code.as_str()).or_insert((0, 0));
                total.0 += 1;
                total.1 = total
                    .1
                    .checked_add(transfer.amount.units())
                    .ok_or_else(|| StorageFailure("a public code's total overflows".into()))?;
            }
        }
        if totals.is_empty() {
            return Ok(());
        }
        let codes: Vec<&str> = totals.keys().copied().collect();
        let payments: Vec<i64> = totals.values().map(|total| total.0).collect();
        let units: Vec<i64> = totals.values().map(|total| total.1).collect();
        self.execute(
            "INSERT INTO public_code_stats (code_id, payments, units) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS t(code_id, payments, units) \
             ORDER BY t.code_id COLLATE \"C\" \
             ON CONFLICT (code_id) DO UPDATE SET payments = public_code_stats.payments + excluded.payments, \
                                                  units = public_code_stats.units + excluded.units",
            &[&codes, &payments, &units],
        )?;
        Ok(())
    }

    /// Inserts transfers in one statement, in order (their sequence numbers follow it).
    fn insert_transfers(&mut self, transfers: &[Transfer]) -> StoreResult<()> {
        if transfers.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = transfers.iter().map(|t| t.id.as_str()).collect();
        let ats: Vec<i64> = transfers.iter().map(|t| t.at.0).collect();
        let kinds: Vec<&str> = transfers.iter().map(|t| t.kind.as_str()).collect();
        let debits: Vec<String> = transfers.iter().map(|t| t.debit.to_stored()).collect();
        let credits: Vec<String> = transfers.iter().map(|t| t.credit.to_stored()).collect();
        let amounts: Vec<i64> = transfers.iter().map(|t| t.amount.units()).collect();
        let currencies: Vec<&str> = transfers.iter().map(|t| t.currency.as_str()).collect();
        let memos: Vec<Option<&str>> = transfers.iter().map(|t| t.memo.as_deref()).collect();
        let publics: Vec<Option<&str>> = transfers
            .iter()
            .map(|t| t.public_code_id.as_ref().map(CodeId::as_str))
            .collect();
        let categories: Vec<Option<&str>> = transfers.iter().map(|t| t.category.as_deref()).collect();
        let items: Vec<Option<&str>> = transfers.iter().map(|t| t.item.as_deref()).collect();
        self.execute(
            "INSERT INTO transfers (id, at, kind, debit, credit, amount, currency, memo, public_code_id, category, item) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], \
                                  $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])",
            &[
                &ids,
                &ats,
                &kinds,
                &debits,
                &credits,
                &amounts,
                &currencies,
                &memos,
                &publics,
                &categories,
                &items,
            ],
        )?;
        Ok(())
    }

    fn one_code(&mut self, condition: &str, value: Param) -> StoreResult<Option<CodeRecord>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM codes WHERE {condition}");
        let Some(row) = self.query_opt(&sql, &[value])? else {
            return Ok(None);
        };
        let (mut record, mut version) = code_from_row(&row)?;
        if self.is_contended_code(record.id.as_str()) {
            // Raced on an earlier attempt: wait for the other process and read what it left.
            let locked = format!("SELECT {CODE_COLUMNS} FROM codes WHERE {condition} FOR UPDATE");
            let Some(row) = self.query_opt(&locked, &[value])? else {
                return Ok(None);
            };
            (record, version) = code_from_row(&row)?;
        }
        self.saw_code(&record, version);
        Ok(Some(record))
    }

    /// Updates a code row only if it is still the version this command read; otherwise another
    /// process changed it meanwhile, and the batch runs again. Returns the code's kind.
    fn update_code(&mut self, id: &CodeId, assignments: &str, values: &[Param]) -> StoreResult<CodeKind> {
        let version: Option<i64> = self
            .batch
            .as_ref()
            .and_then(|b| b.command.versions.get(id.as_str()).copied());
        let sql = format!(
            "UPDATE codes SET {assignments} WHERE id = $1 AND ($2::bigint IS NULL OR xmin::text::bigint = $2) \
             RETURNING xmin::text::bigint, kind"
        );
        let id_text = id.as_str();
        if let Some(batch) = self.batch.as_deref_mut() {
            batch.prefetched.codes.remove(id_text);
        }
        let mut params: Vec<Param> = vec![&id_text, &version];
        params.extend_from_slice(values);
        let Some(row) = self.query_opt(&sql, &params)? else {
            return Err(self.conflict(format!("code {id} changed under the batch"), Some(id_text), None));
        };
        let new_version: i64 = get(&row, 0)?;
        let kind = CodeKind::parse(&get::<String>(&row, 1)?).ok_or_else(|| corrupt("code kind"))?;
        if let Some(batch) = self.batch.as_deref_mut() {
            batch.command.versions.insert(id_text.to_owned(), new_version);
        }
        Ok(kind)
    }

    /// Before a code closes, checks under lock that its stored balance is still the one the core
    /// moved out of it. A payment from another process that landed meanwhile would otherwise be
    /// left on a closed code.
    fn verify_balance_unchanged(&mut self, key: &str) -> StoreResult<()> {
        let read = self
            .batch
            .as_ref()
            .and_then(|b| b.command.balances_read.get(key).copied());
        let Some(read) = read else {
            return Ok(());
        };
        let row = self.query_one("SELECT balance FROM accounts WHERE key = $1 FOR UPDATE", &[&key])?;
        let stored: i64 = get(&row, 0)?;
        if stored != read {
            return Err(self.conflict(format!("the balance of {key} changed under the batch"), None, Some(key)));
        }
        Ok(())
    }

    /// Claims an idempotency key for the running command, or returns what the request that used
    /// it first left. The claim is a row inserted in the batch's
    /// transaction, so another process presenting the same key at the same moment waits for this
    /// commit and then replays it (or claims the key itself if this command is refused).
    pub fn claim_idempotency(
        &mut self,
        key_hash: &[u8; 32],
        fingerprint: &[u8; 32],
        now: Timestamp,
    ) -> StoreResult<Option<Remembered>> {
        let (key, print) = (key_hash.as_slice(), fingerprint.as_slice());
        let claimed = self.execute(
            "INSERT INTO idempotency (key_hash, fingerprint, status, body, created_at) \
             VALUES ($1, $2, 0, ''::bytea, $3) ON CONFLICT (key_hash) DO NOTHING",
            &[&key, &print, &now.0],
        )?;
        if claimed == 1 {
            return Ok(None);
        }
        let row = self.query_opt(
            "SELECT fingerprint, status, body FROM idempotency WHERE key_hash = $1",
            &[&key],
        )?;
        let Some(row) = row else {
            // Forgotten between the two statements (it was two days old): race again.
            return Err(self.conflict("an idempotency key was forgotten meanwhile".into(), None, None));
        };
        let status = u16::try_from(get::<i32>(&row, 1)?).map_err(|_| corrupt("status"))?;
        Ok(Some(Remembered {
            fingerprint: get(&row, 0)?,
            response: StoredResponse {
                status,
                body: get(&row, 2)?,
            },
        }))
    }

    pub fn remember_response(&mut self, key_hash: &[u8; 32], response: &StoredResponse) -> StoreResult<()> {
        let key = key_hash.as_slice();
        let body = response.body.as_slice();
        self.execute(
            "UPDATE idempotency SET status = $2, body = $3 WHERE key_hash = $1",
            &[&key, &i32::from(response.status), &body],
        )?;
        Ok(())
    }

    /// Takes the sweep's lock for the rest of the transaction; `false` if another process holds it.
    pub fn try_sweep_lock(&mut self, class: i32, scope: i32) -> StoreResult<bool> {
        let row = self.query_one("SELECT pg_try_advisory_xact_lock($1, $2)", &[&class, &scope])?;
        get(&row, 0)
    }

    pub fn forget_idempotency_before(&mut self, cutoff: i64) -> StoreResult<u64> {
        self.execute("DELETE FROM idempotency WHERE created_at < $1", &[&cutoff])
    }
}

impl LedgerRead for PgLedger<'_> {
    fn code_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeRecord>> {
        let id = self
            .batch
            .as_ref()
            .and_then(|b| b.prefetched.by_hash.get(&hash.0).cloned());
        if let Some(record) = self.prefetched_code(id) {
            return Ok(Some(record));
        }
        self.one_code("code_hash = $1", &hash.0.as_slice())
    }

    fn code_by_id(&mut self, id: &CodeId) -> StoreResult<Option<CodeRecord>> {
        if let Some(record) = self.prefetched_code(Some(id.as_str().to_owned())) {
            return Ok(Some(record));
        }
        self.one_code("id = $1", &id.as_str())
    }

    fn code_by_public(&mut self, code: &PublicCode) -> StoreResult<Option<CodeRecord>> {
        let id = self
            .batch
            .as_ref()
            .and_then(|b| b.prefetched.by_public.get(code.as_stored()).cloned());
        if let Some(record) = self.prefetched_code(id) {
            return Ok(Some(record));
        }
        self.one_code("public_code = $1", &code.as_stored())
    }

    fn account(&mut self, key: &AccountKey) -> StoreResult<Option<AccountState>> {
        let stored = key.to_stored();
        let locked = self
            .batch
            .as_ref()
            .is_some_and(|b| b.contended.accounts.contains(&stored));
        let prefetched = self
            .batch
            .as_ref()
            .and_then(|b| b.prefetched.accounts.get(&stored).copied());
        let (currency, stored_balance, held_units) = match prefetched {
            Some(prefetched) => prefetched,
            None => {
                let sql = if locked {
                    "SELECT currency, balance, held FROM accounts WHERE key = $1 FOR UPDATE"
                } else {
                    "SELECT currency, balance, held FROM accounts WHERE key = $1"
                };
                let Some(row) = self.query_opt(sql, &[&stored])? else {
                    return Ok(None);
                };
                let currency = Currency::parse(&get::<String>(&row, 0)?).map_err(|_| corrupt("currency"))?;
                (currency, get(&row, 1)?, get(&row, 2)?)
            }
        };
        let mut balance_units = stored_balance;
        if let Some(batch) = self.batch.as_deref_mut() {
            // The first read is what the core decided on: a later read that differs means another
            // process moved value meanwhile, which `verify_balance_unchanged` must then see.
            batch
                .command
                .balances_read
                .entry(stored.clone())
                .or_insert(stored_balance);
            balance_units = balance_units
                .checked_add(batch.pending(&stored))
                .ok_or_else(|| corrupt("balance"))?;
        }
        Ok(Some(AccountState {
            currency,
            balance_units,
            held_units,
        }))
    }

    fn children(&mut self, parent: &CodeId, limit: u32) -> StoreResult<Vec<CodeRecord>> {
        let sql = format!(
            "SELECT {CODE_COLUMNS} FROM codes WHERE parent_id = $1 ORDER BY created_at, id COLLATE \"C\" LIMIT $2"
        );
        let rows = self.query(&sql, &[&parent.as_str(), &i64::from(limit)])?;
        let mut children = Vec::with_capacity(rows.len());
        for row in &rows {
            let (record, version) = code_from_row(row)?;
            if self.is_contended_code(record.id.as_str()) {
                // Raced on an earlier attempt: `one_code` reads it again under lock.
                let locked = self
                    .one_code("id = $1", &record.id.as_str())?
                    .ok_or_else(|| corrupt("child"))?;
                children.push(locked);
                continue;
            }
            self.saw_code(&record, version);
            children.push(record);
        }
        Ok(children)
    }

    fn child_count(&mut self, parent: &CodeId) -> StoreResult<u32> {
        let row = self.query_one("SELECT count(*) FROM codes WHERE parent_id = $1", &[&parent.as_str()])?;
        small(get(&row, 0)?, "child count")
    }

    fn transfers_of(&mut self, account: &AccountKey, filter: &TransferFilter) -> StoreResult<Vec<(i64, Transfer)>> {
        self.read_transfers()?;
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM ({} UNION ALL {}) page ORDER BY seq DESC LIMIT $5",
            history_arm("debit"),
            history_arm("credit")
        );
        let rows = self.query(
            &sql,
            &[
                &account.to_stored(),
                &filter.since.map(|t| t.0),
                &filter.until.map(|t| t.0),
                &filter.before_sequence,
                &i64::from(filter.limit),
            ],
        )?;
        rows.iter().map(transfer_from_row).collect()
    }

    fn transfer_by_id(&mut self, id: &str) -> StoreResult<Option<Transfer>> {
        self.read_transfers()?;
        let sql = format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1");
        let row = self.query_opt(&sql, &[&id])?;
        row.map(|row| transfer_from_row(&row).map(|(_, transfer)| transfer))
            .transpose()
    }

    fn report(
        &mut self,
        account: &AccountKey,
        grouping: ReportGrouping,
        filter: &TransferFilter,
    ) -> StoreResult<Vec<ReportRow>> {
        self.read_transfers()?;
        let key = match grouping {
            ReportGrouping::Day => "to_char(to_timestamp(at / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            ReportGrouping::Month => "to_char(to_timestamp(at / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM')",
            ReportGrouping::PublicCode => "(SELECT public_code FROM codes WHERE codes.id = transfers.public_code_id)",
        };
        let only_payments = if grouping == ReportGrouping::PublicCode {
            "AND public_code_id IS NOT NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT k, count(*), \
                    coalesce(sum(CASE WHEN credit = $1 THEN amount END), 0)::bigint, \
                    coalesce(sum(CASE WHEN debit = $1 THEN amount END), 0)::bigint \
             FROM (SELECT {key} AS k, debit, credit, amount FROM transfers \
                   WHERE {ACCOUNT_WINDOW} {only_payments}) grouped \
             GROUP BY k ORDER BY k COLLATE \"C\" LIMIT $4"
        );
        let rows = self.query(
            &sql,
            &[
                &account.to_stored(),
                &filter.since.map(|t| t.0),
                &filter.until.map(|t| t.0),
                &i64::from(filter.limit),
            ],
        )?;
        rows.iter()
            .map(|row| {
                let key: String = get::<Option<String>>(row, 0)?.unwrap_or_default();
                Ok(ReportRow {
                    key: PublicCode::from_stored(&key).map_or(key, |code| code.to_string()),
                    count: count(row, 1)?,
                    total_in_units: get(row, 2)?,
                    total_out_units: get(row, 3)?,
                })
            })
            .collect()
    }

    fn public_code_stats(&mut self, public_code: &CodeId) -> StoreResult<(u64, i64)> {
        self.read_transfers()?;
        let row = self.query_opt(
            "SELECT payments, units FROM public_code_stats WHERE code_id = $1",
            &[&public_code.as_str()],
        )?;
        match row {
            Some(row) => Ok((count(&row, 0)?, get(&row, 1)?)),
            None => Ok((0, 0)),
        }
    }

    fn ledger_totals(&mut self) -> StoreResult<LedgerTotals> {
        self.read_transfers()?;
        let rows = self.query(
            "SELECT a.currency, sum(a.balance)::bigint, \
                    coalesce(-sum(a.balance) FILTER (WHERE a.kind = 'issuance'), 0)::bigint, \
                    coalesce(sum(a.balance) FILTER (WHERE a.kind = 'code'), 0)::bigint, \
                    count(*), (SELECT count(*) FROM transfers t WHERE t.currency = a.currency) \
             FROM accounts a GROUP BY a.currency ORDER BY a.currency COLLATE \"C\"",
            &[],
        )?;
        let currencies = rows
            .iter()
            .map(|row| {
                Ok(CurrencyTotals {
                    currency: Currency::parse(&get::<String>(row, 0)?).map_err(|_| corrupt("currency"))?,
                    sum_units: get(row, 1)?,
                    issued_units: get(row, 2)?,
                    held_by_codes_units: get(row, 3)?,
                    accounts: count(row, 4)?,
                    transfers: count(row, 5)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let row = self.query_one("SELECT count(*) FROM accounts WHERE kind = 'code' AND balance < 0", &[])?;
        let negative_balances = count(&row, 0)?;
        // Every kept balance must equal what its recorded transfers add up to.
        let row = self.query_one(
            "WITH moved AS ( \
                 SELECT key, sum(units)::bigint AS units FROM ( \
                     SELECT credit AS key, amount AS units FROM transfers \
                     UNION ALL SELECT debit, -amount FROM transfers) movements \
                 GROUP BY key) \
             SELECT count(*) FROM accounts a LEFT JOIN moved m ON m.key = a.key \
             WHERE a.balance <> coalesce(m.units, 0)",
            &[],
        )?;
        let mismatched_accounts = count(&row, 0)?;
        Ok(LedgerTotals {
            currencies,
            negative_balances,
            mismatched_accounts,
        })
    }

    fn due_expiries(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<CodeRecord>> {
        let sql = format!(
            "SELECT {CODE_COLUMNS} FROM codes WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= $1 \
             ORDER BY expires_at, depth DESC LIMIT $2"
        );
        let rows = self.query(&sql, &[&now.0, &i64::from(limit)])?;
        let mut due = Vec::with_capacity(rows.len());
        for row in &rows {
            let (record, version) = code_from_row(row)?;
            self.saw_code(&record, version);
            due.push(record);
        }
        Ok(due)
    }
}

impl LedgerTx for PgLedger<'_> {
    fn insert_code(&mut self, r: &CodeRecord, hash: Option<&CodeHash>) -> StoreResult<()> {
        let placeholders: Vec<String> = (1..=33).map(|n| format!("${n}")).collect();
        let columns = CODE_COLUMNS.trim_end_matches(", xmin::text::bigint");
        let sql = format!(
            "INSERT INTO codes ({columns}, code_hash) VALUES ({}) RETURNING xmin::text::bigint",
            placeholders.join(", ")
        );
        let payees: Option<Vec<&str>> = r
            .restrictions
            .payees
            .as_ref()
            .map(|p| p.iter().map(PublicCode::as_stored).collect());
        let hash = hash.map(|h| h.0.as_slice());
        let row = self.query_one(
            &sql,
            &[
                &r.id.as_str(),
                &r.kind.as_str(),
                &r.parent_id.as_ref().map(CodeId::as_str),
                &r.owner_id.as_str(),
                &r.public_code.as_ref().map(PublicCode::as_stored),
                &r.currency.as_str(),
                &r.label,
                &r.profile.name,
                &r.profile.description,
                &r.profile.url,
                &r.profile.contact,
                &r.profile.show_stats,
                &r.status.as_str(),
                &i64::from(r.depth),
                &r.created_at.0,
                &r.expires_at.map(|t| t.0),
                &r.irrevocable,
                &r.pin.hash,
                &i64::from(r.pin.generation),
                &i64::from(r.pin.failures),
                &r.pin.locked,
                &r.restrictions.categories,
                &payees,
                &r.restrictions.items,
                &r.restrictions.amount_per_use_max.map(Amount::units),
                &r.restrictions.uses_max.map(i64::from),
                &r.restrictions.spend_per_period.map(|l| l.amount.units()),
                &r.restrictions.spend_per_period.map(|l| l.period_seconds),
                &r.restricted_lineage,
                &i64::from(r.usage.uses),
                &r.usage.period_index,
                &r.usage.period_spent_units,
                &hash,
            ],
        )?;
        let version: i64 = get(&row, 0)?;
        if let Some(batch) = self.batch.as_deref_mut() {
            let id = r.id.as_str().to_owned();
            batch.command.versions.insert(id.clone(), version);
            batch.command.statuses_set.insert(id, r.status);
        }
        Ok(())
    }

    fn open_account(&mut self, key: &AccountKey, currency: Currency) -> StoreResult<()> {
        self.execute(
            "INSERT INTO accounts (key, kind, currency, balance, held) VALUES ($1, $2, $3, 0, 0) \
             ON CONFLICT (key) DO NOTHING",
            &[&key.to_stored(), &account_kind(key), &currency.as_str()],
        )?;
        Ok(())
    }

    fn append_transfer(&mut self, posted: &Posted) -> StoreResult<()> {
        let t = posted.transfer();
        let debit = t.debit.to_stored();
        let credit = t.credit.to_stored();
        let units = t.amount.units();
        match self.batch.as_deref_mut() {
            // The writer: the transfer is written and the balances change when the batch ends
            // (see `finish_batch`).
            Some(batch) => {
                batch.command.transfers.push(t.clone());
                *batch.command.deltas.entry(debit).or_insert(0) -= units;
                *batch.command.deltas.entry(credit).or_insert(0) += units;
            }
            None => {
                self.insert_transfers(std::slice::from_ref(t))?;
                let moved = "UPDATE accounts SET balance = balance + $2 WHERE key = $1";
                let debited = self.execute(moved, &[&debit, &-units])?;
                let credited = self.execute(moved, &[&credit, &units])?;
                if debited != 1 || credited != 1 {
                    return Err(StorageFailure(format!("transfer {} names a missing account", t.id)));
                }
            }
        }
        Ok(())
    }

    fn set_status(&mut self, id: &CodeId, status: CodeStatus, at: Timestamp) -> StoreResult<()> {
        let kind = self.update_code(id, "status = $3, status_changed_at = $4", &[&status.as_str(), &at.0])?;
        if let Some(batch) = self.batch.as_deref_mut() {
            batch.command.statuses_set.insert(id.as_str().to_owned(), status);
        }
        if kind == CodeKind::Secret {
            self.verify_balance_unchanged(&AccountKey::Code(id.clone()).to_stored())?;
        }
        Ok(())
    }

    fn set_profile(&mut self, id: &CodeId, p: &Profile) -> StoreResult<()> {
        self.update_code(
            id,
            "profile_name = $3, profile_description = $4, profile_url = $5, profile_contact = $6, show_stats = $7",
            &[&p.name, &p.description, &p.url, &p.contact, &p.show_stats],
        )?;
        Ok(())
    }

    fn set_pin(&mut self, id: &CodeId, pin: &PinState) -> StoreResult<()> {
        self.update_code(
            id,
            "pin_hash = $3, pin_generation = $4, pin_failures = $5, locked = $6",
            &[
                &pin.hash,
                &i64::from(pin.generation),
                &i64::from(pin.failures),
                &pin.locked,
            ],
        )?;
        Ok(())
    }

    fn set_code_hash(&mut self, id: &CodeId, hash: &CodeHash) -> StoreResult<()> {
        self.update_code(id, "code_hash = $3", &[&hash.0.as_slice()])?;
        Ok(())
    }

    fn set_usage(&mut self, id: &CodeId, usage: &Usage) -> StoreResult<()> {
        self.update_code(
            id,
            "uses = $3, period_index = $4, period_spent = $5",
            &[&i64::from(usage.uses), &usage.period_index, &usage.period_spent_units],
        )?;
        Ok(())
    }
}

/// What a batch does after its commands and before COMMIT: writes the kept commands' transfers in
/// one statement, applies the balance changes ([`PgLedger::apply`]), and counts the payments into
/// their public codes' totals ([`PgLedger::count_public_payments`]).
pub fn finish_batch(conn: &mut Conn, batch: &mut BatchState) -> StoreResult<()> {
    let transfers = std::mem::take(&mut batch.transfers);
    let mut ledger = PgLedger {
        conn,
        batch: Some(batch),
    };
    ledger.insert_transfers(&transfers)?;
    ledger.apply()?;
    ledger.count_public_payments(&transfers)
}

/// Prefetches the rows the batch's payments name (see [`PgLedger::prefetch`]).
pub fn prefetch(conn: &mut Conn, batch: &mut BatchState, hashes: &[&[u8]], publics: &[&str]) -> StoreResult<()> {
    let mut ledger = PgLedger {
        conn,
        batch: Some(batch),
    };
    ledger.prefetch(hashes, publics)
}

impl PgLedger<'_> {
    /// Applies the batch's balance changes: locks every account it touches in key order (so two
    /// processes never wait on each other in a cycle here), checks the bounds against the balances
    /// as they stand now (another process may have moved value since the core read them), adds the
    /// changes in one statement, and checks that no code it touched was closed by another process
    /// meanwhile. A failed check is a conflict: the batch runs again.
    fn apply(&mut self) -> StoreResult<()> {
        let Some(batch) = self.batch.as_deref() else {
            return Ok(());
        };
        let changes: BTreeMap<String, i64> = batch
            .deltas
            .iter()
            .filter(|(_, delta)| **delta != 0)
            .map(|(key, delta)| (key.clone(), *delta))
            .collect();
        if changes.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = changes.keys().map(String::as_str).collect();
        let rows = self.query(
            "SELECT key, balance, held, kind FROM accounts WHERE key = ANY($1) ORDER BY key COLLATE \"C\" FOR UPDATE",
            &[&keys],
        )?;
        if rows.len() != keys.len() {
            return Err(StorageFailure("a transfer names a missing account".into()));
        }
        let mut codes = Vec::new();
        for row in &rows {
            let key: String = get(row, 0)?;
            let (balance, held): (i64, i64) = (get(row, 1)?, get(row, 2)?);
            let is_code = get::<String>(row, 3)? == "code";
            if is_code {
                let id = AccountKey::from_stored(&key).and_then(|key| key.code_id().cloned());
                codes.push(id.ok_or_else(|| corrupt("account key"))?);
            }
            let after = balance.checked_add(changes[&key]);
            let within = match after {
                Some(after) if is_code => after >= held && (0..=BALANCE_UNITS_MAX).contains(&after),
                Some(_) => true,
                None => false,
            };
            if !within {
                // Another process spent (or filled) it since the core read it. The next attempt
                // reads it afresh, without a lock: a code paid from two processes at once runs
                // out soon, and then the core refuses instead of racing.
                return Err(self.conflict(format!("the balance of {key} moved out of bounds"), None, None));
            }
        }
        let deltas: Vec<i64> = changes.values().copied().collect();
        let updated = self.execute(
            "UPDATE accounts a SET balance = a.balance + d.delta \
             FROM unnest($1::text[], $2::bigint[]) AS d(key, delta) WHERE a.key = d.key",
            &[&keys, &deltas],
        )?;
        if updated != keys.len() as u64 {
            return Err(StorageFailure("a transfer names a missing account".into()));
        }
        self.check_statuses(&codes)
    }

    /// Every code whose balance the batch changes must still have the status the batch saw.
    fn check_statuses(&mut self, codes: &[CodeId]) -> StoreResult<()> {
        let ids: Vec<&str> = codes.iter().map(CodeId::as_str).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let rows = self.query("SELECT id, status FROM codes WHERE id = ANY($1)", &[&ids])?;
        for row in &rows {
            let id: String = get(row, 0)?;
            let status = CodeStatus::parse(&get::<String>(row, 1)?).ok_or_else(|| corrupt("status"))?;
            let expected = self.batch.as_ref().and_then(|b| b.statuses.get(&id).copied());
            if expected.is_some_and(|expected| expected != status) {
                return Err(self.conflict(format!("code {id} was closed meanwhile"), Some(&id), None));
            }
        }
        Ok(())
    }
}

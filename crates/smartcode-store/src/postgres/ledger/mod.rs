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

mod approvals;
mod batch;
mod charges;
mod hold_writes;
mod holds;
mod items;
mod licenses;
mod peers;
mod quotes;
mod reads;
mod sessions;
mod webhooks;
mod writes;

pub use self::batch::{finish_batch, prefetch};

use std::collections::{BTreeMap, HashMap, HashSet};

use postgres::error::SqlState;
use postgres::types::{FromSql, ToSql};
use postgres::Row;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::CodeId;
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::model::*;
use smartcode_core::money::{Amount, Currency};

use super::conn::{classify, describe, Conn, ErrorKind};
use crate::protocol::{IdempotencyRecords, Remembered};
use crate::rows::{CodeColumns, CODE_COLUMNS, CODE_COLUMN_COUNT};
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
    /// Holds by id, as they stood when the batch began.
    holds: HashMap<String, HoldRecord>,
}

/// What the writer knows of its open batch beyond what the database holds.
pub struct BatchState {
    /// Net balance change per account of the commands kept so far; applied at the end.
    deltas: BTreeMap<String, i64>,
    /// Net change of what each account holds aside, applied with the balances.
    held_deltas: BTreeMap<String, i64>,
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
    /// Hold rows the kept commands wrote, not yet sent (see [`hold_writes`]).
    holds: hold_writes::HoldWrites,
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
    /// Its writes of hold rows, not yet sent.
    holds: hold_writes::HoldWrites,
    /// It made the batch write its kept transfers or holds inside its savepoint (see `read_transfers`).
    wrote_batch_writes: bool,
    deltas: HashMap<String, i64>,
    held_deltas: HashMap<String, i64>,
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
            held_deltas: BTreeMap::new(),
            statuses: HashMap::new(),
            command: CommandState::default(),
            contended,
            conflict: None,
            prefetched: Prefetched::default(),
            transfers: Vec::new(),
            holds: hold_writes::HoldWrites::new(),
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
        self.command.wrote_batch_writes
    }

    /// Ends the running command: `kept` when it was released into the batch, not rolled back.
    pub fn end_command(&mut self, kept: bool) {
        let command = std::mem::take(&mut self.command);
        if !kept {
            return;
        }
        self.transfers.extend(command.transfers);
        self.holds.extend(command.holds);
        for (key, delta) in command.deltas {
            *self.deltas.entry(key).or_insert(0) += delta;
        }
        for (key, delta) in command.held_deltas {
            *self.held_deltas.entry(key).or_insert(0) += delta;
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

    /// What the batch (the running command included) adds to what `key` holds aside.
    fn pending_held(&self, key: &str) -> i64 {
        self.held_deltas.get(key).copied().unwrap_or(0) + self.command.held_deltas.get(key).copied().unwrap_or(0)
    }
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

fn code_id(text: &str, what: &str) -> StoreResult<CodeId> {
    CodeId::parse(text).ok_or_else(|| corrupt(what))
}

/// A code row's version, selected after [`CODE_COLUMNS`]: an update names the version it read.
const VERSION: &str = "xmin::text::bigint";

/// A code's row as `SELECT {CODE_COLUMNS}, {VERSION}` gives it, and the row's version.
fn code_from_row(row: &Row) -> StoreResult<(CodeRecord, i64)> {
    let columns = CodeColumns {
        id: get(row, 0)?,
        kind: get(row, 1)?,
        parent_id: get(row, 2)?,
        owner_id: get(row, 3)?,
        public_code: get(row, 4)?,
        currency: get(row, 5)?,
        label: get(row, 6)?,
        profile_name: get(row, 7)?,
        profile_description: get(row, 8)?,
        profile_url: get(row, 9)?,
        profile_contact: get(row, 10)?,
        show_stats: get(row, 11)?,
        status: get(row, 12)?,
        depth: get(row, 13)?,
        created_at: get(row, 14)?,
        expires_at: get(row, 15)?,
        irrevocable: get(row, 16)?,
        pin_hash: get(row, 17)?,
        pin_generation: get(row, 18)?,
        pin_failures: get(row, 19)?,
        locked: get(row, 20)?,
        allowed_categories: get(row, 21)?,
        allowed_payees: get(row, 22)?,
        allowed_items: get(row, 23)?,
        amount_per_use_max: get(row, 24)?,
        uses_max: get(row, 25)?,
        spend_period_amount: get(row, 26)?,
        spend_period_seconds: get(row, 27)?,
        restricted_lineage: get(row, 28)?,
        uses: get(row, 29)?,
        period_index: get(row, 30)?,
        period_spent: get(row, 31)?,
        catalog_categories: get(row, 32)?,
        catalog_items: get(row, 33)?,
        checked_by: get(row, 34)?,
        checked_at: get(row, 35)?,
        spending_rules: get(row, 36)?,
        webhooks: get(row, 37)?,
    };
    Ok((columns.into_record()?, get(row, CODE_COLUMN_COUNT)?))
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

    fn one_code(&mut self, condition: &str, value: Param) -> StoreResult<Option<CodeRecord>> {
        let sql = format!("SELECT {CODE_COLUMNS}, {VERSION} FROM codes WHERE {condition}");
        let Some(row) = self.query_opt(&sql, &[value])? else {
            return Ok(None);
        };
        let (mut record, mut version) = code_from_row(&row)?;
        if self.is_contended_code(record.id.as_str()) {
            // Raced on an earlier attempt: wait for the other process and read what it left.
            let locked = format!("SELECT {CODE_COLUMNS}, {VERSION} FROM codes WHERE {condition} FOR UPDATE");
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

    /// Takes the sweep's lock for the rest of the transaction; `false` if another process holds it.
    pub fn try_sweep_lock(&mut self, class: i32, scope: i32) -> StoreResult<bool> {
        let row = self.query_one("SELECT pg_try_advisory_xact_lock($1, $2)", &[&class, &scope])?;
        get(&row, 0)
    }
}

/// Idempotency keys are rows of one table shared by every process.
impl IdempotencyRecords for PgLedger<'_> {
    /// Claims the key for the running command, or returns what the request that used it first
    /// left. The claim is a row inserted in the batch's transaction, so another process
    /// presenting the same key at the same moment waits for this commit and then replays it (or
    /// claims the key itself if this command is refused).
    fn claim(
        &mut self,
        key_hash: &[u8; 32],
        fingerprint: &[u8; 32],
        now: Timestamp,
    ) -> StoreResult<Option<Remembered>> {
        let (key, print) = (key_hash.as_slice(), fingerprint.as_slice());
        // A key older than the window is forgotten, whether or not the sweep has deleted it yet:
        // claimed again as if new.
        let kept_since =
            now.0 - smartcode_core::limits::IDEMPOTENCY_KEY_KEPT_SECONDS * smartcode_core::clock::MICROS_PER_SECOND;
        let claimed = self.execute(
            "INSERT INTO idempotency (key_hash, fingerprint, status, body, created_at) \
             VALUES ($1, $2, 0, ''::bytea, $3) ON CONFLICT (key_hash) DO UPDATE \
             SET fingerprint = excluded.fingerprint, status = 0, body = ''::bytea, created_at = excluded.created_at \
             WHERE idempotency.created_at < $4",
            &[&key, &print, &now.0, &kept_since],
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

    fn recall(&mut self, key_hash: &[u8; 32], now: Timestamp) -> StoreResult<Option<Remembered>> {
        let kept_since =
            now.0 - smartcode_core::limits::IDEMPOTENCY_KEY_KEPT_SECONDS * smartcode_core::clock::MICROS_PER_SECOND;
        // A row is claimed and filled in within one transaction, so a committed one has its answer.
        let row = self.query_opt(
            "SELECT fingerprint, status, body FROM idempotency WHERE key_hash = $1 AND created_at >= $2",
            &[&key_hash.as_slice(), &kept_since],
        )?;
        let Some(row) = row else { return Ok(None) };
        let status = u16::try_from(get::<i32>(&row, 1)?).map_err(|_| corrupt("status"))?;
        Ok(Some(Remembered {
            fingerprint: get(&row, 0)?,
            response: StoredResponse {
                status,
                body: get(&row, 2)?,
            },
        }))
    }

    /// Fills in the row [`IdempotencyRecords::claim`] inserted.
    fn remember(
        &mut self,
        key_hash: &[u8; 32],
        _: &[u8; 32],
        response: &StoredResponse,
        _: Timestamp,
    ) -> StoreResult<()> {
        let key = key_hash.as_slice();
        let body = response.body.as_slice();
        self.execute(
            "UPDATE idempotency SET status = $2, body = $3 WHERE key_hash = $1",
            &[&key, &i32::from(response.status), &body],
        )?;
        Ok(())
    }

    fn forget_before(&mut self, cutoff: Timestamp) -> StoreResult<()> {
        self.execute("DELETE FROM idempotency WHERE created_at < $1", &[&cutoff.0])?;
        Ok(())
    }
}

//! The writes of the SQLite ledger: the statements every payment runs, prepared once for the
//! writer's life ([`HotStatements`]), and the writes [`crate::cache::Cached`] passes on to SQLite
//! (codes, accounts, idempotency records). Transfers, balances and hold rows are written by
//! `Cached` itself, with the hot statements.

use rusqlite::{params, Connection, OptionalExtension, Statement};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeHash, CodeId};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::limits::IDEMPOTENCY_KEY_KEPT_SECONDS;
use smartcode_core::model::*;
use smartcode_core::money::Currency;
use smartcode_core::spending::Rules;

use crate::protocol::Remembered;
use crate::rows::{account_kind, CodeColumns, CODE_COLUMNS, CODE_COLUMN_COUNT};
use crate::StoredResponse;

use super::{failure, join_list, SqliteLedger};

/// The statements every payment runs, prepared once for the writer's life ([`HotStatements`]).
const INSERT_TRANSFER: &str = "INSERT INTO transfers (id, at, kind, debit, credit, amount, currency, memo, \
     public_code_id, category, item, debit_prev, credit_prev) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
const WRITE_ACCOUNT: &str = "UPDATE accounts SET balance = ?2, last_seq = ?3 WHERE rowid = ?1";
const WRITE_ACCOUNT_HELD: &str = "UPDATE accounts SET balance = ?2, last_seq = ?3, held = ?4 WHERE rowid = ?1";
const WRITE_PUBLIC_TOTALS: &str = "UPDATE public_code_stats SET payments = ?2, units = ?3 WHERE rowid = ?1";

/// The writer's statements for what every payment does, prepared once: looking a statement up by
/// its text in rusqlite's cache (hashing and comparing the text, twice per use) cost more than
/// some of the statements themselves.
pub struct HotStatements<'c> {
    pub insert_transfer: Statement<'c>,
    pub write_account: Statement<'c>,
    /// An account whose `held` changed too (a hold, a capture, a void).
    pub write_account_held: Statement<'c>,
    pub write_public_totals: Statement<'c>,
    /// A hold's row, made and resolved (`sqlite::holds`).
    pub insert_hold: Statement<'c>,
    pub update_hold: Statement<'c>,
}

impl<'c> HotStatements<'c> {
    pub fn prepare(conn: &'c Connection) -> StoreResult<HotStatements<'c>> {
        Ok(HotStatements {
            insert_transfer: conn.prepare(INSERT_TRANSFER).map_err(failure)?,
            write_account: conn.prepare(WRITE_ACCOUNT).map_err(failure)?,
            write_account_held: conn.prepare(WRITE_ACCOUNT_HELD).map_err(failure)?,
            write_public_totals: conn.prepare(WRITE_PUBLIC_TOTALS).map_err(failure)?,
            insert_hold: conn.prepare(&super::holds::INSERT_HOLD).map_err(failure)?,
            update_hold: conn.prepare(super::holds::UPDATE_HOLD).map_err(failure)?,
        })
    }
}

pub fn insert_transfer(
    statement: &mut Statement<'_>,
    t: &Transfer,
    debit_prev: Option<i64>,
    credit_prev: Option<i64>,
) -> StoreResult<i64> {
    statement
        .insert(params![
            t.id,
            t.at.0,
            t.kind.as_str(),
            t.debit.to_stored(),
            t.credit.to_stored(),
            t.amount.units(),
            t.currency.as_str(),
            t.memo,
            t.public_code_id.as_ref().map(CodeId::as_str),
            t.category,
            t.item,
            debit_prev,
            credit_prev,
        ])
        .map_err(failure)
}

/// Writes an account's balance and chain end with `plain`, or with `with_held` its held too.
pub fn write_account(
    (plain, with_held): (&mut Statement<'_>, &mut Statement<'_>),
    rowid: i64,
    (balance_units, held_units): (i64, Option<i64>),
    last_seq: Option<i64>,
) -> StoreResult<()> {
    let written = match held_units {
        None => plain.execute(params![rowid, balance_units, last_seq]),
        Some(held) => with_held.execute(params![rowid, balance_units, last_seq, held]),
    };
    match written {
        Ok(1) => Ok(()),
        Ok(_) => Err(StorageFailure(format!("account row {rowid} is missing"))),
        Err(error) => Err(failure(error)),
    }
}

pub fn write_public_totals(statement: &mut Statement<'_>, rowid: i64, payments: i64, units: i64) -> StoreResult<()> {
    match statement.execute(params![rowid, payments, units]) {
        Ok(1) => Ok(()),
        Ok(_) => Err(StorageFailure(format!("public-code totals row {rowid} is missing"))),
        Err(error) => Err(failure(error)),
    }
}

/// A code and every code below it, marked as having a restricted lineage; `{}` is the dialect's
/// first placeholder.
pub fn mark_lineage_sql(placeholder: &str) -> String {
    format!(
        "WITH RECURSIVE below(id) AS (SELECT id FROM codes WHERE id = {placeholder} \
         UNION ALL SELECT codes.id FROM codes JOIN below ON codes.parent_id = below.id) \
         UPDATE codes SET restricted_lineage = TRUE WHERE id IN (SELECT id FROM below) AND NOT restricted_lineage"
    )
}

impl SqliteLedger<'_> {
    pub fn insert_code(&mut self, record: &CodeRecord, hash: Option<&CodeHash>) -> StoreResult<()> {
        let placeholders: Vec<String> = (1..=CODE_COLUMN_COUNT + 1).map(|n| format!("?{n}")).collect();
        let sql = format!(
            "INSERT INTO codes ({CODE_COLUMNS}, code_hash) VALUES ({})",
            placeholders.join(", ")
        );
        let c = CodeColumns::from_record(record);
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![
                c.id,
                c.kind,
                c.parent_id,
                c.owner_id,
                c.public_code,
                c.currency,
                c.label,
                c.profile_name,
                c.profile_description,
                c.profile_url,
                c.profile_contact,
                c.show_stats,
                c.status,
                c.depth,
                c.created_at,
                c.expires_at,
                c.irrevocable,
                c.pin_hash,
                c.pin_generation,
                c.pin_failures,
                c.locked,
                join_list(c.allowed_categories.as_deref()),
                join_list(c.allowed_payees.as_deref()),
                join_list(c.allowed_items.as_deref()),
                c.amount_per_use_max,
                c.uses_max,
                c.spend_period_amount,
                c.spend_period_seconds,
                c.restricted_lineage,
                c.uses,
                c.period_index,
                c.period_spent,
                join_list(c.catalog_categories.as_deref()),
                join_list(c.catalog_items.as_deref()),
                c.checked_by,
                c.checked_at,
                c.spending_rules,
                c.webhooks,
                hash.map(|h| h.0.to_vec()),
            ])
            .map_err(failure)?;
        Ok(())
    }

    /// What the first request under an idempotency key left, if one did within the window: a key
    /// older than the window is forgotten, whether or not the sweep has deleted it yet.
    pub fn idempotency_record(&self, key_hash: &[u8; 32], now: Timestamp) -> StoreResult<Option<Remembered>> {
        let kept_since = now.0 - IDEMPOTENCY_KEY_KEPT_SECONDS * smartcode_core::clock::MICROS_PER_SECOND;
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT fingerprint, status, body FROM idempotency WHERE key_hash = ?1 AND created_at >= ?2",
            )
            .map_err(failure)?;
        let row = statement
            .query_row(params![key_hash.as_slice(), kept_since], |row| {
                Ok(Remembered {
                    fingerprint: row.get(0)?,
                    response: StoredResponse {
                        status: row.get(1)?,
                        body: row.get(2)?,
                    },
                })
            })
            .optional()
            .map_err(failure)?;
        Ok(row)
    }

    pub fn insert_idempotency_record(
        &mut self,
        key_hash: &[u8; 32],
        fingerprint: &[u8; 32],
        response: &StoredResponse,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut statement = self
            .conn
            .prepare_cached(
                "INSERT INTO idempotency (key_hash, fingerprint, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (key_hash) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status, \
                 body = excluded.body, created_at = excluded.created_at",
            )
            .map_err(failure)?;
        statement
            .execute(params![
                key_hash.as_slice(),
                fingerprint.as_slice(),
                response.status,
                response.body,
                now.0
            ])
            .map_err(failure)?;
        Ok(())
    }

    pub fn forget_idempotency_before(&mut self, cutoff: Timestamp) -> StoreResult<()> {
        let mut statement = self
            .conn
            .prepare_cached("DELETE FROM idempotency WHERE created_at < ?1")
            .map_err(failure)?;
        statement.execute([cutoff.0]).map_err(failure)?;
        Ok(())
    }

    pub fn open_account(&mut self, key: &AccountKey, currency: Currency) -> StoreResult<()> {
        let mut statement = self
            .conn
            .prepare_cached(
                "INSERT INTO accounts (key, kind, currency, balance, held) VALUES (?1, ?2, ?3, 0, 0) \
                 ON CONFLICT (key) DO NOTHING",
            )
            .map_err(failure)?;
        statement
            .execute(params![key.to_stored(), account_kind(key), currency.as_str()])
            .map_err(failure)?;
        Ok(())
    }

    pub fn set_status(&mut self, id: &CodeId, status: CodeStatus, at: Timestamp) -> StoreResult<()> {
        let mut statement = self
            .conn
            .prepare_cached("UPDATE codes SET status = ?2, status_changed_at = ?3 WHERE id = ?1")
            .map_err(failure)?;
        statement
            .execute(params![id.as_str(), status.as_str(), at.0])
            .map_err(failure)?;
        Ok(())
    }

    pub fn set_profile(&mut self, id: &CodeId, p: &Profile) -> StoreResult<()> {
        let mut statement = self
            .conn
            .prepare_cached(
                "UPDATE codes SET profile_name = ?2, profile_description = ?3, profile_url = ?4, profile_contact = ?5, show_stats = ?6 \
                 WHERE id = ?1",
            )
            .map_err(failure)?;
        statement
            .execute(params![
                id.as_str(),
                p.name,
                p.description,
                p.url,
                p.contact,
                p.show_stats
            ])
            .map_err(failure)?;
        Ok(())
    }

    pub fn set_catalog(&mut self, id: &CodeId, catalog: &Catalog) -> StoreResult<()> {
        let mut statement = self
            .conn
            .prepare_cached("UPDATE codes SET catalog_categories = ?2, catalog_items = ?3 WHERE id = ?1")
            .map_err(failure)?;
        statement
            .execute(params![
                id.as_str(),
                join_list(catalog.categories.as_deref()),
                join_list(catalog.items.as_deref()),
            ])
            .map_err(failure)?;
        Ok(())
    }

    pub fn set_check(&mut self, id: &CodeId, check: Option<&ProfileCheck>) -> StoreResult<()> {
        let mut statement = self
            .conn
            .prepare_cached("UPDATE codes SET checked_by = ?2, checked_at = ?3 WHERE id = ?1")
            .map_err(failure)?;
        statement
            .execute(params![
                id.as_str(),
                check.map(|c| c.by.as_stored()),
                check.map(|c| c.at.0),
            ])
            .map_err(failure)?;
        Ok(())
    }

    pub fn set_pin(&mut self, id: &CodeId, pin: &PinState) -> StoreResult<()> {
        let mut statement = self
            .conn
            .prepare_cached(
                "UPDATE codes SET pin_hash = ?2, pin_generation = ?3, pin_failures = ?4, locked = ?5 WHERE id = ?1",
            )
            .map_err(failure)?;
        statement
            .execute(params![id.as_str(), pin.hash, pin.generation, pin.failures, pin.locked])
            .map_err(failure)?;
        Ok(())
    }

    pub fn set_code_hash(&mut self, id: &CodeId, hash: &CodeHash) -> StoreResult<()> {
        let mut statement = self
            .conn
            .prepare_cached("UPDATE codes SET code_hash = ?2 WHERE id = ?1")
            .map_err(failure)?;
        statement
            .execute(params![id.as_str(), hash.0.as_slice()])
            .map_err(failure)?;
        Ok(())
    }

    pub fn set_spending(&mut self, id: &CodeId, rules: Option<&Rules>) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE codes SET spending_rules = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id.as_str(), crate::spending_rows::to_text(rules)]))
            .map_err(failure)?;
        Ok(())
    }

    /// Marks `id` and every code below it (see `LedgerTx::mark_lineage`).
    pub fn mark_lineage(&mut self, id: &CodeId) -> StoreResult<()> {
        self.conn
            .prepare_cached(&mark_lineage_sql("?1"))
            .and_then(|mut s| s.execute([id.as_str()]))
            .map_err(failure)?;
        Ok(())
    }

    pub fn set_usage(&mut self, id: &CodeId, usage: &Usage) -> StoreResult<()> {
        let mut statement = self
            .conn
            .prepare_cached("UPDATE codes SET uses = ?2, period_index = ?3, period_spent = ?4 WHERE id = ?1")
            .map_err(failure)?;
        statement
            .execute(params![
                id.as_str(),
                usage.uses,
                usage.period_index,
                usage.period_spent_units
            ])
            .map_err(failure)?;
        Ok(())
    }
}

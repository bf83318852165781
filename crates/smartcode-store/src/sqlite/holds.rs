//! Holds and refunds in SQLite. Holds: their rows, written at once with the writer's prepared
//! statements (the writer's memory keeps the pending ones, `cache::memory`); an account's `held` is kept in the writer's memory with its balance and written with it
//! at the flush (`cache::memory`), so the row never breaks `held <= balance`.

use std::sync::LazyLock;

use rusqlite::{params, OptionalExtension, Row, Statement};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{AssuranceId, CodeHash, CodeId, HoldId};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::model::{AliasRecord, AssuranceRecord, HoldRecord};
use smartcode_core::money::Amount;

use super::{failure, SqliteLedger};
use crate::rows::{
    AssuranceColumns, HoldColumns, RefundColumns, ASSURANCE_COLUMNS, HOLD_COLUMNS, HOLD_COLUMN_COUNT, REFUND_COLUMNS,
};
use smartcode_core::model::RefundRecord;

fn hold_from_row(row: &Row<'_>) -> rusqlite::Result<HoldRecord> {
    let columns = HoldColumns {
        id: row.get(0)?,
        payer_id: row.get(1)?,
        owner_id: row.get(2)?,
        payee: row.get(3)?,
        payee_id: row.get(4)?,
        amount: row.get(5)?,
        currency: row.get(6)?,
        memo: row.get(7)?,
        category: row.get(8)?,
        item: row.get(9)?,
        created_at: row.get(10)?,
        expires_at: row.get(11)?,
        state: row.get(12)?,
        resolved_at: row.get(13)?,
        captured: row.get(14)?,
        receipt_id: row.get(15)?,
        release_to: row.get(16)?,
        kind: row.get(17)?,
        assurance_id: row.get(18)?,
    };
    columns
        .into_record()
        .map_err(|e| rusqlite::Error::InvalidColumnName(e.0))
}

/// The statement that reads a hold by id, its text made once (not on each use).
static HOLD_BY_ID: LazyLock<String> = LazyLock::new(|| format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = ?1"));

/// The two statements every hold and capture runs, prepared once for the writer's life with the
/// payment's ([`super::HotStatements`]).
pub(super) static INSERT_HOLD: LazyLock<String> = LazyLock::new(|| {
    let placeholders: Vec<String> = (1..=HOLD_COLUMN_COUNT + 1).map(|n| format!("?{n}")).collect();
    format!(
        "INSERT INTO holds ({HOLD_COLUMNS}, code_hash) VALUES ({})",
        placeholders.join(", ")
    )
});
pub(super) const UPDATE_HOLD: &str = "UPDATE holds SET state = ?2, resolved_at = ?3, captured = ?4, receipt_id = ?5, \
     release_to = ?6, owner_id = ?7, payee = ?8, payee_id = ?9 WHERE id = ?1";

/// Inserts `hold` (`code`: an authorization's keyed hash) with [`INSERT_HOLD`], its values bound
/// as they stand in the record (no copy of each column first).
pub fn insert_hold(statement: &mut Statement<'_>, hold: &HoldRecord, code: Option<&CodeHash>) -> StoreResult<()> {
    let payee = hold.payee.as_ref();
    statement
        .execute(params![
            hold.id.as_str(),
            hold.payer_id.as_str(),
            payee.map(|p| p.owner_id.as_str()),
            payee.map(|p| p.payee.as_stored()),
            payee.map(|p| p.payee_id.as_str()),
            hold.amount.units(),
            hold.currency.as_str(),
            hold.memo,
            hold.category,
            hold.item,
            hold.created_at.0,
            hold.expires_at.0,
            hold.state.as_str(),
            hold.resolved_at.map(|t| t.0),
            hold.captured.map(Amount::units),
            hold.receipt_id,
            hold.release_to.as_ref().map(CodeId::as_str),
            hold.kind.as_str(),
            hold.assurance_id.as_ref().map(AssuranceId::as_str),
            code.map(|h| h.0.as_slice()),
        ])
        .map_err(failure)?;
    Ok(())
}

/// Writes what changes of a hold (its state, resolution, `release_to` and payee) with [`UPDATE_HOLD`].
pub fn update_hold(statement: &mut Statement<'_>, hold: &HoldRecord) -> StoreResult<()> {
    let payee = hold.payee.as_ref();
    let updated = statement
        .execute(params![
            hold.id.as_str(),
            hold.state.as_str(),
            hold.resolved_at.map(|t| t.0),
            hold.captured.map(Amount::units),
            hold.receipt_id,
            hold.release_to.as_ref().map(CodeId::as_str),
            payee.map(|p| p.owner_id.as_str()),
            payee.map(|p| p.payee.as_stored()),
            payee.map(|p| p.payee_id.as_str()),
        ])
        .map_err(failure)?;
    match updated {
        1 => Ok(()),
        _ => Err(StorageFailure(format!("hold {} is missing", hold.id))),
    }
}

impl SqliteLedger<'_> {
    pub fn hold(&self, id: &HoldId) -> StoreResult<Option<HoldRecord>> {
        let mut statement = self.conn.prepare_cached(&HOLD_BY_ID).map_err(failure)?;
        statement
            .query_row([id.as_str()], hold_from_row)
            .optional()
            .map_err(failure)
    }

    pub fn holds_pending_of(&self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        let sql = format!(
            "SELECT {HOLD_COLUMNS} FROM holds WHERE payer_id = ?1 AND state = 'pending' ORDER BY created_at, id LIMIT ?2"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map(params![code.as_str(), limit], hold_from_row)
            .map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    pub fn holds_due(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        let sql = format!(
            "SELECT {HOLD_COLUMNS} FROM holds WHERE state = 'pending' AND expires_at <= ?1 ORDER BY expires_at, id LIMIT ?2"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map(params![now.0, limit], hold_from_row)
            .map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    pub fn hold_by_code(&self, code: &CodeHash) -> StoreResult<Option<HoldRecord>> {
        let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE code_hash = ?1");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .query_row([code.0.as_slice()], hold_from_row)
            .optional()
            .map_err(failure)
    }

    pub fn authorizations_of(&self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        let sql = format!(
            "SELECT {HOLD_COLUMNS} FROM holds WHERE payer_id = ?1 AND kind = 'authorization' \
             ORDER BY created_at DESC, id DESC LIMIT ?2"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map(params![code.as_str(), limit], hold_from_row)
            .map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    pub fn alias_target(&self, hash: &CodeHash) -> StoreResult<Option<CodeId>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT code_id FROM aliases WHERE hash = ?1")
            .map_err(failure)?;
        let id: Option<String> = statement
            .query_row([hash.0.as_slice()], |row| row.get(0))
            .optional()
            .map_err(failure)?;
        id.map(|id| crate::rows::code_id(&id, "alias code")).transpose()
    }

    pub fn alias_of(&self, code: &CodeId) -> StoreResult<Option<AliasRecord>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT hash, public_digits, created_at FROM aliases WHERE code_id = ?1")
            .map_err(failure)?;
        let row: Option<(Vec<u8>, Option<String>, i64)> = statement
            .query_row([code.as_str()], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()
            .map_err(failure)?;
        row.map(|(hash, public_digits, created_at)| crate::rows::alias(code, &hash, public_digits, created_at))
            .transpose()
    }

    pub fn set_alias(&mut self, code: &CodeId, alias: Option<&AliasRecord>) -> StoreResult<()> {
        self.conn
            .prepare_cached("DELETE FROM aliases WHERE code_id = ?1")
            .and_then(|mut s| s.execute([code.as_str()]))
            .map_err(failure)?;
        if let Some(alias) = alias {
            self.conn
                .prepare_cached(
                    "INSERT INTO aliases (hash, code_id, public_digits, created_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        alias.hash.0.as_slice(),
                        code.as_str(),
                        alias.public_digits,
                        alias.created_at.0
                    ])
                })
                .map_err(failure)?;
        }
        Ok(())
    }

    fn assurances_where(&self, condition: &str, param: &dyn rusqlite::ToSql) -> StoreResult<Vec<AssuranceRecord>> {
        let sql = format!("SELECT {ASSURANCE_COLUMNS} FROM assurances WHERE {condition}");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map([param], |row| {
                let columns = AssuranceColumns {
                    id: row.get(0)?,
                    code_id: row.get(1)?,
                    floor: row.get(2)?,
                    currency: row.get(3)?,
                    created_at: row.get(4)?,
                    expires_at: row.get(5)?,
                    cancelled_at: row.get(6)?,
                };
                columns
                    .into_record()
                    .map_err(|e| rusqlite::Error::InvalidColumnName(e.0))
            })
            .map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    pub fn assurance_by_hash(&self, hash: &CodeHash) -> StoreResult<Option<AssuranceRecord>> {
        Ok(self.assurances_where("hash = ?1", &hash.0.as_slice())?.pop())
    }

    pub fn assurance_by_id(&self, id: &AssuranceId) -> StoreResult<Option<AssuranceRecord>> {
        Ok(self.assurances_where("id = ?1", &id.as_str())?.pop())
    }

    pub fn assurances_of(&self, code: &CodeId, limit: u32) -> StoreResult<Vec<AssuranceRecord>> {
        let condition = format!("code_id = ?1 ORDER BY created_at DESC, id DESC LIMIT {limit}");
        self.assurances_where(&condition, &code.as_str())
    }

    pub fn insert_assurance(&mut self, a: &AssuranceRecord, hash: &CodeHash) -> StoreResult<()> {
        let sql = format!("INSERT INTO assurances ({ASSURANCE_COLUMNS}, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![
                a.id.as_str(),
                a.code_id.as_str(),
                a.floor.units(),
                a.currency.as_str(),
                a.created_at.0,
                a.expires_at.0,
                a.cancelled_at.map(|t| t.0),
                hash.0.as_slice()
            ])
            .map_err(failure)?;
        Ok(())
    }

    pub fn cancel_assurance(&mut self, id: &AssuranceId, at: Timestamp) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE assurances SET cancelled_at = ?2 WHERE id = ?1 AND cancelled_at IS NULL")
            .and_then(|mut s| s.execute(params![id.as_str(), at.0]))
            .map_err(failure)?;
        Ok(())
    }

    pub fn refunds(&self, receipt_id: &str) -> StoreResult<Vec<RefundRecord>> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE receipt_id = ?1 ORDER BY seq");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map([receipt_id], |row| {
                let columns = RefundColumns {
                    id: row.get(0)?,
                    receipt_id: row.get(1)?,
                    seq: row.get(2)?,
                    amount: row.get(3)?,
                    currency: row.get(4)?,
                    reason: row.get(5)?,
                    credited: row.get(6)?,
                    created_at: row.get(7)?,
                };
                columns
                    .into_record()
                    .map_err(|e| rusqlite::Error::InvalidColumnName(e.0))
            })
            .map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    pub fn insert_refund(&mut self, refund: &RefundRecord) -> StoreResult<()> {
        let c = RefundColumns::from_record(refund);
        let sql = format!("INSERT INTO refunds ({REFUND_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![
                c.id,
                c.receipt_id,
                c.seq,
                c.amount,
                c.currency,
                c.reason,
                c.credited,
                c.created_at
            ])
            .map_err(failure)?;
        Ok(())
    }
}

//! The approval queue (zero-click buying) in SQLite, read and written straight through: the
//! writer's memory keeps no copy, for a queued purchase is rare beside a payment.

use rusqlite::{params, OptionalExtension, Row};
use smartcode_core::approval::ApprovalRecord;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{ApprovalId, CodeId};
use smartcode_core::error::{StorageFailure, StoreResult};

use super::{failure, SqliteLedger};
use crate::approval_rows::{ApprovalRow, APPROVAL_COLUMNS};

fn row_of(row: &Row<'_>) -> rusqlite::Result<ApprovalRow> {
    Ok(ApprovalRow {
        id: row.get(0)?,
        code_id: row.get(1)?,
        stopped_by: row.get(2)?,
        state: row.get(3)?,
        created_at: row.get(4)?,
        expires_at: row.get(5)?,
        body: row.get(6)?,
    })
}

impl SqliteLedger<'_> {
    pub fn approval(&self, id: &ApprovalId) -> StoreResult<Option<ApprovalRecord>> {
        let sql = format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = ?1");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let row = statement.query_row([id.as_str()], row_of).optional().map_err(failure)?;
        row.map(ApprovalRow::into_record).transpose()
    }

    pub fn approvals_for(&self, code: &CodeId, now: Timestamp, limit: u32) -> StoreResult<Vec<ApprovalRecord>> {
        let sql = format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE code_id = ?1 OR stopped_by = ?1 \
             ORDER BY CASE WHEN state = 'pending' AND expires_at > ?2 THEN 0 ELSE 1 END, created_at DESC, id DESC \
             LIMIT ?3"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map(params![code.as_str(), now.0, limit], row_of)
            .map_err(failure)?;
        rows.map(|row| row.map_err(failure).and_then(ApprovalRow::into_record))
            .collect()
    }

    pub fn insert_approval(&mut self, approval: &ApprovalRecord) -> StoreResult<()> {
        let r = ApprovalRow::from_record(approval);
        let sql = format!("INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![
                r.id,
                r.code_id,
                r.stopped_by,
                r.state,
                r.created_at,
                r.expires_at,
                r.body
            ])
            .map_err(failure)?;
        Ok(())
    }

    /// Writes a pending approval's new state; one no longer pending is a failure (the writer is
    /// the only one that writes, and the core read it pending in this transaction).
    pub fn update_approval(&mut self, approval: &ApprovalRecord) -> StoreResult<()> {
        let r = ApprovalRow::from_record(approval);
        let mut statement = self
            .conn
            .prepare_cached(
                "UPDATE approvals SET stopped_by = ?2, state = ?3, body = ?4 WHERE id = ?1 AND state = 'pending'",
            )
            .map_err(failure)?;
        let changed = statement
            .execute(params![r.id, r.stopped_by, r.state, r.body])
            .map_err(failure)?;
        if changed != 1 {
            return Err(StorageFailure(format!("approval {} was not pending", r.id)));
        }
        Ok(())
    }
}

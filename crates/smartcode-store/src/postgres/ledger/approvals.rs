//! The approval queue (zero-click buying) on PostgreSQL. An approval's new state is written at
//! once in the batch's transaction and names the approval pending: two processes that both read
//! it pending cannot both approve it (the second's update waits for the first's row lock, then
//! finds it approved), and the loser's batch runs again and is refused as no longer pending.

use postgres::Row;
use smartcode_core::approval::ApprovalRecord;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{ApprovalId, CodeId};
use smartcode_core::error::StoreResult;

use super::{get, PgLedger};
use crate::approval_rows::{ApprovalRow, APPROVAL_COLUMNS};

fn approval_from_row(row: &Row) -> StoreResult<ApprovalRecord> {
    ApprovalRow {
        id: get(row, 0)?,
        code_id: get(row, 1)?,
        stopped_by: get(row, 2)?,
        state: get(row, 3)?,
        created_at: get(row, 4)?,
        expires_at: get(row, 5)?,
        body: get(row, 6)?,
    }
    .into_record()
}

impl PgLedger<'_> {
    pub(super) fn read_approval(&mut self, id: &ApprovalId) -> StoreResult<Option<ApprovalRecord>> {
        let sql = format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1");
        self.query_opt(&sql, &[&id.as_str()])?
            .as_ref()
            .map(approval_from_row)
            .transpose()
    }

    pub(super) fn read_approvals_for(
        &mut self,
        code: &CodeId,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ApprovalRecord>> {
        let sql = format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE code_id = $1 OR stopped_by = $1 \
             ORDER BY CASE WHEN state = 'pending' AND expires_at > $2 THEN 0 ELSE 1 END, created_at DESC, \
             id COLLATE \"C\" DESC LIMIT $3"
        );
        self.query(&sql, &[&code.as_str(), &now.0, &i64::from(limit)])?
            .iter()
            .map(approval_from_row)
            .collect()
    }

    pub(super) fn write_new_approval(&mut self, approval: &ApprovalRecord) -> StoreResult<()> {
        let r = ApprovalRow::from_record(approval);
        let sql = format!("INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        self.execute(
            &sql,
            &[
                &r.id,
                &r.code_id,
                &r.stopped_by,
                &r.state,
                &r.created_at,
                &r.expires_at,
                &r.body,
            ],
        )?;
        Ok(())
    }

    pub(super) fn write_approval(&mut self, approval: &ApprovalRecord) -> StoreResult<()> {
        let r = ApprovalRow::from_record(approval);
        let changed = self.execute(
            "UPDATE approvals SET stopped_by = $2, state = $3, body = $4 WHERE id = $1 AND state = 'pending'",
            &[&r.id, &r.stopped_by, &r.state, &r.body],
        )?;
        if changed != 1 {
            return Err(self.conflict(format!("approval {} was resolved meanwhile", r.id), None, None));
        }
        Ok(())
    }
}

//! Metered sessions (zero-click buying) on PostgreSQL. A writer reads a session under `FOR UPDATE`,
//! held to the end of its transaction: a second process (or writer connection) charging the same
//! session waits there until the first has committed, and judges the charge on what it left (its
//! `charged`, and the buyer's balance after it), so twenty charges at once never pass the accrual
//! or the cap, nor meet a balance the session's own charges emptied. The new state is written at
//! once and names the session open with the `charged` it was read with: a race that got past the
//! lock anyway is a conflict, and the batch runs again.

use postgres::Row;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeId, SessionId};
use smartcode_core::error::StoreResult;
use smartcode_core::session::SessionRecord;

use super::{get, PgLedger};
use crate::session_rows::{SessionRow, SESSION_COLUMNS};

fn session_from_row(row: &Row) -> StoreResult<SessionRecord> {
    SessionRow {
        id: get(row, 0)?,
        code_id: get(row, 1)?,
        owner_id: get(row, 2)?,
        state: get(row, 3)?,
        charged: get(row, 4)?,
        opened_at: get(row, 5)?,
        expires_at: get(row, 6)?,
        body: get(row, 7)?,
    }
    .into_record()
}

impl PgLedger<'_> {
    pub(super) fn read_session(&mut self, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        // A writer's read is the one a charge or a close is judged on: locked to the commit.
        let lock = if self.batch.is_some() { " FOR UPDATE" } else { "" };
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1{lock}");
        self.query_opt(&sql, &[&id.as_str()])?
            .as_ref()
            .map(session_from_row)
            .transpose()
    }

    pub(super) fn read_sessions_for(
        &mut self,
        code: &CodeId,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<SessionRecord>> {
        // A writer reads a code's sessions to open one (the same offer's open session answers a
        // purchase again; a code opens at most so many): the code's row is locked first, so two
        // processes opening for one code take turns and the second sees the first's session.
        if self.batch.is_some() {
            self.query("SELECT 1 FROM codes WHERE id = $1 FOR UPDATE", &[&code.as_str()])?;
        }
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE code_id = $1 \
             ORDER BY CASE WHEN state = 'open' AND expires_at > $2 THEN 0 ELSE 1 END, opened_at DESC, \
             id COLLATE \"C\" DESC LIMIT $3"
        );
        self.query(&sql, &[&code.as_str(), &now.0, &i64::from(limit)])?
            .iter()
            .map(session_from_row)
            .collect()
    }

    pub(super) fn write_new_session(&mut self, session: &SessionRecord) -> StoreResult<()> {
        let r = SessionRow::from_record(session);
        let sql = format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        self.execute(
            &sql,
            &[
                &r.id,
                &r.code_id,
                &r.owner_id,
                &r.state,
                &r.charged,
                &r.opened_at,
                &r.expires_at,
                &r.body,
            ],
        )?;
        Ok(())
    }

    pub(super) fn write_session(&mut self, session: &SessionRecord, was_charged: i64) -> StoreResult<()> {
        let r = SessionRow::from_record(session);
        let changed = self.execute(
            "UPDATE sessions SET state = $2, charged = $3, body = $4 \
             WHERE id = $1 AND state = 'open' AND charged = $5",
            &[&r.id, &r.state, &r.charged, &r.body, &was_charged],
        )?;
        if changed != 1 {
            return Err(self.conflict(format!("session {} was charged or closed meanwhile", r.id), None, None));
        }
        Ok(())
    }
}

//! Metered sessions (zero-click buying) in SQLite, read and written straight through: the
//! writer's memory keeps no copy. The writer is the only one that writes, so a session read in a
//! transaction is the one its update finds; the update still names what it read.

use rusqlite::{params, OptionalExtension, Row};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeId, SessionId};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::session::SessionRecord;

use super::{failure, SqliteLedger};
use crate::session_rows::{SessionRow, SESSION_COLUMNS};

fn row_of(row: &Row<'_>) -> rusqlite::Result<SessionRow> {
    Ok(SessionRow {
        id: row.get(0)?,
        code_id: row.get(1)?,
        owner_id: row.get(2)?,
        state: row.get(3)?,
        charged: row.get(4)?,
        opened_at: row.get(5)?,
        expires_at: row.get(6)?,
        body: row.get(7)?,
    })
}

impl SqliteLedger<'_> {
    pub fn session(&self, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let row = statement.query_row([id.as_str()], row_of).optional().map_err(failure)?;
        row.map(SessionRow::into_record).transpose()
    }

    pub fn sessions_for(&self, code: &CodeId, now: Timestamp, limit: u32) -> StoreResult<Vec<SessionRecord>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE code_id = ?1 \
             ORDER BY CASE WHEN state = 'open' AND expires_at > ?2 THEN 0 ELSE 1 END, opened_at DESC, id DESC \
             LIMIT ?3"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map(params![code.as_str(), now.0, limit], row_of)
            .map_err(failure)?;
        rows.map(|row| row.map_err(failure).and_then(SessionRow::into_record))
            .collect()
    }

    pub fn insert_session(&mut self, session: &SessionRecord) -> StoreResult<()> {
        let r = SessionRow::from_record(session);
        let sql = format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![
                r.id,
                r.code_id,
                r.owner_id,
                r.state,
                r.charged,
                r.opened_at,
                r.expires_at,
                r.body
            ])
            .map_err(failure)?;
        Ok(())
    }

    /// Writes an open session's new state; one no longer open, or charged meanwhile, is a failure.
    pub fn update_session(&mut self, session: &SessionRecord, was_charged: i64) -> StoreResult<()> {
        let r = SessionRow::from_record(session);
        let mut statement = self
            .conn
            .prepare_cached(
                "UPDATE sessions SET state = ?2, charged = ?3, body = ?4 \
                 WHERE id = ?1 AND state = 'open' AND charged = ?5",
            )
            .map_err(failure)?;
        let changed = statement
            .execute(params![r.id, r.state, r.charged, r.body, was_charged])
            .map_err(failure)?;
        if changed != 1 {
            return Err(StorageFailure(format!("session {} was not open as read", r.id)));
        }
        Ok(())
    }
}

//! Charges between brokers in SQLite, read and written straight through (the writer's memory
//! keeps no copy): one row per charge and side, changed only from the state it was read in.

use rusqlite::{params, OptionalExtension, Row};
use smartcode_core::clock::Timestamp;
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::model::{ChargeRecord, ChargeSide, ChargeState};
use smartcode_core::money::Currency;

use super::{failure, SqliteLedger};
use crate::charge_rows::{ChargeColumns, CHARGE_COLUMNS};

fn charge_from_row(row: &Row<'_>) -> rusqlite::Result<ChargeRecord> {
    ChargeColumns {
        side: row.get(0)?,
        peer: row.get(1)?,
        id: row.get(2)?,
        state: row.get(3)?,
        amount: row.get(4)?,
        currency: row.get(5)?,
        payee: row.get(6)?,
        code_id: row.get(7)?,
        transfer_id: row.get(8)?,
        fingerprint: row.get(9)?,
        approval: row.get(10)?,
        deadline: row.get(11)?,
        created_at: row.get(12)?,
        changed_at: row.get(13)?,
        memo: row.get(14)?,
        hold_id: row.get(15)?,
        expires_at: row.get(16)?,
        quote_id: row.get(17)?,
    }
    .into_record()
    .map_err(|e| rusqlite::Error::InvalidColumnName(e.0))
}

impl SqliteLedger<'_> {
    pub fn charge(&self, side: ChargeSide, peer: &str, id: &str) -> StoreResult<Option<ChargeRecord>> {
        let sql = format!("SELECT {CHARGE_COLUMNS} FROM charges WHERE side = ?1 AND peer = ?2 AND id = ?3");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .query_row(params![side.as_str(), peer, id], charge_from_row)
            .optional()
            .map_err(failure)
    }

    /// Through the partial index of prepared charges: the primary key would read every charge the
    /// peer ever had.
    pub fn prepared_charge_units(&self, peer: &str, currency: Currency) -> StoreResult<i64> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT coalesce(sum(amount), 0) FROM charges INDEXED BY charges_prepared \
                 WHERE side = 'seller' AND state = 'prepared' AND peer = ?1 AND currency = ?2",
            )
            .map_err(failure)?;
        statement
            .query_row(params![peer, currency.to_string()], |row| row.get(0))
            .map_err(failure)
    }

    pub fn charges_in_doubt(&self, peer: &str, before: Timestamp, limit: u32) -> StoreResult<Vec<ChargeRecord>> {
        let sql = format!(
            "SELECT {CHARGE_COLUMNS} FROM charges INDEXED BY charges_in_doubt \
             WHERE side = 'seller' AND (state = 'prepared' OR state = 'voiding' OR state = 'refunding') \
             AND (state <> 'prepared' OR deadline < ?1) AND peer = ?3 ORDER BY deadline LIMIT ?2"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map(params![before.0, limit, peer], charge_from_row)
            .map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    pub fn charges_with(
        &self,
        peer: &str,
        (since, until): (Timestamp, Timestamp),
        limit: u32,
    ) -> StoreResult<Vec<ChargeRecord>> {
        let sql = format!(
            "SELECT {CHARGE_COLUMNS} FROM charges WHERE peer = ?1 AND deadline >= ?4 AND deadline <= ?2 \
             AND (state = 'credited' OR state = 'charged' OR state = 'reversed' OR state = 'refunding' OR state = 'refunded' OR state = 'failed') ORDER BY deadline, id LIMIT ?3"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map(params![peer, until.0, limit, since.0], charge_from_row)
            .map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    pub fn insert_charge(&mut self, charge: &ChargeRecord) -> StoreResult<()> {
        let c = ChargeColumns::from_record(charge);
        let sql = format!(
            "INSERT INTO charges ({CHARGE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![
                c.side,
                c.peer,
                c.id,
                c.state,
                c.amount,
                c.currency,
                c.payee,
                c.code_id,
                c.transfer_id,
                c.fingerprint,
                c.approval,
                c.deadline,
                c.created_at,
                c.changed_at,
                c.memo,
                c.hold_id,
                c.expires_at,
                c.quote_id
            ])
            .map_err(failure)?;
        Ok(())
    }

    pub fn update_charge(&mut self, charge: &ChargeRecord, was: ChargeState) -> StoreResult<()> {
        let mut statement = self
            .conn
            .prepare_cached(
                "UPDATE charges SET state = ?4, approval = ?5, changed_at = ?6, amount = ?8, transfer_id = ?9, \
                 deadline = ?10 WHERE side = ?1 AND peer = ?2 AND id = ?3 AND state = ?7",
            )
            .map_err(failure)?;
        let changed = statement
            .execute(params![
                charge.side.as_str(),
                charge.peer,
                charge.id,
                charge.state.as_str(),
                charge.approval,
                charge.changed_at.0,
                was.as_str(),
                charge.amount.units(),
                charge.transfer_id,
                charge.deadline.0
            ])
            .map_err(failure)?;
        if changed != 1 {
            return Err(StorageFailure(format!("charge {} changed meanwhile", charge.id)));
        }
        Ok(())
    }
}

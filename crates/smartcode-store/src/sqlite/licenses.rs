//! Licenses in SQLite, read and written straight through: the writer's memory keeps no copy (a
//! license is read by its page and its API, never on a payment's path).

use rusqlite::{params, OptionalExtension, Row};
use smartcode_core::code::PublicCode;
use smartcode_core::error::StoreResult;
use smartcode_core::license::LicenseRecord;

use super::{failure, SqliteLedger};
use crate::license_rows::{LicenseRow, LICENSE_COLUMNS};

fn row_of(row: &Row<'_>) -> rusqlite::Result<LicenseRow> {
    Ok(LicenseRow {
        code: row.get(0)?,
        code_id: row.get(1)?,
        payer_id: row.get(2)?,
        owner_id: row.get(3)?,
        receipt_id: row.get(4)?,
        created_at: row.get(5)?,
        body: row.get(6)?,
    })
}

impl SqliteLedger<'_> {
    pub fn license(&self, code: &PublicCode) -> StoreResult<Option<LicenseRecord>> {
        let sql = format!("SELECT {LICENSE_COLUMNS} FROM licenses WHERE code = ?1");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let row = statement
            .query_row([code.as_stored()], row_of)
            .optional()
            .map_err(failure)?;
        row.map(LicenseRow::into_record).transpose()
    }

    pub fn insert_license(&mut self, license: &LicenseRecord) -> StoreResult<()> {
        let r = LicenseRow::from_record(license);
        let sql = format!("INSERT INTO licenses ({LICENSE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![
                r.code,
                r.code_id,
                r.payer_id,
                r.owner_id,
                r.receipt_id,
                r.created_at,
                r.body
            ])
            .map_err(failure)?;
        Ok(())
    }
}

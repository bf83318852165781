//! Licenses on PostgreSQL: one row each, inserted in the transaction that paid for it (its code
//! is the key, so two processes can never write one license twice), and read by its code.

use postgres::Row;
use smartcode_core::code::PublicCode;
use smartcode_core::error::StoreResult;
use smartcode_core::license::LicenseRecord;

use super::{get, PgLedger};
use crate::license_rows::{LicenseRow, LICENSE_COLUMNS};

fn license_from_row(row: &Row) -> StoreResult<LicenseRecord> {
    LicenseRow {
        code: get(row, 0)?,
        code_id: get(row, 1)?,
        payer_id: get(row, 2)?,
        owner_id: get(row, 3)?,
        receipt_id: get(row, 4)?,
        created_at: get(row, 5)?,
        body: get(row, 6)?,
    }
    .into_record()
}

impl PgLedger<'_> {
    pub(super) fn read_license(&mut self, code: &PublicCode) -> StoreResult<Option<LicenseRecord>> {
        let sql = format!("SELECT {LICENSE_COLUMNS} FROM licenses WHERE code = $1");
        self.query_opt(&sql, &[&code.as_stored()])?
            .as_ref()
            .map(license_from_row)
            .transpose()
    }

    pub(super) fn write_new_license(&mut self, license: &LicenseRecord) -> StoreResult<()> {
        let r = LicenseRow::from_record(license);
        let sql = format!("INSERT INTO licenses ({LICENSE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        let values: [&(dyn postgres::types::ToSql + Sync); 7] = [
            &r.code,
            &r.code_id,
            &r.payer_id,
            &r.owner_id,
            &r.receipt_id,
            &r.created_at,
            &r.body,
        ];
        self.execute(&sql, &values)?;
        Ok(())
    }
}

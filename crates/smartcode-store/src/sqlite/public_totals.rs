//! A public code's running totals (payments received and their sum), one row each in
//! `public_code_stats`, read and created by the writer's memory ([`crate::cache`]).

use rusqlite::{params, OptionalExtension};
use smartcode_core::code::CodeId;
use smartcode_core::error::StoreResult;

use super::{failure, SqliteLedger};

impl SqliteLedger<'_> {
    /// A public code's totals and where their row is: `(rowid, payments, units)`, if it has been
    /// paid before.
    pub fn public_totals_row(&self, public_code: &CodeId) -> StoreResult<Option<(i64, i64, i64)>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT rowid, payments, units FROM public_code_stats WHERE code_id = ?1")
            .map_err(failure)?;
        statement
            .query_row([public_code.as_str()], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .optional()
            .map_err(failure)
    }

    /// Gives a public code paid for the first time its totals row; returns where it is.
    pub fn insert_public_totals(&self, public_code: &CodeId, payments: i64, units: i64) -> StoreResult<i64> {
        let mut statement = self
            .conn
            .prepare_cached("INSERT INTO public_code_stats (code_id, payments, units) VALUES (?1, ?2, ?3)")
            .map_err(failure)?;
        statement
            .insert(params![public_code.as_str(), payments, units])
            .map_err(failure)
    }
}

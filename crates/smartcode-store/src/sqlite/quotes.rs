//! Rates, quotes and the exchange accounts' positions in SQLite. Rates and quotes are read and
//! written straight through (the writer's memory keeps no copy); the positions are accounts, read
//! after the writer's memory flushed their balances.

use rusqlite::{params, OptionalExtension, Row};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::QuoteId;
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::model::{QuoteRecord, RateRecord};
use smartcode_core::money::Currency;

use super::{failure, SqliteLedger};
use crate::rows::{QuoteColumns, RateColumns, QUOTE_COLUMNS, RATE_COLUMNS};

fn rate_from_row(row: &Row<'_>) -> rusqlite::Result<RateRecord> {
    RateColumns {
        from_currency: row.get(0)?,
        to_currency: row.get(1)?,
        rate: row.get(2)?,
        fee_bps: row.get(3)?,
        set_at: row.get(4)?,
    }
    .into_record()
    .map_err(|e| rusqlite::Error::InvalidColumnName(e.0))
}

fn quote_from_row(row: &Row<'_>) -> rusqlite::Result<QuoteRecord> {
    QuoteColumns {
        id: row.get(0)?,
        pay: row.get(1)?,
        pay_currency: row.get(2)?,
        price: row.get(3)?,
        price_currency: row.get(4)?,
        rate: row.get(5)?,
        fee_bps: row.get(6)?,
        payee: row.get(7)?,
        created_at: row.get(8)?,
        expires_at: row.get(9)?,
        used_at: row.get(10)?,
        receipt_id: row.get(11)?,
        payer_id: row.get(12)?,
    }
    .into_record()
    .map_err(|e| rusqlite::Error::InvalidColumnName(e.0))
}

impl SqliteLedger<'_> {
    pub fn rate(&self, from: Currency, to: Currency) -> StoreResult<Option<RateRecord>> {
        let sql = format!("SELECT {RATE_COLUMNS} FROM rates WHERE from_currency = ?1 AND to_currency = ?2");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .query_row([from.as_str(), to.as_str()], rate_from_row)
            .optional()
            .map_err(failure)
    }

    pub fn rates(&self, limit: u32) -> StoreResult<Vec<RateRecord>> {
        let sql = format!("SELECT {RATE_COLUMNS} FROM rates ORDER BY from_currency, to_currency LIMIT ?1");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement.query_map([limit], rate_from_row).map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    pub fn set_rate(&mut self, rate: &RateRecord) -> StoreResult<()> {
        let c = RateColumns::from_record(rate);
        let sql = format!(
            "INSERT INTO rates ({RATE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (from_currency, to_currency) \
             DO UPDATE SET rate = excluded.rate, fee_bps = excluded.fee_bps, set_at = excluded.set_at"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![c.from_currency, c.to_currency, c.rate, c.fee_bps, c.set_at])
            .map_err(failure)?;
        Ok(())
    }

    pub fn quote(&self, id: &QuoteId) -> StoreResult<Option<QuoteRecord>> {
        let sql = format!("SELECT {QUOTE_COLUMNS} FROM quotes WHERE id = ?1");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .query_row([id.as_str()], quote_from_row)
            .optional()
            .map_err(failure)
    }

    pub fn insert_quote(&mut self, quote: &QuoteRecord) -> StoreResult<()> {
        let c = QuoteColumns::from_record(quote);
        let sql = format!(
            "INSERT INTO quotes ({QUOTE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![
                c.id,
                c.pay,
                c.pay_currency,
                c.price,
                c.price_currency,
                c.rate,
                c.fee_bps,
                c.payee,
                c.created_at,
                c.expires_at,
                c.used_at,
                c.receipt_id,
                c.payer_id
            ])
            .map_err(failure)?;
        Ok(())
    }

    /// Marks an unused quote used; one used already is a failure (the writer is the only one that
    /// writes, and the core read it unused in this transaction).
    pub fn use_quote(&mut self, quote: &QuoteRecord) -> StoreResult<()> {
        let c = QuoteColumns::from_record(quote);
        let mut statement = self
            .conn
            .prepare_cached(
                "UPDATE quotes SET used_at = ?2, receipt_id = ?3, payer_id = ?4 WHERE id = ?1 AND used_at IS NULL",
            )
            .map_err(failure)?;
        let changed = statement
            .execute(params![c.id, c.used_at, c.receipt_id, c.payer_id])
            .map_err(failure)?;
        if changed != 1 {
            return Err(StorageFailure(format!("quote {} was used already", c.id)));
        }
        Ok(())
    }

    pub fn forget_unused_quotes(&mut self, expired_before: Timestamp) -> StoreResult<u64> {
        let mut statement = self
            .conn
            .prepare_cached("DELETE FROM quotes WHERE used_at IS NULL AND expires_at < ?1")
            .map_err(failure)?;
        let forgotten = statement.execute([expired_before.0]).map_err(failure)?;
        Ok(forgotten as u64)
    }

    pub fn exchange_positions(&self) -> StoreResult<Vec<(Currency, i64)>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT currency, balance FROM accounts WHERE kind = 'exchange' ORDER BY currency")
            .map_err(failure)?;
        let rows = statement.query_map([], currency_balance).map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }
}

/// A row of a currency and a balance.
pub(super) fn currency_balance(row: &Row<'_>) -> rusqlite::Result<(Currency, i64)> {
    let currency: String = row.get(0)?;
    let currency = Currency::parse(&currency)
        .map_err(|_| rusqlite::Error::InvalidColumnName("unreadable stored currency".into()))?;
    Ok((currency, row.get(1)?))
}

//! Rates, quotes and the exchange accounts' positions on PostgreSQL. A quote's use is written at
//! once in the batch's transaction and names the quote unused: two processes that both read it
//! unused cannot both use it (the second's update waits for the first's row lock, then finds it
//! used), and the loser's batch runs again and is refused `quote_used`.

use postgres::Row;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::QuoteId;
use smartcode_core::error::StoreResult;
use smartcode_core::model::{QuoteRecord, RateRecord};
use smartcode_core::money::Currency;

use super::{corrupt, get, PgLedger};
use crate::rows::{QuoteColumns, RateColumns, QUOTE_COLUMNS, QUOTE_COLUMN_COUNT, RATE_COLUMNS};

fn rate_from_row(row: &Row) -> StoreResult<RateRecord> {
    RateColumns {
        from_currency: get(row, 0)?,
        to_currency: get(row, 1)?,
        rate: get(row, 2)?,
        fee_bps: get(row, 3)?,
        set_at: get(row, 4)?,
    }
    .into_record()
}

fn quote_from_row(row: &Row) -> StoreResult<QuoteRecord> {
    QuoteColumns {
        id: get(row, 0)?,
        pay: get(row, 1)?,
        pay_currency: get(row, 2)?,
        price: get(row, 3)?,
        price_currency: get(row, 4)?,
        rate: get(row, 5)?,
        fee_bps: get(row, 6)?,
        payee: get(row, 7)?,
        created_at: get(row, 8)?,
        expires_at: get(row, 9)?,
        used_at: get(row, 10)?,
        receipt_id: get(row, 11)?,
        payer_id: get(row, 12)?,
    }
    .into_record()
}

impl PgLedger<'_> {
    pub(super) fn read_rate(&mut self, from: Currency, to: Currency) -> StoreResult<Option<RateRecord>> {
        let sql = format!("SELECT {RATE_COLUMNS} FROM rates WHERE from_currency = $1 AND to_currency = $2");
        self.query_opt(&sql, &[&from.as_str(), &to.as_str()])?
            .as_ref()
            .map(rate_from_row)
            .transpose()
    }

    pub(super) fn read_rates(&mut self, limit: u32) -> StoreResult<Vec<RateRecord>> {
        let sql = format!(
            "SELECT {RATE_COLUMNS} FROM rates ORDER BY from_currency COLLATE \"C\", to_currency COLLATE \"C\" LIMIT $1"
        );
        self.query(&sql, &[&i64::from(limit)])?
            .iter()
            .map(rate_from_row)
            .collect()
    }

    pub(super) fn write_rate(&mut self, rate: &RateRecord) -> StoreResult<()> {
        let c = RateColumns::from_record(rate);
        let sql = format!(
            "INSERT INTO rates ({RATE_COLUMNS}) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (from_currency, to_currency) \
             DO UPDATE SET rate = excluded.rate, fee_bps = excluded.fee_bps, set_at = excluded.set_at"
        );
        self.execute(
            &sql,
            &[&c.from_currency, &c.to_currency, &c.rate, &c.fee_bps, &c.set_at],
        )?;
        Ok(())
    }

    pub(super) fn read_quote(&mut self, id: &QuoteId) -> StoreResult<Option<QuoteRecord>> {
        let sql = format!("SELECT {QUOTE_COLUMNS} FROM quotes WHERE id = $1");
        self.query_opt(&sql, &[&id.as_str()])?
            .as_ref()
            .map(quote_from_row)
            .transpose()
    }

    pub(super) fn write_new_quote(&mut self, quote: &QuoteRecord) -> StoreResult<()> {
        let placeholders: Vec<String> = (1..=QUOTE_COLUMN_COUNT).map(|n| format!("${n}")).collect();
        let sql = format!(
            "INSERT INTO quotes ({QUOTE_COLUMNS}) VALUES ({})",
            placeholders.join(", ")
        );
        let c = QuoteColumns::from_record(quote);
        self.execute(
            &sql,
            &[
                &c.id,
                &c.pay,
                &c.pay_currency,
                &c.price,
                &c.price_currency,
                &c.rate,
                &c.fee_bps,
                &c.payee,
                &c.created_at,
                &c.expires_at,
                &c.used_at,
                &c.receipt_id,
                &c.payer_id,
            ],
        )?;
        Ok(())
    }

    pub(super) fn write_quote_used(&mut self, quote: &QuoteRecord) -> StoreResult<()> {
        let c = QuoteColumns::from_record(quote);
        let changed = self.execute(
            "UPDATE quotes SET used_at = $2, receipt_id = $3, payer_id = $4 WHERE id = $1 AND used_at IS NULL",
            &[&c.id, &c.used_at, &c.receipt_id, &c.payer_id],
        )?;
        if changed != 1 {
            return Err(self.conflict(format!("quote {} was used meanwhile", c.id), None, None));
        }
        Ok(())
    }

    /// A quote being used by another process meanwhile is not deleted: its row is locked, and
    /// READ COMMITTED checks `used_at` again once the lock is free.
    pub(super) fn delete_unused_quotes(&mut self, expired_before: Timestamp) -> StoreResult<u64> {
        self.execute(
            "DELETE FROM quotes WHERE used_at IS NULL AND expires_at < $1",
            &[&expired_before.0],
        )
    }

    pub(super) fn read_exchange_positions(&mut self) -> StoreResult<Vec<(Currency, i64)>> {
        self.query(
            "SELECT currency, balance FROM accounts WHERE kind = 'exchange' ORDER BY currency COLLATE \"C\"",
            &[],
        )?
        .iter()
        .map(|row| {
            let currency = Currency::parse(&get::<String>(row, 0)?).map_err(|_| corrupt("currency"))?;
            Ok((currency, get(row, 1)?))
        })
        .collect()
    }
}

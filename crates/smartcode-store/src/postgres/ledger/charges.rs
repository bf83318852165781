//! Charges between brokers on PostgreSQL: rows of one table shared by every process, written at
//! once in the batch's transaction. A charge is inserted once and changed only from the state it
//! was read in: two processes that prepared, credited or voided one charge at once change a row
//! only one of them finds as it read it, and the other's batch runs again and is refused by the
//! core (so a seller is never both credited and told its payment failed).

use postgres::Row;
use smartcode_core::clock::Timestamp;
use smartcode_core::error::StoreResult;
use smartcode_core::model::{ChargeRecord, ChargeSide, ChargeState};
use smartcode_core::money::Currency;

use super::{get, PgLedger};
use crate::charge_rows::{ChargeColumns, CHARGE_COLUMNS};

fn charge_from_row(row: &Row) -> StoreResult<ChargeRecord> {
    ChargeColumns {
        side: get(row, 0)?,
        peer: get(row, 1)?,
        id: get(row, 2)?,
        state: get(row, 3)?,
        amount: get(row, 4)?,
        currency: get(row, 5)?,
        payee: get(row, 6)?,
        code_id: get(row, 7)?,
        transfer_id: get(row, 8)?,
        fingerprint: get(row, 9)?,
        approval: get(row, 10)?,
        deadline: get(row, 11)?,
        created_at: get(row, 12)?,
        changed_at: get(row, 13)?,
        memo: get(row, 14)?,
        hold_id: get(row, 15)?,
        expires_at: get(row, 16)?,
        quote_id: get(row, 17)?,
    }
    .into_record()
}

impl PgLedger<'_> {
    pub(super) fn read_charge(&mut self, side: ChargeSide, peer: &str, id: &str) -> StoreResult<Option<ChargeRecord>> {
        let sql = format!("SELECT {CHARGE_COLUMNS} FROM charges WHERE side = $1 AND peer = $2 AND id = $3");
        self.query(&sql, &[&side.as_str(), &peer, &id])?
            .first()
            .map(charge_from_row)
            .transpose()
    }

    /// Under a lock on the peer's row, held to the end of the transaction: another process's
    /// charges through the same peer wait here until this one's are committed, so each sum counts
    /// every charge on its way and two processes cannot both pass the credit limit.
    pub(super) fn read_prepared_charge_units(&mut self, peer: &str, currency: Currency) -> StoreResult<i64> {
        self.query("SELECT 1 FROM peers WHERE name = $1 FOR UPDATE", &[&peer])?;
        let rows = self.query(
            "SELECT coalesce(sum(amount), 0)::bigint FROM charges \
             WHERE side = 'seller' AND state = 'prepared' AND peer = $1 AND currency = $2",
            &[&peer, &currency.to_string()],
        )?;
        match rows.first() {
            Some(row) => get(row, 0),
            None => Ok(0),
        }
    }

    pub(super) fn read_charges_in_doubt(
        &mut self,
        peer: &str,
        before: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<ChargeRecord>> {
        let sql = format!(
            "SELECT {CHARGE_COLUMNS} FROM charges WHERE side = 'seller' AND (state = 'prepared' OR state = 'voiding' OR state = 'refunding') \
             AND (state <> 'prepared' OR deadline < $1) AND peer = $3 ORDER BY deadline LIMIT $2"
        );
        self.query(&sql, &[&before.0, &i64::from(limit), &peer])?
            .iter()
            .map(charge_from_row)
            .collect()
    }

    pub(super) fn read_charges_with(
        &mut self,
        peer: &str,
        (since, until): (Timestamp, Timestamp),
        limit: u32,
    ) -> StoreResult<Vec<ChargeRecord>> {
        let sql = format!(
            "SELECT {CHARGE_COLUMNS} FROM charges WHERE peer = $1 AND deadline >= $4 AND deadline <= $2 \
             AND state IN ('credited', 'charged', 'reversed', 'refunding', 'refunded', 'failed') ORDER BY deadline, id COLLATE \"C\" LIMIT $3"
        );
        self.query(&sql, &[&peer, &until.0, &i64::from(limit), &since.0])?
            .iter()
            .map(charge_from_row)
            .collect()
    }

    pub(super) fn write_new_charge(&mut self, charge: &ChargeRecord) -> StoreResult<()> {
        let c = ChargeColumns::from_record(charge);
        let sql = format!(
            "INSERT INTO charges ({CHARGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT DO NOTHING"
        );
        let inserted = self.execute(
            &sql,
            &[
                &c.side,
                &c.peer,
                &c.id,
                &c.state,
                &c.amount,
                &c.currency,
                &c.payee,
                &c.code_id,
                &c.transfer_id,
                &c.fingerprint,
                &c.approval,
                &c.deadline,
                &c.created_at,
                &c.changed_at,
                &c.memo,
                &c.hold_id,
                &c.expires_at,
                &c.quote_id,
            ],
        )?;
        if inserted != 1 {
            return Err(self.conflict(format!("charge {} was recorded meanwhile", c.id), None, None));
        }
        Ok(())
    }

    pub(super) fn write_charge_state(&mut self, charge: &ChargeRecord, was: ChargeState) -> StoreResult<()> {
        let changed = self.execute(
            "UPDATE charges SET state = $4, approval = $5, changed_at = $6, amount = $8, transfer_id = $9, \
             deadline = $10 WHERE side = $1 AND peer = $2 AND id = $3 AND state = $7",
            &[
                &charge.side.as_str(),
                &charge.peer,
                &charge.id,
                &charge.state.as_str(),
                &charge.approval,
                &charge.changed_at.0,
                &was.as_str(),
                &charge.amount.units(),
                &charge.transfer_id,
                &charge.deadline.0,
            ],
        )?;
        if changed != 1 {
            return Err(self.conflict(format!("charge {} changed meanwhile", charge.id), None, None));
        }
        Ok(())
    }
}

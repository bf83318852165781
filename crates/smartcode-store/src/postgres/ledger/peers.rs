//! Peers on PostgreSQL: rows of one table shared by every process, read and written at once in
//! the batch's transaction (an operator's command, rare). Two processes adding peers of one name,
//! domain or broker number at once collide on a unique index, and the loser's batch runs again
//! and is refused by the core.

use postgres::Row;
use smartcode_core::error::StoreResult;
use smartcode_core::model::{AccountKey, PeerRecord};
use smartcode_core::money::Currency;

use super::{get, PgLedger};
use crate::rows::{PeerColumns, PEER_COLUMNS};

fn peer_from_row(row: &Row) -> StoreResult<PeerRecord> {
    PeerColumns {
        name: get(row, 0)?,
        url: get(row, 1)?,
        title: get(row, 2)?,
        domain: get(row, 3)?,
        broker_number: get(row, 4)?,
        signing_key: get(row, 5)?,
        credit_limits: get(row, 6)?,
        status: get(row, 7)?,
        added_at: get(row, 8)?,
        changed_at: get(row, 9)?,
        listed: get(row, 10)?,
    }
    .into_record()
}

impl PgLedger<'_> {
    pub(super) fn read_peer(&mut self, name: &str) -> StoreResult<Option<PeerRecord>> {
        let sql = format!("SELECT {PEER_COLUMNS} FROM peers WHERE name = $1");
        self.query(&sql, &[&name])?.first().map(peer_from_row).transpose()
    }

    pub(super) fn read_peers(&mut self, limit: u32) -> StoreResult<Vec<PeerRecord>> {
        let sql = format!("SELECT {PEER_COLUMNS} FROM peers ORDER BY name COLLATE \"C\" LIMIT $1");
        self.query(&sql, &[&i64::from(limit)])?
            .iter()
            .map(peer_from_row)
            .collect()
    }

    pub(super) fn write_peer(&mut self, peer: &PeerRecord) -> StoreResult<()> {
        let c = PeerColumns::from_record(peer);
        let sql = format!(
            "INSERT INTO peers ({PEER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (name) DO UPDATE SET url = excluded.url, title = excluded.title, \
             domain = excluded.domain, broker_number = excluded.broker_number, \
             signing_key = excluded.signing_key, credit_limits = excluded.credit_limits, \
             status = excluded.status, added_at = excluded.added_at, changed_at = excluded.changed_at, \
             listed = excluded.listed"
        );
        self.execute(
            &sql,
            &[
                &c.name,
                &c.url,
                &c.title,
                &c.domain,
                &c.broker_number,
                &c.signing_key,
                &c.credit_limits,
                &c.status,
                &c.added_at,
                &c.changed_at,
                &c.listed,
            ],
        )?;
        Ok(())
    }

    /// The balances of the peer's accounts, by currency, with what the batch changed in them.
    pub(super) fn read_peer_balances(&mut self, name: &str) -> StoreResult<Vec<(Currency, i64)>> {
        let pattern = format!("peer:{name}:%");
        let rows = self.query(
            "SELECT key FROM accounts WHERE kind = 'peer' AND key LIKE $1 ORDER BY key COLLATE \"C\"",
            &[&pattern],
        )?;
        let mut balances = Vec::with_capacity(rows.len());
        for row in &rows {
            let key = AccountKey::from_stored(&get::<String>(row, 0)?).ok_or_else(|| super::corrupt("account key"))?;
            if let Some(account) = smartcode_core::ledger::LedgerRead::account(self, &key)? {
                balances.push((account.currency, account.balance_units));
            }
        }
        Ok(balances)
    }

    pub(super) fn remove_peer(&mut self, name: &str) -> StoreResult<()> {
        self.execute("DELETE FROM peers WHERE name = $1", &[&name])?;
        Ok(())
    }
}

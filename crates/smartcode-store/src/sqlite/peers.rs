//! Peers in SQLite, read and written straight through (the writer's memory keeps no copy).

use rusqlite::{params, OptionalExtension, Row};
use smartcode_core::error::StoreResult;
use smartcode_core::model::PeerRecord;
use smartcode_core::money::Currency;

use super::{failure, SqliteLedger};
use crate::rows::{PeerColumns, PEER_COLUMNS};

fn peer_from_row(row: &Row<'_>) -> rusqlite::Result<PeerRecord> {
    PeerColumns {
        name: row.get(0)?,
        url: row.get(1)?,
        title: row.get(2)?,
        domain: row.get(3)?,
        broker_number: row.get(4)?,
        signing_key: row.get(5)?,
        credit_limits: row.get(6)?,
        status: row.get(7)?,
        added_at: row.get(8)?,
        changed_at: row.get(9)?,
        listed: row.get(10)?,
    }
    .into_record()
    .map_err(|e| rusqlite::Error::InvalidColumnName(e.0))
}

impl SqliteLedger<'_> {
    pub fn peer(&self, name: &str) -> StoreResult<Option<PeerRecord>> {
        let sql = format!("SELECT {PEER_COLUMNS} FROM peers WHERE name = ?1");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement.query_row([name], peer_from_row).optional().map_err(failure)
    }

    pub fn peers(&self, limit: u32) -> StoreResult<Vec<PeerRecord>> {
        let sql = format!("SELECT {PEER_COLUMNS} FROM peers ORDER BY name LIMIT ?1");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement.query_map([limit], peer_from_row).map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    pub fn put_peer(&mut self, peer: &PeerRecord) -> StoreResult<()> {
        let c = PeerColumns::from_record(peer);
        let sql = format!(
            "INSERT OR REPLACE INTO peers ({PEER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![
                c.name,
                c.url,
                c.title,
                c.domain,
                c.broker_number,
                c.signing_key,
                c.credit_limits,
                c.status,
                c.added_at,
                c.changed_at,
                c.listed
            ])
            .map_err(failure)?;
        Ok(())
    }

    /// The balances of the peer's accounts, by currency (`peer:NAME:CUR`; a name has no `%` or `_`).
    pub fn peer_balances(&self, name: &str) -> StoreResult<Vec<(Currency, i64)>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT currency, balance FROM accounts WHERE kind = 'peer' AND key LIKE ?1 ORDER BY currency",
            )
            .map_err(failure)?;
        let rows = statement
            .query_map([format!("peer:{name}:%")], super::quotes::currency_balance)
            .map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    pub fn delete_peer(&mut self, name: &str) -> StoreResult<()> {
        let mut statement = self
            .conn
            .prepare_cached("DELETE FROM peers WHERE name = ?1")
            .map_err(failure)?;
        statement.execute([name]).map_err(failure)?;
        Ok(())
    }
}

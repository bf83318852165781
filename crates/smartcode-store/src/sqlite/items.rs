//! Items and their content in SQLite, read and written straight through: the writer's memory
//! keeps no copy. Content is a BLOB row of `item_contents` rather than a file in the data
//! directory, so an upload and the item's new description commit together (no file without its
//! row, nor a row whose file a crash lost), and a backup of the database holds everything.

use rusqlite::{params, OptionalExtension, Row};
use smartcode_core::code::{CodeId, ItemId};
use smartcode_core::error::StoreResult;
use smartcode_core::item::ItemRecord;

use super::{failure, SqliteLedger};
use crate::item_rows::{ItemRow, ITEM_COLUMNS};

fn row_of(row: &Row<'_>) -> rusqlite::Result<ItemRow> {
    Ok(ItemRow {
        id: row.get(0)?,
        owner_id: row.get(1)?,
        payee_id: row.get(2)?,
        created_at: row.get(3)?,
        body: row.get(4)?,
    })
}

impl SqliteLedger<'_> {
    pub fn item(&self, id: &ItemId) -> StoreResult<Option<ItemRecord>> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?1");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let row = statement.query_row([id.as_str()], row_of).optional().map_err(failure)?;
        row.map(ItemRow::into_record).transpose()
    }

    pub fn items_for(&self, code: &CodeId, limit: u32) -> StoreResult<Vec<ItemRecord>> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE owner_id = ?1 OR payee_id = ?1 \
             ORDER BY created_at DESC, id DESC LIMIT ?2"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map(params![code.as_str(), limit], row_of)
            .map_err(failure)?;
        rows.map(|row| row.map_err(failure).and_then(ItemRow::into_record))
            .collect()
    }

    pub fn item_content(&self, id: &ItemId) -> StoreResult<Option<Vec<u8>>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT bytes FROM item_contents WHERE item_id = ?1")
            .map_err(failure)?;
        statement
            .query_row([id.as_str()], |row| row.get(0))
            .optional()
            .map_err(failure)
    }

    pub fn insert_item(&mut self, item: &ItemRecord) -> StoreResult<()> {
        let r = ItemRow::from_record(item);
        let sql = format!("INSERT INTO items ({ITEM_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![r.id, r.owner_id, r.payee_id, r.created_at, r.body])
            .map_err(failure)?;
        Ok(())
    }

    pub fn put_item_content(&mut self, item: &ItemRecord, bytes: &[u8]) -> StoreResult<()> {
        let r = ItemRow::from_record(item);
        self.conn
            .prepare_cached("UPDATE items SET body = ?2 WHERE id = ?1")
            .map_err(failure)?
            .execute(params![r.id, r.body])
            .map_err(failure)?;
        self.conn
            .prepare_cached(
                "INSERT INTO item_contents (item_id, bytes) VALUES (?1, ?2) \
                 ON CONFLICT (item_id) DO UPDATE SET bytes = excluded.bytes",
            )
            .map_err(failure)?
            .execute(params![r.id, bytes])
            .map_err(failure)?;
        Ok(())
    }

    pub fn count_fetch(&mut self, receipt_id: &str, fetches_max: u32) -> StoreResult<Option<u32>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "INSERT INTO item_fetches (receipt_id, fetches) VALUES (?1, 1) \
                 ON CONFLICT (receipt_id) DO UPDATE SET fetches = fetches + 1 WHERE fetches < ?2 \
                 RETURNING fetches",
            )
            .map_err(failure)?;
        statement
            .query_row(params![receipt_id, fetches_max], |row| row.get(0))
            .optional()
            .map_err(failure)
    }
}

//! Items and their content on PostgreSQL, where several broker processes share them: content is
//! a `bytea` row of `item_contents`, written in the same transaction as the item's new body. A
//! fetch is counted by one upsert that adds one only below the bound, so two processes counting
//! fetches of one download at once never pass it together.

use postgres::Row;
use smartcode_core::code::{CodeId, ItemId};
use smartcode_core::error::StoreResult;
use smartcode_core::item::ItemRecord;

use super::{get, PgLedger};
use crate::item_rows::{ItemRow, ITEM_COLUMNS};

fn item_from_row(row: &Row) -> StoreResult<ItemRecord> {
    ItemRow {
        id: get(row, 0)?,
        owner_id: get(row, 1)?,
        payee_id: get(row, 2)?,
        created_at: get(row, 3)?,
        body: get(row, 4)?,
    }
    .into_record()
}

impl PgLedger<'_> {
    pub(super) fn read_item(&mut self, id: &ItemId) -> StoreResult<Option<ItemRecord>> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = $1");
        self.query_opt(&sql, &[&id.as_str()])?
            .as_ref()
            .map(item_from_row)
            .transpose()
    }

    pub(super) fn read_items_for(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<ItemRecord>> {
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE owner_id = $1 OR payee_id = $1 \
             ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $2"
        );
        self.query(&sql, &[&code.as_str(), &i64::from(limit)])?
            .iter()
            .map(item_from_row)
            .collect()
    }

    pub(super) fn read_item_content(&mut self, id: &ItemId) -> StoreResult<Option<Vec<u8>>> {
        self.query_opt("SELECT bytes FROM item_contents WHERE item_id = $1", &[&id.as_str()])?
            .as_ref()
            .map(|row| get(row, 0))
            .transpose()
    }

    pub(super) fn write_new_item(&mut self, item: &ItemRecord) -> StoreResult<()> {
        let r = ItemRow::from_record(item);
        let sql = format!("INSERT INTO items ({ITEM_COLUMNS}) VALUES ($1, $2, $3, $4, $5)");
        self.execute(&sql, &[&r.id, &r.owner_id, &r.payee_id, &r.created_at, &r.body])?;
        Ok(())
    }

    pub(super) fn write_item_content(&mut self, item: &ItemRecord, bytes: &[u8]) -> StoreResult<()> {
        let r = ItemRow::from_record(item);
        self.execute("UPDATE items SET body = $2 WHERE id = $1", &[&r.id, &r.body])?;
        self.execute(
            "INSERT INTO item_contents (item_id, bytes) VALUES ($1, $2) \
             ON CONFLICT (item_id) DO UPDATE SET bytes = excluded.bytes",
            &[&r.id, &bytes],
        )?;
        Ok(())
    }

    pub(super) fn write_fetch(&mut self, receipt_id: &str, fetches_max: u32) -> StoreResult<Option<u32>> {
        let row = self.query_opt(
            "INSERT INTO item_fetches (receipt_id, fetches) VALUES ($1, 1) \
             ON CONFLICT (receipt_id) DO UPDATE SET fetches = item_fetches.fetches + 1 \
             WHERE item_fetches.fetches < $2 RETURNING fetches",
            &[&receipt_id, &i64::from(fetches_max)],
        )?;
        let Some(row) = row else { return Ok(None) };
        let fetches: i64 = get(&row, 0)?;
        Ok(u32::try_from(fetches).ok())
    }
}

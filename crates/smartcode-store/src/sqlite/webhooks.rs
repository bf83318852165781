//! Webhook subscriptions and the outbox of their deliveries in SQLite, read and written straight
//! through (the writer's memory keeps no copy): a delivery row is written by the command whose
//! event it tells, in its transaction, so it commits with it or not at all.

use rusqlite::{params, Row};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeId, WebhookId};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::webhook::{DeliveryRecord, WebhookRecord};

use super::{failure, SqliteLedger};
use crate::webhook_rows::{
    due_webhooks_sql, pending_deliveries_sql, DeliveryRow, WebhookRow, DELIVERY_COLUMNS, WEBHOOK_COLUMNS,
};

fn webhook_of(row: &Row<'_>) -> rusqlite::Result<WebhookRow> {
    Ok(WebhookRow {
        id: row.get(0)?,
        owner_id: row.get(1)?,
        public_code_id: row.get(2)?,
        url: row.get(3)?,
        events: row.get(4)?,
        generation: row.get(5)?,
        created_at: row.get(6)?,
        removed_at: row.get(7)?,
        leased_until: row.get(8)?,
        settled_through: row.get(9)?,
    })
}

fn delivery_of(row: &Row<'_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        seq: row.get(0)?,
        event_id: row.get(1)?,
        webhook_id: row.get(2)?,
        kind: row.get(3)?,
        subject: row.get(4)?,
        created_at: row.get(5)?,
        state: row.get(6)?,
        attempts: row.get(7)?,
        next_at: row.get(8)?,
        last_status: row.get(9)?,
        last_error: row.get(10)?,
        last_attempt_at: row.get(11)?,
    })
}

impl SqliteLedger<'_> {
    fn webhooks_where(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<WebhookRecord>> {
        let mut statement = self.conn.prepare_cached(sql).map_err(failure)?;
        let rows = statement.query_map(params, webhook_of).map_err(failure)?;
        rows.map(|row| row.map_err(failure).and_then(WebhookRow::into_record))
            .collect()
    }

    fn deliveries_where(&self, sql: &str, params: impl rusqlite::Params) -> StoreResult<Vec<DeliveryRecord>> {
        let mut statement = self.conn.prepare_cached(sql).map_err(failure)?;
        let rows = statement.query_map(params, delivery_of).map_err(failure)?;
        rows.map(|row| row.map_err(failure).and_then(DeliveryRow::into_record))
            .collect()
    }

    pub fn webhooks_of(&self, owner: &CodeId) -> StoreResult<Vec<WebhookRecord>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE owner_id = ?1 AND removed_at IS NULL ORDER BY created_at, id"
        );
        self.webhooks_where(&sql, [owner.as_str()])
    }

    pub fn webhook_by_id(&self, id: &WebhookId) -> StoreResult<Option<WebhookRecord>> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?1");
        Ok(self.webhooks_where(&sql, [id.as_str()])?.pop())
    }

    pub fn due_webhooks(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<WebhookRecord>> {
        self.webhooks_where(&due_webhooks_sql('?'), params![now.0, limit])
    }

    pub fn deliveries_of(&self, webhook: &WebhookId, limit: u32) -> StoreResult<Vec<DeliveryRecord>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = ?1 ORDER BY seq DESC LIMIT ?2"
        );
        self.deliveries_where(&sql, params![webhook.as_str(), limit])
    }

    pub fn oldest_deliveries(&self, limit: u32) -> StoreResult<Vec<DeliveryRecord>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries ORDER BY seq LIMIT ?1");
        self.deliveries_where(&sql, params![limit])
    }

    /// Deletes these deliveries, except the newest of the table: SQLite gives a new row the
    /// largest `seq` plus one, so keeping that row keeps every `seq` from being given twice (a
    /// subscription's settled mark would otherwise pass over a new delivery unsent).
    pub fn delete_deliveries(&mut self, seqs: &[i64]) -> StoreResult<u32> {
        let mut statement = self
            .conn
            .prepare_cached(
                "DELETE FROM webhook_deliveries WHERE seq = ?1 AND seq < (SELECT max(seq) FROM webhook_deliveries)",
            )
            .map_err(failure)?;
        let mut deleted = 0;
        for seq in seqs {
            deleted += statement.execute(params![seq]).map_err(failure)?;
        }
        Ok(u32::try_from(deleted).expect("at most one row per seq"))
    }

    pub fn pending_deliveries(&self, webhook: &WebhookId, limit: u32) -> StoreResult<Vec<DeliveryRecord>> {
        self.deliveries_where(&pending_deliveries_sql('?'), params![webhook.as_str(), limit])
    }

    /// Inserts a subscription, or merges a change into it so that no write from an older read
    /// undoes a newer one (two processes, or a delivery round beside a rotation): the generation
    /// and the settled mark only rise, a removal stays, and a lease is taken only from a write
    /// that changed neither the generation nor the removal.
    pub fn put_webhook(&mut self, webhook: &WebhookRecord) -> StoreResult<()> {
        let r = WebhookRow::from_record(webhook);
        let sql = format!(
            "INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) \
             ON CONFLICT (id) DO UPDATE SET \
             generation = CASE WHEN excluded.generation > webhooks.generation THEN excluded.generation ELSE webhooks.generation END, \
             removed_at = coalesce(webhooks.removed_at, excluded.removed_at), \
             leased_until = CASE WHEN excluded.generation > webhooks.generation \
                 OR (excluded.removed_at IS NOT NULL AND webhooks.removed_at IS NULL) \
                 THEN webhooks.leased_until ELSE excluded.leased_until END, \
             settled_through = CASE WHEN excluded.settled_through > webhooks.settled_through \
                 THEN excluded.settled_through ELSE webhooks.settled_through END"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![
                r.id,
                r.owner_id,
                r.public_code_id,
                r.url,
                r.events,
                r.generation,
                r.created_at,
                r.removed_at,
                r.leased_until,
                r.settled_through
            ])
            .map_err(failure)?;
        Ok(())
    }

    pub fn insert_delivery(&mut self, delivery: &DeliveryRecord) -> StoreResult<()> {
        let r = DeliveryRow::from_record(delivery);
        let sql = format!(
            "INSERT INTO webhook_deliveries ({DELIVERY_COLUMNS}) VALUES (NULL, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .execute(params![
                r.event_id,
                r.webhook_id,
                r.kind,
                r.subject,
                r.created_at,
                r.state,
                r.attempts,
                r.next_at,
                r.last_status,
                r.last_error,
                r.last_attempt_at
            ])
            .map_err(failure)?;
        Ok(())
    }

    pub fn update_delivery(&mut self, delivery: &DeliveryRecord) -> StoreResult<()> {
        let r = DeliveryRow::from_record(delivery);
        let mut statement = self
            .conn
            .prepare_cached(
                "UPDATE webhook_deliveries SET state = ?2, attempts = ?3, next_at = ?4, last_status = ?5, \
                 last_error = ?6, last_attempt_at = ?7 WHERE seq = ?1",
            )
            .map_err(failure)?;
        let changed = statement
            .execute(params![
                r.seq,
                r.state,
                r.attempts,
                r.next_at,
                r.last_status,
                r.last_error,
                r.last_attempt_at
            ])
            .map_err(failure)?;
        if changed != 1 {
            return Err(StorageFailure(format!("webhook delivery {} is missing", r.seq)));
        }
        Ok(())
    }

    pub fn set_webhooks(&mut self, id: &CodeId, subscribed: bool) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE codes SET webhooks = ?2 WHERE id = ?1")
            .and_then(|mut s| s.execute(params![id.as_str(), subscribed]))
            .map_err(failure)?;
        Ok(())
    }
}

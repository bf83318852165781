//! Webhook subscriptions and the outbox of their deliveries on PostgreSQL, written at once in the
//! command's transaction. Several processes may run delivery rounds: a writer reads the due
//! subscriptions `FOR UPDATE SKIP LOCKED`, so a subscription one round is claiming is skipped by
//! another, which then finds it leased.

use postgres::Row;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeId, WebhookId};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::webhook::{DeliveryRecord, WebhookRecord};

use super::{get, PgLedger};
use crate::webhook_rows::{due_webhooks_sql, DeliveryRow, WebhookRow, DELIVERY_COLUMNS, WEBHOOK_COLUMNS};

fn webhook_of(row: &Row) -> StoreResult<WebhookRecord> {
    WebhookRow {
        id: get(row, 0)?,
        owner_id: get(row, 1)?,
        public_code_id: get(row, 2)?,
        url: get(row, 3)?,
        events: get(row, 4)?,
        generation: get(row, 5)?,
        created_at: get(row, 6)?,
        removed_at: get(row, 7)?,
        leased_until: get(row, 8)?,
        settled_through: get(row, 9)?,
    }
    .into_record()
}

fn delivery_of(row: &Row) -> StoreResult<DeliveryRecord> {
    DeliveryRow {
        seq: get(row, 0)?,
        event_id: get(row, 1)?,
        webhook_id: get(row, 2)?,
        kind: get(row, 3)?,
        subject: get(row, 4)?,
        created_at: get(row, 5)?,
        state: get(row, 6)?,
        attempts: get(row, 7)?,
        next_at: get(row, 8)?,
        last_status: get(row, 9)?,
        last_error: get(row, 10)?,
        last_attempt_at: get(row, 11)?,
    }
    .into_record()
}

impl PgLedger<'_> {
    pub(super) fn read_webhooks_of(&mut self, owner: &CodeId) -> StoreResult<Vec<WebhookRecord>> {
        let sql = format!(
            "SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE owner_id = $1 AND removed_at IS NULL \
             ORDER BY created_at, id COLLATE \"C\""
        );
        self.query(&sql, &[&owner.as_str()])?.iter().map(webhook_of).collect()
    }

    pub(super) fn read_webhook(&mut self, id: &WebhookId) -> StoreResult<Option<WebhookRecord>> {
        let sql = format!("SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1");
        self.query_opt(&sql, &[&id.as_str()])?
            .as_ref()
            .map(webhook_of)
            .transpose()
    }

    pub(super) fn read_due_webhooks(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<WebhookRecord>> {
        let lock = if self.batch.is_some() {
            " FOR UPDATE OF w SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!("{}{lock}", due_webhooks_sql('$'));
        self.query(&sql, &[&now.0, &i64::from(limit)])?
            .iter()
            .map(webhook_of)
            .collect()
    }

    pub(super) fn read_deliveries(
        &mut self,
        webhook: &WebhookId,
        limit: u32,
        pending: bool,
    ) -> StoreResult<Vec<DeliveryRecord>> {
        let sql = if pending {
            crate::webhook_rows::pending_deliveries_sql('$')
        } else {
            format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY seq DESC LIMIT $2"
            )
        };
        self.query(&sql, &[&webhook.as_str(), &i64::from(limit)])?
            .iter()
            .map(delivery_of)
            .collect()
    }

    pub(super) fn read_oldest_deliveries(&mut self, limit: u32) -> StoreResult<Vec<DeliveryRecord>> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries ORDER BY seq LIMIT $1");
        self.query(&sql, &[&i64::from(limit)])?
            .iter()
            .map(delivery_of)
            .collect()
    }

    /// Deletes these deliveries (`seq` is a sequence here: never given twice).
    pub(super) fn delete_old_deliveries(&mut self, seqs: &[i64]) -> StoreResult<u32> {
        let deleted = self.execute("DELETE FROM webhook_deliveries WHERE seq = ANY($1)", &[&seqs])?;
        Ok(u32::try_from(deleted).expect("at most one row per seq"))
    }

    /// Inserts a subscription, or merges a change into it so that no write from an older read
    /// undoes a newer one (two processes, or a delivery round beside a rotation): the generation
    /// and the settled mark only rise, a removal stays, and a lease is taken only from a write
    /// that changed neither the generation nor the removal.
    pub(super) fn write_webhook(&mut self, webhook: &WebhookRecord) -> StoreResult<()> {
        let r = WebhookRow::from_record(webhook);
        let sql = format!(
            "INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO UPDATE SET \
             generation = CASE WHEN excluded.generation > webhooks.generation THEN excluded.generation ELSE webhooks.generation END, \
             removed_at = coalesce(webhooks.removed_at, excluded.removed_at), \
             leased_until = CASE WHEN excluded.generation > webhooks.generation \
                 OR (excluded.removed_at IS NOT NULL AND webhooks.removed_at IS NULL) \
                 THEN webhooks.leased_until ELSE excluded.leased_until END, \
             settled_through = CASE WHEN excluded.settled_through > webhooks.settled_through \
                 THEN excluded.settled_through ELSE webhooks.settled_through END"
        );
        self.execute(
            &sql,
            &[
                &r.id,
                &r.owner_id,
                &r.public_code_id,
                &r.url,
                &r.events,
                &r.generation,
                &r.created_at,
                &r.removed_at,
                &r.leased_until,
                &r.settled_through,
            ],
        )?;
        Ok(())
    }

    pub(super) fn write_new_delivery(&mut self, delivery: &DeliveryRecord) -> StoreResult<()> {
        let r = DeliveryRow::from_record(delivery);
        self.execute(
            "INSERT INTO webhook_deliveries (event_id, webhook_id, kind, subject, created_at, state, attempts, \
             next_at, last_status, last_error, last_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                &r.event_id,
                &r.webhook_id,
                &r.kind,
                &r.subject,
                &r.created_at,
                &r.state,
                &r.attempts,
                &r.next_at,
                &r.last_status,
                &r.last_error,
                &r.last_attempt_at,
            ],
        )?;
        Ok(())
    }

    pub(super) fn write_delivery(&mut self, delivery: &DeliveryRecord) -> StoreResult<()> {
        let r = DeliveryRow::from_record(delivery);
        let changed = self.execute(
            "UPDATE webhook_deliveries SET state = $2, attempts = $3, next_at = $4, last_status = $5, \
             last_error = $6, last_attempt_at = $7 WHERE seq = $1",
            &[
                &r.seq,
                &r.state,
                &r.attempts,
                &r.next_at,
                &r.last_status,
                &r.last_error,
                &r.last_attempt_at,
            ],
        )?;
        if changed != 1 {
            return Err(StorageFailure(format!("webhook delivery {} is missing", r.seq)));
        }
        Ok(())
    }
}

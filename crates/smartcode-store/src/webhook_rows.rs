//! Webhook subscriptions and their deliveries (`smartcode_core::webhook`) as both stores keep
//! them: plain columns, the subscribed kinds as one comma-separated text.

use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeId, EventId, WebhookId};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::webhook::{DeliveryRecord, DeliveryState, EventKind, WebhookRecord};

/// The columns of `webhooks`, in this order everywhere.
pub const WEBHOOK_COLUMNS: &str =
    "id, owner_id, public_code_id, url, events, generation, created_at, removed_at, leased_until, settled_through";
/// The columns of `webhook_deliveries`, in this order everywhere (`seq` first, given by the store).
pub const DELIVERY_COLUMNS: &str = "seq, event_id, webhook_id, kind, subject, created_at, state, attempts, next_at, \
     last_status, last_error, last_attempt_at";

/// One row of `webhooks`.
pub struct WebhookRow {
    pub id: String,
    pub owner_id: String,
    pub public_code_id: Option<String>,
    pub url: String,
    pub events: String,
    pub generation: i64,
    pub created_at: i64,
    pub removed_at: Option<i64>,
    pub leased_until: i64,
    pub settled_through: i64,
}

/// One row of `webhook_deliveries`.
pub struct DeliveryRow {
    pub seq: i64,
    pub event_id: String,
    pub webhook_id: String,
    pub kind: String,
    pub subject: String,
    pub created_at: i64,
    pub state: String,
    pub attempts: i64,
    pub next_at: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<i64>,
}

fn corrupt(what: &str) -> StorageFailure {
    StorageFailure(format!("unreadable stored {what}"))
}

impl WebhookRow {
    pub fn from_record(w: &WebhookRecord) -> WebhookRow {
        let events: Vec<&str> = w.events.iter().map(|k| k.as_str()).collect();
        WebhookRow {
            id: w.id.to_string(),
            owner_id: w.owner_id.to_string(),
            public_code_id: w.public_code_id.as_ref().map(ToString::to_string),
            url: w.url.clone(),
            events: events.join(","),
            generation: i64::from(w.generation),
            created_at: w.created_at.0,
            removed_at: w.removed_at.map(|t| t.0),
            leased_until: w.leased_until.0,
            settled_through: w.settled_through,
        }
    }

    pub fn into_record(self) -> StoreResult<WebhookRecord> {
        let bad = || corrupt("webhook");
        Ok(WebhookRecord {
            id: WebhookId::parse(&self.id).ok_or_else(bad)?,
            owner_id: CodeId::parse(&self.owner_id).ok_or_else(bad)?,
            public_code_id: self
                .public_code_id
                .map(|id| CodeId::parse(&id).ok_or_else(bad))
                .transpose()?,
            url: self.url,
            events: self
                .events
                .split(',')
                .filter(|k| !k.is_empty())
                .map(|k| EventKind::parse(k).ok_or_else(bad))
                .collect::<StoreResult<_>>()?,
            generation: u32::try_from(self.generation).map_err(|_| bad())?,
            created_at: Timestamp(self.created_at),
            removed_at: self.removed_at.map(Timestamp),
            leased_until: Timestamp(self.leased_until),
            settled_through: self.settled_through,
        })
    }
}

impl DeliveryRow {
    pub fn from_record(d: &DeliveryRecord) -> DeliveryRow {
        DeliveryRow {
            seq: d.seq.unwrap_or_default(),
            event_id: d.event_id.to_string(),
            webhook_id: d.webhook_id.to_string(),
            kind: d.kind.as_str().to_owned(),
            subject: d.subject.clone(),
            created_at: d.created_at.0,
            state: d.state.as_str().to_owned(),
            attempts: i64::from(d.attempts),
            next_at: d.next_at.0,
            last_status: d.last_status.map(i64::from),
            last_error: d.last_error.clone(),
            last_attempt_at: d.last_attempt_at.map(|t| t.0),
        }
    }

    pub fn into_record(self) -> StoreResult<DeliveryRecord> {
        let bad = || corrupt("webhook delivery");
        Ok(DeliveryRecord {
            seq: Some(self.seq),
            event_id: EventId::parse(&self.event_id).ok_or_else(bad)?,
            webhook_id: WebhookId::parse(&self.webhook_id).ok_or_else(bad)?,
            kind: EventKind::parse(&self.kind).ok_or_else(bad)?,
            subject: self.subject,
            created_at: Timestamp(self.created_at),
            state: DeliveryState::parse(&self.state).ok_or_else(bad)?,
            attempts: u32::try_from(self.attempts).map_err(|_| bad())?,
            next_at: Timestamp(self.next_at),
            last_status: self
                .last_status
                .map(|s| u16::try_from(s).map_err(|_| bad()))
                .transpose()?,
            last_error: self.last_error,
            last_attempt_at: self.last_attempt_at.map(Timestamp),
        })
    }
}

/// The query both stores answer `pending_deliveries` with (`?1`/`$1` the subscription, `?2`/`$2`
/// the limit): its deliveries after its settled mark, in order.
pub fn pending_deliveries_sql(placeholder: char) -> String {
    let (id, limit) = (format!("{placeholder}1"), format!("{placeholder}2"));
    format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE webhook_id = {id} \
         AND seq > (SELECT settled_through FROM webhooks WHERE id = {id}) ORDER BY seq LIMIT {limit}"
    )
}

/// The query both stores answer `due_webhooks` with (`?1`/`$1` the time, `?2`/`$2` the limit):
/// live subscriptions no round has, whose first pending delivery (the first after the settled
/// mark: `webhook_deliveries_by_webhook` finds it) is due.
pub fn due_webhooks_sql(placeholder: char) -> String {
    let (now, limit) = (format!("{placeholder}1"), format!("{placeholder}2"));
    format!(
        "SELECT {WEBHOOK_COLUMNS} FROM webhooks w WHERE w.removed_at IS NULL AND w.leased_until <= {now} \
         AND (SELECT d.next_at FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.seq > w.settled_through \
              ORDER BY d.seq LIMIT 1) <= {now} \
         ORDER BY w.created_at, w.id LIMIT {limit}"
    )
}

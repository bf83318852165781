//! Webhooks: what the owner of public codes subscribes a URL to, and the deliveries the broker
//! owes it (the outbox). The rules are in `ledger::webhooks`; this is the records and the one
//! schedule of retries.
//!
//! A delivery's state machine: `pending` (attempts 0, due at once) → the broker sends it →
//! `delivered` (answered 2xx) | `pending` again with one more attempt and a later `next_at`
//! (anything else: an error status, silence, a refused connection) → ... → `failed` after
//! [`WEBHOOK_ATTEMPTS_MAX`] attempts. Deliveries of one subscription go out in the order their
//! events happened: a later one waits while an earlier one is pending.

use crate::clock::Timestamp;
use crate::code::{CodeId, EventId, WebhookId};
use crate::limits::{WEBHOOK_ATTEMPTS_MAX, WEBHOOK_RETRY_SECONDS_FIRST, WEBHOOK_RETRY_SECONDS_MAX};

/// What happened, as a subscription names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A payment to one of the owner's public codes (a capture's too).
    PaymentReceived,
    /// The owner refunded a payment, in full or in part.
    RefundCreated,
    /// A hold for the owner was captured.
    HoldCaptured,
    /// A hold for the owner was voided, by the seller or by time.
    HoldVoided,
    /// A share of one of the owner's items gave its last free download.
    ShareUsedUp,
    /// A license was bought from the owner (through one of its public codes, or its item).
    LicenseBought,
    /// The owner asked for a test delivery.
    Ping,
}

impl EventKind {
    /// Every kind, in the order the API lists them.
    pub const ALL: [EventKind; 7] = [
        EventKind::PaymentReceived,
        EventKind::RefundCreated,
        EventKind::HoldCaptured,
        EventKind::HoldVoided,
        EventKind::ShareUsedUp,
        EventKind::LicenseBought,
        EventKind::Ping,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::PaymentReceived => "payment.received",
            EventKind::RefundCreated => "refund.created",
            EventKind::HoldCaptured => "hold.captured",
            EventKind::HoldVoided => "hold.voided",
            EventKind::ShareUsedUp => "share.used_up",
            EventKind::LicenseBought => "license.bought",
            EventKind::Ping => "ping",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

/// One subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookRecord {
    pub id: WebhookId,
    /// The secret code whose public codes' events it receives.
    pub owner_id: CodeId,
    /// Only the events of this one public code, if set.
    pub public_code_id: Option<CodeId>,
    pub url: String,
    /// Subscribed kinds, sorted, without repeats; a ping always reaches it.
    pub events: Vec<EventKind>,
    /// Which secret signs its deliveries: a rotation counts one up. The secret itself is never
    /// stored: the server derives it from the broker key, the id and this number.
    pub generation: u32,
    pub created_at: Timestamp,
    pub removed_at: Option<Timestamp>,
    /// A delivery round has its deliveries until then (see [`crate::limits::WEBHOOK_LEASE_SECONDS`]).
    pub leased_until: Timestamp,
    /// Every delivery up to this `seq` is settled (delivered or failed): deliveries go out in
    /// order, so those after it are exactly the pending ones, and settling one moves this mark
    /// instead of changing an index of pending deliveries.
    pub settled_through: i64,
}

impl WebhookRecord {
    pub fn wants(&self, kind: EventKind, public_code: Option<&CodeId>) -> bool {
        let for_it = match (&self.public_code_id, public_code) {
            (Some(only), Some(code)) => only == code,
            (Some(_), None) => kind == EventKind::Ping,
            (None, _) => true,
        };
        self.removed_at.is_none() && for_it && (kind == EventKind::Ping || self.events.contains(&kind))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<DeliveryState> {
        [DeliveryState::Pending, DeliveryState::Delivered, DeliveryState::Failed]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// One event owed to one subscription: a row of the outbox, written in the same transaction as
/// what it tells of.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// The store's order of deliveries (`None` until stored): a subscription's go out by it.
    pub seq: Option<i64>,
    pub event_id: EventId,
    pub webhook_id: WebhookId,
    pub kind: EventKind,
    /// What the event is about: a receipt's id (payments, captures), a refund's, a hold's, or the
    /// subscription's own for a ping. The delivery's body is built from it when it is sent.
    pub subject: String,
    pub created_at: Timestamp,
    pub state: DeliveryState,
    pub attempts: u32,
    /// Not sent again before this.
    pub next_at: Timestamp,
    /// The last attempt's HTTP status, if the receiver answered one.
    pub last_status: Option<u16>,
    /// Why the last attempt failed, if it did.
    pub last_error: Option<String>,
    pub last_attempt_at: Option<Timestamp>,
}

impl DeliveryRecord {
    /// What one attempt at `at` leaves: delivered on a 2xx; otherwise pending again after the
    /// next wait, or failed once it has had every attempt.
    pub fn attempted(&mut self, at: Timestamp, status: Option<u16>, error: Option<String>) {
        self.attempts += 1;
        self.last_attempt_at = Some(at);
        self.last_status = status;
        let delivered = error.is_none() && status.is_some_and(|s| (200..300).contains(&s));
        self.last_error = if delivered {
            None
        } else {
            error.or_else(|| status.map(|s| format!("answered {s}")))
        };
        self.state = if delivered {
            DeliveryState::Delivered
        } else if self.attempts >= WEBHOOK_ATTEMPTS_MAX {
            DeliveryState::Failed
        } else {
            self.next_at = at.plus_seconds(retry_wait_seconds(self.attempts)).unwrap_or(at);
            DeliveryState::Pending
        };
    }
}

/// Seconds to wait after `attempts` failed attempts: 1, 2, 4, ... up to an hour.
pub fn retry_wait_seconds(attempts: u32) -> i64 {
    let doublings = attempts.saturating_sub(1).min(30);
    WEBHOOK_RETRY_SECONDS_FIRST
        .saturating_mul(1_i64 << doublings)
        .min(WEBHOOK_RETRY_SECONDS_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_wait_twice_as_long_each_time_up_to_an_hour() {
        let waits: Vec<i64> = (1..=4).map(retry_wait_seconds).collect();
        assert_eq!(waits, [1, 2, 4, 8]);
        assert_eq!(retry_wait_seconds(40), WEBHOOK_RETRY_SECONDS_MAX);
    }

    #[test]
    fn a_delivery_fails_for_good_only_after_its_last_attempt() {
        let mut d = DeliveryRecord {
            seq: Some(1),
            event_id: EventId::generate_at(Timestamp(0)),
            webhook_id: WebhookId::generate(),
            kind: EventKind::Ping,
            subject: "x".into(),
            created_at: Timestamp(0),
            state: DeliveryState::Pending,
            attempts: 0,
            next_at: Timestamp(0),
            last_status: None,
            last_error: None,
            last_attempt_at: None,
        };
        d.attempted(Timestamp(0), Some(500), None);
        assert_eq!(
            (d.state, d.next_at, d.last_error.as_deref()),
            (DeliveryState::Pending, Timestamp(1_000_000), Some("answered 500"))
        );
        for _ in 1..WEBHOOK_ATTEMPTS_MAX {
            d.attempted(Timestamp(0), None, Some("refused".into()));
        }
        assert_eq!(d.state, DeliveryState::Failed);
        let mut ok = d.clone();
        ok.state = DeliveryState::Pending;
        ok.attempted(Timestamp(5), Some(204), None);
        assert_eq!((ok.state, ok.last_error), (DeliveryState::Delivered, None));
    }
}

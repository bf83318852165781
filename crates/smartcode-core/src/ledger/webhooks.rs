//! Webhooks: the owner of public codes subscribes a URL to what happens to them, and every event
//! a subscription wants is written to the outbox (a `DeliveryRecord` per subscription) by the
//! very command that makes it happen, in its transaction: a payment that commits has its
//! deliveries committed with it, and one that rolls back has none. Sending them is the server's
//! (`smartcode_server::webhooks`), off every payment's path: it claims a subscription's due
//! deliveries ([`Command::Claim`]), posts them in order, and records what each answer was
//! ([`Command::Record`]).
//!
//! A code with no subscription pays nothing for this: its record says whether it has any
//! (`CodeRecord::webhooks`), and only then are its subscriptions read.

use rand::rngs::StdRng;
use rand::SeedableRng;
use sha2::{Digest, Sha256};

use crate::clock::Timestamp;
use crate::code::{CodeHash, CodeId, EventId, PublicCode, WebhookId};
use crate::error::{Invalid, Limit, OpError};
use crate::limits::*;
use crate::model::CodeRecord;
use crate::webhook::{DeliveryRecord, DeliveryState, EventKind, WebhookRecord};

use super::rules::{authenticate, present};
use super::{Context, Credential, LedgerRead, LedgerTx};

#[derive(Clone, Debug)]
pub enum Command {
    /// The holder subscribes `url` to `events` of its public codes (only `public_code`'s, if set).
    Subscribe {
        holder: Credential,
        url: String,
        events: Vec<EventKind>,
        public_code: Option<PublicCode>,
    },
    /// A new secret for the subscription (its deliveries are signed with it from now on).
    Rotate { holder: Credential, id: WebhookId },
    /// The subscription ends; what it was still owed is not sent.
    Remove { holder: Credential, id: WebhookId },
    /// A test delivery, queued behind what the subscription is owed.
    Ping { holder: Credential, id: WebhookId },
    /// A delivery round takes up to `subscriptions` subscriptions whose first pending delivery is
    /// due, each with up to `run` of its pending deliveries in order, for
    /// [`WEBHOOK_LEASE_SECONDS`].
    Claim { subscriptions: u32, run: u32 },
    /// What a round's attempts at its subscriptions' deliveries gave, each subscription's in
    /// order; the subscriptions are free for the next round. One command for the whole round,
    /// so a round costs the writer two commands however many subscriptions it served.
    Record {
        runs: Vec<(WebhookId, Vec<DeliveryRecord>)>,
    },
    /// Deletes, among the outbox's `limit` oldest deliveries, those made more than
    /// [`WEBHOOK_DELIVERY_KEPT_SECONDS`] ago that are settled or whose subscription was removed
    /// (and is not in a round). A pending delivery of a live subscription always stays.
    Prune { limit: u32 },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Subscribed(WebhookRecord),
    Rotated(WebhookRecord),
    Removed(WebhookRecord),
    Pinged(DeliveryRecord),
    Claimed(Vec<(WebhookRecord, Vec<DeliveryRecord>)>),
    Recorded,
    Pruned { deliveries: u32 },
}

#[derive(Clone, Debug)]
pub enum Query {
    /// The holder's subscriptions.
    List { holder: CodeHash },
    /// One subscription and its latest deliveries, newest first.
    Deliveries {
        holder: CodeHash,
        id: WebhookId,
        limit: u32,
    },
    /// Whether any subscription has a delivery due now (what a delivery round asks before it
    /// claims, so an idle broker polls with a read, not a write).
    AnyDue,
    /// What a delivery tells of, read for its body.
    Subject {
        kind: EventKind,
        subject: String,
        webhook: WebhookId,
    },
}

/// What an event is about, as its delivery's body shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subject {
    Payment(crate::model::Receipt),
    Refund(crate::model::Receipt, crate::model::RefundRecord),
    Hold(crate::model::HoldRecord),
    Share(super::shares::ShareView),
    License(Box<super::licenses::LicenseView>),
    Ping(WebhookRecord),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Webhooks(Vec<WebhookRecord>),
    Deliveries(WebhookRecord, Vec<DeliveryRecord>),
    AnyDue(bool),
    Subject(Subject),
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    match command {
        Command::Subscribe {
            holder,
            url,
            events,
            public_code,
        } => subscribe(tx, cx, holder, (url, events), public_code.as_ref()),
        Command::Rotate { holder, id } => {
            let mut webhook = own(tx, now, holder, id)?;
            webhook.generation += 1;
            tx.put_webhook(&webhook)?;
            Ok(Outcome::Rotated(webhook))
        }
        Command::Remove { holder, id } => {
            let mut webhook = own(tx, now, holder, id)?;
            webhook.removed_at = Some(now);
            tx.put_webhook(&webhook)?;
            if tx.webhooks_of(&webhook.owner_id)?.is_empty() {
                tx.set_webhooks(&webhook.owner_id, false)?;
            }
            Ok(Outcome::Removed(webhook))
        }
        Command::Ping { holder, id } => {
            let webhook = own(tx, now, holder, id)?;
            let event = EventId::draw_at(now, &mut cx.draws);
            let delivery = owed(&webhook, event, EventKind::Ping, webhook.id.to_string(), now);
            tx.insert_delivery(&delivery)?;
            Ok(Outcome::Pinged(delivery))
        }
        Command::Claim { subscriptions, run } => {
            let mut claimed = Vec::new();
            for mut webhook in tx.due_webhooks(now, *subscriptions)? {
                let deliveries = tx.pending_deliveries(&webhook.id, *run)?;
                webhook.leased_until = now.plus_seconds(WEBHOOK_LEASE_SECONDS).unwrap_or(now);
                tx.put_webhook(&webhook)?;
                claimed.push((webhook, deliveries));
            }
            Ok(Outcome::Claimed(claimed))
        }
        Command::Record { runs } => {
            for (webhook, attempts) in runs {
                record(tx, webhook, attempts)?;
            }
            Ok(Outcome::Recorded)
        }
        Command::Prune { limit } => prune(tx, now, *limit),
    }
}

fn prune(tx: &mut (impl LedgerTx + ?Sized), now: Timestamp, limit: u32) -> Result<Outcome, OpError> {
    let before = Timestamp(
        now.0
            .saturating_sub(WEBHOOK_DELIVERY_KEPT_SECONDS * crate::clock::MICROS_PER_SECOND),
    );
    let mut gone: std::collections::HashMap<WebhookId, bool> = std::collections::HashMap::new();
    let mut seqs = Vec::new();
    for delivery in tx.oldest_deliveries(limit)? {
        let Some(seq) = delivery.seq.filter(|_| delivery.created_at < before) else {
            continue;
        };
        let removed = match gone.get(&delivery.webhook_id) {
            Some(removed) => *removed,
            None => {
                let webhook = tx.webhook_by_id(&delivery.webhook_id)?;
                let removed = webhook.is_none_or(|w| w.removed_at.is_some() && w.leased_until <= now);
                gone.insert(delivery.webhook_id.clone(), removed);
                removed
            }
        };
        if delivery.state != DeliveryState::Pending || removed {
            seqs.push(seq);
        }
    }
    let deliveries = tx.delete_deliveries(&seqs)?;
    Ok(Outcome::Pruned { deliveries })
}

/// One subscription's attempts written, its settled mark moved past those settled in order, and
/// its lease ended.
fn record(tx: &mut (impl LedgerTx + ?Sized), webhook: &WebhookId, attempts: &[DeliveryRecord]) -> Result<(), OpError> {
    let Some(mut record) = tx.webhook_by_id(webhook)? else {
        return Err(OpError::NotFound("webhook"));
    };
    let mut settled = true;
    for attempt in attempts {
        tx.update_delivery(attempt)?;
        // In order: the mark passes each settled one up to the first still pending.
        settled &= attempt.state != DeliveryState::Pending;
        if let (true, Some(seq)) = (settled, attempt.seq) {
            record.settled_through = record.settled_through.max(seq);
        }
    }
    record.leased_until = Timestamp(0);
    tx.put_webhook(&record)?;
    Ok(())
}

pub(super) fn query(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    query: &Query,
) -> Result<QueryOutcome, OpError> {
    match query {
        Query::AnyDue => Ok(QueryOutcome::AnyDue(!tx.due_webhooks(now, 1)?.is_empty())),
        Query::Subject { kind, subject, webhook } => {
            subject_of(tx, now, *kind, subject, webhook).map(QueryOutcome::Subject)
        }
        Query::List { holder } => {
            let holder = present(tx, holder)?;
            Ok(QueryOutcome::Webhooks(tx.webhooks_of(&holder.id)?))
        }
        Query::Deliveries { holder, id, limit } => {
            let holder = present(tx, holder)?;
            let webhook = tx
                .webhook_by_id(id)?
                .filter(|w| w.owner_id == holder.id && w.removed_at.is_none())
                .ok_or(OpError::NotFound("webhook"))?;
            let deliveries = tx.deliveries_of(id, (*limit).min(WEBHOOK_DELIVERIES_LISTED_MAX))?;
            Ok(QueryOutcome::Deliveries(webhook, deliveries))
        }
    }
}

fn subject_of(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    kind: EventKind,
    subject: &str,
    webhook: &WebhookId,
) -> Result<Subject, OpError> {
    let gone = || OpError::NotFound("event subject");
    match kind {
        EventKind::PaymentReceived => Ok(Subject::Payment(super::payments::receipt(tx, subject)?)),
        EventKind::RefundCreated => {
            let (receipt_id, seq) = subject.split_once('#').ok_or_else(gone)?;
            let seq: u32 = seq.parse().map_err(|_| gone())?;
            let receipt = super::payments::receipt(tx, receipt_id)?;
            let refund = tx
                .refunds_of(receipt_id)?
                .into_iter()
                .find(|r| r.seq == seq)
                .ok_or_else(gone)?;
            Ok(Subject::Refund(receipt, refund))
        }
        EventKind::HoldCaptured | EventKind::HoldVoided => {
            let id = crate::code::HoldId::parse(subject).ok_or_else(gone)?;
            Ok(Subject::Hold(tx.hold_by_id(&id)?.ok_or_else(gone)?))
        }
        EventKind::ShareUsedUp => Ok(Subject::Share(super::shares::by_id(tx, now, subject)?)),
        EventKind::LicenseBought => {
            let code = PublicCode::from_stored(subject).ok_or_else(gone)?;
            let query = super::licenses::Query::License { code };
            let super::licenses::QueryOutcome::License(view) = super::licenses::query(tx, &query)?;
            Ok(Subject::License(view))
        }
        EventKind::Ping => Ok(Subject::Ping(tx.webhook_by_id(webhook)?.ok_or_else(gone)?)),
    }
}

fn subscribe(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    holder: &Credential,
    (url, events): (&str, &[EventKind]),
    public_code: Option<&PublicCode>,
) -> Result<Outcome, OpError> {
    let holder = authenticate(tx, holder, cx.now)?;
    check_url(url)?;
    let mut events: Vec<EventKind> = events.iter().copied().filter(|k| *k != EventKind::Ping).collect();
    events.sort();
    events.dedup();
    if events.is_empty() {
        return Err(OpError::InvalidRequest(Invalid::EmptyText { field: "events" }));
    }
    let public_code_id = match public_code {
        Some(code) => {
            let record = tx.code_by_public(code)?.filter(|r| r.owner_id == holder.id);
            Some(record.ok_or(OpError::NotFound("public code"))?.id)
        }
        None => None,
    };
    if tx.webhooks_of(&holder.id)?.len() >= WEBHOOKS_PER_CODE_MAX as usize {
        return Err(OpError::LimitExceeded(Limit::WebhooksPerCode));
    }
    let webhook = WebhookRecord {
        id: WebhookId::draw(&mut cx.draws),
        owner_id: holder.id.clone(),
        public_code_id,
        url: url.to_owned(),
        events,
        generation: 1,
        created_at: cx.now,
        removed_at: None,
        leased_until: Timestamp(0),
        settled_through: 0,
    };
    tx.put_webhook(&webhook)?;
    if !holder.webhooks {
        tx.set_webhooks(&holder.id, true)?;
    }
    Ok(Outcome::Subscribed(webhook))
}

/// An `http(s)` URL of bounded length without spaces or credentials (where it may point is the
/// server's to judge when it calls: its addresses can change).
fn check_url(url: &str) -> Result<(), OpError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let authority = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    let fine = url.chars().count() <= WEBHOOK_URL_CHARS_MAX
        && !url.contains(|c: char| c.is_whitespace() || c.is_control())
        && authority.is_some_and(|a| !a.is_empty() && !a.contains('@'));
    if fine {
        Ok(())
    } else {
        Err(OpError::InvalidRequest(Invalid::WebhookUrl))
    }
}

/// The holder's live subscription `id`.
fn own(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    holder: &Credential,
    id: &WebhookId,
) -> Result<WebhookRecord, OpError> {
    let holder = authenticate(tx, holder, now)?;
    tx.webhook_by_id(id)?
        .filter(|w| w.owner_id == holder.id && w.removed_at.is_none())
        .ok_or(OpError::NotFound("webhook"))
}

fn owed(webhook: &WebhookRecord, event: EventId, kind: EventKind, subject: String, now: Timestamp) -> DeliveryRecord {
    DeliveryRecord {
        seq: None,
        event_id: event,
        webhook_id: webhook.id.clone(),
        kind,
        subject,
        created_at: now,
        state: DeliveryState::Pending,
        attempts: 0,
        next_at: now,
        last_status: None,
        last_error: None,
        last_attempt_at: None,
    }
}

/// Writes to the outbox, in the running command's transaction, that `kind` happened to `owner`
/// (through `public_code`, if it came through one) about `subject`: one delivery for each of the
/// owner's subscriptions that wants it. Nothing is read for an owner without subscriptions.
///
/// The event's id comes from its kind and subject (and the time), so that the same event is the
/// same id in every subscription's delivery, and no draw of the command's seed is spent on it.
pub(super) fn notify(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    owner: &CodeRecord,
    (kind, public_code): (EventKind, Option<&CodeId>),
    subject: &str,
) -> Result<(), OpError> {
    if !owner.webhooks {
        return Ok(());
    }
    let webhooks = tx.webhooks_of(&owner.id)?;
    let mut wanting = webhooks.iter().filter(|w| w.wants(kind, public_code)).peekable();
    if wanting.peek().is_none() {
        return Ok(());
    }
    let seed: [u8; 32] = Sha256::new()
        .chain_update(kind.as_str())
        .chain_update([0])
        .chain_update(subject)
        .finalize()
        .into();
    let event = EventId::draw_at(now, &mut StdRng::from_seed(seed));
    for webhook in wanting {
        tx.insert_delivery(&owed(webhook, event.clone(), kind, subject.to_owned(), now))?;
    }
    Ok(())
}

/// [`notify`] for the owner of the public code with id `payee_id`, read by its id.
pub(super) fn notify_owner_of(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    owner_id: &CodeId,
    (kind, public_code): (EventKind, Option<&CodeId>),
    subject: &str,
) -> Result<(), OpError> {
    let owner = tx.code_by_id(owner_id)?.ok_or(OpError::NotFound("code"))?;
    notify(tx, now, &owner, (kind, public_code), subject)
}

//! Sending webhook deliveries: the outbox (`ledger::webhooks`) drained by one background task per
//! broker, off every payment's path.
//!
//! A round, every [`POLL_MILLIS`] while nothing is due and at once after a busy one:
//! 1. a read asks whether any subscription has a delivery due (an idle broker writes nothing but
//!    a prune a minute, below);
//! 2. a write claims up to [`WEBHOOK_ROUND_SUBSCRIPTIONS_MAX`] such subscriptions, each with up
//!    to [`WEBHOOK_RUN_MAX`] of its pending deliveries in order, leased for
//!    [`WEBHOOK_LEASE_SECONDS`] (so another process, or this one after a restart, leaves them);
//! 3. each subscription's run is sent concurrently with the others, its own deliveries one after
//!    the other: the URL checked once (an `http(s)` URL whose addresses are public unless
//!    `serve --allow-private-callouts`, connected to the address checked, no redirects), each
//!    POST signed, bounded by [`WEBHOOK_CALL_MILLIS`], the answer read up to
//!    [`WEBHOOK_ANSWER_BYTES_MAX`] bytes and no further. A run stops at its first delivery not
//!    answered 2xx (the later ones wait behind it: in order per subscription) and after half the
//!    lease has gone by;
//! 4. one write records every attempt of the round (delivered; or pending again after a doubling
//!    wait; or failed after [`WEBHOOK_ATTEMPTS_MAX`]) and frees its subscriptions.
//!
//! A crash between 3 and 4 sends those deliveries again once the lease ends: at least once, with
//! the same event id, never lost (the outbox row committed with the event).
//!
//! When a round found nothing due, at most once every [`PRUNE_EVERY_SECONDS`] of the broker's
//! clock, the task prunes the outbox (`webhooks::Command::Prune`): settled deliveries older than
//! [`WEBHOOK_DELIVERY_KEPT_SECONDS`] go, so the table holds about a month of events.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use smartcode_core::ledger::webhooks;
use smartcode_core::limits::*;
use smartcode_core::webhook::{DeliveryRecord, WebhookRecord};
use smartcode_store::{answer, WriteRequest, Written};

use crate::negotiation::callout;
use crate::AppState;

/// How often an idle broker asks whether a delivery is due.
pub const POLL_MILLIS: u64 = 200;

/// How often (of the broker's clock) an idle delivery task prunes the outbox.
pub const PRUNE_EVERY_SECONDS: i64 = 60;

/// Sends what the outbox holds, for as long as the broker runs.
pub async fn deliver(state: AppState) {
    let mut pruned_at = None;
    loop {
        let busy = match round(&state).await {
            Ok(busy) => busy,
            Err(error) => {
                tracing::warn!(%error, "a webhook delivery round failed");
                false
            }
        };
        if !busy {
            let now = state.clock.now();
            if pruned_at
                .is_none_or(|at: smartcode_core::clock::Timestamp| now.0 - at.0 >= PRUNE_EVERY_SECONDS * 1_000_000)
            {
                pruned_at = Some(now);
                prune(&state).await;
            }
            tokio::time::sleep(Duration::from_millis(POLL_MILLIS)).await;
        }
    }
}

/// Deletes the outbox's old settled deliveries, a bounded number at a time.
async fn prune(state: &AppState) {
    let prune = webhooks::Command::Prune {
        limit: WEBHOOK_PRUNE_MAX,
    };
    match answer(state.store.write(WriteRequest::new(prune))).await {
        Ok(Written::Done(smartcode_core::ledger::Outcome::Webhooks(webhooks::Outcome::Pruned { deliveries }))) => {
            if deliveries > 0 {
                tracing::info!(deliveries, "pruned old webhook deliveries");
            }
        }
        Ok(_) => tracing::warn!("a prune answered something else"),
        Err(error) => tracing::warn!(%error, "pruning webhook deliveries failed"),
    }
}

/// One round; answers whether it sent anything.
async fn round(state: &AppState) -> Result<bool, String> {
    let due = answer(state.store.read(webhooks::Query::AnyDue.into()))
        .await
        .map_err(|e| e.to_string())?;
    if !matches!(
        webhooks::QueryOutcome::try_from(due),
        Ok(webhooks::QueryOutcome::AnyDue(true))
    ) {
        return Ok(false);
    }
    let claim = webhooks::Command::Claim {
        subscriptions: WEBHOOK_ROUND_SUBSCRIPTIONS_MAX,
        run: WEBHOOK_RUN_MAX,
    };
    let claimed = match answer(state.store.write(WriteRequest::new(claim))).await {
        Ok(Written::Done(smartcode_core::ledger::Outcome::Webhooks(webhooks::Outcome::Claimed(claimed)))) => claimed,
        Ok(_) => return Err("a claim answered something else".into()),
        Err(error) => return Err(error.to_string()),
    };
    let busy = !claimed.is_empty();
    let runs = claimed.into_iter().map(|(webhook, deliveries)| {
        let state = state.clone();
        tokio::spawn(async move { run(&state, webhook, deliveries).await })
    });
    let mut attempted = Vec::new();
    for task in runs.collect::<Vec<_>>() {
        // A run that panicked leaves its subscription leased: sent again after the lease.
        if let Ok(run) = task.await {
            attempted.push(run);
        }
    }
    let record = webhooks::Command::Record { runs: attempted };
    if let Err(error) = answer(state.store.write(WriteRequest::new(record))).await {
        tracing::warn!(%error, "recording webhook attempts failed; they are sent again after the lease");
    }
    Ok(busy)
}

/// Sends one subscription's run in order; answers what each attempt gave.
async fn run(
    state: &AppState,
    webhook: WebhookRecord,
    deliveries: Vec<DeliveryRecord>,
) -> (smartcode_core::code::WebhookId, Vec<DeliveryRecord>) {
    let started = Instant::now();
    let budget = Duration::from_secs(u64::try_from(WEBHOOK_LEASE_SECONDS / 2).unwrap_or(30));
    let mut attempts = Vec::new();
    let target = callout::check_endpoint(&webhook.url, state.config.allow_private_callouts).await;
    let client = target.as_ref().ok().and_then(|(url, address)| {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve(url.host_str().unwrap_or_default(), *address)
            .timeout(Duration::from_millis(WEBHOOK_CALL_MILLIS))
            .user_agent(concat!("smartcode-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .ok()
    });
    for mut delivery in deliveries {
        if started.elapsed() > budget {
            break;
        }
        let (status, error) = match (&target, &client) {
            (Err(refused), _) => (None, Some(refused.describe().to_owned())),
            (Ok(_), None) => (None, Some("no HTTP client could be made".to_owned())),
            (Ok((url, _)), Some(client)) => send(state, client, url, (&webhook, &delivery)).await,
        };
        delivery.attempted(state.clock.now(), status, error);
        let delivered = delivery.state == smartcode_core::webhook::DeliveryState::Delivered;
        attempts.push(delivery);
        if !delivered {
            break;
        }
    }
    (webhook.id, attempts)
}

/// One signed POST: the status the receiver answered, or why there was none.
async fn send(
    state: &AppState,
    client: &reqwest::Client,
    url: &url::Url,
    (webhook, delivery): (&WebhookRecord, &DeliveryRecord),
) -> (Option<u16>, Option<String>) {
    let body = match crate::api::webhooks::event_body(state, webhook, delivery).await {
        Ok(body) => body,
        Err(error) => return (None, Some(format!("the event could not be read: {}", error.detail))),
    };
    let secret = state.keys.webhook_secret(&webhook.id, webhook.generation);
    // Signed with the real time, which the receiver compares with its own clock.
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let signature = smartcode_api::webhooks::sign(&secret, i64::try_from(unix).unwrap_or(i64::MAX), &body);
    let call = async {
        let mut response = client
            .post(url.clone())
            .header("content-type", "application/json")
            .header(smartcode_api::webhooks::SIGNATURE_HEADER, signature)
            .header(smartcode_api::webhooks::EVENT_ID_HEADER, delivery.event_id.as_str())
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        // Only the status matters; the answer is read up to the bound, and no further.
        let mut read = 0usize;
        while let Ok(Some(chunk)) = response.chunk().await {
            read += chunk.len();
            if read > WEBHOOK_ANSWER_BYTES_MAX {
                break;
            }
        }
        Ok::<u16, String>(status)
    };
    match tokio::time::timeout(Duration::from_millis(WEBHOOK_CALL_MILLIS), call).await {
        Ok(Ok(status)) => (Some(status), None),
        Ok(Err(why)) => (None, Some(why)),
        Err(_) => (None, Some(format!("no answer within {WEBHOOK_CALL_MILLIS} ms"))),
    }
}

fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        format!("no answer within {WEBHOOK_CALL_MILLIS} ms")
    } else if error.is_connect() {
        "the receiver refused the connection or could not be reached".to_owned()
    } else {
        "the receiver did not answer".to_owned()
    }
}

//! Webhooks (`/v1/me/webhooks…`): the owner of public codes, presenting its secret code,
//! subscribes a URL to their events, lists, tests (a ping), rotates (a new secret) and removes
//! its subscriptions, and reads each one's latest deliveries. The rules are the core's, in
//! `ledger::webhooks`; sending is [`crate::webhooks`].

use axum::extract::{Query as UrlQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use smartcode_api::webhooks::{DeliveriesJson, DeliveryJson, WebhookJson, WebhookRequest, WebhooksJson};
use smartcode_core::code::WebhookId;
use smartcode_core::error::{Invalid, OpError};
use smartcode_core::ledger::webhooks;
use smartcode_core::limits::WEBHOOK_DELIVERIES_LISTED_MAX;
use smartcode_core::webhook::{DeliveryRecord, DeliveryState, EventKind, WebhookRecord};

use super::{json_value, read, submit, Asked, Entry, Shown, WriteContext};
use crate::extract::{Body, Holder, Segment, Target};
use crate::problem::ApiError;
use crate::{AppState, Broker};

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::GET, "/v1/me/webhooks", get(handle_list)),
        (Method::POST, "/v1/me/webhooks", post(handle_subscribe)),
        (
            Method::DELETE,
            "/v1/me/webhooks/{id}",
            axum::routing::delete(handle_remove),
        ),
        (Method::POST, "/v1/me/webhooks/{id}/test", post(handle_test)),
        (Method::POST, "/v1/me/webhooks/{id}/rotate", post(handle_rotate)),
        (Method::GET, "/v1/me/webhooks/{id}/deliveries", get(handle_deliveries)),
    ]
}

fn parse_id(id: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(id).ok_or_else(|| ApiError::not_found("webhook"))
}

/// A subscription as its owner reads it; `secret` only where it is shown once.
pub(super) fn webhook_json(state: &Broker, webhook: &WebhookRecord, with_secret: bool) -> WebhookJson {
    WebhookJson {
        id: webhook.id.to_string(),
        url: webhook.url.clone(),
        events: webhook.events.iter().map(|k| k.as_str().to_owned()).collect(),
        public_code: webhook.public_code_id.as_ref().map(ToString::to_string),
        created_at: webhook.created_at.to_rfc3339(),
        secret: with_secret.then(|| state.keys.webhook_secret(&webhook.id, webhook.generation)),
    }
}

fn delivery_json(delivery: &DeliveryRecord) -> DeliveryJson {
    DeliveryJson {
        event_id: delivery.event_id.to_string(),
        kind: delivery.kind.as_str().to_owned(),
        state: delivery.state.as_str().to_owned(),
        attempts: delivery.attempts,
        created_at: delivery.created_at.to_rfc3339(),
        last_attempt_at: delivery.last_attempt_at.map(|t| t.to_rfc3339()),
        last_status: delivery.last_status,
        last_error: delivery.last_error.clone(),
        next_attempt_at: (delivery.state == DeliveryState::Pending).then(|| delivery.next_at.to_rfc3339()),
    }
}

/// The JSON of a webhook command's outcome (the secret of a new or rotated subscription included:
/// a replay shows the same one, derived again).
pub(super) fn render(state: &Broker, outcome: &webhooks::Outcome) -> serde_json::Value {
    let value = match outcome {
        webhooks::Outcome::Subscribed(w) | webhooks::Outcome::Rotated(w) => {
            serde_json::to_value(webhook_json(state, w, true))
        }
        webhooks::Outcome::Removed(w) => serde_json::to_value(webhook_json(state, w, false)),
        webhooks::Outcome::Pinged(d) => serde_json::to_value(delivery_json(d)),
        webhooks::Outcome::Claimed(_) | webhooks::Outcome::Recorded | webhooks::Outcome::Pruned { .. } => {
            Ok(serde_json::json!({}))
        }
    };
    value.expect("webhook JSON serializes")
}

fn parse_events(events: &[String]) -> Result<Vec<EventKind>, ApiError> {
    events
        .iter()
        .map(|e| {
            EventKind::parse(e).filter(|k| *k != EventKind::Ping).ok_or_else(|| {
                ApiError::invalid_request(format!(
                    "unknown event {e:?}: payment.received, refund.created, hold.captured, hold.voided or license.bought"
                ))
            })
        })
        .collect()
}

async fn handle_subscribe(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: WebhookRequest = body.json()?;
    let events = parse_events(&request.events)?;
    let public_code = match &request.public_code {
        Some(code) => Some(super::parse_public(&state, code)?),
        None => None,
    };
    if request.url.chars().count() > smartcode_core::limits::WEBHOOK_URL_CHARS_MAX {
        return Err(OpError::InvalidRequest(Invalid::WebhookUrl).into());
    }
    let asked = Asked::of(&headers, &target, &body.0);
    let context = WriteContext {
        holder: Some(&holder),
        asked,
    };
    submit(&state, context, StatusCode::CREATED, |pin| {
        let command = webhooks::Command::Subscribe {
            holder: holder.with(pin),
            url: request.url.clone(),
            events: events.clone(),
            public_code: public_code.clone(),
        };
        (command, Shown::NONE)
    })
    .await?
    .respond(&state)
}

/// Rotate, remove and test: a command on one of the holder's subscriptions.
async fn on_one(
    state: &AppState,
    holder: &Holder,
    (id, status): (&str, StatusCode),
    asked: Asked<'_>,
    make: impl Fn(smartcode_core::ledger::Credential, WebhookId) -> webhooks::Command,
) -> Result<Response, ApiError> {
    let id = parse_id(id)?;
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, status, |pin| {
        (make(holder.with(pin), id.clone()), Shown::NONE)
    })
    .await?
    .respond(state)
}

async fn handle_remove(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    on_one(&state, &holder, (&id, StatusCode::OK), asked, |holder, id| {
        webhooks::Command::Remove { holder, id }
    })
    .await
}

async fn handle_rotate(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    on_one(&state, &holder, (&id, StatusCode::OK), asked, |holder, id| {
        webhooks::Command::Rotate { holder, id }
    })
    .await
}

async fn handle_test(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    on_one(&state, &holder, (&id, StatusCode::ACCEPTED), asked, |holder, id| {
        webhooks::Command::Ping { holder, id }
    })
    .await
}

/// Reads `query` for `holder`, once its PIN, if it has one, is checked.
async fn read_for(
    state: &AppState,
    holder: &Holder,
    query: webhooks::Query,
) -> Result<webhooks::QueryOutcome, ApiError> {
    let view = super::tree::me(state, holder).await?;
    super::check_sent_pin(state, holder, &view.record).await?;
    read(state, Some(&holder.caller), query).await
}

async fn handle_list(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let query = webhooks::Query::List { holder: holder.hash };
    let webhooks::QueryOutcome::Webhooks(listed) = read_for(&state, &holder, query).await? else {
        return Err(super::unexpected());
    };
    let body = WebhooksJson {
        webhooks: listed.iter().map(|w| webhook_json(&state, w, false)).collect(),
    };
    Ok(json_value(
        StatusCode::OK,
        serde_json::to_value(body).expect("webhooks serialize"),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesParams {
    limit: Option<u32>,
}

async fn handle_deliveries(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    params: Result<UrlQuery<DeliveriesParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let UrlQuery(params) = params.map_err(|_| ApiError::invalid_request("limit is a whole number of at most 100"))?;
    let limit = params.limit.unwrap_or(WEBHOOK_DELIVERIES_LISTED_MAX);
    if !(1..=WEBHOOK_DELIVERIES_LISTED_MAX).contains(&limit) {
        return Err(ApiError::invalid_request(format!(
            "limit is 1 to {WEBHOOK_DELIVERIES_LISTED_MAX}"
        )));
    }
    let query = webhooks::Query::Deliveries {
        holder: holder.hash,
        id: parse_id(&id)?,
        limit,
    };
    let webhooks::QueryOutcome::Deliveries(webhook, deliveries) = read_for(&state, &holder, query).await? else {
        return Err(super::unexpected());
    };
    let body = DeliveriesJson {
        webhook: webhook_json(&state, &webhook, false),
        deliveries: deliveries.iter().map(delivery_json).collect(),
    };
    Ok(json_value(
        StatusCode::OK,
        serde_json::to_value(body).expect("deliveries serialize"),
    ))
}

/// The body of `delivery` to `webhook`: the event, and what it is about as the API shows it (a
/// payment's receipt signed as any receipt is, a refund with its receipt, a hold as its seller
/// reads it, or for a ping the subscription).
pub(crate) async fn event_body(
    state: &AppState,
    webhook: &WebhookRecord,
    delivery: &DeliveryRecord,
) -> Result<Vec<u8>, ApiError> {
    let query = webhooks::Query::Subject {
        kind: delivery.kind,
        subject: delivery.subject.clone(),
        webhook: webhook.id.clone(),
    };
    let webhooks::QueryOutcome::Subject(subject) = read(state, None, query).await? else {
        return Err(super::unexpected());
    };
    let now = state.clock.now();
    let data = match subject {
        webhooks::Subject::Payment(receipt) => {
            let signed = state.signer.seal(super::render::receipt_json(state, &receipt)).await?;
            serde_json::json!({ "receipt": signed })
        }
        webhooks::Subject::Refund(receipt, refund) => {
            let signed = state.signer.seal(super::render::receipt_json(state, &receipt)).await?;
            serde_json::json!({ "refund": super::render::refund_json(&refund), "receipt": signed })
        }
        webhooks::Subject::Hold(hold) => serde_json::json!({ "hold": super::holds::hold_json(state, &hold, now) }),
        webhooks::Subject::Share(share) => serde_json::json!({ "share": super::shares::share_json(&share) }),
        webhooks::Subject::License(view) => {
            let signed = state
                .signer
                .seal(super::render::receipt_json(state, &view.receipt))
                .await?;
            let license = super::licenses::license_json(&view.license, view.refunded_units);
            serde_json::json!({ "license": license, "receipt": signed })
        }
        webhooks::Subject::Ping(webhook) => serde_json::json!({ "webhook": webhook_json(state, &webhook, false) }),
    };
    let event = smartcode_api::webhooks::EventJson {
        id: delivery.event_id.to_string(),
        kind: delivery.kind.as_str().to_owned(),
        created_at: delivery.created_at.to_rfc3339(),
        webhook_id: webhook.id.to_string(),
        data,
    };
    Ok(serde_json::to_vec(&event).expect("an event serializes"))
}

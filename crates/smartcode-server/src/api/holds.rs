//! Holds (`/v1/holds…`): whoever presents a buyer's code sets value aside for a seller (as a
//! payment would be made, PIN and guessing defence included); the seller, presenting the secret
//! code that owns the payee, captures part or all of it (a payment with a signed receipt) or
//! voids it; the buyer and the seller read it. The rules are the core's, in `ledger::holds`.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use smartcode_core::code::HoldId;
use smartcode_core::ledger::holds;
use smartcode_core::ledger::payments::PaymentOrder;
use smartcode_core::limits::HOLD_SECONDS_DEFAULT;
use smartcode_core::model::HoldRecord;

use super::{json_value, read, submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Caller, Holder, Segment, Target};
use crate::problem::ApiError;
use crate::wire::*;
use crate::{AppState, Broker};

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/holds", post(handle_hold)),
        (Method::GET, "/v1/holds/{id}", get(handle_read)),
        (Method::POST, "/v1/holds/{id}/capture", post(handle_capture)),
        (Method::POST, "/v1/holds/{id}/void", post(handle_void)),
    ]
}

/// A hold across brokers goes by its charge's id (a receipt's id, which its capture pays under).
fn elsewhere(id: &str) -> bool {
    smartcode_core::code::ReceiptId::parse(id).is_some()
}

fn parse_hold_id(text: &str) -> Result<HoldId, ApiError> {
    HoldId::parse(text).ok_or_else(|| ApiError::not_found("hold"))
}

/// A hold as the seller (and anyone but the buyer) sees it: the payer by its pseudonym.
pub(crate) fn hold_json(state: &Broker, hold: &HoldRecord, now: smartcode_core::clock::Timestamp) -> HoldJson {
    let payer = match &hold.payee {
        Some(payee) => state.keys.payer_pseudonym(&payee.owner_id, &hold.payer_id),
        None => hold.payer_id.to_string(),
    };
    HoldJson::of(hold, hold.state_at(now), payer)
}

async fn handle_hold(
    State(state): State<AppState>,
    caller: Caller,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: HoldRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    // A code of a peer's is held there; the rest are this broker's.
    if let Some(elsewhere) = super::federation::peer_for_code(&state, &request.code).await? {
        let reply = super::federation::hold_elsewhere(&state, caller, elsewhere, &request, &headers, asked).await?;
        return reply.respond(&state);
    }
    let payer = state.holder(caller, &request.code, &headers).await?;
    hold(&state, &payer, &request, asked).await?.respond(&state)
}

/// Sets value aside on the payer's code (`payer` is `request.code` as presented).
pub(crate) async fn hold(
    state: &AppState,
    payer: &Holder,
    request: &HoldRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let payee = super::aliases::payee(state, &request.payee).await?;
    let amount = request.amount.parse()?;
    let currency = request.currency.as_deref().map(parse_currency).transpose()?;
    let expires_in_seconds = request.expires_in_seconds.unwrap_or(HOLD_SECONDS_DEFAULT);
    let context = WriteContext {
        holder: Some(payer),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let order = PaymentOrder {
            payer: payer.with(pin),
            payee: payee.clone(),
            amount,
            currency,
            memo: request.memo.clone(),
            category: request.category.clone(),
            item: request.item.clone(),
        };
        (
            holds::Command::Hold {
                order,
                expires_in_seconds,
            },
            Shown::NONE,
        )
    })
    .await
}

async fn handle_capture(
    State(state): State<AppState>,
    seller: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: CaptureRequest = body.json_or_default()?;
    let asked = Asked::of(&headers, &target, &body.0);
    if elsewhere(&id) {
        let reply = super::federation::capture_elsewhere(&state, &seller, &id, request.amount.as_ref(), asked).await?;
        return reply.respond(&state);
    }
    capture(&state, &seller, &id, &request, asked).await?.respond(&state)
}

/// The seller takes all or part of a hold: a payment, answered with its signed receipt.
pub(crate) async fn capture(
    state: &AppState,
    seller: &Holder,
    id: &str,
    request: &CaptureRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let hold = parse_hold_id(id)?;
    let amount = request.amount.as_ref().map(ParseAmount::parse).transpose()?;
    let context = WriteContext {
        holder: Some(seller),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let command = holds::Command::Capture {
            seller: seller.with(pin),
            hold: hold.clone(),
            amount,
        };
        (command, Shown::NONE)
    })
    .await?
    .signed(state)
    .await
}

async fn handle_void(
    State(state): State<AppState>,
    seller: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    if elsewhere(&id) {
        let hold = super::federation::void_elsewhere(&state, &seller, &id, asked).await?;
        return Ok(json_value(StatusCode::OK, serde_json::json!({ "hold": hold })));
    }
    void(&state, &seller, &id, asked).await?.respond(&state)
}

/// The seller gives a hold back whole.
pub(crate) async fn void(state: &AppState, seller: &Holder, id: &str, asked: Asked<'_>) -> Result<Reply, ApiError> {
    let hold = parse_hold_id(id)?;
    let context = WriteContext {
        holder: Some(seller),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        let command = holds::Command::Void {
            seller: seller.with(pin),
            hold: hold.clone(),
        };
        (command, Shown::NONE)
    })
    .await
}

async fn handle_read(
    State(state): State<AppState>,
    reader: Holder,
    Segment(id): Segment,
) -> Result<Response, ApiError> {
    if elsewhere(&id) {
        let hold = super::federation::read_hold(&state, &reader, &id).await?;
        return Ok(json_value(StatusCode::OK, serde_json::json!({ "hold": hold })));
    }
    let id = parse_hold_id(&id)?;
    let holds::QueryOutcome::Hold(hold) = read(
        &state,
        Some(&reader.caller),
        holds::Query::Hold {
            id,
            reader: reader.hash,
        },
    )
    .await?;
    let now = state.clock.now();
    let me = super::tree::me(&state, &reader).await?;
    let json = if me.record.id == hold.payer_id {
        HoldJson::of(&hold, hold.state_at(now), hold.payer_id.to_string())
    } else {
        hold_json(&state, &hold, now)
    };
    Ok(json_value(StatusCode::OK, serde_json::json!({ "hold": json })))
}

//! Payments: a secret code pays a public code (`POST /v1/payments`), and anyone holding a
//! receipt's id reads the signed receipt (`GET /v1/receipts/{id}`). Receipts are signed after
//! the commit, in batches ([`crate::receipts`]).

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;
use smartcode_core::ledger::payments;

use super::parse_public;
use super::submit::receipt_json;
use super::{json_value, read, submit, Asked, Entry, Reply, WriteContext};
use crate::extract::{Body, Caller, Holder, Segment, Target};
use crate::problem::ApiError;
use crate::wire::*;
use crate::AppState;
use smartcode_core::ledger::payments::PaymentOrder;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/payments", post(handle_pay)),
        (Method::GET, "/v1/receipts/{id}", get(receipt)),
    ]
}

async fn handle_pay(
    State(state): State<AppState>,
    caller: Caller,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: PaymentRequest = body.json()?;
    let payer = state.holder(caller, &request.code, &headers).await?;
    let asked = Asked::of(&headers, &target, &body.0);
    pay(&state, &payer, &request, asked).await?.respond(&state)
}

/// Pays a public code from the payer's code (`payer` is `request.code` as presented, with its
/// PIN). A payment answered 201, now or in a replay, counts in the metrics.
pub(crate) async fn pay(
    state: &AppState,
    payer: &Holder,
    request: &PaymentRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let started = std::time::Instant::now();
    let payee = parse_public(state, &request.payee)?;
    let amount = request.amount.parse()?;
    let currency = request.currency.as_deref().map(parse_currency).transpose()?;
    let context = WriteContext {
        holder: Some(payer),
        asked,
    };
    let reply = submit(state, context, StatusCode::CREATED, |pin| {
        let order = PaymentOrder {
            payer: payer.with(pin),
            payee: payee.clone(),
            amount,
            currency,
            memo: request.memo.clone(),
            category: request.category.clone(),
            item: request.item.clone(),
        };
        (payments::Command::Pay(order), None)
    })
    .await?
    .signed(state)
    .await?;
    let created = match &reply {
        Reply::Done { status, .. } | Reply::Rendered { status, .. } => *status == StatusCode::CREATED,
        Reply::Replayed(stored) => stored.status == StatusCode::CREATED.as_u16(),
    };
    if created {
        crate::metrics::METRICS.paid(started.elapsed());
    }
    Ok(reply)
}

async fn receipt(State(state): State<AppState>, Segment(id): Segment) -> Result<Response, ApiError> {
    let receipt = signed_receipt(&state, id).await?;
    Ok(json_value(StatusCode::OK, json!({ "receipt": receipt })))
}

/// A receipt as anyone holding its id reads it, signed in the next batch.
pub(crate) async fn signed_receipt(state: &AppState, id: String) -> Result<ReceiptJson, ApiError> {
    let payments::QueryOutcome::Receipt(receipt) = read(state, None, payments::Query::Receipt { id }).await?;
    state.signer.seal(receipt_json(state, &receipt)).await
}

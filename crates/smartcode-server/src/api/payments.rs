//! Payments: a secret code pays a public code (`POST /v1/payments`), and anyone holding a
//! receipt's id reads the signed receipt (`GET /v1/receipts/{id}`).

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;
use smartcode_core::ledger::payments;

use super::parse_public;
use super::submit::receipt_json;
use super::{json_value, read, submit, Entry, WriteContext};
use crate::extract::{Body, Caller, Segment, Target};
use crate::problem::ApiError;
use crate::wire::*;
use crate::AppState;
use smartcode_core::ledger::payments::PaymentOrder;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/payments", post(pay)),
        (Method::GET, "/v1/receipts/{id}", get(receipt)),
    ]
}

pub(crate) async fn pay(
    State(state): State<AppState>,
    caller: Caller,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let request: PaymentRequest = body.json()?;
    let payer = state.holder(caller, &request.code, &headers).await?;
    let payee = parse_public(&state, &request.payee)?;
    let amount = request.amount.parse()?;
    let currency = request.currency.as_deref().map(parse_currency).transpose()?;
    let context = WriteContext {
        headers: &headers,
        holder: Some(&payer),
        target: &target,
        body: &body.0,
    };
    let answer = submit(&state, context, StatusCode::CREATED, |pin| {
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
    .await;
    if answer.as_ref().is_ok_and(|r| r.status() == StatusCode::CREATED) {
        crate::metrics::METRICS.paid(started.elapsed());
    }
    answer
}

async fn receipt(State(state): State<AppState>, Segment(id): Segment) -> Result<Response, ApiError> {
    let payments::QueryOutcome::Receipt(receipt) = read(&state, None, payments::Query::Receipt { id }).await?;
    Ok(json_value(
        StatusCode::OK,
        json!({ "receipt": receipt_json(&state, &receipt) }),
    ))
}

//! Payments: a secret code pays a public code (`POST /v1/payments`), and anyone holding a
//! receipt's id reads the signed receipt (`GET /v1/receipts/{id}`): the seller and anyone else
//! see the payer by its pseudonym for that seller, the payer and the operator by its id. Receipts are signed after
//! the commit, in batches ([`crate::receipts`]).

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;
use smartcode_core::ledger::payments;

use super::render::receipt_json;
use super::{json_value, read, submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Caller, Holder, Segment, Target};
use crate::problem::{ApiError, ProblemCode};
use crate::wire::*;
use crate::AppState;
use smartcode_core::ledger::payments::PaymentOrder;
use smartcode_core::model::RefundRecord;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/payments", post(handle_pay)),
        (Method::GET, "/v1/receipts/{id}", get(receipt)),
        (Method::POST, "/v1/receipts/{id}/refund", post(handle_refund)),
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
    let asked = Asked::of(&headers, &target, &body.0);
    // A code of a peer's is charged there; the rest are this broker's.
    if let Some(elsewhere) = super::federation::peer_for_code(&state, &request.code).await? {
        let started = std::time::Instant::now();
        let reply = super::federation::pay_elsewhere(&state, caller, elsewhere, &request, &headers, asked).await?;
        count_paid(&reply, started);
        return reply.respond(&state);
    }
    // With a certificate, `code` is an assurance code: a shape of its own, never a secret code.
    let payer = match request.certificate {
        Some(_) => state.assurance_presenter(caller, &request.code).await?,
        None => state.holder(caller, &request.code, &headers).await?,
    };
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
    let payee = super::aliases::payee(state, &request.payee).await?;
    if let Some(quote) = &request.quote {
        if payer.authorization || request.certificate.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                ProblemCode::Conflict,
                "an authorization code or a certificate pays in its own currency; pay a quote with a secret code",
            ));
        }
        let reply = super::quotes::pay(state, payer, request, payee, quote, asked)
            .await?
            .signed(state)
            .await?;
        count_paid(&reply, started);
        return Ok(reply);
    }
    let amount = request
        .amount
        .as_ref()
        .ok_or_else(|| ApiError::invalid_request("amount is required, unless the payment names a quote"))?
        .parse()?;
    let currency = request.currency.as_deref().map(parse_currency).transpose()?;
    if payer.authorization || request.certificate.is_some() {
        let order = PaymentOrder {
            payer: payer.with(smartcode_core::ledger::PinPresented::Absent),
            payee,
            amount,
            currency,
            memo: request.memo.clone(),
            category: request.category.clone(),
            item: request.item.clone(),
        };
        let reply = match &request.certificate {
            Some(certificate) => super::assurances::pay(state, payer, certificate, order, asked).await?,
            None => super::authorizations::pay(state, payer, order, asked).await?,
        };
        count_paid(&reply, started);
        return Ok(reply);
    }
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
        (payments::Command::Pay(order), Shown::NONE)
    })
    .await?
    .signed(state)
    .await?;
    count_paid(&reply, started);
    Ok(reply)
}

/// A payment answered 201, now or in a replay, counts in the metrics.
fn count_paid(reply: &Reply, started: std::time::Instant) {
    let created = match reply {
        Reply::Done { status, .. } | Reply::Rendered { status, .. } => *status == StatusCode::CREATED,
        Reply::Replayed(stored) => stored.status == StatusCode::CREATED.as_u16(),
    };
    if created {
        crate::metrics::METRICS.paid(started.elapsed());
    }
}

async fn receipt(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
) -> Result<Response, ApiError> {
    let reader = reader(&state, caller, &headers).await?;
    let receipt = signed_receipt(&state, id.clone(), &reader).await?;
    let refunds = refunds(&state, id).await?;
    let refunded: i64 = refunds.iter().map(|r| r.amount.units()).sum();
    let currency = parse_currency(&receipt.amount.currency)?;
    let shown: Vec<_> = refunds.iter().map(super::render::refund_json).collect();
    Ok(json_value(
        StatusCode::OK,
        json!({ "receipt": receipt, "refunded": Money::new(refunded, currency), "refunds": shown }),
    ))
}

/// A payment's refunds, oldest first.
pub(crate) async fn refunds(state: &AppState, receipt_id: String) -> Result<Vec<RefundRecord>, ApiError> {
    let payments::QueryOutcome::Refunds(refunds) = read(state, None, payments::Query::Refunds { receipt_id }).await?
    else {
        return Err(super::unexpected());
    };
    Ok(refunds)
}

async fn handle_refund(
    State(state): State<AppState>,
    seller: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: RefundRequest = body.json_or_default()?;
    let asked = Asked::of(&headers, &target, &body.0);
    refund(&state, &seller, &id, &request, asked).await?.respond(&state)
}

/// The seller (the code that owns the payee) gives back all or part of a payment.
pub(crate) async fn refund(
    state: &AppState,
    seller: &Holder,
    receipt_id: &str,
    request: &RefundRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let amount = request.amount.as_ref().map(ParseAmount::parse).transpose()?;
    let context = WriteContext {
        holder: Some(seller),
        asked,
    };
    let reply = submit(state, context, StatusCode::CREATED, |pin| {
        let command = payments::Command::Refund {
            seller: seller.with(pin),
            receipt_id: receipt_id.to_owned(),
            amount,
            reason: request.reason.clone(),
        };
        (command, Shown::NONE)
    })
    .await?;
    crate::api::federation::refunds::made(state, &reply);
    Ok(reply)
}

/// Who reads a receipt. Anyone holding its id may (the seller first); the payer (presenting its
/// own code) and the operator see the payer's id, anyone else the payer's pseudonym for the seller.
pub(crate) enum Reader {
    Anyone,
    Holder(Holder),
    Operator,
}

/// The reader a request's `Authorization` names: none, a code (checked, a wrong one counted like
/// any failed presentation) or the operator's token.
async fn reader(state: &AppState, caller: Caller, headers: &HeaderMap) -> Result<Reader, ApiError> {
    let Some(header) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Ok(Reader::Anyone);
    };
    match header.to_str().unwrap_or("").split_once(' ') {
        Some((scheme, code)) if scheme.eq_ignore_ascii_case("code") => {
            Ok(Reader::Holder(state.holder(caller, code.trim(), headers).await?))
        }
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && state.operator_token_matches(token.trim()) =>
        {
            Ok(Reader::Operator)
        }
        _ => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            ProblemCode::Unauthorized,
            "send no Authorization, or the payer's Authorization: Code <code>, or the operator's Bearer token",
        )),
    }
}

/// A receipt as `reader` may see it, signed in the next batch.
pub(crate) async fn signed_receipt(state: &AppState, id: String, reader: &Reader) -> Result<ReceiptJson, ApiError> {
    let payments::QueryOutcome::Receipt(receipt) = read(state, None, payments::Query::Receipt { id }).await? else {
        return Err(super::unexpected());
    };
    let payer_reads = match reader {
        Reader::Anyone => false,
        Reader::Operator => true,
        Reader::Holder(holder) => Some(&super::tree::me(state, holder).await?.record.id) == receipt.payer.code_id(),
    };
    let shown = if payer_reads {
        let payer = receipt.payer.code_id().map(ToString::to_string).unwrap_or_default();
        ReceiptJson::unsigned(&receipt, &state.config.domain, payer)
    } else {
        receipt_json(state, &receipt)
    };
    state.signer.seal(shown).await
}

//! Quotes across currencies: the operator sets rates (`PUT /v1/admin/rates/{from}/{to}`) and
//! reads the exchange account's position (`GET /v1/admin/exchange`); anyone lists the rates
//! (`GET /v1/rates`) and asks for a quote (`POST /v1/quotes`). A payment with a quote is
//! `POST /v1/payments` with `quote` ([`super::payments::pay`] sends it here, to [`pay`]). The
//! rules are the core's, in `ledger::quotes`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post, put};
use smartcode_core::code::QuoteId;
use smartcode_core::ledger::quotes::{self, QuotePayment};
use smartcode_core::money::format_units;
use smartcode_core::rate::{Rate, RateError};

use super::{json_value, read, submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Holder, Operator, Target};
use crate::problem::{ApiError, ProblemCode};
use crate::wire::*;
use crate::AppState;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::PUT, "/v1/admin/rates/{from}/{to}", put(handle_set_rate)),
        (Method::GET, "/v1/rates", get(handle_rates)),
        (Method::POST, "/v1/quotes", post(handle_quote)),
        (Method::GET, "/v1/admin/exchange", get(handle_exchange)),
    ]
}

/// Reads a rate's decimal string: more digits than the broker keeps before the point is a limit,
/// anything else it cannot read is malformed.
fn parse_rate(text: &str) -> Result<Rate, ApiError> {
    Rate::parse(text).map_err(|error| match error {
        RateError::TooLarge => ApiError::new(StatusCode::BAD_REQUEST, ProblemCode::LimitExceeded, error.to_string()),
        other => ApiError::invalid_request(other.to_string()),
    })
}

async fn handle_set_rate(
    State(state): State<AppState>,
    operator: Operator,
    pair: Result<Path<(String, String)>, PathRejection>,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path((from, to)) = pair.map_err(|_| ApiError::invalid_request("bad path"))?;
    let request: RateRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    set_rate(&state, operator, (&from, &to), &request, asked)
        .await?
        .respond(&state)
}

/// Sets (or replaces) the rate from `from` to `to`: `request.rate` units of `to` per unit of `from`.
pub(crate) async fn set_rate(
    state: &AppState,
    _: Operator,
    (from, to): (&str, &str),
    request: &RateRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let (from, to) = (parse_currency(from)?, parse_currency(to)?);
    let rate = parse_rate(&request.rate)?;
    let fee_bps = request.fee_bps.unwrap_or(0);
    let context = WriteContext { holder: None, asked };
    submit(state, context, StatusCode::OK, |_| {
        let command = quotes::Command::SetRate {
            from,
            to,
            rate,
            fee_bps,
        };
        (command, Shown::NONE)
    })
    .await
}

async fn handle_rates(State(state): State<AppState>) -> Result<Response, ApiError> {
    let quotes::QueryOutcome::Rates(rates) = read(&state, None, quotes::Query::Rates).await? else {
        return Err(super::unexpected());
    };
    let rates = RatesJson {
        rates: rates.iter().map(RateJson::from).collect(),
    };
    Ok(json_value(StatusCode::OK, serde_json::json!(rates)))
}

async fn handle_quote(
    State(state): State<AppState>,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: QuoteRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0).for_anyone();
    quote(&state, &request, asked).await?.respond(&state)
}

/// What a price costs in another currency, fixed for 15 minutes; anyone may ask.
pub(crate) async fn quote(state: &AppState, request: &QuoteRequest, asked: Asked<'_>) -> Result<Reply, ApiError> {
    let pay_currency = parse_currency(&request.pay_currency)?;
    let price = request.price.amount.parse()?;
    let price_currency = parse_currency(&request.price.currency)?;
    let payee = match request.payee.as_deref() {
        Some(payee) => Some(super::aliases::payee(state, payee).await?),
        None => None,
    };
    let context = WriteContext { holder: None, asked };
    submit(state, context, StatusCode::CREATED, |_| {
        let command = quotes::Command::Quote {
            pay_currency,
            price,
            price_currency,
            payee: payee.clone(),
        };
        (command, Shown::NONE)
    })
    .await
}

/// Pays with a quote (`request.quote`), answered like any payment: with its signed receipt.
pub(crate) async fn pay(
    state: &AppState,
    payer: &Holder,
    request: &PaymentRequest,
    payee: smartcode_core::code::PublicCode,
    quote: &str,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let quote = QuoteId::parse(quote).ok_or_else(|| ApiError::not_found("quote"))?;
    let amount = request.amount.as_ref().map(ParseAmount::parse).transpose()?;
    let currency = request.currency.as_deref().map(parse_currency).transpose()?;
    let context = WriteContext {
        holder: Some(payer),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let payment = QuotePayment {
            payer: payer.with(pin),
            payee: payee.clone(),
            quote: quote.clone(),
            amount,
            currency,
            memo: request.memo.clone(),
            category: request.category.clone(),
            item: request.item.clone(),
        };
        (quotes::Command::Pay(payment), Shown::NONE)
    })
    .await
}

async fn handle_exchange(State(state): State<AppState>, _: Operator) -> Result<Response, ApiError> {
    let quotes::QueryOutcome::Exchange(positions) = read(&state, None, quotes::Query::Exchange).await? else {
        return Err(super::unexpected());
    };
    let exchange = ExchangeJson {
        currencies: positions
            .iter()
            .map(|(currency, units)| ExchangePositionJson {
                currency: currency.to_string(),
                position: format_units(*units),
            })
            .collect(),
    };
    Ok(json_value(StatusCode::OK, serde_json::json!(exchange)))
}

//! Issuance: the operator issues codes and deposits value into them (`/v1/admin/codes`,
//! `/v1/admin/deposits`).

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::post;
use smartcode_core::code::{CodeId, SecretCode};
use smartcode_core::ledger::issuance;

use super::parse_secret_for_operator;
use super::{submit, Entry, WriteContext};
use crate::extract::{Body, Operator, Target};
use crate::problem::ApiError;
use crate::wire::*;
use crate::AppState;
use smartcode_core::ledger::issuance::CodeRef;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/admin/codes", post(issue)),
        (Method::POST, "/v1/admin/deposits", post(deposit)),
    ]
}

pub(crate) async fn issue(
    State(state): State<AppState>,
    _: Operator,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: IssueRequest = body.json()?;
    let amount = request.amount.parse()?;
    let currency = parse_currency(&request.currency)?;
    let context = WriteContext {
        headers: &headers,
        holder: None,
        target: &target,
        body: &body.0,
    };
    submit(&state, context, StatusCode::CREATED, |_| {
        let code = SecretCode::generate();
        let command = issuance::Command::Issue {
            hash: state.keys.hash_code(&code),
            amount,
            currency,
            label: request.label.clone(),
        };
        (command, Some(code))
    })
    .await
}

pub(crate) async fn deposit(
    State(state): State<AppState>,
    _: Operator,
    route: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: DepositRequest = body.json()?;
    let amount = request.amount.parse()?;
    let currency = parse_currency(&request.currency)?;
    let target = match (&request.code, &request.code_id) {
        (Some(code), None) => CodeRef::Hash(state.keys.hash_code(&parse_secret_for_operator(&state, code)?)),
        (None, Some(id)) => CodeRef::Id(CodeId::parse(id).ok_or_else(|| ApiError::not_found("code"))?),
        _ => return Err(ApiError::invalid_request("give exactly one of code or code_id")),
    };
    let context = WriteContext {
        headers: &headers,
        holder: None,
        target: &route,
        body: &body.0,
    };
    submit(&state, context, StatusCode::CREATED, |_| {
        (
            issuance::Command::Deposit {
                target: target.clone(),
                amount,
                currency,
            },
            None,
        )
    })
    .await
}

//! Issuance: the operator issues codes, deposits value into them and pays value out of them
//! (`/v1/admin/codes`, `/v1/admin/deposits`, `/v1/admin/payouts`).

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::post;
use smartcode_core::code::CodeId;
use smartcode_core::ledger::issuance;

use super::parse_secret_for_operator;
use super::{submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Operator, Target};
use crate::problem::ApiError;
use crate::wire::*;
use crate::AppState;
use smartcode_core::ledger::issuance::CodeRef;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/admin/codes", post(handle_issue)),
        (Method::POST, "/v1/admin/deposits", post(handle_deposit)),
        (Method::POST, "/v1/admin/payouts", post(handle_payout)),
    ]
}

async fn handle_issue(
    State(state): State<AppState>,
    operator: Operator,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: IssueRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    issue(&state, operator, &request, asked).await?.respond(&state)
}

/// Issues a new code holding value from the issuance account.
pub(crate) async fn issue(
    state: &AppState,
    _: Operator,
    request: &IssueRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let amount = request.amount.parse()?;
    let currency = parse_currency(&request.currency)?;
    let context = WriteContext { holder: None, asked };
    submit(state, context, StatusCode::CREATED, |_| {
        let code = state.config.code_format().generate();
        let command = issuance::Command::Issue {
            hash: state.keys.hash_code(&code),
            amount,
            currency,
            label: request.label.clone(),
        };
        (command, Shown::code(code))
    })
    .await
}

async fn handle_deposit(
    State(state): State<AppState>,
    operator: Operator,
    route: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: DepositRequest = body.json()?;
    let asked = Asked::of(&headers, &route, &body.0);
    deposit(&state, operator, &request, asked).await?.respond(&state)
}

/// Adds value from the issuance account to a code named by its secret or its id.
pub(crate) async fn deposit(
    state: &AppState,
    _: Operator,
    request: &DepositRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let amount = request.amount.parse()?;
    let currency = parse_currency(&request.currency)?;
    let target = match (&request.code, &request.code_id) {
        (Some(code), None) => CodeRef::Hash(state.keys.hash_code(&parse_secret_for_operator(state, code)?)),
        (None, Some(id)) => CodeRef::Id(CodeId::parse(id).ok_or_else(|| ApiError::not_found("code"))?),
        _ => return Err(ApiError::invalid_request("give exactly one of code or code_id")),
    };
    let context = WriteContext { holder: None, asked };
    submit(state, context, StatusCode::CREATED, |_| {
        (
            issuance::Command::Deposit {
                target: target.clone(),
                amount,
                currency,
            },
            Shown::NONE,
        )
    })
    .await
}

async fn handle_payout(
    State(state): State<AppState>,
    operator: Operator,
    route: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: PayoutRequest = body.json()?;
    let asked = Asked::of(&headers, &route, &body.0);
    payout(&state, operator, &request, asked).await?.respond(&state)
}

/// Pays value out of a code (named by its id) back to the issuance account, for money the
/// operator pays its holder outside the system.
pub(crate) async fn payout(
    state: &AppState,
    _: Operator,
    request: &PayoutRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let code_id = CodeId::parse(request.code_id.trim()).ok_or_else(|| ApiError::not_found("code"))?;
    let amount = request.amount.parse()?;
    let currency = request.currency.as_deref().map(parse_currency).transpose()?;
    let context = WriteContext { holder: None, asked };
    submit(state, context, StatusCode::CREATED, |_| {
        (
            issuance::Command::Payout {
                code_id: code_id.clone(),
                amount,
                currency,
                reference: request.reference.clone(),
            },
            Shown::NONE,
        )
    })
    .await
}

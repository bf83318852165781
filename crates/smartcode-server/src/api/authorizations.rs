//! Authorization codes (`/v1/me/authorizations`): the buyer makes an all-digit code for one exact
//! amount, lists its codes and cancels one; a seller pays with it through `POST /v1/payments`
//! ([`super::payments::pay`] sends it here, to [`pay`]).

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use smartcode_core::code::HoldId;
use smartcode_core::ledger::authorizations;
use smartcode_core::ledger::payments::PaymentOrder;
use smartcode_core::ledger::PinPresented;
use smartcode_core::limits::AUTHORIZATION_SECONDS_DEFAULT;
use smartcode_core::model::HoldRecord;
use smartcode_core::numeric::NumericKind;

use super::{json_value, read, submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Holder, Segment, Target};
use crate::problem::ApiError;
use crate::wire::*;
use crate::AppState;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/me/authorizations", post(handle_authorize)),
        (Method::GET, "/v1/me/authorizations", get(handle_list)),
        (Method::POST, "/v1/me/authorizations/{id}/cancel", post(handle_cancel)),
    ]
}

async fn handle_authorize(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: AuthorizationRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    authorize(&state, &holder, &request, asked).await?.respond(&state)
}

/// Makes an authorization code on the holder's code: shown once, in the answer.
pub(crate) async fn authorize(
    state: &AppState,
    holder: &Holder,
    request: &AuthorizationRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let amount = request.amount.parse()?;
    let currency = request.currency.as_deref().map(parse_currency).transpose()?;
    let payee = match &request.payee {
        Some(text) => Some(super::aliases::payee(state, text).await?),
        None => None,
    };
    let expires_in_seconds = request.expires_in_seconds.unwrap_or(AUTHORIZATION_SECONDS_DEFAULT);
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let code = state.config.broker_number.generate(NumericKind::Authorization);
        let command = authorizations::Command::Authorize {
            payer: holder.with(pin),
            hash: state.keys.hash_numeric(&code),
            amount,
            currency,
            payee: payee.clone(),
            expires_in_seconds,
        };
        (command, Shown::code(code.into_secret()))
    })
    .await
}

/// A payment with an authorization code (`order.payer` is the code's hash): no PIN, for the code
/// is the proof; a wrong one is counted like a wrong secret code.
pub(super) async fn pay(
    state: &AppState,
    presenter: &Holder,
    order: PaymentOrder,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let context = WriteContext {
        holder: Some(presenter),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |_| {
        let mut order = order.clone();
        order.payer = presenter.with(PinPresented::Absent);
        (authorizations::Command::Use(order), Shown::NONE)
    })
    .await?
    .signed(state)
    .await
}

async fn handle_list(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let made = list(&state, &holder).await?;
    let now = state.clock.now();
    let shown = AuthorizationsJson {
        authorizations: made.iter().map(|a| AuthorizationJson::of(a, now)).collect(),
    };
    Ok(json_value(
        StatusCode::OK,
        serde_json::to_value(shown).expect("authorizations serialize"),
    ))
}

/// The authorizations the holder's code made, newest first.
pub(crate) async fn list(state: &AppState, holder: &Holder) -> Result<Vec<HoldRecord>, ApiError> {
    let authorizations::QueryOutcome::List(made) = read(
        state,
        Some(&holder.caller),
        authorizations::Query::List { holder: holder.hash },
    )
    .await?;
    Ok(made)
}

async fn handle_cancel(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    cancel(&state, &holder, &id, asked).await?.respond(&state)
}

/// Gives an unused authorization's value back at once.
pub(crate) async fn cancel(state: &AppState, holder: &Holder, id: &str, asked: Asked<'_>) -> Result<Reply, ApiError> {
    let id = HoldId::parse(id).ok_or_else(|| ApiError::not_found("authorization"))?;
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        let command = authorizations::Command::Cancel {
            payer: holder.with(pin),
            id: id.clone(),
        };
        (command, Shown::NONE)
    })
    .await
}

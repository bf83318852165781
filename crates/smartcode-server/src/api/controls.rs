//! Controls: a code's PIN, a new secret for a code (rekey), and unlocking a code locked by wrong
//! PINs, by its parent or, for the codes the operator issued, by the operator.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{delete, post, put};
use smartcode_core::code::{CodeId, SecretCode};
use smartcode_core::ledger::controls;

use super::parse_id;
use super::{submit, unexpected, Entry, WriteContext};
use crate::extract::{Body, Holder, Operator, Segment, Target};
use crate::keys;
use crate::problem::ApiError;
use crate::wire::*;
use crate::AppState;
use smartcode_core::ledger::controls::{Pin, PIN_DIGITS_MAX, PIN_DIGITS_MIN};

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::PUT, "/v1/me/pin", put(set_pin)),
        (Method::DELETE, "/v1/me/pin", delete(remove_pin)),
        (Method::POST, "/v1/me/rekey", post(rekey)),
        (Method::POST, "/v1/me/children/{id}/unlock", post(unlock_child)),
        (Method::POST, "/v1/admin/codes/{id}/unlock", post(operator_unlock)),
    ]
}

pub(crate) async fn set_pin(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: PinRequest = body.json()?;
    let pin = Pin::parse(&request.pin)
        .ok_or_else(|| ApiError::invalid_request(format!("a PIN is {PIN_DIGITS_MIN} to {PIN_DIGITS_MAX} digits")))?;
    let pin_hash = tokio::task::spawn_blocking(move || keys::hash_pin(&pin))
        .await
        .map_err(|_| unexpected())?;
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: &target,
        body: &body.0,
    };
    submit(&state, context, StatusCode::OK, |pin| {
        (
            controls::Command::SetPin {
                holder: holder.with(pin),
                pin_hash: Some(pin_hash.clone()),
            },
            None,
        )
    })
    .await
}

pub(crate) async fn remove_pin(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: &target,
        body: b"",
    };
    submit(&state, context, StatusCode::OK, |pin| {
        (
            controls::Command::SetPin {
                holder: holder.with(pin),
                pin_hash: None,
            },
            None,
        )
    })
    .await
}

pub(crate) async fn rekey(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: &target,
        body: &body.0,
    };
    submit(&state, context, StatusCode::OK, |pin| {
        let code = SecretCode::generate();
        (
            controls::Command::Rekey {
                holder: holder.with(pin),
                hash: state.keys.hash_code(&code),
            },
            Some(code),
        )
    })
    .await
}

pub(crate) async fn unlock_child(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let child = parse_id(&id)?;
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: &target,
        body: &body.0,
    };
    submit(&state, context, StatusCode::OK, |pin| {
        (
            controls::Command::Unlock {
                parent: holder.with(pin),
                child: child.clone(),
            },
            None,
        )
    })
    .await
}

/// `POST /v1/admin/codes/{id}/unlock`: a code locked by wrong PINs works again. For codes the
/// operator issued, which have no parent to unlock them.
async fn operator_unlock(
    State(state): State<AppState>,
    _: Operator,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let code = CodeId::parse(&id).ok_or_else(|| ApiError::not_found("code"))?;
    let context = WriteContext {
        headers: &headers,
        holder: None,
        target: &target,
        body: &body.0,
    };
    submit(&state, context, StatusCode::OK, |_| {
        (controls::Command::OperatorUnlock { code: code.clone() }, None)
    })
    .await
}

//! Controls: a code's PIN, a new secret for a code (rekey), and unlocking a code locked by wrong
//! PINs, by its parent or, for the codes the operator issued, by the operator.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{delete, post, put};
use smartcode_core::code::CodeId;
use smartcode_core::ledger::controls;
use smartcode_core::numeric::NumericKind;

use super::parse_id;
use super::{submit, unexpected, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Holder, Operator, Segment, Target};
use crate::keys;
use crate::problem::ApiError;
use crate::wire::*;
use crate::AppState;
use smartcode_core::ledger::controls::{Pin, PIN_DIGITS_MAX, PIN_DIGITS_MIN};

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::PUT, "/v1/me/pin", put(handle_set_pin)),
        (Method::DELETE, "/v1/me/pin", delete(handle_remove_pin)),
        (Method::POST, "/v1/me/rekey", post(handle_rekey)),
        (Method::POST, "/v1/me/children/{id}/unlock", post(handle_unlock_child)),
        (Method::POST, "/v1/admin/codes/{id}/unlock", post(operator_unlock)),
    ]
}

async fn handle_set_pin(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: PinRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    set_pin(&state, &holder, &request, asked).await?.respond(&state)
}

/// Sets or changes the holder's PIN (the one presented, if the code has one, must match).
pub(crate) async fn set_pin(
    state: &AppState,
    holder: &Holder,
    request: &PinRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let pin = Pin::parse(&request.pin)
        .ok_or_else(|| ApiError::invalid_request(format!("a PIN is {PIN_DIGITS_MIN} to {PIN_DIGITS_MAX} digits")))?;
    let pin_hash = tokio::task::spawn_blocking(move || keys::hash_pin(&pin))
        .await
        .map_err(|_| unexpected())?;
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        (
            controls::Command::SetPin {
                holder: holder.with(pin),
                pin_hash: Some(pin_hash.clone()),
            },
            Shown::NONE,
        )
    })
    .await
}

async fn handle_remove_pin(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, b"");
    remove_pin(&state, &holder, asked).await?.respond(&state)
}

/// Removes the holder's PIN.
pub(crate) async fn remove_pin(state: &AppState, holder: &Holder, asked: Asked<'_>) -> Result<Reply, ApiError> {
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        (
            controls::Command::SetPin {
                holder: holder.with(pin),
                pin_hash: None,
            },
            Shown::NONE,
        )
    })
    .await
}

async fn handle_rekey(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    rekey(&state, &holder, asked).await?.respond(&state)
}

/// Gives the holder's code a new secret; the old one stops working at once, and so does its
/// alias, if it has one: a new alias is shown beside the new code.
pub(crate) async fn rekey(state: &AppState, holder: &Holder, asked: Asked<'_>) -> Result<Reply, ApiError> {
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        let code = state.config.code_format().generate();
        let alias = state.config.broker_number.generate(NumericKind::SecretAlias);
        (
            controls::Command::Rekey {
                holder: holder.with(pin),
                hash: state.keys.hash_code(&code),
                alias: state.keys.hash_numeric(&alias),
            },
            Shown {
                code: Some(code),
                alias: Some(alias.into_secret()),
                ..Shown::NONE
            },
        )
    })
    .await
}

async fn handle_unlock_child(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    unlock_child(&state, &holder, &id, asked).await?.respond(&state)
}

/// Unlocks a descendant locked by wrong PINs.
pub(crate) async fn unlock_child(
    state: &AppState,
    holder: &Holder,
    id: &str,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let child = parse_id(id)?;
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        (
            controls::Command::Unlock {
                parent: holder.with(pin),
                child: child.clone(),
            },
            Shown::NONE,
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
        holder: None,
        asked: Asked::of(&headers, &target, &body.0),
    };
    submit(&state, context, StatusCode::OK, |_| {
        (controls::Command::OperatorUnlock { code: code.clone() }, Shown::NONE)
    })
    .await?
    .respond(&state)
}

//! Numeric aliases (`/v1/me/alias`, `/v1/me/children/{id}/alias`): an all-digit name for the
//! holder's code or one of its public codes, and [`payee`], which reads a public code or its alias
//! wherever a payee is named. A secret code's alias needs nothing here to work: it is presented
//! like the code (see `extract::Broker::holder`) and the core finds the code behind it.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{delete, post};
use smartcode_core::code::{CodeId, PublicCode};
use smartcode_core::ledger::aliases;
use smartcode_core::numeric::NumericKind;

use super::{parse_id, parse_public, read, submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Holder, Segment, Target};
use crate::problem::{ApiError, ProblemCode};
use crate::AppState;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/me/alias", post(handle_set_own)),
        (Method::DELETE, "/v1/me/alias", delete(handle_remove_own)),
        (Method::POST, "/v1/me/children/{id}/alias", post(handle_set_public)),
        (
            Method::DELETE,
            "/v1/me/children/{id}/alias",
            delete(handle_remove_public),
        ),
    ]
}

/// The public code `text` names: a public code, or its numeric alias.
pub(crate) async fn payee(state: &AppState, text: &str) -> Result<PublicCode, ApiError> {
    match state.config.broker_number.parse_code(text) {
        None => parse_public(state, text),
        Some(Ok(code)) if code.kind() == NumericKind::PublicAlias => {
            let query = aliases::Query::Public {
                hash: state.keys.hash_numeric(&code),
            };
            match read(state, None, query).await {
                Ok(aliases::QueryOutcome::Public(public)) => Ok(public),
                Err(_) => Err(ApiError::not_found("payee")),
            }
        }
        Some(Ok(_)) => Err(ApiError::invalid_request(
            "that is a secret code's alias or an authorization code; a payee is a public code",
        )),
        Some(Err(error)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::InvalidCodeFormat,
            error.to_string(),
        )),
    }
}

async fn handle_set_own(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    set(&state, &holder, None, asked).await?.respond(&state)
}

async fn handle_set_public(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let asked = Asked::of(&headers, &target, &body.0);
    set(&state, &holder, Some(id), asked).await?.respond(&state)
}

/// Gives the holder's code (or its public code `public`) a new alias, replacing any it had. A
/// secret code's alias is shown once, in the answer.
pub(crate) async fn set(
    state: &AppState,
    holder: &Holder,
    public: Option<CodeId>,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    let kind = if public.is_some() {
        NumericKind::PublicAlias
    } else {
        NumericKind::SecretAlias
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let alias = state.config.broker_number.generate(kind);
        let command = aliases::Command::Set {
            holder: holder.with(pin),
            public: public.clone(),
            hash: state.keys.hash_numeric(&alias),
            digits: public.is_some().then(|| alias.expose().to_owned()),
        };
        let shown = Shown {
            alias: public.is_none().then(|| alias.into_secret()),
            ..Shown::NONE
        };
        (command, shown)
    })
    .await
}

async fn handle_remove_own(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    remove(&state, &holder, None, asked).await?.respond(&state)
}

async fn handle_remove_public(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let id = parse_id(&id)?;
    let asked = Asked::of(&headers, &target, &body.0);
    remove(&state, &holder, Some(id), asked).await?.respond(&state)
}

/// Removes the alias of the holder's code (or of its public code `public`): it stops working at once.
pub(crate) async fn remove(
    state: &AppState,
    holder: &Holder,
    public: Option<CodeId>,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        let command = aliases::Command::Remove {
            holder: holder.with(pin),
            public: public.clone(),
        };
        (command, Shown::NONE)
    })
    .await
}

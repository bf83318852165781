//! Who stands behind a name (`…/check`): the operator marks any code's profile as checked by the
//! broker, and a code marks the profiles of codes below it; either withdraws its mark. The rules
//! (authority down the tree, a check ends when the name or web address changes) are the core's,
//! in `ledger::checks`. A code is named by its id (`c_…`) or, for a public code, by the public code.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{delete, put};
use smartcode_core::code::{parse_code, CodeId, ParsedCode};
use smartcode_core::ledger::checks::{By, Mark, Target as Checked};
use smartcode_core::ledger::tree;

use super::{submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Holder, Operator, Segment, Target};
use crate::problem::ApiError;
use crate::wire::*;
use crate::AppState;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::PUT, "/v1/me/children/{id}/check", put(handle_child)),
        (Method::DELETE, "/v1/me/children/{id}/check", delete(handle_child)),
        (Method::PUT, "/v1/admin/codes/{id}/check", put(handle_operator)),
        (Method::DELETE, "/v1/admin/codes/{id}/check", delete(handle_operator)),
    ]
}

/// A code named in a path: its id, or the public code of a public code.
fn checked_code(state: &AppState, text: &str) -> Result<Checked, ApiError> {
    if let Some(id) = CodeId::parse(text) {
        return Ok(Checked::Id(id));
    }
    match parse_code(text, &state.config.domain, state.config.code_format()) {
        Ok(ParsedCode::Public(code)) => Ok(Checked::Public(code)),
        _ => Err(ApiError::not_found("code")),
    }
}

/// The mark a request asks for: `PUT` checks the name its body names, `DELETE` withdraws.
fn mark_of(method: &Method, body: &Body) -> Result<Mark, ApiError> {
    if method == Method::DELETE {
        return Ok(Mark::Withdrawn);
    }
    let request: CheckRequest = body.json()?;
    let name = request.name.trim();
    if name.is_empty() {
        return Err(ApiError::invalid_request("name: the name you checked"));
    }
    Ok(Mark::Checked { name: name.to_owned() })
}

/// `PUT` / `DELETE /v1/me/children/{id}/check`.
async fn handle_child(
    State(state): State<AppState>,
    method: Method,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mark = mark_of(&method, &body)?;
    let asked = Asked::of(&headers, &target, &body.0);
    set_check(&state, Some(&holder), &id, mark, asked)
        .await?
        .respond(&state)
}

/// `PUT` / `DELETE /v1/admin/codes/{id}/check`.
async fn handle_operator(
    State(state): State<AppState>,
    method: Method,
    _: Operator,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mark = mark_of(&method, &body)?;
    let asked = Asked::of(&headers, &target, &body.0);
    set_check(&state, None, &id, mark, asked).await?.respond(&state)
}

/// Marks (or withdraws the mark on) the profile of the code `id`: as `holder`, for a code below
/// it, or as the operator (`holder` is `None`) for any code. Answers the code as it stands.
pub(crate) async fn set_check(
    state: &AppState,
    holder: Option<&Holder>,
    id: &str,
    mark: Mark,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let checked = checked_code(state, id)?;
    let context = WriteContext { holder, asked };
    submit(state, context, StatusCode::OK, |pin| {
        let by = match holder {
            Some(holder) => By::Ancestor(holder.with(pin)),
            None => By::Operator,
        };
        (
            tree::Command::SetCheck {
                by,
                target: checked.clone(),
                mark: mark.clone(),
            },
            Shown::NONE,
        )
    })
    .await
}

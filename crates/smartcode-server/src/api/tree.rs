//! The tree: a code reads itself and its children, creates, funds and cancels children, and sets
//! the profiles of its public codes (`/v1/me`, `/v1/me/children…`, `/v1/me/profile`).

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post, put};
use serde_json::json;
use smartcode_core::code::{CodeId, PublicCode};
use smartcode_core::ledger::{reports, tree, CodeView};

use super::parse_id;
use super::{json_value, read, submit, unexpected, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Holder, Segment, Target};
use crate::problem::{ApiError, ProblemCode};
use crate::wire::*;
use crate::AppState;
use smartcode_core::ledger::tree::ChildOptions;
use smartcode_core::limits::EXPIRY_SECONDS_MAX;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::GET, "/v1/me", get(handle_me)),
        (Method::PUT, "/v1/me/profile", put(handle_set_own_profile)),
        (Method::GET, "/v1/me/children", get(handle_children)),
        (Method::POST, "/v1/me/children", post(handle_create_child)),
        (Method::POST, "/v1/me/children/{id}/fund", post(handle_fund_child)),
        (Method::POST, "/v1/me/children/{id}/cancel", post(handle_cancel_child)),
        (
            Method::PUT,
            "/v1/me/children/{id}/profile",
            put(handle_set_child_profile),
        ),
    ]
}

async fn handle_me(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let view = me(&state, &holder).await?;
    super::check_sent_pin(&state, &holder, &view.record).await?;
    Ok(json_value(
        StatusCode::OK,
        serde_json::to_value(CodeJson::from(&view)).expect("serializes"),
    ))
}

/// The code presented, as its holder sees it.
pub(crate) async fn me(state: &AppState, holder: &Holder) -> Result<CodeView, ApiError> {
    let reports::QueryOutcome::Code(view) =
        read(state, Some(&holder.caller), reports::Query::Me { holder: holder.hash }).await?
    else {
        return Err(unexpected());
    };
    Ok(view)
}

async fn handle_children(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let reports::QueryOutcome::Children(views) = read(
        &state,
        Some(&holder.caller),
        reports::Query::Children { holder: holder.hash },
    )
    .await?
    else {
        return Err(unexpected());
    };
    let children: Vec<CodeJson> = views.iter().map(CodeJson::from).collect();
    Ok(json_value(StatusCode::OK, json!({ "children": children })))
}

/// The holder's whole tree below it, breadth first, and whether it was cut at the page's bound.
pub(crate) async fn tree(state: &AppState, holder: &Holder) -> Result<(Vec<CodeView>, bool), ApiError> {
    let reports::QueryOutcome::Tree { nodes, truncated } = read(
        state,
        Some(&holder.caller),
        reports::Query::Tree { holder: holder.hash },
    )
    .await?
    else {
        return Err(unexpected());
    };
    Ok((nodes, truncated))
}

async fn handle_create_child(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ChildRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    create_child(&state, &holder, &request, asked).await?.respond(&state)
}

/// Creates a secret child (funded from the holder's value) or a public child (a code to be paid
/// through, with a profile).
pub(crate) async fn create_child(
    state: &AppState,
    holder: &Holder,
    request: &ChildRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    match request.kind.as_deref().unwrap_or("secret") {
        "secret" => {
            if request.profile.is_some() || request.under.is_some() {
                return Err(ApiError::invalid_request("profile and under belong to public children"));
            }
            if request.categories.is_some() || request.items.is_some() {
                return Err(ApiError::invalid_request(
                    "categories and items are what a public child sells; a secret child's go in restrictions",
                ));
            }
            let amount = request
                .amount
                .as_ref()
                .ok_or_else(|| ApiError::invalid_request("a secret child needs an amount"))?
                .parse()?;
            let expires_at = match (&request.expires_at, request.expires_in_seconds) {
                (Some(_), Some(_)) => {
                    return Err(ApiError::invalid_request(
                        "give expires_at or expires_in_seconds, not both",
                    ))
                }
                (Some(at), None) => Some(parse_time("expires_at", at)?),
                // A relative expiry is checked against the document here, so only an absolute
                // one can conflict with the clock.
                (None, Some(seconds)) if seconds < 1 => {
                    return Err(ApiError::invalid_request("expires_in_seconds is at least 1"))
                }
                (None, Some(seconds)) if seconds > EXPIRY_SECONDS_MAX => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        ProblemCode::LimitExceeded,
                        format!("expires_in_seconds is at most {EXPIRY_SECONDS_MAX}"),
                    ))
                }
                (None, Some(seconds)) => Some(
                    state
                        .clock
                        .now()
                        .plus_seconds(seconds)
                        .ok_or_else(|| ApiError::invalid_request("expires_in_seconds is out of range"))?,
                ),
                (None, None) => None,
            };
            let restrictions = request
                .restrictions
                .clone()
                .unwrap_or_default()
                .parse(&state.config.domain)?;
            let options = ChildOptions {
                label: request.label.clone(),
                expires_at,
                irrevocable: request.irrevocable.unwrap_or(false),
                restrictions,
            };
            submit(state, context, StatusCode::CREATED, |pin| {
                let code = state.config.code_format().generate();
                let command = tree::Command::CreateSecretChild {
                    parent: holder.with(pin),
                    hash: state.keys.hash_code(&code),
                    amount,
                    options: options.clone(),
                };
                (command, Shown::code(code))
            })
            .await
        }
        "public" => {
            let refused = request.amount.is_some()
                || request.restrictions.is_some()
                || request.expires_at.is_some()
                || request.expires_in_seconds.is_some()
                || request.irrevocable.is_some();
            if refused {
                return Err(ApiError::invalid_request(
                    "a public code holds no value: amount, expiry and irrevocable belong to secret children",
                ));
            }
            let under = request
                .under
                .as_deref()
                .map(|id| CodeId::parse(id).ok_or_else(|| ApiError::not_found("public code to nest under")))
                .transpose()?;
            // Beside the profile (as API.md has it) or in it (as `PUT …/profile` takes it); beside wins.
            let mut profile = request.profile.clone().unwrap_or_default();
            let catalog = catalog_of(
                request.categories.clone().or(profile.categories.take()),
                request.items.clone().or(profile.items.take()),
            );
            let profile = profile.into_profile();
            submit(state, context, StatusCode::CREATED, |pin| {
                let command = tree::Command::CreatePublicChild {
                    parent: holder.with(pin),
                    code: PublicCode::generate(),
                    label: request.label.clone(),
                    profile: profile.clone(),
                    catalog: catalog.clone(),
                    under: under.clone(),
                };
                (command, Shown::NONE)
            })
            .await
        }
        _ => Err(ApiError::invalid_request("kind is \"secret\" or \"public\"")),
    }
}

async fn handle_fund_child(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: FundRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    fund_child(&state, &holder, &id, &request, asked).await?.respond(&state)
}

/// Moves value from the holder into one of its descendants.
pub(crate) async fn fund_child(
    state: &AppState,
    holder: &Holder,
    id: &str,
    request: &FundRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let amount = request.amount.parse()?;
    let child = parse_id(id)?;
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        (
            tree::Command::FundChild {
                parent: holder.with(pin),
                child: child.clone(),
                amount,
            },
            Shown::NONE,
        )
    })
    .await
}

async fn handle_cancel_child(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    cancel_child(&state, &holder, &id, asked).await?.respond(&state)
}

/// Cancels a descendant and its subtree; their value goes back to the holder.
pub(crate) async fn cancel_child(
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
            tree::Command::CancelChild {
                parent: holder.with(pin),
                child: child.clone(),
            },
            Shown::NONE,
        )
    })
    .await
}

async fn handle_set_own_profile(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ProfileRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    set_profile(&state, &holder, None, request, asked)
        .await?
        .respond(&state)
}

async fn handle_set_child_profile(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ProfileRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    set_profile(&state, &holder, Some(&id), request, asked)
        .await?
        .respond(&state)
}

/// Sets the profile of the holder's own public code (`child` is `None`) or of a descendant.
pub(crate) async fn set_profile(
    state: &AppState,
    holder: &Holder,
    child: Option<&str>,
    request: ProfileRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let mut request = request;
    let catalog = catalog_of(request.categories.take(), request.items.take());
    let profile = request.into_profile();
    let child = child.map(parse_id).transpose()?;
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        (
            tree::Command::SetProfile {
                holder: holder.with(pin),
                target: child.clone(),
                profile: profile.clone(),
                catalog: catalog.clone(),
            },
            Shown::NONE,
        )
    })
    .await
}

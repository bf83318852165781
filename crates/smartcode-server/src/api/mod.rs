//! The endpoints of API.md, one module per capability as in the core: [`issuance`], [`tree`],
//! [`checks`], [`controls`], [`payments`], [`holds`], [`authorizations`], [`aliases`], [`assurances`], [`quotes`], [`spending`], [`purchases`] (offers bought under spending rules, and the approval queue), [`sessions`] (metered sessions, charged by their sellers), [`items`] (content sold, bought and downloaded), [`licenses`] (copies paid for, with a public license code), [`webhooks`] (subscriptions and their deliveries), [`reports`], plus [`operator`] (ledger check, test clock, metrics),
//! [`security`] (the guessing defence) and [`public`] (public codes, metadata, the OpenAPI document). Each module lists its
//! routes in one `routes()` function, registered here in one line.
//!
//! Each capability module holds typed service functions (`tree::me`, `payments::pay`, …) that
//! both its JSON handlers (`handle_…`) and the pages ([`crate::web`]) call: a handler reads the
//! request, calls the service and renders JSON; a page reads its form, calls the same service and
//! renders markup. Every write goes through [`submit`] (idempotency, code-collision redraws, the
//! PIN check) and answers a [`Reply`]; every read goes through [`read`]; refusals count for the
//! guessing defence in `submit::refuse`.

pub(crate) mod aliases;
mod answer;
pub(crate) mod assurances;
pub(crate) mod authorizations;
pub(crate) mod checks;
pub(crate) mod controls;
pub(crate) mod federation;
pub(crate) mod holds;
pub(crate) mod issuance;
mod item_tokens;
pub(crate) mod items;
pub(crate) mod licenses;
pub(crate) mod operator;
pub(crate) mod payments;
pub(crate) mod peers;
pub(crate) mod public;
pub(crate) mod purchases;
pub(crate) mod quotes;
mod render;
pub(crate) mod reports;
pub(crate) mod security;
pub(crate) mod sessions;
pub(crate) mod shares;
pub(crate) mod spending;
mod submit;
pub(crate) mod tree;
pub(crate) mod webhooks;

pub(crate) use answer::{Answer, AnswerDownload, AnswerReceipt};
pub(crate) use submit::{check_sent_pin, read, Asked, Reply};
use submit::{submit, unless_answered, Shown, WriteContext};

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;
use smartcode_core::code::{parse_code, CodeId, ParsedCode, PublicCode, SecretCode};

use crate::problem::{ApiError, ProblemCode};
use crate::{AppState, Broker};

/// The OpenAPI 3.1 document describing these routes; a test keeps the two in step.
pub const OPENAPI_JSON: &str = include_str!("../../openapi.json");

type Entry = (Method, &'static str, MethodRouter<AppState>);

fn entries() -> Vec<Entry> {
    [
        issuance::routes(),
        tree::routes(),
        checks::routes(),
        controls::routes(),
        spending::routes(),
        purchases::routes(),
        sessions::routes(),
        webhooks::routes(),
        items::routes(),
        shares::routes(),
        licenses::routes(),
        payments::routes(),
        holds::routes(),
        authorizations::routes(),
        aliases::routes(),
        assurances::routes(),
        quotes::routes(),
        peers::routes(),
        federation::routes(),
        reports::routes(),
        operator::routes(),
        security::routes(),
        public::routes(),
    ]
    .concat()
}

/// Every (method, path) the router serves.
pub fn route_table() -> Vec<(Method, &'static str)> {
    entries().into_iter().map(|(method, path, _)| (method, path)).collect()
}

pub fn build(state: AppState) -> Router {
    let mut router = Router::new();
    for (_, path, method_router) in entries() {
        router = router.route(path, method_router);
    }
    router
        .merge(crate::web::routes())
        .layer(axum::extract::DefaultBodyLimit::max(
            smartcode_core::limits::REQUEST_BODY_BYTES_MAX,
        ))
        .fallback(crate::web::not_found)
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ProblemCode::MethodNotAllowed,
                "this endpoint does not take that method",
            )
        })
        .with_state(state)
}

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn json_value(status: StatusCode, value: serde_json::Value) -> Response {
    json_bytes(status, serde_json::to_vec(&value).expect("JSON values serialize"))
}

/// The operator names a code by its secret in a deposit; the operator is trusted, so this is not
/// a presentation the guessing defence counts.
fn parse_secret_for_operator(state: &Broker, text: &str) -> Result<SecretCode, ApiError> {
    match parse_code(text, &state.config.domain, state.config.code_format()) {
        Ok(ParsedCode::Secret(code)) => Ok(code),
        Ok(ParsedCode::Public(_)) => Err(ApiError::invalid_code()),
        Err(error) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::InvalidCodeFormat,
            error.to_string(),
        )),
    }
}

fn parse_id(text: &str) -> Result<CodeId, ApiError> {
    CodeId::parse(text).ok_or_else(|| ApiError::not_found("child"))
}

fn parse_public(state: &Broker, text: &str) -> Result<PublicCode, ApiError> {
    match parse_code(text, &state.config.domain, state.config.code_format()) {
        Ok(ParsedCode::Public(code)) => Ok(code),
        // A secret code where a public one belongs is refused without repeating it.
        Ok(ParsedCode::Secret(_)) => Err(ApiError::invalid_request(
            "a public code starts with P-; a secret code cannot receive payments",
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::InvalidCodeFormat,
            "a public code is P- and ten letters or digits",
        )),
    }
}

pub(crate) fn unexpected() -> ApiError {
    tracing::error!("the store answered a query with the wrong kind of outcome");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        ProblemCode::Internal,
        "the broker failed; nothing was changed",
    )
}

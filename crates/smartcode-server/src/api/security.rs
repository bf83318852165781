//! The guessing defence's endpoints: what the operator sees and does (`/v1/admin/security…`), and
//! the tokens a holder takes away: a proof of its success (`POST /v1/me/proof`) and a seller key
//! for its server (`POST /v1/me/seller-key`). See [`crate::guard`].

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::json;
use smartcode_core::ledger::reports;

use super::{json_value, read, unexpected, Entry};
use crate::extract::{Body, Holder, Operator};
use crate::guard::{self, tokens, GuardReport};
use crate::problem::ApiError;
use crate::AppState;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::GET, "/v1/admin/security", get(handle_security)),
        (Method::POST, "/v1/admin/security/forgive", post(handle_forgive)),
        (Method::DELETE, "/v1/admin/security/alarm", delete(handle_end_alarm)),
        (Method::POST, "/v1/me/proof", post(handle_proof)),
        (Method::POST, "/v1/me/seller-key", post(handle_seller_key)),
    ]
}

/// The guessing defence's budgets and the sources, holders and sellers with failures.
pub(crate) async fn security(state: &AppState, _: Operator) -> Result<GuardReport, ApiError> {
    Ok(state.guard.report().await?)
}

pub(crate) fn report_json(report: &GuardReport) -> serde_json::Value {
    let sources: Vec<_> = report
        .counted
        .iter()
        .map(|c| json!({ "source": c.source, "kind": c.kind, "failures": c.failures, "tries_left": c.tries_left }))
        .collect();
    json!({
        "alarm_active": report.alarm_since.is_some(),
        "alarm_since": report.alarm_since.map(|at| at.to_rfc3339()),
        "failed_presentations_total": report.failures_total,
        "challenges_total": report.challenges_total,
        "challenges_answered_total": report.paid_total,
        "unknown_sources_tries_left": report.pool_tries_left,
        "paid_failures_pending": report.pressure,
        "difficulty_bits": report.difficulty_bits,
        "sources": sources,
        "limits": {
            "source_free_failures_per_day": guard::SOURCE_FREE_FAILURES_PER_DAY,
            "unknown_free_failures_per_day": guard::UNKNOWN_FREE_FAILURES_PER_DAY,
            "holder_free_failures_per_day": guard::HOLDER_FREE_FAILURES_PER_DAY,
            "seller_free_failures_per_day": guard::SELLER_FREE_FAILURES_PER_DAY,
            "pow_base_bits": guard::POW_BASE_BITS,
            "pow_failures_per_bit": guard::POW_FAILURES_PER_BIT,
            "pow_pressure_drain_per_day": guard::POW_PRESSURE_DRAIN_PER_DAY,
            "slow_after": guard::SOURCE_FAILURES_SLOW_AFTER,
        },
    })
}

async fn handle_security(State(state): State<AppState>, operator: Operator) -> Result<Response, ApiError> {
    let report = security(&state, operator).await?;
    Ok(json_value(StatusCode::OK, report_json(&report)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgiveRequest {
    source: String,
}

/// Forgets the failures of an address, a network or a tree; answers how many counters went.
pub(crate) async fn forgive(state: &AppState, _: Operator, source: &str) -> Result<usize, ApiError> {
    state.guard.forgive(source).await?.ok_or_else(|| {
        ApiError::invalid_request(
            "source is an address (192.0.2.7), a network (192.0.2.0/24, 2001:db8::/48) or a tree id (c_…)",
        )
    })
}

async fn handle_forgive(State(state): State<AppState>, operator: Operator, body: Body) -> Result<Response, ApiError> {
    let request: ForgiveRequest = body.json()?;
    let forgiven = forgive(&state, operator, &request.source).await?;
    Ok(json_value(
        StatusCode::OK,
        json!({ "source": request.source, "forgiven": forgiven }),
    ))
}

pub(crate) async fn end_alarm(state: &AppState, _: Operator) -> Result<bool, ApiError> {
    Ok(state.guard.end_alarm().await?)
}

async fn handle_end_alarm(State(state): State<AppState>, operator: Operator) -> Result<Response, ApiError> {
    let was_active = end_alarm(&state, operator).await?;
    Ok(json_value(StatusCode::OK, json!({ "alarm_was_active": was_active })))
}

/// The tree of the presented code: its issued ancestor's id.
pub(crate) async fn tree_of(state: &AppState, holder: &Holder) -> Result<String, ApiError> {
    let reports::QueryOutcome::TreeRoot { root, .. } = read(
        state,
        Some(&holder.caller),
        reports::Query::TreeRoot { holder: holder.hash },
    )
    .await?
    else {
        return Err(unexpected());
    };
    Ok(root.to_string())
}

/// A proof that this holder presented its code: sent back as `Smartcode-Proof`, it is counted
/// as its tree, not its address.
pub(crate) async fn proof(state: &AppState, holder: &Holder) -> Result<(String, String), ApiError> {
    let tree = tree_of(state, holder).await?;
    let (proof, until) = tokens::make_proof(&state.keys, &tree, state.clock.now());
    Ok((proof, until.to_rfc3339()))
}

async fn handle_proof(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let (proof, expires_at) = proof(&state, &holder).await?;
    Ok(json_value(
        StatusCode::OK,
        json!({ "proof": proof, "expires_at": expires_at, "header": "Smartcode-Proof" }),
    ))
}

async fn handle_seller_key(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let tree = tree_of(&state, &holder).await?;
    Ok(json_value(
        StatusCode::OK,
        json!({ "seller_key": tokens::make_seller_key(&state.keys, &tree), "header": "Smartcode-Seller" }),
    ))
}

//! The operator's endpoints that belong to no capability: the ledger check, the test clock, and
//! the Prometheus metrics (the guessing defence's are in [`super::security`]).

use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;
use smartcode_core::ledger::reports;

use super::{json_value, read, unexpected, Entry};
use crate::extract::{Body, Operator};
use crate::problem::ApiError;
use crate::wire::*;
use crate::AppState;
use smartcode_core::limits::TEST_CLOCK_ADVANCE_SECONDS_MAX;
use smartcode_core::model::LedgerTotals;
use smartcode_core::money::format_units;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::GET, "/v1/admin/ledger/check", get(handle_ledger_check)),
        (Method::POST, "/v1/admin/clock", post(advance_clock)),
        (Method::GET, "/metrics", get(metrics)),
    ]
}

/// What the ledger check found: `ok` when every currency sums to zero, what was issued less what
/// was paid out is what the issuance account owes and what the codes and the exchange account hold, no code balance is
/// negative and every kept balance is the sum of its transfers.
pub(crate) struct LedgerCheck {
    pub ok: bool,
    pub totals: LedgerTotals,
}

/// Recomputes every balance from the transfers and compares.
pub(crate) async fn ledger_check(state: &AppState, _: Operator) -> Result<LedgerCheck, ApiError> {
    let reports::QueryOutcome::LedgerCheck { ok, totals } = read(state, None, reports::Query::LedgerCheck).await?
    else {
        return Err(unexpected());
    };
    Ok(LedgerCheck { ok, totals })
}

async fn handle_ledger_check(State(state): State<AppState>, operator: Operator) -> Result<Response, ApiError> {
    let LedgerCheck { ok, totals } = ledger_check(&state, operator).await?;
    let currencies: Vec<_> = totals
        .currencies
        .iter()
        .map(|c| {
            json!({
                "currency": c.currency.to_string(),
                "issued": format_units(c.issued_units),
                "paid_out": format_units(c.paid_out_units),
                "outstanding": format_units(c.outstanding_units),
                "held_by_codes": format_units(c.held_by_codes_units),
                "exchange": format_units(c.exchange_units),
                "peers": format_units(c.peer_units),
                "sum": format_units(c.sum_units),
                "accounts": c.accounts,
                "transfers": c.transfers,
            })
        })
        .collect();
    Ok(json_value(
        StatusCode::OK,
        json!({
            "ok": ok,
            "currencies": currencies,
            "negative_balances": totals.negative_balances,
            "mismatched_accounts": totals.mismatched_accounts,
            "uncovered_holds": totals.uncovered_holds,
            "checked_at": state.clock.now().to_rfc3339(),
        }),
    ))
}

/// Prometheus text: payments and their latency, refusals by `code` word, the store's commits and
/// batch sizes, and the guessing defence's counters.
async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let report = state.guard.report().await?;
    let mut text = format!(
        "# HELP smartcode_failed_presentations_total Failed presentations of secret codes and PINs.\n\
         # TYPE smartcode_failed_presentations_total counter\n\
         smartcode_failed_presentations_total {}\n\
         # HELP smartcode_challenges_total Challenges (proofs of work) asked by the guessing defence.\n\
         # TYPE smartcode_challenges_total counter\n\
         smartcode_challenges_total {}\n\
         # HELP smartcode_challenges_answered_total Challenges answered and taken.\n\
         # TYPE smartcode_challenges_answered_total counter\n\
         smartcode_challenges_answered_total {}\n\
         # HELP smartcode_challenge_difficulty_bits Bits of work the next challenge asks.\n\
         # TYPE smartcode_challenge_difficulty_bits gauge\n\
         smartcode_challenge_difficulty_bits {}\n\
         # HELP smartcode_guessing_alarm 1 while the guessing alarm is raised.\n\
         # TYPE smartcode_guessing_alarm gauge\n\
         smartcode_guessing_alarm {}\n",
        report.failures_total,
        report.challenges_total,
        report.paid_total,
        report.difficulty_bits,
        u8::from(report.alarm_since.is_some())
    );
    crate::metrics::METRICS.render(&state.store.stats(), &mut text);
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(response)
}

/// `POST /v1/admin/clock {advance_seconds}`: only under `serve --test-clock`, for tests of expiry,
/// periods and windows that must not wait for real time.
async fn advance_clock(State(state): State<AppState>, _: Operator, body: Body) -> Result<Response, ApiError> {
    let Some(clock) = &state.test_clock else {
        return Err(ApiError::not_found("endpoint"));
    };
    let request: ClockRequest = body.json()?;
    if !(1..=TEST_CLOCK_ADVANCE_SECONDS_MAX).contains(&request.advance_seconds) {
        return Err(ApiError::invalid_request(format!(
            "advance_seconds is 1 to {TEST_CLOCK_ADVANCE_SECONDS_MAX}"
        )));
    }
    clock.advance_seconds(request.advance_seconds);
    Ok(json_value(
        StatusCode::OK,
        json!({ "now": state.clock.now().to_rfc3339() }),
    ))
}

//! The operator's console (`/operator`): log in with the operator token, issue codes, deposit,
//! pay out, and read the ledger check and the guessing defence's report, through the same typed services
//! as the operator's endpoints.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::forms::{back_to, form_of, json_body, new_code, FormInput, WebForm};
use super::session::{self, Current, Identity, Reveal};
use super::{csrf_refused, page, pages, redirect_with_cookie, secure, Csrf};
use crate::api;
use crate::extract::{Operator, Target};
use crate::problem::ApiError;
use crate::wire::{DepositRequest, IssueRequest, PayoutRequest};
use crate::AppState;
use smartcode_core::ledger::checks::Mark;

fn operator_session(state: &AppState, headers: &HeaderMap) -> Option<Current> {
    state
        .sessions
        .current(headers)
        .filter(|c| matches!(c.identity, Identity::Operator))
}

pub(super) async fn operator_console(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let csrf = Csrf::of(&state, &headers);
    let Some(current) = operator_session(&state, &headers) else {
        return page(StatusCode::OK, &csrf, pages::operator_login(&csrf, None));
    };
    // A check that could not run shows as not OK, with no rows.
    let check = api::operator::ledger_check(&state, Operator).await.ok();
    let security = api::security::security(&state, Operator).await.unwrap_or_default();
    page(
        StatusCode::OK,
        &csrf,
        pages::operator_console(&csrf, &current, check.as_ref(), &security),
    )
}

pub(super) async fn operator_login(State(state): State<AppState>, headers: HeaderMap, form: FormInput) -> Response {
    let form = form_of(form);
    if !session::csrf_valid(&state.keys, &headers, form.get("csrf").unwrap_or("")) {
        return csrf_refused(&state, &headers);
    }
    if !state.operator_token_matches(form.get("token").unwrap_or("")) {
        let csrf = Csrf::of(&state, &headers);
        return page(
            StatusCode::UNAUTHORIZED,
            &csrf,
            pages::operator_login(&csrf, Some("That is not the operator token.")),
        );
    }
    let id = state.sessions.start(Identity::Operator);
    let cookie = session::set_cookie(session::SESSION_COOKIE, &id, secure(&state, &headers));
    redirect_with_cookie("/operator", &cookie)
}

fn operator_form(state: &AppState, headers: &HeaderMap, form: &WebForm) -> Result<Current, Response> {
    if !session::csrf_valid(&state.keys, headers, form.get("csrf").unwrap_or("")) {
        return Err(csrf_refused(state, headers));
    }
    operator_session(state, headers).ok_or_else(|| Redirect::to("/operator").into_response())
}

fn back_to_console(
    state: &AppState,
    current: &Current,
    reveal: Option<Reveal>,
    notice: Result<String, ApiError>,
) -> Response {
    back_to("/operator", state, current, reveal, notice)
}

pub(super) async fn operator_issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    let current = match operator_form(&state, &headers, &form) {
        Ok(current) => current,
        Err(response) => return response,
    };
    let mut body = json!({
        "amount": form.get("amount").unwrap_or(""),
        "currency": form.get("currency").unwrap_or(""),
    });
    if let Some(label) = form.text("label") {
        body["label"] = json!(label);
    }
    let body = json_body(body);
    let issued = async {
        let request: IssueRequest = body.json()?;
        let reply = api::issuance::issue(&state, Operator, &request, form.asked(&target, &body)).await?;
        reply.answer(&state).await
    };
    match issued.await {
        Ok(answer) => {
            let reveal = new_code(answer.code.as_deref(), state.config.code_format()).map(|code| Reveal {
                code: code.into(),
                broker: state.config.domain.clone(),
                what: format!(
                    "New code {} holding {}",
                    answer.id.unwrap_or_default(),
                    answer.balance.unwrap_or_default()
                ),
            });
            back_to_console(&state, &current, reveal, Ok("Code issued.".into()))
        }
        Err(error) => back_to_console(&state, &current, None, Err(error)),
    }
}

pub(super) async fn operator_deposit(
    State(state): State<AppState>,
    headers: HeaderMap,
    route: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    let current = match operator_form(&state, &headers, &form) {
        Ok(current) => current,
        Err(response) => return response,
    };
    let target = form.get("target").unwrap_or("");
    let mut body = json!({
        "amount": form.get("amount").unwrap_or(""),
        "currency": form.get("currency").unwrap_or(""),
    });
    if smartcode_core::code::CodeId::parse(target).is_some() {
        body["code_id"] = json!(target);
    } else {
        body["code"] = json!(target);
    }
    let body = json_body(body);
    let deposited = async {
        let request: DepositRequest = body.json()?;
        let reply = api::issuance::deposit(&state, Operator, &request, form.asked(&route, &body)).await?;
        reply.answer(&state).await
    };
    let notice = deposited.await.map(|answer| {
        format!(
            "Deposited into {}; it now holds {}.",
            answer.code_id.unwrap_or_default(),
            answer.balance.unwrap_or_default()
        )
    });
    back_to_console(&state, &current, None, notice)
}

pub(super) async fn operator_payout(
    State(state): State<AppState>,
    headers: HeaderMap,
    route: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    let current = match operator_form(&state, &headers, &form) {
        Ok(current) => current,
        Err(response) => return response,
    };
    let body = json_body(json!({
        "code_id": form.get("code_id").unwrap_or(""),
        "amount": form.get("amount").unwrap_or(""),
        "reference": form.get("reference").unwrap_or(""),
    }));
    let paid_out = async {
        let request: PayoutRequest = body.json()?;
        let reply = api::issuance::payout(&state, Operator, &request, form.asked(&route, &body)).await?;
        reply.answer(&state).await
    };
    let notice = paid_out.await.map(|answer| {
        format!(
            "Paid {} out of {}; it now holds {}.",
            answer.amount.unwrap_or_default(),
            answer.code_id.unwrap_or_default(),
            answer.balance.unwrap_or_default()
        )
    });
    back_to_console(&state, &current, None, notice)
}

/// Marks a code's profile as checked by the broker (the form names the name checked), or
/// withdraws its check.
pub(super) async fn operator_check(
    State(state): State<AppState>,
    headers: HeaderMap,
    route: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    let current = match operator_form(&state, &headers, &form) {
        Ok(current) => current,
        Err(response) => return response,
    };
    let code = form.get("code").unwrap_or("").trim().to_owned();
    let name = form.text("name").filter(|_| form.get("withdraw") != Some("yes"));
    let body = json_body(name.as_ref().map_or(json!({}), |name| json!({ "name": name })));
    let mark = match &name {
        Some(name) => Mark::Checked { name: name.clone() },
        None => Mark::Withdrawn,
    };
    let checked = async {
        let reply = api::checks::set_check(&state, None, &code, mark, form.asked(&route, &body)).await?;
        reply.answer(&state).await
    };
    let notice = checked.await.map(|answer| match name {
        Some(name) => format!(
            "“{name}” ({}) is checked by the broker now.",
            answer.id.unwrap_or_default()
        ),
        None => format!("{} is no longer checked.", answer.id.unwrap_or_default()),
    });
    back_to_console(&state, &current, None, notice)
}

pub(super) async fn operator_forgive(State(state): State<AppState>, headers: HeaderMap, form: FormInput) -> Response {
    let form = form_of(form);
    let current = match operator_form(&state, &headers, &form) {
        Ok(current) => current,
        Err(response) => return response,
    };
    let source = form.get("source").unwrap_or("").trim().to_owned();
    let forgiven = api::security::forgive(&state, Operator, &source).await;
    let notice = forgiven.map(|n| format!("Forgave {source}: {n} budgets are full again."));
    back_to_console(&state, &current, None, notice)
}

pub(super) async fn operator_end_alarm(State(state): State<AppState>, headers: HeaderMap, form: FormInput) -> Response {
    let form = form_of(form);
    let current = match operator_form(&state, &headers, &form) {
        Ok(current) => current,
        Err(response) => return response,
    };
    let ended = api::security::end_alarm(&state, Operator).await;
    let notice = ended.map(|was| {
        if was {
            "The alarm is over: unknown sources have their free tries again.".to_owned()
        } else {
            "There was no alarm.".to_owned()
        }
    });
    back_to_console(&state, &current, None, notice)
}

//! A code's control center (`/me`): what the code holds, its tree, history and charts, and the
//! forms that act on it (children, profiles, PIN, rekey, the CSV report; the instruments' and
//! zero-click buying's forms are in their own modules). Every form calls the
//! same typed service of [`crate::api`] as the endpoint that does the same thing.

use std::future::Future;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use smartcode_core::ledger::checks::Mark;
use smartcode_core::ledger::controls::Pin;
use smartcode_core::ledger::reports::Entry;
use smartcode_core::ledger::{CodeView, TransferFilter};
use smartcode_core::limits::{REPORT_ROWS_MAX, TRANSACTIONS_CSV_ROWS_MAX};
use smartcode_core::model::{ReportGrouping, ReportRow};

use super::forms::{
    back_to, back_with, code_form, code_session, form_of, json_body, kept, new_code, FormInput, WebForm,
};
use super::session::{Current, Identity, Reveal};
use super::{page, pages, Csrf, HISTORY_PAGE_ROWS};
use crate::api::{self, Answer, Reply};
use crate::extract::{Caller, Holder, Segment, Target};
use crate::problem::ApiError;
use crate::wire::{ChildRequest, FundRequest, PinRequest, ProfileRequest, ReportParams};
use crate::AppState;

#[derive(serde::Deserialize, Default)]
pub(super) struct CenterParams {
    cursor: Option<String>,
}

pub(super) async fn control_center(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<axum::extract::Query<CenterParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let cursor = params
        .ok()
        .and_then(|axum::extract::Query(p)| p.cursor)
        .and_then(|c| c.parse::<i64>().ok())
        .filter(|c| *c > 0);
    let here = cursor.map_or("/me".to_owned(), |c| format!("/me?cursor={c}"));
    let (current, holder) = match code_session(&state, &headers, caller, &here) {
        Ok(found) => found,
        Err(response) => return response,
    };
    match center_data(&state, &holder, cursor).await {
        Ok(data) => {
            let csrf = Csrf::of(&state, &headers);
            page(StatusCode::OK, &csrf, pages::control_center(&data, &current, &csrf))
        }
        Err(error) => {
            // The code stopped working (cancelled, rekeyed elsewhere): the session ends with it.
            state.sessions.end(&current.id);
            let csrf = Csrf::of(&state, &headers);
            let form = pages::HomeForm {
                refusal: Some(super::refusal::for_people(&error)),
                ..Default::default()
            };
            page(
                error.status,
                &csrf,
                pages::home(&state.config.name, &state.config.code_format().example(), &csrf, &form),
            )
        }
    }
}

/// What the control center shows, read in one go.
pub struct CenterData {
    pub view: CodeView,
    pub tree: Vec<CodeView>,
    pub tree_truncated: bool,
    pub history: Vec<Entry>,
    pub next_cursor: Option<i64>,
    /// This page of history is not the newest.
    pub paged: bool,
    pub by_day: Vec<ReportRow>,
    pub by_public_code: Vec<ReportRow>,
    /// The broker's name, for the marks of names it checked.
    pub broker_name: String,
    /// The assurances this code made, as its holder sees them.
    pub assurances: Vec<crate::wire::AssuranceJson>,
    /// The purchases waiting for this code's approval, then those settled, newest first.
    pub approvals: Vec<smartcode_api::QueuedApprovalJson>,
    /// The code's spending rules, with what each has spent and left now.
    pub rules: smartcode_api::RulesJson,
    /// The metered sessions this code opened as a buyer, open ones first.
    pub sessions: Vec<smartcode_api::SessionJson>,
    /// The shares this code gave, newest first, with how many of each were used.
    pub shares: Vec<smartcode_core::ledger::shares::ShareView>,
}

async fn center_data(state: &AppState, holder: &Holder, cursor: Option<i64>) -> Result<CenterData, ApiError> {
    let view = api::tree::me(state, holder).await?;
    let (tree, tree_truncated) = api::tree::tree(state, holder).await?;
    let filter = TransferFilter {
        since: None,
        until: None,
        before_sequence: cursor,
        limit: HISTORY_PAGE_ROWS,
    };
    let (history, next_cursor) = api::reports::transactions(state, holder, filter).await?;
    let all = || TransferFilter {
        since: None,
        until: None,
        before_sequence: None,
        limit: REPORT_ROWS_MAX,
    };
    let by_day = api::reports::rows(state, holder, ReportGrouping::Day, all()).await?;
    let by_public_code = api::reports::rows(state, holder, ReportGrouping::PublicCode, all()).await?;
    let assurances = api::assurances::list(state, holder).await?;
    let now = state.clock.now();
    let approvals = api::purchases::approvals(state, holder).await?;
    let approvals = approvals.iter().map(|a| api::purchases::approval_json(a, now));
    let rules = api::spending::rules_json(&view.record, now);
    let sessions = api::sessions::sessions(state, holder).await?;
    let shares = api::shares::given(state, holder).await?;
    Ok(CenterData {
        view,
        tree,
        tree_truncated,
        history,
        next_cursor,
        paged: cursor.is_some(),
        by_day,
        by_public_code,
        broker_name: state.config.name.clone(),
        assurances,
        approvals: approvals.collect(),
        rules,
        sessions,
        shares,
    })
}

pub(super) fn back_to_me(
    state: &AppState,
    current: &Current,
    reveal: Option<Reveal>,
    notice: Result<String, ApiError>,
) -> Response {
    back_to("/me", state, current, reveal, notice)
}

/// The answer a page shows of a write, or its refusal.
pub(super) async fn answered(state: &AppState, reply: Result<Reply, ApiError>) -> Result<Answer, ApiError> {
    reply?.answer(state).await
}

pub(super) async fn new_child(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    let (current, holder) = match code_form(&state, &headers, &form, caller) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let public = form.get("kind") == Some("public");
    let id = if public { "child-public" } else { "child-secret" };
    let refused = |error: ApiError| {
        let kept = kept(&form, id, &error);
        back_with("/me", &state, &current, None, Err((error, Some(kept))))
    };
    let body = match child_body(&form) {
        Ok(body) => json_body(body),
        Err(error) => return refused(error),
    };
    let reply = match body.json::<ChildRequest>() {
        Ok(request) => api::tree::create_child(&state, &holder, &request, form.asked(&target, &body)).await,
        Err(error) => Err(error),
    };
    match answered(&state, reply).await {
        Ok(answer) if public => {
            let code = answer.public_code.unwrap_or_default();
            back_to_me(&state, &current, None, Ok(format!("New public code {code} created.")))
        }
        Ok(answer) => {
            let reveal = new_code(answer.code.as_deref(), state.config.code_format()).map(|code| Reveal {
                code: code.into(),
                broker: state.config.domain.clone(),
                what: format!(
                    "New secret child {} holding {}",
                    answer.label.unwrap_or_default(),
                    answer.balance.unwrap_or_default()
                ),
            });
            back_to_me(&state, &current, reveal, Ok("New secret child created.".into()))
        }
        Err(error) => refused(error),
    }
}

/// The API's child request for what the form says.
fn child_body(form: &WebForm) -> Result<Value, ApiError> {
    let mut body = json!({ "kind": form.get("kind").unwrap_or("secret") });
    if let Some(label) = form.text("label") {
        body["label"] = json!(label);
    }
    if form.get("kind") == Some("public") {
        body["profile"] = profile_body(form);
        if let Some(under) = form.text("under") {
            body["under"] = json!(under);
        }
        for field in ["categories", "items"] {
            if let Some(list) = form.list(field) {
                body[field] = json!(list);
            }
        }
        return Ok(body);
    }
    body["amount"] = json!(form.get("amount").unwrap_or(""));
    if let Some(hours) = form.number("expires_in_hours")? {
        body["expires_in_seconds"] = json!(hours.saturating_mul(3600));
    }
    if let Some(at) = form.get("expires_at") {
        // A datetime-local field has no zone and often no seconds; the form says it is UTC.
        let at = if at.len() == 16 {
            format!("{at}:00Z")
        } else {
            format!("{at}Z")
        };
        body["expires_at"] = json!(at);
    }
    if form.checked("irrevocable") {
        body["irrevocable"] = json!(true);
    }
    let mut rules = json!({});
    for field in ["categories", "payees", "items"] {
        if let Some(list) = form.list(field) {
            rules[field] = json!(list);
        }
    }
    if let Some(per_use) = form.text("amount_per_use_max") {
        rules["amount_per_use_max"] = json!(per_use);
    }
    if let Some(uses) = form.number("uses_max")? {
        rules["uses_max"] = json!(uses);
    }
    if let Some(amount) = form.text("spend_amount") {
        let period = form.number("spend_period_seconds")?.unwrap_or(86_400);
        rules["spend_per_period"] = json!({ "amount": amount, "period_seconds": period });
    }
    if rules.as_object().is_some_and(|r| !r.is_empty()) {
        body["restrictions"] = rules;
    }
    Ok(body)
}

fn profile_body(form: &WebForm) -> Value {
    json!({
        "name": form.get("name").unwrap_or(""),
        "description": form.get("description").unwrap_or(""),
        "url": form.get("url").unwrap_or(""),
        "contact": form.get("contact").unwrap_or(""),
        "show_stats": form.checked("show_stats"),
    })
}

/// Runs one control-center form that is one write: checks the CSRF token and the session, lets
/// `act` make the write, then goes back to the control center with the notice `done` writes from
/// the answer (or the refusal).
/// `id` names the form on the page: a refusal shows it again as typed, the page scrolled to it.
pub(super) async fn center_form<Fut>(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    (id, form): (String, FormInput),
    act: impl FnOnce(AppState, Holder, WebForm) -> Fut,
    done: impl FnOnce(Answer) -> String,
) -> Response
where
    Fut: Future<Output = Result<Reply, ApiError>>,
{
    let form = form_of(form);
    let (current, holder) = match code_form(&state, &headers, &form, caller) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let values = WebForm(form.0.clone());
    let result = answered(&state, act(state.clone(), holder, form).await).await;
    let notice = result.map(done).map_err(|error| {
        let kept = kept(&values, &id, &error);
        (error, Some(kept))
    });
    back_with("/me", &state, &current, None, notice)
}

pub(super) async fn fund_child(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let id_form = id.clone();
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let body = json_body(json!({ "amount": form.get("amount").unwrap_or("") }));
        let request: FundRequest = body.json()?;
        api::tree::fund_child(&state, &holder, &id, &request, form.asked(&target, &body)).await
    };
    let done = |answer: Answer| {
        let balance = answer.child.unwrap_or_default().balance.unwrap_or_default();
        format!("Moved into the child; it now holds {balance}.")
    };
    let form = (format!("fund-{id_form}"), form);
    center_form(state, caller, headers, form, act, done).await
}

pub(super) async fn cancel_child(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    if form.get("confirm") != Some("yes") {
        return confirm_cancel(&state, &headers, &form, caller, &id).await;
    }
    let form = Ok(axum::extract::Form(form.0));
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let body = json_body(json!({}));
        api::tree::cancel_child(&state, &holder, &id, form.asked(&target, &body)).await
    };
    let done = |answer: Answer| {
        format!(
            "Cancelled {} code(s) and took back {}.",
            answer.codes_cancelled.map_or("null".to_owned(), |n| n.to_string()),
            answer.reclaimed.unwrap_or_default()
        )
    };
    center_form(state, caller, headers, ("tree".to_owned(), form), act, done).await
}

/// Before a cancel: what it will do, and a button that does it (a page of its own, so it works
/// without script).
async fn confirm_cancel(state: &AppState, headers: &HeaderMap, form: &WebForm, caller: Caller, id: &str) -> Response {
    let (current, holder) = match code_form(state, headers, form, caller) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let tree = match api::tree::tree(state, &holder).await {
        Ok((tree, _)) => tree,
        Err(error) => return back_to_me(state, &current, None, Err(error)),
    };
    let Some(child) = tree.iter().find(|v| v.record.id.to_string() == id) else {
        return back_to_me(state, &current, None, Err(ApiError::not_found("child")));
    };
    let csrf = Csrf::of(state, headers);
    page(StatusCode::OK, &csrf, pages::confirm_cancel(child, &csrf))
}

pub(super) async fn unlock_child(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let body = json_body(json!({}));
        api::controls::unlock_child(&state, &holder, &id, form.asked(&target, &body)).await
    };
    center_form(state, caller, headers, ("tree".to_owned(), form), act, |_| {
        "The child works again.".to_owned()
    })
    .await
}

/// Vouch for a descendant's name (the form carries the name the page showed), or withdraw.
pub(super) async fn child_check(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let name = form.text("name");
        let withdraw = form.get("withdraw") == Some("yes");
        let body = json_body(match (&name, withdraw) {
            (Some(name), false) => json!({ "name": name }),
            _ => json!({}),
        });
        let mark = match name.filter(|_| !withdraw) {
            Some(name) => Mark::Checked { name },
            None => Mark::Withdrawn,
        };
        api::checks::set_check(&state, Some(&holder), &id, mark, form.asked(&target, &body)).await
    };
    center_form(
        state,
        caller,
        headers,
        ("tree".to_owned(), form),
        act,
        |answer| match answer
            .profile
            .as_ref()
            .and_then(|p| p.name.as_deref().filter(|_| p.checked.is_some()))
        {
            Some(name) => format!("You stand behind “{name}” now: its pages show it as checked by you."),
            None => "Your check is withdrawn: its name is only what its holder declared.".to_owned(),
        },
    )
    .await
}

pub(super) async fn child_profile(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let id_form = id.clone();
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let mut profile = profile_body(&form);
        for field in ["categories", "items"] {
            if let Some(list) = form.list(field) {
                profile[field] = json!(list);
            }
        }
        let body = json_body(profile);
        let request: ProfileRequest = body.json()?;
        api::tree::set_profile(&state, &holder, Some(&id), request, form.asked(&target, &body)).await
    };
    let form = (format!("profile-{id_form}"), form);
    center_form(state, caller, headers, form, act, |_| "Profile saved.".to_owned()).await
}

pub(super) async fn own_profile(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
) -> Response {
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let body = json_body(profile_body(&form));
        let request: ProfileRequest = body.json()?;
        api::tree::set_profile(&state, &holder, None, request, form.asked(&target, &body)).await
    };
    center_form(state, caller, headers, ("profile".to_owned(), form), act, |_| {
        "Your profile is saved.".to_owned()
    })
    .await
}

pub(super) async fn pin(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    let (current, holder) = match code_form(&state, &headers, &form, caller) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let hash = holder.hash;
    let removing = form.get("action") == Some("remove");
    let new_pin = form.get("new_pin").unwrap_or("").to_owned();
    let refused = |error: ApiError, field: Option<&'static str>| {
        let mut kept = kept(&form, "pin", &error);
        kept.field = field.or(kept.field.map(|f| if f == "pin" { "new_pin" } else { f }));
        back_with("/me", &state, &current, None, Err((error, Some(kept))))
    };
    if !removing && form.get("new_pin_again").unwrap_or("") != new_pin {
        let error = ApiError::invalid_request("the two PINs differ: type the same new PIN twice");
        return refused(error, Some("new_pin_again"));
    }
    let reply = if removing {
        let body = crate::extract::Body(Default::default());
        api::controls::remove_pin(&state, &holder, form.asked(&target, &body)).await
    } else {
        let body = json_body(json!({ "pin": new_pin }));
        match body.json::<PinRequest>() {
            Ok(request) => api::controls::set_pin(&state, &holder, &request, form.asked(&target, &body)).await,
            Err(error) => Err(error),
        }
    };
    let result = answered(&state, reply).await;
    if result.is_ok() {
        let pin = if removing { None } else { Pin::parse(&new_pin) };
        state
            .sessions
            .replace_identity(&current.id, Identity::Code { hash, pin });
    }
    let done = if removing {
        "The PIN is removed."
    } else {
        "The PIN is set."
    };
    match result {
        Ok(_) => back_to_me(&state, &current, None, Ok(done.to_owned())),
        Err(error) => refused(error, None),
    }
}

pub(super) async fn rekey(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    let (current, holder) = match code_form(&state, &headers, &form, caller) {
        Ok(found) => found,
        Err(response) => return response,
    };
    if form.get("confirm") != Some("yes") {
        let csrf = Csrf::of(&state, &headers);
        return page(StatusCode::OK, &csrf, pages::confirm_rekey(&csrf));
    }
    let pin = holder.pin.clone();
    let body = json_body(json!({}));
    let reply = api::controls::rekey(&state, &holder, form.asked(&target, &body)).await;
    match answered(&state, reply)
        .await
        .map(|answer| new_code(answer.code.as_deref(), state.config.code_format()))
    {
        Ok(Some(code)) => {
            let hash = state.keys.hash_code(&code);
            state
                .sessions
                .replace_identity(&current.id, Identity::Code { hash, pin });
            let reveal = Reveal {
                code: code.into(),
                broker: state.config.domain.clone(),
                what: "Your new secret code: the old one no longer works".into(),
            };
            back_to_me(&state, &current, Some(reveal), Ok("The code has a new secret.".into()))
        }
        Ok(None) => back_to_me(&state, &current, None, Err(api::unexpected())),
        Err(error) => back_to_me(&state, &current, None, Err(error)),
    }
}

#[derive(serde::Deserialize)]
pub(super) struct CsvParams {
    group_by: Option<String>,
}

pub(super) async fn report_csv(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<axum::extract::Query<CsvParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (_, holder) = match code_session(&state, &headers, caller, "/me") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let params = ReportParams {
        group_by: params.ok().and_then(|axum::extract::Query(p)| p.group_by),
        since: None,
        until: None,
    };
    match api::reports::report(&state, &holder, &params).await {
        Ok(rows) => api::reports::csv(&rows),
        Err(error) => error.into_response(),
    }
}

/// The whole history as a CSV download (`GET /v1/me/transactions` with `Accept: text/csv`).
pub(super) async fn transactions_csv(State(state): State<AppState>, caller: Caller, headers: HeaderMap) -> Response {
    let (_, holder) = match code_session(&state, &headers, caller, "/me") {
        Ok(found) => found,
        Err(response) => return response,
    };
    let all = TransferFilter {
        since: None,
        until: None,
        before_sequence: None,
        limit: TRANSACTIONS_CSV_ROWS_MAX,
    };
    match api::reports::transactions_up_to(&state, &holder, all).await {
        Ok((entries, next_cursor)) => api::reports::transactions_csv(&entries, next_cursor),
        Err(error) => error.into_response(),
    }
}

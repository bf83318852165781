//! The control center's forms for zero-click buying: the approval queue (approve, optionally
//! making it a rule, or at the seller's counter-offer; decline) and the code's spending rules (add
//! one, remove one), and closing a metered session. Each calls the same service of [`crate::api`] as its endpoint; the rules forms
//! read the rules as they stand and send the whole list, as `PUT /v1/me/rules` takes it, so a rule
//! left as it was keeps what it has counted.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use smartcode_api::{ApproveRequest, RuleRequest, RulesRequest};

use super::center::center_form;
use super::forms::{json_body, FormInput, WebForm};
use crate::api::{self, Answer, Reply};
use crate::extract::{Caller, Holder, Segment, Target};
use crate::problem::{ApiError, ProblemCode};
use crate::AppState;

pub(super) async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let form_id = format!("approval-{id}");
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let request = ApproveRequest {
            make_rule: form.checked("make_rule"),
            at_counter: form.get("at_counter") == Some("yes"),
        };
        let body = json_body(serde_json::to_value(&request).expect("a request serializes"));
        api::purchases::approve(&state, &holder, &id, &request, form.asked(&target, &body)).await
    };
    let done = |answer: Answer| match (answer.receipt, answer.rule_added) {
        _ if answer.session.is_some() => {
            let session = answer.session.unwrap_or_default();
            format!(
                "Approved: session {} is open at {} a minute, up to {}; the seller charges it as you use it.",
                session.id, session.price_per_minute, session.cap
            )
        }
        (Some(receipt), Some(rule)) => format!(
            "Approved: paid {} to {}. The rule “{rule}” now pays the same kind of purchase with no one asked.",
            receipt.amount, receipt.payee
        ),
        (Some(receipt), None) => format!("Approved: paid {} to {}.", receipt.amount, receipt.payee),
        (None, _) => {
            "Approved here; a rule of a code above this one still stops it, so it waits for that code's approval."
                .to_owned()
        }
    };
    center_form(state, caller, headers, (form_id, form), act, done).await
}

pub(super) async fn decline(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let form_id = format!("approval-{id}");
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let body = json_body(json!({}));
        api::purchases::decline(&state, &holder, &id, form.asked(&target, &body)).await
    };
    let done = |_: Answer| "Declined: nothing was paid.".to_owned();
    center_form(state, caller, headers, (form_id, form), act, done).await
}

pub(super) async fn close_session(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let body = json_body(json!({}));
        api::sessions::close(&state, &holder, &id, form.asked(&target, &body)).await
    };
    let done = |_: Answer| "The session is closed: its seller can charge nothing more.".to_owned();
    center_form(state, caller, headers, ("sessions".to_owned(), form), act, done).await
}

pub(super) async fn add_rule(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
) -> Response {
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let rule: RuleRequest = json_body(rule_body(&form)?).json()?;
        let mut request = rules_now(&state, &holder).await?;
        match form.get("position") {
            Some("first") => request.rules.insert(0, rule),
            _ => request.rules.push(rule),
        }
        put_rules(&state, &holder, &request, &form, &target).await
    };
    let done = |_: Answer| "The rule is added.".to_owned();
    center_form(state, caller, headers, ("rule-add".to_owned(), form), act, done).await
}

pub(super) async fn remove_rule(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
) -> Response {
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let mut request = rules_now(&state, &holder).await?;
        // The page names the rule it showed at that place: if the list changed meanwhile (another
        // tab, the API), nothing is removed rather than the wrong rule.
        let index = form.number("index")?.and_then(|i| usize::try_from(i).ok());
        let shown = form.get("name").unwrap_or("");
        match index.filter(|i| request.rules.get(*i).is_some_and(|r| r.name == shown)) {
            Some(index) => request.rules.remove(index),
            None => {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    ProblemCode::Conflict,
                    "the rules changed since the page showed them; nothing was removed: look at them again",
                ))
            }
        };
        put_rules(&state, &holder, &request, &form, &target).await
    };
    let done = |_: Answer| "The rule is removed.".to_owned();
    center_form(state, caller, headers, ("rules".to_owned(), form), act, done).await
}

/// The holder's rules as `PUT /v1/me/rules` would take them back.
async fn rules_now(state: &AppState, holder: &Holder) -> Result<RulesRequest, ApiError> {
    let view = api::tree::me(state, holder).await?;
    let shown = api::spending::rules_json(&view.record, state.clock.now());
    Ok(RulesRequest {
        rules: shown.rules.into_iter().map(|rule| rule.rule).collect(),
    })
}

async fn put_rules(
    state: &AppState,
    holder: &Holder,
    request: &RulesRequest,
    form: &WebForm,
    target: &Target,
) -> Result<Reply, ApiError> {
    let body = json_body(serde_json::to_value(request).expect("rules serialize"));
    api::spending::set_rules(state, holder, request, form.asked(target, &body)).await
}

/// The API's rule for what the add-rule form says; what it cannot read is refused by the API's
/// own words when the JSON becomes a [`RuleRequest`].
fn rule_body(form: &WebForm) -> Result<Value, ApiError> {
    let mut rule = json!({
        "name": form.get("name").unwrap_or(""),
        "action": form.get("action").unwrap_or("pay"),
    });
    let mut matches = json!({});
    for field in ["categories", "payees", "items"] {
        if let Some(list) = form.list(field) {
            matches[field] = json!(list);
        }
    }
    rule["match"] = matches;
    if let Some(amount) = form.text("max_per_payment") {
        rule["max_per_payment"] = json!(amount);
    }
    if let Some(amount) = form.text("period_amount") {
        let seconds = form.number("period_seconds")?.unwrap_or(86_400);
        rule["max_per_period"] = json!({ "amount": amount, "period_seconds": seconds });
    }
    if let Some(amount) = form.text("rate_amount") {
        let seconds = form.number("rate_seconds")?.unwrap_or(60);
        rule["max_rate"] = json!({ "amount": amount, "per_seconds": seconds });
    }
    Ok(rule)
}

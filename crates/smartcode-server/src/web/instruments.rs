//! The control center's forms for the instruments on a code: authorization codes (made, shown
//! once, cancelled), assurance codes (made, shown once, revoked) and the code's numeric alias
//! (made, shown once, removed). Each calls the same
//! service of [`crate::api`] as its endpoint.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use smartcode_core::code::SecretCode;

use super::center::{answered, back_to_me, center_form};
use super::forms::{code_form, form_of, json_body, FormInput, WebForm};
use super::session::{Current, Reveal, Shown};
use crate::api::{self, Answer};
use crate::extract::{Caller, Holder, Segment, Target};
use crate::problem::ApiError;
use crate::wire::{AssuranceRequest, AuthorizationRequest};
use crate::AppState;

/// The all-digit secret an answer shows once, as a secret to reveal.
fn numeric_secret(state: &AppState, text: Option<&str>) -> Option<SecretCode> {
    match state.config.broker_number.parse_code(text?) {
        Some(Ok(code)) => Some(code.into_secret()),
        _ => None,
    }
}

pub(super) async fn authorize(
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
    let mut body = json!({ "amount": form.get("amount").unwrap_or("") });
    if let Some(payee) = form.text("payee") {
        body["payee"] = json!(payee);
    }
    if let Some(minutes) = form.text("expires_in_minutes") {
        // A number the API refuses by name if it cannot use it; text that is no number at all is
        // sent as it is, to be refused as such.
        body["expires_in_seconds"] = match minutes.trim().parse::<i64>() {
            Ok(minutes) => json!(minutes.saturating_mul(60)),
            Err(_) => json!(minutes),
        };
    }
    let body = json_body(body);
    let reply = match body.json::<AuthorizationRequest>() {
        Ok(request) => api::authorizations::authorize(&state, &holder, &request, form.asked(&target, &body)).await,
        Err(error) => Err(error),
    };
    let answer = answered(&state, reply).await;
    let shown = |answer: &Answer| numeric_secret(&state, answer.authorization_code.as_deref()).map(Shown::from);
    let what = (
        "Your authorization code: it pays exactly this amount, once",
        "Authorization code made.",
    );
    shown_once(&state, &current, answer, shown, what)
}

/// Back to the control center after a write whose answer holds a secret to show once (`shown`
/// reads it from the answer; `what` is the reveal's title and the notice), or with its refusal.
fn shown_once(
    state: &AppState,
    current: &Current,
    answer: Result<Answer, ApiError>,
    shown: impl FnOnce(&Answer) -> Option<Shown>,
    (what, done): (&str, &str),
) -> Response {
    match answer.map(|answer| shown(&answer)) {
        Ok(Some(code)) => {
            let reveal = Reveal {
                code,
                broker: state.config.domain.clone(),
                what: what.to_owned(),
            };
            back_to_me(state, current, Some(reveal), Ok(done.to_owned()))
        }
        Ok(None) => back_to_me(state, current, None, Err(api::unexpected())),
        Err(error) => back_to_me(state, current, None, Err(error)),
    }
}

pub(super) async fn cancel_authorization(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let body = json_body(json!({}));
        api::authorizations::cancel(&state, &holder, &id, form.asked(&target, &body)).await
    };
    let done = |_: Answer| "Authorization cancelled: its value is available again.".to_owned();
    center_form(
        state,
        caller,
        headers,
        ("cancel_authorization".to_owned(), form),
        act,
        done,
    )
    .await
}

pub(super) async fn assurance(
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
    let body = json_body(json!({ "floor": form.get("floor").unwrap_or("") }));
    let reply = match body.json::<AssuranceRequest>() {
        Ok(request) => api::assurances::create(&state, &holder, &request, form.asked(&target, &body)).await,
        Err(error) => Err(error),
    };
    let answer = answered(&state, reply).await;
    let shown = |answer: &Answer| {
        let code = answer.assurance_code.as_deref()?;
        smartcode_core::code::AssuranceCode::parse(code).map(Shown::from)
    };
    let what = (
        "Your assurance code: give it to sellers; it never pays by itself",
        "Assurance code made.",
    );
    shown_once(&state, &current, answer, shown, what)
}

pub(super) async fn cancel_assurance(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let act = move |state: AppState, holder: Holder, form: WebForm| async move {
        let body = json_body(json!({}));
        api::assurances::cancel(&state, &holder, &id, form.asked(&target, &body)).await
    };
    let done = |_: Answer| "Assurance revoked: no new certificates.".to_owned();
    center_form(state, caller, headers, ("cancel_assurance".to_owned(), form), act, done).await
}

pub(super) async fn alias(
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
    let body = json_body(json!({}));
    if form.get("remove") == Some("yes") {
        let reply = api::aliases::remove(&state, &holder, None, form.asked(&target, &body)).await;
        let notice = answered(&state, reply)
            .await
            .map(|_| "The numeric alias no longer works.".to_owned());
        return back_to_me(&state, &current, None, notice);
    }
    let reply = api::aliases::set(&state, &holder, None, form.asked(&target, &body)).await;
    let answer = answered(&state, reply).await;
    let shown = |answer: &Answer| {
        let digits = answer.alias.as_ref()?.as_str()?;
        numeric_secret(&state, Some(digits)).map(Shown::from)
    };
    let what = (
        "Your code's numeric alias: it works like the code itself",
        "Numeric alias made.",
    );
    shown_once(&state, &current, answer, shown, what)
}

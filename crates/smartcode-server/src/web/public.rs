//! A public code's page (`/p/{public_code}`): its profile, ancestry, statistics and QR code, and
//! the pay form, which runs the very payment of `POST /v1/payments` ([`crate::api::payments::pay`]).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;
use smartcode_core::code::{parse_code, ParsedCode};
use smartcode_core::ledger::controls::Pin;

use super::forms::{form_of, json_body, FormInput};
use super::{csrf_refused, page, pages, refusal_text, session, Csrf};
use crate::api;
use crate::extract::{Caller, Segment, Target};
use crate::problem::ApiError;
use crate::wire::PaymentRequest;
use crate::AppState;

pub(super) async fn public_page(State(state): State<AppState>, headers: HeaderMap, Segment(text): Segment) -> Response {
    render_public(&state, &headers, &text, None).await
}

/// The public page, with a refusal of the pay form if there was one.
async fn render_public(state: &AppState, headers: &HeaderMap, text: &str, refusal: Option<&ApiError>) -> Response {
    let csrf = Csrf::of(state, headers);
    let not_found = || {
        page(
            StatusCode::NOT_FOUND,
            &csrf,
            pages::message("No such public code", "Check the code and try again."),
        )
    };
    let Ok(ParsedCode::Public(code)) = parse_code(text, &state.config.domain) else {
        return not_found();
    };
    let Ok(view) = api::public::public_code(state, code).await else {
        return not_found();
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let status = refusal.map_or(StatusCode::OK, |e| e.status);
    let markup = pages::public_page(
        &state.config.name,
        &view,
        &csrf,
        host,
        refusal.map(refusal_text).as_deref(),
    );
    page(status, &csrf, markup)
}

pub(super) async fn public_pay(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(text): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    if !session::csrf_valid(&state.keys, &headers, form.get("csrf").unwrap_or("")) {
        return csrf_refused(&state, &headers);
    }
    let mut body = json!({
        "code": form.get("code").unwrap_or(""),
        "payee": text,
        "amount": form.get("amount").unwrap_or(""),
    });
    if let Some(memo) = form.text("memo") {
        body["memo"] = json!(memo);
    }
    let pin = form.get("pin").and_then(Pin::parse);
    if form.get("pin").is_some() && pin.is_none() {
        let error = ApiError::invalid_request("a PIN is 4 to 12 digits");
        return render_public(&state, &headers, &text, Some(&error)).await;
    }
    let mut pin_headers = HeaderMap::new();
    if let Some(pin) = pin.as_ref().and_then(|p| HeaderValue::from_str(p.expose()).ok()) {
        pin_headers.insert(HeaderName::from_static("smartcode-pin"), pin);
    }
    let body = json_body(body);
    let paid = async {
        let request: PaymentRequest = body.json()?;
        let payer = state.holder(caller, &request.code, &pin_headers).await?;
        let reply = api::payments::pay(&state, &payer, &request, form.asked(&target, &body)).await?;
        reply.answer(&state).await
    };
    match paid.await {
        Ok(answer) => {
            let csrf = Csrf::of(&state, &headers);
            page(
                StatusCode::OK,
                &csrf,
                pages::receipt(&answer.receipt.unwrap_or_default()),
            )
        }
        Err(error) => render_public(&state, &headers, &text, Some(&error)).await,
    }
}

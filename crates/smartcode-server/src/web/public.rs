//! A public code's page (`/p/{public_code}`): its profile, ancestry, statistics and QR code, and
//! the pay form, which runs the very payment of `POST /v1/payments` ([`crate::api::payments::pay`]).
//!
//! A seller links to the page with an order: `?amount=&memo=&return=` fill the form in, and after
//! paying the buyer goes back to `return` with the receipt id, but only if `return` lies under the
//! `url` of the public code's profile ([`return_allowed`]); any other address is ignored, and the
//! page says so.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;
use smartcode_core::code::PublicCode;
use smartcode_core::ledger::controls::Pin;
use smartcode_core::ledger::reports::PublicView;

use super::forms::{form_of, json_body, FormInput};
use super::pages::{PayForm, ReturnTo};
use super::{csrf_refused, page, pages, session, Csrf};
use crate::api;
use crate::extract::{Caller, Segment, Target};
use crate::problem::ApiError;
use crate::wire::PaymentRequest;
use crate::AppState;

/// The order a seller's link carries: every field optional, each only fills the form in.
#[derive(serde::Deserialize, Default)]
pub(super) struct PayLink {
    amount: Option<String>,
    memo: Option<String>,
    #[serde(rename = "return")]
    return_to: Option<String>,
}

pub(super) async fn public_page(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(text): Segment,
    link: Result<Query<PayLink>, axum::extract::rejection::QueryRejection>,
) -> Response {
    // A link that cannot be read opens the plain form: the order is the seller's convenience.
    let Query(link) = link.unwrap_or_default();
    let form = PayForm {
        code: String::new(),
        amount: link.amount.unwrap_or_default(),
        memo: link.memo.unwrap_or_default(),
        return_to: link.return_to.filter(|r| !r.trim().is_empty()),
        challenge: None,
    };
    let challenge = super::challenge_for(&state, &caller).await;
    render_public(&state, &headers, &text, form, None, challenge).await
}

/// The public code (named by itself or by its numeric alias) and its page's data, or `None` when
/// there is no such (live) public code.
async fn public_view(state: &AppState, text: &str) -> Option<(PublicCode, PublicView)> {
    let code = api::aliases::payee(state, text).await.ok()?;
    let view = api::public::public_code(state, code.clone()).await.ok()?;
    Some((code, view))
}

/// The public page, with what the form holds and the refusal of the pay form if there was one.
async fn render_public(
    state: &AppState,
    headers: &HeaderMap,
    text: &str,
    mut form: PayForm,
    refusal: Option<&ApiError>,
    challenge: Option<String>,
) -> Response {
    form.challenge = challenge.or_else(|| refusal.and_then(|e| e.challenge.clone()));
    let csrf = Csrf::of(state, headers);
    let Some((code, view)) = public_view(state, text).await else {
        return page(
            StatusCode::NOT_FOUND,
            &csrf,
            pages::message("No such public code", "Check the code and try again."),
        );
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let status = refusal.map_or(StatusCode::OK, |e| e.status);
    let return_to = form.return_to.as_deref().map(|target| ReturnTo {
        allowed: return_allowed(view.record.profile.url.as_deref(), target).is_some(),
        url: target.to_owned(),
    });
    // The list is the page's extra: a store that cannot read it leaves the pay form standing.
    let items = api::items::of_public(state, code).await.unwrap_or_default();
    let markup = pages::public_page(
        (&state.config.name, &state.config.domain),
        &view,
        &csrf,
        (host, &items),
        &form,
        return_to.as_ref(),
        refusal.map(super::refusal::for_people).as_ref(),
    );
    page(status, &csrf, markup)
}

/// Where a buyer may be sent back to after paying: `target` if it lies under the seller's `site`
/// (the profile's `url`): the same scheme, host and port, and a path that is the site's path or
/// below it. An address with a user name or password, or of another scheme, never is.
pub(super) fn return_allowed(site: Option<&str>, target: &str) -> Option<url::Url> {
    let site = url::Url::parse(site?).ok()?;
    let target = url::Url::parse(target.trim()).ok()?;
    let same_origin = matches!(target.scheme(), "http" | "https")
        && target.scheme() == site.scheme()
        && target.host_str().is_some()
        && target.host_str() == site.host_str()
        && target.port_or_known_default() == site.port_or_known_default();
    let no_credentials = target.username().is_empty() && target.password().is_none();
    // Both paths are normalized by the parser (dot segments resolved), so a prefix is a real one.
    let base = site.path();
    let path = target.path();
    let under = path == base
        || (base.ends_with('/') && path.starts_with(base))
        || path.strip_prefix(base).is_some_and(|rest| rest.starts_with('/'));
    (same_origin && no_credentials && under).then_some(target)
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
    let typed = PayForm {
        code: form.get("code").unwrap_or("").to_owned(),
        amount: form.get("amount").unwrap_or("").to_owned(),
        memo: form.get("memo").unwrap_or("").to_owned(),
        return_to: form.text("return"),
        challenge: None,
    };
    let mut body = json!({
        "code": form.get("code").unwrap_or(""),
        "payee": text,
        "amount": form.get("amount").unwrap_or(""),
    });
    if let Some(memo) = form.text("memo") {
        body["memo"] = json!(memo);
    }
    // No category field: the broker stamps the payment with what the seller declared it sells.
    if let Some(item) = form.text("item") {
        body["item"] = json!(item);
    }
    let pin = form.get("pin").and_then(Pin::parse);
    if form.get("pin").is_some() && pin.is_none() {
        let error = ApiError::invalid_request("a PIN is 4 to 12 digits");
        return render_public(&state, &headers, &text, typed, Some(&error), None).await;
    }
    let mut pin_headers = HeaderMap::new();
    if let Some(pin) = pin.as_ref().and_then(|p| HeaderValue::from_str(p.expose()).ok()) {
        pin_headers.insert(HeaderName::from_static("smartcode-pin"), pin);
    }
    let body = json_body(body);
    let paid = async {
        let request: PaymentRequest = body.json()?;
        let payer = state
            .holder(super::with_answer(caller, &form), &request.code, &pin_headers)
            .await?;
        let reply = api::payments::pay(&state, &payer, &request, form.asked(&target, &body)).await?;
        Ok::<_, ApiError>((
            reply.answer(&state).await?,
            super::proof_cookie(&state, &payer, &headers).await,
        ))
    };
    match paid.await {
        Ok((answer, proof)) => {
            let receipt = answer.receipt.unwrap_or_default();
            let mut response = match return_after_paying(&state, &text, typed.return_to.as_deref(), &receipt.id).await {
                Some(back) => Redirect::to(back.as_str()).into_response(),
                None => page(StatusCode::OK, &Csrf::of(&state, &headers), pages::receipt(&receipt)),
            };
            if let Some(proof) = proof {
                response.headers_mut().append(header::SET_COOKIE, proof);
            }
            response
        }
        Err(error) => render_public(&state, &headers, &text, typed, Some(&error), None).await,
    }
}

/// The seller's address to send the buyer back to, with the receipt id, if the form carried one
/// that lies under the seller's site (checked again here: a form is the browser's word).
async fn return_after_paying(
    state: &AppState,
    text: &str,
    return_to: Option<&str>,
    receipt_id: &str,
) -> Option<url::Url> {
    let (_, view) = public_view(state, text).await?;
    let mut back = return_allowed(view.record.profile.url.as_deref(), return_to?)?;
    back.query_pairs_mut().append_pair("receipt", receipt_id);
    Some(back)
}

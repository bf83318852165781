//! An item's page (`/i/{item}`) and its pay form (`POST /i/{item}/buy`), which runs the very
//! purchase of `POST /v1/items/{id}/purchase` ([`crate::api::items::purchase`]) and shows its
//! receipt and download link. The form is guarded like every other (CSRF token, one-time nonce as
//! the Idempotency-Key, the guessing defence's challenge).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;
use smartcode_core::item::ItemRecord;
use smartcode_core::ledger::controls::Pin;

use super::forms::{form_of, json_body, FormInput};
use super::pages::{Bought, ItemForm};
use super::{csrf_refused, page, pages, session, Csrf};
use crate::api;
use crate::extract::{Caller, Segment, Target};
use crate::problem::ApiError;
use crate::AppState;

async fn item_of(state: &AppState, text: &str) -> Option<ItemRecord> {
    let id = api::items::parse_item_id(text).ok()?;
    api::items::item(state, &id).await.ok()
}

fn no_such_item(csrf: &Csrf) -> Response {
    page(
        StatusCode::NOT_FOUND,
        csrf,
        pages::message("No such item", "Check the link and try again."),
    )
}

pub(super) async fn item_page(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(text): Segment,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    let Some(item) = item_of(&state, &text).await else {
        return no_such_item(&csrf);
    };
    let form = ItemForm {
        code: String::new(),
        challenge: super::challenge_for(&state, &caller).await,
    };
    page(
        StatusCode::OK,
        &csrf,
        pages::item_page(&item, &csrf, &form, (None, None)),
    )
}

pub(super) async fn item_buy(
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
    let csrf = Csrf::of(&state, &headers);
    let Some(item) = item_of(&state, &text).await else {
        return no_such_item(&csrf);
    };
    let mut typed = ItemForm {
        code: form.get("code").unwrap_or("").to_owned(),
        challenge: None,
    };
    let refused = |typed: &ItemForm, error: &ApiError| {
        let refusal = super::refusal::for_people(error);
        let markup = pages::item_page(&item, &csrf, typed, (None, Some(&refusal)));
        page(error.status, &csrf, markup)
    };
    let pin = form.get("pin").filter(|p| !p.is_empty());
    if pin.is_some_and(|p| Pin::parse(p).is_none()) {
        return refused(&typed, &ApiError::invalid_request("a PIN is 4 to 12 digits"));
    }
    let mut pin_headers = HeaderMap::new();
    if let Some(pin) = pin.and_then(|p| HeaderValue::from_str(p).ok()) {
        pin_headers.insert(HeaderName::from_static("smartcode-pin"), pin);
    }
    let body = json_body(json!({ "code": form.get("code").unwrap_or("") }));
    let bought = async {
        let request: smartcode_api::ItemPurchaseRequest = body.json()?;
        let buyer = api::items::buyer(&state, super::with_answer(caller, &form), &request, &pin_headers).await?;
        let reply = api::items::purchase(&state, &buyer, &item.id, form.asked(&target, &body)).await?;
        Ok::<_, ApiError>((
            reply.answer(&state).await?,
            super::proof_cookie(&state, &buyer, &headers).await,
        ))
    };
    match bought.await {
        Ok((answer, proof)) => {
            let (Some(receipt), Some(download)) = (answer.receipt.as_ref(), answer.download.as_ref()) else {
                return refused(&typed, &ApiError::internal());
            };
            let bought = Bought { receipt, download };
            let markup = pages::item_page(&item, &csrf, &typed, (Some(&bought), None));
            let mut response = page(StatusCode::OK, &csrf, markup);
            if let Some(proof) = proof {
                response.headers_mut().append(header::SET_COOKIE, proof);
            }
            response
        }
        Err(error) => {
            typed.challenge = error.challenge.clone();
            refused(&typed, &error)
        }
    }
}

//! Licenses: a secret code pays for copies of an item or of a named work
//! (`POST /v1/me/licenses`) and gets a license code, which anyone reads
//! (`GET /v1/licenses/{license_code}`, and the page `/l/{license_code}`) with the payment's
//! receipt, signed as every receipt is, so a printed license can be checked by anyone holding the
//! broker's public key. The rules are the core's, in `ledger::licenses`.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use smartcode_api::{LicenseBoughtJson, LicenseEnvelopeJson, LicenseJson, LicenseRequest, LicensedJson, Money};
use smartcode_core::code::PublicCode;
use smartcode_core::ledger::licenses::{self, LicenseOrder, LicenseView, Wanted};
use smartcode_core::license::{LicenseRecord, Licensed};

use super::render::receipt_json;
use super::{json_value, read, submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Holder, Segment, Target};
use crate::problem::ApiError;
use crate::wire::*;
use crate::{AppState, Broker};

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/me/licenses", post(handle_buy)),
        (Method::GET, "/v1/licenses/{license_code}", get(handle_license)),
    ]
}

/// A license as anyone reads it, with `refunded_units` of its payment refunded since.
pub(crate) fn license_json(license: &LicenseRecord, refunded_units: i64) -> LicenseJson {
    let units = license.price.units().saturating_mul(i64::from(license.copies));
    let licensed = match &license.licensed {
        Licensed::Item { id, title } => LicensedJson {
            kind: "item".to_owned(),
            item_id: Some(id.to_string()),
            title: title.clone(),
        },
        Licensed::Work { title } => LicensedJson {
            kind: "work".to_owned(),
            item_id: None,
            title: title.clone(),
        },
    };
    LicenseJson {
        license_code: license.code.to_string(),
        page: format!("/l/{}", license.code),
        licensed,
        copies: license.copies,
        price: Money::new(license.price.units(), license.currency),
        total: Money::new(units, license.currency),
        paid_by: license.paid_by().to_owned(),
        licensee: license.licensee.clone(),
        payee: license.payee.to_string(),
        refunded: Money::new(refunded_units, license.currency),
        created_at: license.created_at.to_rfc3339(),
    }
}

/// The JSON of a license's purchase (first answers and replays alike), its receipt unsigned
/// until [`Reply::signed`] seals it.
pub(super) fn render(state: &Broker, outcome: &licenses::Outcome) -> serde_json::Value {
    let licenses::Outcome::Bought { license, receipt } = outcome;
    serde_json::to_value(LicenseBoughtJson {
        license_code: license.code.to_string(),
        license: license_json(license, 0),
        receipt: receipt_json(state, receipt),
    })
    .expect("a license serializes")
}

/// The order a request asks for, or the refusal of one that is neither an item's nor a work's.
fn order_of(state: &Broker, request: &LicenseRequest) -> Result<LicenseOrder, ApiError> {
    let payee = request
        .payee
        .as_deref()
        .map(|payee| super::parse_public(state, payee))
        .transpose()?;
    let wanted = match (&request.item_id, &request.work, &request.price) {
        (Some(id), None, None) => Wanted::Item(super::items::parse_item_id(id)?),
        (None, Some(title), Some(price)) if payee.is_some() => Wanted::Work {
            title: title.clone(),
            price: price.parse()?,
        },
        (None, Some(_), None) => {
            return Err(ApiError::invalid_request(
                "a license for a named work gives its price (of one copy) and its payee",
            ))
        }
        _ => {
            return Err(ApiError::invalid_request(
                "a license is for item_id (at the item's price), or for a work with its price and payee",
            ))
        }
    };
    Ok(LicenseOrder {
        wanted,
        copies: request.copies,
        payee,
        licensee: request.licensee.clone(),
    })
}

/// Buys a license with the holder's code: the payment (its receipt signed) and the license code.
pub(crate) async fn buy(
    state: &AppState,
    buyer: &Holder,
    request: &LicenseRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let order = order_of(state, request)?;
    let context = WriteContext {
        holder: Some(buyer),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let command = licenses::Command::Buy {
            payer: buyer.with(pin),
            code: PublicCode::generate(),
            order: order.clone(),
        };
        (command, Shown::NONE)
    })
    .await?
    .signed(state)
    .await
}

async fn handle_buy(
    State(state): State<AppState>,
    buyer: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: LicenseRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    buy(&state, &buyer, &request, asked).await?.respond(&state)
}

/// A license by the text of its code, as anyone reads it.
pub(crate) async fn license(state: &AppState, text: &str) -> Result<LicenseView, ApiError> {
    let code = super::parse_public(state, text).map_err(|_| ApiError::not_found("license"))?;
    let licenses::QueryOutcome::License(view) = read(state, None, licenses::Query::License { code }).await?;
    Ok(*view)
}

/// A license and its payment's receipt, sealed as `GET /v1/receipts/{id}` seals it for anyone.
pub(crate) async fn signed_license(state: &AppState, text: &str) -> Result<LicenseEnvelopeJson, ApiError> {
    let view = license(state, text).await?;
    let receipt = state.signer.seal(receipt_json(state, &view.receipt)).await?;
    Ok(LicenseEnvelopeJson {
        license: license_json(&view.license, view.refunded_units),
        receipt,
    })
}

async fn handle_license(State(state): State<AppState>, Segment(text): Segment) -> Result<Response, ApiError> {
    let body = signed_license(&state, &text).await?;
    Ok(json_value(
        StatusCode::OK,
        serde_json::to_value(body).expect("a license serializes"),
    ))
}

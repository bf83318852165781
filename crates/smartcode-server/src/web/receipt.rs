//! A receipt's page (`/r/{id}`): who was paid, how much, for what, when (in the reader's local
//! time), what the seller refunded of it, whether the broker's signature checks, and a QR code of the page's own address. The
//! receipt is the one `GET /v1/receipts/{id}` answers ([`crate::api::payments::signed_receipt`]),
//! checked here with the key `/.well-known/smartcode` publishes, as anyone would check it.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use smartcode_core::code::{parse_code, ParsedCode};

use super::{page, pages, Csrf};
use crate::api;
use crate::extract::Segment;
use crate::AppState;

pub(super) async fn receipt_page(State(state): State<AppState>, headers: HeaderMap, Segment(id): Segment) -> Response {
    let csrf = Csrf::of(&state, &headers);
    let Ok(receipt) = api::payments::signed_receipt(&state, id, &api::payments::Reader::Anyone).await else {
        return page(
            StatusCode::NOT_FOUND,
            &csrf,
            pages::message("No such receipt", "Check the receipt number and try again."),
        );
    };
    let seller = match parse_code(&receipt.payee, &state.config.domain, state.config.code_format()) {
        Ok(ParsedCode::Public(code)) => api::public::public_code(&state, code)
            .await
            .ok()
            .and_then(|view| view.record.profile.name),
        _ => None,
    };
    let check = smartcode_receipt::verify(&receipt, &state.keys.verifying_key());
    let refunds = api::payments::refunds(&state, receipt.id.clone())
        .await
        .unwrap_or_default();
    let refunded_units: i64 = refunds.iter().map(|r| r.amount.units()).sum();
    let refunded = (refunded_units > 0).then(|| {
        let amount = smartcode_core::money::format_units(refunded_units);
        let count = match refunds.len() {
            1 => "1 refund".to_owned(),
            n => format!("{n} refunds"),
        };
        format!("{amount} {} (in {count})", receipt.amount.currency)
    });
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let address = format!("http://{host}/r/{}", receipt.id);
    page(
        StatusCode::OK,
        &csrf,
        pages::receipt_page(&receipt, seller.as_deref(), &check, &address, refunded.as_deref()),
    )
}

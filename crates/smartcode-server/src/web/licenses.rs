//! A license's page (`/l/{license_code}`): the license `GET /v1/licenses/{license_code}` answers
//! ([`crate::api::licenses::signed_license`]), with its receipt checked here with the key
//! `/.well-known/smartcode` publishes, as anyone would check it.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use super::{page, pages, Csrf};
use crate::api;
use crate::extract::Segment;
use crate::AppState;

pub(super) async fn license_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Segment(text): Segment,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    let Ok(signed) = api::licenses::signed_license(&state, &text).await else {
        return page(
            StatusCode::NOT_FOUND,
            &csrf,
            pages::message("No such license", "Check the license code and try again."),
        );
    };
    let check = smartcode_receipt::verify(&signed.receipt, &state.keys.verifying_key());
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let address = format!("http://{host}{}", signed.license.page);
    page(
        StatusCode::OK,
        &csrf,
        pages::license_page(&signed.license, &signed.receipt, &check, &address),
    )
}

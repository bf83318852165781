//! Downloads of items kept on their sellers' own servers: the broker counts the fetch like any
//! other, then answers `303 See Other` to the item's url with a download token in the
//! `smartcode_token` query parameter (and the same token in the JSON body), signed with the
//! broker's receipt key (`smartcode_receipt::sign_download_token`), valid for
//! [`DOWNLOAD_TOKEN_SECONDS`]; the seller's server checks it offline.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use smartcode_api::DownloadTokenJson;
use smartcode_core::clock::{Timestamp, MICROS_PER_SECOND};
use smartcode_core::item::ItemRecord;
use smartcode_core::limits::DOWNLOAD_TOKEN_SECONDS;

use crate::problem::ApiError;
use crate::Broker;

/// The token for `item` bought by payment `receipt_id`, and the url that carries it.
pub(crate) fn token_for(state: &Broker, item: &ItemRecord, receipt_id: &str) -> DownloadTokenJson {
    let now = state.clock.now();
    let expires_at = now.0 / MICROS_PER_SECOND + DOWNLOAD_TOKEN_SECONDS;
    let key = state.keys.receipt_signing_key();
    let token = smartcode_receipt::sign_download_token(&key, item.id.as_str(), receipt_id, expires_at);
    let base = item.url.as_deref().unwrap_or_default();
    let separator = if base.contains('?') { '&' } else { '?' };
    DownloadTokenJson {
        url: format!("{base}{separator}smartcode_token={token}"),
        token,
        expires_at: Timestamp(expires_at * MICROS_PER_SECOND).to_rfc3339(),
    }
}

/// The answer of a fetch of an item kept elsewhere: a redirect to its url with the token.
pub(crate) fn redirect(
    state: &Broker,
    item: &ItemRecord,
    receipt_id: &str,
    fetches_left: u32,
) -> Result<Response, ApiError> {
    let token = token_for(state, item, receipt_id);
    let location = HeaderValue::from_str(&token.url).map_err(|_| {
        tracing::error!(item.id = %item.id, "an item's url is not a header value");
        ApiError::internal()
    })?;
    let body = serde_json::to_vec(&token).expect("a token serializes");
    let mut response = (StatusCode::SEE_OTHER, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::LOCATION, location);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(
        "smartcode-fetches-left",
        HeaderValue::from_str(&fetches_left.to_string()).expect("a number is a header value"),
    );
    Ok(response)
}

//! Items: content the owner of a public code sells (`POST /v1/me/items`, its bytes with
//! `PUT /v1/me/items/{id}/content`, the seller's list `GET /v1/me/items`), read by anyone
//! (`GET /v1/items/{id}`), bought with a secret code (`POST /v1/items/{id}/purchase`, a payment
//! stamped with the item) and downloaded through the purchase's grant
//! (`GET /v1/items/{id}/download/{grant}`). The rules are the core's, in `ledger::items`.
//!
//! A grant is `<receipt id>.<tag>`: the payment's receipt id and an HMAC of it under a key of the
//! broker's, so only the purchase's answer can name it; the fetches it has left are counted in
//! the store, and the time it has from the payment's. An item kept on its seller's server is
//! answered `303 See Other` to its url with a download token ([`super::item_tokens`]).

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use smartcode_api::{
    BoughtJson, ContentJson, DownloadJson, ItemEnvelopeJson, ItemJson, ItemPurchaseRequest, ItemRequest, ItemsJson,
    Money,
};
use smartcode_core::code::ItemId;
use smartcode_core::item::{grant_expires_at, ItemRecord};
use smartcode_core::ledger::controls::Pin;
use smartcode_core::ledger::items::{self, NewItem};
use smartcode_core::limits::{BODY_READ_TIMEOUT_SECONDS, DOWNLOAD_FETCHES_MAX, ITEM_CONTENT_BYTES_MAX};
use smartcode_store::{answer, WriteRequest, Written};

use super::render::receipt_json;
use super::{json_value, read, submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Caller, Holder, Segment, Target};
use crate::problem::{ApiError, ProblemCode};
use crate::wire::*;
use crate::{AppState, Broker};

pub(super) fn routes() -> Vec<Entry> {
    let upload = put(handle_upload).layer(axum::extract::DefaultBodyLimit::max(2 * ITEM_CONTENT_BYTES_MAX));
    vec![
        (Method::POST, "/v1/me/items", post(handle_create)),
        (Method::GET, "/v1/me/items", get(handle_mine)),
        (Method::PUT, "/v1/me/items/{id}/content", upload),
        (Method::GET, "/v1/items/{id}", get(handle_item)),
        (Method::POST, "/v1/items/{id}/purchase", post(handle_purchase)),
        (Method::GET, "/v1/items/{id}/download/{grant}", get(handle_download)),
    ]
}

pub(crate) fn parse_item_id(id: &str) -> Result<ItemId, ApiError> {
    ItemId::parse(id).ok_or_else(|| ApiError::not_found("item"))
}

/// An item as anyone reads it.
pub(crate) fn item_json(item: &ItemRecord) -> ItemJson {
    ItemJson {
        id: item.id.to_string(),
        public_code: item.payee.to_string(),
        title: item.title.clone(),
        description: item.description.clone(),
        price: Money::new(item.price.units(), item.currency),
        category: item.category.clone(),
        delivery: if item.url.is_some() { "url" } else { "stored" }.to_owned(),
        content: item.content.as_ref().map(|c| ContentJson {
            bytes: c.bytes,
            sha256: c.sha256_hex.clone(),
            content_type: c.content_type.clone(),
        }),
        available: item.available(),
        page: format!("/i/{}", item.id),
        created_at: item.created_at.to_rfc3339(),
    }
}

fn envelope(item: &ItemRecord) -> serde_json::Value {
    serde_json::to_value(ItemEnvelopeJson { item: item_json(item) }).expect("an item serializes")
}

/// The tag that makes a receipt id a download grant: HMAC-SHA256 under the broker's key, 128 bits.
fn grant_tag(state: &Broker, receipt_id: &str) -> String {
    let tag = state
        .keys
        .fingerprint(&[b"smartcode-download-grant", receipt_id.as_bytes()]);
    tag[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The path that downloads what the payment `receipt_id` bought of `item`.
pub(crate) fn download_path(state: &Broker, item: &ItemId, receipt_id: &str) -> String {
    format!(
        "/v1/items/{item}/download/{receipt_id}.{}",
        grant_tag(state, receipt_id)
    )
}

/// The receipt id a grant names, if its tag is the broker's.
fn granted_receipt(state: &Broker, grant: &str) -> Option<String> {
    let (receipt_id, tag) = grant.rsplit_once('.')?;
    let expected = grant_tag(state, receipt_id);
    let same =
        expected.len() == tag.len() && expected.bytes().zip(tag.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0;
    same.then(|| receipt_id.to_owned())
}

/// The JSON of an item write's outcome (first answers and replays alike).
pub(super) fn render(state: &Broker, outcome: &items::Outcome) -> serde_json::Value {
    match outcome {
        items::Outcome::Created(item) | items::Outcome::Uploaded(item) => envelope(item),
        items::Outcome::Bought { receipt, item } => serde_json::to_value(BoughtJson {
            receipt: receipt_json(state, receipt),
            download: DownloadJson {
                url: download_path(state, &item.id, &receipt.id),
                expires_at: grant_expires_at(receipt.created_at).to_rfc3339(),
                fetches_left: DOWNLOAD_FETCHES_MAX,
            },
        })
        .expect("a purchase serializes"),
        items::Outcome::Fetched { item, fetches, .. } => serde_json::json!({
            "item": item_json(item),
            "fetches_left": DOWNLOAD_FETCHES_MAX.saturating_sub(*fetches),
        }),
    }
}

/// Makes an item for sale, as the owner of its public code.
pub(crate) async fn create(
    state: &AppState,
    seller: &Holder,
    request: &ItemRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let public_code = super::parse_public(state, &request.public_code)?;
    let price = request.price.parse()?;
    if let Some(url) = &request.url {
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.chars().any(char::is_whitespace) {
            return Err(ApiError::invalid_request(
                "an item's url is an http:// or https:// address without spaces",
            ));
        }
    }
    let item = NewItem {
        public_code,
        title: request.title.clone(),
        description: request.description.clone(),
        price,
        category: request.category.clone(),
        url: request.url.clone(),
    };
    let context = WriteContext {
        holder: Some(seller),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let command = items::Command::Create {
            seller: seller.with(pin),
            item: item.clone(),
        };
        (command, Shown::NONE)
    })
    .await
}

async fn handle_create(
    State(state): State<AppState>,
    seller: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ItemRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    create(&state, &seller, &request, asked).await?.respond(&state)
}

/// The items the holder's code sells, newest first.
pub(crate) async fn mine(state: &AppState, holder: &Holder) -> Result<Vec<ItemRecord>, ApiError> {
    let view = super::tree::me(state, holder).await?;
    super::check_sent_pin(state, holder, &view.record).await?;
    let items::QueryOutcome::Items(items) =
        read(state, Some(&holder.caller), items::Query::Mine { holder: holder.hash }).await?
    else {
        return Err(super::unexpected());
    };
    Ok(items)
}

async fn handle_mine(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let items = mine(&state, &holder).await?;
    let body = ItemsJson {
        items: items.iter().map(item_json).collect(),
    };
    Ok(json_value(
        StatusCode::OK,
        serde_json::to_value(body).expect("items serialize"),
    ))
}

/// Reads an upload's body whole, refused with `content_too_large` past the bound. A body up to
/// twice the bound is read to its end before the refusal, so the client is answered on an open
/// connection instead of one closed under its feet; a longer one is refused unread.
async fn content_of(request: Request) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ProblemCode::ContentTooLarge,
            format!("an item's content may have at most {ITEM_CONTENT_BYTES_MAX} bytes"),
        )
    };
    let read_max = 2 * ITEM_CONTENT_BYTES_MAX;
    let announced = request.headers().get(header::CONTENT_LENGTH);
    if announced
        .and_then(|length| length.to_str().ok()?.trim().parse::<u64>().ok())
        .is_some_and(|length| length > read_max as u64)
    {
        return Err(too_large());
    }
    let limit = std::time::Duration::from_secs(BODY_READ_TIMEOUT_SECONDS);
    let read = tokio::time::timeout(limit, axum::body::to_bytes(request.into_body(), read_max)).await;
    let bytes = read
        .map_err(|_| {
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                ProblemCode::RequestTimeout,
                format!("a request body must arrive within {BODY_READ_TIMEOUT_SECONDS} seconds"),
            )
        })?
        .map_err(|_| too_large())?;
    if bytes.len() > ITEM_CONTENT_BYTES_MAX {
        return Err(too_large());
    }
    Ok(bytes.to_vec())
}

/// The type an upload declares, kept if it is a plain media type, else `application/octet-stream`.
fn content_type_of(headers: &HeaderMap) -> String {
    let declared = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let plain = declared.len() <= 100
        && declared.contains('/')
        && declared
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/.+-_; =".contains(c));
    if plain {
        declared.to_owned()
    } else {
        "application/octet-stream".to_owned()
    }
}

async fn handle_upload(
    State(state): State<AppState>,
    seller: Holder,
    Segment(id): Segment,
    target: Target,
    request: Request,
) -> Result<Response, ApiError> {
    let id = parse_item_id(&id)?;
    let headers = request.headers().clone();
    let content_type = content_type_of(&headers);
    let bytes = content_of(request).await?;
    upload(
        &state,
        &seller,
        &id,
        (content_type, bytes),
        Asked::of(&headers, &target, &[]),
    )
    .await?
    .respond(&state)
}

/// Stores an item's content, as its seller.
pub(crate) async fn upload(
    state: &AppState,
    seller: &Holder,
    id: &ItemId,
    (content_type, bytes): (String, Vec<u8>),
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let context = WriteContext {
        holder: Some(seller),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        let command = items::Command::Upload {
            seller: seller.with(pin),
            id: id.clone(),
            content_type: content_type.clone(),
            bytes: bytes.clone(),
        };
        (command, Shown::NONE)
    })
    .await
}

/// An item, as anyone reads it.
pub(crate) async fn item(state: &AppState, id: &ItemId) -> Result<ItemRecord, ApiError> {
    let items::QueryOutcome::Item(item) = read(state, None, items::Query::Item { id: id.clone() }).await? else {
        return Err(super::unexpected());
    };
    Ok(item)
}

/// The items a public code sells, newest first.
pub(crate) async fn of_public(
    state: &AppState,
    payee: smartcode_core::code::PublicCode,
) -> Result<Vec<ItemRecord>, ApiError> {
    let items::QueryOutcome::Items(items) = read(state, None, items::Query::OfPublic { payee }).await? else {
        return Err(super::unexpected());
    };
    Ok(items)
}

async fn handle_item(State(state): State<AppState>, Segment(id): Segment) -> Result<Response, ApiError> {
    let item = item(&state, &parse_item_id(&id)?).await?;
    Ok(json_value(StatusCode::OK, envelope(&item)))
}

/// Buys an item with the buyer's code (`buyer` as presented, with its PIN): a payment with a
/// receipt, signed, and the purchase's download grant.
pub(crate) async fn purchase(
    state: &AppState,
    buyer: &Holder,
    id: &ItemId,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let context = WriteContext {
        holder: Some(buyer),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let command = items::Command::Buy {
            payer: buyer.with(pin),
            id: id.clone(),
        };
        (command, Shown::NONE)
    })
    .await?
    .signed(state)
    .await
}

/// The buyer a purchase's body names: its code, and its PIN from the body or `Smartcode-Pin`.
pub(crate) async fn buyer(
    state: &AppState,
    caller: Caller,
    request: &ItemPurchaseRequest,
    headers: &HeaderMap,
) -> Result<Holder, ApiError> {
    let mut buyer = state.holder(caller, &request.code, headers).await?;
    if let Some(pin) = &request.pin {
        let parsed = Pin::parse(pin).ok_or_else(|| ApiError::invalid_request("a PIN is 4 to 12 digits"))?;
        buyer.pin = Some(parsed);
    }
    if buyer.authorization {
        return Err(ApiError::invalid_request(
            "an authorization code pays POST /v1/payments only; buy with a secret code",
        ));
    }
    Ok(buyer)
}

async fn handle_purchase(
    State(state): State<AppState>,
    caller: Caller,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ItemPurchaseRequest = body.json()?;
    let id = parse_item_id(&id)?;
    let asked = Asked::of(&headers, &target, &body.0);
    let buyer = buyer(&state, caller, &request, &headers).await?;
    purchase(&state, &buyer, &id, asked).await?.respond(&state)
}

async fn handle_download(
    State(state): State<AppState>,
    Path((id, grant)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = parse_item_id(&id)?;
    let receipt_id = granted_receipt(&state, &grant).ok_or_else(|| ApiError::not_found("download"))?;
    let command = items::Command::Fetch { receipt_id, id };
    let written = answer(state.store.write(WriteRequest::new(command))).await?;
    let Written::Done(smartcode_core::ledger::Outcome::Items(items::Outcome::Fetched {
        item,
        receipt,
        fetches,
        bytes,
    })) = written
    else {
        return Err(super::unexpected());
    };
    let left = DOWNLOAD_FETCHES_MAX.saturating_sub(fetches);
    match bytes {
        Some(bytes) => Ok(content_response(&item, bytes, left)),
        None => super::item_tokens::redirect(&state, &item, &receipt.id, left),
    }
}

/// The stored bytes, as an attachment the browser saves and never renders.
fn content_response(item: &ItemRecord, bytes: Vec<u8>, fetches_left: u32) -> Response {
    let content_type = item
        .content
        .as_ref()
        .map_or("application/octet-stream", |c| c.content_type.as_str());
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    let typed = HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    headers.insert(header::CONTENT_TYPE, typed);
    let disposition = format!("attachment; filename=\"{}\"", item.id);
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).expect("an item id is a header value"),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    headers.insert(
        "smartcode-fetches-left",
        HeaderValue::from_str(&fetches_left.to_string()).expect("a number is a header value"),
    );
    response
}

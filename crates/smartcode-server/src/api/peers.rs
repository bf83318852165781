//! Peers, for the operator: `GET|POST /v1/admin/peers`, `GET|DELETE /v1/admin/peers/{name}`,
//! `POST /v1/admin/peers/{name}/suspend|resume`. Adding a peer reads its `/.well-known/smartcode`
//! (one GET, no redirects, at most [`PEER_METADATA_BYTES_MAX`] bytes within [`PEER_FETCH_SECONDS`])
//! and pins the signing key it publishes, or refuses if the operator gave another. The rules are
//! the core's, in `ledger::peers`.

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, post};
use smartcode_core::clock::Timestamp;
use smartcode_core::ledger::peers;
use smartcode_core::limits::*;
use smartcode_core::model::{PeerRecord, PeerStatus};
use smartcode_core::numeric::BrokerNumber;

use super::{json_value, read, submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Operator, Segment, Target};
use crate::problem::{ApiError, ProblemCode};
use crate::wire::*;
use crate::AppState;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::GET, "/v1/admin/peers", get(handle_list)),
        (Method::POST, "/v1/admin/peers", post(handle_add)),
        (Method::GET, "/v1/admin/peers/{name}", get(handle_one)),
        (Method::DELETE, "/v1/admin/peers/{name}", delete(handle_remove)),
        (
            Method::POST,
            "/v1/admin/peers/{name}/suspend",
            post(handle_status::<true>),
        ),
        (
            Method::POST,
            "/v1/admin/peers/{name}/resume",
            post(handle_status::<false>),
        ),
        (Method::POST, "/v1/admin/peers/{name}/show", post(handle_listed::<true>)),
        (
            Method::POST,
            "/v1/admin/peers/{name}/hide",
            post(handle_listed::<false>),
        ),
        (Method::GET, "/v1/admin/peers/{name}/position", get(handle_position)),
        (Method::POST, "/v1/admin/peers/{name}/settlements", post(handle_settle)),
    ]
}

/// What the broker reads of a peer's metadata.
struct Metadata {
    title: String,
    domain: String,
    broker_number: String,
    signing_key: [u8; 32],
}

fn unreachable(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ProblemCode::PeerUnreachable, detail)
}

fn bad_metadata(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, ProblemCode::PeerMetadataInvalid, detail)
}

/// A peer's name, as the operator gives it or its domain gives it: letters, digits, `.` and `-`.
fn peer_name(text: &str) -> Result<String, ApiError> {
    let name = text.trim().to_ascii_lowercase();
    let fits = (1..=PEER_NAME_CHARS_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !fits {
        return Err(ApiError::invalid_request(format!(
            "a peer's name is 1 to {PEER_NAME_CHARS_MAX} letters, digits, dots and hyphens"
        )));
    }
    Ok(name)
}

/// The peer's base URL: `http` or `https`, a host, no query or fragment; without a trailing `/`.
fn peer_url(text: &str) -> Result<String, ApiError> {
    let refuse = || ApiError::invalid_request("url is the peer's base URL: http(s)://host[:port][/path]");
    if text.chars().count() > PEER_URL_CHARS_MAX {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::LimitExceeded,
            format!("url is longer than {PEER_URL_CHARS_MAX} characters"),
        ));
    }
    let url = reqwest::Url::parse(text.trim()).map_err(|_| refuse())?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.is_empty())
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none();
    if !plain {
        return Err(refuse());
    }
    // Charges carry the buyer's code and PIN: to another machine, only over TLS.
    let host = url.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if url.scheme() == "http" && !loopback {
        return Err(ApiError::invalid_request(
            "a peer on another machine is reached over https: charges carry buyers' codes",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// 32 bytes of hex; `usable` also asks for a point of Ed25519 (what a peer publishes must be; what
/// an operator gives need only be compared with it).
fn signing_key(text: &str, usable: bool) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.trim()).ok()?;
    let key = <[u8; 32]>::try_from(bytes).ok()?;
    (!usable || ed25519_dalek::VerifyingKey::from_bytes(&key).is_ok()).then_some(key)
}

fn credit_limits(request: &PeerRequest) -> Result<Vec<(smartcode_core::money::Currency, i64)>, ApiError> {
    let asked = request.credit_limits.as_deref().unwrap_or_default();
    if asked.len() > PEER_CREDIT_LIMITS_MAX {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::LimitExceeded,
            format!("a peer has at most {PEER_CREDIT_LIMITS_MAX} credit limits"),
        ));
    }
    let mut limits = Vec::with_capacity(asked.len());
    for limit in asked {
        let currency = parse_currency(&limit.currency)?;
        let units = limit.amount.parse()?.units();
        // A currency named twice keeps the last.
        limits.retain(|(other, _)| *other != currency);
        limits.push((currency, units));
    }
    Ok(limits)
}

/// Reads the peer's `/.well-known/smartcode`, bounded in time and size, following no redirect.
async fn fetch_metadata(url: &str) -> Result<Metadata, ApiError> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(PEER_FETCH_SECONDS))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| unreachable(format!("no HTTP client: {e}")))?;
    let target = format!("{url}/.well-known/smartcode");
    let mut response = client
        .get(&target)
        .send()
        .await
        .map_err(|_| unreachable(format!("{target} did not answer within {PEER_FETCH_SECONDS} s")))?;
    if response.status() != reqwest::StatusCode::OK {
        return Err(bad_metadata(format!("{target} answered {}", response.status())));
    }
    let mut body = Vec::new();
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|_| unreachable(format!("{target} stopped answering")))?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > PEER_METADATA_BYTES_MAX {
            return Err(bad_metadata(format!(
                "{target} is larger than {PEER_METADATA_BYTES_MAX} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let value: serde_json::Value =
        serde_json::from_slice(&body).map_err(|_| bad_metadata(format!("{target} is not JSON")))?;
    let text = |field: &str| value[field].as_str().map(str::to_owned);
    let domain = text("domain")
        .filter(|d| {
            (1..=253).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        })
        .ok_or_else(|| bad_metadata("its metadata names no domain"))?;
    let broker_number = text("broker_number")
        .filter(|n| BrokerNumber::parse(n).is_some())
        .ok_or_else(|| bad_metadata("its metadata names no broker number"))?;
    let signing_key = value["federation"]["signing_key"]
        .as_str()
        .and_then(|text| signing_key(text, true))
        .ok_or_else(|| bad_metadata("its metadata gives no Ed25519 federation.signing_key"))?;
    let title: String = text("name")
        .unwrap_or_default()
        .chars()
        .take(PEER_TITLE_CHARS_MAX)
        .collect();
    Ok(Metadata {
        title,
        domain: domain.to_ascii_lowercase(),
        broker_number,
        signing_key,
    })
}

async fn handle_add(
    State(state): State<AppState>,
    operator: Operator,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: PeerRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    add(&state, operator, &request, asked).await?.respond(&state)
}

/// Adds the broker at `request.url` as a peer, with the key it publishes pinned.
pub(crate) async fn add(
    state: &AppState,
    _: Operator,
    request: &PeerRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let url = peer_url(&request.url)?;
    let name = request.name.as_deref().map(peer_name).transpose()?;
    let credit_limits = credit_limits(request)?;
    let pinned = match request.key.as_deref() {
        Some(text) => Some(
            signing_key(text, false)
                .ok_or_else(|| ApiError::invalid_request("key is the peer's Ed25519 signing key: 64 hex digits"))?,
        ),
        None => None,
    };
    let metadata = fetch_metadata(&url).await?;
    if pinned.is_some_and(|key| key != metadata.signing_key) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::PeerKeyMismatch,
            format!(
                "{url} publishes the key with fingerprint {}, not the one given",
                smartcode_core::model::key_fingerprint(&metadata.signing_key)
            ),
        ));
    }
    let itself = metadata.domain.eq_ignore_ascii_case(&state.config.domain)
        || metadata.broker_number == state.config.broker_number.as_str()
        || metadata.signing_key == state.keys.federation_key().to_bytes();
    if itself {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::Conflict,
            "that broker has this broker's domain, broker number or key: it cannot be its own peer",
        ));
    }
    let name = match name {
        Some(name) => name,
        None => peer_name(&metadata.domain)?,
    };
    let peer = PeerRecord {
        name,
        url,
        title: metadata.title,
        domain: metadata.domain,
        broker_number: metadata.broker_number,
        signing_key: metadata.signing_key,
        credit_limits,
        status: PeerStatus::Active,
        listed: request.listed.unwrap_or(false),
        added_at: Timestamp(0),
        changed_at: Timestamp(0),
    };
    let context = WriteContext { holder: None, asked };
    let reply = submit(state, context, StatusCode::CREATED, |_| {
        (peers::Command::Add(Box::new(peer.clone())), Shown::NONE)
    })
    .await;
    state.federation_batches.forget_peers();
    reply
}

async fn handle_list(State(state): State<AppState>, _: Operator) -> Result<Response, ApiError> {
    let peers::QueryOutcome::List(list) = read(&state, None, peers::Query::List).await? else {
        return Err(super::unexpected());
    };
    let peers = PeersJson {
        peers: list.iter().map(PeerJson::from).collect(),
    };
    Ok(json_value(StatusCode::OK, serde_json::json!(peers)))
}

async fn handle_one(State(state): State<AppState>, _: Operator, Segment(name): Segment) -> Result<Response, ApiError> {
    let peers::QueryOutcome::One(peer) = read(&state, None, peers::Query::One { name }).await? else {
        return Err(super::unexpected());
    };
    Ok(json_value(StatusCode::OK, serde_json::json!(PeerJson::from(&*peer))))
}

async fn handle_position(
    State(state): State<AppState>,
    _: Operator,
    Segment(name): Segment,
) -> Result<Response, ApiError> {
    let query = peers::Query::Position { name: name.clone() };
    let peers::QueryOutcome::Position(balances) = read(&state, None, query).await? else {
        return Err(super::unexpected());
    };
    Ok(json_value(
        StatusCode::OK,
        serde_json::json!(PositionJson::of(&name, &balances)),
    ))
}

async fn handle_settle(
    State(state): State<AppState>,
    _: Operator,
    Segment(name): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: SettlementRequest = body.json()?;
    let direction = match request.direction.as_str() {
        "received" => peers::Direction::Received,
        "paid" => peers::Direction::Paid,
        _ => return Err(ApiError::invalid_request("direction is received or paid")),
    };
    let command = peers::Command::Settle {
        name,
        amount: request.amount.parse()?,
        currency: parse_currency(&request.currency)?,
        direction,
        reference: request.reference.clone(),
    };
    write(state, (target, headers, body), StatusCode::CREATED, command).await
}

/// Submits the operator's `command`, answered with `status`.
async fn write(
    state: AppState,
    (target, headers, body): (Target, HeaderMap, Body),
    status: StatusCode,
    command: peers::Command,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    let context = WriteContext { holder: None, asked };
    let reply = submit(&state, context, status, |_| (command.clone(), Shown::NONE)).await;
    state.federation_batches.forget_peers();
    reply?.respond(&state)
}

async fn handle_remove(
    State(state): State<AppState>,
    _: Operator,
    Segment(name): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    write(
        state,
        (target, headers, body),
        StatusCode::OK,
        peers::Command::Remove { name },
    )
    .await
}

/// Suspends (`SUSPEND`) or resumes the peer.
async fn handle_status<const SUSPEND: bool>(
    State(state): State<AppState>,
    _: Operator,
    Segment(name): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let status = if SUSPEND {
        PeerStatus::Suspended
    } else {
        PeerStatus::Active
    };
    let command = peers::Command::SetStatus { name, status };
    write(state, (target, headers, body), StatusCode::OK, command).await
}

/// Shows (`LISTED`) the peer on this broker's page and in its metadata, or stops showing it.
async fn handle_listed<const LISTED: bool>(
    State(state): State<AppState>,
    _: Operator,
    Segment(name): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let command = peers::Command::SetListed { name, listed: LISTED };
    write(state, (target, headers, body), StatusCode::OK, command).await
}

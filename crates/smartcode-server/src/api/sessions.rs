//! Metered sessions (zero-click buying, "up to ten cents a minute"): a purchase of an offer priced
//! per minute opens one ([`super::purchases`]); its seller charges it as use accrues
//! (`POST /v1/sessions/{id}/charge`, with the code that owns its payee) and reads it
//! (`GET /v1/sessions/{id}`); its buyer lists its sessions (`GET /v1/me/sessions`) and closes one
//! (`POST /v1/me/sessions/{id}/close`). The rules are the core's, in `ledger::sessions`.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use smartcode_api::{ChargeRequest, ChargedJson, Money, SessionEnvelopeJson, SessionJson, SessionsJson};
use smartcode_core::code::SessionId;
use smartcode_core::ledger::sessions;
use smartcode_core::session::{SessionRecord, SessionState};

use super::render::receipt_json;
use super::{json_value, read, submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Holder, Segment, Target};
use crate::problem::ApiError;
use crate::wire::*;
use crate::{AppState, Broker};

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::GET, "/v1/me/sessions", get(handle_sessions)),
        (Method::POST, "/v1/me/sessions/{id}/close", post(handle_close)),
        (Method::GET, "/v1/sessions/{id}", get(handle_session)),
        (Method::POST, "/v1/sessions/{id}/charge", post(handle_charge)),
    ]
}

fn parse_session_id(id: &str) -> Result<SessionId, ApiError> {
    SessionId::parse(id).ok_or_else(|| ApiError::not_found("session"))
}

/// A session as its buyer and its seller see it, in the state it is in now.
pub(crate) fn session_json(session: &SessionRecord, state: SessionState) -> SessionJson {
    let offer = &session.offer;
    let money = |units: i64| Money::new(units, offer.currency);
    SessionJson {
        id: session.id.to_string(),
        offer_id: offer.offer_id.clone(),
        payee: offer.payee.to_string(),
        price_per_minute: money(offer.price.units()),
        cap: money(session.cap.units()),
        charged: money(session.charged_units),
        charges: session.charges,
        state: state.as_str().to_owned(),
        closed_reason: state.reason().map(|r| r.as_str().to_owned()),
        opened_at: session.opened_at.to_rfc3339(),
        expires_at: session.expires_at().to_rfc3339(),
        closed_at: session.closed_at.map(|t| t.to_rfc3339()),
    }
}

fn view_json(view: &sessions::SessionView) -> SessionJson {
    session_json(&view.record, view.state)
}

/// Reads `query` for `holder` (the buyer, or the seller), once its PIN, if it has one, is checked.
async fn read_for(
    state: &AppState,
    holder: &Holder,
    query: sessions::Query,
) -> Result<sessions::QueryOutcome, ApiError> {
    let view = super::tree::me(state, holder).await?;
    super::check_sent_pin(state, holder, &view.record).await?;
    read(state, Some(&holder.caller), query).await
}

/// The holder's sessions as a buyer, open ones first.
pub(crate) async fn sessions(state: &AppState, holder: &Holder) -> Result<Vec<SessionJson>, ApiError> {
    let query = sessions::Query::Sessions { holder: holder.hash };
    let sessions::QueryOutcome::Sessions(listed) = read_for(state, holder, query).await? else {
        return Err(super::unexpected());
    };
    Ok(listed.iter().map(view_json).collect())
}

async fn handle_sessions(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let body = SessionsJson {
        sessions: sessions(&state, &holder).await?,
    };
    Ok(json_value(
        StatusCode::OK,
        serde_json::to_value(body).expect("sessions serialize"),
    ))
}

async fn handle_session(
    State(state): State<AppState>,
    seller: Holder,
    Segment(id): Segment,
) -> Result<Response, ApiError> {
    let id = parse_session_id(&id)?;
    let query = sessions::Query::Session {
        seller: seller.hash,
        id,
    };
    let sessions::QueryOutcome::Session(session) = read_for(&state, &seller, query).await? else {
        return Err(super::unexpected());
    };
    let body = SessionEnvelopeJson {
        session: view_json(&session),
    };
    Ok(json_value(
        StatusCode::OK,
        serde_json::to_value(body).expect("a session serializes"),
    ))
}

async fn handle_charge(
    State(state): State<AppState>,
    seller: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ChargeRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    charge(&state, &seller, &id, &request, asked).await?.respond(&state)
}

/// The seller charges what the session's use has accrued: a payment, answered with its signed
/// receipt and the session as it now stands.
pub(crate) async fn charge(
    state: &AppState,
    seller: &Holder,
    id: &str,
    request: &ChargeRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let id = parse_session_id(id)?;
    let amount = request.amount.parse()?;
    let context = WriteContext {
        holder: Some(seller),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let command = sessions::Command::Charge {
            seller: seller.with(pin),
            id: id.clone(),
            amount,
        };
        (command, Shown::NONE)
    })
    .await?
    .signed(state)
    .await
}

async fn handle_close(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    close(&state, &holder, &id, asked).await?.respond(&state)
}

/// The buyer (or a code above it) closes a session: no charge is taken after it.
pub(crate) async fn close(state: &AppState, holder: &Holder, id: &str, asked: Asked<'_>) -> Result<Reply, ApiError> {
    let id = parse_session_id(id)?;
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        let command = sessions::Command::Close {
            holder: holder.with(pin),
            id: id.clone(),
        };
        (command, Shown::NONE)
    })
    .await
}

/// The JSON of a charge's or a close's outcome (a charge's receipt unsigned: `Reply::signed`).
pub(super) fn render(state: &Broker, outcome: &sessions::Outcome) -> serde_json::Value {
    let value = match outcome {
        sessions::Outcome::Charged { session, receipt } => serde_json::to_value(ChargedJson {
            receipt: receipt_json(state, receipt),
            session: view_json(session),
        }),
        sessions::Outcome::Closed(session) => serde_json::to_value(SessionEnvelopeJson {
            session: view_json(session),
        }),
    };
    value.expect("a session's answer serializes")
}

//! Assurance codes: the holder makes one with a floor (`/v1/me/assurances`), a seller presents it
//! for a signed certificate (`POST /v1/assurances/certify`), and payments presented with the code
//! and the certificate (`POST /v1/payments`, sent here by [`super::payments::pay`]) are never
//! refused for lack of funds up to the floor. The guarantee is kept in the core
//! ([`smartcode_core::ledger::assurances`]): a certificate is a hold of the floor.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use smartcode_core::code::{AssuranceCode, AssuranceId, HoldId};
use smartcode_core::ledger::assurances;
use smartcode_core::ledger::payments::PaymentOrder;
use smartcode_core::ledger::PinPresented;
use smartcode_core::limits::ASSURANCE_SECONDS_DEFAULT;
use smartcode_core::model::{AssuranceRecord, HoldRecord};

use super::{json_value, read, submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Caller, Holder, Segment, Target};
use crate::problem::ApiError;
use crate::wire::*;
use crate::{AppState, Broker};

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/me/assurances", post(handle_create)),
        (Method::GET, "/v1/me/assurances", get(handle_list)),
        (Method::POST, "/v1/me/assurances/{id}/cancel", post(handle_cancel)),
        (Method::POST, "/v1/assurances/certify", post(handle_certify)),
    ]
}

/// An assurance as its holder sees it, as of now.
pub(crate) fn assurance_json(state: &Broker, a: &AssuranceRecord) -> AssuranceJson {
    AssuranceJson {
        id: a.id.to_string(),
        assurance_code: None,
        floor: Money::new(a.floor.units(), a.currency),
        status: a.status_at(state.clock.now()).to_owned(),
        expires_at: a.expires_at.to_rfc3339(),
        created_at: a.created_at.to_rfc3339(),
        cancelled_at: a.cancelled_at.map(|t| t.to_rfc3339()),
    }
}

/// A certificate, signed with the broker's key: for a seller of a peer's (named `P-… at` that
/// broker), with the federation key the peer pinned, so the peer and its seller both check it.
pub(crate) fn certificate_json(state: &Broker, hold: &HoldRecord, assurance: &AssuranceRecord) -> CertificateJson {
    let mut certificate = CertificateJson {
        version: String::new(),
        id: hold.id.to_string(),
        assurance_id: assurance.id.to_string(),
        code_id: assurance.code_id.to_string(),
        floor: Money::new(hold.amount.units(), hold.currency),
        currency: hold.currency.to_string(),
        broker: state.config.domain.clone(),
        payee: match &hold.payee {
            Some(payee) => payee.payee.to_string(),
            None => hold.memo.clone().unwrap_or_default(),
        },
        issued_at: hold.created_at.to_rfc3339(),
        valid_until: hold.expires_at.to_rfc3339(),
        signature: String::new(),
    };
    match hold.payee {
        Some(_) => smartcode_receipt::sign_certificate(&state.keys.receipt_signing_key(), &mut certificate),
        None => smartcode_receipt::sign_certificate(state.keys.federation_signing_key(), &mut certificate),
    }
    certificate
}

async fn handle_create(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: AssuranceRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    create(&state, &holder, &request, asked).await?.respond(&state)
}

/// Makes an assurance code on the holder's code: shown once, in the answer.
pub(crate) async fn create(
    state: &AppState,
    holder: &Holder,
    request: &AssuranceRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let floor = request.floor.parse()?;
    let expires_in_seconds = request.expires_in_seconds.unwrap_or(ASSURANCE_SECONDS_DEFAULT);
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let code = AssuranceCode::generate();
        let command = assurances::Command::Create {
            holder: holder.with(pin),
            hash: state.keys.hash_assurance(&code),
            floor,
            expires_in_seconds,
        };
        (command, Shown::assurance(code))
    })
    .await
}

async fn handle_list(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let shown = AssurancesJson {
        assurances: list(&state, &holder).await?,
    };
    Ok(json_value(
        StatusCode::OK,
        serde_json::to_value(shown).expect("assurances serialize"),
    ))
}

/// The assurances the holder's code made, newest first, as it sees them.
pub(crate) async fn list(state: &AppState, holder: &Holder) -> Result<Vec<AssuranceJson>, ApiError> {
    let assurances::QueryOutcome::List(made) = read(
        state,
        Some(&holder.caller),
        assurances::Query::List { holder: holder.hash },
    )
    .await?;
    Ok(made.iter().map(|a| assurance_json(state, a)).collect())
}

async fn handle_cancel(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    cancel(&state, &holder, &id, asked).await?.respond(&state)
}

/// Revokes an assurance of the holder's code: no new certificates.
pub(crate) async fn cancel(state: &AppState, holder: &Holder, id: &str, asked: Asked<'_>) -> Result<Reply, ApiError> {
    let id = AssuranceId::parse(id).ok_or_else(|| ApiError::not_found("assurance"))?;
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        let command = assurances::Command::Cancel {
            holder: holder.with(pin),
            id: id.clone(),
        };
        (command, Shown::NONE)
    })
    .await
}

async fn handle_certify(
    State(state): State<AppState>,
    caller: Caller,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: CertifyRequest = body.json()?;
    // An assurance code of a peer's is certified there, for a seller here.
    if let Some(elsewhere) = super::federation::peer_for_code(&state, &request.assurance_code).await? {
        let certificate = super::federation::certify_elsewhere(&state, caller, elsewhere, &request.payee).await?;
        return Ok(super::json_value(
            StatusCode::OK,
            serde_json::json!({ "certificate": certificate }),
        ));
    }
    let presenter = state.assurance_presenter(caller, &request.assurance_code).await?;
    let payee = super::aliases::payee(&state, &request.payee).await?;
    let asked = Asked::of(&headers, &target, &body.0);
    let context = WriteContext {
        holder: Some(&presenter),
        asked,
    };
    submit(&state, context, StatusCode::OK, |_| {
        let command = assurances::Command::Certify {
            assurance: presenter.hash,
            payee: payee.clone(),
        };
        (command, Shown::NONE)
    })
    .await?
    .respond(&state)
}

/// A payment under a certificate (`presenter` presented the assurance code).
pub(super) async fn pay(
    state: &AppState,
    presenter: &Holder,
    certificate: &str,
    mut order: PaymentOrder,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let certificate = HoldId::parse(certificate).ok_or_else(|| ApiError::not_found("certificate"))?;
    order.payer = presenter.with(PinPresented::Absent);
    let context = WriteContext {
        holder: Some(presenter),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |_| {
        let command = assurances::Command::Pay {
            order: order.clone(),
            certificate: certificate.clone(),
        };
        (command, Shown::NONE)
    })
    .await?
    .signed(state)
    .await
}

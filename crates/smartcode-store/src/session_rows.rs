//! A metered session (`smartcode_core::session`) as both stores keep it: the columns it is read
//! and raced by (who opened it, who charges it, its state, what it charged, its times) and one
//! JSON text for the rest (the offer, the cap, the consent), which nothing searches.

use serde::{Deserialize, Serialize};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{ApprovalId, CodeId, SessionId};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::money::Amount;
use smartcode_core::session::{CloseReason, SessionRecord, SessionState};

use crate::approval_rows::OfferBody;

/// The columns of `sessions`, in this order everywhere.
pub const SESSION_COLUMNS: &str = "id, code_id, owner_id, state, charged, opened_at, expires_at, body";

/// One row of `sessions`.
pub struct SessionRow {
    pub id: String,
    pub code_id: String,
    pub owner_id: String,
    /// `open` or `closed`.
    pub state: String,
    pub charged: i64,
    pub opened_at: i64,
    pub expires_at: i64,
    pub body: String,
}

#[derive(Serialize, Deserialize)]
struct Body {
    #[serde(flatten)]
    offer: OfferBody,
    cap: i64,
    charges: u32,
    approved_at_depth: Option<u32>,
    closed_reason: Option<String>,
    closed_at: Option<i64>,
    approval_id: Option<String>,
}

fn corrupt() -> StorageFailure {
    StorageFailure("unreadable stored session".to_owned())
}

impl SessionRow {
    pub fn from_record(session: &SessionRecord) -> SessionRow {
        let body = Body {
            offer: OfferBody::of(&session.offer),
            cap: session.cap.units(),
            charges: session.charges,
            approved_at_depth: session.approved_at_depth,
            closed_reason: session.state.reason().map(|r| r.as_str().to_owned()),
            closed_at: session.closed_at.map(|t| t.0),
            approval_id: session.approval_id.as_ref().map(ToString::to_string),
        };
        SessionRow {
            id: session.id.to_string(),
            code_id: session.code_id.to_string(),
            owner_id: session.owner_id.to_string(),
            state: session.state.as_str().to_owned(),
            charged: session.charged_units,
            opened_at: session.opened_at.0,
            expires_at: session.offer.expires_at.0,
            body: serde_json::to_string(&body).expect("a session's body serializes"),
        }
    }

    pub fn into_record(self) -> StoreResult<SessionRecord> {
        let body: Body = serde_json::from_str(&self.body).map_err(|_| corrupt())?;
        let state = match (self.state.as_str(), body.closed_reason.as_deref()) {
            ("open", None) => SessionState::Open,
            ("closed", Some(reason)) => SessionState::Closed(CloseReason::parse(reason).ok_or_else(corrupt)?),
            _ => return Err(corrupt()),
        };
        Ok(SessionRecord {
            id: SessionId::parse(&self.id).ok_or_else(corrupt)?,
            code_id: CodeId::parse(&self.code_id).ok_or_else(corrupt)?,
            owner_id: CodeId::parse(&self.owner_id).ok_or_else(corrupt)?,
            offer: body.offer.into_terms(self.expires_at)?,
            cap: Amount::from_units(body.cap).map_err(|_| corrupt())?,
            charged_units: self.charged,
            charges: body.charges,
            approved_at_depth: body.approved_at_depth,
            state,
            opened_at: Timestamp(self.opened_at),
            closed_at: body.closed_at.map(Timestamp),
            approval_id: body
                .approval_id
                .map(|id| ApprovalId::parse(&id).ok_or_else(corrupt))
                .transpose()?,
        })
    }
}

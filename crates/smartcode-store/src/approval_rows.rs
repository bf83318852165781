//! A queued purchase (`smartcode_core::approval`) as both stores keep it: the columns a queue is
//! read by (who made it, who stopped it, its state and times) and one JSON text for the rest (the
//! offer and what the holder did with it), which nothing searches.

use serde::{Deserialize, Serialize};
use smartcode_core::approval::{ApprovalRecord, ApprovalState, OfferTerms};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{ApprovalId, CodeId, PublicCode};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::money::{Amount, Currency};

/// The columns of `approvals`, in this order everywhere.
pub const APPROVAL_COLUMNS: &str = "id, code_id, stopped_by, state, created_at, expires_at, body";

/// One row of `approvals`.
pub struct ApprovalRow {
    pub id: String,
    pub code_id: String,
    pub stopped_by: String,
    pub state: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub body: String,
}

#[derive(Serialize, Deserialize)]
struct Body {
    offer_id: String,
    payee: String,
    price: i64,
    currency: String,
    category: Option<String>,
    item: Option<String>,
    offer_json: String,
    fingerprint: String,
    counter: Option<i64>,
    rule: Option<String>,
    why: String,
    resolved_at: Option<i64>,
    receipt_id: Option<String>,
}

fn corrupt() -> StorageFailure {
    StorageFailure("unreadable stored approval".to_owned())
}

impl ApprovalRow {
    pub fn from_record(approval: &ApprovalRecord) -> ApprovalRow {
        let offer = &approval.offer;
        let body = Body {
            offer_id: offer.offer_id.clone(),
            payee: offer.payee.as_stored().to_owned(),
            price: offer.price.units(),
            currency: offer.currency.to_string(),
            category: offer.category.clone(),
            item: offer.item.clone(),
            offer_json: offer.json.clone(),
            fingerprint: offer.fingerprint.clone(),
            counter: approval.counter.map(Amount::units),
            rule: approval.rule.clone(),
            why: approval.why.clone(),
            resolved_at: approval.resolved_at.map(|t| t.0),
            receipt_id: approval.receipt_id.clone(),
        };
        ApprovalRow {
            id: approval.id.to_string(),
            code_id: approval.code_id.to_string(),
            stopped_by: approval.stopped_by.to_string(),
            state: approval.state.as_str().to_owned(),
            created_at: approval.created_at.0,
            expires_at: offer.expires_at.0,
            body: serde_json::to_string(&body).expect("an approval's body serializes"),
        }
    }

    pub fn into_record(self) -> StoreResult<ApprovalRecord> {
        let body: Body = serde_json::from_str(&self.body).map_err(|_| corrupt())?;
        let amount = |units: i64| Amount::from_units(units).map_err(|_| corrupt());
        let offer = OfferTerms {
            offer_id: body.offer_id,
            payee: PublicCode::from_stored(&body.payee).ok_or_else(corrupt)?,
            price: amount(body.price)?,
            currency: Currency::parse(&body.currency).map_err(|_| corrupt())?,
            category: body.category,
            item: body.item,
            expires_at: Timestamp(self.expires_at),
            json: body.offer_json,
            fingerprint: body.fingerprint,
        };
        Ok(ApprovalRecord {
            id: ApprovalId::parse(&self.id).ok_or_else(corrupt)?,
            code_id: CodeId::parse(&self.code_id).ok_or_else(corrupt)?,
            stopped_by: CodeId::parse(&self.stopped_by).ok_or_else(corrupt)?,
            offer,
            counter: body.counter.map(amount).transpose()?,
            rule: body.rule,
            why: body.why,
            state: ApprovalState::parse(&self.state).ok_or_else(corrupt)?,
            created_at: Timestamp(self.created_at),
            resolved_at: body.resolved_at.map(Timestamp),
            receipt_id: body.receipt_id,
        })
    }
}

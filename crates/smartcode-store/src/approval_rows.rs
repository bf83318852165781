//! A queued purchase (`smartcode_core::approval`) as both stores keep it: the columns a queue is
//! read by (who made it, who stopped it, its state and times) and one JSON text for the rest (the
//! offer and what the holder did with it), which nothing searches.

use serde::{Deserialize, Serialize};
use smartcode_core::approval::{ApprovalRecord, ApprovalState, OfferTerms, OfferUnit};
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

/// An offer's terms as a row's JSON keeps them (an approval's, a session's); its expiry is a
/// column of the row.
#[derive(Serialize, Deserialize)]
pub struct OfferBody {
    offer_id: String,
    payee: String,
    price: i64,
    currency: String,
    /// Absent in rows written before metered sessions: `item`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    category: Option<String>,
    item: Option<String>,
    offer_json: String,
    fingerprint: String,
}

impl OfferBody {
    pub fn of(offer: &OfferTerms) -> OfferBody {
        OfferBody {
            offer_id: offer.offer_id.clone(),
            payee: offer.payee.as_stored().to_owned(),
            price: offer.price.units(),
            currency: offer.currency.to_string(),
            unit: (offer.unit != OfferUnit::Item).then(|| offer.unit.as_str().to_owned()),
            category: offer.category.clone(),
            item: offer.item.clone(),
            offer_json: offer.json.clone(),
            fingerprint: offer.fingerprint.clone(),
        }
    }

    pub fn into_terms(self, expires_at: i64) -> StoreResult<OfferTerms> {
        let corrupt = || StorageFailure("unreadable stored offer".to_owned());
        Ok(OfferTerms {
            offer_id: self.offer_id,
            payee: PublicCode::from_stored(&self.payee).ok_or_else(corrupt)?,
            price: Amount::from_units(self.price).map_err(|_| corrupt())?,
            currency: Currency::parse(&self.currency).map_err(|_| corrupt())?,
            unit: match self.unit {
                None => OfferUnit::Item,
                Some(unit) => OfferUnit::parse(&unit).ok_or_else(corrupt)?,
            },
            category: self.category,
            item: self.item,
            expires_at: Timestamp(expires_at),
            json: self.offer_json,
            fingerprint: self.fingerprint,
        })
    }
}

#[derive(Serialize, Deserialize)]
struct Body {
    #[serde(flatten)]
    offer: OfferBody,
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
            offer: OfferBody::of(offer),
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
        let offer = body.offer.into_terms(self.expires_at)?;
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

//! A charge's columns in both schemas ([`ChargeColumns`]), as [`crate::rows`] has them for codes:
//! plain values each store fills from, and binds to, its own SQL types.

use smartcode_core::clock::Timestamp;
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::model::{ChargeRecord, ChargeSide, ChargeState};
use smartcode_core::money::{Amount, Currency};

/// A charge's columns, in the order both stores select and insert them.
pub const CHARGE_COLUMNS: &str = "side, peer, id, state, amount, currency, payee, code_id, transfer_id, \
                                  fingerprint, approval, deadline, created_at, changed_at, memo, hold_id, \
                                  expires_at, quote_id";

pub struct ChargeColumns {
    pub side: String,
    pub peer: String,
    pub id: String,
    pub state: String,
    pub amount: i64,
    pub currency: String,
    pub payee: String,
    pub code_id: Option<String>,
    pub transfer_id: Option<String>,
    pub fingerprint: Option<Vec<u8>>,
    pub approval: Option<String>,
    pub deadline: i64,
    pub created_at: i64,
    pub changed_at: i64,
    pub memo: Option<String>,
    pub hold_id: Option<String>,
    pub expires_at: Option<i64>,
    pub quote_id: Option<String>,
}

fn corrupt(what: &str) -> StorageFailure {
    StorageFailure(format!("unreadable stored charge {what}"))
}

impl ChargeColumns {
    pub fn into_record(self) -> StoreResult<ChargeRecord> {
        Ok(ChargeRecord {
            side: ChargeSide::parse(&self.side).ok_or_else(|| corrupt("side"))?,
            peer: self.peer,
            id: self.id,
            state: ChargeState::parse(&self.state).ok_or_else(|| corrupt("state"))?,
            amount: Amount::from_units(self.amount).map_err(|_| corrupt("amount"))?,
            currency: Currency::parse(&self.currency).map_err(|_| corrupt("currency"))?,
            payee: self.payee,
            code_id: self
                .code_id
                .map(|id| crate::rows::code_id(&id, "charge code id"))
                .transpose()?,
            transfer_id: self.transfer_id,
            fingerprint: self
                .fingerprint
                .map(|f| <[u8; 32]>::try_from(f).map_err(|_| corrupt("fingerprint")))
                .transpose()?,
            approval: self.approval,
            deadline: Timestamp(self.deadline),
            created_at: Timestamp(self.created_at),
            changed_at: Timestamp(self.changed_at),
            memo: self.memo,
            hold_id: self
                .hold_id
                .map(|id| smartcode_core::code::HoldId::parse(&id).ok_or_else(|| corrupt("hold id")))
                .transpose()?,
            expires_at: self.expires_at.map(Timestamp),
            quote_id: self
                .quote_id
                .map(|id| smartcode_core::code::QuoteId::parse(&id).ok_or_else(|| corrupt("quote id")))
                .transpose()?,
        })
    }

    pub fn from_record(r: &ChargeRecord) -> ChargeColumns {
        ChargeColumns {
            side: r.side.as_str().to_owned(),
            peer: r.peer.clone(),
            id: r.id.clone(),
            state: r.state.as_str().to_owned(),
            amount: r.amount.units(),
            currency: r.currency.to_string(),
            payee: r.payee.clone(),
            code_id: r.code_id.as_ref().map(ToString::to_string),
            transfer_id: r.transfer_id.clone(),
            fingerprint: r.fingerprint.map(|f| f.to_vec()),
            approval: r.approval.clone(),
            deadline: r.deadline.0,
            created_at: r.created_at.0,
            changed_at: r.changed_at.0,
            memo: r.memo.clone(),
            hold_id: r.hold_id.as_ref().map(ToString::to_string),
            expires_at: r.expires_at.map(|t| t.0),
            quote_id: r.quote_id.as_ref().map(|q| q.as_str().to_owned()),
        }
    }
}

//! A license (`smartcode_core::license`) as both stores keep it: the columns it is found by (its
//! code, the codes that paid and were paid, its payment, when) and one JSON text for the rest
//! (what it is for, the copies, the price, who it names), which nothing searches.

use serde::{Deserialize, Serialize};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeId, ItemId, PublicCode};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::license::{LicenseRecord, Licensed};
use smartcode_core::money::{Amount, Currency};

/// The columns of `licenses`, in this order everywhere.
pub const LICENSE_COLUMNS: &str = "code, code_id, payer_id, owner_id, receipt_id, created_at, body";

/// One row of `licenses`.
pub struct LicenseRow {
    pub code: String,
    pub code_id: String,
    pub payer_id: String,
    pub owner_id: String,
    pub receipt_id: String,
    pub created_at: i64,
    pub body: String,
}

#[derive(Serialize, Deserialize)]
struct Body {
    payee: String,
    payee_id: String,
    /// The item's id, for a license of an item; absent for a named work.
    item: Option<String>,
    title: String,
    copies: u32,
    price: i64,
    currency: String,
    licensee: Option<String>,
    payer_name: Option<String>,
}

fn corrupt() -> StorageFailure {
    StorageFailure("unreadable stored license".to_owned())
}

impl LicenseRow {
    pub fn from_record(license: &LicenseRecord) -> LicenseRow {
        let body = Body {
            payee: license.payee.as_stored().to_owned(),
            payee_id: license.payee_id.to_string(),
            item: license.licensed.item_id().map(ItemId::to_string),
            title: license.licensed.title().to_owned(),
            copies: license.copies,
            price: license.price.units(),
            currency: license.currency.to_string(),
            licensee: license.licensee.clone(),
            payer_name: license.payer_name.clone(),
        };
        LicenseRow {
            code: license.code.as_stored().to_owned(),
            code_id: license.code_id.to_string(),
            payer_id: license.payer_id.to_string(),
            owner_id: license.owner_id.to_string(),
            receipt_id: license.receipt_id.clone(),
            created_at: license.created_at.0,
            body: serde_json::to_string(&body).expect("a license's body serializes"),
        }
    }

    pub fn into_record(self) -> StoreResult<LicenseRecord> {
        let body: Body = serde_json::from_str(&self.body).map_err(|_| corrupt())?;
        let licensed = match body.item {
            Some(id) => Licensed::Item {
                id: ItemId::parse(&id).ok_or_else(corrupt)?,
                title: body.title,
            },
            None => Licensed::Work { title: body.title },
        };
        Ok(LicenseRecord {
            code: PublicCode::from_stored(&self.code).ok_or_else(corrupt)?,
            code_id: CodeId::parse(&self.code_id).ok_or_else(corrupt)?,
            payer_id: CodeId::parse(&self.payer_id).ok_or_else(corrupt)?,
            payee: PublicCode::from_stored(&body.payee).ok_or_else(corrupt)?,
            payee_id: CodeId::parse(&body.payee_id).ok_or_else(corrupt)?,
            owner_id: CodeId::parse(&self.owner_id).ok_or_else(corrupt)?,
            licensed,
            copies: body.copies,
            price: Amount::from_units(body.price).map_err(|_| corrupt())?,
            currency: Currency::parse(&body.currency).map_err(|_| corrupt())?,
            licensee: body.licensee,
            payer_name: body.payer_name,
            receipt_id: self.receipt_id,
            created_at: Timestamp(self.created_at),
        })
    }
}

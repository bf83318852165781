//! An item (`smartcode_core::item`) as both stores keep it: the columns it is found by (its id,
//! its seller, its public code, when it was made) and one JSON text for the rest (title,
//! description, price, category, url and what its upload stored), which nothing searches. Its
//! bytes are a row of their own in `item_contents`, read only when a download is fetched.

use serde::{Deserialize, Serialize};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeId, ItemId, PublicCode};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::item::{ContentInfo, ItemRecord};
use smartcode_core::money::{Amount, Currency};

/// The columns of `items`, in this order everywhere.
pub const ITEM_COLUMNS: &str = "id, owner_id, payee_id, created_at, body";

/// One row of `items`.
pub struct ItemRow {
    pub id: String,
    pub owner_id: String,
    pub payee_id: String,
    pub created_at: i64,
    pub body: String,
}

#[derive(Serialize, Deserialize)]
struct Content {
    bytes: u64,
    sha256: String,
    content_type: String,
}

#[derive(Serialize, Deserialize)]
struct Body {
    payee: String,
    title: String,
    description: Option<String>,
    price: i64,
    currency: String,
    category: Option<String>,
    url: Option<String>,
    content: Option<Content>,
}

fn corrupt() -> StorageFailure {
    StorageFailure("unreadable stored item".to_owned())
}

impl ItemRow {
    pub fn from_record(item: &ItemRecord) -> ItemRow {
        let body = Body {
            payee: item.payee.as_stored().to_owned(),
            title: item.title.clone(),
            description: item.description.clone(),
            price: item.price.units(),
            currency: item.currency.to_string(),
            category: item.category.clone(),
            url: item.url.clone(),
            content: item.content.as_ref().map(|c| Content {
                bytes: c.bytes,
                sha256: c.sha256_hex.clone(),
                content_type: c.content_type.clone(),
            }),
        };
        ItemRow {
            id: item.id.to_string(),
            owner_id: item.owner_id.to_string(),
            payee_id: item.payee_id.to_string(),
            created_at: item.created_at.0,
            body: serde_json::to_string(&body).expect("an item's body serializes"),
        }
    }

    pub fn into_record(self) -> StoreResult<ItemRecord> {
        let body: Body = serde_json::from_str(&self.body).map_err(|_| corrupt())?;
        Ok(ItemRecord {
            id: ItemId::parse(&self.id).ok_or_else(corrupt)?,
            owner_id: CodeId::parse(&self.owner_id).ok_or_else(corrupt)?,
            payee: PublicCode::from_stored(&body.payee).ok_or_else(corrupt)?,
            payee_id: CodeId::parse(&self.payee_id).ok_or_else(corrupt)?,
            title: body.title,
            description: body.description,
            price: Amount::from_units(body.price).map_err(|_| corrupt())?,
            currency: Currency::parse(&body.currency).map_err(|_| corrupt())?,
            category: body.category,
            url: body.url,
            content: body.content.map(|c| ContentInfo {
                bytes: c.bytes,
                sha256_hex: c.sha256,
                content_type: c.content_type,
            }),
            created_at: Timestamp(self.created_at),
        })
    }
}

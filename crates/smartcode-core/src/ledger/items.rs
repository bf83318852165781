//! Items: content the owner of a public code sells ([`crate::item`]). Its owner makes one
//! ([`Command::Create`]) and uploads its bytes ([`Command::Upload`]) unless it is kept on the
//! seller's server; a buyer's purchase ([`Command::Buy`]) is a payment into the item's public code
//! at the item's price, stamped with the item's id (so a payer's restrictions on items judge it),
//! and its receipt is the download grant: [`Command::Fetch`] counts one fetch of it, atomically,
//! up to [`DOWNLOAD_FETCHES_MAX`] within [`DOWNLOAD_GRANT_SECONDS`] of the payment.
//!
//! A purchase refunded in full downloads nothing more.
//!
//! The grant is the payment itself, never a second record: a purchase either paid (and so may be
//! fetched) or did nothing, with no state in between to reconcile.

use sha2::{Digest, Sha256};

use crate::code::{ItemId, PublicCode};
use crate::error::{Conflict, Invalid, ItemRefusal, Limit, OpError};
use crate::item::{grant_expires_at, ContentInfo, ItemRecord};
use crate::limits::*;
use crate::model::*;
use crate::money::Amount;

use super::payments::{parties_selling, PaymentOrder};
use super::restrictions::Consent;
use super::rules::{authenticate, present};
use super::{check_text, Context, Credential, LedgerRead, LedgerTx, Touches};

/// What a seller asks for when it makes an item.
#[derive(Clone, Debug)]
pub struct NewItem {
    pub public_code: PublicCode,
    pub title: String,
    pub description: Option<String>,
    pub price: Amount,
    pub category: Option<String>,
    pub url: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Command {
    /// The owner of `item.public_code` puts an item up for sale.
    Create { seller: Credential, item: NewItem },
    /// The item's owner stores its content (replacing what was stored before).
    Upload {
        seller: Credential,
        id: ItemId,
        content_type: String,
        bytes: Vec<u8>,
    },
    /// A buyer pays the item's price to its public code.
    Buy { payer: Credential, id: ItemId },
    /// One fetch of the download granted by the payment `receipt_id`, for item `id`.
    Fetch { receipt_id: String, id: ItemId },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created(ItemRecord),
    Uploaded(ItemRecord),
    Bought {
        receipt: Receipt,
        item: ItemRecord,
    },
    /// A fetch counted: the item, the grant's payment, the fetches now counted, and the stored
    /// content (`None` for an item kept on its seller's server).
    Fetched {
        item: ItemRecord,
        receipt: Receipt,
        fetches: u32,
        bytes: Option<Vec<u8>>,
    },
}

#[derive(Clone, Debug)]
pub enum Query {
    Item {
        id: ItemId,
    },
    /// The items a public code sells, newest first.
    OfPublic {
        payee: PublicCode,
    },
    /// The items the holder's code sells, through any of its public codes, newest first.
    Mine {
        holder: crate::code::CodeHash,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Item(ItemRecord),
    Items(Vec<ItemRecord>),
}

impl Command {
    pub(super) fn touches(&self, touches: &mut Touches) {
        match self {
            Command::Create { seller, item } => {
                touches.codes.push(seller.hash);
                touches.public_codes.push(item.public_code.clone());
            }
            Command::Upload { seller, .. } => touches.codes.push(seller.hash),
            Command::Buy { payer, .. } => touches.codes.push(payer.hash),
            Command::Fetch { .. } => {}
        }
    }
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Create { seller, item } => create(tx, cx, seller, item),
        Command::Upload {
            seller,
            id,
            content_type,
            bytes,
        } => upload(tx, cx, seller, id, (content_type, bytes)),
        Command::Buy { payer, id } => buy(tx, cx, payer, id),
        Command::Fetch { receipt_id, id } => fetch(tx, cx, receipt_id, id),
    }
}

pub(super) fn query(tx: &mut (impl LedgerRead + ?Sized), query: &Query) -> Result<QueryOutcome, OpError> {
    match query {
        Query::Item { id } => item(tx, id).map(QueryOutcome::Item),
        Query::OfPublic { payee } => {
            let payee = tx.code_by_public(payee)?.ok_or(OpError::NotFound("public code"))?;
            Ok(QueryOutcome::Items(tx.items_for(&payee.id, ITEMS_LISTED_MAX)?))
        }
        Query::Mine { holder } => {
            let holder = present(tx, holder)?;
            Ok(QueryOutcome::Items(tx.items_for(&holder.id, ITEMS_LISTED_MAX)?))
        }
    }
}

pub(super) fn item(tx: &mut (impl LedgerRead + ?Sized), id: &ItemId) -> Result<ItemRecord, OpError> {
    tx.item_by_id(id)?.ok_or(OpError::NotFound("item"))
}

fn create(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    seller: &Credential,
    asked: &NewItem,
) -> Result<Outcome, OpError> {
    let seller = authenticate(tx, seller, cx.now)?;
    let title = asked.title.trim();
    if title.is_empty() {
        return Err(OpError::InvalidRequest(Invalid::Rules {
            why: "an item needs a title".to_owned(),
        }));
    }
    check_text("title", Some(title), ITEM_TITLE_CHARS_MAX)?;
    check_text("description", asked.description.as_deref(), ITEM_DESCRIPTION_CHARS_MAX)?;
    check_text("category", asked.category.as_deref(), CATEGORY_CHARS_MAX)?;
    check_text("url", asked.url.as_deref(), ITEM_URL_CHARS_MAX)?;
    if asked.price.units() <= 0 {
        return Err(OpError::InvalidRequest(Invalid::Rules {
            why: "an item's price is above zero".to_owned(),
        }));
    }
    let payee = tx
        .code_by_public(&asked.public_code)?
        .filter(|p| p.owner_id == seller.id && p.status_at(cx.now) == CodeStatus::Active)
        .ok_or(OpError::NotFound("public code"))?;
    if tx.items_for(&payee.id, ITEMS_PER_PUBLIC_CODE_MAX + 1)?.len() >= ITEMS_PER_PUBLIC_CODE_MAX as usize {
        return Err(OpError::LimitExceeded(Limit::ItemsPerPublicCode));
    }
    let record = ItemRecord {
        id: ItemId::draw(&mut cx.draws),
        owner_id: seller.id.clone(),
        payee: asked.public_code.clone(),
        payee_id: payee.id.clone(),
        title: title.to_owned(),
        description: asked.description.clone(),
        price: asked.price,
        currency: seller.currency,
        category: asked.category.clone(),
        url: asked.url.clone(),
        content: None,
        created_at: cx.now,
    };
    tx.insert_item(&record)?;
    Ok(Outcome::Created(record))
}

fn upload(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    seller: &Credential,
    id: &ItemId,
    (content_type, bytes): (&String, &Vec<u8>),
) -> Result<Outcome, OpError> {
    let seller = authenticate(tx, seller, cx.now)?;
    let mut record = item(tx, id)?;
    if record.owner_id != seller.id {
        return Err(OpError::NotFound("item"));
    }
    if record.url.is_some() {
        return Err(OpError::Item(ItemRefusal::KeptElsewhere));
    }
    check_text("content type", Some(content_type), ITEM_CONTENT_TYPE_CHARS_MAX)?;
    // The edge refuses a larger body before it is read; this is the same bound, kept here too.
    assert!(bytes.len() <= ITEM_CONTENT_BYTES_MAX, "the edge bounds an upload");
    let digest = Sha256::digest(bytes);
    record.content = Some(ContentInfo {
        bytes: bytes.len() as u64,
        sha256_hex: digest.iter().map(|b| format!("{b:02x}")).collect(),
        content_type: content_type.clone(),
    });
    tx.put_item_content(&record, bytes)?;
    Ok(Outcome::Uploaded(record))
}

pub(super) fn buy(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    payer: &Credential,
    id: &ItemId,
) -> Result<Outcome, OpError> {
    let now = cx.now;
    let record = item(tx, id)?;
    if !record.available() {
        return Err(OpError::Item(ItemRefusal::NoContent));
    }
    let credential = *payer;
    let payer = authenticate(tx, payer, now)?;
    let payer = super::payments::release_expired_holds(tx, now, payer)?;
    if payer.id == record.owner_id {
        return Err(OpError::Conflict(Conflict::PayOwnPublicCode));
    }
    let order = PaymentOrder {
        payer: credential,
        payee: record.payee.clone(),
        amount: record.price,
        currency: Some(record.currency),
        memo: Some(format!("item:{}", record.id)),
        category: record.category.clone(),
        item: Some(record.id.to_string()),
    };
    let parties = parties_selling(
        tx,
        now,
        payer,
        (&order, Consent::Presented, false),
        None,
        selling(&record),
    )?;
    let payer = parties.payer.clone();
    let debit = AccountKey::Code(payer.id.clone());
    let receipt_id = cx.draws.receipt_id(now).to_string();
    let receipt = parties.pay(tx, now, receipt_id, &order, (debit, order.amount))?;
    debug_assert_eq!(receipt.item.as_deref(), Some(record.id.as_str()));
    super::shares::bought(tx, now, &payer, &record)?;
    Ok(Outcome::Bought { receipt, item: record })
}

/// What a payment for `record` sells: the seller declared the item (and its category, if it named
/// one), so that is what a payer's restrictions judge. A license for the item sells the same.
pub(super) fn selling(record: &ItemRecord) -> impl FnOnce(Catalog) -> Catalog + '_ {
    move |mut sold: Catalog| {
        sold.items = Some(vec![record.id.to_string()]);
        if let Some(category) = &record.category {
            sold.categories = Some(vec![category.clone()]);
        }
        sold
    }
}

fn fetch(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    receipt_id: &str,
    id: &ItemId,
) -> Result<Outcome, OpError> {
    let receipt = super::payments::receipt(tx, receipt_id)?;
    let Some(bought) = receipt.item.as_deref().and_then(ItemId::parse) else {
        return Err(OpError::NotFound("download"));
    };
    if &bought != id {
        return Err(OpError::Item(ItemRefusal::DownloadOtherItem));
    }
    if grant_expires_at(receipt.created_at) <= cx.now {
        return Err(OpError::Item(ItemRefusal::DownloadExpired));
    }
    let refunded: i64 = tx.refunds_of(receipt_id)?.iter().map(|r| r.amount.units()).sum();
    if refunded >= receipt.amount.units() {
        return Err(OpError::Item(ItemRefusal::DownloadRefunded));
    }
    let record = item(tx, id)?;
    let Some(fetches) = tx.count_fetch(receipt_id, DOWNLOAD_FETCHES_MAX)? else {
        return Err(OpError::Item(ItemRefusal::DownloadExhausted {
            fetches_max: DOWNLOAD_FETCHES_MAX,
        }));
    };
    assert!(
        (1..=DOWNLOAD_FETCHES_MAX).contains(&fetches),
        "a fetch is counted within its bound"
    );
    let bytes = match &record.url {
        Some(_) => None,
        None => Some(tx.item_content(id)?.ok_or(OpError::Item(ItemRefusal::NoContent))?),
    };
    Ok(Outcome::Fetched {
        item: record,
        receipt,
        fetches,
        bytes,
    })
}

//! Shares: a buyer pays for `uses` downloads of an item and hands them out as one link. A share is
//! nothing but a secret child of the giver's code ([`super::tree`]) holding `uses × price`,
//! restricted to that one item, to `uses` payments and to the price per payment, and labelled
//! [`SHARE_LABEL_PREFIX`]`<item id>`; its link carries the child's code.
//!
//! Each free download ([`Command::Download`]) is one purchase of the item paid by the share
//! ([`super::items`]): a payment, so the uses are counted where every code's uses are, in the one
//! transaction that pays, and `uses` of them give exactly `uses` downloads under any concurrency.
//! The download that spends the last use tells the seller (`share.used_up`). At expiry the sweep
//! returns what is left to the giver as it does for every child, and the restriction dies with the
//! share; the giver may also cancel it (`POST /v1/me/children/{id}/cancel`) and reclaim the rest.

use crate::clock::Timestamp;
use crate::code::{CodeHash, CodeId, ItemId};
use crate::error::{Conflict, ItemRefusal, Limit, OpError};
use crate::item::ItemRecord;
use crate::limits::{CHILDREN_PER_CODE_MAX, SHARES_LISTED_MAX, SHARE_USES_MAX};
use crate::model::*;
use crate::webhook::EventKind;

use super::rules::{authenticate, present};
use super::tree::ChildOptions;
use super::{Context, Credential, LedgerRead, LedgerTx, Touches};

/// The label that marks a child as a share, followed by the item's id.
pub const SHARE_LABEL_PREFIX: &str = "share:";

#[derive(Clone, Debug)]
pub enum Command {
    /// The giver makes a share of `uses` downloads of `item`, until `expires_at`; `hash` is the
    /// hash of the share's code, drawn by the caller (the link carries the code).
    Make {
        giver: Credential,
        hash: CodeHash,
        item: ItemId,
        uses: u32,
        expires_at: Timestamp,
    },
    /// One free download through the share whose code is presented: a purchase it pays.
    Download { share: Credential },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Made(ShareView),
    Downloaded {
        receipt: Receipt,
        item: ItemRecord,
        share: ShareView,
    },
}

#[derive(Clone, Debug)]
pub enum Query {
    /// A share, as its link's holder (anyone with the link) reads it.
    Share { hash: CodeHash },
    /// The shares the holder's code gave, newest first.
    Given { giver: CodeHash },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Share(ShareView),
    Shares(Vec<ShareView>),
}

/// A share as its giver and its link's holders see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareView {
    /// The share's code id (the child's), which the giver cancels it by.
    pub id: CodeId,
    pub item: ItemRecord,
    pub uses: u32,
    pub used: u32,
    /// The value it still holds, in units.
    pub left_units: i64,
    /// Active, expired (its rest back with the giver, or about to be) or cancelled.
    pub status: CodeStatus,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
}

impl ShareView {
    /// Free downloads it still gives.
    pub fn remaining(&self) -> u32 {
        if self.status == CodeStatus::Active {
            self.uses.saturating_sub(self.used)
        } else {
            0
        }
    }
}

impl Command {
    pub(super) fn touches(&self, touches: &mut Touches) {
        match self {
            Command::Make { giver, .. } => touches.codes.push(giver.hash),
            Command::Download { share } => touches.codes.push(share.hash),
        }
    }
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Make {
            giver,
            hash,
            item,
            uses,
            expires_at,
        } => make(tx, cx, giver, hash, (item, *uses, *expires_at)),
        Command::Download { share } => download(tx, cx, share),
    }
}

pub(super) fn query(
    tx: &mut (impl LedgerRead + ?Sized),
    now: Timestamp,
    query: &Query,
) -> Result<QueryOutcome, OpError> {
    match query {
        Query::Share { hash } => {
            let record = tx.code_by_hash(hash)?.ok_or(OpError::InvalidCode)?;
            Ok(QueryOutcome::Share(share_view(tx, now, record)?))
        }
        Query::Given { giver } => {
            let giver = present(tx, giver)?;
            let mut shares = Vec::new();
            for child in tx.children(&giver.id, CHILDREN_PER_CODE_MAX)? {
                if item_of(&child).is_some() {
                    shares.push(share_view(tx, now, child)?);
                }
            }
            shares.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
            shares.truncate(SHARES_LISTED_MAX as usize);
            Ok(QueryOutcome::Shares(shares))
        }
    }
}

/// The item a code is a share of, if it is one.
fn item_of(record: &CodeRecord) -> Option<ItemId> {
    let id = record.label.as_deref()?.strip_prefix(SHARE_LABEL_PREFIX)?;
    let restricted_to_it = record.restrictions.items.as_deref() == Some(&[id.to_owned()][..]);
    (record.kind == CodeKind::Secret && restricted_to_it && record.restrictions.uses_max.is_some())
        .then(|| ItemId::parse(id))
        .flatten()
}

/// `record` as a share, or `NotFound("share")` when it is another kind of code.
fn share_view(tx: &mut (impl LedgerRead + ?Sized), now: Timestamp, record: CodeRecord) -> Result<ShareView, OpError> {
    let id = item_of(&record).ok_or(OpError::NotFound("share"))?;
    let item = tx.item_by_id(&id)?.ok_or(OpError::NotFound("item"))?;
    let left_units = tx
        .account(&AccountKey::Code(record.id.clone()))?
        .map_or(0, |a| a.balance_units);
    Ok(ShareView {
        id: record.id.clone(),
        item,
        uses: record.restrictions.uses_max.unwrap_or(0),
        used: record.usage.uses,
        left_units,
        status: record.status_at(now),
        created_at: record.created_at,
        expires_at: record.expires_at,
    })
}

fn make(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    giver: &Credential,
    hash: &CodeHash,
    (id, uses, expires_at): (&ItemId, u32, Timestamp),
) -> Result<Outcome, OpError> {
    let giver_record = authenticate(tx, giver, cx.now)?;
    let item = tx.item_by_id(id)?.ok_or(OpError::NotFound("item"))?;
    if !item.available() {
        return Err(OpError::Item(ItemRefusal::NoContent));
    }
    if item.owner_id == giver_record.id {
        return Err(OpError::Conflict(Conflict::PayOwnPublicCode));
    }
    if giver_record.currency != item.currency {
        return Err(OpError::CurrencyMismatch);
    }
    if uses == 0 || uses > SHARE_USES_MAX {
        return Err(OpError::LimitExceeded(Limit::ShareUses));
    }
    let amount = item.price.times(uses).ok_or(OpError::LimitExceeded(Limit::ShareUses))?;
    let options = ChildOptions {
        label: Some(format!("{SHARE_LABEL_PREFIX}{}", item.id)),
        expires_at: Some(expires_at),
        irrevocable: false,
        restrictions: Restrictions {
            items: Some(vec![item.id.to_string()]),
            amount_per_use_max: Some(item.price),
            uses_max: Some(uses),
            ..Restrictions::default()
        },
    };
    let super::tree::Outcome::Created(child) = super::tree::create_secret_child(tx, cx, giver, hash, amount, &options)?
    else {
        unreachable!("making a child answers Created");
    };
    Ok(Outcome::Made(share_view(tx, cx.now, child.record)?))
}

fn download(tx: &mut (impl LedgerTx + ?Sized), cx: &mut Context, share: &Credential) -> Result<Outcome, OpError> {
    let now = cx.now;
    let record = tx.code_by_hash(&share.hash)?.ok_or(OpError::InvalidCode)?;
    let before = share_view(tx, now, record)?;
    match before.status {
        CodeStatus::Active => {}
        CodeStatus::Cancelled => return Err(OpError::Item(ItemRefusal::ShareCancelled)),
        CodeStatus::Expired => return Err(OpError::Item(ItemRefusal::ShareExpired)),
    }
    if before.remaining() == 0 || before.left_units < before.item.price.units() {
        return Err(OpError::Item(ItemRefusal::ShareUsedUp { uses: before.uses }));
    }
    let super::items::Outcome::Bought { receipt, item } = super::items::buy(tx, cx, share, &before.item.id)? else {
        unreachable!("a purchase answers Bought");
    };
    let record = tx.code_by_id(&before.id)?.ok_or(OpError::NotFound("share"))?;
    Ok(Outcome::Downloaded {
        receipt,
        item,
        share: share_view(tx, now, record)?,
    })
}

/// After `payer` (its record as it was before paying) bought `item`, through
/// `POST /s/{code}/download` or the purchase API alike: when `payer` is a share that has just
/// given its last download, the seller hears of it.
pub(super) fn bought(
    tx: &mut (impl LedgerTx + ?Sized),
    now: Timestamp,
    payer: &CodeRecord,
    item: &ItemRecord,
) -> Result<(), OpError> {
    if item_of(payer).as_ref() != Some(&item.id) {
        return Ok(());
    }
    let record = tx.code_by_id(&payer.id)?.ok_or(OpError::NotFound("code"))?;
    let used_up = record
        .restrictions
        .uses_max
        .is_some_and(|uses| record.usage.uses >= uses);
    if used_up {
        let event = (EventKind::ShareUsedUp, Some(&item.payee_id));
        super::webhooks::notify_owner_of(tx, now, &item.owner_id, event, record.id.as_str())?;
    }
    Ok(())
}

/// The share a `share.used_up` event's subject names (its code id).
pub(super) fn by_id(tx: &mut (impl LedgerRead + ?Sized), now: Timestamp, id: &str) -> Result<ShareView, OpError> {
    let id = CodeId::parse(id).ok_or(OpError::NotFound("share"))?;
    let record = tx.code_by_id(&id)?.ok_or(OpError::NotFound("share"))?;
    share_view(tx, now, record)
}

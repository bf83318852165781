//! A purchase waiting in the approval queue (zero-click buying, `ledger::purchases`): the offer it
//! was for, the rule that stopped it, and what its holder did with it.

use crate::clock::Timestamp;
use crate::code::{ApprovalId, CodeId, PublicCode};
use crate::money::{Amount, Currency};

/// Where an approval stands, as stored; a pending one past its offer's expiry reads as expired
/// ([`ApprovalRecord::state_at`]) without anyone writing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalState {
    Pending,
    Approved,
    Declined,
    /// Read only, never stored: pending past its expiry.
    Expired,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Declined => "declined",
            ApprovalState::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<ApprovalState> {
        [ApprovalState::Pending, ApprovalState::Approved, ApprovalState::Declined]
            .into_iter()
            .find(|state| state.as_str() == text)
    }
}

/// What an offer's price is for: one payment for the resource, or each minute of a metered
/// session (`ledger::sessions`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OfferUnit {
    Item,
    Minute,
}

impl OfferUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            OfferUnit::Item => "item",
            OfferUnit::Minute => "minute",
        }
    }

    pub fn parse(text: &str) -> Option<OfferUnit> {
        [OfferUnit::Item, OfferUnit::Minute]
            .into_iter()
            .find(|unit| unit.as_str() == text)
    }
}

/// The offer a purchase was for, as the core needs it: who is paid what, for what, until when,
/// and the offer itself as the seller wrote it (kept, not read, by the core) with its fingerprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferTerms {
    /// The seller's id of the offer; a payment for it carries the memo `offer:<id>`.
    pub offer_id: String,
    pub payee: PublicCode,
    /// The price of one item, or of one minute of a metered session (`unit`).
    pub price: Amount,
    pub currency: Currency,
    pub unit: OfferUnit,
    pub category: Option<String>,
    pub item: Option<String>,
    pub expires_at: Timestamp,
    /// The offer's JSON as the buyer's program sent it, and the SHA-256 of it.
    pub json: String,
    pub fingerprint: String,
}

impl OfferTerms {
    /// The memo of a payment for this offer: how the seller knows which offer a receipt paid.
    pub fn memo(&self) -> String {
        format!("offer:{}", self.offer_id)
    }
}

/// A purchase its rules did not settle, waiting for the holder of the code that made it, or of the
/// code whose rule stopped it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApprovalRecord {
    pub id: ApprovalId,
    /// The code that made the purchase, and pays if it is approved.
    pub code_id: CodeId,
    /// The code whose rule stopped it (the buyer's own, or an ancestor's).
    pub stopped_by: CodeId,
    pub offer: OfferTerms,
    /// The seller's last counter-offer, when a negotiation ended without agreement.
    pub counter: Option<Amount>,
    /// The rule that stopped it (`None`: no rule pays it), and why, in words.
    pub rule: Option<String>,
    pub why: String,
    pub state: ApprovalState,
    pub created_at: Timestamp,
    /// When it was approved or declined.
    pub resolved_at: Option<Timestamp>,
    /// The payment an approval made.
    pub receipt_id: Option<String>,
}

impl ApprovalRecord {
    /// An approval expires with its offer.
    pub fn expires_at(&self) -> Timestamp {
        self.offer.expires_at
    }

    /// Where it stands in a holder's queue at `now`: waiting ones first, then the rest, each
    /// newest first (sort by this key, ascending).
    pub fn queue_key(&self, now: Timestamp) -> (bool, std::cmp::Reverse<Timestamp>, std::cmp::Reverse<ApprovalId>) {
        (
            self.state_at(now) != ApprovalState::Pending,
            std::cmp::Reverse(self.created_at),
            std::cmp::Reverse(self.id.clone()),
        )
    }

    pub fn state_at(&self, now: Timestamp) -> ApprovalState {
        match self.state {
            ApprovalState::Pending if self.offer.expires_at <= now => ApprovalState::Expired,
            state => state,
        }
    }
}

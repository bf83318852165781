//! A license (`ledger::licenses`): a buyer paid for a number of copies of an item or of a named
//! work, and the broker made a public code that says so. The record is written once, in the
//! command that paid, and never changes; a refund of its payment is read beside it, never
//! written into it.

use crate::clock::Timestamp;
use crate::code::{CodeId, ItemId, PublicCode};
use crate::money::{Amount, Currency};

/// Who a license names when its buyer's code has no profile name and the buyer gave no licensee:
/// never the code, nor its id.
pub const ANONYMOUS_LICENSEE: &str = "a smartcode holder";

/// What a license is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Licensed {
    /// An item sold here, with its title as it was when the license was bought.
    Item { id: ItemId, title: String },
    /// A work named by its title, priced by the buyer.
    Work { title: String },
}

impl Licensed {
    pub fn title(&self) -> &str {
        match self {
            Licensed::Item { title, .. } | Licensed::Work { title } => title,
        }
    }

    pub fn item_id(&self) -> Option<&ItemId> {
        match self {
            Licensed::Item { id, .. } => Some(id),
            Licensed::Work { .. } => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenseRecord {
    /// The license code: a public code, child of the paying code, that anyone may look up.
    pub code: PublicCode,
    pub code_id: CodeId,
    /// The secret code that paid (never shown).
    pub payer_id: CodeId,
    /// The public code paid, and the secret code that owns it (the seller).
    pub payee: PublicCode,
    pub payee_id: CodeId,
    pub owner_id: CodeId,
    pub licensed: Licensed,
    pub copies: u32,
    /// The price of one copy; the payment is `price × copies`.
    pub price: Amount,
    pub currency: Currency,
    /// Who the buyer said the license is for (a company's name, say), if it said.
    pub licensee: Option<String>,
    /// The paying code's profile name when it paid, if it had one.
    pub payer_name: Option<String>,
    pub receipt_id: String,
    pub created_at: Timestamp,
}

impl LicenseRecord {
    /// Who paid, in words: the paying code's profile name when it paid, else
    /// [`ANONYMOUS_LICENSEE`]. Who the license is for is [`LicenseRecord::licensee`], the buyer's word.
    pub fn paid_by(&self) -> &str {
        self.payer_name.as_deref().unwrap_or(ANONYMOUS_LICENSEE)
    }
}

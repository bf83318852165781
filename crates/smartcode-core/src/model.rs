//! The records of the code tree and the ledger, as the core and the stores exchange them.

use crate::clock::Timestamp;
use crate::code::{CodeId, PublicCode};
use crate::money::{Amount, Currency};

// Records kept beside what uses them (charges, peers, quotes), and the ledger check's sums.
pub use crate::charge::{ChargeRecord, ChargeSide, ChargeState, Payer};
pub use crate::peer::{key_fingerprint, PeerRecord, PeerStatus};
pub use crate::rate::{QuoteRecord, QuoteUse, RateRecord};
pub use crate::totals::{CurrencyTotals, LedgerTotals};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeKind {
    Secret,
    Public,
}

impl CodeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeKind::Secret => "secret",
            CodeKind::Public => "public",
        }
    }

    pub fn parse(text: &str) -> Option<CodeKind> {
        [CodeKind::Secret, CodeKind::Public]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// The status a store keeps. `Expired` is written when the expiry sweep reverts a code; before the
/// sweep runs, a code past its `expires_at` is already treated as expired (see [`CodeRecord::status_at`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeStatus {
    Active,
    Expired,
    Cancelled,
}

impl CodeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeStatus::Active => "active",
            CodeStatus::Expired => "expired",
            CodeStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<CodeStatus> {
        match text {
            "active" => Some(CodeStatus::Active),
            "expired" => Some(CodeStatus::Expired),
            "cancelled" => Some(CodeStatus::Cancelled),
            _ => None,
        }
    }
}

/// Public information about a code: shown on its public page, or in the ancestry of its
/// descendants' public codes. Every field is untrusted text from a holder.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Profile {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub contact: Option<String>,
    pub show_stats: bool,
}

impl Profile {
    /// A profile with no text is shown to the public as nothing at all.
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.description.is_none() && self.url.is_none() && self.contact.is_none()
    }
}

/// Who marked a profile as checked: the broker's operator, or a code above it in its tree (an
/// organization vouching for a branch it gave a code to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checker {
    Broker,
    Ancestor(CodeId),
}

impl Checker {
    /// How it is stored: `broker`, or the ancestor's id (`c_…`, never the word `broker`).
    pub fn as_stored(&self) -> &str {
        match self {
            Checker::Broker => "broker",
            Checker::Ancestor(id) => id.as_str(),
        }
    }

    pub fn parse_stored(text: &str) -> Option<Checker> {
        match text {
            "broker" => Some(Checker::Broker),
            id => CodeId::parse(id).map(Checker::Ancestor),
        }
    }
}

/// A mark that someone looked at a profile's name and web address and stands behind them. It
/// covers exactly those: an edit of either ends it (see `ledger::checks`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProfileCheck {
    pub by: Checker,
    pub at: Timestamp,
}

/// What a public code sells, declared by its owner: the categories and the items a payment into
/// it may be for. The broker stamps a payment's category and item from here, never from the
/// payer's word (a payer may name one, and it is checked against these). A public code nested
/// under another sells at most what that one sells (see `ledger::rules::effective_catalog`).
/// `None` means "nothing declared"; a secret code's catalog is always empty.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Catalog {
    pub categories: Option<Vec<String>>,
    pub items: Option<Vec<String>>,
}

impl Catalog {
    pub fn is_empty(&self) -> bool {
        *self == Catalog::default()
    }
}

/// What a code may pay for. The sets and the per-use maximum are stored already narrowed by every
/// ancestor's (they are the code's effective rules); `uses_max` and `spend_per_period` are the
/// code's own, and a payment must also fit every ancestor's (see `CodeRecord::restricted_lineage`).
/// `None` means "no rule".
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Restrictions {
    pub categories: Option<Vec<String>>,
    pub payees: Option<Vec<PublicCode>>,
    pub items: Option<Vec<String>>,
    pub amount_per_use_max: Option<Amount>,
    pub uses_max: Option<u32>,
    pub spend_per_period: Option<SpendLimit>,
}

impl Restrictions {
    pub fn is_empty(&self) -> bool {
        *self == Restrictions::default()
    }

    /// Whether this code counts its own uses or spending.
    pub fn counts_usage(&self) -> bool {
        self.uses_max.is_some() || self.spend_per_period.is_some()
    }
}

/// At most `amount` spent in each period of `period_seconds`, periods counted from the code's creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpendLimit {
    pub amount: Amount,
    pub period_seconds: i64,
}

/// What a code with usage rules has used: payments so far, and spending in its current period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Usage {
    pub uses: u32,
    pub period_index: i64,
    pub period_spent_units: i64,
}

/// A code's PIN: its argon2id hash (PHC), times set, wrong PINs in a row; `locked`: frozen till unlocked.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PinState {
    pub hash: Option<String>,
    pub generation: u32,
    pub failures: u32,
    pub locked: bool,
}

/// One node of a code tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeRecord {
    pub id: CodeId,
    pub kind: CodeKind,
    /// `None` for a code the operator issued: its parent is the broker's root.
    pub parent_id: Option<CodeId>,
    /// For a public code, the secret code its payments credit; for a secret code, itself.
    pub owner_id: CodeId,
    pub public_code: Option<PublicCode>,
    pub currency: Currency,
    pub label: Option<String>,
    pub profile: Profile,
    /// Who checked the profile's name and web address, if anyone did; otherwise they are only
    /// what the holder declared.
    pub check: Option<ProfileCheck>,
    /// What a public code sells, as its owner declared it (not yet bounded by enclosing public codes).
    pub catalog: Catalog,
    pub status: CodeStatus,
    /// Generations below the broker's root: an issued code has depth 1.
    pub depth: u32,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub irrevocable: bool,
    pub restrictions: Restrictions,
    /// This code or an ancestor counts usage or has spending rules: its payments walk up the tree.
    pub restricted_lineage: bool,
    pub usage: Usage,
    pub pin: PinState,
    /// Its spending rules, with their counters (`crate::spending`); `None` for none.
    pub spending: Option<crate::spending::Rules>,
    /// It has webhook subscriptions: its events are written to the outbox (`ledger::webhooks`).
    pub webhooks: bool,
}

impl CodeRecord {
    /// The status as of `now`: a code past its expiry is expired even before the sweep reverts it.
    pub fn status_at(&self, now: Timestamp) -> CodeStatus {
        match (self.status, self.expires_at) {
            (CodeStatus::Active, Some(expires_at)) if expires_at <= now => CodeStatus::Expired,
            (status, _) => status,
        }
    }

    /// Usage rolled forward to the spending period that contains `now`.
    pub fn usage_at(&self, now: Timestamp) -> Usage {
        let mut usage = self.usage;
        if let Some(limit) = self.restrictions.spend_per_period {
            let period_micros = limit
                .period_seconds
                .saturating_mul(crate::clock::MICROS_PER_SECOND)
                .max(1);
            let index = (now.0 - self.created_at.0).max(0) / period_micros;
            if index != usage.period_index {
                usage.period_index = index;
                usage.period_spent_units = 0;
            }
        }
        usage
    }
}

/// A ledger account. Every secret code has one; each currency has the broker's issuance account,
/// whose balance is minus everything issued, so that each currency sums to zero, and, once a
/// quote was paid in or out of it, the broker's exchange account: what buyers paid in that
/// currency less what sellers were paid in it (its position; it may go below zero). A peer has
/// one per currency (`peer:NAME:CUR`): minus its balance is what the peer owes, net.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AccountKey {
    Code(CodeId),
    Issuance(Currency),
    Exchange(Currency),
    Peer { peer: String, currency: Currency },
}

impl AccountKey {
    pub fn to_stored(&self) -> String {
        match self {
            AccountKey::Code(id) => format!("code:{id}"),
            AccountKey::Issuance(currency) => format!("issuance:{currency}"),
            AccountKey::Exchange(currency) => format!("exchange:{currency}"),
            AccountKey::Peer { peer, currency } => format!("peer:{peer}:{currency}"),
        }
    }

    pub fn from_stored(text: &str) -> Option<AccountKey> {
        if let Some(id) = text.strip_prefix("code:") {
            return CodeId::parse(id).map(AccountKey::Code);
        }
        if let Some(currency) = text.strip_prefix("exchange:") {
            return Currency::parse(currency).ok().map(AccountKey::Exchange);
        }
        if let Some((peer, currency)) = text.strip_prefix("peer:").and_then(|rest| rest.rsplit_once(':')) {
            let currency = Currency::parse(currency).ok()?;
            return (!peer.is_empty()).then(|| AccountKey::Peer {
                peer: peer.to_owned(),
                currency,
            });
        }
        let currency = text.strip_prefix("issuance:")?;
        Currency::parse(currency).ok().map(AccountKey::Issuance)
    }

    pub fn code_id(&self) -> Option<&CodeId> {
        match self {
            AccountKey::Code(id) => Some(id),
            AccountKey::Issuance(_) | AccountKey::Exchange(_) | AccountKey::Peer { .. } => None,
        }
    }

    /// Whether the account is the broker's own (issuance, exchange or a peer's), whose balance may
    /// go below zero; a code's never does.
    pub fn is_brokers(&self) -> bool {
        !matches!(self, AccountKey::Code(_))
    }
}

/// An account's balance and what open holds set aside from it. Available = balance - held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountState {
    pub currency: Currency,
    pub balance_units: i64,
    pub held_units: i64,
}

impl AccountState {
    pub fn available_units(&self) -> i64 {
        self.balance_units - self.held_units
    }
}

/// Why value moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransferKind {
    /// The operator issued a new code for money received outside the system.
    Issue,
    /// The operator added money to an existing code.
    Deposit,
    /// A parent moved value into a child (at creation or later).
    Fund,
    /// A payment from a secret code to the owner of a public code.
    Payment,
    /// A parent cancelled a child and took back what it held.
    Reclaim,
    /// A child expired and its unused value went back to its parent.
    Revert,
    /// The operator paid value out of a code to its holder outside the system: the value goes
    /// back to the issuance account.
    Payout,
    /// A seller gave back all or part of a payment, to the paying code (or its nearest active
    /// ancestor).
    Refund,
    /// A buyer paid for a quote: from its code into the broker's exchange account in its own
    /// currency. The payment out of the exchange account in the price's currency is its pair.
    Exchange,
    /// Money paid between this broker and a peer outside the system, recorded by the operator:
    /// received, from the issuance account into the peer's; paid, the other way.
    Settlement,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransferKind::Issue => "issue",
            TransferKind::Deposit => "deposit",
            TransferKind::Fund => "fund",
            TransferKind::Payment => "payment",
            TransferKind::Reclaim => "reclaim",
            TransferKind::Revert => "revert",
            TransferKind::Payout => "payout",
            TransferKind::Refund => "refund",
            TransferKind::Exchange => "exchange",
            TransferKind::Settlement => "settlement",
        }
    }

    pub fn parse(text: &str) -> Option<TransferKind> {
        [
            TransferKind::Issue,
            TransferKind::Deposit,
            TransferKind::Fund,
            TransferKind::Payment,
            TransferKind::Reclaim,
            TransferKind::Revert,
            TransferKind::Payout,
            TransferKind::Refund,
            TransferKind::Exchange,
            TransferKind::Settlement,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == text)
    }
}

/// One ledger movement between two accounts, recorded forever and never changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transfer {
    /// A transfer id (`t_…`), or for a payment its receipt id (`r_…`).
    pub id: String,
    pub at: Timestamp,
    pub kind: TransferKind,
    pub debit: AccountKey,
    pub credit: AccountKey,
    pub amount: Amount,
    pub currency: Currency,
    pub memo: Option<String>,
    /// For a payment: the public code paid into.
    pub public_code_id: Option<CodeId>,
    pub category: Option<String>,
    pub item: Option<String>,
}

/// A payment's receipt, rebuilt from its transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Receipt {
    pub id: String,
    pub payer: Payer,
    /// The payee's owner: the secret code credited, the seller a payer pseudonym is made for.
    pub owner_id: CodeId,
    pub payee: PublicCode,
    pub payee_id: CodeId,
    pub amount: Amount,
    pub currency: Currency,
    pub memo: Option<String>,
    pub category: Option<String>,
    pub item: Option<String>,
    pub created_at: Timestamp,
}

/// Where a hold stands. A pending hold past its `expires_at` is already void (see
/// [`HoldRecord::state_at`]); the sweep only records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldState {
    Pending,
    Captured,
    Voided,
}

impl HoldState {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldState::Pending => "pending",
            HoldState::Captured => "captured",
            HoldState::Voided => "voided",
        }
    }

    pub fn parse(text: &str) -> Option<HoldState> {
        match text {
            "pending" => Some(HoldState::Pending),
            "captured" => Some(HoldState::Captured),
            "voided" => Some(HoldState::Voided),
            _ => None,
        }
    }
}

/// Value a seller set aside on a buyer's code: it counts against the code's `available` (the
/// account's `held`) while pending and unexpired, and becomes a payment when captured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldRecord {
    pub id: crate::code::HoldId,
    pub kind: HoldKind,
    pub payer_id: CodeId,
    /// Who is paid: a seller's hold always names it; an authorization names the payee it was made
    /// for, if any, and once used the one that used it.
    pub payee: Option<HoldPayee>,
    pub amount: Amount,
    pub currency: Currency,
    pub memo: Option<String>,
    /// Stamped from the payee's catalog when the hold was made, as a payment's are.
    pub category: Option<String>,
    pub item: Option<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub state: HoldState,
    /// When it was captured or voided (or, for an expired hold, when the sweep recorded it).
    pub resolved_at: Option<Timestamp>,
    /// What a capture took, and the receipt of that payment.
    pub captured: Option<Amount>,
    pub receipt_id: Option<String>,
    /// Where released value goes when the held code was closed (cancelled or expired) while the
    /// hold was pending: the code that took back the rest.
    pub release_to: Option<CodeId>,
    /// For a certificate, the assurance it certifies.
    pub assurance_id: Option<crate::code::AssuranceId>,
}

/// What sets value aside: a seller's hold, captured or voided by the seller; or an authorization
/// code, made by the buyer for one exact amount, used once by whoever presents it, cancelled by the
/// buyer. Both count in the account's `held` and expire the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldKind {
    Hold,
    Authorization,
    /// A certificate of an assurance code: the floor set aside for one payee for a few minutes,
    /// paid from in any number of payments up to it (`captured` is what they took so far).
    Certificate,
}

impl HoldKind {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldKind::Hold => "hold",
            HoldKind::Authorization => "authorization",
            HoldKind::Certificate => "certificate",
        }
    }

    pub fn parse(text: &str) -> Option<HoldKind> {
        match text {
            "hold" => Some(HoldKind::Hold),
            "authorization" => Some(HoldKind::Authorization),
            "certificate" => Some(HoldKind::Certificate),
            _ => None,
        }
    }
}

/// The public code a hold pays, and its owner (the secret code that may capture or void it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HoldPayee {
    pub owner_id: CodeId,
    pub payee: PublicCode,
    pub payee_id: CodeId,
}

impl HoldRecord {
    /// What it sets aside while pending: its amount, less what a certificate's payments took.
    pub fn held_units(&self) -> i64 {
        self.amount.units() - self.captured.map_or(0, Amount::units)
    }

    /// Whether `code` owns the payee (and so may capture or void a seller's hold).
    pub fn owned_by(&self, code: &CodeId) -> bool {
        self.payee.as_ref().is_some_and(|p| &p.owner_id == code)
    }

    /// The state as of `now`: a pending hold past its expiry is void even before the sweep.
    pub fn state_at(&self, now: Timestamp) -> HoldState {
        match self.state {
            HoldState::Pending if self.expires_at <= now => HoldState::Voided,
            state => state,
        }
    }

    /// Whether it still sets value aside at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.state_at(now) == HoldState::Pending
    }
}

/// A seller giving back part or all of a payment: its transfer's id, the receipt it refunds, and the
/// account credited (the payer's code or its nearest active ancestor; a peer's, for a peer's code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundRecord {
    pub id: String,
    pub receipt_id: String,
    /// The n-th refund of its receipt, from 1: two refunds of one receipt can never both be the
    /// n-th, so two processes cannot together refund more than was paid.
    pub seq: u32,
    pub amount: Amount,
    pub currency: Currency,
    pub reason: Option<String>,
    pub credited: AccountKey,
    pub created_at: Timestamp,
}

/// How a report groups transfers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportGrouping {
    Day,
    Month,
    PublicCode,
}

/// One row of a report, in micro-units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRow {
    pub key: String,
    pub count: u64,
    pub total_in_units: i64,
    pub total_out_units: i64,
}

/// A code's all-digit alias: the keyed hash of its digits (a secret code's alias is shown once and
/// kept only so), and for a public code's alias the digits themselves, which are public. A code has
/// at most one alias; a new one replaces it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliasRecord {
    pub code_id: CodeId,
    pub hash: crate::code::CodeHash,
    pub public_digits: Option<String>,
    pub created_at: Timestamp,
}

/// An assurance: a holder's promise that at least `floor` remains, certified to sellers. While it
/// is active and unexpired, the broker certifies it to a payee for a few minutes at a time (each
/// certificate a hold of the floor, [`HoldKind::Certificate`]) as long as the code can set the
/// floor aside.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssuranceRecord {
    pub id: crate::code::AssuranceId,
    pub code_id: CodeId,
    pub floor: Amount,
    pub currency: Currency,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// When its holder revoked it: no new certificate after, those given stand until they expire.
    pub cancelled_at: Option<Timestamp>,
}

impl AssuranceRecord {
    /// `active`, `cancelled` or `expired`, as of `now`.
    pub fn status_at(&self, now: Timestamp) -> &'static str {
        match self.cancelled_at {
            Some(_) => "cancelled",
            None if self.expires_at <= now => "expired",
            None => "active",
        }
    }
}

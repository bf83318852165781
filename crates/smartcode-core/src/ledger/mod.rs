//! The rules of the broker, written once over the [`LedgerRead`] and [`LedgerTx`] traits that each
//! store implements. Nothing here does I/O of its own: a store hands in a transaction, the core
//! decides, and the store commits (or rolls back) what the core wrote.
//!
//! One module per capability, each with its commands, outcomes, queries and rules: [`issuance`] (issue, deposit),
//! [`tree`] (children, funding, cancel, profiles, and who checked them: [`checks`]), [`payments`] (pay, receipts),
//! [`controls`] (PINs, unlock, rekey; the restrictions live in [`restrictions`]), [`expiry`] (the sweep), [`holds`]
//! (value set aside, captured or voided), [`quotes`] (rates, and payments across currencies through the exchange
//! account), [`peers`] (the other brokers this one federates with), [`purchases`] (offers bought under spending
//! rules, and the approval queue), [`sessions`] (metered sessions, charged as use accrues), [`items`] (content
//! sold, and its downloads), [`shares`] (downloads paid for by one and given out by a link), [`licenses`]
//! (copies paid for, with a public code that shows it), [`webhooks`] (subscriptions and the outbox of what they are owed) and [`reports`] (what a holder, the public and the operator
//! read). [`Command`] and [`Query`] have one variant per capability; that is the only place they meet.
//!
//! [`execute`] is a function of the transaction's state, the time and the [`Draws`] it is given:
//! every id a command makes comes from the caller's seed, so a run can be replayed exactly.
//!
//! Every change of value goes through [`post`], which checks that the debited code can afford it,
//! that no balance leaves its bounds, and only then asks the store to append the transfer: what
//! [`LedgerTx::append_transfer`] takes, a [`Posted`], only `post` can make.

pub mod aliases;
pub mod assurances;
pub mod authorizations;
pub mod checks;
pub mod controls;
mod conversions;
pub mod expiry;
pub mod federation;
pub mod holds;
pub mod issuance;
pub mod items;
pub mod licenses;
pub mod payments;
pub mod peers;
mod post;
pub mod purchases;
pub mod quotes;
pub mod reports;
pub mod restrictions;
mod rules;
pub mod sessions;
pub mod shares;
pub mod tree;
pub mod webhooks;

#[cfg(test)]
mod tests;

pub use post::{post, Posted};
pub use rules::{check_text, CodeView, Credential, PinPresented, UsageLeft};

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

use crate::approval::ApprovalRecord;
use crate::clock::Timestamp;
use crate::code::{
    ApprovalId, AssuranceId, CodeHash, CodeId, HoldId, PublicCode, QuoteId, ReceiptId, SessionId, TransferId, WebhookId,
};
use crate::error::{OpError, StoreResult};
use crate::model::*;
use crate::money::Currency;

/// What the core reads from a store. All reads of one operation see one consistent snapshot.
pub trait LedgerRead {
    fn code_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeRecord>>;
    fn code_by_id(&mut self, id: &CodeId) -> StoreResult<Option<CodeRecord>>;
    fn code_by_public(&mut self, code: &PublicCode) -> StoreResult<Option<CodeRecord>>;
    fn account(&mut self, key: &AccountKey) -> StoreResult<Option<AccountState>>;
    /// Direct children, oldest first, at most `limit`.
    fn children(&mut self, parent: &CodeId, limit: u32) -> StoreResult<Vec<CodeRecord>>;
    fn child_count(&mut self, parent: &CodeId) -> StoreResult<u32>;
    /// Transfers touching `account`, newest first, as `(sequence, transfer)`.
    fn transfers_of(&mut self, account: &AccountKey, filter: &TransferFilter) -> StoreResult<Vec<(i64, Transfer)>>;
    fn transfer_by_id(&mut self, id: &str) -> StoreResult<Option<Transfer>>;
    fn report(
        &mut self,
        account: &AccountKey,
        grouping: ReportGrouping,
        filter: &TransferFilter,
    ) -> StoreResult<Vec<ReportRow>>;
    /// Payments received through one public code: `(count, total units)`.
    fn public_code_stats(&mut self, public_code: &CodeId) -> StoreResult<(u64, i64)>;
    fn ledger_totals(&mut self) -> StoreResult<LedgerTotals>;
    /// Active codes whose expiry is at or before `now`, at most `limit`: earliest first, and of
    /// those expiring together the deepest first. A child expires no later than its parent, so by
    /// the time a code is closed its descendants are, and however large its tree, closing it stops
    /// a single code (a whole tree at once could exceed what one cancel may stop).
    fn due_expiries(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<CodeRecord>>;
    fn hold_by_id(&mut self, id: &HoldId) -> StoreResult<Option<HoldRecord>>;
    /// The holds on `code` whose stored state is pending (expired ones included), oldest first.
    fn pending_holds(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>>;
    /// Pending holds whose expiry is at or before `now`, earliest first, at most `limit`.
    fn due_holds(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<HoldRecord>>;
    /// The refunds of a payment, oldest first.
    fn refunds_of(&mut self, receipt_id: &str) -> StoreResult<Vec<RefundRecord>>;
    /// The authorization whose code has keyed hash `hash`, in any state.
    fn hold_by_code(&mut self, hash: &CodeHash) -> StoreResult<Option<HoldRecord>>;
    /// The authorizations `code` made, newest first, at most `limit`.
    fn authorizations_of(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>>;
    /// The code whose alias has keyed hash `hash`.
    fn alias_target(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeId>>;
    /// A code's alias, if it has one.
    fn alias_of(&mut self, code: &CodeId) -> StoreResult<Option<AliasRecord>>;
    /// The assurance whose code has keyed hash `hash`, in any state.
    fn assurance_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<AssuranceRecord>>;
    fn assurance_by_id(&mut self, id: &AssuranceId) -> StoreResult<Option<AssuranceRecord>>;
    /// The assurances `code` made, newest first, at most `limit`.
    fn assurances_of(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<AssuranceRecord>>;
    /// The operator's rate from `from` to `to`, if there is one.
    fn rate(&mut self, from: Currency, to: Currency) -> StoreResult<Option<RateRecord>>;
    /// Every rate, by `from` then `to`, at most `limit`.
    fn rates(&mut self, limit: u32) -> StoreResult<Vec<RateRecord>>;
    /// The peer named `name`, if there is one.
    fn peer(&mut self, name: &str) -> StoreResult<Option<PeerRecord>>;
    /// Every peer, by name, at most `limit`.
    fn peers(&mut self, limit: u32) -> StoreResult<Vec<PeerRecord>>;
    /// The balances of the peer `name`'s accounts, by currency (those it has).
    fn peer_balances(&mut self, name: &str) -> StoreResult<Vec<(Currency, i64)>>;
    fn quote_by_id(&mut self, id: &QuoteId) -> StoreResult<Option<QuoteRecord>>;
    fn approval_by_id(&mut self, id: &ApprovalId) -> StoreResult<Option<ApprovalRecord>>;
    /// The approvals `code` made or whose rule stopped, at most `limit`: those pending and not
    /// expired at `now` first, then the rest, each newest first.
    fn approvals_for(&mut self, code: &CodeId, now: Timestamp, limit: u32) -> StoreResult<Vec<ApprovalRecord>>;
    fn item_by_id(&mut self, id: &crate::code::ItemId) -> StoreResult<Option<crate::item::ItemRecord>>;
    /// The items `code` sells (a public code's, or the secret code's that owns them), at most
    /// `limit`, newest first.
    fn items_for(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<crate::item::ItemRecord>>;
    /// An item's stored content, if it was uploaded.
    fn item_content(&mut self, id: &crate::code::ItemId) -> StoreResult<Option<Vec<u8>>>;
    fn license_by_code(&mut self, code: &PublicCode) -> StoreResult<Option<crate::license::LicenseRecord>>;
    fn session_by_id(&mut self, id: &SessionId) -> StoreResult<Option<crate::session::SessionRecord>>;
    /// The sessions `code` opened, at most `limit`: those open and not expired at `now` first,
    /// then the rest, each newest first.
    fn sessions_for(
        &mut self,
        code: &CodeId,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<crate::session::SessionRecord>>;
    /// A code's webhook subscriptions that were not removed, oldest first.
    fn webhooks_of(&mut self, owner: &CodeId) -> StoreResult<Vec<crate::webhook::WebhookRecord>>;
    fn webhook_by_id(&mut self, id: &WebhookId) -> StoreResult<Option<crate::webhook::WebhookRecord>>;
    /// A subscription's deliveries, newest first, at most `limit`.
    fn deliveries_of(&mut self, webhook: &WebhookId, limit: u32) -> StoreResult<Vec<crate::webhook::DeliveryRecord>>;
    /// Subscriptions not removed and not leased at `now` whose first pending delivery is due by
    /// `now`, at most `limit`.
    fn due_webhooks(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<crate::webhook::WebhookRecord>>;
    /// The outbox's first deliveries by `seq` (the oldest), at most `limit`.
    fn oldest_deliveries(&mut self, limit: u32) -> StoreResult<Vec<crate::webhook::DeliveryRecord>>;
    /// A subscription's pending deliveries, in order, at most `limit`.
    fn pending_deliveries(
        &mut self,
        webhook: &WebhookId,
        limit: u32,
    ) -> StoreResult<Vec<crate::webhook::DeliveryRecord>>;
    /// The exchange accounts' balances, `(currency, units)` by currency.
    fn exchange_positions(&mut self) -> StoreResult<Vec<(Currency, i64)>>;
    /// This side's record of charge `id` with `peer` ([`federation`]).
    fn charge(&mut self, side: ChargeSide, peer: &str, id: &str) -> StoreResult<Option<ChargeRecord>>;
    /// What the seller-side charges through `peer` in `currency` still prepared add up to.
    fn prepared_charge_units(&mut self, peer: &str, currency: Currency) -> StoreResult<i64>;
    /// Seller-side charges with `peer` voiding, and prepared ones whose deadline is before
    /// `before`, oldest deadline first, at most `limit`.
    fn charges_in_doubt(&mut self, peer: &str, before: Timestamp, limit: u32) -> StoreResult<Vec<ChargeRecord>>;
    /// The charges with `peer` that moved value (seller side credited, buyer side charged or
    /// reversed), with deadlines from `since` to `until` (both included), oldest first.
    fn charges_with(
        &mut self,
        peer: &str,
        period: (Timestamp, Timestamp),
        limit: u32,
    ) -> StoreResult<Vec<ChargeRecord>>;
}

/// What the core writes. A store applies these inside the transaction of the current operation.
pub trait LedgerTx: LedgerRead {
    /// Inserts a code; `hash` is the keyed hash of a secret code and `None` for a public code.
    fn insert_code(&mut self, record: &CodeRecord, hash: Option<&CodeHash>) -> StoreResult<()>;
    /// Opens an account with a zero balance, or does nothing if it is open already.
    fn open_account(&mut self, key: &AccountKey, currency: Currency) -> StoreResult<()>;
    /// Appends the transfer and moves its amount from the debit to the credit account's balance.
    /// Only [`post`] makes a [`Posted`], after checking every bound.
    fn append_transfer(&mut self, transfer: &Posted) -> StoreResult<()>;
    fn set_status(&mut self, id: &CodeId, status: CodeStatus, at: Timestamp) -> StoreResult<()>;
    fn set_profile(&mut self, id: &CodeId, profile: &Profile) -> StoreResult<()>;
    /// Replaces what a public code sells.
    fn set_catalog(&mut self, id: &CodeId, catalog: &Catalog) -> StoreResult<()>;
    /// Sets or removes the check of a code's profile.
    fn set_check(&mut self, id: &CodeId, check: Option<&ProfileCheck>) -> StoreResult<()>;
    fn set_pin(&mut self, id: &CodeId, pin: &PinState) -> StoreResult<()>;
    /// Replaces a secret code's hash (rekey): the old code stops working at once.
    fn set_code_hash(&mut self, id: &CodeId, hash: &CodeHash) -> StoreResult<()>;
    /// Replaces a code's spending rules and their counters (`None`: it has none).
    fn set_spending(&mut self, id: &CodeId, rules: Option<&crate::spending::Rules>) -> StoreResult<()>;
    /// Marks the code and every code below it as having a restricted lineage, so that their
    /// payments walk up to the code's spending rules (`CodeRecord::restricted_lineage`).
    fn mark_lineage(&mut self, id: &CodeId) -> StoreResult<()>;
    fn set_usage(&mut self, id: &CodeId, usage: &Usage) -> StoreResult<()>;
    /// Inserts a hold; `code` is the keyed hash of an authorization's code, `None` for a seller's hold.
    fn insert_hold(&mut self, hold: &HoldRecord, code: Option<&CodeHash>) -> StoreResult<()>;
    /// Writes a hold's state, resolution, `release_to` and payee (which an authorization made for
    /// no payee gets when it is used); its other fields never change.
    fn update_hold(&mut self, hold: &HoldRecord) -> StoreResult<()>;
    /// Adds `delta_units` (negative to release) to what an account holds aside.
    fn add_held(&mut self, key: &AccountKey, delta_units: i64) -> StoreResult<()>;
    /// Records a refund (its transfer is posted separately).
    fn insert_refund(&mut self, refund: &RefundRecord) -> StoreResult<()>;
    /// Takes `units` more from a pending certificate at `at` (`hold` as it stands after): a store
    /// that several processes write adds them to what is stored, bounded by the amount, so two
    /// that read it at once cannot both take what is left.
    fn take_from_hold(&mut self, hold: &HoldRecord, units: i64, at: Timestamp) -> StoreResult<()>;
    fn insert_assurance(&mut self, assurance: &AssuranceRecord, hash: &CodeHash) -> StoreResult<()>;
    fn cancel_assurance(&mut self, id: &AssuranceId, at: Timestamp) -> StoreResult<()>;
    /// Gives a code its alias, replacing any it had; `None` removes it.
    fn set_alias(&mut self, code: &CodeId, alias: Option<&AliasRecord>) -> StoreResult<()>;
    /// Sets the rate of its pair, replacing the one before.
    fn set_rate(&mut self, rate: &RateRecord) -> StoreResult<()>;
    /// Stores a peer, replacing the one of its name.
    fn put_peer(&mut self, peer: &PeerRecord) -> StoreResult<()>;
    fn delete_peer(&mut self, name: &str) -> StoreResult<()>;
    fn insert_quote(&mut self, quote: &QuoteRecord) -> StoreResult<()>;
    fn insert_approval(&mut self, approval: &ApprovalRecord) -> StoreResult<()>;
    /// Writes an approval's new state (and who stopped it, if that changed); a store refuses, as
    /// a lost race, one that is no longer pending.
    fn update_approval(&mut self, approval: &ApprovalRecord) -> StoreResult<()>;
    fn insert_item(&mut self, item: &crate::item::ItemRecord) -> StoreResult<()>;
    /// Stores an item's content and its new description (`item.content`), replacing both.
    fn put_item_content(&mut self, item: &crate::item::ItemRecord, bytes: &[u8]) -> StoreResult<()>;
    /// Counts one more fetch of the download granted by payment `receipt_id`, atomically, and
    /// answers the fetches counted now; `None`, counting nothing, once `fetches_max` were counted.
    fn count_fetch(&mut self, receipt_id: &str, fetches_max: u32) -> StoreResult<Option<u32>>;
    fn insert_license(&mut self, license: &crate::license::LicenseRecord) -> StoreResult<()>;
    fn insert_session(&mut self, session: &crate::session::SessionRecord) -> StoreResult<()>;
    /// Writes a webhook subscription, new or changed.
    fn put_webhook(&mut self, webhook: &crate::webhook::WebhookRecord) -> StoreResult<()>;
    /// Adds a delivery to the outbox (its `seq` is the store's to give).
    fn insert_delivery(&mut self, delivery: &crate::webhook::DeliveryRecord) -> StoreResult<()>;
    /// Deletes these deliveries, answering how many went; a store never gives a `seq` twice.
    fn delete_deliveries(&mut self, seqs: &[i64]) -> StoreResult<u32>;
    /// Writes what an attempt at a stored delivery (`seq` set) gave.
    fn update_delivery(&mut self, delivery: &crate::webhook::DeliveryRecord) -> StoreResult<()>;
    /// Records whether a code has webhook subscriptions (`CodeRecord::webhooks`).
    fn set_webhooks(&mut self, code: &CodeId, subscribed: bool) -> StoreResult<()>;
    /// Writes a session's new `charged`, state and what else changed; a store refuses, as a lost
    /// race, a session that is no longer open or whose charged units are no longer `was_charged`.
    fn update_session(&mut self, session: &crate::session::SessionRecord, was_charged: i64) -> StoreResult<()>;
    /// Records that an open quote was used (`quote.used`); a store refuses, as a lost race, a
    /// quote another transaction used meanwhile.
    fn use_quote(&mut self, quote: &QuoteRecord) -> StoreResult<()>;
    /// Deletes the quotes never used that expired before `expired_before`; answers how many.
    fn forget_unused_quotes(&mut self, expired_before: Timestamp) -> StoreResult<u64>;
    /// Records a new charge; a store refuses, as a lost race, one that exists already.
    fn insert_charge(&mut self, charge: &ChargeRecord) -> StoreResult<()>;
    /// Writes a charge's new state (and approval); a store refuses, as a lost race, a charge whose
    /// stored state is no longer `was`.
    fn update_charge(&mut self, charge: &ChargeRecord, was: ChargeState) -> StoreResult<()>;
}

/// A window and page over a code's transfers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferFilter {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only transfers with a sequence number below this (the page cursor).
    pub before_sequence: Option<i64>,
    pub limit: u32,
}

// ---------------------------------------------------------------------------------------------
// The random values of one command.

/// The seed of every id one command makes: 256 bits drawn by the caller, the way the caller reads
/// the clock. The same seed, state and time give the same ids, so a batch run again (a store that
/// lost a race, or rolled back to savepoints) makes the same ids, and a run can be replayed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Seed(pub [u8; 32]);

impl Seed {
    /// A fresh seed from the thread's CSPRNG (seeded from the operating system).
    pub fn random() -> Seed {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        Seed(bytes)
    }
}

impl std::fmt::Debug for Seed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Ids are unguessable only while their seed is unknown.
        f.write_str("Seed(<redacted>)")
    }
}

/// Where a command's ids come from, all from the command's [`Seed`]: the first draw of up to 16
/// bytes (most commands make one id, a payment its receipt id) is the seed's own first bytes; any
/// later draw comes from a CSPRNG (ChaCha) keyed by SHA-256 of the seed, so ids shown to a caller
/// never reveal the key of the ones that follow. Starting the CSPRNG costs a block of ChaCha, which
/// a payment does not pay.
pub struct Draws {
    seed: [u8; 32],
    first_taken: bool,
    stream: Option<StdRng>,
}

/// The longest first draw served from the seed itself: one id's random symbols.
const FIRST_DRAW_BYTES_MAX: usize = 16;

impl Draws {
    pub fn new(seed: Seed) -> Draws {
        Draws {
            seed: seed.0,
            first_taken: false,
            stream: None,
        }
    }

    pub fn code_id(&mut self) -> CodeId {
        CodeId::draw(self)
    }

    pub fn transfer_id(&mut self) -> TransferId {
        TransferId::draw(self)
    }

    pub fn receipt_id(&mut self, at: Timestamp) -> ReceiptId {
        ReceiptId::draw_at(at, self)
    }

    fn stream(&mut self) -> &mut StdRng {
        let seed = self.seed;
        self.stream
            .get_or_insert_with(|| StdRng::from_seed(<sha2::Sha256 as sha2::Digest>::digest(seed).into()))
    }
}

impl RngCore for Draws {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let first = !std::mem::replace(&mut self.first_taken, true);
        if first && dest.len() <= FIRST_DRAW_BYTES_MAX {
            dest.copy_from_slice(&self.seed[..dest.len()]);
            return;
        }
        self.stream().fill_bytes(dest);
    }

    fn next_u32(&mut self) -> u32 {
        let mut bytes = [0u8; 4];
        self.fill_bytes(&mut bytes);
        u32::from_le_bytes(bytes)
    }

    fn next_u64(&mut self) -> u64 {
        let mut bytes = [0u8; 8];
        self.fill_bytes(&mut bytes);
        u64::from_le_bytes(bytes)
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// What one command runs with besides the store: the time and the random values it is given.
pub struct Context {
    pub now: Timestamp,
    pub draws: Draws,
}

impl Context {
    pub fn new(now: Timestamp, seed: Seed) -> Context {
        Context {
            now,
            draws: Draws::new(seed),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Commands: everything that writes, one variant per capability.

#[derive(Clone, Debug)]
pub enum Command {
    Issuance(issuance::Command),
    Tree(tree::Command),
    Payments(payments::Command),
    Controls(controls::Command),
    Expiry(expiry::Command),
    Holds(holds::Command),
    Authorizations(authorizations::Command),
    Aliases(aliases::Command),
    Assurances(assurances::Command),
    Quotes(quotes::Command),
    Peers(peers::Command),
    Federation(federation::Command),
    Purchases(purchases::Command),
    Sessions(sessions::Command),
    Webhooks(webhooks::Command),
    Items(items::Command),
    Shares(shares::Command),
    Licenses(licenses::Command),
}

/// What a command did, one variant per capability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Issuance(issuance::Outcome),
    Tree(tree::Outcome),
    Payments(payments::Outcome),
    Controls(controls::Outcome),
    Expiry(expiry::Outcome),
    Holds(holds::Outcome),
    Authorizations(authorizations::Outcome),
    Aliases(aliases::Outcome),
    Assurances(assurances::Outcome),
    Quotes(quotes::Outcome),
    Peers(peers::Outcome),
    Federation(federation::Outcome),
    Purchases(purchases::Outcome),
    Sessions(sessions::Outcome),
    Webhooks(webhooks::Outcome),
    Items(items::Outcome),
    Shares(shares::Outcome),
    Licenses(licenses::Outcome),
}

impl Outcome {
    /// The code a command made or changed, for the outcomes that answer with one.
    pub fn code_view(&self) -> Option<&CodeView> {
        match self {
            Outcome::Issuance(issuance::Outcome::Issued(view))
            | Outcome::Tree(tree::Outcome::Created(view) | tree::Outcome::ProfileSet(view))
            | Outcome::Controls(controls::Outcome::Changed(view)) => Some(view),
            _ => None,
        }
    }

    /// Like [`Outcome::code_view`], taking the outcome.
    pub fn into_code_view(self) -> Option<CodeView> {
        match self {
            Outcome::Issuance(issuance::Outcome::Issued(view))
            | Outcome::Tree(tree::Outcome::Created(view) | tree::Outcome::ProfileSet(view))
            | Outcome::Controls(controls::Outcome::Changed(view)) => Some(*view),
            _ => None,
        }
    }
}

/// Runs one command inside the store's transaction. On `Err`, the store rolls back everything the
/// command wrote, so a refusal never leaves a partial effect.
pub fn execute(tx: &mut (impl LedgerTx + ?Sized), cx: &mut Context, command: &Command) -> Result<Outcome, OpError> {
    match command {
        Command::Issuance(command) => issuance::execute(tx, cx, command).map(Outcome::Issuance),
        Command::Tree(command) => tree::execute(tx, cx, command).map(Outcome::Tree),
        Command::Payments(command) => payments::execute(tx, cx, command).map(Outcome::Payments),
        Command::Controls(command) => controls::execute(tx, cx, command).map(Outcome::Controls),
        Command::Expiry(command) => expiry::execute(tx, cx, command).map(Outcome::Expiry),
        Command::Holds(command) => holds::execute(tx, cx, command).map(Outcome::Holds),
        Command::Authorizations(command) => authorizations::execute(tx, cx, command).map(Outcome::Authorizations),
        Command::Aliases(command) => aliases::execute(tx, cx, command).map(Outcome::Aliases),
        Command::Assurances(command) => assurances::execute(tx, cx, command).map(Outcome::Assurances),
        Command::Quotes(command) => quotes::execute(tx, cx, command).map(Outcome::Quotes),
        Command::Peers(command) => peers::execute(tx, cx, command).map(Outcome::Peers),
        Command::Federation(command) => federation::execute(tx, cx, command).map(Outcome::Federation),
        Command::Purchases(command) => purchases::execute(tx, cx, command).map(Outcome::Purchases),
        Command::Sessions(command) => sessions::execute(tx, cx, command).map(Outcome::Sessions),
        Command::Webhooks(command) => webhooks::execute(tx, cx, command).map(Outcome::Webhooks),
        Command::Items(command) => items::execute(tx, cx, command).map(Outcome::Items),
        Command::Shares(command) => shares::execute(tx, cx, command).map(Outcome::Shares),
        Command::Licenses(command) => licenses::execute(tx, cx, command).map(Outcome::Licenses),
    }
}

/// What a batch of commands will read, so a store can fetch it in bulk before the batch runs (the
/// PostgreSQL store's prefetch). Only a hint: a command reads whatever it needs either way.
#[derive(Clone, Debug, Default)]
pub struct Touches {
    /// Secret codes presented, by hash.
    pub codes: Vec<CodeHash>,
    /// Public codes named (a payment's payee).
    pub public_codes: Vec<PublicCode>,
    /// Holds named by id (a capture's, a void's).
    pub holds: Vec<HoldId>,
}

impl Command {
    /// Adds what this command will read to `touches`.
    pub fn touches(&self, touches: &mut Touches) {
        match self {
            Command::Payments(command) => command.touches(touches),
            Command::Holds(command) => command.touches(touches),
            Command::Authorizations(command) => command.touches(touches),
            Command::Assurances(command) => command.touches(touches),
            Command::Quotes(command) => command.touches(touches),
            Command::Purchases(command) => command.touches(touches),
            Command::Sessions(command) => command.touches(touches),
            Command::Items(command) => command.touches(touches),
            Command::Shares(command) => command.touches(touches),
            Command::Licenses(command) => command.touches(touches),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Queries: everything that only reads, one variant per capability.

#[derive(Clone, Debug)]
pub enum Query {
    Reports(reports::Query),
    Payments(payments::Query),
    Holds(holds::Query),
    Authorizations(authorizations::Query),
    Aliases(aliases::Query),
    Assurances(assurances::Query),
    Quotes(quotes::Query),
    Peers(peers::Query),
    Federation(federation::Query),
    Purchases(purchases::Query),
    Sessions(sessions::Query),
    Webhooks(webhooks::Query),
    Items(items::Query),
    Shares(shares::Query),
    Licenses(licenses::Query),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    Reports(reports::QueryOutcome),
    Payments(payments::QueryOutcome),
    Holds(holds::QueryOutcome),
    Authorizations(authorizations::QueryOutcome),
    Aliases(aliases::QueryOutcome),
    Assurances(assurances::QueryOutcome),
    Quotes(quotes::QueryOutcome),
    Peers(peers::QueryOutcome),
    Federation(federation::QueryOutcome),
    Purchases(purchases::QueryOutcome),
    Sessions(sessions::QueryOutcome),
    Webhooks(webhooks::QueryOutcome),
    Items(items::QueryOutcome),
    Shares(shares::QueryOutcome),
    Licenses(licenses::QueryOutcome),
}

pub fn query(tx: &mut (impl LedgerRead + ?Sized), now: Timestamp, query: &Query) -> Result<QueryOutcome, OpError> {
    match query {
        Query::Reports(query) => reports::query(tx, now, query).map(QueryOutcome::Reports),
        Query::Payments(query) => payments::query(tx, query).map(QueryOutcome::Payments),
        Query::Holds(query) => holds::query(tx, query).map(QueryOutcome::Holds),
        Query::Authorizations(query) => authorizations::query(tx, query).map(QueryOutcome::Authorizations),
        Query::Aliases(query) => aliases::query(tx, query).map(QueryOutcome::Aliases),
        Query::Assurances(query) => assurances::query(tx, query).map(QueryOutcome::Assurances),
        Query::Quotes(query) => quotes::query(tx, query).map(QueryOutcome::Quotes),
        Query::Peers(query) => peers::query(tx, query).map(QueryOutcome::Peers),
        Query::Federation(query) => federation::query(tx, query).map(QueryOutcome::Federation),
        Query::Purchases(query) => purchases::query(tx, now, query).map(QueryOutcome::Purchases),
        Query::Sessions(query) => sessions::query(tx, now, query).map(QueryOutcome::Sessions),
        Query::Webhooks(query) => webhooks::query(tx, now, query).map(QueryOutcome::Webhooks),
        Query::Items(query) => items::query(tx, query).map(QueryOutcome::Items),
        Query::Shares(query) => shares::query(tx, now, query).map(QueryOutcome::Shares),
        Query::Licenses(query) => licenses::query(tx, query).map(QueryOutcome::Licenses),
    }
}

//! Why an operation was refused. Each variant maps to one stable `code` word at the HTTP edge.

use std::fmt;

/// A store failed underneath an operation (disk, database, corrupted row). Opaque to callers,
/// complete in the log.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageFailure(pub String);

impl fmt::Debug for StorageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageFailure({})", self.0)
    }
}

impl fmt::Display for StorageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type StoreResult<T> = Result<T, StorageFailure>;

/// A well-formed request that the state of the codes (or the clock) rules out. Not
/// [`Invalid`]: a 400 means the request broke the API's document, and these fit it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("a peer of this name exists: remove it first, or give --name")]
    PeerExists,
    #[error("peer {by} has this domain or broker number: codes could not tell the two brokers apart")]
    PeerRouteTaken { by: String },
    #[error("this peer's position is not settled: record the settlements first (GET …/position)")]
    PeerPositionOpen,
    #[error("a payment by a code of another broker is not refunded here yet: settle it with that broker")]
    RefundAcrossBrokers,
    #[error("a code cannot pay into its own public code")]
    PayOwnPublicCode,
    #[error("a public code holds no value; fund a secret child")]
    FundPublicCode,
    #[error("this code has no PIN: send the request without one")]
    PinWithoutPin,
    #[error("expiry must be in the future")]
    ExpiryInPast,
    #[error("{field}: a public code nested under another sells only what that one sells ({allowed})")]
    OutsideEnclosingCatalog { field: &'static str, allowed: String },
    #[error("categories and items are what a public code sells; a secret code's own profile has none")]
    CatalogOfSecretCode,
    #[error("expiry may be at most {} seconds away", crate::limits::EXPIRY_SECONDS_MAX)]
    ExpiryTooFar,
    #[error("this code was cancelled: what it held went back to the code that cancelled it")]
    CodeCancelled,
    #[error("this profile has no name to check")]
    NoNameToCheck,
    #[error("the profile's name is now {current:?}, not the name you checked: look at it again")]
    NameNotChecked { current: String },
    #[error("this profile is checked by the broker or by a code above yours; only that checker changes its check")]
    CheckedAbove,
    #[error(
        "the code that paid is closed and what it held came back to this code: the refund would pay this code itself"
    )]
    RefundToSelf,
    #[error("a rate converts one currency into another; {0} to {0} needs none")]
    RateWithinCurrency(crate::money::Currency),
    #[error("the price is in {0} already: pay it without a quote")]
    QuoteWithinCurrency(crate::money::Currency),
    #[error("at this payment's quote, the refund is less than the smallest unit of the payer's currency: refund more")]
    RefundBelowUnit,
    #[error("this purchase is {state}: only a pending one can be approved or declined")]
    ApprovalNotPending { state: &'static str },
    #[error("the seller made no counter-offer for this purchase: approve it at the offer's price")]
    NoCounterOffer,
}

/// Why a quote cannot be made or paid with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuoteRefusal {
    #[error("the broker has no rate from {from} to {to}")]
    NoRate {
        from: crate::money::Currency,
        to: crate::money::Currency,
    },
    #[error("this quote expired: ask for a new one")]
    Expired,
    #[error("this quote was used already; a quote pays once")]
    Used,
    #[error("this quote was made for another payee")]
    OtherPayee,
    #[error("a quote pays exactly its price ({}); leave amount out or give that", crate::money::format_units(*price_units))]
    NotThePrice { price_units: i64 },
    #[error("at this rate the price costs more than one payment may move")]
    PayTooLarge,
}

/// Why a refund cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefusal {
    #[error("refunds of a payment add up to at most the payment: {} is left to refund", crate::money::format_units(*refundable_units))]
    ExceedsPayment { refundable_units: i64 },
    #[error("a payment can be refunded for {} days after it was made", crate::limits::REFUND_WINDOW_SECONDS / 86_400)]
    WindowClosed,
}

/// Why a hold cannot do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoldRefusal {
    #[error("this hold is {state}: only a pending hold can be captured or voided")]
    NotPending { state: &'static str },
    #[error("a capture takes at most the hold's amount ({})", crate::money::format_units(*held_units))]
    MoreThanHeld { held_units: i64 },
    #[error("this authorization code pays exactly {}", crate::money::format_units(*authorized_units))]
    NotAuthorizedAmount { authorized_units: i64 },
}

/// Why a charge of a metered session (`ledger::sessions`) is refused; nothing of it is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionRefusal {
    #[error("this session is closed ({reason}): it takes no more charges")]
    Closed { reason: &'static str },
    #[error("the session's cap leaves {} to charge", crate::money::format_units(*left_units))]
    CapExceeded { left_units: i64 },
    #[error("faster than the session's price per minute: {} has accrued and not been charged", crate::money::format_units(*accrued_left_units))]
    Accrual { accrued_left_units: i64 },
    #[error("the buyer's spending rules let no more through now ({why}): charge less, or later")]
    Rules { why: String },
}

/// Why an item (`ledger::items`) cannot be sold, uploaded or downloaded as asked; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ItemRefusal {
    #[error("this item has no content yet: its seller uploads it first (PUT /v1/me/items/{{id}}/content)")]
    NoContent,
    #[error("this item is kept on its seller's server (its url): it takes no upload")]
    KeptElsewhere,
    #[error("this download was fetched {fetches_max} times already, as many as a purchase allows")]
    DownloadExhausted { fetches_max: u32 },
    #[error("this download's time is over: a purchase may be fetched for a bounded time after it")]
    DownloadExpired,
    #[error("this download is for another item")]
    DownloadOtherItem,
    #[error("this purchase was refunded in full: it downloads nothing more")]
    DownloadRefunded,
    #[error("this share was cancelled by whoever gave it: its free downloads are gone")]
    ShareCancelled,
    #[error("this share's time is over: what was left of it went back to whoever gave it")]
    ShareExpired,
    #[error("all {uses} free downloads of this share were used: buy the item for its price")]
    ShareUsedUp { uses: u32 },
}

/// Why a license (`ledger::licenses`) cannot be bought as asked; nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseRefusal {
    #[error("this item is sold through {expected}: a license for it pays that public code (give it as payee, or leave payee out)")]
    PayeeMismatch { expected: String },
    #[error(
        "the price times the copies is more than one payment may move ({}): buy fewer copies in each license",
        crate::money::format_units(crate::limits::AMOUNT_UNITS_MAX)
    )]
    TotalTooLarge,
}

/// Why a charge between brokers cannot be made, or changed as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerRefusal {
    #[error("this peer is suspended: its charges are refused both ways until the operator resumes it")]
    Suspended,
    #[error(
        "this peer owes as much as its credit limit allows in {currency}: new charges through it wait until it settles"
    )]
    LimitReached { currency: crate::money::Currency },
    #[error("this charge was voided by the seller's broker: it is never made")]
    ChargeClosed,
    #[error("this charge came after its deadline: the seller's broker no longer waits for it")]
    ChargeLate,
    #[error("this charge is {state} here: only a prepared charge is credited or voided")]
    ChargeNotPrepared { state: &'static str },
}

/// Why a request is malformed in a way only the core can see.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("period_seconds is 1 to {max}")]
    PeriodOutOfRange { max: i64 },
    #[error("uses_max must be at least 1")]
    UsesMaxZero,
    #[error("each of {field} is 1 to {chars_max} characters without control characters")]
    ListEntry { field: &'static str, chars_max: usize },
    #[error("{field} holds control characters")]
    ControlCharacters { field: &'static str },
    #[error("profile url must be an http:// or https:// address")]
    ProfileUrl,
    #[error(
        "url must be an http:// or https:// address of at most {} characters, without spaces or credentials",
        crate::limits::WEBHOOK_URL_CHARS_MAX
    )]
    WebhookUrl,
    #[error("{field} must not be empty")]
    EmptyText { field: &'static str },
    #[error("a hold expires 1 to {max} seconds from now")]
    HoldExpiry { max: i64 },
    #[error("an authorization code expires 1 to {max} seconds from now")]
    AuthorizationExpiry { max: i64 },
    #[error("an assurance code expires 1 to {max} seconds from now")]
    AssuranceExpiry { max: i64 },
    #[error("fee_bps is 0 to {max}")]
    FeeBps { max: u32 },
    #[error("rules: {why}")]
    Rules { why: String },
}

/// Which rule of a code (or of an ancestor) forbids a use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Restriction {
    #[error("{field}: an ancestor allows none of the {field} asked for")]
    NoneAllowed { field: &'static str },
    #[error("payees: this code may not pay this public code")]
    Payee,
    #[error("amount_per_use_max: this code may pay at most {} per payment", crate::money::format_units(*max_units))]
    AmountPerUse { max_units: i64 },
    #[error("uses_max: all {uses_max} uses are spent")]
    UsesSpent { uses_max: u32 },
    #[error("spend_per_period: at most {} per {period_seconds} seconds", crate::money::format_units(*amount_units))]
    SpendPerPeriod { amount_units: i64, period_seconds: i64 },
    #[error("{field}: this code may pay only for some {field}, and this public code declares none")]
    Undeclared { field: &'static str },
    #[error("{field}: this code may not pay for what this public code sells")]
    NotAllowed { field: &'static str },
    #[error("{field}: this public code does not sell what the payment names; it sells {sold}")]
    NotSold { field: &'static str, sold: String },
    #[error("rules: the spending rule {rule:?} refuses this payment")]
    Rule { rule: String, code: String },
}

/// Which named bound (see [`crate::limits`]) a request would cross.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Limit {
    #[error("a cancel may stop at most {} codes", crate::limits::CANCEL_SUBTREE_CODES_MAX)]
    CancelSubtree,
    #[error("a code may have at most {} children", crate::limits::CHILDREN_PER_CODE_MAX)]
    ChildrenPerCode,
    #[error("a code tree is at most {} generations deep", crate::limits::TREE_DEPTH_MAX)]
    TreeDepth,
    #[error(
        "a code may hold at most {} units",
        crate::money::format_units(crate::limits::BALANCE_UNITS_MAX)
    )]
    Balance,
    #[error("issuance limit reached")]
    Issuance,
    #[error("balance limit reached")]
    BalanceOverflow,
    #[error("reclaimed value overflows")]
    ReclaimOverflow,
    #[error("a code may have at most {} spending rules", crate::limits::RULES_PER_CODE_MAX)]
    RulesPerCode,
    #[error("{field} may list at most {} entries", crate::limits::RESTRICTION_ENTRIES_MAX)]
    ListEntries { field: &'static str },
    #[error("{field} is longer than {chars_max} characters")]
    TextTooLong { field: &'static str, chars_max: usize },
    #[error("a code may have at most {} pending holds", crate::limits::HOLDS_PER_CODE_MAX)]
    HoldsPerCode,
    #[error("a payment may have at most {} refunds", crate::limits::REFUNDS_PER_PAYMENT_MAX)]
    RefundsPerPayment,
    #[error("the broker keeps at most {} rates", crate::limits::RATES_MAX)]
    Rates,
    #[error("the broker has at most {} peers", crate::limits::PEERS_MAX)]
    Peers,
    #[error(
        "a code may have at most {} purchases waiting for approval: approve or decline some",
        crate::limits::APPROVALS_PENDING_PER_CODE_MAX
    )]
    ApprovalsPerCode,
    #[error(
        "a code may have at most {} metered sessions open: close some",
        crate::limits::SESSIONS_OPEN_PER_CODE_MAX
    )]
    SessionsPerCode,
    #[error(
        "a code may have at most {} webhook subscriptions: remove some",
        crate::limits::WEBHOOKS_PER_CODE_MAX
    )]
    WebhooksPerCode,
    #[error("a public code may sell at most {} items", crate::limits::ITEMS_PER_PUBLIC_CODE_MAX)]
    ItemsPerPublicCode,
    #[error(
        "a share gives 1 to {} downloads, and its price times its uses fits in one amount",
        crate::limits::SHARE_USES_MAX
    )]
    ShareUses,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    InvalidRequest(Invalid),
    #[error("{0}")]
    Conflict(Conflict),
    #[error("no usable secret code matches")]
    InvalidCode,
    #[error("the code's available balance is below the amount")]
    InsufficientFunds,
    #[error("{0}")]
    Hold(HoldRefusal),
    #[error("{0}")]
    Refund(RefundRefusal),
    #[error("{0}")]
    Quote(QuoteRefusal),
    #[error("{0}")]
    Peer(PeerRefusal),
    #[error("{0}")]
    Session(SessionRefusal),
    #[error("{0}")]
    Item(ItemRefusal),
    #[error("{0}")]
    License(LicenseRefusal),
    #[error("this child was created irrevocable and cannot be cancelled")]
    NotRevocable,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the codes hold different currencies")]
    CurrencyMismatch,
    #[error("this code has a PIN: send it in the Smartcode-Pin header")]
    PinRequired,
    #[error("the PIN is wrong")]
    PinInvalid,
    #[error("too many wrong PINs: this code is locked until its parent unlocks it")]
    CodeLocked,
    /// A spending rule of the payer (or of an ancestor, `code`) asks its holder first: the rule
    /// says ask, or the payment is over one of its caps (`why`); or, for a purchase with no one
    /// asked, no rule pays it (`rule` is `None`).
    #[error("{}", approval_required(rule.as_deref(), why))]
    ApprovalRequired {
        rule: Option<String>,
        code: String,
        why: String,
    },
    /// Which rule forbids the use, named for the caller.
    #[error("{0}")]
    Restricted(Restriction),
    /// The core needs the edge to check the presented PIN against this hash (argon2id, too costly
    /// for the store's writer), then resubmit. Never shown to callers.
    #[error("the PIN must be verified")]
    VerifyPin {
        pin_hash: String,
        generation: u32,
        /// Wrong PINs counted since the last right one; a match must reset them even if the
        /// command is then refused for another reason (and rolled back).
        failures: u32,
    },
    #[error("the code has expired")]
    Expired,
    #[error("{0}")]
    LimitExceeded(Limit),
    /// A newly drawn secret or public code collided with an existing one; the caller draws again.
    #[error("a new code collided with an existing one")]
    CodeCollision,
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyConflict,
    #[error("the broker is overloaded; try again shortly")]
    Overloaded,
    #[error("storage failure")]
    Storage(StorageFailure),
}

fn approval_required(rule: Option<&str>, why: &str) -> String {
    match rule {
        Some(rule) => format!("rules: the spending rule {rule:?} asks its holder first: {why}"),
        None => format!("rules: the holder's approval is needed: {why}"),
    }
}

impl From<StorageFailure> for OpError {
    fn from(failure: StorageFailure) -> OpError {
        OpError::Storage(failure)
    }
}

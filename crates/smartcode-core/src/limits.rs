//! Every bound the broker keeps, named, with its unit last. A refusal of each is tested.

/// The largest amount one operation may move: one thousand million currency units, in micro-units.
/// Far below `i64::MAX`, so sums of many such amounts stay exact for a very long time.
pub const AMOUNT_UNITS_MAX: i64 = 1_000_000_000 * crate::money::UNITS_PER_WHOLE;
/// The largest balance a code may hold, in micro-units.
pub const BALANCE_UNITS_MAX: i64 = 1_000_000_000_000 * crate::money::UNITS_PER_WHOLE;
/// Labels of codes, in characters.
pub const LABEL_CHARS_MAX: usize = 100;
/// A payment's memo, in characters.
pub const MEMO_CHARS_MAX: usize = 500;
/// A payment's category or item, in characters.
pub const CATEGORY_CHARS_MAX: usize = 100;
/// Profile fields, in characters.
pub const PROFILE_NAME_CHARS_MAX: usize = 100;
pub const PROFILE_DESCRIPTION_CHARS_MAX: usize = 2_000;
pub const PROFILE_URL_CHARS_MAX: usize = 500;
pub const PROFILE_CONTACT_CHARS_MAX: usize = 200;
/// Direct children of one code (secret and public together).
pub const CHILDREN_PER_CODE_MAX: u32 = 1_000;
/// Generations below the broker's root. Deep enough for any real tree; bounds every walk up or down.
pub const TREE_DEPTH_MAX: u32 = 64;
/// Codes that one cancel or expiry may stop at once (the child and all its descendants): one
/// commit stays short. A larger subtree is cancelled from its lower branches first.
pub const CANCEL_SUBTREE_CODES_MAX: usize = 10_000;
/// Codes shown in one view of a code's tree (its descendants, breadth first); a larger tree says
/// it was cut short.
pub const TREE_VIEW_CODES_MAX: usize = 500;
/// Transactions on one page of history.
pub const TRANSACTIONS_PAGE_MAX: u32 = 500;
pub const TRANSACTIONS_PAGE_DEFAULT: u32 = 50;
/// Rows in one report; a longer report says it was truncated.
pub const REPORT_ROWS_MAX: u32 = 10_000;
/// Seconds a connection may take to send a request's headers, and may stay idle between two
/// requests, before the broker closes it: a client that trickles bytes cannot hold a connection.
pub const HEADER_READ_TIMEOUT_SECONDS: u64 = 30;
/// Seconds a request's body may take to arrive once its headers have (`408 request_timeout`).
pub const BODY_READ_TIMEOUT_SECONDS: u64 = 30;
/// Bytes in one request body.
pub const REQUEST_BODY_BYTES_MAX: usize = 16 * 1024;
/// Characters in an Idempotency-Key.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 255;
/// How long idempotency keys are kept, in seconds (API.md promises at least 24 hours).
pub const IDEMPOTENCY_KEY_KEPT_SECONDS: i64 = 48 * 3600;
/// Requests that may wait for the writer at once before new ones are refused as overloaded.
pub const WRITE_QUEUE_DEPTH_MAX: usize = 16_384;
/// Commands the embedded writer puts into one commit (group commit). What a commit costs beyond
/// its payments (the WAL pages of the accounts it touched, the sync) is shared by all of them, so
/// under heavy load larger batches make each payment cheaper; under light load a batch is only
/// what is waiting.
pub const BATCH_COMMANDS_MAX: usize = 4_096;
/// Entries in one restriction list (categories, payees, items).
pub const RESTRICTION_ENTRIES_MAX: usize = 100;

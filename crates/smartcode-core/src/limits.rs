//! Every bound the broker keeps, named, with its unit last, one meaning per name. A refusal of
//! each is tested. The core's rules come first, then the HTTP edge, the guessing defence, the
//! stores and the pages; bounds that must agree are checked at compile time at the end.

/// The largest amount one operation may move: one thousand million currency units, in micro-units.
/// Far below `i64::MAX`, so sums of many such amounts stay exact for a very long time.
pub const AMOUNT_UNITS_MAX: i64 = 1_000_000_000 * crate::money::UNITS_PER_WHOLE;
/// The largest balance a code may hold, in micro-units.
pub const BALANCE_UNITS_MAX: i64 = 1_000_000_000_000 * crate::money::UNITS_PER_WHOLE;
/// Labels of codes, in characters.
pub const LABEL_CHARS_MAX: usize = 100;
/// A payment's memo, in characters.
pub const MEMO_CHARS_MAX: usize = 500;
/// A payout's reference (the operator's record of the payment outside the system), in characters.
pub const REFERENCE_CHARS_MAX: usize = 200;
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
/// Transactions in one CSV download (`Accept: text/csv` without a `limit`); the rest of the window
/// starts at the cursor its `Smartcode-Next-Cursor` header names.
pub const TRANSACTIONS_CSV_ROWS_MAX: u32 = 10_000;
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
pub const EMBEDDED_BATCH_COMMANDS_MAX: usize = 4_096;
/// Commands one PostgreSQL writer puts into one transaction. Smaller than the embedded writer's:
/// a batch that loses a race with another process runs again whole.
pub const POSTGRES_BATCH_COMMANDS_MAX: usize = 1_024;
/// Receipts signed together under one signature (the leaves of one Merkle tree): every receipt
/// waiting to be signed, up to this many. Each receipt's proof is about log2 of it hashes long.
pub const RECEIPT_BATCH_RECEIPTS_MAX: usize = 4_096;
/// Receipts that may wait for the signer at once; a handler with one more waits for room.
pub const RECEIPT_SIGN_QUEUE_MAX: usize = 16_384;
/// Spending rules on one code (`PUT /v1/me/rules` replaces them all).
pub const RULES_PER_CODE_MAX: usize = 32;
/// Characters in a spending rule's name.
pub const RULE_NAME_CHARS_MAX: usize = 64;
/// Purchases one code may have waiting for approval at once (a purchase of an offer already
/// waiting answers that approval again, and does not count twice).
pub const APPROVALS_PENDING_PER_CODE_MAX: u32 = 100;
/// Approvals listed by `GET /v1/me/approvals`: waiting ones first, then the newest others.
pub const APPROVALS_LISTED_MAX: u32 = 200;
/// Metered sessions one code may have open at once (a purchase of an offer whose session is
/// open answers that session again, and does not count twice).
pub const SESSIONS_OPEN_PER_CODE_MAX: u32 = 100;
/// Sessions listed by `GET /v1/me/sessions`: open ones first, then the newest others.
pub const SESSIONS_LISTED_MAX: u32 = 200;
/// Bytes of an offer's JSON a purchase may carry (and an approval keeps).
pub const OFFER_JSON_BYTES_MAX: usize = 8 * 1024;
/// Characters of an offer's id, and of its description.
pub const OFFER_ID_CHARS_MAX: usize = 100;
pub const OFFER_DESCRIPTION_CHARS_MAX: usize = 500;
/// The longest an offer may be bought after it was read: an offer expiring later is bought, but
/// its approval waits no longer than this.
pub const OFFER_SECONDS_MAX: i64 = 7 * 24 * 3600;
/// A negotiation's bounds (the buyer's broker calling a seller's endpoint): at most this many
/// rounds whatever the offer's `max_rounds`, each call answered within its time, all of them
/// within the whole's, and an answer of at most this many bytes. A seller that breaks one is
/// given up on, and the purchase waits for approval.
pub const NEGOTIATION_ROUNDS_MAX: u32 = 10;
pub const NEGOTIATION_CALL_MILLIS: u64 = 2_000;
pub const NEGOTIATION_MILLIS: u64 = 10_000;
pub const NEGOTIATION_ANSWER_BYTES_MAX: usize = 4 * 1024;
/// Entries in one restriction list (categories, payees, items).
pub const RESTRICTION_ENTRIES_MAX: usize = 100;
/// The longest expiry a child may be given, and the longest period of a spending limit, in
/// seconds (ten years).
pub const EXPIRY_SECONDS_MAX: i64 = 10 * 366 * 24 * 3600;
/// Consecutive wrong PINs after which a code is locked until its parent unlocks it.
pub const PIN_FAILURES_MAX: u32 = 5;
/// How long a hold stays pending when its request names no expiry.
pub const HOLD_SECONDS_DEFAULT: i64 = 3600;
/// The longest a hold may stay pending.
pub const HOLD_SECONDS_MAX: i64 = 30 * 24 * 3600;
/// The most pending holds one code may have at once (each is read when the code's expired holds
/// are released, and listed in `GET /v1/me`).
pub const HOLDS_PER_CODE_MAX: u32 = 100;
/// How long an authorization code holds its amount when its request names no expiry.
pub const AUTHORIZATION_SECONDS_DEFAULT: i64 = 15 * 60;
/// The longest an authorization code may live: short lives are what make 10¹⁰ digits safe.
pub const AUTHORIZATION_SECONDS_MAX: i64 = 24 * 3600;
/// Authorizations listed by `GET /v1/me/authorizations`, newest first.
pub const AUTHORIZATIONS_LISTED_MAX: u32 = 100;
/// How long an assurance code lasts when its request names no expiry (30 days).
pub const ASSURANCE_SECONDS_DEFAULT: i64 = 30 * 24 * 3600;
/// The longest an assurance code may last (one year).
pub const ASSURANCE_SECONDS_MAX: i64 = 366 * 24 * 3600;
/// How long a certificate stands: payments presented with it within this time are never refused
/// for lack of funds, up to the floor.
pub const CERTIFICATE_SECONDS: i64 = 5 * 60;
/// Assurances listed by `GET /v1/me/assurances`, newest first.
pub const ASSURANCES_LISTED_MAX: u32 = 100;
/// How long after a payment its seller may refund it (180 days).
pub const REFUND_WINDOW_SECONDS: i64 = 180 * 24 * 3600;
/// The most refunds one payment may have.
pub const REFUNDS_PER_PAYMENT_MAX: u32 = 100;
/// Digits a rate may have before its decimal point (leading zeros aside): a rate is below 10^9.
pub const RATE_WHOLE_DIGITS_MAX: usize = 9;
/// Significant digits a rate may have after its decimal point: a rate is a multiple of 10^-9.
/// With the whole digits, a rate's digits fit an `i64` and a conversion's products an `i128`.
pub const RATE_DECIMALS_MAX: usize = 9;
/// The largest fee on a rate, in basis points (hundredths of a percent): 10%.
pub const FEE_BPS_MAX: u32 = 1_000;
/// Rates the operator may keep at once (one per ordered pair of currencies).
pub const RATES_MAX: u32 = 1_000;
/// Peers (other brokers) a broker may have.
pub const PEERS_MAX: u32 = 100;
/// Characters of a peer's name (letters, digits, `.` and `-`).
pub const PEER_NAME_CHARS_MAX: usize = 64;
/// Characters of a peer's URL.
pub const PEER_URL_CHARS_MAX: usize = 512;
/// Characters of a peer's domain, as DNS allows.
pub const PEER_DOMAIN_CHARS_MAX: usize = 253;
/// Characters of a peer's own name kept from its metadata (the rest is cut).
pub const PEER_TITLE_CHARS_MAX: usize = 200;
/// Credit limits a peer may have (one per currency).
pub const PEER_CREDIT_LIMITS_MAX: usize = 16;
/// Bytes of a peer's `/.well-known/smartcode` the broker reads, at most.
pub const PEER_METADATA_BYTES_MAX: usize = 64 * 1024;
/// Seconds the broker waits for a peer's metadata, connection included.
pub const PEER_FETCH_SECONDS: u64 = 5;
/// Seconds the seller's broker waits for the buyer's broker to answer a charge, retries included,
/// before it asks for the charge's outcome (a payment across brokers, ARCHITECTURE.md).
pub const PEER_CHARGE_SECONDS: i64 = 5;
/// Seconds one federation request may take, connection included (a charge retries within
/// [`PEER_CHARGE_SECONDS`]; an outcome or a void is one such request).
pub const PEER_REQUEST_SECONDS: u64 = 2;
/// How far two brokers' clocks may disagree, in seconds: a message dated further from the
/// receiver's clock is refused, and a charge is taken until its deadline plus this.
pub const PEER_CLOCK_SKEW_SECONDS: i64 = 30;
/// Bytes of one federation message (a request or its answer), at most.
pub const PEER_MESSAGE_BYTES_MAX: usize = 1024 * 1024;
/// Entries (charges, outcomes, voids) one federation message may carry.
pub const PEER_ENTRIES_PER_MESSAGE_MAX: usize = 1_000;
/// How long the edge keeps the peers it read, in milliseconds, before reading them again.
pub const PEERS_KEPT_MILLIS: u64 = 1_000;
/// Messages to one peer on their way at once; charges waiting meanwhile go together in the next.
pub const PEER_MESSAGES_IN_FLIGHT_MAX: usize = 2;
/// Characters of a charge's id, chosen by the seller's broker.
pub const CHARGE_ID_CHARS_MAX: usize = 64;
/// Lines of a statement between peers, at most (charges and settlements each).
pub const STATEMENT_ENTRIES_MAX: u32 = 10_000;
/// How long ago a statement ends when no `until` is given, in seconds: charges younger than this
/// may still be on their way (a deadline, an outcome, the resolver's voids).
pub const STATEMENT_SETTLE_SECONDS: i64 = 60;
/// Charges in doubt one pass of the resolver voids at the buyer's broker.
pub const CHARGE_RESOLVE_BATCH_MAX: u32 = 100;
/// The first wait between two attempts to resend a message, in milliseconds; it doubles up to
/// [`PEER_RETRY_MAX_MILLIS`].
pub const PEER_RETRY_FIRST_MILLIS: u64 = 50;
pub const PEER_RETRY_MAX_MILLIS: u64 = 30_000;
/// How long a quote holds its price, in seconds (15 minutes).
pub const QUOTE_SECONDS: i64 = 15 * 60;
/// Expired holds one sweep records as voided.
pub const HOLD_SWEEP_BATCH_MAX: u32 = 500;
/// A PIN is this many decimal digits, at least and at most.
pub const PIN_DIGITS_MIN: usize = 4;
pub const PIN_DIGITS_MAX: usize = 12;
/// Characters of a presented code before it is even read (spaces, hyphens and a `@broker` suffix
/// included).
pub const CODE_INPUT_CHARS_MAX: usize = 64;

// ---------------------------------------------------------------------------------------------
// The HTTP edge.

/// Times the edge submits one request's command: a PIN to verify first, or a newly drawn code
/// that collided with an existing one, each cost one more attempt.
pub const WRITE_ATTEMPTS_MAX: usize = 6;
/// The furthest the operator may move a test clock in one step, in seconds.
pub const TEST_CLOCK_ADVANCE_SECONDS_MAX: i64 = EXPIRY_SECONDS_MAX;
/// Milliseconds the accept loop waits after a failed accept (out of file descriptors, mostly).
pub const ACCEPT_RETRY_MS: u64 = 50;

// ---------------------------------------------------------------------------------------------
// The guessing defence.

/// The span every budget refills over, in seconds (a day): a budget of N a day refills one try
/// every day/N, continuously, never all at once.
pub const GUESS_WINDOW_SECONDS: i64 = 24 * 3600;
/// Free failures a day of one source (an IPv4 address, an IPv6 /64) that shows no proof
/// (NIST SP 800-63B allows up to 100). It is also the most a source saves up.
pub const SOURCE_FREE_FAILURES_PER_DAY: i64 = 10;
/// Free failures a day of all sources without a proof together: the global budget that keeps
/// the bound whatever the number of addresses (README, "The guessing defence").
pub const UNKNOWN_FREE_FAILURES_PER_DAY: i64 = 200;
/// Free failures a day of a holder that shows a proof of an earlier success, per tree.
pub const HOLDER_FREE_FAILURES_PER_DAY: i64 = 2;
/// Free failures a day of a seller's server that shows its seller key, per seller's tree.
pub const SELLER_FREE_FAILURES_PER_DAY: i64 = 6;
/// Trees (issued codes) an attacker is assumed to have bought, in the README's arithmetic.
pub const ATTACKER_TREES_ASSUMED: i64 = 5;
/// Addresses the attacker of the README's arithmetic has.
pub const ATTACKER_ADDRESSES_ASSUMED: i64 = 10_000;
/// SHA-256 hashes a second of one attacker's core, in the README's arithmetic (2^24: native
/// code with SHA extensions; a phone's browser does about 2^19).
pub const ATTACKER_HASHES_PER_SECOND_PER_CORE: i64 = 1 << 24;
/// The proof of work asked when free tries are used up, with no attack under way: 2^16 hashes,
/// a moment for the CLI and well under a second in a browser.
pub const POW_BASE_BITS: u32 = 16;
/// Failures paid with a proof of work that add one bit (double the work) to every next one.
pub const POW_FAILURES_PER_BIT: i64 = 64;
/// How fast that pressure drains, in failures a day: in the long run, the failures paid with
/// work are at most this many a day, however much the attacker computes.
pub const POW_PRESSURE_DRAIN_PER_DAY: i64 = 50;
/// The most bits a challenge asks: beyond it the pressure saturates (2^60 hashes is out of reach).
pub const POW_BITS_MAX: u32 = 60;
/// The most bits of work a broker does itself when a peer asks it for a proof of work (its
/// budget of wrong codes at that peer spent): 2^22 hashes, well under a second of one core, so the
/// charge is sent again within its deadline. Beyond it the seller is told `rate_limited`.
pub const PEER_POW_BITS_MAX: u32 = 22;
/// Pieces of work for peers a broker process does at once; a charge that finds them all busy is
/// not worked for (its seller is told `rate_limited`), so work for peers takes at most this many
/// cores.
pub const PEER_POW_AT_ONCE_MAX: usize = 1;
/// How long a challenge may be answered, in seconds.
pub const CHALLENGE_SECONDS: i64 = 300;
/// Challenges remembered as used at once; when full of unexpired ones, answers are refused.
pub const CHALLENGES_REDEEMED_MAX: usize = 100_000;
/// How long a proof of an earlier success is good for, in seconds (90 days).
pub const PROOF_VALID_SECONDS: i64 = 90 * 24 * 3600;
/// Failures after which each further failure of a budget is answered slowly.
pub const SOURCE_FAILURES_SLOW_AFTER: i64 = 3;
/// The slowdown per failure beyond [`SOURCE_FAILURES_SLOW_AFTER`], and its ceiling.
pub const SLOWDOWN_PER_FAILURE_MS: u64 = 250;
pub const SLOWDOWN_MAX_MS: u64 = 2_000;
/// Counters kept in memory at once; beyond it, those that have refilled are forgotten first.
pub const GUARD_COUNTERS_MAX: usize = 100_000;
/// Counters of one kind the operator's report lists.
pub const SECURITY_SOURCES_LISTED_MAX: usize = 50;
/// Jobs waiting for the PostgreSQL counters' connections; beyond it, `overloaded`.
pub const GUARD_QUEUE_DEPTH_MAX: usize = 4096;
/// Alarms kept for the operator to read.
pub const ALARMS_KEPT_MAX: usize = 100;

// ---------------------------------------------------------------------------------------------
// The stores.

/// Reads that may wait for a reader at once.
pub const READ_QUEUE_DEPTH_MAX: usize = 16_384;
/// Committed batches that may wait for the embedded syncer at once; a slower disk makes the
/// writer wait.
pub const SYNC_QUEUE_DEPTH_MAX: usize = 64;
/// How often the background sweep looks for expired codes.
pub const SWEEP_INTERVAL_MS: u64 = 1_000;
/// How often the sweep timer wakes to see whether a sweep is due or the store is stopping.
pub const SWEEP_TICK_MS: u64 = 100;
/// Codes one sweep reverts at most; the next sweep takes the rest.
pub const SWEEP_CODES_MAX: u32 = 1_000;
/// How often a writer purges idempotency keys older than [`IDEMPOTENCY_KEY_KEPT_SECONDS`].
pub const IDEMPOTENCY_PURGE_INTERVAL_SECONDS: u64 = 3_600;
/// How often the embedded checkpointer copies the WAL back into the database file.
pub const CHECKPOINT_INTERVAL_MS: u64 = 100;
/// Codes and accounts the embedded writer remembers at once; beyond them it forgets and reads
/// from SQLite again.
pub const CACHE_CODES_MAX: usize = 1_000_000;
pub const CACHE_ACCOUNTS_MAX: usize = 1_000_000;
/// Pending holds the embedded writer remembers at once (a capture or void then reads nothing);
/// beyond them it forgets and reads from SQLite again.
pub const CACHE_HOLDS_MAX: usize = 200_000;
/// Times one PostgreSQL batch is run before its commands are answered with a storage failure.
pub const BATCH_ATTEMPTS_MAX: u32 = 10;
/// Pause before the n-th new attempt of a PostgreSQL batch: n times this.
pub const RETRY_BACKOFF_MS: u64 = 2;
/// Pause after a failed attempt to reconnect to PostgreSQL, before the next batch.
pub const RECONNECT_WAIT_MS: u64 = 250;
/// The longest a PostgreSQL statement waits for a row lock before the batch runs again.
pub const LOCK_WAIT_MS_MAX: u64 = 5_000;
/// The longest the PostgreSQL store waits to connect.
pub const CONNECT_TIMEOUT_SECONDS: u64 = 10;

// ---------------------------------------------------------------------------------------------
// The pages.

/// Minutes of quiet after which a page session is forgotten, in seconds.
pub const SESSION_IDLE_SECONDS: u64 = 15 * 60;
/// Page sessions kept at once; beyond it, the least recently used is forgotten.
pub const SESSIONS_MAX: usize = 10_000;
/// Rows of history on one page of the control center.
pub const HISTORY_PAGE_ROWS: u32 = 20;

// ---------------------------------------------------------------------------------------------
// Bounds that must agree.

const _: () = assert!(AMOUNT_UNITS_MAX <= BALANCE_UNITS_MAX, "one payment fits in a balance");
const _: () = assert!(TRANSACTIONS_PAGE_DEFAULT <= TRANSACTIONS_PAGE_MAX);
const _: () = assert!(HISTORY_PAGE_ROWS <= TRANSACTIONS_PAGE_MAX);
const _: () = assert!(PIN_DIGITS_MIN <= PIN_DIGITS_MAX);
const _: () = assert!(SOURCE_FAILURES_SLOW_AFTER < SOURCE_FREE_FAILURES_PER_DAY);
const _: () = assert!(SOURCE_FREE_FAILURES_PER_DAY <= UNKNOWN_FREE_FAILURES_PER_DAY);
const _: () = assert!(POW_BASE_BITS < POW_BITS_MAX && POW_BITS_MAX < 256);
const _: () = assert!(POW_BASE_BITS <= PEER_POW_BITS_MAX && PEER_POW_BITS_MAX < POW_BITS_MAX);
const _: () = assert!(POW_FAILURES_PER_BIT > 0 && POW_PRESSURE_DRAIN_PER_DAY > 0);
const _: () = assert!(
    guessing_failures_a_year_max() <= GUESSING_FAILURES_A_YEAR_BOUND,
    "the README's bound: at most 109,500 failures a year, 0.1 codes a year of 10^6"
);

/// Failures a year that keep the README's bound: 0.1 codes found among 10^6 live codes of 32^8.
pub const GUESSING_FAILURES_A_YEAR_BOUND: i64 = 109_500;

/// The most failed presentations a year the guessing defence lets through, against the README's
/// attacker: every free budget spent every day (the pool of unknown sources, the drain of the
/// work's pressure, each of its trees' holder and seller budgets), the pressure's climb from the
/// base to the ceiling once, and beyond the ceiling what all its cores compute in a year.
pub const fn guessing_failures_a_year_max() -> i64 {
    let per_day = UNKNOWN_FREE_FAILURES_PER_DAY
        + POW_PRESSURE_DRAIN_PER_DAY
        + ATTACKER_TREES_ASSUMED * (HOLDER_FREE_FAILURES_PER_DAY + SELLER_FREE_FAILURES_PER_DAY);
    let climb = POW_FAILURES_PER_BIT * (POW_BITS_MAX - POW_BASE_BITS) as i64;
    let hashes_a_year = ATTACKER_ADDRESSES_ASSUMED as i128 * ATTACKER_HASHES_PER_SECOND_PER_CORE as i128 * 365 * 86_400;
    let beyond = ((hashes_a_year + (1i128 << POW_BITS_MAX) - 1) >> POW_BITS_MAX) as i64;
    365 * per_day + climb + beyond
}
const _: () = assert!(SLOWDOWN_PER_FAILURE_MS <= SLOWDOWN_MAX_MS);
const _: () = assert!(
    RATE_WHOLE_DIGITS_MAX + RATE_DECIMALS_MAX <= 18,
    "a rate's digits fit an i64, and a conversion's products an i128"
);
const _: () = assert!(
    IDEMPOTENCY_KEY_KEPT_SECONDS >= 24 * 3600,
    "API.md promises idempotency keys are kept at least 24 hours"
);
const _: () = assert!(
    EMBEDDED_BATCH_COMMANDS_MAX <= WRITE_QUEUE_DEPTH_MAX && POSTGRES_BATCH_COMMANDS_MAX <= WRITE_QUEUE_DEPTH_MAX,
    "a batch is taken from the write queue"
);
const _: () = assert!(
    SWEEP_CODES_MAX as usize <= CANCEL_SUBTREE_CODES_MAX,
    "a sweep closes no more codes than one cancel may stop"
);
const _: () = assert!(SWEEP_TICK_MS <= SWEEP_INTERVAL_MS);
const _: () = assert!(
    (CHILDREN_PER_CODE_MAX as usize) <= CANCEL_SUBTREE_CODES_MAX,
    "a parent's direct children can always be cancelled one by one"
);
const _: () = assert!(
    CODE_INPUT_CHARS_MAX >= 2 * crate::code::PUBLIC_CODE_SYMBOLS,
    "a spaced-out public code still fits the input bound"
);

/// Webhook subscriptions one code may have at once.
pub const WEBHOOKS_PER_CODE_MAX: u32 = 10;
/// The longest webhook URL, in characters.
pub const WEBHOOK_URL_CHARS_MAX: usize = 2_048;
/// How long one delivery may take, connect to last byte; then it counts as failed.
pub const WEBHOOK_CALL_MILLIS: u64 = 5_000;
/// The most of a receiver's answer the broker reads (it needs only the status).
pub const WEBHOOK_ANSWER_BYTES_MAX: usize = 16 * 1024;
/// Attempts of one delivery before it is given up as failed and the next one is sent.
pub const WEBHOOK_ATTEMPTS_MAX: u32 = 15;
/// The first retry waits this long; each next one twice as long, at most [`WEBHOOK_RETRY_SECONDS_MAX`].
pub const WEBHOOK_RETRY_SECONDS_FIRST: i64 = 1;
pub const WEBHOOK_RETRY_SECONDS_MAX: i64 = 3_600;
/// Deliveries of one subscription sent in one run, one after the other in order.
pub const WEBHOOK_RUN_MAX: u32 = 200;
/// Subscriptions served at once by one delivery round.
pub const WEBHOOK_ROUND_SUBSCRIPTIONS_MAX: u32 = 64;
/// How long a delivery round may keep a subscription's deliveries to itself (then another round,
/// or the broker after a restart, takes them again: at least once).
pub const WEBHOOK_LEASE_SECONDS: i64 = 60;
/// Deliveries listed for a subscription, newest first.
pub const WEBHOOK_DELIVERIES_LISTED_MAX: u32 = 100;
/// How long the outbox keeps a delivery once made; after that a settled one (or one of a removed
/// subscription) is deleted, [`WEBHOOK_PRUNE_MAX`] of the oldest looked at a time.
pub const WEBHOOK_DELIVERY_KEPT_SECONDS: i64 = 30 * 24 * 3600;
/// The most deliveries one prune looks at (the delivery task prunes when idle, at most once a
/// minute of the broker's clock).
pub const WEBHOOK_PRUNE_MAX: u32 = 1_000;
/// A receiver rejects a signature older than this (and so does `smartcode webhook verify`).
pub const WEBHOOK_SIGNATURE_TOLERANCE_SECONDS: i64 = 300;
/// The most bytes of content an item stored by the broker may hold (`PUT /v1/me/items/{id}/content`).
pub const ITEM_CONTENT_BYTES_MAX: usize = 4 * 1024 * 1024;
/// The longest item title, in characters.
pub const ITEM_TITLE_CHARS_MAX: usize = 200;
/// The longest item description, in characters.
pub const ITEM_DESCRIPTION_CHARS_MAX: usize = 4_000;
/// The longest URL of an item kept on its seller's own server, in characters.
pub const ITEM_URL_CHARS_MAX: usize = 2_000;
/// The longest content type an upload may declare, in characters.
pub const ITEM_CONTENT_TYPE_CHARS_MAX: usize = 100;
/// The most items a public code may sell.
pub const ITEMS_PER_PUBLIC_CODE_MAX: u32 = 1_000;
/// The most items one list answers (a seller's, a public page's).
pub const ITEMS_LISTED_MAX: u32 = 100;
/// The most downloads one share gives (its `uses`).
pub const SHARE_USES_MAX: u32 = 10_000;
/// The most shares a giver's list answers (`GET /v1/me/shares`), the newest first.
pub const SHARES_LISTED_MAX: u32 = 200;
/// How many times a purchase's download grant may be fetched.
pub const DOWNLOAD_FETCHES_MAX: u32 = 5;
/// How long after its purchase a download grant may be fetched, in seconds.
pub const DOWNLOAD_GRANT_SECONDS: i64 = 24 * 3600;
/// How long a download token handed out for an item kept on its seller's server is valid, in seconds.
pub const DOWNLOAD_TOKEN_SECONDS: i64 = 300;
/// The most copies one license may be for (`POST /v1/me/licenses`).
pub const LICENSE_COPIES_MAX: u32 = 1_000_000;
/// The longest title of a named work a license is for, in characters (as an item's title).
pub const LICENSE_WORK_CHARS_MAX: usize = ITEM_TITLE_CHARS_MAX;
/// The longest licensee (who the buyer says the license is for), in characters.
pub const LICENSEE_CHARS_MAX: usize = 100;

//! The embedded store's schema, versioned. Each migration runs once, in order, in one transaction;
//! the version reached is kept in `meta`. Never edit a released migration: add the next one.

mod federation;

pub const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE codes (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('secret', 'public')),
    parent_id TEXT REFERENCES codes(id),
    owner_id TEXT NOT NULL,
    code_hash BLOB UNIQUE,
    public_code TEXT UNIQUE,
    currency TEXT NOT NULL,
    label TEXT,
    profile_name TEXT,
    profile_description TEXT,
    profile_url TEXT,
    profile_contact TEXT,
    show_stats INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL CHECK (status IN ('active', 'expired', 'cancelled')),
    status_changed_at INTEGER,
    depth INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    irrevocable INTEGER NOT NULL,
    CHECK ((kind = 'secret') = (code_hash IS NOT NULL)),
    CHECK ((kind = 'public') = (public_code IS NOT NULL))
);
CREATE INDEX codes_by_parent ON codes (parent_id, created_at);
CREATE INDEX codes_by_expiry ON codes (expires_at) WHERE status = 'active' AND expires_at IS NOT NULL;

-- Balances are kept materialized for speed; the transfers below are the source of truth and the
-- ledger check proves the two agree.
CREATE TABLE accounts (
    key TEXT PRIMARY KEY,
    currency TEXT NOT NULL,
    balance INTEGER NOT NULL,
    held INTEGER NOT NULL DEFAULT 0,
    CHECK (key LIKE 'issuance:%' OR (balance >= 0 AND held >= 0 AND held <= balance))
);

CREATE TABLE transfers (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    debit TEXT NOT NULL,
    credit TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    memo TEXT,
    public_code_id TEXT,
    category TEXT,
    item TEXT,
    CHECK (debit <> credit)
);
CREATE INDEX transfers_by_debit ON transfers (debit, seq);
CREATE INDEX transfers_by_credit ON transfers (credit, seq);
CREATE INDEX transfers_by_public_code ON transfers (public_code_id) WHERE public_code_id IS NOT NULL;
CREATE TRIGGER transfers_are_never_updated BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;
CREATE TRIGGER transfers_are_never_deleted BEFORE DELETE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;

-- Value set aside by pending transfers (authorization codes, tickets, federated charges), posted
-- or voided later. Unused until those arrive; the accounts' `held` column is their sum.
CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'posted', 'voided'))
);

CREATE TABLE idempotency (
    key_hash BLOB PRIMARY KEY,
    fingerprint BLOB NOT NULL,
    status INTEGER NOT NULL,
    body BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX idempotency_by_age ON idempotency (created_at);
"#,
    ),
    (
        2,
        r#"
-- Code controls: PIN (argon2id PHC string, never the PIN), lockout, restrictions and usage.
-- Lists are stored as their entries joined by U+001F (entries never hold control characters).
ALTER TABLE codes ADD COLUMN pin_hash TEXT;
ALTER TABLE codes ADD COLUMN pin_generation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE codes ADD COLUMN pin_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE codes ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE codes ADD COLUMN allowed_categories TEXT;
ALTER TABLE codes ADD COLUMN allowed_payees TEXT;
ALTER TABLE codes ADD COLUMN allowed_items TEXT;
ALTER TABLE codes ADD COLUMN amount_per_use_max INTEGER;
ALTER TABLE codes ADD COLUMN uses_max INTEGER;
ALTER TABLE codes ADD COLUMN spend_period_amount INTEGER;
ALTER TABLE codes ADD COLUMN spend_period_seconds INTEGER;
ALTER TABLE codes ADD COLUMN restricted_lineage INTEGER NOT NULL DEFAULT 0;
ALTER TABLE codes ADD COLUMN uses INTEGER NOT NULL DEFAULT 0;
ALTER TABLE codes ADD COLUMN period_index INTEGER NOT NULL DEFAULT 0;
ALTER TABLE codes ADD COLUMN period_spent INTEGER NOT NULL DEFAULT 0;
"#,
    ),
    (
        3,
        r#"
-- What a public page shows of its payments, kept as running totals: one small row per public code
-- instead of an index entry per payment (which put a random page into every commit, and made a
-- popular public code's page count all its payments).
CREATE TABLE public_code_stats (
    code_id TEXT PRIMARY KEY,
    payments INTEGER NOT NULL,
    units INTEGER NOT NULL
);
INSERT INTO public_code_stats (code_id, payments, units)
    SELECT public_code_id, count(*), sum(amount) FROM transfers
    WHERE public_code_id IS NOT NULL GROUP BY public_code_id;
DROP INDEX transfers_by_public_code;
"#,
    ),
    (
        4,
        r#"
-- History by chains instead of indexes: each transfer names, for each of its two accounts, the
-- previous transfer of that account, and each account its latest. A payment then rewrites the two
-- account rows it changes anyway, instead of inserting into two indexes ordered by account (a
-- random page of each per payment, most of what a commit wrote). A history page or a report walks
-- an account's chain from its newest transfer.
ALTER TABLE transfers ADD COLUMN debit_prev INTEGER;
ALTER TABLE transfers ADD COLUMN credit_prev INTEGER;
ALTER TABLE accounts ADD COLUMN last_seq INTEGER;
CREATE TEMP TABLE links AS
    SELECT seq, account, lag(seq) OVER (PARTITION BY account ORDER BY seq) AS prev
    FROM (SELECT seq, debit AS account FROM transfers UNION ALL SELECT seq, credit FROM transfers);
CREATE INDEX temp.links_by_seq ON links (seq, account);
DROP TRIGGER transfers_are_never_updated;
UPDATE transfers SET debit_prev = l.prev FROM links l WHERE l.seq = transfers.seq AND l.account = transfers.debit;
UPDATE transfers SET credit_prev = l.prev FROM links l WHERE l.seq = transfers.seq AND l.account = transfers.credit;
CREATE TRIGGER transfers_are_never_updated BEFORE UPDATE ON transfers
BEGIN SELECT RAISE(ABORT, 'transfers are append-only'); END;
UPDATE accounts SET last_seq = m.seq
    FROM (SELECT account, max(seq) AS seq FROM links GROUP BY account) m WHERE m.account = accounts.key;
DROP TABLE links;
DROP INDEX transfers_by_debit;
DROP INDEX transfers_by_credit;
"#,
    ),
    (
        5,
        r#"
-- An account's kind is a column of its own, not the prefix of its key, so that queries and checks
-- name it (`kind = 'issuance'`) and the kinds to come (peer and exchange accounts) are one more
-- word in the CHECK. The key still begins with its kind; a CHECK keeps the two from disagreeing.
-- SQLite cannot change a table's CHECK in place, so the table is rebuilt, every row keeping its
-- row id: the writer's memory finds an account's row by it. Transfers are not touched.
CREATE TABLE accounts_with_kind (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('code', 'issuance')),
    currency TEXT NOT NULL,
    balance INTEGER NOT NULL,
    held INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER,
    CHECK (substr(key, 1, length(kind) + 1) = kind || ':'),
    CHECK (kind = 'issuance' OR (balance >= 0 AND held >= 0 AND held <= balance))
);
INSERT INTO accounts_with_kind (rowid, key, kind, currency, balance, held, last_seq)
    SELECT rowid, key, substr(key, 1, instr(key, ':') - 1), currency, balance, held, last_seq FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_with_kind RENAME TO accounts;
"#,
    ),
    (
        6,
        r#"
-- What a public code sells, declared by its owner (its categories and items, lists joined as in
-- migration 2): a payment's category and item are stamped from it, never taken from the payer.
ALTER TABLE codes ADD COLUMN catalog_categories TEXT;
ALTER TABLE codes ADD COLUMN catalog_items TEXT;
"#,
    ),
    (
        7,
        r#"
-- Who checked a profile's name and web address: 'broker' or the checking ancestor's id, and
-- when (both or neither). Without them the profile is only what its holder declared.
ALTER TABLE codes ADD COLUMN checked_by TEXT;
ALTER TABLE codes ADD COLUMN checked_at INTEGER;
"#,
    ),
    (
        8,
        r#"
-- Holds: value a seller set aside on a buyer's code, captured (a payment) or voided later. The
-- table of migration 1 was never used; this one keeps what a hold is for. A payer's account
-- `held` is the sum of its holds whose state is 'pending' (expired ones until they are released).
DROP TABLE holds;
CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    payee TEXT NOT NULL,
    payee_id TEXT NOT NULL,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    memo TEXT,
    category TEXT,
    item TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'captured', 'voided')),
    resolved_at INTEGER,
    captured INTEGER CHECK (captured IS NULL OR (captured > 0 AND captured <= amount)),
    receipt_id TEXT,
    release_to TEXT
);
CREATE INDEX holds_pending_by_payer ON holds (payer_id, created_at) WHERE state = 'pending';
CREATE INDEX holds_pending_by_expiry ON holds (expires_at) WHERE state = 'pending';
"#,
    ),
    (
        9,
        r#"
-- Refunds: a seller giving back part or all of a payment. Each refund of a receipt has its own
-- number, so two refunds that saw the same earlier ones cannot both be written.
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    receipt_id TEXT NOT NULL,
    seq INTEGER NOT NULL CHECK (seq > 0),
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reason TEXT,
    credited TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (receipt_id, seq)
);
"#,
    ),
    (
        10,
        r#"
-- Authorization codes are holds of their own kind: found by the keyed hash of their digits, made
-- for a payee or for none (its payee is set when it is used). So are assurance certificates: a
-- hold of the floor for one payee, paid from up to it (`captured` is what payments took so far).
-- SQLite cannot drop NOT NULL in place, so the table is rebuilt.
CREATE TABLE holds_new (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL,
    owner_id TEXT,
    payee TEXT,
    payee_id TEXT,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    memo TEXT,
    category TEXT,
    item TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'captured', 'voided')),
    resolved_at INTEGER,
    captured INTEGER CHECK (captured IS NULL OR (captured > 0 AND captured <= amount)),
    receipt_id TEXT,
    release_to TEXT,
    kind TEXT NOT NULL DEFAULT 'hold' CHECK (kind IN ('hold', 'authorization', 'certificate')),
    code_hash BLOB UNIQUE,
    assurance_id TEXT,
    CHECK ((kind = 'certificate') = (assurance_id IS NOT NULL)),
    CHECK ((owner_id IS NULL) = (payee IS NULL) AND (payee IS NULL) = (payee_id IS NULL)),
    CHECK (kind = 'authorization' OR payee IS NOT NULL),
    CHECK ((kind = 'authorization') = (code_hash IS NOT NULL))
);
INSERT INTO holds_new (id, payer_id, owner_id, payee, payee_id, amount, currency, memo, category, item,
    created_at, expires_at, state, resolved_at, captured, receipt_id, release_to)
SELECT id, payer_id, owner_id, payee, payee_id, amount, currency, memo, category, item,
    created_at, expires_at, state, resolved_at, captured, receipt_id, release_to FROM holds;
DROP TABLE holds;
ALTER TABLE holds_new RENAME TO holds;
CREATE INDEX holds_pending_by_payer ON holds (payer_id, created_at) WHERE state = 'pending';
CREATE INDEX holds_pending_by_expiry ON holds (expires_at) WHERE state = 'pending';
CREATE INDEX holds_authorizations_by_payer ON holds (payer_id, created_at) WHERE kind = 'authorization';

-- Numeric aliases: the keyed hash of the digits (never the digits of a secret code's alias; a
-- public code's, being public, are kept to be shown). One per code.
CREATE TABLE aliases (
    hash BLOB PRIMARY KEY,
    code_id TEXT NOT NULL UNIQUE,
    public_digits TEXT,
    created_at INTEGER NOT NULL
);

-- Assurance codes: the keyed hash of the code, never the code.
CREATE TABLE assurances (
    id TEXT PRIMARY KEY,
    hash BLOB NOT NULL UNIQUE,
    code_id TEXT NOT NULL,
    floor INTEGER NOT NULL CHECK (floor > 0),
    currency TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    cancelled_at INTEGER
);
CREATE INDEX assurances_by_code ON assurances (code_id, created_at);
"#,
    ),
    (
        11,
        r#"
-- Quotes across currencies. The broker's exchange account per currency ('exchange:EUR') takes
-- what buyers pay for quotes and pays sellers their prices; like the issuance account it may go
-- below zero. SQLite cannot change a CHECK in place, so accounts is rebuilt as in migration 5,
-- every row keeping its row id (the writer's memory finds an account's row by it).
CREATE TABLE accounts_with_exchange (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('code', 'issuance', 'exchange')),
    currency TEXT NOT NULL,
    balance INTEGER NOT NULL,
    held INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER,
    CHECK (substr(key, 1, length(kind) + 1) = kind || ':'),
    CHECK (kind IN ('issuance', 'exchange') OR (balance >= 0 AND held >= 0 AND held <= balance))
);
INSERT INTO accounts_with_exchange (rowid, key, kind, currency, balance, held, last_seq)
    SELECT rowid, key, kind, currency, balance, held, last_seq FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_with_exchange RENAME TO accounts;

-- The operator's rates: units of `to_currency` per unit of `from_currency`, as a decimal string
-- (exact), and a quote's fee in basis points. One row per ordered pair, replaced when set again.
CREATE TABLE rates (
    from_currency TEXT NOT NULL,
    to_currency TEXT NOT NULL,
    rate TEXT NOT NULL,
    fee_bps INTEGER NOT NULL CHECK (fee_bps >= 0),
    set_at INTEGER NOT NULL,
    PRIMARY KEY (from_currency, to_currency),
    CHECK (from_currency <> to_currency)
);

-- Quotes: what a buyer pays in its currency for a price in another, fixed until expires_at,
-- used once (used_at, receipt_id and payer_id are written together, once).
CREATE TABLE quotes (
    id TEXT PRIMARY KEY,
    pay INTEGER NOT NULL CHECK (pay > 0),
    pay_currency TEXT NOT NULL,
    price INTEGER NOT NULL CHECK (price > 0),
    price_currency TEXT NOT NULL,
    rate TEXT NOT NULL,
    fee_bps INTEGER NOT NULL,
    payee TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER,
    receipt_id TEXT UNIQUE,
    payer_id TEXT,
    CHECK ((used_at IS NULL) = (receipt_id IS NULL) AND (used_at IS NULL) = (payer_id IS NULL))
);
"#,
    ),
    (
        12,
        r#"
-- Holds again, for speed: SQLite checks `x IN ('a', 'b', 'c')` by building a temporary b-tree on
-- every insert and update, which was a third of what writing a hold's row cost; the same checks
-- are written as comparisons here. An authorization's keyed hash is unique through a partial
-- index, so a seller's hold (which has none) adds no entry to it.
CREATE TABLE holds_compared (
    id TEXT PRIMARY KEY,
    payer_id TEXT NOT NULL,
    owner_id TEXT,
    payee TEXT,
    payee_id TEXT,
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    memo TEXT,
    category TEXT,
    item TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state = 'pending' OR state = 'captured' OR state = 'voided'),
    resolved_at INTEGER,
    captured INTEGER CHECK (captured IS NULL OR (captured > 0 AND captured <= amount)),
    receipt_id TEXT,
    release_to TEXT,
    kind TEXT NOT NULL DEFAULT 'hold' CHECK (kind = 'hold' OR kind = 'authorization' OR kind = 'certificate'),
    code_hash BLOB,
    assurance_id TEXT,
    CHECK ((kind = 'certificate') = (assurance_id IS NOT NULL)),
    CHECK ((owner_id IS NULL) = (payee IS NULL) AND (payee IS NULL) = (payee_id IS NULL)),
    CHECK (kind = 'authorization' OR payee IS NOT NULL),
    CHECK ((kind = 'authorization') = (code_hash IS NOT NULL))
);
INSERT INTO holds_compared (id, payer_id, owner_id, payee, payee_id, amount, currency, memo, category,
    item, created_at, expires_at, state, resolved_at, captured, receipt_id, release_to, kind, code_hash,
    assurance_id)
SELECT id, payer_id, owner_id, payee, payee_id, amount, currency, memo, category, item, created_at,
    expires_at, state, resolved_at, captured, receipt_id, release_to, kind, code_hash, assurance_id
FROM holds;
DROP TABLE holds;
ALTER TABLE holds_compared RENAME TO holds;
CREATE INDEX holds_pending_by_payer ON holds (payer_id, created_at) WHERE state = 'pending';
CREATE INDEX holds_pending_by_expiry ON holds (expires_at) WHERE state = 'pending';
CREATE INDEX holds_authorizations_by_payer ON holds (payer_id, created_at) WHERE kind = 'authorization';
CREATE UNIQUE INDEX holds_by_code ON holds (code_hash) WHERE code_hash IS NOT NULL;
"#,
    ),
    (13, federation::PEERS),
    (14, federation::PEER_ACCOUNTS),
    (15, federation::CHARGES),
    (16, federation::HOLDS_ACROSS_BROKERS),
    (17, federation::REFUNDS_ACROSS_BROKERS),
    (
        18,
        r#"
-- Spending rules (zero-click buying): a code's rules and their counters, as JSON, read and
-- written with its row; NULL for a code without rules.
ALTER TABLE codes ADD COLUMN spending_rules TEXT;
"#,
    ),
    (
        19,
        r#"
-- The approval queue (zero-click buying): purchases a code's spending rules did not settle. The
-- columns the queue is read by; the offer and what was done with it are one JSON text (`body`).
-- `expires_at` is the offer's: a pending row past it reads as expired, and nothing rewrites it.
CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    code_id TEXT NOT NULL,
    stopped_by TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'declined')),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX approvals_by_code ON approvals (code_id, created_at);
CREATE INDEX approvals_by_stopper ON approvals (stopped_by, created_at);
"#,
    ),
    (
        20,
        r#"
-- Metered sessions (zero-click buying): offers priced per minute that a code opened and its
-- seller charges as use accrues. The columns a session is read and raced by (a charge's update
-- names the `charged` it read); the offer, the cap and the consent are one JSON text (`body`).
-- `expires_at` is the offer's: an open row past it reads as closed, and nothing rewrites it.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    code_id TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
    charged INTEGER NOT NULL CHECK (charged >= 0),
    opened_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX sessions_by_code ON sessions (code_id, opened_at);
"#,
    ),
    (
        21,
        r#"
-- Webhooks: subscriptions of a code's public codes' events, and the outbox of deliveries owed
-- to them, written in the same transaction as the event. A code's `webhooks` says it has
-- subscriptions, so a payment to a code without any reads nothing more. A subscription's
-- deliveries go out in `seq` order, so those after its `settled_through` are the pending ones:
-- settling a delivery changes no index, and an event adds one entry to one.
ALTER TABLE codes ADD COLUMN webhooks INTEGER NOT NULL DEFAULT 0;
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    public_code_id TEXT,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    generation INTEGER NOT NULL CHECK (generation >= 1),
    created_at INTEGER NOT NULL,
    removed_at INTEGER,
    leased_until INTEGER NOT NULL,
    settled_through INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhooks_by_owner ON webhooks (owner_id, created_at);
CREATE TABLE webhook_deliveries (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state = 'pending' OR state = 'delivered' OR state = 'failed'),
    attempts INTEGER NOT NULL CHECK (attempts >= 0),
    next_at INTEGER NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    last_attempt_at INTEGER
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);
"#,
    ),
    (
        22,
        r#"
-- Items: content the owner of a public code sells. The columns an item is found by; its title,
-- description, price, category, url and what its upload stored are one JSON text (`body`).
-- Its bytes are a row of `item_contents`, written with the item's new body in one commit and read
-- only by a download. A purchase is a payment whose transfer names the item; its fetches are
-- counted in `item_fetches` by the payment's id, one atomic upsert each.
CREATE TABLE items (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    payee_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX items_by_owner ON items (owner_id, created_at);
CREATE INDEX items_by_payee ON items (payee_id, created_at);
CREATE TABLE item_contents (
    item_id TEXT PRIMARY KEY REFERENCES items (id),
    bytes BLOB NOT NULL
);
CREATE TABLE item_fetches (
    receipt_id TEXT PRIMARY KEY,
    fetches INTEGER NOT NULL CHECK (fetches > 0)
);
"#,
    ),
    (
        23,
        r#"
-- Licenses: copies of an item or a named work paid for, each with its license code (a public code,
-- the key). Written once, in the command that paid, never changed; who paid for how many copies
-- of what, and the price, are one JSON text (`body`); `receipt_id` is the payment's transfer.
CREATE TABLE licenses (
    code TEXT PRIMARY KEY,
    code_id TEXT NOT NULL,
    payer_id TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    receipt_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    body TEXT NOT NULL
);
"#,
    ),
];

pub fn latest_version() -> u32 {
    MIGRATIONS.last().map_or(0, |(version, _)| *version)
}

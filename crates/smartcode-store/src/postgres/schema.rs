//! The PostgreSQL store's schema, versioned. Each migration runs once, in order, in its own
//! transaction, while the migrating process holds an advisory lock (so two processes starting at
//! once do not race); the versions applied are rows of `schema_version`. Never edit a released
//! migration: add the next one.
//!
//! The tables mirror the embedded store's (`crate::schema`), in PostgreSQL's types: ids and codes
//! are `TEXT`, hashes `BYTEA`, amounts and instants (microseconds) `BIGINT`, restriction lists
//! `TEXT[]`. Secret codes are never stored: `codes.code_hash` is their keyed hash, `pin_hash` an
//! argon2id PHC string, and remembered responses (`idempotency.body`) arrive sealed by the server.

/// The first statement every start runs (under the lock): where the applied versions are kept.
pub const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS schema_version (\
     version INTEGER PRIMARY KEY, \
     applied_at TIMESTAMPTZ NOT NULL DEFAULT now())";

pub const MIGRATIONS: &[(i32, &str)] = &[
    (
        1,
        r#"
CREATE TABLE codes (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('secret', 'public')),
    parent_id TEXT REFERENCES codes(id),
    owner_id TEXT NOT NULL,
    code_hash BYTEA UNIQUE,
    public_code TEXT UNIQUE,
    currency TEXT NOT NULL,
    label TEXT,
    profile_name TEXT,
    profile_description TEXT,
    profile_url TEXT,
    profile_contact TEXT,
    show_stats BOOLEAN NOT NULL DEFAULT false,
    status TEXT NOT NULL CHECK (status IN ('active', 'expired', 'cancelled')),
    status_changed_at BIGINT,
    depth BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    irrevocable BOOLEAN NOT NULL,
    -- Code controls: PIN (argon2id PHC string, never the PIN), lockout, restrictions and usage.
    pin_hash TEXT,
    pin_generation BIGINT NOT NULL DEFAULT 0,
    pin_failures BIGINT NOT NULL DEFAULT 0,
    locked BOOLEAN NOT NULL DEFAULT false,
    allowed_categories TEXT[],
    allowed_payees TEXT[],
    allowed_items TEXT[],
    amount_per_use_max BIGINT,
    uses_max BIGINT,
    spend_period_amount BIGINT,
    spend_period_seconds BIGINT,
    restricted_lineage BOOLEAN NOT NULL DEFAULT false,
    uses BIGINT NOT NULL DEFAULT 0,
    period_index BIGINT NOT NULL DEFAULT 0,
    period_spent BIGINT NOT NULL DEFAULT 0,
    CHECK ((kind = 'secret') = (code_hash IS NOT NULL)),
    CHECK ((kind = 'public') = (public_code IS NOT NULL))
);
CREATE INDEX codes_by_parent ON codes (parent_id, created_at, id COLLATE "C");
CREATE INDEX codes_by_expiry ON codes (expires_at, depth) WHERE status = 'active' AND expires_at IS NOT NULL;

-- Balances are kept materialized for speed; the transfers below are the source of truth and the
-- ledger check proves the two agree. The writer changes a balance only by adding to it
-- (`balance = balance + delta`), and these checks refuse what a concurrent process would
-- otherwise overdraw. The bound is BALANCE_UNITS_MAX (a unit test keeps the two equal).
-- Balances change often: room on each page lets PostgreSQL update them in place (HOT).
CREATE TABLE accounts (
    key TEXT PRIMARY KEY,
    currency TEXT NOT NULL,
    balance BIGINT NOT NULL,
    held BIGINT NOT NULL DEFAULT 0,
    CHECK (key LIKE 'issuance:%'
           OR (balance >= 0 AND held >= 0 AND held <= balance AND balance <= 1000000000000000000))
) WITH (fillfactor = 70);

CREATE TABLE transfers (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    debit TEXT NOT NULL,
    credit TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
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

-- Transfers are append-only: no UPDATE, DELETE or TRUNCATE, whoever asks (short of someone who
-- drops or disables the triggers, which a ledger check after the fact would not miss).
CREATE FUNCTION transfers_are_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'transfers are append-only';
END
$$;
CREATE TRIGGER transfers_are_never_changed BEFORE UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION transfers_are_append_only();
CREATE TRIGGER transfers_are_never_truncated BEFORE TRUNCATE ON transfers
    FOR EACH STATEMENT EXECUTE FUNCTION transfers_are_append_only();

-- Value set aside by pending transfers (authorization codes, tickets, federated charges), posted
-- or voided later. Unused until those arrive; the accounts' `held` column is their sum.
CREATE TABLE holds (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('open', 'posted', 'voided'))
);

-- Shared by every broker process: a key used on one replays on another.
CREATE TABLE idempotency (
    key_hash BYTEA PRIMARY KEY,
    fingerprint BYTEA NOT NULL,
    status INTEGER NOT NULL,
    body BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX idempotency_by_age ON idempotency (created_at);
"#,
    ),
    (
        2,
        r#"
-- What a public page shows of its payments, kept as running totals (as in the embedded store):
-- counting a popular public code's payments on every view read all of them.
CREATE TABLE public_code_stats (
    code_id TEXT PRIMARY KEY,
    payments BIGINT NOT NULL,
    units BIGINT NOT NULL
);
INSERT INTO public_code_stats (code_id, payments, units)
    SELECT public_code_id, count(*), sum(amount) FROM transfers
    WHERE public_code_id IS NOT NULL GROUP BY public_code_id;
DROP INDEX transfers_by_public_code;
"#,
    ),
    (
        3,
        r#"
-- An account's kind is a column of its own, not the prefix of its key (as in the embedded store),
-- so that queries and checks name it and the kinds to come (peer and exchange accounts) are one
-- more word in the CHECK. The key still begins with its kind; a CHECK keeps the two from
-- disagreeing. The bounds of a balance now name the kind too. Transfers are not touched.
ALTER TABLE accounts ADD COLUMN kind TEXT;
UPDATE accounts SET kind = split_part(key, ':', 1);
ALTER TABLE accounts
    ALTER COLUMN kind SET NOT NULL,
    ADD CONSTRAINT accounts_kind_known CHECK (kind IN ('code', 'issuance')),
    ADD CONSTRAINT accounts_key_begins_with_kind CHECK (left(key, length(kind) + 1) = kind || ':'),
    DROP CONSTRAINT accounts_check,
    ADD CONSTRAINT accounts_balance_within_bounds CHECK (kind = 'issuance'
        OR (balance >= 0 AND held >= 0 AND held <= balance AND balance <= 1000000000000000000));
"#,
    ),
    (
        4,
        r#"
-- What a public code sells, declared by its owner (its categories and items): a payment's
-- category and item are stamped from it, never taken from the payer.
ALTER TABLE codes ADD COLUMN catalog_categories TEXT[], ADD COLUMN catalog_items TEXT[];
"#,
    ),
    (
        5,
        r#"
-- The guessing defence's counters, shared by every broker process on this database: a level in
-- thousandths of a try and when it was set (the defence computes refills and drains), and the
-- challenges already answered, each kept until it expires.
CREATE TABLE guard_counters (
    key TEXT PRIMARY KEY,
    level BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE TABLE guard_challenges (
    id TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX guard_challenges_by_expiry ON guard_challenges (expires_at);
"#,
    ),
    (
        6,
        r#"
-- Who checked a profile's name and web address: 'broker' or the checking ancestor's id, and
-- when (both or neither). Without them the profile is only what its holder declared.
ALTER TABLE codes ADD COLUMN checked_by TEXT, ADD COLUMN checked_at BIGINT,
    ADD CONSTRAINT codes_check_whole CHECK ((checked_by IS NULL) = (checked_at IS NULL));
"#,
    ),
    (
        7,
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
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    memo TEXT,
    category TEXT,
    item TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'captured', 'voided')),
    resolved_at BIGINT,
    captured BIGINT CHECK (captured IS NULL OR (captured > 0 AND captured <= amount)),
    receipt_id TEXT,
    release_to TEXT
);
CREATE INDEX holds_pending_by_payer ON holds (payer_id, created_at) WHERE state = 'pending';
CREATE INDEX holds_pending_by_expiry ON holds (expires_at) WHERE state = 'pending';
"#,
    ),
    (
        8,
        r#"
-- Refunds: a seller giving back part or all of a payment. Each refund of a receipt has its own
-- number, so two refunds that saw the same earlier ones cannot both be written.
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    receipt_id TEXT NOT NULL,
    seq BIGINT NOT NULL CHECK (seq > 0),
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    reason TEXT,
    credited TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (receipt_id, seq)
);
"#,
    ),
    (
        9,
        r#"
-- Authorization codes are holds of their own kind: found by the keyed hash of their digits, made
-- for a payee or for none (its payee is set when it is used). So are assurance certificates: a
-- hold of the floor for one payee, paid from up to it (`captured` is what payments took so far).
ALTER TABLE holds ALTER COLUMN owner_id DROP NOT NULL;
ALTER TABLE holds ALTER COLUMN payee DROP NOT NULL;
ALTER TABLE holds ALTER COLUMN payee_id DROP NOT NULL;
ALTER TABLE holds ADD COLUMN kind TEXT NOT NULL DEFAULT 'hold' CHECK (kind IN ('hold', 'authorization', 'certificate'));
ALTER TABLE holds ADD COLUMN code_hash BYTEA UNIQUE;
ALTER TABLE holds ADD COLUMN assurance_id TEXT;
ALTER TABLE holds ADD CHECK ((kind = 'certificate') = (assurance_id IS NOT NULL));
ALTER TABLE holds ADD CHECK ((owner_id IS NULL) = (payee IS NULL) AND (payee IS NULL) = (payee_id IS NULL));
ALTER TABLE holds ADD CHECK (kind = 'authorization' OR payee IS NOT NULL);
ALTER TABLE holds ADD CHECK ((kind = 'authorization') = (code_hash IS NOT NULL));
CREATE INDEX holds_authorizations_by_payer ON holds (payer_id, created_at) WHERE kind = 'authorization';

-- Numeric aliases: the keyed hash of the digits (never the digits of a secret code's alias; a
-- public code's, being public, are kept to be shown). One per code.
CREATE TABLE aliases (
    hash BYTEA PRIMARY KEY,
    code_id TEXT NOT NULL UNIQUE,
    public_digits TEXT,
    created_at BIGINT NOT NULL
);

-- Assurance codes: the keyed hash of the code, never the code.
CREATE TABLE assurances (
    id TEXT PRIMARY KEY,
    hash BYTEA NOT NULL UNIQUE,
    code_id TEXT NOT NULL,
    floor BIGINT NOT NULL CHECK (floor > 0),
    currency TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    cancelled_at BIGINT
);
CREATE INDEX assurances_by_code ON assurances (code_id, created_at);
"#,
    ),
    (
        10,
        r#"
-- Quotes across currencies. The broker's exchange account per currency ('exchange:EUR') takes
-- what buyers pay for quotes and pays sellers their prices; like the issuance account it may go
-- below zero.
ALTER TABLE accounts
    DROP CONSTRAINT accounts_kind_known,
    ADD CONSTRAINT accounts_kind_known CHECK (kind IN ('code', 'issuance', 'exchange')),
    DROP CONSTRAINT accounts_balance_within_bounds,
    ADD CONSTRAINT accounts_balance_within_bounds CHECK (kind IN ('issuance', 'exchange')
        OR (balance >= 0 AND held >= 0 AND held <= balance AND balance <= 1000000000000000000));

-- The operator's rates: units of `to_currency` per unit of `from_currency`, as a decimal string
-- (exact), and a quote's fee in basis points. One row per ordered pair, replaced when set again.
CREATE TABLE rates (
    from_currency TEXT NOT NULL,
    to_currency TEXT NOT NULL,
    rate TEXT NOT NULL,
    fee_bps BIGINT NOT NULL CHECK (fee_bps >= 0),
    set_at BIGINT NOT NULL,
    PRIMARY KEY (from_currency, to_currency),
    CHECK (from_currency <> to_currency)
);

-- Quotes: what a buyer pays in its currency for a price in another, fixed until expires_at,
-- used once (used_at, receipt_id and payer_id are written together, once: the update names the
-- quote unused, so two processes cannot both use it).
CREATE TABLE quotes (
    id TEXT PRIMARY KEY,
    pay BIGINT NOT NULL CHECK (pay > 0),
    pay_currency TEXT NOT NULL,
    price BIGINT NOT NULL CHECK (price > 0),
    price_currency TEXT NOT NULL,
    rate TEXT NOT NULL,
    fee_bps BIGINT NOT NULL,
    payee TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    receipt_id TEXT UNIQUE,
    payer_id TEXT,
    CHECK ((used_at IS NULL) = (receipt_id IS NULL) AND (used_at IS NULL) = (payer_id IS NULL))
);
"#,
    ),
    (
        11,
        r#"
-- Peers: the other brokers this one federates with, as the operator added them. The domain and
-- the broker number route another broker's codes, so no two peers share one. The signing key is
-- pinned when the peer is added; credit limits are `CUR units` lines.
CREATE TABLE peers (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    domain TEXT NOT NULL,
    broker_number TEXT NOT NULL UNIQUE,
    signing_key BYTEA NOT NULL CHECK (octet_length(signing_key) = 32),
    credit_limits TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status = 'active' OR status = 'suspended'),
    added_at BIGINT NOT NULL,
    changed_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX peers_by_domain ON peers (lower(domain));
"#,
    ),
    (
        12,
        r#"
-- A peer's account per currency ('peer:NAME:USD'): credited with what this broker owes the peer,
-- debited with what the peer owes it; like the issuance account it may go below zero.
ALTER TABLE accounts
    DROP CONSTRAINT accounts_kind_known,
    ADD CONSTRAINT accounts_kind_known CHECK (kind IN ('code', 'issuance', 'exchange', 'peer')),
    DROP CONSTRAINT accounts_balance_within_bounds,
    ADD CONSTRAINT accounts_balance_within_bounds CHECK (kind IN ('issuance', 'exchange', 'peer')
        OR (balance >= 0 AND held >= 0 AND held <= balance AND balance <= 1000000000000000000));
"#,
    ),
    (
        13,
        r#"
-- Charges between brokers (a payment across two brokers, ARCHITECTURE.md): each broker's own
-- record under the id the seller's broker chose, on its side ('buyer': this broker's code was
-- debited; 'seller': this broker's seller was credited). Never the buyer's code: at the buyer's
-- side the code's id, and the keyed hash of the charge as first sent.
CREATE TABLE charges (
    side TEXT NOT NULL CHECK (side = 'buyer' OR side = 'seller'),
    peer TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state = 'prepared' OR state = 'credited' OR state = 'failed' OR state = 'voiding'
        OR state = 'voided' OR state = 'charged' OR state = 'closed' OR state = 'reversed'),
    amount BIGINT NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    payee TEXT NOT NULL,
    code_id TEXT,
    transfer_id TEXT,
    fingerprint BYTEA,
    approval TEXT,
    deadline BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (side, peer, id)
);
-- The seller's side's charges in doubt, for the resolver, and those still prepared, for the
-- credit limit (summed on every charge prepared: without this index, every charge the peer ever
-- had would be read).
CREATE INDEX charges_in_doubt ON charges (deadline) WHERE side = 'seller' AND (state = 'prepared' OR state = 'voiding');
CREATE INDEX charges_prepared ON charges (peer, currency) WHERE side = 'seller' AND state = 'prepared';
-- A peer's statement: its charges by deadline.
CREATE INDEX charges_by_peer ON charges (peer, deadline);
-- Whether the broker shows a peer on its page and in its metadata (the operator chooses).
ALTER TABLE peers ADD COLUMN listed BOOLEAN NOT NULL DEFAULT false;
"#,
    ),
    (
        14,
        r#"
-- Holds across brokers: a charge may be 'held' (at the buyer's side, `hold_id` is the hold that
-- sets the value aside on the code; at the seller's, the seller may capture it until
-- `expires_at`), a seller's hold keeps its memo for the receipt of its capture, and a payment
-- with a quote keeps the quote it pays (the charge is its `pay`, the seller gets its price).
ALTER TABLE charges
    DROP CONSTRAINT charges_state_check,
    ADD CONSTRAINT charges_state_check CHECK (state IN ('prepared', 'credited', 'failed', 'voiding', 'voided',
        'held', 'charged', 'closed', 'reversed')),
    ADD COLUMN memo TEXT,
    ADD COLUMN hold_id TEXT,
    ADD COLUMN expires_at BIGINT,
    ADD COLUMN quote_id TEXT;
-- A hold for a seller of a peer's has no payee here (its charge names the seller): the rule that
-- every seller's hold names one goes. It was added unnamed in migration 9, so it is found by what
-- it says.
DO $$
DECLARE rule TEXT;
BEGIN
    SELECT conname INTO STRICT rule FROM pg_constraint
        WHERE conrelid = 'holds'::regclass AND contype = 'c'
        AND pg_get_constraintdef(oid) LIKE '%authorization%' AND pg_get_constraintdef(oid) LIKE '%payee IS NOT NULL%';
    EXECUTE format('ALTER TABLE holds DROP CONSTRAINT %I', rule);
END $$;
"#,
    ),
    (
        15,
        r#"
-- Refunds across brokers: at the seller's side a refund of a payment by a peer's code is
-- 'refunding' until the peer answers it ('refunded'), and the resolver sends it on until then; at
-- the buyer's side a refund given back to the code is 'refunded'.
ALTER TABLE charges
    DROP CONSTRAINT charges_state_check,
    ADD CONSTRAINT charges_state_check CHECK (state IN ('prepared', 'credited', 'failed', 'voiding', 'voided',
        'held', 'charged', 'closed', 'reversed', 'refunding', 'refunded'));
DROP INDEX charges_in_doubt;
CREATE INDEX charges_in_doubt ON charges (deadline)
    WHERE side = 'seller' AND state IN ('prepared', 'voiding', 'refunding');
"#,
    ),
    (
        16,
        r#"
-- Spending rules (zero-click buying): a code's rules and their counters, as JSON, read and
-- written with its row; NULL for a code without rules.
ALTER TABLE codes ADD COLUMN spending_rules TEXT;
"#,
    ),
    (
        17,
        r#"
-- The approval queue (zero-click buying): purchases a code's spending rules did not settle. The
-- columns the queue is read by; the offer and what was done with it are one JSON text (`body`).
-- `expires_at` is the offer's: a pending row past it reads as expired, and nothing rewrites it.
CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    code_id TEXT NOT NULL,
    stopped_by TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'declined')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX approvals_by_code ON approvals (code_id, created_at);
CREATE INDEX approvals_by_stopper ON approvals (stopped_by, created_at);
"#,
    ),
    (
        18,
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
    charged BIGINT NOT NULL CHECK (charged >= 0),
    opened_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX sessions_by_code ON sessions (code_id, opened_at);
"#,
    ),
    (
        19,
        r#"
-- Webhooks: subscriptions of a code's public codes' events, and the outbox of deliveries owed
-- to them, written in the same transaction as the event. A code's `webhooks` says it has
-- subscriptions, so a payment to a code without any reads nothing more. A subscription's
-- deliveries go out in `seq` order, so those after its `settled_through` are the pending ones:
-- settling a delivery changes no index, and an event adds one entry to one.
ALTER TABLE codes ADD COLUMN webhooks BOOLEAN NOT NULL DEFAULT false;
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL,
    public_code_id TEXT,
    url TEXT NOT NULL,
    events TEXT NOT NULL,
    generation BIGINT NOT NULL CHECK (generation >= 1),
    created_at BIGINT NOT NULL,
    removed_at BIGINT,
    leased_until BIGINT NOT NULL,
    settled_through BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX webhooks_by_owner ON webhooks (owner_id, created_at);
CREATE TABLE webhook_deliveries (
    seq BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    state TEXT NOT NULL CHECK (state = 'pending' OR state = 'delivered' OR state = 'failed'),
    attempts BIGINT NOT NULL CHECK (attempts >= 0),
    next_at BIGINT NOT NULL,
    last_status BIGINT,
    last_error TEXT,
    last_attempt_at BIGINT
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, seq);
"#,
    ),
    (
        20,
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
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX items_by_owner ON items (owner_id, created_at);
CREATE INDEX items_by_payee ON items (payee_id, created_at);
CREATE TABLE item_contents (
    item_id TEXT PRIMARY KEY REFERENCES items (id),
    bytes BYTEA NOT NULL
);
CREATE TABLE item_fetches (
    receipt_id TEXT PRIMARY KEY,
    fetches BIGINT NOT NULL CHECK (fetches > 0)
);
"#,
    ),
    (
        21,
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
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
"#,
    ),
];

pub fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |(version, _)| *version)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_schema_bounds_a_balance_by_the_core_limit() {
        let bound = format!("balance <= {}", smartcode_core::limits::BALANCE_UNITS_MAX);
        assert!(super::MIGRATIONS.iter().any(|(_, sql)| sql.contains(&bound)));
    }
}

//! The embedded store's migrations for federation (13 on): peers, their accounts, charges between
//! brokers, holds and refunds across them. [`super::MIGRATIONS`] lists them in order with the rest.

pub(super) const PEERS: &str = r#"
-- Peers: the other brokers this one federates with, as the operator added them. The domain and
-- the broker number route another broker's codes, so no two peers share one. The signing key is
-- pinned when the peer is added; credit limits are `CUR units` lines.
CREATE TABLE peers (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    domain TEXT NOT NULL,
    broker_number TEXT NOT NULL UNIQUE,
    signing_key BLOB NOT NULL CHECK (length(signing_key) = 32),
    credit_limits TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status = 'active' OR status = 'suspended'),
    added_at INTEGER NOT NULL,
    changed_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX peers_by_domain ON peers (lower(domain));
"#;

pub(super) const PEER_ACCOUNTS: &str = r#"
-- A peer's account per currency ('peer:NAME:USD'): credited with what this broker owes the peer,
-- debited with what the peer owes it; like the issuance account it may go below zero. SQLite
-- cannot change a CHECK in place, so accounts is rebuilt as in migration 11, every row keeping
-- its row id (the writer's memory finds an account's row by it), with the kinds written as
-- comparisons (an IN list makes SQLite build a temporary b-tree each time it checks one).
CREATE TABLE accounts_with_peers (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind = 'code' OR kind = 'issuance' OR kind = 'exchange' OR kind = 'peer'),
    currency TEXT NOT NULL,
    balance INTEGER NOT NULL,
    held INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER,
    CHECK (substr(key, 1, length(kind) + 1) = kind || ':'),
    CHECK (kind <> 'code' OR (balance >= 0 AND held >= 0 AND held <= balance))
);
INSERT INTO accounts_with_peers (rowid, key, kind, currency, balance, held, last_seq)
    SELECT rowid, key, kind, currency, balance, held, last_seq FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_with_peers RENAME TO accounts;
"#;

pub(super) const CHARGES: &str = r#"
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
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    payee TEXT NOT NULL,
    code_id TEXT,
    transfer_id TEXT,
    fingerprint BLOB,
    approval TEXT,
    deadline INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
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
ALTER TABLE peers ADD COLUMN listed INTEGER NOT NULL DEFAULT 0 CHECK (listed = 0 OR listed = 1);
"#;

pub(super) const HOLDS_ACROSS_BROKERS: &str = r#"
-- Holds across brokers: a charge may be 'held' (at the buyer's side, `hold_id` is the hold that
-- sets the value aside on the code; at the seller's, the seller may capture it until
-- `expires_at`), a seller's hold keeps its memo for the receipt of its capture, and a payment
-- with a quote keeps the quote it pays (the charge is its `pay`, the seller gets its price). SQLite
-- cannot change a CHECK in place, so charges is made again, its indexes with it, and so is holds.
CREATE TABLE charges_with_holds (
    side TEXT NOT NULL CHECK (side = 'buyer' OR side = 'seller'),
    peer TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state = 'prepared' OR state = 'credited' OR state = 'failed' OR state = 'voiding'
        OR state = 'voided' OR state = 'held' OR state = 'charged' OR state = 'closed' OR state = 'reversed'),
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    payee TEXT NOT NULL,
    code_id TEXT,
    transfer_id TEXT,
    fingerprint BLOB,
    approval TEXT,
    deadline INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    memo TEXT,
    hold_id TEXT,
    expires_at INTEGER,
    quote_id TEXT,
    PRIMARY KEY (side, peer, id)
);
INSERT INTO charges_with_holds (side, peer, id, state, amount, currency, payee, code_id, transfer_id,
        fingerprint, approval, deadline, created_at, changed_at)
    SELECT side, peer, id, state, amount, currency, payee, code_id, transfer_id, fingerprint, approval,
        deadline, created_at, changed_at FROM charges;
DROP TABLE charges;
ALTER TABLE charges_with_holds RENAME TO charges;
CREATE INDEX charges_in_doubt ON charges (deadline) WHERE side = 'seller' AND (state = 'prepared' OR state = 'voiding');
CREATE INDEX charges_prepared ON charges (peer, currency) WHERE side = 'seller' AND state = 'prepared';
CREATE INDEX charges_by_peer ON charges (peer, deadline);
-- A hold for a seller of a peer's has no payee here (its charge names the seller), so holds is
-- made again without the rule that every seller's hold names one.
CREATE TABLE holds_for_peers (
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
    CHECK ((kind = 'authorization') = (code_hash IS NOT NULL))
);
INSERT INTO holds_for_peers (id, payer_id, owner_id, payee, payee_id, amount, currency, memo, category,
    item, created_at, expires_at, state, resolved_at, captured, receipt_id, release_to, kind, code_hash,
    assurance_id)
SELECT id, payer_id, owner_id, payee, payee_id, amount, currency, memo, category, item, created_at,
    expires_at, state, resolved_at, captured, receipt_id, release_to, kind, code_hash, assurance_id
FROM holds;
DROP TABLE holds;
ALTER TABLE holds_for_peers RENAME TO holds;
CREATE INDEX holds_pending_by_payer ON holds (payer_id, created_at) WHERE state = 'pending';
CREATE INDEX holds_pending_by_expiry ON holds (expires_at) WHERE state = 'pending';
CREATE INDEX holds_authorizations_by_payer ON holds (payer_id, created_at) WHERE kind = 'authorization';
CREATE UNIQUE INDEX holds_by_code ON holds (code_hash) WHERE code_hash IS NOT NULL;
"#;

pub(super) const REFUNDS_ACROSS_BROKERS: &str = r#"
-- Refunds across brokers: at the seller's side a refund of a payment by a peer's code is
-- 'refunding' until the peer answers it ('refunded'), and the resolver sends it on until then; at
-- the buyer's side a refund given back to the code is 'refunded'. SQLite cannot change a CHECK in
-- place, so charges is made again, its indexes with it.
CREATE TABLE charges_with_refunds (
    side TEXT NOT NULL CHECK (side = 'buyer' OR side = 'seller'),
    peer TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state = 'prepared' OR state = 'credited' OR state = 'failed' OR state = 'voiding'
        OR state = 'voided' OR state = 'held' OR state = 'charged' OR state = 'closed' OR state = 'reversed'
        OR state = 'refunding' OR state = 'refunded'),
    amount INTEGER NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL,
    payee TEXT NOT NULL,
    code_id TEXT,
    transfer_id TEXT,
    fingerprint BLOB,
    approval TEXT,
    deadline INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    changed_at INTEGER NOT NULL,
    memo TEXT,
    hold_id TEXT,
    expires_at INTEGER,
    quote_id TEXT,
    PRIMARY KEY (side, peer, id)
);
INSERT INTO charges_with_refunds SELECT side, peer, id, state, amount, currency, payee, code_id, transfer_id,
    fingerprint, approval, deadline, created_at, changed_at, memo, hold_id, expires_at, quote_id FROM charges;
DROP TABLE charges;
ALTER TABLE charges_with_refunds RENAME TO charges;
CREATE INDEX charges_in_doubt ON charges (deadline)
    WHERE side = 'seller' AND (state = 'prepared' OR state = 'voiding' OR state = 'refunding');
CREATE INDEX charges_prepared ON charges (peer, currency) WHERE side = 'seller' AND state = 'prepared';
CREATE INDEX charges_by_peer ON charges (peer, deadline);
"#;

-- The baseline: a plain PostgreSQL ledger, as a careful team would write it on day one.
-- A table of codes (id, unique code hash, balance), a table of payments, and one transaction per
-- payment that debits with a balance check, credits the payee and records the payment.
DROP TABLE IF EXISTS baseline_payments;
DROP TABLE IF EXISTS baseline_codes;
CREATE TABLE baseline_codes (
    id BIGINT PRIMARY KEY,
    code_hash BYTEA NOT NULL UNIQUE,
    balance BIGINT NOT NULL CHECK (balance >= 0)
);
CREATE TABLE baseline_payments (
    id BIGSERIAL PRIMARY KEY,
    payer BIGINT NOT NULL REFERENCES baseline_codes (id),
    payee BIGINT NOT NULL REFERENCES baseline_codes (id),
    amount BIGINT NOT NULL CHECK (amount > 0),
    at TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- Payers are ids 1..100000, payees 1000001..1001000. Each payer holds 1000 units (micro-units).
INSERT INTO baseline_codes (id, code_hash, balance)
SELECT i, sha256(int8send(i)), 1000000000 FROM generate_series(1, 100000) AS i;
INSERT INTO baseline_codes (id, code_hash, balance)
SELECT i, sha256(int8send(i)), 0 FROM generate_series(1000001, 1001000) AS i;
VACUUM ANALYZE baseline_codes;

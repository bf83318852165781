-- One payment from a random payer, found by its code hash, to one of 1,000 payees.
\set payer random(1, 100000)
\set payee random(1000001, 1001000)
BEGIN;
UPDATE baseline_codes SET balance = balance - 1 WHERE code_hash = sha256(int8send(:payer)) AND balance >= 1;
UPDATE baseline_codes SET balance = balance + 1 WHERE id = :payee;
INSERT INTO baseline_payments (payer, payee, amount) VALUES (:payer, :payee, 1);
COMMIT;

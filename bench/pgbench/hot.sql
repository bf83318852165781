-- One payment from a random payer, found by its code hash, to the one hot payee.
\set payer random(1, 100000)
BEGIN;
UPDATE baseline_codes SET balance = balance - 1 WHERE code_hash = sha256(int8send(:payer)) AND balance >= 1;
UPDATE baseline_codes SET balance = balance + 1 WHERE id = 1000001;
INSERT INTO baseline_payments (payer, payee, amount) VALUES (:payer, 1000001, 1);
COMMIT;

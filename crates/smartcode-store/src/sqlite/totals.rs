//! The queries the ledger check runs over the whole embedded store.

/// Per currency: the accounts' sums, then one pass over the transfers for their count and what was
/// issued (and deposited) and paid out, judged by the transfers' kinds.
pub(super) const LEDGER_TOTALS: &str = "\
    WITH held AS ( \
        SELECT currency, sum(balance) AS total, \
               coalesce(-sum(CASE WHEN kind = 'issuance' THEN balance END), 0) AS outstanding, \
               coalesce(sum(CASE WHEN kind = 'code' THEN balance END), 0) AS by_codes, \
               coalesce(sum(CASE WHEN kind = 'exchange' THEN balance END), 0) AS exchange, \
               coalesce(sum(CASE WHEN kind = 'peer' THEN balance END), 0) AS peers, \
               count(*) AS accounts \
        FROM accounts GROUP BY currency), \
    moved AS ( \
        SELECT currency, count(*) AS transfers, \
               coalesce(sum(CASE WHEN kind IN ('issue', 'deposit') \
                                      OR (kind = 'settlement' AND debit LIKE 'issuance:%') THEN amount END), 0) AS issued, \
               coalesce(sum(CASE WHEN kind = 'payout' \
                                      OR (kind = 'settlement' AND credit LIKE 'issuance:%') THEN amount END), 0) AS paid_out \
        FROM transfers GROUP BY currency) \
    SELECT h.currency, h.total, h.outstanding, h.by_codes, h.accounts, \
           coalesce(m.transfers, 0), coalesce(m.issued, 0), coalesce(m.paid_out, 0), h.exchange, h.peers \
    FROM held h LEFT JOIN moved m ON m.currency = h.currency ORDER BY h.currency";

/// Accounts whose kept balance differs from the sum of their transfers. One pass over the
/// transfers, grouped by account: there is no index of transfers by account (an account's history
/// is a chain), so a sum per account would scan every transfer once for every account.
pub(super) const MISMATCHED_ACCOUNTS: &str = "\
    WITH moves (account, amount) AS ( \
        SELECT credit, amount FROM transfers UNION ALL SELECT debit, -amount FROM transfers), \
    sums (account, total) AS (SELECT account, sum(amount) FROM moves GROUP BY account) \
    SELECT count(*) FROM accounts a LEFT JOIN sums s ON s.account = a.key \
    WHERE a.balance <> coalesce(s.total, 0)";

/// Code accounts whose `held` is not the sum of what their pending holds set aside (a
/// certificate's amount less what its payments took), or is more than the balance.
pub(crate) const UNCOVERED_HOLDS: &str =
    "SELECT count(*) FROM accounts a WHERE a.kind = 'code' AND (a.held > a.balance OR a.held <> coalesce( \
     (SELECT sum(h.amount - coalesce(h.captured, 0)) FROM holds h \
     WHERE h.state = 'pending' AND 'code:' || h.payer_id = a.key), 0))";

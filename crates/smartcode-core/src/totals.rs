//! What the ledger check judges: per currency, the sums of the accounts by kind (codes, the
//! issuance account, the exchange account) and of the transfers by kind, and across the ledger
//! the accounts that break a rule. Stores compute them; `ledger::reports` judges them.

use crate::money::Currency;

/// Per-currency sums the ledger check judges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrencyTotals {
    pub currency: Currency,
    /// Sum of every account's balance, issuance included: zero when the ledger is right.
    pub sum_units: i64,
    /// Everything ever issued or deposited: the sum of the `issue` and `deposit` transfers, and of
    /// the settlements received from peers.
    pub issued_units: i64,
    /// Everything ever paid out: the sum of the `payout` transfers and of the settlements paid.
    pub paid_out_units: i64,
    /// Minus the issuance account's balance: what the broker owes holders, issued less paid out.
    pub outstanding_units: i64,
    /// Sum of code balances.
    pub held_by_codes_units: i64,
    /// The exchange account's balance (its position): what buyers paid in this currency for
    /// quotes less what sellers were paid in it. With the codes', what the broker owes.
    pub exchange_units: i64,
    /// The peers' accounts together: what this broker owes peers less what they owe it. With
    /// the codes' and the exchange account's, what the broker owes.
    pub peer_units: i64,
    pub accounts: u64,
    pub transfers: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerTotals {
    pub currencies: Vec<CurrencyTotals>,
    /// Code accounts whose balance is below zero (must be none).
    pub negative_balances: u64,
    /// Accounts whose kept balance differs from the sum of their recorded transfers (must be none).
    pub mismatched_accounts: u64,
    /// Code accounts whose `held` is not the sum of their pending holds, or exceeds the balance:
    /// a hold not covered by what the code has (must be none).
    pub uncovered_holds: u64,
}

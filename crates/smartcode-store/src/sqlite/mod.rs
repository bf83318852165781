//! The core's store traits over one SQLite connection, inside whatever transaction is open on it.

mod approvals;
mod charges;
mod holds;
mod items;
mod licenses;
mod peers;
mod public_totals;
mod quotes;
mod sessions;
mod totals;
mod webhooks;
mod writes;

use rusqlite::{params, Connection, OptionalExtension, Row};
use smartcode_core::approval::ApprovalRecord;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{ApprovalId, CodeHash, CodeId, HoldId, PublicCode, QuoteId, SessionId, WebhookId};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::ledger::{LedgerRead, TransferFilter};
use smartcode_core::model::*;
use smartcode_core::money::{Amount, Currency};
use smartcode_core::session::SessionRecord;
use smartcode_core::webhook::{DeliveryRecord, WebhookRecord};

pub(crate) use self::totals::UNCOVERED_HOLDS;
use self::totals::{LEDGER_TOTALS, MISMATCHED_ACCOUNTS};
use crate::rows::{CodeColumns, CODE_COLUMNS};

pub use self::holds::{insert_hold, update_hold};
pub use self::writes::mark_lineage_sql;
pub use self::writes::{insert_transfer, write_account, write_public_totals, HotStatements};

pub struct SqliteLedger<'c> {
    pub conn: &'c Connection,
}

pub fn failure(error: rusqlite::Error) -> StorageFailure {
    StorageFailure(format!("sqlite: {error}"))
}

fn corrupt(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnName(format!("unreadable stored {what}"))
}

/// Entries of a stored list are joined by this separator, which no entry may hold.
const LIST_SEPARATOR: &str = "\u{1f}";

fn join_list(list: Option<&[String]>) -> Option<String> {
    list.map(|entries| entries.join(LIST_SEPARATOR))
}

fn split_list(text: Option<String>) -> Option<Vec<String>> {
    text.map(|t| {
        if t.is_empty() {
            Vec::new()
        } else {
            t.split(LIST_SEPARATOR).map(str::to_owned).collect()
        }
    })
}

/// A code's row as [`CODE_COLUMNS`] selects it, its lists joined into text.
fn code_from_row(row: &Row<'_>) -> rusqlite::Result<CodeRecord> {
    let columns = CodeColumns {
        id: row.get(0)?,
        kind: row.get(1)?,
        parent_id: row.get(2)?,
        owner_id: row.get(3)?,
        public_code: row.get(4)?,
        currency: row.get(5)?,
        label: row.get(6)?,
        profile_name: row.get(7)?,
        profile_description: row.get(8)?,
        profile_url: row.get(9)?,
        profile_contact: row.get(10)?,
        show_stats: row.get(11)?,
        status: row.get(12)?,
        depth: row.get(13)?,
        created_at: row.get(14)?,
        expires_at: row.get(15)?,
        irrevocable: row.get(16)?,
        pin_hash: row.get(17)?,
        pin_generation: row.get(18)?,
        pin_failures: row.get(19)?,
        locked: row.get(20)?,
        allowed_categories: split_list(row.get(21)?),
        allowed_payees: split_list(row.get(22)?),
        allowed_items: split_list(row.get(23)?),
        amount_per_use_max: row.get(24)?,
        uses_max: row.get(25)?,
        spend_period_amount: row.get(26)?,
        spend_period_seconds: row.get(27)?,
        restricted_lineage: row.get(28)?,
        uses: row.get(29)?,
        period_index: row.get(30)?,
        period_spent: row.get(31)?,
        catalog_categories: split_list(row.get(32)?),
        catalog_items: split_list(row.get(33)?),
        checked_by: row.get(34)?,
        checked_at: row.get(35)?,
        spending_rules: row.get(36)?,
        webhooks: row.get(37)?,
    };
    columns
        .into_record()
        .map_err(|unreadable| rusqlite::Error::InvalidColumnName(unreadable.0))
}

const TRANSFER_COLUMNS: &str =
    "seq, id, at, kind, debit, credit, amount, currency, memo, public_code_id, category, item";

fn transfer_from_row(row: &Row<'_>) -> rusqlite::Result<(i64, Transfer)> {
    let kind: String = row.get(3)?;
    let debit: String = row.get(4)?;
    let credit: String = row.get(5)?;
    let currency: String = row.get(7)?;
    let public_code_id: Option<String> = row.get(9)?;
    let transfer = Transfer {
        id: row.get(1)?,
        at: Timestamp(row.get(2)?),
        kind: TransferKind::parse(&kind).ok_or_else(|| corrupt("transfer kind"))?,
        debit: AccountKey::from_stored(&debit).ok_or_else(|| corrupt("account"))?,
        credit: AccountKey::from_stored(&credit).ok_or_else(|| corrupt("account"))?,
        amount: Amount::from_units(row.get(6)?).map_err(|_| corrupt("amount"))?,
        currency: Currency::parse(&currency).map_err(|_| corrupt("currency"))?,
        memo: row.get(8)?,
        public_code_id: public_code_id
            .map(|p| CodeId::parse(&p).ok_or_else(|| corrupt("public code id")))
            .transpose()?,
        category: row.get(10)?,
        item: row.get(11)?,
    };
    Ok((row.get(0)?, transfer))
}

impl SqliteLedger<'_> {
    fn one_code(&self, condition: &str, value: &dyn rusqlite::ToSql) -> StoreResult<Option<CodeRecord>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM codes WHERE {condition}");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement.query_row([value], code_from_row).optional().map_err(failure)
    }
}

/// The `WHERE` fragment shared by history pages and reports: one account, an optional window.
const ACCOUNT_WINDOW: &str = "(debit = ?1 OR credit = ?1) AND (?2 IS NULL OR at >= ?2) AND (?3 IS NULL OR at < ?3)";

impl SqliteLedger<'_> {
    /// The account's newest transfer.
    fn last_seq(&self, key: &str) -> StoreResult<Option<i64>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT last_seq FROM accounts WHERE key = ?1")
            .map_err(failure)?;
        let found: Option<Option<i64>> = statement
            .query_row([key], |row| row.get(0))
            .optional()
            .map_err(failure)?;
        Ok(found.flatten())
    }

    /// Transfer `seq` with the link to the previous transfer of account `key`, if it is one of
    /// `key`'s: `(sequence, previous)`.
    fn link(&self, seq: i64, key: &str) -> StoreResult<Option<(i64, Option<i64>)>> {
        let mut statement = self
            .conn
            .prepare_cached(
                "SELECT seq, CASE WHEN debit = ?2 THEN debit_prev ELSE credit_prev END FROM transfers \
                 WHERE seq = ?1 AND (debit = ?2 OR credit = ?2)",
            )
            .map_err(failure)?;
        statement
            .query_row(params![seq, key], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(failure)
    }

    /// One transfer of account `key`'s chain and the link to the one before it.
    fn chained(&self, seq: i64, key: &str) -> StoreResult<(Transfer, Option<i64>)> {
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS}, CASE WHEN debit = ?2 THEN debit_prev ELSE credit_prev END FROM transfers WHERE seq = ?1"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        statement
            .query_row(params![seq, key], |row| {
                let (_, transfer) = transfer_from_row(row)?;
                Ok((transfer, row.get(12)?))
            })
            .map_err(failure)
    }
}

/// Where an account's row is and which transfer ends its chain: what a transfer needs to link
/// itself in and move the balance without looking the account up by its key again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountRow {
    pub rowid: i64,
    pub last_seq: Option<i64>,
}

impl SqliteLedger<'_> {
    /// An account's balance and where its row is.
    pub fn account_row(&self, key: &AccountKey) -> StoreResult<Option<(AccountState, AccountRow)>> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT currency, balance, held, rowid, last_seq FROM accounts WHERE key = ?1")
            .map_err(failure)?;
        statement
            .query_row([key.to_stored()], |row| {
                let currency: String = row.get(0)?;
                let state = AccountState {
                    currency: Currency::parse(&currency).map_err(|_| corrupt("currency"))?,
                    balance_units: row.get(1)?,
                    held_units: row.get(2)?,
                };
                Ok((
                    state,
                    AccountRow {
                        rowid: row.get(3)?,
                        last_seq: row.get(4)?,
                    },
                ))
            })
            .optional()
            .map_err(failure)
    }
}

impl LedgerRead for SqliteLedger<'_> {
    fn code_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeRecord>> {
        self.one_code("code_hash = ?1", &hash.0.as_slice())
    }

    fn code_by_id(&mut self, id: &CodeId) -> StoreResult<Option<CodeRecord>> {
        self.one_code("id = ?1", &id.as_str())
    }

    fn code_by_public(&mut self, code: &PublicCode) -> StoreResult<Option<CodeRecord>> {
        self.one_code("public_code = ?1", &code.as_stored())
    }

    fn account(&mut self, key: &AccountKey) -> StoreResult<Option<AccountState>> {
        Ok(self.account_row(key)?.map(|(state, _)| state))
    }

    fn children(&mut self, parent: &CodeId, limit: u32) -> StoreResult<Vec<CodeRecord>> {
        let sql = format!("SELECT {CODE_COLUMNS} FROM codes WHERE parent_id = ?1 ORDER BY created_at, id LIMIT ?2");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map(params![parent.as_str(), limit], code_from_row)
            .map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    fn child_count(&mut self, parent: &CodeId) -> StoreResult<u32> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT count(*) FROM codes WHERE parent_id = ?1")
            .map_err(failure)?;
        statement
            .query_row([parent.as_str()], |row| row.get(0))
            .map_err(failure)
    }

    fn transfers_of(&mut self, account: &AccountKey, filter: &TransferFilter) -> StoreResult<Vec<(i64, Transfer)>> {
        let key = account.to_stored();
        // Where the page starts: after the cursor's transfer (found in one step when it is this
        // account's, as the cursors this store hands out are), else at the account's newest.
        let mut next = match filter.before_sequence {
            Some(cursor) => match self.link(cursor, &key)? {
                Some((_, prev)) => prev,
                None => self.last_seq(&key)?,
            },
            None => self.last_seq(&key)?,
        };
        let mut page = Vec::new();
        while let Some(seq) = next {
            if page.len() >= filter.limit as usize {
                break;
            }
            let (transfer, prev) = self.chained(seq, &key)?;
            next = prev;
            if filter.before_sequence.is_some_and(|cursor| seq >= cursor)
                || filter.until.is_some_and(|until| transfer.at >= until)
            {
                continue;
            }
            if filter.since.is_some_and(|since| transfer.at < since) {
                break;
            }
            page.push((seq, transfer));
        }
        Ok(page)
    }

    fn transfer_by_id(&mut self, id: &str) -> StoreResult<Option<Transfer>> {
        let sql = format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = ?1");
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let row = statement
            .query_row([id], transfer_from_row)
            .optional()
            .map_err(failure)?;
        Ok(row.map(|(_, transfer)| transfer))
    }

    fn report(
        &mut self,
        account: &AccountKey,
        grouping: ReportGrouping,
        filter: &TransferFilter,
    ) -> StoreResult<Vec<ReportRow>> {
        let key = match grouping {
            ReportGrouping::Day => "strftime('%Y-%m-%d', at / 1000000, 'unixepoch')",
            ReportGrouping::Month => "strftime('%Y-%m', at / 1000000, 'unixepoch')",
            ReportGrouping::PublicCode => "(SELECT public_code FROM codes WHERE codes.id = transfers.public_code_id)",
        };
        let only_payments = if grouping == ReportGrouping::PublicCode {
            "AND public_code_id IS NOT NULL"
        } else {
            ""
        };
        // The account's chain, newest first, down to the first transfer before the window.
        let sql = format!(
            "WITH RECURSIVE chain(seq) AS ( \
                 SELECT last_seq FROM accounts WHERE key = ?1 \
                 UNION ALL \
                 SELECT CASE WHEN t.debit = ?1 THEN t.debit_prev ELSE t.credit_prev END \
                 FROM transfers t JOIN chain ON t.seq = chain.seq WHERE ?2 IS NULL OR t.at >= ?2) \
             SELECT {key} AS k, count(*), \
                    coalesce(sum(CASE WHEN credit = ?1 THEN amount END), 0), \
                    coalesce(sum(CASE WHEN debit = ?1 THEN amount END), 0) \
             FROM transfers WHERE seq IN (SELECT seq FROM chain) AND {ACCOUNT_WINDOW} {only_payments} \
             GROUP BY k ORDER BY k LIMIT ?4"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map(
                params![
                    account.to_stored(),
                    filter.since.map(|t| t.0),
                    filter.until.map(|t| t.0),
                    filter.limit
                ],
                |row| {
                    let key: String = row.get(0)?;
                    Ok(ReportRow {
                        key: PublicCode::from_stored(&key).map_or(key, |code| code.to_string()),
                        count: row.get(1)?,
                        total_in_units: row.get(2)?,
                        total_out_units: row.get(3)?,
                    })
                },
            )
            .map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    fn public_code_stats(&mut self, public_code: &CodeId) -> StoreResult<(u64, i64)> {
        let mut statement = self
            .conn
            .prepare_cached("SELECT payments, units FROM public_code_stats WHERE code_id = ?1")
            .map_err(failure)?;
        let stats = statement
            .query_row([public_code.as_str()], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(failure)?;
        Ok(stats.unwrap_or((0, 0)))
    }

    fn ledger_totals(&mut self) -> StoreResult<LedgerTotals> {
        let mut statement = self.conn.prepare(LEDGER_TOTALS).map_err(failure)?;
        let currencies = statement
            .query_map([], |row| {
                let currency: String = row.get(0)?;
                Ok(CurrencyTotals {
                    currency: Currency::parse(&currency).map_err(|_| corrupt("currency"))?,
                    sum_units: row.get(1)?,
                    outstanding_units: row.get(2)?,
                    held_by_codes_units: row.get(3)?,
                    accounts: row.get(4)?,
                    transfers: row.get(5)?,
                    issued_units: row.get(6)?,
                    paid_out_units: row.get(7)?,
                    exchange_units: row.get(8)?,
                    peer_units: row.get(9)?,
                })
            })
            .map_err(failure)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(failure)?;
        let negative_balances = self
            .conn
            .query_row(
                "SELECT count(*) FROM accounts WHERE kind = 'code' AND balance < 0",
                [],
                |row| row.get(0),
            )
            .map_err(failure)?;
        // Every kept balance must equal what its recorded transfers add up to.
        let mismatched_accounts = self
            .conn
            .query_row(MISMATCHED_ACCOUNTS, [], |row| row.get(0))
            .map_err(failure)?;
        let uncovered_holds = self
            .conn
            .query_row(UNCOVERED_HOLDS, [], |row| row.get(0))
            .map_err(failure)?;
        Ok(LedgerTotals {
            currencies,
            negative_balances,
            mismatched_accounts,
            uncovered_holds,
        })
    }

    fn due_expiries(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<CodeRecord>> {
        let sql = format!(
            "SELECT {CODE_COLUMNS} FROM codes WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= ?1 \
             ORDER BY expires_at, depth DESC LIMIT ?2"
        );
        let mut statement = self.conn.prepare_cached(&sql).map_err(failure)?;
        let rows = statement
            .query_map(params![now.0, limit], code_from_row)
            .map_err(failure)?;
        rows.collect::<Result<_, _>>().map_err(failure)
    }

    fn hold_by_id(&mut self, id: &HoldId) -> StoreResult<Option<HoldRecord>> {
        self.hold(id)
    }

    fn pending_holds(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        self.holds_pending_of(code, limit)
    }

    fn due_holds(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        self.holds_due(now, limit)
    }

    fn refunds_of(&mut self, receipt_id: &str) -> StoreResult<Vec<RefundRecord>> {
        self.refunds(receipt_id)
    }

    fn hold_by_code(&mut self, hash: &CodeHash) -> StoreResult<Option<HoldRecord>> {
        SqliteLedger::hold_by_code(self, hash)
    }

    fn authorizations_of(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        SqliteLedger::authorizations_of(self, code, limit)
    }

    fn alias_target(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeId>> {
        SqliteLedger::alias_target(self, hash)
    }

    fn alias_of(&mut self, code: &CodeId) -> StoreResult<Option<AliasRecord>> {
        SqliteLedger::alias_of(self, code)
    }

    fn rate(&mut self, from: Currency, to: Currency) -> StoreResult<Option<RateRecord>> {
        SqliteLedger::rate(self, from, to)
    }

    fn rates(&mut self, limit: u32) -> StoreResult<Vec<RateRecord>> {
        SqliteLedger::rates(self, limit)
    }

    fn peer(&mut self, name: &str) -> StoreResult<Option<PeerRecord>> {
        SqliteLedger::peer(self, name)
    }

    fn peers(&mut self, limit: u32) -> StoreResult<Vec<PeerRecord>> {
        SqliteLedger::peers(self, limit)
    }

    fn peer_balances(&mut self, name: &str) -> StoreResult<Vec<(Currency, i64)>> {
        SqliteLedger::peer_balances(self, name)
    }

    fn quote_by_id(&mut self, id: &QuoteId) -> StoreResult<Option<QuoteRecord>> {
        self.quote(id)
    }

    fn approval_by_id(&mut self, id: &ApprovalId) -> StoreResult<Option<ApprovalRecord>> {
        self.approval(id)
    }

    fn approvals_for(&mut self, code: &CodeId, now: Timestamp, limit: u32) -> StoreResult<Vec<ApprovalRecord>> {
        SqliteLedger::approvals_for(self, code, now, limit)
    }

    fn item_by_id(
        &mut self,
        id: &smartcode_core::code::ItemId,
    ) -> StoreResult<Option<smartcode_core::item::ItemRecord>> {
        self.item(id)
    }

    fn items_for(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<smartcode_core::item::ItemRecord>> {
        SqliteLedger::items_for(self, code, limit)
    }

    fn item_content(&mut self, id: &smartcode_core::code::ItemId) -> StoreResult<Option<Vec<u8>>> {
        SqliteLedger::item_content(self, id)
    }

    fn license_by_code(&mut self, code: &PublicCode) -> StoreResult<Option<smartcode_core::license::LicenseRecord>> {
        self.license(code)
    }

    fn session_by_id(&mut self, id: &SessionId) -> StoreResult<Option<SessionRecord>> {
        self.session(id)
    }

    fn sessions_for(&mut self, code: &CodeId, now: Timestamp, limit: u32) -> StoreResult<Vec<SessionRecord>> {
        SqliteLedger::sessions_for(self, code, now, limit)
    }

    fn exchange_positions(&mut self) -> StoreResult<Vec<(Currency, i64)>> {
        SqliteLedger::exchange_positions(self)
    }

    fn webhooks_of(&mut self, owner: &CodeId) -> StoreResult<Vec<WebhookRecord>> {
        SqliteLedger::webhooks_of(self, owner)
    }

    fn webhook_by_id(&mut self, id: &WebhookId) -> StoreResult<Option<WebhookRecord>> {
        SqliteLedger::webhook_by_id(self, id)
    }

    fn deliveries_of(&mut self, webhook: &WebhookId, limit: u32) -> StoreResult<Vec<DeliveryRecord>> {
        SqliteLedger::deliveries_of(self, webhook, limit)
    }

    fn due_webhooks(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<WebhookRecord>> {
        SqliteLedger::due_webhooks(self, now, limit)
    }

    fn pending_deliveries(&mut self, webhook: &WebhookId, limit: u32) -> StoreResult<Vec<DeliveryRecord>> {
        SqliteLedger::pending_deliveries(self, webhook, limit)
    }

    fn oldest_deliveries(&mut self, limit: u32) -> StoreResult<Vec<DeliveryRecord>> {
        SqliteLedger::oldest_deliveries(self, limit)
    }

    fn charge(&mut self, side: ChargeSide, peer: &str, id: &str) -> StoreResult<Option<ChargeRecord>> {
        SqliteLedger::charge(self, side, peer, id)
    }

    fn prepared_charge_units(&mut self, peer: &str, currency: Currency) -> StoreResult<i64> {
        SqliteLedger::prepared_charge_units(self, peer, currency)
    }

    fn charges_in_doubt(&mut self, peer: &str, before: Timestamp, limit: u32) -> StoreResult<Vec<ChargeRecord>> {
        SqliteLedger::charges_in_doubt(self, peer, before, limit)
    }

    fn charges_with(
        &mut self,
        peer: &str,
        (since, until): (Timestamp, Timestamp),
        limit: u32,
    ) -> StoreResult<Vec<ChargeRecord>> {
        SqliteLedger::charges_with(self, peer, (since, until), limit)
    }

    fn assurance_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<AssuranceRecord>> {
        SqliteLedger::assurance_by_hash(self, hash)
    }

    fn assurance_by_id(&mut self, id: &smartcode_core::code::AssuranceId) -> StoreResult<Option<AssuranceRecord>> {
        SqliteLedger::assurance_by_id(self, id)
    }

    fn assurances_of(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<AssuranceRecord>> {
        SqliteLedger::assurances_of(self, code, limit)
    }
}

/// The writes the writer's [`crate::cache::Cached`] passes on to SQLite. Transfers and balances are
/// not among them: `Cached` writes those itself, with the writer's prepared statements.
#[cfg(test)]
mod tests;

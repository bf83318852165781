//! The core's reads over PostgreSQL: from what the batch prefetched when it can, else from the
//! database (under `FOR UPDATE` for a row that raced before), with the batch's pending balance
//! changes added in.

use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeHash, CodeId, PublicCode};
use smartcode_core::error::StoreResult;
use smartcode_core::ledger::{LedgerRead, TransferFilter};
use smartcode_core::model::*;
use smartcode_core::money::Currency;

use crate::rows::CODE_COLUMNS;

use super::*;

impl LedgerRead for PgLedger<'_> {
    fn webhooks_of(&mut self, owner: &CodeId) -> StoreResult<Vec<smartcode_core::webhook::WebhookRecord>> {
        self.read_webhooks_of(owner)
    }

    fn webhook_by_id(
        &mut self,
        id: &smartcode_core::code::WebhookId,
    ) -> StoreResult<Option<smartcode_core::webhook::WebhookRecord>> {
        self.read_webhook(id)
    }

    fn deliveries_of(
        &mut self,
        webhook: &smartcode_core::code::WebhookId,
        limit: u32,
    ) -> StoreResult<Vec<smartcode_core::webhook::DeliveryRecord>> {
        self.read_deliveries(webhook, limit, false)
    }

    fn due_webhooks(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<smartcode_core::webhook::WebhookRecord>> {
        self.read_due_webhooks(now, limit)
    }

    fn pending_deliveries(
        &mut self,
        webhook: &smartcode_core::code::WebhookId,
        limit: u32,
    ) -> StoreResult<Vec<smartcode_core::webhook::DeliveryRecord>> {
        self.read_deliveries(webhook, limit, true)
    }

    fn oldest_deliveries(&mut self, limit: u32) -> StoreResult<Vec<smartcode_core::webhook::DeliveryRecord>> {
        self.read_oldest_deliveries(limit)
    }

    fn hold_by_id(&mut self, id: &smartcode_core::code::HoldId) -> StoreResult<Option<HoldRecord>> {
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
        self.hold_by_code_hash(hash)
    }

    fn authorizations_of(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        self.authorizations(code, limit)
    }

    fn alias_target(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeId>> {
        self.alias_target_of(hash)
    }

    fn alias_of(&mut self, code: &CodeId) -> StoreResult<Option<AliasRecord>> {
        self.alias_of_code(code)
    }

    fn rate(&mut self, from: Currency, to: Currency) -> StoreResult<Option<RateRecord>> {
        self.read_rate(from, to)
    }

    fn rates(&mut self, limit: u32) -> StoreResult<Vec<RateRecord>> {
        self.read_rates(limit)
    }

    fn peer(&mut self, name: &str) -> StoreResult<Option<PeerRecord>> {
        self.read_peer(name)
    }

    fn peers(&mut self, limit: u32) -> StoreResult<Vec<PeerRecord>> {
        self.read_peers(limit)
    }

    fn peer_balances(&mut self, name: &str) -> StoreResult<Vec<(Currency, i64)>> {
        self.read_peer_balances(name)
    }

    fn quote_by_id(&mut self, id: &smartcode_core::code::QuoteId) -> StoreResult<Option<QuoteRecord>> {
        self.read_quote(id)
    }

    fn approval_by_id(
        &mut self,
        id: &smartcode_core::code::ApprovalId,
    ) -> StoreResult<Option<smartcode_core::approval::ApprovalRecord>> {
        self.read_approval(id)
    }

    fn approvals_for(
        &mut self,
        code: &CodeId,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<smartcode_core::approval::ApprovalRecord>> {
        self.read_approvals_for(code, now, limit)
    }

    fn item_by_id(
        &mut self,
        id: &smartcode_core::code::ItemId,
    ) -> StoreResult<Option<smartcode_core::item::ItemRecord>> {
        self.read_item(id)
    }

    fn items_for(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<smartcode_core::item::ItemRecord>> {
        self.read_items_for(code, limit)
    }

    fn item_content(&mut self, id: &smartcode_core::code::ItemId) -> StoreResult<Option<Vec<u8>>> {
        self.read_item_content(id)
    }

    fn license_by_code(&mut self, code: &PublicCode) -> StoreResult<Option<smartcode_core::license::LicenseRecord>> {
        self.read_license(code)
    }

    fn session_by_id(
        &mut self,
        id: &smartcode_core::code::SessionId,
    ) -> StoreResult<Option<smartcode_core::session::SessionRecord>> {
        self.read_session(id)
    }

    fn sessions_for(
        &mut self,
        code: &CodeId,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<smartcode_core::session::SessionRecord>> {
        self.read_sessions_for(code, now, limit)
    }

    fn exchange_positions(&mut self) -> StoreResult<Vec<(Currency, i64)>> {
        self.read_exchange_positions()
    }

    fn charge(&mut self, side: ChargeSide, peer: &str, id: &str) -> StoreResult<Option<ChargeRecord>> {
        self.read_charge(side, peer, id)
    }

    fn prepared_charge_units(&mut self, peer: &str, currency: Currency) -> StoreResult<i64> {
        self.read_prepared_charge_units(peer, currency)
    }

    fn charges_in_doubt(&mut self, peer: &str, before: Timestamp, limit: u32) -> StoreResult<Vec<ChargeRecord>> {
        self.read_charges_in_doubt(peer, before, limit)
    }

    fn charges_with(
        &mut self,
        peer: &str,
        (since, until): (Timestamp, Timestamp),
        limit: u32,
    ) -> StoreResult<Vec<ChargeRecord>> {
        self.read_charges_with(peer, (since, until), limit)
    }

    fn assurance_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<AssuranceRecord>> {
        self.assurance_with_hash(hash)
    }

    fn assurance_by_id(&mut self, id: &smartcode_core::code::AssuranceId) -> StoreResult<Option<AssuranceRecord>> {
        self.assurance_with_id(id)
    }

    fn assurances_of(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<AssuranceRecord>> {
        self.assurances_made_by(code, limit)
    }

    fn code_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeRecord>> {
        let id = self
            .batch
            .as_ref()
            .and_then(|b| b.prefetched.by_hash.get(&hash.0).cloned());
        if let Some(record) = self.prefetched_code(id) {
            return Ok(Some(record));
        }
        self.one_code("code_hash = $1", &hash.0.as_slice())
    }

    fn code_by_id(&mut self, id: &CodeId) -> StoreResult<Option<CodeRecord>> {
        if let Some(record) = self.prefetched_code(Some(id.as_str().to_owned())) {
            return Ok(Some(record));
        }
        self.one_code("id = $1", &id.as_str())
    }

    fn code_by_public(&mut self, code: &PublicCode) -> StoreResult<Option<CodeRecord>> {
        let id = self
            .batch
            .as_ref()
            .and_then(|b| b.prefetched.by_public.get(code.as_stored()).cloned());
        if let Some(record) = self.prefetched_code(id) {
            return Ok(Some(record));
        }
        self.one_code("public_code = $1", &code.as_stored())
    }

    fn account(&mut self, key: &AccountKey) -> StoreResult<Option<AccountState>> {
        let stored = key.to_stored();
        let locked = self
            .batch
            .as_ref()
            .is_some_and(|b| b.contended.accounts.contains(&stored));
        let prefetched = self
            .batch
            .as_ref()
            .and_then(|b| b.prefetched.accounts.get(&stored).copied());
        let (currency, stored_balance, mut held_units) = match prefetched {
            Some(prefetched) => prefetched,
            None => {
                let sql = if locked {
                    "SELECT currency, balance, held FROM accounts WHERE key = $1 FOR UPDATE"
                } else {
                    "SELECT currency, balance, held FROM accounts WHERE key = $1"
                };
                let Some(row) = self.query_opt(sql, &[&stored])? else {
                    return Ok(None);
                };
                let currency = Currency::parse(&get::<String>(&row, 0)?).map_err(|_| corrupt("currency"))?;
                (currency, get(&row, 1)?, get(&row, 2)?)
            }
        };
        let mut balance_units = stored_balance;
        if let Some(batch) = self.batch.as_deref_mut() {
            // The first read is what the core decided on: a later read that differs means another
            // process moved value meanwhile, which `verify_balance_unchanged` must then see.
            batch
                .command
                .balances_read
                .entry(stored.clone())
                .or_insert(stored_balance);
            balance_units = balance_units
                .checked_add(batch.pending(&stored))
                .ok_or_else(|| corrupt("balance"))?;
            held_units = held_units
                .checked_add(batch.pending_held(&stored))
                .ok_or_else(|| corrupt("held"))?;
        }
        Ok(Some(AccountState {
            currency,
            balance_units,
            held_units,
        }))
    }

    fn children(&mut self, parent: &CodeId, limit: u32) -> StoreResult<Vec<CodeRecord>> {
        let sql = format!(
            "SELECT {CODE_COLUMNS}, {VERSION} FROM codes WHERE parent_id = $1 ORDER BY created_at, id COLLATE \"C\" LIMIT $2"
        );
        let rows = self.query(&sql, &[&parent.as_str(), &i64::from(limit)])?;
        let mut children = Vec::with_capacity(rows.len());
        for row in &rows {
            let (record, version) = code_from_row(row)?;
            if self.is_contended_code(record.id.as_str()) {
                // Raced on an earlier attempt: `one_code` reads it again under lock.
                let locked = self
                    .one_code("id = $1", &record.id.as_str())?
                    .ok_or_else(|| corrupt("child"))?;
                children.push(locked);
                continue;
            }
            self.saw_code(&record, version);
            children.push(record);
        }
        Ok(children)
    }

    fn child_count(&mut self, parent: &CodeId) -> StoreResult<u32> {
        let row = self.query_one("SELECT count(*) FROM codes WHERE parent_id = $1", &[&parent.as_str()])?;
        small(get(&row, 0)?, "child count")
    }

    fn transfers_of(&mut self, account: &AccountKey, filter: &TransferFilter) -> StoreResult<Vec<(i64, Transfer)>> {
        self.read_transfers()?;
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM ({} UNION ALL {}) page ORDER BY seq DESC LIMIT $5",
            history_arm("debit"),
            history_arm("credit")
        );
        let rows = self.query(
            &sql,
            &[
                &account.to_stored(),
                &filter.since.map(|t| t.0),
                &filter.until.map(|t| t.0),
                &filter.before_sequence,
                &i64::from(filter.limit),
            ],
        )?;
        rows.iter().map(transfer_from_row).collect()
    }

    fn transfer_by_id(&mut self, id: &str) -> StoreResult<Option<Transfer>> {
        self.read_transfers()?;
        let sql = format!("SELECT {TRANSFER_COLUMNS} FROM transfers WHERE id = $1");
        let row = self.query_opt(&sql, &[&id])?;
        row.map(|row| transfer_from_row(&row).map(|(_, transfer)| transfer))
            .transpose()
    }

    fn report(
        &mut self,
        account: &AccountKey,
        grouping: ReportGrouping,
        filter: &TransferFilter,
    ) -> StoreResult<Vec<ReportRow>> {
        self.read_transfers()?;
        let key = match grouping {
            ReportGrouping::Day => "to_char(to_timestamp(at / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
            ReportGrouping::Month => "to_char(to_timestamp(at / 1000000) AT TIME ZONE 'UTC', 'YYYY-MM')",
            ReportGrouping::PublicCode => "(SELECT public_code FROM codes WHERE codes.id = transfers.public_code_id)",
        };
        let only_payments = if grouping == ReportGrouping::PublicCode {
            "AND public_code_id IS NOT NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT k, count(*), \
                    coalesce(sum(CASE WHEN credit = $1 THEN amount END), 0)::bigint, \
                    coalesce(sum(CASE WHEN debit = $1 THEN amount END), 0)::bigint \
             FROM (SELECT {key} AS k, debit, credit, amount FROM transfers \
                   WHERE {ACCOUNT_WINDOW} {only_payments}) grouped \
             GROUP BY k ORDER BY k COLLATE \"C\" LIMIT $4"
        );
        let rows = self.query(
            &sql,
            &[
                &account.to_stored(),
                &filter.since.map(|t| t.0),
                &filter.until.map(|t| t.0),
                &i64::from(filter.limit),
            ],
        )?;
        rows.iter()
            .map(|row| {
                let key: String = get::<Option<String>>(row, 0)?.unwrap_or_default();
                Ok(ReportRow {
                    key: PublicCode::from_stored(&key).map_or(key, |code| code.to_string()),
                    count: count(row, 1)?,
                    total_in_units: get(row, 2)?,
                    total_out_units: get(row, 3)?,
                })
            })
            .collect()
    }

    fn public_code_stats(&mut self, public_code: &CodeId) -> StoreResult<(u64, i64)> {
        self.read_transfers()?;
        let row = self.query_opt(
            "SELECT payments, units FROM public_code_stats WHERE code_id = $1",
            &[&public_code.as_str()],
        )?;
        match row {
            Some(row) => Ok((count(&row, 0)?, get(&row, 1)?)),
            None => Ok((0, 0)),
        }
    }

    fn ledger_totals(&mut self) -> StoreResult<LedgerTotals> {
        self.read_transfers()?;
        let rows = self.query(
            "WITH held AS ( \
                 SELECT currency, sum(balance)::bigint AS total, \
                        coalesce(-sum(balance) FILTER (WHERE kind = 'issuance'), 0)::bigint AS outstanding, \
                        coalesce(sum(balance) FILTER (WHERE kind = 'code'), 0)::bigint AS by_codes, \
                        coalesce(sum(balance) FILTER (WHERE kind = 'exchange'), 0)::bigint AS exchange, \
                        coalesce(sum(balance) FILTER (WHERE kind = 'peer'), 0)::bigint AS peers, \
                        count(*) AS accounts \
                 FROM accounts GROUP BY currency), \
             moved AS ( \
                 SELECT currency, count(*) AS transfers, \
                        coalesce(sum(amount) FILTER (WHERE kind IN ('issue', 'deposit') \
                            OR (kind = 'settlement' AND debit LIKE 'issuance:%')), 0)::bigint AS issued, \
                        coalesce(sum(amount) FILTER (WHERE kind = 'payout' \
                            OR (kind = 'settlement' AND credit LIKE 'issuance:%')), 0)::bigint AS paid_out \
                 FROM transfers GROUP BY currency) \
             SELECT h.currency, h.total, h.outstanding, h.by_codes, h.accounts, \
                    coalesce(m.transfers, 0), coalesce(m.issued, 0), coalesce(m.paid_out, 0), h.exchange, h.peers \
             FROM held h LEFT JOIN moved m ON m.currency = h.currency ORDER BY h.currency COLLATE \"C\"",
            &[],
        )?;
        let currencies = rows
            .iter()
            .map(|row| {
                Ok(CurrencyTotals {
                    currency: Currency::parse(&get::<String>(row, 0)?).map_err(|_| corrupt("currency"))?,
                    sum_units: get(row, 1)?,
                    outstanding_units: get(row, 2)?,
                    held_by_codes_units: get(row, 3)?,
                    accounts: count(row, 4)?,
                    transfers: count(row, 5)?,
                    issued_units: get(row, 6)?,
                    paid_out_units: get(row, 7)?,
                    exchange_units: get(row, 8)?,
                    peer_units: get(row, 9)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let row = self.query_one("SELECT count(*) FROM accounts WHERE kind = 'code' AND balance < 0", &[])?;
        let negative_balances = count(&row, 0)?;
        // Every kept balance must equal what its recorded transfers add up to.
        let row = self.query_one(
            "WITH moved AS ( \
                 SELECT key, sum(units)::bigint AS units FROM ( \
                     SELECT credit AS key, amount AS units FROM transfers \
                     UNION ALL SELECT debit, -amount FROM transfers) movements \
                 GROUP BY key) \
             SELECT count(*) FROM accounts a LEFT JOIN moved m ON m.key = a.key \
             WHERE a.balance <> coalesce(m.units, 0)",
            &[],
        )?;
        let mismatched_accounts = count(&row, 0)?;
        let row = self.query_one(crate::sqlite::UNCOVERED_HOLDS, &[])?;
        let uncovered_holds = count(&row, 0)?;
        Ok(LedgerTotals {
            currencies,
            negative_balances,
            mismatched_accounts,
            uncovered_holds,
        })
    }

    fn due_expiries(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<CodeRecord>> {
        let sql = format!(
            "SELECT {CODE_COLUMNS}, {VERSION} FROM codes WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= $1 \
             ORDER BY expires_at, depth DESC LIMIT $2"
        );
        let rows = self.query(&sql, &[&now.0, &i64::from(limit)])?;
        let mut due = Vec::with_capacity(rows.len());
        for row in &rows {
            let (record, version) = code_from_row(row)?;
            self.saw_code(&record, version);
            due.push(record);
        }
        Ok(due)
    }
}

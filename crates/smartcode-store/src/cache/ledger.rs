//! The core's store traits and the idempotency records over the writer's memory: lookups of codes
//! and balances answered from memory (read from SQLite once), every write sent through
//! `Cached::write`, and the reads that go to SQLite flushed first.

use smartcode_core::approval::ApprovalRecord;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{ApprovalId, CodeHash, CodeId, HoldId, PublicCode, QuoteId};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::ledger::{LedgerRead, LedgerTx, Posted, TransferFilter};
use smartcode_core::model::*;
use smartcode_core::money::Currency;

use super::Cached;
use crate::protocol::{IdempotencyRecords, Remembered};
use crate::sqlite;
use crate::StoredResponse;

impl LedgerRead for Cached<'_, '_, '_> {
    fn code_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeRecord>> {
        if let Some(record) = self.cache.memory.code_by_hash(hash) {
            return Ok(Some(record.clone()));
        }
        let found = self.inner.code_by_hash(hash)?;
        if let Some(record) = &found {
            self.cache.memory.saw_code(record.clone(), Some(*hash));
        }
        Ok(found)
    }

    fn code_by_id(&mut self, id: &CodeId) -> StoreResult<Option<CodeRecord>> {
        if let Some(record) = self.cache.memory.code(id) {
            return Ok(Some(record.clone()));
        }
        let found = self.inner.code_by_id(id)?;
        if let Some(record) = &found {
            self.cache.memory.saw_code(record.clone(), None);
        }
        Ok(found)
    }

    fn code_by_public(&mut self, code: &PublicCode) -> StoreResult<Option<CodeRecord>> {
        if let Some(record) = self.cache.memory.code_by_public(code) {
            return Ok(Some(record.clone()));
        }
        let found = self.inner.code_by_public(code)?;
        if let Some(record) = &found {
            self.cache.memory.saw_code(record.clone(), None);
        }
        Ok(found)
    }

    fn account(&mut self, key: &AccountKey) -> StoreResult<Option<AccountState>> {
        Ok(self.cached_account(key)?.map(|account| account.state))
    }

    fn children(&mut self, parent: &CodeId, limit: u32) -> StoreResult<Vec<CodeRecord>> {
        self.inner.children(parent, limit)
    }

    fn child_count(&mut self, parent: &CodeId) -> StoreResult<u32> {
        self.inner.child_count(parent)
    }

    fn transfers_of(&mut self, account: &AccountKey, filter: &TransferFilter) -> StoreResult<Vec<(i64, Transfer)>> {
        self.cache.flush(&self.inner)?;
        self.inner.transfers_of(account, filter)
    }

    fn transfer_by_id(&mut self, id: &str) -> StoreResult<Option<Transfer>> {
        self.inner.transfer_by_id(id)
    }

    fn report(
        &mut self,
        account: &AccountKey,
        grouping: ReportGrouping,
        filter: &TransferFilter,
    ) -> StoreResult<Vec<ReportRow>> {
        self.cache.flush(&self.inner)?;
        self.inner.report(account, grouping, filter)
    }

    fn public_code_stats(&mut self, public_code: &CodeId) -> StoreResult<(u64, i64)> {
        self.cache.flush(&self.inner)?;
        self.inner.public_code_stats(public_code)
    }

    fn ledger_totals(&mut self) -> StoreResult<LedgerTotals> {
        self.cache.flush(&self.inner)?;
        self.inner.ledger_totals()
    }

    fn due_expiries(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<CodeRecord>> {
        self.inner.due_expiries(now, limit)
    }

    fn hold_by_id(&mut self, id: &HoldId) -> StoreResult<Option<HoldRecord>> {
        if let Some(record) = self.cache.memory.hold(id) {
            return Ok(Some(record.clone()));
        }
        let found = self.inner.hold(id)?;
        if let Some(record) = &found {
            self.cache.memory.saw_hold(record);
        }
        Ok(found)
    }

    fn pending_holds(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        if let Some(mut holds) = self.cache.memory.pending_of(code) {
            holds.truncate(limit as usize);
            return Ok(holds);
        }
        let holds = self.inner.holds_pending_of(code, limit)?;
        if holds.len() < limit as usize {
            self.cache.memory.saw_pending_of(code, &holds);
        }
        Ok(holds)
    }

    fn due_holds(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        self.inner.holds_due(now, limit)
    }

    fn refunds_of(&mut self, receipt_id: &str) -> StoreResult<Vec<RefundRecord>> {
        self.inner.refunds(receipt_id)
    }

    fn hold_by_code(&mut self, hash: &CodeHash) -> StoreResult<Option<HoldRecord>> {
        self.inner.hold_by_code(hash)
    }

    fn authorizations_of(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        self.inner.authorizations_of(code, limit)
    }

    fn alias_target(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeId>> {
        self.inner.alias_target(hash)
    }

    fn alias_of(&mut self, code: &CodeId) -> StoreResult<Option<AliasRecord>> {
        self.inner.alias_of(code)
    }

    fn rate(&mut self, from: Currency, to: Currency) -> StoreResult<Option<RateRecord>> {
        self.inner.rate(from, to)
    }

    fn rates(&mut self, limit: u32) -> StoreResult<Vec<RateRecord>> {
        self.inner.rates(limit)
    }

    fn peer(&mut self, name: &str) -> StoreResult<Option<PeerRecord>> {
        self.inner.peer(name)
    }

    fn peers(&mut self, limit: u32) -> StoreResult<Vec<PeerRecord>> {
        self.inner.peers(limit)
    }

    fn peer_balances(&mut self, name: &str) -> StoreResult<Vec<(Currency, i64)>> {
        self.cache.flush(&self.inner)?;
        self.inner.peer_balances(name)
    }

    fn charge(&mut self, side: ChargeSide, peer: &str, id: &str) -> StoreResult<Option<ChargeRecord>> {
        self.inner.charge(side, peer, id)
    }

    fn prepared_charge_units(&mut self, peer: &str, currency: Currency) -> StoreResult<i64> {
        self.inner.prepared_charge_units(peer, currency)
    }

    fn charges_in_doubt(&mut self, peer: &str, before: Timestamp, limit: u32) -> StoreResult<Vec<ChargeRecord>> {
        self.inner.charges_in_doubt(peer, before, limit)
    }

    fn charges_with(
        &mut self,
        peer: &str,
        (since, until): (Timestamp, Timestamp),
        limit: u32,
    ) -> StoreResult<Vec<ChargeRecord>> {
        self.inner.charges_with(peer, (since, until), limit)
    }

    fn quote_by_id(&mut self, id: &QuoteId) -> StoreResult<Option<QuoteRecord>> {
        self.inner.quote(id)
    }

    fn approval_by_id(&mut self, id: &ApprovalId) -> StoreResult<Option<ApprovalRecord>> {
        self.inner.approval(id)
    }

    fn approvals_for(&mut self, code: &CodeId, now: Timestamp, limit: u32) -> StoreResult<Vec<ApprovalRecord>> {
        self.inner.approvals_for(code, now, limit)
    }

    fn item_by_id(
        &mut self,
        id: &smartcode_core::code::ItemId,
    ) -> StoreResult<Option<smartcode_core::item::ItemRecord>> {
        self.inner.item(id)
    }

    fn items_for(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<smartcode_core::item::ItemRecord>> {
        self.inner.items_for(code, limit)
    }

    fn item_content(&mut self, id: &smartcode_core::code::ItemId) -> StoreResult<Option<Vec<u8>>> {
        self.inner.item_content(id)
    }

    fn license_by_code(&mut self, code: &PublicCode) -> StoreResult<Option<smartcode_core::license::LicenseRecord>> {
        self.inner.license(code)
    }

    fn session_by_id(
        &mut self,
        id: &smartcode_core::code::SessionId,
    ) -> StoreResult<Option<smartcode_core::session::SessionRecord>> {
        self.inner.session(id)
    }

    fn sessions_for(
        &mut self,
        code: &CodeId,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<smartcode_core::session::SessionRecord>> {
        self.inner.sessions_for(code, now, limit)
    }

    fn webhooks_of(&mut self, owner: &CodeId) -> StoreResult<Vec<smartcode_core::webhook::WebhookRecord>> {
        if let Some(webhooks) = self.cache.memory.webhooks_of(owner) {
            return Ok(webhooks.clone());
        }
        let webhooks = self.inner.webhooks_of(owner)?;
        self.cache.memory.saw_webhooks(owner, &webhooks);
        Ok(webhooks)
    }

    fn webhook_by_id(
        &mut self,
        id: &smartcode_core::code::WebhookId,
    ) -> StoreResult<Option<smartcode_core::webhook::WebhookRecord>> {
        self.inner.webhook_by_id(id)
    }

    fn deliveries_of(
        &mut self,
        webhook: &smartcode_core::code::WebhookId,
        limit: u32,
    ) -> StoreResult<Vec<smartcode_core::webhook::DeliveryRecord>> {
        self.inner.deliveries_of(webhook, limit)
    }

    fn due_webhooks(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<smartcode_core::webhook::WebhookRecord>> {
        self.inner.due_webhooks(now, limit)
    }

    fn pending_deliveries(
        &mut self,
        webhook: &smartcode_core::code::WebhookId,
        limit: u32,
    ) -> StoreResult<Vec<smartcode_core::webhook::DeliveryRecord>> {
        self.inner.pending_deliveries(webhook, limit)
    }

    fn oldest_deliveries(&mut self, limit: u32) -> StoreResult<Vec<smartcode_core::webhook::DeliveryRecord>> {
        self.inner.oldest_deliveries(limit)
    }

    fn exchange_positions(&mut self) -> StoreResult<Vec<(Currency, i64)>> {
        self.cache.flush(&self.inner)?;
        self.inner.exchange_positions()
    }

    fn assurance_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<AssuranceRecord>> {
        self.inner.assurance_by_hash(hash)
    }

    fn assurance_by_id(&mut self, id: &smartcode_core::code::AssuranceId) -> StoreResult<Option<AssuranceRecord>> {
        self.inner.assurance_by_id(id)
    }

    fn assurances_of(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<AssuranceRecord>> {
        self.inner.assurances_of(code, limit)
    }
}

impl LedgerTx for Cached<'_, '_, '_> {
    fn insert_code(&mut self, record: &CodeRecord, hash: Option<&CodeHash>) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.insert_code(record, hash),
            |memory, ()| memory.inserted_code(record, hash.copied()),
        )
    }

    fn open_account(&mut self, key: &AccountKey, currency: Currency) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.open_account(key, currency),
            |memory, ()| memory.opened_account(key),
        )
    }

    fn append_transfer(&mut self, posted: &Posted) -> StoreResult<()> {
        let transfer = posted.transfer();
        let missing = || StorageFailure(format!("transfer {} names a missing account", transfer.id));
        let debit = self.cached_account(&transfer.debit)?.ok_or_else(missing)?;
        let credit = self.cached_account(&transfer.credit)?.ok_or_else(missing)?;
        let units = transfer.amount.units();
        let overflow = || StorageFailure(format!("transfer {} overflows a balance", transfer.id));
        let debit_after = debit.state.balance_units.checked_sub(units).ok_or_else(overflow)?;
        let credit_after = credit.state.balance_units.checked_add(units).ok_or_else(overflow)?;
        // A public code's totals count payments into it; a refund names it too, and counts not.
        let paid_into = transfer
            .public_code_id
            .as_ref()
            .filter(|_| transfer.kind == TransferKind::Payment);
        let counted = match paid_into {
            Some(public_code) => {
                let totals = self.cached_totals(public_code)?;
                let units = totals.units.checked_add(units).ok_or_else(overflow)?;
                Some((public_code, totals.payments + 1, units))
            }
            None => None,
        };
        let (debit_prev, credit_prev) = (debit.row.last_seq, credit.row.last_seq);
        self.write(
            |_, hot| sqlite::insert_transfer(&mut hot.insert_transfer, transfer, debit_prev, credit_prev),
            |memory, &seq| {
                memory.moved(&transfer.debit, debit_after, seq);
                memory.moved(&transfer.credit, credit_after, seq);
                if let Some((public_code, payments, units)) = counted {
                    memory.counted(public_code, payments, units);
                }
            },
        )?;
        Ok(())
    }

    fn set_status(&mut self, id: &CodeId, status: CodeStatus, at: Timestamp) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.set_status(id, status, at),
            |memory, ()| memory.changed_code(id, |record| record.status = status),
        )
    }

    fn set_profile(&mut self, id: &CodeId, profile: &Profile) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.set_profile(id, profile),
            |memory, ()| memory.changed_code(id, |record| record.profile = profile.clone()),
        )
    }

    fn set_catalog(&mut self, id: &CodeId, catalog: &Catalog) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.set_catalog(id, catalog),
            |memory, ()| memory.changed_code(id, |record| record.catalog = catalog.clone()),
        )
    }

    fn set_check(&mut self, id: &CodeId, check: Option<&ProfileCheck>) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.set_check(id, check),
            |memory, ()| memory.changed_code(id, |record| record.check = check.cloned()),
        )
    }

    fn insert_refund(&mut self, refund: &RefundRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.insert_refund(refund), |_, ()| {})
    }

    fn insert_hold(&mut self, hold: &HoldRecord, code: Option<&CodeHash>) -> StoreResult<()> {
        self.write(
            |_, hot| sqlite::insert_hold(&mut hot.insert_hold, hold, code),
            |memory, ()| memory.wrote_hold(hold),
        )
    }

    fn set_alias(&mut self, code: &CodeId, alias: Option<&AliasRecord>) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.set_alias(code, alias), |_, ()| {})
    }

    fn set_rate(&mut self, rate: &RateRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.set_rate(rate), |_, ()| {})
    }

    fn put_peer(&mut self, peer: &PeerRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.put_peer(peer), |_, ()| {})
    }

    fn delete_peer(&mut self, name: &str) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.delete_peer(name), |_, ()| {})
    }

    fn insert_quote(&mut self, quote: &QuoteRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.insert_quote(quote), |_, ()| {})
    }

    fn insert_approval(&mut self, approval: &ApprovalRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.insert_approval(approval), |_, ()| {})
    }

    fn update_approval(&mut self, approval: &ApprovalRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.update_approval(approval), |_, ()| {})
    }

    fn put_webhook(&mut self, webhook: &smartcode_core::webhook::WebhookRecord) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.put_webhook(webhook),
            |memory, ()| memory.wrote_webhook(&webhook.owner_id),
        )
    }

    fn insert_delivery(&mut self, delivery: &smartcode_core::webhook::DeliveryRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.insert_delivery(delivery), |_, ()| {})
    }

    fn update_delivery(&mut self, delivery: &smartcode_core::webhook::DeliveryRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.update_delivery(delivery), |_, ()| {})
    }

    fn delete_deliveries(&mut self, seqs: &[i64]) -> StoreResult<u32> {
        self.write(|sqlite, _| sqlite.delete_deliveries(seqs), |_, _| {})
    }

    fn set_webhooks(&mut self, code: &CodeId, subscribed: bool) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.set_webhooks(code, subscribed),
            |memory, ()| memory.changed_code(code, |record| record.webhooks = subscribed),
        )
    }

    fn insert_item(&mut self, item: &smartcode_core::item::ItemRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.insert_item(item), |_, ()| {})
    }

    fn put_item_content(&mut self, item: &smartcode_core::item::ItemRecord, bytes: &[u8]) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.put_item_content(item, bytes), |_, ()| {})
    }

    fn count_fetch(&mut self, receipt_id: &str, fetches_max: u32) -> StoreResult<Option<u32>> {
        self.write(|sqlite, _| sqlite.count_fetch(receipt_id, fetches_max), |_, _| {})
    }

    fn insert_license(&mut self, license: &smartcode_core::license::LicenseRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.insert_license(license), |_, ()| {})
    }

    fn insert_session(&mut self, session: &smartcode_core::session::SessionRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.insert_session(session), |_, ()| {})
    }

    fn update_session(
        &mut self,
        session: &smartcode_core::session::SessionRecord,
        was_charged: i64,
    ) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.update_session(session, was_charged), |_, ()| {})
    }

    fn insert_charge(&mut self, charge: &ChargeRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.insert_charge(charge), |_, ()| {})
    }

    fn update_charge(&mut self, charge: &ChargeRecord, was: ChargeState) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.update_charge(charge, was), |_, ()| {})
    }

    fn forget_unused_quotes(&mut self, expired_before: Timestamp) -> StoreResult<u64> {
        self.write(|sqlite, _| sqlite.forget_unused_quotes(expired_before), |_, _| {})
    }

    fn use_quote(&mut self, quote: &QuoteRecord) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.use_quote(quote), |_, ()| {})
    }

    fn take_from_hold(&mut self, hold: &HoldRecord, _units: i64, _at: Timestamp) -> StoreResult<()> {
        // One writer: taking from a certificate is writing its new state.
        self.update_hold(hold)
    }

    fn insert_assurance(&mut self, assurance: &AssuranceRecord, hash: &CodeHash) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.insert_assurance(assurance, hash), |_, ()| {})
    }

    fn cancel_assurance(&mut self, id: &smartcode_core::code::AssuranceId, at: Timestamp) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.cancel_assurance(id, at), |_, ()| {})
    }

    fn update_hold(&mut self, hold: &HoldRecord) -> StoreResult<()> {
        self.write(
            |_, hot| sqlite::update_hold(&mut hot.update_hold, hold),
            |memory, ()| memory.wrote_hold(hold),
        )
    }

    fn add_held(&mut self, key: &AccountKey, delta_units: i64) -> StoreResult<()> {
        let account = self
            .cached_account(key)?
            .ok_or_else(|| StorageFailure(format!("a hold names the missing account {}", key.to_stored())))?;
        let held = account
            .state
            .held_units
            .checked_add(delta_units)
            .filter(|held| (0..=account.state.balance_units).contains(held))
            .ok_or_else(|| StorageFailure(format!("{} would hold more than its balance", key.to_stored())))?;
        // Kept in memory like the balance, and written with it at the next flush.
        self.write(|_, _| Ok(()), |memory, ()| memory.held(key, held))
    }

    fn set_pin(&mut self, id: &CodeId, pin: &PinState) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.set_pin(id, pin),
            |memory, ()| memory.changed_code(id, |record| record.pin = pin.clone()),
        )
    }

    fn set_code_hash(&mut self, id: &CodeId, hash: &CodeHash) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.set_code_hash(id, hash),
            |memory, ()| memory.rekeyed(id, *hash),
        )
    }

    fn set_spending(&mut self, id: &CodeId, rules: Option<&smartcode_core::spending::Rules>) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.set_spending(id, rules),
            |memory, ()| memory.changed_code(id, |record| record.spending = rules.cloned()),
        )
    }

    fn mark_lineage(&mut self, id: &CodeId) -> StoreResult<()> {
        // Rare (a code's first rules): memory forgets every code, to read them again as marked.
        self.write(|sqlite, _| sqlite.mark_lineage(id), |memory, ()| memory.forgot_codes())
    }

    fn set_usage(&mut self, id: &CodeId, usage: &Usage) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.set_usage(id, usage),
            |memory, ()| memory.changed_code(id, |record| record.usage = *usage),
        )
    }
}

/// The embedded store's idempotency keys: a key is looked up when its request runs and inserted
/// with its response, in the same transaction (the writer is the only one that writes them).
impl IdempotencyRecords for Cached<'_, '_, '_> {
    fn claim(&mut self, key_hash: &[u8; 32], _: &[u8; 32], now: Timestamp) -> StoreResult<Option<Remembered>> {
        self.inner.idempotency_record(key_hash, now)
    }

    fn recall(&mut self, key_hash: &[u8; 32], now: Timestamp) -> StoreResult<Option<Remembered>> {
        self.inner.idempotency_record(key_hash, now)
    }

    fn remember(
        &mut self,
        key_hash: &[u8; 32],
        fingerprint: &[u8; 32],
        response: &StoredResponse,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.write(
            |sqlite, _| sqlite.insert_idempotency_record(key_hash, fingerprint, response, now),
            |_, ()| {},
        )
    }

    fn forget_before(&mut self, cutoff: Timestamp) -> StoreResult<()> {
        self.write(|sqlite, _| sqlite.forget_idempotency_before(cutoff), |_, ()| {})
    }
}

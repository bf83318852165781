//! The core's writes over PostgreSQL: codes are inserted and updated at once (an update only if
//! the row is still the version read), while in the writer transfers and balance changes wait in
//! the batch's state for [`super::finish_batch`].

use smartcode_core::clock::Timestamp;
use smartcode_core::code::{CodeHash, CodeId};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::ledger::{LedgerTx, Posted};
use smartcode_core::model::*;
use smartcode_core::money::Currency;

use crate::rows::{account_kind, CodeColumns, CODE_COLUMNS, CODE_COLUMN_COUNT};

use super::*;

impl LedgerTx for PgLedger<'_> {
    fn put_webhook(&mut self, webhook: &smartcode_core::webhook::WebhookRecord) -> StoreResult<()> {
        self.write_webhook(webhook)
    }

    fn insert_delivery(&mut self, delivery: &smartcode_core::webhook::DeliveryRecord) -> StoreResult<()> {
        self.write_new_delivery(delivery)
    }

    fn update_delivery(&mut self, delivery: &smartcode_core::webhook::DeliveryRecord) -> StoreResult<()> {
        self.write_delivery(delivery)
    }

    fn delete_deliveries(&mut self, seqs: &[i64]) -> StoreResult<u32> {
        self.delete_old_deliveries(seqs)
    }

    fn set_webhooks(&mut self, code: &CodeId, subscribed: bool) -> StoreResult<()> {
        self.update_code(code, "webhooks = $3", &[&subscribed])?;
        Ok(())
    }

    fn insert_refund(&mut self, refund: &RefundRecord) -> StoreResult<()> {
        self.write_refund(refund)
    }

    fn set_alias(&mut self, code: &CodeId, alias: Option<&AliasRecord>) -> StoreResult<()> {
        self.write_alias(code, alias)
    }

    fn set_rate(&mut self, rate: &RateRecord) -> StoreResult<()> {
        self.write_rate(rate)
    }

    fn put_peer(&mut self, peer: &PeerRecord) -> StoreResult<()> {
        self.write_peer(peer)
    }

    fn delete_peer(&mut self, name: &str) -> StoreResult<()> {
        self.remove_peer(name)
    }

    fn insert_quote(&mut self, quote: &QuoteRecord) -> StoreResult<()> {
        self.write_new_quote(quote)
    }

    fn insert_approval(&mut self, approval: &smartcode_core::approval::ApprovalRecord) -> StoreResult<()> {
        self.write_new_approval(approval)
    }

    fn update_approval(&mut self, approval: &smartcode_core::approval::ApprovalRecord) -> StoreResult<()> {
        self.write_approval(approval)
    }

    fn insert_item(&mut self, item: &smartcode_core::item::ItemRecord) -> StoreResult<()> {
        self.write_new_item(item)
    }

    fn put_item_content(&mut self, item: &smartcode_core::item::ItemRecord, bytes: &[u8]) -> StoreResult<()> {
        self.write_item_content(item, bytes)
    }

    fn insert_license(&mut self, license: &smartcode_core::license::LicenseRecord) -> StoreResult<()> {
        self.write_new_license(license)
    }

    fn count_fetch(&mut self, receipt_id: &str, fetches_max: u32) -> StoreResult<Option<u32>> {
        self.write_fetch(receipt_id, fetches_max)
    }

    fn insert_session(&mut self, session: &smartcode_core::session::SessionRecord) -> StoreResult<()> {
        self.write_new_session(session)
    }

    fn update_session(
        &mut self,
        session: &smartcode_core::session::SessionRecord,
        was_charged: i64,
    ) -> StoreResult<()> {
        self.write_session(session, was_charged)
    }

    fn forget_unused_quotes(&mut self, expired_before: Timestamp) -> StoreResult<u64> {
        self.delete_unused_quotes(expired_before)
    }

    fn use_quote(&mut self, quote: &QuoteRecord) -> StoreResult<()> {
        self.write_quote_used(quote)
    }

    fn insert_charge(&mut self, charge: &ChargeRecord) -> StoreResult<()> {
        self.write_new_charge(charge)
    }

    fn update_charge(&mut self, charge: &ChargeRecord, was: ChargeState) -> StoreResult<()> {
        self.write_charge_state(charge, was)
    }

    fn take_from_hold(&mut self, hold: &HoldRecord, units: i64, at: Timestamp) -> StoreResult<()> {
        self.write_taken(hold, units, at)
    }

    fn insert_assurance(&mut self, assurance: &AssuranceRecord, hash: &CodeHash) -> StoreResult<()> {
        self.write_assurance(assurance, hash)
    }

    fn cancel_assurance(&mut self, id: &smartcode_core::code::AssuranceId, at: Timestamp) -> StoreResult<()> {
        self.write_assurance_cancelled(id, at)
    }

    fn insert_hold(&mut self, hold: &HoldRecord, code: Option<&CodeHash>) -> StoreResult<()> {
        self.write_new_hold(hold, code)
    }

    fn update_hold(&mut self, hold: &HoldRecord) -> StoreResult<()> {
        self.write_hold_state(hold)
    }

    fn add_held(&mut self, key: &AccountKey, delta_units: i64) -> StoreResult<()> {
        self.change_held(key, delta_units)
    }

    fn insert_code(&mut self, r: &CodeRecord, hash: Option<&CodeHash>) -> StoreResult<()> {
        let placeholders: Vec<String> = (1..=CODE_COLUMN_COUNT + 1).map(|n| format!("${n}")).collect();
        let sql = format!(
            "INSERT INTO codes ({CODE_COLUMNS}, code_hash) VALUES ({}) RETURNING {VERSION}",
            placeholders.join(", ")
        );
        // A child made without a restricted lineage while another process marks its parent's
        // (`mark_lineage`) would escape the parent's rules: its parent is read again under a
        // share lock, which waits for that process, and a mark found is this batch's conflict.
        // (A public code pays nothing, so it has no lineage to keep.)
        if let (Some(parent), false, CodeKind::Secret) = (&r.parent_id, r.restricted_lineage, r.kind) {
            let parent = parent.as_str();
            let locked = self.query_opt(
                "SELECT restricted_lineage FROM codes WHERE id = $1 FOR SHARE",
                &[&parent],
            )?;
            if locked.map(|row| get::<bool>(&row, 0)).transpose()? == Some(true) {
                return Err(self.conflict(
                    format!("the lineage of {parent} was marked under the batch"),
                    Some(parent),
                    None,
                ));
            }
        }
        let c = CodeColumns::from_record(r);
        let hash = hash.map(|h| h.0.as_slice());
        let row = self.query_one(
            &sql,
            &[
                &c.id,
                &c.kind,
                &c.parent_id,
                &c.owner_id,
                &c.public_code,
                &c.currency,
                &c.label,
                &c.profile_name,
                &c.profile_description,
                &c.profile_url,
                &c.profile_contact,
                &c.show_stats,
                &c.status,
                &c.depth,
                &c.created_at,
                &c.expires_at,
                &c.irrevocable,
                &c.pin_hash,
                &c.pin_generation,
                &c.pin_failures,
                &c.locked,
                &c.allowed_categories,
                &c.allowed_payees,
                &c.allowed_items,
                &c.amount_per_use_max,
                &c.uses_max,
                &c.spend_period_amount,
                &c.spend_period_seconds,
                &c.restricted_lineage,
                &c.uses,
                &c.period_index,
                &c.period_spent,
                &c.catalog_categories,
                &c.catalog_items,
                &c.checked_by,
                &c.checked_at,
                &c.spending_rules,
                &c.webhooks,
                &hash,
            ],
        )?;
        let version: i64 = get(&row, 0)?;
        if let Some(batch) = self.batch.as_deref_mut() {
            let id = r.id.as_str().to_owned();
            batch.command.versions.insert(id.clone(), version);
            batch.command.statuses_set.insert(id, r.status);
        }
        Ok(())
    }

    fn open_account(&mut self, key: &AccountKey, currency: Currency) -> StoreResult<()> {
        self.execute(
            "INSERT INTO accounts (key, kind, currency, balance, held) VALUES ($1, $2, $3, 0, 0) \
             ON CONFLICT (key) DO NOTHING",
            &[&key.to_stored(), &account_kind(key), &currency.as_str()],
        )?;
        Ok(())
    }

    fn append_transfer(&mut self, posted: &Posted) -> StoreResult<()> {
        let t = posted.transfer();
        let debit = t.debit.to_stored();
        let credit = t.credit.to_stored();
        let units = t.amount.units();
        match self.batch.as_deref_mut() {
            // The writer: the transfer is written and the balances change when the batch ends
            // (see `finish_batch`).
            Some(batch) => {
                batch.command.transfers.push(t.clone());
                *batch.command.deltas.entry(debit).or_insert(0) -= units;
                *batch.command.deltas.entry(credit).or_insert(0) += units;
            }
            None => {
                self.insert_transfers(std::slice::from_ref(t))?;
                let moved = "UPDATE accounts SET balance = balance + $2 WHERE key = $1";
                let debited = self.execute(moved, &[&debit, &-units])?;
                let credited = self.execute(moved, &[&credit, &units])?;
                if debited != 1 || credited != 1 {
                    return Err(StorageFailure(format!("transfer {} names a missing account", t.id)));
                }
            }
        }
        Ok(())
    }

    fn set_status(&mut self, id: &CodeId, status: CodeStatus, at: Timestamp) -> StoreResult<()> {
        let kind = self.update_code(id, "status = $3, status_changed_at = $4", &[&status.as_str(), &at.0])?;
        if let Some(batch) = self.batch.as_deref_mut() {
            batch.command.statuses_set.insert(id.as_str().to_owned(), status);
        }
        if kind == CodeKind::Secret {
            self.verify_balance_unchanged(&AccountKey::Code(id.clone()).to_stored())?;
        }
        Ok(())
    }

    fn set_profile(&mut self, id: &CodeId, p: &Profile) -> StoreResult<()> {
        self.update_code(
            id,
            "profile_name = $3, profile_description = $4, profile_url = $5, profile_contact = $6, show_stats = $7",
            &[&p.name, &p.description, &p.url, &p.contact, &p.show_stats],
        )?;
        Ok(())
    }

    fn set_catalog(&mut self, id: &CodeId, catalog: &Catalog) -> StoreResult<()> {
        self.update_code(
            id,
            "catalog_categories = $3, catalog_items = $4",
            &[&catalog.categories, &catalog.items],
        )?;
        Ok(())
    }

    fn set_check(&mut self, id: &CodeId, check: Option<&ProfileCheck>) -> StoreResult<()> {
        let by = check.map(|c| c.by.as_stored());
        let at = check.map(|c| c.at.0);
        self.update_code(id, "checked_by = $3, checked_at = $4", &[&by, &at])?;
        Ok(())
    }

    fn set_pin(&mut self, id: &CodeId, pin: &PinState) -> StoreResult<()> {
        self.update_code(
            id,
            "pin_hash = $3, pin_generation = $4, pin_failures = $5, locked = $6",
            &[
                &pin.hash,
                &i64::from(pin.generation),
                &i64::from(pin.failures),
                &pin.locked,
            ],
        )?;
        Ok(())
    }

    fn set_code_hash(&mut self, id: &CodeId, hash: &CodeHash) -> StoreResult<()> {
        self.update_code(id, "code_hash = $3", &[&hash.0.as_slice()])?;
        Ok(())
    }

    fn set_spending(&mut self, id: &CodeId, rules: Option<&smartcode_core::spending::Rules>) -> StoreResult<()> {
        let text = crate::spending_rows::to_text(rules);
        self.update_code(id, "spending_rules = $3", &[&text])?;
        Ok(())
    }

    fn mark_lineage(&mut self, id: &CodeId) -> StoreResult<()> {
        // A code marked here is a conflict for another process that read it before; this
        // command's own reads of them take their new versions, and the batch reads them again.
        let sql = format!("{} RETURNING id, {VERSION}", crate::sqlite::mark_lineage_sql("$1"));
        let id_text = id.as_str();
        // The tree is locked first, so a process making a child in it meanwhile either finishes
        // before the mark (whose statement, a new snapshot, then sees the child) or waits for it
        // and finds its parent marked (`insert_code`).
        let lock = "SELECT id FROM codes WHERE id IN (WITH RECURSIVE below(id) AS (SELECT id FROM codes WHERE id = $1 \
             UNION ALL SELECT codes.id FROM codes JOIN below ON codes.parent_id = below.id) SELECT id FROM below) FOR UPDATE";
        self.query(lock, &[&id_text])?;
        let rows = self.query(&sql, &[&id_text])?;
        if let Some(batch) = self.batch.as_deref_mut() {
            for row in rows {
                let (marked, version): (String, i64) = (get(&row, 0)?, get(&row, 1)?);
                batch.prefetched.codes.remove(marked.as_str());
                if let Some(known) = batch.command.versions.get_mut(marked.as_str()) {
                    *known = version;
                }
            }
        }
        Ok(())
    }

    fn set_usage(&mut self, id: &CodeId, usage: &Usage) -> StoreResult<()> {
        self.update_code(
            id,
            "uses = $3, period_index = $4, period_spent = $5",
            &[&i64::from(usage.uses), &usage.period_index, &usage.period_spent_units],
        )?;
        Ok(())
    }
}

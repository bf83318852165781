//! The ledger's rules on a plain in-memory store ([`Memory`]): a run is a function of the state,
//! the time and the seeds it is given, and refusals are typed. The stores' behaviour suite
//! (smartcode-store) runs the same rules on SQLite and PostgreSQL.

use std::collections::BTreeMap;

use crate::clock::Timestamp;
use crate::code::{BrokerKey, CodeHash, CodeId, PublicCode, SecretCode};
use crate::error::{Conflict, OpError, Restriction, StoreResult};
use crate::model::*;
use crate::money::{Amount, Currency};

use super::payments::PaymentOrder;
use super::tree::ChildOptions;
use super::*;

/// Everything a store keeps, in maps; no transactions (a refused command here may leave writes,
/// which is why the real stores roll back, and why these tests only compare whole runs).
#[derive(Default, Clone, PartialEq, Debug)]
struct Memory {
    codes: BTreeMap<CodeId, CodeRecord>,
    hashes: BTreeMap<[u8; 32], CodeId>,
    accounts: BTreeMap<String, AccountState>,
    transfers: Vec<Transfer>,
    holds: BTreeMap<String, HoldRecord>,
    hold_codes: BTreeMap<[u8; 32], String>,
    refunds: Vec<RefundRecord>,
    aliases: BTreeMap<CodeId, AliasRecord>,
    assurances: BTreeMap<[u8; 32], AssuranceRecord>,
    rates: BTreeMap<(Currency, Currency), RateRecord>,
    quotes: BTreeMap<String, QuoteRecord>,
    peers: BTreeMap<String, PeerRecord>,
    charges: BTreeMap<(ChargeSide, String, String), ChargeRecord>,
    approvals: BTreeMap<String, crate::approval::ApprovalRecord>,
    sessions: BTreeMap<String, crate::session::SessionRecord>,
    webhooks: BTreeMap<String, crate::webhook::WebhookRecord>,
    deliveries: Vec<crate::webhook::DeliveryRecord>,
    items: BTreeMap<String, (crate::item::ItemRecord, Option<Vec<u8>>)>,
    fetches: BTreeMap<String, u32>,
    licenses: BTreeMap<String, crate::license::LicenseRecord>,
}

impl LedgerRead for Memory {
    fn code_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeRecord>> {
        Ok(self.hashes.get(&hash.0).and_then(|id| self.codes.get(id)).cloned())
    }
    fn code_by_id(&mut self, id: &CodeId) -> StoreResult<Option<CodeRecord>> {
        Ok(self.codes.get(id).cloned())
    }
    fn code_by_public(&mut self, code: &PublicCode) -> StoreResult<Option<CodeRecord>> {
        Ok(self
            .codes
            .values()
            .find(|r| r.public_code.as_ref() == Some(code))
            .cloned())
    }
    fn account(&mut self, key: &AccountKey) -> StoreResult<Option<AccountState>> {
        Ok(self.accounts.get(&key.to_stored()).copied())
    }
    fn children(&mut self, parent: &CodeId, limit: u32) -> StoreResult<Vec<CodeRecord>> {
        let children = self.codes.values().filter(|r| r.parent_id.as_ref() == Some(parent));
        Ok(children.take(limit as usize).cloned().collect())
    }
    fn child_count(&mut self, parent: &CodeId) -> StoreResult<u32> {
        Ok(self.children(parent, u32::MAX)?.len() as u32)
    }
    fn transfers_of(&mut self, account: &AccountKey, filter: &TransferFilter) -> StoreResult<Vec<(i64, Transfer)>> {
        let touching = self.transfers.iter().enumerate().rev();
        let rows = touching.filter(|(_, t)| &t.debit == account || &t.credit == account);
        Ok(rows
            .take(filter.limit as usize)
            .map(|(i, t)| (i as i64, t.clone()))
            .collect())
    }
    fn hold_by_id(&mut self, id: &crate::code::HoldId) -> StoreResult<Option<HoldRecord>> {
        Ok(self.holds.get(id.as_str()).cloned())
    }
    fn pending_holds(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        let pending = self
            .holds
            .values()
            .filter(|h| &h.payer_id == code && h.state == HoldState::Pending);
        Ok(pending.take(limit as usize).cloned().collect())
    }
    fn due_holds(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        let due = self
            .holds
            .values()
            .filter(|h| h.state == HoldState::Pending && h.expires_at <= now);
        Ok(due.take(limit as usize).cloned().collect())
    }
    fn refunds_of(&mut self, receipt_id: &str) -> StoreResult<Vec<RefundRecord>> {
        Ok(self
            .refunds
            .iter()
            .filter(|r| r.receipt_id == receipt_id)
            .cloned()
            .collect())
    }
    fn hold_by_code(&mut self, hash: &CodeHash) -> StoreResult<Option<HoldRecord>> {
        Ok(self.hold_codes.get(&hash.0).and_then(|id| self.holds.get(id)).cloned())
    }
    fn authorizations_of(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        let mine = self
            .holds
            .values()
            .rev()
            .filter(|h| &h.payer_id == code && h.kind == HoldKind::Authorization);
        Ok(mine.take(limit as usize).cloned().collect())
    }
    fn alias_target(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeId>> {
        Ok(self
            .aliases
            .values()
            .find(|a| a.hash == *hash)
            .map(|a| a.code_id.clone()))
    }
    fn alias_of(&mut self, code: &CodeId) -> StoreResult<Option<AliasRecord>> {
        Ok(self.aliases.get(code).cloned())
    }
    fn assurance_by_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<AssuranceRecord>> {
        Ok(self.assurances.get(&hash.0).cloned())
    }
    fn assurance_by_id(&mut self, id: &crate::code::AssuranceId) -> StoreResult<Option<AssuranceRecord>> {
        Ok(self.assurances.values().find(|a| &a.id == id).cloned())
    }
    fn assurances_of(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<AssuranceRecord>> {
        let mine = self.assurances.values().filter(|a| &a.code_id == code);
        Ok(mine.take(limit as usize).cloned().collect())
    }
    fn rate(&mut self, from: Currency, to: Currency) -> StoreResult<Option<RateRecord>> {
        Ok(self.rates.get(&(from, to)).cloned())
    }
    fn rates(&mut self, limit: u32) -> StoreResult<Vec<RateRecord>> {
        Ok(self.rates.values().take(limit as usize).cloned().collect())
    }
    fn peer(&mut self, name: &str) -> StoreResult<Option<PeerRecord>> {
        Ok(self.peers.get(name).cloned())
    }
    fn peers(&mut self, limit: u32) -> StoreResult<Vec<PeerRecord>> {
        Ok(self.peers.values().take(limit as usize).cloned().collect())
    }
    fn peer_balances(&mut self, name: &str) -> StoreResult<Vec<(Currency, i64)>> {
        let mut balances: Vec<(Currency, i64)> = self
            .accounts
            .iter()
            .filter_map(|(key, state)| match AccountKey::from_stored(key)? {
                AccountKey::Peer { peer, currency } if peer == name => Some((currency, state.balance_units)),
                _ => None,
            })
            .collect();
        balances.sort();
        Ok(balances)
    }
    fn quote_by_id(&mut self, id: &crate::code::QuoteId) -> StoreResult<Option<QuoteRecord>> {
        Ok(self.quotes.get(id.as_str()).cloned())
    }
    fn approval_by_id(&mut self, id: &crate::code::ApprovalId) -> StoreResult<Option<crate::approval::ApprovalRecord>> {
        Ok(self.approvals.get(id.as_str()).cloned())
    }
    fn approvals_for(
        &mut self,
        code: &CodeId,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<crate::approval::ApprovalRecord>> {
        let mut found: Vec<_> = self
            .approvals
            .values()
            .filter(|a| &a.code_id == code || &a.stopped_by == code)
            .cloned()
            .collect();
        found.sort_by_key(|a| a.queue_key(now));
        found.truncate(limit as usize);
        Ok(found)
    }
    fn item_by_id(&mut self, id: &crate::code::ItemId) -> StoreResult<Option<crate::item::ItemRecord>> {
        Ok(self.items.get(id.as_str()).map(|(item, _)| item.clone()))
    }
    fn items_for(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<crate::item::ItemRecord>> {
        let mut found: Vec<_> = (self.items.values())
            .map(|(item, _)| item.clone())
            .filter(|item| &item.owner_id == code || &item.payee_id == code)
            .collect();
        found.sort_by_key(|item| std::cmp::Reverse(item.created_at));
        found.truncate(limit as usize);
        Ok(found)
    }
    fn item_content(&mut self, id: &crate::code::ItemId) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.items.get(id.as_str()).and_then(|(_, bytes)| bytes.clone()))
    }
    fn license_by_code(&mut self, code: &PublicCode) -> StoreResult<Option<crate::license::LicenseRecord>> {
        Ok(self.licenses.get(code.as_stored()).cloned())
    }
    fn session_by_id(&mut self, id: &crate::code::SessionId) -> StoreResult<Option<crate::session::SessionRecord>> {
        Ok(self.sessions.get(id.as_str()).cloned())
    }
    fn sessions_for(
        &mut self,
        code: &CodeId,
        now: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<crate::session::SessionRecord>> {
        let mut found: Vec<_> = self.sessions.values().filter(|s| &s.code_id == code).cloned().collect();
        found.sort_by_key(|s| s.list_key(now));
        found.truncate(limit as usize);
        Ok(found)
    }
    fn webhooks_of(&mut self, owner: &CodeId) -> StoreResult<Vec<crate::webhook::WebhookRecord>> {
        let live = self
            .webhooks
            .values()
            .filter(|w| &w.owner_id == owner && w.removed_at.is_none());
        Ok(live.cloned().collect())
    }
    fn webhook_by_id(&mut self, id: &crate::code::WebhookId) -> StoreResult<Option<crate::webhook::WebhookRecord>> {
        Ok(self.webhooks.get(id.as_str()).cloned())
    }
    fn deliveries_of(
        &mut self,
        webhook: &crate::code::WebhookId,
        limit: u32,
    ) -> StoreResult<Vec<crate::webhook::DeliveryRecord>> {
        let of = self.deliveries.iter().rev().filter(|d| &d.webhook_id == webhook);
        Ok(of.take(limit as usize).cloned().collect())
    }
    fn due_webhooks(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<crate::webhook::WebhookRecord>> {
        let pending = crate::webhook::DeliveryState::Pending;
        let due = self.webhooks.values().filter(|w| {
            let head = self
                .deliveries
                .iter()
                .find(|d| d.webhook_id == w.id && d.state == pending);
            w.removed_at.is_none() && w.leased_until <= now && head.is_some_and(|d| d.next_at <= now)
        });
        Ok(due.take(limit as usize).cloned().collect())
    }
    fn oldest_deliveries(&mut self, limit: u32) -> StoreResult<Vec<crate::webhook::DeliveryRecord>> {
        Ok(self.deliveries.iter().take(limit as usize).cloned().collect())
    }
    fn pending_deliveries(
        &mut self,
        webhook: &crate::code::WebhookId,
        limit: u32,
    ) -> StoreResult<Vec<crate::webhook::DeliveryRecord>> {
        let pending = crate::webhook::DeliveryState::Pending;
        let of = self
            .deliveries
            .iter()
            .filter(|d| &d.webhook_id == webhook && d.state == pending);
        Ok(of.take(limit as usize).cloned().collect())
    }
    fn charge(&mut self, side: ChargeSide, peer: &str, id: &str) -> StoreResult<Option<ChargeRecord>> {
        Ok(self.charges.get(&(side, peer.to_owned(), id.to_owned())).cloned())
    }
    fn prepared_charge_units(&mut self, peer: &str, currency: Currency) -> StoreResult<i64> {
        let prepared = self.charges.values().filter(|c| {
            c.side == ChargeSide::Seller && c.peer == peer && c.currency == currency && c.state == ChargeState::Prepared
        });
        Ok(prepared.map(|c| c.amount.units()).sum())
    }
    fn charges_in_doubt(&mut self, peer: &str, before: Timestamp, limit: u32) -> StoreResult<Vec<ChargeRecord>> {
        let mut doubtful: Vec<ChargeRecord> = (self.charges.values())
            .filter(|c| {
                c.side == ChargeSide::Seller
                    && c.peer == peer
                    && (matches!(c.state, ChargeState::Voiding | ChargeState::Refunding)
                        || (c.state == ChargeState::Prepared && c.deadline < before))
            })
            .cloned()
            .collect();
        doubtful.sort_by_key(|c| c.deadline);
        doubtful.truncate(limit as usize);
        Ok(doubtful)
    }
    fn charges_with(
        &mut self,
        peer: &str,
        (since, until): (Timestamp, Timestamp),
        limit: u32,
    ) -> StoreResult<Vec<ChargeRecord>> {
        let mut moved: Vec<ChargeRecord> = (self.charges.values())
            .filter(|c| {
                c.peer == peer
                    && c.deadline >= since
                    && c.deadline <= until
                    && matches!(
                        c.state,
                        ChargeState::Credited
                            | ChargeState::Charged
                            | ChargeState::Reversed
                            | ChargeState::Refunding
                            | ChargeState::Refunded
                            | ChargeState::Failed
                    )
            })
            .cloned()
            .collect();
        moved.sort_by(|x, y| (x.deadline, &x.id).cmp(&(y.deadline, &y.id)));
        moved.truncate(limit as usize);
        Ok(moved)
    }
    fn exchange_positions(&mut self) -> StoreResult<Vec<(Currency, i64)>> {
        let exchange = self.accounts.iter().filter(|(key, _)| key.starts_with("exchange:"));
        Ok(exchange.map(|(_, a)| (a.currency, a.balance_units)).collect())
    }
    fn transfer_by_id(&mut self, id: &str) -> StoreResult<Option<Transfer>> {
        Ok(self.transfers.iter().find(|t| t.id == id).cloned())
    }
    fn report(&mut self, _: &AccountKey, _: ReportGrouping, _: &TransferFilter) -> StoreResult<Vec<ReportRow>> {
        Ok(Vec::new())
    }
    fn public_code_stats(&mut self, _: &CodeId) -> StoreResult<(u64, i64)> {
        Ok((0, 0))
    }
    fn ledger_totals(&mut self) -> StoreResult<LedgerTotals> {
        unreachable!("the stores' suite checks the ledger; these tests sum balances themselves")
    }
    fn due_expiries(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<CodeRecord>> {
        let mut due: Vec<CodeRecord> = self
            .codes
            .values()
            .filter(|r| r.status == CodeStatus::Active && r.expires_at.is_some_and(|at| at <= now))
            .cloned()
            .collect();
        due.sort_by_key(|r| (r.expires_at, std::cmp::Reverse(r.depth)));
        due.truncate(limit as usize);
        Ok(due)
    }
}

impl LedgerTx for Memory {
    fn insert_code(&mut self, record: &CodeRecord, hash: Option<&CodeHash>) -> StoreResult<()> {
        if let Some(hash) = hash {
            self.hashes.insert(hash.0, record.id.clone());
        }
        self.codes.insert(record.id.clone(), record.clone());
        Ok(())
    }
    fn open_account(&mut self, key: &AccountKey, currency: Currency) -> StoreResult<()> {
        let empty = AccountState {
            currency,
            balance_units: 0,
            held_units: 0,
        };
        self.accounts.entry(key.to_stored()).or_insert(empty);
        Ok(())
    }
    fn append_transfer(&mut self, posted: &Posted) -> StoreResult<()> {
        let transfer = posted.transfer().clone();
        let units = transfer.amount.units();
        self.accounts
            .get_mut(&transfer.debit.to_stored())
            .unwrap()
            .balance_units -= units;
        self.accounts
            .get_mut(&transfer.credit.to_stored())
            .unwrap()
            .balance_units += units;
        self.transfers.push(transfer);
        Ok(())
    }
    fn set_status(&mut self, id: &CodeId, status: CodeStatus, _: Timestamp) -> StoreResult<()> {
        self.codes.get_mut(id).unwrap().status = status;
        Ok(())
    }
    fn set_profile(&mut self, id: &CodeId, profile: &Profile) -> StoreResult<()> {
        self.codes.get_mut(id).unwrap().profile = profile.clone();
        Ok(())
    }
    fn set_catalog(&mut self, id: &CodeId, catalog: &Catalog) -> StoreResult<()> {
        self.codes.get_mut(id).unwrap().catalog = catalog.clone();
        Ok(())
    }
    fn insert_refund(&mut self, refund: &RefundRecord) -> StoreResult<()> {
        self.refunds.push(refund.clone());
        Ok(())
    }
    fn set_rate(&mut self, rate: &RateRecord) -> StoreResult<()> {
        self.rates.insert((rate.from, rate.to), rate.clone());
        Ok(())
    }
    fn put_peer(&mut self, peer: &PeerRecord) -> StoreResult<()> {
        self.peers.insert(peer.name.clone(), peer.clone());
        Ok(())
    }
    fn delete_peer(&mut self, name: &str) -> StoreResult<()> {
        self.peers.remove(name);
        Ok(())
    }
    fn insert_charge(&mut self, charge: &ChargeRecord) -> StoreResult<()> {
        let key = (charge.side, charge.peer.clone(), charge.id.clone());
        assert!(!self.charges.contains_key(&key), "a charge is inserted once");
        self.charges.insert(key, charge.clone());
        Ok(())
    }
    fn update_charge(&mut self, charge: &ChargeRecord, was: ChargeState) -> StoreResult<()> {
        let key = (charge.side, charge.peer.clone(), charge.id.clone());
        assert_eq!(
            self.charges[&key].state, was,
            "a charge changes from the state it was read in"
        );
        self.charges.insert(key, charge.clone());
        Ok(())
    }
    fn insert_approval(&mut self, approval: &crate::approval::ApprovalRecord) -> StoreResult<()> {
        assert!(self
            .approvals
            .insert(approval.id.to_string(), approval.clone())
            .is_none());
        Ok(())
    }
    fn update_approval(&mut self, approval: &crate::approval::ApprovalRecord) -> StoreResult<()> {
        let was = &self.approvals[approval.id.as_str()];
        assert_eq!(
            was.state,
            crate::approval::ApprovalState::Pending,
            "only a pending approval changes"
        );
        self.approvals.insert(approval.id.to_string(), approval.clone());
        Ok(())
    }
    fn put_webhook(&mut self, webhook: &crate::webhook::WebhookRecord) -> StoreResult<()> {
        self.webhooks.insert(webhook.id.to_string(), webhook.clone());
        Ok(())
    }
    fn insert_delivery(&mut self, delivery: &crate::webhook::DeliveryRecord) -> StoreResult<()> {
        let mut stored = delivery.clone();
        stored.seq = Some(self.deliveries.last().and_then(|d| d.seq).unwrap_or(0) + 1);
        self.deliveries.push(stored);
        Ok(())
    }
    fn update_delivery(&mut self, delivery: &crate::webhook::DeliveryRecord) -> StoreResult<()> {
        let at = self.deliveries.iter().position(|d| d.seq == delivery.seq);
        self.deliveries[at.expect("a stored delivery")] = delivery.clone();
        Ok(())
    }
    fn delete_deliveries(&mut self, seqs: &[i64]) -> StoreResult<u32> {
        // As the SQLite store does, the newest stays, so that no seq is given twice.
        let (before, newest) = (self.deliveries.len(), self.deliveries.last().and_then(|d| d.seq));
        self.deliveries
            .retain(|d| d.seq == newest || !d.seq.is_some_and(|seq| seqs.contains(&seq)));
        Ok((before - self.deliveries.len()) as u32)
    }
    fn set_webhooks(&mut self, code: &CodeId, subscribed: bool) -> StoreResult<()> {
        self.codes.get_mut(code).unwrap().webhooks = subscribed;
        Ok(())
    }
    fn insert_license(&mut self, license: &crate::license::LicenseRecord) -> StoreResult<()> {
        let code = license.code.as_stored().to_owned();
        assert!(self.licenses.insert(code, license.clone()).is_none());
        Ok(())
    }
    fn insert_item(&mut self, item: &crate::item::ItemRecord) -> StoreResult<()> {
        assert!(self.items.insert(item.id.to_string(), (item.clone(), None)).is_none());
        Ok(())
    }
    fn put_item_content(&mut self, item: &crate::item::ItemRecord, bytes: &[u8]) -> StoreResult<()> {
        self.items
            .insert(item.id.to_string(), (item.clone(), Some(bytes.to_vec())));
        Ok(())
    }
    fn count_fetch(&mut self, receipt_id: &str, fetches_max: u32) -> StoreResult<Option<u32>> {
        let fetches = self.fetches.entry(receipt_id.to_owned()).or_default();
        if *fetches >= fetches_max {
            return Ok(None);
        }
        *fetches += 1;
        Ok(Some(*fetches))
    }
    fn insert_session(&mut self, session: &crate::session::SessionRecord) -> StoreResult<()> {
        assert!(self.sessions.insert(session.id.to_string(), session.clone()).is_none());
        Ok(())
    }
    fn update_session(&mut self, session: &crate::session::SessionRecord, was_charged: i64) -> StoreResult<()> {
        let was = &self.sessions[session.id.as_str()];
        assert_eq!(was.charged_units, was_charged, "a session changes from what was read");
        assert_eq!(
            was.state,
            crate::session::SessionState::Open,
            "only an open session changes"
        );
        self.sessions.insert(session.id.to_string(), session.clone());
        Ok(())
    }
    fn insert_quote(&mut self, quote: &QuoteRecord) -> StoreResult<()> {
        self.quotes.insert(quote.id.to_string(), quote.clone());
        Ok(())
    }
    fn forget_unused_quotes(&mut self, expired_before: Timestamp) -> StoreResult<u64> {
        let before = self.quotes.len();
        self.quotes
            .retain(|_, q| q.used.is_some() || q.expires_at >= expired_before);
        Ok((before - self.quotes.len()) as u64)
    }
    fn use_quote(&mut self, quote: &QuoteRecord) -> StoreResult<()> {
        assert!(self.quotes[quote.id.as_str()].used.is_none(), "a quote is used once");
        self.quotes.insert(quote.id.to_string(), quote.clone());
        Ok(())
    }
    fn insert_hold(&mut self, hold: &HoldRecord, code: Option<&CodeHash>) -> StoreResult<()> {
        if let Some(code) = code {
            self.hold_codes.insert(code.0, hold.id.to_string());
        }
        self.holds.insert(hold.id.to_string(), hold.clone());
        Ok(())
    }
    fn update_hold(&mut self, hold: &HoldRecord) -> StoreResult<()> {
        self.holds.insert(hold.id.to_string(), hold.clone());
        Ok(())
    }
    fn add_held(&mut self, key: &AccountKey, delta_units: i64) -> StoreResult<()> {
        let account = self.accounts.get_mut(&key.to_stored()).unwrap();
        account.held_units += delta_units;
        assert!((0..=account.balance_units).contains(&account.held_units));
        Ok(())
    }
    fn take_from_hold(&mut self, hold: &HoldRecord, _: i64, _: Timestamp) -> StoreResult<()> {
        self.holds.insert(hold.id.to_string(), hold.clone());
        Ok(())
    }
    fn insert_assurance(&mut self, assurance: &AssuranceRecord, hash: &CodeHash) -> StoreResult<()> {
        self.assurances.insert(hash.0, assurance.clone());
        Ok(())
    }
    fn cancel_assurance(&mut self, id: &crate::code::AssuranceId, at: Timestamp) -> StoreResult<()> {
        for a in self.assurances.values_mut().filter(|a| &a.id == id) {
            a.cancelled_at = Some(at);
        }
        Ok(())
    }
    fn set_alias(&mut self, code: &CodeId, alias: Option<&AliasRecord>) -> StoreResult<()> {
        match alias {
            Some(alias) => self.aliases.insert(code.clone(), alias.clone()),
            None => self.aliases.remove(code),
        };
        Ok(())
    }
    fn set_check(&mut self, id: &CodeId, check: Option<&ProfileCheck>) -> StoreResult<()> {
        self.codes.get_mut(id).unwrap().check = check.cloned();
        Ok(())
    }
    fn set_pin(&mut self, id: &CodeId, pin: &PinState) -> StoreResult<()> {
        self.codes.get_mut(id).unwrap().pin = pin.clone();
        Ok(())
    }
    fn set_code_hash(&mut self, id: &CodeId, hash: &CodeHash) -> StoreResult<()> {
        self.hashes.retain(|_, code| code != id);
        self.hashes.insert(hash.0, id.clone());
        Ok(())
    }
    fn set_usage(&mut self, id: &CodeId, usage: &Usage) -> StoreResult<()> {
        self.codes.get_mut(id).unwrap().usage = *usage;
        Ok(())
    }
    fn set_spending(&mut self, id: &CodeId, rules: Option<&crate::spending::Rules>) -> StoreResult<()> {
        self.codes.get_mut(id).unwrap().spending = rules.cloned();
        Ok(())
    }
    fn mark_lineage(&mut self, id: &CodeId) -> StoreResult<()> {
        let mut below = vec![id.clone()];
        while let Some(next) = below.pop() {
            let children = self.codes.values().filter(|c| c.parent_id.as_ref() == Some(&next));
            below.extend(children.map(|c| c.id.clone()));
            self.codes.get_mut(&next).unwrap().restricted_lineage = true;
        }
        Ok(())
    }
}

const START: Timestamp = Timestamp(1_800_000_000_000_000);

fn usd() -> Currency {
    Currency::parse("USD").unwrap()
}

fn units(units: i64) -> Amount {
    Amount::from_units(units).unwrap()
}

/// A fixed script of commands: issue, a restricted child with one use, a shop, two payments (the
/// second refused), a cancel. Its codes and seeds are given, so two runs see the same inputs.
fn script(key: &BrokerKey, codes: &[SecretCode; 3], shop: &PublicCode) -> Vec<Command> {
    let [root, seller, child] = codes.each_ref().map(|code| key.hash_code(code));
    let order = |units_paid| PaymentOrder {
        payer: Credential::new(child, false),
        payee: shop.clone(),
        amount: units(units_paid),
        currency: None,
        memo: None,
        category: None,
        item: None,
    };
    let one_use = ChildOptions {
        restrictions: Restrictions {
            uses_max: Some(1),
            ..Restrictions::default()
        },
        ..ChildOptions::default()
    };
    vec![
        issuance::Command::Issue {
            hash: root,
            amount: units(10_000_000),
            currency: usd(),
            label: None,
        }
        .into(),
        issuance::Command::Issue {
            hash: seller,
            amount: units(1),
            currency: usd(),
            label: None,
        }
        .into(),
        tree::Command::CreatePublicChild {
            parent: Credential::new(seller, false),
            code: shop.clone(),
            label: None,
            profile: Profile::default(),
            catalog: Catalog::default(),
            under: None,
        }
        .into(),
        tree::Command::CreateSecretChild {
            parent: Credential::new(root, false),
            hash: child,
            amount: units(2_000_000),
            options: one_use,
        }
        .into(),
        payments::Command::Pay(order(250_000)).into(),
        payments::Command::Pay(order(250_000)).into(),
    ]
}

fn run(commands: &[Command], seeds: &[Seed]) -> (Memory, Vec<Result<Outcome, OpError>>) {
    let mut memory = Memory::default();
    let outcomes = commands
        .iter()
        .zip(seeds)
        .enumerate()
        .map(|(i, (command, seed))| {
            let mut cx = Context::new(START.plus_seconds(i as i64).unwrap(), *seed);
            execute(&mut memory, &mut cx, command)
        })
        .collect();
    (memory, outcomes)
}

#[test]
fn a_run_is_a_function_of_state_time_and_seeds() {
    let key = BrokerKey::generate();
    let codes = [SecretCode::generate(), SecretCode::generate(), SecretCode::generate()];
    let commands = script(&key, &codes, &PublicCode::generate());
    let seeds: Vec<Seed> = commands.iter().map(|_| Seed::random()).collect();
    let (first_state, first) = run(&commands, &seeds);
    let (again_state, again) = run(&commands, &seeds);
    assert_eq!(first, again, "the same inputs give the same outcomes, ids included");
    assert_eq!(first_state, again_state, "and the same state");
    let (_, other) = run(&commands, &commands.iter().map(|_| Seed::random()).collect::<Vec<_>>());
    let receipt_id = |outcomes: &[Result<Outcome, OpError>]| match &outcomes[4] {
        Ok(Outcome::Payments(payments::Outcome::Paid(receipt))) => receipt.id.clone(),
        other => panic!("the first payment is paid: {other:?}"),
    };
    assert_ne!(receipt_id(&first), receipt_id(&other), "other seeds draw other ids");
}

#[test]
fn refusals_name_their_rule_in_a_type() {
    let key = BrokerKey::generate();
    let codes = [SecretCode::generate(), SecretCode::generate(), SecretCode::generate()];
    let commands = script(&key, &codes, &PublicCode::generate());
    let (memory, outcomes) = run(&commands, &commands.iter().map(|_| Seed::random()).collect::<Vec<_>>());
    assert_eq!(
        outcomes[5],
        Err(OpError::Restricted(Restriction::UsesSpent { uses_max: 1 })),
        "the second payment of a one-use code is refused by that rule"
    );
    let total: i64 = memory.accounts.values().map(|a| a.balance_units).sum();
    assert_eq!(total, 0, "every transfer is double entry: the accounts sum to zero");
}

#[test]
fn a_childs_expiry_is_cut_to_its_parents() {
    let key = BrokerKey::generate();
    let [root, middle, leaf] = [(); 3].map(|_| key.hash_code(&SecretCode::generate()));
    let child = |parent, hash, expires_in: i64| {
        tree::Command::CreateSecretChild {
            parent: Credential::new(parent, false),
            hash,
            amount: units(1),
            options: ChildOptions {
                expires_at: START.plus_seconds(expires_in),
                ..ChildOptions::default()
            },
        }
        .into()
    };
    let issue = issuance::Command::Issue {
        hash: root,
        amount: units(10),
        currency: usd(),
        label: None,
    }
    .into();
    let commands = [issue, child(root, middle, 60), child(middle, leaf, 3_600)];
    let (_, outcomes) = run(&commands, &[Seed::random(), Seed::random(), Seed::random()]);
    let expiry_of = |i: usize| outcomes[i].as_ref().unwrap().code_view().unwrap().record.expires_at;
    assert_eq!(
        expiry_of(2),
        expiry_of(1),
        "the leaf asked for an hour and got its parent's minute"
    );
}

#[test]
fn the_ids_of_one_command_differ_and_follow_from_its_seed() {
    let seed = Seed::random();
    let draw = || {
        let mut draws = Draws::new(seed);
        let mut ids = vec![draws.receipt_id(START).to_string()];
        ids.extend((0..20).map(|_| draws.transfer_id().to_string()));
        ids
    };
    let ids = draw();
    let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "no two ids of one command are the same: {ids:?}"
    );
    assert_eq!(draw(), ids, "the same seed draws the same ids");
}

/// A catalog of categories only.
fn sells(categories: &[&str]) -> Catalog {
    Catalog {
        categories: Some(categories.iter().map(|c| c.to_string()).collect()),
        items: None,
    }
}

#[test]
fn a_payments_category_is_the_payees_and_the_payers_word_is_only_checked() {
    let key = BrokerKey::generate();
    let [root, seller, child] = [(); 3].map(|_| key.hash_code(&SecretCode::generate()));
    let [bakery, records, corner] = [(); 3].map(|_| PublicCode::generate());
    let mut memory = Memory::default();
    let step = std::cell::Cell::new(0);
    let run_one = |memory: &mut Memory, command: Command| {
        step.set(step.get() + 1);
        let mut cx = Context::new(START.plus_seconds(step.get()).unwrap(), Seed::random());
        execute(memory, &mut cx, &command)
    };
    let issue = |hash| issuance::Command::Issue {
        hash,
        amount: units(10_000_000),
        currency: usd(),
        label: None,
    };
    let shop = |code: &PublicCode, catalog: Catalog, under: Option<CodeId>| tree::Command::CreatePublicChild {
        parent: Credential::new(seller, false),
        code: code.clone(),
        label: None,
        profile: Profile::default(),
        catalog,
        under,
    };
    run_one(&mut memory, issue(root).into()).unwrap();
    run_one(&mut memory, issue(seller).into()).unwrap();
    run_one(&mut memory, shop(&bakery, sells(&["food"]), None).into()).unwrap();
    let made = run_one(&mut memory, shop(&records, sells(&["music", "books"]), None).into()).unwrap();
    let records_id = made.code_view().unwrap().record.id.clone();
    let music_only = ChildOptions {
        restrictions: Restrictions {
            categories: Some(vec!["music".into()]),
            ..Restrictions::default()
        },
        ..ChildOptions::default()
    };
    let child_made = tree::Command::CreateSecretChild {
        parent: Credential::new(root, false),
        hash: child,
        amount: units(5_000_000),
        options: music_only,
    };
    run_one(&mut memory, child_made.into()).unwrap();
    let pay = |memory: &mut Memory, payee: &PublicCode, category: Option<&str>| {
        let order = PaymentOrder {
            payer: Credential::new(child, false),
            payee: payee.clone(),
            amount: units(100_000),
            currency: None,
            memo: None,
            category: category.map(str::to_owned),
            item: None,
        };
        match run_one(memory, payments::Command::Pay(order).into()) {
            Ok(Outcome::Payments(payments::Outcome::Paid(receipt))) => Ok(receipt.category),
            Ok(other) => panic!("a payment answers a receipt: {other:?}"),
            Err(error) => Err(error),
        }
    };
    let refused = |field| Err(OpError::Restricted(Restriction::NotAllowed { field }));
    let not_sold = |sold: &str| {
        Err(OpError::Restricted(Restriction::NotSold {
            field: "categories",
            sold: sold.into(),
        }))
    };
    assert_eq!(
        pay(&mut memory, &bakery, Some("music")),
        not_sold("food"),
        "the bakery attack"
    );
    assert_eq!(pay(&mut memory, &bakery, None), refused("categories"));
    assert_eq!(pay(&mut memory, &records, None), Ok(Some("music".into())), "stamped");
    assert_eq!(pay(&mut memory, &records, Some("music")), Ok(Some("music".into())));
    assert_eq!(pay(&mut memory, &records, Some("books")), refused("categories"));
    assert_eq!(pay(&mut memory, &records, Some("jazz")), not_sold("music, books"));

    // Nested under the record shop: bounded by what it sells, and inheriting it when silent.
    let outside = run_one(
        &mut memory,
        shop(&corner, sells(&["food"]), Some(records_id.clone())).into(),
    );
    assert!(
        matches!(
            outside,
            Err(OpError::Conflict(Conflict::OutsideEnclosingCatalog {
                field: "categories",
                ..
            }))
        ),
        "{outside:?}"
    );
    run_one(&mut memory, shop(&corner, Catalog::default(), Some(records_id)).into()).unwrap();
    assert_eq!(pay(&mut memory, &corner, None), Ok(Some("music".into())), "inherited");
    let total: i64 = memory.accounts.values().map(|a| a.balance_units).sum();
    assert_eq!(total, 0, "every transfer is double entry: the accounts sum to zero");
}

fn named(name: &str) -> Profile {
    Profile {
        name: Some(name.into()),
        url: Some("https://unicef.example/".into()),
        ..Profile::default()
    }
}

#[test]
fn a_check_stands_while_its_name_does_and_authority_runs_down_the_tree() {
    use super::checks::{By, CheckedBy, Mark, Target};
    let key = BrokerKey::generate();
    let [unicef, branch, impostor] = [(); 3].map(|_| key.hash_code(&SecretCode::generate()));
    let mut memory = Memory::default();
    let step = std::cell::Cell::new(0);
    let mut run_one = |command: Command| {
        step.set(step.get() + 1);
        let mut cx = Context::new(START.plus_seconds(step.get()).unwrap(), Seed::random());
        execute(&mut memory, &mut cx, &command).map(|o| o.into_code_view().expect("answers a code"))
    };
    let id_of = |view: CodeView| view.record.id;
    let issue = |hash| issuance::Command::Issue {
        hash,
        amount: units(10_000_000),
        currency: usd(),
        label: None,
    };
    let unicef_id = id_of(run_one(issue(unicef).into()).unwrap());
    let impostor_id = id_of(run_one(issue(impostor).into()).unwrap());
    let child = |parent| tree::Command::CreateSecretChild {
        parent: Credential::new(parent, false),
        hash: branch,
        amount: units(1_000_000),
        options: ChildOptions::default(),
    };
    let branch_id = id_of(run_one(child(unicef).into()).unwrap());
    let name = |holder, target: Option<&CodeId>, text: &str| tree::Command::SetProfile {
        holder: Credential::new(holder, false),
        target: target.cloned(),
        profile: named(text),
        catalog: Catalog::default(),
    };
    run_one(name(unicef, None, "UNICEF").into()).unwrap();
    run_one(name(impostor, None, "UNICEF").into()).unwrap();
    run_one(name(branch, None, "UNICEF India").into()).unwrap();
    let check = |by: By, target: &CodeId, mark: Mark| tree::Command::SetCheck {
        by,
        target: Target::Id(target.clone()),
        mark,
    };
    let checked = |name: &str| Mark::Checked { name: name.into() };
    let as_code = |hash| By::Ancestor(Credential::new(hash, false));

    // UNICEF checks its branch before the broker checked UNICEF: a check, but not the broker's.
    let view = run_one(check(as_code(unicef), &branch_id, checked("UNICEF India")).into()).unwrap();
    let by_unicef = view.check.expect("checked");
    assert_eq!(
        by_unicef.by,
        CheckedBy::Ancestor {
            depth: 1,
            name: Some("UNICEF".into())
        }
    );
    assert!(!by_unicef.reaches_broker, "UNICEF's own name is only declared");
    let view = run_one(check(By::Operator, &unicef_id, checked("UNICEF")).into()).unwrap();
    assert_eq!(
        view.check.map(|c| (c.by, c.reaches_broker)),
        Some((CheckedBy::Broker, true))
    );
    let view = run_one(name(branch, None, "UNICEF India").into()).unwrap();
    assert!(
        view.check
            .expect("an edit that keeps name and url keeps the check")
            .reaches_broker
    );

    // Nobody checks a name it did not see, itself, or a code outside its tree.
    let stale = run_one(check(By::Operator, &impostor_id, checked("UNICEF Intl")).into());
    assert_eq!(
        stale.unwrap_err(),
        OpError::Conflict(Conflict::NameNotChecked {
            current: "UNICEF".into()
        })
    );
    let outside = run_one(check(as_code(impostor), &branch_id, checked("UNICEF India")).into());
    assert_eq!(outside.unwrap_err(), OpError::NotFound("child"));
    let own = run_one(check(as_code(unicef), &unicef_id, checked("UNICEF")).into());
    assert_eq!(own.unwrap_err(), OpError::NotFound("child"));

    // The broker's check outranks UNICEF's: UNICEF can neither replace nor withdraw it.
    run_one(check(By::Operator, &branch_id, checked("UNICEF India")).into()).unwrap();
    let withdrawn = run_one(check(as_code(unicef), &branch_id, Mark::Withdrawn).into());
    assert_eq!(withdrawn.unwrap_err(), OpError::Conflict(Conflict::CheckedAbove));
    run_one(check(By::Operator, &branch_id, Mark::Withdrawn).into()).unwrap();
    run_one(check(as_code(unicef), &branch_id, checked("UNICEF India")).into()).unwrap();

    // Renaming (or a new web address) ends the check: it covered what the checker saw.
    let renamed = run_one(name(branch, None, "UNICEF Global").into()).unwrap();
    assert_eq!(renamed.check, None);
    assert_eq!(memory.codes[&branch_id].check, None, "and it is gone from the store");
}

/// A quote fixes both amounts, and paying with it moves each currency through the exchange
/// account: each currency sums to zero, the buyer gave `pay`, the seller got `price`, and a quote
/// pays once, only its payee, only before its expiry.
#[test]
fn a_quote_pays_across_currencies_once_through_the_exchange_account() {
    use crate::error::QuoteRefusal;
    let key = BrokerKey::generate();
    let eur = Currency::parse("EUR").unwrap();
    let [buyer, seller] = [(); 2].map(|_| key.hash_code(&SecretCode::generate()));
    let (shop, other_shop) = (PublicCode::generate(), PublicCode::generate());
    let issue = |hash, amount, currency| issuance::Command::Issue {
        hash,
        amount: units(amount),
        currency,
        label: None,
    };
    let shop_of = |code: &PublicCode| tree::Command::CreatePublicChild {
        parent: Credential::new(seller, false),
        code: code.clone(),
        label: None,
        profile: Profile::default(),
        catalog: Catalog::default(),
        under: None,
    };
    let mut memory = Memory::default();
    let mut at = 0;
    let mut run = |memory: &mut Memory, command: Command| {
        at += 1;
        execute(
            memory,
            &mut Context::new(START.plus_seconds(at).unwrap(), Seed::random()),
            &command,
        )
    };
    for command in [
        issue(buyer, 20_000_000, eur).into(),
        issue(seller, 1, usd()).into(),
        shop_of(&shop).into(),
        shop_of(&other_shop).into(),
        quotes::Command::SetRate {
            from: eur,
            to: usd(),
            rate: crate::rate::Rate::parse("1.08").unwrap(),
            fee_bps: 50,
        }
        .into(),
    ] {
        run(&mut memory, command).expect("set up");
    }
    let ask = quotes::Command::Quote {
        pay_currency: eur,
        price: units(10_000_000),
        price_currency: usd(),
        payee: Some(shop.clone()),
    };
    let Ok(Outcome::Quotes(quotes::Outcome::Quoted(quote))) = run(&mut memory, ask.clone().into()) else {
        panic!("a quote");
    };
    assert_eq!(
        quote.pay,
        units(9_305_556),
        "10 USD / 1.08 × 1.005, up to the micro-unit"
    );
    assert_eq!(quote.fee_units(), 9_305_556 - 9_259_260);
    let pay_with = |quote: &crate::code::QuoteId, payee: &PublicCode, amount| {
        quotes::Command::Pay(quotes::QuotePayment {
            payer: Credential::new(buyer, false),
            payee: payee.clone(),
            quote: quote.clone(),
            amount,
            currency: None,
            memo: None,
            category: None,
            item: None,
        })
    };
    let pay = |payee: &PublicCode, amount| pay_with(&quote.id, payee, amount);
    assert_eq!(
        run(&mut memory, pay(&other_shop, None).into()),
        Err(OpError::Quote(QuoteRefusal::OtherPayee))
    );
    assert_eq!(
        run(&mut memory, pay(&shop, Some(units(9_000_000))).into()),
        Err(OpError::Quote(QuoteRefusal::NotThePrice {
            price_units: 10_000_000
        }))
    );
    let Ok(Outcome::Quotes(quotes::Outcome::Paid { receipt, .. })) = run(&mut memory, pay(&shop, None).into()) else {
        panic!("paid");
    };
    assert_eq!((receipt.amount, receipt.currency), (units(10_000_000), usd()));
    assert_eq!(
        run(&mut memory, pay(&shop, None).into()),
        Err(OpError::Quote(QuoteRefusal::Used))
    );
    let balance = |memory: &Memory, key: AccountKey| memory.accounts[&key.to_stored()].balance_units;
    let buyer_id = memory.codes.values().find(|c| c.currency == eur).unwrap().id.clone();
    assert_eq!(balance(&memory, AccountKey::Code(buyer_id)), 20_000_000 - 9_305_556);
    assert_eq!(balance(&memory, AccountKey::Exchange(eur)), 9_305_556);
    assert_eq!(balance(&memory, AccountKey::Exchange(usd())), -10_000_000);
    for currency in [eur, usd()] {
        let sum: i64 = memory
            .accounts
            .values()
            .filter(|a| a.currency == currency)
            .map(|a| a.balance_units)
            .sum();
        assert_eq!(sum, 0, "{currency} sums to zero");
    }
    assert_eq!(
        payments::query(&mut memory, &payments::Query::Receipt { id: receipt.id.clone() }),
        Ok(payments::QueryOutcome::Receipt(receipt)),
        "the receipt names the buyer, found through the exchange transfer"
    );

    // A quote past its 15 minutes is refused, and a pair without a rate is named.
    let Ok(Outcome::Quotes(quotes::Outcome::Quoted(late))) = run(&mut memory, ask.into()) else {
        panic!("a quote");
    };
    let mut cx = Context::new(late.expires_at, Seed::random());
    assert_eq!(
        execute(&mut memory, &mut cx, &pay_with(&late.id, &shop, None).into()),
        Err(OpError::Quote(QuoteRefusal::Expired))
    );
    let reverse = quotes::Command::Quote {
        pay_currency: usd(),
        price: units(1),
        price_currency: eur,
        payee: None,
    };
    assert_eq!(
        run(&mut memory, reverse.into()),
        Err(OpError::Quote(QuoteRefusal::NoRate { from: usd(), to: eur }))
    );
}

fn peer(name: &str, domain: &str, number: &str) -> PeerRecord {
    PeerRecord {
        name: name.into(),
        url: format!("https://{domain}"),
        title: format!("broker {name}"),
        domain: domain.into(),
        broker_number: number.into(),
        signing_key: [7; 32],
        credit_limits: vec![(usd(), 1_000_000)],
        status: PeerStatus::Active,
        listed: false,
        added_at: Timestamp(0),
        changed_at: Timestamp(0),
    }
}

#[test]
fn peers_are_unique_by_name_domain_and_number_and_can_be_suspended_and_removed() {
    use super::peers::Command as P;
    let add = |p: PeerRecord| Command::Peers(P::Add(Box::new(p)));
    let commands = [
        add(peer("a", "a.example", "2")),
        add(peer("a", "other.example", "3")),
        add(peer("b", "A.EXAMPLE", "3")),
        add(peer("c", "c.example", "2")),
        Command::Peers(P::SetStatus {
            name: "a".into(),
            status: PeerStatus::Suspended,
        }),
        Command::Peers(P::Remove { name: "a".into() }),
        Command::Peers(P::Remove { name: "a".into() }),
        add(peer("c", "c.example", "2")),
    ];
    let seeds = vec![Seed([0; 32]); commands.len()];
    let (mut memory, outcomes) = run(&commands, &seeds);
    assert!(matches!(&outcomes[0], Ok(Outcome::Peers(super::peers::Outcome::Added(p))) if p.added_at == START));
    assert_eq!(outcomes[1], Err(OpError::Conflict(Conflict::PeerExists)));
    for refused in &outcomes[2..4] {
        assert_eq!(
            refused,
            &Err(OpError::Conflict(Conflict::PeerRouteTaken { by: "a".into() }))
        );
    }
    assert!(
        matches!(&outcomes[4], Ok(Outcome::Peers(super::peers::Outcome::Changed(p))) if p.status == PeerStatus::Suspended)
    );
    assert!(outcomes[5].is_ok());
    assert_eq!(outcomes[6], Err(OpError::NotFound("peer")));
    assert!(outcomes[7].is_ok(), "once a is gone its number is free");
    assert_eq!(memory.peers(10).unwrap().len(), 1);

    // At most PEERS_MAX.
    let mut memory = Memory::default();
    let mut cx = Context::new(START, Seed([0; 32]));
    for n in 0..crate::limits::PEERS_MAX {
        let added = execute(
            &mut memory,
            &mut cx,
            &add(peer(&format!("p{n}"), &format!("p{n}.example"), &format!("{}", n + 10))),
        );
        assert!(added.is_ok());
    }
    let over = execute(&mut memory, &mut cx, &add(peer("last", "last.example", "9")));
    assert_eq!(over, Err(OpError::LimitExceeded(crate::error::Limit::Peers)));
}

/// A buyer with 10 USD, a seller with a public code (the shop), and the peer `b`, made in the
/// first four seconds after `START`.
fn a_buyer_a_shop_and_a_peer() -> (BrokerKey, Memory, [CodeHash; 2], PublicCode) {
    let key = BrokerKey::generate();
    let [buyer, seller] = [(); 2].map(|_| key.hash_code(&SecretCode::generate()));
    let shop = PublicCode::generate();
    let mut memory = Memory::default();
    let mut at = 0;
    let mut run = |memory: &mut Memory, command: Command| {
        at += 1;
        execute(
            memory,
            &mut Context::new(START.plus_seconds(at).unwrap(), Seed::random()),
            &command,
        )
    };
    let setup: [Command; 4] = [
        issuance::Command::Issue {
            hash: buyer,
            amount: units(10_000_000),
            currency: usd(),
            label: None,
        }
        .into(),
        issuance::Command::Issue {
            hash: seller,
            amount: units(1),
            currency: usd(),
            label: None,
        }
        .into(),
        tree::Command::CreatePublicChild {
            parent: Credential::new(seller, false),
            code: shop.clone(),
            label: None,
            profile: Profile::default(),
            catalog: Catalog::default(),
            under: None,
        }
        .into(),
        Command::Peers(super::peers::Command::Add(Box::new(peer("b", "b.example", "7")))),
    ];
    for command in setup {
        run(&mut memory, command).expect("set up");
    }
    (key, memory, [buyer, seller], shop)
}

#[test]
fn a_charge_is_taken_once_per_id_reversed_by_a_void_and_credited_only_from_prepared() {
    use super::federation::{ChargeOrder, ChargeRef, Command as F, Outcome as FO, PrepareOrder};
    use crate::error::PeerRefusal;
    let (key, mut memory, [buyer, seller], shop) = a_buyer_a_shop_and_a_peer();
    let mut at = 4;
    let mut run = |memory: &mut Memory, command: Command| {
        at += 1;
        execute(
            memory,
            &mut Context::new(START.plus_seconds(at).unwrap(), Seed::random()),
            &command,
        )
    };
    let balance = |memory: &mut Memory, hash: &CodeHash| {
        let id = memory.code_by_hash(hash).unwrap().unwrap().id;
        memory.account(&AccountKey::Code(id)).unwrap().unwrap().balance_units
    };
    let charge = |id: &str, amount: i64, fingerprint: u8, deadline: i64| {
        Command::Federation(F::Charge(Box::new(ChargeOrder {
            peer: "b".into(),
            id: id.into(),
            payer: Credential::new(buyer, false),
            amount: units(amount),
            currency: usd(),
            payee: "P-4WZ8N-K3QJD".into(),
            deadline: START.plus_seconds(deadline).unwrap(),
            fingerprint: [fingerprint; 32],
            authorization: false,
            certificate: None,
        })))
    };
    let reference = |id: &str| ChargeRef {
        peer: "b".into(),
        id: id.into(),
        amount: units(2_000_000),
        currency: usd(),
        payee: "P-4WZ8N-K3QJD".into(),
    };
    let state = |outcome: Result<Outcome, OpError>| match outcome {
        Ok(Outcome::Federation(FO::Charge(record))) => Ok(record.state),
        Ok(other) => panic!("{other:?}"),
        Err(error) => Err(error),
    };

    // The buyer's side: once per id, whatever is sent again.
    assert_eq!(
        state(run(&mut memory, charge("x1", 2_000_000, 1, 100))),
        Ok(ChargeState::Charged)
    );
    assert_eq!(
        state(run(&mut memory, charge("x1", 2_000_000, 1, 100))),
        Ok(ChargeState::Charged)
    );
    assert_eq!(balance(&mut memory, &buyer), 8_000_000);
    assert_eq!(
        state(run(&mut memory, charge("x1", 2_000_000, 2, 100))),
        Err(OpError::IdempotencyConflict)
    );
    for _ in 0..2 {
        let void = Command::Federation(F::Void(reference("x1")));
        assert_eq!(state(run(&mut memory, void)), Ok(ChargeState::Reversed));
    }
    assert_eq!(balance(&mut memory, &buyer), 10_000_000, "reversed once");
    let conclude = Command::Federation(F::Conclude(reference("x2")));
    assert_eq!(state(run(&mut memory, conclude)), Ok(ChargeState::Closed));
    assert_eq!(
        state(run(&mut memory, charge("x2", 2_000_000, 3, 100))),
        Err(OpError::Peer(PeerRefusal::ChargeClosed))
    );
    assert_eq!(
        state(run(&mut memory, charge("x3", 2_000_000, 4, -100))),
        Err(OpError::Peer(PeerRefusal::ChargeLate))
    );

    // A charge paid by a child the parent cancels meanwhile: its void goes to the parent.
    let child = key.hash_code(&SecretCode::generate());
    let made = tree::Command::CreateSecretChild {
        parent: Credential::new(buyer, false),
        hash: child,
        amount: units(1_000_000),
        options: ChildOptions::default(),
    };
    run(&mut memory, made.into()).expect("a child");
    let by_child = Command::Federation(F::Charge(Box::new(ChargeOrder {
        payer: Credential::new(child, false),
        ..match charge("x4", 1_000_000, 5, 100) {
            Command::Federation(F::Charge(order)) => *order,
            _ => unreachable!("a charge"),
        }
    })));
    assert_eq!(state(run(&mut memory, by_child)), Ok(ChargeState::Charged));
    let child_id = memory.code_by_hash(&child).unwrap().unwrap().id;
    let cancel = tree::Command::CancelChild {
        parent: Credential::new(buyer, false),
        child: child_id,
    };
    run(&mut memory, cancel.into()).expect("cancelled");
    assert_eq!(
        balance(&mut memory, &buyer),
        9_000_000,
        "the child's value was spent at the peer"
    );
    let void = Command::Federation(F::Void(ChargeRef {
        amount: units(1_000_000),
        ..reference("x4")
    }));
    assert_eq!(state(run(&mut memory, void)), Ok(ChargeState::Reversed));
    assert_eq!(balance(&mut memory, &buyer), 10_000_000, "the void went to the parent");

    // The seller's side: within the credit limit (1 USD), counting what is still prepared.
    let prepare = |id: &str, amount: i64| {
        Command::Federation(F::Prepare(Box::new(PrepareOrder {
            peer: "b".into(),
            id: id.into(),
            payee: shop.clone(),
            amount: Some(units(amount)),
            currency: None,
            deadline: START.plus_seconds(100).unwrap(),
            expires_at: None,
            memo: None,
            quote: None,
        })))
    };
    assert_eq!(
        state(run(&mut memory, prepare("y1", 600_000))),
        Ok(ChargeState::Prepared)
    );
    assert_eq!(
        state(run(&mut memory, prepare("y2", 600_000))),
        Err(OpError::Peer(PeerRefusal::LimitReached { currency: usd() }))
    );
    let credit = || {
        Command::Federation(F::Credit {
            peer: "b".into(),
            id: "y1".into(),
            approval: "{}".into(),
            memo: None,
        })
    };
    assert!(matches!(
        run(&mut memory, credit()),
        Ok(Outcome::Federation(FO::Credited(_)))
    ));
    assert_eq!(balance(&mut memory, &seller), 600_001);
    assert_eq!(
        run(&mut memory, credit()),
        Err(OpError::Peer(PeerRefusal::ChargeNotPrepared { state: "credited" }))
    );
    let voiding = Command::Federation(F::Mark {
        peer: "b".into(),
        id: "y1".into(),
        to: ChargeState::Voiding,
    });
    assert_eq!(
        state(run(&mut memory, voiding)),
        Err(OpError::Peer(PeerRefusal::ChargeNotPrepared { state: "credited" }))
    );
    // Credited, the peer owes 0.60; a new charge of 0.50 would take it past its limit.
    assert_eq!(
        state(run(&mut memory, prepare("y3", 500_000))),
        Err(OpError::Peer(PeerRefusal::LimitReached { currency: usd() }))
    );
}

#[test]
fn a_hold_for_a_peer_is_set_aside_captured_once_released_by_a_void_and_void_at_its_end() {
    use super::federation::{ChargeOrder, ChargeRef, Command as F, Outcome as FO};
    use crate::error::HoldRefusal;
    let (_, mut memory, [buyer, _], _) = a_buyer_a_shop_and_a_peer();
    let run = |memory: &mut Memory, at: i64, command: Command| {
        execute(
            memory,
            &mut Context::new(START.plus_seconds(at).unwrap(), Seed::random()),
            &command,
        )
    };
    let account = |memory: &mut Memory| {
        let id = memory.code_by_hash(&buyer).unwrap().unwrap().id;
        let account = memory.account(&AccountKey::Code(id)).unwrap().unwrap();
        (account.balance_units, account.held_units)
    };
    let hold = |id: &str, amount: i64, ends: i64| {
        let order = ChargeOrder {
            peer: "b".into(),
            id: id.into(),
            payer: Credential::new(buyer, false),
            amount: units(amount),
            currency: usd(),
            payee: "P-4WZ8N-K3QJD".into(),
            deadline: START.plus_seconds(100).unwrap(),
            fingerprint: [7; 32],
            authorization: false,
            certificate: None,
        };
        Command::Federation(F::Hold {
            order: Box::new(order),
            expires_at: START.plus_seconds(ends).unwrap(),
        })
    };
    let reference = |id: &str, amount: i64| ChargeRef {
        peer: "b".into(),
        id: id.into(),
        amount: units(amount),
        currency: usd(),
        payee: "P-4WZ8N-K3QJD".into(),
    };
    let capture = |id: &str, amount: i64| {
        Command::Federation(F::Capture {
            reference: reference(id, amount),
            deadline: START.plus_seconds(200).unwrap(),
        })
    };
    let state = |outcome: Result<Outcome, OpError>| match outcome {
        Ok(Outcome::Federation(FO::Charge(record))) => Ok(record.state),
        Ok(other) => panic!("{other:?}"),
        Err(error) => Err(error),
    };

    // Set aside once per id: the balance stays, `held` counts it.
    assert_eq!(
        state(run(&mut memory, 10, hold("h1", 4_000_000, 1000))),
        Ok(ChargeState::Held)
    );
    assert_eq!(
        state(run(&mut memory, 11, hold("h1", 4_000_000, 1000))),
        Ok(ChargeState::Held)
    );
    assert_eq!(account(&mut memory), (10_000_000, 4_000_000));
    assert_eq!(
        state(run(&mut memory, 12, hold("h9", 7_000_000, 1000))),
        Err(OpError::InsufficientFunds),
        "what is held is not available"
    );
    // Captured once, in part; the rest goes back.
    assert_eq!(
        state(run(&mut memory, 13, capture("h1", 4_000_001))),
        Err(OpError::Hold(HoldRefusal::MoreThanHeld { held_units: 4_000_000 }))
    );
    assert_eq!(
        state(run(&mut memory, 14, capture("h1", 2_500_000))),
        Ok(ChargeState::Charged)
    );
    assert_eq!(account(&mut memory), (7_500_000, 0));
    assert_eq!(
        state(run(&mut memory, 15, capture("h1", 2_500_000))),
        Ok(ChargeState::Charged)
    );
    assert_eq!(
        state(run(&mut memory, 16, capture("h1", 1_000_000))),
        Err(OpError::IdempotencyConflict)
    );
    assert_eq!(account(&mut memory), (7_500_000, 0), "captured once");
    // A void releases a hold not captured; then nothing more is taken.
    assert_eq!(
        state(run(&mut memory, 17, hold("h2", 1_000_000, 1000))),
        Ok(ChargeState::Held)
    );
    let void = Command::Federation(F::Void(reference("h2", 1_000_000)));
    assert_eq!(state(run(&mut memory, 18, void)), Ok(ChargeState::Reversed));
    assert_eq!(account(&mut memory), (7_500_000, 0));
    assert_eq!(
        state(run(&mut memory, 19, capture("h2", 1_000_000))),
        Err(OpError::Hold(HoldRefusal::NotPending { state: "voided" }))
    );
    // At its end a hold sets nothing aside and takes nothing, before any sweep.
    assert_eq!(
        state(run(&mut memory, 20, hold("h3", 1_000_000, 30))),
        Ok(ChargeState::Held)
    );
    assert_eq!(
        state(run(&mut memory, 31, capture("h3", 1_000_000))),
        Err(OpError::Hold(HoldRefusal::NotPending { state: "expired" }))
    );
    assert_eq!(
        state(run(&mut memory, 32, hold("h4", 7_500_000, 1000))),
        Ok(ChargeState::Held),
        "the expired hold's value is available again"
    );
    assert_eq!(
        state(run(&mut memory, 33, hold("h5", 1_000_000, 40 * 24 * 3600))),
        Err(OpError::InvalidRequest(crate::error::Invalid::HoldExpiry {
            max: crate::limits::HOLD_SECONDS_MAX
        }))
    );
}

#[test]
fn an_item_is_bought_as_a_payment_and_its_grant_fetched_within_its_bounds() {
    let (_, mut memory, [buyer, seller], shop) = a_buyer_a_shop_and_a_peer();
    let mut at = 100;
    let mut run = |memory: &mut Memory, command: Command, later: i64| {
        at += later;
        execute(
            memory,
            &mut Context::new(START.plus_seconds(at).unwrap(), Seed::random()),
            &command,
        )
    };
    let new_item = items::NewItem {
        public_code: shop.clone(),
        title: "A song".into(),
        description: None,
        price: units(200_000),
        category: None,
        url: None,
    };
    let create = |seller| items::Command::Create {
        seller: Credential::new(seller, false),
        item: new_item.clone(),
    };
    let refused = run(&mut memory, create(buyer).into(), 1);
    assert_eq!(
        refused,
        Err(OpError::NotFound("public code")),
        "only its owner sells from it"
    );
    let Ok(Outcome::Items(items::Outcome::Created(item))) = run(&mut memory, create(seller).into(), 1) else {
        panic!("the owner makes an item");
    };
    let buy = items::Command::Buy {
        payer: Credential::new(buyer, false),
        id: item.id.clone(),
    };
    let not_yet = run(&mut memory, buy.clone().into(), 1);
    assert_eq!(not_yet, Err(OpError::Item(crate::error::ItemRefusal::NoContent)));
    let upload = items::Command::Upload {
        seller: Credential::new(seller, false),
        id: item.id.clone(),
        content_type: "audio/mpeg".into(),
        bytes: b"abc".to_vec(),
    };
    let Ok(Outcome::Items(items::Outcome::Uploaded(stored))) = run(&mut memory, upload.into(), 1) else {
        panic!("the owner uploads");
    };
    let content = stored.content.expect("described");
    assert_eq!(
        content.sha256_hex,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let Ok(Outcome::Items(items::Outcome::Bought { receipt, .. })) = run(&mut memory, buy.into(), 1) else {
        panic!("the buyer buys");
    };
    assert_eq!(receipt.item.as_deref(), Some(item.id.as_str()), "stamped with the item");
    assert_eq!(receipt.amount, units(200_000));
    let fetch = |id: &crate::code::ItemId| -> Command {
        items::Command::Fetch {
            receipt_id: receipt.id.clone(),
            id: id.clone(),
        }
        .into()
    };
    let other = crate::code::ItemId::generate();
    let wrong = run(&mut memory, fetch(&other), 1);
    assert_eq!(wrong, Err(OpError::Item(crate::error::ItemRefusal::DownloadOtherItem)));
    for counted in 1..=crate::limits::DOWNLOAD_FETCHES_MAX {
        let Ok(Outcome::Items(items::Outcome::Fetched { fetches, bytes, .. })) = run(&mut memory, fetch(&item.id), 1)
        else {
            panic!("fetch {counted} is granted");
        };
        assert_eq!((fetches, bytes.as_deref()), (counted, Some(b"abc".as_slice())));
    }
    let spent = run(&mut memory, fetch(&item.id), 1);
    let exhausted = crate::error::ItemRefusal::DownloadExhausted {
        fetches_max: crate::limits::DOWNLOAD_FETCHES_MAX,
    };
    assert_eq!(spent, Err(OpError::Item(exhausted)));
    let late = run(&mut memory, fetch(&item.id), crate::limits::DOWNLOAD_GRANT_SECONDS);
    assert_eq!(late, Err(OpError::Item(crate::error::ItemRefusal::DownloadExpired)));
}

#[test]
fn a_payment_writes_its_event_to_the_outbox_only_for_subscriptions_that_want_it() {
    use crate::webhook::{DeliveryState, EventKind};
    let (_, mut memory, [buyer, seller], shop) = a_buyer_a_shop_and_a_peer();
    let mut at = 100;
    let mut run = |memory: &mut Memory, command: Command| {
        at += 1;
        execute(
            memory,
            &mut Context::new(START.plus_seconds(at).unwrap(), Seed::random()),
            &command,
        )
    };
    let pay = |amount| {
        Command::from(payments::Command::Pay(PaymentOrder {
            payer: Credential::new(buyer, false),
            payee: shop.clone(),
            amount: units(amount),
            currency: None,
            memo: None,
            category: None,
            item: None,
        }))
    };
    // No subscription: nothing is written (and the flag says there is nothing to read).
    run(&mut memory, pay(10)).unwrap();
    assert!(memory.deliveries.is_empty());
    let subscribe = |events: Vec<EventKind>, url: &str| {
        Command::from(webhooks::Command::Subscribe {
            holder: Credential::new(seller, false),
            url: url.into(),
            events,
            public_code: None,
        })
    };
    let Ok(Outcome::Webhooks(webhooks::Outcome::Subscribed(payments_hook))) = run(
        &mut memory,
        subscribe(vec![EventKind::PaymentReceived], "https://seller.example/hook"),
    ) else {
        panic!("subscribed");
    };
    run(
        &mut memory,
        subscribe(vec![EventKind::HoldVoided], "https://seller.example/holds"),
    )
    .unwrap();
    assert_eq!(
        run(
            &mut memory,
            subscribe(vec![EventKind::PaymentReceived], "ftp://seller.example/")
        ),
        Err(OpError::InvalidRequest(crate::error::Invalid::WebhookUrl))
    );
    let Ok(Outcome::Payments(payments::Outcome::Paid(receipt))) = run(&mut memory, pay(20)) else {
        panic!("paid");
    };
    assert_eq!(memory.deliveries.len(), 1, "only the subscription that wants payments");
    let owed = memory.deliveries[0].clone();
    assert_eq!(
        (owed.kind, owed.subject.as_str(), &owed.webhook_id),
        (EventKind::PaymentReceived, receipt.id.as_str(), &payments_hook.id)
    );

    // A round claims it (leased: a second claim finds nothing), records its delivery, and frees it.
    let claim = || {
        Command::from(webhooks::Command::Claim {
            subscriptions: 10,
            run: 10,
        })
    };
    let Ok(Outcome::Webhooks(webhooks::Outcome::Claimed(claimed))) = run(&mut memory, claim()) else {
        panic!("claimed");
    };
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        run(&mut memory, claim()),
        Ok(Outcome::Webhooks(webhooks::Outcome::Claimed(vec![])))
    );
    let mut sent = claimed[0].1[0].clone();
    sent.attempted(START.plus_seconds(200).unwrap(), Some(204), None);
    let record = webhooks::Command::Record {
        runs: vec![(payments_hook.id.clone(), vec![sent])],
    };
    run(&mut memory, record.into()).unwrap();
    assert_eq!(memory.deliveries[0].state, DeliveryState::Delivered);
    assert_eq!(
        run(&mut memory, claim()),
        Ok(Outcome::Webhooks(webhooks::Outcome::Claimed(vec![])))
    );

    // Removed, it is owed nothing more; with no subscription left the flag goes too.
    for hook in memory.webhooks.keys().cloned().collect::<Vec<_>>() {
        let remove = webhooks::Command::Remove {
            holder: Credential::new(seller, false),
            id: crate::code::WebhookId::parse(&hook).unwrap(),
        };
        run(&mut memory, remove.into()).unwrap();
    }
    run(&mut memory, pay(30)).unwrap();
    assert_eq!(memory.deliveries.len(), 1);
    assert!(memory.codes.values().all(|c| !c.webhooks));
}

#[test]
fn a_prune_deletes_old_settled_deliveries_and_keeps_what_is_still_owed() {
    use crate::limits::WEBHOOK_DELIVERY_KEPT_SECONDS;
    use crate::webhook::{DeliveryState, EventKind};
    let (_, mut memory, [buyer, seller], shop) = a_buyer_a_shop_and_a_peer();
    let at = |seconds: i64| START.plus_seconds(seconds).unwrap();
    let run = |memory: &mut Memory, seconds: i64, command: Command| {
        execute(memory, &mut Context::new(at(seconds), Seed::random()), &command)
    };
    let subscribe = |url: &str| {
        Command::from(webhooks::Command::Subscribe {
            holder: Credential::new(seller, false),
            url: url.into(),
            events: vec![EventKind::PaymentReceived],
            public_code: None,
        })
    };
    run(&mut memory, 1, subscribe("https://seller.example/a")).unwrap();
    let pay = Command::from(payments::Command::Pay(PaymentOrder {
        payer: Credential::new(buyer, false),
        payee: shop.clone(),
        amount: units(10),
        currency: None,
        memo: None,
        category: None,
        item: None,
    }));
    run(&mut memory, 2, pay.clone()).unwrap();
    run(&mut memory, 3, pay.clone()).unwrap();
    // The first is delivered; the second is still owed (its receiver kept failing).
    let mut delivered = memory.deliveries[0].clone();
    delivered.attempted(at(4), Some(204), None);
    let hook = delivered.webhook_id.clone();
    run(
        &mut memory,
        4,
        webhooks::Command::Record {
            runs: vec![(hook, vec![delivered])],
        }
        .into(),
    )
    .unwrap();
    let prune = || Command::from(webhooks::Command::Prune { limit: 100 });
    let prune_at = |memory: &mut Memory, seconds: i64| match run(memory, seconds, prune()) {
        Ok(Outcome::Webhooks(webhooks::Outcome::Pruned { deliveries })) => deliveries,
        other => panic!("{other:?}"),
    };
    assert_eq!(prune_at(&mut memory, 5), 0, "a young delivery stays, settled or not");
    let later = WEBHOOK_DELIVERY_KEPT_SECONDS + 10;
    assert_eq!(prune_at(&mut memory, later), 1, "an old settled one goes");
    assert_eq!(memory.deliveries.len(), 1);
    assert_eq!(memory.deliveries[0].state, DeliveryState::Pending, "what is owed stays");
    // Once its subscription is removed, what it was owed goes too; a new event after is kept.
    for hook in memory.webhooks.keys().cloned().collect::<Vec<_>>() {
        let remove = webhooks::Command::Remove {
            holder: Credential::new(seller, false),
            id: crate::code::WebhookId::parse(&hook).unwrap(),
        };
        run(&mut memory, later, remove.into()).unwrap();
    }
    run(&mut memory, later, subscribe("https://seller.example/b")).unwrap();
    run(&mut memory, later + 1, pay).unwrap();
    assert_eq!(prune_at(&mut memory, later + 2), 1);
    assert_eq!(memory.deliveries.len(), 1);
    assert_eq!(memory.deliveries[0].created_at, at(later + 1));
    // A seq is never given twice, even after deletes.
    assert_eq!(memory.deliveries[0].seq, Some(3));
}

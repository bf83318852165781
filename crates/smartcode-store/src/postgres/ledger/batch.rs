//! A writer's batch on PostgreSQL beyond single statements: the prefetch of the rows its
//! payments name, its pending transfers (written in one statement before COMMIT), and
//! [`finish_batch`], which applies its balance changes in key order under row locks, checks them
//! against the rows as they stand, and adds its payments to their public codes' totals.

use std::collections::BTreeMap;

use postgres::Row;
use smartcode_core::code::{CodeId, HoldId};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::limits::BALANCE_UNITS_MAX;
use smartcode_core::model::*;
use smartcode_core::money::Currency;

use crate::postgres::conn::Conn;
use crate::rows::{CODE_COLUMNS, CODE_COLUMN_COUNT};

use super::*;

impl PgLedger<'_> {
    /// Reads in bulk the codes that secret-code `hashes`, `publics` codes and `ids` name, the
    /// owners of those public codes, and the balances of all the secret codes among them. Rows
    /// contended on an earlier attempt are left to be read under lock, one by one.
    pub fn prefetch(&mut self, hashes: &[&[u8]], publics: &[&str], ids: &[&str]) -> StoreResult<()> {
        if hashes.is_empty() && publics.is_empty() && ids.is_empty() {
            return Ok(());
        }
        // An arm each, not one `OR`: a generic plan of the `OR` scans the whole table. A batch
        // of payments alone sends the statement it always did.
        let sql = format!(
            "SELECT {CODE_COLUMNS}, {VERSION}, code_hash FROM codes WHERE code_hash = ANY($1) \
             UNION ALL SELECT {CODE_COLUMNS}, {VERSION}, code_hash FROM codes WHERE public_code = ANY($2)"
        );
        let rows = if ids.is_empty() {
            self.query(&sql, &[&hashes, &publics])?
        } else {
            let sql =
                format!("{sql} UNION ALL SELECT {CODE_COLUMNS}, {VERSION}, code_hash FROM codes WHERE id = ANY($3)");
            self.query(&sql, &[&hashes, &publics, &ids])?
        };
        let mut fetched = self.remember_prefetched(&rows)?;
        let owners: Vec<String> = fetched
            .iter()
            .filter(|record| record.kind == CodeKind::Public)
            .map(|record| record.owner_id.as_str().to_owned())
            .filter(|owner| !fetched.iter().any(|record| record.id.as_str() == owner))
            .collect();
        if !owners.is_empty() {
            let sql = format!("SELECT {CODE_COLUMNS}, {VERSION}, code_hash FROM codes WHERE id = ANY($1)");
            let rows = self.query(&sql, &[&owners])?;
            fetched.extend(self.remember_prefetched(&rows)?);
        }
        let keys: Vec<String> = fetched
            .iter()
            .filter(|record| record.kind == CodeKind::Secret)
            .map(|record| AccountKey::Code(record.id.clone()).to_stored())
            .collect();
        let rows = self.query(
            "SELECT key, currency, balance, held FROM accounts WHERE key = ANY($1)",
            &[&keys],
        )?;
        let Some(batch) = self.batch.as_deref_mut() else {
            return Ok(());
        };
        for row in &rows {
            let key: String = get(row, 0)?;
            if batch.contended.accounts.contains(&key) {
                continue;
            }
            let currency = Currency::parse(&get::<String>(row, 1)?).map_err(|_| corrupt("currency"))?;
            batch
                .prefetched
                .accounts
                .insert(key, (currency, get(row, 2)?, get(row, 3)?));
        }
        Ok(())
    }

    /// Reads in bulk the holds the batch's captures and voids name. A hold the batch then writes
    /// is dropped from what was prefetched; a hold another process resolved meanwhile makes the
    /// batch's conditional update of it a conflict, and the batch runs again.
    fn prefetch_holds(&mut self, ids: &[&str]) -> StoreResult<()> {
        if ids.is_empty() || self.batch.is_none() {
            return Ok(());
        }
        let holds = self.holds_where("id = ANY($1)", &[&ids])?;
        if let Some(batch) = self.batch.as_deref_mut() {
            for hold in holds {
                batch.prefetched.holds.insert(hold.id.as_str().to_owned(), hold);
            }
        }
        Ok(())
    }

    fn remember_prefetched(&mut self, rows: &[Row]) -> StoreResult<Vec<CodeRecord>> {
        let mut records = Vec::with_capacity(rows.len());
        let Some(batch) = self.batch.as_deref_mut() else {
            return Ok(records);
        };
        for row in rows {
            let (record, version) = code_from_row(row)?;
            let id = record.id.as_str().to_owned();
            if batch.contended.codes.contains(&id) {
                continue;
            }
            let hash: Option<Vec<u8>> = get(row, CODE_COLUMN_COUNT + 1)?;
            if let Some(hash) = hash.and_then(|h| <[u8; 32]>::try_from(h).ok()) {
                batch.prefetched.by_hash.insert(hash, id.clone());
            }
            if let Some(public) = &record.public_code {
                batch
                    .prefetched
                    .by_public
                    .insert(public.as_stored().to_owned(), id.clone());
            }
            batch.prefetched.codes.insert(id, (record.clone(), version));
            records.push(record);
        }
        Ok(records)
    }

    /// A code the batch prefetched and has not changed since, as if read now.
    pub(super) fn prefetched_code(&mut self, id: Option<String>) -> Option<CodeRecord> {
        let (record, version) = self.batch.as_ref()?.prefetched.codes.get(&id?)?.clone();
        self.saw_code(&record, version);
        Some(record)
    }

    /// Before a read of transfers in the writer, writes the batch's pending transfers, so the
    /// read sees them. No command does this today (only queries read transfers); if one does, its
    /// savepoint then holds other commands' transfers, and refusing it means running the batch again.
    pub(super) fn read_transfers(&mut self) -> StoreResult<()> {
        let pending = self
            .batch
            .as_ref()
            .is_some_and(|b| !b.transfers.is_empty() || !b.command.transfers.is_empty());
        if !pending {
            return Ok(());
        }
        self.savepoint()?;
        let batch = self.batch.as_deref_mut().expect("pending transfers are a batch's");
        batch.command.wrote_batch_writes |= !batch.transfers.is_empty();
        let mut transfers = std::mem::take(&mut batch.transfers);
        transfers.append(&mut batch.command.transfers);
        self.insert_transfers(&transfers)
    }

    /// Adds payments through public codes to those codes' running totals: one row per public
    /// code, in key order (every process locks them in the same order), as the last step before
    /// COMMIT, so a popular public code's row is locked only for that moment, like its owner's
    /// balance.
    fn count_public_payments(&mut self, transfers: &[Transfer]) -> StoreResult<()> {
        let mut totals: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
        for transfer in transfers.iter().filter(|t| t.kind == TransferKind::Payment) {
            if let Some(public_code) = &transfer.public_code_id {
                let total = totals.entry(public_code.as_str()).or_insert((0, 0));
                total.0 += 1;
                total.1 = total
                    .1
                    .checked_add(transfer.amount.units())
                    .ok_or_else(|| StorageFailure("a public code's total overflows".into()))?;
            }
        }
        if totals.is_empty() {
            return Ok(());
        }
        let codes: Vec<&str> = totals.keys().copied().collect();
        let payments: Vec<i64> = totals.values().map(|total| total.0).collect();
        let units: Vec<i64> = totals.values().map(|total| total.1).collect();
        self.execute(
            "INSERT INTO public_code_stats (code_id, payments, units) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS t(code_id, payments, units) \
             ORDER BY t.code_id COLLATE \"C\" \
             ON CONFLICT (code_id) DO UPDATE SET payments = public_code_stats.payments + excluded.payments, \
                                                  units = public_code_stats.units + excluded.units",
            &[&codes, &payments, &units],
        )?;
        Ok(())
    }

    /// Inserts transfers in one statement, in order (their sequence numbers follow it).
    pub(super) fn insert_transfers(&mut self, transfers: &[Transfer]) -> StoreResult<()> {
        if transfers.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = transfers.iter().map(|t| t.id.as_str()).collect();
        let ats: Vec<i64> = transfers.iter().map(|t| t.at.0).collect();
        let kinds: Vec<&str> = transfers.iter().map(|t| t.kind.as_str()).collect();
        let debits: Vec<String> = transfers.iter().map(|t| t.debit.to_stored()).collect();
        let credits: Vec<String> = transfers.iter().map(|t| t.credit.to_stored()).collect();
        let amounts: Vec<i64> = transfers.iter().map(|t| t.amount.units()).collect();
        let currencies: Vec<&str> = transfers.iter().map(|t| t.currency.as_str()).collect();
        let memos: Vec<Option<&str>> = transfers.iter().map(|t| t.memo.as_deref()).collect();
        let publics: Vec<Option<&str>> = transfers
            .iter()
            .map(|t| t.public_code_id.as_ref().map(CodeId::as_str))
            .collect();
        let categories: Vec<Option<&str>> = transfers.iter().map(|t| t.category.as_deref()).collect();
        let items: Vec<Option<&str>> = transfers.iter().map(|t| t.item.as_deref()).collect();
        self.execute(
            "INSERT INTO transfers (id, at, kind, debit, credit, amount, currency, memo, public_code_id, category, item) \
             SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], \
                                  $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])",
            &[
                &ids,
                &ats,
                &kinds,
                &debits,
                &credits,
                &amounts,
                &currencies,
                &memos,
                &publics,
                &categories,
                &items,
            ],
        )?;
        Ok(())
    }
}

/// What a batch does after its commands and before COMMIT: sends the kept commands' hold rows (two
/// statements at most), writes their transfers in one statement, applies the balance changes ([`PgLedger::apply`]), and counts the payments into
/// their public codes' totals ([`PgLedger::count_public_payments`]).
pub fn finish_batch(conn: &mut Conn, batch: &mut BatchState) -> StoreResult<()> {
    let transfers = std::mem::take(&mut batch.transfers);
    let holds = std::mem::take(&mut batch.holds);
    let mut ledger = PgLedger {
        conn,
        batch: Some(batch),
    };
    ledger.send_hold_writes(holds)?;
    ledger.insert_transfers(&transfers)?;
    ledger.apply()?;
    ledger.count_public_payments(&transfers)
}

/// Prefetches the rows the batch's payments name (see [`PgLedger::prefetch`]).
pub fn prefetch(
    conn: &mut Conn,
    batch: &mut BatchState,
    (hashes, publics): (&[&[u8]], &[&str]),
    holds: &[HoldId],
) -> StoreResult<()> {
    let mut ledger = PgLedger {
        conn,
        batch: Some(batch),
    };
    let holds: Vec<&str> = holds.iter().map(HoldId::as_str).collect();
    ledger.prefetch_holds(&holds)?;
    // The codes a capture or void moves value between: the payer, the payee and its owner, and
    // whoever took a closed payer's value back.
    let mut ids: Vec<String> = Vec::new();
    if let Some(batch) = ledger.batch.as_deref() {
        for hold in batch.prefetched.holds.values() {
            ids.push(hold.payer_id.as_str().to_owned());
            if let Some(payee) = &hold.payee {
                ids.extend([payee.payee_id.as_str().to_owned(), payee.owner_id.as_str().to_owned()]);
            }
            ids.extend(hold.release_to.as_ref().map(|id| id.as_str().to_owned()));
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    ledger.prefetch(hashes, publics, &ids)
}

impl PgLedger<'_> {
    /// Applies the batch's balance changes: locks every account it touches in key order (so two
    /// processes never wait on each other in a cycle here), checks the bounds against the balances
    /// as they stand now (another process may have moved value since the core read them), adds the
    /// changes in one statement, and checks that no code it touched was closed by another process
    /// meanwhile. A failed check is a conflict: the batch runs again.
    fn apply(&mut self) -> StoreResult<()> {
        let Some(batch) = self.batch.as_deref() else {
            return Ok(());
        };
        // Each account's change of balance and of what it holds aside.
        let mut changes: BTreeMap<String, (i64, i64)> = BTreeMap::new();
        for (key, delta) in &batch.deltas {
            changes.entry(key.clone()).or_default().0 += delta;
        }
        for (key, delta) in &batch.held_deltas {
            changes.entry(key.clone()).or_default().1 += delta;
        }
        changes.retain(|_, (balance, held)| *balance != 0 || *held != 0);
        if changes.is_empty() {
            return Ok(());
        }
        let keys: Vec<&str> = changes.keys().map(String::as_str).collect();
        let rows = self.query(
            "SELECT key, balance, held, kind FROM accounts WHERE key = ANY($1) ORDER BY key COLLATE \"C\" FOR UPDATE",
            &[&keys],
        )?;
        if rows.len() != keys.len() {
            return Err(StorageFailure("a transfer names a missing account".into()));
        }
        let mut codes = Vec::new();
        for row in &rows {
            let key: String = get(row, 0)?;
            let (balance, held): (i64, i64) = (get(row, 1)?, get(row, 2)?);
            let is_code = get::<String>(row, 3)? == "code";
            if is_code {
                let id = AccountKey::from_stored(&key).and_then(|key| key.code_id().cloned());
                codes.push(id.ok_or_else(|| corrupt("account key"))?);
            }
            let (balance_delta, held_delta) = changes[&key];
            let after = balance.checked_add(balance_delta).zip(held.checked_add(held_delta));
            let within = match after {
                Some((after, held)) if is_code => {
                    (0..=after).contains(&held) && (0..=BALANCE_UNITS_MAX).contains(&after)
                }
                Some((_, held)) => held == 0,
                None => false,
            };
            if !within {
                // Another process spent (or filled) it since the core read it. The next attempt
                // reads it afresh, without a lock: a code paid from two processes at once runs
                // out soon, and then the core refuses instead of racing.
                return Err(self.conflict(format!("the balance of {key} moved out of bounds"), None, None));
            }
        }
        let balances: Vec<i64> = changes.values().map(|(balance, _)| *balance).collect();
        let helds: Vec<i64> = changes.values().map(|(_, held)| *held).collect();
        let updated = self.execute(
            "UPDATE accounts a SET balance = a.balance + d.delta, held = a.held + d.held \
             FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS d(key, delta, held) WHERE a.key = d.key",
            &[&keys, &balances, &helds],
        )?;
        if updated != keys.len() as u64 {
            return Err(StorageFailure("a transfer names a missing account".into()));
        }
        self.check_statuses(&codes)
    }

    /// Every code whose balance the batch changes must still have the status the batch saw.
    fn check_statuses(&mut self, codes: &[CodeId]) -> StoreResult<()> {
        let ids: Vec<&str> = codes.iter().map(CodeId::as_str).collect();
        if ids.is_empty() {
            return Ok(());
        }
        let rows = self.query("SELECT id, status FROM codes WHERE id = ANY($1)", &[&ids])?;
        for row in &rows {
            let id: String = get(row, 0)?;
            let status = CodeStatus::parse(&get::<String>(row, 1)?).ok_or_else(|| corrupt("status"))?;
            let expected = self.batch.as_ref().and_then(|b| b.statuses.get(&id).copied());
            if expected.is_some_and(|expected| expected != status) {
                return Err(self.conflict(format!("code {id} was closed meanwhile"), Some(&id), None));
            }
        }
        Ok(())
    }
}

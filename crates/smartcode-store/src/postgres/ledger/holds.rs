//! Holds, aliases, certificates and refunds on PostgreSQL. In the writer, a hold's row waits in the
//! batch with its transfers ([`super::hold_writes`]), and an account's change of `held` with its
//! balance: `apply` checks, under the rows' locks, that what is held stays within the balance the
//! batch leaves, so two processes holding on one code cannot together hold more than it has; the
//! loser's batch runs again.

use postgres::Row;
use smartcode_core::clock::Timestamp;
use smartcode_core::code::{AssuranceId, CodeHash, CodeId, HoldId};
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::model::{AccountKey, AliasRecord, AssuranceRecord, HoldKind, HoldRecord, HoldState};

use super::{get, Param, PgLedger};
use crate::rows::{AssuranceColumns, HoldColumns, RefundColumns, ASSURANCE_COLUMNS, HOLD_COLUMNS, REFUND_COLUMNS};
use smartcode_core::model::RefundRecord;

fn hold_from_row(row: &Row) -> StoreResult<HoldRecord> {
    HoldColumns {
        id: get(row, 0)?,
        payer_id: get(row, 1)?,
        owner_id: get(row, 2)?,
        payee: get(row, 3)?,
        payee_id: get(row, 4)?,
        amount: get(row, 5)?,
        currency: get(row, 6)?,
        memo: get(row, 7)?,
        category: get(row, 8)?,
        item: get(row, 9)?,
        created_at: get(row, 10)?,
        expires_at: get(row, 11)?,
        state: get(row, 12)?,
        resolved_at: get(row, 13)?,
        captured: get(row, 14)?,
        receipt_id: get(row, 15)?,
        release_to: get(row, 16)?,
        kind: get(row, 17)?,
        assurance_id: get(row, 18)?,
    }
    .into_record()
}

impl PgLedger<'_> {
    pub(super) fn holds_where(&mut self, condition: &str, params: &[Param]) -> StoreResult<Vec<HoldRecord>> {
        let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE {condition}");
        self.query(&sql, params)?.iter().map(hold_from_row).collect()
    }

    pub(super) fn hold(&mut self, id: &HoldId) -> StoreResult<Option<HoldRecord>> {
        if let Some(hold) = self.written_hold(id) {
            return Ok(Some(hold));
        }
        let prefetched = self.batch.as_ref().and_then(|b| b.prefetched.holds.get(id.as_str()));
        if let Some(hold) = prefetched {
            return Ok(Some(hold.clone()));
        }
        Ok(self.holds_where("id = $1", &[&id.as_str()])?.pop())
    }

    /// The batch changes `id` at once: what it prefetched of it no longer says how it stands.
    fn forget_prefetched_hold(&mut self, id: &HoldId) {
        if let Some(batch) = self.batch.as_deref_mut() {
            batch.prefetched.holds.remove(id.as_str());
        }
    }

    pub(super) fn holds_pending_of(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        let fetch = i64::from(limit) + self.hold_list_margin();
        let stored = self.holds_where(
            "payer_id = $1 AND state = 'pending' ORDER BY created_at, id COLLATE \"C\" LIMIT $2",
            &[&code.as_str(), &fetch],
        )?;
        let fits = |h: &HoldRecord| h.payer_id == *code && h.state == HoldState::Pending;
        Ok(self.overlaid(
            stored,
            fits,
            |a, b| (a.created_at, a.id.as_str()).cmp(&(b.created_at, b.id.as_str())),
            limit,
        ))
    }

    pub(super) fn holds_due(&mut self, now: Timestamp, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        let fetch = i64::from(limit) + self.hold_list_margin();
        let stored = self.holds_where(
            "state = 'pending' AND expires_at <= $1 ORDER BY expires_at, id COLLATE \"C\" LIMIT $2",
            &[&now.0, &fetch],
        )?;
        let fits = |h: &HoldRecord| h.state == HoldState::Pending && h.expires_at <= now;
        Ok(self.overlaid(
            stored,
            fits,
            |a, b| (a.expires_at, a.id.as_str()).cmp(&(b.expires_at, b.id.as_str())),
            limit,
        ))
    }

    /// What is stored, as the batch left it; only a hash nothing stored has can be one the batch
    /// made (so the usual case, paying with a stored authorization, does not walk the writes).
    pub(super) fn hold_by_code_hash(&mut self, code: &CodeHash) -> StoreResult<Option<HoldRecord>> {
        match self.holds_where("code_hash = $1", &[&code.0.as_slice()])?.pop() {
            Some(stored) => Ok(Some(self.written_hold(&stored.id).unwrap_or(stored))),
            None => Ok(self.written_hold_with_code(code)),
        }
    }

    pub(super) fn authorizations(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<HoldRecord>> {
        let fetch = i64::from(limit) + self.hold_list_margin();
        let stored = self.holds_where(
            "payer_id = $1 AND kind = 'authorization' ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $2",
            &[&code.as_str(), &fetch],
        )?;
        let fits = |h: &HoldRecord| h.payer_id == *code && h.kind == HoldKind::Authorization;
        Ok(self.overlaid(
            stored,
            fits,
            |a, b| (b.created_at, b.id.as_str()).cmp(&(a.created_at, a.id.as_str())),
            limit,
        ))
    }

    pub(super) fn alias_target_of(&mut self, hash: &CodeHash) -> StoreResult<Option<CodeId>> {
        let rows = self.query("SELECT code_id FROM aliases WHERE hash = $1", &[&hash.0.as_slice()])?;
        rows.first()
            .map(|row| crate::rows::code_id(&get::<String>(row, 0)?, "alias code"))
            .transpose()
    }

    pub(super) fn alias_of_code(&mut self, code: &CodeId) -> StoreResult<Option<AliasRecord>> {
        let rows = self.query(
            "SELECT hash, public_digits, created_at FROM aliases WHERE code_id = $1",
            &[&code.as_str()],
        )?;
        rows.first()
            .map(|row| crate::rows::alias(code, &get::<Vec<u8>>(row, 0)?, get(row, 1)?, get(row, 2)?))
            .transpose()
    }

    /// An alias whose hash another process took first fails on the primary key and the batch
    /// runs again (then the core sees the collision and the edge draws new digits).
    pub(super) fn write_alias(&mut self, code: &CodeId, alias: Option<&AliasRecord>) -> StoreResult<()> {
        self.execute("DELETE FROM aliases WHERE code_id = $1", &[&code.as_str()])?;
        if let Some(alias) = alias {
            self.execute(
                "INSERT INTO aliases (hash, code_id, public_digits, created_at) VALUES ($1, $2, $3, $4)",
                &[
                    &alias.hash.0.as_slice(),
                    &code.as_str(),
                    &alias.public_digits,
                    &alias.created_at.0,
                ],
            )?;
        }
        Ok(())
    }

    pub(super) fn write_new_hold(&mut self, hold: &HoldRecord, code: Option<&CodeHash>) -> StoreResult<()> {
        self.keep_new_hold(hold, code)
    }

    pub(super) fn write_hold_state(&mut self, hold: &HoldRecord) -> StoreResult<()> {
        self.keep_hold_change(hold)
    }

    /// Adds what a payment took to what is stored, bounded by the amount: two processes that read
    /// the certificate at once cannot both take what is left (the loser's batch runs again).
    /// A certificate the batch wrote is sent first, so that the update finds it as it stands.
    pub(super) fn write_taken(&mut self, hold: &HoldRecord, units: i64, at: Timestamp) -> StoreResult<()> {
        if self.written_hold(&hold.id).is_some() {
            self.send_kept_hold_writes()?;
        }
        self.forget_prefetched_hold(&hold.id);
        let c = HoldColumns::from_record(hold);
        let changed = self.execute(
            "UPDATE holds SET captured = coalesce(captured, 0) + $2, receipt_id = $3, \
             state = CASE WHEN coalesce(captured, 0) + $2 = amount THEN 'captured' ELSE state END, \
             resolved_at = CASE WHEN coalesce(captured, 0) + $2 = amount THEN $4 ELSE resolved_at END \
             WHERE id = $1 AND state = 'pending' AND coalesce(captured, 0) + $2 <= amount",
            &[&c.id, &units, &c.receipt_id, &at.0],
        )?;
        if changed != 1 {
            return Err(self.conflict(format!("certificate {} changed meanwhile", c.id), None, None));
        }
        Ok(())
    }

    fn assurances_where(&mut self, condition: &str, params: &[Param]) -> StoreResult<Vec<AssuranceRecord>> {
        let sql = format!("SELECT {ASSURANCE_COLUMNS} FROM assurances WHERE {condition}");
        self.query(&sql, params)?
            .iter()
            .map(|row| {
                AssuranceColumns {
                    id: get(row, 0)?,
                    code_id: get(row, 1)?,
                    floor: get(row, 2)?,
                    currency: get(row, 3)?,
                    created_at: get(row, 4)?,
                    expires_at: get(row, 5)?,
                    cancelled_at: get(row, 6)?,
                }
                .into_record()
            })
            .collect()
    }

    pub(super) fn assurance_with_hash(&mut self, hash: &CodeHash) -> StoreResult<Option<AssuranceRecord>> {
        Ok(self.assurances_where("hash = $1", &[&hash.0.as_slice()])?.pop())
    }

    pub(super) fn assurance_with_id(&mut self, id: &AssuranceId) -> StoreResult<Option<AssuranceRecord>> {
        Ok(self.assurances_where("id = $1", &[&id.as_str()])?.pop())
    }

    pub(super) fn assurances_made_by(&mut self, code: &CodeId, limit: u32) -> StoreResult<Vec<AssuranceRecord>> {
        self.assurances_where(
            "code_id = $1 ORDER BY created_at DESC, id COLLATE \"C\" DESC LIMIT $2",
            &[&code.as_str(), &i64::from(limit)],
        )
    }

    pub(super) fn write_assurance(&mut self, a: &AssuranceRecord, hash: &CodeHash) -> StoreResult<()> {
        let sql = format!("INSERT INTO assurances ({ASSURANCE_COLUMNS}, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        self.execute(
            &sql,
            &[
                &a.id.as_str(),
                &a.code_id.as_str(),
                &a.floor.units(),
                &a.currency.as_str(),
                &a.created_at.0,
                &a.expires_at.0,
                &a.cancelled_at.map(|t| t.0),
                &hash.0.as_slice(),
            ],
        )?;
        Ok(())
    }

    pub(super) fn write_assurance_cancelled(&mut self, id: &AssuranceId, at: Timestamp) -> StoreResult<()> {
        self.execute(
            "UPDATE assurances SET cancelled_at = $2 WHERE id = $1 AND cancelled_at IS NULL",
            &[&id.as_str(), &at.0],
        )?;
        Ok(())
    }

    pub(super) fn refunds(&mut self, receipt_id: &str) -> StoreResult<Vec<RefundRecord>> {
        let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE receipt_id = $1 ORDER BY seq");
        self.query(&sql, &[&receipt_id])?
            .iter()
            .map(|row| {
                RefundColumns {
                    id: get(row, 0)?,
                    receipt_id: get(row, 1)?,
                    seq: get(row, 2)?,
                    amount: get(row, 3)?,
                    currency: get(row, 4)?,
                    reason: get(row, 5)?,
                    credited: get(row, 6)?,
                    created_at: get(row, 7)?,
                }
                .into_record()
            })
            .collect()
    }

    /// A refund numbered `seq` that another process wrote first fails on the unique (receipt, seq)
    /// and the batch runs again, seeing it.
    pub(super) fn write_refund(&mut self, refund: &RefundRecord) -> StoreResult<()> {
        let c = RefundColumns::from_record(refund);
        let sql = format!("INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        self.execute(
            &sql,
            &[
                &c.id,
                &c.receipt_id,
                &c.seq,
                &c.amount,
                &c.currency,
                &c.reason,
                &c.credited,
                &c.created_at,
            ],
        )?;
        Ok(())
    }

    /// Held changes are kept with the batch's balance changes and applied with them, under the
    /// same locks and bound checks ([`PgLedger::apply`]): a hold or a capture sends no statement
    /// of its own for its account. Outside a batch (never, today) the change is written at once.
    pub(super) fn change_held(&mut self, key: &AccountKey, delta_units: i64) -> StoreResult<()> {
        let stored = key.to_stored();
        if let Some(batch) = self.batch.as_deref_mut() {
            *batch.command.held_deltas.entry(stored).or_insert(0) += delta_units;
            return Ok(());
        }
        let changed = self.execute(
            "UPDATE accounts SET held = held + $2 WHERE key = $1 AND held + $2 >= 0 AND held + $2 <= balance",
            &[&stored, &delta_units],
        )?;
        if changed != 1 {
            return Err(StorageFailure(format!("what {stored} holds would leave its bounds")));
        }
        Ok(())
    }
}

//! A batch's writes of hold rows, kept in its state and sent in two statements before COMMIT, as
//! its transfers are: a hold or a capture then costs the batch no statement of its own.
//!
//! Until they are sent, the batch's reads of holds see them: a read by id takes the written
//! record; a list (a code's pending holds, the holds due, an authorization's hash) reads what is
//! stored (that many rows more than asked, one per write, so none is missing after the writes
//! replace theirs), drops the rows the batch wrote, adds the written ones that fit, and sorts and
//! cuts it again.
//!
//! A change names what it read, as the immediate update did: the stored row must still be pending
//! with the `release_to` the batch first saw. If another process resolved it meanwhile, the batch's
//! update changes fewer rows than it sends, which is a conflict: the batch runs again and reads
//! the hold as that process left it.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use smartcode_core::code::{CodeHash, HoldId};
use smartcode_core::error::StoreResult;
use smartcode_core::model::{HoldRecord, HoldState};

use super::{BatchState, PgLedger};
use crate::rows::HoldColumns;

/// A hold the batch wrote and has not yet sent.
#[derive(Clone)]
pub(super) enum HoldWrite {
    /// Made by the batch, with an authorization code's keyed hash.
    New { hold: HoldRecord, code: Option<[u8; 32]> },
    /// A stored pending hold changed; `release_to_read` is what its row said before the batch
    /// first changed it.
    Changed {
        hold: HoldRecord,
        release_to_read: Option<String>,
    },
}

impl HoldWrite {
    fn hold(&self) -> &HoldRecord {
        match self {
            HoldWrite::New { hold, .. } | HoldWrite::Changed { hold, .. } => hold,
        }
    }

    /// The same write, of `hold` as it now stands.
    fn with(&self, hold: &HoldRecord) -> HoldWrite {
        match self {
            HoldWrite::New { code, .. } => HoldWrite::New {
                hold: hold.clone(),
                code: *code,
            },
            HoldWrite::Changed { release_to_read, .. } => HoldWrite::Changed {
                hold: hold.clone(),
                release_to_read: release_to_read.clone(),
            },
        }
    }
}

/// Hold writes by id: the batch's (kept commands) or the running command's.
pub(super) type HoldWrites = BTreeMap<String, HoldWrite>;

impl BatchState {
    /// The running command's write of `id`, else the batch's.
    fn hold_write(&self, id: &str) -> Option<&HoldWrite> {
        self.command.holds.get(id).or_else(|| self.holds.get(id))
    }

    /// Every written hold as it now stands (the running command's over the batch's).
    fn written_holds(&self) -> impl Iterator<Item = &HoldWrite> {
        let shadowed = |id: &String| self.command.holds.contains_key(id);
        self.command
            .holds
            .values()
            .chain(self.holds.iter().filter(move |(id, _)| !shadowed(id)).map(|(_, w)| w))
    }

    fn hold_writes_count(&self) -> usize {
        self.command.holds.len() + self.holds.len()
    }
}

impl PgLedger<'_> {
    /// The batch's own record of `id`, if it wrote it.
    pub(super) fn written_hold(&self, id: &HoldId) -> Option<HoldRecord> {
        Some(self.batch.as_ref()?.hold_write(id.as_str())?.hold().clone())
    }

    /// How many more rows a list must read so that the batch's writes cannot leave it short.
    pub(super) fn hold_list_margin(&self) -> i64 {
        self.batch.as_ref().map_or(0, |b| b.hold_writes_count() as i64)
    }

    /// `stored` (sorted by `order`, at least `limit` + [`Self::hold_list_margin`] rows if there
    /// are that many) as the batch's writes leave it: without the rows the batch wrote, with the
    /// written holds that `fits` keeps, sorted and cut to `limit` again.
    pub(super) fn overlaid(
        &self,
        stored: Vec<HoldRecord>,
        fits: impl Fn(&HoldRecord) -> bool,
        order: impl Fn(&HoldRecord, &HoldRecord) -> Ordering,
        limit: u32,
    ) -> Vec<HoldRecord> {
        let Some(batch) = self.batch.as_deref().filter(|b| b.hold_writes_count() > 0) else {
            return stored;
        };
        let mut holds: Vec<HoldRecord> = stored
            .into_iter()
            .filter(|hold| batch.hold_write(hold.id.as_str()).is_none())
            .collect();
        holds.extend(batch.written_holds().map(HoldWrite::hold).filter(|h| fits(h)).cloned());
        holds.sort_by(order);
        holds.truncate(limit as usize);
        holds
    }

    /// A hold the batch made with the authorization code `hash`, not yet sent.
    pub(super) fn written_hold_with_code(&self, hash: &CodeHash) -> Option<HoldRecord> {
        let batch = self.batch.as_deref()?;
        batch.written_holds().find_map(|write| match write {
            HoldWrite::New { hold, code: Some(code) } if *code == hash.0 => Some(hold.clone()),
            _ => None,
        })
    }

    /// Keeps the new `hold` for the batch to send (outside a batch, sends it now).
    pub(super) fn keep_new_hold(&mut self, hold: &HoldRecord, code: Option<&CodeHash>) -> StoreResult<()> {
        let write = HoldWrite::New {
            hold: hold.clone(),
            code: code.map(|c| c.0),
        };
        self.keep_hold_write(hold, write)
    }

    /// Keeps the change of `hold` for the batch to send. The first change of a stored hold names
    /// what it read: every change starts from a pending hold, and only a close sets `release_to`
    /// (from none), so a change that leaves it pending read none, and any other read the
    /// `release_to` it keeps.
    pub(super) fn keep_hold_change(&mut self, hold: &HoldRecord) -> StoreResult<()> {
        let earlier = self
            .batch
            .as_ref()
            .and_then(|b| b.hold_write(hold.id.as_str()).cloned());
        let write = match earlier {
            Some(earlier) => earlier.with(hold),
            None => HoldWrite::Changed {
                hold: hold.clone(),
                release_to_read: match hold.state {
                    HoldState::Pending => None,
                    _ => hold.release_to.as_ref().map(|c| c.as_str().to_owned()),
                },
            },
        };
        self.keep_hold_write(hold, write)
    }

    fn keep_hold_write(&mut self, hold: &HoldRecord, write: HoldWrite) -> StoreResult<()> {
        match self.batch.as_deref_mut() {
            Some(batch) if batch.command.running => {
                batch.prefetched.holds.remove(hold.id.as_str());
                batch.command.holds.insert(hold.id.as_str().to_owned(), write);
                Ok(())
            }
            _ => self.send_hold_writes(HoldWrites::from([(hold.id.as_str().to_owned(), write)])),
        }
    }

    /// Sends now every hold write the batch keeps (the running command's too): before a statement
    /// that must find them stored. Like [`Self::read_transfers`], inside the running command's
    /// savepoint, so refusing that command then means running the batch again.
    pub(super) fn send_kept_hold_writes(&mut self) -> StoreResult<()> {
        let Some(batch) = self.batch.as_deref_mut().filter(|b| b.hold_writes_count() > 0) else {
            return Ok(());
        };
        batch.command.wrote_batch_writes |= !batch.holds.is_empty();
        let mut writes = std::mem::take(&mut batch.holds);
        writes.append(&mut batch.command.holds);
        self.send_hold_writes(writes)
    }

    /// Inserts the new holds in one statement and changes the stored ones in another, in id order.
    pub(super) fn send_hold_writes(&mut self, writes: HoldWrites) -> StoreResult<()> {
        let (mut new, mut changed) = (Vec::new(), Vec::new());
        for write in writes.into_values() {
            match write {
                HoldWrite::New { hold, code } => new.push((HoldColumns::from_record(&hold), code.map(Vec::from))),
                HoldWrite::Changed { hold, release_to_read } => {
                    changed.push((HoldColumns::from_record(&hold), release_to_read))
                }
            }
        }
        if !new.is_empty() {
            self.insert_holds(&new)?;
        }
        if !changed.is_empty() {
            self.update_holds(&changed)?;
        }
        Ok(())
    }

    fn insert_holds(&mut self, holds: &[(HoldColumns, Option<Vec<u8>>)]) -> StoreResult<()> {
        let column =
            |f: fn(&HoldColumns) -> Option<&str>| -> Vec<Option<&str>> { holds.iter().map(|(c, _)| f(c)).collect() };
        let number =
            |f: fn(&HoldColumns) -> Option<i64>| -> Vec<Option<i64>> { holds.iter().map(|(c, _)| f(c)).collect() };
        let codes: Vec<Option<&[u8]>> = holds.iter().map(|(_, code)| code.as_deref()).collect();
        self.execute(
            "INSERT INTO holds (id, payer_id, owner_id, payee, payee_id, amount, currency, memo, category, item, \
                                created_at, expires_at, state, resolved_at, captured, receipt_id, release_to, kind, \
                                assurance_id, code_hash) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], \
                                  $8::text[], $9::text[], $10::text[], $11::bigint[], $12::bigint[], $13::text[], \
                                  $14::bigint[], $15::bigint[], $16::text[], $17::text[], $18::text[], $19::text[], \
                                  $20::bytea[])",
            &[
                &column(|c| Some(c.id.as_str())),
                &column(|c| Some(c.payer_id.as_str())),
                &column(|c| c.owner_id.as_deref()),
                &column(|c| c.payee.as_deref()),
                &column(|c| c.payee_id.as_deref()),
                &number(|c| Some(c.amount)),
                &column(|c| Some(c.currency.as_str())),
                &column(|c| c.memo.as_deref()),
                &column(|c| c.category.as_deref()),
                &column(|c| c.item.as_deref()),
                &number(|c| Some(c.created_at)),
                &number(|c| Some(c.expires_at)),
                &column(|c| Some(c.state.as_str())),
                &number(|c| c.resolved_at),
                &number(|c| c.captured),
                &column(|c| c.receipt_id.as_deref()),
                &column(|c| c.release_to.as_deref()),
                &column(|c| Some(c.kind.as_str())),
                &column(|c| c.assurance_id.as_deref()),
                &codes,
            ],
        )?;
        Ok(())
    }

    fn update_holds(&mut self, holds: &[(HoldColumns, Option<String>)]) -> StoreResult<()> {
        let column =
            |f: fn(&HoldColumns) -> Option<&str>| -> Vec<Option<&str>> { holds.iter().map(|(c, _)| f(c)).collect() };
        let number =
            |f: fn(&HoldColumns) -> Option<i64>| -> Vec<Option<i64>> { holds.iter().map(|(c, _)| f(c)).collect() };
        let read: Vec<Option<&str>> = holds.iter().map(|(_, read)| read.as_deref()).collect();
        let changed = self.execute(
            "UPDATE holds h SET state = d.state, resolved_at = d.resolved_at, captured = d.captured, \
                                receipt_id = d.receipt_id, release_to = d.release_to, owner_id = d.owner_id, \
                                payee = d.payee, payee_id = d.payee_id \
             FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], \
                         $8::text[], $9::text[], $10::text[]) \
                  AS d(id, state, resolved_at, captured, receipt_id, release_to, release_read, owner_id, payee, payee_id) \
             WHERE h.id = d.id AND h.state = 'pending' AND h.release_to IS NOT DISTINCT FROM d.release_read",
            &[
                &column(|c| Some(c.id.as_str())),
                &column(|c| Some(c.state.as_str())),
                &number(|c| c.resolved_at),
                &number(|c| c.captured),
                &column(|c| c.receipt_id.as_deref()),
                &column(|c| c.release_to.as_deref()),
                &read,
                &column(|c| c.owner_id.as_deref()),
                &column(|c| c.payee.as_deref()),
                &column(|c| c.payee_id.as_deref()),
            ],
        )?;
        if changed != holds.len() as u64 {
            let reason = format!(
                "{} of {} holds changed meanwhile",
                holds.len() as u64 - changed,
                holds.len()
            );
            return Err(self.conflict(reason, None, None));
        }
        Ok(())
    }
}

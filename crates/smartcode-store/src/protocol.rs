//! What both stores do with a write, written once over the core and an [`IdempotencyRecords`]
//! each store implements with its own SQL: [`run_request`] (look the idempotency key up, refuse
//! another request under it or replay the first one's response, else run the command, render its
//! response and remember it; or, for a write that only replays, look it up without claiming it) and [`sweep`] (expire the codes that are due, and now and then forget
//! old idempotency keys).
//!
//! Both run inside the store's batch transaction, in the command's savepoint: a refused command
//! leaves no key behind, and the key is remembered in the same commit as what the command did.

use smartcode_core::clock::{Timestamp, MICROS_PER_SECOND};
use smartcode_core::error::{OpError, StoreResult};
use smartcode_core::ledger::{self, expiry, holds, quotes, Context, LedgerTx, Outcome, Seed};
use smartcode_core::limits::{HOLD_SWEEP_BATCH_MAX, IDEMPOTENCY_KEY_KEPT_SECONDS, SWEEP_CODES_MAX};

use crate::{StoredResponse, WriteRequest, Written};

/// What an idempotency key's first request left: its fingerprint and its response.
pub struct Remembered {
    pub fingerprint: Vec<u8>,
    pub response: StoredResponse,
}

/// A store's table of idempotency keys, inside the transaction of the running command.
pub trait IdempotencyRecords {
    /// What the first request under `key_hash` left, or `None` if the key is new: then it is the
    /// running command's, and [`IdempotencyRecords::remember`] follows if the command succeeds.
    /// A store shared by several processes claims the key here, in the batch's transaction, so
    /// that the same key presented to two processes at once runs once.
    fn claim(&mut self, key_hash: &[u8; 32], fingerprint: &[u8; 32], now: Timestamp)
        -> StoreResult<Option<Remembered>>;
    /// What the first request under `key_hash` left, if it answered (a pure read: the key is not
    /// claimed).
    fn recall(&mut self, key_hash: &[u8; 32], now: Timestamp) -> StoreResult<Option<Remembered>>;
    /// Keeps the response of the command that claimed `key_hash`.
    fn remember(
        &mut self,
        key_hash: &[u8; 32],
        fingerprint: &[u8; 32],
        response: &StoredResponse,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Forgets every key first used before `cutoff`.
    fn forget_before(&mut self, cutoff: Timestamp) -> StoreResult<()>;
}

/// Runs one write request: its command with its seed, under its idempotency key if it has one.
pub fn run_request<L>(ledger: &mut L, now: Timestamp, request: &WriteRequest) -> Result<Written, OpError>
where
    L: LedgerTx + IdempotencyRecords,
{
    let mut cx = Context::new(now, request.seed);
    let Some(idempotency) = &request.idempotency else {
        return ledger::execute(ledger, &mut cx, &request.command).map(Written::Done);
    };
    let earlier = match &idempotency.render {
        Some(_) => ledger.claim(&idempotency.key_hash, &idempotency.fingerprint, now)?,
        None => ledger.recall(&idempotency.key_hash, now)?,
    };
    if let Some(earlier) = earlier {
        if earlier.fingerprint != idempotency.fingerprint {
            return Err(OpError::IdempotencyConflict);
        }
        return Ok(Written::Replayed(earlier.response));
    }
    let outcome = ledger::execute(ledger, &mut cx, &request.command)?;
    if let Some(render) = &idempotency.render {
        let response = render(&outcome);
        ledger.remember(&idempotency.key_hash, &idempotency.fingerprint, &response, now)?;
    }
    Ok(Written::Done(outcome))
}

/// One step of the sweep. Each is a job of its own, in a savepoint of its own, so a step that
/// fails (and will run again) never stops the others nor undoes what they did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepStep {
    /// Reverts up to [`SWEEP_CODES_MAX`] codes whose expiry is due.
    ExpireCodes,
    /// Records up to [`HOLD_SWEEP_BATCH_MAX`] expired holds as voided (their value is available
    /// already).
    RecordExpiredHolds,
    /// If the writer says it is time, forgets the quotes that expired unused as long ago as the
    /// idempotency keys that may replay them (anyone may ask for quotes; used ones are kept).
    ForgetUnusedQuotes,
    /// If the writer says it is time, forgets the idempotency keys older than
    /// [`IDEMPOTENCY_KEY_KEPT_SECONDS`]. The last step: a sweep counts as done when it has run.
    ForgetOldKeys,
}

impl SweepStep {
    pub const ALL: [SweepStep; 4] = [
        SweepStep::ExpireCodes,
        SweepStep::RecordExpiredHolds,
        SweepStep::ForgetUnusedQuotes,
        SweepStep::ForgetOldKeys,
    ];
}

/// Runs one step of the sweep (`purge`: whether forgetting old keys is due).
pub fn sweep<L>(ledger: &mut L, now: Timestamp, step: SweepStep, purge: bool) -> Result<(), OpError>
where
    L: LedgerTx + IdempotencyRecords,
{
    match step {
        SweepStep::ExpireCodes => {
            let expire = expiry::Command::ExpireDue { limit: SWEEP_CODES_MAX }.into();
            let swept = ledger::execute(ledger, &mut Context::new(now, Seed::random()), &expire)?;
            if let Outcome::Expiry(expiry::Outcome::Swept { codes }) = swept {
                if codes > 0 {
                    tracing::info!(codes.expired = codes, "expired codes reverted to their parents");
                }
            }
        }
        SweepStep::RecordExpiredHolds => {
            let release = holds::Command::ExpireDue {
                limit: HOLD_SWEEP_BATCH_MAX,
            }
            .into();
            let released = ledger::execute(ledger, &mut Context::new(now, Seed::random()), &release)?;
            if let Outcome::Holds(holds::Outcome::Swept { holds }) = released {
                if holds > 0 {
                    tracing::info!(holds.expired = holds, "expired holds recorded as voided");
                }
            }
        }
        SweepStep::ForgetUnusedQuotes if purge => {
            let cutoff = Timestamp(now.0 - IDEMPOTENCY_KEY_KEPT_SECONDS * MICROS_PER_SECOND);
            let forget = quotes::Command::ForgetUnused { expired_before: cutoff }.into();
            ledger::execute(ledger, &mut Context::new(now, Seed::random()), &forget)?;
        }
        SweepStep::ForgetUnusedQuotes => {}
        SweepStep::ForgetOldKeys if purge => {
            let cutoff = Timestamp(now.0 - IDEMPOTENCY_KEY_KEPT_SECONDS * MICROS_PER_SECOND);
            ledger.forget_before(cutoff)?;
        }
        SweepStep::ForgetOldKeys => {}
    }
    Ok(())
}

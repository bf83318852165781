//! Where a broker keeps its codes and ledger: the [`Store`] trait that the HTTP layer talks to,
//! [`embedded::EmbeddedStore`], the default store on SQLite, and [`postgres::PostgresStore`], for
//! several broker processes sharing one PostgreSQL database.
//!
//! Routes never see SQL. They hand a [`WriteRequest`] or a [`Query`] to the store and await the
//! answer; the store runs the core's rules ([`smartcode_core::ledger`]) inside its own transactions.
//! Writes go to a single writer that commits many of them at once (group commit): each request is
//! acknowledged only after the commit holding it is on disk.

mod approval_rows;
mod cache;
mod charge_rows;
pub mod counters;
pub mod embedded;
mod item_rows;
mod jobs;
mod license_rows;
pub mod postgres;
mod protocol;
mod rows;
mod schema;
mod session_rows;
mod spending_rows;
mod sqlite;
#[doc(hidden)]
pub mod testing;
mod webhook_rows;

use smartcode_core::error::OpError;
use smartcode_core::ledger::{Command, Outcome, Query, QueryOutcome, Seed};
use tokio::sync::oneshot;

/// An answer that will arrive when the store has committed (or refused) the request.
pub type Pending<T> = oneshot::Receiver<Result<T, OpError>>;

/// One write: a command, the seed of every id it makes, and if the caller sent an
/// `Idempotency-Key`, what to remember of it. A store runs the command with this seed however many
/// times it runs the batch, so a command makes the same ids each time.
pub struct WriteRequest {
    pub command: Command,
    pub seed: Seed,
    pub idempotency: Option<Idempotency>,
}

impl WriteRequest {
    /// A request for `command` with a fresh seed and no idempotency key.
    pub fn new(command: impl Into<Command>) -> WriteRequest {
        WriteRequest {
            command: command.into(),
            seed: Seed::random(),
            idempotency: None,
        }
    }

    pub fn with_idempotency(mut self, idempotency: Option<Idempotency>) -> WriteRequest {
        self.idempotency = idempotency;
        self
    }
}

/// The idempotency of one write. `key_hash` already binds the key to the caller's credential;
/// `fingerprint` binds it to the request (method, path, body). `render` turns a fresh outcome into
/// the exact response to replay later; it runs inside the same commit as the command, and again
/// each time a store runs the command again (the PostgreSQL store does when its batch lost a race).
/// Without `render` the write only replays: a key answered before gets its answer (and the command
/// does not run), a new key is neither claimed nor remembered (a later write under it remembers
/// its answer: the first step of a payment across brokers, so a retry is answered before anything
/// is sent to the peer).
pub struct Idempotency {
    pub key_hash: [u8; 32],
    pub fingerprint: [u8; 32],
    pub render: Option<Render>,
}

/// Turns a fresh outcome into the response remembered for replays ([`Idempotency::render`]).
pub type Render = Box<dyn Fn(&Outcome) -> StoredResponse + Send>;

/// A response as it was first sent, kept for replays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub enum Written {
    /// The command ran now.
    Done(Outcome),
    /// The same request ran before; this is its first response.
    Replayed(StoredResponse),
}

/// A broker's store. Both methods return at once; the answer arrives on the returned channel.
pub trait Store: Send + Sync + 'static {
    fn write(&self, request: WriteRequest) -> Pending<Written>;
    fn read(&self, query: Query) -> Pending<QueryOutcome>;
    /// Which store this is, for logs and metadata (`"embedded"`, `"postgres"`).
    fn kind(&self) -> &'static str;
    /// Where the guessing defence keeps its counters: this process's memory, or the database
    /// that several processes share.
    fn guard_counters(&self) -> std::sync::Arc<dyn counters::GuardCounters>;
    /// Counters of the write path since the store opened, for `/metrics` and `smartcode bench`.
    fn stats(&self) -> StoreStats {
        StoreStats::default()
    }
}

/// Upper bounds of the batch-size histogram's buckets, in commands per commit.
pub const BATCH_SIZE_BUCKETS: [u64; 13] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

/// How the writer has been committing: how often, and how many commands each commit carried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Commits (each one fsync on the embedded store).
    pub commits: u64,
    /// Commands committed (refused ones included: they were answered by that commit).
    pub commands: u64,
    /// Commits by batch size: `batches[i]` counts commits of at most `BATCH_SIZE_BUCKETS[i]` commands.
    pub batches: [u64; BATCH_SIZE_BUCKETS.len()],
    /// Expiry sweeps committed, whether or not they found a code to expire.
    pub sweeps: u64,
}

impl StoreStats {
    /// What happened between `earlier` and these counters.
    pub fn since(&self, earlier: &StoreStats) -> StoreStats {
        let mut batches = self.batches;
        for (now, before) in batches.iter_mut().zip(earlier.batches) {
            *now = now.saturating_sub(before);
        }
        StoreStats {
            commits: self.commits.saturating_sub(earlier.commits),
            commands: self.commands.saturating_sub(earlier.commands),
            batches,
            sweeps: self.sweeps.saturating_sub(earlier.sweeps),
        }
    }

    /// Commands per commit: the group commit's efficiency.
    pub fn commands_per_commit(&self) -> Option<f64> {
        (self.commits > 0).then(|| self.commands as f64 / self.commits as f64)
    }
}

/// The counters a writer thread updates and a store reads for [`Store::stats`].
#[derive(Default)]
pub struct StatCounters {
    commits: std::sync::atomic::AtomicU64,
    commands: std::sync::atomic::AtomicU64,
    batches: [std::sync::atomic::AtomicU64; BATCH_SIZE_BUCKETS.len()],
    sweeps: std::sync::atomic::AtomicU64,
}

impl StatCounters {
    /// Counts one commit of `commands` commands.
    pub fn committed(&self, commands: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let commands = commands as u64;
        self.commits.fetch_add(1, Relaxed);
        self.commands.fetch_add(commands, Relaxed);
        let bucket = BATCH_SIZE_BUCKETS
            .iter()
            .position(|bound| commands <= *bound)
            .unwrap_or(BATCH_SIZE_BUCKETS.len() - 1);
        self.batches[bucket].fetch_add(1, Relaxed);
    }

    /// Counts `sweeps` expiry sweeps whose commit is on disk.
    pub fn swept(&self, sweeps: usize) {
        self.sweeps
            .fetch_add(sweeps as u64, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StoreStats {
        use std::sync::atomic::Ordering::Relaxed;
        StoreStats {
            commits: self.commits.load(Relaxed),
            commands: self.commands.load(Relaxed),
            batches: std::array::from_fn(|i| self.batches[i].load(Relaxed)),
            sweeps: self.sweeps.load(Relaxed),
        }
    }
}

/// Awaits a pending answer; a store that went away mid-request is a storage failure.
pub async fn answer<T>(pending: Pending<T>) -> Result<T, OpError> {
    pending.await.unwrap_or_else(|_| {
        Err(OpError::Storage(smartcode_core::error::StorageFailure(
            "the store stopped before answering".into(),
        )))
    })
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;

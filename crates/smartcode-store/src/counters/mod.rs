//! Where the guessing defence keeps its counters: [`GuardCounters`], kept in this process's memory
//! for the embedded store ([`MemoryCounters`]) and in the database for PostgreSQL, so that several
//! broker processes share one set of budgets (N processes do not allow N times the guesses).
//!
//! A counter is a level (in thousandths of a try) and the instant it was set; what the level
//! means and how it refills or drains over time is the defence's business, not the store's. The
//! store only promises that [`GuardCounters::update`] is atomic: the counters it is given are read
//! and written as one step, whoever else updates them at the same time.

mod memory;

pub use memory::MemoryCounters;

use smartcode_core::clock::Timestamp;

use crate::Pending;

/// A counter as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredCounter {
    /// In thousandths of a try.
    pub level: i64,
    pub at: Timestamp,
}

/// What an update makes of each counter, given its index among the keys and its stored value:
/// `None` removes it.
pub type CounterUpdate = Box<dyn Fn(usize, Option<StoredCounter>) -> Option<StoredCounter> + Send>;

pub trait GuardCounters: Send + Sync {
    /// The stored value of each key, in the order given.
    fn load(&self, keys: Vec<String>) -> Pending<Vec<Option<StoredCounter>>>;
    /// Replaces each key's value with what `update` makes of it, atomically across the keys;
    /// answers with the new values.
    fn update(&self, keys: Vec<String>, update: CounterUpdate) -> Pending<Vec<Option<StoredCounter>>>;
    /// The counters whose key begins with `prefix`, at most `limit`, lowest level first.
    fn list(&self, prefix: String, limit: usize) -> Pending<Vec<(String, StoredCounter)>>;
    /// Marks a challenge `id` as used until `expires_at`: `false` if it was used already.
    fn redeem(&self, id: String, expires_at: Timestamp, now: Timestamp) -> Pending<bool>;
}

/// An answer that is already known, as a [`Pending`].
pub(crate) fn ready<T>(value: T) -> Pending<T> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let _ = sender.send(Ok(value));
    receiver
}

#[cfg(test)]
mod tests;

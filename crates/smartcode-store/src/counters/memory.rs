//! The guessing defence's counters in this process's memory: the embedded store's, for a broker
//! that is one process. Bounded: beyond [`GUARD_COUNTERS_MAX`] counters, those untouched for a day
//! (a budget that has refilled by then) go first, then the longest untouched.

use std::collections::HashMap;
use std::sync::Mutex;

use smartcode_core::clock::{Timestamp, MICROS_PER_SECOND};
pub use smartcode_core::limits::{CHALLENGES_REDEEMED_MAX, GUARD_COUNTERS_MAX, GUESS_WINDOW_SECONDS};

use super::{ready, CounterUpdate, GuardCounters, StoredCounter};
use crate::Pending;

#[derive(Default)]
pub struct MemoryCounters {
    counters: Mutex<HashMap<String, StoredCounter>>,
    redeemed: Mutex<HashMap<String, Timestamp>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic elsewhere while holding the lock leaves counters that are still usable.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl MemoryCounters {
    fn make_room(counters: &mut HashMap<String, StoredCounter>, now: Timestamp) {
        if counters.len() < GUARD_COUNTERS_MAX {
            return;
        }
        let day_ago = Timestamp(now.0 - GUESS_WINDOW_SECONDS * MICROS_PER_SECOND);
        counters.retain(|_, counter| counter.at >= day_ago);
        if counters.len() >= GUARD_COUNTERS_MAX {
            let oldest = counters.iter().min_by_key(|(_, c)| c.at).map(|(key, _)| key.clone());
            if let Some(key) = oldest {
                counters.remove(&key);
            }
        }
    }
}

impl GuardCounters for MemoryCounters {
    fn load(&self, keys: Vec<String>) -> Pending<Vec<Option<StoredCounter>>> {
        let counters = lock(&self.counters);
        ready(keys.iter().map(|key| counters.get(key).copied()).collect())
    }

    fn update(&self, keys: Vec<String>, update: CounterUpdate) -> Pending<Vec<Option<StoredCounter>>> {
        let mut counters = lock(&self.counters);
        let mut after = Vec::with_capacity(keys.len());
        for (index, key) in keys.into_iter().enumerate() {
            let value = update(index, counters.get(&key).copied());
            match value {
                Some(value) => {
                    if !counters.contains_key(&key) {
                        Self::make_room(&mut counters, value.at);
                    }
                    counters.insert(key, value);
                }
                None => {
                    counters.remove(&key);
                }
            }
            after.push(value);
        }
        ready(after)
    }

    fn list(&self, prefix: String, limit: usize) -> Pending<Vec<(String, StoredCounter)>> {
        let counters = lock(&self.counters);
        let mut found: Vec<(String, StoredCounter)> = counters
            .iter()
            .filter(|(key, _)| key.starts_with(&prefix))
            .map(|(key, counter)| (key.clone(), *counter))
            .collect();
        found.sort_by(|a, b| a.1.level.cmp(&b.1.level).then_with(|| a.0.cmp(&b.0)));
        found.truncate(limit);
        ready(found)
    }

    fn redeem(&self, id: String, expires_at: Timestamp, now: Timestamp) -> Pending<bool> {
        let mut redeemed = lock(&self.redeemed);
        if redeemed.contains_key(&id) {
            return ready(false);
        }
        if redeemed.len() >= CHALLENGES_REDEEMED_MAX {
            redeemed.retain(|_, until| *until >= now);
        }
        // Full of unexpired challenges: refuse rather than forget one that was used.
        if redeemed.len() >= CHALLENGES_REDEEMED_MAX {
            return ready(false);
        }
        redeemed.insert(id, expires_at);
        ready(true)
    }
}

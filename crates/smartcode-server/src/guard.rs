//! The guessing defence. With no user names, a guess is tried against every live code at once, so
//! a per-code lockout cannot help; instead every failed presentation (unknown, cancelled or
//! malformed code, wrong PIN) is counted per source and across all sources.
//!
//! - A source (an IPv4 address, an IPv6 /64) is slowed after [`SOURCE_FAILURES_SLOW_AFTER`]
//!   failures in a day and refused (429) at [`SOURCE_FAILURES_MAX`].
//! - When the failures of all sources in a day reach [`ALARM_FAILURES_PER_DAY`], an alarm is
//!   raised (log, `/v1/admin/security`, `/metrics`). While it lasts, sources that have not
//!   presented a valid code in the last day ("unproven") are refused before their code is even
//!   checked, and proven sources are held to [`PROVEN_FAILURES_MAX_UNDER_ALARM`]. So unproven
//!   sources together can never cause more than about `ALARM_FAILURES_PER_DAY` failures a day.
//!
//! The counters live in this process's memory and use the broker's clock.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use smartcode_core::clock::{Clock, Timestamp, MICROS_PER_SECOND};

pub use smartcode_core::limits::{
    ALARMS_KEPT_MAX, ALARM_FAILURES_PER_DAY, GUESS_WINDOW_SECONDS, PROVEN_FAILURES_MAX_UNDER_ALARM, SLOWDOWN_MAX_MS,
    SLOWDOWN_PER_FAILURE_MS, SOURCES_TRACKED_MAX, SOURCE_FAILURES_MAX, SOURCE_FAILURES_SLOW_AFTER,
};

/// Where a presentation comes from: an IPv4 address, or the /64 of an IPv6 address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    pub fn of(address: IpAddr) -> Source {
        match address {
            IpAddr::V4(v4) => Source(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let segments = v6.segments();
                    let prefix = [segments[0], segments[1], segments[2], segments[3], 0, 0, 0, 0];
                    Source(IpAddr::V6(prefix.into()))
                }
            },
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[derive(Default)]
struct SourceRecord {
    failures: VecDeque<Timestamp>,
    last_success: Option<Timestamp>,
}

#[derive(Clone, Debug)]
pub struct Alarm {
    pub raised_at: Timestamp,
    pub cleared_at: Option<Timestamp>,
    pub reason: String,
}

#[derive(Default)]
struct GuardState {
    sources: HashMap<Source, SourceRecord>,
    /// Every failure in the window, across sources (bounded: beyond the alarm level only the count matters).
    recent: VecDeque<Timestamp>,
    alarms: VecDeque<Alarm>,
}

/// A refusal before the code is checked: try again after this many seconds.
#[derive(Debug, Clone, Copy)]
pub struct RetryAfter(pub u64);

pub struct GuessGuard {
    clock: Arc<dyn Clock>,
    state: Mutex<GuardState>,
    failures_total: AtomicU64,
    refusals_total: AtomicU64,
}

/// What the operator sees.
pub struct GuardReport {
    pub failures_total: u64,
    pub refusals_total: u64,
    pub failures_in_window: usize,
    pub alarm_active: bool,
    pub alarms: Vec<Alarm>,
    pub sources_tracked: usize,
    pub busiest_sources: Vec<(String, usize)>,
}

fn window_start(now: Timestamp) -> Timestamp {
    Timestamp(now.0 - GUESS_WINDOW_SECONDS * MICROS_PER_SECOND)
}

impl GuessGuard {
    pub fn new(clock: Arc<dyn Clock>) -> GuessGuard {
        GuessGuard {
            clock,
            state: Mutex::default(),
            failures_total: AtomicU64::new(0),
            refusals_total: AtomicU64::new(0),
        }
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, GuardState> {
        // A panic elsewhere while holding the lock leaves counters that are still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Whether `source` may present a code now.
    pub fn admit(&self, source: Source) -> Result<(), RetryAfter> {
        let now = self.clock.now();
        let mut state = self.locked();
        prune_global(&mut state, now);
        let alarm = alarm_active(&state);
        // When the alarm clears if no failure is added: its failures no longer reach the level.
        let alarm_clears = lapses(&state.recent, ALARM_FAILURES_PER_DAY);
        let Some(record) = state.sources.get_mut(&source) else {
            return match alarm_clears {
                Some(at) if alarm => self.refuse(now, at),
                _ => Ok(()),
            };
        };
        prune(record, now);
        let proven_until = record
            .last_success
            .map(|at| Timestamp(at.0 + GUESS_WINDOW_SECONDS * MICROS_PER_SECOND));
        let proven = proven_until.is_some_and(|until| until >= now);
        let allowed = match (alarm, proven) {
            (false, _) => SOURCE_FAILURES_MAX,
            (true, true) => PROVEN_FAILURES_MAX_UNDER_ALARM,
            (true, false) => 0,
        };
        if record.failures.len() < allowed {
            return Ok(());
        }
        // The first instant the source is admitted again if nothing else happens: its failures
        // lapse below the limit, or (under alarm) the alarm clears and they are below the usual one.
        let below_limit = lapses(&record.failures, SOURCE_FAILURES_MAX);
        let after_alarm = match (alarm_clears, below_limit) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b).unwrap_or(now),
        };
        let admitted_at = match (alarm, proven) {
            (false, _) => below_limit.unwrap_or(now),
            (true, true) => match lapses(&record.failures, PROVEN_FAILURES_MAX_UNDER_ALARM) {
                Some(at) if proven_until.is_some_and(|until| at <= until) => at.min(after_alarm),
                _ => after_alarm,
            },
            (true, false) => after_alarm,
        };
        self.refuse(now, admitted_at)
    }

    fn refuse(&self, now: Timestamp, admitted_at: Timestamp) -> Result<(), RetryAfter> {
        self.refusals_total.fetch_add(1, Ordering::Relaxed);
        // Rounded up: a client that waits exactly `Retry-After` is admitted.
        let seconds = (admitted_at.0 - now.0 + MICROS_PER_SECOND - 1) / MICROS_PER_SECOND;
        Err(RetryAfter(seconds.max(1) as u64))
    }

    /// Counts a failed presentation; returns how long to hold the answer back.
    pub fn failed(&self, source: Source) -> Duration {
        let now = self.clock.now();
        self.failures_total.fetch_add(1, Ordering::Relaxed);
        let mut state = self.locked();
        if !state.sources.contains_key(&source) {
            make_room(&mut state, now);
        }
        let record = state.sources.entry(source).or_default();
        prune(record, now);
        record.failures.push_back(now);
        while record.failures.len() > SOURCE_FAILURES_MAX {
            record.failures.pop_front();
        }
        let failures = record.failures.len();
        state.recent.push_back(now);
        prune_global(&mut state, now);
        if state.recent.len() >= ALARM_FAILURES_PER_DAY && !alarm_active(&state) {
            let reason = format!(
                "{} failed presentations in the last {GUESS_WINDOW_SECONDS} seconds",
                state.recent.len()
            );
            tracing::warn!(alarm.reason = %reason, sources = state.sources.len(), "guessing alarm raised");
            state.alarms.push_back(Alarm {
                raised_at: now,
                cleared_at: None,
                reason,
            });
            while state.alarms.len() > ALARMS_KEPT_MAX {
                state.alarms.pop_front();
            }
        }
        let excess = failures.saturating_sub(SOURCE_FAILURES_SLOW_AFTER) as u64;
        Duration::from_millis((excess * SLOWDOWN_PER_FAILURE_MS).min(SLOWDOWN_MAX_MS))
    }

    /// Notes that `source` presented a valid code: it is proven for a day.
    pub fn succeeded(&self, source: Source) {
        let now = self.clock.now();
        let mut state = self.locked();
        if let Some(record) = state.sources.get_mut(&source) {
            record.last_success = Some(now);
            return;
        }
        // Remembered even without failures: when an alarm comes, proven sources keep working.
        make_room(&mut state, now);
        state.sources.insert(
            source,
            SourceRecord {
                failures: VecDeque::new(),
                last_success: Some(now),
            },
        );
    }

    pub fn report(&self) -> GuardReport {
        let now = self.clock.now();
        let mut state = self.locked();
        prune_global(&mut state, now);
        let mut busiest: Vec<(String, usize)> = state
            .sources
            .iter()
            .map(|(source, record)| (source.to_string(), record.failures.len()))
            .filter(|(_, n)| *n > 0)
            .collect();
        busiest.sort_by_key(|b| std::cmp::Reverse(b.1));
        busiest.truncate(10);
        GuardReport {
            failures_total: self.failures_total.load(Ordering::Relaxed),
            refusals_total: self.refusals_total.load(Ordering::Relaxed),
            failures_in_window: state.recent.len(),
            alarm_active: alarm_active(&state),
            alarms: state.alarms.iter().cloned().collect(),
            sources_tracked: state.sources.len(),
            busiest_sources: busiest,
        }
    }
}

fn alarm_active(state: &GuardState) -> bool {
    state.alarms.back().is_some_and(|alarm| alarm.cleared_at.is_none())
}

/// The first instant at which fewer than `limit` of `failures` (oldest first) are in the window,
/// if no failure is added; `None` if fewer are already.
fn lapses(failures: &VecDeque<Timestamp>, limit: usize) -> Option<Timestamp> {
    debug_assert!(limit > 0, "fewer than none is never");
    let count = failures.len();
    if count < limit {
        return None;
    }
    // A failure counts while it is no older than the window (`prune`), so it lapses just after.
    let deciding = failures.get(count - limit)?;
    Some(Timestamp(deciding.0 + GUESS_WINDOW_SECONDS * MICROS_PER_SECOND + 1))
}

fn prune(record: &mut SourceRecord, now: Timestamp) {
    let start = window_start(now);
    while record.failures.front().is_some_and(|at| *at < start) {
        record.failures.pop_front();
    }
}

/// Drops failures older than the window and clears the alarm once the day's failures are below it.
fn prune_global(state: &mut GuardState, now: Timestamp) {
    let start = window_start(now);
    while state.recent.front().is_some_and(|at| *at < start) {
        state.recent.pop_front();
    }
    // Beyond a few times the alarm level only the fact of the alarm matters; keep memory bounded.
    while state.recent.len() > ALARM_FAILURES_PER_DAY * 4 {
        state.recent.pop_front();
    }
    if state.recent.len() < ALARM_FAILURES_PER_DAY {
        if let Some(alarm) = state.alarms.back_mut().filter(|a| a.cleared_at.is_none()) {
            alarm.cleared_at = Some(now);
            tracing::info!("guessing alarm cleared");
        }
    }
}

/// Keeps the map of sources bounded: forget quiet sources first, then the oldest failures.
fn make_room(state: &mut GuardState, now: Timestamp) {
    if state.sources.len() < SOURCES_TRACKED_MAX {
        return;
    }
    let start = window_start(now);
    state.sources.retain(|_, record| {
        prune(record, now);
        !record.failures.is_empty() || record.last_success.is_some_and(|at| at >= start)
    });
    if state.sources.len() >= SOURCES_TRACKED_MAX {
        // Quietest: whose last presentation, failed or valid, is oldest.
        let quietest = state
            .sources
            .iter()
            .min_by_key(|(_, r)| r.failures.back().copied().max(r.last_success))
            .map(|(source, _)| *source);
        if let Some(source) = quietest {
            state.sources.remove(&source);
        }
    }
}

#[cfg(test)]
mod tests;

//! The guessing defence. With no user names, a guess is tried against every live code at once, so
//! a per-code lockout cannot help; instead every failed presentation (unknown, cancelled or
//! malformed code, wrong PIN) is counted against whoever made it, within budgets that together
//! keep the README's bound (at most 0.1 codes found a year among 10^6) however many addresses an
//! attacker has, without refusing an honest holder outright.
//!
//! Each presentation is first **admitted** ([`GuessGuard::admit`]), against its [`Principal`]:
//!
//! - **free**, if its principal's budget holds a whole try: a holder that shows a proof of an
//!   earlier success ([`HOLDER_FREE_FAILURES_PER_DAY`] per tree), a seller's server that shows its
//!   seller key ([`SELLER_FREE_FAILURES_PER_DAY`] per tree), or a source without either
//!   ([`SOURCE_FREE_FAILURES_PER_DAY`] per address, and then only while the pool of all such
//!   sources, [`UNKNOWN_FREE_FAILURES_PER_DAY`], holds a try too);
//! - **paid**, if it answers a challenge: a proof of work whose difficulty grows by one bit with
//!   every [`POW_FAILURES_PER_BIT`] paid failures that have not drained yet
//!   ([`POW_PRESSURE_DRAIN_PER_DAY`] a day), so in the long run paid failures stay near that
//!   drain however much the attacker computes;
//! - otherwise refused with a new challenge (429 `challenge_required`) and a `Retry-After` that
//!   says when a free try comes back.
//!
//! A **failure** ([`GuessGuard::failed`]) then spends a try of the budgets that admitted it, or
//! adds to the pressure if it was paid. Budgets refill continuously (a budget of 10 a day gives
//! a try back every 2.4 hours); none has a day-long cliff. The alarm is raised when the pool runs
//! dry or work is being paid, and is over when both are back at rest (or the operator ends it).
//!
//! The counters are the store's ([`GuardCounters`]): in memory for the embedded store, in the
//! database for PostgreSQL, so several processes share one set of budgets.

mod budget;
pub mod tokens;

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use smartcode_api::challenge::ChallengeJson;
use smartcode_core::clock::{Clock, Timestamp, MICROS_PER_SECOND};
use smartcode_core::error::OpError;
use smartcode_store::answer;
use smartcode_store::counters::{GuardCounters, StoredCounter};

pub use budget::{difficulty_bits, whole_tries, Principal, Rule, TRY};
use budget::{ALARM_KEY, POOL_KEY, PRESSURE_KEY};
pub use smartcode_core::limits::{
    GUARD_COUNTERS_MAX, GUESS_WINDOW_SECONDS, HOLDER_FREE_FAILURES_PER_DAY, POW_BASE_BITS, POW_FAILURES_PER_BIT,
    POW_PRESSURE_DRAIN_PER_DAY, SECURITY_SOURCES_LISTED_MAX, SELLER_FREE_FAILURES_PER_DAY, SLOWDOWN_MAX_MS,
    SLOWDOWN_PER_FAILURE_MS, SOURCE_FAILURES_SLOW_AFTER, SOURCE_FREE_FAILURES_PER_DAY, UNKNOWN_FREE_FAILURES_PER_DAY,
};

use crate::keys::Keys;

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

    /// A source as [`Display`](std::fmt::Display) writes it.
    fn parse(text: &str) -> Option<Source> {
        text.strip_suffix("/64").unwrap_or(text).parse().ok().map(Source::of)
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

/// An address or a network (`192.0.2.0/24`, `2001:db8::/32`) the operator forgives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Network {
    base: IpAddr,
    prefix: u32,
}

impl Network {
    pub fn parse(text: &str) -> Option<Network> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u32>().ok()?)),
            None => (text.trim(), None),
        };
        let base: IpAddr = address.parse().ok()?;
        let width = if base.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(width);
        (prefix <= width).then_some(Network { base, prefix })
    }

    pub fn contains(&self, source: &Source) -> bool {
        fn bits(address: IpAddr) -> (u128, u32) {
            match address {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        }
        let ((base, width), (address, other)) = (bits(self.base), bits(source.0));
        if width != other {
            return false;
        }
        let shift = width - self.prefix;
        shift >= width || (base >> shift) == (address >> shift)
    }
}

/// How a presentation was admitted: what a failure of it spends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Within the free budget of this principal (and of the pool, for a source).
    Free(Principal),
    /// With a proof of work: a failure adds to the pressure.
    Paid,
}

/// A presentation not admitted: answer a new challenge, or wait for a free try.
#[derive(Clone, Debug)]
pub struct ChallengeRequired {
    pub challenge: ChallengeJson,
    /// Seconds until a free try comes back, rounded up.
    pub retry_after_seconds: u64,
    /// Why the answer sent, if any, was not taken.
    pub answer_refused: Option<&'static str>,
}

/// What a failure did: how long to hold the answer back, and the free tries left today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub delay: Duration,
    pub tries_left: i64,
}

/// One counter in the operator's report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    /// How the operator names it to forgive it: an address or /64, or a tree id.
    pub source: String,
    pub kind: &'static str,
    /// Failures not yet refilled.
    pub failures: i64,
    pub tries_left: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GuardReport {
    pub failures_total: u64,
    pub challenges_total: u64,
    pub paid_total: u64,
    pub alarm_since: Option<Timestamp>,
    pub pool_tries_left: i64,
    /// Paid failures not yet drained, and the bits of the next challenge.
    pub pressure: i64,
    pub difficulty_bits: u32,
    pub counted: Vec<Counted>,
}

/// How long an admission trusts a counter it read (or wrote) before reading it again: with several
/// processes, another's failures are seen within this. A failure always updates the store itself,
/// so a stale read can only admit a presentation free a moment late, and its failure is still
/// spent (a budget overdrawn so is repaid from its refills).
const ADMISSION_CACHE: std::time::Duration = std::time::Duration::from_millis(250);

type Cached = std::collections::HashMap<String, (Option<StoredCounter>, std::time::Instant)>;

pub struct GuessGuard {
    clock: Arc<dyn Clock>,
    counters: Arc<dyn GuardCounters>,
    /// What admissions read lately, so a payment does not wait on the store for counters that
    /// are nearly always absent (nobody failed) or shared by all (the pool, the pressure).
    cache: std::sync::Mutex<Cached>,
    failures_total: AtomicU64,
    challenges_total: AtomicU64,
    paid_total: AtomicU64,
}

impl GuessGuard {
    pub fn new(clock: Arc<dyn Clock>, counters: Arc<dyn GuardCounters>) -> GuessGuard {
        GuessGuard {
            clock,
            counters,
            cache: std::sync::Mutex::default(),
            failures_total: AtomicU64::new(0),
            challenges_total: AtomicU64::new(0),
            paid_total: AtomicU64::new(0),
        }
    }

    /// Whether a presentation by `principal` may be tried now, and on what terms; `answer` is the
    /// `Smartcode-Challenge-Response` it sent, if any.
    pub async fn admit(
        &self,
        keys: &Keys,
        principal: &Principal,
        answer_text: Option<&str>,
    ) -> Result<Result<Admission, ChallengeRequired>, OpError> {
        let now = self.clock.now();
        let mut names = vec![principal.key(), PRESSURE_KEY.to_owned()];
        if principal.draws_on_pool() {
            names.push(POOL_KEY.to_owned());
        }
        let stored = self.load_for_admission(names).await?;
        let own = principal.rule().level(stored[0], now);
        let pressure = budget::pressure().level(stored[1], now);
        let pool = stored.get(2).map_or(i64::MAX, |pool| budget::pool().level(*pool, now));
        if own >= TRY && pool >= TRY {
            return Ok(Ok(Admission::Free(principal.clone())));
        }
        let bits = difficulty_bits(pressure);
        let mut answer_refused = None;
        if let Some(text) = answer_text {
            match tokens::check_answer(keys, text, now) {
                Ok(answered) if answered.bits >= bits => {
                    if answer(self.counters.redeem(answered.id, answered.expires_at, now)).await? {
                        self.paid_total.fetch_add(1, Ordering::Relaxed);
                        return Ok(Ok(Admission::Paid));
                    }
                    answer_refused = Some("that challenge was answered already");
                }
                Ok(_) => answer_refused = Some("the attack grew since that challenge; this one asks more work"),
                Err(tokens::BadAnswer::Expired) => answer_refused = Some("that challenge expired"),
                Err(tokens::BadAnswer::Wrong) => answer_refused = Some("the answer does not meet its challenge"),
            }
        }
        self.challenges_total.fetch_add(1, Ordering::Relaxed);
        let wait = principal.rule().until_a_try(own).max(if pool == i64::MAX {
            0
        } else {
            budget::pool().until_a_try(pool)
        });
        Ok(Err(ChallengeRequired {
            challenge: tokens::make_challenge(keys, bits, now),
            retry_after_seconds: u64::try_from(((wait + MICROS_PER_SECOND - 1) / MICROS_PER_SECOND).max(1))
                .unwrap_or(u64::MAX),
            answer_refused,
        }))
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The counters an admission decides on: from the cache where fresh, the rest from the store.
    async fn load_for_admission(&self, names: Vec<String>) -> Result<Vec<Option<StoredCounter>>, OpError> {
        let now = std::time::Instant::now();
        let mut found: Vec<Option<Option<StoredCounter>>> = {
            let cache = self.cached();
            names
                .iter()
                .map(|name| {
                    cache
                        .get(name)
                        .filter(|(_, at)| now.duration_since(*at) < ADMISSION_CACHE)
                        .map(|(value, _)| *value)
                })
                .collect()
        };
        let missing: Vec<String> = names
            .iter()
            .zip(&found)
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.clone())
            .collect();
        if !missing.is_empty() {
            let loaded = answer(self.counters.load(missing.clone())).await?;
            self.remember(&missing, &loaded);
            let mut loaded = loaded.into_iter();
            for slot in found.iter_mut().filter(|slot| slot.is_none()) {
                *slot = Some(loaded.next().flatten());
            }
        }
        Ok(found.into_iter().map(Option::flatten).collect())
    }

    fn remember(&self, names: &[String], values: &[Option<StoredCounter>]) {
        let now = std::time::Instant::now();
        let mut cache = self.cached();
        if cache.len() >= GUARD_COUNTERS_MAX {
            cache.clear();
        }
        for (name, value) in names.iter().zip(values) {
            cache.insert(name.clone(), (*value, now));
        }
    }

    /// Counts a failed presentation admitted as `admission`.
    pub async fn failed(&self, admission: &Admission) -> Result<Failure, OpError> {
        let now = self.clock.now();
        self.failures_total.fetch_add(1, Ordering::Relaxed);
        // The pool's level after this failure, for the alarm's decision (set by the pool's step,
        // which comes before the alarm's in the one atomic update).
        let pool_after = Arc::new(AtomicI64::new(i64::MAX));
        let (names, principal) = match admission {
            Admission::Free(principal) => {
                let mut names = vec![principal.key()];
                if principal.draws_on_pool() {
                    names.push(POOL_KEY.to_owned());
                }
                names.push(ALARM_KEY.to_owned());
                (names, Some(principal.clone()))
            }
            Admission::Paid => {
                pool_after.store(i64::MIN, Ordering::Relaxed);
                (vec![PRESSURE_KEY.to_owned(), ALARM_KEY.to_owned()], None)
            }
        };
        let last = names.len() - 1;
        let seen_pool = pool_after.clone();
        let rule = principal.as_ref().map(Principal::rule);
        let pooled = principal.as_ref().is_some_and(Principal::draws_on_pool);
        let written = names.clone();
        let after = answer(self.counters.update(
            names,
            Box::new(move |index, stored| match (index, rule) {
                (i, _) if i == last => {
                    let dry = seen_pool.load(Ordering::Relaxed) < TRY;
                    if dry {
                        Some(stored.unwrap_or(StoredCounter { level: TRY, at: now }))
                    } else {
                        stored
                    }
                }
                (0, Some(rule)) => rule.add(stored, now, -TRY),
                (1, Some(_)) if pooled => {
                    let pool = budget::pool().add(stored, now, -TRY);
                    seen_pool.store(pool.map_or(budget::pool().rest(), |p| p.level), Ordering::Relaxed);
                    pool
                }
                (_, None) => budget::pressure().add(stored, now, TRY),
                _ => stored,
            }),
        ))
        .await?;
        self.remember(&written, &after);
        let raised = after.last().copied().flatten().is_some_and(|alarm| alarm.at == now);
        if raised {
            tracing::warn!("guessing alarm raised: free tries of unknown sources ran out, or work is being paid");
        }
        let Some(rule) = rule else {
            return Ok(Failure {
                delay: Duration::ZERO,
                tries_left: 0,
            });
        };
        let own = rule.level(after[0], now);
        let pool = if pooled {
            budget::pool().level(after[1], now)
        } else {
            i64::MAX
        };
        let spent = (rule.capacity - own).div_euclid(TRY);
        let excess = u64::try_from(spent - SOURCE_FAILURES_SLOW_AFTER).unwrap_or(0);
        Ok(Failure {
            delay: Duration::from_millis((excess * SLOWDOWN_PER_FAILURE_MS).min(SLOWDOWN_MAX_MS)),
            tries_left: whole_tries(own.min(pool)),
        })
    }

    /// The free tries `principal` has now (for pages that say so before a presentation).
    pub async fn tries_left(&self, principal: &Principal) -> Result<i64, OpError> {
        let now = self.clock.now();
        let mut names = vec![principal.key()];
        if principal.draws_on_pool() {
            names.push(POOL_KEY.to_owned());
        }
        let stored = answer(self.counters.load(names)).await?;
        let own = principal.rule().level(stored[0], now);
        let pool = stored.get(1).map_or(i64::MAX, |pool| budget::pool().level(*pool, now));
        Ok(whole_tries(own.min(pool)))
    }

    /// What the operator sees; an alarm that is over is cleared on the way.
    pub async fn report(&self) -> Result<GuardReport, OpError> {
        let now = self.clock.now();
        let names = vec![POOL_KEY.to_owned(), PRESSURE_KEY.to_owned(), ALARM_KEY.to_owned()];
        let stored = answer(self.counters.load(names.clone())).await?;
        let pool = budget::pool().level(stored[0], now);
        let pressure = budget::pressure().level(stored[1], now);
        let at_rest = pool == budget::pool().rest() && pressure == 0;
        let mut alarm_since = stored[2].map(|alarm| alarm.at);
        if at_rest && alarm_since.is_some() {
            self.clear_alarm_if_at_rest().await?;
            alarm_since = None;
        }
        let mut counted = Vec::new();
        for (prefix, kind) in [("s:", "source"), ("h:", "holder"), ("k:", "seller"), ("f:", "peer")] {
            let listed = answer(self.counters.list(prefix.to_owned(), SECURITY_SOURCES_LISTED_MAX)).await?;
            for (key, counter) in listed {
                let name = &key[prefix.len()..];
                let principal = match kind {
                    "source" => match Source::parse(name) {
                        Some(source) => Principal::Source(source),
                        None => continue,
                    },
                    "holder" => Principal::Holder(name.to_owned()),
                    "peer" => Principal::Peer(name.to_owned()),
                    _ => Principal::Seller(name.to_owned()),
                };
                let rule = principal.rule();
                let level = rule.level(Some(counter), now);
                if level == rule.rest() {
                    continue;
                }
                counted.push(Counted {
                    // What `forgive` takes: a peer by `peer:` and its name.
                    source: if kind == "peer" {
                        format!("peer:{name}")
                    } else {
                        name.to_owned()
                    },
                    kind,
                    failures: (rule.capacity - level + TRY - 1).div_euclid(TRY),
                    tries_left: whole_tries(level),
                });
            }
        }
        counted.sort_by(|a, b| b.failures.cmp(&a.failures).then_with(|| a.source.cmp(&b.source)));
        Ok(GuardReport {
            failures_total: self.failures_total.load(Ordering::Relaxed),
            challenges_total: self.challenges_total.load(Ordering::Relaxed),
            paid_total: self.paid_total.load(Ordering::Relaxed),
            alarm_since,
            pool_tries_left: whole_tries(pool),
            pressure: pressure.div_euclid(TRY),
            difficulty_bits: difficulty_bits(pressure),
            counted,
        })
    }

    async fn clear_alarm_if_at_rest(&self) -> Result<(), OpError> {
        let now = self.clock.now();
        let at_rest = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let seen = at_rest.clone();
        let names = vec![POOL_KEY.to_owned(), PRESSURE_KEY.to_owned(), ALARM_KEY.to_owned()];
        answer(self.counters.update(
            names,
            Box::new(move |index, stored| {
                match index {
                    0 if budget::pool().level(stored, now) != budget::pool().rest() => {
                        seen.store(false, Ordering::Relaxed)
                    }
                    1 if budget::pressure().level(stored, now) != 0 => seen.store(false, Ordering::Relaxed),
                    2 if seen.load(Ordering::Relaxed) => return None,
                    _ => {}
                }
                stored
            }),
        ))
        .await?;
        self.cached().clear();
        if at_rest.load(Ordering::Relaxed) {
            tracing::info!("guessing alarm over");
        }
        Ok(())
    }

    /// Forgets the failures of an address or network (`what` parses as one), or of a tree (its
    /// holders' and its seller's). Answers how many counters were forgotten.
    pub async fn forgive(&self, what: &str) -> Result<Option<usize>, OpError> {
        let names: Vec<String> = if let Some(network) = Network::parse(what) {
            let listed = answer(self.counters.list("s:".to_owned(), GUARD_COUNTERS_MAX)).await?;
            listed
                .into_iter()
                .map(|(key, _)| key)
                .filter(|key| Source::parse(&key[2..]).is_some_and(|source| network.contains(&source)))
                .collect()
        } else if tokens::is_tree(what) {
            vec![
                Principal::Holder(what.to_owned()).key(),
                Principal::Seller(what.to_owned()).key(),
            ]
        } else if let Some(peer) = what.strip_prefix("peer:").filter(|name| is_peer_name(name)) {
            vec![Principal::Peer(peer.to_ascii_lowercase()).key()]
        } else {
            return Ok(None);
        };
        let stored = answer(self.counters.load(names.clone())).await?;
        let forgiven = stored.iter().flatten().count();
        if !names.is_empty() {
            answer(self.counters.update(names, Box::new(|_, _| None))).await?;
        }
        self.cached().clear();
        tracing::info!(forgiven = forgiven, "the operator forgave failed presentations");
        Ok(Some(forgiven))
    }

    /// Ends the alarm: the pool is full again and the pressure gone. Answers whether one was on.
    pub async fn end_alarm(&self) -> Result<bool, OpError> {
        let names = vec![POOL_KEY.to_owned(), PRESSURE_KEY.to_owned(), ALARM_KEY.to_owned()];
        let on = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = on.clone();
        let forget = move |_, stored: Option<StoredCounter>| {
            if stored.is_some() {
                seen.store(true, Ordering::Relaxed);
            }
            None
        };
        answer(self.counters.update(names, Box::new(forget))).await?;
        self.cached().clear();
        let was_on = on.load(Ordering::Relaxed);
        tracing::info!(was_on = was_on, "the operator ended the guessing alarm");
        Ok(was_on)
    }
}

#[cfg(test)]
mod tests;

/// Whether `what` may be a peer's name (letters, digits, `.` and `-`, as peers are named).
fn is_peer_name(what: &str) -> bool {
    (1..=smartcode_core::limits::PEER_NAME_CHARS_MAX).contains(&what.len())
        && what
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

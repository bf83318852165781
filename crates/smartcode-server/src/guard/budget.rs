//! The budgets of the guessing defence: who a presentation is counted against ([`Principal`]),
//! and how each counter refills or drains over time ([`Rule`]). Levels are in thousandths of a
//! try, so that a budget of 10 a day refills one try every 2.4 hours, continuously.

use smartcode_core::clock::{Timestamp, MICROS_PER_SECOND};
use smartcode_core::limits::{
    GUESS_WINDOW_SECONDS, HOLDER_FREE_FAILURES_PER_DAY, POW_BASE_BITS, POW_BITS_MAX, POW_FAILURES_PER_BIT,
    POW_PRESSURE_DRAIN_PER_DAY, SELLER_FREE_FAILURES_PER_DAY, SOURCE_FREE_FAILURES_PER_DAY,
    UNKNOWN_FREE_FAILURES_PER_DAY,
};
use smartcode_store::counters::StoredCounter;

use super::Source;

/// One try, in a counter's unit.
pub const TRY: i64 = 1_000;
const DAY_MICROS: i64 = GUESS_WINDOW_SECONDS * MICROS_PER_SECOND;

/// Whom a failed presentation is counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// A source that shows no proof: its address (an IPv4 address, an IPv6 /64).
    Source(Source),
    /// A holder that shows a proof of an earlier success: the tree of the code it proved (its
    /// issued ancestor's id), so that children made for the purpose add no budget.
    Holder(String),
    /// A seller's server that shows its seller key: the seller's tree.
    Seller(String),
    /// A peer broker presenting codes for its sellers, by this broker's name for it. Its failures
    /// draw on the pool of sources without a proof too, so peers add no budget of their own.
    Peer(String),
}

impl Principal {
    pub fn key(&self) -> String {
        match self {
            Principal::Source(source) => format!("s:{source}"),
            Principal::Holder(tree) => format!("h:{tree}"),
            Principal::Seller(tree) => format!("k:{tree}"),
            Principal::Peer(name) => format!("f:{name}"),
        }
    }

    pub fn rule(&self) -> Rule {
        let per_day = match self {
            Principal::Source(_) => SOURCE_FREE_FAILURES_PER_DAY,
            Principal::Holder(_) => HOLDER_FREE_FAILURES_PER_DAY,
            Principal::Seller(_) => SELLER_FREE_FAILURES_PER_DAY,
            Principal::Peer(_) => SOURCE_FREE_FAILURES_PER_DAY,
        };
        Rule::bucket(per_day)
    }

    /// Whether its free failures also draw on the budget of all sources without a proof.
    pub fn draws_on_pool(&self) -> bool {
        matches!(self, Principal::Source(_) | Principal::Peer(_))
    }

    /// How the operator's report names it.
    pub fn describe(&self) -> String {
        match self {
            Principal::Source(source) => source.to_string(),
            Principal::Holder(tree) => format!("holder of tree {tree}"),
            Principal::Seller(tree) => format!("seller of tree {tree}"),
            Principal::Peer(name) => format!("peer broker {name}"),
        }
    }
}

/// The budget of free failures of every source without a proof, together.
pub const POOL_KEY: &str = "pool";
/// Failures paid with work, draining over time: what sets the difficulty of the next challenge.
pub const PRESSURE_KEY: &str = "pressure";
/// When the alarm in force was raised, if one is.
pub const ALARM_KEY: &str = "alarm";

pub fn pool() -> Rule {
    Rule::bucket(UNKNOWN_FREE_FAILURES_PER_DAY)
}

pub fn pressure() -> Rule {
    Rule {
        capacity: i64::MAX,
        per_day: POW_PRESSURE_DRAIN_PER_DAY * TRY,
        refills: false,
    }
}

/// How a counter changes by itself: a bucket refills up to its capacity (and rests full); the
/// pressure drains down to zero (and rests empty). A bucket may go below zero when failures
/// admitted at the same time overdraw it: the debt is repaid from later refills, so over time
/// no more than the budget is ever spent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub capacity: i64,
    pub per_day: i64,
    pub refills: bool,
}

impl Rule {
    /// A budget of `per_day` failures a day, which saves up at most a day's worth.
    pub const fn bucket(per_day: i64) -> Rule {
        Rule {
            capacity: per_day * TRY,
            per_day: per_day * TRY,
            refills: true,
        }
    }

    pub fn rest(&self) -> i64 {
        if self.refills {
            self.capacity
        } else {
            0
        }
    }

    /// The level at `now` of a counter stored as `stored`.
    pub fn level(&self, stored: Option<StoredCounter>, now: Timestamp) -> i64 {
        let Some(stored) = stored else { return self.rest() };
        let elapsed = (now.0 - stored.at.0).clamp(0, DAY_MICROS * 400);
        let change =
            i64::try_from(i128::from(elapsed) * i128::from(self.per_day) / i128::from(DAY_MICROS)).unwrap_or(i64::MAX);
        if self.refills {
            stored.level.saturating_add(change).min(self.capacity)
        } else {
            stored.level.saturating_sub(change).max(0)
        }
    }

    /// The counter after `delta` is added to its level at `now`; `None` once it is back at rest.
    pub fn add(&self, stored: Option<StoredCounter>, now: Timestamp, delta: i64) -> Option<StoredCounter> {
        let level = self.level(stored, now).saturating_add(delta);
        let level = if self.refills {
            level.min(self.capacity)
        } else {
            level.max(0)
        };
        (level != self.rest()).then_some(StoredCounter { level, at: now })
    }

    /// Microseconds until a bucket at `level` holds a whole try again (0 if it does).
    pub fn until_a_try(&self, level: i64) -> i64 {
        if level >= TRY || !self.refills || self.per_day <= 0 {
            return 0;
        }
        let missing = i128::from(TRY - level);
        let micros = (missing * i128::from(DAY_MICROS) + i128::from(self.per_day) - 1) / i128::from(self.per_day);
        i64::try_from(micros).unwrap_or(i64::MAX)
    }
}

/// The difficulty of a challenge under `pressure`: one bit more for every
/// [`POW_FAILURES_PER_BIT`] failures paid with work that have not drained yet.
pub fn difficulty_bits(pressure: i64) -> u32 {
    let extra = pressure.max(0) / (POW_FAILURES_PER_BIT * TRY);
    u32::try_from(extra)
        .unwrap_or(u32::MAX)
        .saturating_add(POW_BASE_BITS)
        .min(POW_BITS_MAX)
}

/// Whole tries in a level, never negative.
pub fn whole_tries(level: i64) -> i64 {
    level.max(0) / TRY
}

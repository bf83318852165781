//! What a released hold (a void, an expiry, a partial capture) gives back to the spending rule
//! that counted it when it was made.

use super::{drained, period_index, Asked, RuleAction, RuleCounters, SpendingRule};
use crate::clock::Timestamp;

/// The rule of `rules` a payment of `asked` counted in when it was judged (the first that
/// matches, if it pays): where a released hold gives back what it counted.
pub fn counting_rule(rules: &[(SpendingRule, RuleCounters)], asked: &Asked<'_>) -> Option<usize> {
    let index = rules.iter().position(|(rule, _)| rule.matches.holds(asked))?;
    (rules[index].0.action == RuleAction::Pay).then_some(index)
}

/// `counters` of `rule` with `units` given back at `now` (a released hold's): to the period only if
/// it is still the one it was counted in (`counted_at`), to the rate only what of it has not
/// drained since, nothing if it was counted before these rules were set, and never below zero.
pub fn give_back(
    rule: &SpendingRule,
    counters: &RuleCounters,
    counted_at: Timestamp,
    units: i64,
    now: Timestamp,
) -> RuleCounters {
    let mut back = counters.at(rule, now);
    // Counted before these rules were set (a PUT since, or an ancestor's first rules): these
    // counters never held it, so nothing of it is theirs to give back.
    if counted_at < counters.set_at {
        return back;
    }
    if let Some(period) = rule.max_per_period {
        if period_index(counters.set_at, period.period_seconds, counted_at) == back.period_index {
            back.period_spent_units = (back.period_spent_units - units).max(0);
        }
    }
    if let Some(rate) = rule.max_rate {
        // Only what of it the bucket has not drained since it was counted is still in it; the
        // rest of what the bucket holds is later spending.
        let still = drained(units, rate, counted_at, now);
        back.rate_used_units = (back.rate_used_units - still).max(0);
    }
    back
}

//! What a code's rules would let through with no one asked, before a price is known (the room a
//! negotiation bids within), and what a payment its holder approved counts against them.

use super::{Asked, RuleAction, RuleCounters, SpendingRule};
use crate::clock::Timestamp;

/// What a code's rules say of a kind of purchase, whatever its price.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Room {
    /// No rule matches it.
    Unmatched,
    /// The first rule that matches pays up to this many units now (its caps' least).
    Pays { units_max: i64 },
    /// The first rule that matches asks, whatever the price.
    Asks,
    /// The first rule that matches refuses it.
    Refuses,
}

/// The room `rules` leave at `now` for a payment of `asked` (its amount is not read).
pub fn room(rules: &[(SpendingRule, RuleCounters)], asked: &Asked<'_>, now: Timestamp) -> Room {
    let Some((rule, counters)) = rules.iter().find(|(rule, _)| rule.matches.holds(asked)) else {
        return Room::Unmatched;
    };
    match rule.action {
        RuleAction::Refuse => return Room::Refuses,
        RuleAction::Ask => return Room::Asks,
        RuleAction::Pay => {}
    }
    let counters = counters.at(rule, now);
    let mut units_max = i64::MAX;
    if let Some(max) = rule.max_per_payment {
        units_max = units_max.min(max.units());
    }
    if let Some(period) = rule.max_per_period {
        units_max = units_max.min(period.amount.units() - counters.period_spent_units);
    }
    if let Some(rate) = rule.max_rate {
        units_max = units_max.min(rate.amount.units() - counters.rate_used_units);
    }
    Room::Pays {
        units_max: units_max.max(0),
    }
}

/// The rules with a payment its holder approved counted in the first rule that matches it (if it
/// is not one that refuses), past its caps if need be: what the holder spent is spent, and shows
/// in what is left. `None` when no rule counts it; `Err` with the rule's name when one refuses it.
pub fn count_approved(
    rules: &[(SpendingRule, RuleCounters)],
    asked: &Asked<'_>,
    now: Timestamp,
) -> Result<Option<Vec<(SpendingRule, RuleCounters)>>, String> {
    let Some(index) = rules.iter().position(|(rule, _)| rule.matches.holds(asked)) else {
        return Ok(None);
    };
    let rule = &rules[index].0;
    if rule.action == RuleAction::Refuse {
        return Err(rule.name.clone());
    }
    let mut counters = rules[index].1.at(rule, now);
    let units = asked.amount.units();
    if rule.max_per_period.is_some() {
        counters.period_spent_units = counters.period_spent_units.saturating_add(units);
    }
    if rule.max_rate.is_some() {
        counters.rate_used_units = counters.rate_used_units.saturating_add(units);
    }
    let mut next = rules.to_vec();
    next[index].1 = counters;
    Ok(Some(next))
}

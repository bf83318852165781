//! Spending rules (issue 16; PLAN-ZERO-CLICK.md, step 1): what a code's holder lets be paid
//! without being asked ("up to ten cents a minute for newspaper archives"), what it wants to be
//! asked about, and what it refuses. This module is the judgement alone, pure and exact: a code's
//! rules in order, each with its counters, and a payment; the ledger keeps the rules and their
//! counters with the code and calls [`judge`] for the payer and each ancestor.
//!
//! - The first rule that matches decides (a rule's lists, where given, must each hold what the
//!   payment is for; a rule without lists matches everything).
//! - `refuse` refuses; `ask` asks; `pay` pays within its caps (per payment, per period, per rate)
//!   and asks beyond them.
//! - The rate cap is a leaky bucket in micro-units: what was spent drains at `amount` per
//!   `per_seconds`, continuously, and a payment passes if what remains plus it fits in `amount`.
//!   So "0.10 per 60 s" lets five payments of 0.02 through at once, then one every 12 s.
//! - A period counts from when the rules were set, as a code's own spending limit counts from its
//!   creation.
//!
//! Beside the judgement: `bounds` (what a list may hold, [`check_rules`]), `release` (what a
//! released hold gives back, [`give_back`]) and `room` (what the rules let through before a price
//! is known, [`room`], and what an approved payment counts, [`count_approved`]).

use crate::clock::{Timestamp, MICROS_PER_SECOND};
use crate::code::PublicCode;
use crate::model::SpendLimit;
use crate::money::Amount;

/// What a rule does with a payment it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleAction {
    /// Pays, within the rule's caps, with no one asked.
    Pay,
    /// Asks the holder first.
    Ask,
    /// Refuses.
    Refuse,
}

impl RuleAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleAction::Pay => "pay",
            RuleAction::Ask => "ask",
            RuleAction::Refuse => "refuse",
        }
    }

    pub fn parse(text: &str) -> Option<RuleAction> {
        [RuleAction::Pay, RuleAction::Ask, RuleAction::Refuse]
            .into_iter()
            .find(|action| action.as_str() == text)
    }
}

/// What a rule matches: each list, where given, must hold what the payment is for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleMatch {
    pub categories: Option<Vec<String>>,
    pub payees: Option<Vec<PublicCode>>,
    pub items: Option<Vec<String>>,
}

/// At most `amount` spent per `per_seconds`, draining continuously.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub amount: Amount,
    pub per_seconds: i64,
}

/// One spending rule of a code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpendingRule {
    pub name: String,
    pub matches: RuleMatch,
    pub max_per_payment: Option<Amount>,
    pub max_per_period: Option<SpendLimit>,
    pub max_rate: Option<RateLimit>,
    pub action: RuleAction,
}

/// What a rule has counted: since when its periods count, its period's spending, and its rate's
/// bucket (what remained in it at `rate_at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuleCounters {
    pub set_at: Timestamp,
    pub period_index: i64,
    pub period_spent_units: i64,
    pub rate_used_units: i64,
    pub rate_at: Timestamp,
}

impl RuleCounters {
    /// The counters of a rule set at `now`: nothing spent.
    pub fn new(now: Timestamp) -> RuleCounters {
        RuleCounters {
            set_at: now,
            period_index: 0,
            period_spent_units: 0,
            rate_used_units: 0,
            rate_at: now,
        }
    }

    /// The counters as they stand at `now` under `rule`: a new period spends from zero, and the
    /// bucket has drained.
    pub fn at(&self, rule: &SpendingRule, now: Timestamp) -> RuleCounters {
        let mut counters = *self;
        if let Some(period) = rule.max_per_period {
            let index = period_index(self.set_at, period.period_seconds, now);
            if index != self.period_index {
                counters.period_index = index;
                counters.period_spent_units = 0;
            }
        }
        if let Some(rate) = rule.max_rate {
            counters.rate_used_units = drained(self.rate_used_units, rate, self.rate_at, now);
            counters.rate_at = now.max(self.rate_at);
        }
        counters
    }
}

fn period_index(set_at: Timestamp, period_seconds: i64, now: Timestamp) -> i64 {
    let micros = period_seconds.saturating_mul(MICROS_PER_SECOND).max(1);
    (now.0 - set_at.0).max(0) / micros
}

/// What remains in a bucket that held `used` at `from`, at `now`.
fn drained(used: i64, rate: RateLimit, from: Timestamp, now: Timestamp) -> i64 {
    let elapsed = i128::from((now.0 - from.0).max(0));
    let per = i128::from(rate.per_seconds.max(1)) * i128::from(MICROS_PER_SECOND);
    let gone = elapsed * i128::from(rate.amount.units()) / per;
    i64::try_from((i128::from(used) - gone).max(0)).unwrap_or(0)
}

/// What a payment is for, as the broker stamped it from the payee's catalog.
#[derive(Clone, Copy, Debug)]
pub struct Asked<'a> {
    /// `None`: a seller of another broker.
    pub payee: Option<&'a PublicCode>,
    pub category: Option<&'a str>,
    pub item: Option<&'a str>,
    pub amount: Amount,
    /// `amount` is the price of one minute of a metered session being opened: a rule's rate is
    /// then compared as a rate (`amount` a minute against its `amount` per `per_seconds`), not
    /// against what its bucket holds now, for nothing is spent yet.
    pub per_minute: bool,
}

impl RuleMatch {
    fn holds(&self, asked: &Asked<'_>) -> bool {
        let has = |list: Option<&Vec<String>>, what: Option<&str>| {
            list.is_none_or(|list| what.is_some_and(|what| list.iter().any(|entry| entry == what)))
        };
        let payee = self
            .payees
            .as_ref()
            .is_none_or(|payees| asked.payee.is_some_and(|payee| payees.contains(payee)));
        payee && has(self.categories.as_ref(), asked.category) && has(self.items.as_ref(), asked.item)
    }
}

/// Why a rule asks before a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// Its action is to ask.
    Always,
    /// The payment is over the rule's most per payment.
    OverPerPayment { max_units: i64 },
    /// The payment is over what the rule's period has left.
    OverPeriod { left_units: i64 },
    /// The payment is over what the rule's rate lets through now.
    OverRate { left_units: i64 },
    /// A metered session's price per minute is over the rule's rate.
    PriceOverRate { per_minute_units_max: i64 },
}

impl Ask {
    /// Why, in words for the holder.
    pub fn describe(&self) -> String {
        let money = crate::money::format_units;
        match self {
            Ask::Always => "it says ask".to_owned(),
            Ask::OverPerPayment { max_units } => format!("over its max_per_payment of {}", money(*max_units)),
            Ask::OverPeriod { left_units } => format!("over what its period has left ({})", money(*left_units)),
            Ask::OverRate { left_units } => format!("over what its rate lets through now ({})", money(*left_units)),
            Ask::PriceOverRate { per_minute_units_max } => {
                format!("over its rate, which allows {} a minute", money(*per_minute_units_max))
            }
        }
    }
}

/// What a code's rules say of a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Judgement {
    /// No rule matches: the rules say nothing of it.
    Unmatched,
    /// The rule at `index` pays it; `counters` are that rule's with the payment counted.
    Pays { index: usize, counters: RuleCounters },
    /// The rule named asks first.
    Asks { rule: String, why: Ask },
    /// The rule named refuses it.
    Refuses { rule: String },
}

/// Judges a payment by a code's rules, in their order, at `now`.
pub fn judge(rules: &[(SpendingRule, RuleCounters)], asked: &Asked<'_>, now: Timestamp) -> Judgement {
    let Some((index, (rule, counters))) = rules
        .iter()
        .enumerate()
        .find(|(_, (rule, _))| rule.matches.holds(asked))
    else {
        return Judgement::Unmatched;
    };
    let asks = |why| Judgement::Asks {
        rule: rule.name.clone(),
        why,
    };
    match rule.action {
        RuleAction::Refuse => {
            return Judgement::Refuses {
                rule: rule.name.clone(),
            }
        }
        RuleAction::Ask => return asks(Ask::Always),
        RuleAction::Pay => {}
    }
    let units = asked.amount.units();
    if let Some(max) = rule.max_per_payment {
        if units > max.units() {
            return asks(Ask::OverPerPayment { max_units: max.units() });
        }
    }
    let mut counters = counters.at(rule, now);
    if let Some(period) = rule.max_per_period {
        let left = period.amount.units() - counters.period_spent_units;
        if units > left {
            return asks(Ask::OverPeriod {
                left_units: left.max(0),
            });
        }
        counters.period_spent_units += units;
    }
    if let (Some(rate), true) = (rule.max_rate, asked.per_minute) {
        let per_minute_units_max = per_minute_max(rate);
        if units > per_minute_units_max {
            return asks(Ask::PriceOverRate { per_minute_units_max });
        }
    } else if let Some(rate) = rule.max_rate {
        let left = rate.amount.units() - counters.rate_used_units;
        if units > left {
            return asks(Ask::OverRate {
                left_units: left.max(0),
            });
        }
        counters.rate_used_units += units;
    }
    Judgement::Pays { index, counters }
}

/// The most a minute a rate lets through, rounded down: `amount × 60 / per_seconds`.
pub fn per_minute_max(rate: RateLimit) -> i64 {
    let units = i128::from(rate.amount.units()) * 60 / i128::from(rate.per_seconds.max(1));
    i64::try_from(units).unwrap_or(i64::MAX)
}

/// What a rule has left at `now`: in its period (and when the period ends), and through its rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Left {
    pub period_units: Option<i64>,
    pub period_ends: Option<Timestamp>,
    pub rate_units: Option<i64>,
}

pub fn left(rule: &SpendingRule, counters: &RuleCounters, now: Timestamp) -> Left {
    let counters = counters.at(rule, now);
    Left {
        period_units: rule
            .max_per_period
            .map(|p| (p.amount.units() - counters.period_spent_units).max(0)),
        period_ends: rule.max_per_period.map(|p| {
            let micros = p.period_seconds.saturating_mul(MICROS_PER_SECOND);
            Timestamp(counters.set_at.0 + (counters.period_index + 1) * micros)
        }),
        rate_units: rule
            .max_rate
            .map(|r| (r.amount.units() - counters.rate_used_units).max(0)),
    }
}

/// A code's rules, in order, each with its counters: what a code record carries (shared, so a
/// record's copy costs a reference count).
pub type Rules = std::sync::Arc<Vec<(SpendingRule, RuleCounters)>>;

mod bounds;
mod release;
mod room;
#[cfg(test)]
mod tests;

pub use bounds::check_rules;
pub use release::{counting_rule, give_back};
pub use room::{count_approved, room, Room};

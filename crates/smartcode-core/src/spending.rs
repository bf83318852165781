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

use crate::clock::{Timestamp, MICROS_PER_SECOND};
use crate::code::PublicCode;
use crate::error::{Invalid, Limit, OpError};
use crate::limits::{
    CATEGORY_CHARS_MAX, EXPIRY_SECONDS_MAX, RESTRICTION_ENTRIES_MAX, RULES_PER_CODE_MAX, RULE_NAME_CHARS_MAX,
};
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
    if let Some(rate) = rule.max_rate {
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

/// Checks rules a holder asks for: at most [`RULES_PER_CODE_MAX`], each named once (1 to
/// [`RULE_NAME_CHARS_MAX`] characters), each list non-empty and within the restriction lists'
/// bound, every cap above zero, and every period and rate 1 s to [`EXPIRY_SECONDS_MAX`].
pub fn check_rules(rules: &[SpendingRule]) -> Result<(), OpError> {
    if rules.len() > RULES_PER_CODE_MAX {
        return Err(OpError::LimitExceeded(Limit::RulesPerCode));
    }
    let bad = |why: String| Err(OpError::InvalidRequest(Invalid::Rules { why }));
    for (index, rule) in rules.iter().enumerate() {
        let chars = rule.name.chars().count();
        if chars == 0 || chars > RULE_NAME_CHARS_MAX || rule.name.chars().any(char::is_control) {
            return bad(format!(
                "a rule's name is 1 to {RULE_NAME_CHARS_MAX} characters without control characters"
            ));
        }
        if rules[..index].iter().any(|r| r.name == rule.name) {
            return bad(format!("two rules are named {:?}", rule.name));
        }
        let lists = [
            ("categories", rule.matches.categories.as_ref().map(Vec::len)),
            ("payees", rule.matches.payees.as_ref().map(Vec::len)),
            ("items", rule.matches.items.as_ref().map(Vec::len)),
        ];
        for (field, len) in lists {
            if len.is_some_and(|n| n == 0 || n > RESTRICTION_ENTRIES_MAX) {
                return bad(format!(
                    "match.{field}, where given, lists 1 to {RESTRICTION_ENTRIES_MAX} entries"
                ));
            }
        }
        let texts = [
            ("match.categories", &rule.matches.categories),
            ("match.items", &rule.matches.items),
        ];
        for (field, list) in texts {
            let sane = |e: &String| {
                !e.is_empty() && e.chars().count() <= CATEGORY_CHARS_MAX && !e.chars().any(char::is_control)
            };
            if list.iter().flatten().any(|e| !sane(e)) {
                return bad(format!(
                    "each of {field} is 1 to {CATEGORY_CHARS_MAX} characters without control characters"
                ));
            }
        }
        let periods = [
            rule.max_per_period.map(|p| (p.amount, p.period_seconds)),
            rule.max_rate.map(|r| (r.amount, r.per_seconds)),
        ];
        for (amount, seconds) in periods.into_iter().flatten() {
            if amount.units() <= 0 || !(1..=EXPIRY_SECONDS_MAX).contains(&seconds) {
                return bad(format!(
                    "a period's or rate's amount is above zero and its seconds 1 to {EXPIRY_SECONDS_MAX}"
                ));
            }
        }
        if rule.max_per_payment.is_some_and(|m| m.units() <= 0) {
            return bad("max_per_payment is above zero".to_owned());
        }
    }
    Ok(())
}

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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn cents(n: i64) -> Amount {
        Amount::from_units(n * 10_000).unwrap()
    }

    fn at(seconds: i64) -> Timestamp {
        Timestamp(seconds * MICROS_PER_SECOND)
    }

    fn archives(rate_cents: i64, per_seconds: i64) -> SpendingRule {
        SpendingRule {
            name: "archives".into(),
            matches: RuleMatch {
                categories: Some(vec!["archives".into()]),
                ..RuleMatch::default()
            },
            max_per_payment: Some(cents(5)),
            max_per_period: None,
            max_rate: Some(RateLimit {
                amount: cents(rate_cents),
                per_seconds,
            }),
            action: RuleAction::Pay,
        }
    }

    fn article(amount: Amount) -> Asked<'static> {
        Asked {
            payee: None,
            category: Some("archives"),
            item: None,
            amount,
        }
    }

    /// Pays `asked` at `now` under `rules`, counting it, and says whether it paid.
    fn pay(rules: &mut [(SpendingRule, RuleCounters)], asked: &Asked<'_>, now: Timestamp) -> Judgement {
        let judged = judge(rules, asked, now);
        if let Judgement::Pays { index, counters } = &judged {
            rules[*index].1 = *counters;
        }
        judged
    }

    #[test]
    fn ten_cents_a_minute_pays_five_articles_at_once_then_one_every_twelve_seconds() {
        let mut rules = vec![(archives(10, 60), RuleCounters::new(at(0)))];
        for _ in 0..5 {
            assert!(matches!(
                pay(&mut rules, &article(cents(2)), at(0)),
                Judgement::Pays { .. }
            ));
        }
        assert_eq!(
            pay(&mut rules, &article(cents(2)), at(0)),
            Judgement::Asks {
                rule: "archives".into(),
                why: Ask::OverRate { left_units: 0 }
            }
        );
        assert!(matches!(
            pay(&mut rules, &article(cents(2)), at(11)),
            Judgement::Asks { .. }
        ));
        assert!(matches!(
            pay(&mut rules, &article(cents(2)), at(12)),
            Judgement::Pays { .. }
        ));
        assert!(matches!(
            pay(&mut rules, &article(cents(2)), at(13)),
            Judgement::Asks { .. }
        ));
        let left = left(&rules[0].0, &rules[0].1, at(24));
        assert_eq!(left.rate_units, Some(cents(2).units()));
    }

    #[test]
    fn the_first_matching_rule_decides_and_unmatched_payments_are_left_to_the_caller() {
        let refuse = SpendingRule {
            name: "no games".into(),
            matches: RuleMatch {
                categories: Some(vec!["games".into()]),
                ..RuleMatch::default()
            },
            max_per_payment: None,
            max_per_period: None,
            max_rate: None,
            action: RuleAction::Refuse,
        };
        let ask_all = SpendingRule {
            name: "ask me".into(),
            matches: RuleMatch::default(),
            action: RuleAction::Ask,
            ..refuse.clone()
        };
        let rules = vec![
            (refuse.clone(), RuleCounters::new(at(0))),
            (archives(10, 60), RuleCounters::new(at(0))),
        ];
        let games = Asked {
            category: Some("games"),
            ..article(cents(1))
        };
        assert_eq!(
            judge(&rules, &games, at(1)),
            Judgement::Refuses {
                rule: "no games".into()
            }
        );
        assert!(matches!(
            judge(&rules, &article(cents(1)), at(1)),
            Judgement::Pays { index: 1, .. }
        ));
        assert_eq!(
            judge(&rules, &article(cents(6)), at(1)),
            Judgement::Asks {
                rule: "archives".into(),
                why: Ask::OverPerPayment {
                    max_units: cents(5).units()
                }
            }
        );
        let music = Asked {
            category: Some("music"),
            ..article(cents(1))
        };
        assert_eq!(judge(&rules, &music, at(1)), Judgement::Unmatched);
        let everything = vec![(ask_all, RuleCounters::new(at(0)))];
        assert!(matches!(
            judge(&everything, &music, at(1)),
            Judgement::Asks { why: Ask::Always, .. }
        ));
    }

    #[test]
    fn a_period_spends_from_zero_again_when_it_ends() {
        let rule = SpendingRule {
            max_per_payment: None,
            max_rate: None,
            max_per_period: Some(SpendLimit {
                amount: cents(10),
                period_seconds: 3_600,
            }),
            ..archives(10, 60)
        };
        let mut rules = vec![(rule, RuleCounters::new(at(100)))];
        assert!(matches!(
            pay(&mut rules, &article(cents(10)), at(100)),
            Judgement::Pays { .. }
        ));
        assert_eq!(
            pay(&mut rules, &article(cents(1)), at(3_699)),
            Judgement::Asks {
                rule: "archives".into(),
                why: Ask::OverPeriod { left_units: 0 }
            }
        );
        let left_then = left(&rules[0].0, &rules[0].1, at(3_699));
        assert_eq!(left_then.period_ends, Some(at(3_700)));
        assert!(matches!(
            pay(&mut rules, &article(cents(10)), at(3_700)),
            Judgement::Pays { .. }
        ));
    }

    #[test]
    fn a_released_hold_gives_back_to_the_rule_that_counted_it_in_its_own_period_only() {
        let rule = SpendingRule {
            max_per_payment: None,
            max_per_period: Some(SpendLimit {
                amount: cents(10),
                period_seconds: 3_600,
            }),
            ..archives(10, 60)
        };
        let mut rules = vec![(rule, RuleCounters::new(at(0)))];
        assert!(matches!(
            pay(&mut rules, &article(cents(4)), at(10)),
            Judgement::Pays { .. }
        ));
        assert_eq!(counting_rule(&rules, &article(cents(4))), Some(0));
        let back = give_back(&rules[0].0, &rules[0].1, at(10), cents(4).units(), at(20));
        assert_eq!((back.period_spent_units, back.rate_used_units), (0, 0));
        // A minute on, the bucket drained the hold and holds only a later payment: that stays.
        assert!(matches!(
            pay(&mut rules, &article(cents(5)), at(70)),
            Judgement::Pays { .. }
        ));
        let back = give_back(&rules[0].0, &rules[0].1, at(10), cents(4).units(), at(70));
        assert_eq!(
            back.rate_used_units,
            cents(5).units(),
            "the hold drained away: nothing of it is given back"
        );
        // Rules set after it counted never held it.
        let later = RuleCounters::new(at(3_000));
        assert_eq!(
            give_back(&rules[0].0, &later, at(10), cents(4).units(), at(3_001)),
            later.at(&rules[0].0, at(3_001))
        );
        rules[0].1 = RuleCounters::new(at(0));
        // Counted in a period that has ended: the new one spends from zero and gets nothing back.
        assert!(matches!(
            pay(&mut rules, &article(cents(4)), at(3_000)),
            Judgement::Pays { .. }
        ));
        assert!(matches!(
            pay(&mut rules, &article(cents(3)), at(3_700)),
            Judgement::Pays { .. }
        ));
        let back = give_back(&rules[0].0, &rules[0].1, at(3_000), cents(4).units(), at(3_700));
        assert_eq!(back.period_spent_units, cents(3).units());
        // A rule that refuses or asks counted nothing.
        rules[0].0.action = RuleAction::Ask;
        assert_eq!(counting_rule(&rules, &article(cents(1))), None);
    }

    #[test]
    fn rules_that_cannot_be_kept_are_refused() {
        let ok = archives(10, 60);
        assert_eq!(check_rules(std::slice::from_ref(&ok)), Ok(()));
        let too_many: Vec<SpendingRule> = (0..=RULES_PER_CODE_MAX)
            .map(|n| SpendingRule {
                name: format!("r{n}"),
                ..ok.clone()
            })
            .collect();
        assert_eq!(check_rules(&too_many), Err(OpError::LimitExceeded(Limit::RulesPerCode)));
        let bad = [
            vec![ok.clone(), ok.clone()],
            vec![SpendingRule {
                name: String::new(),
                ..ok.clone()
            }],
            vec![SpendingRule {
                name: "x".repeat(RULE_NAME_CHARS_MAX + 1),
                ..ok.clone()
            }],
            vec![SpendingRule {
                max_rate: Some(RateLimit {
                    amount: cents(1),
                    per_seconds: 0,
                }),
                ..ok.clone()
            }],
            vec![SpendingRule {
                matches: RuleMatch {
                    items: Some(vec![]),
                    ..RuleMatch::default()
                },
                ..ok.clone()
            }],
        ];
        for rules in bad {
            assert!(
                matches!(check_rules(&rules), Err(OpError::InvalidRequest(Invalid::Rules { .. }))),
                "{rules:?}"
            );
        }
    }

    proptest! {
        /// Whatever the payments and their times, what a rate rule pays in any span of `t`
        /// seconds is at most its amount plus what `t` seconds drain; and a period rule never pays
        /// more than its amount in one period.
        #[test]
        fn caps_are_never_passed(payments in prop::collection::vec((0i64..400, 1i64..40), 1..120)) {
            let rule = SpendingRule {
                max_per_payment: None,
                max_per_period: Some(SpendLimit { amount: cents(100), period_seconds: 300 }),
                ..archives(10, 60)
            };
            let mut rules = vec![(rule, RuleCounters::new(at(0)))];
            let mut times: Vec<i64> = payments.iter().map(|(t, _)| *t).collect();
            times.sort_unstable();
            let mut paid = Vec::new();
            for (second, (_, units)) in times.iter().zip(&payments) {
                let amount = Amount::from_units(units * 1_000).unwrap();
                if let Judgement::Pays { .. } = pay(&mut rules, &article(amount), at(*second)) {
                    paid.push((*second, amount.units()));
                }
            }
            for (start, _) in &paid {
                for span in [0i64, 1, 12, 60, 120] {
                    let within: i64 = paid.iter().filter(|(t, _)| *t >= *start && *t <= start + span).map(|(_, u)| u).sum();
                    let allowed = cents(10).units() + span * cents(10).units() / 60 + 1;
                    prop_assert!(within <= allowed, "{within} paid in {span} s from {start}");
                }
            }
            for period in 0..2 {
                let spent: i64 = paid.iter().filter(|(t, _)| t / 300 == period).map(|(_, u)| u).sum();
                prop_assert!(spent <= cents(100).units());
            }
        }
    }
}

//! The judgement, its caps and periods, the bounds of a list and what a released hold gives back,
//! with a property test that no cap is ever passed.

use proptest::prelude::*;

use super::*;
use crate::error::{Invalid, Limit, OpError};
use crate::limits::{RULES_PER_CODE_MAX, RULE_NAME_CHARS_MAX};

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
        per_minute: false,
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

#[test]
fn a_price_per_minute_is_judged_against_the_rate_as_a_rate_not_the_bucket() {
    let minute = |n| Asked {
        per_minute: true,
        ..article(cents(n))
    };
    let mut per_thirty = archives(10, 30);
    per_thirty.max_per_payment = None;
    // Ten cents per 30 s is twenty cents a minute, though its bucket holds ten cents.
    let rules = vec![(per_thirty, RuleCounters::new(at(0)))];
    assert!(matches!(judge(&rules, &minute(20), at(0)), Judgement::Pays { .. }));
    assert_eq!(
        judge(&rules, &minute(21), at(0)),
        Judgement::Asks {
            rule: "archives".into(),
            why: Ask::PriceOverRate {
                per_minute_units_max: cents(20).units()
            }
        }
    );
    // A bucket spent empty does not stop a session from opening: nothing is spent by opening.
    let mut spent = vec![(archives(10, 60), RuleCounters::new(at(0)))];
    for _ in 0..5 {
        pay(&mut spent, &article(cents(2)), at(0));
    }
    assert!(matches!(judge(&spent, &minute(5), at(0)), Judgement::Pays { .. }));
    assert_eq!(
        per_minute_max(RateLimit {
            amount: cents(10),
            per_seconds: 7
        }),
        857_142
    );
}

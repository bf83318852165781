//! A code's spending rules and their counters as both stores keep them: one JSON text in the
//! code's row (`codes.spending_rules`), read and written with the row, so a payment reads no
//! more than the code it already reads. Amounts are integers in the smallest unit, as everywhere.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::PublicCode;
use smartcode_core::error::{StorageFailure, StoreResult};
use smartcode_core::model::SpendLimit;
use smartcode_core::money::Amount;
use smartcode_core::spending::{RateLimit, RuleAction, RuleCounters, RuleMatch, Rules, SpendingRule};

#[derive(Serialize, Deserialize)]
struct StoredRule {
    name: String,
    categories: Option<Vec<String>>,
    payees: Option<Vec<String>>,
    items: Option<Vec<String>>,
    max_per_payment: Option<i64>,
    /// `(amount, seconds)`.
    max_per_period: Option<(i64, i64)>,
    max_rate: Option<(i64, i64)>,
    action: String,
    set_at: i64,
    period_index: i64,
    period_spent: i64,
    rate_used: i64,
    rate_at: i64,
}

fn corrupt() -> StorageFailure {
    StorageFailure("unreadable stored spending rules".to_owned())
}

/// The text of a code's rules; `None` for none.
pub fn to_text(rules: Option<&Rules>) -> Option<String> {
    let rules = rules?;
    let stored: Vec<StoredRule> = rules
        .iter()
        .map(|(rule, c)| StoredRule {
            name: rule.name.clone(),
            categories: rule.matches.categories.clone(),
            payees: (rule.matches.payees.as_ref()).map(|list| list.iter().map(|p| p.as_stored().to_owned()).collect()),
            items: rule.matches.items.clone(),
            max_per_payment: rule.max_per_payment.map(Amount::units),
            max_per_period: rule.max_per_period.map(|p| (p.amount.units(), p.period_seconds)),
            max_rate: rule.max_rate.map(|r| (r.amount.units(), r.per_seconds)),
            action: rule.action.as_str().to_owned(),
            set_at: c.set_at.0,
            period_index: c.period_index,
            period_spent: c.period_spent_units,
            rate_used: c.rate_used_units,
            rate_at: c.rate_at.0,
        })
        .collect();
    Some(serde_json::to_string(&stored).expect("rules serialize"))
}

/// A code's rules from their stored text.
pub fn from_text(text: Option<&str>) -> StoreResult<Option<Rules>> {
    let Some(text) = text else { return Ok(None) };
    let stored: Vec<StoredRule> = serde_json::from_str(text).map_err(|_| corrupt())?;
    let amount = |units: i64| Amount::from_units(units).map_err(|_| corrupt());
    let rules = stored
        .into_iter()
        .map(|s| {
            let payees = (s.payees)
                .map(|list| {
                    list.iter()
                        .map(|p| PublicCode::from_stored(p).ok_or_else(corrupt))
                        .collect()
                })
                .transpose()?;
            let rule = SpendingRule {
                name: s.name,
                matches: RuleMatch {
                    categories: s.categories,
                    payees,
                    items: s.items,
                },
                max_per_payment: s.max_per_payment.map(amount).transpose()?,
                max_per_period: (s.max_per_period)
                    .map(|(units, period_seconds)| {
                        Ok::<_, StorageFailure>(SpendLimit {
                            amount: amount(units)?,
                            period_seconds,
                        })
                    })
                    .transpose()?,
                max_rate: (s.max_rate)
                    .map(|(units, per_seconds)| {
                        Ok::<_, StorageFailure>(RateLimit {
                            amount: amount(units)?,
                            per_seconds,
                        })
                    })
                    .transpose()?,
                action: RuleAction::parse(&s.action).ok_or_else(corrupt)?,
            };
            let counters = RuleCounters {
                set_at: Timestamp(s.set_at),
                period_index: s.period_index,
                period_spent_units: s.period_spent,
                rate_used_units: s.rate_used,
                rate_at: Timestamp(s.rate_at),
            };
            Ok((rule, counters))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Some(Arc::new(rules)))
}

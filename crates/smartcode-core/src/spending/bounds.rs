//! The bounds of a code's list of spending rules, checked before the list is kept.

use super::SpendingRule;
use crate::error::{Invalid, Limit, OpError};
use crate::limits::{
    CATEGORY_CHARS_MAX, EXPIRY_SECONDS_MAX, RESTRICTION_ENTRIES_MAX, RULES_PER_CODE_MAX, RULE_NAME_CHARS_MAX,
};

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

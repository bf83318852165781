//! A code's spending rules (zero-click buying): `PUT /v1/me/rules` sets them, `GET /v1/me/rules`
//! shows them with what each has spent and has left now. The judgement is the core's
//! (`smartcode_core::spending`); payments meet it in `ledger::restrictions`.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, put};
use smartcode_core::clock::Timestamp;
use smartcode_core::ledger::controls;
use smartcode_core::model::{CodeRecord, SpendLimit};
use smartcode_core::money::format_units;
use smartcode_core::spending::{self, RateLimit, RuleAction, RuleMatch, SpendingRule};

use super::{submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Holder, Target};
use crate::problem::ApiError;
use crate::wire::*;
use crate::AppState;

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::PUT, "/v1/me/rules", put(handle_set_rules)),
        (Method::GET, "/v1/me/rules", get(handle_rules)),
    ]
}

async fn handle_set_rules(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: RulesRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    set_rules(&state, &holder, &request, asked).await?.respond(&state)
}

/// Replaces the holder's spending rules.
pub(crate) async fn set_rules(
    state: &AppState,
    holder: &Holder,
    request: &RulesRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let rules = parse_rules(request, &state.config.domain)?;
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        (
            controls::Command::SetSpendingRules {
                holder: holder.with(pin),
                rules: rules.clone(),
            },
            Shown::NONE,
        )
    })
    .await
}

async fn handle_rules(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let view = super::tree::me(&state, &holder).await?;
    super::check_sent_pin(&state, &holder, &view.record).await?;
    let rules = rules_json(&view.record, state.clock.now());
    Ok(super::json_value(
        StatusCode::OK,
        serde_json::to_value(rules).expect("rules serialize"),
    ))
}

/// Reads the rules a request asks for; payees must be public codes of this broker.
pub(crate) fn parse_rules(request: &RulesRequest, domain: &str) -> Result<Vec<SpendingRule>, ApiError> {
    request.rules.iter().map(|rule| parse_rule(rule, domain)).collect()
}

fn parse_rule(rule: &RuleRequest, domain: &str) -> Result<SpendingRule, ApiError> {
    let payees = (rule.matches.payees.as_deref())
        .map(|list| parse_payees(list, domain, "match.payees"))
        .transpose()?;
    let action = RuleAction::parse(&rule.action)
        .ok_or_else(|| ApiError::invalid_request("a rule's action is pay, ask or refuse"))?;
    Ok(SpendingRule {
        name: rule.name.clone(),
        matches: RuleMatch {
            categories: rule.matches.categories.clone(),
            payees,
            items: rule.matches.items.clone(),
        },
        max_per_payment: rule.max_per_payment.as_ref().map(ParseAmount::parse).transpose()?,
        max_per_period: match &rule.max_per_period {
            None => None,
            Some(period) => Some(SpendLimit {
                amount: period.amount.parse()?,
                period_seconds: period.period_seconds,
            }),
        },
        max_rate: match &rule.max_rate {
            None => None,
            Some(rate) => Some(RateLimit {
                amount: rate.amount.parse()?,
                per_seconds: rate.per_seconds,
            }),
        },
        action,
    })
}

/// A code's rules as they stand at `now`, each with what it has spent and left.
pub(crate) fn rules_json(record: &CodeRecord, now: Timestamp) -> RulesJson {
    let rules = record.spending.as_deref().map_or(&[][..], Vec::as_slice);
    RulesJson {
        code_id: record.id.to_string(),
        currency: record.currency.as_str().to_owned(),
        rules: rules
            .iter()
            .map(|(rule, counters)| {
                let left = spending::left(rule, counters, now);
                let spent = rule.max_per_period.map(|_| counters.at(rule, now).period_spent_units);
                RuleJson {
                    rule: rule_request(rule),
                    set_at: counters.set_at.to_rfc3339(),
                    spent: spent.map(format_units),
                    left: left.period_units.map(format_units),
                    period_ends_at: left.period_ends.map(|t| t.to_rfc3339()),
                    rate_left_now: left.rate_units.map(format_units),
                }
            })
            .collect(),
    }
}

/// A rule in the shape a request gives it.
fn rule_request(rule: &SpendingRule) -> RuleRequest {
    let amount = |units: i64| RequestAmount(format_units(units));
    RuleRequest {
        name: rule.name.clone(),
        matches: RuleMatchJson {
            categories: rule.matches.categories.clone(),
            payees: (rule.matches.payees.as_ref()).map(|list| list.iter().map(|p| p.to_string()).collect()),
            items: rule.matches.items.clone(),
        },
        max_per_payment: rule.max_per_payment.map(|m| amount(m.units())),
        max_per_period: rule.max_per_period.map(|p| PeriodRequest {
            amount: amount(p.amount.units()),
            period_seconds: p.period_seconds,
        }),
        max_rate: rule.max_rate.map(|r| RateCapRequest {
            amount: amount(r.amount.units()),
            per_seconds: r.per_seconds,
        }),
        action: rule.action.as_str().to_owned(),
    }
}

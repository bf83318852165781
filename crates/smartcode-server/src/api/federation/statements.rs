//! Statements between peers, and what the operator reads of them: this broker's signed statement
//! of every charge and settlement with a peer (`GET /v1/admin/peers/{name}/statement`, and
//! `POST /v1/federation/statement` for the peer itself), the two statements compared line by line
//! (`GET /v1/admin/peers/{name}/reconcile`: the peer's is fetched, signed, and every difference
//! named), and what crossed each way per day (`GET /v1/admin/peers/{name}/report`).
//!
//! A line's key is what both brokers share: a charge's id (chosen by the seller's broker, kept by
//! both), a refund's (its charge's and its number) or a settlement's reference (which both operators record alike). A charge is dated by
//! its deadline, which both sides keep, so two statements up to the same `until` hold the same
//! charges. By default `until` is [`STATEMENT_SETTLE_SECONDS`] ago, so charges still on their way
//! are left for the next reconcile.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use smartcode_api::{
    DifferenceJson, Money, PeerDayJson, PeerReportJson, ReconcileJson, StatementEntryJson, StatementJson,
    StatementRequest,
};
use smartcode_core::clock::{Timestamp, MICROS_PER_SECOND};
use smartcode_core::ledger::federation::refund_of;
use smartcode_core::ledger::{federation, peers};
use smartcode_core::limits::{
    PEER_CHARGE_SECONDS, PEER_REQUEST_SECONDS, STATEMENT_ENTRIES_MAX, STATEMENT_SETTLE_SECONDS,
};
use smartcode_core::model::{AccountKey, ChargeRecord, ChargeSide, ChargeState, PeerRecord};
use smartcode_core::money::Currency;
use smartcode_receipt::{sign_statement, verify_statement};

use super::{exchange, signed_answer, signed_refusal, SendError, STATEMENT_PATH};
use crate::api::{json_value, read, Entry};
use crate::extract::{Operator, Params, Segment};
use crate::problem::{ApiError, ProblemCode};
use crate::wire::parse_time;
use crate::{AppState, Broker};

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::GET, "/v1/admin/peers/{name}/statement", get(handle_statement)),
        (Method::GET, "/v1/admin/peers/{name}/reconcile", get(handle_reconcile)),
        (Method::GET, "/v1/admin/peers/{name}/report", get(handle_report)),
    ]
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PeriodParams {
    since: Option<String>,
    until: Option<String>,
}

/// A statement's period: from `since` (the beginning, if `None`) to `until`, both included.
#[derive(Clone, Copy)]
struct Period {
    since: Option<Timestamp>,
    until: Timestamp,
}

impl Period {
    /// `since` and `until` as asked; `until` defaults to `default` (`None`: now less
    /// [`STATEMENT_SETTLE_SECONDS`]). A period that ends before it begins is refused.
    fn asked(
        state: &Broker,
        (since, until): (Option<&str>, Option<&str>),
        default: Option<Timestamp>,
    ) -> Result<Period, ApiError> {
        let until = match until {
            Some(text) => parse_time("until", text)?,
            None => default.unwrap_or(Timestamp(
                state.clock.now().0 - STATEMENT_SETTLE_SECONDS * MICROS_PER_SECOND,
            )),
        };
        let since = since.map(|text| parse_time("since", text)).transpose()?;
        if since.is_some_and(|since| since > until) {
            return Err(ApiError::invalid_request(
                "since is after until: the period ends before it begins",
            ));
        }
        Ok(Period { since, until })
    }

    fn of(state: &Broker, params: &PeriodParams) -> Result<Period, ApiError> {
        Period::asked(state, (params.since.as_deref(), params.until.as_deref()), None)
    }
}

async fn peer(state: &AppState, name: &str) -> Result<PeerRecord, ApiError> {
    match read(state, None, peers::Query::One { name: name.to_owned() }).await? {
        peers::QueryOutcome::One(peer) => Ok(*peer),
        _ => Err(crate::api::unexpected()),
    }
}

/// This broker's records with `peer` up to `until`.
async fn moved(
    state: &AppState,
    peer: &PeerRecord,
    Period { since, until }: Period,
) -> Result<(Vec<ChargeRecord>, Vec<smartcode_core::model::Transfer>, bool), ApiError> {
    let query = federation::Query::Statement {
        peer: peer.name.clone(),
        since,
        until,
        limit: STATEMENT_ENTRIES_MAX,
    };
    match read(state, None, query).await? {
        federation::QueryOutcome::Statement {
            charges,
            settlements,
            complete,
        } => Ok((charges, settlements, complete)),
        _ => Err(crate::api::unexpected()),
    }
}

/// What a charge did to this broker's net: credited here, the peer owes it; charged here, it
/// owes the peer; reversed, nothing. A refund undoes that much: refunded here (on its way or
/// answered), the peer owes it less; given back here, it owes the peer less.
fn charge_net(charge: &ChargeRecord) -> i64 {
    match (charge.side, charge.state) {
        (ChargeSide::Seller, ChargeState::Credited) => charge.amount.units(),
        (ChargeSide::Buyer, ChargeState::Charged) => -charge.amount.units(),
        (ChargeSide::Seller, ChargeState::Refunding | ChargeState::Refunded) => -charge.amount.units(),
        // A refund the peer refused for good still stands here: its line stays, and differs.
        (ChargeSide::Seller, ChargeState::Failed) if refund_of(&charge.id).is_some() => -charge.amount.units(),
        (ChargeSide::Buyer, ChargeState::Refunded) => charge.amount.units(),
        _ => 0,
    }
}

/// This broker's signed statement with `peer` for `period`.
async fn statement(state: &AppState, peer: &PeerRecord, period: Period) -> Result<StatementJson, ApiError> {
    let (charges, settlements, complete) = moved(state, peer, period).await?;
    let mut entries: Vec<StatementEntryJson> = charges
        .iter()
        .filter(|c| charge_net(c) != 0)
        .map(|c| StatementEntryJson {
            key: match refund_of(&c.id) {
                Some(_) => format!("refund:{}", c.id),
                None => format!("charge:{}", c.id),
            },
            net: Money::new(charge_net(c), c.currency),
        })
        .collect();
    for transfer in settlements.iter().rev() {
        // Received: the peer paid, so it owes less; paid: it owes more.
        let received = matches!(transfer.credit, AccountKey::Peer { .. });
        let units = transfer.amount.units();
        entries.push(StatementEntryJson {
            key: format!("settlement:{}", transfer.memo.as_deref().unwrap_or(&transfer.id)),
            net: Money::new(if received { -units } else { units }, transfer.currency),
        });
    }
    let mut statement = StatementJson {
        version: String::new(),
        broker: state.config.domain.clone(),
        peer: peer.domain.clone(),
        since: period.since.map(|t| t.to_rfc3339()),
        until: period.until.to_rfc3339(),
        complete,
        entries,
        signature: String::new(),
    };
    sign_statement(state.keys.federation_signing_key(), &mut statement);
    Ok(statement)
}

async fn handle_statement(
    State(state): State<AppState>,
    _: Operator,
    Segment(name): Segment,
    Params(params): Params<PeriodParams>,
) -> Result<Response, ApiError> {
    let peer = peer(&state, &name).await?;
    let period = Period::of(&state, &params)?;
    let statement = statement(&state, &peer, period).await?;
    Ok(json_value(StatusCode::OK, serde_json::json!(statement)))
}

/// `POST /v1/federation/statement`: a peer asks for this broker's statement, signed.
pub(super) async fn handle_asked(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = async {
        let peer = super::inbound::authenticate(&state, STATEMENT_PATH, &headers, &body).await?;
        let asked: StatementRequest =
            serde_json::from_slice(&body).map_err(|_| ApiError::invalid_request("the body is no statement request"))?;
        let period = Period::asked(&state, (asked.since.as_deref(), Some(&asked.until)), None)?;
        statement(&state, &peer, period).await
    };
    match answer.await {
        Ok(statement) => {
            let bytes = serde_json::to_vec(&statement).expect("a statement serializes");
            signed_answer(&state, &body, StatusCode::OK, bytes, "application/json")
        }
        Err(refusal) => signed_refusal(&state, &body, refusal),
    }
}

/// A signed decimal amount (`-2.50`) in micro-units; `None` if it is none.
fn signed_units(text: &str) -> Option<i64> {
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text),
    };
    smartcode_core::money::Amount::parse(digits)
        .ok()
        .map(|a| sign * a.units())
}

/// A statement's lines by key: currency and net (a line whose amount cannot be read is kept as
/// unreadable, so it differs from anything).
fn lines(statement: &StatementJson) -> BTreeMap<String, (String, Option<i64>)> {
    (statement.entries.iter())
        .map(|e| (e.key.clone(), (e.net.currency.clone(), signed_units(&e.net.amount))))
        .collect()
}

async fn handle_reconcile(
    State(state): State<AppState>,
    _: Operator,
    Segment(name): Segment,
    Params(params): Params<PeriodParams>,
) -> Result<Response, ApiError> {
    let peer = peer(&state, &name).await?;
    let period = Period::of(&state, &params)?;
    let ours = statement(&state, &peer, period).await?;
    let asked = serde_json::to_vec(&StatementRequest {
        since: ours.since.clone(),
        until: ours.until.clone(),
    })
    .expect("a request serializes");
    let timeout = Duration::from_secs(PEER_REQUEST_SECONDS);
    let answer = exchange(&state, &peer, STATEMENT_PATH, asked, timeout)
        .await
        .map_err(|error| match error {
            SendError::Unreachable(why) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, ProblemCode::PeerUnreachable, why)
            }
            SendError::Refused(problem) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                ProblemCode::PeerMetadataInvalid,
                format!(
                    "the peer refused to give its statement: {} ({})",
                    problem.detail, problem.code
                ),
            ),
        })?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(&peer.signing_key).map_err(|_| crate::api::unexpected())?;
    let theirs: StatementJson = serde_json::from_slice(&answer)
        .ok()
        .filter(|t: &StatementJson| {
            verify_statement(t, &key).is_ok()
                && t.until == ours.until
                && t.since == ours.since
                && t.broker.eq_ignore_ascii_case(&peer.domain)
                && t.peer.eq_ignore_ascii_case(&state.config.domain)
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                ProblemCode::PeerMetadataInvalid,
                "the peer's statement is not signed by its pinned key, or not for this period",
            )
        })?;
    let (mine, other) = (lines(&ours), lines(&theirs));
    let mut keys: Vec<&String> = mine.keys().chain(other.keys()).collect();
    keys.sort();
    keys.dedup();
    let (mut matched, mut differences) = (0, Vec::new());
    for key in keys {
        let (mine, other) = (mine.get(key), other.get(key));
        let currency = mine.or(other).map(|(c, _)| c.as_str()).unwrap_or_default();
        let net = |line: Option<&(String, Option<i64>)>| line.map_or(Some(0), |(_, n)| *n);
        let (ours, theirs) = (net(mine), net(other));
        let same_currency = mine.zip(other).is_none_or(|(m, o)| m.0 == o.0);
        if same_currency && ours.zip(theirs).is_some_and(|(o, t)| o.checked_add(t) == Some(0)) {
            matched += 1;
            continue;
        }
        let currency = Currency::parse(currency).map_err(|_| crate::api::unexpected())?;
        differences.push(DifferenceJson {
            key: key.clone(),
            ours: Money::new(ours.unwrap_or(0), currency),
            theirs: Money::new(theirs.unwrap_or(0), currency),
        });
    }
    let reconciled = ReconcileJson {
        peer: peer.name,
        since: ours.since,
        until: ours.until,
        matched,
        differences,
        complete: ours.complete && theirs.complete,
    };
    Ok(json_value(StatusCode::OK, serde_json::json!(reconciled)))
}

async fn handle_report(
    State(state): State<AppState>,
    _: Operator,
    Segment(name): Segment,
    Params(params): Params<PeriodParams>,
) -> Result<Response, ApiError> {
    let peer = peer(&state, &name).await?;
    // By default every charge made so far: a deadline is at most this far ahead.
    let every = Timestamp(state.clock.now().0 + PEER_CHARGE_SECONDS * MICROS_PER_SECOND);
    let asked = (params.since.as_deref(), params.until.as_deref());
    let period = Period::asked(&state, asked, Some(every))?;
    let (charges, _, _) = moved(&state, &peer, period).await?;
    // (date, currency) -> (out count, out units, in count, in units)
    let mut days: BTreeMap<(String, Currency), (u64, i64, u64, i64)> = BTreeMap::new();
    for charge in charges.iter().filter(|c| charge_net(c) != 0) {
        let date = charge.deadline.to_rfc3339()[..10].to_owned();
        let day = days.entry((date, charge.currency)).or_default();
        // Out: value this broker's codes sent to the peer's side (a charge here, a refund there);
        // in: what came back (a charge there, a refund here).
        match charge_net(charge) < 0 {
            true => (day.0, day.1) = (day.0 + 1, day.1 + charge.amount.units()),
            false => (day.2, day.3) = (day.2 + 1, day.3 + charge.amount.units()),
        }
    }
    let days = days
        .into_iter()
        .map(|((date, currency), (out_count, out, in_count, incoming))| PeerDayJson {
            date,
            currency: currency.to_string(),
            out_count,
            out_total: Money::new(out, currency),
            in_count,
            in_total: Money::new(incoming, currency),
        })
        .collect();
    let report = PeerReportJson { peer: peer.name, days };
    Ok(json_value(StatusCode::OK, serde_json::json!(report)))
}

#[cfg(test)]
mod tests {
    use smartcode_core::clock::Timestamp;
    use smartcode_core::money::{Amount, Currency};

    use super::*;

    fn record(side: ChargeSide, id: &str, state: ChargeState) -> ChargeRecord {
        ChargeRecord {
            side,
            peer: "a.test".into(),
            id: id.into(),
            state,
            amount: Amount::from_units(2_000_000).unwrap(),
            currency: Currency::parse("USD").unwrap(),
            payee: "P-1".into(),
            code_id: None,
            transfer_id: None,
            fingerprint: None,
            approval: None,
            quote_id: None,
            memo: None,
            hold_id: None,
            expires_at: None,
            deadline: Timestamp(0),
            created_at: Timestamp(0),
            changed_at: Timestamp(0),
        }
    }

    #[test]
    fn a_refund_the_peer_refused_keeps_its_line_and_a_failed_charge_has_none() {
        let refund = "r_0123456789abcdefghjkmnpqrs-r1";
        let net = |side, id, state| charge_net(&record(side, id, state));
        assert_eq!(net(ChargeSide::Seller, refund, ChargeState::Refunding), -2_000_000);
        assert_eq!(net(ChargeSide::Seller, refund, ChargeState::Refunded), -2_000_000);
        assert_eq!(
            net(ChargeSide::Seller, refund, ChargeState::Failed),
            -2_000_000,
            "the refund stands at the seller's broker, so reconcile names the difference"
        );
        assert_eq!(net(ChargeSide::Buyer, refund, ChargeState::Refunded), 2_000_000);
        assert_eq!(
            net(ChargeSide::Seller, "r_0123456789abcdefghjkmnpqrs", ChargeState::Failed),
            0
        );
        assert_eq!(
            net(
                ChargeSide::Seller,
                "r_0123456789abcdefghjkmnpqrs",
                ChargeState::Credited
            ),
            2_000_000
        );
    }
}

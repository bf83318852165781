//! Purchases of offers and the approval queue (zero-click buying): `POST /v1/me/purchases` buys a
//! seller's offer under the code's spending rules, negotiating first when the offer is negotiable
//! and over what the rules let through ([`crate::negotiation`]); `GET /v1/me/approvals` lists what
//! waits, and `POST /v1/me/approvals/{id}/approve|decline` settles it. An offer priced per minute
//! opens a metered session instead of paying ([`super::sessions`]). The rules are the core's, in
//! `ledger::purchases`.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use smartcode_api::{
    ApprovalQueueJson, ApproveRequest, Money, OfferJson, PurchaseJson, PurchaseRequest, QueuedApprovalJson,
};
use smartcode_core::approval::{ApprovalRecord, OfferTerms, OfferUnit};
use smartcode_core::clock::Timestamp;
use smartcode_core::code::ApprovalId;
use smartcode_core::ledger::payments::PaymentOrder;
use smartcode_core::ledger::{purchases, Credential, PinPresented};
use smartcode_core::limits::*;
use smartcode_core::money::Amount;

use super::render::receipt_json;
use super::{json_value, read, submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Holder, Segment, Target};
use crate::negotiation::{self, strategy, Ending};
use crate::problem::ApiError;
use crate::wire::*;
use crate::{AppState, Broker};

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/me/purchases", post(handle_purchase)),
        (Method::GET, "/v1/me/approvals", get(handle_approvals)),
        (Method::POST, "/v1/me/approvals/{id}/approve", post(handle_approve)),
        (Method::POST, "/v1/me/approvals/{id}/decline", post(handle_decline)),
    ]
}

async fn handle_purchase(
    State(state): State<AppState>,
    holder: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: PurchaseRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    purchase(&state, &holder, &request, asked).await?.respond(&state)
}

/// Reads an offer into the terms the core keeps: bounded, priced per item or per minute (a
/// metered session), expiring in the future; an approval waits at most [`OFFER_SECONDS_MAX`].
pub(crate) async fn offer_terms(state: &AppState, offer: &OfferJson) -> Result<OfferTerms, ApiError> {
    let text = |field: &'static str, value: &str, chars_max: usize| {
        let bad = value.is_empty() || value.chars().count() > chars_max || value.chars().any(char::is_control);
        match bad {
            true => Err(ApiError::invalid_request(format!(
                "offer {field} is 1 to {chars_max} characters without control characters"
            ))),
            false => Ok(()),
        }
    };
    text("id", &offer.id, OFFER_ID_CHARS_MAX)?;
    text("description", &offer.description, OFFER_DESCRIPTION_CHARS_MAX)?;
    let unit =
        OfferUnit::parse(&offer.unit).ok_or_else(|| ApiError::invalid_request("offer unit is item or minute"))?;
    if let Some(negotiable) = &offer.negotiable {
        text("negotiable.endpoint", &negotiable.endpoint, 2_000)?;
        if negotiable.max_rounds == 0 {
            return Err(ApiError::invalid_request("offer negotiable.max_rounds is at least 1"));
        }
    }
    let json = serde_json::to_string(offer).expect("an offer serializes");
    if json.len() > OFFER_JSON_BYTES_MAX {
        return Err(ApiError::invalid_request(format!(
            "an offer is at most {OFFER_JSON_BYTES_MAX} bytes of JSON"
        )));
    }
    let expires_at = parse_time("offer expires_at", &offer.expires_at)?;
    let longest = state.clock.now().plus_seconds(OFFER_SECONDS_MAX).unwrap_or(expires_at);
    Ok(OfferTerms {
        offer_id: offer.id.clone(),
        payee: super::aliases::payee(state, &offer.payee).await?,
        price: RequestAmount(offer.price.amount.clone()).parse()?,
        currency: parse_currency(&offer.price.currency)?,
        unit,
        category: offer.category.clone(),
        item: offer.item.clone(),
        expires_at: expires_at.min(longest),
        fingerprint: offer.fingerprint(),
        json,
    })
}

/// The payment a purchase makes: the offer's payee, `amount` in its currency, for what it is for,
/// with the memo that tells the seller which offer it paid.
fn order_for(payer: Credential, terms: &OfferTerms, amount: Amount) -> PaymentOrder {
    PaymentOrder {
        payer,
        payee: terms.payee.clone(),
        amount,
        currency: Some(terms.currency),
        memo: Some(terms.memo()),
        category: terms.category.clone(),
        item: terms.item.clone(),
    }
}

/// Buys an offer: negotiates first if it is negotiable and over the rules' room, then pays with no
/// one asked if the rules allow it, and otherwise queues it for approval.
pub(crate) async fn purchase(
    state: &AppState,
    holder: &Holder,
    request: &PurchaseRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let terms = offer_terms(state, &request.offer).await?;
    let strategy = strategy::from_request(request.strategy.as_ref())?;
    let (mut amount, mut counter, mut rounds, mut note) = (terms.price, None, 0, None);
    // A metered offer's price is a rate, bought as it stands: it is never negotiated.
    let negotiable = request.offer.negotiable.is_some() && terms.unit == OfferUnit::Item;
    if negotiable && terms.expires_at > state.clock.now() {
        // The PIN, if the code has one, before anything is sent on the holder's behalf.
        let view = super::tree::me(state, holder).await?;
        super::check_sent_pin(state, holder, &view.record).await?;
        let order = order_for(holder.with(PinPresented::Absent), &terms, terms.price);
        let room = read(state, Some(&holder.caller), purchases::Query::Room { order }).await;
        if let Ok(purchases::QueryOutcome::Room(Some(room))) = room {
            if room.units() > 0 && room < terms.price {
                let allow = state.config.allow_private_callouts;
                match negotiation::negotiate(&request.offer, (room.units(), terms.currency), &*strategy, allow).await {
                    Ending::Agreed { units, rounds: made } => {
                        amount = Amount::from_units(units).unwrap_or(terms.price);
                        rounds = made;
                    }
                    Ending::NoDeal {
                        counter: last,
                        rounds: made,
                        why,
                    } => {
                        counter = last.and_then(|units| Amount::from_units(units).ok());
                        rounds = made;
                        note = Some(why);
                    }
                }
            }
        }
    }
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let command = purchases::Command::Purchase {
            order: order_for(holder.with(pin), &terms, amount),
            offer: terms.clone(),
            counter,
            rounds,
            note: note.clone(),
        };
        (command, Shown::NONE)
    })
    .await?
    .signed(state)
    .await
}

async fn handle_approvals(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let approvals = approvals(&state, &holder).await?;
    let now = state.clock.now();
    let queue = ApprovalQueueJson {
        approvals: approvals.iter().map(|a| approval_json(a, now)).collect(),
    };
    Ok(json_value(
        StatusCode::OK,
        serde_json::to_value(queue).expect("approvals serialize"),
    ))
}

/// The approvals the holder's code made or whose rule stopped, waiting ones first.
pub(crate) async fn approvals(state: &AppState, holder: &Holder) -> Result<Vec<ApprovalRecord>, ApiError> {
    let view = super::tree::me(state, holder).await?;
    super::check_sent_pin(state, holder, &view.record).await?;
    let purchases::QueryOutcome::Approvals(approvals) = read(
        state,
        Some(&holder.caller),
        purchases::Query::Approvals { holder: holder.hash },
    )
    .await?
    else {
        return Err(super::unexpected());
    };
    Ok(approvals)
}

async fn handle_approve(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ApproveRequest = match body.0.is_empty() {
        true => ApproveRequest::default(),
        false => body.json()?,
    };
    let asked = Asked::of(&headers, &target, &body.0);
    approve(&state, &holder, &id, &request, asked).await?.respond(&state)
}

fn parse_approval_id(id: &str) -> Result<ApprovalId, ApiError> {
    ApprovalId::parse(id).ok_or_else(|| ApiError::not_found("approval"))
}

/// Approves a queued purchase: pays it, and with `make_rule` adds the rule that pays its kind.
pub(crate) async fn approve(
    state: &AppState,
    holder: &Holder,
    id: &str,
    request: &ApproveRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let id = parse_approval_id(id)?;
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        let command = purchases::Command::Approve {
            holder: holder.with(pin),
            id: id.clone(),
            make_rule: request.make_rule,
            at_counter: request.at_counter,
        };
        (command, Shown::NONE)
    })
    .await?
    .signed(state)
    .await
}

async fn handle_decline(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let asked = Asked::of(&headers, &target, &body.0);
    decline(&state, &holder, &id, asked).await?.respond(&state)
}

pub(crate) async fn decline(state: &AppState, holder: &Holder, id: &str, asked: Asked<'_>) -> Result<Reply, ApiError> {
    let id = parse_approval_id(id)?;
    let context = WriteContext {
        holder: Some(holder),
        asked,
    };
    submit(state, context, StatusCode::OK, |pin| {
        let command = purchases::Command::Decline {
            holder: holder.with(pin),
            id: id.clone(),
        };
        (command, Shown::NONE)
    })
    .await
}

/// An approval as its holders see it.
pub(crate) fn approval_json(approval: &ApprovalRecord, now: Timestamp) -> QueuedApprovalJson {
    let offer = &approval.offer;
    QueuedApprovalJson {
        id: approval.id.to_string(),
        code_id: approval.code_id.to_string(),
        status: approval.state_at(now).as_str().to_owned(),
        // The core keeps the offer as this broker wrote it from an `OfferJson`.
        offer: serde_json::from_str(&offer.json).expect("a kept offer reads back"),
        counter: approval.counter.map(|c| Money::new(c.units(), offer.currency)),
        rule: approval.rule.clone(),
        why: approval.why.clone(),
        stopped_by: approval.stopped_by.to_string(),
        created_at: approval.created_at.to_rfc3339(),
        expires_at: approval.expires_at().to_rfc3339(),
        receipt_id: approval.receipt_id.clone(),
    }
}

/// The JSON of a purchase's or an approval's outcome (the receipt unsigned: `Reply::signed`).
pub(super) fn render(state: &Broker, outcome: &purchases::Outcome) -> serde_json::Value {
    let now = state.clock.now();
    let value = match outcome {
        purchases::Outcome::Paid { receipt, rounds } => serde_json::to_value(PurchaseJson {
            status: "paid".into(),
            receipt: Some(receipt_json(state, receipt)),
            approval_id: None,
            approval: None,
            session: None,
            price: Some(Money::new(receipt.amount.units(), receipt.currency)),
            rounds: *rounds,
        }),
        purchases::Outcome::Queued { approval, rounds } => serde_json::to_value(PurchaseJson {
            status: "needs_approval".into(),
            receipt: None,
            approval_id: Some(approval.id.to_string()),
            approval: Some(approval_json(approval, now)),
            session: None,
            price: Some(Money::new(approval.offer.price.units(), approval.offer.currency)),
            rounds: *rounds,
        }),
        purchases::Outcome::Opened { session } => serde_json::to_value(PurchaseJson {
            status: "session_open".into(),
            receipt: None,
            approval_id: None,
            approval: None,
            session: Some(super::sessions::session_json(session, session.state_at(now))),
            price: Some(Money::new(session.offer.price.units(), session.offer.currency)),
            rounds: 0,
        }),
        purchases::Outcome::Approved {
            approval,
            receipt,
            session,
            rule_added,
        } => serde_json::to_value(smartcode_api::ApprovedJson {
            approval: approval_json(approval, now),
            receipt: receipt.as_ref().map(|r| receipt_json(state, r)),
            session: session
                .as_ref()
                .map(|s| super::sessions::session_json(s, s.state_at(now))),
            rule_added: rule_added.clone(),
        }),
        purchases::Outcome::Declined(approval) => serde_json::to_value(smartcode_api::ApprovedJson {
            approval: approval_json(approval, now),
            receipt: None,
            session: None,
            rule_added: None,
        }),
    };
    value.expect("a purchase's answer serializes")
}

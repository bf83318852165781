//! The seller's broker's side of a hold across brokers (ARCHITECTURE.md, "A hold across two
//! brokers"): `POST /v1/holds` with a code of a peer's sets the value aside there; the seller
//! captures (`POST /v1/holds/{id}/capture`) or voids (`…/void`) it here, and reads it (`GET`),
//! under the hold's id here, which is its charge's (and its capture's receipt's).
//!
//! The hold is sent as a charge is (`outbound::ask`: resent until its deadline, then one outcome
//! query); `held` leaves it capturable until its end. A capture goes to the peer the same way and
//! is credited only on its approval (`outbound::settle`); whatever is not approved voids the hold.
//! A void is `voiding` at once and told to the peer now, or by the resolver later.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use smartcode_api::{FederationEntry, FederationMessage, HoldJson, HoldRequest, Money, Secret};
use smartcode_core::clock::{Timestamp, MICROS_PER_SECOND};
use smartcode_core::code::ReceiptId;
use smartcode_core::ledger::federation::{self, hold_state, Command, PrepareOrder};
use smartcode_core::limits::{HOLD_SECONDS_DEFAULT, HOLD_SECONDS_MAX, PEER_CHARGE_SECONDS, PEER_REQUEST_SECONDS};
use smartcode_core::model::{ChargeRecord, ChargeState, PeerRecord};

use super::outbound::{
    self, admit, ask, finish_keyed, keyed, mark, refused, settle, shown_payee, unreachable, Crediting,
};
use super::send;
use crate::api::{read, submit, unless_answered, Asked, Reply, Shown, WriteContext};
use crate::extract::{Caller, Holder};
use smartcode_core::error::{HoldRefusal, OpError};
use smartcode_core::ledger::Outcome;
use smartcode_store::Written;

use crate::problem::ApiError;
use crate::wire::parse_currency;
use crate::wire::ParseAmount;
use crate::AppState;

/// A hold across brokers as its seller sees it, as of `now`.
pub(crate) fn hold_json(record: &ChargeRecord, now: Timestamp) -> HoldJson {
    let money = |units: i64| Money::new(units, record.currency);
    let status = hold_state(record, now);
    let captured = record.state == ChargeState::Credited;
    let done = matches!(
        record.state,
        ChargeState::Credited | ChargeState::Voiding | ChargeState::Voided | ChargeState::Failed
    );
    HoldJson {
        id: record.id.clone(),
        payer_id: format!("peer:{}", record.peer),
        payee: shown_payee(record),
        amount: money(record.amount.units()),
        status: status.to_owned(),
        expires_at: record.expires_at.unwrap_or(record.deadline).to_rfc3339(),
        created_at: record.created_at.to_rfc3339(),
        memo: record.memo.clone(),
        category: None,
        item: None,
        captured: captured.then(|| money(record.amount.units())),
        receipt_id: captured.then(|| record.id.clone()),
        resolved_at: done.then(|| record.changed_at.to_rfc3339()),
    }
}

/// Holds `request.amount` on a code of `peer` (`code`, as that peer reads it) for a seller here.
pub(crate) async fn hold_elsewhere(
    state: &AppState,
    mut caller: Caller,
    (peer, code): (PeerRecord, String),
    request: &HoldRequest,
    headers: &HeaderMap,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    admit(state, &mut caller).await?;
    let payee = crate::api::aliases::payee(state, &request.payee).await?;
    let amount = request.amount.parse()?;
    let seconds = request.expires_in_seconds.unwrap_or(HOLD_SECONDS_DEFAULT);
    if !(1..=HOLD_SECONDS_MAX).contains(&seconds) {
        return Err(
            smartcode_core::error::OpError::InvalidRequest(smartcode_core::error::Invalid::HoldExpiry {
                max: HOLD_SECONDS_MAX,
            })
            .into(),
        );
    }
    let now = state.clock.now();
    let id = ReceiptId::generate_at(now).to_string();
    let deadline = Timestamp(now.0 + PEER_CHARGE_SECONDS * MICROS_PER_SECOND);
    let expires_at = Timestamp(now.0 + seconds * MICROS_PER_SECOND);
    let prepare = Command::Prepare(Box::new(PrepareOrder {
        peer: peer.name.clone(),
        id: id.clone(),
        payee: payee.clone(),
        amount: Some(amount),
        currency: request.currency.as_deref().map(parse_currency).transpose()?,
        deadline,
        expires_at: Some(expires_at),
        memo: request.memo.clone(),
        quote: None,
    }));
    // A retry under the seller's Idempotency-Key gets its first hold before anything is sent.
    let scope = hex::encode(state.keys.fingerprint(&[b"peer-hold-scope", code.as_bytes()]));
    let asked = keyed(asked, &peer, ("peer-hold", &scope));
    let prepared = match unless_answered(state, &asked, prepare).await? {
        Written::Replayed(stored) => return Ok(Reply::Replayed(stored)),
        Written::Done(Outcome::Federation(federation::Outcome::Charge(record))) => *record,
        Written::Done(_) => return Err(crate::api::unexpected()),
    };
    let entry = FederationEntry::Hold {
        id: id.clone(),
        code: Secret(code.clone()),
        pin: outbound::pin(headers),
        amount: Money::new(prepared.amount.units(), prepared.currency),
        payee: payee.to_string(),
        expires_at: expires_at.to_rfc3339(),
        deadline: deadline.to_rfc3339(),
        answer: None,
    };
    let Some(answered) = ask(state, &peer, entry, &prepared).await else {
        mark(state, &peer, &id, ChargeState::Voiding).await;
        return Err(unreachable(&peer));
    };
    match answered.status.as_str() {
        "held" => {}
        "refused" => {
            mark(state, &peer, &id, ChargeState::Voiding).await;
            return Err(refused(state, &caller, answered).await);
        }
        "closed" => {
            mark(state, &peer, &id, ChargeState::Failed).await;
            return Err(unreachable(&peer));
        }
        _ => {
            mark(state, &peer, &id, ChargeState::Voiding).await;
            return Err(unreachable(&peer));
        }
    }
    // Held: under the seller's Idempotency-Key (with the code presented), so a retry that raced
    // past the check above gets the first hold, and the hold the retry made is voided.
    let command = Command::Mark {
        peer: peer.name.clone(),
        id: id.clone(),
        to: ChargeState::Held,
    };
    finish_keyed(state, (&peer, &id), asked, command).await
}

/// The hold `id` here, for the seller that presents `reader`.
async fn sellers_hold(state: &AppState, reader: &Holder, id: &str) -> Result<ChargeRecord, ApiError> {
    let query = federation::Query::Hold {
        id: id.to_owned(),
        reader: reader.hash,
    };
    match read(state, Some(&reader.caller), query).await? {
        federation::QueryOutcome::Hold(record) => Ok(*record),
        _ => Err(crate::api::unexpected()),
    }
}

/// `GET /v1/holds/{id}` of a hold across brokers.
pub(crate) async fn read_hold(state: &AppState, reader: &Holder, id: &str) -> Result<HoldJson, ApiError> {
    let record = sellers_hold(state, reader, id).await?;
    Ok(hold_json(&record, state.clock.now()))
}

/// The seller captures all or part of a hold across brokers: charged at the peer, then credited
/// here with a signed receipt.
pub(crate) async fn capture_elsewhere(
    state: &AppState,
    seller: &Holder,
    id: &str,
    amount: Option<&smartcode_api::RequestAmount>,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let amount = amount.map(ParseAmount::parse).transpose()?;
    let deadline = Timestamp(state.clock.now().0 + PEER_CHARGE_SECONDS * MICROS_PER_SECOND);
    let context = WriteContext {
        holder: Some(seller),
        asked: Asked { key: Ok(None), ..asked },
    };
    let reply = submit(state, context, StatusCode::OK, |pin| {
        let command = Command::CaptureAsked {
            seller: seller.with(pin),
            id: id.to_owned(),
            amount,
            deadline,
        };
        (command, Shown::NONE)
    })
    .await?;
    let Reply::Done {
        outcome: smartcode_core::ledger::Outcome::Federation(federation::Outcome::Charge(prepared)),
        ..
    } = reply
    else {
        return Err(crate::api::unexpected());
    };
    let peer = peer_of(state, &prepared).await?;
    let scope = hex::encode(state.keys.fingerprint(&[b"peer-capture-scope", prepared.id.as_bytes()]));
    let crediting = Crediting {
        memo: None,
        asked: keyed(asked, &peer, ("peer-payment", &scope)),
    };
    if prepared.state == ChargeState::Credited {
        return captured_again(state, &peer, &prepared, crediting).await;
    }
    let entry = FederationEntry::Capture {
        id: prepared.id.clone(),
        amount: Money::new(prepared.amount.units(), prepared.currency),
        payee: shown_payee(&prepared),
        deadline: deadline.to_rfc3339(),
    };
    let answered = ask(state, &peer, entry, &prepared).await;
    settle(state, &seller.caller, (&peer, &prepared), answered, crediting).await
}

/// A capture of a hold captured already: its first receipt, if the seller asks again under the
/// same Idempotency-Key; else `409 hold_not_pending` (captured), as for a local hold. Nothing
/// is credited again: the core credits only a prepared charge.
async fn captured_again(
    state: &AppState,
    peer: &PeerRecord,
    record: &ChargeRecord,
    crediting: Crediting<'_>,
) -> Result<Reply, ApiError> {
    let not_pending = || OpError::Hold(HoldRefusal::NotPending { state: "captured" }).into();
    let keyed = matches!(crediting.asked.key, Ok(Some(_)));
    let approval = record.approval.as_deref().and_then(|a| serde_json::from_str(a).ok());
    let (true, Some(approval)) = (keyed, approval) else {
        return Err(not_pending());
    };
    match outbound::credit(state, peer, &record.id, approval, crediting).await {
        Ok(reply @ Reply::Rendered { replayed: true, .. }) => Ok(reply),
        _ => Err(not_pending()),
    }
}

/// The seller gives a hold across brokers back: voided here at once, and at the peer now if it
/// answers (or by the resolver, until it does).
pub(crate) async fn void_elsewhere(
    state: &AppState,
    seller: &Holder,
    id: &str,
    asked: Asked<'_>,
) -> Result<HoldJson, ApiError> {
    let context = WriteContext {
        holder: Some(seller),
        asked: Asked { key: Ok(None), ..asked },
    };
    let reply = submit(state, context, StatusCode::OK, |pin| {
        let command = Command::VoidAsked {
            seller: seller.with(pin),
            id: id.to_owned(),
        };
        (command, Shown::NONE)
    })
    .await?;
    let Reply::Done {
        outcome: smartcode_core::ledger::Outcome::Federation(federation::Outcome::Charge(mut voiding)),
        ..
    } = reply
    else {
        return Err(crate::api::unexpected());
    };
    let peer = peer_of(state, &voiding).await?;
    let void = FederationEntry::Void {
        id: voiding.id.clone(),
        amount: Money::new(voiding.amount.units(), voiding.currency),
        payee: shown_payee(&voiding),
    };
    let timeout = Duration::from_secs(PEER_REQUEST_SECONDS);
    if let Ok(answer) = send(state, &peer, &FederationMessage { entries: vec![void] }, timeout).await {
        let landed = answer
            .entries
            .iter()
            .any(|e| e.status == "reversed" || e.status == "closed");
        if landed && mark(state, &peer, &voiding.id, ChargeState::Voided).await {
            voiding.state = ChargeState::Voided;
        }
    }
    Ok(hold_json(&voiding, state.clock.now()))
}

async fn peer_of(state: &AppState, record: &ChargeRecord) -> Result<PeerRecord, ApiError> {
    let peers = outbound::peers(state).await?;
    let peer = peers.iter().find(|p| p.name == record.peer).cloned();
    peer.ok_or_else(|| ApiError::not_found("peer"))
}

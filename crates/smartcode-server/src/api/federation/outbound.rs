//! The seller's broker's side of a payment with a code of another broker (ARCHITECTURE.md, "A
//! payment across two brokers"): `POST /v1/payments` with `CODE@domain`, or an all-digit code
//! starting with a peer's broker number, is charged at that peer.
//!
//! 1. **Prepare**: the charge is written (`prepared`) before anything is sent, with a deadline
//!    [`PEER_CHARGE_SECONDS`] away; the peer's credit limit is checked here.
//! 2. **Charge**: sent, and sent again with the same id (backoff from [`PEER_RETRY_FIRST_MILLIS`])
//!    until an answer or the deadline.
//! 3. An approval (checked against the peer's pinned key) credits the seller: `credited`, 201 and
//!    the receipt. A refusal is `failed`, and the seller gets the peer's refusal.
//! 4. No answer by the deadline: one **outcome** query. Approved: credited as above. Closed (the
//!    peer never saw the charge, and now never will take it): `failed`, 503 `peer_unreachable`.
//!    No answer to that either: `voiding`, 503 `peer_unreachable`, and the resolver voids it.
//!
//! The resolver ([`resolve_in_doubt`]) runs in every broker process: each second it takes the
//! charges in doubt (voiding ones, and prepared ones a request gave up on or a crash left
//! behind), marks them voiding, and sends one void per peer for all of them until the peer
//! answers; then they are `voided`. So a payment is on both sides or on neither, whatever is lost.
//! The buyer's code and PIN live only in this request's memory and in the messages sent.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use smartcode_api::{ApprovalJson, EntryAnswer, FederationEntry, FederationMessage, Money, PaymentRequest, Secret};
use smartcode_core::clock::{Timestamp, MICROS_PER_SECOND};
use smartcode_core::code::ReceiptId;
use smartcode_core::ledger::federation::{self, Command, PrepareOrder};
use smartcode_core::ledger::{peers, Outcome};
use smartcode_core::limits::*;
use smartcode_core::model::{ChargeRecord, ChargeState, PeerRecord};
use smartcode_store::{answer, WriteRequest, Written};

use super::{send, SendError};
use crate::api::{read, submit, unless_answered, Asked, Reply, Shown, WriteContext};
use crate::extract::Caller;
use crate::problem::{ApiError, ProblemCode};
use crate::wire::*;
use crate::{AppState, Broker};

/// Every peer, by name, as read at most a second ago ([`super::batch`]).
pub(super) async fn peers(state: &AppState) -> Result<std::sync::Arc<Vec<PeerRecord>>, ApiError> {
    if let Some(peers) = state.federation_batches.known_peers() {
        return Ok(peers);
    }
    match read(state, None, peers::Query::List).await? {
        peers::QueryOutcome::List(peers) => {
            let peers = std::sync::Arc::new(peers);
            state.federation_batches.keep_peers(peers.clone());
            Ok(peers)
        }
        _ => Err(crate::api::unexpected()),
    }
}

/// The peers this broker shows (on `/broker` and in its metadata): listed and active.
pub(crate) async fn listed_peers(state: &AppState) -> Result<Vec<PeerRecord>, ApiError> {
    let shown = |p: &&PeerRecord| p.listed && p.status == smartcode_core::model::PeerStatus::Active;
    Ok(peers(state).await?.iter().filter(shown).cloned().collect())
}

/// The peer a presented code belongs to, and the code as that peer reads it: `CODE@domain` names
/// a peer by its domain; an all-digit code that does not start with this broker's number names
/// the peer whose number it starts with. `None` for a code of this broker (or of no peer: then it
/// is refused as any other broker's code is).
pub(crate) async fn peer_for_code(state: &AppState, text: &str) -> Result<Option<(PeerRecord, String)>, ApiError> {
    if text.chars().count() > CODE_INPUT_CHARS_MAX {
        return Ok(None);
    }
    if let Some((local, domain)) = text.rsplit_once('@') {
        let domain = domain.trim();
        if domain.eq_ignore_ascii_case(&state.config.domain) {
            return Ok(None);
        }
        let peers = peers(state).await?;
        let peer = peers.iter().find(|p| p.domain.eq_ignore_ascii_case(domain));
        return Ok(peer.map(|p| (p.clone(), local.trim().to_owned())));
    }
    let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')).collect();
    let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    if !numeric
        || digits.len() == state.config.code_format().length()
        || digits.starts_with(&state.config.broker_number.to_string())
    {
        return Ok(None);
    }
    let peers = peers(state).await?;
    let peer = peers.iter().find(|p| digits.starts_with(&p.broker_number));
    Ok(peer.map(|p| (p.clone(), digits)))
}

/// Admits the seller's request through this broker's guessing defence, as any presentation is.
pub(super) async fn admit(state: &AppState, caller: &mut Caller) -> Result<(), ApiError> {
    match state
        .guard
        .admit(&state.keys, &caller.principal(), caller.answer.as_deref())
        .await?
    {
        Ok(admission) => {
            caller.admission = Some(admission);
            Ok(())
        }
        Err(challenge) => Err(ApiError::challenge_required(&challenge)),
    }
}

/// Pays `request.payee` with a code of `peer` (`code`, as that peer reads it).
pub(crate) async fn pay_elsewhere(
    state: &AppState,
    mut caller: Caller,
    (peer, code): (PeerRecord, String),
    request: &PaymentRequest,
    headers: &HeaderMap,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    admit(state, &mut caller).await?;
    // A quote of this broker's: the buyer's broker is charged its `pay`, the seller here gets its price.
    let quote = request
        .quote
        .as_deref()
        .map(|q| smartcode_core::code::QuoteId::parse(q).ok_or_else(|| ApiError::not_found("quote")))
        .transpose()?;
    if quote.is_some() && request.certificate.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ProblemCode::Conflict,
            "a certificate pays in its own currency; pay a quote with a secret code",
        ));
    }
    let payee = crate::api::aliases::payee(state, &request.payee).await?;
    let amount = request.amount.as_ref().map(ParseAmount::parse).transpose()?;
    if amount.is_none() && quote.is_none() {
        return Err(ApiError::invalid_request(
            "amount is required, unless the payment names a quote",
        ));
    }
    let now = state.clock.now();
    let id = ReceiptId::generate_at(now).to_string();
    let deadline = Timestamp(now.0 + PEER_CHARGE_SECONDS * MICROS_PER_SECOND);
    let prepare = Command::Prepare(Box::new(PrepareOrder {
        peer: peer.name.clone(),
        id: id.clone(),
        payee: payee.clone(),
        amount,
        currency: request.currency.as_deref().map(parse_currency).transpose()?,
        deadline,
        expires_at: None,
        memo: None,
        quote,
    }));
    let scope = hex::encode(state.keys.fingerprint(&[b"peer-payment-scope", code.as_bytes()]));
    // A retry under the seller's Idempotency-Key gets its first receipt before anything is sent.
    let asked = keyed(asked, &peer, ("peer-payment", &scope));
    let prepared = match unless_answered(state, &asked, prepare).await? {
        Written::Replayed(stored) => return Reply::Replayed(stored).signed(state).await,
        Written::Done(Outcome::Federation(federation::Outcome::Charge(record))) => *record,
        Written::Done(_) => return Err(crate::api::unexpected()),
    };
    let crediting = Crediting {
        memo: request.memo.clone(),
        asked,
    };
    let charge = FederationEntry::Charge {
        id,
        code: Secret(code),
        pin: pin(headers),
        amount: Money::new(prepared.amount.units(), prepared.currency),
        payee: payee.to_string(),
        deadline: deadline.to_rfc3339(),
        certificate: request.certificate.clone(),
        answer: None,
    };
    let answered = ask(state, &peer, charge, &prepared).await;
    settle(state, &caller, (&peer, &prepared), answered, crediting).await
}

/// The buyer's PIN, as the seller's request passed it on.
pub(super) fn pin(headers: &HeaderMap) -> Option<Secret> {
    headers
        .get("smartcode-pin")
        .and_then(|v| v.to_str().ok())
        .map(|p| Secret(p.trim().to_owned()))
}

/// Sends `entry` about `record` until its deadline, then asks once what became of it: the
/// peer's answer, or `None` if none came.
pub(super) async fn ask(
    state: &AppState,
    peer: &PeerRecord,
    entry: FederationEntry,
    record: &ChargeRecord,
) -> Option<EntryAnswer> {
    if let Some(answered) = charge_until(state, peer, entry, record.deadline).await {
        return Some(answered);
    }
    let outcome = FederationEntry::Outcome {
        id: record.id.clone(),
        amount: Money::new(record.amount.units(), record.currency),
        payee: shown_payee(record),
    };
    let timeout = Duration::from_secs(PEER_REQUEST_SECONDS);
    match send(state, peer, &FederationMessage { entries: vec![outcome] }, timeout).await {
        Ok(mut answer) => answer.entries.pop(),
        Err(_) => None,
    }
}

/// A seller-side record's payee as the peer was told it.
pub(super) fn shown_payee(record: &ChargeRecord) -> String {
    smartcode_core::code::PublicCode::from_stored(&record.payee).map_or(record.payee.clone(), |p| p.to_string())
}

/// `503 peer_unreachable`: the peer did not answer in time, and nothing was paid.
pub(super) fn unreachable(peer: &PeerRecord) -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ProblemCode::PeerUnreachable,
        format!(
            "the buyer's broker {} did not answer in time; nothing was paid",
            peer.name
        ),
    )
}

/// Under what the seller is credited once the peer approves: the seller's Idempotency-Key
/// ([`keyed`]), and the receipt's memo.
pub(super) struct Crediting<'a> {
    pub memo: Option<String>,
    pub asked: Asked<'a>,
}

/// What the peer answered to a charge (or a capture) of `prepared`: an approval of it exactly
/// credits the seller; anything else leaves it `failed` (closed: never made) or `voiding`.
pub(super) async fn settle(
    state: &AppState,
    caller: &Caller,
    (peer, prepared): (&PeerRecord, &ChargeRecord),
    answered: Option<EntryAnswer>,
    crediting: Crediting<'_>,
) -> Result<Reply, ApiError> {
    let id = prepared.id.as_str();
    let Some(answered) = answered else {
        mark(state, peer, id, ChargeState::Voiding).await;
        return Err(unreachable(peer));
    };
    match answered.status.as_str() {
        "approved" => match checked_approval(state, peer, prepared, answered.approval) {
            Some(approval) => credit(state, peer, id, approval, crediting).await,
            None => {
                tracing::warn!(peer = %peer.name, "a peer approved a charge with an approval that does not check");
                mark(state, peer, id, ChargeState::Voiding).await;
                Err(unreachable(peer))
            }
        },
        // A refusal may answer a resend of a charge that was made (its first answer lost): the
        // void then reverses it, or closes an id never charged. Nothing is left to chance.
        "refused" => {
            mark(state, peer, id, ChargeState::Voiding).await;
            Err(refused(state, caller, answered).await)
        }
        "closed" => {
            mark(state, peer, id, ChargeState::Failed).await;
            Err(unreachable(peer))
        }
        _ => {
            mark(state, peer, id, ChargeState::Voiding).await;
            Err(unreachable(peer))
        }
    }
}

/// Sends the charge (with whatever else waits for the peer, [`super::batch`]), again with the
/// same id while no answer comes, until the deadline.
async fn charge_until(
    state: &AppState,
    peer: &PeerRecord,
    charge: FederationEntry,
    deadline: Timestamp,
) -> Option<EntryAnswer> {
    let id = super::entry_id(&charge).to_owned();
    let mut charge = charge;
    let mut wait = Duration::from_millis(PEER_RETRY_FIRST_MILLIS);
    loop {
        let left = Duration::from_micros(u64::try_from(deadline.0 - state.clock.now().0).ok()?);
        if left.is_zero() {
            return None;
        }
        let sent = state.federation_batches.send(state, peer, charge.clone());
        match tokio::time::timeout(left, sent).await {
            Ok(Ok(answer)) => match super::work::answered(&charge, &answer, left).await {
                // The peer asked this broker for work (its budget of wrong codes is spent): done,
                // and sent again with the answer (once: it was refused, so nothing was kept).
                Some(answered) => charge = answered,
                None => return Some(answer),
            },
            Ok(Err(SendError::Refused(problem))) => {
                return Some(EntryAnswer {
                    id,
                    status: "refused".into(),
                    approval: None,
                    expires_at: None,
                    certificate: None,
                    problem: Some(problem),
                })
            }
            Ok(Err(SendError::Unreachable(why))) => {
                tracing::info!(peer = %peer.name, why = %why, "charge unanswered; sending again")
            }
            Err(_) => return None,
        }
        let left = Duration::from_micros(u64::try_from(deadline.0 - state.clock.now().0).ok()?);
        tokio::time::sleep(wait.min(left)).await;
        wait = (wait * 2).min(Duration::from_millis(PEER_RETRY_MAX_MILLIS));
    }
}

/// The approval, if it is for this charge exactly. Its signature needs no check here: it came in
/// an answer signed by the peer's pinned key over its whole body (the seller, or anyone, checks
/// it with `verify_approval`).
fn checked_approval(
    state: &Broker,
    peer: &PeerRecord,
    prepared: &ChargeRecord,
    approval: Option<ApprovalJson>,
) -> Option<ApprovalJson> {
    let approval = approval?;
    let ours = (approval.version == smartcode_receipt::APPROVAL_V1
        || approval.version == smartcode_receipt::APPROVAL_V2)
        && approval.charge_id == prepared.id
        && approval.broker.eq_ignore_ascii_case(&peer.domain)
        && approval.seller_broker == state.config.domain
        && approval.amount == Money::new(prepared.amount.units(), prepared.currency)
        && smartcode_core::code::PublicCode::from_stored(&prepared.payee)
            .is_some_and(|p| p.to_string() == approval.payee);
    ours.then_some(approval)
}

/// Credits the seller, under the seller's Idempotency-Key if it sent one: a retry of a payment
/// that was credited gets its first receipt, and the charge made for the retry is voided.
pub(super) async fn credit(
    state: &AppState,
    peer: &PeerRecord,
    id: &str,
    approval: ApprovalJson,
    crediting: Crediting<'_>,
) -> Result<Reply, ApiError> {
    let Crediting { memo, asked } = crediting;
    let approval = serde_json::to_string(&approval).expect("an approval serializes");
    let command = Command::Credit {
        peer: peer.name.clone(),
        id: id.to_owned(),
        approval,
        memo,
    };
    let reply = finish_keyed(state, (peer, id), asked, command).await;
    reply?.signed(state).await
}

/// The seller's Idempotency-Key, if it sent one, scoped to `kind`, the peer and `scope` (the keyed
/// hash of what the buyer presented, as a local payment's key lives with its code).
pub(super) fn keyed<'a>(asked: Asked<'a>, peer: &PeerRecord, (kind, scope): (&str, &str)) -> Asked<'a> {
    Asked {
        key: asked
            .key
            .map(|key| key.map(|key| format!("\u{1}{kind}\u{1}{}\u{1}{scope}\u{1}{key}", peer.name))),
        ..asked
    }
}

/// Runs `command`, the last step of charge `id` (its credit, a hold's `held`), under the seller's
/// Idempotency-Key ([`keyed`]): a retry that raced past the first step's check gets the first
/// answer, and what the retry made at the peer is voided, as is a charge whose last step failed.
pub(super) async fn finish_keyed(
    state: &AppState,
    (peer, id): (&PeerRecord, &str),
    asked: Asked<'_>,
    command: Command,
) -> Result<Reply, ApiError> {
    let context = WriteContext { holder: None, asked };
    let reply = submit(state, context, StatusCode::CREATED, |_| (command.clone(), Shown::NONE)).await;
    if matches!(reply, Ok(Reply::Replayed(_)) | Err(_)) {
        mark(state, peer, id, ChargeState::Voiding).await;
    }
    reply
}

/// The peer's refusal, answered to the seller as this broker's own; a wrong code counts against
/// the seller's side here too.
pub(super) async fn refused(state: &Broker, caller: &Caller, answered: EntryAnswer) -> ApiError {
    let Some(problem) = answered.problem else {
        return ApiError::new(
            StatusCode::BAD_GATEWAY,
            ProblemCode::PeerUnreachable,
            "the peer refused without a reason",
        );
    };
    let code = ProblemCode::from_word(&problem.code).unwrap_or(ProblemCode::Conflict);
    // Only a refusal (4xx) passes through as the peer gave it; anything else is the peer failing.
    let status = StatusCode::from_u16(problem.status)
        .ok()
        .filter(StatusCode::is_client_error)
        .unwrap_or(StatusCode::BAD_GATEWAY);
    let code = if status == StatusCode::BAD_GATEWAY {
        ProblemCode::PeerUnreachable
    } else {
        code
    };
    // The peer's guessing defence asks its sender for work this broker's seller cannot do.
    let (status, code) = match code {
        ProblemCode::ChallengeRequired => (StatusCode::TOO_MANY_REQUESTS, ProblemCode::RateLimited),
        other => (status, other),
    };
    let refusal = ApiError::new(status, code, format!("the buyer's broker refused: {}", problem.detail));
    if code == ProblemCode::InvalidCode || code == ProblemCode::InvalidCodeFormat {
        return state.failed_presentation(caller, refusal).await;
    }
    refusal
}

pub(super) async fn write_charge(state: &Broker, command: Command) -> Result<ChargeRecord, ApiError> {
    match answer(state.store.write(WriteRequest::new(command))).await? {
        Written::Done(Outcome::Federation(federation::Outcome::Charge(record))) => Ok(*record),
        _ => Err(crate::api::unexpected()),
    }
}

/// Moves a seller-side charge on, and says whether it did: a charge another request or process
/// moved first is left as it is.
pub(super) async fn mark(state: &Broker, peer: &PeerRecord, id: &str, to: ChargeState) -> bool {
    let command = Command::Mark {
        peer: peer.name.clone(),
        id: id.to_owned(),
        to,
    };
    match write_charge(state, command).await {
        Ok(_) => true,
        Err(error) => {
            tracing::info!(peer = %peer.name, charge = id, to = to.as_str(), error = %error.detail, "charge not moved");
            false
        }
    }
}

/// Voids the charges in doubt and sends the refunds on, every second (and at once when a refund
/// is made here), for as long as the broker runs.
pub(crate) async fn resolve_in_doubt(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.federation_batches.resolve_soon.notified() => {}
        }
        if let Err(error) = resolve_once(&state).await {
            tracing::warn!(error = %error.detail, "charges in doubt were not resolved this time");
        }
    }
}

/// One pass: for each peer, up to [`CHARGE_RESOLVE_BATCH_MAX`] charges in doubt voiding and
/// refunds on their way, and one message for them.
async fn resolve_once(state: &AppState) -> Result<(), ApiError> {
    // A request gives up on its charge after the deadline and one outcome query.
    let grace = (PEER_CHARGE_SECONDS + 2 * PEER_REQUEST_SECONDS as i64) * MICROS_PER_SECOND;
    let before = Timestamp(state.clock.now().0 - grace);
    // Each peer its own share, so charges stuck with one peer never hold up another's.
    let peers = peers(state).await?;
    for peer in peers.iter() {
        let query = federation::Query::InDoubt {
            peer: peer.name.clone(),
            before,
            limit: CHARGE_RESOLVE_BATCH_MAX,
        };
        let federation::QueryOutcome::Charges(charges) = read(state, None, query).await? else {
            return Err(crate::api::unexpected());
        };
        let (mut voids, mut refunds) = (Vec::new(), Vec::new());
        for charge in &charges {
            match charge.state {
                ChargeState::Refunding => refunds.extend(super::refunds::entry(charge)),
                // Only what is voiding now: a prepared charge its request credited meanwhile is not.
                ChargeState::Voiding => voids.push(void_entry(charge)),
                _ if mark(state, peer, &charge.id, ChargeState::Voiding).await => voids.push(void_entry(charge)),
                _ => {}
            }
        }
        // Voids and refunds each in a message of their own: one the peer cannot take (or refuses
        // whole) never holds up the other.
        for entries in [voids, refunds].into_iter().filter(|e| !e.is_empty()) {
            let timeout = Duration::from_secs(PEER_REQUEST_SECONDS);
            match send(state, peer, &FederationMessage { entries }, timeout).await {
                Ok(answer) => {
                    for entry in &answer.entries {
                        let to = match entry.status.as_str() {
                            "reversed" | "closed" => ChargeState::Voided,
                            "refunded" => ChargeState::Refunded,
                            _ => match super::refunds::refused_for_good(&charges, entry) {
                                true => ChargeState::Failed,
                                false => continue,
                            },
                        };
                        mark(state, peer, &entry.id, to).await;
                    }
                }
                Err(error) => {
                    tracing::info!(peer = %peer.name, error = ?error, "voids or refunds unanswered; sent again later")
                }
            }
        }
    }
    Ok(())
}

/// The void of a charge in doubt.
fn void_entry(charge: &ChargeRecord) -> FederationEntry {
    FederationEntry::Void {
        id: charge.id.clone(),
        amount: Money::new(charge.amount.units(), charge.currency),
        payee: shown_payee(charge),
    }
}

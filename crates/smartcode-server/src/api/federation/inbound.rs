//! The buyer's broker's side: `POST /v1/federation`, where a peer (the seller's broker) charges,
//! asks about, or voids charges of this broker's codes. Refused before anything else happens: a
//! sender that is no peer (`403 peer_unknown`), a bad, missing or stale signature (`401
//! bad_signature`), a suspended peer (`403 peer_suspended`). Then each entry runs on its own, all
//! of them at once (so the store commits them together), and the answer is signed.
//!
//! A charge's code is judged exactly as a local payment's: the guessing defence admits it with the
//! peer as its principal (so a wrong code from a peer counts against that peer), the PIN is checked
//! by [`submit`], and the core's rules decide. The code is never stored or logged.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use smartcode_api::{
    ApprovalJson, EntryAnswer, EntryProblem, FederationAnswer, FederationEntry, FederationMessage, Money, RequestAmount,
};
use smartcode_core::clock::Timestamp;
use smartcode_core::error::{OpError, PeerRefusal};
use smartcode_core::ledger::federation::{
    refund_id, ChargeOrder, ChargeRef, Command, Outcome as FederationOutcome, RefundOrder,
};
use smartcode_core::ledger::Outcome;
use smartcode_core::limits::PEER_ENTRIES_PER_MESSAGE_MAX;
use smartcode_core::model::{ChargeRecord, ChargeState, PeerRecord, PeerStatus};
use smartcode_receipt::{request_message, seal_approvals, verify_message, RequestParts};
use smartcode_store::{answer, WriteRequest, Written};

use super::{signed_answer, signed_headers, signed_refusal, within_skew, ENDPOINT_PATH};
use crate::api::{submit, Asked, Reply, Shown, WriteContext};
use crate::extract::{Caller, Target};
use crate::guard::Source;
use crate::problem::{ApiError, ProblemCode};
use crate::wire::{parse_currency, ParseAmount};
use crate::{AppState, Broker};

pub(super) async fn handle(State(state): State<AppState>, target: Target, headers: HeaderMap, body: Bytes) -> Response {
    let peer = match authenticate(&state, ENDPOINT_PATH, &headers, &body).await {
        Ok(peer) => peer,
        Err(refusal) => return signed_refusal(&state, &body, refusal),
    };
    let message: FederationMessage = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(_) => {
            let refusal = ApiError::invalid_request("the body is no federation message");
            return signed_refusal(&state, &body, refusal);
        }
    };
    if message.entries.len() > PEER_ENTRIES_PER_MESSAGE_MAX {
        let refusal = ApiError::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::LimitExceeded,
            format!("a message carries at most {PEER_ENTRIES_PER_MESSAGE_MAX} entries"),
        );
        return signed_refusal(&state, &body, refusal);
    }
    let answers = message
        .entries
        .iter()
        .map(|entry| answer_entry(&state, &peer, &target, entry));
    let mut entries = futures::future::join_all(answers).await;
    // Every approval of this answer under one signature (smartcode-approval-v2).
    let mut approvals: Vec<&mut ApprovalJson> = entries.iter_mut().filter_map(|e| e.approval.as_mut()).collect();
    seal_approvals(state.keys.federation_signing_key(), &mut approvals);
    let answer = serde_json::to_vec(&FederationAnswer { entries }).expect("an answer serializes");
    signed_answer(&state, &body, StatusCode::OK, answer, "application/json")
}

/// The peer that signed this request, checked before anything else is read.
pub(super) async fn authenticate(
    state: &AppState,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<PeerRecord, ApiError> {
    let bad = |detail: &str| ApiError::new(StatusCode::UNAUTHORIZED, ProblemCode::BadSignature, detail);
    let Some((from, date, signature)) = signed_headers(headers) else {
        return Err(bad(
            "a message between brokers carries Smartcode-Broker, Smartcode-Date and Smartcode-Signature",
        ));
    };
    let peers = super::outbound::peers(state).await?;
    let Some(peer) = peers.iter().find(|p| p.domain.eq_ignore_ascii_case(&from)).cloned() else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            ProblemCode::PeerUnknown,
            "this broker has no peer of that domain",
        ));
    };
    if !within_skew(state, date) {
        return Err(bad("the message is dated too far from this broker's clock"));
    }
    let key = ed25519_dalek::VerifyingKey::from_bytes(&peer.signing_key).map_err(|_| bad("no usable key is pinned"))?;
    let signed = request_message(&RequestParts {
        method: "POST",
        path,
        from: &peer.domain,
        to: &state.config.domain,
        date,
        body,
    });
    verify_message(&key, &signed, &signature).map_err(|_| bad("the signature is not the pinned key's"))?;
    if peer.status != PeerStatus::Active {
        return Err(OpError::Peer(PeerRefusal::Suspended).into());
    }
    Ok(peer)
}

async fn answer_entry(state: &AppState, peer: &PeerRecord, target: &Target, entry: &FederationEntry) -> EntryAnswer {
    let id = super::entry_id(entry).to_owned();
    if let FederationEntry::Certify {
        assurance_code, payee, ..
    } = entry
    {
        return match certify(state, peer, target, &assurance_code.0, payee).await {
            Ok(certificate) => EntryAnswer {
                id,
                status: "certified".into(),
                approval: None,
                expires_at: None,
                certificate: Some(certificate),
                problem: None,
            },
            Err(refusal) => refused(id, refusal),
        };
    }
    let result = match entry {
        FederationEntry::Charge {
            id,
            code,
            pin,
            amount,
            payee,
            deadline,
            certificate,
            answer,
        } => {
            let presented = Presented {
                id,
                code: &code.0,
                pin: pin.as_ref().map(|p| p.0.as_str()),
                amount,
                payee,
                deadline,
                expires_at: None,
                certificate: certificate.as_deref(),
                answer: answer.as_deref(),
            };
            charge(state, peer, target, presented).await
        }
        FederationEntry::Hold {
            id,
            code,
            pin,
            amount,
            payee,
            expires_at,
            deadline,
            answer,
        } => {
            let presented = Presented {
                id,
                code: &code.0,
                pin: pin.as_ref().map(|p| p.0.as_str()),
                amount,
                payee,
                deadline,
                expires_at: Some(expires_at),
                certificate: None,
                answer: answer.as_deref(),
            };
            charge(state, peer, target, presented).await
        }
        FederationEntry::Capture {
            id,
            amount,
            payee,
            deadline,
        } => match (reference(peer, id, amount, payee), parse_time("deadline", deadline)) {
            (Ok(reference), Ok(deadline)) => run(state, Command::Capture { reference, deadline }).await,
            (Err(refusal), _) | (_, Err(refusal)) => Err(refusal),
        },
        FederationEntry::Certify { .. } => Err(crate::api::unexpected()),
        FederationEntry::Outcome { id, amount, payee } => match reference(peer, id, amount, payee) {
            Ok(reference) => run(state, Command::Conclude(reference)).await,
            Err(refusal) => Err(refusal),
        },
        FederationEntry::Void { id, amount, payee } => match reference(peer, id, amount, payee) {
            Ok(reference) => run(state, Command::Void(reference)).await,
            Err(refusal) => Err(refusal),
        },
        FederationEntry::Refund {
            id,
            charge,
            seq,
            amount,
            payee,
            refunded_at,
        } => match (
            refund_order(peer, (charge, *seq), amount, payee, refunded_at),
            *id == refund_id(charge, *seq),
        ) {
            (Ok(order), true) => run(state, Command::Refund(Box::new(order))).await,
            (Ok(_), false) => Err(ApiError::invalid_request(
                "a refund's id is its charge's, -r and its seq",
            )),
            (Err(refusal), _) => Err(refusal),
        },
    };
    match result {
        Ok(record) => answered(state, peer, id, &record),
        Err(refusal) => refused(id, refusal),
    }
}

fn refused(id: String, refusal: ApiError) -> EntryAnswer {
    EntryAnswer {
        id,
        status: "refused".into(),
        approval: None,
        expires_at: None,
        certificate: None,
        problem: Some(EntryProblem {
            status: refusal.status.as_u16(),
            code: refusal.code.as_str().to_owned(),
            detail: refusal.detail,
            challenge: refusal.challenge,
        }),
    }
}

/// Certifies an assurance code of this broker for a seller of `peer`, as a local certify would
/// be judged (the guessing defence with the peer as principal).
async fn certify(
    state: &AppState,
    peer: &PeerRecord,
    target: &Target,
    code: &str,
    payee: &str,
) -> Result<smartcode_api::CertificateJson, ApiError> {
    let presenter = state.assurance_presenter(peer_caller(peer, None), code).await?;
    let context = WriteContext {
        holder: Some(&presenter),
        asked: Asked {
            key: Ok(None),
            target,
            body: b"",
        },
    };
    let reply = submit(state, context, StatusCode::OK, |_| {
        let command = Command::Certify {
            peer: peer.name.clone(),
            assurance: presenter.hash,
            payee: payee.to_owned(),
        };
        (command, Shown::NONE)
    })
    .await?;
    match reply {
        Reply::Done {
            outcome: Outcome::Federation(FederationOutcome::Certified { certificate, assurance }),
            ..
        } => Ok(crate::api::assurances::certificate_json(
            state,
            &certificate,
            &assurance,
        )),
        _ => Err(crate::api::unexpected()),
    }
}

/// A peer as the one presenting a code here: what a wrong code counts against, with its answer
/// to the proof of work asked of it, if it sent one.
fn peer_caller(peer: &PeerRecord, answer: Option<&str>) -> Caller {
    Caller {
        source: Source::of(std::net::IpAddr::from([0, 0, 0, 0])),
        peer: Some(peer.name.clone()),
        proven: None,
        seller: None,
        answer: answer.map(str::to_owned),
        admission: None,
    }
}

async fn run(state: &AppState, command: Command) -> Result<ChargeRecord, ApiError> {
    match answer(state.store.write(WriteRequest::new(command))).await? {
        Written::Done(Outcome::Federation(FederationOutcome::Charge(record))) => Ok(*record),
        _ => Err(crate::api::unexpected()),
    }
}

fn reference(peer: &PeerRecord, id: &str, amount: &Money, payee: &str) -> Result<ChargeRef, ApiError> {
    Ok(ChargeRef {
        peer: peer.name.clone(),
        id: id.to_owned(),
        amount: RequestAmount(amount.amount.clone()).parse()?,
        currency: parse_currency(&amount.currency)?,
        payee: payee.to_owned(),
    })
}

fn refund_order(
    peer: &PeerRecord,
    (charge, seq): (&str, u32),
    amount: &Money,
    payee: &str,
    at: &str,
) -> Result<RefundOrder, ApiError> {
    let reference = reference(peer, charge, amount, payee)?;
    Ok(RefundOrder {
        peer: reference.peer,
        charge: reference.id,
        seq,
        amount: reference.amount,
        currency: reference.currency,
        payee: reference.payee,
        at: parse_time("refunded_at", at)?,
    })
}

/// How a charge stands, as the peer is told: approved (with the approval, signed now: the same
/// bytes each time, Ed25519 being deterministic), closed or reversed.
fn answered(state: &Broker, peer: &PeerRecord, id: String, record: &ChargeRecord) -> EntryAnswer {
    let (status, approval) = match record.state {
        ChargeState::Charged => ("approved", Some(approval(state, peer, record))),
        ChargeState::Held => ("held", None),
        ChargeState::Reversed => ("reversed", None),
        ChargeState::Refunded => ("refunded", None),
        _ => ("closed", None),
    };
    EntryAnswer {
        id,
        status: status.into(),
        approval,
        expires_at: (record.state == ChargeState::Held)
            .then(|| record.expires_at.map(Timestamp::to_rfc3339))
            .flatten(),
        certificate: None,
        problem: None,
    }
}

fn approval(state: &Broker, peer: &PeerRecord, record: &ChargeRecord) -> ApprovalJson {
    ApprovalJson {
        version: String::new(),
        broker: state.config.domain.clone(),
        seller_broker: peer.domain.clone(),
        charge_id: record.id.clone(),
        payee: record.payee.clone(),
        amount: Money::new(record.amount.units(), record.currency),
        transfer_id: record.transfer_id.clone().unwrap_or_default(),
        approved_at: record.created_at.to_rfc3339(),
        signature: String::new(),
        batch: None,
    }
}

fn parse_time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse_rfc3339(text).ok_or_else(|| ApiError::invalid_request(format!("{field} is an RFC 3339 time")))
}

/// A charge or a hold as a peer presented it, the buyer's code with it.
struct Presented<'a> {
    id: &'a str,
    code: &'a str,
    pin: Option<&'a str>,
    amount: &'a Money,
    payee: &'a str,
    deadline: &'a str,
    /// A hold's end; `None` for a charge.
    expires_at: Option<&'a str>,
    /// With an assurance code: the certificate it pays under.
    certificate: Option<&'a str>,
    /// The peer's answer to the proof of work asked of it.
    answer: Option<&'a str>,
}

/// Charges a code of this broker for a seller of `peer` (or, for a hold, sets the amount aside
/// on it), as a payment would be judged.
async fn charge(
    state: &AppState,
    peer: &PeerRecord,
    target: &Target,
    presented: Presented<'_>,
) -> Result<ChargeRecord, ApiError> {
    let Presented {
        id,
        code,
        pin,
        amount,
        payee,
        deadline,
        expires_at,
        certificate,
        answer,
    } = presented;
    let certificate = certificate
        .map(|id| smartcode_core::code::HoldId::parse(id).ok_or_else(|| ApiError::not_found("certificate")))
        .transpose()?;
    let units = RequestAmount(amount.amount.clone()).parse()?;
    let currency = parse_currency(&amount.currency)?;
    let deadline = parse_time("deadline", deadline)?;
    let expires_at = expires_at.map(|at| parse_time("expires_at", at)).transpose()?;
    let caller = peer_caller(peer, answer);
    let mut headers = HeaderMap::new();
    if let Some(pin) = pin {
        let pin = HeaderValue::from_str(pin).map_err(|_| ApiError::invalid_request("a PIN is digits"))?;
        headers.insert("smartcode-pin", pin);
    }
    // With a certificate, the code is an assurance code: a shape of its own.
    let holder = match certificate {
        Some(_) => state.assurance_presenter(caller, code).await?,
        None => state.holder(caller, code, &headers).await?,
    };
    let deadline_bytes = deadline.0.to_be_bytes();
    let mut parts: Vec<&[u8]> = vec![
        b"federation-charge",
        &holder.hash.0,
        pin.unwrap_or("").as_bytes(),
        amount.amount.as_bytes(),
        amount.currency.as_bytes(),
        payee.as_bytes(),
        &deadline_bytes,
    ];
    // A hold's id is never a charge's: its body is told apart, and its end is part of it.
    let expiry = expires_at.map(|at| at.0.to_be_bytes());
    if let Some(expiry) = &expiry {
        parts[0] = b"federation-hold";
        parts.push(expiry);
    }
    if let Some(certificate) = &certificate {
        parts.push(certificate.as_str().as_bytes());
    }
    let fingerprint = state.keys.fingerprint(&parts);
    let context = WriteContext {
        holder: Some(&holder),
        asked: Asked {
            key: Ok(None),
            target,
            body: b"",
        },
    };
    let reply = submit(state, context, StatusCode::OK, |pin| {
        let order = ChargeOrder {
            peer: peer.name.clone(),
            id: id.to_owned(),
            payer: holder.with(pin),
            amount: units,
            currency,
            payee: payee.to_owned(),
            deadline,
            fingerprint,
            authorization: holder.authorization,
            certificate: certificate.clone(),
        };
        let command = match expires_at {
            Some(expires_at) => Command::Hold {
                order: Box::new(order),
                expires_at,
            },
            None => Command::Charge(Box::new(order)),
        };
        (command, Shown::NONE)
    })
    .await?;
    match reply {
        Reply::Done {
            outcome: Outcome::Federation(FederationOutcome::Charge(record)),
            ..
        } => Ok(*record),
        _ => Err(crate::api::unexpected()),
    }
}

//! The single path of every write ([`submit`]: the idempotency key and the request's fingerprint,
//! code-collision redraws, the PIN check) and of every read ([`read`]), with what both share: how
//! a refusal counts for the guessing defence ([`refuse`]) and how a remembered answer is replayed.
//! The JSON of every write's outcome is [`super::render`]'s, so that first answers and replays agree.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use smartcode_core::code::SecretCode;
use smartcode_core::error::{Conflict, OpError};
use smartcode_core::ledger::{controls, purchases, Command, Outcome, PinPresented, Query, QueryOutcome};
use smartcode_core::limits::WRITE_ATTEMPTS_MAX;
use smartcode_core::model::CodeRecord;
use smartcode_store::{answer, Idempotency, StoredResponse, WriteRequest, Written};

use super::render::render_outcome;
use super::{json_bytes, unexpected, Answer};
use crate::extract::{idempotency_key, Caller, Holder, Target};
use crate::keys;
use crate::problem::ApiError;
use crate::wire::*;
use crate::{AppState, Broker};

/// A write as its caller asked for it: the Idempotency-Key (or the refusal of an unusable one,
/// raised only when the write is submitted, after its body was read), and the request the key's
/// fingerprint binds. A page asks with its form's one-time nonce as the key.
pub(crate) struct Asked<'a> {
    pub key: Result<Option<String>, ApiError>,
    /// Method and path as requested (the matched route with its parameters), part of the
    /// request's fingerprint.
    pub target: &'a Target,
    pub body: &'a [u8],
}

impl<'a> Asked<'a> {
    /// An API request: its `Idempotency-Key` header.
    pub(crate) fn of(headers: &HeaderMap, target: &'a Target, body: &'a [u8]) -> Asked<'a> {
        Asked {
            key: idempotency_key(headers),
            target,
            body,
        }
    }

    /// A write anyone may make, with no credential (a quote): its Idempotency-Key lives in a
    /// scope of its own, apart from the operator's (whose writes also present no code). A key is
    /// printable text, so the control character that opens the prefix never begins one.
    pub(crate) fn for_anyone(self) -> Asked<'a> {
        Asked {
            key: self.key.map(|key| key.map(|key| format!("\u{1}anyone\u{1}{key}"))),
            ..self
        }
    }
}

pub(super) struct WriteContext<'a> {
    /// The code presenting the request; `None` for the operator. Idempotency keys live per credential.
    pub holder: Option<&'a Holder>,
    pub asked: Asked<'a>,
}

/// The secrets a write's answer shows once: a new code (a child, an issued code, a rekey's, an
/// authorization code) and a new secret alias (asked for, or a rekey's).
#[derive(Clone, Default)]
pub(crate) struct Shown {
    pub code: Option<SecretCode>,
    pub alias: Option<SecretCode>,
    pub assurance: Option<smartcode_core::code::AssuranceCode>,
}

impl Shown {
    pub const NONE: Shown = Shown {
        code: None,
        alias: None,
        assurance: None,
    };

    pub fn code(code: SecretCode) -> Shown {
        Shown {
            code: Some(code),
            ..Shown::NONE
        }
    }

    pub fn assurance(code: smartcode_core::code::AssuranceCode) -> Shown {
        Shown {
            assurance: Some(code),
            ..Shown::NONE
        }
    }
}

/// What a write answered: what it did now, or the answer remembered from its first time.
pub(crate) enum Reply {
    Done {
        status: StatusCode,
        outcome: Outcome,
        /// The new secrets the outcome holds.
        secret: Shown,
    },
    Replayed(StoredResponse),
    /// An answer rendered already: a payment's, whose receipt is signed after its commit.
    Rendered {
        status: StatusCode,
        body: Vec<u8>,
        replayed: bool,
    },
}

impl Reply {
    /// The HTTP answer: the outcome's JSON, or the remembered answer replayed.
    pub(crate) fn respond(self, state: &AppState) -> Result<Response, ApiError> {
        match self {
            Reply::Done {
                status,
                outcome,
                secret,
            } => Ok(json_bytes(status, render_outcome(state, &outcome, &secret))),
            Reply::Replayed(stored) => {
                let (status, body) = open_stored(&state.keys, stored)?;
                Ok(replayed(json_bytes(status, body)))
            }
            Reply::Rendered {
                status,
                body,
                replayed: again,
            } => {
                let response = json_bytes(status, body);
                Ok(if again { replayed(response) } else { response })
            }
        }
    }

    /// Signs the receipt of a payment's answer, first or replayed. The answer remembered for
    /// replays holds the receipt unsigned (the store remembers it inside the batch's commit,
    /// before any signing), so a replay's receipt is signed again, in the batch it is answered in:
    /// the same fields, a proof of its own that verifies as well.
    pub(crate) async fn signed(self, state: &AppState) -> Result<Reply, ApiError> {
        let (status, body, replayed) = match self {
            Reply::Done {
                status,
                outcome,
                secret,
            } => (status, render_outcome(state, &outcome, &secret), false),
            Reply::Replayed(stored) => {
                let (status, body) = open_stored(&state.keys, stored)?;
                (status, body, true)
            }
            other => return Ok(other),
        };
        let mut answer = PaidAnswer::read(&body).map_err(|error| {
            tracing::error!(error = %error, "a payment's answer is not the JSON the broker writes");
            ApiError::internal()
        })?;
        // An answer without a receipt (a purchase waiting for approval) has nothing to sign.
        if let Some(receipt) = answer.receipt_mut() {
            *receipt = state.signer.seal(receipt.clone()).await?;
        }
        let body = answer.to_vec();
        Ok(Reply::Rendered { status, body, replayed })
    }

    /// The answer a page shows, typed. A replayed write exists only as the answer remembered the
    /// first time, so first answers and replays are both read from the answer the API sends:
    /// a form sent twice shows the same result twice (a new secret included).
    pub(crate) async fn answer(self, state: &AppState) -> Result<Answer, ApiError> {
        read_answer(self.respond(state)?).await
    }
}

/// The answer of a write that pays, typed, so that sealing its receipt keeps its fields in the
/// order the broker writes them: a payment's, a purchase's, an approval's, or a session's charge.
enum PaidAnswer {
    Paid(PaidJson),
    Purchase(smartcode_api::PurchaseJson),
    Approved(smartcode_api::ApprovedJson),
    Charged(smartcode_api::ChargedJson),
    Bought(smartcode_api::BoughtJson),
    License(smartcode_api::LicenseBoughtJson),
}

impl PaidAnswer {
    fn read(body: &[u8]) -> serde_json::Result<PaidAnswer> {
        let value: serde_json::Value = serde_json::from_slice(body)?;
        let has = |field: &str| value.get(field).is_some();
        if has("download") {
            return Ok(PaidAnswer::Bought(serde_json::from_value(value)?));
        }
        if has("license_code") {
            return Ok(PaidAnswer::License(serde_json::from_value(value)?));
        }
        Ok(match (has("status"), has("approval"), has("session")) {
            (true, _, _) => PaidAnswer::Purchase(serde_json::from_value(value)?),
            (false, true, _) => PaidAnswer::Approved(serde_json::from_value(value)?),
            (false, false, true) => PaidAnswer::Charged(serde_json::from_value(value)?),
            (false, false, false) => PaidAnswer::Paid(serde_json::from_value(value)?),
        })
    }

    fn receipt_mut(&mut self) -> Option<&mut ReceiptJson> {
        match self {
            PaidAnswer::Paid(paid) => Some(&mut paid.receipt),
            PaidAnswer::Purchase(purchase) => purchase.receipt.as_mut(),
            PaidAnswer::Approved(approved) => approved.receipt.as_mut(),
            PaidAnswer::Charged(charged) => Some(&mut charged.receipt),
            PaidAnswer::Bought(bought) => Some(&mut bought.receipt),
            PaidAnswer::License(license) => Some(&mut license.receipt),
        }
    }

    fn to_vec(&self) -> Vec<u8> {
        match self {
            PaidAnswer::Paid(paid) => serde_json::to_vec(paid),
            PaidAnswer::Purchase(purchase) => serde_json::to_vec(purchase),
            PaidAnswer::Approved(approved) => serde_json::to_vec(approved),
            PaidAnswer::Charged(charged) => serde_json::to_vec(charged),
            PaidAnswer::Bought(bought) => serde_json::to_vec(bought),
            PaidAnswer::License(license) => serde_json::to_vec(license),
        }
        .expect("an answer serializes")
    }
}

/// The typed answer in a response the broker itself made. One the page cannot read is the
/// broker's own failure (a 500), never a refusal of the visitor's request.
async fn read_answer(response: Response) -> Result<Answer, ApiError> {
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|error| {
            tracing::error!(error = %error, "a page could not read the broker's answer");
            ApiError::internal()
        })?;
    serde_json::from_slice(&bytes).map_err(|error| {
        tracing::error!(error = %error, "a page got an answer from the broker it cannot read");
        ApiError::internal()
    })
}

/// A write's idempotency key, bound to the code presenting it and to the PIN presented with it
/// (`scope`, `pin`: a replay may hand back a new secret, of a child or after a rekey, so it needs
/// the same proof as the first request did; without the PIN the key names another slot, the
/// command runs, and the PIN check refuses it), and to the request. It only replays until a
/// `render` is given.
fn bound(state: &Broker, (scope, pin): (&[u8], &[u8]), key: &str, (target, body): (&Target, &[u8])) -> Idempotency {
    Idempotency {
        key_hash: state
            .keys
            .fingerprint(&[b"idempotency-key", scope, pin, key.as_bytes()]),
        fingerprint: state.keys.fingerprint(&[b"request", target.as_str().as_bytes(), body]),
        render: None,
    }
}

/// Runs `command`, an operator's (no code presents it), unless the caller's Idempotency-Key
/// already has an answer: then that answer is replayed and the command does not run. The key is
/// neither claimed nor remembered here; the write that finishes what `command` begins (under
/// [`submit`], with the same `asked`) remembers its answer.
pub(super) async fn unless_answered(
    state: &AppState,
    asked: &Asked<'_>,
    command: impl Into<Command>,
) -> Result<Written, ApiError> {
    let key = asked.key.clone()?;
    let idempotency = key.map(|key| bound(state, (b"operator", b""), &key, (asked.target, asked.body)));
    let request = WriteRequest::new(command).with_idempotency(idempotency);
    Ok(answer(state.store.write(request)).await?)
}

/// Submits a write: with the caller's idempotency key, drawing a new code when one collides, and
/// checking the holder's PIN when the core asks for it. `build` makes the command for what is
/// known of the PIN so far.
pub(super) async fn submit<C: Into<Command>>(
    state: &AppState,
    context: WriteContext<'_>,
    status: StatusCode,
    build: impl Fn(PinPresented) -> (C, Shown),
) -> Result<Reply, ApiError> {
    let key = context.asked.key?;
    let scope: &[u8] = context.holder.map_or(b"operator".as_slice(), |h| h.hash.0.as_slice());
    let pin_bytes: &[u8] = context
        .holder
        .and_then(|h| h.pin.as_ref())
        .map_or(b"".as_slice(), |pin| pin.expose().as_bytes());
    let mut presented = match context.holder {
        Some(holder) if holder.pin.is_some() => PinPresented::Unverified,
        _ => PinPresented::Absent,
    };
    for _ in 0..WRITE_ATTEMPTS_MAX {
        let (command, secret) = build(presented);
        let idempotency = key.as_ref().map(|key| {
            let broker = state.clone();
            let secret = secret.clone();
            let render = move |outcome: &Outcome| StoredResponse {
                status: status_of(status, outcome).as_u16(),
                body: broker.keys.seal(&render_outcome(&broker, outcome, &secret)),
            };
            Idempotency {
                render: Some(Box::new(render)),
                ..bound(
                    state,
                    (scope, pin_bytes),
                    key,
                    (context.asked.target, context.asked.body),
                )
            }
        });
        let written = answer(
            state
                .store
                .write(WriteRequest::new(command).with_idempotency(idempotency)),
        )
        .await;
        match written {
            Ok(Written::Done(outcome)) => {
                return Ok(Reply::Done {
                    status: status_of(status, &outcome),
                    outcome,
                    secret,
                });
            }
            Ok(Written::Replayed(stored)) => {
                return Ok(Reply::Replayed(stored));
            }
            Err(OpError::CodeCollision) => continue,
            Err(OpError::VerifyPin {
                pin_hash,
                generation,
                failures,
            }) => {
                let holder = context.holder.expect("only a holder's command has a PIN to check");
                presented = verify_pin(state, holder, pin_hash, generation, failures).await?;
            }
            Err(OpError::InsufficientFunds) => {
                let refusal = refuse(state, context.holder.map(|h| &h.caller), OpError::InsufficientFunds).await;
                return Err(with_available(state, context.holder, refusal).await);
            }
            Err(error) => return Err(refuse(state, context.holder.map(|h| &h.caller), error).await),
        }
    }
    Err(OpError::CodeCollision.into())
}

/// The status of a write's answer: the one its endpoint answers, except a purchase that waits for
/// approval (`202 Accepted`, where a paid one is `201 Created`).
fn status_of(status: StatusCode, outcome: &Outcome) -> StatusCode {
    match outcome {
        Outcome::Purchases(purchases::Outcome::Queued { .. }) => StatusCode::ACCEPTED,
        _ => status,
    }
}

/// Checks the presented PIN off the async threads. A match lets the command run; a miss is
/// counted on the code (locking it at the limit) and against the caller's source.
async fn verify_pin(
    state: &AppState,
    holder: &Holder,
    pin_hash: String,
    generation: u32,
    failures: u32,
) -> Result<PinPresented, ApiError> {
    let Some(pin) = holder.pin.clone() else {
        return Err(OpError::PinRequired.into());
    };
    let matches = pin_checked(tokio::task::spawn_blocking(move || keys::verify_pin(&pin, &pin_hash)).await)?;
    if matches {
        if failures > 0 {
            // Its own commit: the command may yet be refused and rolled back, the reset must not be.
            let reset = controls::Command::PinMatched {
                hash: holder.hash,
                generation,
            };
            answer(state.store.write(WriteRequest::new(reset))).await?;
        }
        return Ok(PinPresented::Verified { generation });
    }
    let command = controls::Command::PinFailed {
        hash: holder.hash,
        generation,
    };
    let outcome = answer(state.store.write(WriteRequest::new(command))).await?;
    let (locked, failures) = match outcome {
        Written::Done(Outcome::Controls(controls::Outcome::PinCounted { locked, failures })) => (locked, failures),
        _ => (false, failures + 1),
    };
    let refusal = if locked {
        OpError::CodeLocked.into()
    } else {
        ApiError::pin_invalid(i64::from(controls::PIN_FAILURES_MAX.saturating_sub(failures)))
    };
    Err(state.failed_presentation(&holder.caller, refusal).await)
}

/// A refusal for want of funds says what the code has available: its holder may read that anyway.
async fn with_available(state: &AppState, holder: Option<&Holder>, refusal: ApiError) -> ApiError {
    let Some(holder) = holder else { return refusal };
    let me = smartcode_core::ledger::reports::Query::Me { holder: holder.hash };
    match answer(state.store.read(me.into())).await {
        Ok(QueryOutcome::Reports(smartcode_core::ledger::reports::QueryOutcome::Code(view))) => {
            match CodeJson::from(&view).available {
                Some(available) => refusal.with_available(available),
                None => refusal,
            }
        }
        _ => refusal,
    }
}

/// A read that was sent a PIN checks it as a change would: a wrong PIN is refused and counted (on
/// the code, locking it at the limit, and against the caller's source), a PIN sent for a code that
/// has none is refused, and a locked code's PIN is not judged at all. A read sent no PIN needs none.
/// `GET /v1/me` and the page's login go through here, so both answer alike.
pub(crate) async fn check_sent_pin(state: &AppState, holder: &Holder, record: &CodeRecord) -> Result<(), ApiError> {
    if holder.pin.is_none() {
        return Ok(());
    }
    let Some(pin_hash) = record.pin.hash.clone() else {
        return Err(OpError::Conflict(Conflict::PinWithoutPin).into());
    };
    if record.pin.locked {
        return Err(OpError::CodeLocked.into());
    }
    verify_pin(state, holder, pin_hash, record.pin.generation, record.pin.failures)
        .await
        .map(|_| ())
}

/// Turns a refusal into an API error. An unusable code counts as a failed presentation of its
/// source; a refusal that proves the code was real counts nothing.
async fn refuse(state: &Broker, caller: Option<&Caller>, error: OpError) -> ApiError {
    let Some(caller) = caller else { return error.into() };
    match error {
        OpError::InvalidCode | OpError::PinInvalid => state.failed_presentation(caller, error.into()).await,
        OpError::InsufficientFunds
        | OpError::Restricted(_)
        | OpError::ApprovalRequired { .. }
        | OpError::PinRequired
        | OpError::CodeLocked
        | OpError::Expired
        | OpError::NotRevocable
        | OpError::CurrencyMismatch => error.into(),
        other => other.into(),
    }
}

/// Runs a query of one capability and answers with that capability's outcome.
pub(crate) async fn read<O: TryFrom<QueryOutcome>>(
    state: &AppState,
    caller: Option<&Caller>,
    query: impl Into<Query>,
) -> Result<O, ApiError> {
    match answer(state.store.read(query.into())).await {
        Ok(outcome) => O::try_from(outcome).map_err(|_| unexpected()),
        Err(error) => Err(refuse(state, caller, error).await),
    }
}

/// What the PIN check's task came back with: whether the PIN matched, or, when the task itself
/// failed (it panicked, or was cancelled), the broker's own failure: a 500 that counts nothing,
/// neither against the code nor against its source, for the PIN was never judged.
fn pin_checked(result: Result<bool, tokio::task::JoinError>) -> Result<bool, ApiError> {
    result.map_err(|error| {
        tracing::error!(error = %error, "the PIN check failed inside the broker; nothing was counted");
        ApiError::internal()
    })
}

/// A remembered answer's status and body, decrypted.
fn open_stored(keys: &keys::Keys, stored: StoredResponse) -> Result<(StatusCode, Vec<u8>), ApiError> {
    let body = keys.open(&stored.body).ok_or_else(|| {
        tracing::error!("a remembered response could not be decrypted; was the broker key replaced?");
        ApiError::internal()
    })?;
    // Only a write's success is remembered: any other status was not written by this broker.
    let status = StatusCode::from_u16(stored.status)
        .ok()
        .filter(StatusCode::is_success)
        .ok_or_else(|| {
            tracing::error!(
                status = stored.status,
                "a remembered response has a status the broker never gives"
            );
            ApiError::internal()
        })?;
    Ok((status, body))
}

fn replayed(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::ProblemCode;

    /// A page that cannot read the answer the broker made for it has failed itself: a 500, not a
    /// refusal of the visitor's request.
    #[tokio::test]
    async fn an_answer_a_page_cannot_read_is_a_server_error() {
        for body in ["not JSON", "{\"unexpected\": ["] {
            let error = read_answer(axum::response::IntoResponse::into_response((StatusCode::OK, body)))
                .await
                .expect_err("an unreadable answer is not an answer");
            assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(error.code, ProblemCode::Internal);
        }
    }

    /// A PIN check whose task panics or is cancelled is the broker's failure: a 500, never a wrong
    /// PIN (which `verify_pin` would count against the code and its source).
    #[tokio::test]
    async fn a_failed_pin_check_task_is_a_server_error_not_a_wrong_pin() {
        let panicked = tokio::task::spawn_blocking(|| -> bool { panic!("the PIN check failed") }).await;
        assert!(panicked.as_ref().is_err_and(|e| e.is_panic()));
        let cancelled = {
            let task = tokio::spawn(std::future::pending::<bool>());
            task.abort();
            task.await
        };
        assert!(cancelled.as_ref().is_err_and(|e| e.is_cancelled()));
        for result in [panicked, cancelled] {
            let error = pin_checked(result).expect_err("a failed task is not an answer");
            assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(error.code, ProblemCode::Internal);
        }
        assert!(matches!(pin_checked(Ok(true)), Ok(true)));
        assert!(matches!(pin_checked(Ok(false)), Ok(false)));
    }

    /// A remembered answer is replayed as it was first given; one the broker cannot read back (not
    /// sealed by its key, or with a status it never remembers) is the broker's failure, a 500.
    #[test]
    fn a_remembered_answer_the_broker_cannot_read_is_a_server_error() {
        let keys = keys::Keys::derive(smartcode_core::code::BrokerKey::generate());
        let (status, body) = open_stored(
            &keys,
            StoredResponse {
                status: 201,
                body: keys.seal(b"{}"),
            },
        )
        .expect("a readable answer replays");
        assert_eq!((status, body.as_slice()), (StatusCode::CREATED, b"{}".as_slice()));

        let other = keys::Keys::derive(smartcode_core::code::BrokerKey::generate());
        let unreadable = [
            (201, other.seal(b"{}")),
            (200, b"not sealed".to_vec()),
            (200, Vec::new()),
        ];
        let unknown_status = [0, 99, 1000, 600, 302, 404, 500].map(|status| (status, keys.seal(b"{}")));
        for (status, body) in unreadable.into_iter().chain(unknown_status) {
            let error = open_stored(&keys, StoredResponse { status, body })
                .err()
                .unwrap_or_else(|| panic!("a remembered answer with status {status} replayed"));
            assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR, "status {status}");
            assert_eq!(error.code, ProblemCode::Internal);
        }
    }
}

//! The endpoints of API.md. Each handler is short: parse, submit or query, render.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use serde_json::json;
use smartcode_core::code::{parse_code, CodeId, ParsedCode, PublicCode, SecretCode};
use smartcode_core::error::OpError;
use smartcode_core::ledger::{
    ChildOptions, CodeRef, Command, Outcome, PaymentOrder, PinPresented, Query, QueryOutcome, TransferFilter,
    EXPIRY_SECONDS_MAX,
};
use smartcode_core::limits::{REPORT_ROWS_MAX, TRANSACTIONS_PAGE_DEFAULT, TRANSACTIONS_PAGE_MAX};
use smartcode_core::model::ReportGrouping;
use smartcode_core::money::format_units;
use smartcode_store::{answer, Idempotency, StoredResponse, WriteRequest, Written};

use crate::extract::{idempotency_key, Body, Caller, Holder, Operator, Params, Segment};
use crate::guard;
use crate::keys;
use crate::problem::ApiError;
use crate::wire::*;
use crate::{AppState, Broker};
use smartcode_core::controls::{Pin, PIN_DIGITS_MAX, PIN_DIGITS_MIN};

/// How many times a write is tried: a new code drawn on a collision, a PIN checked.
const WRITE_ATTEMPTS_MAX: usize = 6;

/// The most one call may move the test clock, in seconds (ten years).
const TEST_CLOCK_ADVANCE_SECONDS_MAX: i64 = 10 * 366 * 24 * 3600;

/// The OpenAPI 3.1 document describing these routes; a test keeps the two in step.
pub const OPENAPI_JSON: &str = include_str!("../openapi.json");

type Entry = (Method, &'static str, MethodRouter<AppState>);

fn entries() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/admin/codes", post(issue)),
        (Method::POST, "/v1/admin/deposits", post(deposit)),
        (Method::POST, "/v1/admin/codes/{id}/unlock", post(operator_unlock)),
        (Method::GET, "/v1/admin/ledger/check", get(ledger_check)),
        (Method::GET, "/v1/admin/security", get(security)),
        (Method::POST, "/v1/admin/clock", post(advance_clock)),
        (Method::GET, "/v1/me", get(me)),
        (Method::PUT, "/v1/me/profile", put(set_own_profile)),
        (Method::GET, "/v1/me/children", get(children)),
        (Method::POST, "/v1/me/children", post(create_child)),
        (Method::POST, "/v1/me/children/{id}/fund", post(fund_child)),
        (Method::POST, "/v1/me/children/{id}/cancel", post(cancel_child)),
        (Method::POST, "/v1/me/children/{id}/unlock", post(unlock_child)),
        (Method::PUT, "/v1/me/pin", put(set_pin)),
        (Method::DELETE, "/v1/me/pin", delete(remove_pin)),
        (Method::POST, "/v1/me/rekey", post(rekey)),
        (Method::PUT, "/v1/me/children/{id}/profile", put(set_child_profile)),
        (Method::GET, "/v1/me/transactions", get(transactions)),
        (Method::GET, "/v1/me/report", get(report)),
        (Method::POST, "/v1/payments", post(pay)),
        (Method::GET, "/v1/receipts/{id}", get(receipt)),
        (Method::GET, "/v1/public/{public_code}", get(public_code)),
        (Method::GET, "/.well-known/smartcode", get(well_known)),
        (Method::GET, "/openapi.json", get(openapi)),
        (Method::GET, "/healthz", get(healthz)),
        (Method::GET, "/metrics", get(metrics)),
        (Method::GET, "/", get(crate::web::home)),
    ]
}

/// Every (method, path) the router serves.
pub fn route_table() -> Vec<(Method, &'static str)> {
    entries().into_iter().map(|(method, path, _)| (method, path)).collect()
}

pub fn build(state: AppState) -> Router {
    let mut router = Router::new();
    for (_, path, method_router) in entries() {
        router = router.route(path, method_router);
    }
    router
        .merge(crate::web::routes())
        .layer(axum::extract::DefaultBodyLimit::max(
            smartcode_core::limits::REQUEST_BODY_BYTES_MAX,
        ))
        .fallback(|| async { ApiError::not_found("endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not take that method",
            )
        })
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Writing: every write goes through `submit`, which adds idempotency and code-collision retries.

struct WriteContext<'a> {
    headers: &'a HeaderMap,
    /// The code presenting the request; `None` for the operator. Idempotency keys live per credential.
    holder: Option<&'a Holder>,
    /// Method and path as requested, part of the request's fingerprint.
    target: String,
    body: &'a [u8],
}

/// Submits a write: with the caller's idempotency key, drawing a new code when one collides, and
/// checking the holder's PIN when the core asks for it. `build` makes the command for what is
/// known of the PIN so far.
async fn submit(
    state: &AppState,
    context: WriteContext<'_>,
    status: StatusCode,
    build: impl Fn(PinPresented) -> (Command, Option<SecretCode>),
) -> Result<Response, ApiError> {
    let key = idempotency_key(context.headers)?;
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
            Idempotency {
                // Bound to the code and to the PIN presented with it: a replay may hand back a
                // new secret (of a child, or after a rekey), so it needs the same proof as the
                // first request did. Without the PIN the key names another slot, the command
                // runs, and the PIN check refuses it.
                key_hash: state
                    .keys
                    .fingerprint(&[b"idempotency-key", scope, pin_bytes, key.as_bytes()]),
                fingerprint: state
                    .keys
                    .fingerprint(&[b"request", context.target.as_bytes(), context.body]),
                render: Box::new(move |outcome: &Outcome| StoredResponse {
                    status: status.as_u16(),
                    body: broker.keys.seal(&render_outcome(&broker, outcome, secret.as_ref())),
                }),
            }
        });
        let written = answer(state.store.write(WriteRequest { command, idempotency })).await;
        match written {
            Ok(Written::Done(outcome)) => {
                presented_well(state, context.holder);
                return Ok(json_bytes(status, render_outcome(state, &outcome, secret.as_ref())));
            }
            Ok(Written::Replayed(stored)) => {
                presented_well(state, context.holder);
                return replay(state, stored);
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
            Err(error) => return Err(refuse(state, context.holder.map(|h| h.caller), error).await),
        }
    }
    Err(OpError::CodeCollision.into())
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
    let matches = tokio::task::spawn_blocking(move || keys::verify_pin(&pin, &pin_hash))
        .await
        .unwrap_or(false);
    if matches {
        if failures > 0 {
            // Its own commit: the command may yet be refused and rolled back, the reset must not be.
            let reset = Command::PinMatched {
                hash: holder.hash,
                generation,
            };
            answer(state.store.write(WriteRequest {
                command: reset,
                idempotency: None,
            }))
            .await?;
        }
        return Ok(PinPresented::Verified { generation });
    }
    let command = Command::PinFailed {
        hash: holder.hash,
        generation,
    };
    let outcome = answer(state.store.write(WriteRequest {
        command,
        idempotency: None,
    }))
    .await?;
    let locked = matches!(outcome, Written::Done(Outcome::PinCounted { locked: true }));
    let refusal = if locked {
        OpError::CodeLocked
    } else {
        OpError::PinInvalid
    };
    Err(state.failed_presentation(holder.caller, refusal.into()).await)
}

fn presented_well(state: &Broker, holder: Option<&Holder>) {
    if let Some(holder) = holder {
        state.guard.succeeded(holder.caller.source);
    }
}

/// Turns a refusal into an API error. An unusable code counts as a failed presentation of its
/// source; a refusal that proves the code was real counts as a good one.
async fn refuse(state: &Broker, caller: Option<Caller>, error: OpError) -> ApiError {
    let Some(caller) = caller else { return error.into() };
    match error {
        OpError::InvalidCode | OpError::PinInvalid => state.failed_presentation(caller, error.into()).await,
        OpError::InsufficientFunds
        | OpError::Restricted(_)
        | OpError::PinRequired
        | OpError::CodeLocked
        | OpError::Expired
        | OpError::NotRevocable
        | OpError::CurrencyMismatch => {
            state.guard.succeeded(caller.source);
            error.into()
        }
        other => other.into(),
    }
}

pub(crate) async fn read(state: &AppState, caller: Option<Caller>, query: Query) -> Result<QueryOutcome, ApiError> {
    match answer(state.store.read(query)).await {
        Ok(outcome) => {
            if let Some(caller) = caller {
                state.guard.succeeded(caller.source);
            }
            Ok(outcome)
        }
        Err(error) => Err(refuse(state, caller, error).await),
    }
}

fn replay(state: &AppState, stored: StoredResponse) -> Result<Response, ApiError> {
    let body = state.keys.open(&stored.body).ok_or_else(|| {
        tracing::error!("a remembered response could not be decrypted; was the broker key replaced?");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the broker failed; nothing was changed",
        )
    })?;
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = json_bytes(status, body);
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn json_value(status: StatusCode, value: serde_json::Value) -> Response {
    json_bytes(status, serde_json::to_vec(&value).expect("JSON values serialize"))
}

/// The JSON of every write's outcome, in one place so first answers and replays agree.
fn render_outcome(state: &Broker, outcome: &Outcome, secret: Option<&SecretCode>) -> Vec<u8> {
    let value = match outcome {
        Outcome::Code(view) => serde_json::to_value(CreatedJson {
            code: secret.map(SecretCode::reveal),
            view: CodeJson::from(&**view),
        })
        .expect("code JSON serializes"),
        Outcome::Deposited { transfer_id, code } => json!({
            "id": transfer_id,
            "code_id": code.record.id.to_string(),
            "balance": code.account.map(|a| Money::new(a.balance_units, code.record.currency)),
        }),
        Outcome::Funded { child, parent } => json!({
            "child": CodeJson::from(&**child),
            "balance": parent.account.map(|a| Money::new(a.balance_units, parent.record.currency)),
        }),
        Outcome::Cancelled {
            reclaimed_units,
            currency,
            codes_cancelled,
        } => json!({
            "reclaimed": Money::new(*reclaimed_units, *currency),
            "codes_cancelled": codes_cancelled,
        }),
        Outcome::Paid(receipt) => json!({ "receipt": receipt_json(state, receipt) }),
        Outcome::PinCounted { locked } => json!({ "locked": locked }),
        Outcome::ExpiredSwept { codes } => json!({ "codes_expired": codes }),
    };
    serde_json::to_vec(&value).expect("JSON values serialize")
}

fn receipt_json(state: &Broker, receipt: &smartcode_core::model::Receipt) -> ReceiptJson {
    ReceiptJson {
        id: receipt.id.clone(),
        payer_id: receipt.payer_id.to_string(),
        payee: receipt.payee.to_string(),
        payee_id: receipt.payee_id.to_string(),
        amount: Money::new(receipt.amount.units(), receipt.currency),
        memo: receipt.memo.clone(),
        category: receipt.category.clone(),
        item: receipt.item.clone(),
        created_at: receipt.created_at.to_rfc3339(),
        broker: state.config.domain.clone(),
        signature: state.keys.sign(receipt_message(receipt).as_bytes()),
    }
}

/// The operator names a code by its secret in a deposit; the operator is trusted, so this is not
/// a presentation the guessing defence counts.
fn parse_secret_for_operator(state: &Broker, text: &str) -> Result<SecretCode, ApiError> {
    match parse_code(text, &state.config.domain) {
        Ok(ParsedCode::Secret(code)) => Ok(code),
        Ok(ParsedCode::Public(_)) => Err(ApiError::invalid_code()),
        Err(error) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_code_format",
            error.to_string(),
        )),
    }
}

fn parse_id(text: &str) -> Result<CodeId, ApiError> {
    CodeId::parse(text).ok_or_else(|| ApiError::not_found("child"))
}

fn parse_public(state: &Broker, text: &str) -> Result<PublicCode, ApiError> {
    match parse_code(text, &state.config.domain) {
        Ok(ParsedCode::Public(code)) => Ok(code),
        // A secret code where a public one belongs is refused without repeating it.
        Ok(ParsedCode::Secret(_)) => Err(ApiError::invalid_request(
            "a public code starts with P-; a secret code cannot receive payments",
        )),
        Err(_) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_code_format",
            "a public code is P- and ten letters or digits",
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// Operator.

pub(crate) async fn issue(
    State(state): State<AppState>,
    _: Operator,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: IssueRequest = body.json()?;
    let amount = request.amount.parse()?;
    let currency = parse_currency(&request.currency)?;
    let context = WriteContext {
        headers: &headers,
        holder: None,
        target: "POST /v1/admin/codes".into(),
        body: &body.0,
    };
    submit(&state, context, StatusCode::CREATED, |_| {
        let code = SecretCode::generate();
        let command = Command::Issue {
            hash: state.keys.hash_code(&code),
            amount,
            currency,
            label: request.label.clone(),
        };
        (command, Some(code))
    })
    .await
}

pub(crate) async fn deposit(
    State(state): State<AppState>,
    _: Operator,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: DepositRequest = body.json()?;
    let amount = request.amount.parse()?;
    let currency = parse_currency(&request.currency)?;
    let target = match (&request.code, &request.code_id) {
        (Some(code), None) => CodeRef::Hash(state.keys.hash_code(&parse_secret_for_operator(&state, code)?)),
        (None, Some(id)) => CodeRef::Id(CodeId::parse(id).ok_or_else(|| ApiError::not_found("code"))?),
        _ => return Err(ApiError::invalid_request("give exactly one of code or code_id")),
    };
    let context = WriteContext {
        headers: &headers,
        holder: None,
        target: "POST /v1/admin/deposits".into(),
        body: &body.0,
    };
    submit(&state, context, StatusCode::CREATED, |_| {
        (
            Command::Deposit {
                target: target.clone(),
                amount,
                currency,
            },
            None,
        )
    })
    .await
}

/// `POST /v1/admin/codes/{id}/unlock`: a code locked by wrong PINs works again. For codes the
/// operator issued, which have no parent to unlock them.
async fn operator_unlock(
    State(state): State<AppState>,
    _: Operator,
    Segment(id): Segment,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let code = CodeId::parse(&id).ok_or_else(|| ApiError::not_found("code"))?;
    let context = WriteContext {
        headers: &headers,
        holder: None,
        target: format!("POST /v1/admin/codes/{id}/unlock"),
        body: &body.0,
    };
    submit(&state, context, StatusCode::OK, |_| {
        (Command::OperatorUnlock { code: code.clone() }, None)
    })
    .await
}

pub(crate) async fn ledger_check(State(state): State<AppState>, _: Operator) -> Result<Response, ApiError> {
    let QueryOutcome::LedgerCheck { ok, totals } = read(&state, None, Query::LedgerCheck).await? else {
        return Err(unexpected());
    };
    let currencies: Vec<_> = totals
        .currencies
        .iter()
        .map(|c| {
            json!({
                "currency": c.currency.to_string(),
                "issued": format_units(c.issued_units),
                "held_by_codes": format_units(c.held_by_codes_units),
                "sum": format_units(c.sum_units),
                "accounts": c.accounts,
                "transfers": c.transfers,
            })
        })
        .collect();
    Ok(json_value(
        StatusCode::OK,
        json!({
            "ok": ok,
            "currencies": currencies,
            "negative_balances": totals.negative_balances,
            "mismatched_accounts": totals.mismatched_accounts,
            "checked_at": state.clock.now().to_rfc3339(),
        }),
    ))
}

pub(crate) async fn security(State(state): State<AppState>, _: Operator) -> Response {
    let report = state.guard.report();
    let alarms: Vec<_> = report
        .alarms
        .iter()
        .map(|a| json!({ "raised_at": a.raised_at.to_rfc3339(), "cleared_at": a.cleared_at.map(|t| t.to_rfc3339()), "reason": a.reason }))
        .collect();
    let busiest: Vec<_> = report
        .busiest_sources
        .iter()
        .map(|(source, failures)| json!({ "source": source, "failures": failures }))
        .collect();
    json_value(
        StatusCode::OK,
        json!({
            "failed_presentations_total": report.failures_total,
            "refused_presentations_total": report.refusals_total,
            "failed_presentations_in_window": report.failures_in_window,
            "window_seconds": guard::GUESS_WINDOW_SECONDS,
            "alarm_active": report.alarm_active,
            "alarms": alarms,
            "sources_tracked": report.sources_tracked,
            "busiest_sources": busiest,
            "limits": {
                "source_failures_slow_after": guard::SOURCE_FAILURES_SLOW_AFTER,
                "source_failures_max": guard::SOURCE_FAILURES_MAX,
                "alarm_failures_per_day": guard::ALARM_FAILURES_PER_DAY,
                "proven_failures_max_under_alarm": guard::PROVEN_FAILURES_MAX_UNDER_ALARM,
            },
        }),
    )
}

/// Prometheus text: payments and their latency, refusals by `code` word, the store's commits and
/// batch sizes, and the guessing defence's counters.
async fn metrics(State(state): State<AppState>) -> Response {
    let report = state.guard.report();
    let mut text = format!(
        "# HELP smartcode_failed_presentations_total Failed presentations of secret codes and PINs.\n\
         # TYPE smartcode_failed_presentations_total counter\n\
         smartcode_failed_presentations_total {}\n\
         # HELP smartcode_refused_presentations_total Presentations refused by the guessing defence.\n\
         # TYPE smartcode_refused_presentations_total counter\n\
         smartcode_refused_presentations_total {}\n\
         # HELP smartcode_failed_presentations_window Failed presentations in the last day.\n\
         # TYPE smartcode_failed_presentations_window gauge\n\
         smartcode_failed_presentations_window {}\n\
         # HELP smartcode_guessing_alarm 1 while the guessing alarm is raised.\n\
         # TYPE smartcode_guessing_alarm gauge\n\
         smartcode_guessing_alarm {}\n",
        report.failures_total,
        report.refusals_total,
        report.failures_in_window,
        u8::from(report.alarm_active)
    );
    crate::metrics::METRICS.render(&state.store.stats(), &mut text);
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

/// `POST /v1/admin/clock {advance_seconds}`: only under `serve --test-clock`, for tests of expiry,
/// periods and windows that must not wait for real time.
async fn advance_clock(State(state): State<AppState>, _: Operator, body: Body) -> Result<Response, ApiError> {
    let Some(clock) = &state.test_clock else {
        return Err(ApiError::not_found("endpoint"));
    };
    let request: ClockRequest = body.json()?;
    if !(1..=TEST_CLOCK_ADVANCE_SECONDS_MAX).contains(&request.advance_seconds) {
        return Err(ApiError::invalid_request(format!(
            "advance_seconds is 1 to {TEST_CLOCK_ADVANCE_SECONDS_MAX}"
        )));
    }
    clock.advance_seconds(request.advance_seconds);
    Ok(json_value(
        StatusCode::OK,
        json!({ "now": state.clock.now().to_rfc3339() }),
    ))
}

// ---------------------------------------------------------------------------------------------
// A secret code.

pub(crate) async fn me(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let QueryOutcome::Code(view) = read(&state, Some(holder.caller), Query::Me { holder: holder.hash }).await? else {
        return Err(unexpected());
    };
    Ok(json_value(
        StatusCode::OK,
        serde_json::to_value(CodeJson::from(&view)).expect("serializes"),
    ))
}

pub(crate) async fn children(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let QueryOutcome::Children(views) =
        read(&state, Some(holder.caller), Query::Children { holder: holder.hash }).await?
    else {
        return Err(unexpected());
    };
    let children: Vec<CodeJson> = views.iter().map(CodeJson::from).collect();
    Ok(json_value(StatusCode::OK, json!({ "children": children })))
}

pub(crate) async fn create_child(
    State(state): State<AppState>,
    holder: Holder,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ChildRequest = body.json()?;
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: "POST /v1/me/children".into(),
        body: &body.0,
    };
    match request.kind.as_deref().unwrap_or("secret") {
        "secret" => {
            if request.profile.is_some() || request.under.is_some() {
                return Err(ApiError::invalid_request("profile and under belong to public children"));
            }
            let amount = request
                .amount
                .as_ref()
                .ok_or_else(|| ApiError::invalid_request("a secret child needs an amount"))?
                .parse()?;
            let expires_at = match (&request.expires_at, request.expires_in_seconds) {
                (Some(_), Some(_)) => {
                    return Err(ApiError::invalid_request(
                        "give expires_at or expires_in_seconds, not both",
                    ))
                }
                (Some(at), None) => Some(parse_time("expires_at", at)?),
                // A relative expiry is checked against the document here, so only an absolute
                // one can conflict with the clock.
                (None, Some(seconds)) if seconds < 1 => {
                    return Err(ApiError::invalid_request("expires_in_seconds is at least 1"))
                }
                (None, Some(seconds)) if seconds > EXPIRY_SECONDS_MAX => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "limit_exceeded",
                        format!("expires_in_seconds is at most {EXPIRY_SECONDS_MAX}"),
                    ))
                }
                (None, Some(seconds)) => Some(
                    state
                        .clock
                        .now()
                        .plus_seconds(seconds)
                        .ok_or_else(|| ApiError::invalid_request("expires_in_seconds is out of range"))?,
                ),
                (None, None) => None,
            };
            let restrictions = request
                .restrictions
                .clone()
                .unwrap_or_default()
                .parse(&state.config.domain)?;
            let options = ChildOptions {
                label: request.label.clone(),
                expires_at,
                irrevocable: request.irrevocable.unwrap_or(false),
                restrictions,
            };
            submit(&state, context, StatusCode::CREATED, |pin| {
                let code = SecretCode::generate();
                let command = Command::CreateSecretChild {
                    parent: holder.with(pin),
                    hash: state.keys.hash_code(&code),
                    amount,
                    options: options.clone(),
                };
                (command, Some(code))
            })
            .await
        }
        "public" => {
            let refused = request.amount.is_some()
                || request.restrictions.is_some()
                || request.expires_at.is_some()
                || request.expires_in_seconds.is_some()
                || request.irrevocable.is_some();
            if refused {
                return Err(ApiError::invalid_request(
                    "a public code holds no value: amount, expiry and irrevocable belong to secret children",
                ));
            }
            let under = request
                .under
                .as_deref()
                .map(|id| CodeId::parse(id).ok_or_else(|| ApiError::not_found("public code to nest under")))
                .transpose()?;
            let profile = request.profile.clone().unwrap_or_default().into_profile();
            submit(&state, context, StatusCode::CREATED, |pin| {
                let command = Command::CreatePublicChild {
                    parent: holder.with(pin),
                    code: PublicCode::generate(),
                    label: request.label.clone(),
                    profile: profile.clone(),
                    under: under.clone(),
                };
                (command, None)
            })
            .await
        }
        _ => Err(ApiError::invalid_request("kind is \"secret\" or \"public\"")),
    }
}

pub(crate) async fn fund_child(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: FundRequest = body.json()?;
    let amount = request.amount.parse()?;
    let child = parse_id(&id)?;
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: format!("POST /v1/me/children/{id}/fund"),
        body: &body.0,
    };
    submit(&state, context, StatusCode::OK, |pin| {
        (
            Command::FundChild {
                parent: holder.with(pin),
                child: child.clone(),
                amount,
            },
            None,
        )
    })
    .await
}

pub(crate) async fn cancel_child(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let child = parse_id(&id)?;
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: format!("POST /v1/me/children/{id}/cancel"),
        body: &body.0,
    };
    submit(&state, context, StatusCode::OK, |pin| {
        (
            Command::CancelChild {
                parent: holder.with(pin),
                child: child.clone(),
            },
            None,
        )
    })
    .await
}

pub(crate) async fn set_own_profile(
    State(state): State<AppState>,
    holder: Holder,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let profile = body.json::<ProfileRequest>()?.into_profile();
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: "PUT /v1/me/profile".into(),
        body: &body.0,
    };
    submit(&state, context, StatusCode::OK, |pin| {
        (
            Command::SetProfile {
                holder: holder.with(pin),
                target: None,
                profile: profile.clone(),
            },
            None,
        )
    })
    .await
}

pub(crate) async fn set_child_profile(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let profile = body.json::<ProfileRequest>()?.into_profile();
    let child = parse_id(&id)?;
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: format!("PUT /v1/me/children/{id}/profile"),
        body: &body.0,
    };
    submit(&state, context, StatusCode::OK, |pin| {
        (
            Command::SetProfile {
                holder: holder.with(pin),
                target: Some(child.clone()),
                profile: profile.clone(),
            },
            None,
        )
    })
    .await
}

fn window(
    since: &Option<String>,
    until: &Option<String>,
    limit: u32,
    cursor: Option<i64>,
) -> Result<TransferFilter, ApiError> {
    Ok(TransferFilter {
        since: since.as_deref().map(|t| parse_time("since", t)).transpose()?,
        until: until.as_deref().map(|t| parse_time("until", t)).transpose()?,
        before_sequence: cursor,
        limit,
    })
}

pub(crate) async fn transactions(
    State(state): State<AppState>,
    holder: Holder,
    Params(params): Params<TransactionsParams>,
) -> Result<Response, ApiError> {
    let limit = params.limit.unwrap_or(TRANSACTIONS_PAGE_DEFAULT);
    if limit == 0 || limit > TRANSACTIONS_PAGE_MAX {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "limit_exceeded",
            format!("limit is 1 to {TRANSACTIONS_PAGE_MAX}"),
        ));
    }
    let cursor = params
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|c| *c > 0)
                .ok_or_else(|| ApiError::invalid_request("cursor is the next_cursor of an earlier page"))
        })
        .transpose()?;
    let filter = window(&params.since, &params.until, limit, cursor)?;
    let QueryOutcome::Transactions { entries, next_cursor } = read(
        &state,
        Some(holder.caller),
        Query::Transactions {
            holder: holder.hash,
            filter,
        },
    )
    .await?
    else {
        return Err(unexpected());
    };
    let transactions: Vec<EntryJson> = entries.iter().map(EntryJson::from).collect();
    Ok(json_value(
        StatusCode::OK,
        json!({ "transactions": transactions, "next_cursor": next_cursor.map(|c| c.to_string()) }),
    ))
}

pub(crate) async fn report(
    State(state): State<AppState>,
    holder: Holder,
    headers: HeaderMap,
    Params(params): Params<ReportParams>,
) -> Result<Response, ApiError> {
    let group_by = params.group_by.as_deref().unwrap_or("day");
    let grouping = match group_by {
        "day" => ReportGrouping::Day,
        "month" => ReportGrouping::Month,
        "public_code" => ReportGrouping::PublicCode,
        _ => return Err(ApiError::invalid_request("group_by is day, month or public_code")),
    };
    let filter = window(&params.since, &params.until, REPORT_ROWS_MAX, None)?;
    let QueryOutcome::Report(rows) = read(
        &state,
        Some(holder.caller),
        Query::Report {
            holder: holder.hash,
            grouping,
            filter,
        },
    )
    .await?
    else {
        return Err(unexpected());
    };
    let rows: Vec<ReportRowJson> = rows.iter().map(ReportRowJson::from).collect();
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"));
    if wants_csv {
        let mut csv = String::from("key,count,total_in,total_out\r\n");
        for row in &rows {
            csv.push_str(&format!(
                "{},{},{},{}\r\n",
                csv_field(&row.key),
                row.count,
                row.total_in,
                row.total_out
            ));
        }
        let mut response = (StatusCode::OK, csv).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        response.headers_mut().insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=\"report.csv\""),
        );
        return Ok(response);
    }
    let truncated = rows.len() >= REPORT_ROWS_MAX as usize;
    Ok(json_value(
        StatusCode::OK,
        json!({ "group_by": group_by, "rows": rows, "truncated": truncated }),
    ))
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

pub(crate) async fn set_pin(
    State(state): State<AppState>,
    holder: Holder,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: PinRequest = body.json()?;
    let pin = Pin::parse(&request.pin)
        .ok_or_else(|| ApiError::invalid_request(format!("a PIN is {PIN_DIGITS_MIN} to {PIN_DIGITS_MAX} digits")))?;
    let pin_hash = tokio::task::spawn_blocking(move || keys::hash_pin(&pin))
        .await
        .map_err(|_| unexpected())?;
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: "PUT /v1/me/pin".into(),
        body: &body.0,
    };
    submit(&state, context, StatusCode::OK, |pin| {
        (
            Command::SetPin {
                holder: holder.with(pin),
                pin_hash: Some(pin_hash.clone()),
            },
            None,
        )
    })
    .await
}

pub(crate) async fn remove_pin(
    State(state): State<AppState>,
    holder: Holder,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: "DELETE /v1/me/pin".into(),
        body: b"",
    };
    submit(&state, context, StatusCode::OK, |pin| {
        (
            Command::SetPin {
                holder: holder.with(pin),
                pin_hash: None,
            },
            None,
        )
    })
    .await
}

pub(crate) async fn rekey(
    State(state): State<AppState>,
    holder: Holder,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: "POST /v1/me/rekey".into(),
        body: &body.0,
    };
    submit(&state, context, StatusCode::OK, |pin| {
        let code = SecretCode::generate();
        (
            Command::Rekey {
                holder: holder.with(pin),
                hash: state.keys.hash_code(&code),
            },
            Some(code),
        )
    })
    .await
}

pub(crate) async fn unlock_child(
    State(state): State<AppState>,
    holder: Holder,
    Segment(id): Segment,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let child = parse_id(&id)?;
    let context = WriteContext {
        headers: &headers,
        holder: Some(&holder),
        target: format!("POST /v1/me/children/{id}/unlock"),
        body: &body.0,
    };
    submit(&state, context, StatusCode::OK, |pin| {
        (
            Command::Unlock {
                parent: holder.with(pin),
                child: child.clone(),
            },
            None,
        )
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Payments and receipts.

pub(crate) async fn pay(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let request: PaymentRequest = body.json()?;
    let payer = state.holder(caller, &request.code, &headers).await?;
    let payee = parse_public(&state, &request.payee)?;
    let amount = request.amount.parse()?;
    let currency = request.currency.as_deref().map(parse_currency).transpose()?;
    let context = WriteContext {
        headers: &headers,
        holder: Some(&payer),
        target: "POST /v1/payments".into(),
        body: &body.0,
    };
    let answer = submit(&state, context, StatusCode::CREATED, |pin| {
        let order = PaymentOrder {
            payer: payer.with(pin),
            payee: payee.clone(),
            amount,
            currency,
            memo: request.memo.clone(),
            category: request.category.clone(),
            item: request.item.clone(),
        };
        (Command::Pay(order), None)
    })
    .await;
    if answer.as_ref().is_ok_and(|r| r.status() == StatusCode::CREATED) {
        crate::metrics::METRICS.paid(started.elapsed());
    }
    answer
}

async fn receipt(State(state): State<AppState>, Segment(id): Segment) -> Result<Response, ApiError> {
    let QueryOutcome::Receipt(receipt) = read(&state, None, Query::Receipt { id }).await? else {
        return Err(unexpected());
    };
    Ok(json_value(
        StatusCode::OK,
        json!({ "receipt": receipt_json(&state, &receipt) }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Public.

async fn public_code(State(state): State<AppState>, Segment(text): Segment) -> Result<Response, ApiError> {
    let code = parse_public(&state, &text).map_err(|_| ApiError::not_found("public code"))?;
    let QueryOutcome::Public(view) = read(&state, None, Query::Public { code }).await? else {
        return Err(unexpected());
    };
    let mut ancestry: Vec<AncestorJson> = view
        .ancestry
        .iter()
        .map(|a| AncestorJson {
            depth: a.depth,
            kind: kind_word(a.kind),
            profile: a.profile.as_ref().map(ProfileJson::from),
        })
        .collect();
    ancestry.push(AncestorJson {
        depth: 0,
        kind: "broker",
        profile: Some(ProfileJson {
            name: Some(state.config.name.clone()),
            description: None,
            url: None,
            contact: None,
            show_stats: false,
        }),
    });
    let currency = view.record.currency;
    let mut body = json!({
        "public_code": view.record.public_code.as_ref().map(ToString::to_string),
        "id": view.record.id.to_string(),
        "currency": currency.to_string(),
        "status": view.record.status_at(state.clock.now()).as_str(),
        "profile": ProfileJson::from(&view.record.profile),
        "ancestry": ancestry,
    });
    if let Some((payments, total_units)) = view.stats {
        body["stats"] = json!({ "payments": payments, "total": Money::new(total_units, currency) });
    }
    Ok(json_value(StatusCode::OK, body))
}

async fn well_known(State(state): State<AppState>) -> Response {
    json_value(
        StatusCode::OK,
        json!({
            "name": state.config.name,
            "domain": state.config.domain,
            "api_base": "/v1",
            "openapi": "/openapi.json",
            "version": env!("CARGO_PKG_VERSION"),
            "store": state.store.kind(),
            "code_formats": {
                "secret": { "alphabet": "crockford-base32", "symbols": smartcode_core::code::SECRET_CODE_SYMBOLS, "example": "7KQ2-M9XD" },
                "public": { "prefix": "P-", "alphabet": "crockford-base32", "symbols": smartcode_core::code::PUBLIC_CODE_SYMBOLS, "example": "P-4WZ8N-K3QJD" },
            },
            "amount_decimals": smartcode_core::money::DECIMALS,
            "currencies": "any ISO 4217 style three-letter code; each code holds one",
            "receipt_signature": { "algorithm": "ed25519", "public_key": hex::encode(state.keys.verifying_key().to_bytes()), "message": "smartcode-receipt-v1" },
        }),
    )
}

async fn openapi() -> Response {
    json_bytes(StatusCode::OK, OPENAPI_JSON.as_bytes().to_vec())
}

async fn healthz() -> Response {
    json_value(StatusCode::OK, json!({ "ok": true }))
}

pub(crate) fn unexpected() -> ApiError {
    tracing::error!("the store answered a query with the wrong kind of outcome");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the broker failed; nothing was changed",
    )
}

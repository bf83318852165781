//! Extractors that turn raw requests into domain values, refusing with problem+json (never axum's
//! plain-text rejections): bodies, query strings, path segments, credentials, idempotency keys,
//! and the [`Target`] a request's fingerprint names.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Path, Query, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use smartcode_core::code::{parse_code, CodeHash, ParsedCode};
use smartcode_core::ledger::controls::{Pin, PIN_DIGITS_MAX, PIN_DIGITS_MIN};
use smartcode_core::ledger::{Credential, PinPresented};
use smartcode_core::numeric::{NumericError, NumericKind};

use crate::guard::{tokens, Admission, Principal, Source};
use smartcode_api::challenge::CHALLENGE_RESPONSE_HEADER;
use smartcode_core::limits::{BODY_READ_TIMEOUT_SECONDS, IDEMPOTENCY_KEY_CHARS_MAX, REQUEST_BODY_BYTES_MAX};

use crate::problem::{ApiError, ProblemCode};
use crate::AppState;

/// A request body, at most [`REQUEST_BODY_BYTES_MAX`] bytes, kept raw for fingerprints.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Body, ApiError> {
        let too_large = || {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ProblemCode::PayloadTooLarge,
                format!("a request body may have at most {REQUEST_BODY_BYTES_MAX} bytes"),
            )
        };
        // A length announced over the limit is refused at once, not after waiting for the bytes.
        let announced = request.headers().get(axum::http::header::CONTENT_LENGTH);
        if announced
            .and_then(|length| length.to_str().ok()?.trim().parse::<u64>().ok())
            .is_some_and(|length| length > REQUEST_BODY_BYTES_MAX as u64)
        {
            return Err(too_large());
        }
        // A body must arrive as a whole within the time its headers had, or a client trickling
        // bytes would hold its connection and request forever.
        let limit = std::time::Duration::from_secs(BODY_READ_TIMEOUT_SECONDS);
        let read = tokio::time::timeout(limit, Bytes::from_request(request, state)).await;
        let bytes = read
            .map_err(|_| {
                ApiError::new(
                    StatusCode::REQUEST_TIMEOUT,
                    ProblemCode::RequestTimeout,
                    format!("a request body must arrive within {BODY_READ_TIMEOUT_SECONDS} seconds"),
                )
            })?
            .map_err(|_| too_large())?;
        Ok(Body(bytes))
    }
}

impl Body {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        serde_json::from_slice(&self.0).map_err(|error| {
            let message = error.to_string();
            let message = message.split(" at line").next().unwrap_or(&message);
            ApiError::invalid_request(format!(
                "the body is not the JSON this endpoint takes: {}",
                redact_strings(message)
            ))
        })
    }

    /// Like [`Body::json`], for an endpoint whose every field is optional: an empty body is all
    /// defaults (`POST …/capture`, `POST …/refund` with nothing sent).
    pub fn json_or_default<T: DeserializeOwned + Default>(&self) -> Result<T, ApiError> {
        if self.0.is_empty() {
            return Ok(T::default());
        }
        self.json()
    }
}

/// Query parameters, refused as `invalid_request` when malformed.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Params<T>, ApiError> {
        let Query(value) = Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|error| ApiError::invalid_request(format!("bad query string: {}", error.body_text())))?;
        Ok(Params(value))
    }
}

/// One path segment.
pub struct Segment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Segment, ApiError> {
        let Path(value) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid_request("bad path"))?;
        Ok(Segment(value))
    }
}

/// A request as its idempotency fingerprint names it: the method and the matched route with its
/// path parameters filled in (`POST /v1/me/children/<id>/fund`), so two children never share a
/// fingerprint. Taken from the router, never typed by hand in a handler.
pub struct Target(String);

impl Target {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Target {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Target, ApiError> {
        let Some(route) = parts.extensions.get::<MatchedPath>().map(|m| m.as_str().to_owned()) else {
            tracing::error!("a write was routed without a matched path");
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                ProblemCode::Internal,
                "the broker failed; nothing was changed",
            ));
        };
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::invalid_request("bad path"))?;
        let path: Vec<&str> = route
            .split('/')
            .map(|segment| {
                let name = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
                name.and_then(|name| params.iter().find(|(param, _)| *param == name))
                    .map_or(segment, |(_, value)| value)
            })
            .collect();
        Ok(Target(format!("{} {}", parts.method, path.join("/"))))
    }
}

/// Who a request is, for the guessing defence: where it comes from (the connection's address, or
/// the address a trusted proxy forwarded), the tree it proved with `Smartcode-Proof` (or the
/// pages' proof cookie) or its seller key (`Smartcode-Seller`), and the answer to a challenge it
/// sent. Once a presentation is admitted, how it was (what a failure of it spends).
#[derive(Clone, Debug)]
pub struct Caller {
    pub source: Source,
    /// A peer broker presenting a code of this broker's for one of its sellers (a charge): its
    /// failures are counted against it, not against its address.
    pub peer: Option<String>,
    pub proven: Option<String>,
    pub seller: Option<String>,
    pub answer: Option<String>,
    pub admission: Option<Admission>,
}

/// The header and the pages' cookie a proof of an earlier success comes in.
pub const PROOF_HEADER: &str = "smartcode-proof";
pub const PROOF_COOKIE: &str = "smartcode_proof";
pub const SELLER_HEADER: &str = "smartcode-seller";

impl Caller {
    /// Whom a failure is counted against: a seller key first, then a proof, then the address.
    pub fn principal(&self) -> Principal {
        if let Some(peer) = &self.peer {
            return Principal::Peer(peer.clone());
        }
        match (&self.seller, &self.proven) {
            (Some(tree), _) => Principal::Seller(tree.clone()),
            (None, Some(tree)) => Principal::Holder(tree.clone()),
            (None, None) => Principal::Source(self.source),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |ConnectInfo(address)| address.ip());
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let now = state.clock.now();
        // A proof or seller key that does not check is ignored, not refused: the request is then
        // only its address, as it would be without one.
        let proof = header(PROOF_HEADER).or_else(|| crate::web::session::cookie(&parts.headers, PROOF_COOKIE));
        Ok(Caller {
            source: Source::of(client_address(peer, &parts.headers, &state.config.trusted_proxies)),
            peer: None,
            proven: proof.and_then(|text| tokens::check_proof(&state.keys, text, now)),
            seller: header(SELLER_HEADER).and_then(|text| tokens::check_seller_key(&state.keys, text)),
            answer: header(CHALLENGE_RESPONSE_HEADER).map(str::to_owned),
            admission: None,
        })
    }
}

/// The client's address: the peer's, unless the peer is a trusted proxy, in which case the
/// rightmost address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    forwarded
        .split(',')
        .rev()
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .find(|address| !trusted.contains(address))
        .unwrap_or(peer)
}

/// The secret code a request presents in `Authorization: Code <code>` (as its keyed hash), the
/// PIN in `Smartcode-Pin` if any, and where the request comes from. A source the guessing
/// defence refuses is turned away here, before its code is looked at.
pub struct Holder {
    pub hash: CodeHash,
    pub pin: Option<Pin>,
    pub caller: Caller,
    /// The text was an authorization code: it can pay (`POST /v1/payments`) and nothing else, and
    /// anywhere else its hash names no code.
    pub authorization: bool,
}

impl Holder {
    /// The credential to put in a command, with what is known of the PIN so far.
    pub fn with(&self, pin: PinPresented) -> Credential {
        Credential { hash: self.hash, pin }
    }
}

impl FromRequestParts<AppState> for Holder {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Holder, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(text) = strip_scheme(header, "Code") else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ProblemCode::InvalidCode,
                "send the secret code as Authorization: Code <code>",
            ));
        };
        state.holder(caller, text, &parts.headers).await
    }
}

/// The `Smartcode-Pin` header, if sent.
pub fn pin_header(headers: &HeaderMap) -> Result<Option<Pin>, ApiError> {
    let Some(value) = headers.get("smartcode-pin") else {
        return Ok(None);
    };
    let pin = value.to_str().ok().and_then(Pin::parse);
    pin.map(Some)
        .ok_or_else(|| ApiError::invalid_request(format!("a PIN is {PIN_DIGITS_MIN} to {PIN_DIGITS_MAX} digits")))
}

/// The operator, proven by `Authorization: Bearer <operator token>`.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Operator, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let token = strip_scheme(header, "Bearer").unwrap_or("");
        if !state.operator_token_matches(token) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                ProblemCode::Unauthorized,
                "missing or wrong operator token",
            ));
        }
        Ok(Operator)
    }
}

fn strip_scheme<'h>(header: &'h str, scheme: &str) -> Option<&'h str> {
    let (given, rest) = header.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

impl crate::Broker {
    /// A holder from a presented code text: admitted by the guessing defence, then parsed. A
    /// public code, or text that cannot be a code, is refused and counted as a failed
    /// presentation; the refusal never repeats the text.
    pub async fn holder(&self, mut caller: Caller, text: &str, headers: &HeaderMap) -> Result<Holder, ApiError> {
        let principal = caller.principal();
        match self
            .guard
            .admit(&self.keys, &principal, caller.answer.as_deref())
            .await?
        {
            Ok(admission) => caller.admission = Some(admission),
            Err(challenge) => return Err(ApiError::challenge_required(&challenge)),
        }
        if let Some(numeric) = self.config.broker_number.parse_code(text) {
            let refusal = match numeric {
                Ok(code) if code.kind() == NumericKind::PublicAlias => ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    ProblemCode::InvalidCode,
                    "a public code's alias cannot pay or manage anything; use a secret code",
                ),
                Ok(code) => {
                    return Ok(Holder {
                        hash: self.keys.hash_numeric(&code),
                        pin: pin_header(headers)?,
                        caller,
                        authorization: code.kind() == NumericKind::Authorization,
                    })
                }
                // A mistyped digit is caught before anything is looked up: it is not a guess.
                Err(error @ NumericError::CheckDigit) => {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        ProblemCode::InvalidCodeFormat,
                        error.to_string(),
                    ))
                }
                Err(error) => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    ProblemCode::InvalidCodeFormat,
                    error.to_string(),
                ),
            };
            return Err(self.failed_presentation(&caller, refusal).await);
        }
        let refusal = match parse_code(text, &self.config.domain, self.config.code_format()) {
            Ok(ParsedCode::Secret(code)) => {
                let pin = pin_header(headers)?;
                return Ok(Holder {
                    hash: self.keys.hash_code(&code),
                    pin,
                    caller,
                    authorization: false,
                });
            }
            Ok(ParsedCode::Public(_)) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ProblemCode::InvalidCode,
                "a public code cannot pay or manage anything; use a secret code",
            ),
            // An assurance code pays only with its certificate, and manages nothing.
            Err(_) if smartcode_core::code::AssuranceCode::parse(text).is_some() => ApiError::new(
                StatusCode::UNAUTHORIZED,
                ProblemCode::InvalidCode,
                "an assurance code pays only with its certificate (send certificate), and manages nothing",
            ),
            Err(error) => ApiError::new(
                StatusCode::BAD_REQUEST,
                ProblemCode::InvalidCodeFormat,
                error.to_string(),
            ),
        };
        Err(self.failed_presentation(&caller, refusal).await)
    }

    /// A seller presenting an assurance code: admitted by the guessing defence like any code, and
    /// text that is not an assurance code is refused and counted.
    pub async fn assurance_presenter(&self, mut caller: Caller, text: &str) -> Result<Holder, ApiError> {
        let principal = caller.principal();
        match self
            .guard
            .admit(&self.keys, &principal, caller.answer.as_deref())
            .await?
        {
            Ok(admission) => caller.admission = Some(admission),
            Err(challenge) => return Err(ApiError::challenge_required(&challenge)),
        }
        match smartcode_core::code::AssuranceCode::parse(text) {
            Some(code) => Ok(Holder {
                hash: self.keys.hash_assurance(&code),
                pin: None,
                caller,
                authorization: false,
            }),
            None => {
                // Another kind of code, well formed, is no assurance code: refused like a wrong one.
                let refusal = match parse_code(text, &self.config.domain, self.config.code_format()) {
                    Ok(_) => ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        ProblemCode::InvalidCode,
                        "a certificate's payments are made with its assurance code (A- and 10 symbols)",
                    ),
                    Err(_) => ApiError::new(
                        StatusCode::BAD_REQUEST,
                        ProblemCode::InvalidCodeFormat,
                        "an assurance code is A and 10 letters or digits, such as A-4WZ8N-K3QJD",
                    ),
                };
                Err(self.failed_presentation(&caller, refusal).await)
            }
        }
    }

    /// Counts a failed presentation against what admitted it (a page session's requests were
    /// admitted at login: they count against their principal), says how many free tries are
    /// left, and holds the answer back as long as the defence says.
    pub async fn failed_presentation(&self, caller: &Caller, refusal: ApiError) -> ApiError {
        let admission = caller
            .admission
            .clone()
            .unwrap_or_else(|| Admission::Free(caller.principal()));
        let failure = match self.guard.failed(&admission).await {
            Ok(failure) => failure,
            // Not counted, so not answered: a refusal the defence could not count must not let
            // the caller try again at once.
            Err(error) => return error.into(),
        };
        if !failure.delay.is_zero() {
            tokio::time::sleep(failure.delay).await;
        }
        // A refusal that already says what is left (a wrong PIN: the code's own tries before it
        // locks) keeps its word; others say the free tries the defence has left for the sender.
        if refusal.tries_left.is_some() {
            refusal
        } else {
            refusal.with_tries_left(failure.tries_left)
        }
    }
}

/// The `Idempotency-Key` header, if sent: 1 to 255 printable ASCII characters.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::invalid_request("Idempotency-Key must be printable ASCII"))?;
    let printable = text.bytes().all(|b| (0x20..0x7f).contains(&b));
    if text.is_empty() || text.len() > IDEMPOTENCY_KEY_CHARS_MAX || !printable {
        return Err(ApiError::invalid_request(format!(
            "Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_CHARS_MAX} printable ASCII characters"
        )));
    }
    Ok(Some(text.to_owned()))
}

/// serde quotes string values it could not use (`invalid type: string "…"`); such a value might
/// be a secret code sent in the wrong field, so it is never repeated back.
fn redact_strings(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if !inside {
                out.push_str("\"…\"");
            }
            inside = !inside;
            continue;
        }
        if !inside {
            out.push(c);
        }
    }
    out
}

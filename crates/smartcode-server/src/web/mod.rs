//! The web pages: the home page where a code is entered, each code's control center, each public
//! code's merchant page, and the operator's console. Rendered on the server (maud escapes every
//! value), with one small script for the copy button and every asset served by the broker itself.
//!
//! Pages never reimplement a rule: a form becomes the request of the API endpoint that does the
//! same thing, and the same typed service function of [`crate::api`] runs it (idempotency through
//! the form's one-time nonce, PINs, the guessing defence, limits). Pages never decode the API's
//! JSON: reads answer domain values, writes a typed [`crate::api::Answer`].
//!
//! One module per area: [`center`] (a code's control center and its forms), [`public`] (a public
//! code's page and its pay form), [`receipt`] (a receipt's page), [`items`], [`shares`] and [`licenses`] (an item's page, a share's link, a license's page), [`operator`] (the operator's console); [`forms`] holds what
//! every form shares, this module the routes, the CSRF token, page helpers, home and entering.

// Helpers here return `Err(Response)`: the page or redirect to send instead, built once on a
// request's refusal path; boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod buying;
mod center;
mod chart;
mod forms;
mod instruments;
mod items;
mod licenses;
mod operator;
mod pages;
pub(crate) mod problems;
mod public;
mod receipt;
mod refusal;
pub mod session;
mod shares;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use smartcode_core::code::{parse_code, ParsedCode};

use crate::api;
use crate::extract::Caller;
use crate::problem::{ApiError, ProblemCode};
use crate::AppState;
use center::{
    cancel_child, child_check, child_profile, control_center, fund_child, new_child, own_profile, pin, rekey,
    report_csv, transactions_csv, unlock_child,
};
use forms::{form_of, FormInput};
use operator::{
    operator_check, operator_console, operator_deposit, operator_end_alarm, operator_forgive, operator_issue,
    operator_login, operator_payout,
};
use public::{public_page, public_pay};
use session::Identity;

pub use center::CenterData;
pub use smartcode_core::limits::HISTORY_PAGE_ROWS;

/// The Content-Security-Policy of every response: nothing inline, nothing from elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/enter", post(enter))
        .route("/logout", post(logout))
        .route("/me", get(control_center))
        .route("/me/children", post(new_child))
        .route("/me/children/{id}/fund", post(fund_child))
        .route("/me/children/{id}/cancel", post(cancel_child))
        .route("/me/children/{id}/unlock", post(unlock_child))
        .route("/me/children/{id}/profile", post(child_profile))
        .route("/me/children/{id}/check", post(child_check))
        .route("/me/profile", post(own_profile))
        .route("/me/pin", post(pin))
        .route("/me/rekey", post(rekey))
        .route("/me/authorizations", post(instruments::authorize))
        .route(
            "/me/authorizations/{id}/cancel",
            post(instruments::cancel_authorization),
        )
        .route("/me/alias", post(instruments::alias))
        .route("/me/assurances", post(instruments::assurance))
        .route("/me/assurances/{id}/cancel", post(instruments::cancel_assurance))
        .route("/me/approvals/{id}/approve", post(buying::approve))
        .route("/me/approvals/{id}/decline", post(buying::decline))
        .route("/me/sessions/{id}/close", post(buying::close_session))
        .route("/me/rules", post(buying::add_rule))
        .route("/me/rules/remove", post(buying::remove_rule))
        .route("/me/report.csv", get(report_csv))
        .route("/me/transactions.csv", get(transactions_csv))
        .route("/p/{public_code}", get(public_page))
        .route("/p/{public_code}/pay", post(public_pay))
        .route("/i/{item}", get(items::item_page))
        .route("/i/{item}/buy", post(items::item_buy))
        .route("/s/{code}", get(shares::share_page))
        .route("/s/{code}/download", post(shares::share_download))
        .route("/l/{license_code}", get(licenses::license_page))
        .route("/r/{id}", get(receipt::receipt_page))
        .route("/operator", get(operator_console))
        .route("/operator/login", post(operator_login))
        .route("/operator/issue", post(operator_issue))
        .route("/operator/deposit", post(operator_deposit))
        .route("/operator/payout", post(operator_payout))
        .route("/operator/check", post(operator_check))
        .route("/broker", get(broker_page))
        .route("/problems", get(problems::problems_index))
        .route("/problems/{code}", get(problems::problem_page))
        .route("/operator/security/forgive", post(operator_forgive))
        .route("/operator/security/end-alarm", post(operator_end_alarm))
        .route("/assets/style.css", get(style))
        .route("/assets/app.js", get(script))
}

/// Adds the security headers to every response, API and pages alike.
pub async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let pairs = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in pairs {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// What the broker answers at an address it does not serve: problem+json for the API (a path
/// under `/v1/`, or a client that asks for JSON), a page for everyone else.
pub async fn not_found(State(state): State<AppState>, uri: axum::http::Uri, headers: HeaderMap) -> Response {
    if wants_json(uri.path(), &headers) {
        return ApiError::not_found("endpoint").into_response();
    }
    let csrf = Csrf::of(&state, &headers);
    page(StatusCode::NOT_FOUND, &csrf, pages::not_found(uri.path()))
}

/// Whether a refusal of this request is problem+json rather than a page.
pub fn wants_json(path: &str, headers: &HeaderMap) -> bool {
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/json") || v.contains("application/problem+json"));
    path == "/v1" || path.starts_with("/v1/") || accept
}

// ---------------------------------------------------------------------------------------------
// The CSRF token and pages.

/// Everything a page needs to render its forms: the CSRF token, and whether its cookie is new.
pub struct Csrf {
    pub token: String,
    cookie: Option<String>,
}

impl Csrf {
    fn of(state: &AppState, headers: &HeaderMap) -> Csrf {
        let (nonce, new) = session::csrf_nonce(headers);
        Csrf {
            token: session::csrf_token(&state.keys, &nonce),
            cookie: new.then(|| session::set_cookie(session::CSRF_COOKIE, &nonce, secure(state, headers))),
        }
    }
}

/// A page, with the CSRF cookie set if this browser had none.
/// The broker's own page: its facts and the peers it chose to show.
async fn broker_page(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let csrf = Csrf::of(&state, &headers);
    let peers = match crate::api::federation::listed_peers(&state).await {
        Ok(peers) => peers,
        Err(refusal) => return refusal.into_response(),
    };
    let format = state.config.code_format();
    let key = state.keys.federation_key().to_bytes();
    let facts = pages::BrokerFacts {
        name: &state.config.name,
        domain: &state.config.domain,
        broker_number: state.config.broker_number.as_str(),
        code_format: format!("{} symbols of {}", format.length(), format.alphabet().as_str()),
        fingerprint: smartcode_core::model::key_fingerprint(&key),
    };
    page(StatusCode::OK, &csrf, pages::broker_page(&facts, &peers))
}

fn page(status: StatusCode, csrf: &Csrf, markup: maud::Markup) -> Response {
    let mut response = (status, axum::response::Html(markup.into_string())).into_response();
    if let Some(cookie) = &csrf.cookie {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn redirect_with_cookie(to: &str, cookie: &str) -> Response {
    let mut response = Redirect::to(to).into_response();
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Cookies get `Secure` when a trusted proxy says the browser came over TLS.
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    !state.config.trusted_proxies.is_empty()
        && headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("https"))
}

fn csrf_refused(state: &AppState, headers: &HeaderMap) -> Response {
    let csrf = Csrf::of(state, headers);
    page(
        StatusCode::FORBIDDEN,
        &csrf,
        pages::message(
            "This form has expired",
            "The page was open too long or came from elsewhere. Go back, reload it and try again.",
        ),
    )
}

/// A refusal in words for people ([`refusal::for_people`]).
fn refusal_text(error: &ApiError) -> String {
    refusal::for_people(error).text
}

// ---------------------------------------------------------------------------------------------
// Home and entering a code.

/// Where the home page came from: `next`, the page to go on to once the code is entered (set
/// when a session was needed), and `ended`, when the session before it ended.
#[derive(serde::Deserialize, Default)]
pub struct HomeParams {
    next: Option<String>,
    ended: Option<String>,
}

pub async fn home(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<axum::extract::Query<HomeParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    let axum::extract::Query(params) = params.unwrap_or_default();
    let form = pages::HomeForm {
        next: params.next.map(|next| forms::next_page(Some(&next)).to_owned()),
        ended: params.ended.is_some(),
        challenge: challenge_for(&state, &caller).await,
        ..Default::default()
    };
    page(
        StatusCode::OK,
        &csrf,
        pages::home(&state.config.name, &state.config.code_format().example(), &csrf, &form),
    )
}

/// The challenge a form shown to `caller` must carry: one if its free tries are used up.
async fn challenge_for(state: &AppState, caller: &Caller) -> Option<String> {
    match state.guard.admit(&state.keys, &caller.principal(), None).await {
        Ok(Err(required)) => Some(required.challenge.to_header()),
        _ => None,
    }
}

/// Takes a form's answer to its challenge into the caller, as if sent in the header.
fn with_answer(mut caller: Caller, form: &forms::WebForm) -> Caller {
    if let Some(answer) = form.get("challenge_response").filter(|a| !a.is_empty()) {
        caller.answer = Some(answer.to_owned());
    }
    caller
}

/// The cookie that keeps a proof of this browser's success: a code it presents later is counted
/// against that code's tree, not against its address.
async fn proof_cookie(state: &AppState, holder: &crate::extract::Holder, headers: &HeaderMap) -> Option<HeaderValue> {
    let (proof, _) = api::security::proof(state, holder).await.ok()?;
    let cookie = session::set_cookie(crate::extract::PROOF_COOKIE, &proof, secure(state, headers));
    let max_age = smartcode_core::limits::PROOF_VALID_SECONDS;
    HeaderValue::from_str(&format!("{cookie}; Max-Age={max_age}")).ok()
}

async fn enter(State(state): State<AppState>, caller: Caller, headers: HeaderMap, form: FormInput) -> Response {
    let form = form_of(form);
    if !session::csrf_valid(&state.keys, &headers, form.get("csrf").unwrap_or("")) {
        return csrf_refused(&state, &headers);
    }
    let text = form.get("code").unwrap_or("");
    if let Ok(ParsedCode::Public(public)) = parse_code(text, &state.config.domain, state.config.code_format()) {
        return Redirect::to(&format!("/p/{public}")).into_response();
    }
    // A public code's numeric alias opens its page too (a secret alias logs in, as its code does).
    let public_alias = matches!(
        state.config.broker_number.parse_code(text),
        Some(Ok(code)) if code.kind() == smartcode_core::numeric::NumericKind::PublicAlias
    );
    if public_alias {
        if let Ok(public) = api::aliases::payee(&state, text).await {
            return Redirect::to(&format!("/p/{public}")).into_response();
        }
    }
    let next = forms::next_page(form.get("next")).to_owned();
    let refused = |error: ApiError| {
        let csrf = Csrf::of(&state, &headers);
        let status = error.status;
        let typed = pages::HomeForm {
            refusal: Some(refusal::for_people(&error)),
            code: text.to_owned(),
            next: Some(next.clone()),
            ended: false,
            challenge: error.challenge.clone(),
        };
        let mut response = page(
            status,
            &csrf,
            pages::home(&state.config.name, &state.config.code_format().example(), &csrf, &typed),
        );
        if let Some(seconds) = error.retry_after_seconds {
            response.headers_mut().insert(header::RETRY_AFTER, seconds.into());
        }
        response
    };
    let mut pin_headers = HeaderMap::new();
    if let Some(pin) = form.get("pin").and_then(|p| HeaderValue::from_str(p).ok()) {
        pin_headers.insert(HeaderName::from_static("smartcode-pin"), pin);
    }
    let holder = match state.holder(with_answer(caller, &form), text, &pin_headers).await {
        Ok(holder) => holder,
        Err(error) => return refused(error),
    };
    // The PIN is checked as `GET /v1/me` with it would: a wrong one is refused here and counted,
    // not carried into the session to spend a try on every later form.
    let view = match api::tree::me(&state, &holder).await {
        Ok(view) => view,
        Err(error) => return refused(error),
    };
    if let Err(error) = api::check_sent_pin(&state, &holder, &view.record).await {
        return refused(error);
    }
    if view.record.pin.hash.is_some() && holder.pin.is_none() {
        return refused(ApiError::new(
            StatusCode::FORBIDDEN,
            ProblemCode::PinRequired,
            "this code has a PIN: enter it with the code",
        ));
    }
    let proof = proof_cookie(&state, &holder, &headers).await;
    let id = state.sessions.start(Identity::Code {
        hash: holder.hash,
        pin: holder.pin,
    });
    let cookie = session::set_cookie(session::SESSION_COOKIE, &id, secure(&state, &headers));
    let mut response = redirect_with_cookie(&next, &cookie);
    if let Some(proof) = proof {
        response.headers_mut().append(header::SET_COOKIE, proof);
    }
    response
}

async fn logout(State(state): State<AppState>, headers: HeaderMap, form: FormInput) -> Response {
    let form = form_of(form);
    if !session::csrf_valid(&state.keys, &headers, form.get("csrf").unwrap_or("")) {
        return csrf_refused(&state, &headers);
    }
    if let Some(current) = state.sessions.current(&headers) {
        state.sessions.end(&current.id);
    }
    redirect_with_cookie("/", &session::clear_cookie(session::SESSION_COOKIE))
}

// ---------------------------------------------------------------------------------------------
// Assets, served by the broker itself: a payment page must not depend on anyone else's server.

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("../../assets/style.css"))
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("../../assets/app.js"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}

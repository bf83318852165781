//! The web pages: the home page where a code is entered, each code's control center, each public
//! code's merchant page, and the operator's console. Rendered on the server (maud escapes every
//! value), with one small script for the copy button and every asset served by the broker itself.
//!
//! Pages never reimplement a rule: a form becomes the JSON body of the API endpoint that does the
//! same thing, and the API's handler runs it (idempotency, PINs, the guessing defence, limits).
//! Reads use the core's queries directly, so pages render typed values.

// Helpers here return `Err(Response)`: the page or redirect to send instead, built once on a
// request's refusal path; boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod chart;
mod pages;
pub mod session;

use std::collections::HashMap;

use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use smartcode_core::code::{parse_code, ParsedCode, SecretCode};
use smartcode_core::ledger::controls::Pin;
use smartcode_core::ledger::{reports, TransferFilter};
use smartcode_core::limits::REPORT_ROWS_MAX;
use smartcode_core::model::ReportGrouping;

use crate::api;
use crate::extract::{Body, Caller, Holder, Operator, Segment, Target};
use crate::problem::{ApiError, ProblemCode};
use crate::AppState;
use session::{Current, Identity, Notice, Reveal};

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
        .route("/me/profile", post(own_profile))
        .route("/me/pin", post(pin))
        .route("/me/rekey", post(rekey))
        .route("/me/report.csv", get(report_csv))
        .route("/p/{public_code}", get(public_page))
        .route("/p/{public_code}/pay", post(public_pay))
        .route("/operator", get(operator_console))
        .route("/operator/login", post(operator_login))
        .route("/operator/issue", post(operator_issue))
        .route("/operator/deposit", post(operator_deposit))
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

// ---------------------------------------------------------------------------------------------
// Plumbing: forms, CSRF, sessions, and calling the API's handlers.

type Fields = HashMap<String, String>;
/// A form as axum hands it over: a body that is not a form becomes an empty one in [`form_of`].
type FormInput = Result<Form<Fields>, axum::extract::rejection::FormRejection>;

/// A submitted form; a body that is not a form is treated as an empty one (and fails its CSRF check).
struct WebForm(Fields);

impl WebForm {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// A comma-separated list, as typed in one field.
    fn list(&self, name: &str) -> Option<Vec<String>> {
        let items: Vec<String> = self
            .get(name)?
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        (!items.is_empty()).then_some(items)
    }

    fn number(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::invalid_request(format!("{} must be a whole number", name.replace('_', " ")))
                })
            })
            .transpose()
    }

    fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The headers to call an API handler with: the form's nonce as its Idempotency-Key, and the PIN.
    fn api_headers(&self, pin: Option<&Pin>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(nonce) = self.get("nonce").and_then(|n| HeaderValue::from_str(n).ok()) {
            headers.insert(HeaderName::from_static("idempotency-key"), nonce);
        }
        if let Some(pin) = pin.and_then(|p| HeaderValue::from_str(p.expose()).ok()) {
            headers.insert(HeaderName::from_static("smartcode-pin"), pin);
        }
        headers
    }
}

fn form_of(form: FormInput) -> WebForm {
    WebForm(form.map(|Form(fields)| fields).unwrap_or_default())
}

/// The JSON of a successful API answer, or the API's refusal.
async fn answer_json(result: Result<Response, ApiError>) -> Result<Value, ApiError> {
    let response = result?;
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|_| ApiError::invalid_request("the answer could not be read"))?;
    serde_json::from_slice(&bytes).map_err(|_| ApiError::invalid_request("the answer was not JSON"))
}

fn json_body(value: Value) -> Body {
    Body(serde_json::to_vec(&value).expect("JSON values serialize").into())
}

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

/// A code's session for a form: checks the CSRF token and that the session is a code's.
fn code_form(
    state: &AppState,
    headers: &HeaderMap,
    form: &WebForm,
    caller: Caller,
) -> Result<(Current, Holder), Response> {
    if !session::csrf_valid(&state.keys, headers, form.get("csrf").unwrap_or("")) {
        return Err(csrf_refused(state, headers));
    }
    code_session(state, headers, caller)
}

fn code_session(state: &AppState, headers: &HeaderMap, caller: Caller) -> Result<(Current, Holder), Response> {
    let Some(current) = state.sessions.current(headers) else {
        return Err(Redirect::to("/").into_response());
    };
    let Identity::Code { hash, pin } = current.identity.clone() else {
        return Err(Redirect::to("/").into_response());
    };
    Ok((current, Holder { hash, pin, caller }))
}

/// After a form: back to its page (`/me` or `/operator`) with what happened, and a new code to
/// show once if there is one.
fn back_to(
    page: &str,
    state: &AppState,
    current: &Current,
    reveal: Option<Reveal>,
    notice: Result<String, ApiError>,
) -> Response {
    let notice = match notice {
        Ok(text) => Notice { text, is_error: false },
        Err(error) => Notice {
            text: refusal_text(&error),
            is_error: true,
        },
    };
    state.sessions.leave(&current.id, reveal, Some(notice));
    Redirect::to(page).into_response()
}

fn back_to_me(
    state: &AppState,
    current: &Current,
    reveal: Option<Reveal>,
    notice: Result<String, ApiError>,
) -> Response {
    back_to("/me", state, current, reveal, notice)
}

fn refusal_text(error: &ApiError) -> String {
    format!("{} ({})", error.detail, error.code)
}

fn new_code(value: &Value) -> Option<SecretCode> {
    match parse_code(value["code"].as_str()?, "") {
        Ok(ParsedCode::Secret(code)) => Some(code),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Home and entering a code.

pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let csrf = Csrf::of(&state, &headers);
    page(StatusCode::OK, &csrf, pages::home(&state.config.name, &csrf, None))
}

async fn enter(State(state): State<AppState>, caller: Caller, headers: HeaderMap, form: FormInput) -> Response {
    let form = form_of(form);
    if !session::csrf_valid(&state.keys, &headers, form.get("csrf").unwrap_or("")) {
        return csrf_refused(&state, &headers);
    }
    let text = form.get("code").unwrap_or("");
    if let Ok(ParsedCode::Public(public)) = parse_code(text, &state.config.domain) {
        return Redirect::to(&format!("/p/{public}")).into_response();
    }
    let refused = |error: ApiError| {
        let csrf = Csrf::of(&state, &headers);
        let status = error.status;
        let mut response = page(
            status,
            &csrf,
            pages::home(&state.config.name, &csrf, Some(&refusal_text(&error))),
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
    let holder = match state.holder(caller, text, &pin_headers).await {
        Ok(holder) => holder,
        Err(error) => return refused(error),
    };
    let outcome = api::read(&state, Some(caller), reports::Query::Me { holder: holder.hash }).await;
    let view = match outcome {
        Ok(reports::QueryOutcome::Code(view)) => view,
        Ok(_) => return refused(api::unexpected()),
        Err(error) => return refused(error),
    };
    if view.record.pin.hash.is_some() && holder.pin.is_none() {
        return refused(ApiError::new(
            StatusCode::FORBIDDEN,
            ProblemCode::PinRequired,
            "this code has a PIN: enter it with the code",
        ));
    }
    let id = state.sessions.start(Identity::Code {
        hash: holder.hash,
        pin: holder.pin,
    });
    let cookie = session::set_cookie(session::SESSION_COOKIE, &id, secure(&state, &headers));
    redirect_with_cookie("/me", &cookie)
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
// The control center.

#[derive(serde::Deserialize, Default)]
struct CenterParams {
    cursor: Option<String>,
}

async fn control_center(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<axum::extract::Query<CenterParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (current, holder) = match code_session(&state, &headers, caller) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let cursor = params
        .ok()
        .and_then(|axum::extract::Query(p)| p.cursor)
        .and_then(|c| c.parse::<i64>().ok())
        .filter(|c| *c > 0);
    match center_data(&state, &holder, cursor).await {
        Ok(data) => {
            let csrf = Csrf::of(&state, &headers);
            page(StatusCode::OK, &csrf, pages::control_center(&data, &current, &csrf))
        }
        Err(error) => {
            // The code stopped working (cancelled, rekeyed elsewhere): the session ends with it.
            state.sessions.end(&current.id);
            let csrf = Csrf::of(&state, &headers);
            page(
                error.status,
                &csrf,
                pages::home(&state.config.name, &csrf, Some(&refusal_text(&error))),
            )
        }
    }
}

/// What the control center shows, read in one go.
pub struct CenterData {
    pub view: smartcode_core::ledger::CodeView,
    pub tree: Vec<smartcode_core::ledger::CodeView>,
    pub tree_truncated: bool,
    pub history: Vec<smartcode_core::ledger::reports::Entry>,
    pub next_cursor: Option<i64>,
    /// This page of history is not the newest.
    pub paged: bool,
    pub by_day: Vec<smartcode_core::model::ReportRow>,
    pub by_public_code: Vec<smartcode_core::model::ReportRow>,
}

async fn center_data(state: &AppState, holder: &Holder, cursor: Option<i64>) -> Result<CenterData, ApiError> {
    let caller = Some(holder.caller);
    let hash = holder.hash;
    let reports::QueryOutcome::Code(view) = api::read(state, caller, reports::Query::Me { holder: hash }).await? else {
        return Err(api::unexpected());
    };
    let reports::QueryOutcome::Tree { nodes, truncated } =
        api::read(state, caller, reports::Query::Tree { holder: hash }).await?
    else {
        return Err(api::unexpected());
    };
    let filter = TransferFilter {
        since: None,
        until: None,
        before_sequence: cursor,
        limit: HISTORY_PAGE_ROWS,
    };
    let reports::QueryOutcome::Transactions { entries, next_cursor } =
        api::read(state, caller, reports::Query::Transactions { holder: hash, filter }).await?
    else {
        return Err(api::unexpected());
    };
    let report = |grouping| reports::Query::Report {
        holder: hash,
        grouping,
        filter: TransferFilter {
            since: None,
            until: None,
            before_sequence: None,
            limit: REPORT_ROWS_MAX,
        },
    };
    let reports::QueryOutcome::Report(by_day) = api::read(state, caller, report(ReportGrouping::Day)).await? else {
        return Err(api::unexpected());
    };
    let reports::QueryOutcome::Report(by_public_code) =
        api::read(state, caller, report(ReportGrouping::PublicCode)).await?
    else {
        return Err(api::unexpected());
    };
    Ok(CenterData {
        view,
        tree: nodes,
        tree_truncated: truncated,
        history: entries,
        next_cursor,
        paged: cursor.is_some(),
        by_day,
        by_public_code,
    })
}

async fn new_child(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    let (current, holder) = match code_form(&state, &headers, &form, caller) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let body = match child_body(&form) {
        Ok(body) => body,
        Err(error) => return back_to_me(&state, &current, None, Err(error)),
    };
    let api_headers = form.api_headers(holder.pin.as_ref());
    let public = form.get("kind") == Some("public");
    let result =
        answer_json(api::create_child(State(state.clone()), holder, target, api_headers, json_body(body)).await).await;
    match result {
        Ok(value) if public => {
            let code = value["public_code"].as_str().unwrap_or("");
            back_to_me(&state, &current, None, Ok(format!("New public code {code} created.")))
        }
        Ok(value) => {
            let reveal = new_code(&value).map(|code| Reveal {
                code,
                what: format!(
                    "New secret child {} holding {} {}",
                    value["label"].as_str().unwrap_or(""),
                    value["balance"]["amount"].as_str().unwrap_or(""),
                    value["balance"]["currency"].as_str().unwrap_or("")
                ),
            });
            back_to_me(&state, &current, reveal, Ok("New secret child created.".into()))
        }
        Err(error) => back_to_me(&state, &current, None, Err(error)),
    }
}

/// The API's child request for what the form says.
fn child_body(form: &WebForm) -> Result<Value, ApiError> {
    let mut body = json!({ "kind": form.get("kind").unwrap_or("secret") });
    if let Some(label) = form.text("label") {
        body["label"] = json!(label);
    }
    if form.get("kind") == Some("public") {
        body["profile"] = profile_body(form);
        if let Some(under) = form.text("under") {
            body["under"] = json!(under);
        }
        return Ok(body);
    }
    body["amount"] = json!(form.get("amount").unwrap_or(""));
    if let Some(hours) = form.number("expires_in_hours")? {
        body["expires_in_seconds"] = json!(hours.saturating_mul(3600));
    }
    if let Some(at) = form.get("expires_at") {
        // A datetime-local field has no zone and often no seconds; the form says it is UTC.
        let at = if at.len() == 16 {
            format!("{at}:00Z")
        } else {
            format!("{at}Z")
        };
        body["expires_at"] = json!(at);
    }
    if form.checked("irrevocable") {
        body["irrevocable"] = json!(true);
    }
    let mut rules = json!({});
    for field in ["categories", "payees", "items"] {
        if let Some(list) = form.list(field) {
            rules[field] = json!(list);
        }
    }
    if let Some(per_use) = form.text("amount_per_use_max") {
        rules["amount_per_use_max"] = json!(per_use);
    }
    if let Some(uses) = form.number("uses_max")? {
        rules["uses_max"] = json!(uses);
    }
    if let Some(amount) = form.text("spend_amount") {
        let period = form.number("spend_period_seconds")?.unwrap_or(86_400);
        rules["spend_per_period"] = json!({ "amount": amount, "period_seconds": period });
    }
    if rules.as_object().is_some_and(|r| !r.is_empty()) {
        body["restrictions"] = rules;
    }
    Ok(body)
}

fn profile_body(form: &WebForm) -> Value {
    json!({
        "name": form.get("name").unwrap_or(""),
        "description": form.get("description").unwrap_or(""),
        "url": form.get("url").unwrap_or(""),
        "contact": form.get("contact").unwrap_or(""),
        "show_stats": form.checked("show_stats"),
    })
}

/// Runs one control-center form that maps to one API call: checks the CSRF token and the session,
/// lets `call` build and make the API request, then goes back to the control center with the
/// notice `done` writes from the answer (or the refusal).
async fn center_form<Fut>(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
    call: impl FnOnce(AppState, Holder, Target, HeaderMap, &WebForm) -> Fut,
    done: impl FnOnce(&Value) -> String,
) -> Response
where
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let form = form_of(form);
    let (current, holder) = match code_form(&state, &headers, &form, caller) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let api_headers = form.api_headers(holder.pin.as_ref());
    let result = answer_json(call(state.clone(), holder, target, api_headers, &form).await).await;
    back_to_me(&state, &current, None, result.map(|value| done(&value)))
}

/// `{"amount": "2.50", "currency": "USD"}` as `2.50 USD`.
fn money_text(money: &Value) -> String {
    format!(
        "{} {}",
        money["amount"].as_str().unwrap_or(""),
        money["currency"].as_str().unwrap_or("")
    )
}

async fn fund_child(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let call = |state, holder, target, api_headers, form: &WebForm| {
        let body = json_body(json!({ "amount": form.get("amount").unwrap_or("") }));
        api::fund_child(State(state), holder, Segment(id), target, api_headers, body)
    };
    let done = |v: &Value| {
        format!(
            "Moved into the child; it now holds {}.",
            money_text(&v["child"]["balance"])
        )
    };
    center_form(state, caller, headers, target, form, call, done).await
}

async fn cancel_child(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let call = |state, holder, target, api_headers, _: &WebForm| {
        api::cancel_child(
            State(state),
            holder,
            Segment(id),
            target,
            api_headers,
            json_body(json!({})),
        )
    };
    let done = |v: &Value| {
        format!(
            "Cancelled {} code(s) and took back {}.",
            v["codes_cancelled"],
            money_text(&v["reclaimed"])
        )
    };
    center_form(state, caller, headers, target, form, call, done).await
}

async fn unlock_child(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let call = |state, holder, target, api_headers, _: &WebForm| {
        api::unlock_child(
            State(state),
            holder,
            Segment(id),
            target,
            api_headers,
            json_body(json!({})),
        )
    };
    center_form(state, caller, headers, target, form, call, |_| {
        "The child works again.".to_owned()
    })
    .await
}

async fn child_profile(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(id): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let call = |state, holder, target, api_headers, form: &WebForm| {
        let body = json_body(profile_body(form));
        api::set_child_profile(State(state), holder, Segment(id), target, api_headers, body)
    };
    center_form(state, caller, headers, target, form, call, |_| {
        "Profile saved.".to_owned()
    })
    .await
}

async fn own_profile(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
) -> Response {
    let call = |state, holder, target, api_headers, form: &WebForm| {
        let body = json_body(profile_body(form));
        api::set_own_profile(State(state), holder, target, api_headers, body)
    };
    center_form(state, caller, headers, target, form, call, |_| {
        "Your profile is saved.".to_owned()
    })
    .await
}

async fn pin(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    let (current, holder) = match code_form(&state, &headers, &form, caller) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let hash = holder.hash;
    let api_headers = form.api_headers(holder.pin.as_ref());
    let removing = form.get("action") == Some("remove");
    let new_pin = form.get("new_pin").unwrap_or("").to_owned();
    let result = if removing {
        answer_json(api::remove_pin(State(state.clone()), holder, target, api_headers).await).await
    } else {
        let body = json_body(json!({ "pin": new_pin }));
        answer_json(api::set_pin(State(state.clone()), holder, target, api_headers, body).await).await
    };
    if result.is_ok() {
        let pin = if removing { None } else { Pin::parse(&new_pin) };
        state
            .sessions
            .replace_identity(&current.id, Identity::Code { hash, pin });
    }
    let done = if removing {
        "The PIN is removed."
    } else {
        "The PIN is set."
    };
    back_to_me(&state, &current, None, result.map(|_| done.to_owned()))
}

async fn rekey(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    let (current, holder) = match code_form(&state, &headers, &form, caller) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let pin = holder.pin.clone();
    let api_headers = form.api_headers(pin.as_ref());
    let result =
        answer_json(api::rekey(State(state.clone()), holder, target, api_headers, json_body(json!({}))).await).await;
    match result.map(|value| new_code(&value)) {
        Ok(Some(code)) => {
            let hash = state.keys.hash_code(&code);
            state
                .sessions
                .replace_identity(&current.id, Identity::Code { hash, pin });
            let reveal = Reveal {
                code,
                what: "Your new secret code: the old one no longer works".into(),
            };
            back_to_me(&state, &current, Some(reveal), Ok("The code has a new secret.".into()))
        }
        Ok(None) => back_to_me(&state, &current, None, Err(api::unexpected())),
        Err(error) => back_to_me(&state, &current, None, Err(error)),
    }
}

#[derive(serde::Deserialize)]
struct CsvParams {
    group_by: Option<String>,
}

async fn report_csv(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    params: Result<axum::extract::Query<CsvParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let (_, holder) = match code_session(&state, &headers, caller) {
        Ok(found) => found,
        Err(response) => return response,
    };
    let group_by = params.ok().and_then(|axum::extract::Query(p)| p.group_by);
    let mut api_headers = HeaderMap::new();
    api_headers.insert(header::ACCEPT, HeaderValue::from_static("text/csv"));
    let params = crate::wire::ReportParams {
        group_by,
        since: None,
        until: None,
    };
    match api::report(
        State(state.clone()),
        holder,
        api_headers,
        crate::extract::Params(params),
    )
    .await
    {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

// ---------------------------------------------------------------------------------------------
// A public code's page.

async fn public_page(State(state): State<AppState>, headers: HeaderMap, Segment(text): Segment) -> Response {
    render_public(&state, &headers, &text, None).await
}

/// The public page, with a refusal of the pay form if there was one.
async fn render_public(state: &AppState, headers: &HeaderMap, text: &str, refusal: Option<&ApiError>) -> Response {
    let csrf = Csrf::of(state, headers);
    let code = match parse_code(text, &state.config.domain) {
        Ok(ParsedCode::Public(code)) => code,
        _ => {
            return page(
                StatusCode::NOT_FOUND,
                &csrf,
                pages::message("No such public code", "Check the code and try again."),
            )
        }
    };
    let view = match api::read(state, None, reports::Query::Public { code }).await {
        Ok(reports::QueryOutcome::Public(view)) => view,
        _ => {
            return page(
                StatusCode::NOT_FOUND,
                &csrf,
                pages::message("No such public code", "Check the code and try again."),
            )
        }
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let status = refusal.map_or(StatusCode::OK, |e| e.status);
    let markup = pages::public_page(
        &state.config.name,
        &view,
        &csrf,
        host,
        refusal.map(refusal_text).as_deref(),
    );
    page(status, &csrf, markup)
}

async fn public_pay(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(text): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    if !session::csrf_valid(&state.keys, &headers, form.get("csrf").unwrap_or("")) {
        return csrf_refused(&state, &headers);
    }
    let mut body = json!({
        "code": form.get("code").unwrap_or(""),
        "payee": text,
        "amount": form.get("amount").unwrap_or(""),
    });
    if let Some(memo) = form.text("memo") {
        body["memo"] = json!(memo);
    }
    let pin = form.get("pin").and_then(Pin::parse);
    if form.get("pin").is_some() && pin.is_none() {
        let error = ApiError::invalid_request("a PIN is 4 to 12 digits");
        return render_public(&state, &headers, &text, Some(&error)).await;
    }
    let api_headers = form.api_headers(pin.as_ref());
    let result = answer_json(api::pay(State(state.clone()), caller, target, api_headers, json_body(body)).await).await;
    match result {
        Ok(value) => {
            let csrf = Csrf::of(&state, &headers);
            page(StatusCode::OK, &csrf, pages::receipt(&value["receipt"]))
        }
        Err(error) => render_public(&state, &headers, &text, Some(&error)).await,
    }
}

// ---------------------------------------------------------------------------------------------
// The operator's console.

fn operator_session(state: &AppState, headers: &HeaderMap) -> Option<Current> {
    state
        .sessions
        .current(headers)
        .filter(|c| matches!(c.identity, Identity::Operator))
}

async fn operator_console(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let csrf = Csrf::of(&state, &headers);
    let Some(current) = operator_session(&state, &headers) else {
        return page(StatusCode::OK, &csrf, pages::operator_login(&csrf, None));
    };
    let check = answer_json(api::ledger_check(State(state.clone()), Operator).await).await;
    let security = answer_json(Ok(api::security(State(state.clone()), Operator).await)).await;
    let check = check.unwrap_or_else(|e| json!({ "error": refusal_text(&e) }));
    let security = security.unwrap_or_else(|e| json!({ "error": refusal_text(&e) }));
    page(
        StatusCode::OK,
        &csrf,
        pages::operator_console(&csrf, &current, &check, &security),
    )
}

async fn operator_login(State(state): State<AppState>, headers: HeaderMap, form: FormInput) -> Response {
    let form = form_of(form);
    if !session::csrf_valid(&state.keys, &headers, form.get("csrf").unwrap_or("")) {
        return csrf_refused(&state, &headers);
    }
    if !state.operator_token_matches(form.get("token").unwrap_or("")) {
        let csrf = Csrf::of(&state, &headers);
        return page(
            StatusCode::UNAUTHORIZED,
            &csrf,
            pages::operator_login(&csrf, Some("That is not the operator token (unauthorized).")),
        );
    }
    let id = state.sessions.start(Identity::Operator);
    let cookie = session::set_cookie(session::SESSION_COOKIE, &id, secure(&state, &headers));
    redirect_with_cookie("/operator", &cookie)
}

fn operator_form(state: &AppState, headers: &HeaderMap, form: &WebForm) -> Result<Current, Response> {
    if !session::csrf_valid(&state.keys, headers, form.get("csrf").unwrap_or("")) {
        return Err(csrf_refused(state, headers));
    }
    operator_session(state, headers).ok_or_else(|| Redirect::to("/operator").into_response())
}

fn back_to_console(
    state: &AppState,
    current: &Current,
    reveal: Option<Reveal>,
    notice: Result<String, ApiError>,
) -> Response {
    back_to("/operator", state, current, reveal, notice)
}

async fn operator_issue(
    State(state): State<AppState>,
    headers: HeaderMap,
    target: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    let current = match operator_form(&state, &headers, &form) {
        Ok(current) => current,
        Err(response) => return response,
    };
    let mut body = json!({
        "amount": form.get("amount").unwrap_or(""),
        "currency": form.get("currency").unwrap_or(""),
    });
    if let Some(label) = form.text("label") {
        body["label"] = json!(label);
    }
    let api_headers = form.api_headers(None);
    let result =
        answer_json(api::issue(State(state.clone()), Operator, target, api_headers, json_body(body)).await).await;
    match result {
        Ok(value) => {
            let reveal = new_code(&value).map(|code| Reveal {
                code,
                what: format!(
                    "New code {} holding {} {}",
                    value["id"].as_str().unwrap_or(""),
                    value["balance"]["amount"].as_str().unwrap_or(""),
                    value["balance"]["currency"].as_str().unwrap_or("")
                ),
            });
            back_to_console(&state, &current, reveal, Ok("Code issued.".into()))
        }
        Err(error) => back_to_console(&state, &current, None, Err(error)),
    }
}

async fn operator_deposit(
    State(state): State<AppState>,
    headers: HeaderMap,
    route: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    let current = match operator_form(&state, &headers, &form) {
        Ok(current) => current,
        Err(response) => return response,
    };
    let target = form.get("target").unwrap_or("");
    let mut body = json!({
        "amount": form.get("amount").unwrap_or(""),
        "currency": form.get("currency").unwrap_or(""),
    });
    if smartcode_core::code::CodeId::parse(target).is_some() {
        body["code_id"] = json!(target);
    } else {
        body["code"] = json!(target);
    }
    let api_headers = form.api_headers(None);
    let result =
        answer_json(api::deposit(State(state.clone()), Operator, route, api_headers, json_body(body)).await).await;
    let notice = result.map(|v| {
        format!(
            "Deposited into {}; it now holds {} {}.",
            v["code_id"].as_str().unwrap_or(""),
            v["balance"]["amount"].as_str().unwrap_or(""),
            v["balance"]["currency"].as_str().unwrap_or("")
        )
    });
    back_to_console(&state, &current, None, notice)
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

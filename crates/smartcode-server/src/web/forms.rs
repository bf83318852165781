//! What every form shares: reading a submitted form ([`WebForm`]), the request it becomes (its
//! fields as the API's JSON body, its one-time nonce as the Idempotency-Key, in [`WebForm::asked`]),
//! the CSRF and session checks of a code's form, and going back to the page with a notice.

use std::collections::HashMap;

use axum::extract::Form;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use smartcode_core::code::{parse_code, ParsedCode, SecretCode};

use super::refusal::for_people;
use super::session::{self, Current, Identity, KeptForm, Notice, Reveal};
use super::{csrf_refused, refusal_text};
use crate::api::Asked;
use crate::extract::{Body, Caller, Holder, Target};
use crate::problem::ApiError;
use crate::AppState;

type Fields = HashMap<String, String>;
/// A form as axum hands it over: a body that is not a form becomes an empty one in [`form_of`].
pub(super) type FormInput = Result<Form<Fields>, axum::extract::rejection::FormRejection>;

/// A submitted form; a body that is not a form is treated as an empty one (and fails its CSRF check).
pub(super) struct WebForm(pub(super) Fields);

impl WebForm {
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub(super) fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// A comma-separated list, as typed in one field.
    pub(super) fn list(&self, name: &str) -> Option<Vec<String>> {
        let items: Vec<String> = self
            .get(name)?
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
        (!items.is_empty()).then_some(items)
    }

    pub(super) fn number(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    ApiError::invalid_request(format!("{} must be a whole number", name.replace('_', " ")))
                })
            })
            .transpose()
    }

    pub(super) fn checked(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The write this form asks for: its nonce as the Idempotency-Key (checked as the API checks
    /// the header), and the request the key's fingerprint binds (the page's route and the body
    /// the form became), so a form sent twice acts once.
    pub(super) fn asked<'a>(&self, target: &'a Target, body: &'a Body) -> Asked<'a> {
        let mut headers = HeaderMap::new();
        if let Some(nonce) = self.get("nonce").and_then(|n| HeaderValue::from_str(n).ok()) {
            headers.insert(HeaderName::from_static("idempotency-key"), nonce);
        }
        Asked::of(&headers, target, &body.0)
    }
}

pub(super) fn form_of(form: FormInput) -> WebForm {
    WebForm(form.map(|Form(fields)| fields).unwrap_or_default())
}

/// A form's fields as the JSON body of the API request that does the same thing, read by the
/// same parser as the API's (`Body::json`), so a page refuses what the API refuses, in its words.
pub(super) fn json_body(value: Value) -> Body {
    Body(serde_json::to_vec(&value).expect("JSON values serialize").into())
}

/// A code's session for a form: checks the CSRF token and that the session is a code's.
pub(super) fn code_form(
    state: &AppState,
    headers: &HeaderMap,
    form: &WebForm,
    caller: Caller,
) -> Result<(Current, Holder), Response> {
    if !session::csrf_valid(&state.keys, headers, form.get("csrf").unwrap_or("")) {
        return Err(csrf_refused(state, headers));
    }
    code_session(state, headers, caller, "/me")
}

/// A code's session, or the home page to log in again: one that says the session ended, if it
/// did, and comes back to `here` (the page the browser was on) once the code is entered again.
pub(super) fn code_session(
    state: &AppState,
    headers: &HeaderMap,
    caller: Caller,
    here: &str,
) -> Result<(Current, Holder), Response> {
    let Some(current) = state.sessions.current(headers) else {
        let ended = if state.sessions.ended(headers) { "ended=1&" } else { "" };
        let next: String = url::form_urlencoded::byte_serialize(here.as_bytes()).collect();
        return Err(Redirect::to(&format!("/?{ended}next={next}")).into_response());
    };
    let Identity::Code { hash, pin } = current.identity.clone() else {
        return Err(Redirect::to("/").into_response());
    };
    Ok((
        current,
        Holder {
            hash,
            pin,
            caller,
            authorization: false,
        },
    ))
}

/// Where a login may go on to: a page of the control center, never another site.
pub(super) fn next_page(next: Option<&str>) -> &str {
    next.filter(|next| {
        (*next == "/me" || next.starts_with("/me?") || next.starts_with("/me/"))
            && next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
    })
    .unwrap_or("/me")
}

/// What a refused form held, to show it again: every field but the secrets.
pub(super) fn kept(form: &WebForm, id: &str, error: &ApiError) -> KeptForm {
    let secret = |name: &str| matches!(name, "csrf" | "nonce" | "pin" | "new_pin" | "new_pin_again" | "token");
    KeptForm {
        form: id.to_owned(),
        field: for_people(error).field,
        values: form
            .0
            .iter()
            .filter(|(name, _)| !secret(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
    }
}

/// After a form: back to its page (`/me` or `/operator`) with what happened, and a new code to
/// show once if there is one.
pub(super) fn back_to(
    page: &str,
    state: &AppState,
    current: &Current,
    reveal: Option<Reveal>,
    notice: Result<String, ApiError>,
) -> Response {
    back_with(page, state, current, reveal, notice.map_err(|error| (error, None)))
}

/// [`back_to`], and a refused form shown again as it was typed ([`kept`]), the page scrolled to it.
pub(super) fn back_with(
    page: &str,
    state: &AppState,
    current: &Current,
    reveal: Option<Reveal>,
    notice: Result<String, (ApiError, Option<KeptForm>)>,
) -> Response {
    let (notice, anchor) = match notice {
        Ok(text) => (
            Notice {
                text,
                is_error: false,
                kept: None,
            },
            String::new(),
        ),
        Err((error, kept)) => {
            let anchor = kept.as_ref().map_or(String::new(), |k| format!("#{}", k.form));
            let notice = Notice {
                text: refusal_text(&error),
                is_error: true,
                kept,
            };
            (notice, anchor)
        }
    };
    state.sessions.leave(&current.id, reveal, Some(notice));
    Redirect::to(&format!("{page}{anchor}")).into_response()
}

/// A new secret code (of this broker's `format`) in an answer, to show once.
pub(super) fn new_code(code: Option<&str>, format: smartcode_core::format::CodeFormat) -> Option<SecretCode> {
    match parse_code(code?, "", format) {
        Ok(ParsedCode::Secret(code)) => Some(code),
        _ => None,
    }
}

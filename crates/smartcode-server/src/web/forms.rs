//! What every form shares: reading a submitted form ([`WebForm`]), the request it becomes (its
//! fields as the API's JSON body, its one-time nonce as the Idempotency-Key, in [`WebForm::asked`]),
//! the CSRF and session checks of a code's form, and going back to the page with a notice.

use std::collections::HashMap;

use axum::extract::Form;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use smartcode_core::code::{parse_code, ParsedCode, SecretCode};

use super::session::{self, Current, Identity, Notice, Reveal};
use super::{csrf_refused, refusal_text};
use crate::api::Asked;
use crate::extract::{Body, Caller, Holder, Target};
use crate::problem::ApiError;
use crate::AppState;

type Fields = HashMap<String, String>;
/// A form as axum hands it over: a body that is not a form becomes an empty one in [`form_of`].
pub(super) type FormInput = Result<Form<Fields>, axum::extract::rejection::FormRejection>;

/// A submitted form; a body that is not a form is treated as an empty one (and fails its CSRF check).
pub(super) struct WebForm(Fields);

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
    code_session(state, headers, caller)
}

pub(super) fn code_session(
    state: &AppState,
    headers: &HeaderMap,
    caller: Caller,
) -> Result<(Current, Holder), Response> {
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
pub(super) fn back_to(
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

/// A new secret code in an answer, to show once.
pub(super) fn new_code(code: Option<&str>) -> Option<SecretCode> {
    match parse_code(code?, "") {
        Ok(ParsedCode::Secret(code)) => Some(code),
        _ => None,
    }
}

//! A share's page (`/s/{code}`, the one page whose address carries a code) and its download form
//! (`POST /s/{code}/download`), which runs the share's download ([`crate::api::shares::download`]:
//! the item's purchase, paid by the share) and shows its download link. Once the share gives no
//! more, the page offers the item's own pay form. A wrong code here counts against its source
//! as anywhere else; the form is guarded like every other (CSRF token, one-time nonce).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use smartcode_core::ledger::shares::ShareView;

use super::forms::{form_of, json_body, FormInput};
use super::pages::{Bought, ItemForm};
use super::{csrf_refused, page, pages, session, Csrf};
use crate::api;
use crate::extract::{Caller, Segment, Target};
use crate::problem::ApiError;
use crate::AppState;

/// The share whose code is `code`, read as `caller`.
async fn share_of(state: &AppState, caller: Caller, code: &str) -> Result<ShareView, ApiError> {
    let holder = state.holder(caller, code, &HeaderMap::new()).await?;
    api::shares::of_code(state, &holder.caller, holder.hash).await
}

fn no_such_share(csrf: &Csrf, error: &ApiError) -> Response {
    let status = if error.status.is_server_error() {
        error.status
    } else {
        StatusCode::NOT_FOUND
    };
    page(
        status,
        csrf,
        pages::message("No such share", &super::refusal_text(error)),
    )
}

pub(super) async fn share_page(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(code): Segment,
) -> Response {
    let csrf = Csrf::of(&state, &headers);
    let form = ItemForm {
        code: String::new(),
        challenge: super::challenge_for(&state, &caller).await,
    };
    match share_of(&state, caller, &code).await {
        Ok(share) => page(
            StatusCode::OK,
            &csrf,
            pages::share_page(&share, (&code, &csrf), &form, (None, None)),
        ),
        Err(error) => no_such_share(&csrf, &error),
    }
}

pub(super) async fn share_download(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Segment(code): Segment,
    target: Target,
    form: FormInput,
) -> Response {
    let form = form_of(form);
    if !session::csrf_valid(&state.keys, &headers, form.get("csrf").unwrap_or("")) {
        return csrf_refused(&state, &headers);
    }
    let csrf = Csrf::of(&state, &headers);
    let typed = ItemForm {
        code: String::new(),
        challenge: None,
    };
    let body = json_body(json!({ "share_download": true }));
    let caller = super::with_answer(caller, &form);
    let downloaded = async {
        let share = state.holder(caller.clone(), &code, &HeaderMap::new()).await?;
        let reply = api::shares::download(&state, &share, form.asked(&target, &body)).await?;
        let answer = reply.answer(&state).await?;
        let after = api::shares::of_code(&state, &share.caller, share.hash).await?;
        Ok::<_, ApiError>((answer, after))
    };
    match downloaded.await {
        Ok((answer, share)) => {
            let (Some(receipt), Some(download)) = (answer.receipt.as_ref(), answer.download.as_ref()) else {
                return no_such_share(&csrf, &ApiError::internal());
            };
            let bought = Bought { receipt, download };
            let markup = pages::share_page(&share, (&code, &csrf), &typed, (Some(&bought), None));
            page(StatusCode::OK, &csrf, markup)
        }
        Err(error) => match share_of(&state, caller, &code).await {
            Ok(share) => {
                let refusal = super::refusal::for_people(&error);
                let markup = pages::share_page(&share, (&code, &csrf), &typed, (None, Some(&refusal)));
                page(error.status, &csrf, markup)
            }
            Err(_) => no_such_share(&csrf, &error),
        },
    }
}

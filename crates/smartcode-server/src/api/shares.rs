//! Shares: `POST /v1/me/shares` makes one (a child of the caller's code restricted to one item,
//! holding `uses × price`, its code shown once and carried by its link `/s/{code}`), and
//! `GET /v1/me/shares` lists what the caller gave and how much of it was used. The free downloads
//! themselves are the link's page (`crate::web::shares`), or, for a program holding the link, a
//! purchase of the item with the share's code (`POST /v1/items/{id}/purchase`): the same payment
//! either way. The rules are the core's, in `ledger::shares`.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use smartcode_api::{Money, ShareCreatedJson, ShareJson, ShareRequest, SharesJson};
use smartcode_core::code::{CodeHash, SecretCode};
use smartcode_core::ledger::shares::{self, ShareView};
use smartcode_core::limits::EXPIRY_SECONDS_MAX;

use super::{json_value, read, submit, Asked, Entry, Reply, Shown, WriteContext};
use crate::extract::{Body, Caller, Holder, Target};
use crate::problem::{ApiError, ProblemCode};
use crate::{AppState, Broker};

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::POST, "/v1/me/shares", post(handle_make)),
        (Method::GET, "/v1/me/shares", get(handle_given)),
    ]
}

/// The page a share's code opens.
pub(crate) fn link(code: &str) -> String {
    format!("/s/{code}")
}

pub(crate) fn share_json(share: &ShareView) -> ShareJson {
    ShareJson {
        id: share.id.to_string(),
        item_id: share.item.id.to_string(),
        item_title: share.item.title.clone(),
        uses: share.uses,
        used: share.used,
        remaining: share.remaining(),
        left: Money::new(share.left_units, share.item.currency),
        status: share.status.as_str().to_owned(),
        created_at: share.created_at.to_rfc3339(),
        expires_at: share.expires_at.map(|at| at.to_rfc3339()),
    }
}

/// The JSON of a share write's outcome (first answers and replays alike); `code` is the share's
/// code, shown once.
pub(super) fn render(state: &Broker, outcome: &shares::Outcome, code: Option<&SecretCode>) -> serde_json::Value {
    match outcome {
        shares::Outcome::Made(share) => {
            let code = code.map(SecretCode::reveal).unwrap_or_default();
            serde_json::to_value(ShareCreatedJson {
                link: link(&code),
                code,
                id: share.id.to_string(),
                share: share_json(share),
            })
            .expect("a share serializes")
        }
        shares::Outcome::Downloaded { receipt, item, share } => {
            let bought = smartcode_core::ledger::items::Outcome::Bought {
                receipt: receipt.clone(),
                item: item.clone(),
            };
            let mut value = super::items::render(state, &bought);
            value["share"] = serde_json::to_value(share_json(share)).expect("a share serializes");
            value
        }
    }
}

/// Makes a share of `request.uses` downloads of an item, paid from the holder's code.
pub(crate) async fn make(
    state: &AppState,
    giver: &Holder,
    request: &ShareRequest,
    asked: Asked<'_>,
) -> Result<Reply, ApiError> {
    let item = super::items::parse_item_id(&request.item_id)?;
    let seconds = request.expires_in_seconds;
    if !(1..=EXPIRY_SECONDS_MAX).contains(&seconds) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::LimitExceeded,
            format!("a share's expires_in_seconds is 1 to {EXPIRY_SECONDS_MAX}"),
        ));
    }
    let expires_at = state
        .clock
        .now()
        .plus_seconds(seconds)
        .ok_or_else(|| ApiError::invalid_request("expires_in_seconds is out of range"))?;
    let context = WriteContext {
        holder: Some(giver),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let code = state.config.code_format().generate();
        let command = shares::Command::Make {
            giver: giver.with(pin),
            hash: state.keys.hash_code(&code),
            item: item.clone(),
            uses: request.uses,
            expires_at,
        };
        (command, Shown::code(code))
    })
    .await
}

async fn handle_make(
    State(state): State<AppState>,
    giver: Holder,
    target: Target,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let request: ShareRequest = body.json()?;
    let asked = Asked::of(&headers, &target, &body.0);
    make(&state, &giver, &request, asked).await?.respond(&state)
}

/// The shares the holder's code gave, newest first.
pub(crate) async fn given(state: &AppState, holder: &Holder) -> Result<Vec<ShareView>, ApiError> {
    let view = super::tree::me(state, holder).await?;
    super::check_sent_pin(state, holder, &view.record).await?;
    let shares::QueryOutcome::Shares(given) =
        read(state, Some(&holder.caller), shares::Query::Given { giver: holder.hash }).await?
    else {
        return Err(super::unexpected());
    };
    Ok(given)
}

async fn handle_given(State(state): State<AppState>, holder: Holder) -> Result<Response, ApiError> {
    let given = given(&state, &holder).await?;
    let body = SharesJson {
        shares: given.iter().map(share_json).collect(),
    };
    Ok(json_value(
        StatusCode::OK,
        serde_json::to_value(body).expect("shares serialize"),
    ))
}

/// The share whose code `hash` is, as its link's page shows it: a wrong code counts against the
/// caller's source as every wrong code does.
pub(crate) async fn of_code(state: &AppState, caller: &Caller, hash: CodeHash) -> Result<ShareView, ApiError> {
    let shares::QueryOutcome::Share(share) = read(state, Some(caller), shares::Query::Share { hash }).await? else {
        return Err(super::unexpected());
    };
    Ok(share)
}

/// One free download through a share (`share` holds its code): the item's purchase, paid by it.
pub(crate) async fn download(state: &AppState, share: &Holder, asked: Asked<'_>) -> Result<Reply, ApiError> {
    let context = WriteContext {
        holder: Some(share),
        asked,
    };
    submit(state, context, StatusCode::CREATED, |pin| {
        let command = shares::Command::Download { share: share.with(pin) };
        (command, Shown::NONE)
    })
    .await?
    .signed(state)
    .await
}

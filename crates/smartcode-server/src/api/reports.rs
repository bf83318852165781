//! Reports: a code's transactions, a page at a time, and its report by day, month or public
//! code, as JSON or CSV (`/v1/me/transactions`, `/v1/me/report`).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use smartcode_core::ledger::reports;

use super::{json_value, read, unexpected, Entry};
use crate::extract::{Holder, Params};
use crate::problem::{ApiError, ProblemCode};
use crate::wire::*;
use crate::AppState;
use smartcode_core::ledger::TransferFilter;
use smartcode_core::limits::{REPORT_ROWS_MAX, TRANSACTIONS_PAGE_DEFAULT, TRANSACTIONS_PAGE_MAX};
use smartcode_core::model::{ReportGrouping, ReportRow};

pub(super) fn routes() -> Vec<Entry> {
    vec![
        (Method::GET, "/v1/me/transactions", get(handle_transactions)),
        (Method::GET, "/v1/me/report", get(handle_report)),
    ]
}

fn window(
    since: Option<&str>,
    until: Option<&str>,
    limit: u32,
    cursor: Option<i64>,
) -> Result<TransferFilter, ApiError> {
    Ok(TransferFilter {
        since: since.map(|t| parse_time("since", t)).transpose()?,
        until: until.map(|t| parse_time("until", t)).transpose()?,
        before_sequence: cursor,
        limit,
    })
}

async fn handle_transactions(
    State(state): State<AppState>,
    holder: Holder,
    Params(params): Params<TransactionsParams>,
) -> Result<Response, ApiError> {
    let limit = params.limit.unwrap_or(TRANSACTIONS_PAGE_DEFAULT);
    if limit == 0 || limit > TRANSACTIONS_PAGE_MAX {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            ProblemCode::LimitExceeded,
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
    let filter = window(params.since.as_deref(), params.until.as_deref(), limit, cursor)?;
    let (entries, next_cursor) = transactions(&state, &holder, filter).await?;
    let transactions: Vec<EntryJson> = entries.iter().map(EntryJson::from).collect();
    Ok(json_value(
        StatusCode::OK,
        json!({ "transactions": transactions, "next_cursor": next_cursor.map(|c| c.to_string()) }),
    ))
}

/// A page of the holder's transactions, newest first, and the cursor of the next page.
pub(crate) async fn transactions(
    state: &AppState,
    holder: &Holder,
    filter: TransferFilter,
) -> Result<(Vec<reports::Entry>, Option<i64>), ApiError> {
    let reports::QueryOutcome::Transactions { entries, next_cursor } = read(
        state,
        Some(holder.caller),
        reports::Query::Transactions {
            holder: holder.hash,
            filter,
        },
    )
    .await?
    else {
        return Err(unexpected());
    };
    Ok((entries, next_cursor))
}

async fn handle_report(
    State(state): State<AppState>,
    holder: Holder,
    headers: HeaderMap,
    Params(params): Params<ReportParams>,
) -> Result<Response, ApiError> {
    let rows = report(&state, &holder, &params).await?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"));
    if wants_csv {
        return Ok(csv(&rows));
    }
    let group_by = params.group_by.as_deref().unwrap_or("day");
    let rows: Vec<ReportRowJson> = rows.iter().map(ReportRowJson::from).collect();
    let truncated = rows.len() >= REPORT_ROWS_MAX as usize;
    Ok(json_value(
        StatusCode::OK,
        json!({ "group_by": group_by, "rows": rows, "truncated": truncated }),
    ))
}

/// The holder's report, grouped by day (the default), month or public code, at most
/// [`REPORT_ROWS_MAX`] rows.
pub(crate) async fn report(
    state: &AppState,
    holder: &Holder,
    params: &ReportParams,
) -> Result<Vec<ReportRow>, ApiError> {
    let grouping = match params.group_by.as_deref().unwrap_or("day") {
        "day" => ReportGrouping::Day,
        "month" => ReportGrouping::Month,
        "public_code" => ReportGrouping::PublicCode,
        _ => return Err(ApiError::invalid_request("group_by is day, month or public_code")),
    };
    let filter = window(params.since.as_deref(), params.until.as_deref(), REPORT_ROWS_MAX, None)?;
    rows(state, holder, grouping, filter).await
}

/// The holder's report rows in one grouping over one window.
pub(crate) async fn rows(
    state: &AppState,
    holder: &Holder,
    grouping: ReportGrouping,
    filter: TransferFilter,
) -> Result<Vec<ReportRow>, ApiError> {
    let reports::QueryOutcome::Report(rows) = read(
        state,
        Some(holder.caller),
        reports::Query::Report {
            holder: holder.hash,
            grouping,
            filter,
        },
    )
    .await?
    else {
        return Err(unexpected());
    };
    Ok(rows)
}

/// A report as a CSV download.
pub(crate) fn csv(rows: &[ReportRow]) -> Response {
    let mut csv = String::from("key,count,total_in,total_out\r\n");
    for row in rows.iter().map(ReportRowJson::from) {
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
    response
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

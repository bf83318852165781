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
use smartcode_core::limits::{
    REPORT_ROWS_MAX, TRANSACTIONS_CSV_ROWS_MAX, TRANSACTIONS_PAGE_DEFAULT, TRANSACTIONS_PAGE_MAX,
};
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
    headers: HeaderMap,
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
    if wants_csv(&headers) {
        // Accounting wants every row of the window: without a limit, pages are read until the
        // window ends or the CSV holds its most rows; the header names where the next one starts.
        let rows_max = params.limit.unwrap_or(TRANSACTIONS_CSV_ROWS_MAX);
        let first = window(params.since.as_deref(), params.until.as_deref(), rows_max, cursor)?;
        let (entries, next_cursor) = transactions_up_to(&state, &holder, first).await?;
        return Ok(transactions_csv(&entries, next_cursor));
    }
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
        Some(&holder.caller),
        reports::Query::Transactions {
            holder: holder.hash,
            filter,
        },
    )
    .await?
    else {
        return Err(unexpected());
    };
    Ok((entries.into_iter().map(|e| hide_payer(state, e)).collect(), next_cursor))
}

/// A seller sees who paid it by the payer's pseudonym for that seller, never by the payer's id.
fn hide_payer(state: &AppState, mut entry: reports::Entry) -> reports::Entry {
    if entry.is_payment_received() {
        if let (Some(seller), Some(payer)) = (entry.transfer.credit.code_id(), entry.counterparty_id.take()) {
            entry.payer_pseudonym = Some(state.keys.payer_pseudonym(seller, &payer));
        }
    }
    if entry.is_refund_given() {
        if let (Some(seller), Some(payer)) = (entry.transfer.debit.code_id(), entry.counterparty_id.take()) {
            entry.payer_pseudonym = Some(state.keys.payer_pseudonym(seller, &payer));
        }
    }
    entry
}

/// The holder's transactions in `filter`'s window, up to `filter.limit` of them (which may be more
/// than a page: they are read a page at a time), and the cursor of the rest.
pub(crate) async fn transactions_up_to(
    state: &AppState,
    holder: &Holder,
    filter: TransferFilter,
) -> Result<(Vec<reports::Entry>, Option<i64>), ApiError> {
    let rows_max = filter.limit;
    let mut entries = Vec::new();
    let mut next_cursor = filter.before_sequence;
    loop {
        let page = TransferFilter {
            limit: rows_max.saturating_sub(entries.len() as u32).min(TRANSACTIONS_PAGE_MAX),
            before_sequence: next_cursor,
            ..filter.clone()
        };
        let (more, next) = transactions(state, holder, page).await?;
        entries.extend(more);
        next_cursor = next;
        if next_cursor.is_none() || entries.len() as u32 >= rows_max {
            return Ok((entries, next_cursor));
        }
    }
}

async fn handle_report(
    State(state): State<AppState>,
    holder: Holder,
    headers: HeaderMap,
    Params(params): Params<ReportParams>,
) -> Result<Response, ApiError> {
    let rows = report(&state, &holder, &params).await?;
    if wants_csv(&headers) {
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
        Some(&holder.caller),
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

fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/csv"))
}

/// The columns of a transactions CSV, in order.
pub(crate) const TRANSACTIONS_CSV_HEADER: &str =
    "id,at,kind,amount,currency,counterparty,counterparty_id,public_code,receipt_id,memo,category,item\r\n";

/// Transactions as a CSV download, one row per transfer, newest first; `next_cursor` (in the
/// `Smartcode-Next-Cursor` header) says where the rest of the window starts, if it did not fit.
pub(crate) fn transactions_csv(entries: &[reports::Entry], next_cursor: Option<i64>) -> Response {
    let mut csv = String::from(TRANSACTIONS_CSV_HEADER);
    for entry in entries.iter().map(EntryJson::from) {
        let text = |value: Option<&str>| csv_text(value.unwrap_or(""));
        let fields = [
            csv_field(&entry.id),
            csv_field(&entry.at),
            csv_field(&entry.kind),
            csv_field(&entry.amount),
            csv_field(&entry.currency),
            text(entry.counterparty.as_deref()),
            csv_field(entry.counterparty_id.as_deref().unwrap_or("")),
            csv_field(entry.public_code.as_deref().unwrap_or("")),
            csv_field(entry.receipt_id.as_deref().unwrap_or("")),
            text(entry.memo.as_deref()),
            text(entry.category.as_deref()),
            text(entry.item.as_deref()),
        ];
        csv.push_str(&fields.join(","));
        csv.push_str("\r\n");
    }
    let mut response = csv_response(csv, "transactions.csv");
    if let Some(cursor) = next_cursor {
        response.headers_mut().insert("smartcode-next-cursor", cursor.into());
    }
    response
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
    csv_response(csv, "report.csv")
}

fn csv_response(csv: String, filename: &'static str) -> Response {
    let mut response = (StatusCode::OK, csv).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let disposition = format!("attachment; filename=\"{filename}\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, its quotes
/// doubled.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// A field of text someone typed (a memo, a label): a spreadsheet would run one that starts
/// with `=`, `+`, `-`, `@` or a tab as a formula, so such a field gets a leading `'` (OWASP's
/// advice against CSV injection), then is quoted as any field.
fn csv_text(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        csv_field(&format!("'{text}"))
    } else {
        csv_field(text)
    }
}

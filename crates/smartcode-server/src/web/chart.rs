//! Bar charts as SVG, drawn on the server in integer arithmetic: no script, no floating point
//! near money. Colours are presentation attributes, which the Content-Security-Policy allows.

use maud::{html, Markup};
use smartcode_core::model::ReportRow;
use smartcode_core::money::format_units;

/// Bars in one chart; older rows are left out.
pub const CHART_BARS_MAX: usize = 31;
const WIDTH: i64 = 620;
const HEIGHT: i64 = 180;
const LABEL_BAND: i64 = 24;

/// Income and spending per row (day), side by side, newest on the right.
pub fn in_and_out(title: &str, rows: &[ReportRow]) -> Markup {
    let rows = &rows[rows.len().saturating_sub(CHART_BARS_MAX)..];
    let largest = rows
        .iter()
        .map(|r| r.total_in_units.max(r.total_out_units))
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = WIDTH / (rows.len().max(1) as i64);
    let bar = (slot / 2 - 2).max(1);
    let height = |units: i64| (i128::from(units) * i128::from(HEIGHT) / i128::from(largest)) as i64;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {}", HEIGHT + LABEL_BAND)) role="img" aria-label=(title) {
                title { (title) }
                line x1="0" y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) stroke="#9aa5b1" {}
                @for (i, row) in rows.iter().enumerate() {
                    @let x = i as i64 * slot;
                    @let h_in = height(row.total_in_units);
                    @let h_out = height(row.total_out_units);
                    rect x=(x + 1) y=(HEIGHT - h_in) width=(bar) height=(h_in) fill="#2f855a" {
                        title { (row.key) ": in " (format_units(row.total_in_units)) }
                    }
                    rect x=(x + 1 + bar) y=(HEIGHT - h_out) width=(bar) height=(h_out) fill="#c05621" {
                        title { (row.key) ": out " (format_units(row.total_out_units)) }
                    }
                    @if rows.len() <= 8 || i % (rows.len() / 6).max(1) == 0 {
                        text x=(x + 1) y=(HEIGHT + 16) font-size="11" fill="#52606d" { (short_key(&row.key)) }
                    }
                }
            }
            figcaption {
                span.key-in { "■" } " in  "
                span.key-out { "■" } " out  — " (title)
            }
        }
    }
}

/// Income per row (public code), as horizontal bars.
pub fn income_by_key(title: &str, rows: &[ReportRow]) -> Markup {
    let rows: Vec<&ReportRow> = rows
        .iter()
        .filter(|r| r.total_in_units > 0)
        .take(CHART_BARS_MAX)
        .collect();
    let largest = rows.iter().map(|r| r.total_in_units).max().unwrap_or(0).max(1);
    let row_height = 22;
    let label_width = 150;
    let total_height = (rows.len() as i64 * row_height).max(row_height);
    let width = |units: i64| (i128::from(units) * i128::from(WIDTH - label_width - 90) / i128::from(largest)) as i64;
    html! {
        figure.chart {
            svg viewBox=(format!("0 0 {WIDTH} {total_height}")) role="img" aria-label=(title) {
                title { (title) }
                @for (i, row) in rows.iter().enumerate() {
                    @let y = i as i64 * row_height;
                    text x="0" y=(y + 15) font-size="12" fill="#1f2933" { (row.key) }
                    rect x=(label_width) y=(y + 3) width=(width(row.total_in_units).max(1)) height=(row_height - 6) fill="#2f855a" {}
                    text x=(label_width + width(row.total_in_units) + 6) y=(y + 15) font-size="12" fill="#1f2933" {
                        (format_units(row.total_in_units))
                    }
                }
            }
            figcaption { (title) }
        }
    }
}

/// `2026-11-24` as `11-24`; other keys as they are.
fn short_key(key: &str) -> &str {
    if key.len() == 10 && key.as_bytes()[4] == b'-' {
        &key[5..]
    } else {
        key
    }
}

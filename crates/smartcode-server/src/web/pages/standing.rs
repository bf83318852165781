//! Who stands behind a name, as pages show it. A name the broker stands behind (checked by the
//! operator, or by a code whose own check reaches the broker) gets a green mark that says who
//! checked it and when; a name checked only by a code nobody checked gets an amber mark that says
//! so; a name nobody checked is written in quotes and marked "self-declared". So "UNICEF" typed by
//! anyone never looks like UNICEF checked by the broker. Each mark carries `data-standing`
//! (`broker`, `ancestor`, `declared`) for scripts and tests.

use maud::{html, Markup};
use smartcode_core::ledger::checks::{CheckView, CheckedBy};

use super::utc_time;

/// The word of a standing, as `data-standing` and the mark's class carry it.
pub fn standing_word(check: Option<&CheckView>) -> &'static str {
    match check {
        Some(check) if check.reaches_broker => "broker",
        Some(_) => "ancestor",
        None => "declared",
    }
}

/// Who checked, in words: "the broker (Name)" or "“UNICEF”, a code above it".
fn checker_words(check: &CheckView, broker_name: &str) -> String {
    match &check.by {
        CheckedBy::Broker => format!("the broker, {broker_name}"),
        CheckedBy::Ancestor { name: Some(name), .. } => format!("“{name}”, a code above it"),
        CheckedBy::Ancestor { name: None, .. } => "an unnamed code above it".to_owned(),
    }
}

/// A name with its mark: for headings, ancestries and the control center.
pub fn name(name: &str, check: Option<&CheckView>, broker_name: &str) -> Markup {
    let word = standing_word(check);
    html! {
        span.standing-name data-standing=(word) {
            @if check.is_some() { strong { (name) } } @else { "“" (name) "”" }
            " "
            (mark(check, broker_name))
        }
    }
}

/// The mark alone.
pub fn mark(check: Option<&CheckView>, broker_name: &str) -> Markup {
    let word = standing_word(check);
    html! {
        @match check {
            Some(check) => {
                span class=(format!("standing {word}")) data-standing=(word) {
                    "✓ checked by " (checker_words(check, broker_name)) " · " (utc_time(&check.at.to_rfc3339()))
                    @if !check.reaches_broker { " · nobody checked that code's own name" }
                }
            }
            None => {
                span class=(format!("standing {word}")) data-standing=(word) {
                    "self-declared: nobody checked this name"
                }
            }
        }
    }
}

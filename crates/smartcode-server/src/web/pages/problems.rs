//! The markup of the refusal pages (`/problems`, `/problems/{code}`) and of the page for an
//! address the broker does not serve.

use maud::{html, Markup};

use super::layout;
use crate::problem::ProblemCode;
use crate::web::problems::{explain, Explanation, ALL};

pub fn problem(code: ProblemCode, explanation: &Explanation) -> Markup {
    let word = code.as_str();
    layout(
        word,
        html! {
            h1 { code { (word) } }
            p.small { "HTTP " (explanation.status) ", with " code { "\"code\": \"" (word) "\"" } " in the problem+json body." }
            section.card #meaning {
                h2 { "What it means" }
                p { (explanation.meaning) }
            }
            section.card #remedy {
                h2 { "What to do" }
                p { (explanation.remedy) }
            }
            p { a href="/problems" { "Every refusal the broker gives" } }
        },
    )
}

/// The list of every word; `unknown` is a word asked for that the broker does not use.
pub fn problems(unknown: Option<&str>) -> Markup {
    layout(
        "Refusals",
        html! {
            h1 { "Refusals" }
            @if let Some(word) = unknown {
                p.notice.error role="alert" { "The broker gives no refusal called " code { (word) } "." }
            }
            p { "Every refusal is problem+json (RFC 9457) with a stable " code { "code" } " word, and its "
                code { "type" } " leads to the word's page here." }
            ul #problems {
                @for &code in ALL {
                    li { a href={ "/problems/" (code.as_str()) } { code { (code.as_str()) } } " (HTTP " (explain(code).status) ")" }
                }
            }
        },
    )
}

/// An address the broker does not serve, as a page.
pub fn not_found(path: &str) -> Markup {
    layout(
        "Page not found",
        html! {
            h1 { "Page not found" }
            p { "There is no page at " code { (path) } "." }
            p { a href="/" { "Enter a code" } " or open a public code's page (" code { "/p/P-…" } ")." }
        },
    )
}

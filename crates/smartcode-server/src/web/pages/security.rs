//! The guessing defence's card in the operator's console: the budgets, the sources with failures,
//! and the two things the operator does about them (forgive a source, end the alarm).

use maud::{html, Markup};

use super::{field, guard_fields};
use crate::guard::GuardReport;
use crate::web::Csrf;

pub fn security_card(csrf: &Csrf, security: &GuardReport) -> Markup {
    html! {
        section.card #security {
            h2 { "Guessing defence" }
            dl {
                dt { "Alarm" }
                dd #alarm {
                    @match security.alarm_since {
                        Some(since) => { "RAISED since " time datetime=(since.to_rfc3339()) { (since.to_rfc3339()) } }
                        None => { "none" }
                    }
                }
                dt { "Free tries left to unknown sources" } dd { (security.pool_tries_left) }
                dt { "Work asked of the next challenge" } dd { (security.difficulty_bits) " bits" }
                dt { "Failed presentations (this process)" } dd { (security.failures_total) }
                dt { "Challenges asked / answered" } dd { (security.challenges_total) " / " (security.paid_total) }
            }
            @if security.alarm_since.is_some() {
                form method="post" action="/operator/security/end-alarm" {
                    (guard_fields(csrf))
                    button type="submit" { "End the alarm" }
                }
            }
            @if !security.counted.is_empty() {
                h3 { "Who failed lately" }
                div.scroll {
                    table #sources {
                        thead { tr { th { "Source" } th { "Kind" } th.num { "Failures" } th.num { "Tries left" } } }
                        tbody {
                            @for c in &security.counted {
                                tr { td { (c.source) } td { (c.kind) } td.num { (c.failures) } td.num { (c.tries_left) } }
                            }
                        }
                    }
                }
            }
            form.grid method="post" action="/operator/security/forgive" {
                (guard_fields(csrf))
                (field("source", "Forgive an address, a network or a tree", "text", Some("192.0.2.7, 192.0.2.0/24, 2001:db8::/48 or c_…")))
                button.secondary type="submit" { "Forgive" }
            }
        }
    }
}

//! The markup of shares: a share's page (`/s/{code}`: the item, how many free downloads remain
//! and until when, the button that takes one, and once none remain the item's pay form), and the
//! control center's list of the shares a code gave, with how many of each were used.

use maud::{html, Markup};
use smartcode_core::ledger::shares::ShareView;
use smartcode_core::model::CodeStatus;
use smartcode_core::money::format_units;

use super::items::{bought_card, buy_form, item_header};
use super::{error_box, guard_fields, layout, Bought, ItemForm};
use crate::web::refusal::Refusal;
use crate::web::Csrf;

/// Why a share gives no more free downloads, in words, or `None` while it does.
fn ended(share: &ShareView) -> Option<&'static str> {
    match share.status {
        CodeStatus::Cancelled => Some("Whoever gave this link cancelled it: it gives no more free downloads."),
        CodeStatus::Expired => Some("This link's time is over: it gives no more free downloads."),
        CodeStatus::Active if share.remaining() == 0 => Some("All the free downloads of this link were taken."),
        CodeStatus::Active => None,
    }
}

/// A share's page. `code` is the share's code, which the download form posts back to its link.
pub fn share_page(
    share: &ShareView,
    (code, csrf): (&str, &Csrf),
    form: &ItemForm,
    (bought, refusal): (Option<&Bought<'_>>, Option<&Refusal>),
) -> Markup {
    let item = &share.item;
    layout(
        &item.title,
        html! {
            (item_header(item))
            @if let Some(bought) = bought {
                (bought_card(bought))
            }
            @match ended(share) {
                None => section.card #share {
                    h2 { "Free for you" }
                    p #share-remaining {
                        (share.remaining()) " of " (share.uses) " free downloads left"
                        @if let Some(at) = share.expires_at { ", until " (super::utc_time(&at.to_rfc3339())) }
                        "."
                    }
                    (error_box(refusal, "share-error"))
                    form method="post" action=(format!("/s/{code}/download")) {
                        (guard_fields(csrf))
                        button #share-download type="submit" { "Download free" }
                    }
                },
                Some(why) => {
                    p.notice #share-ended { (why) }
                    (error_box(refusal, "share-error"))
                    @if bought.is_none() { (buy_form(item, csrf, form, None)) }
                }
            }
        },
    )
}

/// The control center's list of the shares a code gave.
pub fn given(shares: &[ShareView]) -> Markup {
    html! {
        @if !shares.is_empty() {
            section.card #shares {
                h2 { "Shares you gave" }
                table {
                    thead { tr { th { "Item" } th { "Used" } th { "Left" } th { "Until" } th { "State" } } }
                    tbody {
                        @for share in shares {
                            tr.share data-id=(share.id.to_string()) {
                                td { a href=(format!("/i/{}", share.item.id)) { (share.item.title) } }
                                td.used { (share.used) " of " (share.uses) }
                                td { (format_units(share.left_units)) " " (share.item.currency) }
                                td { @if let Some(at) = share.expires_at { (super::utc_time(&at.to_rfc3339())) } }
                                td { (share.status.as_str()) }
                            }
                        }
                    }
                }
                p.small { "Cancel a share among your children below: what it holds comes back to this code." }
            }
        }
    }
}

//! The markup of items: an item's page (`/i/{item}`: title, description, price and the pay form)
//! with what a purchase answered (its receipt and download link), and the list of a public
//! code's items on its page. The seller's title and description are text: maud escapes them.

use maud::{html, Markup};
use smartcode_core::item::ItemRecord;
use smartcode_core::money::format_units;

use super::{challenge_field, error_box, fields, guard_fields, layout, utc_time};
use crate::api::{AnswerDownload, AnswerReceipt};
use crate::web::refusal::Refusal;
use crate::web::Csrf;

/// What the item page's form holds.
pub struct ItemForm {
    pub code: String,
    pub challenge: Option<String>,
}

/// What a purchase made on the page answered.
pub struct Bought<'a> {
    pub receipt: &'a AnswerReceipt,
    pub download: &'a AnswerDownload,
}

fn price(item: &ItemRecord) -> String {
    format!("{} {}", format_units(item.price.units()), item.currency)
}

pub fn item_page(
    item: &ItemRecord,
    csrf: &Csrf,
    form: &ItemForm,
    (bought, refusal): (Option<&Bought<'_>>, Option<&Refusal>),
) -> Markup {
    layout(
        &item.title,
        html! {
            (item_header(item))
            @if let Some(bought) = bought {
                (bought_card(bought))
            } @else if item.available() {
                (buy_form(item, csrf, form, refusal))
            } @else {
                p.notice #item-unavailable { "Not on sale yet: the seller has not uploaded it." }
            }
        },
    )
}

/// An item's title, seller, description, price and content: the top of its page and of a share's.
pub fn item_header(item: &ItemRecord) -> Markup {
    html! {
        h1 #item-title { (item.title) }
        p.public-code { "Sold by " a href=(format!("/p/{}", item.payee)) { code { (item.payee.to_string()) } } }
        section.card.item {
            @if let Some(description) = &item.description { p.description #item-description { (description) } }
            p.balance #item-price { (price(item)) }
            @if let Some(content) = &item.content {
                p.small #item-content { (content.bytes) " bytes · SHA-256 " code { (content.sha256_hex) } }
            }
            @if item.url.is_some() { p.small { "Delivered from the seller's own site, with a signed token." } }
        }
    }
}

/// What a purchase answered: its download link, how long and how often it works, its receipt.
pub fn bought_card(bought: &Bought<'_>) -> Markup {
    html! {
        section.card.receipt #bought {
            h2 { "Paid" }
            p { a #download-link href=(bought.download.url) download { "Download" } }
            p.small { "Up to " (bought.download.fetches_left) " downloads, until " (utc_time(&bought.download.expires_at)) "." }
            dl {
                dt { "Receipt" } dd { code #receipt-id { (bought.receipt.id) } }
                dt { "Paid" } dd { (bought.receipt.amount) }
            }
            p.small { a #receipt-link href=(format!("/r/{}", bought.receipt.id)) { "The receipt's own page" } }
        }
    }
}

/// The form that buys `item` for its price with a secret code (`POST /i/{item}/buy`): on the
/// item's page, and on a share's page once its free downloads are gone.
pub fn buy_form(item: &ItemRecord, csrf: &Csrf, form: &ItemForm, refusal: Option<&Refusal>) -> Markup {
    let challenge = form.challenge.as_deref();
    let (code_invalid, code_described) = fields::marks(refusal, "code", "buy-error");
    let (pin_invalid, pin_described) = fields::marks(refusal, "pin", "buy-error");
    html! {
        section.card {
            h2 { "Buy" }
            (error_box(refusal, "buy-error"))
            form.grid method="post" action=(format!("/i/{}/buy", item.id)) data-challenge=[challenge] {
                (guard_fields(csrf))
                (challenge_field(challenge))
                div.field {
                    label for="buy-code" { "Your secret code" }
                    input #buy-code name="code" type="text" value=(form.code) autocomplete="off" autocapitalize="characters" spellcheck="false" required
                        aria-invalid=[code_invalid] aria-describedby=[code_described];
                }
                div.field {
                    label for="buy-pin" { "PIN, if your code has one" }
                    input #buy-pin name="pin" type="password" inputmode="numeric" autocomplete="off"
                        aria-invalid=[pin_invalid] aria-describedby=[pin_described];
                }
                button type="submit" { "Pay " (price(item)) }
            }
        }
    }
}

/// A public code's items, each a link to its page.
pub fn items_list(items: &[ItemRecord]) -> Markup {
    html! {
        @if !items.is_empty() {
            section.card #items {
                h2 { "For sale" }
                ul {
                    @for item in items {
                        li { a href=(format!("/i/{}", item.id)) { (item.title) } " — " (price(item)) }
                    }
                }
            }
        }
    }
}

//! The markup of a license's page: who paid for how many copies of what, and when, its payment's
//! receipt with the signature's check in words, and a QR code of the page's own address, so a
//! printed copy leads back here. Every text (the work's title, the licensee, a profile name) is
//! the buyer's or the seller's, and maud escapes it.

use maud::{html, Markup};
use smartcode_api::{LicenseJson, ReceiptJson};
use smartcode_receipt::{ReceiptError, Version};

use super::receipt::signature_check;
use super::{layout, qr_svg};

pub fn license_page(
    license: &LicenseJson,
    receipt: &ReceiptJson,
    check: &Result<Version, ReceiptError>,
    address: &str,
) -> Markup {
    let title = format!("License {}", license.license_code);
    let copies = match license.copies {
        1 => "1 copy".to_owned(),
        n => format!("{n} copies"),
    };
    layout(
        &title,
        html! {
            h1 { "License" }
            section.card.license #license {
                p.balance #license-copies { (copies) }
                p #license-title { "of " strong { (license.licensed.title) } }
                dl {
                    @if let Some(item) = &license.licensed.item_id {
                        dt { "Item" } dd { a href={ "/i/" (item) } { code { (item) } } }
                    } @else {
                        dt { "Work" } dd { "named by its buyer" }
                    }
                    dt { "Paid by" } dd #license-paid-by { (license.paid_by) }
                    @if let Some(licensee) = &license.licensee { dt { "Licensee" } dd #license-licensee { (licensee) } }
                    dt { "Price" } dd { (license.price.amount) " " (license.price.currency) " a copy" }
                    dt { "Paid" } dd #license-total { (license.total.amount) " " (license.total.currency) }
                    dt { "Paid to" } dd { code { (license.payee) } }
                    dt { "When" } dd { time #license-time datetime=(license.created_at) { (license.created_at) } }
                    @if license.refunded.amount.chars().any(|c| ('1'..='9').contains(&c)) {
                        dt { "Refunded" } dd #license-refunded { (license.refunded.amount) " " (license.refunded.currency) }
                    }
                    dt { "License code" } dd { code #license-code { (license.license_code) } }
                    dt { "Receipt" } dd { a href={ "/r/" (receipt.id) } { code #license-receipt { (receipt.id) } } }
                    dt { "Signed by" } dd { (receipt.broker) }
                }
                (signature_check(receipt, check))
            }
            section.card.qr-card {
                h2 { "This license" }
                div.qr { (qr_svg(address)) }
                p.small { a href=(address) { (address) } }
                p.small { "Check its receipt offline: " code { "smartcode receipt " (receipt.id) " --verify" } }
            }
        },
    )
}

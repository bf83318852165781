//! The markup of a receipt's page: the payment as its seller shows it, the signature's check in
//! words, and a QR code of the page's own address.

use maud::{html, Markup};
use smartcode_api::ReceiptJson;
use smartcode_receipt::{ReceiptError, Version};

use super::{layout, qr_svg};

pub fn receipt_page(
    receipt: &ReceiptJson,
    seller: Option<&str>,
    check: &Result<Version, ReceiptError>,
    address: &str,
    refunded: Option<&str>,
) -> Markup {
    let title = format!("Receipt {}", receipt.id);
    layout(
        &title,
        html! {
            h1 { "Receipt" }
            section.card.receipt #receipt {
                p.balance #receipt-amount { (receipt.amount.amount) " " (receipt.amount.currency) }
                dl {
                    dt { "Paid to" }
                    dd #receipt-seller {
                        @if let Some(name) = seller { strong { (name) } " · " }
                        code { (receipt.payee) }
                    }
                    @if let Some(memo) = &receipt.memo { dt { "Memo" } dd #receipt-memo { (memo) } }
                    @if let Some(category) = &receipt.category { dt { "Category" } dd { (category) } }
                    @if let Some(item) = &receipt.item { dt { "Item" } dd { (item) } }
                    dt { "When" }
                    dd { time #receipt-time datetime=(receipt.created_at) { (receipt.created_at) } }
                    dt { "Paid by" } dd { code { (receipt.payer_id) } }
                    dt { "Receipt" } dd { code #receipt-id { (receipt.id) } }
                    dt { "Signed by" } dd { (receipt.broker) }
                    @if let Some(refunded) = refunded { dt { "Refunded" } dd #receipt-refunded { (refunded) } }
                }
                (signature_check(receipt, check))
            }
            section.card.qr-card {
                h2 { "This receipt" }
                div.qr { (qr_svg(address)) }
                p.small { a href=(address) { (address) } }
                p.small { "Check it offline: " code { "smartcode receipt " (receipt.id) " --verify" } }
            }
        },
    )
}

pub(super) fn signature_check(receipt: &ReceiptJson, check: &Result<Version, ReceiptError>) -> Markup {
    html! {
        @match check {
            Ok(Version::V2) => {
                p.notice #signature-check role="status" {
                    "Signature checked: " (receipt.broker) " signed this receipt, every field shown above"
                    @if let Some(batch) = &receipt.batch { " (one of " (batch.size) " in its signing batch)" }
                    "."
                }
            }
            Ok(Version::V1) => {
                p.notice #signature-check role="status" { "Signature checked (an older receipt: its memo, category and item are not signed)." }
            }
            Err(error) => {
                p.notice.error #signature-check role="alert" { "The signature does not check: " (error.to_string()) "." }
            }
        }
    }
}

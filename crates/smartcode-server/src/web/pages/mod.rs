//! The pages' markup (maud). Every value is escaped by maud; the only raw markup is the QR code's
//! SVG, which the qrcode crate draws from our own text. No inline script and no inline style:
//! the Content-Security-Policy forbids both.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use smartcode_core::code::PublicCode;
use smartcode_core::ledger::reports::{Ancestor, PublicView};
use smartcode_core::money::format_units;

mod broker;
mod buying;
mod center;
mod fields;
mod instruments;
mod items;
mod licenses;
mod problems;
mod receipt;
mod security;
mod shares;
mod standing;

pub use broker::{broker_page, BrokerFacts};
pub use center::{confirm_cancel, confirm_rekey, control_center};
pub use fields::FormView;
pub use items::{item_page, Bought, ItemForm};
pub use licenses::license_page;
pub use problems::{not_found, problem, problems};
pub use receipt::receipt_page;
pub use shares::share_page;

use super::refusal::Refusal;
use super::session::{Current, Notice, Reveal};
use super::Csrf;
use crate::api::operator::LedgerCheck;
use crate::api::AnswerReceipt;
use crate::guard::GuardReport;

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · smartcode" }
                link rel="stylesheet" href="/assets/style.css";
                script src="/assets/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "smartcode" }
                }
                main { (body) }
                footer {
                    "Codes are shown once. Keep yours secret: whoever holds a secret code can spend it."
                }
            }
        }
    }
}

/// A moment in UTC, labelled as such; the pages' script shows it in the browser's own time zone
/// (keeping the UTC label as its title).
fn utc_time(rfc3339: &str) -> Markup {
    let minutes = rfc3339.get(..16).unwrap_or(rfc3339).replace('T', " ");
    html! { time datetime=(rfc3339) { (minutes) " UTC" } }
}

/// The hidden fields every form carries: the CSRF token and a one-time key against double submits.
fn guard_fields(csrf: &Csrf) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(csrf.token);
        input type="hidden" name="nonce" value=(super::session::form_nonce());
    }
}

/// The answer to a form's challenge, filled in by the pages' script; and what the page says meanwhile.
fn challenge_field(challenge: Option<&str>) -> Markup {
    html! {
        @if challenge.is_some() {
            input type="hidden" name="challenge_response" value="";
            p.small.challenge role="status" {
                "Many wrong codes were tried here lately, so your browser does a moment of work before your code is tried. "
                "This needs JavaScript; without it, try again later."
            }
        }
    }
}

fn notice(notice: Option<&Notice>) -> Markup {
    html! {
        @if let Some(n) = notice.filter(|n| n.kept.is_none()) {
            @if n.is_error {
                p.notice.error role="alert" { (n.text) }
            } @else {
                p.notice role="status" { (n.text) }
            }
        }
    }
}

fn error_box(refusal: Option<&Refusal>, id: &str) -> Markup {
    html! {
        @if let Some(refusal) = refusal {
            p.notice.error role="alert" id=(id) { (refusal.text) }
        }
    }
}

/// A text field with its label.
fn field(name: &str, label: &str, kind: &str, hint: Option<&str>) -> Markup {
    field_with(name, label, kind, hint, "")
}

fn field_with(name: &str, label: &str, kind: &str, hint: Option<&str>, value: &str) -> Markup {
    let id = format!("f-{name}-{}", super::session::form_nonce().get(..6).unwrap_or("x"));
    html! {
        div.field {
            label for=(id) { (label) }
            input id=(id) name=(name) type=(kind) value=(value) autocomplete="off";
            @if let Some(hint) = hint { small { (hint) } }
        }
    }
}

pub fn message(title: &str, text: &str) -> Markup {
    layout(
        title,
        html! {
            h1 { (title) }
            p { (text) }
            p { a href="/" { "Back to the start" } }
        },
    )
}

/// What the home page's form shows: a refusal and the code as typed, the page to go on to once
/// the code is entered, and whether a session just ended.
#[derive(Default)]
pub struct HomeForm {
    pub refusal: Option<Refusal>,
    pub code: String,
    pub next: Option<String>,
    pub ended: bool,
    /// The `Smartcode-Challenge` the form must answer, when the broker asks this browser for
    /// work before it tries a code (the pages' script does it while the code is typed).
    pub challenge: Option<String>,
}

/// The first page; `code_example` is a secret code of this broker's format, for the placeholder.
pub fn home(broker_name: &str, code_example: &str, csrf: &Csrf, form: &HomeForm) -> Markup {
    let refusal = form.refusal.as_ref();
    let (code_invalid, code_described) = fields::marks(refusal, "code", "enter-error");
    let (pin_invalid, pin_described) = fields::marks(refusal, "pin", "enter-error");
    layout(
        broker_name,
        html! {
            h1 { (broker_name) }
            p.lead {
                "smartcode is a micropayment broker: a short secret code holds money and pays sellers, with no account and no password. "
                "Enter a secret code to manage it, or a seller's public code to see their page and pay them."
            }
            @if form.ended {
                p.notice #session-ended role="status" {
                    "Your session ended (15 minutes without use, or the broker restarted). "
                    "Enter your code again to go back to where you were."
                }
            }
            (error_box(refusal, "enter-error"))
            form.card method="post" action="/enter" data-challenge=[form.challenge.as_deref()] {
                (guard_fields(csrf))
                (challenge_field(form.challenge.as_deref()))
                @if let Some(next) = &form.next { input type="hidden" name="next" value=(next); }
                div.field {
                    label for="code" { "Your code" }
                    input #code name="code" type="text" value=(form.code) autocomplete="off" autocapitalize="characters" spellcheck="false" required placeholder=(format!("{code_example} or P-4WZ8N-K3QJD"))
                        aria-invalid=[code_invalid] aria-describedby=[code_described];
                }
                div.field {
                    label for="pin" { "PIN, if the code has one" }
                    input #pin name="pin" type="password" inputmode="numeric" autocomplete="off"
                        aria-invalid=[pin_invalid] aria-describedby=[pin_described];
                }
                button type="submit" { "Open" }
            }
            p.small { "Operators: " a href="/operator" { "the operator's console" } "." }
        },
    )
}

fn reveal_box(reveal: &Reveal) -> Markup {
    let formatted = reveal.code.text();
    // The code with its broker, as the broker's forgiving reader takes it back anywhere.
    let scanned = format!("{formatted}@{}", reveal.broker);
    html! {
        section.reveal aria-labelledby="reveal-title" {
            h2 #reveal-title { (reveal.what) }
            p.secret #new-code { (formatted) }
            div.qr #new-code-qr { (qr_svg(&scanned)) }
            p.small #new-code-qr-text { "The QR code holds " (scanned) ": the code and its broker." }
            button type="button" data-copy=(formatted) { "Copy the code" }
            p.warning { strong { "Write it down now. " } "It will not be shown again, and whoever holds it can spend it." }
        }
    }
}

fn qr_svg(text: &str) -> Markup {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color>()
                .min_dimensions(180, 180)
                .quiet_zone(true)
                .build();
            // The renderer's own output, from our own text; drop its XML declaration to inline it.
            let start = svg.find("<svg").unwrap_or(0);
            PreEscaped(svg[start..].to_owned())
        }
        Err(_) => html! {},
    }
}

/// What the pay form of a public page holds: what a seller's link filled in, or what the buyer
/// typed before a refusal (never the PIN).
#[derive(Default)]
pub struct PayForm {
    pub code: String,
    pub amount: String,
    pub memo: String,
    /// The seller's address to go back to after paying, as the link or the form gave it.
    pub return_to: Option<String>,
    /// The `Smartcode-Challenge` the form must answer, when the broker asks this browser for work.
    pub challenge: Option<String>,
}

/// A link's `return` address, and whether it lies under the seller's site.
pub struct ReturnTo {
    pub url: String,
    pub allowed: bool,
}

pub fn public_page(
    (broker_name, broker_domain): (&str, &str),
    view: &PublicView,
    csrf: &Csrf,
    (host, items): (&str, &[smartcode_core::item::ItemRecord]),
    form: &PayForm,
    return_to: Option<&ReturnTo>,
    refusal: Option<&Refusal>,
) -> Markup {
    let challenge = form.challenge.as_deref();
    let mark = |name: &str| fields::marks(refusal, name, "pay-error");
    let (code_invalid, code_described) = mark("code");
    let (amount_invalid, amount_described) = mark("amount");
    let (memo_invalid, memo_described) = mark("memo");
    let (pin_invalid, pin_described) = mark("pin");
    let code: &PublicCode = view
        .record
        .public_code
        .as_ref()
        .expect("a public view is of a public code");
    let profile = &view.record.profile;
    let title = profile.name.clone().unwrap_or_else(|| format!("Public code {code}"));
    let address = format!("http://{host}/p/{code}");
    layout(
        &title,
        html! {
            @if let Some(name) = &profile.name {
                h1 #name data-standing=(standing::standing_word(view.check.as_ref())) {
                    @if view.check.is_some() { (name) } @else { "“" (name) "”" }
                }
                p #standing { (standing::mark(view.check.as_ref(), broker_name)) }
            } @else {
                h1 { (title) }
            }
            p.public-code { "Public code " code { (code.to_string()) } " · " (view.record.currency) }
            @if profile.description.is_some() || profile.url.is_some() || profile.contact.is_some()
                || view.catalog.categories.as_ref().is_some_and(|l| !l.is_empty()) || view.stats.is_some() {
            section.card.profile {
                @if let Some(description) = &profile.description { p.description { (description) } }
                dl {
                    @if let Some(url) = &profile.url {
                        dt { "Web" } dd { a href=(url) rel="nofollow noopener noreferrer" { (url) } }
                    }
                    @if let Some(contact) = &profile.contact { dt { "Contact" } dd { (contact) } }
                    @if let Some(list) = view.catalog.categories.as_ref().filter(|l| !l.is_empty()) {
                        dt { "Sells" } dd #sells { (list.join(", ")) }
                    }
                }
                @if let Some((payments, total)) = view.stats {
                    p.stats #stats { "Received " (payments) (if payments == 1 { " payment, " } else { " payments, " }) (format_units(total)) " " (view.record.currency) " in all." }
                }
            }
            }
            (items::items_list(items))
            section.card {
                h2 { "Pay" }
                (error_box(refusal, "pay-error"))
                @if let Some(back) = return_to {
                    @if back.allowed {
                        p.small #return-note { "After paying you go back to " code { (back.url) } " with your receipt." }
                    } @else {
                        p.notice #return-note role="status" {
                            "The link asked to send you to " code { (back.url) } " after paying. "
                            "That address is not on this seller's own site, so it is ignored: you will stay here and see your receipt."
                        }
                    }
                }
                form.grid method="post" action=(format!("/p/{code}/pay")) data-challenge=[challenge] {
                    (guard_fields(csrf))
                    (challenge_field(challenge))
                    @if let Some(back) = return_to.filter(|back| back.allowed) {
                        input type="hidden" name="return" value=(back.url);
                    }
                    div.field {
                        label for="pay-code" { "Your secret code" }
                        input #pay-code name="code" type="text" value=(form.code) autocomplete="off" autocapitalize="characters" spellcheck="false" required
                            aria-invalid=[code_invalid] aria-describedby=[code_described];
                    }
                    div.field {
                        label for="pay-amount" { "Amount (" (view.record.currency) ")" }
                        input #pay-amount name="amount" type="text" value=(form.amount) inputmode="decimal" required
                            aria-invalid=[amount_invalid] aria-describedby=[amount_described];
                    }
                    div.field {
                        label for="pay-memo" { "Memo (optional)" }
                        input #pay-memo name="memo" type="text" value=(form.memo)
                            aria-invalid=[memo_invalid] aria-describedby=[memo_described];
                    }
                    @if let Some(items) = view.catalog.items.as_ref().filter(|l| !l.is_empty()) {
                        div.field {
                            label for="pay-item" { "What you buy" }
                            select #pay-item name="item" {
                                option value="" { "(choose, or let your code's rules pick)" }
                                @for item in items { option value=(item) { (item) } }
                            }
                        }
                    }
                    div.field {
                        label for="pay-pin" { "PIN, if your code has one" }
                        input #pay-pin name="pin" type="password" inputmode="numeric" autocomplete="off"
                            aria-invalid=[pin_invalid] aria-describedby=[pin_described];
                    }
                    button type="submit" { "Pay" }
                }
            }
            section.card {
                h2 { "Who stands behind it" }
                ol.ancestry {
                    @for a in &view.ancestry {
                        li { (ancestor(a, broker_name)) }
                    }
                    li #broker { a href="/broker" { strong { (broker_name) } } " — the broker (" (broker_domain) ")" }
                }
            }
            section.card.qr-card {
                h2 { "This page" }
                div.qr { (qr_svg(&address)) }
                p.small { (address) }
            }
        },
    )
}

fn ancestor(a: &Ancestor, broker_name: &str) -> Markup {
    let kind = a.kind.as_str();
    html! {
        @match &a.profile {
            Some(p) => {
                @match &p.name {
                    Some(name) => { (standing::name(name, a.check.as_ref(), broker_name)) }
                    None => { strong { "(unnamed)" } }
                }
                " (" (kind) " code)"
                @if let Some(d) = &p.description { br; span.small { (d) } }
                @if let Some(url) = &p.url { br; a href=(url) rel="nofollow noopener noreferrer" { (url) } }
            }
            None => { span.small { "a " (kind) " code with no public profile" } }
        }
    }
}

pub fn receipt(receipt: &AnswerReceipt) -> Markup {
    layout(
        "Paid",
        html! {
            h1 { "Paid" }
            section.card.receipt #receipt {
                p.balance { (receipt.amount) }
                dl {
                    dt { "To" } dd { code { (receipt.payee) } }
                    dt { "Receipt" } dd { code #receipt-id { (receipt.id) } }
                    dt { "When" } dd { (utc_time(&receipt.created_at)) }
                    @if let Some(memo) = &receipt.memo { dt { "Memo" } dd { (memo) } }
                    dt { "Signed by" } dd { (receipt.broker) }
                }
                p.small { a #receipt-link href=(format!("/r/{}", receipt.id)) { "The receipt's own page" } ": anyone holding its id can see and check it." }
            }
            p { a href=(format!("/p/{}", receipt.payee)) { "Back to the seller's page" } }
        },
    )
}

pub fn operator_login(csrf: &Csrf, error: Option<&str>) -> Markup {
    layout(
        "Operator",
        html! {
            h1 { "Operator's console" }
            @if let Some(text) = error { p.notice.error role="alert" { (text) } }
            form.card method="post" action="/operator/login" {
                (guard_fields(csrf))
                div.field {
                    label for="token" { "Operator token" }
                    input #token name="token" type="password" autocomplete="off" required;
                    small { "From the operator-token file in the broker's data directory." }
                }
                button type="submit" { "Enter" }
            }
        },
    )
}

pub fn operator_console(csrf: &Csrf, current: &Current, check: Option<&LedgerCheck>, security: &GuardReport) -> Markup {
    let ok = check.is_some_and(|check| check.ok);
    let currencies = check.map_or(&[][..], |check| &check.totals.currencies[..]);
    layout(
        "Operator",
        html! {
            h1 { "Operator's console" }
            (notice(current.notice.as_ref()))
            @if let Some(reveal) = &current.reveal { (reveal_box(reveal)) }
            section.card {
                h2 { "Issue a code" }
                p.small { "For money received outside the system." }
                form.grid method="post" action="/operator/issue" {
                    (guard_fields(csrf))
                    (field("amount", "Amount", "text", None))
                    (field_with("currency", "Currency", "text", None, "USD"))
                    (field("label", "Label", "text", None))
                    button type="submit" { "Issue" }
                }
            }
            section.card {
                h2 { "Deposit" }
                form.grid method="post" action="/operator/deposit" {
                    (guard_fields(csrf))
                    (field("target", "Secret code or code id", "text", None))
                    (field("amount", "Amount", "text", None))
                    (field_with("currency", "Currency", "text", None, "USD"))
                    button type="submit" { "Deposit" }
                }
            }
            section.card {
                h2 { "Pay out" }
                p.small { "For money paid to a code's holder outside the system: the value leaves the code." }
                form.grid method="post" action="/operator/payout" {
                    (guard_fields(csrf))
                    (field("code_id", "Code id", "text", Some("c_…, as the code's page or the CLI shows it.")))
                    (field("amount", "Amount", "text", None))
                    (field("reference", "Reference", "text", Some("Your record of the payment, such as a bank transfer's reference.")))
                    button type="submit" { "Pay out" }
                }
            }
            section.card #checks {
                h2 { "Check a profile" }
                p.small { "Stand behind a name: once you have checked who holds a code (documents, a call to the address on their own site), mark its profile as checked by the broker. Pages then show the name as checked instead of self-declared, and so does the ancestry of every code below it. An edit of the name or web address ends the check." }
                form.grid #check-profile method="post" action="/operator/check" {
                    (guard_fields(csrf))
                    (field("code", "Code id or public code", "text", Some("c_… or P-…")))
                    (field("name", "The name you checked", "text", Some("Refused if the profile's name is another by now.")))
                    button type="submit" { "Mark as checked" }
                }
                form.inline #withdraw-check method="post" action="/operator/check" {
                    (guard_fields(csrf))
                    input type="hidden" name="withdraw" value="yes";
                    (field("code", "Code id or public code", "text", None))
                    button.secondary type="submit" { "Withdraw its check" }
                }
            }
            section.card #ledger {
                h2 { "Ledger check" }
                p #ledger-ok {
                    @if ok { "OK: every currency sums to zero, and what was issued less what was paid out is held by codes." }
                    @else { "NOT OK" }
                }
                div.scroll {
                    table {
                        thead { tr { th { "Currency" } th.num { "Issued" } th.num { "Paid out" } th.num { "Held by codes" } th.num { "Exchange" } th.num { "Sum" } th.num { "Transfers" } } }
                        tbody {
                            @for c in currencies {
                                tr {
                                    td { (c.currency) }
                                    td.num { (format_units(c.issued_units)) }
                                    td.num { (format_units(c.paid_out_units)) }
                                    td.num { (format_units(c.held_by_codes_units)) }
                                    td.num { (format_units(c.exchange_units)) }
                                    td.num { (format_units(c.sum_units)) }
                                    td.num { (c.transfers) }
                                }
                            }
                        }
                    }
                }
            }
            (security::security_card(csrf, security))
            form method="post" action="/logout" {
                (guard_fields(csrf))
                button.secondary type="submit" { "Log out" }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use smartcode_core::code::{parse_code, ParsedCode, SecretCode};

    /// The QR code of a new code holds the code with its broker's domain, which the broker reads
    /// back as the same code.
    #[test]
    fn a_new_codes_qr_code_carries_its_broker() {
        let code = SecretCode::generate();
        let reveal = Reveal {
            code: code.clone().into(),
            what: "New code".into(),
            broker: "broker.example".into(),
        };
        let page = reveal_box(&reveal).into_string();
        let scanned = format!("{}@broker.example", code.reveal());
        assert!(
            page.contains(&qr_svg(&scanned).into_string()),
            "the QR code is of {scanned}"
        );
        assert!(
            !page.contains(&qr_svg(&code.reveal()).into_string()),
            "not of the bare code"
        );
        assert!(page.contains(&format!("The QR code holds {scanned}")));
        match parse_code(&scanned, "broker.example", smartcode_core::format::CodeFormat::DEFAULT) {
            Ok(ParsedCode::Secret(read)) => assert_eq!(read.reveal(), code.reveal()),
            _ => panic!("the broker reads the scanned text back as the code"),
        }
    }
}

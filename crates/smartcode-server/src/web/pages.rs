//! The pages' markup (maud). Every value is escaped by maud; the only raw markup is the QR code's
//! SVG, which the qrcode crate draws from our own text. No inline script and no inline style:
//! the Content-Security-Policy forbids both.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde_json::Value;
use smartcode_core::code::PublicCode;
use smartcode_core::ledger::reports::{Entry, PublicView};
use smartcode_core::ledger::CodeView;
use smartcode_core::model::{CodeKind, Profile};
use smartcode_core::money::format_units;

use super::session::{Current, Notice, Reveal};
use super::{chart, CenterData, Csrf};
use crate::wire::CodeJson;

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

/// The hidden fields every form carries: the CSRF token and a one-time key against double submits.
fn guard_fields(csrf: &Csrf) -> Markup {
    html! {
        input type="hidden" name="csrf" value=(csrf.token);
        input type="hidden" name="nonce" value=(super::session::form_nonce());
    }
}

fn notice(notice: Option<&Notice>) -> Markup {
    html! {
        @if let Some(n) = notice {
            @if n.is_error {
                p.notice.error role="alert" { (n.text) }
            } @else {
                p.notice role="status" { (n.text) }
            }
        }
    }
}

fn error_box(text: Option<&str>) -> Markup {
    html! {
        @if let Some(text) = text {
            p.notice.error role="alert" { (text) }
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

fn checkbox(name: &str, label: &str, checked: bool) -> Markup {
    let id = format!("f-{name}-{}", super::session::form_nonce().get(..6).unwrap_or("x"));
    html! {
        div.field.check {
            input id=(id) name=(name) type="checkbox" value="on" checked[checked];
            label for=(id) { (label) }
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

pub fn home(broker_name: &str, csrf: &Csrf, error: Option<&str>) -> Markup {
    layout(
        broker_name,
        html! {
            h1 { (broker_name) }
            p.lead {
                "smartcode is a micropayment broker: a short secret code holds money and pays sellers, with no account and no password. "
                "Enter a secret code to manage it, or a seller's public code to see their page and pay them."
            }
            (error_box(error))
            form.card method="post" action="/enter" {
                (guard_fields(csrf))
                div.field {
                    label for="code" { "Your code" }
                    input #code name="code" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" required placeholder="7KQ2-M9XD or P-4WZ8N-K3QJD";
                }
                div.field {
                    label for="pin" { "PIN, if the code has one" }
                    input #pin name="pin" type="password" inputmode="numeric" autocomplete="off";
                }
                button type="submit" { "Open" }
            }
            p.small { "Operators: " a href="/operator" { "the operator's console" } "." }
        },
    )
}

fn reveal_box(reveal: &Reveal) -> Markup {
    let formatted = reveal.code.reveal();
    html! {
        section.reveal aria-labelledby="reveal-title" {
            h2 #reveal-title { (reveal.what) }
            p.secret #new-code { (formatted) }
            div.qr { (qr_svg(&formatted)) }
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

pub fn control_center(data: &CenterData, current: &Current, csrf: &Csrf) -> Markup {
    let me = CodeJson::from(&data.view);
    let title = me.label.clone().unwrap_or_else(|| "Your code".to_owned());
    layout(
        &title,
        html! {
            h1 { (title) }
            (notice(current.notice.as_ref()))
            @if let Some(reveal) = &current.reveal { (reveal_box(reveal)) }
            section.card.summary {
                p.balance {
                    span.label { "Balance" }
                    span #balance { (me.balance.as_ref().map(|m| format!("{} {}", m.amount, m.currency)).unwrap_or_default()) }
                }
                dl {
                    dt { "Status" } dd #status { (me.status) }
                    dt { "Code id" } dd { code { (me.id) } }
                    @if let Some(available) = &me.available {
                        dt { "Available" } dd { (available.amount) " " (available.currency) }
                    }
                    @if let Some(at) = &me.expires_at { dt { "Expires" } dd { (at) } }
                    dt { "PIN" } dd { (if me.pin_set { "set" } else { "none" }) }
                    @if me.irrevocable { dt { "Irrevocable" } dd { "yes: its parent cannot cancel it" } }
                }
                (restrictions(&me))
                form method="post" action="/logout" {
                    (guard_fields(csrf))
                    button.secondary type="submit" { "Log out" }
                }
            }
            section.card {
                h2 { "Children" }
                (tree(data, csrf))
            }
            section.card {
                h2 { "New secret child" }
                p.small { "It carries part of this code's value. Rules only narrow: a child may never do more than this code." }
                form.grid method="post" action="/me/children" {
                    (guard_fields(csrf))
                    input type="hidden" name="kind" value="secret";
                    (field("amount", "Amount", "text", Some("such as 2.50")))
                    (field("label", "Label", "text", None))
                    (field("expires_in_hours", "Expires in (hours)", "number", None))
                    (field("expires_at", "Or expires at (UTC)", "datetime-local", None))
                    (field("uses_max", "Number of uses", "number", None))
                    (field("amount_per_use_max", "Most per payment", "text", None))
                    (field("spend_amount", "Most spent per period", "text", None))
                    div.field {
                        label for="spend-period" { "Period" }
                        select #spend-period name="spend_period_seconds" {
                            option value="3600" { "an hour" }
                            option value="86400" selected { "a day" }
                            option value="604800" { "a week" }
                            option value="2592000" { "30 days" }
                        }
                    }
                    (field("categories", "Categories (comma-separated)", "text", None))
                    (field("payees", "Payees: public codes (comma-separated)", "text", None))
                    (field("items", "Items (comma-separated)", "text", None))
                    (checkbox("irrevocable", "Irrevocable: this code can never cancel it", false))
                    button type="submit" { "Create the secret child" }
                }
            }
            section.card {
                h2 { "New public code" }
                p.small { "A code to publish: anyone can pay into it and the money lands here." }
                form.grid method="post" action="/me/children" {
                    (guard_fields(csrf))
                    input type="hidden" name="kind" value="public";
                    (field("label", "Label", "text", None))
                    (field("name", "Name shown on its page", "text", None))
                    (field("description", "Description", "text", None))
                    (field("url", "Web address", "url", None))
                    (field("contact", "Contact", "text", None))
                    (public_parent_select(data))
                    (checkbox("show_stats", "Show payment statistics on its page", false))
                    button type="submit" { "Create the public code" }
                }
            }
            section.card {
                h2 { "History" }
                (history(&data.history))
                nav.pager {
                    @if data.paged {
                        a href="/me" { "Newest" }
                    }
                    @if let Some(cursor) = data.next_cursor {
                        " " a href=(format!("/me?cursor={cursor}")) { "Older" }
                    }
                }
            }
            section.card {
                h2 { "Reports" }
                @if data.by_day.is_empty() {
                    p { "Nothing to report yet." }
                } @else {
                    (chart::in_and_out("Income and spending by day", &data.by_day))
                }
                @if data.by_public_code.iter().any(|r| r.total_in_units > 0) {
                    (chart::income_by_key("Income by public code", &data.by_public_code))
                }
                p {
                    "Download as CSV: "
                    a href="/me/report.csv?group_by=day" download { "by day" } ", "
                    a href="/me/report.csv?group_by=month" download { "by month" } ", "
                    a href="/me/report.csv?group_by=public_code" download { "by public code" }
                }
            }
            section.card {
                h2 { "PIN" }
                p.small { "A PIN is asked for every payment and every change. If it is forgotten, the parent code can cancel this code and take back its value." }
                form method="post" action="/me/pin" {
                    (guard_fields(csrf))
                    input type="hidden" name="action" value="set";
                    (field("new_pin", if me.pin_set { "New PIN (4 to 12 digits)" } else { "PIN (4 to 12 digits)" }, "password", None))
                    button type="submit" { (if me.pin_set { "Change the PIN" } else { "Set a PIN" }) }
                }
                @if me.pin_set {
                    form method="post" action="/me/pin" {
                        (guard_fields(csrf))
                        input type="hidden" name="action" value="remove";
                        button.secondary type="submit" { "Remove the PIN" }
                    }
                }
            }
            section.card {
                h2 { "Your public profile" }
                p.small { "Shown to everyone in the ancestry of the public codes below this one." }
                form.grid method="post" action="/me/profile" {
                    (guard_fields(csrf))
                    (profile_fields(&data.view.record.profile))
                    button type="submit" { "Save the profile" }
                }
            }
            section.card {
                h2 { "New secret" }
                p.small { "If the code may have been seen, replace its secret: the old one stops at once; balance, children and history stay." }
                form method="post" action="/me/rekey" {
                    (guard_fields(csrf))
                    button.danger type="submit" { "Replace the secret" }
                }
            }
        },
    )
}

fn restrictions(me: &CodeJson) -> Markup {
    let r = &me.restrictions;
    let any = r.categories.is_some()
        || r.payees.is_some()
        || r.items.is_some()
        || r.amount_per_use_max.is_some()
        || r.uses_max.is_some()
        || r.spend_per_period.is_some()
        || r.uses_left.is_some()
        || r.spend_left.is_some();
    html! {
        @if any {
            h2 { "Rules" }
            dl.rules {
                @if let Some(list) = &r.categories { dt { "Categories" } dd { (list.join(", ")) } }
                @if let Some(list) = &r.payees { dt { "Payees" } dd { (list.join(", ")) } }
                @if let Some(list) = &r.items { dt { "Items" } dd { (list.join(", ")) } }
                @if let Some(m) = &r.amount_per_use_max { dt { "Most per payment" } dd { (m.amount) " " (m.currency) } }
                @if let Some(uses) = r.uses_max { dt { "Uses" } dd { (uses) } }
                @if let Some(left) = r.uses_left { dt { "Uses left" } dd { (left) } }
                @if let Some(s) = &r.spend_per_period { dt { "Spending" } dd { (s.amount.amount) " " (s.amount.currency) " per " (s.period_seconds) " s" } }
                @if let Some(m) = &r.spend_left { dt { "Spending left this period" } dd { (m.amount) " " (m.currency) } }
            }
        }
    }
}

fn tree(data: &CenterData, csrf: &Csrf) -> Markup {
    let root = data.view.record.id.clone();
    html! {
        @if data.tree.is_empty() {
            p { "No children yet." }
        } @else {
            (subtree(data, &root, csrf))
            @if data.tree_truncated { p.small { "The tree is larger than one page shows." } }
        }
    }
}

fn subtree(data: &CenterData, parent: &smartcode_core::code::CodeId, csrf: &Csrf) -> Markup {
    let children: Vec<&CodeView> = data
        .tree
        .iter()
        .filter(|v| v.record.parent_id.as_ref() == Some(parent))
        .collect();
    html! {
        @if !children.is_empty() {
            ul.tree {
                @for child in children {
                    li { (node(data, child, csrf)) }
                }
            }
        }
    }
}

fn node(data: &CenterData, child: &CodeView, csrf: &Csrf) -> Markup {
    let c = CodeJson::from(child);
    let name = c
        .label
        .clone()
        .unwrap_or_else(|| c.public_code.clone().unwrap_or_else(|| c.id.clone()));
    let active = c.status == "active";
    html! {
        details.node data-id=(c.id) {
            summary {
                span.name { (name) }
                " "
                span.kind { (c.kind) }
                " "
                @if let Some(balance) = &c.balance { span.amount { (balance.amount) " " (balance.currency) } " " }
                @if let Some(public) = &c.public_code { code { (public) } " " }
                span class=(format!("status {}", c.status)) { (c.status) }
            }
            dl {
                dt { "Id" } dd { code { (c.id) } }
                @if let Some(at) = &c.expires_at { dt { "Expires" } dd { (at) } }
                @if c.irrevocable { dt { "Irrevocable" } dd { "yes" } }
                @if c.kind == "public" {
                    @if let Some(public) = &c.public_code {
                        dt { "Page" } dd { a href=(format!("/p/{public}")) { "/p/" (public) } }
                    }
                }
            }
            (restrictions(&c))
            @if active && c.kind == "secret" {
                form.inline method="post" action=(format!("/me/children/{}/fund", c.id)) {
                    (guard_fields(csrf))
                    (field("amount", "Move more value in", "text", None))
                    button type="submit" { "Fund" }
                }
            }
            @if c.status == "locked" {
                form.inline method="post" action=(format!("/me/children/{}/unlock", c.id)) {
                    (guard_fields(csrf))
                    button type="submit" { "Unlock" }
                }
            }
            @if (active || c.status == "locked") && !c.irrevocable {
                form.inline method="post" action=(format!("/me/children/{}/cancel", c.id)) {
                    (guard_fields(csrf))
                    button.danger type="submit" { "Cancel and take back its value" }
                }
            }
            @if active && c.kind == "public" {
                details.edit {
                    summary { "Edit its public page" }
                    form.grid method="post" action=(format!("/me/children/{}/profile", c.id)) {
                        (guard_fields(csrf))
                        (profile_fields(&child.record.profile))
                        button type="submit" { "Save" }
                    }
                }
            }
            (subtree(data, &child.record.id, csrf))
        }
    }
}

fn profile_fields(profile: &Profile) -> Markup {
    html! {
        (field_with("name", "Name", "text", None, profile.name.as_deref().unwrap_or("")))
        (field_with("description", "Description", "text", None, profile.description.as_deref().unwrap_or("")))
        (field_with("url", "Web address", "url", None, profile.url.as_deref().unwrap_or("")))
        (field_with("contact", "Contact", "text", None, profile.contact.as_deref().unwrap_or("")))
        (checkbox("show_stats", "Show payment statistics publicly", profile.show_stats))
    }
}

fn public_parent_select(data: &CenterData) -> Markup {
    let publics: Vec<CodeJson> = data
        .tree
        .iter()
        .filter(|v| v.record.kind == CodeKind::Public && v.record.owner_id == data.view.record.id)
        .map(CodeJson::from)
        .filter(|c| c.status == "active")
        .collect();
    html! {
        @if !publics.is_empty() {
            div.field {
                label for="under" { "Nest it under" }
                select #under name="under" {
                    option value="" { "this code (not nested)" }
                    @for p in &publics {
                        option value=(p.id) { (p.label.clone().unwrap_or_default()) " " (p.public_code.clone().unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

fn history(entries: &[Entry]) -> Markup {
    html! {
        @if entries.is_empty() {
            p { "No transactions yet." }
        } @else {
            div.scroll {
                table.history {
                    thead { tr { th { "When" } th { "What" } th.num { "Amount" } th { "With" } th { "Memo" } } }
                    tbody {
                        @for e in entries {
                            tr {
                                td { (e.transfer.at.to_rfc3339()) }
                                td { (e.transfer.kind.as_str()) }
                                td.num class=(if e.signed_units < 0 { "num out" } else { "num in" }) {
                                    (format_units(e.signed_units)) " " (e.transfer.currency)
                                }
                                td { code { (e.counterparty_id.as_ref().map_or_else(|| "broker".to_owned(), ToString::to_string)) } }
                                td { (e.transfer.memo.as_deref().unwrap_or("")) }
                            }
                        }
                    }
                }
            }
        }
    }
}

pub fn public_page(broker_name: &str, view: &PublicView, csrf: &Csrf, host: &str, error: Option<&str>) -> Markup {
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
            h1 { (title) }
            p.public-code { "Public code " code { (code.to_string()) } " · " (view.record.currency) }
            section.card.profile {
                @if let Some(description) = &profile.description { p.description { (description) } }
                dl {
                    @if let Some(url) = &profile.url {
                        dt { "Web" } dd { a href=(url) rel="nofollow noopener noreferrer" { (url) } }
                    }
                    @if let Some(contact) = &profile.contact { dt { "Contact" } dd { (contact) } }
                }
                @if let Some((payments, total)) = view.stats {
                    p.stats #stats { "Received " (payments) (if payments == 1 { " payment, " } else { " payments, " }) (format_units(total)) " " (view.record.currency) " in all." }
                }
            }
            section.card {
                h2 { "Pay" }
                (error_box(error))
                form.grid method="post" action=(format!("/p/{code}/pay")) {
                    (guard_fields(csrf))
                    div.field {
                        label for="pay-code" { "Your secret code" }
                        input #pay-code name="code" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" required;
                    }
                    div.field {
                        label for="pay-amount" { "Amount (" (view.record.currency) ")" }
                        input #pay-amount name="amount" type="text" inputmode="decimal" required;
                    }
                    div.field {
                        label for="pay-memo" { "Memo (optional)" }
                        input #pay-memo name="memo" type="text";
                    }
                    div.field {
                        label for="pay-pin" { "PIN, if your code has one" }
                        input #pay-pin name="pin" type="password" inputmode="numeric" autocomplete="off";
                    }
                    button type="submit" { "Pay" }
                }
            }
            section.card {
                h2 { "Who stands behind it" }
                ol.ancestry {
                    @for a in &view.ancestry {
                        li { (ancestor(a.kind.as_str(), a.profile.as_ref())) }
                    }
                    li { strong { (broker_name) } " — the broker" }
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

fn ancestor(kind: &str, profile: Option<&Profile>) -> Markup {
    html! {
        @match profile {
            Some(p) => {
                strong { (p.name.as_deref().unwrap_or("(unnamed)")) }
                " (" (kind) " code)"
                @if let Some(d) = &p.description { br; span.small { (d) } }
                @if let Some(url) = &p.url { br; a href=(url) rel="nofollow noopener noreferrer" { (url) } }
            }
            None => { span.small { "a " (kind) " code with no public profile" } }
        }
    }
}

pub fn receipt(receipt: &Value) -> Markup {
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    layout(
        "Paid",
        html! {
            h1 { "Paid" }
            section.card.receipt #receipt {
                p.balance { (text(&receipt["amount"]["amount"])) " " (text(&receipt["amount"]["currency"])) }
                dl {
                    dt { "To" } dd { code { (text(&receipt["payee"])) } }
                    dt { "Receipt" } dd { code #receipt-id { (text(&receipt["id"])) } }
                    dt { "When" } dd { (text(&receipt["created_at"])) }
                    @if let Some(memo) = receipt["memo"].as_str() { dt { "Memo" } dd { (memo) } }
                    dt { "Signed by" } dd { (text(&receipt["broker"])) }
                }
                p.small { "Anyone holding the receipt id can check it at /v1/receipts/<id>." }
            }
            p { a href=(format!("/p/{}", text(&receipt["payee"]))) { "Back to the seller's page" } }
        },
    )
}

pub fn operator_login(csrf: &Csrf, error: Option<&str>) -> Markup {
    layout(
        "Operator",
        html! {
            h1 { "Operator's console" }
            (error_box(error))
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

pub fn operator_console(csrf: &Csrf, current: &Current, check: &Value, security: &Value) -> Markup {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
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
            section.card #ledger {
                h2 { "Ledger check" }
                p #ledger-ok { @if check["ok"] == true { "OK: every currency sums to zero." } @else { "NOT OK" } }
                div.scroll {
                    table {
                        thead { tr { th { "Currency" } th.num { "Issued" } th.num { "Held by codes" } th.num { "Sum" } th.num { "Transfers" } } }
                        tbody {
                            @for c in check["currencies"].as_array().into_iter().flatten() {
                                tr {
                                    td { (text(&c["currency"])) }
                                    td.num { (text(&c["issued"])) }
                                    td.num { (text(&c["held_by_codes"])) }
                                    td.num { (text(&c["sum"])) }
                                    td.num { (text(&c["transfers"])) }
                                }
                            }
                        }
                    }
                }
            }
            section.card #security {
                h2 { "Guessing defence" }
                dl {
                    dt { "Failed presentations" } dd { (text(&security["failed_presentations_total"])) }
                    dt { "In the last day" } dd { (text(&security["failed_presentations_in_window"])) }
                    dt { "Refused" } dd { (text(&security["refused_presentations_total"])) }
                    dt { "Alarm" } dd { (if security["alarm_active"] == true { "RAISED" } else { "none" }) }
                }
                @for alarm in security["alarms"].as_array().into_iter().flatten() {
                    p.notice.error { (text(&alarm["raised_at"])) ": " (text(&alarm["reason"])) }
                }
                @if let Some(busiest) = security["busiest_sources"].as_array().filter(|b| !b.is_empty()) {
                    h3 { "Busiest failing sources" }
                    ul { @for s in busiest { li { (text(&s["source"])) ": " (text(&s["failures"])) } } }
                }
            }
            form method="post" action="/logout" {
                (guard_fields(csrf))
                button.secondary type="submit" { "Log out" }
            }
        },
    )
}

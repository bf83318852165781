//! The control center's markup: what a code holds, its restrictions, its tree of children with
//! their forms, its history and its charts.

use maud::{html, Markup};
use smartcode_core::ledger::reports::Entry;
use smartcode_core::ledger::CodeView;
use smartcode_core::model::{Catalog, CodeKind, Profile};
use smartcode_core::money::format_units;

use super::super::session::{Current, Notice};
use super::super::{chart, CenterData, Csrf};
use super::{field_with, guard_fields, layout, reveal_box, standing, utc_time, FormView};
use crate::wire::CodeJson;
use smartcode_core::ledger::checks::CheckedBy;

pub fn control_center(data: &CenterData, current: &Current, csrf: &Csrf) -> Markup {
    let me = CodeJson::from(&data.view);
    let title = me.label.clone().unwrap_or_else(|| "Your code".to_owned());
    let notice = current.notice.as_ref();
    let secret = FormView::of("child-secret", notice);
    let public = FormView::of("child-public", notice);
    let pin = FormView::of("pin", notice);
    let own_profile = FormView::of("profile", notice);
    layout(
        &title,
        html! {
            h1 { (title) }
            (super::notice(notice))
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
                    @if let Some(at) = &me.expires_at { dt { "Expires" } dd { (utc_time(at)) } }
                    dt { "PIN" } dd { (if me.pin_set { "set" } else { "none" }) }
                    @if me.irrevocable { dt { "Irrevocable" } dd { "yes: its parent cannot cancel it" } }
                }
                (restrictions(&me))
                @let waiting = data.approvals.iter().filter(|a| a.status == "pending").count();
                @if waiting > 0 {
                    p #waiting { a href="#buying" { (waiting) (if waiting == 1 { " purchase waits" } else { " purchases wait" }) " for your approval" } }
                }
                @if !me.holds.is_empty() {
                    h2 { "Set aside for sellers" }
                    p.small { "Each seller captures what it delivered, or voids the rest; at its time a hold gives its value back by itself." }
                    ul #holds {
                        @for h in &me.holds {
                            li {
                                strong { (h.amount.amount) " " (h.amount.currency) }
                                " for "
                                // A seller of another broker ("P-… at b.test") has no page here.
                                @if h.payee.contains(' ') { code { (h.payee) } }
                                @else { a href=(format!("/p/{}", h.payee)) { code { (h.payee) } } }
                                @if let Some(memo) = &h.memo { " (" (memo) ")" }
                                " until " (utc_time(&h.expires_at))
                                " " small { code { (h.id) } }
                            }
                        }
                    }
                }
                form method="post" action="/logout" {
                    (guard_fields(csrf))
                    button.secondary type="submit" { "Log out" }
                }
            }
            (super::buying::buying(data, csrf, notice))
            (super::instruments::instruments(&me, &data.assurances, csrf))
            (super::shares::given(&data.shares))
            section.card {
                h2 { "Children" }
                (tree(data, csrf, notice))
            }
            section.card {
                h2 { "New secret child" }
                p.small { "It carries part of this code's value. Rules only narrow: a child may never do more than this code." }
                form.grid #child-secret method="post" action="/me/children" {
                    (secret.error())
                    (guard_fields(csrf))
                    input type="hidden" name="kind" value="secret";
                    (secret.field("amount", "Amount", "text", Some("such as 2.50")))
                    (secret.field("label", "Label", "text", None))
                    (secret.field("expires_in_hours", "Expires in (hours)", "number", None))
                    (secret.field("expires_at", "Or expires at (UTC)", "datetime-local", None))
                    (secret.field("uses_max", "Number of uses", "number", None))
                    (secret.field("amount_per_use_max", "Most per payment", "text", None))
                    (secret.field("spend_amount", "Most spent per period", "text", None))
                    div.field {
                        label for="spend-period" { "Period" }
                        select #spend-period name="spend_period_seconds" {
                            option value="3600" { "an hour" }
                            option value="86400" selected { "a day" }
                            option value="604800" { "a week" }
                            option value="2592000" { "30 days" }
                        }
                    }
                    (secret.field("categories", "Categories (comma-separated)", "text", None))
                    (secret.field("payees", "Payees: public codes (comma-separated)", "text", None))
                    (secret.field("items", "Items (comma-separated)", "text", None))
                    (secret.checkbox("irrevocable", "Irrevocable: this code can never cancel it", false))
                    button type="submit" { "Create the secret child" }
                }
            }
            section.card {
                h2 { "New public code" }
                p.small { "A code to publish: anyone can pay into it and the money lands here." }
                form.grid #child-public method="post" action="/me/children" {
                    (public.error())
                    (guard_fields(csrf))
                    input type="hidden" name="kind" value="public";
                    (public.field("label", "Label", "text", None))
                    (public.field("name", "Name shown on its page", "text", None))
                    (public.field("description", "Description", "text", None))
                    (public.field("url", "Web address", "url", None))
                    (public.field("contact", "Contact", "text", None))
                    (catalog_fields(&Catalog::default()))
                    (public_parent_select(data))
                    (public.checkbox("show_stats", "Show payment statistics on its page", false))
                    button type="submit" { "Create the public code" }
                }
            }
            section.card {
                h2 { "History" }
                (history(&data.history))
                p { a href="/me/transactions.csv" download { "Download every transaction as CSV" } }
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
                form #pin method="post" action="/me/pin" {
                    (pin.error())
                    (guard_fields(csrf))
                    input type="hidden" name="action" value="set";
                    (pin.field("new_pin", if me.pin_set { "New PIN (4 to 12 digits)" } else { "PIN (4 to 12 digits)" }, "password", None))
                    (pin.field("new_pin_again", "The same PIN again", "password", None))
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
                @if let Some(name) = &data.view.record.profile.name {
                    p #own-standing { (standing::name(name, data.view.check.as_ref(), &data.broker_name)) }
                    @if data.view.check.is_none() {
                        p.small { "To have it shown as checked, ask the broker's operator (or the code above yours) to check who you are; give them your code id and this exact name. Editing the name or web address ends a check." }
                    }
                }
                form.grid #profile method="post" action="/me/profile" {
                    (own_profile.error())
                    (guard_fields(csrf))
                    (profile_fields(&own_profile, &data.view.record.profile))
                    button type="submit" { "Save the profile" }
                }
            }
            section.card {
                h2 { "New secret" }
                p.small { "If the code may have been seen, replace its secret: the old one stops at once; balance, children and history stay." }
                form method="post" action="/me/rekey" {
                    (guard_fields(csrf))
                    button.danger type="submit" { "Replace the secret…" }
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

fn tree(data: &CenterData, csrf: &Csrf, notice: Option<&Notice>) -> Markup {
    let root = data.view.record.id.clone();
    html! {
        @if data.tree.is_empty() {
            p { "No children yet." }
        } @else {
            (subtree(data, &root, csrf, notice))
            @if data.tree_truncated { p.small { "The tree is larger than one page shows." } }
        }
    }
}

fn subtree(data: &CenterData, parent: &smartcode_core::code::CodeId, csrf: &Csrf, notice: Option<&Notice>) -> Markup {
    let children: Vec<&CodeView> = data
        .tree
        .iter()
        .filter(|v| v.record.parent_id.as_ref() == Some(parent))
        .collect();
    html! {
        @if !children.is_empty() {
            ul.tree {
                @for child in children {
                    li { (node(data, child, csrf, notice)) }
                }
            }
        }
    }
}

fn node(data: &CenterData, child: &CodeView, csrf: &Csrf, notice: Option<&Notice>) -> Markup {
    let c = CodeJson::from(child);
    let name = c
        .label
        .clone()
        .unwrap_or_else(|| c.public_code.clone().unwrap_or_else(|| c.id.clone()));
    let active = c.status == "active";
    let fund = FormView::of(format!("fund-{}", c.id), notice);
    let profile = FormView::of(format!("profile-{}", c.id), notice);
    let open = fund.is_kept() || profile.is_kept();
    html! {
        details.node data-id=(c.id) open[open] {
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
                @if let Some(name) = &child.record.profile.name {
                    dt { "Name" } dd.child-name { (standing::name(name, child.check.as_ref(), &data.broker_name)) }
                }
                @if let Some(at) = &c.expires_at { dt { "Expires" } dd { (utc_time(at)) } }
                @if c.irrevocable { dt { "Irrevocable" } dd { "yes" } }
                @if c.kind == "public" {
                    @if let Some(public) = &c.public_code {
                        dt { "Page" } dd { a href=(format!("/p/{public}")) { "/p/" (public) } }
                    }
                    @if let Some(list) = &child.record.catalog.categories { dt { "Sells (categories)" } dd { (list.join(", ")) } }
                    @if let Some(list) = &child.record.catalog.items { dt { "Sells (items)" } dd { (list.join(", ")) } }
                }
            }
            (restrictions(&c))
            @if active { (vouch_forms(data, child, csrf)) }
            @if active && c.kind == "secret" {
                form.inline id=(fund.id) method="post" action=(format!("/me/children/{}/fund", c.id)) {
                    (fund.error())
                    (guard_fields(csrf))
                    (fund.field("amount", "Move more value in", "text", None))
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
                    @if c.kind == "public" {
                        button.danger type="submit" { "Close this public code…" }
                    } @else {
                        button.danger type="submit" { "Cancel and take back its value…" }
                    }
                }
            }
            @if active && c.kind == "public" {
                details.edit open[profile.is_kept()] {
                    summary { "Edit its public page" }
                    form.grid id=(profile.id) method="post" action=(format!("/me/children/{}/profile", c.id)) {
                        (profile.error())
                        (guard_fields(csrf))
                        (profile_fields(&profile, &child.record.profile))
                        (catalog_fields(&child.record.catalog))
                        button type="submit" { "Save" }
                    }
                }
            }
            (subtree(data, &child.record.id, csrf, notice))
        }
    }
}

/// Whether this code may vouch for a descendant's name, and whether it may withdraw the check
/// that stands: a check made by the broker or a code above this one is not this code's to change.
fn vouch_forms(data: &CenterData, child: &CodeView, csrf: &Csrf) -> Markup {
    let Some(name) = &child.record.profile.name else {
        return html! {};
    };
    let mine = data.view.record.depth;
    let (may_vouch, may_withdraw) = match child.check.as_ref().map(|c| &c.by) {
        None => (true, false),
        Some(CheckedBy::Broker) => (false, false),
        Some(CheckedBy::Ancestor { depth, .. }) if *depth == mine => (false, true),
        Some(CheckedBy::Ancestor { depth, .. }) => (*depth > mine, *depth > mine),
    };
    let action = format!("/me/children/{}/check", child.record.id);
    html! {
        @if may_vouch {
            form.inline.vouch method="post" action=(action) {
                (guard_fields(csrf))
                input type="hidden" name="name" value=(name);
                button.secondary type="submit" { "I checked “" (name) "”: vouch for it" }
            }
        }
        @if may_withdraw {
            form.inline.withdraw method="post" action=(action) {
                (guard_fields(csrf))
                input type="hidden" name="withdraw" value="yes";
                button.secondary type="submit" { "Withdraw the check" }
            }
        }
    }
}

fn profile_fields(form: &FormView, profile: &Profile) -> Markup {
    html! {
        (form.field_with("name", "Name", "text", None, profile.name.as_deref().unwrap_or("")))
        (form.field_with("description", "Description", "text", None, profile.description.as_deref().unwrap_or("")))
        (form.field_with("url", "Web address", "url", None, profile.url.as_deref().unwrap_or("")))
        (form.field_with("contact", "Contact", "text", None, profile.contact.as_deref().unwrap_or("")))
        (form.checkbox("show_stats", "Show payment statistics publicly", profile.show_stats))
    }
}

/// What a public code sells: the broker stamps each payment into it with one of these, so a
/// buyer's code restricted to categories or items pays it without naming any.
fn catalog_fields(catalog: &Catalog) -> Markup {
    let joined = |list: Option<&Vec<String>>| list.map(|l| l.join(", ")).unwrap_or_default();
    let hint = Some("what it sells, comma-separated: each payment into it is for one of these");
    html! {
        (field_with("categories", "Categories it sells", "text", hint, &joined(catalog.categories.as_ref())))
        (field_with("items", "Items it sells", "text", None, &joined(catalog.items.as_ref())))
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
            div.scroll { table.history {
                thead { tr { th { "When" } th { "What" } th.num { "Amount" } th { "With" } th { "Memo" } th { "Receipt" } } }
                tbody {
                    @for e in entries {
                        tr {
                            td data-label="When" { (utc_time(&e.transfer.at.to_rfc3339())) }
                            td data-label="What" { (kind_words(e)) }
                            td.num data-label="Amount" class=(if e.signed_units < 0 { "num out" } else { "num in" }) {
                                (format_units(e.signed_units)) " " (e.transfer.currency)
                            }
                            td data-label="With" { (counterparty(e)) }
                            td data-label="Memo" { (e.transfer.memo.as_deref().unwrap_or("")) }
                            td data-label="Receipt" {
                                @if let Some(id) = &e.receipt_id { code.receipt-id { (id) } }
                            }
                        }
                    }
                }
            } }
        }
    }
}

/// What a transfer was, from this code's side.
fn kind_words(e: &Entry) -> &'static str {
    let outgoing = e.signed_units < 0;
    match (e.transfer.kind.as_str(), outgoing) {
        ("issue", _) => "issued",
        ("deposit", _) => "deposit",
        ("fund", true) => "moved to a child",
        ("fund", false) => "funded",
        ("payment", true) => "paid",
        ("payment", false) => "payment received",
        ("reclaim", true) => "taken back by a code above",
        ("reclaim", false) => "taken back from a child",
        ("revert", true) => "expired, value returned",
        ("revert", false) => "returned by an expired child",
        ("payout", _) => "paid out",
        ("refund", true) => "refunded to a buyer",
        ("refund", false) => "refund received",
        _ => "transfer",
    }
}

/// The other side, by name where this code may know one.
fn counterparty(e: &Entry) -> Markup {
    let payment_in = (e.receipt_id.is_some() && e.signed_units > 0) || e.is_refund_given();
    html! {
        @if payment_in {
            "a buyer"
            @if let Some(public) = &e.public_code { ", through " code { (public.to_string()) } }
            @if let Some(pseudonym) = &e.payer_pseudonym { " " small { code { (pseudonym) } } }
        } @else if let Some(name) = &e.counterparty {
            @if e.counterparty_id.is_none() { "the broker" }
            @else if e.public_code.is_some() { code { (name) } }
            @else { (name) }
        } @else if let Some(id) = &e.counterparty_id {
            @if below(e) { "a child with no label " small { code { (id.to_string()) } } }
            @else { "the code above this one" }
        }
    }
}

/// Whether the other side of a transfer is a code below this one (a child it funds, a descendant
/// whose value comes back).
fn below(e: &Entry) -> bool {
    let outgoing = e.signed_units < 0;
    matches!(
        (e.transfer.kind.as_str(), outgoing),
        ("fund", true) | ("reclaim", false) | ("revert", false)
    )
}

/// Before a cancel: what it stops and what comes back, and the button that does it.
pub fn confirm_cancel(child: &CodeView, csrf: &Csrf) -> Markup {
    let c = CodeJson::from(child);
    let name = c
        .label
        .clone()
        .unwrap_or_else(|| c.public_code.clone().unwrap_or_else(|| c.id.clone()));
    let public = c.kind == "public";
    let title = if public {
        format!("Close the public code {name}?")
    } else {
        format!("Cancel {name}?")
    };
    layout(
        &title,
        html! {
            h1 { (title) }
            section.card #confirm {
                @if public {
                    p { "Payments into " code { (c.public_code.clone().unwrap_or_default()) } " stop for good, and so do the codes below it. A public code holds no value, so nothing comes back." }
                } @else {
                    p {
                        "The code and every code below it stop working for good. What they hold"
                        @if let Some(balance) = &c.balance { " (" (balance.amount) " " (balance.currency) " in this one)" }
                        " comes back to your code."
                    }
                }
                form.inline method="post" action=(format!("/me/children/{}/cancel", c.id)) {
                    (guard_fields(csrf))
                    input type="hidden" name="confirm" value="yes";
                    button.danger type="submit" { (if public { "Yes, close it" } else { "Yes, cancel it" }) }
                    a href="/me" { "No, keep it" }
                }
            }
        },
    )
}

/// Before a rekey: what changes, and the button that does it.
pub fn confirm_rekey(csrf: &Csrf) -> Markup {
    layout(
        "Replace the secret?",
        html! {
            h1 { "Replace the secret?" }
            section.card #confirm {
                p { "A new secret code replaces this one, and the old one stops at once: anyone holding it, you included, can no longer use it. Balance, children, history and PIN stay. The new secret is shown once: have a way to write it down." }
                form.inline method="post" action="/me/rekey" {
                    (guard_fields(csrf))
                    input type="hidden" name="confirm" value="yes";
                    button.danger type="submit" { "Yes, replace the secret" }
                    a href="/me" { "No, keep this one" }
                }
            }
        },
    )
}

//! The control center's card for zero-click buying: the purchases waiting for the holder's
//! approval (each offer's seller, price, counter-offer and the rule that stopped it, with approve,
//! approve-and-make-it-a-rule, approve-at-the-counter and decline), what was settled lately, and
//! the code's spending rules with what each has spent and left, a remove button each, and a form
//! to add one; and the metered sessions it opened, with a close button for the open ones. Plain forms: nothing here needs JavaScript.

use maud::{html, Markup};
use smartcode_api::{Money, QueuedApprovalJson, RuleJson, RulesJson, SessionJson};

use super::super::session::Notice;
use super::super::{CenterData, Csrf};
use super::{guard_fields, utc_time, FormView};

/// How many settled approvals the card lists under the waiting ones.
const SETTLED_SHOWN: usize = 10;

fn money(m: &Money) -> String {
    format!("{} {}", m.amount, m.currency)
}

pub(super) fn buying(data: &CenterData, csrf: &Csrf, notice: Option<&Notice>) -> Markup {
    let (approvals, rules) = (&data.approvals, &data.rules);
    let waiting: Vec<_> = approvals.iter().filter(|a| a.status == "pending").collect();
    let settled: Vec<_> = approvals
        .iter()
        .filter(|a| a.status != "pending")
        .take(SETTLED_SHOWN)
        .collect();
    html! {
        section.card #buying {
            h2 { "Waiting for your approval" }
            @if waiting.is_empty() {
                p #no-approvals { "Nothing waits. A purchase your rules do not settle (a rule that asks, a cap passed, no rule that covers it) waits here until you approve it, decline it, or its offer expires." }
            } @else {
                ul #approvals {
                    @for approval in &waiting { (waiting_approval(approval, csrf, notice)) }
                }
            }
            @if !settled.is_empty() {
                h3 { "Settled lately" }
                ul #settled.small {
                    @for a in &settled {
                        li {
                            (a.offer.description) " · " (money(&a.offer.price)) " · " strong { (a.status) }
                            @if let Some(receipt) = &a.receipt_id { " · " a href=(format!("/r/{receipt}")) { "receipt" } }
                        }
                    }
                }
            }
            @if !data.sessions.is_empty() { (sessions(&data.sessions, csrf, notice)) }
            h2 { "Spending rules" }
            p.small { "What this code lets be paid with no one asked, what it wants to be asked about, and what it refuses, for every seller and every device. The first rule that matches a payment decides; the rules of the codes above this one judge it too." }
            // A remove that was refused says why here (its forms are the table's rows).
            (FormView::of("rules", notice).error())
            @if rules.rules.is_empty() {
                p #no-rules { "No rules: every payment of this code is its holder's own, and every offer a program buys waits here for approval." }
            } @else {
                (rules_table(rules, csrf))
            }
            (add_rule_form(csrf, notice))
        }
    }
}

fn waiting_approval(a: &QueuedApprovalJson, csrf: &Csrf, notice: Option<&Notice>) -> Markup {
    let form = FormView::of(format!("approval-{}", a.id), notice);
    let offer = &a.offer;
    let per = if offer.unit == "minute" { " a minute" } else { "" };
    html! {
        li.approval id=(format!("approval-{}", a.id)) {
            (form.error())
            strong.offer { (offer.description) }
            dl {
                dt { "Seller" } dd { a href=(format!("/p/{}", offer.payee)) { code { (offer.payee) } } }
                dt { "Price" } dd.price { (money(&offer.price)) (per) }
                @if let Some(counter) = &a.counter { dt { "Seller's counter-offer" } dd.counter { (money(counter)) } }
                @if let Some(category) = &offer.category { dt { "Category" } dd { (category) } }
                @if let Some(item) = &offer.item { dt { "Item" } dd { (item) } }
                dt { "Stopped by" } dd.rule { (a.rule.as_deref().unwrap_or("no rule covers it")) }
                dt { "Why" } dd.why { (a.why) }
                dt { "Waits until" } dd { (utc_time(&a.expires_at)) }
            }
            form.inline.approve method="post" action=(format!("/me/approvals/{}/approve", a.id)) {
                (guard_fields(csrf))
                label { input type="checkbox" name="make_rule" value="yes"; " and make it a rule: pay this kind of purchase from now on" }
                button type="submit" { "Approve and pay " (money(&offer.price)) }
            }
            @if let Some(counter) = &a.counter {
                form.inline.at-counter method="post" action=(format!("/me/approvals/{}/approve", a.id)) {
                    (guard_fields(csrf))
                    input type="hidden" name="at_counter" value="yes";
                    button type="submit" { "Approve at the counter-offer, " (money(counter)) }
                }
            }
            form.inline.decline method="post" action=(format!("/me/approvals/{}/decline", a.id)) {
                (guard_fields(csrf))
                button.secondary type="submit" { "Decline" }
            }
        }
    }
}

/// Metered sessions: what each seller charges by the minute, of what cap, and a close button for
/// the open ones.
fn sessions(sessions: &[SessionJson], csrf: &Csrf, notice: Option<&Notice>) -> Markup {
    html! {
        h3 { "Metered sessions" }
        (FormView::of("sessions", notice).error())
        ul #sessions {
            @for s in sessions.iter().take(SETTLED_SHOWN) {
                li id=(format!("session-{}", s.id)) {
                    strong { (money(&s.price_per_minute)) " a minute" } " for "
                    a href=(format!("/p/{}", s.payee)) { code { (s.payee) } }
                    ": charged " span.charged { (money(&s.charged)) } " of " (money(&s.cap)) ", "
                    strong.state { (s.state) }
                    @if let Some(reason) = &s.closed_reason { " (" (reason.replace('_', " ")) ")" }
                    @else { " until " (utc_time(&s.expires_at)) }
                    @if s.state == "open" {
                        form.inline method="post" action=(format!("/me/sessions/{}/close", s.id)) {
                            (guard_fields(csrf))
                            button.secondary type="submit" { "Close" }
                        }
                    }
                }
            }
        }
    }
}

fn rules_table(rules: &RulesJson, csrf: &Csrf) -> Markup {
    html! {
        table #rules {
            thead { tr { th { "Rule" } th { "Matches" } th { "Caps" } th { "Does" } th { "Spent and left" } th { "" } } }
            tbody {
                @for (index, rule) in rules.rules.iter().enumerate() {
                    tr {
                        td.name { (rule.rule.name) }
                        td { (matches(rule)) }
                        td { (caps(rule, &rules.currency)) }
                        td.action { (rule.rule.action) }
                        td.left { (left(rule, &rules.currency)) }
                        td {
                            form.inline method="post" action="/me/rules/remove" {
                                (guard_fields(csrf))
                                input type="hidden" name="index" value=(index);
                                input type="hidden" name="name" value=(rule.rule.name);
                                button.secondary type="submit" aria-label=(format!("Remove the rule {}", rule.rule.name)) { "Remove" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn matches(rule: &RuleJson) -> String {
    let m = &rule.rule.matches;
    let parts: Vec<String> = [
        ("categories", &m.categories),
        ("payees", &m.payees),
        ("items", &m.items),
    ]
    .into_iter()
    .filter_map(|(what, list)| list.as_ref().map(|l| format!("{what}: {}", l.join(", "))))
    .collect();
    match parts.is_empty() {
        true => "everything".to_owned(),
        false => parts.join("; "),
    }
}

fn caps(rule: &RuleJson, currency: &str) -> String {
    let r = &rule.rule;
    let mut parts = Vec::new();
    if let Some(max) = &r.max_per_payment {
        parts.push(format!("at most {} {currency} a payment", max.0));
    }
    if let Some(period) = &r.max_per_period {
        parts.push(format!(
            "{} {currency} per {}",
            period.amount.0,
            seconds(period.period_seconds)
        ));
    }
    if let Some(rate) = &r.max_rate {
        parts.push(format!(
            "a rate of {} {currency} per {}",
            rate.amount.0,
            seconds(rate.per_seconds)
        ));
    }
    match parts.is_empty() {
        true => "none".to_owned(),
        false => parts.join("; "),
    }
}

fn left(rule: &RuleJson, currency: &str) -> Markup {
    html! {
        @if let (Some(spent), Some(left)) = (&rule.spent, &rule.left) {
            "spent " (spent) ", left " (left) " " (currency)
            @if let Some(ends) = &rule.period_ends_at { " until " (utc_time(ends)) }
            br;
        }
        @if let Some(rate) = &rule.rate_left_now { "the rate lets " (rate) " " (currency) " through now" }
        @if rule.spent.is_none() && rule.rate_left_now.is_none() { "no cap counts" }
    }
}

fn seconds(n: i64) -> String {
    match n {
        60 => "minute".to_owned(),
        3_600 => "hour".to_owned(),
        86_400 => "day".to_owned(),
        604_800 => "week".to_owned(),
        2_592_000 => "30 days".to_owned(),
        n => format!("{n} s"),
    }
}

fn add_rule_form(csrf: &Csrf, notice: Option<&Notice>) -> Markup {
    let form = FormView::of("rule-add", notice);
    let periods = [
        ("3600", "an hour"),
        ("86400", "a day"),
        ("604800", "a week"),
        ("2592000", "30 days"),
    ];
    let rates = [("60", "a minute"), ("3600", "an hour"), ("86400", "a day")];
    html! {
        h3 { "Add a rule" }
        form.grid #rule-add method="post" action="/me/rules" {
            (form.error())
            (guard_fields(csrf))
            (form.field("name", "Name", "text", Some("such as archives")))
            div.field {
                label for="rule-add-action" { "Does" }
                select #rule-add-action name="action" {
                    option value="pay" { "pay, within its caps" }
                    option value="ask" { "ask me first" }
                    option value="refuse" { "refuse" }
                }
            }
            (form.field("categories", "Categories (comma-separated)", "text", None))
            (form.field("payees", "Payees: public codes (comma-separated)", "text", None))
            (form.field("items", "Items (comma-separated)", "text", None))
            (form.field("max_per_payment", "Most per payment", "text", Some("such as 0.05")))
            (form.field("period_amount", "Most per period", "text", None))
            (select("rule-add-period", "period_seconds", "Period", &periods, "86400"))
            (form.field("rate_amount", "Most at a rate of", "text", Some("such as 0.10")))
            (select("rule-add-rate", "rate_seconds", "Per", &rates, "60"))
            (select("rule-add-position", "position", "Put it", &[("last", "after the others"), ("first", "before the others")], "last"))
            button type="submit" { "Add the rule" }
        }
    }
}

fn select(id: &str, name: &str, label: &str, options: &[(&str, &str)], selected: &str) -> Markup {
    html! {
        div.field {
            label for=(id) { (label) }
            select id=(id) name=(name) {
                @for (value, text) in options { option value=(value) selected[*value == selected] { (text) } }
            }
        }
    }
}

//! The control center's card for the instruments on a code: its authorization codes (a form to
//! make one, the pending ones with a cancel button), its assurance codes (likewise, revoked) and
//! its numeric alias.

use maud::{html, Markup};

use super::{field, guard_fields, utc_time};
use crate::web::Csrf;
use crate::wire::{AssuranceJson, CodeJson};

pub(super) fn instruments(me: &CodeJson, assurances: &[AssuranceJson], csrf: &Csrf) -> Markup {
    html! {
        section.card #instruments {
            h2 { "Authorization codes" }
            p.small { "An all-digit code for one exact amount, for a seller's keypad: it pays once, and gives its value back when it expires or you cancel it." }
            form.grid #authorize method="post" action="/me/authorizations" {
                (guard_fields(csrf))
                (field("amount", "Amount", "text", Some("exactly what it will pay")))
                (field("payee", "Only for (public code)", "text", None))
                (field("expires_in_minutes", "Expires in (minutes)", "number", Some("15 unless you say; at most 1440")))
                button type="submit" { "Make an authorization code" }
            }
            @if !me.authorizations.is_empty() {
                ul #authorizations {
                    @for a in &me.authorizations {
                        li {
                            strong { (a.amount.amount) " " (a.amount.currency) }
                            @if let Some(payee) = &a.payee { " for " code { (payee) } }
                            " until " (utc_time(&a.expires_at)) " " small { code { (a.id) } }
                            form.inline method="post" action=(format!("/me/authorizations/{}/cancel", a.id)) {
                                (guard_fields(csrf))
                                button.secondary type="submit" { "Cancel" }
                            }
                        }
                    }
                }
            }
            h2 { "Assurance codes" }
            p.small { "A code you give a seller so the broker can certify that at least the floor remains: the seller delivers at once and is paid after. Each certificate sets the floor aside for that seller for five minutes." }
            form.grid #assure method="post" action="/me/assurances" {
                (guard_fields(csrf))
                (field("floor", "Floor", "text", Some("such as 5.00")))
                button type="submit" { "Make an assurance code" }
            }
            @if !assurances.is_empty() {
                ul #assurances {
                    @for a in assurances {
                        li {
                            strong { "floor " (a.floor.amount) " " (a.floor.currency) }
                            " " (a.status) " until " (utc_time(&a.expires_at)) " " small { code { (a.id) } }
                            @if a.status == "active" {
                                form.inline method="post" action=(format!("/me/assurances/{}/cancel", a.id)) {
                                    (guard_fields(csrf))
                                    button.secondary type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Numeric alias" }
            @match &me.alias {
                Some(alias) => p #alias { "This code has a numeric alias, made " (utc_time(&alias.created_at)) ". It works like the code; a new one replaces it." }
                None => p #alias { "An all-digit alias works like the code itself, for keyboards that cannot type letters." }
            }
            form.inline method="post" action="/me/alias" {
                (guard_fields(csrf))
                button type="submit" { (if me.alias.is_some() { "Make a new alias" } else { "Make an alias" }) }
            }
            @if me.alias.is_some() {
                form.inline method="post" action="/me/alias" {
                    (guard_fields(csrf))
                    input type="hidden" name="remove" value="yes";
                    button.secondary type="submit" { "Remove the alias" }
                }
            }
        }
    }
}

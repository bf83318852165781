//! The markup of the broker's own page (`/broker`): who runs it, the codes it issues, the key it
//! signs messages to other brokers with, and the peers it chose to show.

use maud::{html, Markup};
use smartcode_core::model::PeerRecord;

use super::layout;

/// What the page says of the broker itself.
pub struct BrokerFacts<'a> {
    pub name: &'a str,
    pub domain: &'a str,
    pub broker_number: &'a str,
    pub code_format: String,
    pub fingerprint: String,
}

pub fn broker_page(facts: &BrokerFacts<'_>, peers: &[PeerRecord]) -> Markup {
    layout(
        facts.name,
        html! {
            h1 #broker-name { (facts.name) }
            p.small { "A smartcode broker: it issues codes that hold money, and keeps their ledger." }
            section.card {
                dl {
                    dt { "Domain" } dd #broker-domain { (facts.domain) }
                    dt { "Broker number" } dd { (facts.broker_number) " (all-digit codes of this broker start with it)" }
                    dt { "Secret codes" } dd { (facts.code_format) }
                    dt { "Federation key" } dd { code #broker-fingerprint { (facts.fingerprint) } }
                }
                p.small { "Its metadata, for programs: " a href="/.well-known/smartcode" { "/.well-known/smartcode" } "." }
            }
            section.card #peers {
                h2 { "Brokers it pays and is paid by" }
                @if peers.is_empty() {
                    p { "This broker shows no other broker." }
                } @else {
                    p.small { "Codes of these brokers pay this broker's sellers, and this broker's codes pay theirs. Each key was pinned when the operator added the broker; compare a fingerprint with that broker's own page." }
                    ul {
                        @for peer in peers {
                            li.peer {
                                strong { (peer.title) } " · "
                                a href=(peer.url) rel="nofollow noopener noreferrer" { (peer.domain) }
                                br;
                                span.small { "broker number " (peer.broker_number) ", key " code { (peer.fingerprint()) } }
                            }
                        }
                    }
                }
            }
        },
    )
}

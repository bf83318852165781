//! The crate's unit tests: offers and their header ([`offers`]), the seller's strategy and the
//! negotiation endpoint ([`negotiation`]), the bounded memory and the receipt rules ([`book`]),
//! and receipts paid and checked at a real broker started in process ([`receipts`]).

mod book;
mod harness;
mod negotiation;
mod offers;
mod receipts;

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Router};
use smartcode_core::clock::{ManualClock, Timestamp};

use crate::{Amount, Floor, PaidReceipt, Paywall, PaywallBuilder, Price};

/// A public code of the default format, for tests that pay no one.
const PAYEE: &str = "P-4WZ8N-K3QJD";
/// Where the negotiating paywalls of these tests say they take bids.
const ENDPOINT: &str = "http://127.0.0.1:8090/negotiate";
/// 2026-12-03T12:00:00Z.
const START: Timestamp = Timestamp(1_796_299_200_000_000);

fn amount(text: &str) -> Amount {
    Amount::parse(text).expect("an amount")
}

fn usd(text: &str) -> Price {
    Price::parse(text, "USD").expect("a price")
}

/// A paywall at 0.02 USD, category `news`, paid at `broker` into `payee`.
fn builder(broker: &str, payee: &str) -> PaywallBuilder {
    Paywall::builder(broker, payee, usd("0.02")).category("news")
}

/// The same, negotiable over four rounds: floor 0.01, step 0.0025.
fn negotiable(builder: PaywallBuilder) -> PaywallBuilder {
    builder.negotiable(ENDPOINT, 4, Floor::new(amount("0.01"), amount("0.0025")))
}

/// A paywall that pays no real broker, on a manual clock.
fn offline(negotiates: bool) -> (Paywall, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(START));
    let mut builder = builder("http://127.0.0.1:9", PAYEE).clock(clock.clone());
    if negotiates {
        builder = negotiable(builder);
    }
    (builder.build().expect("a paywall"), clock)
}

/// A seller's service: `/` free, `/articles/{n}` behind the paywall (the handler says which
/// receipt paid), and the negotiation endpoint.
fn app(paywall: &Paywall) -> Router {
    let article = |Extension(paid): Extension<PaidReceipt>| async move {
        format!("the article at {}, paid by {}", paid.resource, paid.receipt_id)
    };
    Router::new()
        .route("/", get(|| async { "free" }))
        .route("/articles/{n}", get(article).layer(paywall.layer()))
        .route("/negotiate", paywall.negotiation_route())
}

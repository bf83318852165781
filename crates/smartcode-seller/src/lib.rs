//! The seller's side of zero-click buying: a tower layer for an axum service that answers the
//! routes it is put on with `402 Payment Required` and a smartcode offer, lets a request through
//! once it carries a receipt that pays that offer, and a negotiation endpoint that answers the
//! buyer's broker's bids.
//!
//! ```no_run
//! use axum::routing::get;
//! use axum::Router;
//! use smartcode_seller::{Amount, Floor, Paywall, Price};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let paywall = Paywall::builder("http://127.0.0.1:8080", "P-4WZ8N-K3QJD", Price::parse("0.02", "USD")?)
//!     .category("news")
//!     .describe(|path| format!("The article at {path}"))
//!     // Optional: bids go to this URL, four rounds at most, answered by a floor-and-step seller.
//!     .negotiable(
//!         "http://127.0.0.1:8090/negotiate",
//!         4,
//!         Floor::new(Amount::parse("0.01")?, Amount::parse("0.0025")?),
//!     )
//!     .build()?;
//! let app = Router::new()
//!     .route("/", get(|| async { "free: the list of articles" }))
//!     .route("/articles/7", get(|| async { "Article 7" }).layer(paywall.layer()))
//!     .route("/negotiate", paywall.negotiation_route());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8090").await?;
//! axum::serve(listener, app).await?;
//! # Ok(())
//! # }
//! ```
//!
//! **What a buyer sees.** A request without payment is answered `402` with the offer
//! ([`smartcode_api::OfferJson`]) as its JSON body and, base64url, in `Smartcode-Offer`: a fresh
//! id per answer, the seller's public code as payee, the price, unit `item`, the item (the path
//! without its leading `/`), the category, a description, the expiry and, if negotiable, the
//! endpoint and its rounds. The buyer's broker pays it with memo `offer:<id>` ([`offer_memo`]) and
//! the buyer sends the request again with `Smartcode-Payment: <receipt id>`. The layer reads that
//! receipt from the seller's broker (`GET /v1/receipts/{id}`), checks its Ed25519 signature with
//! the key of `/.well-known/smartcode` (unless [`PaywallBuilder::verify_signatures`] is off), and
//! lets the request through only if it pays this seller, in the price's currency, at least the
//! price (or a lower one the seller agreed to or countered with for that offer), for an offer
//! the seller issued for this same path; the handler then finds a [`PaidReceipt`] in the
//! request's extensions. Otherwise it answers `402` again with a fresh offer and a problem
//! (`application/problem+json`, `code: "payment_not_accepted"`, `reason`: a [`Refusal`] word). A
//! broker that cannot be asked is `503 broker_unavailable`: the request never goes through
//! unchecked. A receipt accepted once opens the same path again (a retry, a reload) and never
//! another path.
//!
//! **A resource is a request path**; the query is not part of it. One [`Paywall`] has one price;
//! a seller with several prices makes several paywalls.
//!
//! **Adding a strategy.** The negotiation's rules are the paywall's; what to answer to one bid is
//! the strategy's. Implement [`SellerStrategy`] (or pass a closure
//! `Fn(&BidContext) -> Decision`), and give it to [`PaywallBuilder::negotiable`]:
//!
//! ```
//! use smartcode_seller::{BidContext, Decision, SellerStrategy};
//!
//! /// Sells at the bid from the third round on, and holds the price before.
//! struct Patient;
//!
//! impl SellerStrategy for Patient {
//!     fn decide(&self, bid: &BidContext<'_>) -> Decision {
//!         if bid.round >= 3 { Decision::Accept } else { Decision::Counter(bid.ask) }
//!     }
//! }
//! ```
//!
//! It is told the offer, its list price, the lowest price offered so far (`ask`), the bid, and the
//! round as the seller counted it. Whatever it answers, the paywall never counters above `ask`,
//! takes a counter at or below the bid as accepting the bid, rejects bids past `max_rounds`,
//! and remembers every price accepted or countered as one a receipt may pay.
//!
//! **Bounds.** Offers remembered ([`OFFERS_KEPT_MAX`], each until
//! [`OFFER_KEPT_AFTER_EXPIRY_SECONDS`] after its expiry), receipts remembered
//! ([`RECEIPTS_KEPT_MAX`], [`RECEIPT_KEPT_SECONDS`]), every call to the broker
//! ([`BROKER_CALL_SECONDS`], [`BROKER_ANSWER_BYTES_MAX`]) and a bid's body
//! ([`BID_BODY_BYTES_MAX`]). Money is exact: amounts are [`Amount`]s in micro-units, never floating
//! point.
//!
//! **API boundary.** This crate knows the broker only over HTTP, through its public API; it
//! shares the broker's JSON shapes (`smartcode-api`), money and codes (`smartcode-core`) and
//! receipt check (`smartcode-receipt`), and nothing of its store or server.

mod book;
mod broker;
mod check;
mod config;
mod layer;
mod negotiation;
mod offer;
mod payment;
mod problem;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};

use smartcode_api::OfferJson;
use smartcode_core::clock::Clock;
use smartcode_core::code::PublicCode;

pub use book::{OFFERS_KEPT_MAX, OFFER_KEPT_AFTER_EXPIRY_SECONDS, RECEIPTS_KEPT_MAX, RECEIPT_KEPT_SECONDS};
pub use broker::{BrokerUnavailable, BROKER_ANSWER_BYTES_MAX, BROKER_CALL_SECONDS, BROKER_KEY_KEPT_SECONDS};
pub use check::{Refusal, CLOCK_SKEW_SECONDS, RECEIPT_ID_CHARS_MAX};
pub use config::{
    ConfigError, PaywallBuilder, Price, CATEGORY_CHARS_MAX, MAX_ROUNDS_MAX, OFFER_LIFETIME_SECONDS_DEFAULT,
    OFFER_LIFETIME_SECONDS_MAX,
};
pub use layer::{PaywallLayer, PaywallService};
pub use negotiation::{BidContext, Decision, Floor, SellerStrategy, BID_BODY_BYTES_MAX};
pub use offer::{item_of, offer_memo, ITEM_CHARS_MAX, MEMO_PREFIX, OFFER_DESCRIPTION_CHARS_MAX};
pub use payment::{PaidReceipt, PaymentError};
pub use problem::{BROKER_UNAVAILABLE, PAYMENT_NOT_ACCEPTED};
pub use smartcode_core::money::{Amount, Currency};

/// A seller's paywall: its configuration and memory, shared by its layers and its negotiation
/// endpoint. Cloning it is cheap and shares both.
#[derive(Clone)]
pub struct Paywall {
    shared: Arc<Shared>,
}

struct Shared {
    config: config::Config,
    book: Mutex<book::Book>,
    broker: broker::BrokerClient,
    clock: Arc<dyn Clock>,
}

impl Paywall {
    /// Starts a paywall paid at the broker at `broker` (its base URL) into the public code
    /// `payee`, at `price`; finish with [`PaywallBuilder::build`].
    pub fn builder(broker: impl Into<String>, payee: impl Into<String>, price: Price) -> PaywallBuilder {
        PaywallBuilder::new(broker.into(), payee.into(), price)
    }

    fn from_config(config: config::Config, clock: Arc<dyn Clock>) -> Result<Paywall, ConfigError> {
        let broker = broker::BrokerClient::new(config.broker.clone())?;
        Ok(Paywall {
            shared: Arc::new(Shared {
                config,
                book: Mutex::new(book::Book::new()),
                broker,
                clock,
            }),
        })
    }

    /// The layer to put on the routes that cost money.
    pub fn layer(&self) -> PaywallLayer {
        PaywallLayer { paywall: self.clone() }
    }

    /// Makes a fresh offer for `path` and remembers it: what a `402` carries.
    pub fn offer(&self, path: &str) -> OfferJson {
        let now = self.shared.clock.now();
        let (offer, issued) = offer::make(&self.shared.config, offer::new_offer_id(), path, now);
        let forgotten = self.shared.lock_book().issue(offer.id.clone(), issued, now);
        if forgotten > 0 {
            tracing::warn!(
                forgotten,
                bound = OFFERS_KEPT_MAX,
                "offers forgotten before their time: the bound is reached"
            );
        }
        offer
    }

    /// Whether the offers are negotiable (and so [`Paywall::negotiation_route`] should be mounted).
    pub fn negotiates(&self) -> bool {
        self.shared.config.negotiation.is_some()
    }

    /// The public code the offers name as payee.
    pub fn payee(&self) -> &PublicCode {
        &self.shared.config.payee
    }

    /// The list price of the offers.
    pub fn price(&self) -> Price {
        self.shared.config.price
    }

    /// The broker's base URL, as configured (without a trailing `/`).
    pub fn broker(&self) -> &str {
        &self.shared.config.broker
    }
}

impl Shared {
    /// The book is only ever held for a few map operations, never across an await; a panic while
    /// holding it leaves maps that are still whole, so a poisoned lock is taken over.
    fn lock_book(&self) -> MutexGuard<'_, book::Book> {
        self.book.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

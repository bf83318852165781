//! Receipts paid at a real broker (started in process, [`LiveBroker`]) and checked by the layer
//! over HTTP, signature included: a payment of the offer opens its resource and no other; a
//! payment to someone else, of too little, with another memo, refunded, or unknown does not; a
//! price agreed in a negotiation is enough; a broker that cannot be asked closes the resource.

use smartcode_api::OfferJson;

use super::harness::{get, LiveBroker};
use super::*;
use crate::offer_memo;

/// A broker with a seller (its secret code and public code) and a buyer holding 10 USD.
struct Market {
    broker: LiveBroker,
    seller: String,
    payee: String,
    buyer: String,
}

impl Market {
    async fn open() -> Market {
        let broker = LiveBroker::start().await;
        let seller = broker.issue("1", "USD").await;
        let payee = broker.public_code(&seller).await;
        let buyer = broker.issue("10", "USD").await;
        Market {
            broker,
            seller,
            payee,
            buyer,
        }
    }

    fn paywall(&self) -> Paywall {
        builder(&self.broker.base, &self.payee).build().expect("a paywall")
    }

    /// Reads the offer a request without payment is answered with.
    async fn offer(&self, app: &Router, path: &str) -> OfferJson {
        let answered = get(app, path, None).await;
        assert_eq!(answered.status, 402);
        serde_json::from_value(answered.body).expect("an offer")
    }

    /// Pays an offer as the buyer's broker does: its price, to its payee, memo `offer:<id>`.
    async fn pay(&self, offer: &OfferJson) -> String {
        let memo = offer_memo(&offer.id);
        self.broker
            .pay(&self.buyer, &offer.payee, &offer.price.amount, Some(&memo))
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_of_the_offer_opens_its_resource_and_no_other() {
    let market = Market::open().await;
    let paywall = market.paywall();
    let app = app(&paywall);
    let offer = market.offer(&app, "/articles/1").await;
    assert_eq!(offer.payee, market.payee);
    let receipt = market.pay(&offer).await;

    let answered = get(&app, "/articles/1", Some(&receipt)).await;
    assert_eq!(answered.status, 200, "{}", answered.text);
    assert!(paywall.shared.broker.knows_key(), "the receipt's signature was checked");
    assert_eq!(answered.text, format!("the article at /articles/1, paid by {receipt}"));
    let again = get(&app, "/articles/1", Some(&receipt)).await;
    assert_eq!(again.status, 200, "the same resource again: a retry or a reload");

    let elsewhere = get(&app, "/articles/2", Some(&receipt)).await;
    assert_eq!(elsewhere.status, 402);
    assert_eq!(elsewhere.body["code"], "payment_not_accepted");
    assert_eq!(elsewhere.reason(), "receipt_used");
    assert!(elsewhere.headers.contains_key("smartcode-offer"), "with a fresh offer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_for_one_resource_never_opens_another() {
    let market = Market::open().await;
    let app = app(&market.paywall());
    let offer = market.offer(&app, "/articles/1").await;
    let receipt = market.pay(&offer).await;
    let answered = get(&app, "/articles/2", Some(&receipt)).await;
    assert_eq!((answered.status.as_u16(), answered.reason()), (402, "other_resource"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_to_someone_else_of_too_little_or_with_another_memo_are_refused() {
    let market = Market::open().await;
    let other_payee = market.broker.public_code(&market.seller).await;
    let app = app(&market.paywall());
    let offer = market.offer(&app, "/articles/1").await;
    let memo = offer_memo(&offer.id);
    let pay = |payee: String, amount: &'static str, memo: Option<String>| {
        let market = &market;
        async move { market.broker.pay(&market.buyer, &payee, amount, memo.as_deref()).await }
    };
    let cases = [
        (
            pay(other_payee.clone(), "0.02", Some(memo.clone())).await,
            "wrong_payee",
        ),
        (
            pay(market.payee.clone(), "0.019999", Some(memo.clone())).await,
            "amount_too_low",
        ),
        (
            pay(market.payee.clone(), "0.02", Some("offer:of_0".into())).await,
            "unknown_offer",
        ),
        (
            pay(market.payee.clone(), "0.02", Some("article 1".into())).await,
            "no_offer",
        ),
        (pay(market.payee.clone(), "0.02", None).await, "no_offer"),
        ("r_01jd5v3qz8000000000000000a".to_owned(), "receipt_not_found"),
    ];
    for (receipt, reason) in cases {
        let answered = get(&app, "/articles/1", Some(&receipt)).await;
        assert_eq!(answered.status, 402, "{reason}: {}", answered.text);
        assert_eq!(answered.headers["content-type"], "application/problem+json");
        assert_eq!(answered.reason(), reason, "{}", answered.text);
    }
    // The offer itself is still good, for the right payment.
    let receipt = market.pay(&offer).await;
    assert_eq!(get(&app, "/articles/1", Some(&receipt)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refunded_payment_no_longer_opens_the_resource() {
    let market = Market::open().await;
    let app = app(&market.paywall());
    let offer = market.offer(&app, "/articles/1").await;
    let receipt = market.pay(&offer).await;
    market.broker.refund(&market.seller, &receipt, "0.01").await;
    let answered = get(&app, "/articles/1", Some(&receipt)).await;
    assert_eq!((answered.status.as_u16(), answered.reason()), (402, "amount_too_low"));
    assert!(
        answered.body["detail"].as_str().unwrap().contains("0.01"),
        "{}",
        answered.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_agreed_in_a_negotiation_is_enough_for_that_offer_alone() {
    let market = Market::open().await;
    let paywall = negotiable(builder(&market.broker.base, &market.payee)).build().unwrap();
    let app = app(&paywall);
    let offer = market.offer(&app, "/articles/1").await;
    let bid = smartcode_api::BidJson {
        offer_id: offer.id.clone(),
        round: 1,
        bid: smartcode_api::Money {
            amount: "0.018".into(),
            currency: "USD".into(),
        },
    };
    assert!(paywall.answer_bid(&bid).accept);
    let memo = offer_memo(&offer.id);
    let receipt = market
        .broker
        .pay(&market.buyer, &market.payee, "0.018", Some(&memo))
        .await;
    let answered = get(&app, "/articles/1", Some(&receipt)).await;
    assert_eq!(answered.status, 200, "{}", answered.text);

    let other = market.offer(&app, "/articles/1").await;
    let memo = offer_memo(&other.id);
    let receipt = market
        .broker
        .pay(&market.buyer, &market.payee, "0.018", Some(&memo))
        .await;
    let answered = get(&app, "/articles/1", Some(&receipt)).await;
    assert_eq!((answered.status.as_u16(), answered.reason()), (402, "amount_too_low"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_cannot_be_asked_closes_the_resource() {
    let market = Market::open().await;
    let app_here = app(&market.paywall());
    let offer = market.offer(&app_here, "/articles/1").await;
    let receipt = market.pay(&offer).await;
    // A paywall whose broker is gone: port 9 (discard) on loopback takes no connection.
    let gone = builder("http://127.0.0.1:9", &market.payee).build().unwrap();
    let answered = get(&app(&gone), "/articles/1", Some(&receipt)).await;
    assert_eq!(answered.status, 503);
    assert_eq!(answered.headers["content-type"], "application/problem+json");
    assert_eq!(answered.body["code"], "broker_unavailable");
    assert!(answered.headers.contains_key("retry-after"));
}

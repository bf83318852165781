//! Offers: what a `402` carries in its body and its header, the item a path sells, and the
//! configurations refused.

use std::time::Duration;

use smartcode_api::{Money, NegotiableJson, OfferJson};

use super::harness::get;
use super::*;
use crate::{item_of, offer_memo, ConfigError};

#[test]
fn an_offer_names_the_seller_the_price_the_item_and_when_it_expires() {
    let (paywall, _) = offline(true);
    let offer = paywall.offer("/articles/7");
    assert!(offer.id.starts_with("of_") && offer.id.len() == 35, "id {}", offer.id);
    let expected = OfferJson {
        id: offer.id.clone(),
        payee: PAYEE.into(),
        price: Money {
            amount: "0.02".into(),
            currency: "USD".into(),
        },
        unit: "item".into(),
        item: Some("articles/7".into()),
        category: Some("news".into()),
        description: "Access to /articles/7".into(),
        negotiable: Some(NegotiableJson {
            endpoint: ENDPOINT.into(),
            max_rounds: 4,
        }),
        // Five minutes after START, in whole seconds.
        expires_at: "2026-12-03T12:05:00Z".into(),
    };
    assert_eq!(offer, expected);
}

#[test]
fn every_offer_has_an_id_of_its_own() {
    let (paywall, _) = offline(false);
    let ids: std::collections::BTreeSet<String> = (0..100).map(|_| paywall.offer("/a").id).collect();
    assert_eq!(ids.len(), 100);
}

#[test]
fn a_seller_sets_the_description_and_the_lifetime_and_may_not_negotiate() {
    let paywall = builder("http://127.0.0.1:9", "p-4wz8n-k3qjd")
        .describe(|path| format!("{path}\n, described"))
        .offer_lifetime(Duration::from_secs(90))
        .clock(Arc::new(ManualClock::new(START)))
        .build()
        .expect("a paywall");
    let offer = paywall.offer("/x");
    assert_eq!(offer.payee, PAYEE, "the payee is shown as the broker shows it");
    assert_eq!(offer.description, "/x, described", "control characters dropped");
    assert_eq!(offer.expires_at, "2026-12-03T12:01:30Z");
    assert_eq!(offer.negotiable, None);
}

#[tokio::test]
async fn a_402_carries_the_offer_in_its_body_and_in_its_header() {
    let (paywall, _) = offline(true);
    let answered = get(&app(&paywall), "/articles/3?page=2", None).await;
    assert_eq!(answered.status, 402);
    assert_eq!(answered.headers["content-type"], "application/json");
    assert_eq!(answered.headers["cache-control"], "no-store");
    let header = answered.headers["smartcode-offer"].to_str().expect("ASCII");
    let from_header = OfferJson::from_header(header).expect("the header is an offer");
    let from_body: OfferJson = serde_json::from_value(answered.body).expect("the body is an offer");
    assert_eq!(from_header, from_body);
    assert_eq!(
        from_body.item.as_deref(),
        Some("articles/3"),
        "the query is not part of the item"
    );
}

#[tokio::test]
async fn free_routes_are_not_behind_the_paywall() {
    let (paywall, _) = offline(false);
    let answered = get(&app(&paywall), "/", None).await;
    assert_eq!(answered.status, 200);
    assert_eq!(answered.text, "free");
}

#[tokio::test]
async fn a_payment_that_is_not_a_receipt_id_is_refused_without_asking_the_broker() {
    let (paywall, _) = offline(false);
    for header in ["", "r_1/../../admin", "r 1", &"r".repeat(101)] {
        let answered = get(&app(&paywall), "/articles/1", Some(header)).await;
        assert_eq!(answered.status, 402, "{header:?}");
        assert_eq!(answered.headers["content-type"], "application/problem+json");
        assert_eq!(answered.body["code"], "payment_not_accepted");
        assert_eq!(answered.reason(), "malformed_payment");
        for field in ["type", "title", "status", "detail"] {
            assert!(!answered.body[field].is_null(), "problem lacks {field}");
        }
        let fresh = OfferJson::from_header(answered.headers["smartcode-offer"].to_str().unwrap()).unwrap();
        assert_eq!(
            answered.body["offer"]["id"],
            fresh.id.as_str(),
            "the fresh offer is in both"
        );
    }
}

#[test]
fn an_item_is_the_path_without_its_slash_cut_to_the_brokers_bound() {
    assert_eq!(item_of("/articles/7"), "articles/7");
    assert_eq!(item_of("/"), "index");
    assert_eq!(item_of("/a\u{7}b"), "ab");
    let long = format!("/{}", "é".repeat(150));
    assert_eq!(item_of(&long).chars().count(), crate::ITEM_CHARS_MAX);
}

#[test]
fn a_payment_names_its_offer_in_its_memo() {
    assert_eq!(offer_memo("of_1"), "offer:of_1");
}

#[test]
fn configurations_that_cannot_work_are_refused() {
    let refused = |builder: PaywallBuilder| builder.build().err().expect("refused");
    let good = || builder("http://127.0.0.1:8080", PAYEE);
    assert_eq!(refused(builder("ftp://broker", PAYEE)), ConfigError::BrokerUrl);
    assert_eq!(refused(builder("http://b.example/?x=1", PAYEE)), ConfigError::BrokerUrl);
    assert_eq!(refused(builder("http://b.example", "7KQ2-M9XD")), ConfigError::Payee);
    assert_eq!(refused(good().category("")), ConfigError::Category);
    assert_eq!(refused(good().category("a".repeat(101))), ConfigError::Category);
    assert_eq!(
        refused(good().offer_lifetime(Duration::ZERO)),
        ConfigError::OfferLifetime
    );
    assert_eq!(
        refused(good().offer_lifetime(Duration::from_secs(86_401))),
        ConfigError::OfferLifetime
    );
    let floor = Floor::new(amount("0.01"), amount("0.01"));
    assert_eq!(
        refused(good().negotiable("/negotiate", 4, floor)),
        ConfigError::Endpoint
    );
    assert_eq!(refused(good().negotiable(ENDPOINT, 0, floor)), ConfigError::MaxRounds);
    assert_eq!(refused(good().negotiable(ENDPOINT, 11, floor)), ConfigError::MaxRounds);
    assert!(matches!(Price::parse("0.0000001", "USD"), Err(ConfigError::Amount(_))));
    assert_eq!(Price::parse("1", "US"), Err(ConfigError::Currency));
    assert_eq!(good().build().expect("a paywall").broker(), "http://127.0.0.1:8080");
}

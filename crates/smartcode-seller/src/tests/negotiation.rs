//! The seller's strategy and the negotiation's rules: a floor and a step, rounds counted by the
//! seller, retries answered alike, unknown and expired offers rejected, an agreed price kept.

use axum::body::Body;
use http::Request;
use smartcode_api::{BidAnswerJson, BidJson, Money};

use super::harness::send;
use super::*;
use crate::{BidContext, Decision, SellerStrategy};

fn bid(offer_id: &str, round: u32, amount: &str) -> BidJson {
    BidJson {
        offer_id: offer_id.into(),
        round,
        bid: Money {
            amount: amount.into(),
            currency: "USD".into(),
        },
    }
}

fn money(amount: &str) -> Money {
    Money {
        amount: amount.into(),
        currency: "USD".into(),
    }
}

fn accept(amount: &str) -> BidAnswerJson {
    BidAnswerJson::accept(money(amount))
}

fn counter(amount: &str) -> BidAnswerJson {
    BidAnswerJson::counter(money(amount))
}

/// The lowest price the paywall would be paid for an offer now.
fn price_min(paywall: &Paywall, offer_id: &str) -> String {
    let book = paywall.shared.lock_book();
    let offer = book.offers.get(offer_id, START).expect("the offer is remembered");
    offer.price_min().to_string()
}

#[test]
fn the_floor_lowers_its_counter_a_step_a_round_and_takes_the_floor_in_the_last() {
    let (paywall, _) = offline(true);
    let offer = paywall.offer("/articles/1");
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 1, "0.006")), counter("0.0175"));
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 2, "0.008")), counter("0.015"));
    assert_eq!(
        price_min(&paywall, &offer.id),
        "0.015",
        "a counter is a price the seller stands by"
    );
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 3, "0.009")), counter("0.0125"));
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 4, "0.011")), accept("0.011"));
    assert_eq!(price_min(&paywall, &offer.id), "0.011");
}

#[test]
fn a_bid_at_or_above_the_ask_or_the_rounds_counter_is_accepted_at_the_bid() {
    let (paywall, _) = offline(true);
    let first = paywall.offer("/articles/1");
    assert_eq!(paywall.answer_bid(&bid(&first.id, 1, "0.02")), accept("0.02"));
    let second = paywall.offer("/articles/1");
    assert_eq!(paywall.answer_bid(&bid(&second.id, 1, "0.018")), accept("0.018"));
    let third = paywall.offer("/articles/1");
    assert_eq!(paywall.answer_bid(&bid(&third.id, 1, "0.017")), counter("0.0175"));
}

#[test]
fn the_counter_never_falls_below_the_floor() {
    let floor = Floor::new(amount("0.01"), amount("0.0025"));
    for round in 0..20 {
        assert!(floor.counter_in_round(amount("0.02"), round) >= amount("0.01"));
    }
    assert_eq!(floor.counter_in_round(amount("0.02"), 9), amount("0.01"));
}

#[test]
fn a_bid_far_below_the_floor_is_rejected_and_the_offer_keeps_its_price() {
    let (paywall, _) = offline(true);
    let offer = paywall.offer("/articles/1");
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 1, "0.004")), BidAnswerJson::reject());
    assert_eq!(price_min(&paywall, &offer.id), "0.02");
    // Half the floor is not yet insulting.
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 2, "0.005")), counter("0.015"));
}

#[test]
fn rounds_are_the_sellers_count_and_none_comes_after_the_last() {
    let (paywall, _) = offline(true);
    let offer = paywall.offer("/articles/1");
    // A buyer that claims a late round gets the first round's counter, and so on.
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 4, "0.006")), counter("0.0175"));
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 5, "0.006")), counter("0.015"));
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 6, "0.006")), counter("0.0125"));
    assert_eq!(
        paywall.answer_bid(&bid(&offer.id, 7, "0.006")),
        counter("0.01"),
        "the last round's counter: the floor"
    );
    assert_eq!(
        paywall.answer_bid(&bid(&offer.id, 8, "0.02")),
        BidAnswerJson::reject(),
        "past max_rounds"
    );
    assert_eq!(price_min(&paywall, &offer.id), "0.01", "the last counter still stands");
}

#[test]
fn a_retried_bid_gets_the_same_answer_and_costs_no_round() {
    let (paywall, _) = offline(true);
    let offer = paywall.offer("/articles/1");
    for _ in 0..5 {
        assert_eq!(paywall.answer_bid(&bid(&offer.id, 1, "0.006")), counter("0.0175"));
    }
    assert_eq!(
        paywall.answer_bid(&bid(&offer.id, 2, "0.006")),
        counter("0.015"),
        "round 2"
    );
}

#[test]
fn an_agreed_price_closes_the_negotiation() {
    let (paywall, _) = offline(true);
    let offer = paywall.offer("/articles/1");
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 1, "0.019")), accept("0.019"));
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 2, "0.02")), accept("0.019"));
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 3, "0.012")), BidAnswerJson::reject());
    assert_eq!(price_min(&paywall, &offer.id), "0.019");
}

#[test]
fn unknown_expired_and_foreign_bids_are_rejected() {
    let (paywall, clock) = offline(true);
    let offer = paywall.offer("/articles/1");
    assert_eq!(
        paywall.answer_bid(&bid("of_unknown", 1, "0.02")),
        BidAnswerJson::reject()
    );
    let mut euros = bid(&offer.id, 1, "0.02");
    euros.bid.currency = "EUR".into();
    assert_eq!(paywall.answer_bid(&euros), BidAnswerJson::reject());
    assert_eq!(
        paywall.answer_bid(&bid(&offer.id, 1, "0.0000001")),
        BidAnswerJson::reject()
    );
    clock.advance_seconds(301);
    assert_eq!(
        paywall.answer_bid(&bid(&offer.id, 1, "0.02")),
        BidAnswerJson::reject(),
        "expired"
    );
    let (plain, _) = offline(false);
    let offer = plain.offer("/articles/1");
    assert_eq!(
        plain.answer_bid(&bid(&offer.id, 1, "0.02")),
        BidAnswerJson::reject(),
        "not negotiable"
    );
}

#[test]
fn the_paywall_keeps_its_rules_whatever_the_strategy_answers() {
    // Counters above the list price, and at the bid.
    let greedy = |bid: &BidContext<'_>| {
        if bid.round == 1 {
            Decision::Counter(Amount::parse("5").unwrap())
        } else {
            Decision::Counter(bid.bid)
        }
    };
    let paywall = builder("http://127.0.0.1:9", PAYEE)
        .negotiable(ENDPOINT, 3, greedy)
        .clock(Arc::new(ManualClock::new(START)))
        .build()
        .unwrap();
    let offer = paywall.offer("/articles/1");
    assert_eq!(
        paywall.answer_bid(&bid(&offer.id, 1, "0.01")),
        counter("0.02"),
        "never above the ask"
    );
    assert_eq!(
        paywall.answer_bid(&bid(&offer.id, 2, "0.012")),
        accept("0.012"),
        "a counter at the bid accepts it"
    );
}

#[test]
fn a_seller_may_bring_its_own_strategy() {
    struct Patient;
    impl SellerStrategy for Patient {
        fn decide(&self, bid: &BidContext<'_>) -> Decision {
            if bid.round >= 3 {
                Decision::Accept
            } else {
                Decision::Counter(bid.ask)
            }
        }
    }
    let paywall = builder("http://127.0.0.1:9", PAYEE)
        .negotiable(ENDPOINT, 3, Patient)
        .clock(Arc::new(ManualClock::new(START)))
        .build()
        .unwrap();
    let offer = paywall.offer("/articles/1");
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 1, "0.01")), counter("0.02"));
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 2, "0.01")), counter("0.02"));
    assert_eq!(paywall.answer_bid(&bid(&offer.id, 3, "0.01")), accept("0.01"));
}

#[tokio::test]
async fn the_endpoint_answers_bids_as_json_and_refuses_what_is_no_bid() {
    let (paywall, _) = offline(true);
    let offer = paywall.offer("/articles/1");
    let post = |body: String| {
        Request::post("/negotiate")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let body = serde_json::to_string(&bid(&offer.id, 1, "0.006")).unwrap();
    let answered = send(&app(&paywall), post(body)).await;
    assert_eq!(answered.status, 200);
    assert_eq!(answered.text, r#"{"counter":{"amount":"0.0175","currency":"USD"}}"#);
    let answered = send(&app(&paywall), post(r#"{"offer_id": 7}"#.into())).await;
    assert_eq!(answered.status, 400);
    assert_eq!(answered.headers["content-type"], "application/problem+json");
    assert_eq!(answered.body["code"], "invalid_request");
    let answered = send(&app(&paywall), post("x".repeat(crate::BID_BODY_BYTES_MAX + 1))).await;
    assert_eq!(answered.status, 413, "a body over the bound is not read");
}

//! The seller's bounded memory (its bound, expiry and oldest-first forgetting) and the rules a
//! receipt is judged by, apart from any broker.

use smartcode_api::{Money, ReceiptJson};

use super::*;
use crate::book::{BoundedMap, Haggle, IssuedOffer};
use crate::check::{judge, Expected, Refusal};
use crate::config::public_code;

#[test]
fn a_full_map_forgets_its_oldest_entry_first() {
    let mut map = BoundedMap::new(3);
    let later = START.plus_seconds(60).unwrap();
    for n in 0..3 {
        assert_eq!(map.insert(format!("k{n}"), n, later, START), 0);
    }
    assert_eq!(
        map.insert("k3".into(), 3, later, START),
        1,
        "one forgotten before its time"
    );
    assert_eq!(map.len(), 3);
    assert_eq!(map.get("k0", START), None);
    assert_eq!(map.get("k1", START), Some(&1));
    assert_eq!(map.get("k3", START), Some(&3));
}

#[test]
fn an_entry_is_kept_until_its_time_and_then_makes_room() {
    let mut map = BoundedMap::new(2);
    let soon = START.plus_seconds(10).unwrap();
    map.insert("a".into(), 1, soon, START);
    map.insert("b".into(), 2, soon, START);
    assert_eq!(map.get("a", soon), Some(&1), "kept through its last instant");
    let after = START.plus_seconds(11).unwrap();
    assert_eq!(map.get("a", after), None);
    let much_later = after.plus_seconds(60).unwrap();
    assert_eq!(
        map.insert("c".into(), 3, much_later, after),
        0,
        "expired entries go first, silently"
    );
    assert_eq!(map.len(), 1);
}

#[test]
fn a_key_put_in_again_keeps_its_newer_value_and_place() {
    let mut map = BoundedMap::new(2);
    let later = START.plus_seconds(60).unwrap();
    map.insert("a".into(), 1, later, START);
    map.insert("a".into(), 2, later, START);
    map.insert("b".into(), 3, later, START);
    assert_eq!(map.len(), 2, "the bound counts keys, not insertions");
    assert_eq!(map.insert("c".into(), 4, later, START), 1);
    assert_eq!(map.get("a", START), None, "a's newer place was still older than b's");
    assert_eq!(map.get("b", START), Some(&3));
}

#[test]
fn the_paywall_remembers_offers_kept_max_offers_and_forgets_the_oldest() {
    let (paywall, _) = offline(true);
    let first = paywall.offer("/articles/1");
    for _ in 1..crate::OFFERS_KEPT_MAX {
        paywall.offer("/articles/2");
    }
    let bid = |offer_id: &str| smartcode_api::BidJson {
        offer_id: offer_id.into(),
        round: 1,
        bid: Money {
            amount: "0.02".into(),
            currency: "USD".into(),
        },
    };
    assert!(
        paywall.answer_bid(&bid(&first.id)).accept,
        "still remembered at the bound"
    );
    let second = paywall.offer("/articles/3");
    assert_eq!(paywall.shared.lock_book().offers.len(), crate::OFFERS_KEPT_MAX);
    assert!(paywall.answer_bid(&bid(&second.id)).accept);
    assert!(paywall.answer_bid(&bid(&first.id)).reject, "the oldest was forgotten");
}

fn issued(resource: &str, ask: &str) -> IssuedOffer {
    let mut haggle = Haggle::new(amount("0.02"));
    haggle.ask = amount(ask);
    IssuedOffer {
        resource: resource.into(),
        item: item_of_resource(resource),
        list_price: amount("0.02"),
        expires_at: START,
        haggle,
    }
}

fn item_of_resource(resource: &str) -> String {
    crate::item_of(resource)
}

fn receipt(payee: &str, amount: &str, currency: &str, memo: Option<&str>, created_at: &str) -> ReceiptJson {
    ReceiptJson {
        id: "r_1".into(),
        payer_id: "pp_1".into(),
        payee: payee.into(),
        payee_id: "c_1".into(),
        amount: Money {
            amount: amount.into(),
            currency: currency.into(),
        },
        memo: memo.map(str::to_owned),
        category: Some("news".into()),
        item: None,
        created_at: created_at.into(),
        broker: "localhost".into(),
        version: Some("smartcode-receipt-v2".into()),
        signature: String::new(),
        batch: None,
        approval: None,
    }
}

#[test]
fn a_receipt_pays_only_this_seller_in_its_currency_its_price_for_its_resource_in_time() {
    let payee = public_code(PAYEE).unwrap();
    let expected = Expected {
        payee: &payee,
        currency: smartcode_core::money::Currency::parse("USD").unwrap(),
        resource: "/articles/1",
    };
    let offer = issued("/articles/1", "0.015");
    let in_time = "2026-12-03T12:00:59Z";
    let memo = Some("offer:of_1");
    let judged =
        |receipt: &ReceiptJson, refunded: i64, offer: Option<&IssuedOffer>| judge(receipt, refunded, &expected, offer);
    let good = receipt(PAYEE, "0.015", "USD", memo, in_time);
    assert_eq!(judged(&good, 0, Some(&offer)), Ok(15_000));
    let typed_otherwise = receipt("p4wz8nk3qjd", "0.02", "USD", memo, in_time);
    assert_eq!(judged(&typed_otherwise, 0, Some(&offer)), Ok(20_000));
    let cases = [
        (
            receipt("P-0000A-0000B", "0.02", "USD", memo, in_time),
            0,
            Refusal::WrongPayee,
        ),
        (receipt(PAYEE, "0.02", "EUR", memo, in_time), 0, Refusal::WrongCurrency),
        (receipt(PAYEE, "0.02", "USD", None, in_time), 0, Refusal::NoOffer),
        (
            receipt(PAYEE, "0.02", "USD", Some("a song"), in_time),
            0,
            Refusal::NoOffer,
        ),
        (
            receipt(PAYEE, "0.02", "USD", Some("offer:"), in_time),
            0,
            Refusal::NoOffer,
        ),
        (
            receipt(PAYEE, "0.02", "USD", memo, "2026-12-03T12:01:01Z"),
            0,
            Refusal::PaidAfterExpiry,
        ),
        (
            receipt(PAYEE, "0.02", "USD", memo, "not a time"),
            0,
            Refusal::PaidAfterExpiry,
        ),
    ];
    for (receipt, refunded, refusal) in cases {
        assert_eq!(judged(&receipt, refunded, Some(&offer)), Err(refusal), "{receipt:?}");
    }
    let too_low = Refusal::AmountTooLow {
        paid_units: 14_999,
        price: amount("0.015"),
    };
    assert_eq!(
        judged(&receipt(PAYEE, "0.014999", "USD", memo, in_time), 0, Some(&offer)),
        Err(too_low.clone())
    );
    assert_eq!(
        judged(&receipt(PAYEE, "0.02", "USD", memo, in_time), 5_001, Some(&offer)),
        Err(too_low)
    );
    assert_eq!(judged(&good, 0, None), Err(Refusal::UnknownOffer));
    let elsewhere = issued("/articles/2", "0.02");
    assert_eq!(judged(&good, 0, Some(&elsewhere)), Err(Refusal::OtherResource));
}

//! Holds (issue 14): a seller sets value aside on a buyer's code and captures part or all of it
//! later, or voids it; at its expiry it voids by itself, and its value is available at once, before
//! any sweep. Through the real server on both stores (these tests run again on PostgreSQL), and
//! the CLI; every test ends with the ledger check.

use serde_json::{json, Value};

use crate::cli::Cli;
use crate::harness::{Auth, Reply, TestBroker};

/// A buyer with 10 USD, a seller and its shop.
struct Shop {
    buyer: String,
    seller: String,
    shop: String,
}

async fn shop(broker: &TestBroker) -> Shop {
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    Shop { buyer, seller, shop }
}

async fn hold(broker: &TestBroker, code: &str, payee: &str, amount: &str, extra: Value) -> Reply {
    let mut body = json!({ "code": code, "payee": payee, "amount": amount });
    for (field, value) in extra.as_object().unwrap() {
        body[field] = value.clone();
    }
    broker.post("/v1/holds", Auth::None, body).await
}

async fn me(broker: &TestBroker, code: &str) -> Value {
    broker.get("/v1/me", Auth::Code(code)).await.expect(200).body
}

fn id_of(reply: &Reply) -> String {
    reply.body["hold"]["id"].as_str().unwrap().to_owned()
}

async fn capture(broker: &TestBroker, seller: &str, id: &str, body: Value) -> Reply {
    broker
        .post(&format!("/v1/holds/{id}/capture"), Auth::Code(seller), body)
        .await
}

async fn void(broker: &TestBroker, seller: &str, id: &str) -> Reply {
    broker
        .post(&format!("/v1/holds/{id}/void"), Auth::Code(seller), json!({}))
        .await
}

pub(crate) async fn advance(broker: &TestBroker, seconds: i64) {
    broker
        .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": seconds }))
        .await
        .expect(200);
}

#[tokio::test]
async fn a_hold_sets_value_aside_and_a_capture_pays_part_of_it_once() {
    let broker = TestBroker::start().await;
    let s = shop(&broker).await;
    let held = hold(&broker, &s.buyer, &s.shop, "4", json!({ "memo": "order 7" }))
        .await
        .expect(201);
    let id = id_of(&held);
    assert_eq!(held.body["hold"]["status"], "pending");
    assert!(
        held.body["hold"]["payer_id"].as_str().unwrap().starts_with("pp_"),
        "the seller sees a pseudonym"
    );

    // The buyer's balance stays; what is available falls, and the hold is listed with its seller.
    let buyer = me(&broker, &s.buyer).await;
    assert_eq!(buyer["balance"]["amount"], "10.00");
    assert_eq!(buyer["available"]["amount"], "6.00");
    assert_eq!(buyer["holds"][0]["id"], id.as_str());
    assert_eq!(buyer["holds"][0]["payee"], s.shop.as_str());
    // What is held cannot be spent: a payment of more than what is available is refused.
    broker
        .pay(&s.buyer, &s.shop, "6.5")
        .await
        .refused(402, "insufficient_funds");
    let read = broker
        .get(&format!("/v1/holds/{id}"), Auth::Code(&s.buyer))
        .await
        .expect(200);
    let buyer_id = buyer["id"].as_str().unwrap();
    assert_eq!(read.body["hold"]["payer_id"], buyer_id, "the buyer sees its own id");

    // Only the seller captures; more than the hold is refused; a part is a payment, once.
    capture(&broker, &s.buyer, &id, json!({}))
        .await
        .refused(404, "not_found");
    capture(&broker, &s.seller, &id, json!({ "amount": "4.01" }))
        .await
        .refused(409, "amount_mismatch");
    let captured = capture(&broker, &s.seller, &id, json!({ "amount": "2.5" }))
        .await
        .expect(201);
    let receipt = &captured.body["receipt"];
    assert_eq!(receipt["amount"]["amount"], "2.50");
    assert_eq!(receipt["memo"], "order 7");
    let verified = broker
        .get(&format!("/v1/receipts/{}", receipt["id"].as_str().unwrap()), Auth::None)
        .await;
    assert_eq!(verified.expect(200).body["receipt"]["id"], receipt["id"]);
    capture(&broker, &s.seller, &id, json!({}))
        .await
        .refused(409, "hold_not_pending");
    void(&broker, &s.seller, &id).await.refused(409, "hold_not_pending");
    let buyer = me(&broker, &s.buyer).await;
    assert_eq!(
        (
            buyer["balance"]["amount"].as_str(),
            buyer["available"]["amount"].as_str()
        ),
        (Some("7.50"), Some("7.50")),
        "the rest of the hold is released"
    );
    assert!(buyer.get("holds").is_none());
    assert_eq!(broker.balance(&s.seller).await, "3.50");
    let read = broker
        .get(&format!("/v1/holds/{id}"), Auth::Code(&s.seller))
        .await
        .expect(200);
    assert_eq!(read.body["hold"]["status"], "captured");
    assert_eq!(read.body["hold"]["captured"]["amount"], "2.50");
    assert_eq!(read.body["hold"]["receipt_id"], receipt["id"]);

    // A void gives all of a hold back; the same capture sent twice with one key captures once.
    let second = id_of(&hold(&broker, &s.buyer, &s.shop, "1", json!({})).await.expect(201));
    let voided = void(&broker, &s.seller, &second).await.expect(200);
    assert_eq!(voided.body["hold"]["status"], "voided");
    let third = id_of(&hold(&broker, &s.buyer, &s.shop, "1", json!({})).await.expect(201));
    let path = format!("/v1/holds/{third}/capture");
    let mut receipts = Vec::new();
    for _ in 0..2 {
        let sent = broker
            .call_with(
                reqwest::Method::POST,
                &path,
                Auth::Code(&s.seller),
                Some(json!({})),
                &[("Idempotency-Key", "cap-1")],
            )
            .await
            .expect(201);
        receipts.push(sent.body["receipt"]["id"].clone());
    }
    assert_eq!(receipts[0], receipts[1], "a retried capture answers the same receipt");
    assert_eq!(broker.balance(&s.buyer).await, "6.50");
    assert_eq!(broker.balance(&s.seller).await, "4.50");

    // Bad input, each refused with its word and nothing held.
    hold(&broker, &s.buyer, &s.shop, "7", json!({}))
        .await
        .refused(402, "insufficient_funds");
    hold(&broker, &s.buyer, &s.shop, "1", json!({ "expires_in_seconds": 0 }))
        .await
        .refused(400, "invalid_request");
    hold(
        &broker,
        &s.buyer,
        &s.shop,
        "1",
        json!({ "expires_in_seconds": 2_592_001 }),
    )
    .await
    .refused(400, "invalid_request");
    capture(&broker, &s.seller, "h_nosuchhold00000", json!({}))
        .await
        .refused(404, "not_found");
    assert_eq!(me(&broker, &s.buyer).await["available"]["amount"], "6.50");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn an_expired_hold_gives_its_value_back_at_once_and_cannot_be_captured() {
    let broker = TestBroker::start().await;
    let s = shop(&broker).await;
    let id = id_of(
        &hold(&broker, &s.buyer, &s.shop, "9", json!({ "expires_in_seconds": 60 }))
            .await
            .expect(201),
    );
    broker
        .pay(&s.buyer, &s.shop, "2")
        .await
        .refused(402, "insufficient_funds");
    advance(&broker, 61).await;
    // Before any sweep: available again, spendable, and no longer capturable.
    assert_eq!(me(&broker, &s.buyer).await["available"]["amount"], "10.00");
    capture(&broker, &s.seller, &id, json!({}))
        .await
        .refused(409, "hold_not_pending");
    broker.pay(&s.buyer, &s.shop, "10").await.expect(201);
    let read = broker
        .get(&format!("/v1/holds/{id}"), Auth::Code(&s.buyer))
        .await
        .expect(200);
    assert_eq!(read.body["hold"]["status"], "voided");
    assert_eq!(broker.balance(&s.buyer).await, "0.00");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_hold_counts_a_use_and_a_void_gives_it_back() {
    let broker = TestBroker::start().await;
    let s = shop(&broker).await;
    let child = broker
        .post(
            "/v1/me/children",
            Auth::Code(&s.buyer),
            json!({ "amount": "3", "restrictions": { "uses_max": 1, "spend_per_period": { "amount": "2", "period_seconds": 86400 } } }),
        )
        .await
        .expect(201);
    let child = child.body["code"].as_str().unwrap().to_owned();
    hold(&broker, &child, &s.shop, "2.5", json!({}))
        .await
        .refused(403, "restricted");
    let id = id_of(&hold(&broker, &child, &s.shop, "1.5", json!({})).await.expect(201));
    broker.pay(&child, &s.shop, "0.1").await.refused(403, "restricted");
    void(&broker, &s.seller, &id).await.expect(200);
    let left = me(&broker, &child).await;
    assert_eq!(
        left["restrictions"]["uses_left"], 1,
        "the void gave the use back: {left}"
    );
    assert_eq!(left["restrictions"]["spend_left"]["amount"], "2.00");
    // A partial capture is a use, and gives back the spending it did not take.
    let id = id_of(&hold(&broker, &child, &s.shop, "2", json!({})).await.expect(201));
    capture(&broker, &s.seller, &id, json!({ "amount": "0.5" }))
        .await
        .expect(201);
    let left = me(&broker, &child).await;
    assert_eq!(left["restrictions"]["uses_left"], 0);
    assert_eq!(left["restrictions"]["spend_left"]["amount"], "1.50");
    assert_eq!(left["balance"]["amount"], "2.50");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_cancelled_code_keeps_its_promise_to_the_seller() {
    let broker = TestBroker::start().await;
    let s = shop(&broker).await;
    let (child, child_id) = broker.secret_child(&s.buyer, "3").await;
    let id = id_of(&hold(&broker, &child, &s.shop, "2", json!({})).await.expect(201));
    let cancelled = broker
        .post(
            &format!("/v1/me/children/{child_id}/cancel"),
            Auth::Code(&s.buyer),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(
        cancelled.body["reclaimed"]["amount"], "1.00",
        "the reclaim takes only what is not held"
    );
    assert_eq!(broker.balance(&s.buyer).await, "8.00");
    // The seller captures part; what the hold releases goes to the code that cancelled it.
    capture(&broker, &s.seller, &id, json!({ "amount": "1.25" }))
        .await
        .expect(201);
    assert_eq!(broker.balance(&s.seller).await, "2.25");
    assert_eq!(broker.balance(&s.buyer).await, "8.75");
    let history = broker
        .get("/v1/me/transactions", Auth::Code(&s.buyer))
        .await
        .expect(200);
    assert_eq!(history.body["transactions"][0]["kind"], "reclaim");
    assert_eq!(history.body["transactions"][0]["amount"], "0.75");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn many_captures_of_one_hold_at_once_pay_once_and_many_holds_never_hold_more_than_there_is() {
    let broker = TestBroker::start().await;
    let s = shop(&broker).await;
    let id = id_of(&hold(&broker, &s.buyer, &s.shop, "5", json!({})).await.expect(201));
    let attempts = (0..8).map(|_| capture(&broker, &s.seller, &id, json!({})));
    let replies = futures::future::join_all(attempts).await;
    let won = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        won,
        1,
        "one capture wins: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for reply in replies.iter().filter(|r| r.status != 201) {
        assert_eq!((reply.status, reply.code()), (409, "hold_not_pending"));
    }
    assert_eq!(broker.balance(&s.buyer).await, "5.00");

    let attempts = (0..12).map(|_| hold(&broker, &s.buyer, &s.shop, "1", json!({})));
    let replies = futures::future::join_all(attempts).await;
    let held = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(held, 5, "5.00 available holds five of 1.00");
    for reply in replies.iter().filter(|r| r.status != 201) {
        assert_eq!((reply.status, reply.code()), (402, "insufficient_funds"));
    }
    let buyer = me(&broker, &s.buyer).await;
    assert_eq!(buyer["available"]["amount"], "0.00");
    assert_eq!(buyer["holds"].as_array().unwrap().len(), 5);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_command_line_holds_captures_and_voids() {
    let broker = TestBroker::start().await;
    let s = shop(&broker).await;
    let cli = Cli { broker: &broker };
    let held = cli.json(
        Some(&s.buyer),
        &["hold", "--payee", &s.shop, "--amount", "3", "--expires-in", "600"],
    );
    let id = held["hold"]["id"].as_str().unwrap().to_owned();
    let shown = cli.text(Some(&s.buyer), &["balance"]);
    assert!(shown.contains("available: 7.00 USD") && shown.contains(&id), "{shown}");
    let out = cli.text(Some(&s.seller), &["capture", &id, "--amount", "1"]);
    assert!(
        out.contains("Captured 1.00 USD of hold") && out.contains("receipt: r_"),
        "{out}"
    );
    let again = cli.run(Some(&s.seller), &["void", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("hold_not_pending"));
    let second = cli.json(Some(&s.buyer), &["hold", "--payee", &s.shop, "--amount", "2"]);
    let second = second["hold"]["id"].as_str().unwrap().to_owned();
    let out = cli.text(Some(&s.seller), &["void", &second]);
    assert!(out.contains("voided"), "{out}");
    assert_eq!(broker.balance(&s.buyer).await, "9.00");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn an_acknowledged_capture_survives_a_kill_and_an_expired_hold_is_free_after_a_restart() {
    let mut broker = TestBroker::start().await;
    let s = shop(&broker).await;
    let captured = id_of(&hold(&broker, &s.buyer, &s.shop, "3", json!({})).await.expect(201));
    let receipt = capture(&broker, &s.seller, &captured, json!({ "amount": "2" }))
        .await
        .expect(201);
    let short = id_of(
        &hold(&broker, &s.buyer, &s.shop, "5", json!({ "expires_in_seconds": 1 }))
            .await
            .expect(201),
    );
    broker.kill_hard();
    let restarted = TestBroker::start_in(&broker.data).await;
    let read = restarted
        .get(&format!("/v1/holds/{captured}"), Auth::Code(&s.seller))
        .await
        .expect(200);
    assert_eq!(read.body["hold"]["status"], "captured");
    assert_eq!(read.body["hold"]["receipt_id"], receipt.body["receipt"]["id"]);
    assert_eq!(restarted.balance(&s.seller).await, "3.00");
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(me(&restarted, &s.buyer).await["available"]["amount"], "8.00");
    capture(&restarted, &s.seller, &short, json!({}))
        .await
        .refused(409, "hold_not_pending");
    restarted.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_control_center_lists_what_is_set_aside_for_sellers() {
    let broker = TestBroker::start().await;
    let s = shop(&broker).await;
    let id = id_of(
        &hold(&broker, &s.buyer, &s.shop, "2.5", json!({ "memo": "table 4" }))
            .await
            .expect(201),
    );
    let mut visitor = crate::forms::Visitor::arrive(&broker).await;
    visitor.log_in("/enter", &[("code", &s.buyer)]).await;
    let page = visitor
        .http
        .get(format!("{}/me", broker.base))
        .header("cookie", &visitor.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let listed = page.split("id=\"holds\"").nth(1).expect("the page lists the holds");
    assert!(
        listed.contains("2.50 USD") && listed.contains(&s.shop) && listed.contains("table 4") && listed.contains(&id)
    );
    assert!(
        page.contains("7.50 USD"),
        "what is available is shown beside the balance"
    );
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_hold_asks_for_the_buyers_pin_and_the_sellers_too() {
    let broker = TestBroker::start().await;
    let s = shop(&broker).await;
    for code in [&s.buyer, &s.seller] {
        broker
            .put("/v1/me/pin", Auth::Code(code), json!({ "pin": "2468" }))
            .await
            .expect(200);
    }
    hold(&broker, &s.buyer, &s.shop, "1", json!({}))
        .await
        .refused(403, "pin_required");
    let body = json!({ "code": s.buyer, "payee": s.shop, "amount": "1" });
    let wrong = broker
        .call_with(
            reqwest::Method::POST,
            "/v1/holds",
            Auth::None,
            Some(body.clone()),
            &[("Smartcode-Pin", "1357")],
        )
        .await
        .refused(403, "pin_invalid");
    assert_eq!(wrong.body["tries_left"], 4);
    let held = broker
        .call_with(
            reqwest::Method::POST,
            "/v1/holds",
            Auth::None,
            Some(body),
            &[("Smartcode-Pin", "2468")],
        )
        .await
        .expect(201);
    let id = id_of(&held);
    capture(&broker, &s.seller, &id, json!({}))
        .await
        .refused(403, "pin_required");
    let path = format!("/v1/holds/{id}/capture");
    broker
        .call_with(
            reqwest::Method::POST,
            &path,
            Auth::Code(&s.seller),
            Some(json!({})),
            &[("Smartcode-Pin", "2468")],
        )
        .await
        .expect(201);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn an_expired_hold_gives_its_use_back_before_the_next_payment_is_judged() {
    let broker = TestBroker::start().await;
    let s = shop(&broker).await;
    let child = broker
        .post(
            "/v1/me/children",
            Auth::Code(&s.buyer),
            json!({ "amount": "3", "restrictions": { "uses_max": 2 } }),
        )
        .await
        .expect(201);
    let child = child.body["code"].as_str().unwrap().to_owned();
    hold(&broker, &child, &s.shop, "1", json!({ "expires_in_seconds": 60 }))
        .await
        .expect(201);
    hold(&broker, &child, &s.shop, "1", json!({ "expires_in_seconds": 60 }))
        .await
        .expect(201);
    broker.pay(&child, &s.shop, "0.5").await.refused(403, "restricted");
    advance(&broker, 61).await;
    broker.pay(&child, &s.shop, "0.5").await.expect(201);
    let left = me(&broker, &child).await;
    assert_eq!(
        left["restrictions"]["uses_left"], 1,
        "both expired holds gave their uses back: {left}"
    );
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn concurrent_captures_and_voids_of_one_hold_beside_another_resolve_it_once() {
    let broker = TestBroker::start().await;
    let s = shop(&broker).await;
    let first = id_of(&hold(&broker, &s.buyer, &s.shop, "4", json!({})).await.expect(201));
    let second = id_of(&hold(&broker, &s.buyer, &s.shop, "4", json!({})).await.expect(201));
    let captures = (0..6).map(|_| capture(&broker, &s.seller, &first, json!({})));
    let voids = (0..6).map(|_| void(&broker, &s.seller, &first));
    let (captured, voided) =
        futures::future::join(futures::future::join_all(captures), futures::future::join_all(voids)).await;
    let won = captured.iter().filter(|r| r.status == 201).count() + voided.iter().filter(|r| r.status == 200).count();
    assert_eq!(won, 1, "the hold is resolved once");
    for lost in captured.iter().chain(&voided).filter(|r| r.status >= 400) {
        assert_eq!((lost.status, lost.code()), (409, "hold_not_pending"));
    }
    // The other hold is still whole and still covered.
    capture(&broker, &s.seller, &second, json!({})).await.expect(201);
    broker.assert_ledger_ok().await;
}

//! Refunds (issue 14): a seller gives back all or part of a payment, as often as it likes up to
//! the payment, for 180 days; the value goes to the paying code, or to its nearest active ancestor
//! once that code is closed. Both sides' history shows it, the seller's by the payer's pseudonym,
//! and the receipt says what was refunded. On both stores (these tests run again on PostgreSQL).

use serde_json::{json, Value};

use crate::cli::Cli;
use crate::harness::{Auth, Reply, TestBroker};

async fn refund(broker: &TestBroker, seller: &str, receipt: &str, body: Value) -> Reply {
    broker
        .post(&format!("/v1/receipts/{receipt}/refund"), Auth::Code(seller), body)
        .await
}

#[tokio::test]
async fn a_seller_refunds_part_of_a_payment_then_the_rest_and_never_more() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let paid = broker.pay(&buyer, &shop, "4").await.expect(201);
    let receipt = paid.body["receipt"]["id"].as_str().unwrap().to_owned();

    // Only the seller refunds; the buyer's own code cannot.
    refund(&broker, &buyer, &receipt, json!({}))
        .await
        .refused(404, "not_found");
    let first = refund(
        &broker,
        &seller,
        &receipt,
        json!({ "amount": "1.5", "reason": "one song was missing" }),
    )
    .await
    .expect(201);
    assert_eq!(first.body["refund"]["amount"]["amount"], "1.50");
    assert_eq!(first.body["refund"]["receipt_id"], receipt.as_str());
    refund(&broker, &seller, &receipt, json!({ "amount": "2.51" }))
        .await
        .refused(422, "refund_exceeds_payment");
    let rest = refund(&broker, &seller, &receipt, json!({})).await.expect(201);
    assert_eq!(rest.body["refund"]["amount"]["amount"], "2.50", "what was left");
    refund(&broker, &seller, &receipt, json!({}))
        .await
        .refused(422, "refund_exceeds_payment");
    assert_eq!(broker.balance(&buyer).await, "10.00");
    assert_eq!(broker.balance(&seller).await, "1.00");

    // The receipt says what was refunded; both histories show it, the seller's without the payer's id.
    let read = broker
        .get(&format!("/v1/receipts/{receipt}"), Auth::None)
        .await
        .expect(200);
    assert_eq!(read.body["refunded"]["amount"], "4.00");
    assert_eq!(read.body["refunds"].as_array().unwrap().len(), 2);
    let page = reqwest::get(format!("{}/r/{receipt}", broker.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"receipt-refunded\">4.00 USD (in 2 refunds)"),
        "the receipt page says so"
    );
    let buyer_history = broker.get("/v1/me/transactions", Auth::Code(&buyer)).await.expect(200);
    let newest = &buyer_history.body["transactions"][0];
    assert_eq!(
        (newest["kind"].as_str(), newest["amount"].as_str()),
        (Some("refund"), Some("2.50"))
    );
    assert_eq!(buyer_history.body["transactions"][1]["memo"], "one song was missing");
    assert_eq!(
        newest["counterparty"],
        shop.as_str(),
        "the buyer sees the shop that refunded"
    );
    let seller_history = broker.get("/v1/me/transactions", Auth::Code(&seller)).await.expect(200);
    let given = &seller_history.body["transactions"][0];
    assert_eq!(
        (given["kind"].as_str(), given["amount"].as_str()),
        (Some("refund"), Some("-2.50"))
    );
    let buyer_id = broker.get("/v1/me", Auth::Code(&buyer)).await.expect(200).body["id"].clone();
    assert!(
        !seller_history.text.contains(buyer_id.as_str().unwrap()),
        "the seller never sees the payer's id"
    );
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_refund_goes_to_the_nearest_active_ancestor_and_closes_after_180_days() {
    let broker = TestBroker::start().await;
    let (wallet, _) = broker.issue("10", "USD").await;
    let (pocket, pocket_id) = broker.secret_child(&wallet, "3").await;
    let (seller, _) = broker.issue("5", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let receipt = broker.pay(&pocket, &shop, "2").await.expect(201).body["receipt"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let old = broker.pay(&wallet, &shop, "1").await.expect(201).body["receipt"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    broker
        .post(
            &format!("/v1/me/children/{pocket_id}/cancel"),
            Auth::Code(&wallet),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(broker.balance(&wallet).await, "7.00");
    refund(&broker, &seller, &receipt, json!({ "amount": "0.5" }))
        .await
        .expect(201);
    assert_eq!(
        broker.balance(&wallet).await,
        "7.50",
        "the cancelled pocket's parent gets it"
    );

    // More than the seller has is refused; after 180 days no refund at all.
    refund(&broker, &seller, &old, json!({ "amount": "1" }))
        .await
        .expect(201);
    let bigger = broker.pay(&wallet, &shop, "7").await.expect(201).body["receipt"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    broker
        .post("/v1/admin/payouts", Auth::Operator, json!({ "code_id": broker.get("/v1/me", Auth::Code(&seller)).await.body["id"], "amount": "10", "reference": "bank" }))
        .await
        .expect(201);
    refund(&broker, &seller, &bigger, json!({}))
        .await
        .refused(402, "insufficient_funds");
    broker
        .post(
            "/v1/admin/clock",
            Auth::Operator,
            json!({ "advance_seconds": 180 * 86_400 + 1 }),
        )
        .await
        .expect(200);
    refund(&broker, &seller, &bigger, json!({ "amount": "0.01" }))
        .await
        .refused(410, "refund_window_closed");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_command_line_refunds() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let receipt = broker.pay(&buyer, &shop, "3").await.expect(201).body["receipt"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cli = Cli { broker: &broker };
    let out = cli.text(
        Some(&seller),
        &["refund", &receipt, "--amount", "1", "--reason", "late"],
    );
    assert!(out.contains(&format!("Refunded 1.00 USD of {receipt}")), "{out}");
    let json = cli.json(Some(&seller), &["refund", &receipt]);
    assert_eq!(json["refund"]["amount"]["amount"], "2.00");
    let again = cli.run(Some(&seller), &["refund", &receipt]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("refund_exceeds_payment"));
    assert_eq!(broker.balance(&buyer).await, "10.00");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_refund_that_would_come_back_to_the_seller_is_refused_and_refunds_are_not_payments_in_the_stats() {
    let broker = TestBroker::start().await;
    let (seller, _) = broker.issue("5", "USD").await;
    let reply = broker
        .post(
            "/v1/me/children",
            Auth::Code(&seller),
            json!({ "kind": "public", "profile": { "show_stats": true } }),
        )
        .await
        .expect(201);
    let shop = reply.body["public_code"].as_str().unwrap().to_owned();
    let (child, child_id) = broker.secret_child(&seller, "2").await;
    let own = broker.pay(&child, &shop, "1").await.expect(201).body["receipt"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    broker
        .post(
            &format!("/v1/me/children/{child_id}/cancel"),
            Auth::Code(&seller),
            json!({}),
        )
        .await
        .expect(200);
    refund(&broker, &seller, &own, json!({})).await.refused(409, "conflict");
    let (buyer, _) = broker.issue("3", "USD").await;
    let paid = broker.pay(&buyer, &shop, "2").await.expect(201).body["receipt"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    refund(&broker, &seller, &paid, json!({ "amount": "0.5" }))
        .await
        .expect(201);
    let page = broker.get(&format!("/v1/public/{shop}"), Auth::None).await.expect(200);
    assert_eq!(
        page.body["stats"]["payments"], 2,
        "a refund is no payment: {}",
        page.body
    );
    assert_eq!(page.body["stats"]["total"]["amount"], "3.00");
    broker.assert_ledger_ok().await;
}

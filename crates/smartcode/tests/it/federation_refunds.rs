//! Refunds of payments across brokers: a seller of broker B refunds a payment a code of broker A
//! made, in part and then the rest, never more; the value goes back to A's code, once, however
//! often B's message is lost or sent again; both histories name the other side; the two statements
//! still reconcile and each ledger check passes. Real broker processes on loopback.

use std::time::Duration;

use serde_json::json;

use crate::federation::{net, one_at_a_time, pair, pair_via, seller, Fault, Pair};
use crate::harness::{Auth, TestBroker};

async fn pay(b: &TestBroker, code: &str, payee: &str, amount: &str) -> String {
    let paid = b
        .post(
            "/v1/payments",
            Auth::None,
            json!({ "code": code, "payee": payee, "amount": amount }),
        )
        .await
        .expect(201);
    paid.body["receipt"]["id"].as_str().unwrap().to_owned()
}

async fn refund(b: &TestBroker, seller: &str, receipt: &str, amount: Option<&str>) -> crate::harness::Reply {
    let body = match amount {
        Some(amount) => json!({ "amount": amount, "reason": "one song was missing" }),
        None => json!({}),
    };
    b.post(&format!("/v1/receipts/{receipt}/refund"), Auth::Code(seller), body)
        .await
}

/// Waits until A's code holds `expect` (B's resolver sends refunds at once, then each second).
async fn balance_becomes(a: &TestBroker, code: &str, expect: &str) {
    for _ in 0..100 {
        if a.balance(code).await == expect {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("A's code holds {}, not {expect}", a.balance(code).await);
}

#[tokio::test]
async fn a_payment_across_brokers_is_refunded_in_part_then_the_rest_and_never_more() {
    let _one = one_at_a_time().await;
    let Pair { a, b, dir: _dir, .. } = pair().await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    let receipt = pay(&b, &format!("{buyer}@a.test"), &payee, "4.00").await;
    assert_eq!(a.balance(&buyer).await, "6.00");

    let first = refund(&b, &owner, &receipt, Some("1.50")).await.expect(201);
    assert_eq!(first.body["refund"]["amount"]["amount"], "1.50");
    assert_eq!(first.body["refund"]["receipt_id"], receipt.as_str());
    assert_eq!(b.balance(&owner).await, "3.50", "the seller gives it back at once");
    balance_becomes(&a, &buyer, "7.50").await;
    refund(&b, &owner, &receipt, Some("2.51"))
        .await
        .refused(422, "refund_exceeds_payment");
    let rest = refund(&b, &owner, &receipt, None).await.expect(201);
    assert_eq!(rest.body["refund"]["amount"]["amount"], "2.50", "what was left");
    refund(&b, &owner, &receipt, None)
        .await
        .refused(422, "refund_exceeds_payment");
    balance_becomes(&a, &buyer, "10.00").await;
    assert_eq!(b.balance(&owner).await, "1.00");
    assert_eq!(net(&b, "a.test").await, "0.00", "A owes B nothing now");
    assert_eq!(net(&a, "b.test").await, "0.00");

    // The receipt says what was refunded; each history names the other side as it may know it.
    let read = b.get(&format!("/v1/receipts/{receipt}"), Auth::None).await.expect(200);
    assert_eq!(read.body["refunded"]["amount"], "4.00");
    assert_eq!(read.body["refunds"].as_array().unwrap().len(), 2);
    let a_history = a.get("/v1/me/transactions", Auth::Code(&buyer)).await.expect(200).body;
    let newest = &a_history["transactions"][0];
    assert_eq!(newest["kind"], "refund");
    assert_eq!(newest["amount"], "2.50");
    assert_eq!(newest["counterparty"], format!("{payee} at broker b.test"));
    let b_history = b.get("/v1/me/transactions", Auth::Code(&owner)).await.expect(200).body;
    let newest = &b_history["transactions"][0];
    assert_eq!(newest["kind"], "refund");
    assert_eq!(newest["amount"], "-2.50");
    assert_eq!(newest["counterparty"], "a code of broker a.test");

    // Both statements hold the charge and its two refunds, line for line.
    let until = "2099-01-01T00%3A00%3A00Z";
    let reconciled = b
        .get(
            &format!("/v1/admin/peers/a.test/reconcile?until={until}"),
            Auth::Operator,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(reconciled["differences"], json!([]), "{reconciled}");
    assert_eq!(reconciled["matched"], 3, "{reconciled}");
    let statement = b
        .get(
            &format!("/v1/admin/peers/a.test/statement?until={until}"),
            Auth::Operator,
        )
        .await
        .expect(200)
        .body;
    let keys: Vec<&str> = (statement["entries"].as_array().unwrap().iter())
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert!(keys.contains(&format!("refund:{receipt}-r1").as_str()), "{keys:?}");
    // What crossed: one payment in, two refunds out, at B; the opposite at A.
    let report = b
        .get(&format!("/v1/admin/peers/a.test/report?until={until}"), Auth::Operator)
        .await
        .expect(200)
        .body;
    let day = &report["days"][0];
    assert_eq!(
        (day["in_count"].as_u64(), day["out_count"].as_u64()),
        (Some(1), Some(2)),
        "{report}"
    );
    assert_eq!(day["out_total"]["amount"], "4.00");
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_refund_whose_messages_are_lost_or_sent_twice_reaches_the_buyer_once() {
    let _one = one_at_a_time().await;
    // Message 0, the charge, passes; the refund's first is dropped, its second's answer lost, its
    // third duplicated.
    let faults = |n| match n {
        1 => Fault::Drop,
        2 => Fault::LoseAnswer,
        3 => Fault::Duplicate,
        _ => Fault::Pass,
    };
    let Pair { a, b, dir: _dir, .. } = pair_via(Some(faults), "100").await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    let receipt = pay(&b, &format!("{buyer}@a.test"), &payee, "3.00").await;
    refund(&b, &owner, &receipt, Some("1.00")).await.expect(201);
    balance_becomes(&a, &buyer, "8.00").await;
    // The refund is answered (no longer sent) once the duplicate's answer came back.
    for _ in 0..50 {
        let statement = b
            .get(
                "/v1/admin/peers/a.test/reconcile?until=2099-01-01T00%3A00%3A00Z",
                Auth::Operator,
            )
            .await
            .expect(200)
            .body;
        if statement["differences"] == json!([]) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        a.balance(&buyer).await,
        "8.00",
        "given back once, however often it was sent"
    );
    assert_eq!(net(&b, "a.test").await, "2.00");
    assert_eq!(net(&a, "b.test").await, "-2.00");
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_captured_hold_across_brokers_is_refunded_like_a_payment() {
    let _one = one_at_a_time().await;
    let Pair { a, b, dir: _dir, .. } = pair().await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    let held = b
        .post(
            "/v1/holds",
            Auth::None,
            json!({ "code": format!("{buyer}@a.test"), "payee": payee, "amount": "4.00" }),
        )
        .await
        .expect(201)
        .body;
    let id = held["hold"]["id"].as_str().unwrap().to_owned();
    b.post(
        &format!("/v1/holds/{id}/capture"),
        Auth::Code(&owner),
        json!({ "amount": "3.00" }),
    )
    .await
    .expect(201);
    balance_becomes(&a, &buyer, "7.00").await;
    // The capture's receipt goes by the hold's id; refunding it gives back to A's code.
    refund(&b, &owner, &id, Some("2.00")).await.expect(201);
    refund(&b, &owner, &id, Some("1.01"))
        .await
        .refused(422, "refund_exceeds_payment");
    balance_becomes(&a, &buyer, "9.00").await;
    assert_eq!(b.balance(&owner).await, "2.00");
    assert_eq!(net(&b, "a.test").await, "1.00");
    assert_eq!(net(&a, "b.test").await, "-1.00");
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

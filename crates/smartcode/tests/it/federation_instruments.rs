//! The instruments on holds across two brokers. A seller of broker B holds value on a code of
//! broker A, then captures part of it, voids it, or lets it expire; a capture that A does not
//! answer in time ends the hold on both sides. A certifies its assurance code for a seller of B,
//! and B's payments under the certificate are never refused for lack of funds. Real broker
//! processes on loopback (see `federation`); every test ends with both ledger checks and, where
//! money moved, both statements reconciled.

use std::time::Duration;

use serde_json::{json, Value};

use crate::federation::{net, one_at_a_time, pair, pair_via, seller, Fault, Pair};
use crate::harness::{Auth, TestBroker};

async fn hold_at_b(b: &TestBroker, code: &str, payee: &str, amount: &str, seconds: i64) -> crate::harness::Reply {
    b.post(
        "/v1/holds",
        Auth::None,
        json!({ "code": code, "payee": payee, "amount": amount, "expires_in_seconds": seconds, "memo": "a room" }),
    )
    .await
}

/// The buyer's code at A: (balance, available, its pending holds).
async fn at_a(a: &TestBroker, buyer: &str) -> (String, String, Vec<Value>) {
    let me = a.get("/v1/me", Auth::Code(buyer)).await.expect(200).body;
    let money = |field: &str| me[field]["amount"].as_str().unwrap().to_owned();
    (
        money("balance"),
        money("available"),
        me["holds"].as_array().cloned().unwrap_or_default(),
    )
}

async fn reconciled(b: &TestBroker) {
    let until = "2999-01-01T00:00:00Z";
    let reconcile = b
        .get(
            &format!("/v1/admin/peers/a.test/reconcile?until={until}"),
            Auth::Operator,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(reconcile["differences"], json!([]), "{reconcile}");
}

#[tokio::test]
async fn a_seller_holds_a_code_of_another_broker_and_captures_part_of_it_once() {
    let _one = one_at_a_time().await;
    let Pair { a, b, dir: _dir, .. } = pair().await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    let code = format!("{buyer}@a.test");

    let hold = hold_at_b(&b, &code, &payee, "4.00", 600).await.expect(201).body["hold"].clone();
    assert_eq!(hold["status"], "pending");
    assert_eq!(hold["payer_id"], "peer:a.test");
    assert_eq!(hold["payee"], payee.as_str());
    let id = hold["id"].as_str().unwrap().to_owned();
    // At A the value is set aside, as for a local hold, naming the seller at B.
    let (balance, available, holds) = at_a(&a, &buyer).await;
    assert_eq!((balance.as_str(), available.as_str()), ("10.00", "6.00"));
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0]["payee"], format!("{payee} at b.test"));
    // Only the seller reads it at B; a code of A is nothing there.
    let read = b
        .get(&format!("/v1/holds/{id}"), Auth::Code(&owner))
        .await
        .expect(200)
        .body;
    assert_eq!(read["hold"]["status"], "pending");
    assert_eq!(read["hold"]["memo"], "a room");
    let (stranger, _) = b.issue("1.00", "USD").await;
    b.get(&format!("/v1/holds/{id}"), Auth::Code(&stranger))
        .await
        .refused(404, "not_found");
    b.post(&format!("/v1/holds/{id}/capture"), Auth::Code(&stranger), json!({}))
        .await
        .refused(404, "not_found");
    b.post(
        &format!("/v1/holds/{id}/capture"),
        Auth::Code(&owner),
        json!({ "amount": "4.01" }),
    )
    .await
    .refused(409, "amount_mismatch");

    // The capture is a charge of the captured amount, approved by A, with a receipt at B.
    let capture = |key: &'static str| {
        let (b, owner, id) = (&b, owner.clone(), id.clone());
        async move {
            b.call_with(
                reqwest::Method::POST,
                &format!("/v1/holds/{id}/capture"),
                Auth::Code(&owner),
                Some(json!({ "amount": "2.50" })),
                &[("Idempotency-Key", key)],
            )
            .await
        }
    };
    let receipt = capture("capture-1").await.expect(201).body["receipt"].clone();
    assert_eq!(receipt["id"], id.as_str(), "the receipt goes by the hold's id");
    assert_eq!(receipt["amount"]["amount"], "2.50");
    assert_eq!(receipt["memo"], "a room");
    assert_eq!(receipt["approval"]["amount"]["amount"], "2.50");
    let again = capture("capture-1").await.expect(201).body["receipt"].clone();
    assert_eq!(again, receipt, "the same key replays the first receipt");
    capture("capture-2").await.refused(409, "hold_not_pending");
    b.post(&format!("/v1/holds/{id}/void"), Auth::Code(&owner), json!({}))
        .await
        .refused(409, "hold_not_pending");

    let (balance, available, holds) = at_a(&a, &buyer).await;
    assert_eq!((balance.as_str(), available.as_str()), ("7.50", "7.50"));
    assert!(holds.is_empty());
    assert_eq!(b.balance(&owner).await, "3.50");
    let read = b
        .get(&format!("/v1/holds/{id}"), Auth::Code(&owner))
        .await
        .expect(200)
        .body;
    assert_eq!(read["hold"]["status"], "captured");
    assert_eq!(read["hold"]["captured"]["amount"], "2.50");
    assert_eq!(net(&b, "a.test").await, "2.50");
    assert_eq!(net(&a, "b.test").await, "-2.50");
    reconciled(&b).await;
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_hold_across_brokers_is_voided_or_expires_and_gives_everything_back() {
    let _one = one_at_a_time().await;
    let Pair { a, b, dir: _dir, .. } = pair().await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    let code = format!("{buyer}@a.test");

    // Refused at A as a local hold would be: more than the code has, a wrong code.
    hold_at_b(&b, &code, &payee, "10.01", 600)
        .await
        .refused(402, "insufficient_funds");
    let voided = hold_at_b(&b, &code, &payee, "3.00", 600).await.expect(201).body["hold"].clone();
    let id = voided["id"].as_str().unwrap();
    assert_eq!(at_a(&a, &buyer).await.1, "7.00");
    let void = b
        .post(&format!("/v1/holds/{id}/void"), Auth::Code(&owner), json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(void["hold"]["status"], "voided");
    let (balance, available, _) = at_a(&a, &buyer).await;
    assert_eq!((balance.as_str(), available.as_str()), ("10.00", "10.00"));
    b.post(&format!("/v1/holds/{id}/void"), Auth::Code(&owner), json!({}))
        .await
        .expect(200);
    b.post(&format!("/v1/holds/{id}/capture"), Auth::Code(&owner), json!({}))
        .await
        .refused(409, "hold_not_pending");

    // One that expires: void on both sides by time alone, with nothing sent.
    let brief = hold_at_b(&b, &code, &payee, "2.00", 1).await.expect(201).body["hold"].clone();
    let id = brief["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, available, holds) = at_a(&a, &buyer).await;
    assert_eq!(available, "10.00", "an expired hold sets nothing aside");
    assert!(holds.is_empty());
    b.post(&format!("/v1/holds/{id}/capture"), Auth::Code(&owner), json!({}))
        .await
        .refused(409, "hold_not_pending");
    let read = b
        .get(&format!("/v1/holds/{id}"), Auth::Code(&owner))
        .await
        .expect(200)
        .body;
    assert_eq!(read["hold"]["status"], "voided");

    assert_eq!(b.balance(&owner).await, "1.00");
    assert_eq!(net(&b, "a.test").await, "0.00");
    assert_eq!(net(&a, "b.test").await, "0.00");
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_capture_the_buyers_broker_answers_too_late_ends_the_hold_on_both_sides() {
    let _one = one_at_a_time().await;
    // The hold passes; the capture, its resends and the outcome query all wait past the
    // deadline; then the resolver's void passes, and reverses or releases what A did.
    let faults = |n| match n {
        0 => Fault::Pass,
        1..=4 => Fault::Delay,
        _ => Fault::Pass,
    };
    let Pair { a, b, dir: _dir, .. } = pair_via(Some(faults), "100").await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    let hold = hold_at_b(&b, &format!("{buyer}@a.test"), &payee, "5.00", 600)
        .await
        .expect(201)
        .body;
    let id = hold["hold"]["id"].as_str().unwrap();
    b.post(&format!("/v1/holds/{id}/capture"), Auth::Code(&owner), json!({}))
        .await
        .refused(503, "peer_unreachable");
    for _ in 0..150 {
        if at_a(&a, &buyer).await.1 == "10.00" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(at_a(&a, &buyer).await.1, "10.00", "nothing is left set aside at A");
    assert_eq!(b.balance(&owner).await, "1.00", "the seller was not credited");
    let read = b
        .get(&format!("/v1/holds/{id}"), Auth::Code(&owner))
        .await
        .expect(200)
        .body;
    assert_eq!(read["hold"]["status"], "voided");
    assert_eq!(net(&b, "a.test").await, "0.00");
    assert_eq!(net(&a, "b.test").await, "0.00");
    reconciled(&b).await;
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

#[tokio::test]
async fn an_assurance_code_of_another_broker_is_certified_there_and_its_payments_keep_the_floor() {
    let _one = one_at_a_time().await;
    let Pair { a, b, dir, .. } = pair().await;
    let (holder, holder_id) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    let made = a
        .post("/v1/me/assurances", Auth::Code(&holder), json!({ "floor": "5.00" }))
        .await
        .expect(201)
        .body;
    let assurance = format!("{}@a.test", made["assurance_code"].as_str().unwrap());

    // B's seller presents it at B; A certifies, signed with the federation key B pinned.
    let certify = |payee: String| {
        let (b, assurance) = (&b, assurance.clone());
        async move {
            b.post(
                "/v1/assurances/certify",
                Auth::None,
                json!({ "assurance_code": assurance, "payee": payee }),
            )
            .await
        }
    };
    let certified = certify(payee.clone()).await.expect(200).body;
    let certificate: smartcode_api::CertificateJson = serde_json::from_value(certified["certificate"].clone()).unwrap();
    assert_eq!(certificate.broker, "a.test");
    assert_eq!(certificate.payee, format!("{payee} at b.test"));
    assert_eq!(certificate.code_id, holder_id);
    assert_eq!(certificate.floor.amount, "5.00");
    let a_key = a.get("/.well-known/smartcode", Auth::None).await.body["federation"]["signing_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_key = smartcode_receipt::public_key(&a_key).unwrap();
    assert_eq!(smartcode_receipt::verify_certificate(&certificate, &a_key), Ok(()));
    assert_eq!(at_a(&a, &holder).await.1, "5.00", "A set the floor aside");
    // The seller checks it from the command line against broker A's published keys.
    let file = dir.path().join("certificate.json");
    std::fs::write(&file, serde_json::to_vec(&certified).unwrap()).unwrap();
    let cli = crate::cli::Cli { broker: &a };
    let checked = cli.run(None, &["assurance", "verify", file.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success() && out.contains("verified"), "{out}");

    // The holder spends everything else at A meanwhile: payments under the certificate still
    // go through, up to the floor in total, and no further.
    let (local_seller, _) = a.issue("0.01", "USD").await;
    let (elsewhere, _) = a.public_child(&local_seller).await;
    a.pay(&holder, &elsewhere, "5.00").await.expect(201);
    let pay_under = |amount: &'static str, certificate: String| {
        let (b, assurance, payee) = (&b, assurance.clone(), payee.clone());
        async move {
            b.post(
                "/v1/payments",
                Auth::None,
                json!({ "code": assurance, "payee": payee, "amount": amount, "certificate": certificate }),
            )
            .await
        }
    };
    let paid = pay_under("3.00", certificate.id.clone()).await.expect(201).body;
    assert_eq!(paid["receipt"]["payer_id"], "peer:a.test");
    assert_eq!(paid["receipt"]["approval"]["amount"]["amount"], "3.00");
    pay_under("2.00", certificate.id.clone()).await.expect(201);
    pay_under("0.01", certificate.id.clone())
        .await
        .refused(409, "amount_mismatch");
    // Only for the seller it was made for.
    let (other_shop, _) = b.public_child(&owner).await;
    b.post(
        "/v1/payments",
        Auth::None,
        json!({ "code": assurance, "payee": other_shop, "amount": "0.01", "certificate": certificate.id }),
    )
    .await
    .refused(403, "restricted");
    pay_under("0.01", "h_0000000000000000".into())
        .await
        .refused(404, "not_found");
    assert_eq!(a.balance(&holder).await, "0.00");
    assert_eq!(b.balance(&owner).await, "6.00");
    // Nothing left to certify now: A refuses, and B passes the refusal on.
    certify(payee.clone()).await.refused(402, "insufficient_funds");
    assert_eq!(net(&b, "a.test").await, "5.00");
    assert_eq!(net(&a, "b.test").await, "-5.00");
    reconciled(&b).await;
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_quote_of_the_sellers_broker_pays_a_seller_in_one_currency_with_a_code_of_another_broker_in_another() {
    let _one = one_at_a_time().await;
    let Pair { a, b, dir: _dir, .. } = pair().await;
    let (buyer, _) = a.issue("20.00", "USD").await;
    let (owner, _) = b.issue("1.00", "EUR").await;
    let (shop, _) = b.public_child(&owner).await;
    b.put(
        "/v1/admin/rates/USD/EUR",
        Auth::Operator,
        json!({ "rate": "0.9", "fee_bps": 0 }),
    )
    .await
    .expect(200);
    // B quotes: the seller's 9.00 EUR cost 10.00 USD, which is what A is charged.
    let quoted = b
        .post(
            "/v1/quotes",
            Auth::None,
            json!({ "pay_currency": "USD", "price": { "amount": "9.00", "currency": "EUR" }, "payee": shop }),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(quoted["quote"]["pay"], json!({ "amount": "10.00", "currency": "USD" }));
    let id = quoted["quote"]["id"].as_str().unwrap().to_owned();
    let pay = || {
        b.post(
            "/v1/payments",
            Auth::None,
            json!({ "code": format!("{buyer}@a.test"), "payee": shop, "quote": id, "memo": "a room" }),
        )
    };
    let receipt = pay().await.expect(201).body["receipt"].clone();
    assert_eq!(receipt["amount"], json!({ "amount": "9.00", "currency": "EUR" }));
    assert_eq!(receipt["payer_id"], "peer:a.test");
    assert_eq!(
        receipt["approval"]["amount"],
        json!({ "amount": "10.00", "currency": "USD" }),
        "A approved what it debited, in its code's currency"
    );
    assert_eq!(a.balance(&buyer).await, "10.00");
    assert_eq!(b.balance(&owner).await, "10.00");
    // Once: the quote is used, and nothing more is charged at A.
    pay().await.refused(409, "quote_used");
    assert_eq!(a.balance(&buyer).await, "10.00");
    // A quote for another currency than the seller's is refused before anything is sent.
    let (usd_owner, _) = b.issue("1.00", "USD").await;
    let (usd_shop, _) = b.public_child(&usd_owner).await;
    let other = b
        .post(
            "/v1/quotes",
            Auth::None,
            json!({ "pay_currency": "USD", "price": { "amount": "9.00", "currency": "EUR" } }),
        )
        .await
        .expect(201)
        .body["quote"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    b.post(
        "/v1/payments",
        Auth::None,
        json!({ "code": format!("{buyer}@a.test"), "payee": usd_shop, "quote": other }),
    )
    .await
    .refused(409, "currency_mismatch");
    assert_eq!(a.balance(&buyer).await, "10.00");

    // Half of it refunded: back through the exchange at the quote, and on to A in USD.
    let receipt_id = receipt["id"].as_str().unwrap();
    let read = b
        .get(&format!("/v1/receipts/{receipt_id}"), Auth::None)
        .await
        .expect(200)
        .body;
    assert_eq!(read["receipt"]["payer_id"], "peer:a.test");
    b.post(
        &format!("/v1/receipts/{receipt_id}/refund"),
        Auth::Code(&owner),
        json!({ "amount": "4.50" }),
    )
    .await
    .expect(201);
    assert_eq!(b.balance(&owner).await, "5.50");
    for _ in 0..100 {
        if a.balance(&buyer).await == "15.00" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(a.balance(&buyer).await, "15.00", "5.00 USD back at the quote's rate");

    assert_eq!(net(&b, "a.test").await, "5.00", "A owes B in its own currency");
    assert_eq!(net(&a, "b.test").await, "-5.00");
    reconciled(&b).await;
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

//! Licenses (issue "Licenses"): a buyer pays for N copies of an item or of a named work and gets
//! a license code, a public code whose API and page say who paid for how many copies of what, and
//! when, with the payment's receipt signed so anyone can check it. Through the real server on
//! both stores; every test that moves money ends with the ledger check.

use serde_json::{json, Value};
use smartcode_api::ReceiptJson;
use smartcode_receipt::{verify, Version};

use crate::harness::{Auth, Reply, TestBroker};
use crate::webhooks::{shop, subscribe, unix_now, Receiver};

/// An artist with a public code selling an item at 0.20 USD, and a buyer with 5 USD.
struct Stall {
    artist: String,
    shop: String,
    item: String,
    buyer: String,
}

async fn stall(broker: &TestBroker) -> Stall {
    let (artist, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&artist).await;
    let (buyer, _) = broker.issue("5", "USD").await;
    let made = broker
        .post(
            "/v1/me/items",
            Auth::Code(&artist),
            json!({ "title": "A song", "price": "0.20", "public_code": shop, "category": "music" }),
        )
        .await
        .expect(201);
    let item = made.body["item"]["id"].as_str().unwrap().to_owned();
    Stall {
        artist,
        shop,
        item,
        buyer,
    }
}

async fn buy(broker: &TestBroker, buyer: &str, body: Value, key: &str) -> Reply {
    broker
        .call_with(
            reqwest::Method::POST,
            "/v1/me/licenses",
            Auth::Code(buyer),
            Some(body),
            &[("Idempotency-Key", key)],
        )
        .await
}

async fn published_key(broker: &TestBroker) -> ed25519_dalek::VerifyingKey {
    let metadata = broker.get("/.well-known/smartcode", Auth::None).await.expect(200);
    smartcode_receipt::public_key(metadata.body["receipt_signature"]["public_key"].as_str().unwrap()).unwrap()
}

fn receipt_of(value: &Value) -> ReceiptJson {
    serde_json::from_value(value.clone()).expect("a receipt")
}

async fn children_of(broker: &TestBroker, code: &str) -> Vec<Value> {
    let listed = broker.get("/v1/me/children", Auth::Code(code)).await.expect(200);
    listed.body["children"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_license_for_an_item_pays_price_times_copies_and_anyone_can_check_it() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let licensee = "<script>alert(1)</script> & Sons Ltd";
    let body = json!({ "item_id": stall.item, "copies": 3, "licensee": licensee });
    let bought = buy(&broker, &stall.buyer, body.clone(), "license-1").await.expect(201);
    let code = bought.body["license_code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("P-"), "a license code is a public code: {code}");
    let receipt = &bought.body["receipt"];
    assert_eq!(receipt["amount"]["amount"], "0.60", "the price times the copies");
    assert_eq!(receipt["item"], stall.item.as_str(), "stamped with the item");
    assert_eq!(receipt["category"], "music");
    assert_eq!(receipt["payee"], stall.shop.as_str());
    assert_eq!(broker.balance(&stall.buyer).await, "4.40");
    assert_eq!(broker.balance(&stall.artist).await, "1.60");

    // A retry under the same key is the same license: nothing more paid, no second code.
    let again = buy(&broker, &stall.buyer, body, "license-1").await.expect(201);
    assert_eq!(again.body["license_code"], code.as_str());
    assert_eq!(again.body["receipt"]["id"], receipt["id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(broker.balance(&stall.buyer).await, "4.40");
    let children = children_of(&broker, &stall.buyer).await;
    assert_eq!(children.len(), 1, "one license code in the buyer's tree: {children:?}");
    assert_eq!(children[0]["public_code"], code.as_str());
    assert_eq!(children[0]["label"], "license");

    // Anyone reads it, without a credential, and checks its receipt with the published key.
    let read = broker
        .get(&format!("/v1/licenses/{code}"), Auth::None)
        .await
        .expect(200);
    let license = &read.body["license"];
    assert_eq!(license["license_code"], code.as_str());
    assert_eq!(license["copies"], 3);
    assert_eq!(license["licensed"]["kind"], "item");
    assert_eq!(license["licensed"]["item_id"], stall.item.as_str());
    assert_eq!(license["licensed"]["title"], "A song");
    assert_eq!(license["price"]["amount"], "0.20");
    assert_eq!(license["total"]["amount"], "0.60");
    assert_eq!(license["paid_by"], "a smartcode holder", "never the code nor its id");
    assert_eq!(license["licensee"], licensee);
    assert_eq!(license["created_at"], receipt["created_at"]);
    assert_eq!(license["page"], format!("/l/{code}"));
    let signed = receipt_of(&read.body["receipt"]);
    assert_eq!(signed.id, receipt["id"].as_str().unwrap());
    let key = published_key(&broker).await;
    assert_eq!(verify(&signed, &key), Ok(Version::V2));
    assert_eq!(verify(&receipt_of(receipt), &key), Ok(Version::V2));
    let mut forged = signed.clone();
    forged.amount.amount = "0.20".to_owned();
    assert!(verify(&forged, &key).is_err(), "a changed amount does not verify");
    let text = serde_json::to_string(&read.body).unwrap();
    let buyer_id = broker.get("/v1/me", Auth::Code(&stall.buyer)).await.expect(200).body["id"].clone();
    assert!(
        !text.contains(buyer_id.as_str().unwrap()),
        "the payer's id is not shown"
    );
    assert!(!text.contains(&stall.buyer), "nor its code");

    // Its page shows the same, the buyer's text escaped.
    let page = reqwest::get(format!("{}/l/{code}", broker.base)).await.unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("3 copies"), "{html}");
    assert!(html.contains("A song"));
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; Sons Ltd"),
        "{html}"
    );
    assert!(!html.contains("<script>alert"), "the licensee is text, never markup");
    assert!(html.contains("Signature checked"), "{html}");
    let unknown = reqwest::get(format!("{}/l/P-00000-00000", broker.base)).await.unwrap();
    assert_eq!(unknown.status(), 404);
    broker
        .get("/v1/licenses/P-00000-00000", Auth::None)
        .await
        .refused(404, "not_found");
    broker
        .get("/v1/licenses/nonsense", Auth::None)
        .await
        .refused(404, "not_found");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_license_for_a_named_work_is_priced_by_its_buyer_and_names_the_payers_profile() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    broker
        .put(
            "/v1/me/profile",
            Auth::Code(&stall.buyer),
            json!({ "name": "Northwind <b>Press</b>" }),
        )
        .await
        .expect(200);
    let title = "Collected Essays, <i>second</i> edition";
    let body = json!({ "work": title, "price": "0.05", "copies": 20, "payee": stall.shop });
    let bought = buy(&broker, &stall.buyer, body, "work-1").await.expect(201);
    let code = bought.body["license_code"].as_str().unwrap().to_owned();
    assert_eq!(bought.body["receipt"]["amount"]["amount"], "1.00");
    assert_eq!(bought.body["receipt"]["item"], Value::Null, "a named work is no item");
    assert_eq!(broker.balance(&stall.buyer).await, "4.00");
    assert_eq!(broker.balance(&stall.artist).await, "2.00");
    let read = broker
        .get(&format!("/v1/licenses/{code}"), Auth::None)
        .await
        .expect(200);
    let license = &read.body["license"];
    assert_eq!(license["licensed"]["kind"], "work");
    assert_eq!(license["licensed"]["item_id"], Value::Null);
    assert_eq!(license["licensed"]["title"], title);
    assert_eq!(license["copies"], 20);
    assert_eq!(license["paid_by"], "Northwind <b>Press</b>");
    assert_eq!(license["licensee"], Value::Null);
    assert_eq!(license["payee"], stall.shop.as_str());
    let html = reqwest::get(format!("{}/l/{code}", broker.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("20 copies"));
    assert!(
        html.contains("Collected Essays, &lt;i&gt;second&lt;/i&gt; edition"),
        "{html}"
    );
    assert!(html.contains("Northwind &lt;b&gt;Press&lt;/b&gt;"));
    // A refund of the payment shows on the license, which stays.
    broker
        .post(
            &format!("/v1/receipts/{}/refund", bought.body["receipt"]["id"].as_str().unwrap()),
            Auth::Code(&stall.artist),
            json!({ "amount": "0.25" }),
        )
        .await
        .expect(201);
    let read = broker
        .get(&format!("/v1/licenses/{code}"), Auth::None)
        .await
        .expect(200);
    assert_eq!(read.body["license"]["refunded"]["amount"], "0.25");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn refused_licenses_pay_nothing_and_make_no_code() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let item = stall.item.as_str();
    let max = smartcode_core::limits::LICENSE_COPIES_MAX;
    let refusals = [
        (json!({ "item_id": item, "copies": 0 }), 400, "invalid_request"),
        (json!({ "item_id": item, "copies": max + 1 }), 400, "invalid_request"),
        (json!({ "item_id": item, "copies": -1 }), 400, "invalid_request"),
        (
            json!({ "item_id": "it_0000000000000000", "copies": 1 }),
            404,
            "not_found",
        ),
        (json!({ "copies": 1 }), 400, "invalid_request"),
        (
            json!({ "item_id": item, "work": "Both", "price": "1", "copies": 1 }),
            400,
            "invalid_request",
        ),
        (
            json!({ "work": "A work", "copies": 1, "payee": stall.shop }),
            400,
            "invalid_request",
        ),
        (
            json!({ "work": "A work", "price": "0.10", "copies": 1 }),
            400,
            "invalid_request",
        ),
        (
            json!({ "work": "   ", "price": "0.10", "copies": 1, "payee": stall.shop }),
            400,
            "invalid_request",
        ),
        (
            json!({ "item_id": item, "copies": 1, "licensee": "x".repeat(101) }),
            400,
            "limit_exceeded",
        ),
        (json!({ "item_id": item, "copies": max }), 402, "insufficient_funds"),
        (
            json!({ "work": "Too dear", "price": "1000000000", "copies": 2, "payee": stall.shop }),
            422,
            "license_total_too_large",
        ),
        (
            json!({ "work": "Nowhere", "price": "0.10", "copies": 1, "payee": "P-00000-00000" }),
            404,
            "not_found",
        ),
    ];
    for (n, (body, status, word)) in refusals.into_iter().enumerate() {
        let refused = buy(&broker, &stall.buyer, body.clone(), &format!("refused-{n}")).await;
        assert_eq!(refused.status, status, "{body}: {}", refused.text);
        assert_eq!(refused.code(), word, "{body}: {}", refused.text);
    }
    // A payee other than the item's own public code is refused, with the right one named.
    let (other, _) = broker.public_child(&stall.artist).await;
    let mismatch = buy(
        &broker,
        &stall.buyer,
        json!({ "item_id": item, "copies": 1, "payee": other }),
        "mismatch",
    )
    .await
    .refused(409, "license_payee_mismatch");
    assert!(mismatch.text.contains(&stall.shop), "{}", mismatch.text);
    // The seller cannot license its own item to itself.
    buy(&broker, &stall.artist, json!({ "item_id": item, "copies": 1 }), "own")
        .await
        .refused(409, "conflict");
    assert_eq!(broker.balance(&stall.buyer).await, "5.00", "nothing was paid");
    assert!(
        children_of(&broker, &stall.buyer).await.is_empty(),
        "no license code was made"
    );
    // The item's own public code, named, is fine.
    buy(
        &broker,
        &stall.buyer,
        json!({ "item_id": item, "copies": 2, "payee": stall.shop }),
        "named",
    )
    .await
    .expect(201);
    assert_eq!(broker.balance(&stall.buyer).await, "4.60");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_seller_is_told_license_bought_with_the_license_and_its_signed_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, seller, shop, buyer) = shop(&dir.path().join("data")).await;
    let receiver = Receiver::start(&[]).await;
    let (_, secret) = subscribe(&broker, &seller, &receiver.url, &["license.bought"]).await;
    let body = json!({ "work": "A poem", "price": "0.10", "copies": 7, "payee": shop, "licensee": "Acme" });
    let bought = buy(&broker, &buyer, body, "hooked").await.expect(201);
    let code = bought.body["license_code"].as_str().unwrap();
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1, "only license.bought was subscribed to");
    let event = got[0].json();
    assert_eq!(event["type"], "license.bought");
    assert_eq!(event["data"]["license"]["license_code"], code);
    assert_eq!(event["data"]["license"]["copies"], 7);
    assert_eq!(event["data"]["license"]["licensee"], "Acme");
    assert_eq!(event["data"]["receipt"]["amount"]["amount"], "0.70");
    let receipt = receipt_of(&event["data"]["receipt"]);
    assert_eq!(verify(&receipt, &published_key(&broker).await), Ok(Version::V2));
    assert_eq!(
        smartcode_client::webhooks::verify(&secret, &got[0].signature, &got[0].body, unix_now(), 300),
        Ok(())
    );
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_command_line_buys_a_license_and_checks_it_and_a_browser_shows_it() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let cli = crate::cli::Cli { broker: &broker };
    let text = cli.text(
        Some(&stall.buyer),
        &[
            "items",
            "license",
            &stall.item,
            "--copies",
            "5",
            "--licensee",
            "Print Shop",
        ],
    );
    assert!(text.contains("5 copies of \"A song\""), "{text}");
    let code = text
        .split("License ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .expect("the license code is printed")
        .to_owned();
    assert_eq!(broker.balance(&stall.buyer).await, "4.00");
    // Anyone checks it, with no code: the receipt verifies against the published key.
    let shown = cli.text(None, &["items", "license-show", &code]);
    assert!(shown.contains("signature verified"), "{shown}");
    assert!(shown.contains("for Print Shop"), "{shown}");
    let json = cli.json(None, &["items", "license-show", &code]);
    assert_eq!(json["verified"], true);
    assert_eq!(json["license"]["copies"], 5);
    // A named work needs its price and payee.
    let refused = cli.run(
        Some(&stall.buyer),
        &["items", "license", "--work", "A report", "--copies", "2"],
    );
    assert!(!refused.status.success());
    let work = cli.json(
        Some(&stall.buyer),
        &[
            "items",
            "license",
            "--work",
            "A report",
            "--copies",
            "2",
            "--price",
            "0.50",
            "--payee",
            &stall.shop,
        ],
    );
    assert_eq!(work["license"]["total"]["amount"], "1.00");

    if let Some(browser) = crate::web::browser().await {
        browser.open(&format!("{}/l/{code}", broker.base)).await;
        browser.check_page_basics("a license's page").await;
        let body = browser.text("body").await;
        assert!(body.contains("Print Shop"), "{body}");
        assert!(body.contains('5'), "{body}");
        browser.screenshot("license-page").await;
    }
    broker.assert_ledger_ok().await;
}

//! The pages as people use them (issue 13): a seller's link that carries an order and brings the
//! buyer back, forms that keep what was typed and say what is wrong in words, and a history that
//! names people and reads well on a phone. In Chromium where the browser matters, over HTTP where
//! it does not.

use serde_json::json;

use crate::forms::Visitor;
use crate::harness::{Auth, TestBroker};
use crate::web::browser;

/// A seller's public code whose profile's web address is `url`; returns the public code.
async fn shop_with_site(broker: &TestBroker, seller: &str, url: &str) -> String {
    let shop = broker
        .post(
            "/v1/me/children",
            Auth::Code(seller),
            json!({ "kind": "public", "label": "shop", "profile": { "name": "Ann's songs", "url": url } }),
        )
        .await
        .expect(201);
    shop.body["public_code"].as_str().unwrap().to_owned()
}

fn query_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn a_pay_link_fills_the_form_in_and_brings_the_buyer_back_with_the_receipt() {
    let Some(browser) = browser().await else { return };
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("5", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    // The seller's site is the broker's own address under /shop: the browser can land there.
    let site = format!("{}/shop", broker.base);
    let shop = shop_with_site(&broker, &seller, &site).await;
    let back = format!("{site}/thanks?order=17");
    let link = format!(
        "{}/p/{shop}?amount=0.30&memo={}&return={}",
        broker.base,
        query_encode("order 17"),
        query_encode(&back)
    );
    browser.open(&link).await;
    let filled = browser
        .js("return [document.querySelector('#pay-amount').value, document.querySelector('#pay-memo').value]")
        .await;
    assert_eq!(filled, json!(["0.30", "order 17"]), "the link filled the form in");
    assert!(browser.text("#return-note").await.contains("go back"));
    browser.check_page_basics("a public page opened from a pay link").await;
    browser.screenshot("pay-link").await;
    browser.fill("#pay-code", &buyer).await;
    browser.click("form[action$='/pay'] button").await;
    let landed = browser.client.current_url().await.unwrap();
    assert_eq!(
        landed.path(),
        "/shop/thanks",
        "the buyer is back on the seller's site: {landed}"
    );
    let pairs: Vec<(String, String)> = landed.query_pairs().into_owned().collect();
    assert_eq!(pairs[0], ("order".to_owned(), "17".to_owned()), "{landed}");
    let (_, receipt_id) = pairs.iter().find(|(k, _)| k == "receipt").expect("a receipt id");
    let receipt = broker
        .get(&format!("/v1/receipts/{receipt_id}"), Auth::None)
        .await
        .expect(200);
    assert_eq!(receipt.body["receipt"]["payee"], shop.as_str());
    assert_eq!(receipt.body["receipt"]["amount"]["amount"], "0.30");
    assert_eq!(receipt.body["receipt"]["memo"], "order 17");
    assert_eq!(broker.balance(&buyer).await, "4.70");

    // A link whose return leads elsewhere: the page says it is ignored, and the buyer stays.
    let elsewhere = "https://evil.example/collect";
    browser
        .open(&format!(
            "{}/p/{shop}?amount=0.20&return={}",
            broker.base,
            query_encode(elsewhere)
        ))
        .await;
    assert!(browser.text("#return-note").await.contains("ignored"));
    browser.fill("#pay-code", &buyer).await;
    browser.click("form[action$='/pay'] button").await;
    assert!(browser.text("#receipt").await.contains("0.20 USD"));
    let url = browser.client.current_url().await.unwrap().to_string();
    assert!(url.starts_with(&broker.base), "still on the broker: {url}");
    assert_eq!(broker.balance(&buyer).await, "4.50");
    assert_eq!(broker.balance(&seller).await, "1.50");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_return_address_is_followed_only_under_the_sellers_site() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("5", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let shop = shop_with_site(&broker, &seller, "https://ann.example/shop").await;
    let visitor = Visitor::arrive(&broker).await;
    let page = |ret: &str| {
        let url = format!("{}/p/{shop}?return={}", broker.base, query_encode(ret));
        let http = visitor.http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    for allowed in [
        "https://ann.example/shop",
        "https://ann.example/shop/",
        "https://ANN.example:443/shop/done?x=1#top",
        "https://ann.example/shop/a/b",
    ] {
        let html = page(allowed).await;
        assert!(html.contains("name=\"return\""), "{allowed} is under the site");
    }
    for refused in [
        "http://ann.example/shop/done",
        "https://ann.example:8443/shop/done",
        "https://ann.example/shopping",
        "https://ann.example/",
        "https://ann.example/shop/../admin",
        "https://ann.example/shop/%2e%2e/admin",
        "https://ann.example.evil.example/shop",
        "https://evil.example/shop",
        "https://user@ann.example/shop",
        "//ann.example/shop",
        "/shop",
        "javascript:alert(1)",
        "not a url",
    ] {
        let html = page(refused).await;
        assert!(!html.contains("name=\"return\""), "{refused} is not under the site");
        assert!(html.contains("ignored"), "{refused}: the page says it is ignored");
    }

    // A form that carries a return address anyway is checked again when it pays.
    let pay = format!("/p/{shop}/pay");
    let forged = [
        ("code", buyer.as_str()),
        ("amount", "0.10"),
        ("nonce", "forged-return"),
        ("return", "https://evil.example/"),
    ];
    let paid = visitor.post(&pay, &forged, true).await;
    assert_eq!(paid.status(), 200, "the receipt page, not a redirect");
    let allowed = [
        ("code", buyer.as_str()),
        ("amount", "0.10"),
        ("nonce", "kept-return"),
        ("return", "https://ann.example/shop/done"),
    ];
    let paid = visitor.post(&pay, &allowed, true).await;
    assert_eq!(paid.status(), 303);
    let location = paid.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://ann.example/shop/done?receipt=r_"),
        "{location}"
    );
    assert_eq!(broker.balance(&buyer).await, "4.80");
    broker.assert_ledger_ok().await;
}

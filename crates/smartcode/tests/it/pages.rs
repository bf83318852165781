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

/// RFC 4180 rows: quoted fields may hold commas, doubled quotes and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "every row ends with CRLF");
    rows
}

#[tokio::test]
async fn history_names_the_other_side_carries_receipts_and_comes_as_csv() {
    let broker = TestBroker::start().await;
    let (parent, _) = broker.issue("10", "USD").await;
    broker
        .put("/v1/me/profile", Auth::Code(&parent), json!({ "name": "Mom" }))
        .await
        .expect(200);
    let child = broker
        .post(
            "/v1/me/children",
            Auth::Code(&parent),
            json!({ "kind": "secret", "amount": "2", "label": "pocket" }),
        )
        .await
        .expect(201);
    let child = child.body["code"].as_str().unwrap().to_owned();
    let (seller, _) = broker.issue("1", "USD").await;
    let shop = shop_with_site(&broker, &seller, "https://ann.example/shop").await;
    let memo = "=HYPERLINK(\"x\"), \"a song\"\nline two";
    let paid = broker
        .post(
            "/v1/payments",
            Auth::None,
            json!({ "code": child, "payee": shop, "amount": "0.25", "memo": memo }),
        )
        .await
        .expect(201);
    let receipt_id = paid.body["receipt"]["id"].as_str().unwrap().to_owned();

    // The buyer: the shop paid by its public code, the receipt, the parent by its profile name.
    let history = broker.get("/v1/me/transactions", Auth::Code(&child)).await.expect(200);
    let [payment, funded] = &history.body["transactions"].as_array().unwrap()[..] else {
        panic!("two transactions: {}", history.body)
    };
    assert_eq!(payment["counterparty"], shop.as_str());
    assert_eq!(payment["public_code"], shop.as_str());
    assert_eq!(payment["receipt_id"], receipt_id.as_str());
    assert_eq!(funded["kind"], "fund");
    assert_eq!(funded["counterparty"], "Mom", "a code above by its public name");
    assert!(funded.get("receipt_id").is_none());
    // The parent: its child by the label it gave it, the issue by the broker.
    let history = broker.get("/v1/me/transactions", Auth::Code(&parent)).await.expect(200);
    let names: Vec<&str> = history.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["counterparty"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["pocket", "broker"]);
    // The seller: the payment through its public code, with its receipt; the payer by id only.
    let history = broker.get("/v1/me/transactions", Auth::Code(&seller)).await.expect(200);
    let received = &history.body["transactions"][0];
    assert_eq!(received["public_code"], shop.as_str());
    assert_eq!(received["receipt_id"], receipt_id.as_str());
    assert_eq!(
        received["counterparty"],
        json!(null),
        "a payer's label is not the seller's to see"
    );

    // As CSV: the same rows, quoted where they must be, and a memo a spreadsheet will not run.
    let csv = broker
        .call_with(
            http::Method::GET,
            "/v1/me/transactions",
            Auth::Code(&child),
            None,
            &[("Accept", "text/csv")],
        )
        .await
        .expect(200);
    assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
    let rows = parse_csv(&csv.text);
    assert_eq!(
        rows[0].join(","),
        "id,at,kind,amount,currency,counterparty,counterparty_id,public_code,receipt_id,memo,category,item"
    );
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[1][0], receipt_id);
    assert_eq!(rows[1][2..6], ["payment", "-0.25", "USD", shop.as_str()]);
    assert_eq!(rows[1][7..9], [shop.as_str(), receipt_id.as_str()]);
    assert_eq!(rows[1][9], format!("'{memo}"));
    assert_eq!(rows[2][2..6], ["fund", "2.00", "USD", "Mom"]);

    // The command line prints the same CSV.
    let cli = crate::cli::Cli { broker: &broker };
    assert_eq!(cli.text(Some(&child), &["history", "--csv"]), csv.text);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_history_reads_as_a_list_on_a_phone_in_local_time() {
    let Some(browser) = browser().await else { return };
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("5", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let shop = shop_with_site(&broker, &seller, "https://ann.example/shop").await;
    let paid = broker.pay(&buyer, &shop, "0.25").await.expect(201);
    let receipt_id = paid.body["receipt"]["id"].as_str().unwrap().to_owned();
    let created_at = paid.body["receipt"]["created_at"].as_str().unwrap().to_owned();

    // Without script the page says UTC, and says it is UTC.
    let mut visitor = Visitor::arrive(&broker).await;
    visitor.log_in("/enter", &[("code", &buyer)]).await;
    let html = visitor
        .http
        .get(format!("{}/me", broker.base))
        .header("cookie", &visitor.cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = format!("{} UTC</time>", created_at[..16].replace('T', " "));
    assert!(html.contains(&label), "the time is labelled UTC: {label}");
    let csv = visitor
        .http
        .get(format!("{}/me/transactions.csv", broker.base))
        .header("cookie", &visitor.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("id,at,kind") && csv.contains(&receipt_id), "{csv}");

    browser.client.set_window_size(390, 844).await.unwrap();
    browser.open(&broker.base).await;
    browser.fill("#code", &buyer).await;
    browser.click("form[action='/enter'] button").await;
    let row = browser.text("table.history tbody tr").await;
    assert!(row.contains(&shop) && row.contains(&receipt_id), "{row}");
    assert!(browser.exists("a[href='/me/transactions.csv']").await);
    // In the browser's time zone (chromedriver runs at UTC+05:30), with the UTC time as its title.
    let shown = browser
        .js("var t = document.querySelector('table.history time'); return [t.textContent, t.title, new Date(t.dateTime).getTimezoneOffset()]")
        .await;
    assert_eq!(shown[2], -330, "the browser runs half an hour off UTC");
    let (local, title) = (shown[0].as_str().unwrap(), shown[1].as_str().unwrap());
    assert!(title.ends_with(" UTC") && !local.contains("UTC"), "{shown}");
    let minutes_utc = &created_at[14..16];
    let minutes_local = format!("{:02}", (created_at[14..16].parse::<u32>().unwrap() + 30) % 60);
    assert!(
        local.contains(&format!(":{minutes_local}")),
        "{local} is local time (UTC minutes {minutes_utc})"
    );
    // A list, not a six-column table: each cell a line of its own, no sideways scroll.
    let layout = browser
        .js(
            "var cells = Array.from(document.querySelectorAll('table.history tbody tr:first-child td'));
             return [getComputedStyle(cells[0]).display,
                     Math.max.apply(null, cells.map(c => c.getBoundingClientRect().height)),
                     document.documentElement.scrollWidth - document.documentElement.clientWidth]",
        )
        .await;
    assert_eq!(layout[0], "block", "{layout}");
    assert!(
        layout[1].as_f64().unwrap() < 60.0,
        "no cell wraps a letter at a time: {layout}"
    );
    assert!(layout[2].as_i64().unwrap() <= 0, "no sideways scrolling: {layout}");
    browser.check_page_basics("the control center on a phone").await;
    browser
        .js("document.querySelector('table.history').scrollIntoView(); return true")
        .await;
    browser.screenshot("history-phone").await;
    broker.assert_ledger_ok().await;
}

/// A code of `amount` USD with the PIN 2468.
async fn code_with_pin(broker: &TestBroker, amount: &str) -> String {
    let (code, _) = broker.issue(amount, "USD").await;
    broker
        .put("/v1/me/pin", Auth::Code(&code), json!({ "pin": "2468" }))
        .await
        .expect(200);
    code
}

#[tokio::test]
async fn a_wrong_pin_says_how_many_tries_remain_and_too_little_says_what_is_available() {
    let broker = TestBroker::start().await;
    let buyer = code_with_pin(&broker, "2").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let pay = |amount: &'static str, pin: &'static str| {
        let body = json!({ "code": buyer, "payee": shop, "amount": amount });
        let broker = &broker;
        async move {
            broker
                .call_with(
                    http::Method::POST,
                    "/v1/payments",
                    Auth::None,
                    Some(body),
                    &[("Smartcode-Pin", pin)],
                )
                .await
        }
    };
    let wrong = pay("0.10", "1111").await.refused(403, "pin_invalid");
    assert_eq!(wrong.body["tries_left"], 4, "{}", wrong.body);
    assert!(wrong.body["detail"]
        .as_str()
        .unwrap()
        .contains("4 tries left before the code locks"));
    let wrong = pay("0.10", "1112").await.refused(403, "pin_invalid");
    assert_eq!(wrong.body["tries_left"], 3);
    let short = pay("5", "2468").await.refused(402, "insufficient_funds");
    assert_eq!(short.body["available"], json!({ "amount": "2.00", "currency": "USD" }));
    assert!(short.body["detail"].as_str().unwrap().contains("2.00 USD available"));
    // The right PIN starts the count again.
    pay("0.10", "2468").await.expect(201);
    let wrong = pay("0.10", "1113").await.refused(403, "pin_invalid");
    assert_eq!(wrong.body["tries_left"], 4);

    // The command line names its own ways to give the PIN.
    let cli = crate::cli::Cli { broker: &broker };
    let refused = cli.run(Some(&buyer), &["pay", "--payee", &shop, "--amount", "0.10"]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("--pin") && said.contains("SMARTCODE_PIN"), "{said}");
    assert_eq!(broker.balance(&buyer).await, "1.90");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn forms_keep_what_was_typed_name_the_wrong_field_and_speak_to_people() {
    let Some(browser) = browser().await else { return };
    let broker = TestBroker::start().await;
    let buyer = code_with_pin(&broker, "2").await;
    let (seller, _) = broker.issue("3", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let api_words = [
        "pin_invalid",
        "insufficient_funds",
        "invalid_request",
        "Smartcode-Pin",
        "Idempotency-Key",
    ];
    let no_api_words = |html: String| {
        for word in api_words {
            assert!(!html.contains(word), "a page for people says {word}");
        }
    };

    // The pay form: a wrong PIN keeps the rest, says how many tries remain, and marks the PIN.
    browser.open(&format!("{}/p/{shop}", broker.base)).await;
    browser.fill("#pay-code", &buyer).await;
    browser.fill("#pay-amount", "0.30").await;
    browser.fill("#pay-memo", "order 5").await;
    browser.fill("#pay-pin", "1111").await;
    browser.click("form[action$='/pay'] button").await;
    assert_eq!(
        browser.text("#pay-error").await,
        "That PIN is wrong: 4 tries left before the code locks."
    );
    let form = browser
        .js("var v = id => document.getElementById(id); return [v('pay-code').value, v('pay-amount').value, v('pay-memo').value,
             v('pay-pin').value, v('pay-pin').getAttribute('aria-invalid'), v('pay-pin').getAttribute('aria-describedby'),
             v('pay-amount').getAttribute('aria-invalid')]")
        .await;
    assert_eq!(form, json!([buyer, "0.30", "order 5", "", "true", "pay-error", null]));
    no_api_words(browser.client.source().await.unwrap());
    browser.forget_refused_status().await;
    // Too much: says what is there, and marks the amount.
    browser.fill("#pay-amount", "9").await;
    browser.fill("#pay-pin", "2468").await;
    browser.click("form[action$='/pay'] button").await;
    assert!(browser.text("#pay-error").await.contains("2.00 USD is available"));
    assert_eq!(
        browser
            .js("return document.getElementById('pay-amount').getAttribute('aria-describedby')")
            .await,
        "pay-error"
    );
    browser.forget_refused_status().await;
    browser.screenshot("pay-form-refused").await;

    // The control center: a child form refused keeps its fields and points at the amount.
    browser.open(&broker.base).await;
    browser.fill("#code", &seller).await;
    browser.click("form[action='/enter'] button").await;
    browser.fill("#child-secret-amount", "2.5.0").await;
    browser.fill("#child-secret-label", "pocket").await;
    browser.click("#child-secret button[type=submit]").await;
    let url = browser.client.current_url().await.unwrap();
    assert_eq!(url.fragment(), Some("child-secret"), "the page opens at the form");
    let child = browser
        .js("var v = id => document.getElementById(id); return [v('child-secret-label').value, v('child-secret-amount').value,
             v('child-secret-amount').getAttribute('aria-invalid'), v('child-secret-amount').getAttribute('aria-describedby'),
             v('child-secret-error').textContent]")
        .await;
    assert_eq!(child[0], "pocket");
    assert_eq!(child[1], "2.5.0");
    assert_eq!(child[2], "true");
    assert_eq!(child[3], "child-secret-error");
    assert!(child[4].as_str().unwrap().contains("such as 0.25"), "{child}");
    no_api_words(browser.client.source().await.unwrap());
    // A new PIN typed twice, differently: refused, the second one marked.
    browser.fill("#pin-new_pin", "1234").await;
    browser.fill("#pin-new_pin_again", "1243").await;
    browser.click("#pin button[type=submit]").await;
    assert!(browser.text("#pin-error").await.contains("two PINs differ"));
    assert_eq!(
        browser
            .js("return document.getElementById('pin-new_pin_again').getAttribute('aria-invalid')")
            .await,
        "true"
    );
    let me = broker.get("/v1/me", Auth::Code(&seller)).await.expect(200);
    assert_eq!(me.body["pin_set"], false, "no PIN was set");
    // A public code is closed, not "cancelled and its value taken back": it holds none.
    let buttons = browser
        .js("return Array.from(document.querySelectorAll('details.node form[action$=\"/cancel\"] button')).map(b => b.textContent)")
        .await;
    assert_eq!(buttons, json!(["Close this public code…"]));
    browser.check_page_basics("the control center after refusals").await;
    assert_eq!(broker.balance(&seller).await, "3.00");
    assert_eq!(broker.balance(&buyer).await, "2.00");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn an_ended_session_says_so_and_cancel_and_rekey_ask_first() {
    let broker = TestBroker::start().await;
    let (code, _) = broker.issue("5", "USD").await;
    let (child, child_id) = broker.secret_child(&code, "1").await;

    // A session the broker no longer has: the start page says so, and leads back to the page.
    let mut stale = Visitor::arrive(&broker).await;
    stale.cookie = format!("{}; sc_session={}", stale.cookie, "ab".repeat(32));
    let me = stale
        .http
        .get(format!("{}/me?cursor=5", broker.base))
        .header("cookie", &stale.cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 303);
    let location = me.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(location, "/?ended=1&next=%2Fme%3Fcursor%3D5");
    let home = stale
        .http
        .get(format!("{}{location}", broker.base))
        .send()
        .await
        .unwrap();
    let html = home.text().await.unwrap();
    assert!(html.contains("Your session ended"), "{html}");
    assert!(html.contains("name=\"next\" value=\"/me?cursor=5\""));
    let entered = stale
        .post("/enter", &[("code", &code), ("next", "/me?cursor=5")], true)
        .await;
    assert_eq!(entered.headers()["location"], "/me?cursor=5");
    let elsewhere = stale
        .post("/enter", &[("code", &code), ("next", "https://evil.example/")], true)
        .await;
    assert_eq!(
        elsewhere.headers()["location"],
        "/me",
        "a login goes on only to the control center"
    );

    // Cancel asks first, and the question changes nothing.
    let mut visitor = Visitor::arrive(&broker).await;
    visitor.log_in("/enter", &[("code", &code)]).await;
    let cancel = format!("/me/children/{child_id}/cancel");
    let asked = visitor.post(&cancel, &[("nonce", "ask-cancel")], true).await;
    assert_eq!(asked.status(), 200);
    let page = asked.text().await.unwrap();
    assert!(
        page.contains("name=\"confirm\" value=\"yes\"") && page.contains("1.00 USD"),
        "{page}"
    );
    assert_eq!(broker.balance(&child).await, "1.00", "still working");
    let done = visitor
        .post(&cancel, &[("nonce", "do-cancel"), ("confirm", "yes")], true)
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(broker.balance(&code).await, "5.00", "the value came back");
    // So does a rekey: the old secret works until it is confirmed.
    let asked = visitor.post("/me/rekey", &[("nonce", "ask-rekey")], true).await;
    assert!(asked.text().await.unwrap().contains("Replace the secret?"));
    broker.get("/v1/me", Auth::Code(&code)).await.expect(200);
    visitor
        .post("/me/rekey", &[("nonce", "do-rekey"), ("confirm", "yes")], true)
        .await;
    broker
        .get("/v1/me", Auth::Code(&code))
        .await
        .refused(401, "invalid_code");
    broker.assert_ledger_ok().await;
}

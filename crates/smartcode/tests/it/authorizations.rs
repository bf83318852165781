//! Authorization codes and numeric aliases (issue 14): an all-digit code for one exact amount that
//! a seller presents like a secret code, once; and all-digit names for secret and public codes that
//! work wherever the codes do. Through the real server on both stores (these tests run again on
//! PostgreSQL); every test ends with the ledger check.

use reqwest::Method;
use serde_json::{json, Value};

use crate::cli::Cli;
use crate::forms::Visitor;
use crate::harness::{Auth, Reply, TestBroker};

async fn me(broker: &TestBroker, code: &str) -> Value {
    broker.get("/v1/me", Auth::Code(code)).await.expect(200).body
}

async fn authorize(broker: &TestBroker, code: &str, body: Value) -> Reply {
    broker.post("/v1/me/authorizations", Auth::Code(code), body).await
}

async fn advance(broker: &TestBroker, seconds: i64) {
    broker
        .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": seconds }))
        .await
        .expect(200);
}

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// The Luhn check digit of `body`, as the broker computes it.
fn luhn(body: &str) -> char {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(place, b)| {
            let d = u32::from(b - b'0');
            if place % 2 == 0 {
                (d * 2) / 10 + (d * 2) % 10
            } else {
                d
            }
        })
        .sum();
    char::from(b'0' + ((10 - sum % 10) % 10) as u8)
}

/// `code` with its `place`-th digit changed: the check digit catches it.
fn typo(code: &str, place: usize) -> String {
    let mut bytes = digits(code).into_bytes();
    bytes[place] = b'0' + (bytes[place] - b'0' + 1) % 10;
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn an_authorization_code_pays_its_exact_amount_once_and_a_typo_is_not_a_guess() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;

    let made = authorize(&broker, &buyer, json!({ "amount": "2.5" })).await.expect(201);
    let code = made.body["authorization_code"].as_str().unwrap().to_owned();
    let number = digits(&code);
    assert_eq!(
        number.len(),
        1 + 10 + 1,
        "broker number, ten random digits, a check digit"
    );
    assert!(number.starts_with('1'), "it starts with the broker's number");
    assert_eq!(luhn(&number[..number.len() - 1]), number.chars().last().unwrap());
    assert_eq!(made.body["status"], "pending");
    assert_eq!(made.body["amount"]["amount"], "2.50");
    let id = made.body["id"].as_str().unwrap().to_owned();

    // The amount is set aside at once: the balance stays, what is available falls.
    let view = me(&broker, &buyer).await;
    assert_eq!(view["balance"]["amount"], "10.00");
    assert_eq!(view["available"]["amount"], "7.50");
    assert_eq!(view["authorizations"][0]["id"], id.as_str());
    assert!(view.get("holds").is_none(), "an authorization is not a seller's hold");

    // A seller presents it like a secret code: any other amount is refused, the exact one pays.
    broker.pay(&code, &shop, "2").await.refused(409, "amount_mismatch");
    let paid = broker.pay(&code, &shop, "2.5").await.expect(201);
    assert_eq!(paid.body["receipt"]["amount"]["amount"], "2.50");
    let receipt_id = paid.body["receipt"]["id"].as_str().unwrap().to_owned();
    let used_again = broker.pay(&code, &shop, "2.5").await.refused(401, "invalid_code");
    assert!(
        used_again.body["tries_left"].is_number(),
        "a used code counts as a guess"
    );
    assert_eq!(broker.balance(&buyer).await, "7.50");
    let view = me(&broker, &buyer).await;
    assert_eq!(view["available"]["amount"], "7.50");
    assert!(view.get("authorizations").is_none(), "nothing is set aside any more");
    let listed = broker
        .get("/v1/me/authorizations", Auth::Code(&buyer))
        .await
        .expect(200);
    let first = &listed.body["authorizations"][0];
    assert_eq!(first["status"], "used");
    assert_eq!(first["receipt_id"], receipt_id.as_str());
    assert_eq!(first["payee"], shop.as_str());
    assert!(first.get("authorization_code").is_none(), "the code is shown once");

    // One mistyped digit is caught by the check digit: a format error that is not counted.
    let other = authorize(&broker, &buyer, json!({ "amount": "1" })).await.expect(201);
    let other = digits(other.body["authorization_code"].as_str().unwrap());
    for place in [1, 5, other.len() - 1] {
        let refused = broker
            .pay(&typo(&other, place), &shop, "1")
            .await
            .refused(400, "invalid_code_format");
        assert!(
            refused.body.get("tries_left").is_none(),
            "a typo is not a guess: {}",
            refused.text
        );
    }
    // A well-formed code that was never issued is a guess, counted like a wrong secret code.
    let body = format!("1{}", "0".repeat(10));
    let guess = format!("{body}{}", luhn(&body));
    let refused = broker.pay(&guess, &shop, "1").await.refused(401, "invalid_code");
    assert!(refused.body["tries_left"].is_number());
    // It is a payment credential and nothing else.
    broker
        .get("/v1/me", Auth::Code(&other))
        .await
        .refused(401, "invalid_code");
    broker.pay(&other, &shop, "1").await.expect(201);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn an_authorization_for_one_payee_is_cancelled_or_expires_back_to_its_code_at_once() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let (elsewhere, _) = broker.public_child(&seller).await;

    let made = authorize(&broker, &buyer, json!({ "amount": "3", "payee": shop }))
        .await
        .expect(201);
    assert_eq!(made.body["payee"], shop.as_str());
    let code = made.body["authorization_code"].as_str().unwrap().to_owned();
    let id = made.body["id"].as_str().unwrap().to_owned();
    broker.pay(&code, &elsewhere, "3").await.refused(403, "restricted");

    // Cancelled: the value is back at once and the code no longer pays.
    let cancel = format!("/v1/me/authorizations/{id}/cancel");
    let cancelled = broker.post(&cancel, Auth::Code(&buyer), json!({})).await.expect(200);
    assert_eq!(cancelled.body["status"], "cancelled");
    assert_eq!(me(&broker, &buyer).await["available"]["amount"], "10.00");
    broker.pay(&code, &shop, "3").await.refused(401, "invalid_code");
    broker
        .post(&cancel, Auth::Code(&buyer), json!({}))
        .await
        .refused(409, "hold_not_pending");
    // Only its maker cancels it.
    let other = authorize(&broker, &buyer, json!({ "amount": "1" })).await.expect(201);
    let other_id = other.body["id"].as_str().unwrap();
    broker
        .post(
            &format!("/v1/me/authorizations/{other_id}/cancel"),
            Auth::Code(&seller),
            json!({}),
        )
        .await
        .refused(404, "not_found");

    // Expired: its value is available before any sweep, and a use is refused as expired.
    let short = authorize(&broker, &buyer, json!({ "amount": "4", "expires_in_seconds": 60 }))
        .await
        .expect(201);
    let short_code = short.body["authorization_code"].as_str().unwrap().to_owned();
    assert_eq!(me(&broker, &buyer).await["available"]["amount"], "5.00");
    advance(&broker, 61).await;
    assert_eq!(me(&broker, &buyer).await["available"]["amount"], "9.00");
    broker.pay(&short_code, &shop, "4").await.refused(410, "expired");
    let listed = broker
        .get("/v1/me/authorizations", Auth::Code(&buyer))
        .await
        .expect(200);
    assert_eq!(listed.body["authorizations"][0]["status"], "expired");

    // Limits: the lifetime, the available value, the currency.
    for seconds in [0, 24 * 3600 + 1] {
        authorize(&broker, &buyer, json!({ "amount": "1", "expires_in_seconds": seconds }))
            .await
            .refused(400, "invalid_request");
    }
    authorize(&broker, &buyer, json!({ "amount": "9.01" }))
        .await
        .refused(402, "insufficient_funds");
    authorize(&broker, &buyer, json!({ "amount": "1", "currency": "EUR" }))
        .await
        .refused(409, "currency_mismatch");
    authorize(&broker, &buyer, json!({ "amount": "0" }))
        .await
        .refused(400, "invalid_request");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn numeric_aliases_work_wherever_their_codes_do_and_a_rekey_replaces_the_secret_one() {
    let broker = TestBroker::start().await;
    let (buyer, buyer_id) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, shop_id) = broker.public_child(&seller).await;

    // A secret code's alias: as many possibilities as the code, and it is the code everywhere.
    let made = broker
        .post("/v1/me/alias", Auth::Code(&buyer), json!({}))
        .await
        .expect(201);
    let alias = made.body["alias"].as_str().unwrap().to_owned();
    assert_eq!(digits(&alias).len(), 1 + 13 + 1);
    assert_eq!(me(&broker, &alias).await["id"], buyer_id.as_str());
    assert!(
        me(&broker, &buyer).await["alias"]["alias"].is_null(),
        "a secret alias is shown once"
    );

    // A public code's alias: public, shown to its owner and usable as a payee and a page.
    let public = broker
        .post(
            &format!("/v1/me/children/{shop_id}/alias"),
            Auth::Code(&seller),
            json!({}),
        )
        .await
        .expect(201);
    let public_alias = public.body["alias"].as_str().unwrap().to_owned();
    assert_eq!(digits(&public_alias).len(), 1 + 8 + 1);
    let paid = broker.pay(&alias, &public_alias, "1.25").await.expect(201);
    assert_eq!(paid.body["receipt"]["payee"], shop.as_str());
    let page = broker
        .get(&format!("/v1/public/{}", digits(&public_alias)), Auth::None)
        .await;
    assert_eq!(page.expect(200).body["public_code"], shop.as_str());
    broker
        .post("/v1/me/alias", Auth::Code(&public_alias), json!({}))
        .await
        .refused(401, "invalid_code");
    // Someone else's public code cannot be given an alias.
    broker
        .post(
            &format!("/v1/me/children/{shop_id}/alias"),
            Auth::Code(&buyer),
            json!({}),
        )
        .await
        .refused(404, "not_found");

    // A rekey gives a new alias with the new code; the old code and the old alias stop working.
    let rekeyed = broker
        .post("/v1/me/rekey", Auth::Code(&alias), json!({}))
        .await
        .expect(200);
    let new_code = rekeyed.body["code"].as_str().unwrap().to_owned();
    let new_alias = rekeyed.body["alias"]["alias"].as_str().unwrap().to_owned();
    assert_ne!(digits(&new_alias), digits(&alias));
    broker
        .get("/v1/me", Auth::Code(&alias))
        .await
        .refused(401, "invalid_code");
    broker
        .get("/v1/me", Auth::Code(&buyer))
        .await
        .refused(401, "invalid_code");
    assert_eq!(me(&broker, &new_alias).await["id"], buyer_id.as_str());

    // Removed, an alias stops working; the code does not.
    let removed = broker
        .call(Method::DELETE, "/v1/me/alias", Auth::Code(&new_code), None)
        .await
        .expect(200);
    assert_eq!(removed.body["removed"], true);
    broker
        .get("/v1/me", Auth::Code(&new_alias))
        .await
        .refused(401, "invalid_code");
    assert_eq!(broker.balance(&new_code).await, "8.75");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_command_line_authorizes_pays_with_the_code_and_gives_aliases() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, shop_id) = broker.public_child(&seller).await;
    let cli = Cli { broker: &broker };

    let made = cli.json(
        Some(&buyer),
        &["authorize", "1.50", "--payee", &shop, "--expires-in", "600"],
    );
    let code = made["authorization_code"].as_str().unwrap().to_owned();
    let out = cli.text(Some(&code), &["pay", "--payee", &shop, "--amount", "1.50"]);
    assert!(out.contains("1.50 USD"), "{out}");
    let listed = cli.text(Some(&buyer), &["authorize", "--list"]);
    assert!(listed.contains("used"), "{listed}");
    let other = cli.json(Some(&buyer), &["authorize", "2"]);
    let id = other["id"].as_str().unwrap().to_owned();
    let out = cli.text(Some(&buyer), &["authorize", "--cancel", &id]);
    assert!(out.contains("cancelled"), "{out}");

    let out = cli.text(Some(&buyer), &["alias"]);
    let alias = out.rsplit(' ').next().unwrap().trim().to_owned();
    let shown = cli.text(Some(&alias), &["balance"]);
    assert!(shown.contains("8.50 USD"), "the alias is the code: {shown}");
    let public = cli.json(Some(&seller), &["alias", "--public", &shop_id]);
    let public_alias = public["alias"].as_str().unwrap().to_owned();
    cli.text(Some(&alias), &["pay", "--payee", &public_alias, "--amount", "0.50"]);
    let out = cli.text(Some(&buyer), &["alias", "--remove"]);
    assert!(out.contains("Alias removed"), "{out}");
    assert_eq!(cli.run(Some(&alias), &["balance"]).status.code(), Some(1));
    assert_eq!(broker.balance(&buyer).await, "8.00");
    broker.assert_ledger_ok().await;
}

/// The first code the page reveals (`#new-code`), as it shows it.
fn revealed(page: &str) -> String {
    page.split("id=\"new-code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the page reveals a code")
        .to_owned()
}

#[tokio::test]
async fn the_pages_make_and_cancel_authorizations_and_take_them_and_aliases_as_codes() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let mut visitor = Visitor::arrive(&broker).await;
    visitor.log_in("/enter", &[("code", &buyer)]).await;

    let made = visitor
        .post(
            "/me/authorizations",
            &[("amount", "2"), ("expires_in_minutes", "30"), ("nonce", "n1")],
            true,
        )
        .await;
    assert_eq!(made.status(), 303);
    let center = visitor.get("/me").await;
    let code = revealed(&center);
    assert_eq!(digits(&code).len(), 12, "{code}");
    assert!(
        center.contains("id=\"authorizations\""),
        "the pending authorization is listed"
    );

    // The seller's public page takes the authorization code in its pay form.
    let paid = visitor
        .post(
            &format!("/p/{shop}/pay"),
            &[("code", &code), ("amount", "2"), ("nonce", "n2")],
            true,
        )
        .await;
    assert_eq!(paid.status(), 200);
    assert!(paid.text().await.unwrap().contains("<h1>Paid</h1>"));
    assert_eq!(broker.balance(&seller).await, "3.00");

    // Another, cancelled from the control center.
    visitor
        .post("/me/authorizations", &[("amount", "1"), ("nonce", "n3")], true)
        .await;
    let listed = broker
        .get("/v1/me/authorizations", Auth::Code(&buyer))
        .await
        .expect(200);
    let id = listed.body["authorizations"][0]["id"].as_str().unwrap().to_owned();
    let cancelled = visitor
        .post(&format!("/me/authorizations/{id}/cancel"), &[("nonce", "n4")], true)
        .await;
    assert_eq!(cancelled.status(), 303);
    assert_eq!(me(&broker, &buyer).await["available"]["amount"], "8.00");

    // An alias made on the page logs in like the code.
    visitor.post("/me/alias", &[("nonce", "n5")], true).await;
    let alias = revealed(&visitor.get("/me").await);
    let mut other = Visitor::arrive(&broker).await;
    other.log_in("/enter", &[("code", &alias)]).await;
    assert!(other.get("/me").await.contains("8.00"));
    broker.assert_ledger_ok().await;
}

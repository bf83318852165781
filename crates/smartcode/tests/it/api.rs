//! Every endpoint of API.md through the real server, refusals included.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Auth, TestBroker};

#[tokio::test]
async fn operator_issues_a_code_and_its_holder_sees_it() {
    let broker = TestBroker::start().await;
    let reply = broker
        .post(
            "/v1/admin/codes",
            Auth::Operator,
            json!({ "amount": "10", "currency": "usd", "label": "first" }),
        )
        .await
        .expect(201);
    let code = reply.body["code"].as_str().unwrap();
    assert_eq!(code.len(), 9, "a secret code is shown as XXXX-XXXX");
    assert_eq!(reply.body["balance"], json!({ "amount": "10.00", "currency": "USD" }));
    assert!(reply.body["created_at"].as_str().unwrap().ends_with('Z'));

    let me = broker.get("/v1/me", Auth::Code(code)).await.expect(200);
    assert_eq!(me.body["id"], reply.body["id"]);
    assert_eq!(me.body["kind"], "secret");
    assert_eq!(me.body["status"], "active");
    assert_eq!(me.body["parent_id"], Value::Null);
    assert_eq!(me.body["label"], "first");
    assert_eq!(me.body["irrevocable"], false);
    assert_eq!(me.body["pin_set"], false);
    assert!(
        me.body.get("code").is_none(),
        "a secret code is shown once, at creation"
    );
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_operator_token_is_required_and_checked() {
    let broker = TestBroker::start().await;
    let body = json!({ "amount": "1", "currency": "USD" });
    broker
        .post("/v1/admin/codes", Auth::None, body.clone())
        .await
        .refused(401, "unauthorized");
    broker
        .post("/v1/admin/codes", Auth::Raw("Bearer wrong-token-wrong-token"), body)
        .await
        .refused(401, "unauthorized");
    broker
        .get("/v1/admin/ledger/check", Auth::Raw("Bearer "))
        .await
        .refused(401, "unauthorized");
    broker
        .get("/v1/admin/security", Auth::None)
        .await
        .refused(401, "unauthorized");
    let (code, _) = broker.issue("1", "USD").await;
    broker
        .get("/v1/admin/ledger/check", Auth::Code(&code))
        .await
        .refused(401, "unauthorized");
}

#[tokio::test]
async fn amounts_are_exact_and_bad_ones_are_refused_never_rounded() {
    let broker = TestBroker::start().await;
    let issue = |amount: Value| {
        broker.post(
            "/v1/admin/codes",
            Auth::Operator,
            json!({ "amount": amount, "currency": "USD" }),
        )
    };
    let reply = issue(json!("0.000001")).await.expect(201);
    assert_eq!(reply.body["balance"]["amount"], "0.000001");
    issue(json!("7")).await.expect(201);
    // Leading zeros and trailing fractional zeros are read as usual (openapi.json's pattern says so).
    let reply = issue(json!("007.50000000")).await.expect(201);
    assert_eq!(reply.body["balance"]["amount"], "7.50");
    for bad in [
        json!(7),
        json!("0.0000001"),
        json!("1.2345678"),
        json!("0"),
        json!("-1"),
        json!("1e3"),
        json!("abc"),
        json!(" 1"),
        json!("1."),
        json!(".5"),
        json!(1.5),
        json!(-3),
    ] {
        let reply = issue(bad.clone()).await.refused(400, "invalid_request");
        assert!(
            !reply.body["detail"].as_str().unwrap().is_empty(),
            "{bad} needs a clear detail"
        );
    }
    issue(json!("1000000001")).await.refused(400, "limit_exceeded");
    broker
        .post(
            "/v1/admin/codes",
            Auth::Operator,
            json!({ "amount": "1", "currency": "US" }),
        )
        .await
        .refused(400, "invalid_request");
    broker
        .post("/v1/admin/codes", Auth::Operator, json!({ "amount": "1" }))
        .await
        .refused(400, "invalid_request");
    broker
        .post(
            "/v1/admin/codes",
            Auth::Operator,
            json!({ "amount": "1", "currency": "USD", "colour": "red" }),
        )
        .await
        .refused(400, "invalid_request");
    let long_label = "x".repeat(101);
    broker
        .post(
            "/v1/admin/codes",
            Auth::Operator,
            json!({ "amount": "1", "currency": "USD", "label": long_label }),
        )
        .await
        .refused(400, "limit_exceeded");
    let check = broker.assert_ledger_ok().await;
    assert_eq!(check["currencies"][0]["issued"], "14.500001");
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_refused() {
    let broker = TestBroker::start().await;
    let raw = |body: String| {
        let client = reqwest::Client::new();
        let url = format!("{}/v1/admin/codes", broker.base);
        let token = broker.token.clone();
        async move { client.post(url).bearer_auth(token).body(body).send().await.unwrap() }
    };
    let response = raw("{not json".into()).await;
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "invalid_request");
    let huge = format!(
        "{{\"amount\":\"1\",\"currency\":\"USD\",\"label\":\"{}\"}}",
        "x".repeat(20_000)
    );
    let response = raw(huge).await;
    assert_eq!(response.status(), 413);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "payload_too_large");
    broker
        .get("/v1/no-such-thing", Auth::None)
        .await
        .refused(404, "not_found");
    broker
        .call(Method::DELETE, "/v1/me", Auth::None, None)
        .await
        .refused(405, "method_not_allowed");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn deposits_add_to_an_existing_code_by_secret_or_by_id() {
    let broker = TestBroker::start().await;
    let (code, id) = broker.issue("1", "EUR").await;
    let reply = broker
        .post(
            "/v1/admin/deposits",
            Auth::Operator,
            json!({ "code": code, "amount": "2.5", "currency": "EUR" }),
        )
        .await
        .expect(201);
    assert_eq!(reply.body["code_id"], id.as_str());
    assert_eq!(reply.body["balance"], json!({ "amount": "3.50", "currency": "EUR" }));
    broker
        .post(
            "/v1/admin/deposits",
            Auth::Operator,
            json!({ "code_id": id, "amount": "0.5", "currency": "EUR" }),
        )
        .await
        .expect(201);
    assert_eq!(broker.balance(&code).await, "4.00");
    broker
        .post(
            "/v1/admin/deposits",
            Auth::Operator,
            json!({ "code": code, "amount": "1", "currency": "USD" }),
        )
        .await
        .refused(409, "currency_mismatch");
    broker
        .post(
            "/v1/admin/deposits",
            Auth::Operator,
            json!({ "code": "ZZZZ-ZZZZ", "amount": "1", "currency": "EUR" }),
        )
        .await
        .refused(401, "invalid_code");
    broker
        .post(
            "/v1/admin/deposits",
            Auth::Operator,
            json!({ "code_id": "c_0000000000000000", "amount": "1", "currency": "EUR" }),
        )
        .await
        .refused(404, "not_found");
    broker
        .post(
            "/v1/admin/deposits",
            Auth::Operator,
            json!({ "amount": "1", "currency": "EUR" }),
        )
        .await
        .refused(400, "invalid_request");
    assert_eq!(broker.balance(&code).await, "4.00");
    let check = broker.assert_ledger_ok().await;
    assert_eq!(check["currencies"][0]["issued"], "4.00");
    assert_eq!(check["currencies"][0]["held_by_codes"], "4.00");
}

#[tokio::test]
async fn codes_are_read_forgivingly_and_public_codes_never_pay() {
    let broker = TestBroker::start().await;
    let (code, _) = broker.issue("1", "USD").await;
    let plain = code.replace('-', "");
    let forms = [
        code.to_lowercase(),
        format!(" {} {} ", &plain[..4], &plain[4..]),
        plain.clone(),
        format!("{code}@localhost"),
    ];
    for form in forms {
        broker.get("/v1/me", Auth::Code(&form)).await.expect(200);
    }
    // Look-alike letters map to digits: O is 0, I and L are 1.
    let lookalike: String = plain
        .chars()
        .map(|c| match c {
            '0' => 'O',
            '1' => 'l',
            other => other,
        })
        .collect();
    broker.get("/v1/me", Auth::Code(&lookalike)).await.expect(200);

    let (public, _) = broker.public_child(&code).await;
    assert!(public.starts_with("P-"), "public codes look different at a glance");
    broker
        .get("/v1/me", Auth::Code(&public))
        .await
        .refused(401, "invalid_code");
    let (other, _) = broker.issue("1", "USD").await;
    let (other_public, _) = broker.public_child(&other).await;
    broker
        .pay(&public, &other_public, "0.1")
        .await
        .refused(401, "invalid_code");
    broker
        .get("/v1/me", Auth::Code("ABCD"))
        .await
        .refused(400, "invalid_code_format");
    broker
        .get("/v1/me", Auth::Code("ABCD-EFG!"))
        .await
        .refused(400, "invalid_code_format");
    broker
        .get("/v1/me", Auth::Code(&format!("{code}@other.example")))
        .await
        .refused(400, "invalid_code_format");
    broker
        .get("/v1/me", Auth::Code("ZZZZ-ZZZZ"))
        .await
        .refused(401, "invalid_code");
    broker.get("/v1/me", Auth::None).await.refused(401, "invalid_code");
    broker
        .get("/v1/me", Auth::Raw("Bearer something"))
        .await
        .refused(401, "invalid_code");
    let security = broker.get("/v1/admin/security", Auth::Operator).await.expect(200);
    // Six presentations failed: the public code twice, three malformed codes and one unknown code.
    // A request with no code at all presents nothing and is not counted.
    assert_eq!(security.body["failed_presentations_total"], 6);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_payment_moves_money_to_the_owner_of_the_public_code_with_a_verifiable_receipt() {
    let broker = TestBroker::start().await;
    let (buyer, buyer_id) = broker.issue("5", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    // The category and item on a receipt are the shop's (it declares what it sells), stamped.
    let (shop, shop_id) = broker
        .public_child_selling(
            &seller,
            json!({ "categories": ["music"], "items": ["song-1", "song-2"] }),
        )
        .await;
    let reply = broker
        .post("/v1/payments", Auth::None, json!({ "code": buyer, "payee": shop, "amount": "0.25", "currency": "USD", "memo": "a song", "item": "song-1" }))
        .await
        .expect(201);
    let receipt = &reply.body["receipt"];
    assert!(
        receipt["payer_id"].as_str().unwrap().starts_with("pp_"),
        "the seller sees a pseudonym"
    );
    assert_ne!(receipt["payer_id"], buyer_id.as_str());
    assert_eq!(receipt["payee"], shop.as_str());
    assert_eq!(receipt["payee_id"], shop_id.as_str());
    assert_eq!(receipt["amount"], json!({ "amount": "0.25", "currency": "USD" }));
    assert_eq!(receipt["memo"], "a song");
    assert!(!reply.text.contains(&buyer), "a receipt never holds the buyer's secret");
    assert_eq!(broker.balance(&buyer).await, "4.75");
    assert_eq!(broker.balance(&seller).await, "1.25");

    let id = receipt["id"].as_str().unwrap();
    let again = broker.get(&format!("/v1/receipts/{id}"), Auth::None).await.expect(200);
    assert_eq!(
        unsigned(&again.body["receipt"]),
        unsigned(receipt),
        "the same receipt, signed again"
    );
    broker
        .get("/v1/receipts/r_00000000000000000000000000", Auth::None)
        .await
        .refused(404, "not_found");

    // The signature verifies with the key the broker publishes, over the message its metadata
    // documents: for a batch of one, the root is the receipt's own leaf.
    let metadata = broker.get("/.well-known/smartcode", Auth::None).await.expect(200);
    let key_hex = metadata.body["receipt_signature"]["public_key"].as_str().unwrap();
    let key = smartcode_receipt::public_key(key_hex).unwrap();
    for answer in [receipt, &again.body["receipt"]] {
        let parsed: smartcode_client::ReceiptJson = serde_json::from_value(answer.clone()).unwrap();
        assert_eq!(
            smartcode_receipt::verify(&parsed, &key),
            Ok(smartcode_receipt::Version::V2)
        );
    }
    let message = format!(
        "smartcode-receipt-v2\nid {} {id}\nbroker {} {}\npayer_id {} {}\npayee {} {shop}\npayee_id {} {shop_id}\n\
         amount 4 0.25\ncurrency 3 USD\nmemo 6 a song\ncategory 5 music\nitem 6 song-1\ncreated_at {} {}\n",
        id.len(),
        receipt["broker"].as_str().unwrap().len(),
        receipt["broker"].as_str().unwrap(),
        receipt["payer_id"].as_str().unwrap().len(),
        receipt["payer_id"].as_str().unwrap(),
        shop.len(),
        shop_id.len(),
        receipt["created_at"].as_str().unwrap().len(),
        receipt["created_at"].as_str().unwrap(),
    );
    let mut leaf = vec![0u8];
    leaf.extend_from_slice(message.as_bytes());
    assert_eq!(
        hex::encode(smartcode_receipt::leaf_hash(message.as_bytes())),
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&leaf))
    );
    if receipt["batch"]["size"] == 1 {
        assert_eq!(
            receipt["batch"]["root"],
            hex::encode(smartcode_receipt::leaf_hash(message.as_bytes()))
        );
    }
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn refused_payments_move_nothing() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("1", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let (euro_seller, _) = broker.issue("1", "EUR").await;
    let (euro_shop, _) = broker.public_child(&euro_seller).await;
    let (own_shop, _) = broker.public_child(&buyer).await;

    broker
        .pay(&buyer, &shop, "1.000001")
        .await
        .refused(402, "insufficient_funds");
    broker
        .pay(&buyer, &euro_shop, "0.1")
        .await
        .refused(409, "currency_mismatch");
    broker
        .post(
            "/v1/payments",
            Auth::None,
            json!({ "code": buyer, "payee": shop, "amount": "0.1", "currency": "EUR" }),
        )
        .await
        .refused(409, "currency_mismatch");
    broker
        .pay(&buyer, "P-00000-00000", "0.1")
        .await
        .refused(404, "not_found");
    broker
        .pay(&buyer, "P-0000", "0.1")
        .await
        .refused(400, "invalid_code_format");
    let reply = broker.pay(&buyer, &seller, "0.1").await.refused(400, "invalid_request");
    assert!(
        !reply.text.contains(&seller) && !reply.text.contains(&seller.replace('-', "")),
        "never echo a secret"
    );
    broker.pay(&buyer, &own_shop, "0.1").await.refused(409, "conflict");
    broker.pay("ZZZZ-ZZZZ", &shop, "0.1").await.refused(401, "invalid_code");
    broker.pay(&buyer, &shop, "0").await.refused(400, "invalid_request");
    broker
        .pay(&buyer, &shop, "0.0000001")
        .await
        .refused(400, "invalid_request");
    let memo = "m".repeat(501);
    broker
        .post(
            "/v1/payments",
            Auth::None,
            json!({ "code": buyer, "payee": shop, "amount": "0.1", "memo": memo }),
        )
        .await
        .refused(400, "limit_exceeded");
    let item = "i".repeat(101);
    broker
        .post(
            "/v1/payments",
            Auth::None,
            json!({ "code": buyer, "payee": shop, "amount": "0.1", "item": item }),
        )
        .await
        .refused(400, "limit_exceeded");
    broker
        .post("/v1/payments", Auth::None, json!({ "code": buyer, "payee": shop }))
        .await
        .refused(400, "invalid_request");
    let reply = broker
        .post(
            "/v1/payments",
            Auth::None,
            json!({ "code": buyer, "payee": shop, "amount": "0.1", "expires_in_seconds": buyer }),
        )
        .await;
    let reply = reply.refused(400, "invalid_request");
    assert!(
        !reply.text.contains(&buyer),
        "the refusal never repeats a secret code: {}",
        reply.text
    );

    assert_eq!(broker.balance(&buyer).await, "1.00");
    assert_eq!(broker.balance(&seller).await, "1.00");
    let history = broker.get("/v1/me/transactions", Auth::Code(&buyer)).await.expect(200);
    assert_eq!(
        history.body["transactions"].as_array().unwrap().len(),
        1,
        "only the issue"
    );
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_retried_payment_with_the_same_idempotency_key_happens_once() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("1", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let body = json!({ "code": buyer, "payee": shop, "amount": "0.30" });
    let key = [("Idempotency-Key", "order-1234")];
    let first = broker
        .call_with(Method::POST, "/v1/payments", Auth::None, Some(body.clone()), &key)
        .await
        .expect(201);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let second = broker
        .call_with(Method::POST, "/v1/payments", Auth::None, Some(body.clone()), &key)
        .await
        .expect(201);
    assert_eq!(second.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        unsigned(&first.body["receipt"]),
        unsigned(&second.body["receipt"]),
        "the replay is the first receipt (signed again, in the batch it is answered in)"
    );
    assert_eq!(broker.balance(&buyer).await, "0.70");

    let changed = json!({ "code": buyer, "payee": shop, "amount": "0.31" });
    broker
        .call_with(Method::POST, "/v1/payments", Auth::None, Some(changed), &key)
        .await
        .refused(422, "idempotency_conflict");
    // Another payer's key space is its own.
    let (other, _) = broker.issue("1", "USD").await;
    let others = json!({ "code": other, "payee": shop, "amount": "0.30" });
    broker
        .call_with(Method::POST, "/v1/payments", Auth::None, Some(others), &key)
        .await
        .expect(201);
    for bad in ["", &"k".repeat(256), "tab\there"] {
        broker
            .call_with(
                Method::POST,
                "/v1/payments",
                Auth::None,
                Some(body.clone()),
                &[("Idempotency-Key", bad)],
            )
            .await
            .refused(400, "invalid_request");
    }
    assert_eq!(broker.balance(&buyer).await, "0.70");
    assert_eq!(broker.balance(&seller).await, "1.60");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn an_idempotency_key_replays_for_48_hours_and_is_then_forgotten() {
    use smartcode_core::limits::IDEMPOTENCY_KEY_KEPT_SECONDS;
    // The test clock also moves with real time: keep a margin for the time the test itself takes.
    const MARGIN_SECONDS: i64 = 30;
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("1", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let body = json!({ "code": buyer, "payee": shop, "amount": "0.30" });
    let key = [("Idempotency-Key", "order-48h")];
    let pay = || broker.call_with(Method::POST, "/v1/payments", Auth::None, Some(body.clone()), &key);
    let advance = |seconds: i64| broker.post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": seconds }));
    let first = pay().await.expect(201);
    assert!(first.headers.get("idempotent-replayed").is_none());

    // Just inside the window: the first answer again, and nothing moves.
    advance(IDEMPOTENCY_KEY_KEPT_SECONDS - MARGIN_SECONDS).await.expect(200);
    let inside = pay().await.expect(201);
    assert_eq!(inside.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(inside.body, first.body);
    assert_eq!(broker.balance(&buyer).await, "0.70");

    // Just outside it the key is forgotten (README: "Keys are kept 48 hours"): the same request
    // is a new one, and pays again, whether or not the store has swept the old key away yet.
    advance(2 * MARGIN_SECONDS).await.expect(200);
    let outside = pay().await.expect(201);
    assert!(
        outside.headers.get("idempotent-replayed").is_none(),
        "replayed after 48 hours"
    );
    assert_ne!(outside.body["receipt"]["id"], first.body["receipt"]["id"]);
    assert_eq!(broker.balance(&buyer).await, "0.40");
    // The key now names the new payment, for another 48 hours.
    let again = pay().await.expect(201);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.body, outside.body);
    // And a forgotten key conflicts with nothing: another request under it is new too.
    let other_key = [("Idempotency-Key", "order-48h-other")];
    let other = || broker.call_with(Method::POST, "/v1/payments", Auth::None, Some(body.clone()), &other_key);
    other().await.expect(201);
    advance(IDEMPOTENCY_KEY_KEPT_SECONDS + MARGIN_SECONDS).await.expect(200);
    let changed = json!({ "code": buyer, "payee": shop, "amount": "0.05" });
    broker
        .call_with(Method::POST, "/v1/payments", Auth::None, Some(changed), &other_key)
        .await
        .expect(201);
    assert_eq!(broker.balance(&buyer).await, "0.05");
    assert_eq!(broker.balance(&seller).await, "1.95");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_retried_child_creation_returns_the_same_child_once() {
    let broker = TestBroker::start().await;
    let (parent, _) = broker.issue("3", "USD").await;
    let key = [("Idempotency-Key", "make-child")];
    let body = json!({ "kind": "secret", "amount": "1", "label": "pocket" });
    let first = broker
        .call_with(
            Method::POST,
            "/v1/me/children",
            Auth::Code(&parent),
            Some(body.clone()),
            &key,
        )
        .await
        .expect(201);
    let second = broker
        .call_with(Method::POST, "/v1/me/children", Auth::Code(&parent), Some(body), &key)
        .await
        .expect(201);
    assert_eq!(second.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(first.body["code"], second.body["code"]);
    assert_eq!(first.body["id"], second.body["id"]);
    assert_eq!(broker.balance(&parent).await, "2.00");
    let children = broker.get("/v1/me/children", Auth::Code(&parent)).await.expect(200);
    assert_eq!(children.body["children"].as_array().unwrap().len(), 1);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn children_carry_value_nest_list_fund_and_cancel() {
    let broker = TestBroker::start().await;
    let (root, root_id) = broker.issue("10", "USD").await;
    let (child, child_id) = broker.secret_child(&root, "4").await;
    let (grandchild, grandchild_id) = broker.secret_child(&child, "1.5").await;
    let (_, child_public_id) = broker.public_child(&child).await;
    assert_eq!(broker.balance(&root).await, "6.00");
    assert_eq!(broker.balance(&child).await, "2.50");

    let me = broker.get("/v1/me", Auth::Code(&grandchild)).await.expect(200);
    assert_eq!(me.body["parent_id"], child_id.as_str());
    let listed = broker.get("/v1/me/children", Auth::Code(&child)).await.expect(200);
    let ids: Vec<&str> = listed.body["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [grandchild_id.as_str(), child_public_id.as_str()]);
    let listed = broker.get("/v1/me/children", Auth::Code(&root)).await.expect(200);
    assert_eq!(listed.body["children"][0]["balance"]["amount"], "2.50");
    assert_eq!(listed.body["children"][0]["children_count"], 2);

    let funded = broker
        .post(
            &format!("/v1/me/children/{child_id}/fund"),
            Auth::Code(&root),
            json!({ "amount": "1" }),
        )
        .await
        .expect(200);
    assert_eq!(funded.body["child"]["balance"]["amount"], "3.50");
    assert_eq!(funded.body["balance"]["amount"], "5.00");
    broker
        .post(
            &format!("/v1/me/children/{child_id}/fund"),
            Auth::Code(&root),
            json!({ "amount": "6" }),
        )
        .await
        .refused(402, "insufficient_funds");
    broker
        .post(
            &format!("/v1/me/children/{child_public_id}/fund"),
            Auth::Code(&child),
            json!({ "amount": "1" }),
        )
        .await
        .refused(409, "conflict");
    // Only an ancestor may fund or cancel: a sibling or a child of the target is refused.
    let (stranger, _) = broker.issue("1", "USD").await;
    broker
        .post(
            &format!("/v1/me/children/{child_id}/fund"),
            Auth::Code(&stranger),
            json!({ "amount": "1" }),
        )
        .await
        .refused(404, "not_found");
    broker
        .post(
            &format!("/v1/me/children/{root_id}/cancel"),
            Auth::Code(&child),
            json!({}),
        )
        .await
        .refused(404, "not_found");
    broker
        .post("/v1/me/children/not-an-id/cancel", Auth::Code(&root), json!({}))
        .await
        .refused(404, "not_found");

    // Cancelling the child stops it and its descendants; what they held comes back to the root.
    let cancelled = broker
        .post(
            &format!("/v1/me/children/{child_id}/cancel"),
            Auth::Code(&root),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(
        cancelled.body["reclaimed"],
        json!({ "amount": "5.00", "currency": "USD" })
    );
    assert_eq!(cancelled.body["codes_cancelled"], 3);
    assert_eq!(broker.balance(&root).await, "10.00");
    broker
        .get("/v1/me", Auth::Code(&child))
        .await
        .refused(401, "invalid_code");
    broker
        .get("/v1/me", Auth::Code(&grandchild))
        .await
        .refused(401, "invalid_code");
    let listed = broker.get("/v1/me/children", Auth::Code(&root)).await.expect(200);
    assert_eq!(listed.body["children"][0]["status"], "cancelled");
    assert_eq!(listed.body["children"][0]["balance"]["amount"], "0.00");
    let again = broker
        .post(
            &format!("/v1/me/children/{child_id}/cancel"),
            Auth::Code(&root),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(again.body["reclaimed"]["amount"], "0.00");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn irrevocable_children_cannot_be_cancelled_and_keep_their_value() {
    let broker = TestBroker::start().await;
    let (root, _) = broker.issue("10", "USD").await;
    let reply = broker
        .post(
            "/v1/me/children",
            Auth::Code(&root),
            json!({ "amount": "2", "irrevocable": true }),
        )
        .await
        .expect(201);
    let gift_id = reply.body["id"].as_str().unwrap().to_owned();
    let gift = reply.body["code"].as_str().unwrap().to_owned();
    broker
        .post(
            &format!("/v1/me/children/{gift_id}/cancel"),
            Auth::Code(&root),
            json!({}),
        )
        .await
        .refused(403, "not_revocable");
    // Nor can anything below it be cancelled from above: it is the gift's holder's.
    let (_, below_gift_id) = broker.secret_child(&gift, "1").await;
    broker
        .post(
            &format!("/v1/me/children/{below_gift_id}/cancel"),
            Auth::Code(&root),
            json!({}),
        )
        .await
        .refused(403, "not_revocable");
    assert_eq!(broker.balance(&root).await, "8.00");
    // The gift's holder still may.
    let cancelled = broker
        .post(
            &format!("/v1/me/children/{below_gift_id}/cancel"),
            Auth::Code(&gift),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(cancelled.body["reclaimed"]["amount"], "1.00");
    // An irrevocable grandchild survives the cancel of its revocable parent.
    let (middle, middle_id) = broker.secret_child(&root, "3").await;
    let reply = broker
        .post(
            "/v1/me/children",
            Auth::Code(&middle),
            json!({ "amount": "1", "irrevocable": true }),
        )
        .await
        .expect(201);
    let sold = reply.body["code"].as_str().unwrap().to_owned();
    let cancelled = broker
        .post(
            &format!("/v1/me/children/{middle_id}/cancel"),
            Auth::Code(&root),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(cancelled.body["reclaimed"]["amount"], "2.00");
    assert_eq!(broker.balance(&gift).await, "2.00");
    assert_eq!(broker.balance(&sold).await, "1.00");
    assert_eq!(broker.balance(&root).await, "7.00");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn public_codes_nest_show_profiles_and_ancestry() {
    let broker = TestBroker::start().await;
    let (org, _) = broker.issue("10", "USD").await;
    broker
        .put(
            "/v1/me/profile",
            Auth::Code(&org),
            json!({ "name": "City Library", "url": "https://library.example" }),
        )
        .await
        .expect(200);
    let (team, _) = broker.secret_child(&org, "1").await;
    let campaign = broker
        .post(
            "/v1/me/children",
            Auth::Code(&team),
            json!({ "kind": "public", "label": "spring", "profile": { "name": "Spring drive" } }),
        )
        .await
        .expect(201);
    let campaign_id = campaign.body["id"].as_str().unwrap().to_owned();
    let seller = broker
        .post(
            "/v1/me/children",
            Auth::Code(&team),
            json!({ "kind": "public", "under": campaign_id }),
        )
        .await
        .expect(201);
    let seller_code = seller.body["public_code"].as_str().unwrap().to_owned();
    let seller_id = seller.body["id"].as_str().unwrap().to_owned();
    assert_eq!(seller.body["parent_id"], campaign_id.as_str());
    broker
        .put(&format!("/v1/me/children/{seller_id}/profile"), Auth::Code(&team), json!({ "name": "Ann <script>alert(1)</script>", "description": "Songs", "contact": "ann@example.org", "show_stats": true }))
        .await
        .expect(200);

    let (buyer, _) = broker.issue("1", "USD").await;
    broker.pay(&buyer, &seller_code, "0.20").await.expect(201);
    broker
        .pay(&buyer, &seller_code.to_lowercase(), "0.05")
        .await
        .expect(201);
    assert_eq!(
        broker.balance(&team).await,
        "1.25",
        "payments into a nested public code credit its owner"
    );

    let public = broker
        .get(&format!("/v1/public/{seller_code}"), Auth::None)
        .await
        .expect(200);
    assert_eq!(public.body["profile"]["name"], "Ann <script>alert(1)</script>");
    assert_eq!(
        public.body["stats"],
        json!({ "payments": 2, "total": { "amount": "0.25", "currency": "USD" } })
    );
    let ancestry = public.body["ancestry"].as_array().unwrap();
    let depths: Vec<u64> = ancestry.iter().map(|a| a["depth"].as_u64().unwrap()).collect();
    assert_eq!(depths, [3, 2, 1, 0], "from the nearest ancestor up to the broker");
    assert_eq!(ancestry[0]["profile"]["name"], "Spring drive");
    assert_eq!(
        ancestry[1]["profile"],
        Value::Null,
        "an ancestor without a public profile shows nothing"
    );
    assert_eq!(ancestry[2]["profile"]["name"], "City Library");
    assert_eq!(ancestry[3]["kind"], "broker");
    assert!(
        !public.text.contains(&team) && !public.text.contains(&org),
        "no secret on a public page"
    );

    // Without show_stats, no statistics.
    let campaign_code = campaign.body["public_code"].as_str().unwrap();
    let plain = broker
        .get(&format!("/v1/public/{campaign_code}"), Auth::None)
        .await
        .expect(200);
    assert!(plain.body.get("stats").is_none());
    broker
        .get("/v1/public/P-00000-00000", Auth::None)
        .await
        .refused(404, "not_found");
    broker
        .get("/v1/public/nonsense", Auth::None)
        .await
        .refused(404, "not_found");

    // Profiles are bounded and links are web links only.
    broker
        .put(
            "/v1/me/profile",
            Auth::Code(&org),
            json!({ "url": "javascript:alert(1)" }),
        )
        .await
        .refused(400, "invalid_request");
    broker
        .put("/v1/me/profile", Auth::Code(&org), json!({ "name": "n".repeat(101) }))
        .await
        .refused(400, "limit_exceeded");
    broker
        .put(
            "/v1/me/profile",
            Auth::Code(&org),
            json!({ "description": "d".repeat(2001) }),
        )
        .await
        .refused(400, "limit_exceeded");
    broker
        .put("/v1/me/profile", Auth::Code(&org), json!({ "nickname": "x" }))
        .await
        .refused(400, "invalid_request");
    broker
        .put(
            &format!("/v1/me/children/{seller_id}/profile"),
            Auth::Code(&buyer),
            json!({ "name": "x" }),
        )
        .await
        .refused(404, "not_found");
    broker
        .post(
            "/v1/me/children",
            Auth::Code(&org),
            json!({ "kind": "public", "under": campaign_id }),
        )
        .await
        .refused(404, "not_found");
    broker
        .post(
            "/v1/me/children",
            Auth::Code(&org),
            json!({ "kind": "public", "amount": "1" }),
        )
        .await
        .refused(400, "invalid_request");
    broker
        .post("/v1/me/children", Auth::Code(&org), json!({ "kind": "other" }))
        .await
        .refused(400, "invalid_request");
    broker
        .post("/v1/me/children", Auth::Code(&org), json!({ "kind": "secret" }))
        .await
        .refused(400, "invalid_request");

    // Cancelling the campaign stops the public codes under it.
    broker
        .post(
            &format!("/v1/me/children/{campaign_id}/cancel"),
            Auth::Code(&team),
            json!({}),
        )
        .await
        .expect(200);
    broker
        .get(&format!("/v1/public/{seller_code}"), Auth::None)
        .await
        .refused(404, "not_found");
    broker.pay(&buyer, &seller_code, "0.05").await.refused(404, "not_found");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn history_pages_newest_first_and_reports_group_by_day_month_and_public_code() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, seller_id) = broker.issue("1", "USD").await;
    let (shop_a, _) = broker.public_child(&seller).await;
    let (shop_b, _) = broker.public_child(&seller).await;
    for (shop, amount) in [
        (&shop_a, "0.10"),
        (&shop_a, "0.20"),
        (&shop_b, "0.30"),
        (&shop_b, "0.40"),
        (&shop_a, "0.50"),
    ] {
        broker.pay(&buyer, shop, amount).await.expect(201);
    }
    let first = broker
        .get("/v1/me/transactions?limit=2", Auth::Code(&buyer))
        .await
        .expect(200);
    let amounts: Vec<&str> = first.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["-0.50", "-0.40"]);
    assert_eq!(first.body["transactions"][0]["counterparty_id"], seller_id.as_str());
    assert_eq!(first.body["transactions"][0]["kind"], "payment");
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let second = broker
        .get(
            &format!("/v1/me/transactions?limit=2&cursor={cursor}"),
            Auth::Code(&buyer),
        )
        .await
        .expect(200);
    let amounts: Vec<&str> = second.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["amount"].as_str().unwrap())
        .collect();
    assert_eq!(amounts, ["-0.30", "-0.20"]);
    let cursor = second.body["next_cursor"].as_str().unwrap();
    let last = broker
        .get(
            &format!("/v1/me/transactions?limit=2&cursor={cursor}"),
            Auth::Code(&buyer),
        )
        .await
        .expect(200);
    let kinds: Vec<&str> = last.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["payment", "issue"]);
    let all = broker.get("/v1/me/transactions", Auth::Code(&buyer)).await.expect(200);
    assert_eq!(all.body["transactions"].as_array().unwrap().len(), 6);
    assert_eq!(all.body["next_cursor"], Value::Null);
    let future = broker
        .get("/v1/me/transactions?since=2999-01-01T00:00:00Z", Auth::Code(&buyer))
        .await
        .expect(200);
    assert!(future.body["transactions"].as_array().unwrap().is_empty());
    let past = broker
        .get("/v1/me/transactions?until=2000-01-01T00:00:00Z", Auth::Code(&buyer))
        .await
        .expect(200);
    assert!(past.body["transactions"].as_array().unwrap().is_empty());
    broker
        .get("/v1/me/transactions?limit=0", Auth::Code(&buyer))
        .await
        .refused(400, "limit_exceeded");
    broker
        .get("/v1/me/transactions?limit=501", Auth::Code(&buyer))
        .await
        .refused(400, "limit_exceeded");
    broker
        .get("/v1/me/transactions?limit=ten", Auth::Code(&buyer))
        .await
        .refused(400, "invalid_request");
    broker
        .get("/v1/me/transactions?since=yesterday", Auth::Code(&buyer))
        .await
        .refused(400, "invalid_request");
    broker
        .get("/v1/me/transactions?cursor=abc", Auth::Code(&buyer))
        .await
        .refused(400, "invalid_request");

    let today = broker
        .get("/v1/me/report?group_by=day", Auth::Code(&seller))
        .await
        .expect(200);
    let rows = today.body["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["count"], 6);
    assert_eq!(rows[0]["total_in"], "2.50");
    assert_eq!(rows[0]["total_out"], "0.00");
    let month = broker
        .get("/v1/me/report?group_by=month", Auth::Code(&buyer))
        .await
        .expect(200);
    assert_eq!(month.body["rows"][0]["total_out"], "1.50");
    assert_eq!(month.body["rows"][0]["key"].as_str().unwrap().len(), 7);
    let by_code = broker
        .get("/v1/me/report?group_by=public_code", Auth::Code(&seller))
        .await
        .expect(200);
    let mut rows: Vec<(String, String)> = by_code.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap().to_owned(),
                r["total_in"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rows.sort();
    let mut expected = vec![(shop_a.clone(), "0.80".to_owned()), (shop_b.clone(), "0.70".to_owned())];
    expected.sort();
    assert_eq!(rows, expected);
    let csv = broker
        .call_with(
            Method::GET,
            "/v1/me/report?group_by=public_code",
            Auth::Code(&seller),
            None,
            &[("Accept", "text/csv")],
        )
        .await
        .expect(200);
    assert!(csv
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let mut lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.remove(0), "key,count,total_in,total_out");
    lines.sort();
    let mut expected = vec![format!("{shop_a},3,0.80,0.00"), format!("{shop_b},2,0.70,0.00")];
    expected.sort();
    assert_eq!(lines, expected);
    broker
        .get("/v1/me/report?group_by=week", Auth::Code(&seller))
        .await
        .refused(400, "invalid_request");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn an_expired_child_stops_and_its_value_reverts_by_itself() {
    let broker = TestBroker::start().await;
    let (parent, _) = broker.issue("5", "USD").await;
    let reply = broker
        .post(
            "/v1/me/children",
            Auth::Code(&parent),
            json!({ "amount": "2", "expires_in_seconds": 1 }),
        )
        .await
        .expect(201);
    let child = reply.body["code"].as_str().unwrap().to_owned();
    assert!(reply.body["expires_at"].is_string());
    let (grandchild, _) = broker.secret_child(&child, "0.5").await;
    assert_eq!(broker.balance(&parent).await, "3.00");
    // Nobody touches the child; the broker's sweep reverts it within a couple of seconds.
    let mut reverted = false;
    for _ in 0..60 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if broker.balance(&parent).await == "5.00" {
            reverted = true;
            break;
        }
    }
    assert!(reverted, "the child's value came back to its parent");
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    broker.pay(&child, &shop, "0.1").await.refused(410, "expired");
    broker.pay(&grandchild, &shop, "0.1").await.refused(410, "expired");
    let me = broker.get("/v1/me", Auth::Code(&child)).await.expect(200);
    assert_eq!(me.body["status"], "expired");
    assert_eq!(me.body["balance"]["amount"], "0.00");
    let history = broker.get("/v1/me/transactions", Auth::Code(&parent)).await.expect(200);
    let kinds: Vec<&str> = history.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "revert").count(),
        2,
        "one revert from the child, one from the grandchild: {kinds:?}"
    );
    broker
        .post(
            "/v1/me/children",
            Auth::Code(&parent),
            json!({ "amount": "1", "expires_in_seconds": 0 }),
        )
        .await
        .refused(400, "invalid_request");
    broker
        .post(
            "/v1/me/children",
            Auth::Code(&parent),
            json!({ "amount": "1", "expires_at": "2001-01-01T00:00:00Z" }),
        )
        .await
        .refused(409, "conflict");
    broker
        .post(
            "/v1/me/children",
            Auth::Code(&parent),
            json!({ "amount": "1", "expires_in_seconds": 400_000_000 }),
        )
        .await
        .refused(400, "limit_exceeded");
    broker
        .post(
            "/v1/me/children",
            Auth::Code(&parent),
            json!({ "amount": "1", "expires_at": "soon" }),
        )
        .await
        .refused(400, "invalid_request");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn limits_on_children_and_tree_depth_are_named_and_refused() {
    let broker = TestBroker::start().await;
    let (root, _) = broker.issue("100", "USD").await;
    // Depth: an issued code is generation 1; the tree stops at 64.
    let mut code = root.clone();
    for _ in 1..64 {
        code = broker.secret_child(&code, "0.000001").await.0;
    }
    broker
        .post("/v1/me/children", Auth::Code(&code), json!({ "kind": "public" }))
        .await
        .refused(400, "limit_exceeded");

    // Children per code: 1,000, created concurrently so the writer batches them.
    let (wide, _) = broker.issue("1", "USD").await;
    let creations = (0..1000).map(|_| broker.post("/v1/me/children", Auth::Code(&wide), json!({ "kind": "public" })));
    for reply in futures_join_all(creations).await {
        reply.expect(201);
    }
    broker
        .post("/v1/me/children", Auth::Code(&wide), json!({ "kind": "public" }))
        .await
        .refused(400, "limit_exceeded");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn many_concurrent_payments_all_land_exactly_once() {
    let broker = TestBroker::start().await;
    let (seller, _) = broker.issue("0.01", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let mut buyers = Vec::new();
    for _ in 0..20 {
        buyers.push(broker.issue("1", "USD").await.0);
    }
    let payments = buyers
        .iter()
        .flat_map(|buyer| (0..10).map(|_| broker.pay(buyer, &shop, "0.01")));
    let replies = futures_join_all(payments).await;
    assert!(replies.iter().all(|r| r.status == 201));
    assert_eq!(broker.balance(&seller).await, "2.01");
    for buyer in &buyers {
        assert_eq!(broker.balance(buyer).await, "0.90");
    }
    let check = broker.assert_ledger_ok().await;
    assert_eq!(check["currencies"][0]["transfers"], 221, "21 issues and 200 payments");
}

#[tokio::test]
async fn metadata_and_health_are_public() {
    let broker = TestBroker::start().await;
    broker.get("/healthz", Auth::None).await.expect(200);
    let metadata = broker.get("/.well-known/smartcode", Auth::None).await.expect(200);
    assert_eq!(metadata.body["api_base"], "/v1");
    assert_eq!(metadata.body["code_formats"]["secret"]["symbols"], 8);
    assert_eq!(
        metadata.body["receipt_signature"]["public_key"].as_str().unwrap().len(),
        64
    );
    let home = broker.get("/", Auth::None).await.expect(200);
    assert!(home.text.contains("<h1>"));
}

/// Runs futures with at most 64 in flight, keeping their order.
pub async fn futures_join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    use futures::StreamExt;
    futures::stream::iter(futures).buffered(64).collect().await
}

#[tokio::test]
async fn metrics_count_payments_refusals_latency_and_commits() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("1", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    broker.pay(&buyer, &shop, "0.25").await.expect(201);
    broker.pay(&buyer, &shop, "5").await.refused(402, "insufficient_funds");
    let text = broker.get("/metrics", Auth::None).await.text;
    let value = |name: &str| -> u64 {
        text.lines()
            .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    assert_eq!(value("smartcode_payments_total"), 1);
    assert_eq!(value("smartcode_payment_latency_seconds_count"), 1);
    assert_eq!(value("smartcode_payment_latency_seconds_bucket{le=\"+Inf\"}"), 1);
    assert_eq!(value("smartcode_refusals_total{code=\"insufficient_funds\"}"), 1);
    assert!(
        value("smartcode_store_commits_total") >= 4,
        "issue, issue, child, payments"
    );
    assert!(value("smartcode_store_commands_total") >= value("smartcode_store_commits_total"));
    assert_eq!(
        value("smartcode_store_batch_commands_count"),
        value("smartcode_store_commits_total")
    );
    broker.assert_ledger_ok().await;
}

/// A client that sends half a request's headers and stops does not hold its connection: the broker
/// closes it after `HEADER_READ_TIMEOUT_SECONDS`, and answers everyone else meanwhile.
#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    use smartcode_core::limits::HEADER_READ_TIMEOUT_SECONDS;

    let broker = TestBroker::start().await;
    let started = std::time::Instant::now();
    let limit = Duration::from_secs(HEADER_READ_TIMEOUT_SECONDS + 10);
    let slow = broker.raw_exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\n", limit);
    let (slow, others) = tokio::join!(slow, broker.get("/healthz", Auth::None));
    others.expect(200);
    assert_eq!(
        slow.as_deref(),
        Some(""),
        "the connection was still open after {limit:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(HEADER_READ_TIMEOUT_SECONDS - 1),
        "closed after {:?}, before the timeout",
        started.elapsed()
    );
    // A client that sends its headers whole is answered (on a connection of its own: the
    // harness's pooled one went idle as long as the slow one, so it was closed too).
    let whole = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let answer = broker.raw_exchange(whole, Duration::from_secs(10)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A body announced over the limit is refused at once, without waiting for bytes that may never
/// come.
#[tokio::test]
async fn a_body_announced_over_the_limit_is_refused_before_it_arrives() {
    let broker = TestBroker::start().await;
    let request = b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                    Content-Length: 100000000\r\n\r\n{}";
    let answer = broker.raw_exchange(request, Duration::from_secs(10)).await;
    let answer = answer.expect("an answer before the body's bytes arrive");
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("payload_too_large"), "{answer}");
}

/// A body that trickles in slower than `BODY_READ_TIMEOUT_SECONDS` is refused with 408, and the
/// request never runs.
#[tokio::test]
async fn a_body_that_never_finishes_is_refused_with_a_timeout() {
    use smartcode_core::limits::BODY_READ_TIMEOUT_SECONDS;

    let broker = TestBroker::start().await;
    let request = b"POST /v1/payments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                    Content-Length: 64\r\n\r\n{";
    let answer = broker
        .raw_exchange(request, Duration::from_secs(BODY_READ_TIMEOUT_SECONDS + 10))
        .await;
    let answer = answer.expect("an answer once the body's time is up");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");
}

/// JSON has one kind of number, and openapi.json's `integer` takes `3600.0` as well as `3600`:
/// a whole number written with a zero fraction is that number (found by Schemathesis, which sent
/// `{"advance_seconds": 484.0}` and was refused with 400). A real fraction is still refused.
#[tokio::test]
async fn whole_numbers_may_be_written_with_a_zero_fraction() {
    let broker = TestBroker::start().await;
    let (code, _) = broker.issue("10", "USD").await;
    let body = json!({
        "amount": "1",
        "expires_in_seconds": 3600.0,
        "restrictions": { "uses_max": 2.0, "spend_per_period": { "amount": "1", "period_seconds": 60.0 } },
    });
    let child = broker
        .post("/v1/me/children", Auth::Code(&code), body)
        .await
        .expect(201);
    assert_eq!(child.body["restrictions"]["uses_max"], 2);
    assert_eq!(child.body["restrictions"]["spend_per_period"]["period_seconds"], 60);
    for bad in [json!(3600.5), json!("3600"), json!(-1.0)] {
        broker
            .post(
                "/v1/me/children",
                Auth::Code(&code),
                json!({ "amount": "1", "expires_in_seconds": bad }),
            )
            .await
            .refused(400, "invalid_request");
    }
    broker
        .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": 1.0 }))
        .await
        .expect(200);
    broker.assert_ledger_ok().await;
}

/// A receipt without what signing adds (`signature`, `batch`): a replay or a read of a receipt is
/// the same receipt, signed again in another batch.
fn unsigned(receipt: &Value) -> Value {
    let mut receipt = receipt.clone();
    let fields = receipt.as_object_mut().expect("a receipt is an object");
    fields.remove("signature");
    fields.remove("batch");
    receipt
}

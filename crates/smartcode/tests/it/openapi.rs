//! The OpenAPI document served at /openapi.json describes exactly the routes the broker serves, and
//! (through the harness, which checks every reply against it) exactly what they answer.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use crate::harness::{Auth, TestBroker};

#[tokio::test]
async fn the_openapi_document_and_the_router_agree() {
    let broker = TestBroker::start().await;
    let document = broker.get("/openapi.json", Auth::None).await.expect(200).body;
    assert_eq!(document["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "put", "post", "delete", "patch"] {
            if let Some(operation) = item.get(method) {
                documented.insert(format!("{method} {path}"));
                assert!(
                    operation["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{method} {path} documents its responses"
                );
                assert!(
                    operation["operationId"].is_string(),
                    "{method} {path} has an operationId"
                );
            }
        }
    }
    let served: BTreeSet<String> = smartcode_server::route_table()
        .iter()
        .map(|(method, path)| smartcode_server::describe_route(method, path))
        .collect();
    let undocumented: Vec<_> = served.difference(&documented).collect();
    let unserved: Vec<_> = documented.difference(&served).collect();
    assert!(
        undocumented.is_empty(),
        "served but not in openapi.json: {undocumented:?}"
    );
    assert!(unserved.is_empty(), "in openapi.json but not served: {unserved:?}");

    // Every documented operation is routed: no route-level 404 or 405 from the server.
    for entry in &documented {
        let (method, path) = entry.split_once(' ').unwrap();
        let concrete = path
            .replace("{id}", "c_0000000000000000")
            .replace("{public_code}", "P-00000-00000");
        let method = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let reply = broker.call(method, &concrete, Auth::None, None).await;
        assert_ne!(reply.status, 405, "{entry} is not routed");
        assert!(
            !(reply.status == 404 && reply.body["detail"] == "endpoint not found"),
            "{entry} is not routed"
        );
    }
}

/// Every operation answers with its success at least once, and with the refusals that only PINs,
/// restrictions and the test clock reach: each reply goes through the harness, which holds it to
/// openapi.json (status, content type, required headers, body schema).
#[tokio::test]
async fn every_operation_answers_as_the_document_says() {
    let broker = TestBroker::start().await;
    for path in ["/healthz", "/metrics", "/", "/.well-known/smartcode", "/openapi.json"] {
        broker.get(path, Auth::None).await.expect(200);
    }
    let (root, root_id) = broker.issue("10", "USD").await;
    broker
        .post(
            "/v1/admin/deposits",
            Auth::Operator,
            json!({ "code_id": root_id, "amount": "5", "currency": "usd" }),
        )
        .await
        .expect(201);
    broker
        .post(
            "/v1/admin/payouts",
            Auth::Operator,
            json!({ "code_id": root_id, "amount": "1", "currency": null, "reference": "bank transfer 1" }),
        )
        .await
        .expect(201);
    broker
        .post(
            "/v1/admin/payouts",
            Auth::Operator,
            json!({ "code_id": root_id, "amount": "1000", "reference": "too much" }),
        )
        .await
        .refused(402, "insufficient_funds");
    broker.get("/v1/admin/security", Auth::Operator).await.expect(200);
    broker
        .post(
            "/v1/admin/security/forgive",
            Auth::Operator,
            json!({ "source": "192.0.2.0/24" }),
        )
        .await
        .expect(200);
    broker
        .post(
            "/v1/admin/security/forgive",
            Auth::Operator,
            json!({ "source": "somewhere" }),
        )
        .await
        .refused(400, "invalid_request");
    broker
        .call(Method::DELETE, "/v1/admin/security/alarm", Auth::Operator, None)
        .await
        .expect(200);
    broker
        .post("/v1/me/proof", Auth::Code(&root), json!({}))
        .await
        .expect(200);
    broker
        .post("/v1/me/seller-key", Auth::Code(&root), json!({}))
        .await
        .expect(200);
    broker
        .put(
            "/v1/me/profile",
            Auth::Code(&root),
            json!({ "name": "Root", "url": "https://root.example", "contact": null }),
        )
        .await
        .expect(200);

    // A seller with a public code that shows its statistics, and one nested under it.
    let (seller, _) = broker.issue("1", "USD").await;
    let shop = broker
        .post(
            "/v1/me/children",
            Auth::Code(&seller),
            json!({ "kind": "public", "label": "shop", "categories": ["music", "books"], "profile": { "name": "Shop", "show_stats": true } }),
        )
        .await
        .expect(201);
    let shop_code = shop.body["public_code"].as_str().unwrap().to_owned();
    let shop_id = shop.body["id"].as_str().unwrap().to_owned();
    let nested = broker
        .post(
            "/v1/me/children",
            Auth::Code(&seller),
            json!({ "kind": "public", "under": shop_id }),
        )
        .await
        .expect(201);
    let nested_id = nested.body["id"].as_str().unwrap();
    broker
        .put(
            &format!("/v1/me/children/{nested_id}/profile"),
            Auth::Code(&seller),
            json!({ "description": "Nested", "categories": ["music"] }),
        )
        .await
        .expect(200);

    // A restricted secret child that expires in an hour.
    let child = broker
        .post(
            "/v1/me/children",
            Auth::Code(&root),
            json!({
                "amount": "3", "label": "pocket", "expires_in_seconds": 3600,
                "restrictions": {
                    "categories": ["music"], "payees": [shop_code], "amount_per_use_max": "1", "uses_max": 3,
                    "spend_per_period": { "amount": "1.5", "period_seconds": 86_400 },
                },
            }),
        )
        .await
        .expect(201);
    let child_code = child.body["code"].as_str().unwrap().to_owned();
    let child_id = child.body["id"].as_str().unwrap().to_owned();
    broker.get("/v1/me/children", Auth::Code(&root)).await.expect(200);
    broker
        .post(
            &format!("/v1/me/children/{child_id}/fund"),
            Auth::Code(&root),
            json!({ "amount": "0.5" }),
        )
        .await
        .expect(200);
    let paid = broker
        .post(
            "/v1/payments",
            Auth::None,
            json!({ "code": child_code, "payee": shop_code, "amount": "0.5", "category": "music", "memo": "song" }),
        )
        .await
        .expect(201);
    let receipt_id = paid.body["receipt"]["id"].as_str().unwrap();
    broker
        .get(&format!("/v1/receipts/{receipt_id}"), Auth::None)
        .await
        .expect(200);
    broker
        .post(
            "/v1/payments",
            Auth::None,
            json!({ "code": child_code, "payee": shop_code, "amount": "0.5", "category": "books" }),
        )
        .await
        .refused(403, "restricted");
    let me = broker.get("/v1/me", Auth::Code(&child_code)).await.expect(200);
    assert_eq!(me.body["restrictions"]["uses_left"], 2);
    let public = broker
        .get(&format!("/v1/public/{shop_code}"), Auth::None)
        .await
        .expect(200);
    assert_eq!(public.body["stats"]["payments"], 1);
    let page = broker
        .get("/v1/me/transactions?limit=1", Auth::Code(&child_code))
        .await
        .expect(200);
    assert!(page.body["next_cursor"].is_string());
    broker
        .get("/v1/me/report?group_by=month", Auth::Code(&seller))
        .await
        .expect(200);
    broker
        .call_with(
            Method::GET,
            "/v1/me/report",
            Auth::Code(&seller),
            None,
            &[("Accept", "text/csv")],
        )
        .await
        .expect(200);

    // A PIN: required, refused, locking the code until its parent unlocks it, then removed.
    broker
        .put("/v1/me/pin", Auth::Code(&child_code), json!({ "pin": "4821" }))
        .await
        .expect(200);
    let music = json!({ "code": child_code, "payee": shop_code, "amount": "0.5", "category": "music" });
    broker
        .post("/v1/payments", Auth::None, music.clone())
        .await
        .refused(403, "pin_required");
    let mut locked = false;
    for _ in 0..6 {
        let reply = broker
            .call_with(
                Method::POST,
                "/v1/payments",
                Auth::None,
                Some(music.clone()),
                &[("Smartcode-Pin", "0000")],
            )
            .await;
        if reply.status == 423 {
            reply.refused(423, "code_locked");
            locked = true;
            break;
        }
        reply.refused(403, "pin_invalid");
    }
    assert!(locked, "wrong PINs lock the code");
    let children = broker.get("/v1/me/children", Auth::Code(&root)).await.expect(200);
    assert_eq!(children.body["children"][0]["status"], "locked");
    broker
        .post(
            &format!("/v1/me/children/{child_id}/unlock"),
            Auth::Code(&root),
            json!({}),
        )
        .await
        .expect(200);
    let pin = [("Smartcode-Pin", "4821")];
    broker
        .call_with(Method::POST, "/v1/payments", Auth::None, Some(music), &pin)
        .await
        .expect(201);
    broker
        .call_with(Method::DELETE, "/v1/me/pin", Auth::Code(&child_code), None, &pin)
        .await
        .expect(200);

    // Rekey: the old secret stops at once.
    let rekeyed = broker
        .post("/v1/me/rekey", Auth::Code(&child_code), json!({}))
        .await
        .expect(200);
    let new_code = rekeyed.body["code"].as_str().unwrap().to_owned();
    broker
        .get("/v1/me", Auth::Code(&child_code))
        .await
        .refused(401, "invalid_code");

    // Cancel, and an irrevocable child that cannot be.
    let (spare, spare_id) = broker.secret_child(&root, "1").await;
    broker
        .post(
            &format!("/v1/me/children/{spare_id}/cancel"),
            Auth::Code(&root),
            json!({}),
        )
        .await
        .expect(200);
    let _ = spare;
    let gift = broker
        .post(
            "/v1/me/children",
            Auth::Code(&root),
            json!({ "amount": "1", "irrevocable": true }),
        )
        .await
        .expect(201);
    let gift_id = gift.body["id"].as_str().unwrap();
    broker
        .post(
            &format!("/v1/me/children/{gift_id}/cancel"),
            Auth::Code(&root),
            json!({}),
        )
        .await
        .refused(403, "not_revocable");

    // The test clock: past the child's expiry.
    broker
        .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": 7200 }))
        .await
        .expect(200);
    broker.pay(&new_code, &shop_code, "0.1").await.refused(410, "expired");
    let label = "x".repeat(20_000);
    broker
        .post(
            "/v1/admin/codes",
            Auth::Operator,
            json!({ "amount": "1", "currency": "USD", "label": label }),
        )
        .await
        .refused(413, "payload_too_large");
    broker.assert_ledger_ok().await;

    // Guessing: unknown codes from one source until it is refused, with Retry-After.
    let mut limited = false;
    for _ in 0..12 {
        let reply = broker.get("/v1/me", Auth::Code("ZZZZ-ZZZZ")).await;
        if reply.status == 429 {
            reply.refused(429, "challenge_required");
            limited = true;
            break;
        }
        reply.refused(401, "invalid_code");
    }
    assert!(limited, "a source that keeps failing is refused");
}

//! Money leaves the system: the operator's payout (`POST /v1/admin/payouts`, `smartcode payout`),
//! its refusals, its idempotency, the history it leaves and what the ledger check reports of it:
//! issued, paid out and held by codes. The console's form is driven in `web.rs` (Chromium) and
//! `forms.rs` (CSRF, one-time nonce).

use std::process::{Command, Output};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Auth, TestBroker, BINARY};

async fn payout(broker: &TestBroker, body: Value) -> crate::harness::Reply {
    broker.post("/v1/admin/payouts", Auth::Operator, body).await
}

/// One currency's line of the ledger check, after asserting that the check passes.
async fn ledger(broker: &TestBroker, currency: &str) -> Value {
    let check = broker.assert_ledger_ok().await;
    let line = check["currencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["currency"] == currency)
        .unwrap_or_else(|| panic!("the check has a line for {currency}: {check}"))
        .clone();
    line
}

#[tokio::test]
async fn a_payout_moves_value_from_a_code_back_to_the_issuance_account() {
    let broker = TestBroker::start().await;
    let (wallet, wallet_id) = broker.issue("10", "USD").await;
    let (pocket, pocket_id) = broker.secret_child(&wallet, "3").await;

    let paid = payout(
        &broker,
        json!({ "code_id": wallet_id, "amount": "2.5", "reference": "bank transfer 118" }),
    )
    .await
    .expect(201);
    assert!(paid.body["id"].as_str().unwrap().starts_with("t_"), "{}", paid.text);
    assert_eq!(paid.body["code_id"], wallet_id.as_str());
    assert_eq!(paid.body["amount"], json!({ "amount": "2.50", "currency": "USD" }));
    assert_eq!(paid.body["reference"], "bank transfer 118");
    assert_eq!(paid.body["balance"], json!({ "amount": "4.50", "currency": "USD" }));
    assert_eq!(broker.balance(&wallet).await, "4.50");

    // A child pays out too, and the currency may be named if it is the code's.
    payout(
        &broker,
        json!({ "code_id": pocket_id, "amount": "1", "currency": "USD", "reference": "cash at the desk" }),
    )
    .await
    .expect(201);
    assert_eq!(broker.balance(&pocket).await, "2.00");

    // The holder sees it in its history, with the reference as its memo and the broker as the
    // other side.
    let history = broker.get("/v1/me/transactions", Auth::Code(&wallet)).await.expect(200);
    let newest = &history.body["transactions"][0];
    assert_eq!(newest["kind"], "payout");
    assert_eq!(newest["amount"], "-2.50");
    assert_eq!(newest["memo"], "bank transfer 118");
    assert!(newest["counterparty_id"].is_null(), "{newest}");

    let usd = ledger(&broker, "USD").await;
    assert_eq!(usd["issued"], "10.00");
    assert_eq!(usd["paid_out"], "3.50");
    assert_eq!(usd["outstanding"], "6.50");
    assert_eq!(usd["held_by_codes"], "6.50");
    assert_eq!(usd["sum"], "0.00");
}

#[tokio::test]
async fn a_payout_is_refused_whole_with_a_clear_word() {
    let broker = TestBroker::start().await;
    let (wallet, wallet_id) = broker.issue("5", "USD").await;
    let (_, euro_id) = broker.issue("1", "EUR").await;
    let (shop, _) = broker.public_child(&wallet).await;
    let shop_id = broker
        .get(&format!("/v1/public/{shop}"), Auth::None)
        .await
        .expect(200)
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, child_id) = broker.secret_child(&wallet, "1").await;
    broker
        .post(
            &format!("/v1/me/children/{child_id}/cancel"),
            Auth::Code(&wallet),
            json!({}),
        )
        .await
        .expect(200);
    let body = |code_id: &str, amount: &str| json!({ "code_id": code_id, "amount": amount, "reference": "r-1" });

    // More than the code holds: nothing moves.
    payout(&broker, body(&wallet_id, "5.000001"))
        .await
        .refused(402, "insufficient_funds");
    // Unknown, malformed or public: there is no code to pay out of.
    payout(&broker, body("c_0000000000000000", "1"))
        .await
        .refused(404, "not_found");
    payout(&broker, body("not-a-code-id", "1"))
        .await
        .refused(404, "not_found");
    payout(&broker, body(&shop_id, "1")).await.refused(404, "not_found");
    // A cancelled code's value went back to its parent.
    payout(&broker, body(&child_id, "0.5")).await.refused(409, "conflict");
    // Bad amounts.
    for amount in ["0", "-1", "0.0000001", "1e3", "", "abc"] {
        payout(&broker, body(&wallet_id, amount))
            .await
            .refused(400, "invalid_request");
    }
    payout(&broker, json!({ "code_id": wallet_id, "amount": 1, "reference": "r" }))
        .await
        .refused(400, "invalid_request");
    // A reference is required, and is text of bounded length.
    payout(&broker, json!({ "code_id": wallet_id, "amount": "1" }))
        .await
        .refused(400, "invalid_request");
    for reference in ["", "   "] {
        payout(
            &broker,
            json!({ "code_id": wallet_id, "amount": "1", "reference": reference }),
        )
        .await
        .refused(400, "invalid_request");
    }
    payout(
        &broker,
        json!({ "code_id": wallet_id, "amount": "1", "reference": "x".repeat(201) }),
    )
    .await
    .refused(400, "limit_exceeded");
    payout(
        &broker,
        json!({ "code_id": wallet_id, "amount": "1", "reference": "a\u{7}b" }),
    )
    .await
    .refused(400, "invalid_request");
    // Another currency than the code's.
    payout(
        &broker,
        json!({ "code_id": euro_id, "amount": "1", "currency": "USD", "reference": "r" }),
    )
    .await
    .refused(409, "currency_mismatch");
    // Only the operator pays out.
    for auth in [Auth::None, Auth::Code(&wallet), Auth::Raw("Bearer wrong-token")] {
        broker
            .post("/v1/admin/payouts", auth, body(&wallet_id, "1"))
            .await
            .refused(401, "unauthorized");
    }

    assert_eq!(
        broker.balance(&wallet).await,
        "5.00",
        "the refusals moved nothing (the cancel reclaimed 1)"
    );
    let usd = ledger(&broker, "USD").await;
    assert_eq!(usd["paid_out"], "0.00");
    assert_eq!(usd["held_by_codes"], "5.00");
}

#[tokio::test]
async fn an_expired_code_pays_nothing_out() {
    let broker = TestBroker::start().await;
    let (wallet, _) = broker.issue("5", "USD").await;
    let child = broker
        .post(
            "/v1/me/children",
            Auth::Code(&wallet),
            json!({ "amount": "2", "expires_in_seconds": 60 }),
        )
        .await
        .expect(201);
    let child_id = child.body["id"].as_str().unwrap().to_owned();
    broker
        .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": 120 }))
        .await
        .expect(200);
    // Expired, whether or not the sweep has reverted its value yet: that value is its parent's.
    payout(&broker, json!({ "code_id": child_id, "amount": "1", "reference": "r" }))
        .await
        .refused(410, "expired");
    broker.wait_for_sweeps(2).await;
    assert_eq!(broker.balance(&wallet).await, "5.00");
    let usd = ledger(&broker, "USD").await;
    assert_eq!(usd["paid_out"], "0.00");
}

#[tokio::test]
async fn a_payout_retried_with_its_idempotency_key_happens_once() {
    let broker = TestBroker::start().await;
    let (wallet, wallet_id) = broker.issue("5", "USD").await;
    let body = json!({ "code_id": wallet_id, "amount": "1.25", "reference": "bank 7" });
    let headers = [("idempotency-key", "payout-7")];
    let first = broker
        .call_with(
            Method::POST,
            "/v1/admin/payouts",
            Auth::Operator,
            Some(body.clone()),
            &headers,
        )
        .await
        .expect(201);
    let again = broker
        .call_with(Method::POST, "/v1/admin/payouts", Auth::Operator, Some(body), &headers)
        .await
        .expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body, first.body, "the first answer, replayed");
    broker
        .call_with(
            Method::POST,
            "/v1/admin/payouts",
            Auth::Operator,
            Some(json!({ "code_id": wallet_id, "amount": "2", "reference": "bank 7" })),
            &headers,
        )
        .await
        .refused(422, "idempotency_conflict");
    assert_eq!(broker.balance(&wallet).await, "3.75", "paid out once");
    let usd = ledger(&broker, "USD").await;
    assert_eq!(usd["paid_out"], "1.25");
    assert_eq!(usd["held_by_codes"], "3.75");
}

fn cli(broker: &TestBroker, args: &[&str]) -> Output {
    Command::new(BINARY)
        .arg("--broker")
        .arg(&broker.base)
        .arg("--operator-token-file")
        .arg(broker.data.join("operator-token"))
        .args(args)
        .env_remove("SMARTCODE_CODE")
        .env_remove("SMARTCODE_OPERATOR_TOKEN")
        .output()
        .expect("the smartcode binary runs")
}

#[track_caller]
fn stdout_of(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn the_cli_pays_out_and_the_check_says_how_much() {
    let broker = TestBroker::start().await;
    let (wallet, wallet_id) = broker.issue("10", "USD").await;

    let text = stdout_of(&cli(
        &broker,
        &["payout", &wallet_id, "--amount", "4", "--reference", "bank transfer 9"],
    ));
    assert!(
        text.starts_with(&format!("Paid 4.00 USD out of {wallet_id}: balance now 6.00 USD\n")),
        "{text}"
    );
    assert!(text.contains("  reference: bank transfer 9\n"), "{text}");

    let json: Value = serde_json::from_str(&stdout_of(&cli(
        &broker,
        &[
            "--json",
            "payout",
            &wallet_id,
            "--amount",
            "0.5",
            "--reference",
            "cash",
            "--idempotency-key",
            "cli-payout-1",
        ],
    )))
    .expect("--json prints JSON");
    assert_eq!(json["balance"]["amount"], "5.50");
    assert_eq!(json["reference"], "cash");
    let replayed: Value = serde_json::from_str(&stdout_of(&cli(
        &broker,
        &[
            "--json",
            "payout",
            &wallet_id,
            "--amount",
            "0.5",
            "--reference",
            "cash",
            "--idempotency-key",
            "cli-payout-1",
        ],
    )))
    .unwrap();
    assert_eq!(replayed["id"], json["id"], "the retried command paid out once");

    // A refusal exits 1 and names the problem's word.
    let refused = cli(
        &broker,
        &["payout", &wallet_id, "--amount", "100", "--reference", "too much"],
    );
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("insufficient_funds"), "{stderr}");

    assert_eq!(broker.balance(&wallet).await, "5.50");
    let check = stdout_of(&cli(&broker, &["check"]));
    assert!(check.starts_with("ledger OK\n"), "{check}");
    assert!(
        check.contains("USD: issued 10.00, paid out 4.50, held by codes 5.50, sum 0.00"),
        "{check}"
    );
    let usd = ledger(&broker, "USD").await;
    assert_eq!(usd["paid_out"], "4.50");
}

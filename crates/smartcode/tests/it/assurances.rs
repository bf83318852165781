//! Assurance codes (issue 14): the broker certifies to a seller that at least a floor remains on
//! a holder's code, signs the certificate so anyone can check it offline, and while it stands never
//! refuses a payment under it for lack of funds, however the holder spends meanwhile. Through the
//! real server on both stores (these tests run again on PostgreSQL); every test ends with the
//! ledger check.

use serde_json::{json, Value};
use smartcode_client::CertificateJson;

use crate::cli::Cli;
use crate::forms::Visitor;
use crate::harness::{Auth, Reply, TestBroker};

async fn me(broker: &TestBroker, code: &str) -> Value {
    broker.get("/v1/me", Auth::Code(code)).await.expect(200).body
}

async fn certify(broker: &TestBroker, assurance: &str, payee: &str) -> Reply {
    broker
        .post(
            "/v1/assurances/certify",
            Auth::None,
            json!({ "assurance_code": assurance, "payee": payee }),
        )
        .await
}

async fn pay_under(broker: &TestBroker, assurance: &str, certificate: &str, payee: &str, amount: &str) -> Reply {
    broker
        .post(
            "/v1/payments",
            Auth::None,
            json!({ "code": assurance, "payee": payee, "amount": amount, "certificate": certificate }),
        )
        .await
}

async fn advance(broker: &TestBroker, seconds: i64) {
    broker
        .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": seconds }))
        .await
        .expect(200);
}

async fn published_key(broker: &TestBroker) -> ed25519_dalek::VerifyingKey {
    let metadata = broker.get("/.well-known/smartcode", Auth::None).await.expect(200);
    let hex = metadata.body["certificate_signature"]["public_key"].as_str().unwrap();
    smartcode_receipt::public_key(hex).unwrap()
}

#[tokio::test]
async fn a_certificate_keeps_its_floor_for_its_seller_however_the_holder_spends() {
    let broker = TestBroker::start().await;
    let (holder, holder_id) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let (elsewhere, _) = broker.public_child(&seller).await;

    let made = broker
        .post("/v1/me/assurances", Auth::Code(&holder), json!({ "floor": "5" }))
        .await
        .expect(201);
    let assurance = made.body["assurance_code"].as_str().unwrap().to_owned();
    assert_eq!(made.body["status"], "active");
    assert_eq!(made.body["floor"]["amount"], "5.00");
    // It sets nothing aside until a seller asks, and it never pays by itself.
    assert_eq!(me(&broker, &holder).await["available"]["amount"], "10.00");
    broker.pay(&assurance, &shop, "1").await.refused(401, "invalid_code");

    let certified = certify(&broker, &assurance, &shop).await.expect(200);
    let certificate: CertificateJson = serde_json::from_value(certified.body["certificate"].clone()).unwrap();
    assert_eq!(certificate.code_id, holder_id);
    assert_eq!(certificate.payee, shop);
    assert_eq!(certificate.floor.amount, "5.00");
    let key = published_key(&broker).await;
    assert_eq!(smartcode_receipt::verify_certificate(&certificate, &key), Ok(()));
    let mut forged = certificate.clone();
    forged.floor.amount = "50.00".into();
    assert!(smartcode_receipt::verify_certificate(&forged, &key).is_err());

    // The holder spends what it likes, but not the floor while the certificate stands, and sees why.
    let view = me(&broker, &holder).await;
    assert_eq!(view["available"]["amount"], "5.00");
    assert_eq!(view["holds"][0]["id"], certificate.id.as_str());
    assert_eq!(view["holds"][0]["amount"]["amount"], "5.00");
    broker
        .pay(&holder, &elsewhere, "5.01")
        .await
        .refused(402, "insufficient_funds");
    broker.pay(&holder, &elsewhere, "5").await.expect(201);
    assert_eq!(broker.balance(&holder).await, "5.00");
    certify(&broker, &assurance, &elsewhere)
        .await
        .refused(402, "insufficient_funds");

    // The seller is paid under it, in parts, up to the floor and no further.
    let id = certificate.id.as_str();
    pay_under(&broker, &assurance, id, &elsewhere, "1")
        .await
        .refused(403, "restricted");
    let paid = pay_under(&broker, &assurance, id, &shop, "3").await.expect(201);
    assert_eq!(paid.body["receipt"]["amount"]["amount"], "3.00");
    let view = me(&broker, &holder).await;
    assert_eq!(
        view["holds"][0]["amount"]["amount"], "2.00",
        "what the certificate still sets aside"
    );
    pay_under(&broker, &assurance, id, &shop, "2.01")
        .await
        .refused(409, "amount_mismatch");
    pay_under(&broker, &assurance, id, &shop, "2").await.expect(201);
    pay_under(&broker, &assurance, id, &shop, "0.01")
        .await
        .refused(409, "amount_mismatch");
    assert_eq!(broker.balance(&holder).await, "0.00");
    assert_eq!(broker.balance(&seller).await, "11.00");
    pay_under(&broker, &assurance, "h_0000000000000000", &shop, "1")
        .await
        .refused(404, "not_found");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_certificate_ends_in_minutes_and_a_revoked_assurance_certifies_no_more() {
    let broker = TestBroker::start().await;
    let (holder, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let made = broker
        .post("/v1/me/assurances", Auth::Code(&holder), json!({ "floor": "4" }))
        .await
        .expect(201);
    let assurance = made.body["assurance_code"].as_str().unwrap().to_owned();
    let id = made.body["id"].as_str().unwrap().to_owned();

    // At its end what it did not take is available again at once, and it pays no more.
    let first = certify(&broker, &assurance, &shop).await.expect(200);
    let first = first.body["certificate"]["id"].as_str().unwrap().to_owned();
    pay_under(&broker, &assurance, &first, &shop, "1").await.expect(201);
    assert_eq!(me(&broker, &holder).await["available"]["amount"], "6.00");
    advance(&broker, 5 * 60 + 1).await;
    assert_eq!(me(&broker, &holder).await["available"]["amount"], "9.00");
    pay_under(&broker, &assurance, &first, &shop, "1")
        .await
        .refused(410, "expired");

    // Revoked: no new certificate; one given before still pays until it ends.
    let second = certify(&broker, &assurance, &shop).await.expect(200);
    let second = second.body["certificate"]["id"].as_str().unwrap().to_owned();
    let cancel = format!("/v1/me/assurances/{id}/cancel");
    let revoked = broker.post(&cancel, Auth::Code(&holder), json!({})).await.expect(200);
    assert_eq!(revoked.body["status"], "cancelled");
    let refused = certify(&broker, &assurance, &shop).await.refused(401, "invalid_code");
    assert!(
        refused.body["tries_left"].is_number(),
        "a revoked code looks like a guess"
    );
    pay_under(&broker, &assurance, &second, &shop, "4").await.expect(201);
    let listed = broker.get("/v1/me/assurances", Auth::Code(&holder)).await.expect(200);
    assert_eq!(listed.body["assurances"][0]["status"], "cancelled");
    broker
        .post(&cancel, Auth::Code(&seller), json!({}))
        .await
        .refused(404, "not_found");

    // Bad input: a lifetime out of bounds, a floor of nothing.
    for seconds in [0, 366 * 24 * 3600 + 1] {
        broker
            .post(
                "/v1/me/assurances",
                Auth::Code(&holder),
                json!({ "floor": "1", "expires_in_seconds": seconds }),
            )
            .await
            .refused(400, "invalid_request");
    }
    broker
        .post("/v1/me/assurances", Auth::Code(&holder), json!({ "floor": "0" }))
        .await
        .refused(400, "invalid_request");
    assert_eq!(broker.balance(&holder).await, "5.00");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_command_line_certifies_and_checks_a_certificate_without_the_broker() {
    let broker = TestBroker::start().await;
    let (holder, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let cli = Cli { broker: &broker };
    let made = cli.json(Some(&holder), &["assurance", "create", "--floor", "2.50"]);
    let assurance = made["assurance_code"].as_str().unwrap().to_owned();
    let certified = cli.json(None, &["assurance", "certify", &assurance, "--payee", &shop]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("certificate.json");
    std::fs::write(&file, serde_json::to_vec(&certified).unwrap()).unwrap();
    let key = broker.get("/.well-known/smartcode", Auth::None).await.body["certificate_signature"]["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    // With the key alone, no broker: a broker address that answers nothing.
    let checked = std::process::Command::new(crate::harness::BINARY)
        .args(["--broker", "http://127.0.0.1:9", "assurance", "verify"])
        .arg(&file)
        .args(["--key", &key])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success() && out.contains("verified"), "{out}");
    let mut tampered = certified.clone();
    tampered["certificate"]["payee"] = json!("P-00000-00000");
    std::fs::write(&file, serde_json::to_vec(&tampered).unwrap()).unwrap();
    let refused = cli.run(None, &["assurance", "verify", file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not verify"));

    let id = certified["certificate"]["id"].as_str().unwrap().to_owned();
    cli.text(
        Some(&assurance),
        &["pay", "--payee", &shop, "--amount", "2.50", "--certificate", &id],
    );
    let listed = cli.text(Some(&holder), &["assurance", "list"]);
    assert!(listed.contains("floor 2.50 USD"), "{listed}");
    assert_eq!(broker.balance(&holder).await, "7.50");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_control_center_makes_and_revokes_assurance_codes() {
    let broker = TestBroker::start().await;
    let (holder, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let mut visitor = Visitor::arrive(&broker).await;
    visitor.log_in("/enter", &[("code", &holder)]).await;
    let made = visitor
        .post("/me/assurances", &[("floor", "3"), ("nonce", "a1")], true)
        .await;
    assert_eq!(made.status(), 303);
    let center = visitor.get("/me").await;
    let code = center
        .split("id=\"new-code\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the page reveals the assurance code")
        .to_owned();
    assert!(center.contains("id=\"assurances\""), "the assurance is listed");
    certify(&broker, &code, &shop).await.expect(200);
    let listed = broker.get("/v1/me/assurances", Auth::Code(&holder)).await.expect(200);
    let id = listed.body["assurances"][0]["id"].as_str().unwrap().to_owned();
    let revoked = visitor
        .post(&format!("/me/assurances/{id}/cancel"), &[("nonce", "a2")], true)
        .await;
    assert_eq!(revoked.status(), 303);
    certify(&broker, &code, &shop).await.refused(401, "invalid_code");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn payments_under_one_certificate_at_once_never_take_more_than_its_floor() {
    let broker = TestBroker::start().await;
    let (holder, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let made = broker
        .post("/v1/me/assurances", Auth::Code(&holder), json!({ "floor": "5" }))
        .await
        .expect(201);
    let assurance = made.body["assurance_code"].as_str().unwrap().to_owned();
    let certified = certify(&broker, &assurance, &shop).await.expect(200);
    let id = certified.body["certificate"]["id"].as_str().unwrap().to_owned();
    let tries = (0..12).map(|_| pay_under(&broker, &assurance, &id, &shop, "1"));
    let replies = futures::future::join_all(tries).await;
    let paid = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(paid, 5, "exactly the floor is paid");
    for refused in replies.iter().filter(|r| r.status != 201) {
        assert_eq!(refused.code(), "amount_mismatch", "{}", refused.text);
    }
    assert_eq!(broker.balance(&holder).await, "5.00");
    broker.assert_ledger_ok().await;
}

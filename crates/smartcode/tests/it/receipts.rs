//! Receipts as their readers check them: version 2 covers every field shown (a changed memo fails),
//! version 1 receipts still verify, a receipt of a batch of many concurrent payments verifies
//! alone, the receipt's page (`/r/{id}`) over HTTP, and `smartcode receipt --verify` offline.

use std::process::{Command, Output};

use futures::future::join_all;
use serde_json::{json, Value};
use smartcode_client::ReceiptJson;
use smartcode_receipt::{verify, Version};

use crate::harness::{Auth, TestBroker, BINARY};

/// The broker's published receipt key.
async fn published_key(broker: &TestBroker) -> ed25519_dalek::VerifyingKey {
    let metadata = broker.get("/.well-known/smartcode", Auth::None).await.expect(200);
    smartcode_receipt::public_key(metadata.body["receipt_signature"]["public_key"].as_str().unwrap()).unwrap()
}

fn receipt_of(body: &Value) -> ReceiptJson {
    serde_json::from_value(body["receipt"].clone()).expect("a receipt")
}

/// `smartcode receipt ARGS…` against `broker`.
fn cli(broker: &TestBroker, args: &[&str]) -> Output {
    Command::new(BINARY)
        .arg("--broker")
        .arg(&broker.base)
        .arg("receipt")
        .args(args)
        .env_remove("SMARTCODE_CODE")
        .env_remove("SMARTCODE_PIN")
        .output()
        .expect("the smartcode binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Writes `receipt` to a file of its own and returns its path.
fn file_of(dir: &tempfile::TempDir, name: &str, receipt: &ReceiptJson) -> String {
    let path = dir.path().join(name);
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&json!({ "receipt": receipt })).unwrap(),
    )
    .unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_receipt_signs_every_field_it_shows_and_a_changed_memo_fails() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("5", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let paid = broker
        .post("/v1/payments", Auth::None, json!({ "code": buyer, "payee": shop, "amount": "0.25", "memo": "one song", "category": "music", "item": "song-1" }))
        .await
        .expect(201);
    let receipt = receipt_of(&paid.body);
    let key = published_key(&broker).await;
    assert_eq!(receipt.version.as_deref(), Some("smartcode-receipt-v2"));
    assert_eq!(verify(&receipt, &key), Ok(Version::V2));

    // Every field shown is covered: a change of any one fails, memo, category and item included.
    type Change = fn(&mut ReceiptJson);
    let changes: [(&str, Change); 7] = [
        ("memo", |r| r.memo = Some("ten songs".into())),
        ("no memo", |r| r.memo = None),
        ("category", |r| r.category = Some("bakery".into())),
        ("item", |r| r.item = Some("album-1".into())),
        ("amount", |r| r.amount.amount = "2.50".into()),
        ("payee", |r| r.payee_id = "c_0000000000000000".into()),
        ("time", |r| r.created_at = "2020-01-01T00:00:00Z".into()),
    ];
    for (what, change) in changes {
        let mut tampered = receipt.clone();
        change(&mut tampered);
        assert!(verify(&tampered, &key).is_err(), "a changed {what} still verified");
    }

    // The same, as anyone checks it: the CLI with a receipt file, the key from the broker.
    let dir = tempfile::tempdir().unwrap();
    let good = file_of(&dir, "good.json", &receipt);
    let checked = cli(&broker, &[&good, "--verify"]);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    assert!(stdout(&checked).contains("signature verified"), "{}", stdout(&checked));
    let mut tampered = receipt.clone();
    tampered.memo = Some("ten songs".into());
    let bad = file_of(&dir, "tampered.json", &tampered);
    let refused = cli(&broker, &[&bad, "--verify"]);
    assert!(!refused.status.success(), "a tampered memo must fail the check");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not verify"));

    // By id, fetched from the broker and checked here; --json says so too.
    let by_id = cli(&broker, &["--json", &receipt.id, "--verify"]);
    assert!(by_id.status.success(), "{}", String::from_utf8_lossy(&by_id.stderr));
    let out: Value = serde_json::from_slice(&by_id.stdout).unwrap();
    assert_eq!(out["verified"], true);
    assert_eq!(out["version"], "smartcode-receipt-v2");
    assert_eq!(out["receipt"]["memo"], "one song");
    broker.assert_ledger_ok().await;
}

/// A receipt signed the way brokers signed before version 2 (one Ed25519 signature over the v1
/// message, with the key the broker derives from its broker key) still verifies, and a changed
/// amount in it does not.
#[tokio::test]
async fn a_version_1_receipt_still_verifies() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("5", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let paid = broker.pay(&buyer, &shop, "0.40").await.expect(201);
    let mut old = receipt_of(&paid.body);
    let key_hex = std::fs::read_to_string(broker.data.join("broker-key")).unwrap();
    let key_bytes: [u8; 32] = hex::decode(key_hex.trim()).unwrap().try_into().unwrap();
    let keys = smartcode_server::keys::Keys::derive(smartcode_core::code::BrokerKey::from_bytes(key_bytes));
    old.version = None;
    old.batch = None;
    old.signature = keys.sign(smartcode_receipt::message_v1(&old).as_bytes());
    assert_eq!(verify(&old, &published_key(&broker).await), Ok(Version::V1));

    let dir = tempfile::tempdir().unwrap();
    let file = file_of(&dir, "v1.json", &old);
    let checked = cli(&broker, &[&file, "--verify"]);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    assert!(
        stdout(&checked).contains("smartcode-receipt-v1"),
        "{}",
        stdout(&checked)
    );
    old.amount.amount = "4.00".into();
    let file = file_of(&dir, "v1-changed.json", &old);
    assert!(!cli(&broker, &[&file, "--verify"]).status.success());
    broker.assert_ledger_ok().await;
}

/// Many payments at once are signed in batches (fewer signatures than receipts), and each
/// receipt of a batch verifies alone, offline, from a file, with only the broker's key.
#[tokio::test]
async fn a_receipt_from_a_batch_of_many_concurrent_payments_verifies_alone() {
    let broker = TestBroker::start().await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let mut buyers = Vec::new();
    for _ in 0..8 {
        buyers.push(broker.issue("10", "USD").await.0);
    }
    let payments = (0..240).map(|i| {
        let body =
            json!({ "code": buyers[i % buyers.len()], "payee": shop, "amount": "0.01", "memo": format!("order {i}") });
        let broker = &broker;
        async move { broker.post("/v1/payments", Auth::None, body).await.expect(201) }
    });
    let receipts: Vec<ReceiptJson> = join_all(payments).await.iter().map(|r| receipt_of(&r.body)).collect();
    let key = published_key(&broker).await;
    for receipt in &receipts {
        assert_eq!(verify(receipt, &key), Ok(Version::V2), "receipt {}", receipt.id);
    }
    let shared = receipts
        .iter()
        .filter(|r| r.batch.as_ref().is_some_and(|b| b.size > 1))
        .max_by_key(|r| r.batch.as_ref().map(|b| b.size))
        .expect("240 concurrent payments share a signing batch somewhere");
    let batch = shared.batch.as_ref().unwrap();
    let together: Vec<&ReceiptJson> = receipts
        .iter()
        .filter(|r| r.batch.as_ref().is_some_and(|b| b.root == batch.root))
        .collect();
    assert!(
        together.iter().all(|r| r.signature == shared.signature),
        "one signature per batch"
    );

    let metrics = broker.get("/metrics", Auth::Operator).await.expect(200).text;
    let counter = |name: &str| -> u64 {
        let line = metrics.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap();
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    let (signed, signatures) = (
        counter("smartcode_receipts_signed_total"),
        counter("smartcode_receipt_signatures_total"),
    );
    assert!(
        signed >= 240 && signatures < signed,
        "{signatures} signatures for {signed} receipts"
    );

    // Alone, from a file, with the key given: nothing but the receipt and the key.
    let dir = tempfile::tempdir().unwrap();
    let file = file_of(&dir, "one.json", shared);
    let key_hex = hex::encode(key.to_bytes());
    let checked = cli(&broker, &[&file, "--verify", "--key", &key_hex]);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    assert!(stdout(&checked).contains(&format!("one of {} in its batch", batch.size)));
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_receipt_page_shows_the_payment_its_checked_signature_and_a_qr_code_of_itself() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("5", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let shop = broker
        .post(
            "/v1/me/children",
            Auth::Code(&seller),
            json!({ "kind": "public", "profile": { "name": "Ann's <b>songs</b>" } }),
        )
        .await
        .expect(201);
    let shop = shop.body["public_code"].as_str().unwrap().to_owned();
    let paid = broker
        .post(
            "/v1/payments",
            Auth::None,
            json!({ "code": buyer, "payee": shop, "amount": "1.25", "memo": "a song & a <i>poem</i>" }),
        )
        .await
        .expect(201);
    let receipt = receipt_of(&paid.body);
    let page = broker.get(&format!("/r/{}", receipt.id), Auth::None).await.expect(200);
    let html = &page.text;
    assert!(
        html.contains("Ann&#39;s &lt;b&gt;songs&lt;/b&gt;") || html.contains("Ann's &lt;b&gt;songs&lt;/b&gt;"),
        "the seller's name, as text: {html}"
    );
    assert!(html.contains("1.25 USD"));
    assert!(
        html.contains("a song &amp; a &lt;i&gt;poem&lt;/i&gt;"),
        "the memo, as text"
    );
    assert!(
        html.contains(&format!("datetime=\"{}\"", receipt.created_at)),
        "a time the script shows in local time"
    );
    assert!(html.contains("Signature checked"), "{html}");
    let address = format!("{}/r/{}", broker.base, receipt.id);
    assert!(html.contains(&address));
    let qr = qrcode::QrCode::new(address.as_bytes())
        .unwrap()
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(180, 180)
        .quiet_zone(true)
        .build();
    assert!(
        html.contains(&qr[qr.find("<svg").unwrap()..]),
        "a QR code of the page's own address"
    );
    assert!(!html.contains(&buyer), "a receipt never holds the buyer's secret");

    let missing = broker.get("/r/r_00000000000000000000000000", Auth::None).await;
    assert_eq!(missing.status, 404);
    assert!(missing.text.contains("No such receipt"));
    broker.assert_ledger_ok().await;
}

/// What a seller sees of a payer is a pseudonym per seller: two shops of different owners paid by
/// the same code see different payer ids, none of them the payer's id; one seller sees the same
/// pseudonym every time (in its receipts and its history, whichever of its shops was paid); the
/// payer and the operator see the payer's id. Every one of these receipts verifies.
#[tokio::test]
async fn each_seller_sees_a_payer_by_a_pseudonym_of_its_own_and_the_payer_by_its_id() {
    let broker = TestBroker::start().await;
    let (buyer, buyer_id) = broker.issue("5", "USD").await;
    let (ann, _) = broker.issue("1", "USD").await;
    let (bob, _) = broker.issue("1", "USD").await;
    let (ann_songs, _) = broker.public_child(&ann).await;
    let (ann_books, _) = broker.public_child(&ann).await;
    let (bob_bakery, _) = broker.public_child(&bob).await;
    let key = published_key(&broker).await;
    let mut paid = Vec::new();
    for shop in [&ann_songs, &bob_bakery, &ann_songs, &ann_books] {
        let receipt = receipt_of(&broker.pay(&buyer, shop, "0.10").await.expect(201).body);
        assert_eq!(verify(&receipt, &key), Ok(Version::V2));
        paid.push(receipt);
    }
    let (ann_sees, bob_sees) = (&paid[0].payer_id, &paid[1].payer_id);
    assert!(
        ann_sees.starts_with("pp_") && bob_sees.starts_with("pp_"),
        "{ann_sees} {bob_sees}"
    );
    assert_ne!(ann_sees, bob_sees, "two sellers cannot tell that one code paid both");
    assert_ne!(ann_sees, &buyer_id);
    assert_eq!(
        &paid[2].payer_id, ann_sees,
        "the same seller sees the same pseudonym twice"
    );
    assert_eq!(&paid[3].payer_id, ann_sees, "and on another of its shops");
    for receipt in &paid {
        assert!(!serde_json::to_string(receipt).unwrap().contains(&buyer_id));
    }

    // The seller's history names the payer by the same pseudonym, never by its id.
    let history = broker.get("/v1/me/transactions", Auth::Code(&ann)).await.expect(200);
    let received: Vec<&Value> = history.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "payment")
        .collect();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|t| t["counterparty_id"] == ann_sees.as_str()));
    assert!(
        !history.text.contains(&buyer_id),
        "the seller's history never holds the payer's id"
    );

    // Anyone reading a receipt by its id sees the seller's view; the payer and the operator the id.
    let path = format!("/v1/receipts/{}", paid[1].id);
    let anyone = receipt_of(&broker.get(&path, Auth::None).await.expect(200).body);
    assert_eq!(&anyone.payer_id, bob_sees);
    let seller = receipt_of(&broker.get(&path, Auth::Code(&bob)).await.expect(200).body);
    assert_eq!(&seller.payer_id, bob_sees);
    let payer = receipt_of(&broker.get(&path, Auth::Code(&buyer)).await.expect(200).body);
    assert_eq!(payer.payer_id, buyer_id, "the buyer sees its real id");
    let operator = receipt_of(&broker.get(&path, Auth::Operator).await.expect(200).body);
    assert_eq!(operator.payer_id, buyer_id, "the operator sees the real id");
    for receipt in [&anyone, &seller, &payer, &operator] {
        assert_eq!(
            verify(receipt, &key),
            Ok(Version::V2),
            "every view of a receipt verifies"
        );
    }
    broker
        .get(&path, Auth::Raw("Bearer wrong"))
        .await
        .refused(401, "unauthorized");
    let history = broker.get("/v1/me/transactions", Auth::Code(&buyer)).await.expect(200);
    assert_eq!(
        history.body["transactions"].as_array().unwrap().len(),
        5,
        "issue and four payments"
    );

    // The CLI shows the payer its own id when it reads with its code.
    let output = Command::new(BINARY)
        .args(["--broker", &broker.base, "receipt", &paid[0].id, "--verify"])
        .env("SMARTCODE_CODE", &buyer)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        stdout(&output).contains(&format!("from {buyer_id} ")),
        "{}",
        stdout(&output)
    );
    broker.assert_ledger_ok().await;
}

//! Peers: the operator adds another broker by its URL (its metadata read, its key pinned),
//! lists, suspends, resumes and removes it, over HTTP and the command line, with every refusal
//! named; peers are kept in the store. Two real brokers of different code formats on loopback.

use reqwest::Method;
use serde_json::{json, Value};

use crate::cli::Cli;
use crate::harness::{Auth, TestBroker};

async fn start(data: &std::path::Path, flags: &[&str]) -> TestBroker {
    TestBroker::start_in_with(data, flags).await
}

/// Broker B: of all-digit codes, unlike A.
const B_FLAGS: &[&str] = &[
    "--domain",
    "b.test",
    "--broker-number",
    "7",
    "--code-alphabet",
    "digits",
];

fn peer_body(url: &str) -> Value {
    json!({ "url": url, "credit_limits": [{ "amount": "100", "currency": "USD" }] })
}

#[tokio::test]
async fn an_operator_adds_a_peer_by_its_url_pins_its_key_and_manages_it() {
    let dir = tempfile::tempdir().unwrap();
    let a = start(
        &dir.path().join("a"),
        &["--name", "Broker A", "--domain", "a.test", "--broker-number", "2"],
    )
    .await;
    let b_data = dir.path().join("b");
    let b = start(&b_data, B_FLAGS).await;
    let a_meta = a.get("/.well-known/smartcode", Auth::None).await.expect(200).body;
    let a_key = a_meta["federation"]["signing_key"].as_str().unwrap().to_owned();
    let b_key = b.get("/.well-known/smartcode", Auth::None).await.body["federation"]["signing_key"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(a_key, b_key);
    assert_ne!(
        a_key, a_meta["receipt_signature"]["public_key"],
        "messages and receipts have keys of their own"
    );

    // Refused before anything is read or kept: a URL that is not a base URL, a key that is none.
    for (body, code) in [
        (json!({ "url": "ftp://a.test" }), "invalid_request"),
        // Charges carry buyers' codes: plain http only to this machine.
        (json!({ "url": "http://a.test" }), "invalid_request"),
        (json!({ "url": format!("{}?x=1", a.base) }), "invalid_request"),
        (json!({ "url": a.base, "key": "zz" }), "invalid_request"),
        (json!({ "url": a.base, "name": "no spaces" }), "invalid_request"),
        (json!({ "url": "x".repeat(600) }), "limit_exceeded"),
        (
            json!({ "url": a.base, "credit_limits": [{ "amount": "0", "currency": "USD" }] }),
            "invalid_request",
        ),
        (
            json!({ "url": a.base, "credit_limits": vec![json!({ "amount": "1", "currency": "USD" }); 17] }),
            "limit_exceeded",
        ),
    ] {
        b.post("/v1/admin/peers", Auth::Operator, body).await.refused(400, code);
    }
    b.post("/v1/admin/peers", Auth::Code("x"), peer_body(&a.base))
        .await
        .refused(401, "unauthorized");
    // A broker that does not answer, or answers with something else, or publishes another key.
    b.post(
        "/v1/admin/peers",
        Auth::Operator,
        json!({ "url": "http://127.0.0.1:1" }),
    )
    .await
    .refused(503, "peer_unreachable");
    b.post(
        "/v1/admin/peers",
        Auth::Operator,
        json!({ "url": format!("{}/v1", a.base) }),
    )
    .await
    .refused(502, "peer_metadata_invalid");
    b.post(
        "/v1/admin/peers",
        Auth::Operator,
        json!({ "url": a.base, "key": b_key }),
    )
    .await
    .refused(409, "peer_key_mismatch");
    b.post("/v1/admin/peers", Auth::Operator, json!({ "url": b.base }))
        .await
        .refused(409, "conflict");
    assert_eq!(
        b.get("/v1/admin/peers", Auth::Operator).await.expect(200).body["peers"],
        json!([]),
        "no refusal left a peer behind"
    );

    // Added: named by its domain, its key pinned as it publishes it.
    let mut with_key = peer_body(&a.base);
    with_key["key"] = a_key.clone().into();
    // A currency named twice keeps the last.
    with_key["credit_limits"] = json!([{ "amount": "1", "currency": "USD" }, { "amount": "100", "currency": "USD" }]);
    let added = b
        .post("/v1/admin/peers", Auth::Operator, with_key)
        .await
        .expect(201)
        .body;
    assert_eq!(added["name"], "a.test");
    assert_eq!(added["title"], "Broker A");
    assert_eq!(added["broker_number"], "2");
    assert_eq!(added["key"], a_key.as_str());
    assert_eq!(added["fingerprint"], a_meta["federation"]["fingerprint"]);
    assert_eq!(added["status"], "active");
    assert_eq!(
        added["credit_limits"],
        json!([{ "amount": "100.00", "currency": "USD" }])
    );
    b.post("/v1/admin/peers", Auth::Operator, peer_body(&a.base))
        .await
        .refused(409, "peer_exists");
    b.post(
        "/v1/admin/peers",
        Auth::Operator,
        json!({ "url": a.base, "name": "again" }),
    )
    .await
    .refused(409, "conflict");

    // Suspended, resumed, kept across a restart, removed.
    let suspended = b
        .post("/v1/admin/peers/a.test/suspend", Auth::Operator, json!({}))
        .await
        .expect(200);
    assert_eq!(suspended.body["status"], "suspended");
    let mut b = b;
    b.kill_hard();
    let b = start(&b_data, B_FLAGS).await;
    let kept = b.get("/v1/admin/peers/a.test", Auth::Operator).await.expect(200);
    assert_eq!(kept.body["status"], "suspended");
    assert_eq!(kept.body["key"], a_key.as_str());
    b.post("/v1/admin/peers/a.test/resume", Auth::Operator, json!({}))
        .await
        .expect(200);
    b.post("/v1/admin/peers/nobody/resume", Auth::Operator, json!({}))
        .await
        .refused(404, "not_found");
    // Settlements: money paid outside the system, each side recording its own view.
    let position = b
        .get("/v1/admin/peers/a.test/position", Auth::Operator)
        .await
        .expect(200);
    assert_eq!(position.body, json!({ "peer": "a.test", "currencies": [] }));
    let settle = |amount: &str, direction: &str, reference: &str| json!({ "amount": amount, "currency": "USD", "direction": direction, "reference": reference });
    let settled = b
        .post(
            "/v1/admin/peers/a.test/settlements",
            Auth::Operator,
            settle("10", "received", "wire 1"),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(settled["direction"], "received");
    assert_eq!(
        settled["position"]["currencies"][0],
        json!({
            "currency": "USD",
            "owed_to_us": { "amount": "0.00", "currency": "USD" },
            "owed_by_us": { "amount": "10.00", "currency": "USD" },
            "net": { "amount": "-10.00", "currency": "USD" },
        })
    );
    for (body, status, code) in [
        (settle("1", "sideways", "x"), 400, "invalid_request"),
        (settle("1", "paid", " "), 400, "invalid_request"),
        (settle("1", "paid", &"r".repeat(201)), 400, "limit_exceeded"),
        (settle("0", "paid", "x"), 400, "invalid_request"),
    ] {
        b.post("/v1/admin/peers/a.test/settlements", Auth::Operator, body)
            .await
            .refused(status, code);
    }
    b.post(
        "/v1/admin/peers/nobody/settlements",
        Auth::Operator,
        settle("1", "paid", "x"),
    )
    .await
    .refused(404, "not_found");
    let check = b.assert_ledger_ok().await;
    assert_eq!(check["currencies"][0]["peers"], "10.00");
    assert_eq!(check["currencies"][0]["issued"], "10.00");
    // A peer whose position is open stays until it is settled.
    b.call(Method::DELETE, "/v1/admin/peers/a.test", Auth::Operator, None)
        .await
        .refused(409, "conflict");
    b.post(
        "/v1/admin/peers/a.test/settlements",
        Auth::Operator,
        settle("10", "paid", "wire 2"),
    )
    .await
    .expect(201);
    b.assert_ledger_ok().await;
    let removed = b
        .call(Method::DELETE, "/v1/admin/peers/a.test", Auth::Operator, None)
        .await
        .expect(200);
    assert_eq!(removed.body["status"], "active");
    b.get("/v1/admin/peers/a.test", Auth::Operator)
        .await
        .refused(404, "not_found");

    // The command line: add shows the fingerprint to compare; list shows the peer.
    let cli = Cli { broker: &b };
    let output = cli.run(
        None,
        &["peer", "add", &a.base, "--name", "alpha", "--credit-limit", "5 USD"],
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    let fingerprint = a_meta["federation"]["fingerprint"].as_str().unwrap();
    assert!(said.contains("alpha") && said.contains(fingerprint), "{said}");
    let listed = cli.run(None, &["--json", "peer", "list"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed["peers"][0]["credit_limits"][0]["amount"], "5.00");
    let settle_by_cli = |direction: &str, reference: &str| {
        cli.run(
            None,
            &[
                "peer",
                "settle",
                "alpha",
                "--amount",
                "2.5 USD",
                "--direction",
                direction,
                "--reference",
                reference,
            ],
        )
    };
    let output = settle_by_cli("paid", "cheque 7");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let output = cli.run(None, &["peer", "position", "alpha"]);
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(said.contains("owed to us 2.50") && said.contains("net 2.50"), "{said}");
    let output = cli.run(None, &["peer", "remove", "alpha"]);
    assert_eq!(output.status.code(), Some(1), "an open position keeps the peer");
    let output = settle_by_cli("received", "cheque 8");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for verb in ["suspend", "resume", "remove"] {
        let output = cli.run(None, &["peer", verb, "alpha"]);
        assert!(
            output.status.success(),
            "{verb}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = cli.run(None, &["peer", "remove", "alpha"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("not_found"));
    b.assert_ledger_ok().await;
}

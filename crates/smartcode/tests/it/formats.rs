//! A broker of another code format (`serve --code-alphabet digits --code-length 13`): it issues,
//! reads and pays with codes of its own format everywhere, describes them in its metadata and its
//! OpenAPI document, refuses a format outside the bounds of the guessing arithmetic and a broker
//! number whose numeric codes would be as long as its codes, and never serves codes it issued as
//! another format.

use std::process::Command;

use serde_json::json;

use crate::harness::{Auth, TestBroker, BINARY};

const DIGITS: &[&str] = &[
    "--code-alphabet",
    "digits",
    "--code-length",
    "13",
    "--broker-number",
    "7",
];

fn digits(text: &str) -> String {
    text.chars().filter(char::is_ascii_digit).collect()
}

/// `serve` with `flags` on `data`, expected to refuse to start: what it said.
fn refused_to_serve(data: &std::path::Path, flags: &[&str]) -> String {
    let output = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .args(flags)
        .env("SMARTCODE_DATABASE", "")
        .output()
        .expect("the binary runs");
    assert!(!output.status.success(), "serve {flags:?} started");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test]
async fn a_broker_of_all_digit_codes_issues_reads_and_pays_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut broker = TestBroker::start_in_with(&data, DIGITS).await;

    let meta = broker.get("/.well-known/smartcode", Auth::None).await.expect(200);
    let formats = &meta.body["code_formats"];
    assert_eq!(formats["secret"]["alphabet"], "digits");
    assert_eq!(formats["secret"]["symbols"], 13);
    assert_eq!(formats["numeric"]["authorization"]["digits"], 1 + 10 + 1);
    assert_eq!(formats["numeric"]["secret_alias"]["digits"], 1 + 13 + 1);

    let (buyer, _) = broker.issue("10", "USD").await;
    assert_eq!(digits(&buyer).len(), 13, "{buyer}");
    assert!(buyer.chars().all(|c| c.is_ascii_digit() || c == '-'), "{buyer}");
    let (seller, _) = broker.issue("0.01", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let (child, _) = broker.secret_child(&buyer, "2").await;
    assert_eq!(digits(&child).len(), 13, "a child is of the broker's format too");

    broker.pay(&buyer, &shop, "1").await.expect(201);
    let spaced: String = digits(&buyer).chars().flat_map(|c| [c, ' ']).collect();
    broker.pay(&spaced, &shop, "1").await.expect(201);
    broker.pay(&format!("{buyer}@localhost"), &shop, "1").await.expect(201);
    broker.pay(&child, &shop, "0.5").await.expect(201);
    // Another format is no code here: Crockford's, or two digits short (one short is the
    // length of an authorization code, which a check digit passes one time in ten).
    broker
        .pay("7KQ2-M9XD", &shop, "1")
        .await
        .refused(400, "invalid_code_format");
    broker
        .pay(&digits(&buyer)[2..], &shop, "1")
        .await
        .refused(400, "invalid_code_format");

    // Its numeric codes: an alias with as many possibilities as the code, an authorization code.
    let alias = broker
        .post("/v1/me/alias", Auth::Code(&buyer), json!({}))
        .await
        .expect(201)
        .body["alias"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(digits(&alias).len(), 15);
    broker.pay(&alias, &shop, "1").await.expect(201);
    let authorization = broker
        .post("/v1/me/authorizations", Auth::Code(&buyer), json!({ "amount": "0.25" }))
        .await
        .expect(201)
        .body["authorization_code"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(digits(&authorization).len(), 12);
    broker.pay(&authorization, &shop, "0.25").await.expect(201);
    assert_eq!(broker.balance(&buyer).await, "3.75");

    // The OpenAPI document describes the codes this broker reads.
    let document = broker.get("/openapi.json", Auth::None).await.expect(200);
    let input = &document.body["components"]["schemas"]["CodeInput"];
    assert!(input["pattern"].as_str().unwrap().contains("{13}"), "{input}");
    assert!(input["description"].as_str().unwrap().contains("digits-13"));
    broker.assert_ledger_ok().await;

    // Its data directory remembers the format: served as another, it would lose every code.
    broker.kill_hard();
    if crate::harness::on_postgres() {
        return;
    }
    let said = refused_to_serve(&data, &[]);
    assert!(
        said.contains("digits-13") && said.contains("--code-alphabet digits"),
        "{said}"
    );
    let broker = TestBroker::start_in_with(&data, DIGITS).await;
    assert_eq!(broker.balance(&buyer).await, "3.75");
}

#[test]
fn serve_refuses_a_format_the_arithmetic_does_not_allow_and_a_number_that_collides() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let said = refused_to_serve(&data, &["--code-alphabet", "digits", "--code-length", "12"]);
    assert!(said.contains("a digits code is 13 to 18 symbols"), "{said}");
    let said = refused_to_serve(&data, &["--code-alphabet", "crockford", "--code-length", "11"]);
    assert!(said.contains("a crockford code is 8 to 10 symbols"), "{said}");
    let said = refused_to_serve(
        &data,
        &[
            "--code-alphabet",
            "digits",
            "--code-length",
            "13",
            "--broker-number",
            "42",
        ],
    );
    assert!(said.contains("authorization code is 13 digits"), "{said}");
    let said = refused_to_serve(&data, &["--code-alphabet", "base64"]);
    assert!(said.contains("crockford or digits"), "{said}");
}

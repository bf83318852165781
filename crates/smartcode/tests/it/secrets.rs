//! A copy of the store yields no code: secret codes and PINs are kept only as keyed hashes, and
//! no secret appears in a log line.

use std::process::{Command, Stdio};

use serde_json::{json, Value};

use crate::harness::{Auth, TestBroker, BINARY};

/// Every way a code might be written down.
fn spellings(code: &str) -> Vec<String> {
    let plain = code.replace('-', "");
    vec![
        code.to_owned(),
        plain.clone(),
        code.to_lowercase(),
        plain.to_lowercase(),
    ]
}

#[tokio::test]
async fn the_store_files_hold_no_secret_code_in_clear() {
    let mut broker = TestBroker::start().await;
    let (root, _) = broker.issue("10", "USD").await;
    let (child, _) = broker.secret_child(&root, "2").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    // A payment with an idempotency key: its remembered response must not leak the code either,
    // nor must a remembered child creation (which holds the new secret).
    broker
        .call_with(
            reqwest::Method::POST,
            "/v1/payments",
            Auth::None,
            Some(json!({ "code": child, "payee": shop, "amount": "0.5" })),
            &[("Idempotency-Key", "k1")],
        )
        .await
        .expect(201);
    let remembered = broker
        .call_with(
            reqwest::Method::POST,
            "/v1/me/children",
            Auth::Code(&root),
            Some(json!({ "amount": "1" })),
            &[("Idempotency-Key", "k2")],
        )
        .await
        .expect(201);
    let remembered_child = remembered.body["code"].as_str().unwrap().to_owned();
    broker.assert_ledger_ok().await;
    // Leave the write-ahead log as a crash would.
    broker.kill_hard();

    let secrets: Vec<String> = [&root, &child, &seller, &remembered_child]
        .iter()
        .flat_map(|c| spellings(c))
        .collect();
    let stored = broker.stored_text();
    assert!(!stored.is_empty());
    for (place, text) in stored {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{place} holds a secret code in clear");
        }
        assert!(!text.contains(&broker.token), "{place} holds the operator token");
        // The public code is meant to be public and is stored as such.
    }
    let _ = shop;
}

#[tokio::test]
async fn no_secret_appears_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("broker.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let data = dir.path().join("data");
    let mut process = Command::new(BINARY)
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .env("SMARTCODE_LOG", "trace")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(process.stdout.take().unwrap()), &mut first).unwrap();
    let base = first.trim().rsplit(' ').next().unwrap().to_owned();
    let token = std::fs::read_to_string(data.join("operator-token"))
        .unwrap()
        .trim()
        .to_owned();
    let client = reqwest::Client::new();
    let issued: serde_json::Value = client
        .post(format!("{base}/v1/admin/codes"))
        .bearer_auth(&token)
        .json(&json!({ "amount": "1", "currency": "USD" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = issued["code"].as_str().unwrap().to_owned();
    client
        .get(format!("{base}/v1/me"))
        .header("Authorization", format!("Code {code}"))
        .send()
        .await
        .unwrap();
    // A careless client puts a secret in a URL: the log must still not repeat it.
    client.get(format!("{base}/v1/public/{code}")).send().await.unwrap();
    client
        .get(format!("{base}/v1/me"))
        .header("Authorization", "Code ZZZZ-ZZZY")
        .send()
        .await
        .unwrap();
    client
        .post(format!("{base}/v1/payments"))
        .json(&json!({ "code": code, "payee": "P-00000-00000", "amount": "0.1" }))
        .send()
        .await
        .unwrap();
    let checked: Value = client
        .get(format!("{base}/v1/admin/ledger/check"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(checked["ok"], true, "{checked}");
    process.kill().unwrap();
    process.wait().unwrap();
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(logged.contains("request"), "the log does record requests");
    for secret in spellings(&code)
        .iter()
        .chain(spellings("ZZZZ-ZZZY").iter())
        .chain([token.clone()].iter())
    {
        assert!(!logged.contains(secret.as_str()), "the log holds a secret");
    }
}

#[tokio::test]
async fn the_broker_key_and_operator_token_are_private_files() {
    use std::os::unix::fs::PermissionsExt;
    let broker = TestBroker::start().await;
    for name in ["broker-key", "operator-token"] {
        let mode = std::fs::metadata(broker.data.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name} is readable by its owner only");
    }
    let key = std::fs::read_to_string(broker.data.join("broker-key")).unwrap();
    assert_eq!(key.trim().len(), 64, "a 256-bit key, in hex");
}

//! PostgreSQL: the whole suite again on it, and what only several broker processes sharing one
//! database can show — a code issued on one works on the other, idempotency keys replay across
//! them, contention on a hot payee stays exact, a killed process loses nothing acknowledged, and
//! background work happens once.
//!
//! Without a database these tests say loudly that they skipped; under `CI=true` they fail instead.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use smartcode_store::testing::{postgres_available, TestSchema};

use crate::harness::{on_postgres, Auth, TestBroker, STORE_VAR};

/// Runs this test binary again with every broker on PostgreSQL. The browser tests (the pages do
/// not touch the store themselves) and the benchmark (which starts its own embedded broker) stay
/// out of the second run.
#[test]
fn the_whole_suite_passes_on_postgresql() {
    if on_postgres() || !postgres_available() {
        return;
    }
    let output = Command::new(std::env::current_exe().expect("the test binary"))
        .env(STORE_VAR, "postgres")
        .args([
            "--skip",
            "web::",
            "--skip",
            "cli::bench_",
            "--skip",
            "postgres::",
            "--test-threads",
            "6",
        ])
        .output()
        .expect("the test binary runs again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the suite failed on PostgreSQL:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = stdout.lines().rfind(|l| l.starts_with("test result:")).unwrap_or("");
    eprintln!("on PostgreSQL: {summary}");
}

/// Two broker processes on one database, with one broker key and one operator token.
struct Pair {
    a: TestBroker,
    b: TestBroker,
    _dirs: tempfile::TempDir,
}

async fn pair() -> Option<Pair> {
    if on_postgres() {
        return None;
    }
    let schema = Arc::new(TestSchema::create()?);
    let dirs = tempfile::tempdir().unwrap();
    let (data_a, data_b) = (dirs.path().join("a"), dirs.path().join("b"));
    let a = TestBroker::start_on(&data_a, Some(schema.clone())).await;
    share_secrets(&data_a, &data_b);
    let b = TestBroker::start_on(&data_b, Some(schema)).await;
    Some(Pair { a, b, _dirs: dirs })
}

/// What README.md tells operators: every process gets the same broker key and operator token.
fn share_secrets(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in ["broker-key", "operator-token"] {
        std::fs::copy(from.join(file), to.join(file)).unwrap();
    }
}

#[tokio::test]
async fn two_processes_are_one_broker() {
    let Some(pair) = pair().await else { return };
    let (a, b) = (&pair.a, &pair.b);
    let (code, id) = a.issue("5", "USD").await;
    let me = b.get("/v1/me", Auth::Code(&code)).await.expect(200);
    assert_eq!(
        me.body["id"],
        id.as_str(),
        "a code issued on one process works on the other at once"
    );

    // An idempotency key used on one process replays on the other.
    let (seller, _) = b.issue("1", "USD").await;
    let (shop, _) = b.public_child(&seller).await;
    let body = json!({ "code": code, "payee": shop, "amount": "0.75" });
    let key = [("Idempotency-Key", "order-1")];
    let first = a
        .call_with(Method::POST, "/v1/payments", Auth::None, Some(body.clone()), &key)
        .await
        .expect(201);
    let again = b
        .call_with(Method::POST, "/v1/payments", Auth::None, Some(body), &key)
        .await
        .expect(201);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["receipt"]["id"], first.body["receipt"]["id"]);
    assert_eq!(b.balance(&code).await, "4.25");
    assert_eq!(a.balance(&seller).await, "1.75");
    let receipt = format!("/v1/receipts/{}", first.body["receipt"]["id"].as_str().unwrap());
    b.get(&receipt, Auth::None).await.expect(200);
    let metadata = a.get("/.well-known/smartcode", Auth::None).await.expect(200);
    assert_eq!(metadata.body["store"], "postgres");
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_payments_through_two_processes_into_one_hot_payee_land_exactly_once() {
    const PAYERS: usize = 40;
    const PAYMENTS_EACH: usize = 10;
    let Some(pair) = pair().await else { return };
    let (seller, _) = pair.a.issue("0.01", "USD").await;
    let (shop, _) = pair.a.public_child(&seller).await;
    let mut payers = Vec::new();
    for _ in 0..PAYERS {
        payers.push(pair.b.issue("1", "USD").await.0);
    }
    let mut tasks = Vec::new();
    for (index, payer) in payers.iter().enumerate() {
        // Half the clients talk to each process.
        let base = if index % 2 == 0 {
            pair.a.base.clone()
        } else {
            pair.b.base.clone()
        };
        let (payer, shop) = (payer.clone(), shop.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut receipts = Vec::new();
            for _ in 0..PAYMENTS_EACH {
                let response = client
                    .post(format!("{base}/v1/payments"))
                    .json(&json!({ "code": payer, "payee": shop, "amount": "0.01" }))
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap();
                assert_eq!(status, 201, "no payment is refused or fails under contention: {body}");
                receipts.push(body["receipt"]["id"].as_str().unwrap().to_owned());
            }
            receipts
        }));
    }
    let mut receipts = Vec::new();
    for task in tasks {
        receipts.extend(task.await.unwrap());
    }
    receipts.sort();
    receipts.dedup();
    assert_eq!(receipts.len(), PAYERS * PAYMENTS_EACH, "every receipt is distinct");
    assert_eq!(pair.a.balance(&seller).await, "4.01", "all 400 cents arrived, once");
    for payer in &payers {
        assert_eq!(pair.b.balance(payer).await, "0.90");
    }
    pair.a.assert_ledger_ok().await;
    pair.b.assert_ledger_ok().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_of_one_process_loses_no_acknowledged_payment() {
    const PAYERS: usize = 6;
    let Some(mut pair) = pair().await else { return };
    let (seller, _) = pair.a.issue("0.01", "USD").await;
    let (shop, _) = pair.a.public_child(&seller).await;
    let mut payers = Vec::new();
    for _ in 0..PAYERS {
        payers.push(pair.a.issue("100", "USD").await.0);
    }
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (index, payer) in payers.iter().enumerate() {
        let base = if index % 2 == 0 {
            pair.a.base.clone()
        } else {
            pair.b.base.clone()
        };
        let (payer, shop, stop, acknowledged) = (payer.clone(), shop.clone(), stop.clone(), acknowledged.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                let sent = client
                    .post(format!("{base}/v1/payments"))
                    .json(&json!({ "code": payer, "payee": shop, "amount": "0.01" }))
                    .send()
                    .await;
                let Ok(response) = sent else { break };
                if response.status() != 201 {
                    break;
                }
                let Ok(reply) = response.json::<serde_json::Value>().await else {
                    break;
                };
                acknowledged
                    .lock()
                    .unwrap()
                    .push(reply["receipt"]["id"].as_str().unwrap().to_owned());
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    pair.a.kill_hard();
    // The other process keeps serving.
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await.unwrap();
    }
    let survivor = pair.b.get("/healthz", Auth::None).await;
    assert_eq!(survivor.status, 200);
    // The killed process restarts cleanly on the same database.
    let schema = pair.a.database.clone();
    let restarted = TestBroker::start_on(&pair.a.data.clone(), schema).await;
    let receipts = acknowledged.lock().unwrap().clone();
    assert!(
        receipts.len() > PAYERS,
        "payments flowed ({} acknowledged)",
        receipts.len()
    );
    for id in &receipts {
        restarted
            .get(&format!("/v1/receipts/{id}"), Auth::None)
            .await
            .expect(200);
    }
    let landed_cents = (micro(&restarted.balance(&seller).await) - micro("0.01")) / 10_000;
    assert!(landed_cents as usize >= receipts.len());
    let mut paid = 0;
    for payer in &payers {
        paid += micro("100") - micro(&pair.b.balance(payer).await);
    }
    assert_eq!(
        paid / 10_000,
        landed_cents,
        "what left the payers is what reached the seller"
    );
    restarted.assert_ledger_ok().await;
    pair.b.assert_ledger_ok().await;
}

#[tokio::test]
async fn an_expiry_reverts_once_with_two_processes_sweeping() {
    let Some(pair) = pair().await else { return };
    let (parent, _) = pair.a.issue("10", "USD").await;
    let child = pair
        .a
        .post(
            "/v1/me/children",
            Auth::Code(&parent),
            json!({ "amount": "3", "expires_in_seconds": 60 }),
        )
        .await
        .expect(201);
    let child_code = child.body["code"].as_str().unwrap().to_owned();
    // Each process keeps its own test clock: move both past the expiry.
    for broker in [&pair.a, &pair.b] {
        broker
            .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": 61 }))
            .await
            .expect(200);
    }
    let mut balance = String::new();
    for _ in 0..50 {
        balance = pair.b.balance(&parent).await;
        if balance == "10.00" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(balance, "10.00", "the child's value came back");
    // Both sweepers have run twice more: still exactly one revert.
    pair.a.wait_for_sweeps(2).await;
    pair.b.wait_for_sweeps(2).await;
    let history = pair.a.get("/v1/me/transactions", Auth::Code(&parent)).await.expect(200);
    let reverts = history.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "revert")
        .count();
    assert_eq!(reverts, 1);
    assert_eq!(pair.a.balance(&parent).await, "10.00");
    let me = pair.b.get("/v1/me", Auth::Code(&child_code)).await.expect(200);
    assert_eq!(me.body["status"], "expired");
    pair.b
        .post("/v1/me/children", Auth::Code(&child_code), json!({ "kind": "public" }))
        .await
        .refused(410, "expired");
    pair.a.assert_ledger_ok().await;
}

#[tokio::test]
async fn pg_dump_holds_no_secret_code_and_no_pin() {
    if on_postgres() {
        return;
    }
    let Some(schema) = TestSchema::create() else { return };
    let schema = Arc::new(schema);
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_on(&dir.path().join("data"), Some(schema.clone())).await;
    let (code, _) = broker.issue("5", "USD").await;
    broker
        .put("/v1/me/pin", Auth::Code(&code), json!({ "pin": "73915" }))
        .await
        .expect(200);
    let child = broker
        .call_with(
            Method::POST,
            "/v1/me/children",
            Auth::Code(&code),
            Some(json!({ "amount": "1" })),
            &[("Smartcode-Pin", "73915"), ("Idempotency-Key", "child-1")],
        )
        .await
        .expect(201);
    let child_code = child.body["code"].as_str().unwrap().to_owned();
    let dump = Command::new("pg_dump")
        .arg("--schema")
        .arg(schema.name())
        .arg(smartcode_store::testing::test_postgres_url())
        .output()
        .expect("pg_dump runs");
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let text = String::from_utf8_lossy(&dump.stdout).to_uppercase();
    assert!(text.contains("CREATE TABLE"), "the dump holds the schema");
    for secret in [&code, &child_code] {
        let plain = secret.replace('-', "");
        assert!(
            !text.contains(&plain) && !text.contains(secret.as_str()),
            "a code is in the dump"
        );
    }
    assert!(!text.contains("73915"), "the PIN is in the dump");
    broker.assert_ledger_ok().await;
    drop(broker);
}

fn micro(amount: &str) -> i64 {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let fraction = format!("{fraction:0<6}");
    whole.parse::<i64>().unwrap() * 1_000_000 + fraction.parse::<i64>().unwrap()
}

/// The guessing defence's budgets are the database's: wrong codes sent to two processes in turn
/// spend one budget (each process alone would have allowed all of them again), and what the
/// operator forgives on one is forgiven on the other.
#[tokio::test]
async fn two_processes_share_the_guessing_counters() {
    use crate::guessing::Peer;
    use smartcode_server::guard::SOURCE_FREE_FAILURES_PER_DAY;
    let Some(pair) = pair().await else { return };
    let (a, b) = (&pair.a, &pair.b);
    let (code, _) = a.issue("1", "USD").await;
    let (on_a, on_b) = (Peer::of(a, "127.0.0.7"), Peer::of(b, "127.0.0.7"));
    for i in 0..SOURCE_FREE_FAILURES_PER_DAY {
        let peer = if i % 2 == 0 { &on_a } else { &on_b };
        let guess = smartcode_core::code::SecretCode::generate().reveal();
        let refusal = peer
            .get("/v1/me", Auth::Code(&guess))
            .await
            .refused(401, "invalid_code");
        assert_eq!(
            refusal.body["tries_left"],
            SOURCE_FREE_FAILURES_PER_DAY - 1 - i,
            "{}",
            refusal.text
        );
    }
    for peer in [&on_a, &on_b] {
        peer.get("/v1/me", Auth::Code(&code))
            .await
            .refused(429, "challenge_required");
    }
    let report = a.get("/v1/admin/security", Auth::Operator).await.expect(200);
    let listed = report.body["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == "127.0.0.7")
        .cloned();
    assert_eq!(
        listed.expect("listed on the other process")["failures"],
        SOURCE_FREE_FAILURES_PER_DAY
    );
    b.post(
        "/v1/admin/security/forgive",
        Auth::Operator,
        json!({ "source": "127.0.0.7" }),
    )
    .await
    .expect(200);
    // The other process trusts what it read for at most a quarter of a second (the guard's
    // ADMISSION_CACHE), so it sees the forgiveness after that.
    tokio::time::sleep(Duration::from_millis(300)).await;
    on_a.get("/v1/me", Auth::Code(&code)).await.expect(200);
}

/// Two processes resolving the same things at once: captures and voids of one hold (one wins),
/// one authorization code presented to both (it pays once), and payments under one certificate
/// sent to both (never more than its floor). The stores' updates name what they read; the loser's
/// batch runs again and is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_authorizations_and_certificates_resolve_once_across_two_processes() {
    let Some(pair) = pair().await else { return };
    let (a, b) = (&pair.a, &pair.b);
    let (buyer, _) = a.issue("100", "USD").await;
    let (seller, _) = a.issue("0.01", "USD").await;
    let (shop, _) = a.public_child(&seller).await;
    let side = |n: usize| if n.is_multiple_of(2) { a } else { b };

    for round in 0..4 {
        let held = a
            .post(
                "/v1/holds",
                Auth::None,
                json!({ "code": buyer, "payee": shop, "amount": "2" }),
            )
            .await
            .expect(201);
        let id = held.body["hold"]["id"].as_str().unwrap().to_owned();
        let paths: Vec<String> = (0..6)
            .map(|n| {
                let verb = if (n + round) % 3 == 0 { "void" } else { "capture" };
                format!("/v1/holds/{id}/{verb}")
            })
            .collect();
        let tries = paths
            .iter()
            .enumerate()
            .map(|(n, path)| side(n).post(path, Auth::Code(&seller), json!({})));
        let replies = futures::future::join_all(tries).await;
        let won = replies.iter().filter(|r| r.status == 200 || r.status == 201).count();
        assert_eq!(
            won,
            1,
            "one capture or void wins: {:?}",
            replies.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        assert!(replies.iter().all(|r| r.status < 300 || r.code() == "hold_not_pending"));
    }

    let made = b
        .post("/v1/me/authorizations", Auth::Code(&buyer), json!({ "amount": "3" }))
        .await
        .expect(201);
    let code = made.body["authorization_code"].as_str().unwrap().to_owned();
    let uses = (0..6).map(|n| side(n).pay(&code, &shop, "3"));
    let replies = futures::future::join_all(uses).await;
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 1, "it pays once");

    let assured = a
        .post("/v1/me/assurances", Auth::Code(&buyer), json!({ "floor": "4" }))
        .await
        .expect(201);
    let assurance = assured.body["assurance_code"].as_str().unwrap().to_owned();
    let certified = b
        .post(
            "/v1/assurances/certify",
            Auth::None,
            json!({ "assurance_code": assurance, "payee": shop }),
        )
        .await
        .expect(200);
    let certificate = certified.body["certificate"]["id"].as_str().unwrap().to_owned();
    let payments = (0..10).map(|n| {
        side(n).post(
            "/v1/payments",
            Auth::None,
            json!({ "code": assurance, "payee": shop, "amount": "1", "certificate": certificate }),
        )
    });
    let replies = futures::future::join_all(payments).await;
    assert_eq!(
        replies.iter().filter(|r| r.status == 201).count(),
        4,
        "exactly the floor"
    );

    // Holds made at once through both processes never set aside more than the code has: what
    // each batch holds is applied with its balances, under the same locks and bounds.
    let (small, _) = b.issue("10", "USD").await;
    let holds = (0..8).map(|n| {
        side(n).post(
            "/v1/holds",
            Auth::None,
            json!({ "code": small, "payee": shop, "amount": "2" }),
        )
    });
    let replies = futures::future::join_all(holds).await;
    assert_eq!(
        replies.iter().filter(|r| r.status == 201).count(),
        5,
        "10 holds 2 five times"
    );
    assert!(replies
        .iter()
        .all(|r| r.status == 201 || r.code() == "insufficient_funds"));
    let me = a.get("/v1/me", Auth::Code(&small)).await.expect(200);
    assert_eq!(me.body["available"]["amount"], "0.00");

    // What the buyer paid is what the seller got, and what is held is what is pending.
    let paid = micro("100") - micro(&a.balance(&buyer).await);
    assert_eq!(micro(&b.balance(&seller).await) - micro("0.01"), paid);
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

/// Peers are rows of the shared database: one process adds a peer, every other one knows it, and
/// a second add of the same one from another process is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_added_through_one_process_is_known_to_all() {
    let Some(pair) = pair().await else { return };
    let dir = tempfile::tempdir().unwrap();
    let peer = TestBroker::start_with(
        &dir.path().join("peer"),
        None,
        &["--domain", "peer.test", "--broker-number", "3"],
    )
    .await;
    pair.a
        .post("/v1/admin/peers", Auth::Operator, json!({ "url": peer.base }))
        .await
        .expect(201);
    let listed = pair.b.get("/v1/admin/peers", Auth::Operator).await.expect(200);
    assert_eq!(listed.body["peers"][0]["name"], "peer.test");
    pair.b
        .post("/v1/admin/peers", Auth::Operator, json!({ "url": peer.base }))
        .await
        .refused(409, "peer_exists");
    pair.b
        .post("/v1/admin/peers/peer.test/suspend", Auth::Operator, json!({}))
        .await
        .expect(200);
    let seen = pair
        .a
        .get("/v1/admin/peers/peer.test", Auth::Operator)
        .await
        .expect(200);
    assert_eq!(seen.body["status"], "suspended");
    // A settlement recorded through one process is the position both read, in one ledger.
    pair.a
        .post(
            "/v1/admin/peers/peer.test/settlements",
            Auth::Operator,
            json!({ "amount": "3", "currency": "EUR", "direction": "paid", "reference": "wire" }),
        )
        .await
        .expect(201);
    let position = pair
        .b
        .get("/v1/admin/peers/peer.test/position", Auth::Operator)
        .await
        .expect(200);
    assert_eq!(position.body["currencies"][0]["owed_to_us"]["amount"], "3.00");
    pair.b
        .call(Method::DELETE, "/v1/admin/peers/peer.test", Auth::Operator, None)
        .await
        .refused(409, "conflict");
    pair.a.assert_ledger_ok().await;
}

/// A peer's credit limit holds across the processes of one broker: payments with codes of the
/// peer, sent to both processes at once, never make the peer owe more than its limit (each
/// process's charges on their way count for the other's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peers_credit_limit_holds_across_two_processes() {
    const PAYMENTS: usize = 40;
    let Some(pair) = pair().await else { return };
    let _one = crate::federation::one_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let buyers = TestBroker::start_with(
        &dir.path().join("buyers"),
        None,
        &["--domain", "buyers.test", "--broker-number", "3"],
    )
    .await;
    let limits = json!([{ "amount": "5", "currency": "USD" }]);
    pair.a
        .post(
            "/v1/admin/peers",
            Auth::Operator,
            json!({ "url": buyers.base, "credit_limits": limits }),
        )
        .await
        .expect(201);
    buyers
        .post("/v1/admin/peers", Auth::Operator, json!({ "url": pair.a.base }))
        .await
        .expect(201);
    let (seller, _) = pair.a.issue("0.01", "USD").await;
    let (shop, _) = pair.a.public_child(&seller).await;
    let mut payers = Vec::new();
    for _ in 0..PAYMENTS {
        payers.push(format!("{}@buyers.test", buyers.issue("2", "USD").await.0));
    }
    // The other process's edge learns of the new peer within PEERS_KEPT_MILLIS.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let mut tasks = Vec::new();
    for (index, payer) in payers.into_iter().enumerate() {
        let base = [&pair.a.base, &pair.b.base][index % 2].clone();
        let shop = shop.clone();
        tasks.push(tokio::spawn(async move {
            let response = reqwest::Client::new()
                .post(format!("{base}/v1/payments"))
                .json(&json!({ "code": payer, "payee": shop, "amount": "1" }))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: serde_json::Value = response.json().await.unwrap();
            match status {
                201 => true,
                403 if body["code"] == "peer_limit_reached" => false,
                _ => panic!("a payment is paid or refused at the limit: {status} {body} at {base}"),
            }
        }));
    }
    let mut paid = 0;
    for task in tasks {
        paid += usize::from(task.await.unwrap());
    }
    assert!(paid >= 1, "payments within the limit are paid");
    assert!(
        paid <= 5,
        "the peer never owes more than its limit: {paid} payments of 1 USD against 5"
    );
    assert_eq!(pair.a.balance(&seller).await, format!("{paid}.01"));
    pair.a.assert_ledger_ok().await;
    pair.b.assert_ledger_ok().await;
    buyers.assert_ledger_ok().await;
}

/// One metered offer bought at once through two processes by one code opens one session: the
/// others answer that session, so the seller cannot charge the buyer twice a minute's price.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_offer_bought_at_once_through_two_processes_opens_one_session() {
    use crate::purchases::{offer, set_rules};
    let Some(pair) = pair().await else { return };
    let (buyer, _) = pair.a.issue("5", "USD").await;
    let (seller, _) = pair.a.issue("1", "USD").await;
    let (shop, _) = pair.a.public_child(&seller).await;
    let rule = json!([{ "name": "meter", "max_rate": { "amount": "0.10", "per_seconds": 60 }, "action": "pay" }]);
    set_rules(&pair.a, &buyer, rule).await;
    let mut metered = offer("minute-1", &shop, "0.05");
    metered["unit"] = json!("minute");
    let buys = (0..16).map(|n| {
        let broker = if n % 2 == 0 { &pair.a } else { &pair.b };
        broker.post("/v1/me/purchases", Auth::Code(&buyer), json!({ "offer": metered }))
    });
    let replies = futures::future::join_all(buys).await;
    let ids: std::collections::BTreeSet<String> = replies
        .iter()
        .map(|reply| {
            assert_eq!(reply.status, 201, "{}", reply.body);
            reply.body["session"]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one session for one offer: {ids:?}");
    let listed = pair.b.get("/v1/me/sessions", Auth::Code(&buyer)).await.expect(200);
    assert_eq!(listed.body["sessions"].as_array().unwrap().len(), 1, "{}", listed.body);
    pair.a.assert_ledger_ok().await;
}

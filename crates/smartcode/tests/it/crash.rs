//! kill -9 during a stream of payments: every acknowledged payment survives the restart, an
//! unacknowledged one happened entirely or not at all, and the ledger check passes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::harness::{Auth, TestBroker};

const PAYERS: usize = 8;
const ROUNDS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_payments_survive_kill_dash_nine() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut broker = TestBroker::start_in(&data).await;
    let (seller, _) = broker.issue("0.01", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let mut payers = Vec::new();
    for _ in 0..PAYERS {
        payers.push(broker.issue("1000", "USD").await.0);
    }
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut attempted_total = 0usize;

    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let attempted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (index, payer) in payers.iter().enumerate() {
            let (base, payer, shop) = (broker.base.clone(), payer.clone(), shop.clone());
            let (stop, acknowledged, attempted) = (stop.clone(), acknowledged.clone(), attempted.clone());
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    attempted.fetch_add(1, Ordering::SeqCst);
                    let body = json!({ "code": payer, "payee": shop, "amount": "0.01" });
                    let key = format!("round{round}-payer{index}-{n}");
                    let sent = client
                        .post(format!("{base}/v1/payments"))
                        .header("Idempotency-Key", key)
                        .json(&body)
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
        // Let payments flow, then kill the broker at whatever instant it is in.
        tokio::time::sleep(Duration::from_millis(300 + 200 * round as u64)).await;
        broker.kill_hard();
        stop.store(true, Ordering::SeqCst);
        for task in tasks {
            task.await.unwrap();
        }
        attempted_total += attempted.load(Ordering::SeqCst);
        broker = TestBroker::start_in(&data).await;
    }

    let receipts = acknowledged.lock().unwrap().clone();
    assert!(
        receipts.len() > PAYERS * ROUNDS,
        "payments flowed before each kill ({} acknowledged)",
        receipts.len()
    );
    for id in &receipts {
        broker
            .call(Method::GET, &format!("/v1/receipts/{id}"), Auth::None, None)
            .await
            .expect(200);
    }
    // Unacknowledged payments may or may not have landed, but never in part.
    let received_units = micro(&broker.balance(&seller).await) - micro("0.01");
    let landed = (received_units / 10_000) as usize;
    assert!(
        landed >= receipts.len() && landed <= attempted_total,
        "landed {landed}, acknowledged {}, attempted {attempted_total}",
        receipts.len()
    );
    let mut paid_units = 0;
    for payer in &payers {
        paid_units += micro("1000") - micro(&broker.balance(payer).await);
    }
    assert_eq!(
        paid_units, received_units,
        "what left the payers is what reached the seller"
    );
    broker.assert_ledger_ok().await;
}

fn micro(amount: &str) -> i64 {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    let fraction = format!("{fraction:0<6}");
    whole.parse::<i64>().unwrap() * 1_000_000 + fraction.parse::<i64>().unwrap()
}

#[tokio::test]
async fn sigterm_stops_the_broker_cleanly_and_a_restart_keeps_everything() {
    let mut broker = TestBroker::start().await;
    let (code, _) = broker.issue("3", "USD").await;
    let mut process = broker.process.take().unwrap();
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(process.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let exit = process.wait().unwrap();
    assert!(exit.success(), "SIGTERM exits 0: {exit:?}");
    let restarted = TestBroker::start_in(&broker.data).await;
    assert_eq!(restarted.balance(&code).await, "3.00");
    restarted.assert_ledger_ok().await;
}

const HOLDS: usize = 24;

/// kill -9 while sellers capture holds and others expire: an acknowledged capture survives, a hold
/// ends captured or voided (never both: the buyer paid exactly what the captures say), and an
/// expired hold's value is available at once after the restart, before any sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_and_expiries_survive_kill_dash_nine() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut broker = TestBroker::start_in(&data).await;
    let (buyer, _) = broker.issue("1000", "USD").await;
    let (seller, _) = broker.issue("0.01", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let mut captured_ids: Vec<String> = Vec::new();
    let mut all = Vec::new();
    for round in 0..2 {
        // Half expire a second from now, half stay pending for an hour and are captured.
        let mut long = Vec::new();
        for n in 0..HOLDS {
            let seconds = if n % 2 == 0 { 1 } else { 3600 };
            let body = json!({ "code": buyer, "payee": shop, "amount": "1", "expires_in_seconds": seconds });
            let held = broker.post("/v1/holds", Auth::None, body).await.expect(201);
            let id = held.body["hold"]["id"].as_str().unwrap().to_owned();
            if seconds == 3600 {
                long.push(id.clone());
            }
            all.push((id, seconds));
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
        let mut tasks = Vec::new();
        for id in long {
            let (base, seller, acknowledged) = (broker.base.clone(), seller.clone(), acknowledged.clone());
            tasks.push(tokio::spawn(async move {
                let sent = reqwest::Client::new()
                    .post(format!("{base}/v1/holds/{id}/capture"))
                    .header("Authorization", format!("Code {seller}"))
                    .header("Idempotency-Key", format!("capture-{round}-{id}"))
                    .json(&json!({ "amount": "0.75" }))
                    .send()
                    .await;
                if sent.is_ok_and(|r| r.status() == 201) {
                    acknowledged.lock().unwrap().push(id);
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(40 + 60 * round as u64)).await;
        broker.kill_hard();
        for task in tasks {
            task.await.unwrap();
        }
        captured_ids.extend(acknowledged.lock().unwrap().iter().cloned());
        broker = TestBroker::start_in(&data).await;
    }

    // Read at once after the restart, before any sweep could have run.
    let me = broker.get("/v1/me", Auth::Code(&buyer)).await.expect(200).body;
    let mut captured_units = 0;
    let mut pending_units = 0;
    for (id, seconds) in &all {
        let hold = broker
            .get(&format!("/v1/holds/{id}"), Auth::Code(&buyer))
            .await
            .expect(200)
            .body;
        let status = hold["hold"]["status"].as_str().unwrap().to_owned();
        match status.as_str() {
            "captured" => {
                assert_eq!(*seconds, 3600, "only the long holds were captured");
                captured_units += micro(hold["hold"]["captured"]["amount"].as_str().unwrap());
            }
            "pending" => {
                assert_eq!(*seconds, 3600, "an expired hold is never pending");
                pending_units += micro("1");
            }
            other => assert_eq!((other, *seconds), ("voided", 1), "only the short holds end voided here"),
        }
        if captured_ids.contains(id) {
            assert_eq!(status, "captured", "an acknowledged capture survives");
        }
    }
    assert!(!captured_ids.is_empty(), "captures were acknowledged before the kills");
    let balance = micro(me["balance"]["amount"].as_str().unwrap());
    assert_eq!(
        balance,
        micro("1000") - captured_units,
        "the buyer paid exactly what was captured"
    );
    assert_eq!(
        micro(me["available"]["amount"].as_str().unwrap()),
        balance - pending_units,
        "expired holds set nothing aside, swept or not"
    );
    assert_eq!(
        micro(&broker.balance(&seller).await),
        micro("0.01") + captured_units,
        "what the captures took reached the seller"
    );
    broker.assert_ledger_ok().await;
}

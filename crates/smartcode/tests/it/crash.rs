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

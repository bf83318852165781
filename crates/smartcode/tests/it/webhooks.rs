//! Webhooks (issue 17): the owner of public codes subscribes a URL, and the broker delivers what
//! happens to them, signed, at least once and in order, retried with backoff until answered 2xx,
//! surviving a kill -9. The receiver is a real HTTP server in this test process on loopback; the
//! broker a real process (started with `--allow-private-callouts`, as loopback is private).
//! Every money-moving test ends with the ledger check.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use smartcode_client::webhooks::{verify, EVENT_ID_HEADER, SIGNATURE_HEADER};

use crate::harness::{Auth, TestBroker, BINARY};
use crate::holds::advance;

/// How the receiver answers one delivery.
#[derive(Clone, Copy)]
pub(crate) enum Answer {
    Status(u16),
    /// Answers 200 only after this long.
    Slow(Duration),
    /// Answers 200 with a body far over what the broker reads.
    Huge,
}

/// A delivery as the receiver got it.
#[derive(Clone)]
pub(crate) struct Got {
    pub(crate) signature: String,
    event_id: String,
    pub(crate) body: Vec<u8>,
}

impl Got {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a delivery's body is JSON")
    }
}

/// A receiver on loopback: records every delivery, answers from its script, then `otherwise`.
pub(crate) struct Receiver {
    pub(crate) url: String,
    got: Arc<Mutex<Vec<Got>>>,
    otherwise: Arc<Mutex<Answer>>,
}

impl Receiver {
    pub(crate) async fn start(script: &[Answer]) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let otherwise = Arc::new(Mutex::new(Answer::Status(200)));
        let handler = {
            let (got, script, otherwise) = (got.clone(), script.clone(), otherwise.clone());
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let (got, script, otherwise) = (got.clone(), script.clone(), otherwise.clone());
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    got.lock().unwrap().push(Got {
                        signature: header(SIGNATURE_HEADER),
                        event_id: header(EVENT_ID_HEADER),
                        body: body.to_vec(),
                    });
                    let answer = script.lock().unwrap().pop_front();
                    let answer = answer.unwrap_or(*otherwise.lock().unwrap());
                    let status = |code: u16| axum::http::StatusCode::from_u16(code).unwrap();
                    match answer {
                        Answer::Status(code) => (status(code), axum::body::Body::empty()),
                        Answer::Slow(wait) => {
                            tokio::time::sleep(wait).await;
                            (status(200), axum::body::Body::empty())
                        }
                        Answer::Huge => {
                            let chunk = axum::body::Bytes::from(vec![b'x'; 64 * 1024]);
                            let chunks = futures::stream::repeat(chunk).take(1_000).map(Ok::<_, std::io::Error>);
                            (status(200), axum::body::Body::from_stream(chunks))
                        }
                    }
                }
            }
        };
        let app = axum::Router::new().route("/hook", axum::routing::post(handler));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            url: format!("http://{address}/hook"),
            got,
            otherwise,
        }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (up to 30 s) until at least `count` deliveries arrived, and answers them.
    pub(crate) async fn wait_for(&self, count: usize) -> Vec<Got> {
        for _ in 0..300 {
            let got = self.got();
            if got.len() >= count {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{count} deliveries did not arrive; got {}", self.got().len());
    }
}

use futures::StreamExt;

/// A broker that calls loopback, a seller with a public code, and a buyer with 10 USD.
pub(crate) async fn shop(dir: &std::path::Path) -> (TestBroker, String, String, String) {
    let broker = TestBroker::start_in_with(dir, &["--allow-private-callouts"]).await;
    let (seller, _) = broker.issue("1.00", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let (buyer, _) = broker.issue("10.00", "USD").await;
    (broker, seller, shop, buyer)
}

pub(crate) async fn subscribe(broker: &TestBroker, seller: &str, url: &str, events: &[&str]) -> (String, String) {
    let made = broker
        .post(
            "/v1/me/webhooks",
            Auth::Code(seller),
            json!({ "url": url, "events": events }),
        )
        .await
        .expect(201);
    let secret = made.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{}", made.text);
    (made.body["id"].as_str().unwrap().to_owned(), secret)
}

pub(crate) fn unix_now() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(now.as_secs()).unwrap()
}

/// Waits (up to 30 s) until the subscription's newest delivery is in `state`, and answers it.
async fn delivery_in(broker: &TestBroker, seller: &str, id: &str, state: &str) -> Value {
    for _ in 0..300 {
        let listed = broker
            .get(&format!("/v1/me/webhooks/{id}/deliveries"), Auth::Code(seller))
            .await
            .expect(200);
        let newest = listed.body["deliveries"][0].clone();
        if newest["state"] == state {
            return newest;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the newest delivery of {id} never became {state}");
}

#[tokio::test]
async fn payments_reach_the_receiver_signed_in_order_and_the_signature_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, seller, shop, buyer) = shop(&dir.path().join("data")).await;
    let receiver = Receiver::start(&[]).await;
    let (id, secret) = subscribe(&broker, &seller, &receiver.url, &["payment.received", "refund.created"]).await;
    let mut receipts = Vec::new();
    for amount in ["0.10", "0.20", "0.30"] {
        let paid = broker.pay(&buyer, &shop, amount).await.expect(201);
        receipts.push(paid.body["receipt"]["id"].as_str().unwrap().to_owned());
    }
    let refunded = broker
        .post(
            &format!("/v1/receipts/{}/refund", receipts[0]),
            Auth::Code(&seller),
            json!({ "amount": "0.05" }),
        )
        .await
        .expect(201);
    let got = receiver.wait_for(4).await;
    let bodies: Vec<Value> = got.iter().map(Got::json).collect();
    let kinds: Vec<&str> = bodies.iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "payment.received",
            "payment.received",
            "payment.received",
            "refund.created"
        ]
    );
    let paid: Vec<&str> = bodies[..3]
        .iter()
        .map(|b| b["data"]["receipt"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(paid, receipts, "in the order the payments happened");
    assert_eq!(
        bodies[3]["data"]["refund"]["amount"]["amount"], "0.05",
        "{}",
        refunded.text
    );
    for delivery in &got {
        assert_eq!(
            verify(&secret, &delivery.signature, &delivery.body, unix_now(), 300),
            Ok(())
        );
        assert_eq!(
            delivery.json()["id"],
            delivery.event_id.as_str(),
            "the header names the body's event"
        );
        assert_ne!(
            verify("whsec_other", &delivery.signature, &delivery.body, unix_now(), 300),
            Ok(())
        );
    }
    assert_eq!(
        got.iter()
            .map(|g| &g.event_id)
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        4
    );

    // `smartcode webhook verify` checks one the same way, without the broker; a changed body fails.
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, &got[0].body).unwrap();
    let verify_cli = |secret: &str| {
        std::process::Command::new(BINARY)
            .args(["webhook", "verify", "--signature", &got[0].signature, "--body"])
            .arg(&body_file)
            .env("SMARTCODE_WEBHOOK_SECRET", secret)
            .output()
            .unwrap()
    };
    let valid = verify_cli(&secret);
    assert!(valid.status.success(), "{}", String::from_utf8_lossy(&valid.stderr));
    assert!(!verify_cli("whsec_wrong").status.success());

    // The owner sees each delivery delivered at its first attempt; a ping follows the rest.
    let listed = broker
        .get(&format!("/v1/me/webhooks/{id}/deliveries"), Auth::Code(&seller))
        .await
        .expect(200);
    assert!(listed.body["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d["state"] == "delivered" && d["attempts"] == 1));
    broker
        .post(&format!("/v1/me/webhooks/{id}/test"), Auth::Code(&seller), json!({}))
        .await
        .expect(202);
    let got = receiver.wait_for(5).await;
    assert_eq!(got[4].json()["type"], "ping");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_receiver_answering_500_twice_gets_the_event_three_times_with_one_id() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, seller, shop, buyer) = shop(&dir.path().join("data")).await;
    let receiver = Receiver::start(&[Answer::Status(500), Answer::Status(500)]).await;
    let (id, _) = subscribe(&broker, &seller, &receiver.url, &["payment.received"]).await;
    broker.pay(&buyer, &shop, "0.25").await.expect(201);
    let got = receiver.wait_for(3).await;
    assert_eq!(got.len(), 3, "no fourth delivery of one event");
    assert!(
        got.iter().all(|g| g.event_id == got[0].event_id),
        "one event id on every retry"
    );
    let delivered = delivery_in(&broker, &seller, &id, "delivered").await;
    assert_eq!(delivered["attempts"], 3);
    assert_eq!(delivered["last_status"], 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(receiver.got().len(), 3, "delivered means not sent again");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_kill_9_between_commit_and_delivery_still_delivers_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut broker, seller, shop, buyer) = shop(&data).await;
    let receiver = Receiver::start(&[]).await;
    *receiver.otherwise.lock().unwrap() = Answer::Status(503);
    let (id, _) = subscribe(&broker, &seller, &receiver.url, &["payment.received"]).await;
    let paid = broker.pay(&buyer, &shop, "0.40").await.expect(201);
    let first = receiver.wait_for(1).await;
    broker.kill_hard();
    *receiver.otherwise.lock().unwrap() = Answer::Status(200);
    let broker = TestBroker::start_in_with(&data, &["--allow-private-callouts"]).await;
    // A lease the killed broker held ends within a minute of its clock.
    advance(&broker, 120).await;
    delivery_in(&broker, &seller, &id, "delivered").await;
    let got = receiver.got();
    let last = got.last().unwrap();
    assert_eq!(last.event_id, first[0].event_id, "the same event, after the restart");
    assert_eq!(last.json()["data"]["receipt"]["id"], paid.body["receipt"]["id"]);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_slow_or_huge_receiver_is_cut_off_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, seller, shop, buyer) = shop(&dir.path().join("data")).await;
    let receiver = Receiver::start(&[Answer::Slow(Duration::from_secs(30)), Answer::Huge]).await;
    let (id, _) = subscribe(&broker, &seller, &receiver.url, &["payment.received"]).await;
    broker.pay(&buyer, &shop, "0.10").await.expect(201);
    // The slow answer counts as a failed attempt, cut off at the call's time limit...
    let failed = delivery_in(&broker, &seller, &id, "pending").await;
    let mut failed = failed;
    for _ in 0..100 {
        if failed["attempts"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        failed = broker
            .get(&format!("/v1/me/webhooks/{id}/deliveries"), Auth::Code(&seller))
            .await
            .body["deliveries"][0]
            .clone();
    }
    assert_eq!(failed["attempts"], 1, "{failed}");
    assert!(failed["last_error"].as_str().unwrap().contains("within"), "{failed}");
    // ...and the retry, answered 200 with 64 MB behind it, is delivered without reading them.
    let delivered = delivery_in(&broker, &seller, &id, "delivered").await;
    assert_eq!(delivered["attempts"], 2);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn holds_captured_and_voided_are_told_and_subscriptions_rotate_and_go() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, seller, shop, buyer) = shop(&dir.path().join("data")).await;
    let receiver = Receiver::start(&[]).await;
    let (id, secret) = subscribe(&broker, &seller, &receiver.url, &["hold.captured", "hold.voided"]).await;
    let hold = |amount: &'static str| {
        let (broker, buyer, shop) = (&broker, buyer.clone(), shop.clone());
        async move {
            let held = broker
                .post(
                    "/v1/holds",
                    Auth::None,
                    json!({ "code": buyer, "payee": shop, "amount": amount }),
                )
                .await
                .expect(201);
            held.body["hold"]["id"].as_str().unwrap().to_owned()
        }
    };
    let captured = hold("0.50").await;
    broker
        .post(&format!("/v1/holds/{captured}/capture"), Auth::Code(&seller), json!({}))
        .await
        .expect(201);
    let voided = hold("0.20").await;
    broker
        .post(&format!("/v1/holds/{voided}/void"), Auth::Code(&seller), json!({}))
        .await
        .expect(200);
    let got = receiver.wait_for(2).await;
    let told: Vec<(String, String)> = got
        .iter()
        .map(|g| {
            let body = g.json();
            (
                body["type"].as_str().unwrap().to_owned(),
                body["data"]["hold"]["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        told,
        [
            ("hold.captured".to_owned(), captured),
            ("hold.voided".to_owned(), voided)
        ]
    );
    assert_eq!(got.len(), 2, "payments were not subscribed to");

    // A rotation signs with a new secret from then on; the old one no longer verifies.
    let rotated = broker
        .post(&format!("/v1/me/webhooks/{id}/rotate"), Auth::Code(&seller), json!({}))
        .await
        .expect(200);
    let new_secret = rotated.body["secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    broker
        .post(&format!("/v1/me/webhooks/{id}/test"), Auth::Code(&seller), json!({}))
        .await
        .expect(202);
    let ping = receiver.wait_for(3).await[2].clone();
    assert_eq!(verify(new_secret, &ping.signature, &ping.body, unix_now(), 300), Ok(()));
    assert!(verify(&secret, &ping.signature, &ping.body, unix_now(), 300).is_err());

    // Removed, it is no longer listed, read, tested or told anything.
    broker
        .call(
            axum::http::Method::DELETE,
            &format!("/v1/me/webhooks/{id}"),
            Auth::Code(&seller),
            None,
        )
        .await
        .expect(200);
    let listed = broker.get("/v1/me/webhooks", Auth::Code(&seller)).await.expect(200);
    assert_eq!(listed.body["webhooks"], json!([]));
    broker
        .get(&format!("/v1/me/webhooks/{id}/deliveries"), Auth::Code(&seller))
        .await
        .refused(404, "not_found");
    let after = hold("0.10").await;
    broker
        .post(&format!("/v1/holds/{after}/void"), Auth::Code(&seller), json!({}))
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.got().len(), 3);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn bad_subscriptions_are_refused_with_their_words_and_private_urls_are_not_called_unless_allowed() {
    let broker = TestBroker::start().await;
    let (seller, _) = broker.issue("1.00", "USD").await;
    let (other, _) = broker.issue("1.00", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let (others_shop, _) = broker.public_child(&other).await;
    let post = |body: Value| broker.post("/v1/me/webhooks", Auth::Code(&seller), body);
    for url in [
        "ftp://example.com/hook",
        "https://user:pw@example.com/",
        "http:///nohost",
        "not a url",
    ] {
        post(json!({ "url": url, "events": ["payment.received"] }))
            .await
            .refused(400, "invalid_request");
    }
    let long = format!("https://example.com/{}", "a".repeat(3000));
    post(json!({ "url": long, "events": ["payment.received"] }))
        .await
        .refused(400, "invalid_request");
    post(json!({ "url": "https://example.com/", "events": ["payment.maybe"] }))
        .await
        .refused(400, "invalid_request");
    post(json!({ "url": "https://example.com/", "events": [] }))
        .await
        .refused(400, "invalid_request");
    post(json!({ "url": "https://example.com/", "events": ["payment.received"], "public_code": others_shop }))
        .await
        .refused(404, "not_found");
    broker
        .post(
            "/v1/me/webhooks",
            Auth::None,
            json!({ "url": "https://example.com/", "events": ["ping"] }),
        )
        .await
        .refused(401, "invalid_code");

    // At most so many at once.
    let limit = smartcode_core::limits::WEBHOOKS_PER_CODE_MAX;
    let receiver = Receiver::start(&[]).await;
    let mut first = String::new();
    for n in 0..limit {
        let body = json!({ "url": receiver.url, "events": ["payment.received"], "public_code": shop });
        let made = post(body).await.expect(201);
        if n == 0 {
            first = made.body["id"].as_str().unwrap().to_owned();
        }
    }
    post(json!({ "url": receiver.url, "events": ["payment.received"] }))
        .await
        .refused(400, "limit_exceeded");
    // Another code cannot touch it.
    broker
        .post(
            &format!("/v1/me/webhooks/{first}/rotate"),
            Auth::Code(&other),
            json!({}),
        )
        .await
        .refused(404, "not_found");

    // This broker was not started with --allow-private-callouts: loopback is never called, and
    // the owner sees why.
    let (buyer, _) = broker.issue("1.00", "USD").await;
    broker.pay(&buyer, &shop, "0.10").await.expect(201);
    let failed = delivery_in(&broker, &seller, &first, "pending").await;
    let mut failed = failed;
    for _ in 0..50 {
        if failed["attempts"] == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        failed = broker
            .get(&format!("/v1/me/webhooks/{first}/deliveries"), Auth::Code(&seller))
            .await
            .body["deliveries"][0]
            .clone();
    }
    assert!(failed["last_error"].as_str().unwrap().contains("private"), "{failed}");
    assert!(receiver.got().is_empty());
    broker.assert_ledger_ok().await;
}

/// How many deliveries the subscription lists.
async fn listed(broker: &TestBroker, seller: &str, id: &str) -> usize {
    let reply = broker
        .get(&format!("/v1/me/webhooks/{id}/deliveries"), Auth::Code(seller))
        .await
        .expect(200);
    reply.body["deliveries"].as_array().unwrap().len()
}

#[tokio::test]
async fn deliveries_are_kept_for_thirty_days_and_then_pruned() {
    let dir = tempfile::tempdir().unwrap();
    let (broker, seller, shop, buyer) = shop(&dir.path().join("data")).await;
    let receiver = Receiver::start(&[]).await;
    let (id, _) = subscribe(&broker, &seller, &receiver.url, &["payment.received"]).await;
    for amount in ["0.10", "0.20", "0.30"] {
        broker.pay(&buyer, &shop, amount).await.expect(201);
    }
    receiver.wait_for(3).await;
    delivery_in(&broker, &seller, &id, "delivered").await;
    // Twenty-nine days on they are still listed.
    advance(&broker, 29 * 24 * 3600).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(listed(&broker, &seller, &id).await, 3);
    // Past thirty days the idle delivery task deletes them (the embedded store keeps its newest
    // row, so that SQLite never gives its seq again); a new event is kept and delivered.
    advance(&broker, 2 * 24 * 3600).await;
    let mut left = 3;
    for _ in 0..100 {
        left = listed(&broker, &seller, &id).await;
        if left <= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(left <= 1, "the old deliveries were pruned: {left} left");
    broker.pay(&buyer, &shop, "0.40").await.expect(201);
    let got = receiver.wait_for(4).await;
    assert_eq!(got[3].json()["data"]["receipt"]["amount"]["amount"], "0.40");
    let newest = delivery_in(&broker, &seller, &id, "delivered").await;
    assert_eq!(newest["type"], "payment.received");
    assert_eq!(listed(&broker, &seller, &id).await, left + 1);
    broker.assert_ledger_ok().await;
}

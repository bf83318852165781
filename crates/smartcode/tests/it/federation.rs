//! A payment across two brokers: a seller of broker B is paid with a code of broker A (another
//! code format, another process), exactly once, whatever the wire between them does. Real broker
//! processes on loopback; between them, where a test says so, a fault proxy written here that
//! drops, delays and duplicates B's messages to A. Every test ends with both ledger checks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Auth, TestBroker};

const A_FLAGS: &[&str] = &["--name", "Broker A", "--domain", "a.test", "--broker-number", "2"];
/// Broker B: of all-digit codes, unlike A.
const B_FLAGS: &[&str] = &[
    "--name",
    "Broker B",
    "--domain",
    "b.test",
    "--broker-number",
    "7",
    "--code-alphabet",
    "digits",
];

/// One test of this module at a time: each starts two or three brokers (on PostgreSQL about ten
/// connections each), and beside the rest of the suite they would take more connections than
/// the machine's database allows.
pub(crate) async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static ONE: std::sync::LazyLock<tokio::sync::Mutex<()>> = std::sync::LazyLock::new(|| tokio::sync::Mutex::new(()));
    ONE.lock().await
}

pub(crate) struct Pair {
    pub a: TestBroker,
    pub b: TestBroker,
    /// Where the fault proxy, if there is one, sends B's messages.
    pub a_target: Arc<Mutex<String>>,
    pub dir: tempfile::TempDir,
}

/// A and B, each the other's peer; B reaches A directly, or through a fault proxy giving each
/// message its `faults`, and gives A `credit` USD of credit.
pub(crate) async fn pair_via(faults: Option<fn(usize) -> Fault>, credit: &str) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let a = TestBroker::start_in_with(&dir.path().join("a"), A_FLAGS).await;
    let b = TestBroker::start_in_with(&dir.path().join("b"), B_FLAGS).await;
    let a_target = Arc::new(Mutex::new(a.base.clone()));
    let url = match faults {
        Some(faults) => fault_proxy(a_target.clone(), faults).await,
        None => a.base.clone(),
    };
    let limits = json!([{ "amount": credit, "currency": "USD" }]);
    b.post(
        "/v1/admin/peers",
        Auth::Operator,
        json!({ "url": url, "name": "a.test", "credit_limits": limits }),
    )
    .await
    .expect(201);
    a.post("/v1/admin/peers", Auth::Operator, json!({ "url": b.base }))
        .await
        .expect(201);
    Pair { a, b, a_target, dir }
}

pub(crate) async fn pair() -> Pair {
    pair_via(None, "100").await
}

/// A seller at B: (its secret code, its public code).
pub(crate) async fn seller(b: &TestBroker) -> (String, String) {
    let (owner, _) = b.issue("1.00", "USD").await;
    let (public, _) = b.public_child(&owner).await;
    (owner, public)
}

async fn pay_at_b(b: &TestBroker, code: &str, payee: &str, amount: &str) -> crate::harness::Reply {
    b.post(
        "/v1/payments",
        Auth::None,
        json!({ "code": code, "payee": payee, "amount": amount, "memo": "a song" }),
    )
    .await
}

pub(crate) async fn net(broker: &TestBroker, peer: &str) -> String {
    let position = broker
        .get(&format!("/v1/admin/peers/{peer}/position"), Auth::Operator)
        .await
        .expect(200)
        .body;
    position["currencies"]
        .as_array()
        .and_then(|c| c.first())
        .map_or("0.00".to_owned(), |c| c["net"]["amount"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn a_seller_is_paid_with_a_code_of_another_broker_and_both_ledgers_agree() {
    let _one = one_at_a_time().await;
    let Pair { a, b, dir: _dir, .. } = pair().await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;

    let paid = pay_at_b(&b, &format!("{buyer}@a.test"), &payee, "2.50")
        .await
        .expect(201)
        .body;
    let receipt = &paid["receipt"];
    assert_eq!(receipt["broker"], "b.test");
    assert_eq!(
        receipt["payer_id"], "peer:a.test",
        "the receipt names the buyer's broker"
    );
    assert_eq!(receipt["amount"], json!({ "amount": "2.50", "currency": "USD" }));
    // The approval is A's own word, checked with A's federation key alone.
    let approval: smartcode_api::ApprovalJson = serde_json::from_value(receipt["approval"].clone()).unwrap();
    assert_eq!(
        (approval.broker.as_str(), approval.seller_broker.as_str()),
        ("a.test", "b.test")
    );
    assert_eq!(approval.charge_id, receipt["id"].as_str().unwrap());
    let a_key = a.get("/.well-known/smartcode", Auth::None).await.body["federation"]["signing_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_key = ed25519_dalek::VerifyingKey::from_bytes(&hex::decode(a_key).unwrap().try_into().unwrap()).unwrap();
    smartcode_receipt::verify_approval(&approval, &a_key).expect("A signed the approval");
    // The receipt reads back at B, with the approval, for anyone holding its id.
    let id = receipt["id"].as_str().unwrap();
    let again = b.get(&format!("/v1/receipts/{id}"), Auth::None).await.expect(200).body;
    assert_eq!(again["receipt"]["approval"]["signature"], approval.signature.as_str());

    assert_eq!(a.balance(&buyer).await, "7.50");
    assert_eq!(b.balance(&owner).await, "3.50");
    assert_eq!(net(&b, "a.test").await, "2.50", "A owes B what B's seller was paid");
    assert_eq!(net(&a, "b.test").await, "-2.50", "and A agrees it owes it");

    // Each side's history names the other as it may know it.
    let a_history = a.get("/v1/me/transactions", Auth::Code(&buyer)).await.expect(200).body;
    let paid_out = &a_history["transactions"][0];
    assert_eq!(paid_out["counterparty"], format!("{payee} at broker b.test"));
    let b_history = b.get("/v1/me/transactions", Auth::Code(&owner)).await.expect(200).body;
    assert_eq!(b_history["transactions"][0]["counterparty"], "a code of broker a.test");

    // Trust: B shows A once its operator chooses to, on its page and in its metadata, and a
    // public code's page names its broker.
    let html = |path: String| async move { reqwest::get(path).await.unwrap().text().await.unwrap() };
    assert!(!html(format!("{}/broker", b.base)).await.contains("a.test"));
    let shown = b
        .post("/v1/admin/peers/a.test/show", Auth::Operator, json!({}))
        .await
        .expect(200)
        .body;
    assert_eq!(shown["listed"], true);
    let listed = b.get("/.well-known/smartcode", Auth::None).await.expect(200).body;
    assert_eq!(listed["federation"]["peers"][0]["domain"], "a.test");
    assert_eq!(listed["federation"]["peers"][0]["name"], "Broker A");
    let page = html(format!("{}/broker", b.base)).await;
    assert!(
        page.contains("Broker A") && page.contains("a.test") && page.contains("Broker B"),
        "{page}"
    );
    let public = html(format!("{}/p/{payee}", b.base)).await;
    assert!(
        public.contains(r#"href="/broker""#) && public.contains("(b.test)"),
        "{public}"
    );
    b.post("/v1/admin/peers/a.test/hide", Auth::Operator, json!({}))
        .await
        .expect(200);
    let hidden = b.get("/.well-known/smartcode", Auth::None).await.expect(200).body;
    assert_eq!(hidden["federation"]["peers"], json!([]));

    // B never kept the buyer's code.
    for (table, text) in b.stored_text() {
        let plain = buyer.replace('-', "");
        assert!(
            !text.contains(&buyer) && !text.contains(&plain),
            "{table} holds the buyer's code"
        );
    }
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

#[tokio::test]
async fn refusals_across_brokers_leave_nothing_behind() {
    let _one = one_at_a_time().await;
    let Pair { a, b, dir: _dir, .. } = pair_via(None, "5").await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    let code = format!("{buyer}@a.test");

    // The buyer's broker judges its code: too little, a wrong code (counted against B there).
    let (poor, _) = a.issue("0.50", "USD").await;
    pay_at_b(&b, &format!("{poor}@a.test"), &payee, "1.00")
        .await
        .refused(402, "insufficient_funds");
    let wrong = format!(
        "{}@a.test",
        a.issue("1.00", "USD").await.0.chars().rev().collect::<String>()
    );
    pay_at_b(&b, &wrong, &payee, "1.00").await.refused(401, "invalid_code");
    let security = a.get("/v1/admin/security", Auth::Operator).await.expect(200).body;
    let counted = &security["sources"][0];
    assert_eq!(
        (&counted["kind"], &counted["source"], &counted["failures"]),
        (&json!("peer"), &json!("peer:b.test"), &json!(1)),
        "A counts the wrong code against B: {security}"
    );

    // The credit limit: A may owe B 5 USD, no more.
    pay_at_b(&b, &code, &payee, "4.00").await.expect(201);
    pay_at_b(&b, &code, &payee, "1.50")
        .await
        .refused(403, "peer_limit_reached");

    // A suspended peer, either side: refused, nothing moves.
    b.post("/v1/admin/peers/a.test/suspend", Auth::Operator, json!({}))
        .await
        .expect(200);
    pay_at_b(&b, &code, &payee, "0.50").await.refused(403, "peer_suspended");
    b.post("/v1/admin/peers/a.test/resume", Auth::Operator, json!({}))
        .await
        .expect(200);
    a.post("/v1/admin/peers/b.test/suspend", Auth::Operator, json!({}))
        .await
        .expect(200);
    pay_at_b(&b, &code, &payee, "0.50").await.refused(403, "peer_suspended");
    a.post("/v1/admin/peers/b.test/resume", Auth::Operator, json!({}))
        .await
        .expect(200);

    // A code naming a broker that is no peer is refused as before.
    pay_at_b(&b, &format!("{buyer}@c.test"), &payee, "0.50")
        .await
        .refused(400, "invalid_code_format");

    // Messages to A that are not B's: unsigned, forged, from a stranger.
    let http = reqwest::Client::new();
    let endpoint = format!("{}/v1/federation", a.base);
    let body = json!({ "entries": [] }).to_string();
    for (headers, status, code) in [
        (vec![], 401, "bad_signature"),
        (
            vec![
                ("smartcode-broker", "b.test"),
                ("smartcode-date", "1"),
                ("smartcode-signature", "00"),
            ],
            401,
            "bad_signature",
        ),
        (
            vec![
                ("smartcode-broker", "c.test"),
                ("smartcode-date", "1"),
                ("smartcode-signature", "00"),
            ],
            403,
            "peer_unknown",
        ),
    ] {
        let mut request = http.post(&endpoint).body(body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let answer = request.send().await.unwrap();
        assert_eq!(answer.status().as_u16(), status);
        let problem: Value = answer.json().await.unwrap();
        assert_eq!(problem["code"], code);
    }

    // A down: 503, nothing paid at B, and nothing at A once it is back.
    let mut a = a;
    a.kill_hard();
    pay_at_b(&b, &code, &payee, "0.25")
        .await
        .refused(503, "peer_unreachable");
    assert_eq!(b.balance(&owner).await, "5.00");
    assert_eq!(net(&b, "a.test").await, "4.00");
    b.assert_ledger_ok().await;
}

/// How the proxy treats the messages it carries, by their number (from 0).
#[derive(Clone, Copy)]
pub(crate) enum Fault {
    /// Forwards the message and hands back the answer.
    Pass,
    /// Never forwards it; the connection is closed.
    Drop,
    /// Forwards it, then closes the connection without the answer.
    LoseAnswer,
    /// Forwards it twice, and answers the second answer.
    Duplicate,
    /// Waits past the charge's deadline, then forwards it and answers.
    Delay,
}

/// A fault proxy in front of `target`: each message gets `faults(number)`.
/// The proxy reads `target` for each connection, so a test can point it at a restarted broker.
async fn fault_proxy(target: Arc<Mutex<String>>, faults: fn(usize) -> Fault) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let target = target.lock().unwrap().clone();
            let (http, seen) = (http.clone(), seen.clone());
            tokio::spawn(async move {
                let Some((method, path, headers, body)) = read_request(&mut socket).await else {
                    return;
                };
                let forward = || {
                    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
                    let mut request = http.request(method, format!("{target}{path}")).body(body.clone());
                    for (name, value) in &headers {
                        if name != "host" && name != "content-length" {
                            request = request.header(name.as_str(), value.as_str());
                        }
                    }
                    request.send()
                };
                // The peer's metadata (read when B adds A) always passes.
                let fault = if path.starts_with("/v1/federation") {
                    faults(seen.fetch_add(1, Ordering::SeqCst))
                } else {
                    Fault::Pass
                };
                let answer = match fault {
                    Fault::Drop => return,
                    Fault::LoseAnswer => {
                        let _ = forward().await;
                        return;
                    }
                    Fault::Duplicate => {
                        let _ = forward().await;
                        forward().await
                    }
                    Fault::Delay => {
                        tokio::time::sleep(Duration::from_secs(6)).await;
                        forward().await
                    }
                    Fault::Pass => forward().await,
                };
                let Ok(answer) = answer else { return };
                let mut head = format!("HTTP/1.1 {}\r\n", answer.status().as_u16());
                for (name, value) in answer.headers() {
                    if name != "content-length" && name != "transfer-encoding" && name != "connection" {
                        head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap_or("")));
                    }
                }
                let bytes = answer.bytes().await.unwrap_or_default();
                head.push_str(&format!("content-length: {}\r\nconnection: close\r\n\r\n", bytes.len()));
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(&bytes).await;
            });
        }
    });
    url
}

/// One HTTP/1.1 request off `socket`: its method, path, headers (lower-case names) and body.
type Request = (String, String, Vec<(String, String)>, Vec<u8>);

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[end + 4..].to_vec();
    while body.len() < length {
        let read = socket.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    Some((method, path, headers, body))
}

/// Waits until B has resolved every charge in doubt (its resolver runs each second).
async fn settled(a: &TestBroker, b: &TestBroker, buyer: &str, owner: &str, expect: (&str, &str)) {
    for _ in 0..150 {
        if (a.balance(buyer).await, b.balance(owner).await) == (expect.0.to_owned(), expect.1.to_owned()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "A's buyer has {} (expected {}), B's seller {} (expected {})",
        a.balance(buyer).await,
        expect.0,
        b.balance(owner).await,
        expect.1
    );
}

#[tokio::test]
async fn lost_answers_and_duplicates_pay_exactly_once() {
    let _one = one_at_a_time().await;
    // Message 0: dropped; 1: its answer lost; 2: duplicated; then all pass.
    let faults = |n| match n {
        0 => Fault::Drop,
        1 => Fault::LoseAnswer,
        2 => Fault::Duplicate,
        _ => Fault::Pass,
    };
    let Pair { a, b, dir: _dir, .. } = pair_via(Some(faults), "100").await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    // The charge is sent three times (dropped, answer lost, duplicated): one debit, one credit.
    pay_at_b(&b, &format!("{buyer}@a.test"), &payee, "1.00")
        .await
        .expect(201);
    assert_eq!(a.balance(&buyer).await, "9.00");
    assert_eq!(b.balance(&owner).await, "2.00");
    pay_at_b(&b, &format!("{buyer}@a.test"), &payee, "1.00")
        .await
        .expect(201);
    settled(&a, &b, &buyer, &owner, ("8.00", "3.00")).await;
    assert_eq!(net(&b, "a.test").await, "2.00");
    assert_eq!(net(&a, "b.test").await, "-2.00");
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_charge_answered_too_late_is_reversed_and_the_seller_told_it_failed() {
    let _one = one_at_a_time().await;
    // Every message waits past the deadline until the fifth; the charge, its retries and the
    // outcome query all arrive late, and the resolver's void reverses what A did.
    let faults = |n| if n < 4 { Fault::Delay } else { Fault::Pass };
    let Pair { a, b, dir: _dir, .. } = pair_via(Some(faults), "100").await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    pay_at_b(&b, &format!("{buyer}@a.test"), &payee, "3.00")
        .await
        .refused(503, "peer_unreachable");
    assert_eq!(b.balance(&owner).await, "1.00", "the seller was not credited");
    settled(&a, &b, &buyer, &owner, ("10.00", "1.00")).await;
    assert_eq!(net(&b, "a.test").await, "0.00");
    assert_eq!(net(&a, "b.test").await, "0.00", "A reversed its charge");
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

/// A peer played by the test: its metadata served here, its messages signed with its own key.
struct TestPeer {
    key: ed25519_dalek::SigningKey,
    http: reqwest::Client,
}

impl TestPeer {
    /// Serves `t.test`'s metadata and has `a` add it as a peer.
    async fn added_to(a: &TestBroker) -> TestPeer {
        let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
        let metadata = json!({
            "name": "Test peer",
            "domain": "t.test",
            "broker_number": "5",
            "federation": { "signing_key": hex::encode(key.verifying_key().to_bytes()) },
        })
        .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let _ = read_request(&mut socket).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{metadata}",
                    metadata.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        a.post("/v1/admin/peers", Auth::Operator, json!({ "url": url }))
            .await
            .expect(201);
        TestPeer {
            key,
            http: reqwest::Client::new(),
        }
    }

    /// Sends `body` to `a`, signed over `signed_body` (the same, unless a test alters it).
    async fn send_as(&self, a: &TestBroker, body: &[u8], signed_body: &[u8]) -> (u16, Value) {
        let date = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let message = smartcode_receipt::request_message(&smartcode_receipt::RequestParts {
            method: "POST",
            path: "/v1/federation",
            from: "t.test",
            to: "a.test",
            date,
            body: signed_body,
        });
        let answer = self
            .http
            .post(format!("{}/v1/federation", a.base))
            .header("smartcode-broker", "t.test")
            .header("smartcode-date", date.to_string())
            .header(
                "smartcode-signature",
                smartcode_receipt::sign_message(&self.key, &message),
            )
            .body(body.to_vec())
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap())
    }

    async fn send(&self, a: &TestBroker, message: Value) -> (u16, Value) {
        let body = message.to_string().into_bytes();
        self.send_as(a, &body, &body).await
    }
}

fn charge(id: &str, code: &str, amount: &str, deadline: &str) -> Value {
    json!({
        "type": "charge", "id": id, "code": code, "payee": "P-4WZ8N-K3QJD",
        "amount": { "amount": amount, "currency": "USD" }, "deadline": deadline,
    })
}

#[tokio::test]
async fn the_buyers_broker_takes_each_charge_id_once_and_refuses_what_is_not_its_peers() {
    let _one = one_at_a_time().await;
    let dir = tempfile::tempdir().unwrap();
    let a = TestBroker::start_in_with(&dir.path().join("a"), A_FLAGS).await;
    let peer = TestPeer::added_to(&a).await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let soon = "2099-01-01T00:00:00Z";

    // A charge, sent twice: one debit, the same approval.
    let first = peer
        .send(&a, json!({ "entries": [charge("x1", &buyer, "1.00", soon)] }))
        .await;
    assert_eq!(first.0, 200);
    assert_eq!(first.1["entries"][0]["status"], "approved");
    let again = peer
        .send(&a, json!({ "entries": [charge("x1", &buyer, "1.00", soon)] }))
        .await;
    assert_eq!(again.1["entries"][0]["approval"], first.1["entries"][0]["approval"]);
    assert_eq!(a.balance(&buyer).await, "9.00");
    // The same id with another body is refused; so is a charge past its deadline.
    let other = peer
        .send(&a, json!({ "entries": [charge("x1", &buyer, "2.00", soon)] }))
        .await;
    assert_eq!(other.1["entries"][0]["problem"]["code"], "idempotency_conflict");
    let late = peer
        .send(
            &a,
            json!({ "entries": [charge("x2", &buyer, "1.00", "2020-01-01T00:00:00Z")] }),
        )
        .await;
    assert_eq!(late.1["entries"][0]["problem"]["code"], "charge_expired");
    // An outcome closes an id never charged: a charge of it afterwards is refused.
    let reference = json!({ "id": "x3", "amount": { "amount": "1.00", "currency": "USD" }, "payee": "P-4WZ8N-K3QJD" });
    let mut outcome = reference.clone();
    outcome["type"] = "outcome".into();
    let closed = peer.send(&a, json!({ "entries": [outcome] })).await;
    assert_eq!(closed.1["entries"][0]["status"], "closed");
    let refused = peer
        .send(&a, json!({ "entries": [charge("x3", &buyer, "1.00", soon)] }))
        .await;
    assert_eq!(refused.1["entries"][0]["problem"]["code"], "charge_closed");
    // A void reverses a charge made, once.
    let mut void = reference;
    void["type"] = "void".into();
    void["id"] = "x1".into();
    for _ in 0..2 {
        let voided = peer.send(&a, json!({ "entries": [void.clone()] })).await;
        assert_eq!(voided.1["entries"][0]["status"], "reversed");
    }
    assert_eq!(a.balance(&buyer).await, "10.00");

    // A body other than the one signed (a replay with another body), and too many entries.
    let signed = json!({ "entries": [] }).to_string();
    let altered = json!({ "entries": [charge("x4", &buyer, "1.00", soon)] }).to_string();
    let (status, problem) = peer.send_as(&a, altered.as_bytes(), signed.as_bytes()).await;
    assert_eq!((status, problem["code"].as_str()), (401, Some("bad_signature")));
    let many: Vec<Value> = (0..1001).map(|i| json!({ "type": "outcome", "id": format!("y{i}"), "amount": { "amount": "1", "currency": "USD" }, "payee": "P" })).collect();
    let (status, problem) = peer.send(&a, json!({ "entries": many })).await;
    assert_eq!((status, problem["code"].as_str()), (400, Some("limit_exceeded")));
    assert_eq!(a.balance(&buyer).await, "10.00");
    a.assert_ledger_ok().await;
}

/// Pays `count` times `amount` at B with `code`, `streams` at a time, straight over HTTP (a broker
/// killed meanwhile is no answer, not a panic); answers how many B acknowledged with 201.
async fn stream(b_base: &str, code: &str, payee: &str, amount: &str, (count, streams): (usize, usize)) -> usize {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let each = |n: usize| {
        let (http, body) = (
            http.clone(),
            json!({ "code": code, "payee": payee, "amount": amount, "memo": format!("item {n}") }),
        );
        let url = format!("{b_base}/v1/payments");
        async move {
            match http.post(url).json(&body).send().await {
                Ok(answer) => usize::from(answer.status().as_u16() == 201),
                Err(_) => 0,
            }
        }
    };
    let mut acknowledged = 0;
    for round in 0..count.div_ceil(streams) {
        let payments = (0..streams).map(|i| each(round * streams + i));
        acknowledged += futures::future::join_all(payments).await.into_iter().sum::<usize>();
    }
    acknowledged
}

fn units(amount: &str) -> i64 {
    let (whole, cents) = amount.split_once('.').unwrap_or((amount, "0"));
    let negative = whole.starts_with('-');
    let value = whole.trim_start_matches('-').parse::<i64>().unwrap() * 100
        + format!("{cents:0<2}")[..2].parse::<i64>().unwrap();
    if negative {
        -value
    } else {
        value
    }
}

#[tokio::test]
async fn kill_nine_of_either_broker_mid_stream_debits_exactly_what_sellers_were_credited() {
    let _one = one_at_a_time().await;
    let Pair {
        mut a,
        mut b,
        a_target,
        dir,
    } = pair_via(Some(|_| Fault::Pass), "1000").await;
    let (buyer, _) = a.issue("100.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    let code = format!("{buyer}@a.test");
    let mut acknowledged = 0;

    // The buyer's broker dies mid-stream and comes back on its data: B's retries reach it again.
    let killed = std::sync::atomic::AtomicBool::new(false);
    let paying = async {
        let paid = stream(&b.base, &code, &payee, "0.10", (400, 4)).await;
        (paid, killed.load(Ordering::SeqCst))
    };
    let killing = async {
        while units(&b.balance(&owner).await) < units("3.00") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        a.kill_hard();
        killed.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let restarted = TestBroker::start_in_with(&dir.path().join("a"), A_FLAGS).await;
        *a_target.lock().unwrap() = restarted.base.clone();
        restarted
    };
    let ((paid, during), restarted) = tokio::join!(paying, killing);
    a = restarted;
    eprintln!("phase 1: {paid} of 400 acknowledged");
    assert!(during, "the buyer's broker died while payments were under way");
    acknowledged += paid;

    // The seller's broker dies mid-stream: charges it had prepared are voided after its restart.
    let b_base = b.base.clone();
    let before = units(&b.balance(&owner).await);
    let paying = stream(&b_base, &code, &payee, "0.10", (400, 4));
    let killing = async {
        while units(&b.balance(&owner).await) < before + units("2.00") {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        b.kill_hard();
    };
    let (paid, ()) = tokio::join!(paying, killing);
    eprintln!("phase 2: {paid} of 400 acknowledged");
    assert!(paid < 400, "the seller's broker died while payments were under way");
    acknowledged += paid;
    b = TestBroker::start_in_with(&dir.path().join("b"), B_FLAGS).await;
    assert!(acknowledged > 0, "some payments went through");

    // Once B's resolver has voided what was in doubt: what the buyer lost is what the seller got,
    // at least every payment acknowledged, and the two positions mirror each other.
    let mut last = String::new();
    for _ in 0..250 {
        let spent = units("100.00") - units(&a.balance(&buyer).await);
        let got = units(&b.balance(&owner).await) - units("1.00");
        let (ours, theirs) = (units(&net(&b, "a.test").await), units(&net(&a, "b.test").await));
        last = format!("spent {spent}, got {got}, acknowledged {acknowledged}, nets {ours} and {theirs}");
        if spent == got && ours == -theirs && ours == got {
            assert!(got >= 10 * acknowledged as i64, "{last}");
            eprintln!("agreed: {last}");
            let reconciled = b
                .get(
                    "/v1/admin/peers/a.test/reconcile?until=2099-01-01T00%3A00%3A00Z",
                    Auth::Operator,
                )
                .await
                .expect(200)
                .body;
            assert_eq!(
                reconciled["differences"],
                json!([]),
                "both statements agree line by line"
            );
            assert_eq!(reconciled["matched"].as_u64(), Some(got as u64 / 10));
            a.assert_ledger_ok().await;
            b.assert_ledger_ok().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the brokers never agreed: {last}");
}

#[tokio::test]
async fn both_statements_reconcile_and_a_settlement_on_one_side_only_is_named() {
    let _one = one_at_a_time().await;
    let Pair { a, b, dir: _dir, .. } = pair().await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (_, payee) = seller(&b).await;
    for amount in ["2.50", "1.25"] {
        pay_at_b(&b, &format!("{buyer}@a.test"), &payee, amount)
            .await
            .expect(201);
    }
    let until = "until=2099-01-01T00%3A00%3A00Z";

    // Each broker's statement, signed with its federation key, says the opposite of the other's.
    let statement = a
        .get(&format!("/v1/admin/peers/b.test/statement?{until}"), Auth::Operator)
        .await
        .expect(200)
        .body;
    let statement: smartcode_api::StatementJson = serde_json::from_value(statement).unwrap();
    let a_key = a.get("/.well-known/smartcode", Auth::None).await.body["federation"]["signing_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let a_key = ed25519_dalek::VerifyingKey::from_bytes(&hex::decode(a_key).unwrap().try_into().unwrap()).unwrap();
    smartcode_receipt::verify_statement(&statement, &a_key).expect("A signed its statement");
    let nets: Vec<&str> = statement.entries.iter().map(|e| e.net.amount.as_str()).collect();
    assert_eq!(nets, ["-2.50", "-1.25"]);

    let reconciled = b
        .get(&format!("/v1/admin/peers/a.test/reconcile?{until}"), Auth::Operator)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            reconciled["matched"].as_u64(),
            reconciled["differences"].as_array().map(Vec::len)
        ),
        (Some(2), Some(0))
    );
    let b_cli = crate::cli::Cli { broker: &b };
    let a_cli = crate::cli::Cli { broker: &a };
    let ok = b_cli.run(
        None,
        &["peer", "reconcile", "a.test", "--until", "2099-01-01T00:00:00Z"],
    );
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    // B records a settlement A has not: reconcile names it, and the command exits 1.
    b.post(
        "/v1/admin/peers/a.test/settlements",
        Auth::Operator,
        json!({ "amount": "3.75", "currency": "USD", "direction": "received", "reference": "wire 7" }),
    )
    .await
    .expect(201);
    let differs = a_cli.run(
        None,
        &["peer", "reconcile", "b.test", "--until", "2099-01-01T00:00:00Z"],
    );
    assert!(!differs.status.success());
    let said = String::from_utf8_lossy(&differs.stdout);
    assert!(
        said.contains("settlement:wire 7") && said.contains("theirs -3.75"),
        "{said}"
    );
    a.post(
        "/v1/admin/peers/b.test/settlements",
        Auth::Operator,
        json!({ "amount": "3.75", "currency": "USD", "direction": "paid", "reference": "wire 7" }),
    )
    .await
    .expect(201);
    let reconciled = a
        .get(&format!("/v1/admin/peers/b.test/reconcile?{until}"), Auth::Operator)
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            reconciled["matched"].as_u64(),
            reconciled["differences"].as_array().map(Vec::len)
        ),
        (Some(3), Some(0))
    );
    assert_eq!(
        (net(&a, "b.test").await, net(&b, "a.test").await),
        ("0.00".to_owned(), "0.00".to_owned())
    );

    // What crossed, per day, each way.
    let report = b
        .get("/v1/admin/peers/a.test/report", Auth::Operator)
        .await
        .expect(200)
        .body;
    let day = &report["days"][0];
    assert_eq!(
        (day["in_count"].as_u64(), day["in_total"]["amount"].as_str()),
        (Some(2), Some("3.75"))
    );
    let report = a
        .get("/v1/admin/peers/b.test/report", Auth::Operator)
        .await
        .expect(200)
        .body;
    assert_eq!(report["days"][0]["out_total"]["amount"], "3.75");
    // A statement's end must be a time, and a period must not end before it begins.
    a.get("/v1/admin/peers/b.test/statement?until=soon", Auth::Operator)
        .await
        .refused(400, "invalid_request");
    a.get(
        &format!("/v1/admin/peers/b.test/statement?since=2099-01-02T00%3A00%3A00Z&{until}"),
        Auth::Operator,
    )
    .await
    .refused(400, "invalid_request");

    // A period: both clocks an hour on, one more payment; a statement since the half hour holds
    // it alone, signed with its period, and the two brokers' agree on it.
    let mut half_hour = String::new();
    for broker in [&a, &b] {
        let moved = broker
            .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": 1800 }))
            .await
            .expect(200);
        half_hour = moved.body["now"].as_str().unwrap().to_owned();
        broker
            .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": 1800 }))
            .await
            .expect(200);
    }
    pay_at_b(&b, &format!("{buyer}@a.test"), &payee, "0.40")
        .await
        .expect(201);
    let since = format!("since={}", half_hour.replace(':', "%3A").replace('+', "%2B"));
    let period = a
        .get(
            &format!("/v1/admin/peers/b.test/statement?{since}&{until}"),
            Auth::Operator,
        )
        .await
        .expect(200)
        .body;
    let period: smartcode_api::StatementJson = serde_json::from_value(period).unwrap();
    smartcode_receipt::verify_statement(&period, &a_key).expect("A signed its statement of the period");
    let nets: Vec<&str> = period.entries.iter().map(|e| e.net.amount.as_str()).collect();
    assert_eq!(nets, ["-0.40"], "only what moved in the period");
    assert_eq!(period.since.as_deref(), Some(half_hour.as_str()));
    let mut moved_since = period.clone();
    moved_since.since = None;
    assert!(
        smartcode_receipt::verify_statement(&moved_since, &a_key).is_err(),
        "the period is signed: a statement cannot be passed off as another period's"
    );
    let reconciled = b
        .get(
            &format!("/v1/admin/peers/a.test/reconcile?{since}&{until}"),
            Auth::Operator,
        )
        .await
        .expect(200)
        .body;
    assert_eq!(
        (
            reconciled["matched"].as_u64(),
            reconciled["differences"].as_array().map(Vec::len),
            reconciled["since"].as_str()
        ),
        (Some(1), Some(0), Some(half_hour.as_str()))
    );
    let cli = b_cli.run(
        None,
        &[
            "peer",
            "reconcile",
            "a.test",
            "--since",
            &half_hour,
            "--until",
            "2099-01-01T00:00:00Z",
        ],
    );
    assert!(cli.status.success(), "{}", String::from_utf8_lossy(&cli.stderr));
    assert!(String::from_utf8_lossy(&cli.stdout).contains("1 lines agree"));
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

#[tokio::test]
async fn three_brokers_of_three_formats_pay_each_other_and_every_pair_reconciles() {
    let _one = one_at_a_time().await;
    if crate::harness::on_postgres() {
        // Three brokers of ten connections each beside five other tests exceed the database's
        // 100; the pairs of this module run on PostgreSQL, this one on the embedded store.
        eprintln!("three_brokers_…: runs on the embedded store only (PostgreSQL's connections)");
        return;
    }
    let Pair { a, b, dir, .. } = pair().await;
    let c_flags = [
        "--name",
        "Broker C",
        "--domain",
        "c.test",
        "--broker-number",
        "4",
        "--code-length",
        "9",
    ];
    let c = TestBroker::start_in_with(&dir.path().join("c"), &c_flags).await;
    let limits = json!([{ "amount": "100", "currency": "USD" }]);
    for (at, other) in [(&a, &c), (&c, &a), (&b, &c), (&c, &b)] {
        at.post(
            "/v1/admin/peers",
            Auth::Operator,
            json!({ "url": other.base, "credit_limits": limits }),
        )
        .await
        .expect(201);
    }
    let (buyer_a, _) = a.issue("10.00", "USD").await;
    let (buyer_c, _) = c.issue("10.00", "USD").await;
    let (owner_b, payee_b) = seller(&b).await;
    let (owner_c, payee_c) = seller(&c).await;
    pay_at_b(&b, &format!("{buyer_a}@a.test"), &payee_b, "1.00")
        .await
        .expect(201);
    pay_at_b(&c, &format!("{buyer_a}@a.test"), &payee_c, "2.00")
        .await
        .expect(201);
    pay_at_b(&b, &format!("{buyer_c}@c.test"), &payee_b, "3.00")
        .await
        .expect(201);
    assert_eq!(a.balance(&buyer_a).await, "7.00");
    assert_eq!(c.balance(&buyer_c).await, "7.00");
    assert_eq!(b.balance(&owner_b).await, "5.00");
    assert_eq!(c.balance(&owner_c).await, "3.00");
    for (at, name, other, other_name, expected) in [
        (&b, "a.test", &a, "b.test", "1.00"),
        (&c, "a.test", &a, "c.test", "2.00"),
        (&b, "c.test", &c, "b.test", "3.00"),
    ] {
        assert_eq!(net(at, name).await, expected);
        assert_eq!(net(other, other_name).await, format!("-{expected}"));
        let reconciled = at
            .get(
                &format!("/v1/admin/peers/{name}/reconcile?until=2099-01-01T00%3A00%3A00Z"),
                Auth::Operator,
            )
            .await
            .expect(200)
            .body;
        assert_eq!(
            (reconciled["matched"].as_u64(), reconciled["differences"].clone()),
            (Some(1), json!([]))
        );
    }
    for broker in [&a, &b, &c] {
        broker.assert_ledger_ok().await;
    }
}

#[tokio::test]
async fn an_authorization_code_of_another_broker_pays_its_exact_amount_once() {
    let _one = one_at_a_time().await;
    let Pair { a, b, dir: _dir, .. } = pair().await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    let authorize = |amount: &'static str| {
        let a = &a;
        let buyer = buyer.clone();
        async move {
            let made = a
                .post("/v1/me/authorizations", Auth::Code(&buyer), json!({ "amount": amount }))
                .await
                .expect(201)
                .body;
            made["authorization_code"].as_str().unwrap().to_owned()
        }
    };
    // All digits, starting with A's broker number: B sends it to A, which holds what it pays.
    let code = authorize("1.50").await;
    assert!(code.starts_with('2'), "{code}");
    pay_at_b(&b, &code, &payee, "1.50").await.expect(201);
    assert_eq!(a.balance(&buyer).await, "8.50");
    assert_eq!(b.balance(&owner).await, "2.50");
    pay_at_b(&b, &code, &payee, "1.50").await.refused(401, "invalid_code");
    let other = authorize("1.00").await;
    pay_at_b(&b, &other, &payee, "2.00")
        .await
        .refused(409, "amount_mismatch");
    assert_eq!(b.balance(&owner).await, "2.50");
    assert_eq!(net(&b, "a.test").await, "1.50");
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_retried_payment_across_brokers_is_answered_before_anything_is_sent() {
    let _one = one_at_a_time().await;
    let Pair { a, b, dir: _dir, .. } = pair().await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    let code = format!("{buyer}@a.test");
    let pay = |amount: &'static str| {
        let (b, code, payee) = (&b, code.clone(), payee.clone());
        async move {
            b.call_with(
                reqwest::Method::POST,
                "/v1/payments",
                Auth::None,
                Some(json!({ "code": code, "payee": payee, "amount": amount })),
                &[("Idempotency-Key", "order-17")],
            )
            .await
        }
    };
    let first = pay("2.00").await.expect(201).body["receipt"].clone();
    let again = pay("2.00").await.expect(201).body["receipt"].clone();
    assert_eq!(again["id"], first["id"], "the same key replays the first receipt");
    assert_eq!(again["approval"], first["approval"]);
    pay("3.00").await.refused(422, "idempotency_conflict");
    // A saw one charge: one debit, and no reversal of a second.
    let history = a.get("/v1/me/transactions", Auth::Code(&buyer)).await.expect(200).body;
    assert_eq!(history["transactions"].as_array().unwrap().len(), 2, "{history}");
    assert_eq!(history["transactions"][0]["kind"], "payment");
    assert_eq!(a.balance(&buyer).await, "8.00");
    assert_eq!(b.balance(&owner).await, "3.00");
    // Nothing was left in doubt for the resolver to void either.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let history = a.get("/v1/me/transactions", Auth::Code(&buyer)).await.expect(200).body;
    assert_eq!(history["transactions"].as_array().unwrap().len(), 2, "{history}");
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_peer_whose_budget_of_wrong_codes_is_spent_does_the_work_itself_and_its_sellers_are_still_paid() {
    let _one = one_at_a_time().await;
    let Pair { a, b, dir: _dir, .. } = pair().await;
    let (buyer, _) = a.issue("10.00", "USD").await;
    let (owner, payee) = seller(&b).await;
    // Ten buyers of B's, each from an address of its own (so B's own defence lets each through),
    // each types a wrong code of A's: A counts all ten against B, which spends B's budget there.
    let (issued, _) = a.issue("1.00", "USD").await;
    let wrong = format!("{}@a.test", issued.chars().rev().collect::<String>());
    for n in 0..10 {
        let from = crate::guessing::Peer::of(&b, &format!("127.0.3.{}", n + 1));
        from.pay(&wrong, &payee, "1.00").await.refused(401, "invalid_code");
    }
    let security = a.get("/v1/admin/security", Auth::Operator).await.expect(200).body;
    assert_eq!(security["sources"][0]["source"], "peer:b.test", "{security}");
    assert_eq!(security["sources"][0]["failures"], 10, "{security}");
    // Now A asks B for work before it takes another code from it: B does it, and its seller is
    // paid as before, rather than told to wait for a day.
    let from = crate::guessing::Peer::of(&b, "127.0.3.20");
    let paid = from.pay(&format!("{buyer}@a.test"), &payee, "1.00").await.expect(201);
    assert_eq!(paid.body["receipt"]["payer_id"], "peer:a.test");
    // A wrong code through B after that costs B work too, and is still judged as wrong.
    let from = crate::guessing::Peer::of(&b, "127.0.3.21");
    from.pay(&wrong, &payee, "1.00").await.refused(401, "invalid_code");
    let metrics = a.get("/metrics", Auth::Operator).await.expect(200).text;
    assert!(
        metrics.contains("smartcode_challenges_answered_total 2\n"),
        "A took B's work twice: {metrics}"
    );
    assert_eq!(a.balance(&buyer).await, "9.00");
    assert_eq!(b.balance(&owner).await, "2.00");
    a.assert_ledger_ok().await;
    b.assert_ledger_ok().await;
}

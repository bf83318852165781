//! Purchases of offers and the approval queue (issue 16, step 2), and negotiation (step 3):
//! through the real server on both stores, with sellers' negotiation endpoints that are real HTTP
//! servers on loopback, answering well, slowly, never, with garbage or with too much. Every test
//! ends with the ledger check.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{Auth, Reply, TestBroker};

/// An offer of `payee` for `price` USD, expiring in five minutes.
pub(crate) fn offer(id: &str, payee: &str, price: &str) -> Value {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let expires = smartcode_core::clock::Timestamp(now.as_micros() as i64 + 300_000_000).to_rfc3339();
    json!({
        "id": id,
        "payee": payee,
        "price": { "amount": price, "currency": "USD" },
        "unit": "item",
        "item": id,
        "description": format!("article {id}"),
        "expires_at": expires,
    })
}

pub(crate) async fn buy(broker: &TestBroker, code: &str, offer: &Value) -> Reply {
    broker
        .post("/v1/me/purchases", Auth::Code(code), json!({ "offer": offer }))
        .await
}

pub(crate) async fn set_rules(broker: &TestBroker, code: &str, rules: Value) {
    broker
        .put("/v1/me/rules", Auth::Code(code), json!({ "rules": rules }))
        .await
        .expect(200);
}

async fn queue(broker: &TestBroker, code: &str) -> Vec<Value> {
    let listed = broker.get("/v1/me/approvals", Auth::Code(code)).await.expect(200).body;
    listed["approvals"].as_array().unwrap().clone()
}

async fn approve(broker: &TestBroker, code: &str, id: &str, body: Value) -> Reply {
    broker
        .post(&format!("/v1/me/approvals/{id}/approve"), Auth::Code(code), body)
        .await
}

/// A seller (its code, and a public code selling archives) and a buyer holding 10 USD.
async fn shop(broker: &TestBroker) -> (String, String, String) {
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (archive, _) = broker
        .public_child_selling(&seller, json!({ "categories": ["archives"] }))
        .await;
    (buyer, seller, archive)
}

#[tokio::test]
async fn a_rule_that_pays_buys_with_no_one_asked_and_what_it_does_not_settle_waits() {
    let broker = TestBroker::start().await;
    let (buyer, seller, archive) = shop(&broker).await;
    // No rules at all: nothing is bought with no one asked.
    let waits = buy(&broker, &buyer, &offer("a1", &archive, "0.02")).await.expect(202);
    assert_eq!(waits.body["status"], "needs_approval", "{}", waits.body);
    assert_eq!(waits.body["approval"]["rule"], Value::Null);
    set_rules(
        &broker,
        &buyer,
        json!([
            { "name": "archives", "match": { "categories": ["archives"] }, "max_per_payment": "0.05", "action": "pay" },
            { "name": "no games", "match": { "categories": ["games"] }, "action": "refuse" },
            { "name": "else", "action": "ask" }
        ]),
    )
    .await;
    let paid = buy(&broker, &buyer, &offer("a2", &archive, "0.02")).await.expect(201);
    assert_eq!(paid.body["status"], "paid");
    assert_eq!(
        paid.body["receipt"]["memo"], "offer:a2",
        "the seller learns which offer was paid"
    );
    assert_eq!(paid.body["receipt"]["category"], "archives");
    assert_eq!(paid.body["rounds"], 0);
    // The seller checks the receipt with the broker.
    let id = paid.body["receipt"]["id"].as_str().unwrap();
    let receipt = broker.get(&format!("/v1/receipts/{id}"), Auth::None).await.expect(200);
    assert_eq!(receipt.body["receipt"]["amount"]["amount"], "0.02");
    // Over the cap: it waits, naming the rule.
    let a3 = offer("a3", &archive, "0.06");
    let dear = buy(&broker, &buyer, &a3).await.expect(202);
    assert_eq!(dear.body["approval"]["rule"], "archives");
    assert!(dear.body["approval"]["why"]
        .as_str()
        .unwrap()
        .contains("max_per_payment"));
    // The same offer bought again answers the same approval; an altered one is another.
    let again = buy(&broker, &buyer, &a3).await.expect(202);
    assert_eq!(again.body["approval_id"], dear.body["approval_id"]);
    let mut altered = a3.clone();
    altered["price"]["amount"] = json!("0.07");
    let altered = buy(&broker, &buyer, &altered).await.expect(202);
    assert_ne!(altered.body["approval_id"], dear.body["approval_id"]);
    // A rule that refuses refuses; a public code that sells games is refused.
    let (arcade, _) = broker
        .public_child_selling(&seller, json!({ "categories": ["games"] }))
        .await;
    buy(&broker, &buyer, &offer("g1", &arcade, "0.01"))
        .await
        .refused(403, "restricted");
    // An expired offer is not bought.
    let mut old = offer("a4", &archive, "0.02");
    old["expires_at"] = json!("2020-01-01T00:00:00Z");
    buy(&broker, &buyer, &old).await.refused(410, "expired");
    // Bad offers are refused whole.
    let mut minute = offer("a5", &archive, "0.02");
    minute["unit"] = json!("hour");
    buy(&broker, &buyer, &minute).await.refused(400, "invalid_request");
    let mut nameless = offer("", &archive, "0.02");
    nameless["id"] = json!("");
    buy(&broker, &buyer, &nameless).await.refused(400, "invalid_request");
    assert_eq!(broker.balance(&buyer).await, "9.98");
    let waiting = queue(&broker, &buyer).await;
    assert_eq!(waiting.len(), 3, "{waiting:?}");
    assert!(waiting.iter().all(|a| a["status"] == "pending"));
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn approving_pays_once_and_with_make_rule_the_next_one_is_zero_click() {
    let broker = TestBroker::start().await;
    let (buyer, _, archive) = shop(&broker).await;
    set_rules(
        &broker,
        &buyer,
        json!([{ "name": "archives", "match": { "categories": ["archives"] }, "max_rate": { "amount": "0.04", "per_seconds": 60 }, "action": "pay" }]),
    )
    .await;
    buy(&broker, &buyer, &offer("b1", &archive, "0.02")).await.expect(201);
    buy(&broker, &buyer, &offer("b2", &archive, "0.02")).await.expect(201);
    let third = buy(&broker, &buyer, &offer("b3", &archive, "0.02")).await.expect(202);
    let id = third.body["approval_id"].as_str().unwrap().to_owned();
    assert!(third.body["approval"]["why"].as_str().unwrap().contains("rate"));
    let approved = approve(&broker, &buyer, &id, json!({ "make_rule": true }))
        .await
        .expect(200);
    assert_eq!(approved.body["approval"]["status"], "approved");
    assert_eq!(approved.body["receipt"]["memo"], "offer:b3");
    let rule = approved.body["rule_added"].as_str().unwrap().to_owned();
    assert!(rule.starts_with("approved: "), "{rule}");
    // Approving twice pays once.
    approve(&broker, &buyer, &id, json!({})).await.refused(409, "conflict");
    // The new rule comes first: the next article of this seller is zero-click past the rate.
    let next = buy(&broker, &buyer, &offer("b4", &archive, "0.02")).await.expect(201);
    assert_eq!(next.body["status"], "paid");
    let rules = broker.get("/v1/me/rules", Auth::Code(&buyer)).await.expect(200).body;
    assert_eq!(rules["rules"][0]["name"], rule.as_str(), "{rules}");
    assert_eq!(rules["rules"][0]["max_per_payment"], "0.02");
    // A dearer one is over the learned rule's cap, and over the rate: it waits.
    buy(&broker, &buyer, &offer("b5", &archive, "0.03")).await.expect(202);
    // Declined: nothing paid; an unknown id is not found.
    let fifth = queue(&broker, &buyer).await[0]["id"].as_str().unwrap().to_owned();
    let declined = broker
        .post(
            &format!("/v1/me/approvals/{fifth}/decline"),
            Auth::Code(&buyer),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(declined.body["approval"]["status"], "declined");
    approve(&broker, &buyer, &fifth, json!({}))
        .await
        .refused(409, "conflict");
    approve(&broker, &buyer, "ap_0000000000000000", json!({}))
        .await
        .refused(404, "not_found");
    // Another code sees none of this queue and cannot approve it.
    let (stranger, _) = broker.issue("1", "USD").await;
    assert!(queue(&broker, &stranger).await.is_empty());
    approve(&broker, &stranger, &id, json!({}))
        .await
        .refused(404, "not_found");
    assert_eq!(broker.balance(&buyer).await, "9.92");
    broker.assert_ledger_ok().await;
}

/// A parent's rule stops a child's purchase: the child's approval does not override it (the
/// purchase then waits for the parent), and the parent's does.
#[tokio::test]
async fn a_childs_approval_never_overrides_its_parents_rules() {
    let broker = TestBroker::start().await;
    let (parent, _, archive) = shop(&broker).await;
    let (child, child_id) = broker.secret_child(&parent, "1").await;
    set_rules(
        &broker,
        &parent,
        json!([{ "name": "ask me", "match": { "categories": ["archives"] }, "max_per_payment": "0.05", "action": "pay" }]),
    )
    .await;
    set_rules(&broker, &child, json!([{ "name": "mine", "action": "pay" }])).await;
    buy(&broker, &child, &offer("c1", &archive, "0.05")).await.expect(201);
    let dear = buy(&broker, &child, &offer("c2", &archive, "0.20")).await.expect(202);
    let id = dear.body["approval_id"].as_str().unwrap().to_owned();
    assert_eq!(dear.body["approval"]["rule"], "ask me");
    assert_ne!(dear.body["approval"]["stopped_by"], child_id.as_str());
    // The parent sees it in its queue, the child in its own.
    assert_eq!(queue(&broker, &parent).await[0]["id"], id.as_str());
    assert_eq!(queue(&broker, &child).await[0]["id"], id.as_str());
    let by_child = approve(&broker, &child, &id, json!({})).await.expect(200);
    assert_eq!(by_child.body["approval"]["status"], "pending", "{}", by_child.body);
    assert!(by_child.body.get("receipt").is_none());
    assert_eq!(broker.balance(&child).await, "0.95");
    let by_parent = approve(&broker, &parent, &id, json!({})).await.expect(200);
    assert_eq!(by_parent.body["receipt"]["amount"]["amount"], "0.20");
    assert_eq!(broker.balance(&child).await, "0.75", "the child's code pays");
    broker.assert_ledger_ok().await;
}

/// Many purchases at once against a period cap never spend past it.
#[tokio::test]
async fn purchases_at_once_never_spend_past_a_cap() {
    let broker = TestBroker::start().await;
    let (buyer, _, archive) = shop(&broker).await;
    set_rules(
        &broker,
        &buyer,
        json!([{ "name": "day", "match": { "categories": ["archives"] }, "max_per_period": { "amount": "0.25", "period_seconds": 86400 }, "action": "pay" }]),
    )
    .await;
    let offers: Vec<Value> = (0..30).map(|n| offer(&format!("d{n}"), &archive, "0.02")).collect();
    let replies = futures::future::join_all(offers.iter().map(|o| buy(&broker, &buyer, o))).await;
    let paid = replies.iter().filter(|r| r.status == 201).count();
    let waiting = replies.iter().filter(|r| r.status == 202).count();
    assert_eq!((paid, waiting), (12, 18), "0.25 holds twelve 0.02 purchases");
    assert_eq!(broker.balance(&buyer).await, "9.76");
    broker.assert_ledger_ok().await;
}

/// How a test seller's negotiation endpoint answers a bid.
#[derive(Clone, Copy)]
enum Seller {
    /// Accepts a bid at or above the floor; counters with the floor otherwise.
    Floor(&'static str),
    /// Counters every bid with this price.
    Counter(&'static str),
    Reject,
    /// Answers after 3 s (past a round's 2 s).
    Slow,
    /// Accepts the connection and never answers.
    Silent,
    Garbage,
    Enormous,
}

/// A negotiation endpoint on loopback; answers its URL and the bids it received.
async fn seller(behaviour: Seller) -> (String, Arc<Mutex<Vec<Value>>>) {
    let bids = Arc::new(Mutex::new(Vec::new()));
    let seen = bids.clone();
    let handler = move |axum::Json(bid): axum::Json<Value>| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(bid.clone());
            let money = |amount: &str| json!({ "amount": amount, "currency": "USD" });
            let units = |text: &str| smartcode_core::money::Amount::parse(text).unwrap().units();
            let answer = match behaviour {
                Seller::Floor(floor) => {
                    let offered = bid["bid"]["amount"].as_str().unwrap();
                    match units(offered) >= units(floor) {
                        true => json!({ "accept": true, "price": money(offered) }),
                        false => json!({ "counter": money(floor) }),
                    }
                }
                Seller::Counter(price) => json!({ "counter": money(price) }),
                Seller::Reject => json!({ "reject": true }),
                Seller::Slow => {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                    json!({ "accept": true, "price": bid["bid"] })
                }
                Seller::Silent => {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    json!({})
                }
                Seller::Garbage => json!({ "maybe": "later" }),
                Seller::Enormous => json!({ "counter": money("0.01"), "padding": "x".repeat(100_000) }),
            };
            axum::Json(answer)
        }
    };
    let app = axum::Router::new().route("/negotiate", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{address}/negotiate"), bids)
}

fn negotiable(mut offer: Value, endpoint: &str, max_rounds: u32) -> Value {
    offer["negotiable"] = json!({ "endpoint": endpoint, "max_rounds": max_rounds });
    offer
}

/// A broker that calls sellers on loopback, a buyer whose rule pays archives up to 0.03.
async fn negotiating_broker() -> (TestBroker, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let broker = TestBroker::start_in_with(&dir.path().join("data"), &["--allow-private-callouts"]).await;
    let (buyer, _, archive) = shop(&broker).await;
    set_rules(
        &broker,
        &buyer,
        json!([{ "name": "archives", "match": { "categories": ["archives"] }, "max_per_payment": "0.03", "action": "pay" }]),
    )
    .await;
    (broker, buyer, archive, dir)
}

#[tokio::test]
async fn negotiation_agrees_within_the_rules_and_pays_the_agreed_price() {
    let (broker, buyer, archive, _dir) = negotiating_broker().await;
    // Plain: bids the rule's 0.03 at once; the seller accepts.
    let (endpoint, bids) = seller(Seller::Floor("0.025")).await;
    let paid = buy(
        &broker,
        &buyer,
        &negotiable(offer("n1", &archive, "0.05"), &endpoint, 3),
    )
    .await
    .expect(201);
    assert_eq!(paid.body["price"]["amount"], "0.03", "{}", paid.body);
    assert_eq!(paid.body["rounds"], 1);
    assert_eq!(bids.lock().unwrap()[0]["bid"]["amount"], "0.03");
    // Concede: bids 0.01, then 0.02 (the seller's counter of 0.025 is above each, so it is not
    // taken before the last round), then 0.03, which the seller accepts.
    let (endpoint, bids) = seller(Seller::Floor("0.025")).await;
    let concede = json!({ "offer": negotiable(offer("n2", &archive, "0.05"), &endpoint, 5),
        "strategy": { "name": "concede", "start": "0.01", "step": "0.01" } });
    let paid = broker
        .post("/v1/me/purchases", Auth::Code(&buyer), concede)
        .await
        .expect(201);
    let sent: Vec<Value> = bids
        .lock()
        .unwrap()
        .iter()
        .map(|b| b["bid"]["amount"].clone())
        .collect();
    assert_eq!(sent, [json!("0.01"), json!("0.02"), json!("0.03")], "{}", paid.body);
    assert_eq!(paid.body["price"]["amount"], "0.03");
    // A counter within the rules is the seller's standing offer: taken and paid.
    let (endpoint, _) = seller(Seller::Counter("0.028")).await;
    let paid = buy(
        &broker,
        &buyer,
        &negotiable(offer("n3", &archive, "0.05"), &endpoint, 3),
    )
    .await
    .expect(201);
    assert_eq!(paid.body["price"]["amount"], "0.028");
    assert_eq!(broker.balance(&buyer).await, "9.912");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn negotiation_without_agreement_queues_the_purchase_with_the_last_counter() {
    let (broker, buyer, archive, _dir) = negotiating_broker().await;
    // Past max_rounds: the seller keeps countering above the rule.
    let (endpoint, bids) = seller(Seller::Counter("0.04")).await;
    let waits = buy(
        &broker,
        &buyer,
        &negotiable(offer("m1", &archive, "0.05"), &endpoint, 2),
    )
    .await
    .expect(202);
    assert_eq!(bids.lock().unwrap().len(), 2, "max_rounds bounds the rounds");
    assert_eq!(waits.body["rounds"], 2);
    assert_eq!(waits.body["approval"]["counter"]["amount"], "0.04");
    assert!(waits.body["approval"]["why"].as_str().unwrap().contains("negotiation"));
    // Approving at the counter pays the counter.
    let id = waits.body["approval_id"].as_str().unwrap();
    let paid = approve(&broker, &buyer, id, json!({ "at_counter": true }))
        .await
        .expect(200);
    assert_eq!(paid.body["receipt"]["amount"]["amount"], "0.04");
    // Rejected, then sellers that misbehave: each is given up on and the purchase waits.
    for (n, behaviour) in [
        Seller::Reject,
        Seller::Slow,
        Seller::Silent,
        Seller::Garbage,
        Seller::Enormous,
    ]
    .into_iter()
    .enumerate()
    {
        let (endpoint, _) = seller(behaviour).await;
        let started = std::time::Instant::now();
        let waits = buy(
            &broker,
            &buyer,
            &negotiable(offer(&format!("m{}", n + 2), &archive, "0.05"), &endpoint, 10),
        )
        .await
        .expect(202);
        assert!(
            started.elapsed() < Duration::from_secs(12),
            "bounded: {:?}",
            started.elapsed()
        );
        assert_eq!(waits.body["status"], "needs_approval");
        assert!(
            waits.body["approval"]["why"].as_str().unwrap().contains("negotiation"),
            "{}",
            waits.body
        );
    }
    assert_eq!(broker.balance(&buyer).await, "9.96");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_seller_on_a_private_address_is_not_called_without_the_operators_permission() {
    let broker = TestBroker::start().await;
    let (buyer, _, archive) = shop(&broker).await;
    set_rules(
        &broker,
        &buyer,
        json!([{ "name": "archives", "match": { "categories": ["archives"] }, "max_per_payment": "0.03", "action": "pay" }]),
    )
    .await;
    let (endpoint, bids) = seller(Seller::Floor("0.01")).await;
    let waits = buy(
        &broker,
        &buyer,
        &negotiable(offer("p1", &archive, "0.05"), &endpoint, 3),
    )
    .await
    .expect(202);
    assert!(bids.lock().unwrap().is_empty(), "nothing was sent");
    let why = waits.body["approval"]["why"].as_str().unwrap();
    assert!(why.contains("private or loopback"), "{why}");
    broker.assert_ledger_ok().await;
}

//! Metered sessions (issue 16, step 5: "up to ten cents a minute"): an offer priced per minute
//! opens a session under the buyer's spending rules, its seller charges it as use accrues, and the
//! broker refuses what is faster than the price per minute, past the cap or past the rules, with
//! nothing moved. Through the real server on both stores, the time moved with the test clock.
//! Every test ends with the ledger check.

use serde_json::{json, Value};

use crate::harness::{Auth, Reply, TestBroker};
use crate::holds::advance;
use crate::purchases::{buy, offer, set_rules};

/// An offer of `payee` for `price` USD a minute, expiring in an hour.
fn metered(id: &str, payee: &str, price: &str) -> Value {
    let mut metered = offer(id, payee, price);
    let five_minutes =
        smartcode_core::clock::Timestamp::parse_rfc3339(metered["expires_at"].as_str().unwrap()).unwrap();
    metered["expires_at"] = json!(five_minutes.plus_seconds(3300).unwrap().to_rfc3339());
    metered["unit"] = json!("minute");
    metered.as_object_mut().unwrap().remove("item");
    metered
}

async fn charge(broker: &TestBroker, seller: &str, session: &str, amount: &str) -> Reply {
    broker
        .post(
            &format!("/v1/sessions/{session}/charge"),
            Auth::Code(seller),
            json!({ "amount": amount }),
        )
        .await
}

/// Opens a session of `offer` with no one asked, and answers its id.
async fn open(broker: &TestBroker, buyer: &str, offer: &Value) -> String {
    let opened = buy(broker, buyer, offer).await.expect(201);
    assert_eq!(opened.body["status"], "session_open", "{}", opened.body);
    opened.body["session"]["id"].as_str().unwrap().to_owned()
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

/// "Up to ten cents a minute", and a quarter a day.
fn ten_cents_a_minute() -> Value {
    json!([{
        "name": "metered", "match": { "categories": ["archives"] },
        "max_rate": { "amount": "0.10", "per_seconds": 60 },
        "max_per_period": { "amount": "0.25", "period_seconds": 86400 },
        "action": "pay"
    }])
}

#[tokio::test]
async fn a_session_opens_with_no_one_asked_and_is_charged_as_the_minutes_pass() {
    let broker = TestBroker::start().await;
    let (buyer, seller, archive) = shop(&broker).await;
    set_rules(&broker, &buyer, ten_cents_a_minute()).await;
    let offer = metered("radio", &archive, "0.10");
    let opened = buy(&broker, &buyer, &offer).await.expect(201);
    let session = &opened.body["session"];
    assert_eq!(opened.body["status"], "session_open", "{}", opened.body);
    assert_eq!(session["state"], "open");
    assert_eq!(session["price_per_minute"]["amount"], "0.10");
    assert_eq!(session["cap"]["amount"], "0.25", "the rule's period leaves a quarter");
    assert_eq!(session["charged"]["amount"], "0.00");
    assert!(opened.body.get("receipt").is_none(), "opening pays nothing");
    let id = session["id"].as_str().unwrap().to_owned();
    // The same offer bought again answers the same session.
    let again = buy(&broker, &buyer, &offer).await.expect(201);
    assert_eq!(again.body["session"]["id"], id.as_str());
    // At once, nothing has accrued: a charge is refused and nothing moves.
    charge(&broker, &seller, &id, "0.05")
        .await
        .refused(409, "session_rate_exceeded");
    assert_eq!(broker.balance(&buyer).await, "10.00");
    // Half a minute: five cents have accrued.
    advance(&broker, 30).await;
    let charged = charge(&broker, &seller, &id, "0.05").await.expect(201);
    assert_eq!(charged.body["receipt"]["memo"], format!("session:{id}"));
    assert_eq!(charged.body["receipt"]["amount"]["amount"], "0.05");
    assert_eq!(charged.body["session"]["charged"]["amount"], "0.05");
    assert_eq!(charged.body["session"]["state"], "open");
    // The seller checks the receipt with the broker, like any payment's.
    let receipt_id = charged.body["receipt"]["id"].as_str().unwrap();
    broker
        .get(&format!("/v1/receipts/{receipt_id}"), Auth::None)
        .await
        .expect(200);
    // Faster than the price per minute: refused, nothing moved.
    charge(&broker, &seller, &id, "0.03")
        .await
        .refused(409, "session_rate_exceeded");
    assert_eq!(broker.balance(&buyer).await, "9.95");
    // Two minutes more: 0.25 has accrued, but the rule's rate lets at most 0.10 through at once.
    advance(&broker, 120).await;
    let rule = charge(&broker, &seller, &id, "0.15").await;
    let rule = rule.refused(409, "session_rate_exceeded");
    assert!(
        rule.body["detail"].as_str().unwrap().contains("metered"),
        "{}",
        rule.body
    );
    charge(&broker, &seller, &id, "0.10").await.expect(201);
    // Past the cap: refused, naming what is left.
    advance(&broker, 60).await;
    let over = charge(&broker, &seller, &id, "0.11")
        .await
        .refused(409, "session_cap_exceeded");
    assert!(over.body["detail"].as_str().unwrap().contains("0.10"), "{}", over.body);
    // Exactly to the cap: taken, and the session closes.
    let last = charge(&broker, &seller, &id, "0.10").await.expect(201);
    assert_eq!(last.body["session"]["state"], "closed");
    assert_eq!(last.body["session"]["closed_reason"], "cap_reached");
    assert_eq!(last.body["session"]["charged"]["amount"], "0.25");
    assert_eq!(last.body["session"]["charges"], 3);
    advance(&broker, 60).await;
    charge(&broker, &seller, &id, "0.01")
        .await
        .refused(409, "session_closed");
    assert_eq!(broker.balance(&buyer).await, "9.75");
    assert_eq!(broker.balance(&seller).await, "1.25");
    // The buyer lists it; the seller reads it; nobody else may.
    let listed = broker.get("/v1/me/sessions", Auth::Code(&buyer)).await.expect(200);
    assert_eq!(listed.body["sessions"][0]["id"], id.as_str());
    assert_eq!(listed.body["sessions"][0]["closed_reason"], "cap_reached");
    let read = broker
        .get(&format!("/v1/sessions/{id}"), Auth::Code(&seller))
        .await
        .expect(200);
    assert_eq!(read.body["session"]["charged"]["amount"], "0.25");
    broker
        .get(&format!("/v1/sessions/{id}"), Auth::Code(&buyer))
        .await
        .refused(404, "not_found");
    charge(&broker, &buyer, &id, "0.01").await.refused(404, "not_found");
    charge(&broker, &seller, "se_nosuchsession00", "0.01")
        .await
        .refused(404, "not_found");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_buyer_closes_a_session_and_its_seller_charges_nothing_more() {
    let broker = TestBroker::start().await;
    let (buyer, seller, archive) = shop(&broker).await;
    set_rules(&broker, &buyer, ten_cents_a_minute()).await;
    let id = open(&broker, &buyer, &metered("talk", &archive, "0.06")).await;
    advance(&broker, 60).await;
    charge(&broker, &seller, &id, "0.06").await.expect(201);
    advance(&broker, 60).await;
    let closed = broker
        .post(&format!("/v1/me/sessions/{id}/close"), Auth::Code(&buyer), json!({}))
        .await
        .expect(200);
    assert_eq!(closed.body["session"]["state"], "closed");
    assert_eq!(closed.body["session"]["closed_reason"], "closed_by_buyer");
    // What accrued since the last charge is not charged after the close.
    charge(&broker, &seller, &id, "0.06")
        .await
        .refused(409, "session_closed");
    broker
        .post(&format!("/v1/me/sessions/{id}/close"), Auth::Code(&seller), json!({}))
        .await
        .refused(404, "not_found");
    broker
        .post(&format!("/v1/me/sessions/{id}/close"), Auth::Code(&buyer), json!({}))
        .await
        .refused(409, "session_closed");
    assert_eq!(broker.balance(&buyer).await, "9.94");
    // A session ends with its offer: after the expiry it reads closed and takes no charge.
    let mut short = metered("short", &archive, "0.06");
    let soon = smartcode_core::clock::Timestamp::parse_rfc3339(short["expires_at"].as_str().unwrap()).unwrap();
    short["expires_at"] = json!(smartcode_core::clock::Timestamp(soon.0 - 3_000_000_000).to_rfc3339());
    let brief = open(&broker, &buyer, &short).await;
    advance(&broker, 1200).await;
    charge(&broker, &seller, &brief, "0.01")
        .await
        .refused(409, "session_closed");
    let listed = broker.get("/v1/me/sessions", Auth::Code(&buyer)).await.expect(200);
    let brief = listed.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == brief.as_str())
        .unwrap()
        .clone();
    assert_eq!(brief["closed_reason"], "expired", "{brief}");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_price_over_the_rule_waits_and_approving_it_opens_the_session() {
    let broker = TestBroker::start().await;
    let (buyer, seller, archive) = shop(&broker).await;
    // No rules: nothing is opened with no one asked.
    let waits = buy(&broker, &buyer, &metered("m0", &archive, "0.05")).await.expect(202);
    assert_eq!(waits.body["status"], "needs_approval");
    set_rules(
        &broker,
        &buyer,
        json!([
            { "name": "metered", "match": { "categories": ["archives"] }, "max_rate": { "amount": "0.10", "per_seconds": 60 }, "action": "pay" },
            { "name": "else", "action": "refuse" }
        ]),
    )
    .await;
    // Twenty cents a minute is over ten: it waits, naming the rule and the rate.
    let dear = buy(&broker, &buyer, &metered("m1", &archive, "0.20")).await.expect(202);
    assert_eq!(dear.body["approval"]["rule"], "metered");
    assert!(
        dear.body["approval"]["why"].as_str().unwrap().contains("a minute"),
        "{}",
        dear.body
    );
    // A rule that refuses refuses a metered offer too.
    let (arcade, _) = broker
        .public_child_selling(&seller, json!({ "categories": ["games"] }))
        .await;
    buy(&broker, &buyer, &metered("g1", &arcade, "0.01"))
        .await
        .refused(403, "restricted");
    assert!(
        broker.get("/v1/me/sessions", Auth::Code(&buyer)).await.expect(200).body["sessions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Approving opens the session; with make_rule the next one at that price opens by itself.
    let approval = dear.body["approval_id"].as_str().unwrap();
    let approved = broker
        .post(
            &format!("/v1/me/approvals/{approval}/approve"),
            Auth::Code(&buyer),
            json!({ "make_rule": true }),
        )
        .await
        .expect(200);
    assert_eq!(approved.body["approval"]["status"], "approved");
    assert_eq!(approved.body["session"]["state"], "open", "{}", approved.body);
    assert_eq!(approved.body["session"]["cap"]["amount"], "10.00");
    assert!(approved.body.get("receipt").is_none());
    assert!(approved.body["rule_added"].is_string());
    let id = approved.body["session"]["id"].as_str().unwrap().to_owned();
    // The holder approved twenty cents a minute: its own rules count the charges without asking.
    advance(&broker, 60).await;
    charge(&broker, &seller, &id, "0.20").await.expect(201);
    open(&broker, &buyer, &metered("m2", &archive, "0.20")).await;
    assert_eq!(broker.balance(&buyer).await, "9.80");
    broker.assert_ledger_ok().await;
}

/// Twenty charges at once never pass the cap, nor what has accrued.
#[tokio::test]
async fn charges_at_once_never_pass_the_cap_or_the_accrual() {
    let broker = TestBroker::start().await;
    let (parent, seller, archive) = shop(&broker).await;
    let (buyer, _) = broker.secret_child(&parent, "0.50").await;
    let fast = json!([{ "name": "fast", "match": { "categories": ["archives"] }, "max_rate": { "amount": "10", "per_seconds": 60 }, "action": "pay" }]);
    set_rules(&broker, &buyer, fast).await;
    // The cap is the child's 0.50; ten minutes at 0.60 a minute have accrued far more.
    let capped = open(&broker, &buyer, &metered("cap", &archive, "0.60")).await;
    advance(&broker, 600).await;
    let replies = futures::future::join_all((0..20).map(|_| charge(&broker, &seller, &capped, "0.05"))).await;
    let taken = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(taken, 10, "0.50 holds ten charges of 0.05");
    for refused in replies.iter().filter(|r| r.status != 201) {
        assert_eq!(refused.status, 409, "{}", refused.body);
        assert_eq!(refused.code(), "session_closed", "{}", refused.body);
    }
    assert_eq!(broker.balance(&buyer).await, "0.00");
    // Accrual: ten seconds at 0.30 a minute is 0.05; the charges at once take no more than has
    // accrued by the time each is judged (the test's own seconds add a little).
    let (other, _) = broker.secret_child(&parent, "1").await;
    let fast = json!([{ "name": "fast", "match": { "categories": ["archives"] }, "max_rate": { "amount": "10", "per_seconds": 60 }, "action": "pay" }]);
    set_rules(&broker, &other, fast).await;
    let slow = open(&broker, &other, &metered("slow", &archive, "0.30")).await;
    advance(&broker, 10).await;
    let started = std::time::Instant::now();
    let replies = futures::future::join_all((0..20).map(|_| charge(&broker, &seller, &slow, "0.01"))).await;
    let elapsed_seconds = started.elapsed().as_secs() + 2;
    let taken = replies.iter().filter(|r| r.status == 201).count() as u64;
    // 0.30 a minute is 0.005 a second.
    assert!(taken >= 5, "{taken} charges taken");
    assert!(
        taken <= 5 + elapsed_seconds / 2 + 1,
        "{taken} charges taken in {elapsed_seconds} s"
    );
    for refused in replies.iter().filter(|r| r.status != 201) {
        assert_eq!(refused.code(), "session_rate_exceeded", "{}", refused.body);
    }
    let read = broker
        .get(&format!("/v1/sessions/{slow}"), Auth::Code(&seller))
        .await
        .expect(200);
    assert_eq!(read.body["session"]["charges"], taken);
    assert_eq!(
        read.body["session"]["charged"]["amount"],
        format!("0.{:02}", taken),
        "what was charged is what was taken"
    );
    broker.assert_ledger_ok().await;
}

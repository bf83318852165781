//! Spending rules (issue 16, step 1): a code's rules, kept with it at the broker, judge every
//! payment of the code and of the codes below it, nearest first; each level must allow it, so a
//! child's rules only narrow its parent's. Through the real server on both stores (these tests
//! run again on PostgreSQL); every test ends with the ledger check.

use serde_json::{json, Value};

use crate::cli::Cli;
use crate::harness::{Auth, Reply, TestBroker};

async fn set_rules(broker: &TestBroker, code: &str, rules: Value) -> Reply {
    broker
        .put("/v1/me/rules", Auth::Code(code), json!({ "rules": rules }))
        .await
}

async fn rules(broker: &TestBroker, code: &str) -> Value {
    broker.get("/v1/me/rules", Auth::Code(code)).await.expect(200).body
}

async fn advance(broker: &TestBroker, seconds: i64) {
    broker
        .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": seconds }))
        .await
        .expect(200);
}

fn detail(reply: &Reply) -> String {
    reply.body["detail"].as_str().unwrap_or_default().to_owned()
}

/// "Up to ten cents a minute for newspaper archives": five 2-cent articles at once, then one
/// every 12 seconds; a dearer article, games, and anything no rule covers are not paid.
#[tokio::test]
async fn ten_cents_a_minute_for_archives_pays_five_articles_at_once_then_one_every_twelve_seconds() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (archive, _) = broker
        .public_child_selling(&seller, json!({ "categories": ["archives"] }))
        .await;
    let (arcade, _) = broker
        .public_child_selling(&seller, json!({ "categories": ["games"] }))
        .await;
    let (bakery, _) = broker.public_child(&seller).await;
    let set = set_rules(
        &broker,
        &buyer,
        json!([
            {
                "name": "archives",
                "match": { "categories": ["archives"] },
                "max_per_payment": "0.05",
                "max_per_period": { "amount": "1", "period_seconds": 86400 },
                "max_rate": { "amount": "0.10", "per_seconds": 60 },
                "action": "pay"
            },
            { "name": "no games", "match": { "categories": ["games"] }, "action": "refuse" },
            { "name": "anything else", "action": "ask" }
        ]),
    )
    .await
    .expect(200);
    assert_eq!(set.body["rules"][0]["name"], "archives");
    assert_eq!(set.body["rules"][0]["left"], "1.00", "{}", set.body);
    for _ in 0..5 {
        broker.pay(&buyer, &archive, "0.02").await.expect(201);
    }
    let sixth = broker
        .pay(&buyer, &archive, "0.02")
        .await
        .refused(403, "approval_required");
    assert!(
        detail(&sixth).contains("archives") && detail(&sixth).contains("rate"),
        "{}",
        detail(&sixth)
    );
    advance(&broker, 12).await;
    broker.pay(&buyer, &archive, "0.02").await.expect(201);
    broker
        .pay(&buyer, &archive, "0.02")
        .await
        .refused(403, "approval_required");
    advance(&broker, 60).await;
    let dear = broker
        .pay(&buyer, &archive, "0.06")
        .await
        .refused(403, "approval_required");
    assert!(detail(&dear).contains("max_per_payment"), "{}", detail(&dear));
    let games = broker.pay(&buyer, &arcade, "0.01").await.refused(403, "restricted");
    assert!(detail(&games).contains("no games"), "{}", detail(&games));
    let bread = broker
        .pay(&buyer, &bakery, "0.01")
        .await
        .refused(403, "approval_required");
    assert!(detail(&bread).contains("anything else"), "{}", detail(&bread));
    // What each rule has spent and left, as the holder sees it.
    let shown = rules(&broker, &buyer).await;
    let archives = &shown["rules"][0];
    assert_eq!(archives["spent"], "0.12", "{shown}");
    assert_eq!(archives["left"], "0.88", "{shown}");
    assert_eq!(
        archives["rate_left_now"], "0.10",
        "a minute later the bucket is empty: {shown}"
    );
    assert_eq!(archives["max_rate"], json!({ "amount": "0.10", "per_seconds": 60 }));
    assert!(archives["period_ends_at"].is_string(), "{shown}");
    assert_eq!(
        shown["rules"][2]["spent"],
        Value::Null,
        "a rule without a period counts none"
    );
    assert_eq!(broker.balance(&buyer).await, "9.88");
    // Setting the list again with "archives" unchanged keeps what it counted; a changed rule
    // counts afresh.
    let mut kept = shown["rules"].clone();
    for rule in kept.as_array_mut().unwrap() {
        for shown_only in ["set_at", "spent", "left", "period_ends_at", "rate_left_now"] {
            rule.as_object_mut().unwrap().remove(shown_only);
        }
    }
    kept[1]["name"] = json!("never games");
    let again = set_rules(&broker, &buyer, kept).await.expect(200);
    assert_eq!(again.body["rules"][0]["spent"], "0.12", "{}", again.body);
    assert_eq!(again.body["rules"][0]["rate_left_now"], "0.10", "{}", again.body);
    broker
        .pay(&buyer, &archive, "0.06")
        .await
        .refused(403, "approval_required");
    // An empty list removes them: the holder presented the code, so it pays.
    set_rules(&broker, &buyer, json!([])).await.expect(200);
    broker.pay(&buyer, &bakery, "0.01").await.expect(201);
    assert_eq!(rules(&broker, &buyer).await["rules"], json!([]));
    broker.assert_ledger_ok().await;
}

/// A parent's rules hold for its children, those made before the rules and those made after,
/// and a child's own rules can only say no more often.
#[tokio::test]
async fn a_parents_rules_hold_for_its_children_and_a_childs_rules_only_narrow_them() {
    let broker = TestBroker::start().await;
    let (parent, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (archive, _) = broker
        .public_child_selling(&seller, json!({ "categories": ["archives"] }))
        .await;
    let (arcade, _) = broker
        .public_child_selling(&seller, json!({ "categories": ["games"] }))
        .await;
    let (before, _) = broker.secret_child(&parent, "2").await;
    let (grandchild, _) = broker.secret_child(&before, "1").await;
    set_rules(
        &broker,
        &parent,
        json!([{ "name": "no games", "match": { "categories": ["games"] }, "action": "refuse" }]),
    )
    .await
    .expect(200);
    let (after, _) = broker.secret_child(&parent, "2").await;
    for child in [&before, &grandchild, &after] {
        let refused = broker.pay(child, &arcade, "0.01").await.refused(403, "restricted");
        assert!(detail(&refused).contains("no games"), "{}", detail(&refused));
        broker.pay(child, &archive, "0.01").await.expect(201);
    }
    // A child that lets everything through is still held by its parent's rule.
    set_rules(&broker, &after, json!([{ "name": "all", "action": "pay" }]))
        .await
        .expect(200);
    broker.pay(&after, &arcade, "0.01").await.refused(403, "restricted");
    // A child's own cap is its own: it asks where the parent would have let it pay.
    set_rules(
        &broker,
        &before,
        json!([{ "name": "small", "max_per_payment": "0.01", "action": "pay" }]),
    )
    .await
    .expect(200);
    let asked = broker
        .pay(&grandchild, &archive, "0.02")
        .await
        .refused(403, "approval_required");
    assert!(detail(&asked).contains("small"), "{}", detail(&asked));
    broker.pay(&grandchild, &archive, "0.01").await.expect(201);
    broker.assert_ledger_ok().await;
}

/// Rules that cannot be kept are refused whole, and the rules before stay.
#[tokio::test]
async fn rules_that_cannot_be_kept_are_refused_whole() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let kept = json!([{ "name": "cap", "max_per_payment": "1", "action": "pay" }]);
    set_rules(&broker, &buyer, kept).await.expect(200);
    let too_many: Vec<Value> = (0..33)
        .map(|n| json!({ "name": format!("r{n}"), "action": "pay" }))
        .collect();
    set_rules(&broker, &buyer, json!(too_many))
        .await
        .refused(400, "limit_exceeded");
    for bad in [
        json!([{ "name": "a", "action": "pay" }, { "name": "a", "action": "ask" }]),
        json!([{ "name": "a", "action": "maybe" }]),
        json!([{ "name": "", "action": "pay" }]),
        json!([{ "name": "a", "max_per_payment": "0", "action": "pay" }]),
        json!([{ "name": "a", "max_rate": { "amount": "0.10", "per_seconds": 0 }, "action": "pay" }]),
        json!([{ "name": "a", "max_per_period": { "amount": "-1", "period_seconds": 60 }, "action": "pay" }]),
        json!([{ "name": "a", "match": { "categories": [] }, "action": "pay" }]),
        json!([{ "name": "a", "match": { "items": [""] }, "action": "pay" }]),
        json!([{ "name": "a", "match": { "payees": ["not a code"] }, "action": "pay" }]),
        json!([{ "name": "a", "action": "pay", "colour": "blue" }]),
    ] {
        let refused = set_rules(&broker, &buyer, bad.clone())
            .await
            .refused(400, "invalid_request");
        assert!(!detail(&refused).is_empty(), "{bad}");
    }
    let shown = rules(&broker, &buyer).await;
    assert_eq!(shown["rules"].as_array().unwrap().len(), 1, "{shown}");
    assert_eq!(shown["rules"][0]["name"], "cap");
    // A public code pays nothing, so it has no rules to set.
    let (shop, _) = broker.public_child(&buyer).await;
    let public = set_rules(&broker, &shop, json!([])).await;
    assert!(public.status >= 400 && public.status < 500, "{}", public.body);
    broker.assert_ledger_ok().await;
}

/// Many payments at once never spend past a period's cap; a hold counts when made and a void
/// gives it back; a new period spends from zero.
#[tokio::test]
async fn payments_at_once_never_pass_a_cap_and_a_void_gives_back_what_its_hold_counted() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let cap = json!([{ "name": "ten cents an hour", "max_per_period": { "amount": "0.10", "period_seconds": 3600 }, "action": "pay" }]);
    set_rules(&broker, &buyer, cap).await.expect(200);
    let payments = (0..30).map(|_| broker.pay(&buyer, &shop, "0.01"));
    let replies = futures::future::join_all(payments).await;
    let paid = replies.iter().filter(|r| r.status == 201).count();
    let asked = replies.iter().filter(|r| r.body["code"] == "approval_required").count();
    assert_eq!((paid, asked), (10, 20), "exactly the cap is paid");
    assert_eq!(broker.balance(&buyer).await, "9.90");
    advance(&broker, 3600).await;
    let hold = broker
        .post(
            "/v1/holds",
            Auth::None,
            json!({ "code": buyer, "payee": shop, "amount": "0.10" }),
        )
        .await
        .expect(201);
    broker
        .pay(&buyer, &shop, "0.01")
        .await
        .refused(403, "approval_required");
    let id = hold.body["hold"]["id"].as_str().unwrap();
    broker
        .post(&format!("/v1/holds/{id}/void"), Auth::Code(&seller), json!({}))
        .await
        .expect(200);
    assert_eq!(rules(&broker, &buyer).await["rules"][0]["spent"], "0.00");
    broker.pay(&buyer, &shop, "0.10").await.expect(201);
    broker.assert_ledger_ok().await;
}

/// `smartcode rules set FILE` sets them as PUT /v1/me/rules does; `smartcode rules show` shows
/// what each has spent and left; a file that is not rules is refused before anything is sent.
#[tokio::test]
async fn the_command_line_sets_and_shows_rules() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let cli = Cli { broker: &broker };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.json");
    let body = json!({ "rules": [
        { "name": "daily", "max_per_period": { "amount": "0.50", "period_seconds": 86400 }, "action": "pay" }
    ] });
    std::fs::write(&file, body.to_string()).unwrap();
    let set = cli.json(Some(&buyer), &["rules", "set", file.to_str().unwrap()]);
    assert_eq!(set["rules"][0]["left"], "0.50", "{set}");
    broker.pay(&buyer, &shop, "0.20").await.expect(201);
    let shown = cli.text(Some(&buyer), &["rules", "show"]);
    assert!(
        shown.contains("daily → pay") && shown.contains("spent 0.20, left 0.30"),
        "{shown}"
    );
    std::fs::write(&file, r#"{"rule": []}"#).unwrap();
    let refused = cli.run(Some(&buyer), &["rules", "set", file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is not"),
        "{refused:?}"
    );
    assert_eq!(cli.json(Some(&buyer), &["rules", "show"])["rules"][0]["spent"], "0.20");
    broker.assert_ledger_ok().await;
}

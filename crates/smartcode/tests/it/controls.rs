//! Code controls (issue 3) through the real server: the PIN and its lockout, restrictions that only
//! narrow down a tree, expiry that reverts by itself, and rekey. Amounts are checked exactly, and a
//! refused request is shown to move nothing. Wrong PINs are sent from addresses of their own
//! (`Peer`), so the guessing defence never slows these tests down.

use reqwest::Method;
use serde_json::{json, Value};
use smartcode_core::clock::Timestamp;
use smartcode_core::ledger::controls::PIN_FAILURES_MAX;
use smartcode_core::limits::EXPIRY_SECONDS_MAX;

use crate::guessing::Peer;
use crate::harness::{Auth, Reply, TestBroker};

/// Creates a secret child from a full request body; returns (secret code, id, reply body).
async fn child_with(broker: &TestBroker, parent: &str, body: Value) -> (String, String, Value) {
    let reply = broker
        .post("/v1/me/children", Auth::Code(parent), body)
        .await
        .expect(201);
    (
        reply.body["code"].as_str().unwrap().to_owned(),
        reply.body["id"].as_str().unwrap().to_owned(),
        reply.body,
    )
}

/// A payment with extra fields (category, item, ...) and headers.
async fn pay_with(
    broker: &TestBroker,
    code: &str,
    payee: &str,
    amount: &str,
    extra: Value,
    headers: &[(&str, &str)],
) -> Reply {
    let mut body = json!({ "code": code, "payee": payee, "amount": amount });
    for (field, value) in extra.as_object().unwrap() {
        body[field] = value.clone();
    }
    broker
        .call_with(Method::POST, "/v1/payments", Auth::None, Some(body), headers)
        .await
}

async fn balances(broker: &TestBroker, codes: &[impl AsRef<str>]) -> Vec<String> {
    let mut all = Vec::new();
    for code in codes {
        all.push(broker.balance(code.as_ref()).await);
    }
    all
}

async fn me(broker: &TestBroker, code: &str) -> Value {
    broker.get("/v1/me", Auth::Code(code)).await.expect(200).body
}

async fn advance_clock(broker: &TestBroker, seconds: i64) {
    broker
        .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": seconds }))
        .await
        .expect(200);
}

/// The broker's clock now (it runs ahead of the system's once a test has advanced it).
async fn broker_now(broker: &TestBroker) -> Timestamp {
    let check = broker.get("/v1/admin/ledger/check", Auth::Operator).await.expect(200);
    Timestamp::parse_rfc3339(check.body["checked_at"].as_str().unwrap()).unwrap()
}

fn at(text: &Value) -> Timestamp {
    Timestamp::parse_rfc3339(text.as_str().expect("a time")).expect("an RFC 3339 time")
}

/// Asserts `403 restricted` with a detail that names `rule`.
#[track_caller]
fn assert_restricted(reply: Reply, rule: &str) {
    let reply = reply.refused(403, "restricted");
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(detail.contains(rule), "the detail names {rule}: {detail}");
}

/// A history's entries of one kind, as (signed amount, counterparty id).
async fn entries_of_kind(broker: &TestBroker, code: &str, kind: &str) -> Vec<(String, String)> {
    let history = broker.get("/v1/me/transactions", Auth::Code(code)).await.expect(200);
    history.body["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == kind)
        .map(|t| {
            (
                t["amount"].as_str().unwrap().to_owned(),
                t["counterparty_id"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// Polls until `code`'s balance is `expected` (the expiry sweep runs every second).
async fn wait_for_balance(broker: &TestBroker, code: &str, expected: &str) {
    let mut seen = String::new();
    for _ in 0..50 {
        seen = broker.balance(code).await;
        if seen == expected {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the balance stayed {seen}, expected {expected}");
}

fn pin(value: &str) -> [(&str, &str); 1] {
    [("Smartcode-Pin", value)]
}

// ---------------------------------------------------------------------------------------------
// PIN

#[tokio::test]
async fn a_pin_guards_payments_and_every_change_and_is_changed_or_removed_with_the_current_one() {
    let broker = TestBroker::start().await;
    let (root, _) = broker.issue("10", "USD").await;
    let (code, _) = broker.secret_child(&root, "5").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let (_, kid_id) = broker.secret_child(&code, "1").await;
    let (_, own_shop_id) = broker.public_child(&code).await;
    // Each wrong PIN from an address of its own.
    let mut guessers = (10..).map(|n| Peer::of(&broker, &format!("127.0.3.{n}")));

    // A PIN is 4 to 12 digits; anything else is a bad request and sets nothing.
    for bad in [
        json!("123"),
        json!("1234567890123"),
        json!("12a4"),
        json!(""),
        json!(2468),
    ] {
        broker
            .put("/v1/me/pin", Auth::Code(&code), json!({ "pin": bad }))
            .await
            .refused(400, "invalid_request");
    }
    assert_eq!(me(&broker, &code).await["pin_set"], false);
    let set = broker
        .put("/v1/me/pin", Auth::Code(&code), json!({ "pin": "2468" }))
        .await
        .expect(200);
    assert_eq!(set.body["pin_set"], true);
    assert_eq!(me(&broker, &code).await["pin_set"], true, "reading needs no PIN");

    // A payment needs it: none, wrong, or malformed moves nothing.
    pay_with(&broker, &code, &shop, "0.25", json!({}), &[])
        .await
        .refused(403, "pin_required");
    guessers
        .next()
        .unwrap()
        .pay_with(&code, &shop, "0.25", &pin("1357"))
        .await
        .refused(403, "pin_invalid");
    for malformed in ["24x8", "246", "1234567890123"] {
        pay_with(&broker, &code, &shop, "0.25", json!({}), &pin(malformed))
            .await
            .refused(400, "invalid_request");
    }
    assert_eq!(balances(&broker, &[&code, &seller]).await, ["4.00", "1.00"]);
    pay_with(&broker, &code, &shop, "0.25", json!({}), &pin("2468"))
        .await
        .expect(201);
    assert_eq!(balances(&broker, &[&code, &seller]).await, ["3.75", "1.25"]);

    // Every change needs it too: refused without it (and with a wrong one), done with it.
    let changes = [
        (
            Method::POST,
            "/v1/me/children".to_owned(),
            json!({ "kind": "secret", "amount": "0.5" }),
            201,
        ),
        (
            Method::POST,
            "/v1/me/children".to_owned(),
            json!({ "kind": "public" }),
            201,
        ),
        (
            Method::POST,
            format!("/v1/me/children/{kid_id}/fund"),
            json!({ "amount": "0.5" }),
            200,
        ),
        (Method::PUT, "/v1/me/profile".to_owned(), json!({ "name": "Ann" }), 200),
        (
            Method::PUT,
            format!("/v1/me/children/{own_shop_id}/profile"),
            json!({ "name": "Ann's stall" }),
            200,
        ),
        (Method::POST, format!("/v1/me/children/{kid_id}/unlock"), json!({}), 200),
        (Method::POST, format!("/v1/me/children/{kid_id}/cancel"), json!({}), 200),
    ];
    for (method, path, body, status) in changes {
        broker
            .call(method.clone(), &path, Auth::Code(&code), Some(body.clone()))
            .await
            .refused(403, "pin_required");
        guessers
            .next()
            .unwrap()
            .call(
                method.clone(),
                &path,
                Auth::Code(&code),
                Some(body.clone()),
                &pin("8642"),
            )
            .await
            .refused(403, "pin_invalid");
        broker
            .call_with(method, &path, Auth::Code(&code), Some(body), &pin("2468"))
            .await
            .expect(status);
    }
    broker
        .post("/v1/me/rekey", Auth::Code(&code), json!({}))
        .await
        .refused(403, "pin_required");
    // 3.75 - 0.5 (new child) - 0.5 (fund) + 1.5 (the cancelled kid's value comes back)
    assert_eq!(balances(&broker, &[&code, &seller]).await, ["4.25", "1.25"]);

    // Changing the PIN needs the current one.
    let change = json!({ "pin": "97531" });
    broker
        .put("/v1/me/pin", Auth::Code(&code), change.clone())
        .await
        .refused(403, "pin_required");
    guessers
        .next()
        .unwrap()
        .call(
            Method::PUT,
            "/v1/me/pin",
            Auth::Code(&code),
            Some(change.clone()),
            &pin("9753"),
        )
        .await
        .refused(403, "pin_invalid");
    broker
        .call_with(Method::PUT, "/v1/me/pin", Auth::Code(&code), Some(change), &pin("2468"))
        .await
        .expect(200);
    guessers
        .next()
        .unwrap()
        .pay_with(&code, &shop, "0.25", &pin("2468"))
        .await
        .refused(403, "pin_invalid");
    pay_with(&broker, &code, &shop, "0.25", json!({}), &pin("97531"))
        .await
        .expect(201);

    // Removing it needs the current one; then the code pays without.
    broker
        .call(Method::DELETE, "/v1/me/pin", Auth::Code(&code), None)
        .await
        .refused(403, "pin_required");
    guessers
        .next()
        .unwrap()
        .call(Method::DELETE, "/v1/me/pin", Auth::Code(&code), None, &pin("2468"))
        .await
        .refused(403, "pin_invalid");
    let removed = broker
        .call_with(Method::DELETE, "/v1/me/pin", Auth::Code(&code), None, &pin("97531"))
        .await
        .expect(200);
    assert_eq!(removed.body["pin_set"], false);
    broker.pay(&code, &shop, "0.25").await.expect(201);
    assert_eq!(balances(&broker, &[&code, &seller]).await, ["3.75", "1.75"]);
    assert_eq!(me(&broker, &code).await["status"], "active");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn pins_are_stored_as_argon2id_with_a_salt_of_their_own() {
    let broker = TestBroker::start().await;
    let (first, _) = broker.issue("1", "USD").await;
    let (second, _) = broker.issue("1", "USD").await;
    for code in [&first, &second] {
        broker
            .put("/v1/me/pin", Auth::Code(code), json!({ "pin": "482916" }))
            .await
            .expect(200);
    }
    // What the store holds (its files, or a dump of its database) has two different PHC strings.
    let mut hashes = std::collections::BTreeSet::new();
    for (_, text) in broker.stored_text() {
        for (start, _) in text.match_indices("$argon2id$") {
            let phc: String = text[start..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || "$=,+/".contains(*c))
                .collect();
            hashes.insert(phc);
        }
    }
    assert_eq!(
        hashes.len(),
        2,
        "one argon2id hash per code, salted differently: {hashes:?}"
    );
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn wrong_pins_lock_a_code_until_its_parent_unlocks_it_and_it_still_receives() {
    let broker = TestBroker::start().await;
    let (parent, _) = broker.issue("10", "USD").await;
    let (code, code_id) = broker.secret_child(&parent, "4").await;
    let (kid, kid_id) = broker.secret_child(&code, "0.5").await;
    let (own_shop, _) = broker.public_child(&code).await;
    let (buyer, _) = broker.issue("5", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let (stranger, _) = broker.issue("1", "USD").await;
    broker
        .put("/v1/me/pin", Auth::Code(&code), json!({ "pin": "2468" }))
        .await
        .expect(200);

    // PIN_FAILURES_MAX wrong PINs in a row, from as many addresses: the last one locks the code.
    for n in 1..PIN_FAILURES_MAX {
        Peer::of(&broker, &format!("127.0.4.{n}"))
            .pay_with(&code, &shop, "0.1", &pin("1111"))
            .await
            .refused(403, "pin_invalid");
    }
    assert_eq!(me(&broker, &code).await["status"], "active");
    Peer::of(&broker, "127.0.4.200")
        .pay_with(&code, &shop, "0.1", &pin("1111"))
        .await
        .refused(423, "code_locked");
    let shown = me(&broker, &code).await;
    assert_eq!(shown["status"], "locked");
    assert_eq!(shown["pin_set"], true);
    let listed = broker.get("/v1/me/children", Auth::Code(&parent)).await.expect(200);
    let entry = listed.body["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == code_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["status"], "locked", "the parent sees it locked");

    // Locked: no spending and no change, even with the right PIN (a wrong one is not even checked).
    let right = pin("2468");
    pay_with(&broker, &code, &shop, "0.1", json!({}), &right)
        .await
        .refused(423, "code_locked");
    pay_with(&broker, &code, &shop, "0.1", json!({}), &pin("1111"))
        .await
        .refused(423, "code_locked");
    let changes = [
        (
            Method::POST,
            "/v1/me/children".to_owned(),
            Some(json!({ "amount": "0.1" })),
        ),
        (
            Method::POST,
            format!("/v1/me/children/{kid_id}/fund"),
            Some(json!({ "amount": "0.1" })),
        ),
        (
            Method::POST,
            format!("/v1/me/children/{kid_id}/cancel"),
            Some(json!({})),
        ),
        (Method::PUT, "/v1/me/profile".to_owned(), Some(json!({ "name": "Ann" }))),
        (Method::PUT, "/v1/me/pin".to_owned(), Some(json!({ "pin": "1111" }))),
        (Method::DELETE, "/v1/me/pin".to_owned(), None),
        (Method::POST, "/v1/me/rekey".to_owned(), Some(json!({}))),
        (
            Method::POST,
            format!("/v1/me/children/{code_id}/unlock"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in changes {
        broker
            .call_with(method, &path, Auth::Code(&code), body, &right)
            .await
            .refused(423, "code_locked");
    }
    assert_eq!(
        balances(&broker, &[&code, &kid, &seller]).await,
        ["3.50", "0.50", "1.00"]
    );

    // Receiving into its public codes keeps working, and its child, which has no PIN, still pays.
    broker.pay(&buyer, &own_shop, "0.3").await.expect(201);
    broker.pay(&kid, &shop, "0.2").await.expect(201);
    assert_eq!(
        balances(&broker, &[&code, &kid, &buyer, &seller]).await,
        ["3.80", "0.30", "4.70", "1.20"]
    );

    // Only an ancestor unlocks it: a stranger or its own child finds no such child.
    for other in [&stranger, &kid] {
        broker
            .post(
                &format!("/v1/me/children/{code_id}/unlock"),
                Auth::Code(other),
                json!({}),
            )
            .await
            .refused(404, "not_found");
    }
    let unlocked = broker
        .post(
            &format!("/v1/me/children/{code_id}/unlock"),
            Auth::Code(&parent),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(unlocked.body["status"], "active");
    assert_eq!(me(&broker, &code).await["status"], "active");

    // The right PIN works again, and the count of wrong ones starts from zero.
    pay_with(&broker, &code, &shop, "0.1", json!({}), &right)
        .await
        .expect(201);
    for n in 1..PIN_FAILURES_MAX {
        Peer::of(&broker, &format!("127.0.5.{n}"))
            .pay_with(&code, &shop, "0.1", &pin("1111"))
            .await
            .refused(403, "pin_invalid");
    }
    assert_eq!(me(&broker, &code).await["status"], "active");
    assert_eq!(balances(&broker, &[&code, &seller]).await, ["3.70", "1.30"]);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_right_pin_resets_the_count_of_wrong_pins_and_a_forgotten_pin_is_the_parents_to_reclaim() {
    let broker = TestBroker::start().await;
    let (parent, _) = broker.issue("10", "USD").await;
    let (code, code_id) = broker.secret_child(&parent, "5").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    broker
        .put("/v1/me/pin", Auth::Code(&code), json!({ "pin": "2468" }))
        .await
        .expect(200);
    let mut guessers = (1..).map(|n| Peer::of(&broker, &format!("127.0.6.{n}")));
    for _round in 0..2 {
        for _ in 1..PIN_FAILURES_MAX {
            guessers
                .next()
                .unwrap()
                .pay_with(&code, &shop, "0.1", &pin("1111"))
                .await
                .refused(403, "pin_invalid");
        }
        pay_with(&broker, &code, &shop, "0.1", json!({}), &pin("2468"))
            .await
            .expect(201);
    }
    assert_eq!(me(&broker, &code).await["status"], "active");
    // PIN_FAILURES_MAX in a row do lock it.
    for n in 1..=PIN_FAILURES_MAX {
        let reply = guessers
            .next()
            .unwrap()
            .pay_with(&code, &shop, "0.1", &pin("1111"))
            .await;
        if n < PIN_FAILURES_MAX {
            reply.refused(403, "pin_invalid");
        } else {
            reply.refused(423, "code_locked");
        }
    }
    assert_eq!(balances(&broker, &[&code, &seller]).await, ["4.80", "1.20"]);
    // Its holder forgot the PIN: the parent cancels the code and takes its value back.
    let cancelled = broker
        .post(
            &format!("/v1/me/children/{code_id}/cancel"),
            Auth::Code(&parent),
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(cancelled.body["reclaimed"]["amount"], "4.80");
    assert_eq!(balances(&broker, &[&parent, &seller]).await, ["9.80", "1.20"]);
    broker.assert_ledger_ok().await;
}

/// The right PIN breaks a run of wrong ones even when the request it came with is refused for
/// another reason (here: not enough money). Its holder proved the PIN; the count is of
/// *consecutive* wrong PINs.
#[tokio::test]
async fn a_right_pin_resets_the_count_even_when_its_request_is_refused_for_another_reason() {
    let broker = TestBroker::start().await;
    let (code, _) = broker.issue("1", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    broker
        .put("/v1/me/pin", Auth::Code(&code), json!({ "pin": "2468" }))
        .await
        .expect(200);
    for n in 1..PIN_FAILURES_MAX {
        Peer::of(&broker, &format!("127.0.7.{n}"))
            .pay_with(&code, &shop, "0.1", &pin("1111"))
            .await
            .refused(403, "pin_invalid");
    }
    pay_with(&broker, &code, &shop, "5", json!({}), &pin("2468"))
        .await
        .refused(402, "insufficient_funds");
    Peer::of(&broker, "127.0.7.200")
        .pay_with(&code, &shop, "0.1", &pin("1111"))
        .await
        .refused(403, "pin_invalid");
    assert_eq!(me(&broker, &code).await["status"], "active");
    assert_eq!(balances(&broker, &[&code, &seller]).await, ["1.00", "1.00"]);
    broker.assert_ledger_ok().await;
}

// ---------------------------------------------------------------------------------------------
// Restrictions

#[tokio::test]
async fn each_restriction_refuses_a_payment_that_breaks_it_naming_the_rule_and_moving_nothing() {
    let broker = TestBroker::start().await;
    let (root, _) = broker.issue("20", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    // What a payment is for is the seller's word: each shop declares what it sells.
    let (shop, _) = broker
        .public_child_selling(&seller, json!({ "categories": ["music"], "items": ["novel", "song"] }))
        .await;
    let (other_shop, _) = broker
        .public_child_selling(&seller, json!({ "categories": ["games"] }))
        .await;
    let child =
        |restrictions: Value| child_with(&broker, &root, json!({ "amount": "2", "restrictions": restrictions }));
    let (books, _, _) = child(json!({ "categories": ["books", "music"] })).await;
    let (one_shop, _, _) = child(json!({ "payees": [shop.to_lowercase()] })).await;
    let (novels, _, _) = child(json!({ "items": ["novel"] })).await;
    let (small, _, created) = child(json!({ "amount_per_use_max": "0.5" })).await;
    assert_eq!(
        created["restrictions"]["amount_per_use_max"],
        json!({ "amount": "0.50", "currency": "USD" })
    );
    let (twice, _, created) = child(json!({ "uses_max": 2 })).await;
    assert_eq!(created["restrictions"]["uses_max"], 2);
    assert_eq!(created["restrictions"]["uses_left"], 2);
    let all = [&root, &books, &one_shop, &novels, &small, &twice, &seller];
    let unchanged = balances(&broker, &all).await;
    assert_eq!(unchanged, ["10.00", "2.00", "2.00", "2.00", "2.00", "2.00", "1.00"]);

    let refusals = [
        // The games shop sells nothing a books-and-music code may pay for, and naming music
        // (which it does not sell) does not make it so.
        (&books, &other_shop, "0.1", json!({}), "categories"),
        (&books, &other_shop, "0.1", json!({ "category": "music" }), "categories"),
        (&books, &shop, "0.1", json!({ "category": "games" }), "categories"),
        (&one_shop, &other_shop, "0.1", json!({}), "payees"),
        (&novels, &shop, "0.1", json!({ "item": "poem" }), "items"),
        (&novels, &other_shop, "0.1", json!({}), "items"),
        (&small, &shop, "0.500001", json!({}), "amount_per_use_max"),
    ];
    for (code, payee, amount, extra, rule) in &refusals {
        assert_restricted(pay_with(&broker, code, payee, amount, extra.clone(), &[]).await, rule);
    }
    assert_eq!(balances(&broker, &all).await, unchanged, "refusals move nothing");

    let paid = broker.pay(&books, &shop, "0.1").await.expect(201);
    assert_eq!(paid.body["receipt"]["category"], "music", "stamped from the shop");
    broker.pay(&one_shop, &shop, "0.2").await.expect(201);
    let paid = broker.pay(&novels, &shop, "0.3").await.expect(201);
    assert_eq!(
        paid.body["receipt"]["item"], "novel",
        "the one item the code may buy there"
    );
    broker.pay(&small, &shop, "0.5").await.expect(201);
    broker.pay(&twice, &shop, "0.01").await.expect(201);
    assert_eq!(me(&broker, &twice).await["restrictions"]["uses_left"], 1);
    broker.pay(&twice, &other_shop, "0.01").await.expect(201);
    assert_eq!(me(&broker, &twice).await["restrictions"]["uses_left"], 0);
    assert_restricted(broker.pay(&twice, &shop, "0.01").await, "uses_max");
    assert_eq!(
        balances(&broker, &all).await,
        ["10.00", "1.90", "1.80", "1.70", "1.50", "1.98", "2.12"]
    );

    // Rules that make no sense are bad requests.
    for bad in [
        json!({ "uses_max": 0 }),
        json!({ "spend_per_period": { "amount": "1", "period_seconds": 0 } }),
        json!({ "spend_per_period": { "amount": "0", "period_seconds": 60 } }),
        json!({ "payees": ["not a code"] }),
        json!({ "payees": [root] }),
        json!({ "categories": [""] }),
        json!({ "colours": ["red"] }),
    ] {
        broker
            .post(
                "/v1/me/children",
                Auth::Code(&root),
                json!({ "amount": "1", "restrictions": bad }),
            )
            .await
            .refused(400, "invalid_request");
    }
    assert_eq!(broker.balance(&root).await, "10.00");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn spending_per_period_refuses_beyond_the_amount_and_allows_it_again_next_period() {
    let broker = TestBroker::start().await;
    let (root, _) = broker.issue("20", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let (code, _, created) = child_with(
        &broker,
        &root,
        json!({ "amount": "10", "restrictions": { "spend_per_period": { "amount": "1", "period_seconds": 3600 } } }),
    )
    .await;
    assert_eq!(
        created["restrictions"]["spend_per_period"],
        json!({ "amount": { "amount": "1.00", "currency": "USD" }, "period_seconds": 3600 })
    );
    assert_eq!(created["restrictions"]["spend_left"]["amount"], "1.00");

    broker.pay(&code, &shop, "0.6").await.expect(201);
    assert_eq!(me(&broker, &code).await["restrictions"]["spend_left"]["amount"], "0.40");
    assert_restricted(broker.pay(&code, &shop, "0.400001").await, "spend_per_period");
    broker.pay(&code, &shop, "0.4").await.expect(201);
    assert_eq!(me(&broker, &code).await["restrictions"]["spend_left"]["amount"], "0.00");
    assert_restricted(broker.pay(&code, &shop, "0.000001").await, "spend_per_period");
    assert_eq!(balances(&broker, &[&code, &seller]).await, ["9.00", "2.00"]);

    // Half a period later: still the same period.
    advance_clock(&broker, 1800).await;
    assert_restricted(broker.pay(&code, &shop, "0.000001").await, "spend_per_period");
    // The next period allows the amount again, and no more.
    advance_clock(&broker, 1800).await;
    assert_eq!(me(&broker, &code).await["restrictions"]["spend_left"]["amount"], "1.00");
    broker.pay(&code, &shop, "1").await.expect(201);
    assert_restricted(broker.pay(&code, &shop, "0.000001").await, "spend_per_period");
    assert_eq!(balances(&broker, &[&code, &seller]).await, ["8.00", "3.00"]);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn restrictions_only_narrow_down_a_tree() {
    let broker = TestBroker::start().await;
    let (root, _) = broker.issue("20", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let sells = |categories: &[&str], items: &[&str]| json!({ "categories": categories, "items": items });
    let (a, _) = broker
        .public_child_selling(&seller, sells(&["books", "games"], &["novel"]))
        .await;
    let (b, _) = broker
        .public_child_selling(&seller, sells(&["music", "books"], &["song", "poem"]))
        .await;
    let (x, _) = broker
        .public_child_selling(&seller, sells(&["books"], &["novel"]))
        .await;
    let (parent, _, _) = child_with(
        &broker,
        &root,
        json!({ "amount": "10", "restrictions": {
            "categories": ["books", "music"], "payees": [a, b],
            "items": ["novel", "poem", "song"], "amount_per_use_max": "1" } }),
    )
    .await;
    let parent_rules = me(&broker, &parent).await["restrictions"].clone();
    assert_eq!(
        parent_rules,
        json!({ "categories": ["books", "music"], "payees": [a, b], "items": ["novel", "poem", "song"],
                "amount_per_use_max": { "amount": "1.00", "currency": "USD" } })
    );

    // A child asking for wider rules than its parent gets the intersection (documented choice).
    let (narrow, narrow_id, created) = child_with(
        &broker,
        &parent,
        json!({ "amount": "2", "restrictions": {
            "categories": ["music", "games"], "payees": [b, x],
            "items": ["song", "film"], "amount_per_use_max": "5" } }),
    )
    .await;
    let effective = json!({ "categories": ["music"], "payees": [b], "items": ["song"],
                            "amount_per_use_max": { "amount": "1.00", "currency": "USD" } });
    assert_eq!(created["restrictions"], effective);
    assert_eq!(me(&broker, &narrow).await["restrictions"], effective);
    let listed = broker.get("/v1/me/children", Auth::Code(&parent)).await.expect(200);
    let entry = listed.body["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == narrow_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        entry["restrictions"], effective,
        "the children list shows the effective rules"
    );

    // A child naming no rule inherits its parent's.
    let (plain, _, created) = child_with(&broker, &parent, json!({ "amount": "1" })).await;
    assert_eq!(created["restrictions"], parent_rules);

    // An empty intersection is refused, and nothing moves.
    let before = balances(&broker, &[&parent]).await;
    let children_before = me(&broker, &parent).await["children_count"].clone();
    for (asked, rule) in [
        (json!({ "categories": ["games"] }), "categories"),
        (json!({ "payees": [x] }), "payees"),
        (json!({ "items": ["film"] }), "items"),
    ] {
        assert_restricted(
            broker
                .post(
                    "/v1/me/children",
                    Auth::Code(&parent),
                    json!({ "amount": "1", "restrictions": asked }),
                )
                .await,
            rule,
        );
    }
    assert_eq!(balances(&broker, &[&parent]).await, before);
    assert_eq!(me(&broker, &parent).await["children_count"], children_before);

    // The narrowed child may do only what both allow.
    let rules = json!({ "category": "music", "item": "song" });
    pay_with(&broker, &narrow, &b, "1", rules.clone(), &[])
        .await
        .expect(201);
    let refusals = [
        (&narrow, &b, "1.000001", rules.clone(), "amount_per_use_max"),
        (&narrow, &a, "0.1", rules.clone(), "payees"),
        (
            &narrow,
            &b,
            "0.1",
            json!({ "category": "books", "item": "song" }),
            "categories",
        ),
        (
            &narrow,
            &b,
            "0.1",
            json!({ "category": "music", "item": "poem" }),
            "item",
        ),
        (&plain, &a, "0.1", json!({ "item": "film" }), "items"),
        (
            &plain,
            &a,
            "0.1",
            json!({ "category": "games", "item": "novel" }),
            "categories",
        ),
        (
            &plain,
            &x,
            "0.1",
            json!({ "category": "books", "item": "novel" }),
            "payees",
        ),
        (
            &plain,
            &a,
            "1.5",
            json!({ "category": "books", "item": "novel" }),
            "amount_per_use_max",
        ),
    ];
    for (code, payee, amount, extra, rule) in &refusals {
        assert_restricted(pay_with(&broker, code, payee, amount, extra.clone(), &[]).await, rule);
    }
    pay_with(
        &broker,
        &plain,
        &a,
        "0.5",
        json!({ "category": "books", "item": "novel" }),
        &[],
    )
    .await
    .expect(201);

    // A grandchild that names no rule is as restricted as its parent.
    let (grandchild, _, created) = child_with(&broker, &narrow, json!({ "amount": "0.5" })).await;
    assert_eq!(created["restrictions"], effective);
    assert_restricted(broker.pay(&grandchild, &a, "0.1").await, "payees");
    assert_restricted(
        pay_with(&broker, &grandchild, &b, "0.1", json!({ "category": "books" }), &[]).await,
        "categories",
    );
    pay_with(&broker, &grandchild, &b, "0.25", rules, &[]).await.expect(201);

    assert_eq!(
        balances(&broker, &[&root, &parent, &narrow, &plain, &grandchild, &seller]).await,
        ["10.00", "7.00", "0.50", "0.50", "0.25", "2.75"]
    );
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn usage_rules_of_an_ancestor_count_the_payments_of_its_descendants() {
    let broker = TestBroker::start().await;
    let (root, _) = broker.issue("20", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let (limited, _, created) = child_with(
        &broker,
        &root,
        json!({ "amount": "10", "restrictions": {
            "uses_max": 3, "spend_per_period": { "amount": "2", "period_seconds": 3600 } } }),
    )
    .await;
    assert_eq!(created["restrictions"]["uses_left"], 3);
    assert_eq!(created["restrictions"]["spend_left"]["amount"], "2.00");
    // A child with no rule of its own, and one with wider rules of its own.
    let (plain, plain_id, created) = child_with(&broker, &limited, json!({ "amount": "3" })).await;
    assert_eq!(created["restrictions"]["uses_left"], 3, "the ancestor's rule shows");
    assert_eq!(created["restrictions"]["spend_left"]["amount"], "2.00");
    let (wide, wide_id, created) = child_with(
        &broker,
        &limited,
        json!({ "amount": "3", "restrictions": {
            "uses_max": 10, "spend_per_period": { "amount": "5", "period_seconds": 60 } } }),
    )
    .await;
    assert_eq!(
        created["restrictions"]["uses_left"], 3,
        "the tighter of its own and its ancestor's"
    );
    assert_eq!(created["restrictions"]["spend_left"]["amount"], "2.00");

    broker.pay(&plain, &shop, "0.5").await.expect(201);
    broker.pay(&plain, &shop, "0.75").await.expect(201);
    for code in [&limited, &plain, &wide] {
        let rules = me(&broker, code).await["restrictions"].clone();
        assert_eq!(rules["uses_left"], 1, "{rules}");
        assert_eq!(rules["spend_left"]["amount"], "0.75", "{rules}");
    }
    let listed = broker.get("/v1/me/children", Auth::Code(&limited)).await.expect(200);
    for child in listed.body["children"].as_array().unwrap() {
        assert!(child["id"] == plain_id.as_str() || child["id"] == wide_id.as_str());
        assert_eq!(child["restrictions"]["uses_left"], 1, "{child}");
        assert_eq!(child["restrictions"]["spend_left"]["amount"], "0.75", "{child}");
    }

    // The ancestor's spending limit refuses a descendant with a wider one of its own.
    let all = [&limited, &plain, &wide, &seller];
    let before = balances(&broker, &all).await;
    assert_restricted(broker.pay(&wide, &shop, "0.76").await, "spend_per_period");
    assert_eq!(balances(&broker, &all).await, before);
    broker.pay(&wide, &shop, "0.75").await.expect(201);
    // Three uses are spent across the line: nobody in it may pay again.
    for code in [&limited, &plain, &wide] {
        assert_restricted(broker.pay(code, &shop, "0.01").await, "uses_max");
    }
    let rules = me(&broker, &wide).await["restrictions"].clone();
    assert_eq!(rules["uses_max"], 10);
    assert_eq!(rules["uses_left"], 0);
    assert_eq!(rules["spend_left"]["amount"], "0.00");
    // A new period restores spending, not uses.
    advance_clock(&broker, 3600).await;
    let rules = me(&broker, &plain).await["restrictions"].clone();
    assert_eq!(rules["spend_left"]["amount"], "2.00");
    assert_eq!(rules["uses_left"], 0);
    assert_restricted(broker.pay(&plain, &shop, "0.01").await, "uses_max");
    assert_eq!(balances(&broker, &all).await, ["4.00", "1.75", "2.25", "3.00"]);
    broker.assert_ledger_ok().await;
}

// ---------------------------------------------------------------------------------------------
// Expiry

#[tokio::test]
async fn at_expiry_a_child_and_its_descendants_stop_and_their_value_reverts_once() {
    let broker = TestBroker::start().await;
    let (parent, parent_id) = broker.issue("10", "USD").await;
    let (buyer, _) = broker.issue("1", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let now = broker_now(&broker).await;

    // The child expires at a given time; its child asks for a later expiry and gets its parent's;
    // a great-grandchild expires earlier than both.
    let expires_at = now.plus_seconds(3600).unwrap();
    let (child, child_id, created) = child_with(
        &broker,
        &parent,
        json!({ "amount": "4", "expires_at": expires_at.to_rfc3339() }),
    )
    .await;
    assert_eq!(at(&created["expires_at"]), expires_at);
    broker.pay(&child, &shop, "0.5").await.expect(201);
    let (grandchild, grandchild_id, created) =
        child_with(&broker, &child, json!({ "amount": "1", "expires_in_seconds": 7200 })).await;
    assert_eq!(
        at(&created["expires_at"]),
        expires_at,
        "a child never outlives its parent"
    );
    let early = now.plus_seconds(1800).unwrap();
    let (great, great_id, _) = child_with(
        &broker,
        &grandchild,
        json!({ "amount": "0.25", "expires_at": early.to_rfc3339() }),
    )
    .await;
    let (grand_shop, _) = broker.public_child(&grandchild).await;
    broker.pay(&buyer, &grand_shop, "0.1").await.expect(201);
    assert_eq!(
        balances(&broker, &[&parent, &child, &grandchild, &great]).await,
        ["6.00", "2.50", "0.85", "0.25"]
    );

    // Half an hour on, the great-grandchild has expired; its value goes to its own parent.
    advance_clock(&broker, 1801).await;
    broker.pay(&great, &shop, "0.1").await.refused(410, "expired");
    assert_eq!(me(&broker, &great).await["status"], "expired");
    wait_for_balance(&broker, &grandchild, "1.10").await;
    assert_eq!(
        entries_of_kind(&broker, &grandchild, "revert").await,
        [("0.25".to_owned(), great_id.clone())]
    );
    broker.pay(&grandchild, &shop, "0.1").await.expect(201);

    // An hour on, the child and everything below it stop at once, before any sweep.
    advance_clock(&broker, 1800).await;
    for code in [&child, &grandchild] {
        broker.pay(code, &shop, "0.01").await.refused(410, "expired");
        broker
            .post("/v1/me/children", Auth::Code(code), json!({ "amount": "0.01" }))
            .await
            .refused(410, "expired");
        broker
            .post("/v1/me/children", Auth::Code(code), json!({ "kind": "public" }))
            .await
            .refused(410, "expired");
        assert_eq!(me(&broker, code).await["status"], "expired");
    }
    broker
        .post(
            &format!("/v1/me/children/{grandchild_id}/fund"),
            Auth::Code(&parent),
            json!({ "amount": "0.01" }),
        )
        .await
        .refused(410, "expired");
    broker.pay(&buyer, &grand_shop, "0.1").await.refused(404, "not_found");
    assert_eq!(me(&broker, &parent).await["status"], "active");

    // The sweep returns what they held to the parent, as recorded reverts.
    wait_for_balance(&broker, &parent, "9.50").await;
    // Exactly once: two more sweeps change nothing.
    broker.wait_for_sweeps(2).await;
    assert_eq!(
        balances(&broker, &[&parent, &child, &grandchild, &great, &buyer, &seller]).await,
        ["9.50", "0.00", "0.00", "0.00", "0.90", "1.60"]
    );
    let mut reverts = entries_of_kind(&broker, &parent, "revert").await;
    reverts.sort();
    assert_eq!(
        reverts,
        [
            ("1.00".to_owned(), grandchild_id.clone()),
            ("2.50".to_owned(), child_id.clone())
        ]
    );
    let listed = broker.get("/v1/me/children", Auth::Code(&parent)).await.expect(200);
    assert_eq!(listed.body["children"][0]["status"], "expired");
    assert_eq!(me(&broker, &child).await["parent_id"], parent_id.as_str());
    let check = broker.assert_ledger_ok().await;
    // 3 issues, 3 funds, 3 payments, 3 reverts: nothing twice.
    assert_eq!(check["currencies"][0]["transfers"], 12, "{check}");
}

#[tokio::test]
async fn an_expiry_in_the_past_or_beyond_the_maximum_is_refused() {
    let broker = TestBroker::start().await;
    let (parent, _) = broker.issue("10", "USD").await;
    // Run the broker's clock ahead, so "the past" is the broker's, not the system's.
    advance_clock(&broker, 7 * 24 * 3600).await;
    let now = broker_now(&broker).await;
    let asking = |expiry: Value| {
        let mut body = json!({ "amount": "1" });
        for (field, value) in expiry.as_object().unwrap() {
            body[field] = value.clone();
        }
        broker.post("/v1/me/children", Auth::Code(&parent), body)
    };
    // What breaks the document is a 400; an expiry that only the clock rules out is a conflict.
    asking(json!({ "expires_in_seconds": 0 }))
        .await
        .refused(400, "invalid_request");
    asking(json!({ "expires_in_seconds": EXPIRY_SECONDS_MAX + 60 }))
        .await
        .refused(400, "limit_exceeded");
    for past in [
        json!({ "expires_at": now.plus_seconds(-1).unwrap().to_rfc3339() }),
        json!({ "expires_at": now.plus_seconds(-3600).unwrap().to_rfc3339() }),
        json!({ "expires_at": now.plus_seconds(EXPIRY_SECONDS_MAX + 60).unwrap().to_rfc3339() }),
    ] {
        asking(past).await.refused(409, "conflict");
    }
    for malformed in [
        json!({ "expires_in_seconds": -1 }),
        json!({ "expires_in_seconds": i64::MIN }),
        json!({ "expires_in_seconds": "3600" }),
        json!({ "expires_at": "2030-01-01" }),
        json!({ "expires_in_seconds": 3600, "expires_at": now.plus_seconds(3600).unwrap().to_rfc3339() }),
    ] {
        asking(malformed).await.refused(400, "invalid_request");
    }
    assert_eq!(broker.balance(&parent).await, "10.00", "refusals move nothing");
    assert_eq!(me(&broker, &parent).await["children_count"], 0);

    // The maximum itself is allowed, either way of saying it.
    let created = asking(json!({ "expires_in_seconds": EXPIRY_SECONDS_MAX }))
        .await
        .expect(201);
    let expires = at(&created.body["expires_at"]);
    assert!(expires > now.plus_seconds(EXPIRY_SECONDS_MAX - 60).unwrap());
    let last = now.plus_seconds(EXPIRY_SECONDS_MAX - 60).unwrap();
    let created = asking(json!({ "expires_at": last.to_rfc3339() })).await.expect(201);
    assert_eq!(at(&created.body["expires_at"]), last);
    assert_eq!(broker.balance(&parent).await, "8.00");
    broker.assert_ledger_ok().await;
}

// ---------------------------------------------------------------------------------------------
// Rekey

#[tokio::test]
async fn rekey_replaces_the_secret_and_keeps_id_balance_tree_history_and_pin() {
    let broker = TestBroker::start().await;
    let (root, _) = broker.issue("10", "USD").await;
    let (old, id) = broker.secret_child(&root, "3").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let (buyer, _) = broker.issue("1", "USD").await;
    let (kid, kid_id) = broker.secret_child(&old, "1").await;
    let (own_shop, _) = broker.public_child(&old).await;
    broker.pay(&buyer, &own_shop, "0.5").await.expect(201);
    broker.pay(&old, &shop, "0.25").await.expect(201);
    broker
        .put("/v1/me/pin", Auth::Code(&old), json!({ "pin": "2468" }))
        .await
        .expect(200);
    let before = me(&broker, &old).await;
    let history = broker.get("/v1/me/transactions", Auth::Code(&old)).await.expect(200);

    // Rekey is a change: it needs the PIN.
    broker
        .post("/v1/me/rekey", Auth::Code(&old), json!({}))
        .await
        .refused(403, "pin_required");
    Peer::of(&broker, "127.0.8.1")
        .call(
            Method::POST,
            "/v1/me/rekey",
            Auth::Code(&old),
            Some(json!({})),
            &pin("1111"),
        )
        .await
        .refused(403, "pin_invalid");
    let rekeyed = broker
        .call_with(
            Method::POST,
            "/v1/me/rekey",
            Auth::Code(&old),
            Some(json!({})),
            &pin("2468"),
        )
        .await
        .expect(200);
    let new = rekeyed.body["code"].as_str().unwrap().to_owned();
    assert_eq!(new.len(), 9, "a secret code is shown as XXXX-XXXX");
    assert_ne!(new, old);
    assert_eq!(rekeyed.body["id"], id.as_str());

    // The old secret stops at once, for everything (tried from elsewhere: each try is a failure).
    let elsewhere = Peer::of(&broker, "127.0.8.2");
    elsewhere
        .get("/v1/me", Auth::Code(&old))
        .await
        .refused(401, "invalid_code");
    elsewhere
        .pay_with(&old, &shop, "0.1", &pin("2468"))
        .await
        .refused(401, "invalid_code");
    elsewhere
        .call(
            Method::POST,
            "/v1/me/children",
            Auth::Code(&old),
            Some(json!({ "amount": "0.1" })),
            &pin("2468"),
        )
        .await
        .refused(401, "invalid_code");

    // The new one is the same code: id, balance, children, history and PIN.
    let after = me(&broker, &new).await;
    for field in [
        "id",
        "balance",
        "parent_id",
        "children_count",
        "created_at",
        "pin_set",
        "status",
    ] {
        assert_eq!(after[field], before[field], "{field} stays");
    }
    assert_eq!(after["balance"]["amount"], "2.25");
    assert_eq!(after["pin_set"], true);
    let history_after = broker.get("/v1/me/transactions", Auth::Code(&new)).await.expect(200);
    assert_eq!(history_after.body["transactions"], history.body["transactions"]);
    assert_eq!(me(&broker, &kid).await["parent_id"], id.as_str());
    broker.pay(&new, &shop, "0.1").await.refused(403, "pin_required");
    pay_with(&broker, &new, &shop, "0.1", json!({}), &pin("2468"))
        .await
        .expect(201);
    broker.pay(&buyer, &own_shop, "0.2").await.expect(201);
    broker
        .call_with(
            Method::POST,
            &format!("/v1/me/children/{kid_id}/fund"),
            Auth::Code(&new),
            Some(json!({ "amount": "0.5" })),
            &pin("2468"),
        )
        .await
        .expect(200);
    assert_eq!(balances(&broker, &[&new, &kid]).await, ["1.85", "1.50"]);

    // A retried rekey (same Idempotency-Key) answers the same new secret; it does not rekey twice.
    let headers = [("Smartcode-Pin", "2468"), ("Idempotency-Key", "rekey-1")];
    let first = broker
        .call_with(
            Method::POST,
            "/v1/me/rekey",
            Auth::Code(&new),
            Some(json!({})),
            &headers,
        )
        .await
        .expect(200);
    let again = broker
        .call_with(
            Method::POST,
            "/v1/me/rekey",
            Auth::Code(&new),
            Some(json!({})),
            &headers,
        )
        .await
        .expect(200);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(again.body["code"], first.body["code"]);
    let newest = first.body["code"].as_str().unwrap().to_owned();
    assert_eq!(me(&broker, &newest).await["id"], id.as_str());
    broker
        .get("/v1/me", Auth::Code(&new))
        .await
        .refused(401, "invalid_code");

    // Its parent still knows it by id: the children list, and a cancel that reclaims its value.
    let listed = broker.get("/v1/me/children", Auth::Code(&root)).await.expect(200);
    assert_eq!(listed.body["children"][0]["id"], id.as_str());
    assert_eq!(listed.body["children"][0]["balance"]["amount"], "1.85");
    let cancelled = broker
        .post(&format!("/v1/me/children/{id}/cancel"), Auth::Code(&root), json!({}))
        .await
        .expect(200);
    assert_eq!(cancelled.body["reclaimed"]["amount"], "3.35");
    broker
        .get("/v1/me", Auth::Code(&newest))
        .await
        .refused(401, "invalid_code");
    assert_eq!(
        balances(&broker, &[&root, &buyer, &seller]).await,
        ["10.35", "0.30", "1.35"]
    );
    broker.assert_ledger_ok().await;
}

/// A retried rekey must not hand the new secret to whoever holds only the old code: the code has a
/// PIN, so a replay needs it as the rekey did. (Rekey exists for codes that may have leaked, and
/// its retry key travels with the request.)
#[tokio::test]
async fn a_replayed_rekey_needs_the_pin_like_the_rekey_itself() {
    let broker = TestBroker::start().await;
    let (old, _) = broker.issue("1", "USD").await;
    broker
        .put("/v1/me/pin", Auth::Code(&old), json!({ "pin": "2468" }))
        .await
        .expect(200);
    let rekey = |headers: &'static [(&'static str, &'static str)]| {
        broker.call_with(Method::POST, "/v1/me/rekey", Auth::Code(&old), Some(json!({})), headers)
    };
    let first = rekey(&[("Smartcode-Pin", "2468"), ("Idempotency-Key", "rekey-7")])
        .await
        .expect(200);
    let new = first.body["code"].as_str().unwrap().to_owned();
    // The holder's own retry, with the PIN, gets the same answer.
    let retried = rekey(&[("Smartcode-Pin", "2468"), ("Idempotency-Key", "rekey-7")])
        .await
        .expect(200);
    assert_eq!(retried.body["code"], new.as_str());
    // Without the PIN, the old code must not learn the new one.
    let replay = rekey(&[("Idempotency-Key", "rekey-7")]).await;
    assert!(
        !replay.text.contains(&new),
        "a replay without the PIN revealed the new secret: {} {}",
        replay.status,
        replay.text
    );
    // Without the PIN the key names another request, which runs: the old code no longer works.
    replay.refused(401, "invalid_code");
    assert_eq!(broker.balance(&new).await, "1.00");
    broker.assert_ledger_ok().await;
}

/// A PIN sent with a code that has none is refused, not ignored: otherwise each different PIN named
/// another idempotency slot, and one payment retried with the same key happened once per PIN.
#[tokio::test]
async fn a_pin_sent_with_a_code_that_has_none_is_refused() {
    let broker = TestBroker::start().await;
    let (payer, _) = broker.issue("5", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let body = json!({ "code": payer, "payee": shop, "amount": "1" });
    let pay = |headers: &'static [(&'static str, &'static str)]| {
        broker.call_with(Method::POST, "/v1/payments", Auth::None, Some(body.clone()), headers)
    };
    for pin in [
        &[("Smartcode-Pin", "0000"), ("Idempotency-Key", "pay-once")],
        &[("Smartcode-Pin", "123456789012"), ("Idempotency-Key", "pay-once")],
    ] {
        pay(pin).await.refused(409, "conflict");
    }
    pay(&[("Idempotency-Key", "pay-once")]).await.expect(201);
    pay(&[("Idempotency-Key", "pay-once")]).await.expect(201);
    assert_eq!(broker.balance(&payer).await, "4.00");
    broker.assert_ledger_ok().await;
}

/// An issued code has no parent: when wrong PINs lock it, the operator unlocks it.
#[tokio::test]
async fn the_operator_unlocks_an_issued_code_locked_by_wrong_pins() {
    let broker = TestBroker::start().await;
    let (code, id) = broker.issue("2", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    broker
        .put("/v1/me/pin", Auth::Code(&code), json!({ "pin": "1357" }))
        .await
        .expect(200);
    let pay = |pin: &'static str| {
        let headers: &'static [(&'static str, &'static str)] = match pin {
            "1357" => &[("Smartcode-Pin", "1357")],
            _ => &[("Smartcode-Pin", "0000")],
        };
        broker.call_with(
            Method::POST,
            "/v1/payments",
            Auth::None,
            Some(json!({ "code": code, "payee": shop, "amount": "0.5" })),
            headers,
        )
    };
    let mut locked = false;
    for _ in 0..PIN_FAILURES_MAX {
        locked = pay("0000").await.status == 423;
    }
    assert!(locked, "the last wrong PIN locks the code");
    pay("1357").await.refused(423, "code_locked");
    let path = format!("/v1/admin/codes/{id}/unlock");
    broker
        .post(&path, Auth::Code(&seller), json!({}))
        .await
        .refused(401, "unauthorized");
    broker
        .post("/v1/admin/codes/c_0000000000000000/unlock", Auth::Operator, json!({}))
        .await
        .refused(404, "not_found");
    let unlocked = broker.post(&path, Auth::Operator, json!({})).await.expect(200);
    assert_eq!(unlocked.body["status"], "active");
    pay("1357").await.expect(201);
    assert_eq!(broker.balance(&code).await, "1.50");
    broker.assert_ledger_ok().await;
}

/// An irrevocable child survives its parent's cancel; when it later expires, its value goes to the
/// nearest ancestor still active, never into the cancelled parent's dead account.
#[tokio::test]
async fn an_irrevocable_child_of_a_cancelled_parent_reverts_to_the_nearest_active_ancestor() {
    let broker = TestBroker::start().await;
    let (root, _) = broker.issue("10", "USD").await;
    let middle = broker
        .post("/v1/me/children", Auth::Code(&root), json!({ "amount": "4" }))
        .await
        .expect(201);
    let middle_code = middle.body["code"].as_str().unwrap().to_owned();
    let lasting = broker
        .post(
            "/v1/me/children",
            Auth::Code(&middle_code),
            json!({ "amount": "1.5", "irrevocable": true, "expires_in_seconds": 3600 }),
        )
        .await
        .expect(201);
    let lasting_code = lasting.body["code"].as_str().unwrap().to_owned();
    let path = format!("/v1/me/children/{}/cancel", middle.body["id"].as_str().unwrap());
    let cancelled = broker.post(&path, Auth::Code(&root), json!({})).await.expect(200);
    assert_eq!(
        cancelled.body["reclaimed"]["amount"], "2.50",
        "the irrevocable child keeps its value"
    );
    assert_eq!(broker.balance(&lasting_code).await, "1.50");
    broker
        .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": 3601 }))
        .await
        .expect(200);
    let mut balance = String::new();
    for _ in 0..60 {
        balance = broker.balance(&root).await;
        if balance == "10.00" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(balance, "10.00", "the expired value reached the root");
    broker.assert_ledger_ok().await;
}

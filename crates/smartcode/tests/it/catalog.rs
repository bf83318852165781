//! What a payment is for is the seller's to declare (issue 13, item 2): a public code's categories
//! and items are its owner's, and the broker stamps each payment with them. A payer restricted to
//! music cannot pay a bakery by saying "music" (the bakery attack), and pays a record shop from its
//! merchant page, which has no category field. Through the API, the CLI and the page forms, on both
//! stores (these tests run again on PostgreSQL).

use serde_json::{json, Value};

use crate::cli::Cli;
use crate::forms::Visitor;
use crate::harness::{Auth, Reply, TestBroker};

/// A buyer's child restricted to music, a bakery and a record shop of one seller.
struct Street {
    wallet: String,
    seller: String,
    music_child: String,
    bakery: String,
    records: String,
    records_id: String,
}

async fn street(broker: &TestBroker) -> Street {
    let (wallet, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (bakery, _) = broker
        .public_child_selling(&seller, json!({ "categories": ["food"] }))
        .await;
    let (records, records_id) = broker
        .public_child_selling(
            &seller,
            json!({ "categories": ["music", "books"], "items": ["lp", "single"] }),
        )
        .await;
    let child = broker
        .post(
            "/v1/me/children",
            Auth::Code(&wallet),
            json!({ "amount": "2", "restrictions": { "categories": ["music"] } }),
        )
        .await
        .expect(201);
    Street {
        wallet,
        seller,
        music_child: child.body["code"].as_str().unwrap().to_owned(),
        bakery,
        records,
        records_id,
    }
}

async fn pay(broker: &TestBroker, code: &str, payee: &str, extra: Value) -> Reply {
    let mut body = json!({ "code": code, "payee": payee, "amount": "0.25" });
    for (field, value) in extra.as_object().unwrap() {
        body[field] = value.clone();
    }
    broker.post("/v1/payments", Auth::None, body).await
}

#[tokio::test]
async fn a_child_restricted_to_music_cannot_pay_a_bakery_by_saying_music() {
    let broker = TestBroker::start().await;
    let s = street(&broker).await;
    let before = (broker.balance(&s.music_child).await, broker.balance(&s.seller).await);

    // The bakery attack, over HTTP and from the command line: refused, nothing moves.
    let refused = pay(&broker, &s.music_child, &s.bakery, json!({ "category": "music" }))
        .await
        .refused(403, "restricted");
    let detail = refused.body["detail"].as_str().unwrap();
    assert!(detail.contains("categories") && detail.contains("food"), "{detail}");
    pay(&broker, &s.music_child, &s.bakery, json!({}))
        .await
        .refused(403, "restricted");
    let cli = Cli { broker: &broker };
    let attack = cli.run(
        Some(&s.music_child),
        &["pay", "--payee", &s.bakery, "--amount", "0.25", "--category", "music"],
    );
    assert_eq!(attack.status.code(), Some(1), "the CLI's bakery attack is refused");
    assert!(String::from_utf8_lossy(&attack.stderr).contains("restricted"));
    let after = (broker.balance(&s.music_child).await, broker.balance(&s.seller).await);
    assert_eq!(before, after, "refusals move nothing");

    // The record shop is paid with no category named; the receipt carries the shop's.
    let paid = pay(&broker, &s.music_child, &s.records, json!({})).await.expect(201);
    assert_eq!(paid.body["receipt"]["category"], "music");
    assert_eq!(
        paid.body["receipt"]["item"],
        Value::Null,
        "two items, and no rule: none guessed"
    );
    let bought = cli.json(
        Some(&s.music_child),
        &["pay", "--payee", &s.records, "--amount", "0.5", "--item", "lp"],
    );
    assert_eq!(bought["receipt"]["category"], "music");
    assert_eq!(bought["receipt"]["item"], "lp");
    // Naming what the shop does not sell is refused, even for a payer without rules; a category
    // named for a shop that declares none proves nothing and is dropped.
    pay(&broker, &s.wallet, &s.records, json!({ "item": "cassette" }))
        .await
        .refused(403, "restricted");
    let (plain_shop, _) = broker.public_child(&s.seller).await;
    let dropped = pay(&broker, &s.wallet, &plain_shop, json!({ "category": "music" }))
        .await
        .expect(201);
    assert_eq!(dropped.body["receipt"]["category"], Value::Null);
    pay(&broker, &s.music_child, &plain_shop, json!({ "category": "music" }))
        .await
        .refused(403, "restricted");
    assert_eq!(broker.balance(&s.music_child).await, "1.25");
    assert_eq!(broker.balance(&s.seller).await, "2.00");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_merchant_page_pays_a_shop_whose_categories_fit_the_childs() {
    let broker = TestBroker::start().await;
    let s = street(&broker).await;
    let visitor = Visitor::arrive(&broker).await;
    let paid = visitor
        .post(
            &format!("/p/{}/pay", s.records),
            &[("code", &s.music_child), ("amount", "0.40"), ("nonce", "page-pay")],
            true,
        )
        .await;
    assert_eq!(paid.status(), 200, "the receipt page");
    let page = paid.text().await.unwrap();
    let receipt_id = page
        .split("id=\"receipt-id\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the receipt page shows the receipt id")
        .to_owned();
    let receipt = broker
        .get(&format!("/v1/receipts/{receipt_id}"), Auth::None)
        .await
        .expect(200);
    assert_eq!(receipt.body["receipt"]["category"], "music", "stamped from the shop");
    assert_eq!(broker.balance(&s.music_child).await, "1.60");

    // The shop's page says what it sells and offers its items; the bakery's page refuses the child.
    let shop_page = visitor
        .http
        .get(format!("{}/p/{}", broker.base, s.records))
        .send()
        .await
        .unwrap();
    let shop_page = shop_page.text().await.unwrap();
    assert!(shop_page.contains("music, books"), "the page shows what the shop sells");
    assert!(shop_page.contains("<option value=\"lp\">"), "and offers its items");
    let item_paid = visitor
        .post(
            &format!("/p/{}/pay", s.records),
            &[
                ("code", &s.music_child),
                ("amount", "0.10"),
                ("item", "single"),
                ("nonce", "page-item"),
            ],
            true,
        )
        .await;
    assert_eq!(item_paid.status(), 200);
    let refused = visitor
        .post(
            &format!("/p/{}/pay", s.bakery),
            &[("code", &s.music_child), ("amount", "0.40"), ("nonce", "page-bakery")],
            true,
        )
        .await;
    assert_eq!(refused.status(), 403, "the bakery's page refuses a music-only code");
    assert_eq!(broker.balance(&s.music_child).await, "1.50");
    assert_eq!(broker.balance(&s.seller).await, "1.50");
    let public = broker
        .get(&format!("/v1/public/{}", s.records), Auth::None)
        .await
        .expect(200);
    assert_eq!(
        public.body["catalog"],
        json!({ "categories": ["music", "books"], "items": ["lp", "single"] })
    );
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_nested_public_code_sells_at_most_what_the_one_above_it_sells() {
    let broker = TestBroker::start().await;
    let s = street(&broker).await;
    let under = |catalog: Value| {
        let mut body = json!({ "kind": "public", "under": s.records_id });
        for (field, value) in catalog.as_object().unwrap() {
            body[field] = value.clone();
        }
        broker.post("/v1/me/children", Auth::Code(&s.seller), body)
    };
    under(json!({ "categories": ["food"] })).await.refused(409, "conflict");
    under(json!({ "items": ["lp", "bread"] }))
        .await
        .refused(409, "conflict");
    let counter = under(json!({ "categories": ["books"] })).await.expect(201);
    assert_eq!(counter.body["catalog"]["categories"], json!(["books"]));
    let corner = under(json!({})).await.expect(201);
    let corner_code = corner.body["public_code"].as_str().unwrap().to_owned();
    let corner_id = corner.body["id"].as_str().unwrap().to_owned();
    let public = broker
        .get(&format!("/v1/public/{corner_code}"), Auth::None)
        .await
        .expect(200);
    assert_eq!(
        public.body["catalog"],
        json!({ "categories": ["music", "books"], "items": ["lp", "single"] }),
        "a nested code that declares nothing sells what the one above sells"
    );
    let paid = pay(&broker, &s.music_child, &corner_code, json!({})).await.expect(201);
    assert_eq!(paid.body["receipt"]["category"], "music");

    // Editing its profile keeps the bound; narrowing the code above narrows it too.
    let profile = format!("/v1/me/children/{corner_id}/profile");
    broker
        .put(&profile, Auth::Code(&s.seller), json!({ "categories": ["food"] }))
        .await
        .refused(409, "conflict");
    let records_profile = format!("/v1/me/children/{}/profile", s.records_id);
    broker
        .put(
            &records_profile,
            Auth::Code(&s.seller),
            json!({ "categories": ["books"] }),
        )
        .await
        .expect(200);
    pay(&broker, &s.music_child, &corner_code, json!({}))
        .await
        .refused(403, "restricted");

    // A secret code's own profile sells nothing; a secret child's rules are not a catalog.
    broker
        .put(
            "/v1/me/profile",
            Auth::Code(&s.seller),
            json!({ "categories": ["food"] }),
        )
        .await
        .refused(409, "conflict");
    broker
        .post(
            "/v1/me/children",
            Auth::Code(&s.wallet),
            json!({ "amount": "1", "categories": ["music"] }),
        )
        .await
        .refused(400, "invalid_request");
    broker
        .post(
            "/v1/me/children",
            Auth::Code(&s.seller),
            json!({ "kind": "public", "categories": ["x".repeat(101)] }),
        )
        .await
        .refused(400, "invalid_request");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_seller_declares_what_a_public_code_sells_from_the_control_center_and_the_cli() {
    let mut broker = TestBroker::start().await;
    let s = street(&broker).await;
    let mut visitor = Visitor::arrive(&broker).await;
    visitor.log_in("/enter", &[("code", &s.seller)]).await;
    let made = visitor
        .post(
            "/me/children",
            &[
                ("kind", "public"),
                ("label", "deli"),
                ("name", "The deli"),
                ("categories", "food, drink"),
                ("nonce", "new-deli"),
            ],
            true,
        )
        .await;
    assert!(made.status().is_redirection(), "{}", made.status());
    let children = broker.get("/v1/me/children", Auth::Code(&s.seller)).await.expect(200);
    let deli = children.body["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"] == "deli")
        .expect("the deli was made")
        .clone();
    assert_eq!(deli["catalog"]["categories"], json!(["food", "drink"]));
    let deli_id = deli["id"].as_str().unwrap();
    let center = visitor
        .http
        .get(format!("{}/me", broker.base))
        .header("cookie", &visitor.cookie)
        .send()
        .await
        .unwrap();
    assert!(
        center.text().await.unwrap().contains("value=\"food, drink\""),
        "the edit form shows it"
    );
    let saved = visitor
        .post(
            &format!("/me/children/{deli_id}/profile"),
            &[
                ("name", "The deli"),
                ("categories", "music"),
                ("items", "jazz night"),
                ("nonce", "edit-deli"),
            ],
            true,
        )
        .await;
    assert!(saved.status().is_redirection());
    let deli_code = deli["public_code"].as_str().unwrap();
    let public = broker
        .get(&format!("/v1/public/{deli_code}"), Auth::None)
        .await
        .expect(200);
    assert_eq!(
        public.body["catalog"],
        json!({ "categories": ["music"], "items": ["jazz night"] })
    );
    let paid = pay(&broker, &s.music_child, deli_code, json!({})).await.expect(201);
    assert_eq!(paid.body["receipt"]["item"], "jazz night");

    let cli = Cli { broker: &broker };
    let edited = cli.json(
        Some(&s.seller),
        &[
            "profile",
            "--child",
            deli_id,
            "--name",
            "The deli",
            "--category",
            "food",
        ],
    );
    assert_eq!(edited["catalog"]["categories"], json!(["food"]));
    pay(&broker, &s.music_child, deli_code, json!({}))
        .await
        .refused(403, "restricted");
    broker.assert_ledger_ok().await;

    // What the store keeps, not only what a process remembers: a new process reads it back.
    broker.kill_hard();
    let restarted = TestBroker::start_in(&broker.data).await;
    let public = restarted
        .get(&format!("/v1/public/{deli_code}"), Auth::None)
        .await
        .expect(200);
    assert_eq!(public.body["catalog"], json!({ "categories": ["food"] }));
    pay(&restarted, &s.music_child, deli_code, json!({}))
        .await
        .refused(403, "restricted");
    let paid = pay(&restarted, &s.music_child, &s.records, json!({})).await.expect(201);
    assert_eq!(paid.body["receipt"]["category"], "music");
    restarted.assert_ledger_ok().await;
}

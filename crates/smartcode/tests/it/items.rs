//! Items (issue 17): an artist sells a song from a public code, the broker stores it (or hands a
//! signed token for one kept on the artist's server), a buyer pays and downloads it through a
//! grant bounded in time and fetches. Through the real server on both stores (these tests run
//! again on PostgreSQL); every test that moves money ends with the ledger check.

use serde_json::{json, Value};

use crate::forms::Visitor;
use crate::harness::{Auth, Reply, TestBroker};
use crate::holds::advance;

pub(crate) const SONG: &[u8] = b"ID3\x04\x00 a song of twenty cents, in bytes \x00\x01\x02\xff";

/// An artist with a public code, and a buyer with 5 USD.
pub(crate) struct Stall {
    pub(crate) artist: String,
    pub(crate) shop: String,
    pub(crate) buyer: String,
}

pub(crate) async fn stall(broker: &TestBroker) -> Stall {
    let (artist, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&artist).await;
    let (buyer, _) = broker.issue("5", "USD").await;
    Stall { artist, shop, buyer }
}

async fn create(broker: &TestBroker, stall: &Stall, extra: Value) -> Reply {
    let mut body = json!({ "title": "A song", "price": "0.20", "public_code": stall.shop });
    for (field, value) in extra.as_object().unwrap() {
        body[field] = value.clone();
    }
    broker.post("/v1/me/items", Auth::Code(&stall.artist), body).await
}

async fn item_with(broker: &TestBroker, stall: &Stall, extra: Value) -> String {
    let made = create(broker, stall, extra).await.expect(201);
    made.body["item"]["id"].as_str().unwrap().to_owned()
}

/// Uploads raw bytes as the artist (not JSON, so straight through reqwest).
async fn upload(broker: &TestBroker, code: &str, id: &str, bytes: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .put(format!("{}/v1/me/items/{id}/content", broker.base))
        .header("authorization", format!("Code {code}"))
        .header("content-type", "audio/mpeg")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

pub(crate) async fn song(broker: &TestBroker, stall: &Stall) -> String {
    let id = item_with(broker, stall, json!({ "description": "three minutes" })).await;
    let stored = upload(broker, &stall.artist, &id, SONG.to_vec()).await;
    assert_eq!(stored.status(), 200);
    id
}

async fn buy(broker: &TestBroker, id: &str, code: &str, key: &str) -> Reply {
    broker
        .call_with(
            reqwest::Method::POST,
            &format!("/v1/items/{id}/purchase"),
            Auth::None,
            Some(json!({ "code": code })),
            &[("Idempotency-Key", key)],
        )
        .await
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn fetch(broker: &TestBroker, path: &str) -> reqwest::Response {
    no_redirects()
        .get(format!("{}{path}", broker.base))
        .send()
        .await
        .unwrap()
}

async fn refused_fetch(broker: &TestBroker, path: &str, status: u16, code: &str) {
    let response = fetch(broker, path).await;
    assert_eq!(response.status().as_u16(), status, "{path}");
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
}

#[tokio::test]
async fn an_artist_sells_a_song_and_a_buyer_buys_and_downloads_it() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let id = item_with(
        &broker,
        &stall,
        json!({ "description": "three minutes", "category": "music" }),
    )
    .await;
    let before = broker.get(&format!("/v1/items/{id}"), Auth::None).await.expect(200);
    assert_eq!(before.body["item"]["available"], false, "not on sale before its upload");
    buy(&broker, &id, &stall.buyer, "early")
        .await
        .refused(409, "item_no_content");

    let stored = upload(&broker, &stall.artist, &id, SONG.to_vec()).await;
    assert_eq!(stored.status(), 200);
    let stored: Value = stored.json().await.unwrap();
    let sha256: String = {
        use sha2::Digest;
        sha2::Sha256::digest(SONG).iter().map(|b| format!("{b:02x}")).collect()
    };
    assert_eq!(stored["item"]["content"]["sha256"], sha256.as_str());
    assert_eq!(stored["item"]["content"]["bytes"], SONG.len());
    let item = broker.get(&format!("/v1/items/{id}"), Auth::None).await.expect(200);
    assert_eq!(item.body["item"]["price"]["amount"], "0.20");
    assert_eq!(item.body["item"]["page"], format!("/i/{id}"));
    let mine = broker.get("/v1/me/items", Auth::Code(&stall.artist)).await.expect(200);
    assert_eq!(mine.body["items"][0]["id"], id.as_str());

    let bought = buy(&broker, &id, &stall.buyer, "buy-1").await.expect(201);
    let receipt = &bought.body["receipt"];
    assert_eq!(receipt["item"], id.as_str(), "the payment is stamped with the item");
    assert_eq!(receipt["category"], "music");
    assert_eq!(receipt["amount"]["amount"], "0.20");
    assert!(
        !receipt["signature"].as_str().unwrap().is_empty(),
        "the receipt is signed"
    );
    assert_eq!(bought.body["download"]["fetches_left"], 5);
    let url = bought.body["download"]["url"].as_str().unwrap().to_owned();
    assert_eq!(broker.balance(&stall.buyer).await, "4.80");
    assert_eq!(broker.balance(&stall.artist).await, "1.20");

    // A retry under the same key is the same purchase: nothing more paid.
    let again = buy(&broker, &id, &stall.buyer, "buy-1").await.expect(201);
    assert_eq!(again.body["receipt"]["id"], receipt["id"]);
    assert_eq!(again.body["download"]["url"], url.as_str());
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(broker.balance(&stall.buyer).await, "4.80");

    for left in (0..5).rev() {
        let got = fetch(&broker, &url).await;
        assert_eq!(got.status(), 200);
        let headers = got.headers().clone();
        assert_eq!(headers["content-type"], "audio/mpeg");
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert!(headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"));
        assert_eq!(headers["smartcode-fetches-left"], left.to_string().as_str());
        assert_eq!(got.bytes().await.unwrap().as_ref(), SONG);
    }
    refused_fetch(&broker, &url, 410, "download_exhausted").await;
    // A second purchase is a grant of its own.
    let second = buy(&broker, &id, &stall.buyer, "buy-2").await.expect(201);
    assert_ne!(second.body["download"]["url"], url.as_str());
    assert_eq!(broker.balance(&stall.buyer).await, "4.60");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_and_stores_nothing() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let id = song(&broker, &stall).await;
    let limit = smartcode_core::limits::ITEM_CONTENT_BYTES_MAX;
    let refused = upload(&broker, &stall.artist, &id, vec![7; limit + 1]).await;
    assert_eq!(refused.status(), 413);
    assert_eq!(refused.headers()["content-type"], "application/problem+json");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "content_too_large");
    let item = broker.get(&format!("/v1/items/{id}"), Auth::None).await.expect(200);
    assert_eq!(
        item.body["item"]["content"]["bytes"],
        SONG.len(),
        "what was stored stays"
    );
    // Someone else's code cannot upload to it, nor make an item of a public code it does not own.
    let other = upload(&broker, &stall.buyer, &id, b"not mine".to_vec()).await;
    assert_eq!(other.status(), 404);
    broker
        .post(
            "/v1/me/items",
            Auth::Code(&stall.buyer),
            json!({ "title": "Not mine", "price": "0.20", "public_code": stall.shop }),
        )
        .await
        .refused(404, "not_found");
    create(&broker, &stall, json!({ "price": "0" }))
        .await
        .refused(400, "invalid_request");
    create(&broker, &stall, json!({ "title": "x".repeat(201) }))
        .await
        .refused(400, "limit_exceeded");
    let bought = buy(&broker, &id, &stall.buyer, "k").await.expect(201);
    let url = bought.body["download"]["url"].as_str().unwrap();
    assert_eq!(fetch(&broker, url).await.bytes().await.unwrap().as_ref(), SONG);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_download_for_another_item_tampered_or_past_its_time_is_refused() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let song = song(&broker, &stall).await;
    let other = self::song(&broker, &stall).await;
    let bought = buy(&broker, &song, &stall.buyer, "k").await.expect(201);
    let url = bought.body["download"]["url"].as_str().unwrap().to_owned();
    let grant = url.rsplit('/').next().unwrap();
    refused_fetch(
        &broker,
        &format!("/v1/items/{other}/download/{grant}"),
        403,
        "download_wrong_item",
    )
    .await;
    let tampered = format!("{}0", &url[..url.len() - 1]);
    let tampered = if tampered == url {
        format!("{}1", &url[..url.len() - 1])
    } else {
        tampered
    };
    refused_fetch(&broker, &tampered, 404, "not_found").await;
    // Nothing above counted: all five fetches are left, then the time runs out.
    let got = fetch(&broker, &url).await;
    assert_eq!(got.headers()["smartcode-fetches-left"], "4");
    advance(&broker, smartcode_core::limits::DOWNLOAD_GRANT_SECONDS + 1).await;
    refused_fetch(&broker, &url, 410, "download_expired").await;
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn restrictions_on_items_judge_a_purchase() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let song = song(&broker, &stall).await;
    let child = |items: Value| {
        broker.post(
            "/v1/me/children",
            Auth::Code(&stall.buyer),
            json!({ "amount": "1", "restrictions": { "items": items } }),
        )
    };
    let elsewhere = child(json!(["something-else"])).await.expect(201);
    let elsewhere = elsewhere.body["code"].as_str().unwrap();
    buy(&broker, &song, elsewhere, "a").await.refused(403, "restricted");
    let this_song = child(json!([song])).await.expect(201);
    let this_song = this_song.body["code"].as_str().unwrap();
    buy(&broker, &song, this_song, "b").await.expect(201);
    assert_eq!(broker.balance(elsewhere).await, "1.00");
    assert_eq!(broker.balance(this_song).await, "0.80");
    // The artist cannot buy its own item.
    buy(&broker, &song, &stall.artist, "c").await.refused(409, "conflict");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn an_items_page_shows_its_text_as_text_and_its_form_buys_it() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let id = item_with(
        &broker,
        &stall,
        json!({ "title": "<script>alert(1)</script> Song", "description": "<img src=x onerror=alert(2)>" }),
    )
    .await;
    assert_eq!(upload(&broker, &stall.artist, &id, SONG.to_vec()).await.status(), 200);
    let visitor = Visitor::arrive(&broker).await;
    let page = visitor.get(&format!("/i/{id}")).await;
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt; Song"), "{page}");
    assert!(!page.contains("<script>alert"), "the title is text");
    assert!(
        page.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "the description is text"
    );
    assert!(!page.contains("<img src=x"));
    assert!(page.contains("0.20 USD"));
    let public = visitor.get(&format!("/p/{}", stall.shop)).await;
    assert!(
        public.contains(&format!("href=\"/i/{id}\"")),
        "the seller's page links its items"
    );
    assert!(!public.contains("<script>alert"));

    // Without its CSRF token the form does nothing.
    let nonce = page
        .split("name=\"nonce\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap();
    let path = format!("/i/{id}/buy");
    let refused = visitor
        .post(&path, &[("code", &stall.buyer), ("nonce", nonce)], false)
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(broker.balance(&stall.buyer).await, "5.00");
    let bought = visitor
        .post(&path, &[("code", &stall.buyer), ("nonce", nonce)], true)
        .await;
    assert_eq!(bought.status(), 200);
    let bought = bought.text().await.unwrap();
    let link = bought
        .split("id=\"download-link\" href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the page links the download")
        .to_owned();
    // The same form sent again (its nonce) is the same purchase.
    let again = visitor
        .post(&path, &[("code", &stall.buyer), ("nonce", nonce)], true)
        .await;
    assert!(again.text().await.unwrap().contains(&link));
    assert_eq!(broker.balance(&stall.buyer).await, "4.80");
    assert_eq!(fetch(&broker, &link).await.bytes().await.unwrap().as_ref(), SONG);
    // A wrong code is refused on the page, in words.
    let wrong = visitor
        .post(&path, &[("code", "ZZZZ-ZZZZ"), ("nonce", "other")], true)
        .await;
    assert!(wrong.status().is_client_error());
    assert!(
        wrong.text().await.unwrap().contains("buy-error"),
        "the refusal is on the page"
    );
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn an_item_kept_on_the_sellers_server_hands_a_token_checked_offline() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let id = item_with(
        &broker,
        &stall,
        json!({ "url": "https://artist.example/songs/1?format=mp3" }),
    )
    .await;
    let item = broker.get(&format!("/v1/items/{id}"), Auth::None).await.expect(200);
    assert_eq!(item.body["item"]["delivery"], "url");
    assert_eq!(item.body["item"]["available"], true);
    let refused = upload(&broker, &stall.artist, &id, SONG.to_vec()).await;
    assert_eq!(refused.status(), 409);
    let bought = buy(&broker, &id, &stall.buyer, "k").await.expect(201);
    let url = bought.body["download"]["url"].as_str().unwrap();
    let answered = fetch(&broker, url).await;
    assert_eq!(answered.status(), 303);
    let location = answered.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("https://artist.example/songs/1?format=mp3&smartcode_token="),
        "{location}"
    );
    let body: Value = answered.json().await.unwrap();
    let token = body["token"].as_str().unwrap();
    assert!(location.ends_with(token));

    // The seller's server checks it with nothing but the broker's published key.
    let metadata = broker.get("/.well-known/smartcode", Auth::None).await.expect(200);
    let key = metadata.body["download_token"]["public_key"].as_str().unwrap();
    let key = smartcode_receipt::public_key(key).unwrap();
    let now = chrono_now_seconds();
    let checked = smartcode_receipt::verify_download_token(token, &key, &id, now).unwrap();
    assert_eq!(checked.receipt_id, bought.body["receipt"]["id"].as_str().unwrap());
    assert!(smartcode_receipt::verify_download_token(token, &key, "it_OTHER", now).is_err());
    let forged = token.replacen(&id, "it_0000000000000000", 1);
    assert!(smartcode_receipt::verify_download_token(&forged, &key, "it_0000000000000000", now).is_err());
    assert!(smartcode_receipt::verify_download_token(token, &key, &id, checked.expires_at).is_err());
    broker.assert_ledger_ok().await;
}

/// The time on this machine, in Unix seconds (the test clock starts at it).
fn chrono_now_seconds() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    since.as_secs() as i64
}

#[tokio::test]
async fn in_a_browser_an_artist_sells_a_song_and_a_buyer_pays_and_downloads_it() {
    let Some(browser) = crate::web::browser().await else {
        return;
    };
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let id = item_with(
        &broker,
        &stall,
        json!({ "title": "<script>document.title='pwned'</script>Song", "description": "<img src=x onerror=\"document.title='pwned'\">" }),
    )
    .await;
    assert_eq!(upload(&broker, &stall.artist, &id, SONG.to_vec()).await.status(), 200);

    // From the artist's page to the song's, by its link.
    browser.open(&format!("{}/p/{}", broker.base, stall.shop)).await;
    assert!(browser.text("#items").await.contains("<script>"), "the title is text");
    browser.click(&format!("#items a[href='/i/{id}']")).await;
    assert!(browser.text("#item-title").await.contains("<script>"));
    assert!(
        !browser.exists("img[src=x]").await,
        "no element is made from the seller's text"
    );
    assert_ne!(browser.js("return document.title").await, "pwned");
    assert!(browser.text("#item-price").await.contains("0.20 USD"));
    browser.check_page_basics("an item's page").await;
    browser.screenshot("item-page").await;

    browser.fill("#buy-code", &stall.buyer.to_lowercase()).await;
    browser.click("form[action$='/buy'] button").await;
    assert!(browser.exists("#download-link").await, "the page links the download");
    browser.check_page_basics("an item bought").await;
    let link = browser
        .js("return document.querySelector('#download-link').getAttribute('href')")
        .await;
    let got = fetch(&broker, link.as_str().unwrap()).await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), SONG);
    assert_eq!(broker.balance(&stall.buyer).await, "4.80");
    assert_eq!(broker.balance(&stall.artist).await, "1.20");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn twenty_fetches_at_once_get_exactly_the_grants_five() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let song = song(&broker, &stall).await;
    let bought = buy(&broker, &song, &stall.buyer, "k").await.expect(201);
    let url = bought.body["download"]["url"].as_str().unwrap().to_owned();
    let fetches = (0..20).map(|_| fetch(&broker, &url));
    let statuses: Vec<u16> = futures::future::join_all(fetches)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 5, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 410).count(), 15, "{statuses:?}");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_command_line_sells_and_buys_an_item() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let cli = crate::cli::Cli { broker: &broker };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("song.mp3");
    std::fs::write(&file, SONG).unwrap();
    let args = [
        "items",
        "create",
        "--title",
        "A song",
        "--price",
        "0.20",
        "--public",
        &stall.shop,
    ];
    let made = cli.json(Some(&stall.artist), &args);
    let id = made["id"].as_str().unwrap().to_owned();
    let file_arg = file.to_str().unwrap();
    let uploaded = cli.text(
        Some(&stall.artist),
        &["items", "upload", &id, file_arg, "--type", "audio/mpeg"],
    );
    assert!(uploaded.contains(&format!("{} bytes", SONG.len())), "{uploaded}");
    let listed = cli.json(Some(&stall.artist), &["items", "list"]);
    assert_eq!(listed["items"][0]["id"], id.as_str());
    let out = dir.path().join("bought.mp3");
    let out_arg = out.to_str().unwrap();
    let buy_args = ["buy", &id, "--out", out_arg, "--idempotency-key", "cli-1"];
    let bought = cli.text(Some(&stall.buyer), &buy_args);
    assert!(bought.contains("Paid 0.20 USD"), "{bought}");
    assert_eq!(std::fs::read(&out).unwrap(), SONG);
    cli.text(Some(&stall.buyer), &buy_args);
    assert_eq!(
        broker.balance(&stall.buyer).await,
        "4.80",
        "a retry under the same key pays once"
    );
    let refused = cli.run(Some(&stall.buyer), &["buy", "it_0000000000000000"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not_found"));
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_purchase_refunded_in_full_downloads_nothing_more() {
    let broker = TestBroker::start().await;
    let stall = stall(&broker).await;
    let song = song(&broker, &stall).await;
    let bought = buy(&broker, &song, &stall.buyer, "k").await.expect(201);
    let url = bought.body["download"]["url"].as_str().unwrap().to_owned();
    let refund = format!("/v1/receipts/{}/refund", bought.body["receipt"]["id"].as_str().unwrap());
    let seller = Auth::Code(&stall.artist);
    broker
        .post(&refund, seller, json!({ "amount": "0.05" }))
        .await
        .expect(201);
    assert_eq!(
        fetch(&broker, &url).await.status(),
        200,
        "a partial refund leaves the grant"
    );
    broker.post(&refund, seller, json!({})).await.expect(201);
    refused_fetch(&broker, &url, 410, "download_refunded").await;
    assert_eq!(broker.balance(&stall.buyer).await, "5.00");
    broker.assert_ledger_ok().await;
}

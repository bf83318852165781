//! Shares (issue 17): a fan pays for some downloads of a song and sends one link; whoever opens it
//! downloads free while uses remain, and is then offered the song for its price; at expiry (the
//! test clock) or a cancel what is left returns to the fan. Through the real server on both stores
//! (these run again on PostgreSQL), over HTTP and in Chromium; each ends with the ledger check.

use serde_json::{json, Value};

use crate::forms::Visitor;
use crate::harness::{Auth, Reply, TestBroker};
use crate::holds::advance;
use crate::items::SONG;
use crate::webhooks::{subscribe, Receiver};

/// An artist selling a song at 0.20 USD from a public code (`items::song`), and a fan with 5 USD.
struct Song {
    artist: String,
    shop: String,
    fan: String,
    id: String,
}

async fn song(broker: &TestBroker) -> Song {
    let stall = crate::items::stall(broker).await;
    let id = crate::items::song(broker, &stall).await;
    Song {
        id,
        artist: stall.artist,
        shop: stall.shop,
        fan: stall.buyer,
    }
}

async fn share(broker: &TestBroker, giver: &str, item: &str, uses: u32, seconds: i64) -> Reply {
    broker
        .post(
            "/v1/me/shares",
            Auth::Code(giver),
            json!({ "item_id": item, "uses": uses, "expires_in_seconds": seconds }),
        )
        .await
}

/// A share made, as (its code, its link).
async fn shared(broker: &TestBroker, giver: &str, item: &str, uses: u32) -> (String, String) {
    let made = share(broker, giver, item, uses, 3600).await.expect(201);
    let code = made.body["code"].as_str().unwrap().to_owned();
    let link = made.body["link"].as_str().unwrap().to_owned();
    assert_eq!(link, format!("/s/{code}"));
    (code, link)
}

fn field<'a>(page: &'a str, name: &str) -> &'a str {
    page.split(&format!("name=\"{name}\" value=\""))
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the page has a {name} field"))
}

/// One visitor opens the link and presses "Download free": the page it gets back.
async fn download_free(broker: &TestBroker, link: &str) -> (u16, String) {
    let visitor = Visitor::arrive(broker).await;
    let page = visitor.get(link).await;
    let nonce = field(&page, "nonce").to_owned();
    let answered = visitor
        .post(&format!("{link}/download"), &[("nonce", &nonce)], true)
        .await;
    (answered.status().as_u16(), answered.text().await.unwrap())
}

fn download_link(page: &str) -> Option<String> {
    let link = page.split("id=\"download-link\" href=\"").nth(1)?.split('"').next()?;
    Some(link.replace("&amp;", "&"))
}

async fn fetched(broker: &TestBroker, path: &str) -> Vec<u8> {
    let got = reqwest::get(format!("{}{path}", broker.base)).await.unwrap();
    assert_eq!(got.status(), 200, "{path}");
    got.bytes().await.unwrap().to_vec()
}

async fn given(broker: &TestBroker, giver: &str) -> Vec<Value> {
    let listed = broker.get("/v1/me/shares", Auth::Code(giver)).await.expect(200);
    listed.body["shares"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_share_of_three_gives_three_free_downloads_then_offers_the_song_and_tells_the_seller() {
    let broker = TestBroker::start_flagged(&["--allow-private-callouts"]).await;
    let song = song(&broker).await;
    let receiver = Receiver::start(&[]).await;
    subscribe(&broker, &song.artist, &receiver.url, &["share.used_up"]).await;

    let made = share(&broker, &song.fan, &song.id, 3, 30 * 24 * 3600).await.expect(201);
    assert_eq!(made.body["share"]["uses"], 3);
    assert_eq!(made.body["share"]["left"]["amount"], "0.60", "it holds uses × price");
    let link = made.body["link"].as_str().unwrap().to_owned();
    assert_eq!(broker.balance(&song.fan).await, "4.40");

    for n in 1..=3 {
        let visitor = Visitor::arrive(&broker).await;
        let page = visitor.get(&link).await;
        let left = format!("{} of 3 free downloads left", 4 - n);
        assert!(page.contains(&left), "{left}: {page}");
        let (status, page) = download_free(&broker, &link).await;
        assert_eq!(status, 200, "{page}");
        let path = download_link(&page).expect("the page links the download");
        assert_eq!(fetched(&broker, &path).await, SONG);
    }
    assert_eq!(
        broker.balance(&song.artist).await,
        "1.60",
        "three downloads paid the artist"
    );
    assert_eq!(broker.balance(&song.fan).await, "4.40", "and cost the fan nothing more");

    // The fourth visitor is asked to pay, on the same page; pressing the button anyway pays nothing.
    let visitor = Visitor::arrive(&broker).await;
    let page = visitor.get(&link).await;
    assert!(page.contains("id=\"share-ended\""), "{page}");
    assert!(
        page.contains(&format!("action=\"/i/{}/buy\"", song.id)),
        "the item's pay form"
    );
    assert!(!page.contains("id=\"share-download\""));
    let nonce = field(&page, "nonce").to_owned();
    let refused = visitor
        .post(&format!("{link}/download"), &[("nonce", &nonce)], true)
        .await;
    assert_eq!(refused.status(), 410);
    assert!(refused.text().await.unwrap().contains("share-error"));
    assert_eq!(broker.balance(&song.artist).await, "1.60");

    // The giver sees how many were used, in the API and in its control center.
    let shares = given(&broker, &song.fan).await;
    assert_eq!(shares.len(), 1);
    assert_eq!(shares[0]["used"], 3);
    assert_eq!(shares[0]["remaining"], 0);
    assert_eq!(shares[0]["item_title"], "A song");
    let mut fan = Visitor::arrive(&broker).await;
    fan.log_in("/enter", &[("code", &song.fan)]).await;
    let center = fan.get("/me").await;
    assert!(center.contains("id=\"shares\""), "the control center lists the shares");
    assert!(center.contains("3 of 3"), "with how many were used");

    // The seller hears that the share was used up, once.
    let got = receiver.wait_for(1).await;
    let event = got[0].json();
    assert_eq!(event["type"], "share.used_up");
    assert_eq!(event["data"]["share"]["used"], 3);
    assert_eq!(event["data"]["share"]["item_id"], song.id.as_str());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(receiver.wait_for(1).await.len(), 1);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn at_expiry_what_is_left_returns_to_the_giver_and_a_cancelled_share_says_so() {
    let broker = TestBroker::start().await;
    let song = song(&broker).await;
    let made = share(&broker, &song.fan, &song.id, 5, 600).await.expect(201);
    let link = made.body["link"].as_str().unwrap().to_owned();
    let code = made.body["code"].as_str().unwrap().to_owned();
    assert_eq!(download_free(&broker, &link).await.0, 200);
    assert_eq!(broker.balance(&song.fan).await, "4.00");

    advance(&broker, 601).await;
    let page = Visitor::arrive(&broker).await.get(&link).await;
    assert!(
        page.contains("time is over"),
        "refused at once, before any sweep: {page}"
    );
    let (status, page) = download_free(&broker, &link).await;
    assert_eq!(status, 410, "{page}");
    broker.wait_for_sweeps(2).await;
    assert_eq!(
        broker.balance(&song.fan).await,
        "4.80",
        "the four unused downloads came back"
    );
    assert_eq!(given(&broker, &song.fan).await[0]["status"], "expired");
    // What came back is the fan's again, without the restriction: it pays anyone.
    let (other, _) = broker.issue("1", "USD").await;
    let (elsewhere, _) = broker.public_child(&other).await;
    broker.pay(&song.fan, &elsewhere, "4.80").await.expect(201);
    // The share's own code, used to buy through the API, is refused as expired.
    let bought = broker
        .post(
            &format!("/v1/items/{}/purchase", song.id),
            Auth::None,
            json!({ "code": code }),
        )
        .await;
    assert_eq!(bought.status, 410, "{}", bought.text);

    // A cancelled share: its giver takes back what is left, and the link says so.
    let (fan, _) = broker.issue("1", "USD").await;
    let made = share(&broker, &fan, &song.id, 2, 3600).await.expect(201);
    let (id, link) = (made.body["id"].as_str().unwrap(), made.body["link"].as_str().unwrap());
    let cancelled = broker
        .post(&format!("/v1/me/children/{id}/cancel"), Auth::Code(&fan), json!({}))
        .await
        .expect(200);
    assert_eq!(cancelled.body["reclaimed"]["amount"], "0.40");
    assert_eq!(broker.balance(&fan).await, "1.00");
    let page = Visitor::arrive(&broker).await.get(link).await;
    assert!(page.contains("cancelled it"), "{page}");
    let (status, page) = download_free(&broker, link).await;
    assert_eq!(status, 410);
    assert!(page.contains("share-error"));
    assert_eq!(given(&broker, &fan).await[0]["status"], "cancelled");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn twenty_uses_give_exactly_twenty_downloads_under_any_concurrency() {
    let broker = TestBroker::start().await;
    let song = song(&broker).await;
    let (code, link) = shared(&broker, &song.fan, &song.id, 20).await;
    // Half through the link's page, half through the purchase API with the share's code.
    let pages = (0..20).map(|_| async {
        let (status, _) = download_free(&broker, &link).await;
        status
    });
    let purchases = (0..20).map(|n| {
        let (broker, code, id) = (&broker, &code, &song.id);
        async move {
            let key = format!("buy-{n}");
            broker
                .call_with(
                    reqwest::Method::POST,
                    &format!("/v1/items/{id}/purchase"),
                    Auth::None,
                    Some(json!({ "code": code })),
                    &[("Idempotency-Key", &key)],
                )
                .await
                .status
        }
    });
    let (pages, purchases) =
        futures::future::join(futures::future::join_all(pages), futures::future::join_all(purchases)).await;
    let downloads = pages.iter().filter(|s| **s == 200).count() + purchases.iter().filter(|s| **s == 201).count();
    assert_eq!(downloads, 20, "pages {pages:?}, purchases {purchases:?}");
    assert_eq!(broker.balance(&song.artist).await, "5.00", "twenty downloads at 0.20");
    assert_eq!(given(&broker, &song.fan).await[0]["used"], 20);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn bad_shares_are_refused_with_their_words_and_change_nothing() {
    let broker = TestBroker::start().await;
    let song = song(&broker).await;
    share(&broker, &song.fan, &song.id, 0, 60)
        .await
        .refused(400, "limit_exceeded");
    share(&broker, &song.fan, &song.id, 10_001, 60)
        .await
        .refused(400, "limit_exceeded");
    share(&broker, &song.fan, &song.id, 2, 0)
        .await
        .refused(400, "limit_exceeded");
    share(&broker, &song.fan, "it_0000000000000000", 2, 60)
        .await
        .refused(404, "not_found");
    share(&broker, &song.fan, &song.id, 26, 60)
        .await
        .refused(402, "insufficient_funds");
    share(&broker, &song.artist, &song.id, 2, 60)
        .await
        .refused(409, "conflict");
    let unsold = broker
        .post(
            "/v1/me/items",
            Auth::Code(&song.artist),
            json!({ "title": "Not yet", "price": "1", "public_code": song.shop }),
        )
        .await
        .expect(201);
    let unsold = unsold.body["item"]["id"].as_str().unwrap();
    share(&broker, &song.fan, unsold, 2, 60)
        .await
        .refused(409, "item_no_content");
    let (euros, _) = broker.issue("5", "EUR").await;
    share(&broker, &euros, &song.id, 2, 60)
        .await
        .refused(409, "currency_mismatch");
    assert_eq!(broker.balance(&song.fan).await, "5.00", "nothing was set aside");
    assert!(given(&broker, &song.fan).await.is_empty());
    // A link with a wrong code is no share, and the page says so; it counts as a wrong code.
    let failures = || async {
        let report = broker.get("/v1/admin/security", Auth::Operator).await.expect(200).body;
        let sources = report["sources"].as_array().unwrap().clone();
        sources.iter().map(|s| s["failures"].as_u64().unwrap()).sum::<u64>()
    };
    let before = failures().await;
    let visitor = Visitor::arrive(&broker).await;
    let missing = visitor
        .http
        .get(format!("{}/s/ZZZZ-ZZZZ-ZZZZ", broker.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(failures().await, before + 1, "the guessing defence counted it");
    // An ordinary child of the fan is no share: its code opens no share page.
    let (child, _) = broker.secret_child(&song.fan, "1").await;
    let page = visitor
        .http
        .get(format!("{}/s/{child}", broker.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 404);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn in_a_browser_three_visitors_download_free_and_the_fourth_is_asked_to_pay() {
    let Some(browser) = crate::web::browser().await else {
        return;
    };
    let broker = TestBroker::start().await;
    let song = song(&broker).await;
    let (_, link) = shared(&broker, &song.fan, &song.id, 3).await;
    for n in 1..=3 {
        browser.client.delete_all_cookies().await.unwrap();
        browser.open(&format!("{}{link}", broker.base)).await;
        let left = browser.text("#share-remaining").await;
        assert!(left.contains(&format!("{} of 3", 4 - n)), "{left}");
        browser.check_page_basics("a share's page").await;
        if n == 1 {
            browser.screenshot("share-page").await;
        }
        browser.click("#share-download").await;
        assert!(browser.exists("#download-link").await, "visitor {n} gets the download");
        let path = browser
            .js("return document.querySelector('#download-link').getAttribute('href')")
            .await;
        assert_eq!(fetched(&broker, path.as_str().unwrap()).await, SONG);
    }
    browser.client.delete_all_cookies().await.unwrap();
    browser.open(&format!("{}{link}", broker.base)).await;
    assert!(browser.text("#share-ended").await.contains("taken"));
    assert!(!browser.exists("#share-download").await);
    browser.check_page_basics("a share used up").await;
    browser.screenshot("share-used-up").await;
    // The fourth pays with a code of its own, on the same page.
    let (fourth, _) = broker.issue("1", "USD").await;
    browser.fill("#buy-code", &fourth).await;
    browser.click("form[action$='/buy'] button").await;
    assert!(browser.exists("#download-link").await);
    assert_eq!(broker.balance(&fourth).await, "0.80");
    assert_eq!(broker.balance(&song.artist).await, "1.80");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn the_command_line_shares_an_item_and_lists_the_shares() {
    let broker = TestBroker::start().await;
    let song = song(&broker).await;
    let cli = crate::cli::Cli { broker: &broker };
    let made = cli.text(Some(&song.fan), &["items", "share", &song.id, "--uses", "4"]);
    let link = made
        .lines()
        .find(|line| line.contains("/s/"))
        .expect("the link is printed")
        .trim()
        .to_owned();
    assert!(link.starts_with(&broker.base), "{made}");
    let path = link.strip_prefix(&broker.base).unwrap().to_owned();
    assert_eq!(download_free(&broker, &path).await.0, 200);
    let listed = cli.json(Some(&song.fan), &["items", "shares"]);
    assert_eq!(listed["shares"][0]["used"], 1);
    assert_eq!(listed["shares"][0]["uses"], 4);
    let text = cli.text(Some(&song.fan), &["items", "shares"]);
    assert!(text.contains("used 1 of 4"), "{text}");
    assert_eq!(broker.balance(&song.fan).await, "4.20");
    broker.assert_ledger_ok().await;
}

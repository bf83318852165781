//! Where a refusal leads: every problem's `type` is a page of the broker's own (`/problems/{code}`,
//! one per `code` word, with a human explanation), and an address the broker does not serve is a
//! page for a browser, problem+json only for the API (`/v1/…`, or `Accept: application/json`).

use reqwest::Method;
use serde_json::json;

use crate::harness::{Auth, TestBroker};

#[tokio::test]
async fn a_problems_type_leads_to_the_brokers_page_for_its_word() {
    let broker = TestBroker::start().await;
    let (_, payee_owner_id) = broker.issue("1", "USD").await;
    let refusals = [
        broker
            .pay("ZZZZ-ZZZZ", "P-00000-00000", "1")
            .await
            .refused(401, "invalid_code"),
        broker
            .post(
                "/v1/admin/payouts",
                Auth::Operator,
                json!({ "code_id": payee_owner_id, "amount": "5", "reference": "r" }),
            )
            .await
            .refused(402, "insufficient_funds"),
        broker
            .get("/v1/admin/security", Auth::None)
            .await
            .refused(401, "unauthorized"),
    ];
    for refusal in refusals {
        let word = refusal.code().to_owned();
        let kind = refusal.body["type"].as_str().unwrap();
        let address = reqwest::Url::parse(&broker.base).unwrap().join(kind).unwrap();
        assert_eq!(address.path(), format!("/problems/{word}"));
        let page = reqwest::get(address.clone()).await.unwrap();
        assert_eq!(page.status(), 200, "{address}");
        assert!(page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let text = page.text().await.unwrap();
        assert!(text.contains(&format!("<h1><code>{word}</code></h1>")), "{text}");
        assert!(text.contains("What it means") && text.contains("What to do"), "{text}");
    }
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn every_word_of_the_document_has_its_page() {
    let broker = TestBroker::start().await;
    let document = broker.get("/openapi.json", Auth::None).await.expect(200).body;
    let words = document["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .clone();
    assert!(words.len() >= 20, "{words:?}");
    let index = reqwest::get(format!("{}/problems", broker.base)).await.unwrap();
    assert_eq!(index.status(), 200);
    let index = index.text().await.unwrap();
    let mut meanings = std::collections::BTreeSet::new();
    for word in &words {
        let word = word.as_str().unwrap();
        let page = reqwest::get(format!("{}/problems/{word}", broker.base)).await.unwrap();
        assert_eq!(page.status(), 200, "{word} has a page");
        let text = page.text().await.unwrap();
        let meaning = text
            .split("What it means</h2><p>")
            .nth(1)
            .unwrap()
            .split("</p>")
            .next()
            .unwrap();
        assert!(meaning.len() > 40, "{word} is explained: {meaning}");
        assert!(
            meanings.insert(meaning.to_owned()),
            "{word} has an explanation of its own"
        );
        assert!(
            index.contains(&format!("href=\"/problems/{word}\"")),
            "the index lists {word}"
        );
    }
    // The hyphenated words of earlier type addresses still lead there; an unknown word does not.
    let hyphenated = reqwest::get(format!("{}/problems/insufficient-funds", broker.base))
        .await
        .unwrap();
    assert_eq!(hyphenated.status(), 200);
    let unknown = reqwest::get(format!("{}/problems/no_such_word", broker.base))
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.text().await.unwrap().contains("no refusal called"));
}

#[tokio::test]
async fn an_unknown_page_is_a_page_and_an_unknown_endpoint_is_a_problem() {
    let broker = TestBroker::start().await;
    let http = reqwest::Client::new();
    for path in ["/no-such-page", "/p", "/operator/nothing", "/assets/nothing.css"] {
        let page = http.get(format!("{}{path}", broker.base)).send().await.unwrap();
        assert_eq!(page.status(), 404, "{path}");
        let headers = page.headers().clone();
        assert!(
            headers["content-type"].to_str().unwrap().starts_with("text/html"),
            "{path}"
        );
        assert!(headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'"));
        let text = page.text().await.unwrap();
        assert!(text.contains("<h1>Page not found</h1>"), "{path}: {text}");
        assert!(text.contains(&format!("<code>{path}</code>")), "{path}: {text}");
    }
    // A page's address, escaped like every other text.
    let hostile = http
        .get(format!("{}/%3Cscript%3Ealert(1)%3C/script%3E", broker.base))
        .send()
        .await
        .unwrap();
    assert_eq!(hostile.status(), 404);
    assert!(!hostile.text().await.unwrap().contains("<script>alert"));
    // The API, and anyone who asks for JSON, get problem+json.
    broker
        .get("/v1/no-such-thing", Auth::None)
        .await
        .refused(404, "not_found");
    broker.get("/v1", Auth::None).await.refused(404, "not_found");
    broker
        .call_with(
            Method::GET,
            "/no-such-page",
            Auth::None,
            None,
            &[("accept", "application/json")],
        )
        .await
        .refused(404, "not_found");
}

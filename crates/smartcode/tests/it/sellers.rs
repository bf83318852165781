//! Zero-click buying end to end (issue 16): three real processes on loopback, the broker, the
//! example seller `archive-seller` (its paywall is `smartcode-seller`'s layer) and the buyer's
//! `smartcode fetch`. Articles within the buyer's rate rule are bought with no one asked; the one
//! over it waits for approval; approving it "and make it a rule" makes the next one zero-click
//! again; a negotiable offer over the rule's cap is bargained down to it. Every test ends with the
//! ledger check.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};

use serde_json::{json, Value};

use crate::cli::Cli;
use crate::harness::{Auth, TestBroker};

const SELLER: &str = env!("CARGO_BIN_EXE_archive-seller");

/// A running `archive-seller`, stopped when dropped.
struct ArchiveSeller {
    process: Child,
    base: String,
}

impl ArchiveSeller {
    fn start(broker: &TestBroker, payee: &str, flags: &[&str]) -> ArchiveSeller {
        let mut process = Command::new(SELLER)
            .args(["--broker", &broker.base, "--payee", payee, "--listen", "127.0.0.1:0"])
            .args(flags)
            .env("SMARTCODE_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("archive-seller starts");
        let stdout = process.stdout.take().expect("stdout is piped");
        let mut lines = BufReader::new(stdout).lines();
        let first = lines
            .next()
            .expect("archive-seller prints its address")
            .expect("readable");
        let base = first
            .strip_prefix("archive-seller listening on ")
            .unwrap_or_default()
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "unexpected first line: {first}");
        std::thread::spawn(move || for _ in lines {});
        ArchiveSeller { process, base }
    }

    fn article(&self, number: usize) -> String {
        format!("{}/articles/{number}", self.base)
    }
}

impl Drop for ArchiveSeller {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
fn fetched(output: &Output, title: &str) {
    assert!(output.status.success(), "fetch failed: {}", stderr(output));
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(page.contains(title), "{page}");
    assert!(stderr(output).contains("with no one asked"), "{}", stderr(output));
}

async fn rules(broker: &TestBroker, code: &str, rules: Value) {
    broker
        .put("/v1/me/rules", Auth::Code(code), json!({ "rules": rules }))
        .await
        .expect(200);
}

/// A buyer holding 10 USD, and a seller's public code selling news.
async fn parties(broker: &TestBroker) -> (String, String) {
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (archive, _) = broker
        .public_child_selling(&seller, json!({ "categories": ["news"] }))
        .await;
    (buyer, archive)
}

#[tokio::test]
async fn twenty_articles_pay_within_the_rate_the_next_waits_and_an_approval_that_makes_a_rule_pays_the_rest() {
    let broker = TestBroker::start_flagged(&["--allow-private-callouts"]).await;
    let (buyer, archive) = parties(&broker).await;
    // Ten cents a minute for news, at most five cents an article.
    rules(
        &broker,
        &buyer,
        json!([{
            "name": "news",
            "match": { "categories": ["news"] },
            "max_per_payment": "0.05",
            "max_rate": { "amount": "0.10", "per_seconds": 60 },
            "action": "pay"
        }]),
    )
    .await;
    // The seller's offers outlive the three minutes the broker's clock moves on below.
    let flags = ["--price", "0.02", "--no-negotiation", "--offer-seconds", "900"];
    let seller = ArchiveSeller::start(&broker, &archive, &flags);
    let cli = Cli { broker: &broker };

    // Without a code's purchase the article is behind its paywall.
    let bare = reqwest::get(seller.article(1)).await.unwrap();
    assert_eq!(bare.status(), 402);
    assert!(bare.headers().contains_key("smartcode-offer"));

    // Five at once fill the rate; then one every 12 seconds (the broker's clock) stays within it.
    for number in 1..=20 {
        if number > 5 {
            broker
                .post("/v1/admin/clock", Auth::Operator, json!({ "advance_seconds": 12 }))
                .await
                .expect(200);
        }
        let output = cli.run(Some(&buyer), &["fetch", &seller.article(number)]);
        fetched(&output, "<article>");
    }
    let spent = broker.get("/v1/me/rules", Auth::Code(&buyer)).await.expect(200).body;
    // Full, but for what drained in the real time the fetches took: less than one more article.
    let units = |text: &str| smartcode_core::money::Amount::parse(text).unwrap().units();
    let left = spent["rules"][0]["rate_left_now"].as_str().unwrap();
    assert!(units(left) < units("0.02"), "{spent}");

    // The twenty-first is over the rate: nothing is paid, an approval waits, exit status 3.
    let waits = cli.run(Some(&buyer), &["fetch", &seller.article(21)]);
    assert_eq!(waits.status.code(), Some(3), "{}", stderr(&waits));
    assert!(waits.stdout.is_empty());
    let said = stderr(&waits);
    assert!(said.contains("smartcode approvals approve"), "{said}");
    let queue = cli.json(Some(&buyer), &["approvals", "list"]);
    let waiting = &queue["approvals"][0];
    assert_eq!(waiting["status"], "pending", "{queue}");
    assert_eq!(waiting["offer"]["item"], "articles/21", "{queue}");
    let id = waiting["id"].as_str().unwrap().to_owned();
    assert!(said.contains(&id), "{said}");
    assert_eq!(broker.balance(&buyer).await, "9.60");

    // Approved, and made a rule: that article is paid, and the next is zero-click again.
    let approved = cli.json(Some(&buyer), &["approvals", "approve", &id, "--make-rule"]);
    assert_eq!(approved["receipt"]["amount"]["amount"], "0.02", "{approved}");
    assert!(approved["rule_added"].is_string(), "{approved}");
    let paid = reqwest::Client::new()
        .get(seller.article(21))
        .header("smartcode-payment", approved["receipt"]["id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 200, "the approved receipt opens the article it paid");
    let output = cli.run(Some(&buyer), &["fetch", &seller.article(22)]);
    fetched(&output, "<article>");
    assert_eq!(broker.balance(&buyer).await, "9.56");

    // The receipt of one article never opens another.
    let other = reqwest::Client::new()
        .get(seller.article(23))
        .header("smartcode-payment", approved["receipt"]["id"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 402);
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn a_negotiable_article_over_the_rules_cap_is_bargained_down_to_it_and_paid_with_no_one_asked() {
    let broker = TestBroker::start_flagged(&["--allow-private-callouts"]).await;
    let (buyer, archive) = parties(&broker).await;
    rules(
        &broker,
        &buyer,
        json!([{ "name": "cheap news", "match": { "categories": ["news"] }, "max_per_payment": "0.015", "action": "pay" }]),
    )
    .await;
    // List price 2 cents, down to 1 cent in four rounds.
    let seller = ArchiveSeller::start(
        &broker,
        &archive,
        &["--price", "0.02", "--floor", "0.01", "--max-rounds", "4"],
    );
    let cli = Cli { broker: &broker };
    let output = cli.run(Some(&buyer), &["fetch", &seller.article(3)]);
    fetched(&output, "Why the Night Train Came Back");
    let paid = 10_000_000 - units(&broker.balance(&buyer).await);
    assert!((10_000..=15_000).contains(&paid), "paid {paid} micro-units");

    // A buyer who concedes from half a cent pays no more than the rule allows either.
    let output = cli.run(
        Some(&buyer),
        &["fetch", &seller.article(4), "--strategy", "concede:0.005:0.005"],
    );
    fetched(&output, "The Bakers Who Start at Midnight");
    let both = 10_000_000 - units(&broker.balance(&buyer).await);
    assert!((20_000..=30_000).contains(&both), "paid {both} micro-units for two");
    broker.assert_ledger_ok().await;
}

/// Micro-units of a decimal amount with at most six places.
fn units(amount: &str) -> i64 {
    smartcode_core::money::Amount::parse(amount).unwrap().units()
}

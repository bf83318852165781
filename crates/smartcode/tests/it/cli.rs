//! The command line through the real binary, against a real broker: the README's walk-through.

use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::{TestBroker, BINARY};

struct Cli<'a> {
    broker: &'a TestBroker,
}

impl Cli<'_> {
    fn run(&self, code: Option<&str>, args: &[&str]) -> Output {
        let token_file = self.broker.data.join("operator-token");
        let mut command = Command::new(BINARY);
        command
            .arg("--broker")
            .arg(&self.broker.base)
            .arg("--operator-token-file")
            .arg(&token_file)
            .args(args);
        command
            .env_remove("SMARTCODE_CODE")
            .env_remove("SMARTCODE_OPERATOR_TOKEN");
        if let Some(code) = code {
            command.env("SMARTCODE_CODE", code);
        }
        command.output().expect("the smartcode binary runs")
    }

    #[track_caller]
    fn json(&self, code: Option<&str>, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let output = self.run(code, &all);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("--json prints JSON")
    }

    #[track_caller]
    fn text(&self, code: Option<&str>, args: &[&str]) -> String {
        let output = self.run(code, args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }
}

#[tokio::test]
async fn the_readme_walk_through_works_from_the_command_line() {
    let broker = TestBroker::start().await;
    let cli = Cli { broker: &broker };
    let issued = cli.json(
        None,
        &["issue", "--amount", "10", "--currency", "USD", "--label", "my wallet"],
    );
    let wallet = issued["code"].as_str().unwrap().to_owned();
    let text = cli.text(None, &["issue", "--amount", "1", "--currency", "USD"]);
    assert!(text.contains("New secret code: ") && text.contains("shown only this once"));
    let seller_code = text.lines().next().unwrap().rsplit(' ').next().unwrap().to_owned();

    let pocket = cli.json(Some(&wallet), &["child", "--amount", "2", "--label", "pocket money"]);
    let pocket_code = pocket["code"].as_str().unwrap().to_owned();
    let shop = cli.json(
        Some(&seller_code),
        &["child", "--public", "--label", "shop", "--name", "Ann's songs"],
    );
    let shop_code = shop["public_code"].as_str().unwrap().to_owned();
    assert!(shop_code.starts_with("P-"));

    let paid = cli.json(
        Some(&pocket_code),
        &[
            "pay",
            "--payee",
            &shop_code,
            "--amount",
            "0.25",
            "--memo",
            "a song",
            "--idempotency-key",
            "song-1",
        ],
    );
    let receipt_id = paid["receipt"]["id"].as_str().unwrap().to_owned();
    let replay = cli.json(
        Some(&pocket_code),
        &[
            "pay",
            "--payee",
            &shop_code,
            "--amount",
            "0.25",
            "--memo",
            "a song",
            "--idempotency-key",
            "song-1",
        ],
    );
    assert_eq!(replay["receipt"]["id"], receipt_id.as_str());
    let receipt = cli.json(None, &["receipt", &receipt_id]);
    assert_eq!(receipt["receipt"]["amount"]["amount"], "0.25");

    let balance = cli.json(Some(&pocket_code), &["balance"]);
    assert_eq!(balance["balance"]["amount"], "1.75");
    let shown = cli.text(Some(&seller_code), &["show"]);
    assert!(shown.contains("1.25 USD"));
    let children = cli.json(Some(&wallet), &["children"]);
    assert_eq!(children["children"][0]["label"], "pocket money");
    let history = cli.json(Some(&pocket_code), &["history"]);
    assert_eq!(history["transactions"][0]["amount"], "-0.25");
    let csv = cli.text(Some(&seller_code), &["report", "--by", "public_code", "--csv"]);
    assert_eq!(csv.lines().nth(1).unwrap(), format!("{shop_code},1,0.25,0.00"));
    let report = cli.json(Some(&seller_code), &["report", "--by", "month"]);
    assert_eq!(report["rows"][0]["total_in"], "1.25");

    cli.json(
        Some(&seller_code),
        &[
            "profile",
            "--child",
            shop["id"].as_str().unwrap(),
            "--name",
            "Ann",
            "--show-stats",
        ],
    );
    let public = cli.json(None, &["public", &shop_code]);
    assert_eq!(public["profile"]["name"], "Ann");
    assert_eq!(public["stats"]["payments"], 1);

    let deposited = cli.json(
        None,
        &["deposit", "--to", &wallet, "--amount", "5", "--currency", "USD"],
    );
    assert_eq!(deposited["balance"]["amount"], "13.00");
    let funded = cli.json(
        Some(&wallet),
        &["fund", pocket["id"].as_str().unwrap(), "--amount", "1"],
    );
    assert_eq!(funded["child"]["balance"]["amount"], "2.75");
    let cancelled = cli.json(Some(&wallet), &["cancel", pocket["id"].as_str().unwrap()]);
    assert_eq!(cancelled["reclaimed"]["amount"], "2.75");

    let check = cli.text(None, &["check"]);
    assert!(check.starts_with("ledger OK"), "{check}");
    broker.assert_ledger_ok().await;
}

#[tokio::test]
async fn refusals_exit_non_zero_with_the_brokers_word() {
    let broker = TestBroker::start().await;
    let cli = Cli { broker: &broker };
    let output = cli.run(Some("ZZZZ-ZZZZ"), &["balance"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid_code"), "{stderr}");
    assert!(!stderr.contains("ZZZZ"), "the code is not repeated: {stderr}");
    let output = cli.run(None, &["balance"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("SMARTCODE_CODE"));
    let output = cli.run(None, &["issue", "--amount", "0.0000001", "--currency", "USD"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("invalid_request"));
    let output = Command::new(BINARY)
        .args([
            "--broker",
            "http://127.0.0.1:1",
            "--operator-token-file",
            "/nonexistent",
            "check",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    broker.assert_ledger_ok().await;
}

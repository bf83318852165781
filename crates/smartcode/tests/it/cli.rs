//! The command line through the real binary, against a real broker: the README's walk-through.

use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::{TestBroker, BINARY};

pub(crate) struct Cli<'a> {
    pub(crate) broker: &'a TestBroker,
}

impl Cli<'_> {
    pub(crate) fn run(&self, code: Option<&str>, args: &[&str]) -> Output {
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
            .env_remove("SMARTCODE_PIN")
            .env_remove("SMARTCODE_NEW_PIN")
            .env_remove("SMARTCODE_OPERATOR_TOKEN");
        if let Some(code) = code {
            command.env("SMARTCODE_CODE", code);
        }
        command.output().expect("the smartcode binary runs")
    }

    #[track_caller]
    pub(crate) fn json(&self, code: Option<&str>, args: &[&str]) -> Value {
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
    pub(crate) fn text(&self, code: Option<&str>, args: &[&str]) -> String {
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

#[tokio::test]
async fn code_controls_work_from_the_command_line() {
    let broker = TestBroker::start().await;
    let cli = Cli { broker: &broker };
    let wallet = cli.json(None, &["issue", "--amount", "10", "--currency", "USD"])["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let seller = cli.json(None, &["issue", "--amount", "1", "--currency", "USD"])["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // The shop sells music and books: a payment's category is the shop's, not the payer's word.
    let shop = cli.json(
        Some(&seller),
        &["child", "--public", "--category", "music", "--category", "books"],
    )["public_code"]
        .as_str()
        .unwrap()
        .to_owned();

    // A restricted child: two uses, music only, at most 1 per payment and 1.50 a day.
    let child = cli.json(
        Some(&wallet),
        &[
            "child",
            "--amount",
            "5",
            "--uses",
            "2",
            "--category",
            "music",
            "--payee",
            &shop,
            "--per-use",
            "1",
            "--per-period",
            "1.5/day",
            "--expires",
            "2030-01-01T00:00:00Z",
        ],
    );
    let child_code = child["code"].as_str().unwrap().to_owned();
    let child_id = child["id"].as_str().unwrap().to_owned();
    assert_eq!(child["restrictions"]["uses_max"], 2);
    assert_eq!(child["restrictions"]["categories"][0], "music");
    assert_eq!(child["restrictions"]["spend_per_period"]["period_seconds"], 86_400);
    let pay = |amount: &str, category: &str| {
        cli.run(
            Some(&child_code),
            &[
                "--json",
                "pay",
                "--payee",
                &shop,
                "--amount",
                amount,
                "--category",
                category,
            ],
        )
    };
    let refused = pay("0.5", "books");
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("restricted"));
    assert!(pay("1.5", "music").status.code() == Some(1), "per-use maximum");
    assert!(pay("1", "music").status.success());
    let over_period = pay("0.75", "music");
    assert_eq!(over_period.status.code(), Some(1), "1.75 in a day is over 1.50");
    assert!(pay("0.5", "music").status.success());
    assert!(pay("0.01", "music").status.code() == Some(1), "two uses are spent");

    // A PIN: set, needed, changed, removed.
    let set = cli.run(Some(&wallet), &["--json", "pin", "set", "--new-pin", "4821"]);
    assert!(set.status.success(), "{}", String::from_utf8_lossy(&set.stderr));
    // Reading the balance needs no PIN; spending and changing the code do.
    let shown = cli.json(Some(&wallet), &["balance"]);
    assert_eq!(shown["pin_set"], true);
    let without = cli.run(Some(&wallet), &["child", "--amount", "0.5"]);
    assert!(String::from_utf8_lossy(&without.stderr).contains("pin_required"));
    cli.json(Some(&wallet), &["--pin", "4821", "child", "--amount", "0.5"]);
    cli.json(Some(&wallet), &["--pin", "4821", "pin", "change", "--new-pin", "90210"]);
    let old = cli.run(Some(&wallet), &["--pin", "4821", "child", "--amount", "0.5"]);
    assert!(String::from_utf8_lossy(&old.stderr).contains("pin_invalid"));
    let removed = cli.json(Some(&wallet), &["--pin", "90210", "pin", "remove"]);
    assert_eq!(removed["pin_set"], false);

    // A child locked by wrong PINs is unlocked by its parent.
    let pocket = cli.json(Some(&wallet), &["child", "--amount", "1"]);
    let pocket_code = pocket["code"].as_str().unwrap().to_owned();
    cli.json(Some(&pocket_code), &["pin", "set", "--new-pin", "1111"]);
    let mut locked = false;
    for _ in 0..12 {
        let output = cli.run(Some(&pocket_code), &["--pin", "2222", "rekey"]);
        if String::from_utf8_lossy(&output.stderr).contains("code_locked") {
            locked = true;
            break;
        }
    }
    assert!(locked, "wrong PINs lock the code");
    let still = cli.run(Some(&pocket_code), &["--pin", "1111", "child", "--amount", "0.1"]);
    assert!(String::from_utf8_lossy(&still.stderr).contains("code_locked"));
    let unlocked = cli.json(Some(&wallet), &["unlock", pocket["id"].as_str().unwrap()]);
    assert_eq!(unlocked["status"], "active");
    cli.json(Some(&pocket_code), &["--pin", "1111", "child", "--amount", "0.1"]);

    // Rekey: a new secret, the same code.
    let rekeyed = cli.json(Some(&child_code), &["rekey"]);
    assert_eq!(rekeyed["id"], child_id.as_str());
    let new_code = rekeyed["code"].as_str().unwrap();
    assert_ne!(new_code, child_code);
    assert!(cli.run(Some(&child_code), &["balance"]).status.code() == Some(1));
    assert_eq!(cli.json(Some(new_code), &["balance"])["balance"]["amount"], "3.50");

    let check = cli.text(None, &["check"]);
    assert!(check.starts_with("ledger OK"), "{check}");
    broker.assert_ledger_ok().await;
}

/// `smartcode bench` runs end to end, over HTTP against a broker of its own and in process; its
/// figures are for BENCHMARKS.md, so only their shape is checked here, never their speed.
#[tokio::test]
async fn bench_measures_payments_over_http_and_in_process() {
    let modes = [
        &["--json", "bench"][..],
        &["--json", "bench", "--in-process"][..],
        &["--json", "bench", "--in-process", "--two-phase"][..],
        &["--json", "bench", "--in-process", "--rules"][..],
    ];
    for mode in modes {
        let mut args = mode.to_vec();
        args.extend_from_slice(&["--seconds", "1", "--connections", "4", "--payers", "8", "--payees", "2"]);
        let output = Command::new(BINARY)
            .args(&args)
            .env("SMARTCODE_LOG", "error")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let report: Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
        assert!(report["payments"].as_u64().unwrap() > 0, "{report}");
        assert_eq!(report["errors"], serde_json::json!({}), "{report}");
        assert!(report["payments_per_commit"].as_f64().unwrap() >= 1.0, "{report}");
        assert!(report["bytes_on_disk_per_code"].as_u64().unwrap() > 0, "{report}");
        assert!(report["latency_ms_p99"].as_f64().unwrap() >= report["latency_ms_p50"].as_f64().unwrap());
        assert_eq!(
            report["ledger_ok"], true,
            "the bench ends with the ledger check: {report}"
        );
        assert_eq!(report["spending_rules"], mode.contains(&"--rules"), "{report}");
        if mode.contains(&"--two-phase") {
            // Payments, holds and captures each alone, as many of each as the run made pairs and
            // as 8 payers may hold at once (half of 100 each).
            let phases = &report["phases"];
            let commands = phases["commands"].as_u64().unwrap();
            assert_eq!(commands, report["payments"].as_u64().unwrap().min(400), "{report}");
            for kind in ["payments_per_second", "holds_per_second", "captures_per_second"] {
                assert!(phases[kind].as_u64().unwrap() > 0, "{report}");
            }
            assert!(phases["capture_in_payments"].as_f64().unwrap() > 0.0, "{report}");
        } else {
            assert!(report.get("phases").is_none(), "{report}");
        }
    }
    for bound in [
        &["--connections", "0"][..],
        &["--rate", "10000001"],
        &["--codes", "100000001"],
    ] {
        let output = Command::new(BINARY).arg("bench").args(bound).output().unwrap();
        assert_eq!(output.status.code(), Some(1), "{bound:?} is refused");
    }
}

/// `--across` pays across two brokers it starts, with local payments measured beside in turn.
#[tokio::test]
async fn bench_across_two_brokers_reports_local_payments_beside() {
    let output = Command::new(BINARY)
        .args(["--json", "bench", "--across", "--seconds", "2", "--connections", "4"])
        .args(["--payers", "8", "--payees", "2"])
        .env("SMARTCODE_LOG", "error")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
    assert_eq!(report["mode"], "http-across-brokers", "{report}");
    assert!(report["payments"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["errors"], serde_json::json!({}), "{report}");
    assert!(report["local"]["payments_per_second"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["local"]["errors"], serde_json::json!({}), "{report}");
    assert!(report["ratio_to_local"].as_f64().unwrap() > 0.0, "{report}");
    assert_eq!(report["ledger_ok"], true, "both ledger checks pass: {report}");
}

/// `--purchases` buys offers under a rule with no one asked, and `--rules` over HTTP pays under
/// one, each beside plain payments of payers without rules in the same run.
#[tokio::test]
async fn bench_measures_zero_click_purchases_and_payments_under_rules_beside_plain_ones() {
    for (flag, mode) in [
        ("--purchases", "http-zero-click-purchases"),
        ("--rules", "http-payments-under-rules"),
    ] {
        let output = Command::new(BINARY)
            .args(["--json", "bench", flag, "--seconds", "2", "--connections", "4"])
            .args(["--payers", "8", "--payees", "2"])
            .env("SMARTCODE_LOG", "error")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let report: Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
        assert_eq!(report["mode"], mode, "{report}");
        assert_eq!(report["spending_rules"], true, "{report}");
        assert!(report["payments"].as_u64().unwrap() > 0, "{report}");
        // A purchase that waited for approval (202) would be counted as an error here.
        assert_eq!(report["errors"], serde_json::json!({}), "{report}");
        assert!(report["local"]["payments_per_second"].as_u64().unwrap() > 0, "{report}");
        assert_eq!(report["local"]["errors"], serde_json::json!({}), "{report}");
        assert_eq!(report["ledger_ok"], true, "{report}");
    }
}

/// `--webhooks` and `--items` measure their payments beside plain ones; every payment to a
/// subscribed seller reaches the bench's receiver.
#[tokio::test]
async fn bench_measures_payments_with_webhooks_and_item_purchases_beside_plain_ones() {
    for (flag, mode) in [
        ("--webhooks", "http-payments-with-webhooks"),
        ("--items", "http-item-purchases"),
    ] {
        let output = Command::new(BINARY)
            .args(["--json", "bench", flag, "--seconds", "2", "--connections", "4"])
            .args(["--payers", "8", "--payees", "2"])
            .env("SMARTCODE_LOG", "error")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let report: Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
        assert_eq!(report["mode"], mode, "{report}");
        assert!(report["payments"].as_u64().unwrap() > 0, "{report}");
        assert_eq!(report["errors"], serde_json::json!({}), "{report}");
        assert!(report["local"]["payments_per_second"].as_u64().unwrap() > 0, "{report}");
        assert_eq!(report["ledger_ok"], true, "{report}");
        if flag == "--webhooks" {
            assert_eq!(report["webhooks"]["delivered"], report["payments"], "{report}");
            assert!(report["webhooks"]["drained_after_seconds"].is_number(), "{report}");
        }
    }
}

/// `--rate` sends on a schedule, not as fast as answered, and `--codes` seeds a larger store first.
#[tokio::test]
async fn bench_paces_payments_and_seeds_a_large_store() {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .args(["--json", "bench", "--in-process", "--seconds", "2", "--rate", "20"])
        .args([
            "--connections",
            "2",
            "--payers",
            "4",
            "--payees",
            "2",
            "--codes",
            "5000",
            "--data",
        ])
        .arg(data.path())
        .env("SMARTCODE_LOG", "error")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("--json prints JSON");
    // Two seconds at 20 a second: 40 payments were due (a few more may be sent as the run stops).
    let payments = report["payments"].as_u64().unwrap();
    assert!((1..=44).contains(&payments), "{report}");
    assert_eq!(
        report["ledger_ok"], true,
        "the bench ends with the ledger check: {report}"
    );
    assert_eq!(report["rate"], 20, "{report}");
    assert_eq!(report["seeded_codes"], 5000, "{report}");
    let store = rusqlite::Connection::open(data.path().join("smartcode.sqlite3")).unwrap();
    let codes: i64 = store
        .query_row("SELECT count(*) FROM codes", [], |row| row.get(0))
        .unwrap();
    assert_eq!(
        codes,
        5000 + 4 + 2 * 2,
        "the seeded codes, the payers, the sellers and their public codes"
    );
    let zero: i64 = store
        .query_row("SELECT count(*) FROM accounts WHERE balance = 0", [], |row| row.get(0))
        .unwrap();
    assert!(zero >= 5000, "seeded codes hold nothing");
}

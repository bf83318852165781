//! Schemathesis (from PyPI, the version pinned below) against a running broker: it reads the
//! broker's own `/openapi.json`, generates requests that fit it and requests that do not, and
//! checks every answer. It must find no server error, no status, content type, header or body the
//! document does not give for that operation, and no request that fits the document yet is refused
//! with `400` (only a 400 counts as such a refusal: a 401, 402, 403, 404, 409, 410, 422, 423 or
//! 429 depends on codes and state that no schema can know).
//!
//! Four runs, each bounded by a fixed seed and number of examples: a secret code's operations
//! (`Authorization: Code`), the PIN and rekey operations on a code of their own (they change the
//! code every later request presents), payments (whose body carries a code, so they feed the
//! guessing defence), and the operator's operations (`Authorization: Bearer`; all but adding a
//! peer, which calls out to the URL it is given and is tested with real peers). Between runs the
//! test clock moves a day on, so the guessing defence forgets the failures of the run before: a
//! `429 challenge_required` within a run is expected and documented on every operation that takes a code.
//!
//! Without Schemathesis (`pip install schemathesis==VERSION`) the test prints a loud SKIPPED line
//! and passes; under `CI=true` it fails (the rule of `smartcode_store::testing`).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::{json, Value};

use crate::harness::{on_postgres, TestBroker};

/// The Schemathesis release this test is written for; `.ci/run` installs it.
pub const SCHEMATHESIS_VERSION: &str = "4.32.5";
/// The seed of every run, so a failure replays.
const SEED: &str = "20261202";
/// Test cases per operation and phase.
const MAX_EXAMPLES: &str = "10";

/// Checks that hold for every request, fitting the document or not, and the one for fitting ones.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_headers_conformance,response_schema_conformance,positive_data_acceptance";

/// What a request that fits the document may be answered: everything the document gives but 400
/// (and the 5xx, which `not_a_server_error` refuses on its own). Then values Schemathesis cannot
/// guess: a public code and a receipt that exist, and half of the payments from a real code.
fn config(shop: &str, receipt: &str, payer: &str) -> String {
    format!(
        r#"
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "402", "403", "404", "408", "409", "410", "413", "422", "423", "429"]

[phases.stateful]
max-steps = 10

[dictionaries.payers]
values = ["{payer}"]

[dictionaries.payees]
values = ["{shop}"]

[[operations]]
include-name = "GET /v1/public/{{public_code}}"
parameters = {{ "path.public_code" = "{shop}" }}

[[operations]]
include-name = "GET /v1/receipts/{{id}}"
parameters = {{ "path.id" = "{receipt}" }}

[[operations]]
include-name = "POST /v1/payments"
parameters = {{ "body.code" = {{ dictionary = "payers", probability = 0.5 }}, "body.payee" = {{ dictionary = "payees", probability = 0.5 }} }}
"#
    )
}

/// The `schemathesis` command of the pinned version, or why there is none.
fn schemathesis() -> Result<String, String> {
    for program in ["schemathesis", "st"] {
        let Ok(output) = Command::new(program).arg("--version").output() else {
            continue;
        };
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        if version.ends_with(&format!(" {SCHEMATHESIS_VERSION}")) {
            return Ok(program.to_owned());
        }
        return Err(format!("{program} is {version:?}, not {SCHEMATHESIS_VERSION}"));
    }
    Err("no schemathesis on PATH".into())
}

/// The skip-or-fail rule of the PostgreSQL and Chromium tests.
fn skip(reason: &str) {
    assert!(
        !smartcode_store::testing::in_ci(),
        "CI=true but Schemathesis cannot run: {reason} (pip install schemathesis=={SCHEMATHESIS_VERSION})"
    );
    // Straight to the process's stderr: the test harness captures `eprintln!`, and a skip must be seen.
    let line = format!(
        "\n*** SKIPPED: Schemathesis tests ({reason}; pip install schemathesis=={SCHEMATHESIS_VERSION}) ***\n\n"
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
}

/// One Schemathesis run against the broker, with `header` on every request and only the
/// operations `filters` select. Panics with Schemathesis's report if it finds anything.
fn run(program: &str, work: &Path, broker: &TestBroker, what: &str, header: Option<&str>, filters: &[&str]) {
    let mut command = Command::new(program);
    command
        .arg("--config-file")
        .arg(work.join("schemathesis.toml"))
        .args(["run", &format!("{}/openapi.json", broker.base)])
        .args(["--checks", CHECKS])
        .args(["--seed", SEED, "--max-examples", MAX_EXAMPLES, "--workers", "1"])
        .args(["--generation-database", "none", "--request-timeout", "10", "--no-color"])
        .args(filters)
        .current_dir(work)
        .stdin(Stdio::null());
    if let Some(header) = header {
        command.args(["--header", header]);
    }
    let started = Instant::now();
    let output = command.output().expect("schemathesis runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // The code in the header is the broker's secret; it stays out of the test's output.
    let report = match header.and_then(|h| h.strip_prefix("Authorization: ")) {
        Some(credential) => report.replace(credential, "<credential>"),
        None => report,
    };
    assert!(
        output.status.success(),
        "Schemathesis found problems with {what} (seed {SEED}):\n{report}"
    );
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("schemathesis: {what}: passed in {:.0?}\n", started.elapsed()).as_bytes(),
    );
}

/// A request on a connection of its own: the harness's pooled connection has been idle through a
/// run, longer than the broker keeps an idle connection open, and a request sent on it as the
/// broker closes it is lost.
async fn operator_request(broker: &TestBroker, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("an HTTP client");
    let mut request = client
        .request(method, format!("{}{path}", broker.base))
        .bearer_auth(&broker.token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("the broker answers");
    assert_eq!(response.status(), 200, "{path} answers 200");
    response.json().await.expect("a JSON body")
}

/// Moves the broker's test clock a day and a second on, past the guessing defence's window.
async fn forget_failures(broker: &TestBroker) {
    let body = json!({ "advance_seconds": 24 * 3600 + 1 });
    operator_request(broker, reqwest::Method::POST, "/v1/admin/clock", Some(body)).await;
}

#[tokio::test]
async fn schemathesis_finds_nothing_the_document_does_not_allow() {
    if on_postgres() {
        // The run on PostgreSQL repeats the whole binary; Schemathesis speaks only HTTP, which
        // does not change with the store, and doubling its minutes buys little.
        return;
    }
    let program = match schemathesis() {
        Ok(program) => program,
        Err(reason) => return skip(&reason),
    };
    let work = tempfile::tempdir().expect("a working directory for Schemathesis");
    let broker = TestBroker::start().await;

    // A code with value, children and a payment behind it, so reads have something to show; a
    // payer for the payments run; a code of its own for the PIN and rekey run.
    let (code, _) = broker.issue("1000", "USD").await;
    let (shop, _) = broker.public_child(&code).await;
    let (payer, _) = broker.issue("100", "USD").await;
    let paid = broker.pay(&payer, &shop, "1.25").await.expect(201);
    let receipt = paid.body["receipt"]["id"].as_str().expect("a receipt id").to_owned();
    broker.secret_child(&code, "5").await;
    let (own, _) = broker.issue("100", "USD").await;
    std::fs::write(work.path().join("schemathesis.toml"), config(&shop, &receipt, &payer))
        .expect("the configuration is written");

    let code_header = format!("Authorization: Code {code}");
    let own_header = format!("Authorization: Code {own}");
    let operator_header = format!("Authorization: Bearer {}", broker.token);
    let program = program.as_str();
    let dir = work.path();
    let pin_or_rekey = "--include-path-regex=^/v1/me/(pin|rekey)$";
    let started = Instant::now();
    // Schemathesis runs in the foreground: the broker is a process of its own. (One filter of each
    // kind per run: Schemathesis keeps only the last.)
    run(
        program,
        dir,
        &broker,
        "a secret code's operations",
        Some(&code_header),
        &["--exclude-path-regex=^/v1/(admin/|me/(pin|rekey)$|payments$)"],
    );
    forget_failures(&broker).await;
    run(
        program,
        dir,
        &broker,
        "PIN and rekey",
        Some(&own_header),
        &[pin_or_rekey],
    );
    forget_failures(&broker).await;
    run(
        program,
        dir,
        &broker,
        "payments",
        None,
        &["--include-path=/v1/payments"],
    );
    forget_failures(&broker).await;
    run(
        program,
        dir,
        &broker,
        "the operator's operations",
        Some(&operator_header),
        // Adding a peer calls out to the URL it is given, so a fitting request may rightly be
        // answered 503 peer_unreachable: it is left to tests/it/peers.rs, with real peers.
        &["--include-path-regex=^/v1/admin/", "--exclude-operation-id=addPeer"],
    );
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!("schemathesis: all runs passed in {:.0?}\n", started.elapsed()).as_bytes(),
    );
    let check = operator_request(&broker, reqwest::Method::GET, "/v1/admin/ledger/check", None).await;
    assert_eq!(check["ok"], true, "the ledger check fails after Schemathesis: {check}");
}

//! The guessing defence through the real server: a source's free tries refill over time and, once
//! spent, it answers a challenge (never a flat refusal of a valid code); the issue's attack (31
//! addresses behind a trusted proxy, 10 wrong codes each) leaves proven holders, sellers with
//! their key and first-time holders paying; the operator sees the sources, forgives them and
//! ends the alarm from the API and the CLI; a trusted proxy's `X-Forwarded-For` is believed,
//! nobody else's; the README's arithmetic is the limits' own.
//!
//! Requests come from several loopback addresses (127.0.0.2, 127.0.1.x, ...): the broker listens on
//! 127.0.0.1 and sees each client's own address. The harness's client is 127.0.0.1.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use smartcode_client::challenge::ChallengeJson;
use smartcode_core::code::SecretCode;
use smartcode_core::limits::{
    ATTACKER_ADDRESSES_ASSUMED, ATTACKER_HASHES_PER_SECOND_PER_CORE, ATTACKER_TREES_ASSUMED,
    GUESSING_FAILURES_A_YEAR_BOUND, POW_BASE_BITS, POW_BITS_MAX, POW_FAILURES_PER_BIT, POW_PRESSURE_DRAIN_PER_DAY,
};
use smartcode_server::guard::{
    GUESS_WINDOW_SECONDS, HOLDER_FREE_FAILURES_PER_DAY, SELLER_FREE_FAILURES_PER_DAY, SLOWDOWN_PER_FAILURE_MS,
    SOURCE_FAILURES_SLOW_AFTER, SOURCE_FREE_FAILURES_PER_DAY, UNKNOWN_FREE_FAILURES_PER_DAY,
};

use crate::harness::{Auth, Reply, TestBroker, BINARY};

/// A client at one loopback address, talking to a broker (the harness's client is 127.0.0.1).
pub struct Peer {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Peer {
    pub fn of(broker: &TestBroker, address: &str) -> Peer {
        Peer::at(&broker.base, &broker.token, address)
    }

    pub fn at(base: &str, token: &str, address: &str) -> Peer {
        let address: IpAddr = address.parse().expect("a loopback address");
        let http = reqwest::Client::builder()
            .local_address(address)
            .build()
            .expect("a client bound to a loopback address");
        Peer {
            http,
            base: base.to_owned(),
            token: token.to_owned(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{}", self.base, path));
        request = match auth {
            Auth::None => request,
            Auth::Code(code) => request.header("Authorization", format!("Code {code}")),
            Auth::Operator => request.header("Authorization", format!("Bearer {}", self.token)),
            Auth::Raw(value) => request.header("Authorization", value),
        };
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the broker answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("a readable body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    pub async fn get(&self, path: &str, auth: Auth<'_>) -> Reply {
        self.call(Method::GET, path, auth, None, &[]).await
    }

    pub async fn pay(&self, code: &str, payee: &str, amount: &str) -> Reply {
        self.pay_with(code, payee, amount, &[]).await
    }

    pub async fn pay_with(&self, code: &str, payee: &str, amount: &str, headers: &[(&str, &str)]) -> Reply {
        let body = json!({ "code": code, "payee": payee, "amount": amount });
        self.call(Method::POST, "/v1/payments", Auth::None, Some(body), headers)
            .await
    }
}

/// A secret code of the right format that no broker issued (1 in 2^40 to hit a live one).
fn unknown_code() -> String {
    SecretCode::generate().reveal()
}

/// The `Retry-After` of a refusal, in seconds, if sent.
fn retry_after(reply: &Reply) -> Option<u64> {
    reply
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

async fn advance_clock(peer: &Peer, seconds: i64) {
    peer.call(
        Method::POST,
        "/v1/admin/clock",
        Auth::Operator,
        Some(json!({ "advance_seconds": seconds })),
        &[],
    )
    .await
    .expect(200);
}

async fn security(peer: &Peer) -> Value {
    peer.get("/v1/admin/security", Auth::Operator).await.expect(200).body
}

async fn metric(peer: &Peer, name: &str) -> u64 {
    let reply = peer.get("/metrics", Auth::None).await.expect(200);
    reply
        .text
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{}", reply.text))
}

async fn balance(peer: &Peer, code: &str) -> String {
    let reply = peer.get("/v1/me", Auth::Code(code)).await.expect(200);
    reply.body["balance"]["amount"].as_str().unwrap().to_owned()
}

/// The failures a source has in the window, as `/v1/admin/security` lists it (0 if not listed).
fn failures_of(report: &Value, source: &str) -> u64 {
    report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == source)
        .map_or(0, |s| s["failures"].as_u64().unwrap())
}

/// The challenge of a `challenge_required` refusal.
fn challenge_of(reply: &Reply) -> ChallengeJson {
    let header = reply.headers.get("smartcode-challenge").expect("a challenge header");
    ChallengeJson::from_header(header.to_str().unwrap()).expect("a challenge the client can read")
}

/// The answer to a refusal's challenge, as the header carries it.
fn solve(reply: &Reply) -> String {
    challenge_of(reply).answer(POW_BASE_BITS + 8).expect("within reach")
}

const FREE: u64 = SOURCE_FREE_FAILURES_PER_DAY as u64;

#[tokio::test]
async fn a_source_spends_its_free_tries_then_answers_a_challenge_and_they_refill_over_time() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let guesser = Peer::of(&broker, "127.0.0.2");
    let neighbour = Peer::of(&broker, "127.0.0.3");

    // Each refusal says how many tries are left; after SOURCE_FAILURES_SLOW_AFTER it is slowed.
    for left in (0..FREE).rev() {
        let started = Instant::now();
        let refusal = guesser
            .pay(&unknown_code(), &shop, "0.1")
            .await
            .refused(401, "invalid_code");
        assert_eq!(refusal.body["tries_left"], left, "{}", refusal.text);
        let word = if left == 1 { "try" } else { "tries" };
        assert!(refusal.body["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("{left} {word} left today")));
        if FREE - left == SOURCE_FAILURES_SLOW_AFTER as u64 + 1 {
            assert!(started.elapsed() >= Duration::from_millis(SLOWDOWN_PER_FAILURE_MS));
        }
    }
    // A wrong PIN is a failed presentation too, and says so.
    // Now a valid code from that address is not refused flatly: it may answer a challenge.
    let asked = guesser
        .pay(&buyer, &shop, "0.1")
        .await
        .refused(429, "challenge_required");
    let period = (GUESS_WINDOW_SECONDS / SOURCE_FREE_FAILURES_PER_DAY) as u64;
    assert_eq!(
        retry_after(&asked),
        Some(period),
        "Retry-After: when one free try is back"
    );
    assert_eq!(asked.body["difficulty_bits"], POW_BASE_BITS);
    let answer = solve(&asked);
    guesser
        .pay_with(&buyer, &shop, "0.1", &[("Smartcode-Challenge-Response", &answer)])
        .await
        .expect(201);
    // An answer is used once; a made-up one is not taken.
    guesser
        .pay_with(&buyer, &shop, "0.1", &[("Smartcode-Challenge-Response", &answer)])
        .await
        .refused(429, "challenge_required");
    guesser
        .pay_with(&buyer, &shop, "0.1", &[("Smartcode-Challenge-Response", "x.1.2.y:3")])
        .await
        .refused(429, "challenge_required");
    // Another address is not affected.
    neighbour.pay(&buyer, &shop, "0.1").await.expect(201);

    // Retry-After told the truth: shortly before it, still a challenge; at it, a free try. (The
    // budget refills with real time too, which the test does not stop: hence the margin.)
    let margin = 30;
    advance_clock(&guesser, period as i64 - margin).await;
    guesser
        .pay(&buyer, &shop, "0.1")
        .await
        .refused(429, "challenge_required");
    advance_clock(&guesser, margin).await;
    guesser.pay(&buyer, &shop, "0.1").await.expect(201);
    let refusal = guesser
        .pay(&unknown_code(), &shop, "0.1")
        .await
        .refused(401, "invalid_code");
    assert_eq!(refusal.body["tries_left"], 0, "one try came back, not the whole day's");

    let report = security(&guesser).await;
    assert_eq!(failures_of(&report, "127.0.0.2"), FREE);
    assert_eq!(report["alarm_active"], false, "ten typos are no attack: {report}");
    assert_eq!(metric(&guesser, "smartcode_challenges_answered_total").await, 1);
    assert_eq!(balance(&neighbour, &buyer).await, "9.70");
    broker.assert_ledger_ok().await;
}

/// Runs `count` wrong codes from each of `addresses` forwarded by the proxy, all at once; answers
/// the statuses.
async fn flood(proxy: &Peer, shop: &str, addresses: &[String], count: usize) -> Vec<u16> {
    let tries = addresses.iter().map(|address| async move {
        let mut statuses = Vec::new();
        for _ in 0..count {
            let forwarded = [("X-Forwarded-For", address.as_str())];
            statuses.push(proxy.pay_with(&unknown_code(), shop, "0.01", &forwarded).await.status);
        }
        statuses
    });
    futures::stream::iter(tries)
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect()
}

fn run_cli(broker: &FlaggedBroker, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let output = Command::new(BINARY)
        .args(args)
        .env("SMARTCODE_BROKER", &broker.base)
        .env("SMARTCODE_OPERATOR_TOKEN", &broker.token)
        .env("SMARTCODE_PROOF_FILE", broker.dir().join("proofs.json"))
        .envs(env.iter().copied())
        .output()
        .expect("the CLI runs");
    assert!(
        output.status.success(),
        "smartcode {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The issue's attack: 310 wrong codes from 31 addresses, 10 each, through a trusted proxy.
#[tokio::test]
async fn the_attack_of_many_addresses_leaves_honest_customers_paying_and_the_operator_in_charge() {
    let broker = FlaggedBroker::start(&["--trusted-proxy", "127.0.0.1"]).await;
    let proxy = broker.peer("127.0.0.1");
    let issue = |amount: &'static str| {
        let proxy = &proxy;
        async move {
            let body = json!({ "amount": amount, "currency": "USD" });
            let reply = proxy
                .call(Method::POST, "/v1/admin/codes", Auth::Operator, Some(body), &[])
                .await;
            reply.expect(201).body["code"].as_str().unwrap().to_owned()
        }
    };
    let regular = issue("10").await;
    let newcomer = issue("10").await;
    let seller = issue("1").await;
    let child = json!({ "kind": "public" });
    let created = proxy
        .call(Method::POST, "/v1/me/children", Auth::Code(&seller), Some(child), &[])
        .await;
    let shop = created.expect(201).body["public_code"].as_str().unwrap().to_owned();
    // Before the attack: the regular customer's phone keeps a proof, the shop's server a seller key.
    let proof = proxy
        .call(Method::POST, "/v1/me/proof", Auth::Code(&regular), Some(json!({})), &[])
        .await;
    let proof = proof.expect(200).body["proof"].as_str().unwrap().to_owned();
    let key = proxy
        .call(
            Method::POST,
            "/v1/me/seller-key",
            Auth::Code(&seller),
            Some(json!({})),
            &[],
        )
        .await;
    let seller_key = key.expect(200).body["seller_key"].as_str().unwrap().to_owned();

    let attackers: Vec<String> = (0..31).map(|i| format!("10.7.0.{i}")).collect();
    let statuses = flood(&proxy, &shop, &attackers, FREE as usize).await;
    let failed = statuses.iter().filter(|s| **s == 401).count();
    let challenged = statuses.iter().filter(|s| **s == 429).count();
    // The pool is all unknown sources get free; a few admitted at the very instant it ran dry may
    // overdraw it, a debt repaid from its later refills (never more than those in flight).
    let pool = UNKNOWN_FREE_FAILURES_PER_DAY as usize;
    assert!((pool..pool + 64).contains(&failed), "{failed} failed for free");
    assert_eq!(challenged, 310 - failed, "{statuses:?}");
    let report = security(&proxy).await;
    assert_eq!(report["alarm_active"], true, "{report}");
    assert_eq!(report["unknown_sources_tries_left"], 0);
    assert_eq!(metric(&proxy, "smartcode_guessing_alarm").await, 1);
    let logged = std::fs::read_to_string(&broker.log).expect("the broker's log");
    assert!(
        logged.contains("guessing alarm raised"),
        "the alarm is in the log:\n{logged}"
    );

    // The regular customer, on a new network, shows its proof: it pays and reads, at once.
    let on_the_road = [
        ("X-Forwarded-For", "198.51.100.20"),
        ("Smartcode-Proof", proof.as_str()),
    ];
    proxy.pay_with(&regular, &shop, "0.1", &on_the_road).await.expect(201);
    // The shop's server presents a buyer's code with its seller key from a guesser's own address.
    let from_the_shop = [
        ("X-Forwarded-For", "10.7.0.3"),
        ("Smartcode-Seller", seller_key.as_str()),
    ];
    proxy.pay_with(&regular, &shop, "0.1", &from_the_shop).await.expect(201);
    // Its typos count against the shop, not the address or everyone.
    for left in (0..SELLER_FREE_FAILURES_PER_DAY).rev() {
        let refusal = proxy.pay_with(&unknown_code(), &shop, "0.1", &from_the_shop).await;
        assert_eq!(refusal.refused(401, "invalid_code").body["tries_left"], left);
    }
    let report = security(&proxy).await;
    let tree = report["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "seller")
        .cloned();
    assert_eq!(
        tree.expect("the seller is listed")["failures"],
        SELLER_FREE_FAILURES_PER_DAY
    );

    // A first-time customer scanning the shop's QR code on a new phone: asked for a moment of
    // work, never refused. The work grew with the attack: one bit per POW_FAILURES_PER_BIT paid.
    let phone = [("X-Forwarded-For", "203.0.113.50")];
    let asked = proxy
        .pay_with(&newcomer, &shop, "0.1", &phone)
        .await
        .refused(429, "challenge_required");
    assert_eq!(challenge_of(&asked).difficulty_bits, POW_BASE_BITS);
    let answer = solve(&asked);
    let answered = [phone[0], ("Smartcode-Challenge-Response", answer.as_str())];
    proxy.pay_with(&newcomer, &shop, "0.1", &answered).await.expect(201);

    // The CLI answers a challenge by itself (from 127.0.0.1, a new source: the pool is dry), and
    // keeps the proof of its success for the next time.
    let out = run_cli(&broker, &["balance", "--json"], &[("SMARTCODE_CODE", &newcomer)]);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["balance"]["amount"], "9.90");
    let kept = std::fs::read_to_string(broker.dir().join("proofs.json")).expect("the CLI kept a proof");
    assert!(kept.contains(&broker.base) && kept.contains("pf1."), "{kept}");

    // The operator sees the sources, forgives a network, and ends the alarm, without a restart.
    let out = run_cli(&broker, &["security"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("alarm: RAISED") && text.contains("10.7.0.3"), "{text}");
    let out = run_cli(&broker, &["security", "--json"], &[]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("--json is JSON");
    let in_network: Vec<u64> = (0..16).map(|i| failures_of(&report, &format!("10.7.0.{i}"))).collect();
    assert!(in_network.iter().all(|f| *f > 0), "{report}");
    let outside = failures_of(&report, "10.7.0.16");
    assert!(outside > 0);
    let out = run_cli(&broker, &["security", "forgive", "10.7.0.0/28", "--json"], &[]);
    let forgiven: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(forgiven["forgiven"], 16);
    let report = security(&proxy).await;
    assert_eq!(failures_of(&report, "10.7.0.3"), 0);
    assert_eq!(
        failures_of(&report, "10.7.0.16"),
        outside,
        "outside the network: not forgiven"
    );
    proxy
        .call(
            Method::POST,
            "/v1/admin/security/forgive",
            Auth::Operator,
            Some(json!({ "source": "nonsense" })),
            &[],
        )
        .await
        .refused(400, "invalid_request");
    let out = run_cli(&broker, &["security", "end-alarm"], &[]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("The alarm is over"));
    let report = security(&proxy).await;
    assert_eq!(report["alarm_active"], false, "{report}");
    assert_eq!(report["unknown_sources_tries_left"], UNKNOWN_FREE_FAILURES_PER_DAY);
    let fresh = [("X-Forwarded-For", "203.0.113.51")];
    proxy.pay_with(&newcomer, &shop, "0.1", &fresh).await.expect(201);

    assert_eq!(balance(&proxy, &regular).await, "9.80");
    assert_eq!(balance(&proxy, &newcomer).await, "9.80");
    let check = proxy.get("/v1/admin/ledger/check", Auth::Operator).await.expect(200);
    assert_eq!(check.body["ok"], true, "{}", check.text);
}

#[tokio::test]
async fn a_holder_proof_is_counted_per_tree_and_a_forged_one_is_only_an_address() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (child, _) = broker.secret_child(&buyer, "1").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let peer = Peer::of(&broker, "127.0.0.4");
    // A child's proof names its tree: making children adds no budget.
    let of_child = peer
        .call(Method::POST, "/v1/me/proof", Auth::Code(&child), Some(json!({})), &[])
        .await;
    let of_child = of_child.expect(200).body["proof"].as_str().unwrap().to_owned();
    let of_buyer = peer
        .call(Method::POST, "/v1/me/proof", Auth::Code(&buyer), Some(json!({})), &[])
        .await;
    let of_buyer = of_buyer.expect(200).body["proof"].as_str().unwrap().to_owned();
    assert_eq!(of_child.split('.').nth(1), of_buyer.split('.').nth(1), "one tree");
    for proof in [&of_child, &of_buyer] {
        let refusal = peer
            .pay_with(&unknown_code(), &shop, "0.1", &[("Smartcode-Proof", proof)])
            .await;
        refusal.refused(401, "invalid_code");
    }
    let refusal = peer
        .pay_with(&unknown_code(), &shop, "0.1", &[("Smartcode-Proof", &of_buyer)])
        .await;
    refusal.refused(429, "challenge_required");
    assert_eq!(HOLDER_FREE_FAILURES_PER_DAY, 2, "the two tries above");
    // The address itself still has all its tries: the proof's failures were the tree's.
    let forged = format!("{}x", of_buyer);
    let refusal = peer
        .pay_with(&unknown_code(), &shop, "0.1", &[("Smartcode-Proof", &forged)])
        .await;
    assert_eq!(refusal.refused(401, "invalid_code").body["tries_left"], FREE - 1);
    peer.pay(&buyer, &shop, "0.1").await.expect(201);
    // Proofs are minted only for a code that works.
    let wrong = peer
        .call(
            Method::POST,
            "/v1/me/proof",
            Auth::Code(&unknown_code()),
            Some(json!({})),
            &[],
        )
        .await;
    wrong.refused(401, "invalid_code");
    broker.assert_ledger_ok().await;
}

/// The README's table is the limits' own: change a limit and this fails until the README says so.
#[test]
fn the_readme_arithmetic_is_recomputed_from_the_limits() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let group = |n: i64| {
        let digits = n.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    };
    let trees = ATTACKER_TREES_ASSUMED * (HOLDER_FREE_FAILURES_PER_DAY + SELLER_FREE_FAILURES_PER_DAY);
    let per_day = UNKNOWN_FREE_FAILURES_PER_DAY + POW_PRESSURE_DRAIN_PER_DAY + trees;
    let climb = POW_FAILURES_PER_BIT * i64::from(POW_BITS_MAX - POW_BASE_BITS);
    let hashes =
        i128::from(ATTACKER_ADDRESSES_ASSUMED) * i128::from(ATTACKER_HASHES_PER_SECOND_PER_CORE) * 365 * 86_400;
    let beyond = ((hashes + (1i128 << POW_BITS_MAX) - 1) >> POW_BITS_MAX) as i64;
    let year = 365 * per_day + climb + beyond;
    assert_eq!(year, smartcode_core::limits::guessing_failures_a_year_max());
    assert!(year <= GUESSING_FAILURES_A_YEAR_BOUND);
    // 10^6 live codes among 32^8: expected finds = year × 10^6 / 32^8, to four decimals.
    let space: i128 = 1 << 40;
    let finds_e4 = (i128::from(year) * 1_000_000 * 10_000 + space / 2) / space;
    let expected = [
        format!("| unknown sources together, free | {} a day |", UNKNOWN_FREE_FAILURES_PER_DAY),
        format!("| one source, free | {} a day, one back every {} minutes |", SOURCE_FREE_FAILURES_PER_DAY, 24 * 60 / SOURCE_FREE_FAILURES_PER_DAY),
        format!("| each of the attacker's {ATTACKER_TREES_ASSUMED} trees, with a proof or a seller key | {} + {} a day = {trees} a day for all |", HOLDER_FREE_FAILURES_PER_DAY, SELLER_FREE_FAILURES_PER_DAY),
        format!("| paid with work, in the long run | {} a day (the pressure's drain) |", POW_PRESSURE_DRAIN_PER_DAY),
        format!("| paid with work, while the difficulty climbs from {POW_BASE_BITS} to {POW_BITS_MAX} bits | {} once |", group(climb)),
        format!("| beyond {POW_BITS_MAX} bits, all of {} cores at 2^24 hashes a second for a year | {beyond} |", group(ATTACKER_ADDRESSES_ASSUMED)),
        format!("| failures a year, at most | 365 × {per_day} + {} + {beyond} = **{}** |", group(climb), group(year)),
        format!("| expected codes found per year | {} × 9.1 × 10⁻⁷ ≈ **0.{:04}** |", group(year), finds_e4),
        format!("most {} of them; what changes is the chance of each.", group(year)),
        format!(
            "| expected authorization codes found per year | {} × 10⁻⁶ ≈ **0.{:04}**, each worth only its one amount |",
            group(year),
            (i128::from(year) * 10_000 * 10_000 + 5_000_000_000) / 10_000_000_000,
        ),
    ];
    // Ten random digits, and a secret alias at least as hard to guess as the code it names.
    use smartcode_core::numeric::NumericKind;
    assert_eq!(NumericKind::Authorization.random_digits(), 10);
    assert!(10f64.powi(NumericKind::SecretAlias.random_digits() as i32) >= 32f64.powi(8));
    for line in expected {
        assert!(
            readme.contains(&line),
            "README.md lacks the line, recomputed from the limits:\n{line}"
        );
    }
    assert!(finds_e4 < 1_000, "at most 0.1 codes a year");

    // The same for each bound of each code format, and the format just short of the shortest.
    use smartcode_core::format::{Alphabet, CodeFormat};
    let finds = |space: u128| (year as u128 * 1_000_000 * 10_000 + space / 2) / space;
    let shown = |e4: u128| format!("{}.{:04}", e4 / 10_000, e4 % 10_000);
    let (crockford, digits) = (Alphabet::Crockford.lengths(), Alphabet::Digits.lengths());
    let space = |alphabet: Alphabet, length: usize| CodeFormat::new(alphabet, length).unwrap().space();
    let lines = [
        (
            space(Alphabet::Crockford, *crockford.start()),
            format!(
                "| `crockford`, {} symbols (the default) | 32⁸ ≈ 1.10 × 10¹² |",
                crockford.start()
            ),
        ),
        (
            space(Alphabet::Crockford, *crockford.end()),
            format!(
                "| `crockford`, {} symbols (the longest) | 32¹⁰ ≈ 1.13 × 10¹⁵ |",
                crockford.end()
            ),
        ),
        (
            space(Alphabet::Digits, *digits.start()),
            format!(
                "| `digits`, {} symbols (the shortest all-digit) | 10¹³ |",
                digits.start()
            ),
        ),
        (
            space(Alphabet::Digits, *digits.end()),
            format!("| `digits`, {} symbols (the longest) | 10¹⁸ |", digits.end()),
        ),
    ];
    for (space, line) in lines {
        let line = format!("{line} **{}** |", shown(finds(space)));
        assert!(readme.contains(&line), "README.md lacks the line, recomputed:\n{line}");
        assert!(finds(space) < 1_000, "{line}");
    }
    let short = 10u128.pow(*digits.start() as u32 - 1);
    assert!(finds(short) >= 1_000, "one digit fewer would break the bound");
    let line = format!(
        "| `digits`, {} symbols: refused | 10¹² | {}, over the bound |",
        digits.start() - 1,
        shown(finds(short))
    );
    assert!(readme.contains(&line), "README.md lacks the line, recomputed:\n{line}");
}

/// A broker started with extra `serve` flags (TestBroker takes none), logging at `warn` to a file.
struct FlaggedBroker {
    process: Child,
    base: String,
    token: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
    /// When the suite runs on PostgreSQL, the broker's database.
    _schema: Option<smartcode_store::testing::TestSchema>,
}

impl FlaggedBroker {
    async fn start(flags: &[&str]) -> FlaggedBroker {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        let log = dir.path().join("broker.log");
        let schema = crate::harness::on_postgres()
            .then(|| smartcode_store::testing::TestSchema::create().expect("a PostgreSQL run has a database"));
        let database = schema
            .as_ref()
            .map(|s| vec!["--database".to_owned(), s.url().to_owned()])
            .unwrap_or_default();
        let mut process = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--test-clock"])
            .args(flags)
            .args(&database)
            .arg("--data")
            .arg(&data)
            .env("SMARTCODE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("a log file"))
            .spawn()
            .expect("the smartcode binary starts");
        let stdout = process.stdout.take().expect("stdout is piped");
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        let first = lines
            .next()
            .expect("serve prints its address")
            .expect("readable stdout");
        let base = first
            .rsplit(' ')
            .next()
            .expect("address at the end of the line")
            .to_owned();
        std::thread::spawn(move || for _ in lines {});
        let token = std::fs::read_to_string(data.join("operator-token"))
            .expect("operator token written")
            .trim()
            .to_owned();
        let broker = FlaggedBroker {
            process,
            base,
            token,
            log,
            _dir: dir,
            _schema: schema,
        };
        let probe = reqwest::Client::new();
        for _ in 0..100 {
            let healthy = probe.get(format!("{}/healthz", broker.base)).send().await;
            if healthy.is_ok_and(|r| r.status() == 200) {
                return broker;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the broker did not become healthy");
    }

    fn peer(&self, address: &str) -> Peer {
        Peer::at(&self.base, &self.token, address)
    }

    fn dir(&self) -> &std::path::Path {
        self._dir.path()
    }
}

impl Drop for FlaggedBroker {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_source() {
    let broker = FlaggedBroker::start(&["--trusted-proxy", "127.0.0.1"]).await;
    let proxy = broker.peer("127.0.0.1");
    let stranger = broker.peer("127.0.0.2");
    let issue = |amount: &'static str| {
        proxy.call(
            Method::POST,
            "/v1/admin/codes",
            Auth::Operator,
            Some(json!({ "amount": amount, "currency": "USD" })),
            &[],
        )
    };
    let buyer = issue("10").await.expect(201).body["code"].as_str().unwrap().to_owned();
    let seller = issue("1").await.expect(201).body["code"].as_str().unwrap().to_owned();
    let shop = proxy
        .call(
            Method::POST,
            "/v1/me/children",
            Auth::Code(&seller),
            Some(json!({ "kind": "public" })),
            &[],
        )
        .await
        .expect(201)
        .body["public_code"]
        .as_str()
        .unwrap()
        .to_owned();

    // Client A behind the proxy fails all its free tries; an address it puts in front of its
    // own is not believed (the rightmost address the proxy did not add is the client). At the same
    // time, addresses of one IPv6 /64 fail together as one source.
    let fail = |chain: String| {
        let proxy = &proxy;
        let shop = &shop;
        async move {
            proxy
                .pay_with(&unknown_code(), shop, "0.01", &[("X-Forwarded-For", chain.as_str())])
                .await
                .status
        }
    };
    let mut chains = Vec::new();
    for i in 0..SOURCE_FREE_FAILURES_PER_DAY {
        chains.push(format!("203.0.113.{i}, 198.51.100.7"));
        chains.push(format!("2001:db8:1:2::{:x}", i + 1));
    }
    // The first SOURCE_FAILURES_SLOW_AFTER of each source one by one, the slowed rest at once.
    let (first, rest) = chains.split_at(2 * SOURCE_FAILURES_SLOW_AFTER as usize);
    for chain in first {
        assert_eq!(fail(chain.clone()).await, 401);
    }
    let statuses = futures::future::join_all(rest.iter().cloned().map(fail)).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");

    for chain in ["198.51.100.7", "192.0.2.1, 198.51.100.7", "198.51.100.7, 127.0.0.1"] {
        proxy
            .pay_with(&buyer, &shop, "0.1", &[("X-Forwarded-For", chain)])
            .await
            .refused(429, "challenge_required");
    }
    proxy
        .pay_with(&buyer, &shop, "0.1", &[("X-Forwarded-For", "2001:db8:1:2::beef")])
        .await
        .refused(429, "challenge_required");
    // Another client behind the same proxy, another /64, and the proxy itself are not affected.
    proxy
        .pay_with(&buyer, &shop, "0.1", &[("X-Forwarded-For", "198.51.100.8")])
        .await
        .expect(201);
    proxy
        .pay_with(&buyer, &shop, "0.1", &[("X-Forwarded-For", "2001:db8:1:3::1")])
        .await
        .expect(201);
    proxy.pay(&buyer, &shop, "0.1").await.expect(201);

    // A peer that is not a trusted proxy is its own source, whatever it forwards.
    for _ in 0..2 {
        stranger
            .pay_with(&unknown_code(), &shop, "0.01", &[("X-Forwarded-For", "198.51.100.8")])
            .await
            .refused(401, "invalid_code");
    }
    stranger
        .pay_with(&buyer, &shop, "0.1", &[("X-Forwarded-For", "198.51.100.7")])
        .await
        .expect(201);

    let report = security(&proxy).await;
    assert_eq!(failures_of(&report, "198.51.100.7"), FREE);
    assert_eq!(failures_of(&report, "2001:db8:1:2::/64"), FREE);
    assert_eq!(failures_of(&report, "127.0.0.2"), 2);
    for innocent in ["198.51.100.8", "127.0.0.1", "203.0.113.0", "2001:db8:1:3::/64"] {
        assert_eq!(failures_of(&report, innocent), 0, "{innocent}: {report}");
    }

    assert_eq!(balance(&proxy, &buyer).await, "9.60");
    assert_eq!(balance(&proxy, &seller).await, "1.40");
    let check = proxy.get("/v1/admin/ledger/check", Auth::Operator).await.expect(200);
    assert_eq!(check.body["ok"], true, "{}", check.text);
}

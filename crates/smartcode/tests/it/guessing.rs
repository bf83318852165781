//! The guessing defence (issue 3) through the real server: failed presentations of secret codes
//! and PINs are counted per source and across sources; a failing source is slowed and then refused
//! with 429 and `Retry-After` while others keep paying; failures spread over many sources raise an
//! alarm the operator sees; a trusted proxy's `X-Forwarded-For` is believed, nobody else's.
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
use smartcode_core::code::SecretCode;
use smartcode_server::guard::{
    ALARM_FAILURES_PER_DAY, GUESS_WINDOW_SECONDS, PROVEN_FAILURES_MAX_UNDER_ALARM, SLOWDOWN_PER_FAILURE_MS,
    SOURCE_FAILURES_MAX, SOURCE_FAILURES_SLOW_AFTER,
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
    report["busiest_sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["source"] == source)
        .map_or(0, |s| s["failures"].as_u64().unwrap())
}

// The first test below times the 4th failure and sends 5 kinds of failure before the rest.
const _: () = assert!(SOURCE_FAILURES_SLOW_AFTER < 4 && SOURCE_FAILURES_MAX > 5);

#[tokio::test]
async fn a_failing_source_is_slowed_then_refused_with_retry_after_while_other_sources_pay() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let (cancelled, cancelled_id) = broker.secret_child(&buyer, "1").await;
    broker
        .post(
            &format!("/v1/me/children/{cancelled_id}/cancel"),
            Auth::Code(&buyer),
            json!({}),
        )
        .await
        .expect(200);
    let (pinned, _) = broker.issue("1", "USD").await;
    broker
        .put("/v1/me/pin", Auth::Code(&pinned), json!({ "pin": "2468" }))
        .await
        .expect(200);

    let attacker = Peer::of(&broker, "127.0.0.2");
    // Every kind of failed presentation counts: an unknown code, a malformed one, a cancelled one,
    // a wrong PIN, a public code offered as a means of payment.
    attacker
        .pay(&unknown_code(), &shop, "0.01")
        .await
        .refused(401, "invalid_code");
    attacker
        .get("/v1/me", Auth::Code("12-34"))
        .await
        .refused(400, "invalid_code_format");
    attacker
        .get("/v1/me", Auth::Code(&cancelled))
        .await
        .refused(401, "invalid_code");
    // Beyond SOURCE_FAILURES_SLOW_AFTER, each failure is answered slowly.
    let started = Instant::now();
    attacker
        .pay_with(&pinned, &shop, "0.01", &[("Smartcode-Pin", "1357")])
        .await
        .refused(403, "pin_invalid");
    let slowed = started.elapsed();
    assert!(
        slowed >= Duration::from_millis(SLOWDOWN_PER_FAILURE_MS * (4 - SOURCE_FAILURES_SLOW_AFTER as u64)),
        "the 4th failure is slowed down, took {slowed:?}"
    );
    attacker.pay(&shop, &shop, "0.01").await.refused(401, "invalid_code");
    // The rest at once (the slowdowns overlap), each claiming another client address in
    // X-Forwarded-For, which a broker without --trusted-proxy does not believe.
    let spoofed: Vec<String> = (5..SOURCE_FAILURES_MAX).map(|i| format!("203.0.113.{i}")).collect();
    let rest = spoofed.iter().map(|address| {
        let code = unknown_code();
        let attacker = &attacker;
        let shop = &shop;
        async move {
            attacker
                .pay_with(&code, shop, "0.01", &[("X-Forwarded-For", address.as_str())])
                .await
        }
    });
    for reply in futures::future::join_all(rest).await {
        reply.refused(401, "invalid_code");
    }

    // SOURCE_FAILURES_MAX failures: the source is refused before its code is even looked at, so a
    // valid code is refused too, and nothing moves.
    let refused = attacker.pay(&buyer, &shop, "0.25").await.refused(429, "rate_limited");
    let refused_me = attacker
        .get("/v1/me", Auth::Code(&buyer))
        .await
        .refused(429, "rate_limited");
    assert_eq!(broker.balance(&buyer).await, "10.00");
    assert_eq!(broker.balance(&seller).await, "1.00");

    // Clients at other addresses are not affected.
    let honest = Peer::of(&broker, "127.0.0.3");
    honest.pay(&buyer, &shop, "0.25").await.expect(201);
    broker.pay(&buyer, &shop, "0.25").await.expect(201);
    assert_eq!(broker.balance(&buyer).await, "9.50");
    assert_eq!(broker.balance(&seller).await, "1.50");
    assert_eq!(balance(&honest, &pinned).await, "1.00");

    let report = security(&attacker).await;
    assert_eq!(report["failed_presentations_total"], SOURCE_FAILURES_MAX as u64);
    assert_eq!(report["refused_presentations_total"], 2);
    assert_eq!(failures_of(&report, "127.0.0.2"), SOURCE_FAILURES_MAX as u64);
    assert_eq!(failures_of(&report, "127.0.0.3"), 0);
    for address in &spoofed {
        assert_eq!(failures_of(&report, address), 0, "X-Forwarded-For is not believed");
    }
    assert_eq!(report["alarm_active"], false);
    assert_eq!(
        metric(&attacker, "smartcode_failed_presentations_total").await,
        SOURCE_FAILURES_MAX as u64
    );

    // Once the window has passed, the source may present codes again.
    advance_clock(&attacker, GUESS_WINDOW_SECONDS + 1).await;
    attacker.pay(&buyer, &shop, "0.25").await.expect(201);
    assert_eq!(broker.balance(&buyer).await, "9.25");
    assert_eq!(broker.balance(&seller).await, "1.75");
    broker.assert_ledger_ok().await;

    // The refusal says when to come back: within the window, after the oldest failure leaves it.
    for reply in [&refused, &refused_me] {
        let seconds = retry_after(reply).unwrap_or_else(|| {
            panic!(
                "429 rate_limited carries a Retry-After header (API.md); headers: {:?}",
                reply.headers
            )
        });
        assert!(
            (1..=GUESS_WINDOW_SECONDS as u64).contains(&seconds),
            "Retry-After {seconds}"
        );
    }
}

/// The addresses of `count` sources, 127.0.1.1 onwards.
fn sources(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250))
        .collect()
}

#[tokio::test]
async fn failures_over_many_sources_raise_the_alarm_and_then_only_proven_sources_present_codes() {
    let broker = TestBroker::start().await;
    let (buyer, _) = broker.issue("10", "USD").await;
    let (seller, _) = broker.issue("1", "USD").await;
    let (shop, _) = broker.public_child(&seller).await;
    let operator = Peer::of(&broker, "127.0.0.1");
    // A regular customer's address: it presented a valid code before the alarm, so it is proven.
    let regular = Peer::of(&broker, "127.0.0.2");
    regular.pay(&buyer, &shop, "0.1").await.expect(201);

    // ALARM_FAILURES_PER_DAY - 1 failures, no source beyond SOURCE_FAILURES_SLOW_AFTER: none is
    // slowed or refused, and no alarm yet.
    let per_source = SOURCE_FAILURES_SLOW_AFTER;
    let below = ALARM_FAILURES_PER_DAY - 1;
    let addresses = sources(below.div_ceil(per_source));
    let peers: Vec<Peer> = addresses.iter().map(|a| Peer::of(&broker, a)).collect();
    let flood = peers.iter().enumerate().map(|(i, peer)| {
        let failures = per_source.min(below - i * per_source);
        async move {
            let mut statuses = Vec::new();
            for _ in 0..failures {
                statuses.push(peer.get("/v1/me", Auth::Code(&unknown_code())).await.status);
            }
            statuses
        }
    });
    let statuses: Vec<u16> = futures::stream::iter(flood)
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(statuses.len(), below);
    assert!(
        statuses.iter().all(|s| *s == 401),
        "every source stayed under its own limit"
    );
    let report = security(&operator).await;
    assert_eq!(report["failed_presentations_in_window"], below as u64);
    assert_eq!(report["alarm_active"], false);
    assert_eq!(report["alarms"], json!([]));
    assert_eq!(metric(&operator, "smartcode_guessing_alarm").await, 0);

    // One more failure, from yet another source, raises the alarm.
    let last = Peer::of(&broker, "127.0.0.250");
    last.get("/v1/me", Auth::Code(&unknown_code()))
        .await
        .refused(401, "invalid_code");
    let report = security(&operator).await;
    assert_eq!(report["alarm_active"], true, "{report}");
    assert_eq!(report["failed_presentations_total"], ALARM_FAILURES_PER_DAY as u64);
    let alarms = report["alarms"].as_array().unwrap();
    assert_eq!(alarms.len(), 1);
    let reason = alarms[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(&format!("{ALARM_FAILURES_PER_DAY} failed presentations")),
        "{reason}"
    );
    assert!(alarms[0]["raised_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(alarms[0]["cleared_at"], Value::Null);
    assert_eq!(metric(&operator, "smartcode_guessing_alarm").await, 1);
    assert_eq!(
        metric(&operator, "smartcode_failed_presentations_total").await,
        ALARM_FAILURES_PER_DAY as u64
    );

    // Under alarm, a source that never presented a valid code is refused, even with a valid code:
    // a newcomer as well as one of the guessers.
    let newcomer = Peer::of(&broker, "127.0.0.9");
    let refusal = newcomer.pay(&buyer, &shop, "0.1").await.refused(429, "rate_limited");
    peers[0].pay(&buyer, &shop, "0.1").await.refused(429, "rate_limited");
    peers[0]
        .get("/v1/me", Auth::Code(&buyer))
        .await
        .refused(429, "rate_limited");
    assert_eq!(broker.balance(&buyer).await, "9.90");

    // Proven sources still work, but may fail only PROVEN_FAILURES_MAX_UNDER_ALARM times.
    regular.pay(&buyer, &shop, "0.1").await.expect(201);
    broker.pay(&buyer, &shop, "0.1").await.expect(201);
    for _ in 0..PROVEN_FAILURES_MAX_UNDER_ALARM {
        regular
            .pay(&unknown_code(), &shop, "0.1")
            .await
            .refused(401, "invalid_code");
    }
    regular.pay(&buyer, &shop, "0.1").await.refused(429, "rate_limited");
    broker.pay(&buyer, &shop, "0.1").await.expect(201);
    assert_eq!(broker.balance(&buyer).await, "9.60");
    assert_eq!(broker.balance(&seller).await, "1.40");

    // A day later the failures have left the window: the alarm is cleared, and the newcomer pays.
    advance_clock(&operator, GUESS_WINDOW_SECONDS + 1).await;
    let report = security(&operator).await;
    assert_eq!(report["alarm_active"], false);
    assert!(report["alarms"][0]["cleared_at"].is_string(), "{report}");
    assert_eq!(metric(&operator, "smartcode_guessing_alarm").await, 0);
    newcomer.pay(&buyer, &shop, "0.1").await.expect(201);
    assert_eq!(broker.balance(&buyer).await, "9.50");
    assert_eq!(broker.balance(&seller).await, "1.50");
    broker.assert_ledger_ok().await;

    assert!(
        retry_after(&refusal).is_some(),
        "429 rate_limited under alarm carries a Retry-After header (API.md); headers: {:?}",
        refusal.headers
    );
}

/// A broker started with extra `serve` flags (TestBroker takes none), logging at `warn` to a file.
struct FlaggedBroker {
    process: Child,
    base: String,
    token: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl FlaggedBroker {
    async fn start(flags: &[&str]) -> FlaggedBroker {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        let log = dir.path().join("broker.log");
        let mut process = Command::new(BINARY)
            .args(["serve", "--listen", "127.0.0.1:0", "--test-clock"])
            .args(flags)
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

    // Client A behind the proxy fails SOURCE_FAILURES_MAX times; an address it puts in front of its
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
    for i in 0..SOURCE_FAILURES_MAX {
        chains.push(format!("203.0.113.{i}, 198.51.100.7"));
        chains.push(format!("2001:db8:1:2::{:x}", i + 1));
    }
    // The first SOURCE_FAILURES_SLOW_AFTER of each source one by one, the slowed rest at once.
    let (first, rest) = chains.split_at(2 * SOURCE_FAILURES_SLOW_AFTER);
    for chain in first {
        assert_eq!(fail(chain.clone()).await, 401);
    }
    let statuses = futures::future::join_all(rest.iter().cloned().map(fail)).await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");

    for chain in ["198.51.100.7", "192.0.2.1, 198.51.100.7", "198.51.100.7, 127.0.0.1"] {
        proxy
            .pay_with(&buyer, &shop, "0.1", &[("X-Forwarded-For", chain)])
            .await
            .refused(429, "rate_limited");
    }
    proxy
        .pay_with(&buyer, &shop, "0.1", &[("X-Forwarded-For", "2001:db8:1:2::beef")])
        .await
        .refused(429, "rate_limited");
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
    assert_eq!(failures_of(&report, "198.51.100.7"), SOURCE_FAILURES_MAX as u64);
    assert_eq!(failures_of(&report, "2001:db8:1:2::/64"), SOURCE_FAILURES_MAX as u64);
    assert_eq!(failures_of(&report, "127.0.0.2"), 2);
    for innocent in ["198.51.100.8", "127.0.0.1", "203.0.113.0", "2001:db8:1:3::/64"] {
        assert_eq!(failures_of(&report, innocent), 0, "{innocent}: {report}");
    }

    // Failures from many forwarded clients, each under its limit, raise the alarm, which the log
    // records too. Under it, a client that paid before (198.51.100.8) still pays; a new one does not.
    let so_far = report["failed_presentations_in_window"].as_u64().unwrap() as usize;
    let needed = ALARM_FAILURES_PER_DAY - so_far;
    let flood = (0..needed).map(|i| {
        let chain = format!(
            "10.9.{}.{}",
            i / SOURCE_FAILURES_SLOW_AFTER / 250,
            i / SOURCE_FAILURES_SLOW_AFTER % 250
        );
        let proxy = &proxy;
        async move {
            proxy
                .call(
                    Method::GET,
                    "/v1/me",
                    Auth::Code(&unknown_code()),
                    None,
                    &[("X-Forwarded-For", chain.as_str())],
                )
                .await
                .status
        }
    });
    let statuses: Vec<u16> = futures::stream::iter(flood).buffer_unordered(32).collect().await;
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert_eq!(security(&proxy).await["alarm_active"], true);
    proxy
        .pay_with(&buyer, &shop, "0.1", &[("X-Forwarded-For", "198.51.100.8")])
        .await
        .expect(201);
    proxy
        .pay_with(&buyer, &shop, "0.1", &[("X-Forwarded-For", "198.51.100.99")])
        .await
        .refused(429, "rate_limited");
    let logged = std::fs::read_to_string(&broker.log).expect("the broker's log");
    assert!(
        logged.contains("guessing alarm raised"),
        "the alarm is in the log:\n{logged}"
    );

    assert_eq!(balance(&proxy, &buyer).await, "9.50");
    assert_eq!(balance(&proxy, &seller).await, "1.50");
    let check = proxy.get("/v1/admin/ledger/check", Auth::Operator).await.expect(200);
    assert_eq!(check.body["ok"], true, "{}", check.text);
}

//! `smartcode bench` over HTTP: against a running broker (`--broker`, with the operator token) or
//! one this command starts on a temporary store of its own.

use super::*;

/// A broker this command started, stopped when dropped.
struct OwnBroker {
    process: Child,
    base: String,
    data: PathBuf,
    /// Bytes the store held before this run added codes to it.
    already_there: u64,
    _temporary: Option<tempfile::TempDir>,
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.process.id().to_string())
            .status();
        let _ = self.process.wait();
    }
}

/// The domains of the two brokers `--across` starts: the buyers' and the sellers'.
const BUYERS_DOMAIN: &str = "buyers.bench";
const SELLERS_DOMAIN: &str = "sellers.bench";

fn start_broker(args: &BenchArgs, database: Option<&str>, flags: &[&str]) -> Result<OwnBroker> {
    let temporary = if args.data.is_none() {
        Some(tempfile::tempdir()?)
    } else {
        None
    };
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| temporary.as_ref().expect("made above").path().join("data"));
    let already_there = bytes_already_there(&data);
    seed(args, &data)?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .args(flags);
    if let Some(url) = database {
        command.arg("--database").arg(url);
    }
    let mut process = command
        .env("SMARTCODE_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .context("starting a broker")?;
    let stdout = process.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().ok_or_else(|| anyhow!("the broker printed nothing"))??;
    let base = first.rsplit(' ').next().unwrap_or_default().to_owned();
    std::thread::spawn(move || for _ in lines {});
    Ok(OwnBroker {
        process,
        base,
        data,
        already_there,
        _temporary: temporary,
    })
}

pub(super) async fn over_http(args: &BenchArgs, broker: &str, operator_token: Option<String>) -> Result<Report> {
    let sellers_flags = ["--domain", SELLERS_DOMAIN, "--broker-number", "7"];
    let own = if args.remote {
        None
    } else if args.across {
        Some(start_broker(args, args.database.as_deref(), &sellers_flags)?)
    } else {
        let flags: &[&str] = if args.webhooks {
            &["--allow-private-callouts"]
        } else {
            &[]
        };
        Some(start_broker(args, args.database.as_deref(), flags)?)
    };
    // With --across, the buyers' broker: a second process on a temporary store of its own.
    let buyers = if args.across {
        let alone = BenchArgs {
            data: None,
            codes: 0,
            ..args.clone()
        };
        Some(start_broker(
            &alone,
            None,
            &["--domain", BUYERS_DOMAIN, "--broker-number", "2"],
        )?)
    } else {
        None
    };
    let (base, token) = match &own {
        Some(own) => {
            let token = std::fs::read_to_string(own.data.join(crate::serve::OPERATOR_TOKEN_FILE))?;
            (own.base.clone(), token.trim().to_owned())
        }
        None => (
            broker.trim_end_matches('/').to_owned(),
            operator_token.ok_or_else(|| anyhow!("--remote needs the operator token"))?,
        ),
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .tcp_nodelay(true)
        .build()?;
    let payers = match &buyers {
        Some(buyers) => {
            let buyers_token = std::fs::read_to_string(buyers.data.join(crate::serve::OPERATOR_TOKEN_FILE))?;
            let buyers_token = buyers_token.trim();
            peer_up(&http, (&base, &token), (&buyers.base, buyers_token)).await?;
            eprintln!(
                "creating {} payers at {} and {} payees at {base}…",
                args.payers, buyers.base, args.payees
            );
            let codes = issue_http(&http, &buyers.base, buyers_token, args.payers, args.connections).await?;
            codes
                .into_iter()
                .map(|code| format!("{code}@{BUYERS_DOMAIN}"))
                .collect()
        }
        None => {
            eprintln!("creating {} payers and {} payees at {base}…", args.payers, args.payees);
            issue_http(&http, &base, &token, args.payers, args.connections).await?
        }
    };
    let sellers = issue_http(&http, &base, &token, args.payees, args.connections).await?;
    let payees = public_codes(&http, &base, &sellers).await?;
    // With --webhooks, the run's sellers subscribe; as many others, which do not, are paid beside.
    let (receiver, plain_payees) = match args.webhooks {
        true => {
            let receiver = super::webhooks::start_receiver().await?;
            eprintln!("subscribing {} sellers to {}…", sellers.len(), receiver.url);
            super::webhooks::subscribe(&http, &base, &sellers, &receiver.url).await?;
            let plain = issue_http(&http, &base, &token, args.payees, args.connections).await?;
            (Some(receiver), Some(public_codes(&http, &base, &plain).await?))
        }
        false => (None, None),
    };
    // With --items, one item of each seller (1 KiB stored by the broker), bought by id.
    let items = match args.items {
        true => Some(Arc::new(
            super::webhooks::items_of(&http, &base, &sellers, &payees).await?,
        )),
        false => None,
    };
    // With --across, payers of the sellers' broker too, for the local slices beside the others;
    // with --purchases, payers without rules for the plain slices, and the payers' rules.
    let under_rules = args.purchases || args.rules;
    let locals = match buyers.is_some() || under_rules {
        true => Some(issue_http(&http, &base, &token, args.payers, args.connections).await?),
        false => None,
    };
    if under_rules {
        eprintln!("giving {} payers a spending rule…", payers.len());
        for payer in &payers {
            http.put(format!("{base}/v1/me/rules"))
                .header("Authorization", format!("Code {payer}"))
                .json(&purchase_rule())
                .send()
                .await?
                .error_for_status()?;
        }
    }
    let metrics_before = commit_metrics(&http, &base).await;
    let bytes_before = own.as_ref().map(|o| store_bytes(&o.data));
    let tally = Arc::new(Tally::default());
    // Parsed once: reqwest would parse (and IDNA-check) a string on every request.
    let first = match (args.two_phase, args.purchases) {
        (true, _) => "/v1/holds",
        (_, true) => "/v1/me/purchases",
        _ => "/v1/payments",
    };
    let drive = Drive {
        http: http.clone(),
        payers: Arc::new(payers),
        payees: Arc::new(payees),
        sellers: Arc::new(sellers),
        url: Arc::new(reqwest::Url::parse(&format!("{base}{first}"))?),
        base: Arc::new(base.clone()),
        purchases: args.purchases,
        items: items.clone(),
    };
    let plain_url = Arc::new(reqwest::Url::parse(&format!("{base}/v1/payments"))?);
    let plain_payees = match items {
        // Items are beside plain payments to the same sellers.
        Some(_) => Some(drive.payees.as_ref().clone()),
        None => plain_payees,
    };
    let beside = match (locals, plain_payees) {
        (Some(locals), _) => Some(Drive {
            payers: Arc::new(locals),
            url: plain_url,
            purchases: false,
            ..drive.clone()
        }),
        (None, Some(plain)) => Some(Drive {
            payees: Arc::new(plain),
            url: plain_url,
            items: None,
            ..drive.clone()
        }),
        (None, None) => None,
    };
    let started = std::time::Instant::now();
    let (elapsed, beside) = match beside {
        None => (drive.run(args, tally.clone()).await, None),
        Some(local) => {
            // Slices of local and across payments in turn, so that both see the machine as it is
            // in the same minute (its speed drifts by half from one quarter hour to the next).
            let slices = args.seconds.div_ceil(BESIDE_LOCAL_SLICE_SECONDS);
            let slice = BenchArgs {
                seconds: BESIDE_LOCAL_SLICE_SECONDS.min(args.seconds),
                ..args.clone()
            };
            let local_tally = Arc::new(Tally::default());
            let (mut elapsed, mut local_elapsed) = (Duration::ZERO, Duration::ZERO);
            for _ in 0..slices {
                local_elapsed += local.run(&slice, local_tally.clone()).await;
                elapsed += drive.run(&slice, tally.clone()).await;
            }
            let local = summarize(args, "http", String::new(), &local_tally, local_elapsed);
            (elapsed, Some(local))
        }
    };
    let stopped = std::time::Instant::now();
    let delivered = match &receiver {
        Some(receiver) => {
            let expected = tally.done.load(std::sync::atomic::Ordering::Relaxed);
            Some(super::webhooks::drain(receiver, expected, started, stopped).await)
        }
        None => None,
    };
    let metrics_after = commit_metrics(&http, &base).await;
    let store = broker_store(&http, &base).await;
    let mut report = summarize(args, "http", store, &tally, elapsed);
    report.ledger_ok = ledger_ok_http(&http, &base, &token).await;
    if let Some(local) = beside {
        let ratio = report.payments_per_second as f64 / local.payments_per_second.max(1) as f64;
        report.ratio_to_local = Some((ratio * 1000.0).round() / 1000.0);
        report.local = Some(Beside {
            payments_per_second: local.payments_per_second,
            latency_ms_p50: local.latency_ms_p50,
            latency_ms_p99: local.latency_ms_p99,
            errors: local.errors,
        });
    }
    if let Some(buyers) = &buyers {
        let buyers_token = std::fs::read_to_string(buyers.data.join(crate::serve::OPERATOR_TOKEN_FILE))?;
        report.ledger_ok &= ledger_ok_http(&http, &buyers.base, buyers_token.trim()).await;
        report.mode = "http-across-brokers";
    }
    report.webhooks = delivered;
    if args.items {
        report.mode = "http-item-purchases";
    } else if args.webhooks {
        report.mode = "http-payments-with-webhooks";
    } else if args.purchases {
        report.mode = "http-zero-click-purchases";
    } else if args.rules {
        report.mode = "http-payments-under-rules";
    }
    // Under --across the local slices share the commits and the store: per-payment figures
    // would mix the two kinds, so they are left out.
    let (metrics_before, bytes_before) = match args.across {
        true => (None, None),
        false => (metrics_before, bytes_before),
    };
    if let (Some((commits_0, commands_0)), Some((commits_1, commands_1))) = (metrics_before, metrics_after) {
        let commits = commits_1.saturating_sub(commits_0);
        if commits > 0 {
            report.payments_per_commit = Some(commands_1.saturating_sub(commands_0) as f64 / commits as f64);
        }
    }
    if let (Some(own), Some(before), None) = (&own, bytes_before, &args.database) {
        let grown = store_bytes(&own.data).saturating_sub(before);
        report.bytes_on_disk_per_payment = (report.payments > 0).then(|| grown / report.payments);
        report.bytes_on_disk_per_code = Some(bytes_per_code(args, own.already_there, before));
    }
    Ok(report)
}

/// Each seller's first public code, made now.
async fn public_codes(http: &reqwest::Client, base: &str, sellers: &[String]) -> Result<Vec<String>> {
    let mut payees = Vec::with_capacity(sellers.len());
    for seller in sellers {
        let created: serde_json::Value = http
            .post(format!("{base}/v1/me/children"))
            .header("Authorization", format!("Code {seller}"))
            .json(&serde_json::json!({ "kind": "public" }))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        payees.push(created["public_code"].as_str().unwrap_or_default().to_owned());
    }
    Ok(payees)
}

/// Seconds of each slice of local payments, and of payments across brokers, in turn under `--across`.
const BESIDE_LOCAL_SLICE_SECONDS: u64 = 2;

/// What the workers of a run share: the client, the codes, and where they pay.
#[derive(Clone)]
struct Drive {
    http: reqwest::Client,
    payers: Arc<Vec<String>>,
    payees: Arc<Vec<String>>,
    sellers: Arc<Vec<String>>,
    url: Arc<reqwest::Url>,
    base: Arc<String>,
    /// Each request buys an offer (`POST /v1/me/purchases`) instead of paying.
    purchases: bool,
    /// Each request buys the payee's item (`POST /v1/items/{id}/purchase`), by payee index.
    items: Option<Arc<Vec<String>>>,
}

impl Drive {
    /// Pays for `args.seconds`, each of `args.connections` workers in turn, into `tally`.
    async fn run(&self, args: &BenchArgs, tally: Arc<Tally>) -> Duration {
        let (two_phase, authorization, hot, connections) =
            (args.two_phase, args.authorization, args.hot, args.connections);
        let epoch = Instant::now();
        // Offers of this run (or slice): ids unique to it, expiring ten minutes after it began.
        let (run, offer_expires) = {
            use smartcode_core::clock::Clock;
            let now = smartcode_core::clock::SystemClock.now();
            (
                now.micros(),
                Arc::new(now.plus_seconds(600).unwrap_or(now).to_rfc3339()),
            )
        };
        run_for(args, tally.clone(), |index, stop| {
            let offer_expires = offer_expires.clone();
            let (drive, tally) = (self.clone(), tally.clone());
            let Drive {
                http,
                payers,
                payees,
                sellers,
                url,
                base,
                purchases,
                items,
            } = drive;
            let mut pace = Pace::new(args, index, epoch);
            async move {
                let mut turn = index;
                while !stop.load(Ordering::Relaxed) {
                    let payer = &payers[turn % payers.len()];
                    let which = if hot { 0 } else { turn % payees.len() };
                    turn += connections;
                    let body = format!(
                        r#"{{"code":"{payer}","payee":"{}","amount":"0.000001"}}"#,
                        payees[which]
                    );
                    let started = Pace::due(&mut pace).await;
                    if purchases {
                        let buy = http
                            .post(url.as_ref().clone())
                            .header("Authorization", format!("Code {payer}"));
                        let offer = purchase_body(&payees[which], (run, index, turn), &offer_expires);
                        tally.record(started, created(buy, offer).await.map(|_| ()));
                        continue;
                    }
                    if let Some(items) = &items {
                        let buy = http.post(format!("{base}/v1/items/{}/purchase", items[which]));
                        let result = created(buy, format!(r#"{{"code":"{payer}"}}"#)).await;
                        tally.record(started, result.map(|_| ()));
                        continue;
                    }
                    if authorization {
                        let made = http
                            .post(format!("{base}/v1/me/authorizations"))
                            .header("Authorization", format!("Code {payer}"));
                        let result = match created(made, r#"{"amount":"0.000001"}"#.to_owned()).await {
                            Ok(made) => {
                                let code = made["authorization_code"].as_str().unwrap_or_default();
                                let body =
                                    format!(r#"{{"code":"{code}","payee":"{}","amount":"0.000001"}}"#, payees[which]);
                                created(http.post(url.as_ref().clone()), body).await
                            }
                            Err(error) => Err(error),
                        };
                        tally.record(started, result.map(|_| ()));
                        continue;
                    }
                    let mut result = created(http.post(url.as_ref().clone()), body).await;
                    if two_phase {
                        result = match result {
                            Ok(held) => {
                                let id = held["hold"]["id"].as_str().unwrap_or_default();
                                let capture = http
                                    .post(format!("{base}/v1/holds/{id}/capture"))
                                    .header("Authorization", format!("Code {}", sellers[which]));
                                created(capture, "{}".to_owned()).await
                            }
                            Err(error) => Err(error),
                        };
                    }
                    tally.record(started, result.map(|_| ()));
                }
            }
        })
        .await
    }
}

/// Makes the sellers' broker and the buyers' broker peers of each other, with credit enough for
/// any run.
async fn peer_up(http: &reqwest::Client, sellers: (&str, &str), buyers: (&str, &str)) -> Result<()> {
    let limits = serde_json::json!([{ "amount": "1000000000", "currency": "USD" }]);
    for (at, token, other, limits) in [
        (sellers.0, sellers.1, buyers.0, Some(limits)),
        (buyers.0, buyers.1, sellers.0, None),
    ] {
        http.post(format!("{at}/v1/admin/peers"))
            .bearer_auth(token)
            .json(&serde_json::json!({ "url": other, "credit_limits": limits.unwrap_or_default() }))
            .send()
            .await?
            .error_for_status()
            .context("adding a peer")?;
    }
    Ok(())
}

/// Sends a JSON body and answers the body of a 201, or the refusal's `code` word. A payment's
/// answer is only drained (not parsed); a hold's is read for its id, an authorization's for its code.
async fn created(request: reqwest::RequestBuilder, body: String) -> Result<serde_json::Value, String> {
    let sent = request
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().as_u16() == 201 => {
            let bytes = response.bytes().await.map_err(|_| "transport".to_owned())?;
            // A payment's receipt and a purchase's are not read; a hold's id and an
            // authorization's code are.
            let read = !bytes.starts_with(br#"{"receipt""#) && !bytes.starts_with(br#"{"status""#);
            Ok(if read {
                serde_json::from_slice(&bytes).unwrap_or_default()
            } else {
                serde_json::Value::Null
            })
        }
        Ok(response) => {
            let problem: serde_json::Value = response.json().await.unwrap_or_default();
            Err(problem["code"].as_str().unwrap_or("unreadable").to_owned())
        }
        Err(_) => Err("transport".to_owned()),
    }
}

/// The rule every payer of `--purchases` buys under: it matches every offer, and each purchase is
/// judged by its per-payment, period and rate caps and counts in the last two (caps the run never
/// reaches, so no purchase waits for approval).
fn purchase_rule() -> serde_json::Value {
    serde_json::json!({ "rules": [{
        "name": "bench",
        "max_per_payment": "0.01",
        "max_per_period": { "amount": "1000", "period_seconds": 86_400 },
        "max_rate": { "amount": "1000", "per_seconds": 60 },
        "action": "pay",
    }]})
}

/// A purchase of a seller's offer of one millionth, its id unique to the run, the worker and its
/// turn.
fn purchase_body(payee: &str, (run, worker, turn): (i64, usize, usize), expires: &str) -> String {
    format!(
        r#"{{"offer":{{"id":"b{run}-{worker}-{turn}","payee":"{payee}","price":{{"amount":"0.000001","currency":"USD"}},"unit":"item","description":"an article","expires_at":"{expires}"}}}}"#
    )
}

/// Whether the broker's ledger check passes (`GET /v1/admin/ledger/check`).
async fn ledger_ok_http(http: &reqwest::Client, base: &str, token: &str) -> bool {
    let checked = http
        .get(format!("{base}/v1/admin/ledger/check"))
        .bearer_auth(token)
        .send()
        .await;
    match checked {
        Ok(response) => {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            body["ok"] == true
        }
        Err(_) => false,
    }
}

async fn issue_http(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    count: usize,
    parallel: usize,
) -> Result<Vec<String>> {
    let mut codes = Vec::with_capacity(count);
    let mut remaining = count;
    while remaining > 0 {
        let wave = remaining.min(parallel.max(1));
        remaining -= wave;
        let requests = (0..wave).map(|_| async {
            let issued: serde_json::Value = http
                .post(format!("{base}/v1/admin/codes"))
                .bearer_auth(token)
                .json(&serde_json::json!({ "amount": "1000", "currency": "USD" }))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            Ok::<_, anyhow::Error>(issued["code"].as_str().unwrap_or_default().to_owned())
        });
        for code in futures::future::join_all(requests).await {
            codes.push(code?);
        }
    }
    Ok(codes)
}

/// `(commits, commands)` from the broker's `/metrics`, if it reports them.
async fn commit_metrics(http: &reqwest::Client, base: &str) -> Option<(u64, u64)> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((
        value("smartcode_store_commits_total")?,
        value("smartcode_store_commands_total")?,
    ))
}

async fn broker_store(http: &reqwest::Client, base: &str) -> String {
    let meta: Option<serde_json::Value> = async {
        http.get(format!("{base}/.well-known/smartcode"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    }
    .await;
    meta.and_then(|m| m["store"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into())
}

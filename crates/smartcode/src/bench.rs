//! `smartcode bench`: how many payments a broker takes, so an operator can size one.
//!
//! Over HTTP it drives a running broker (`--broker`, with the operator token) or starts one of its
//! own on a temporary embedded store; `--in-process` drives the store and the ledger directly,
//! without HTTP, to show what the core itself can do. Either way every payment is durable: it is
//! acknowledged only after the commit holding it is on disk.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use smartcode_core::clock::{Clock, SystemClock};
use smartcode_core::code::{BrokerKey, CodeHash, PublicCode, SecretCode};
use smartcode_core::ledger::payments::{self, PaymentOrder};
use smartcode_core::ledger::QueryOutcome::Reports;
use smartcode_core::ledger::{issuance, reports, tree, Command as LedgerCommand, Credential, Outcome};
use smartcode_core::money::{Amount, Currency};
use smartcode_store::embedded::EmbeddedStore;
use smartcode_store::{answer, Store, WriteRequest, Written};

/// Concurrent requests in flight at most.
pub const CONNECTIONS_MAX: usize = 4_096;
/// Payer and payee codes a run may create at most.
pub const CODES_MAX: usize = 1_000_000;
/// Payments per second `--rate` may ask for at most.
pub const RATE_MAX: u64 = 10_000_000;
/// Spent codes `--codes` may add at most.
pub const SEEDED_CODES_MAX: u64 = 100_000_000;

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// Seconds of payments to send.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Requests in flight at once (keep-alive connections over HTTP).
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// Payer codes; each payment picks the next one in turn.
    #[arg(long, default_value_t = 1_000)]
    pub payers: usize,
    /// Payees (public codes of distinct sellers) the payments are spread over.
    #[arg(long, default_value_t = 1_000)]
    pub payees: usize,
    /// Send every payment to one hot payee.
    #[arg(long)]
    pub hot: bool,
    /// Drive the embedded store and the ledger directly, without HTTP.
    #[arg(long)]
    pub in_process: bool,
    /// Where the broker this command starts keeps its data (default: a temporary directory).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Benchmark the broker at --broker instead of starting one (needs the operator token).
    #[arg(long)]
    pub remote: bool,
    /// Start the broker on this PostgreSQL database instead of the embedded store.
    #[arg(long, conflicts_with_all = ["remote", "in_process"])]
    pub database: Option<String>,
    /// First add this many spent codes to the store, in bulk, to measure a large store (the
    /// embedded store this command starts; with --data, they stay there for the next run).
    #[arg(long, default_value_t = 0, conflicts_with_all = ["remote", "database"])]
    pub codes: u64,
    /// Send this many payments per second in all, on a fixed schedule (open loop: a payment's
    /// latency counts from when it was due, so a slow answer cannot hide the payments it delayed).
    /// 0: each connection sends its next payment as soon as the last is answered.
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
}

/// The schedule of one connection under `--rate`: connection `index` of `connections` sends at
/// `epoch + (index + n * connections) / rate`.
struct Pace {
    next: Instant,
    every: Duration,
}

impl Pace {
    fn new(args: &BenchArgs, index: usize, epoch: Instant) -> Option<Pace> {
        if args.rate == 0 {
            return None;
        }
        let nanos = 1_000_000_000 / u128::from(args.rate);
        let every = Duration::from_nanos(u64::try_from(nanos * args.connections as u128).unwrap_or(u64::MAX));
        let offset = Duration::from_nanos(u64::try_from(nanos * index as u128).unwrap_or(u64::MAX));
        Some(Pace {
            next: epoch + offset,
            every,
        })
    }

    /// Waits until the next payment is due (at once if it is late) and returns when it was due.
    async fn due(pace: &mut Option<Pace>) -> Instant {
        let Some(pace) = pace else {
            return Instant::now();
        };
        let due = pace.next;
        tokio::time::sleep_until(due.into()).await;
        pace.next += pace.every;
        due
    }
}

/// What a run measured.
#[derive(Serialize, Debug)]
pub struct Report {
    pub mode: &'static str,
    pub store: String,
    pub seconds: f64,
    pub connections: usize,
    pub payers: usize,
    pub payees: usize,
    /// The payments per second asked for (`--rate`), 0 when as fast as answered.
    pub rate: u64,
    /// Spent codes added to the store before the run (`--codes`).
    pub seeded_codes: u64,
    pub hot_payee: bool,
    pub payments: u64,
    pub payments_per_second: u64,
    pub latency_ms_p50: f64,
    pub latency_ms_p95: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
    pub errors: BTreeMap<String, u64>,
    /// Payments per commit (each commit is one fsync), if the broker reports it.
    pub payments_per_commit: Option<f64>,
    pub bytes_on_disk_per_code: Option<u64>,
    pub bytes_on_disk_per_payment: Option<u64>,
    /// The ledger check after the run: every currency sums to zero and no balance is negative.
    pub ledger_ok: bool,
}

/// Latencies in microseconds and refusals by `code` word, shared by the workers.
#[derive(Default)]
struct Tally {
    latencies_us: Mutex<Vec<u32>>,
    errors: Mutex<BTreeMap<String, u64>>,
    done: AtomicU64,
}

impl Tally {
    fn record(&self, started: Instant, result: std::result::Result<(), String>) {
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        match result {
            Ok(()) => {
                self.latencies_us.lock().expect("tally").push(micros);
                self.done.fetch_add(1, Ordering::Relaxed);
            }
            Err(word) => *self.errors.lock().expect("tally").entry(word).or_default() += 1,
        }
    }
}

fn percentile_ms(sorted_us: &[u32], per_mille: usize) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let index = ((sorted_us.len() - 1) * per_mille) / 1000;
    f64::from(sorted_us[index]) / 1000.0
}

fn progress(seconds: u64) -> ProgressBar {
    let bar = ProgressBar::new(seconds);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} s  {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Runs workers until the time is up, showing progress, and returns how long they really ran.
async fn run_for<F, Fut>(args: &BenchArgs, tally: Arc<Tally>, worker: F) -> Duration
where
    F: Fn(usize, Arc<AtomicBool>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles: Vec<_> = (0..args.connections)
        .map(|index| tokio::spawn(worker(index, stop.clone())))
        .collect();
    let bar = progress(args.seconds);
    for second in 1..=args.seconds {
        tokio::time::sleep_until((started + Duration::from_secs(second)).into()).await;
        let done = tally.done.load(Ordering::Relaxed);
        bar.set_position(second);
        bar.set_message(format!("{done} payments, {}/s", done / second));
    }
    stop.store(true, Ordering::SeqCst);
    for handle in handles {
        let _ = handle.await;
    }
    bar.finish_and_clear();
    started.elapsed()
}

fn summarize(args: &BenchArgs, mode: &'static str, store: String, tally: &Tally, elapsed: Duration) -> Report {
    let mut latencies = std::mem::take(&mut *tally.latencies_us.lock().expect("tally"));
    latencies.sort_unstable();
    let payments = latencies.len() as u64;
    let micros = elapsed.as_micros().max(1);
    Report {
        mode,
        store,
        seconds: elapsed.as_secs_f64(),
        connections: args.connections,
        payers: args.payers,
        payees: if args.hot { 1 } else { args.payees },
        rate: args.rate,
        seeded_codes: args.codes,
        hot_payee: args.hot,
        payments,
        payments_per_second: u64::try_from(u128::from(payments) * 1_000_000 / micros).unwrap_or(u64::MAX),
        latency_ms_p50: percentile_ms(&latencies, 500),
        latency_ms_p95: percentile_ms(&latencies, 950),
        latency_ms_p99: percentile_ms(&latencies, 990),
        latency_ms_max: latencies.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
        errors: std::mem::take(&mut *tally.errors.lock().expect("tally")),
        payments_per_commit: None,
        bytes_on_disk_per_code: None,
        bytes_on_disk_per_payment: None,
        ledger_ok: false,
    }
}

fn check_args(args: &BenchArgs) -> Result<()> {
    if args.connections == 0 || args.connections > CONNECTIONS_MAX {
        bail!("--connections is 1 to {CONNECTIONS_MAX}");
    }
    if args.payers == 0 || args.payees == 0 || args.payers + args.payees > CODES_MAX {
        bail!("--payers and --payees are at least 1 and together at most {CODES_MAX}");
    }
    if args.seconds == 0 {
        bail!("--seconds is at least 1");
    }
    if args.codes > SEEDED_CODES_MAX {
        bail!("--codes is at most {SEEDED_CODES_MAX}");
    }
    if args.rate > RATE_MAX {
        bail!("--rate is at most {RATE_MAX} payments per second");
    }
    Ok(())
}

/// Adds `--codes` spent codes to the store in `dir`, showing how far it got.
fn seed(args: &BenchArgs, dir: &Path) -> Result<()> {
    if args.codes == 0 {
        return Ok(());
    }
    let bar = ProgressBar::new(args.codes).with_style(
        ProgressStyle::with_template("seeding {pos}/{len} codes {wide_bar} {eta}").expect("a valid template"),
    );
    let currency = Currency::parse("USD").map_err(|e| anyhow!("{e}"))?;
    let started = Instant::now();
    smartcode_store::embedded::seed_spent_codes(dir, args.codes, currency, SystemClock.now(), |done| {
        bar.set_position(done)
    })
    .map_err(|e| anyhow!("seeding codes: {e}"))?;
    bar.finish_and_clear();
    eprintln!(
        "seeded {} codes in {:.0} s",
        args.codes,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub async fn bench(args: BenchArgs, broker: &str, operator_token: Option<String>, json: bool) -> Result<()> {
    check_args(&args)?;
    let report = if args.in_process {
        in_process(&args).await?
    } else {
        over_http(&args, broker, operator_token).await?
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    if !report.ledger_ok {
        bail!("the ledger check failed after the run");
    }
    Ok(())
}

fn print_report(r: &Report) {
    println!(
        "{} on the {} store: {} payments in {:.1} s, {} connections, {} payers, {} payee{}",
        r.mode,
        r.store,
        r.payments,
        r.seconds,
        r.connections,
        r.payers,
        r.payees,
        if r.hot_payee { " (hot)" } else { "s" }
    );
    if r.rate > 0 {
        println!("  asked for:    {} payments/s (open loop)", r.rate);
    }
    if r.seeded_codes > 0 {
        println!(
            "  store:        {} spent codes besides the payers and payees",
            r.seeded_codes
        );
    }
    println!("  payments/s:   {}", r.payments_per_second);
    println!("  ledger check: {}", if r.ledger_ok { "ok" } else { "FAILED" });
    println!(
        "  latency ms:   p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}",
        r.latency_ms_p50, r.latency_ms_p95, r.latency_ms_p99, r.latency_ms_max
    );
    if let Some(per_commit) = r.payments_per_commit {
        println!("  per commit:   {per_commit:.1} payments per fsync");
    }
    if let (Some(code), Some(payment)) = (r.bytes_on_disk_per_code, r.bytes_on_disk_per_payment) {
        println!("  on disk:      {code} bytes per code, {payment} bytes per payment");
    }
    if r.errors.is_empty() {
        println!("  errors:       none");
    } else {
        println!("  errors:       {:?}", r.errors);
    }
}

/// The size of the store's files (the database, its WAL and shared memory), after copying the WAL
/// into the database file: otherwise the WAL's length of the moment (up to tens of MB) would be
/// counted as if the codes and payments took it.
/// What a store already held before this run added its codes: nothing for a new store (which is
/// not opened here, so it is not created either).
fn bytes_already_there(dir: &Path) -> u64 {
    if dir.join("smartcode.sqlite3").exists() {
        store_bytes(dir)
    } else {
        0
    }
}

/// Bytes on disk per code this run added (payers, sellers, their public codes, seeded codes).
fn bytes_per_code(args: &BenchArgs, already_there: u64, before_payments: u64) -> u64 {
    before_payments.saturating_sub(already_there) / (args.payers as u64 + 2 * args.payees as u64 + args.codes)
}

fn store_bytes(dir: &Path) -> u64 {
    if let Err(error) = smartcode_store::embedded::checkpoint_file(dir) {
        eprintln!("could not checkpoint the store before measuring it: {error}");
    }
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with("smartcode.sqlite3"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// In process: the store and the ledger, no HTTP.

async fn in_process(args: &BenchArgs) -> Result<Report> {
    let temporary = tempfile::tempdir()?;
    let dir = args.data.clone().unwrap_or_else(|| temporary.path().to_owned());
    std::fs::create_dir_all(&dir)?;
    let already_there = bytes_already_there(&dir);
    seed(args, &dir)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<EmbeddedStore> =
        Arc::new(EmbeddedStore::open(&dir, clock).map_err(|e| anyhow!("opening the store: {e}"))?);
    let key = BrokerKey::generate();
    let currency = Currency::parse("USD").map_err(|e| anyhow!("{e}"))?;
    eprintln!("creating {} payers and {} payees…", args.payers, args.payees);
    let payers = issue_in_process(&store, &key, currency, args.payers).await?;
    let sellers = issue_in_process(&store, &key, currency, args.payees).await?;
    let mut payees = Vec::with_capacity(sellers.len());
    for seller in &sellers {
        let code = PublicCode::generate();
        let command = tree::Command::CreatePublicChild {
            parent: Credential::new(*seller, false),
            code: code.clone(),
            label: None,
            profile: Default::default(),
            under: None,
        };
        write(&store, command.into()).await?;
        payees.push(code);
    }
    let bytes_before = store_bytes(&dir);
    let commits_before = store.stats();
    let tally = Arc::new(Tally::default());
    let payers = Arc::new(payers);
    let payees = Arc::new(payees);
    let amount = Amount::from_units(1).map_err(|e| anyhow!("{e:?}"))?;
    let hot = args.hot;
    let connections = args.connections;
    let epoch = Instant::now();
    let elapsed = run_for(args, tally.clone(), |index, stop| {
        let (store, tally, payers, payees) = (store.clone(), tally.clone(), payers.clone(), payees.clone());
        let mut pace = Pace::new(args, index, epoch);
        async move {
            let mut turn = index;
            while !stop.load(Ordering::Relaxed) {
                let payer = payers[turn % payers.len()];
                let payee = if hot {
                    payees[0].clone()
                } else {
                    payees[turn % payees.len()].clone()
                };
                turn += connections;
                let order = PaymentOrder {
                    payer: Credential::new(payer, false),
                    payee,
                    amount,
                    currency: None,
                    memo: None,
                    category: None,
                    item: None,
                };
                let started = Pace::due(&mut pace).await;
                let result = write(&store, payments::Command::Pay(order).into())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                tally.record(started, result);
            }
        }
    })
    .await;
    let commits = store.stats().since(&commits_before);
    let mut report = summarize(args, "in-process", "embedded".into(), &tally, elapsed);
    report.payments_per_commit = commits.commands_per_commit();
    let grown = store_bytes(&dir).saturating_sub(bytes_before);
    report.bytes_on_disk_per_payment = (report.payments > 0).then(|| grown / report.payments);
    report.bytes_on_disk_per_code = Some(bytes_per_code(args, already_there, bytes_before));
    let check = answer(store.read(reports::Query::LedgerCheck.into())).await;
    report.ledger_ok = matches!(check, Ok(Reports(reports::QueryOutcome::LedgerCheck { ok: true, .. })));
    store.close();
    Ok(report)
}

async fn write(store: &EmbeddedStore, command: LedgerCommand) -> Result<Outcome> {
    match answer(store.write(WriteRequest::new(command))).await {
        Ok(Written::Done(outcome)) => Ok(outcome),
        Ok(Written::Replayed(_)) => Err(anyhow!("unexpected replay")),
        Err(error) => Err(anyhow!("{error}")),
    }
}

async fn issue_in_process(
    store: &EmbeddedStore,
    key: &BrokerKey,
    currency: Currency,
    count: usize,
) -> Result<Vec<CodeHash>> {
    let amount = Amount::parse("1000").map_err(|e| anyhow!("{e}"))?;
    let mut pending = Vec::with_capacity(count);
    let mut hashes = Vec::with_capacity(count);
    for _ in 0..count {
        let hash = key.hash_code(&SecretCode::generate());
        hashes.push(hash);
        pending.push(store.write(WriteRequest::new(issuance::Command::Issue {
            hash,
            amount,
            currency,
            label: None,
        })));
    }
    for answer_of in pending {
        answer(answer_of).await.map_err(|e| anyhow!("issuing a code: {e}"))?;
    }
    Ok(hashes)
}

// ---------------------------------------------------------------------------------------------
// Over HTTP.

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

fn start_broker(args: &BenchArgs, database: Option<&str>) -> Result<OwnBroker> {
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
    command.args(["serve", "--listen", "127.0.0.1:0", "--data"]).arg(&data);
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

async fn over_http(args: &BenchArgs, broker: &str, operator_token: Option<String>) -> Result<Report> {
    let own = if args.remote {
        None
    } else {
        Some(start_broker(args, args.database.as_deref())?)
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
    eprintln!("creating {} payers and {} payees at {base}…", args.payers, args.payees);
    let payers = issue_http(&http, &base, &token, args.payers, args.connections).await?;
    let sellers = issue_http(&http, &base, &token, args.payees, args.connections).await?;
    let mut payees = Vec::with_capacity(sellers.len());
    for seller in &sellers {
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
    let metrics_before = commit_metrics(&http, &base).await;
    let bytes_before = own.as_ref().map(|o| store_bytes(&o.data));
    let tally = Arc::new(Tally::default());
    let payers = Arc::new(payers);
    let payees = Arc::new(payees);
    let hot = args.hot;
    let connections = args.connections;
    // Parsed once: reqwest would parse (and IDNA-check) a string on every request.
    let url = Arc::new(reqwest::Url::parse(&format!("{base}/v1/payments"))?);
    let epoch = Instant::now();
    let elapsed = run_for(args, tally.clone(), |index, stop| {
        let (http, tally, payers, payees, url) =
            (http.clone(), tally.clone(), payers.clone(), payees.clone(), url.clone());
        let mut pace = Pace::new(args, index, epoch);
        async move {
            let mut turn = index;
            while !stop.load(Ordering::Relaxed) {
                let payer = &payers[turn % payers.len()];
                let payee = if hot { &payees[0] } else { &payees[turn % payees.len()] };
                turn += connections;
                let body = format!(r#"{{"code":"{payer}","payee":"{payee}","amount":"0.000001"}}"#);
                let started = Pace::due(&mut pace).await;
                let result = match http
                    .post(url.as_ref().clone())
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(response) if response.status().as_u16() == 201 => {
                        let _ = response.bytes().await;
                        Ok(())
                    }
                    Ok(response) => {
                        let problem: serde_json::Value = response.json().await.unwrap_or_default();
                        Err(problem["code"].as_str().unwrap_or("unreadable").to_owned())
                    }
                    Err(_) => Err("transport".to_owned()),
                };
                tally.record(started, result);
            }
        }
    })
    .await;
    let metrics_after = commit_metrics(&http, &base).await;
    let store = broker_store(&http, &base).await;
    let mut report = summarize(args, "http", store, &tally, elapsed);
    report.ledger_ok = ledger_ok_http(&http, &base, &token).await;
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

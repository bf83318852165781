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
use smartcode_core::money::Currency;

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
    /// Pay in two phases: each payment is a hold on the payer's code and then its capture by the
    /// payee's seller (two requests, or two commands in process; latency counts both). In process,
    /// then also plain payments, holds and captures each alone, as many of each as there were pairs.
    #[arg(long)]
    pub two_phase: bool,
    /// Give every payer spending rules first: one `pay` rule with a period cap and a rate cap that
    /// every payment matches, is judged by and counts in, so the run measures payments under rules.
    /// In process, compare with the same run without it; over HTTP, plain payments of payers
    /// without rules are measured beside them, as with `--purchases`.
    #[arg(long, conflicts_with_all = ["two_phase", "authorization", "remote", "across"])]
    pub rules: bool,
    /// Pay with authorization codes: each payment is the payer making an authorization code for
    /// the amount and the payee's server paying with it (two requests; over HTTP only).
    #[arg(long, conflicts_with_all = ["two_phase", "in_process"])]
    pub authorization: bool,
    /// Pay across two brokers: this command also starts the buyers' broker (a second process on
    /// a temporary embedded store), each takes the other as a peer, and every payment is a code of
    /// the buyers' broker paying a seller of this one (`CODE@domain`). Local payments to the same
    /// sellers are measured beside them, in 2-second slices taken in turn (`local`,
    /// `ratio_to_local`): each kind runs `--seconds` rounded up to whole slices.
    #[arg(long, conflicts_with_all = ["two_phase", "in_process", "authorization", "remote"])]
    pub across: bool,
    /// Zero-click purchases: every payer first gets a `pay` rule (a per-payment, a period and a
    /// rate cap, all counted) and each request is `POST /v1/me/purchases` of a seller's offer,
    /// bought under it with no one asked. Plain payments of payers without rules, to the same
    /// sellers, are measured beside them in 2-second slices taken in turn (`local`,
    /// `ratio_to_local`).
    #[arg(long, conflicts_with_all = ["two_phase", "in_process", "authorization", "remote", "across"])]
    pub purchases: bool,
    /// Payments to sellers that subscribed a webhook (`payment.received`, to a fast receiver this
    /// command runs on loopback), beside plain payments of the same payers to sellers that did
    /// not, in 2-second slices taken in turn (`local`, `ratio_to_local`); then how fast the
    /// broker delivered them all (`webhooks`).
    #[arg(long, conflicts_with_all = ["two_phase", "in_process", "authorization", "remote", "across", "purchases", "rules"])]
    pub webhooks: bool,
    /// Purchases of items: every seller sells one (1 KiB stored by the broker) and each request
    /// is `POST /v1/items/{id}/purchase`, answered with a receipt and a download link. Plain
    /// payments of the same payers to the same sellers are measured beside them in 2-second
    /// slices taken in turn (`local`, `ratio_to_local`).
    #[arg(long, conflicts_with_all = ["two_phase", "in_process", "authorization", "remote", "across", "purchases", "rules", "webhooks"])]
    pub items: bool,
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
    /// Every payer had a spending rule that judged and counted each payment (`--rules`).
    pub spending_rules: bool,
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
    /// With `--across` (or `--purchases`): local plain payments at the sellers' broker, measured in
    /// slices taken in turn with the run's own, so both see the machine in the same minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<Beside>,
    /// With `--across` (or `--purchases`): the run's payments per second over plain local ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ratio_to_local: Option<f64>,
    /// With `--in-process --two-phase`: payments, holds and captures each alone, in the same run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phases: Option<Phases>,
    /// With `--webhooks`: the deliveries of the run's payments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhooks: Option<webhooks::Deliveries>,
}

/// Each command of a two-phase payment measured alone beside a plain payment (`--in-process
/// --two-phase`): the same number of plain payments, then of holds, then of captures of those
/// holds, one after the other, each as fast as the connections send them.
#[derive(Serialize, Debug)]
pub struct Phases {
    pub commands: u64,
    pub payments_per_second: u64,
    pub holds_per_second: u64,
    pub captures_per_second: u64,
    /// What a capture costs in payments: payments per second over captures per second.
    pub capture_in_payments: f64,
    pub hold_in_payments: f64,
}

/// Local payments measured beside the run's own (`--across`).
#[derive(Serialize, Debug)]
pub struct Beside {
    pub payments_per_second: u64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub errors: BTreeMap<String, u64>,
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
        spending_rules: args.rules || args.purchases,
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
        local: None,
        ratio_to_local: None,
        phases: None,
        webhooks: None,
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
        in_process::in_process(&args).await?
    } else {
        http::over_http(&args, broker, operator_token).await?
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
    if r.spending_rules {
        println!("  rules:        every payment judged and counted by its payer's spending rule");
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
    if let (Some(local), Some(ratio)) = (&r.local, r.ratio_to_local) {
        println!(
            "  beside local: {} payments/s local (p50 {:.2}, p99 {:.2} ms) in the same slices: {ratio:.3} of local",
            local.payments_per_second, local.latency_ms_p50, local.latency_ms_p99
        );
    }
    if let Some(w) = &r.webhooks {
        let drained = w
            .drained_after_seconds
            .map_or("not within the wait".to_owned(), |s| format!("{s} s"));
        println!(
            "  webhooks:     {} delivered, {}/s; {} behind when the payments stopped, drained after {drained}",
            w.delivered, w.deliveries_per_second, w.behind_when_payments_stopped
        );
    }
    if let Some(p) = &r.phases {
        println!(
            "  alone:        {} each: payments {}/s, holds {}/s, captures {}/s (a hold costs {:.2} payments, a capture {:.2})",
            p.commands, p.payments_per_second, p.holds_per_second, p.captures_per_second, p.hold_in_payments, p.capture_in_payments
        );
    }
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

mod http;
mod in_process;
mod webhooks;

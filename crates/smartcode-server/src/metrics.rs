//! Counters for `/metrics` (Prometheus text format): payments and their latency, refusals by
//! `code` word, receipts signed and the signatures that signed them. The store's commit counters
//! and the guessing defence's come from their owners.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use smartcode_store::{StoreStats, BATCH_SIZE_BUCKETS};

/// Upper bounds of the payment latency histogram's buckets, in microseconds.
pub const LATENCY_BUCKETS_US: [u64; 12] = [
    250, 500, 1_000, 2_000, 3_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000,
];

pub struct Metrics {
    payments: AtomicU64,
    latency_us_sum: AtomicU64,
    /// Cumulative, as Prometheus wants: `latency[i]` counts payments at most `LATENCY_BUCKETS_US[i]`.
    latency: [AtomicU64; LATENCY_BUCKETS_US.len()],
    refusals: Mutex<BTreeMap<&'static str, u64>>,
    receipts_signed: AtomicU64,
    receipt_signatures: AtomicU64,
}

pub static METRICS: Metrics = Metrics {
    payments: AtomicU64::new(0),
    latency_us_sum: AtomicU64::new(0),
    latency: [const { AtomicU64::new(0) }; LATENCY_BUCKETS_US.len()],
    refusals: Mutex::new(BTreeMap::new()),
    receipts_signed: AtomicU64::new(0),
    receipt_signatures: AtomicU64::new(0),
};

impl Metrics {
    /// A payment answered 201, after `elapsed`.
    pub fn paid(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.payments.fetch_add(1, Ordering::Relaxed);
        self.latency_us_sum.fetch_add(micros, Ordering::Relaxed);
        for (bucket, bound) in self.latency.iter().zip(LATENCY_BUCKETS_US) {
            if micros <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One signature made over a batch of `receipts`.
    pub fn receipts_signed(&self, receipts: usize) {
        self.receipts_signed.fetch_add(receipts as u64, Ordering::Relaxed);
        self.receipt_signatures.fetch_add(1, Ordering::Relaxed);
    }

    /// A refusal went out with this `code` word.
    pub fn refused(&self, code: &'static str) {
        let mut refusals = self.refusals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *refusals.entry(code).or_default() += 1;
    }

    /// The Prometheus text of these counters and the store's.
    pub fn render(&self, store: &StoreStats, out: &mut String) {
        let payments = self.payments.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP smartcode_payments_total Payments acknowledged (201).");
        let _ = writeln!(out, "# TYPE smartcode_payments_total counter");
        let _ = writeln!(out, "smartcode_payments_total {payments}");
        let _ = writeln!(
            out,
            "# HELP smartcode_payment_latency_seconds Time from request to acknowledged payment."
        );
        let _ = writeln!(out, "# TYPE smartcode_payment_latency_seconds histogram");
        for (bucket, bound) in self.latency.iter().zip(LATENCY_BUCKETS_US) {
            let _ = writeln!(
                out,
                "smartcode_payment_latency_seconds_bucket{{le=\"{}\"}} {}",
                seconds(bound),
                bucket.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "smartcode_payment_latency_seconds_bucket{{le=\"+Inf\"}} {payments}"
        );
        let sum_us = self.latency_us_sum.load(Ordering::Relaxed);
        let _ = writeln!(out, "smartcode_payment_latency_seconds_sum {}", seconds(sum_us));
        let _ = writeln!(out, "smartcode_payment_latency_seconds_count {payments}");
        let _ = writeln!(
            out,
            "# HELP smartcode_refusals_total Requests refused, by problem code word."
        );
        let _ = writeln!(out, "# TYPE smartcode_refusals_total counter");
        let refusals = self.refusals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (code, count) in refusals.iter() {
            let _ = writeln!(out, "smartcode_refusals_total{{code=\"{code}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "# HELP smartcode_receipts_signed_total Receipts signed (each in a batch)."
        );
        let _ = writeln!(out, "# TYPE smartcode_receipts_signed_total counter");
        let _ = writeln!(
            out,
            "smartcode_receipts_signed_total {}",
            self.receipts_signed.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP smartcode_receipt_signatures_total Ed25519 signatures made over batches of receipts."
        );
        let _ = writeln!(out, "# TYPE smartcode_receipt_signatures_total counter");
        let _ = writeln!(
            out,
            "smartcode_receipt_signatures_total {}",
            self.receipt_signatures.load(Ordering::Relaxed)
        );
        let _ = writeln!(out, "# HELP smartcode_store_commits_total Commits of the store's writer (one fsync each on the embedded store).");
        let _ = writeln!(out, "# TYPE smartcode_store_commits_total counter");
        let _ = writeln!(out, "smartcode_store_commits_total {}", store.commits);
        let _ = writeln!(
            out,
            "# HELP smartcode_store_commands_total Commands those commits carried."
        );
        let _ = writeln!(out, "# TYPE smartcode_store_commands_total counter");
        let _ = writeln!(out, "smartcode_store_commands_total {}", store.commands);
        let _ = writeln!(
            out,
            "# HELP smartcode_store_sweeps_total Expiry sweeps committed by this process's writers."
        );
        let _ = writeln!(out, "# TYPE smartcode_store_sweeps_total counter");
        let _ = writeln!(out, "smartcode_store_sweeps_total {}", store.sweeps);
        let _ = writeln!(
            out,
            "# HELP smartcode_store_batch_commands Commands per commit (group commit)."
        );
        let _ = writeln!(out, "# TYPE smartcode_store_batch_commands histogram");
        let mut cumulative = 0;
        for (count, bound) in store.batches.iter().zip(BATCH_SIZE_BUCKETS) {
            cumulative += count;
            let _ = writeln!(
                out,
                "smartcode_store_batch_commands_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "smartcode_store_batch_commands_bucket{{le=\"+Inf\"}} {}",
            store.commits
        );
        let _ = writeln!(out, "smartcode_store_batch_commands_sum {}", store.commands);
        let _ = writeln!(out, "smartcode_store_batch_commands_count {}", store.commits);
    }
}

/// Microseconds as decimal seconds, exactly (no floating point).
fn seconds(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

//! The embedded writer: it takes every job waiting, runs them in one transaction (first without
//! savepoints, then, if a command failed after it wrote, again with a savepoint around each), writes
//! the balances its memory holds once, commits, and hands the answers to the syncer. Requests and
//! the sweep run through the shared protocol ([`crate::protocol`]) over the writer's memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::Connection;
use smartcode_core::clock::{Clock, Timestamp};
use smartcode_core::error::{OpError, StorageFailure};
pub use smartcode_core::limits::{EMBEDDED_BATCH_COMMANDS_MAX, IDEMPOTENCY_PURGE_INTERVAL_SECONDS};

use super::durability::{Committed, Durability};
use super::{checkpoint, WAL_RESTART_PAGES};
use crate::cache::{Cached, WriterCache};
use crate::jobs::WriteJob;
use crate::protocol::{self, SweepStep};
use crate::sqlite::{failure, HotStatements, SqliteLedger};
use crate::{WriteRequest, Written};

pub(super) fn write_loop(
    connection: Connection,
    receiver: Receiver<WriteJob>,
    clock: Arc<dyn Clock>,
    syncer: SyncSender<Committed>,
    durability: &Durability,
    wal_pages: &AtomicU64,
) {
    let mut last_purge = Instant::now();
    let mut cache = match HotStatements::prepare(&connection) {
        Ok(statements) => WriterCache::new(statements),
        Err(error) => {
            tracing::error!(error = %error, "the writer could not prepare its statements; it refuses every write");
            for job in receiver.iter() {
                if let WriteJob::Request { reply, .. } = job {
                    let _ = reply.send(Err(OpError::Storage(error.clone())));
                }
            }
            return;
        }
    };
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < EMBEDDED_BATCH_COMMANDS_MAX {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let now = clock.now();
        let purge = last_purge.elapsed() >= Duration::from_secs(IDEMPOTENCY_PURGE_INTERVAL_SECONDS);
        if purge {
            last_purge = Instant::now();
        }
        let committed = run_batch(&connection, &mut cache, now, batch, purge, durability);
        cache.trim();
        if syncer.send(committed).is_err() {
            return;
        }
        if wal_pages.load(Ordering::Relaxed) > WAL_RESTART_PAGES {
            // The checkpointer copied nearly all of the WAL; copying the rest between two batches
            // lets the next commit start the WAL again. Passive: it never waits for anyone.
            match checkpoint(&connection, "PASSIVE") {
                Ok((_, log, copied)) if log == copied => wal_pages.store(0, Ordering::Relaxed),
                Ok(_) => {}
                Err(error) => tracing::warn!(error = %error, "checkpoint failed; the next one will try again"),
            }
        }
    }
}

/// Runs one batch in one transaction; the answers go to the syncer, which sends them once the
/// commit is on disk.
pub(super) fn run_batch(
    connection: &Connection,
    cache: &mut WriterCache,
    now: Timestamp,
    batch: Vec<WriteJob>,
    purge: bool,
    durability: &Durability,
) -> Committed {
    let number = durability.visible.load(Ordering::SeqCst) + 1;
    let sweeps = batch.iter().filter(|job| job.ends_a_sweep()).count();
    let refuse_all = |batch: Vec<WriteJob>, error: OpError| Committed {
        batch: number,
        sweeps: 0,
        answers: batch
            .into_iter()
            .filter_map(|job| match job {
                WriteJob::Request { reply, .. } => Some((reply, Err(error.clone()))),
                WriteJob::Sweep(_) => None,
            })
            .collect(),
    };
    if durability.failed.load(Ordering::SeqCst) {
        return refuse_all(batch, Durability::broken());
    }
    if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
        let failure = failure(error);
        tracing::error!(error = %failure, "store could not begin a write transaction");
        return refuse_all(batch, OpError::Storage(failure));
    }
    let mut ran = run_jobs(connection, cache, now, &batch, purge, Savepoints::OnlyIfNeeded);
    if matches!(ran, Ran::Again) {
        // A command failed after it had written: run the batch again from its beginning, each
        // command in a savepoint of its own this time.
        cache.clear();
        if let Err(error) = connection.execute_batch("ROLLBACK; BEGIN IMMEDIATE") {
            let failure = failure(error);
            tracing::error!(error = %failure, "store could not begin a write transaction");
            let _ = connection.execute_batch("ROLLBACK");
            return refuse_all(batch, OpError::Storage(failure));
        }
        ran = run_jobs(connection, cache, now, &batch, purge, Savepoints::Always);
    }
    let results = match ran {
        Ran::Done(results) => results,
        Ran::Lost(failure) => {
            tracing::error!(error = %failure, batch.size = batch.len(), "the store lost the batch's transaction; no command of the batch happened");
            cache.clear();
            if !connection.is_autocommit() {
                let _ = connection.execute_batch("ROLLBACK");
            }
            return refuse_all(batch, OpError::Storage(failure));
        }
        Ran::Again => unreachable!("with savepoints, no command needs the batch run again"),
    };
    let mut answers = Vec::with_capacity(batch.len());
    for (job, result) in batch.into_iter().zip(results) {
        if let (WriteJob::Request { reply, .. }, Some(result)) = (job, result) {
            answers.push((reply, result));
        }
    }
    // The balances and totals the batch changed, each written once.
    let _ = cache.flush(&SqliteLedger { conn: connection });
    if let Some(failure) = cache.batch_lost().cloned() {
        tracing::error!(error = %failure, batch.size = answers.len(), "store could not write the batch's balances; no command of the batch happened");
        let _ = connection.execute_batch("ROLLBACK");
        cache.clear();
        for answer in &mut answers {
            answer.1 = Err(OpError::Storage(failure.clone()));
        }
        return Committed {
            batch: number,
            sweeps: 0,
            answers,
        };
    }
    // From here on a reader may see this batch, so it must wait for the batch's fsync.
    durability.visible.store(number, Ordering::SeqCst);
    if let Err(error) = connection.execute_batch("COMMIT") {
        let failure = failure(error);
        tracing::error!(error = %failure, batch.size = answers.len(), "store commit failed; no command of the batch happened");
        let _ = connection.execute_batch("ROLLBACK");
        cache.clear();
        for answer in &mut answers {
            answer.1 = Err(OpError::Storage(failure.clone()));
        }
        return Committed {
            batch: number,
            sweeps: 0,
            answers,
        };
    }
    Committed {
        batch: number,
        sweeps,
        answers,
    }
}

/// When the writer opens a savepoint for a command.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Savepoints {
    /// Never, at first: most commands either succeed or are refused before they write anything
    /// (an unknown code, too little money), and then there is nothing to roll back. A command that
    /// fails after writing makes the whole batch run again with `Always`. Saves two statements
    /// per command.
    OnlyIfNeeded,
    /// Around every command.
    Always,
}

/// How running a batch's jobs inside its transaction went.
enum Ran {
    /// Each request's result (`None` for a sweep), ready to commit.
    Done(Vec<Option<Result<Written, OpError>>>),
    /// Without savepoints, a command failed after it had written: only running the batch again,
    /// with savepoints, can undo it alone.
    Again,
    /// The transaction no longer holds what the commands did (SQLite rolled it back itself, as it
    /// does on a full disk or an I/O error, or a savepoint could not be undone or released): none
    /// of the batch may commit. The remaining jobs are not run, as they would run outside any
    /// transaction.
    Lost(StorageFailure),
}

fn run_jobs(
    connection: &Connection,
    cache: &mut WriterCache,
    now: Timestamp,
    batch: &[WriteJob],
    purge: bool,
    savepoints: Savepoints,
) -> Ran {
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        match job {
            WriteJob::Request { request, .. } if savepoints == Savepoints::OnlyIfNeeded => {
                cache.begin_command();
                let result = run_request(connection, cache, now, request);
                if result.is_err() && cache.command_wrote() && !transaction_lost(connection, cache) {
                    return Ran::Again;
                }
                results.push(Some(result));
            }
            WriteJob::Request { request, .. } => {
                let result = in_savepoint(connection, cache, |conn, cache| run_request(conn, cache, now, request));
                results.push(Some(result));
            }
            WriteJob::Sweep(step) => {
                let swept = in_savepoint(connection, cache, |conn, cache| sweep(conn, cache, now, *step, purge));
                if let Err(error) = swept {
                    tracing::error!(error = %error, step = ?step, "a step of the sweep failed; it will run again");
                }
                results.push(None);
            }
        }
        if transaction_lost(connection, cache) {
            let why = cache
                .batch_lost()
                .cloned()
                .unwrap_or_else(|| StorageFailure("the database rolled the batch's transaction back".to_owned()));
            return Ran::Lost(why);
        }
    }
    Ran::Done(results)
}

/// Whether the batch's transaction is gone (SQLite is back in autocommit mode) or no longer to be
/// committed.
fn transaction_lost(connection: &Connection, cache: &WriterCache) -> bool {
    connection.is_autocommit() || cache.batch_lost().is_some()
}

/// Runs one command in its own savepoint: if it fails, the database and the writer's memory are
/// as they were before it.
fn in_savepoint<T>(
    connection: &Connection,
    cache: &mut WriterCache,
    body: impl FnOnce(&Connection, &mut WriterCache) -> Result<T, OpError>,
) -> Result<T, OpError> {
    let run = |sql: &str| -> Result<(), StorageFailure> {
        connection
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map(|_| ())
            .map_err(failure)
    };
    // What earlier commands left unwritten is written first, so that what is unwritten at a
    // rollback is this command's own.
    cache
        .flush(&SqliteLedger { conn: connection })
        .map_err(OpError::Storage)?;
    run("SAVEPOINT command").map_err(OpError::Storage)?;
    cache.begin_command();
    let result = body(connection, cache).and_then(|done| {
        cache
            .flush(&SqliteLedger { conn: connection })
            .map_err(OpError::Storage)?;
        Ok(done)
    });
    if result.is_err() {
        cache.forget_command();
    }
    // A savepoint that cannot be undone or released leaves in the transaction what a command
    // answered with an error did, or keeps it open past the batch's COMMIT: the batch is lost.
    let end: &[&str] = if result.is_err() {
        &["ROLLBACK TO command", "RELEASE command"]
    } else {
        &["RELEASE command"]
    };
    for sql in end {
        if let Err(failure) = run(sql) {
            cache.lose_batch(failure.clone());
            return Err(OpError::Storage(failure));
        }
    }
    result
}

/// Runs one request through the shared protocol ([`protocol::run_request`]) over the writer's
/// memory.
fn run_request(
    connection: &Connection,
    cache: &mut WriterCache,
    now: Timestamp,
    request: &WriteRequest,
) -> Result<Written, OpError> {
    let mut ledger = Cached {
        inner: SqliteLedger { conn: connection },
        cache,
    };
    protocol::run_request(&mut ledger, now, request)
}

fn sweep(
    connection: &Connection,
    cache: &mut WriterCache,
    now: Timestamp,
    step: SweepStep,
    purge: bool,
) -> Result<(), OpError> {
    let mut ledger = Cached {
        inner: SqliteLedger { conn: connection },
        cache,
    };
    protocol::sweep(&mut ledger, now, step, purge)
}

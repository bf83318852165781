//! The embedded store: one SQLite database in WAL mode with `synchronous=FULL`, one writer thread
//! that commits many commands per fsync (group commit), and a few reader threads.
//!
//! The writer takes every command waiting in its queue (up to [`BATCH_COMMANDS_MAX`]), runs each in
//! its own savepoint so a refused command leaves nothing behind, commits once, and only then
//! answers every command of the batch. An answer therefore always means "on disk".

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use smartcode_core::clock::{Clock, Timestamp};
use smartcode_core::error::{OpError, StorageFailure};
use smartcode_core::ledger::{self, Command, Outcome, Query, QueryOutcome};
use smartcode_core::limits::{BATCH_COMMANDS_MAX, IDEMPOTENCY_KEY_KEPT_SECONDS, WRITE_QUEUE_DEPTH_MAX};

use crate::jobs::{enqueue_read, enqueue_write, spawn, sweep_loop, ReadJob, Workers, WriteJob};
use crate::schema::{latest_version, MIGRATIONS};
use crate::sqlite::{failure, SqliteLedger};
use crate::{Pending, StatCounters, Store, StoreStats, StoredResponse, WriteRequest, Written};

/// Reader threads, each with its own connection.
pub const READER_THREADS: usize = 2;
/// Reads that may wait for a reader at once.
pub const READ_QUEUE_DEPTH_MAX: usize = 16_384;
/// How often the background sweep looks for expired codes.
pub const SWEEP_INTERVAL_MS: u64 = 1_000;
/// Codes one sweep reverts at most; the next sweep takes the rest.
pub const SWEEP_CODES_MAX: u32 = 1_000;
/// Each connection's page cache, in KiB.
pub const PAGE_CACHE_KIB: u64 = 64 * 1024;
/// How much of the database file each connection reads through a memory map, in bytes.
pub const MMAP_BYTES: u64 = 1 << 30;
/// Prepared statements each connection keeps.
pub const STATEMENT_CACHE_CAPACITY: usize = 128;
/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "smartcode.sqlite3";

pub struct EmbeddedStore {
    workers: Workers,
    clock: Arc<dyn Clock>,
    path: PathBuf,
    counters: Arc<StatCounters>,
}

impl EmbeddedStore {
    /// Opens (creating and migrating if needed) the store in `data_dir`.
    pub fn open(data_dir: &Path, clock: Arc<dyn Clock>) -> Result<EmbeddedStore, StorageFailure> {
        let path = data_dir.join(DATABASE_FILE);
        let writer = open_connection(&path)?;
        migrate(&writer)?;
        let (write_sender, write_receiver) = mpsc::sync_channel(WRITE_QUEUE_DEPTH_MAX);
        let (read_sender, read_receiver) = mpsc::sync_channel::<ReadJob>(READ_QUEUE_DEPTH_MAX);
        let stopping = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();

        let writer_clock = clock.clone();
        let counters = Arc::new(StatCounters::default());
        let writer_counters = counters.clone();
        threads.push(spawn("smartcode-writer", move || {
            write_loop(writer, write_receiver, writer_clock, &writer_counters)
        }));

        let read_receiver = Arc::new(Mutex::new(read_receiver));
        for index in 0..READER_THREADS {
            let connection = open_connection(&path)?;
            let receiver = read_receiver.clone();
            let reader_clock = clock.clone();
            threads.push(spawn(&format!("smartcode-reader-{index}"), move || {
                read_loop(connection, receiver, reader_clock)
            }));
        }

        let sweep_sender = write_sender.clone();
        let sweep_stopping = stopping.clone();
        threads.push(spawn("smartcode-sweep", move || {
            sweep_loop(sweep_sender, sweep_stopping)
        }));

        Ok(EmbeddedStore {
            workers: Workers {
                writes: Mutex::new(Some(write_sender)),
                reads: Mutex::new(Some(read_sender)),
                stopping,
                threads: Mutex::new(threads),
            },
            clock,
            path,
            counters,
        })
    }

    pub fn database_path(&self) -> &Path {
        &self.path
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Stops taking requests, lets the writer finish and commit what it has queued, and joins
    /// every thread. Called on shutdown; dropping the store does the same.
    pub fn close(&self) {
        self.workers.close();
    }
}

impl Drop for EmbeddedStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl Store for EmbeddedStore {
    fn write(&self, request: WriteRequest) -> Pending<Written> {
        enqueue_write(&self.workers.writes, request)
    }

    fn read(&self, query: Query) -> Pending<QueryOutcome> {
        enqueue_read(&self.workers.reads, query)
    }

    fn kind(&self) -> &'static str {
        "embedded"
    }

    fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }
}

fn open_connection(path: &Path) -> Result<Connection, StorageFailure> {
    let connection = Connection::open(path).map_err(failure)?;
    // WAL lets readers work beside the writer; FULL makes every commit durable before it returns.
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )
        .map_err(failure)?;
    // A page cache large enough for the hot part of the ledger, and reads through a memory map:
    // without them, SQLite copies pages in and out of the kernel on every statement.
    connection
        .execute_batch(&format!(
            "PRAGMA cache_size = -{PAGE_CACHE_KIB}; PRAGMA mmap_size = {MMAP_BYTES}; PRAGMA temp_store = MEMORY;"
        ))
        .map_err(failure)?;
    // Every statement the ledger runs stays prepared: rusqlite's default cache of 16 is smaller
    // than the write path's set of statements, and re-preparing costs more than running them.
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    Ok(connection)
}

fn migrate(connection: &Connection) -> Result<(), StorageFailure> {
    let has_meta: bool = connection
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
            [],
            |row| row.get(0),
        )
        .map_err(failure)?;
    let current: u32 = if has_meta {
        connection
            .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |row| {
                row.get::<_, String>(0)
            })
            .optional()
            .map_err(failure)?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    } else {
        0
    };
    if current > latest_version() {
        return Err(StorageFailure(format!(
            "the store has schema version {current}, newer than this program's {}; run a newer smartcode",
            latest_version()
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        let run = || -> rusqlite::Result<()> {
            connection.execute_batch("BEGIN IMMEDIATE")?;
            connection.execute_batch(sql)?;
            connection.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?1) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [version.to_string()],
            )?;
            connection.execute_batch("COMMIT")
        };
        if let Err(error) = run() {
            let _ = connection.execute_batch("ROLLBACK");
            return Err(StorageFailure(format!(
                "migration to schema version {version} failed: {error}"
            )));
        }
        tracing::info!(schema.version = version, "store migrated");
    }
    Ok(())
}

fn write_loop(connection: Connection, receiver: Receiver<WriteJob>, clock: Arc<dyn Clock>, counters: &StatCounters) {
    let mut last_purge = Instant::now();
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH_COMMANDS_MAX {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let now = clock.now();
        let purge = last_purge.elapsed() >= Duration::from_secs(3600);
        if purge {
            last_purge = Instant::now();
        }
        run_batch(&connection, now, batch, purge, counters);
    }
}

/// Runs one batch in one transaction and answers each job after the commit.
fn run_batch(connection: &Connection, now: Timestamp, batch: Vec<WriteJob>, purge: bool, counters: &StatCounters) {
    let mut answers = Vec::with_capacity(batch.len());
    if let Err(error) = connection.execute_batch("BEGIN IMMEDIATE") {
        let failure = failure(error);
        tracing::error!(error = %failure, "store could not begin a write transaction");
        for job in batch {
            if let WriteJob::Request { reply, .. } = job {
                let _ = reply.send(Err(OpError::Storage(failure.clone())));
            }
        }
        return;
    }
    for job in batch {
        match job {
            WriteJob::Request { request, reply } => {
                let result = in_savepoint(connection, |conn| run_request(conn, now, request));
                answers.push((reply, result));
            }
            WriteJob::Sweep => {
                let swept = in_savepoint(connection, |conn| sweep(conn, now, purge));
                if let Err(error) = swept {
                    tracing::error!(error = %error, "expiry sweep failed; it will run again");
                }
            }
        }
    }
    if let Err(error) = connection.execute_batch("COMMIT") {
        let failure = failure(error);
        tracing::error!(error = %failure, batch.size = answers.len(), "store commit failed; no command of the batch happened");
        let _ = connection.execute_batch("ROLLBACK");
        for (reply, _) in answers {
            let _ = reply.send(Err(OpError::Storage(failure.clone())));
        }
        return;
    }
    counters.committed(answers.len());
    for (reply, result) in answers {
        let _ = reply.send(result);
    }
}

fn in_savepoint<T>(
    connection: &Connection,
    body: impl FnOnce(&Connection) -> Result<T, OpError>,
) -> Result<T, OpError> {
    let run = |sql: &str| -> Result<(), OpError> {
        connection
            .prepare_cached(sql)
            .and_then(|mut statement| statement.execute([]))
            .map(|_| ())
            .map_err(|e| OpError::Storage(failure(e)))
    };
    run("SAVEPOINT command")?;
    let result = body(connection);
    if result.is_err() {
        run("ROLLBACK TO command")?;
    }
    run("RELEASE command")?;
    result
}

fn run_request(connection: &Connection, now: Timestamp, request: WriteRequest) -> Result<Written, OpError> {
    let WriteRequest { command, idempotency } = request;
    let Some(idempotency) = idempotency else {
        return execute(connection, now, &command).map(Written::Done);
    };
    let stored: Option<(Vec<u8>, u16, Vec<u8>)> = connection
        .query_row(
            "SELECT fingerprint, status, body FROM idempotency WHERE key_hash = ?1",
            [idempotency.key_hash.as_slice()],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .optional()
        .map_err(|e| OpError::Storage(failure(e)))?;
    if let Some((fingerprint, status, body)) = stored {
        if fingerprint != idempotency.fingerprint {
            return Err(OpError::IdempotencyConflict);
        }
        return Ok(Written::Replayed(StoredResponse { status, body }));
    }
    let outcome = execute(connection, now, &command)?;
    let response = (idempotency.render)(&outcome);
    connection
        .execute(
            "INSERT INTO idempotency (key_hash, fingerprint, status, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                idempotency.key_hash.as_slice(),
                idempotency.fingerprint.as_slice(),
                response.status,
                response.body,
                now.0
            ],
        )
        .map_err(|e| OpError::Storage(failure(e)))?;
    Ok(Written::Done(outcome))
}

fn execute(connection: &Connection, now: Timestamp, command: &Command) -> Result<Outcome, OpError> {
    ledger::execute(&mut SqliteLedger { conn: connection }, now, command)
}

fn sweep(connection: &Connection, now: Timestamp, purge: bool) -> Result<(), OpError> {
    if let Outcome::ExpiredSwept { codes } = execute(connection, now, &Command::ExpireDue { limit: SWEEP_CODES_MAX })? {
        if codes > 0 {
            tracing::info!(codes.expired = codes, "expired codes reverted to their parents");
        }
    }
    if purge {
        let cutoff = now.0 - IDEMPOTENCY_KEY_KEPT_SECONDS * smartcode_core::clock::MICROS_PER_SECOND;
        connection
            .execute("DELETE FROM idempotency WHERE created_at < ?1", [cutoff])
            .map_err(|e| OpError::Storage(failure(e)))?;
    }
    Ok(())
}

fn read_loop(connection: Connection, receiver: Arc<Mutex<Receiver<ReadJob>>>, clock: Arc<dyn Clock>) {
    loop {
        let job = {
            let guard = receiver.lock().expect("read queue lock");
            guard.recv()
        };
        let Ok(ReadJob { query, reply }) = job else {
            return;
        };
        let result = read_snapshot(&connection, clock.now(), &query);
        let _ = reply.send(result);
    }
}

/// Runs one query in one read transaction, so all its reads see the same committed state.
fn read_snapshot(connection: &Connection, now: Timestamp, query: &Query) -> Result<QueryOutcome, OpError> {
    connection
        .execute_batch("BEGIN")
        .map_err(|e| OpError::Storage(failure(e)))?;
    let result = ledger::query(&mut SqliteLedger { conn: connection }, now, query);
    let _ = connection.execute_batch("COMMIT");
    result
}

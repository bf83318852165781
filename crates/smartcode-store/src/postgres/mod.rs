//! The PostgreSQL store, for operators who outgrow one machine: several broker processes, on
//! several machines, share one database. It keeps the embedded store's shape — writer threads
//! that each commit many commands at once (group commit; [`WRITER_CONNECTIONS`] per process,
//! coordinating like separate processes), reader threads with their own
//! connections, a sweep for expiries — and adds what sharing the database takes.
//!
//! # Durability
//! Every connection sets `synchronous_commit = on` (whatever the server or URL says), and the writer
//! answers a command only after the COMMIT holding it returned: an acknowledged payment is in
//! PostgreSQL's WAL on disk (and on a synchronous standby, if the server has one). If the connection
//! breaks while COMMIT is in flight nobody can tell whether it committed; the batch is answered with
//! a storage failure and a client retrying with its `Idempotency-Key` gets the truth.
//!
//! # One batch
//! The writer takes every waiting job (up to [`POSTGRES_BATCH_COMMANDS_MAX`]), opens one READ
//! COMMITTED transaction, reads in bulk the rows its payments and holds name (payers by hash, payees
//! by public code, the payees' owners, their balances, the holds captured or voided), runs each
//! command in a `SAVEPOINT` (a refused command is rolled back to it and leaves nothing), then sends
//! the batch's hold rows and transfers (a statement each), applies its balance changes, adds its
//! payments to their public codes' running totals, commits once, and only then answers.
//!
//! Round trips are what a batch costs, so a command opens its savepoint only just before its first
//! statement: a payment, hold or capture whose rows were prefetched sends none (its writes wait
//! for the batch's statements; the batch's reads see them), so a refusal has nothing to undo.
//! Prefetched rows are as good as rows read then: the checks below make the decisions hold.
//!
//! # Concurrency between processes: READ COMMITTED, balances added at the end, retries
//! The choice is READ COMMITTED with row locks and checks, not REPEATABLE READ or SERIALIZABLE.
//! Under those, two transactions that both update the hot payee's balance row conflict, and the
//! later one fails (40001) and runs again: with one seller receiving most payments, nearly every
//! batch of the second process would fail, over and over. So instead:
//! - **Balances are only ever added to.** During the batch, `PgLedger` does not write balances;
//!   it keeps each account's net change of the batch (reads add it in, so the core sees its own
//!   effects), and just before COMMIT `finish_batch` locks the touched account rows in
//!   key order (`SELECT … ORDER BY key FOR UPDATE`: every process locks in the same order, so this
//!   step cannot deadlock), checks each new balance against the rows as they stand *now* (not
//!   below zero or the held amount, not above `BALANCE_UNITS_MAX`), and adds every change in one
//!   statement (`balance = balance + delta`). The schema's CHECK constraints repeat those bounds.
//!   Two processes paying from one code at once therefore cannot overdraw it: the second finds the
//!   balance short under the lock and runs its batch again, where the core refuses the payment.
//! - **A hot payee** is credited by one `UPDATE` per batch, however many payments of the batch go
//!   to it, and its row is locked only from that step to COMMIT — one WAL flush — not while the
//!   batch's commands run. Two processes crediting the same payee wait for each other only for
//!   that moment: the commits of their batches queue on the row, while the work of the batches
//!   (reading codes, checking rules, appending transfers) runs side by side. One commit can carry
//!   up to `POSTGRES_BATCH_COMMANDS_MAX` payments to the same payee, so the row lock is not the limit.
//! - **Code rows** (status, usage counters, PIN state, hash) are updated only if they are still the
//!   version (`xmin`) the command read; a change by another process in between is a conflict, not
//!   a lost update. Closing a code (cancel, expiry) also checks under lock that its balance is still
//!   the one the core moved out, and the last step before COMMIT checks that no code whose balance
//!   the batch changes was closed meanwhile: value never lands on a code another process closed.
//! - **A conflict runs the whole batch again** in a new transaction, at most [`BATCH_ATTEMPTS_MAX`]
//!   times. So do serialization failures (40001), deadlocks (40P01), a lock waited on longer than
//!   [`LOCK_WAIT_MS_MAX`] (55P03) and a connection lost before COMMIT. A code row that raced (and
//!   the balance of a code that raced while closing) is read under `FOR UPDATE` on the next
//!   attempt, so it waits for the other process instead of racing it again; a balance that ran
//!   short is simply read again (a code spent from two processes at once soon runs dry, and then
//!   the core refuses). None of this reaches a client, unless every attempt fails (a storage
//!   failure).
//! - The core reads in READ COMMITTED (each statement sees what was committed when it started);
//!   the checks above are what make its decisions hold at COMMIT. Queries run on the readers in
//!   `REPEATABLE READ READ ONLY` transactions: one snapshot per query, as the core asks.
//!
//! # Several processes
//! - **Migrations** are versioned (`schema_version`) and run at start while holding a session-level
//!   `pg_advisory_lock`; a second process starting at once waits, then finds nothing to do.
//! - **Idempotency keys** are rows of one shared table; a key is claimed by inserting its row in
//!   the batch's transaction, so the same key on two processes at once runs the command once: the
//!   second waits for the first's COMMIT and replays its response.
//! - **The sweep** (expiry reverts, forgetting old idempotency keys) runs in each process's writer,
//!   but only under `pg_try_advisory_xact_lock`, held until its batch commits: one process sweeps
//!   at a time and the next sees what it did.
//! - The advisory locks are keyed by the schema (`hashtext(current_schema())`), so brokers in
//!   different schemas of one database do not wait for each other.
//!
//! # Secrets
//! As in the embedded store: `codes.code_hash` is the HMAC of a secret code under the broker key,
//! `pin_hash` an argon2id PHC string, and remembered responses are sealed by the server before the
//! store sees them. A `pg_dump` holds no code and no PIN; the broker key lives outside the database.
//!
//! # Not yet
//! TLS to the database is not supported (the client connects with `NoTls`): run PostgreSQL on the
//! same host, a private network or a tunnel. Commands other than payments and holds still read and
//! write row by row.

mod conn;
mod counters;
mod ledger;
mod readers;
pub(crate) mod schema;
#[cfg(test)]
mod tests;

use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::Config;
use smartcode_core::clock::{Clock, Timestamp};
use smartcode_core::error::{OpError, StorageFailure};
use smartcode_core::ledger::{Query, QueryOutcome, Touches};
pub use smartcode_core::limits::{
    BATCH_ATTEMPTS_MAX, IDEMPOTENCY_KEY_KEPT_SECONDS, IDEMPOTENCY_PURGE_INTERVAL_SECONDS, POSTGRES_BATCH_COMMANDS_MAX,
    READ_QUEUE_DEPTH_MAX, RECONNECT_WAIT_MS, RETRY_BACKOFF_MS, SWEEP_CODES_MAX, WRITE_QUEUE_DEPTH_MAX,
};

use self::conn::{classify, describe, failure, Conn, ErrorKind};
pub use self::conn::{CONNECT_TIMEOUT_SECONDS, LOCK_WAIT_MS_MAX};
use self::counters::PgCounters;
use self::ledger::{finish_batch, prefetch, BatchState, Contended, PgLedger};
use self::readers::{read_loop, unusable};
pub use self::schema::latest_version;

use crate::counters::GuardCounters;
use crate::jobs::{enqueue_read, enqueue_write, spawn, sweep_loop, ReadJob, Workers, WriteJob};
use crate::protocol::{self, SweepStep};
use crate::{Pending, StatCounters, Store, StoreStats, WriteRequest, Written};

/// Writer threads, each with its own connection, taking batches in turn. Each statement waits on
/// the network, so while one writer waits for its COMMIT the others run theirs; they coordinate
/// exactly as separate broker processes do (row locks in key order, checks, retries).
pub const WRITER_CONNECTIONS: usize = 4;
/// Reader threads, each with its own connection. More than the embedded store's: a remote
/// database makes each read wait on the network, not on this machine's cores.
pub const READER_CONNECTIONS: usize = 4;
/// First keys of the advisory locks (the second is the schema's hash).
pub const MIGRATION_LOCK_CLASS: i32 = 0x5343_0001;
pub const SWEEP_LOCK_CLASS: i32 = 0x5343_0002;

pub struct PostgresStore {
    workers: Workers,
    clock: Arc<dyn Clock>,
    location: String,
    counters: Arc<StatCounters>,
    guard: Arc<PgCounters>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`; its `options`, such as
    /// `-csearch_path=NAME`, apply to every connection), migrates it under an advisory lock, and
    /// starts the writer, the readers and the sweep. Callable from async code: the blocking client
    /// (which runs a small runtime of its own) is only ever used on the store's own threads.
    pub fn open(url: &str, clock: Arc<dyn Clock>) -> Result<PostgresStore, StorageFailure> {
        std::thread::scope(|scope| {
            let opening = std::thread::Builder::new()
                .name("smartcode-pg-open".into())
                .spawn_scoped(scope, || PostgresStore::open_here(url, clock))
                .expect("the store can start a thread");
            opening
                .join()
                .unwrap_or_else(|_| Err(StorageFailure("opening the store panicked".into())))
        })
    }

    fn open_here(url: &str, clock: Arc<dyn Clock>) -> Result<PostgresStore, StorageFailure> {
        let config = conn::parse_config(url)?;
        let location = conn::location(&config);
        let mut setup = connect(&config, &location)?;
        let scope = lock_scope(&mut setup)?;
        migrate(&mut setup, scope)?;
        drop(setup);

        // Every connection first, so that a failure leaves no thread behind.
        let writer_conns = (0..WRITER_CONNECTIONS)
            .map(|_| connected(Conn::connect_writer(&config), &location))
            .collect::<Result<Vec<_>, _>>()?;
        let reader_conns = (0..READER_CONNECTIONS)
            .map(|_| connect(&config, &location))
            .collect::<Result<Vec<_>, _>>()?;
        let counter_conns = (0..counters::COUNTER_CONNECTIONS)
            .map(|_| connect(&config, &location))
            .collect::<Result<Vec<_>, _>>()?;

        let (write_sender, write_receiver) = mpsc::sync_channel(WRITE_QUEUE_DEPTH_MAX);
        let (read_sender, read_receiver) = mpsc::sync_channel::<ReadJob>(READ_QUEUE_DEPTH_MAX);
        let stopping = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();

        let counters = Arc::new(StatCounters::default());
        let write_receiver = Arc::new(Mutex::new(write_receiver));
        for (index, conn) in writer_conns.into_iter().enumerate() {
            let writer = Writer {
                conn: Some(conn),
                config: config.clone(),
                scope,
                counters: counters.clone(),
            };
            let (receiver, writer_clock) = (write_receiver.clone(), clock.clone());
            threads.push(spawn(&format!("smartcode-pg-writer-{index}"), move || {
                write_loop(writer, receiver, writer_clock)
            }));
        }

        let read_receiver = Arc::new(Mutex::new(read_receiver));
        for (index, conn) in reader_conns.into_iter().enumerate() {
            let (config, receiver, clock) = (config.clone(), read_receiver.clone(), clock.clone());
            threads.push(spawn(&format!("smartcode-pg-reader-{index}"), move || {
                read_loop(config, Some(conn), receiver, clock)
            }));
        }

        let (guard, guard_threads) = PgCounters::start(&config, counter_conns);
        threads.extend(guard_threads);

        let sweep_sender = write_sender.clone();
        let sweep_stopping = stopping.clone();
        threads.push(spawn("smartcode-pg-sweep", move || {
            sweep_loop(sweep_sender, sweep_stopping)
        }));
        tracing::info!(store.location = %location, schema.version = latest_version(), "postgres store opened");

        Ok(PostgresStore {
            workers: Workers {
                writes: Mutex::new(Some(write_sender)),
                reads: Mutex::new(Some(read_sender)),
                stopping,
                threads: Mutex::new(threads),
            },
            clock,
            location,
            counters,
            guard: Arc::new(guard),
        })
    }

    /// Where the store is, as `postgres://user@host:port/db`: never a password.
    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Stops taking requests, lets the writer finish and commit what it has queued, and joins
    /// every thread. Called on shutdown; dropping the store does the same.
    pub fn close(&self) {
        self.guard.close();
        self.workers.close();
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.close();
    }
}

impl Store for PostgresStore {
    fn write(&self, request: WriteRequest) -> Pending<Written> {
        enqueue_write(&self.workers.writes, request)
    }

    fn read(&self, query: Query) -> Pending<QueryOutcome> {
        enqueue_read(&self.workers.reads, query)
    }

    fn kind(&self) -> &'static str {
        "postgres"
    }

    fn guard_counters(&self) -> Arc<dyn GuardCounters> {
        self.guard.clone()
    }

    fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }
}

fn connect(config: &Config, location: &str) -> Result<Conn, StorageFailure> {
    connected(Conn::connect(config), location)
}

/// A connection made, or why not, saying where to.
fn connected(made: Result<Conn, postgres::Error>, location: &str) -> Result<Conn, StorageFailure> {
    made.map_err(|error| StorageFailure(format!("connecting to {location}: {}", describe(&error))))
}

/// The second key of this store's advisory locks: the hash of the schema its tables live in.
fn lock_scope(conn: &mut Conn) -> Result<i32, StorageFailure> {
    let row = conn
        .query_one("SELECT current_schema(), hashtext(current_schema())", &[])
        .map_err(|error| failure(&error))?;
    let schema: Option<String> = row.get(0);
    let scope: Option<i32> = row.get(1);
    match (schema, scope) {
        (Some(_), Some(scope)) => Ok(scope),
        _ => Err(StorageFailure(
            "the connection's search_path names no schema that exists; create it first".into(),
        )),
    }
}

fn migrate(conn: &mut Conn, scope: i32) -> Result<(), StorageFailure> {
    let locked = conn.execute("SELECT pg_advisory_lock($1, $2)", &[&MIGRATION_LOCK_CLASS, &scope]);
    locked.map_err(|error| StorageFailure(format!("waiting for the migration lock: {}", describe(&error))))?;
    let result = migrate_locked(conn);
    // Closing the connection would release the lock too; release it now all the same.
    let _ = conn.execute("SELECT pg_advisory_unlock($1, $2)", &[&MIGRATION_LOCK_CLASS, &scope]);
    result
}

fn migrate_locked(conn: &mut Conn) -> Result<(), StorageFailure> {
    conn.batch(schema::VERSION_TABLE).map_err(|error| failure(&error))?;
    let current = recorded_version(conn)?;
    if current > latest_version() {
        return Err(StorageFailure(format!(
            "the store has schema version {current}, newer than this program's {}; run a newer smartcode",
            latest_version()
        )));
    }
    for (version, sql) in schema::MIGRATIONS.iter().filter(|(version, _)| *version > current) {
        let mut run = || -> Result<(), postgres::Error> {
            conn.batch("BEGIN")?;
            conn.batch(sql)?;
            conn.execute("INSERT INTO schema_version (version) VALUES ($1)", &[version])?;
            conn.batch("COMMIT")
        };
        if let Err(error) = run() {
            let _ = conn.batch("ROLLBACK");
            return Err(StorageFailure(format!(
                "migration to schema version {version} failed: {}",
                describe(&error)
            )));
        }
        tracing::info!(schema.version = version, "store migrated");
    }
    Ok(())
}

/// The version `schema_version` records, 0 for a new store. A version table of another shape, or
/// one that records nothing while the store's tables exist, is refused: taken as 0, it would run
/// the first migration again.
fn recorded_version(conn: &mut Conn) -> Result<i32, StorageFailure> {
    let unreadable = |why: String| StorageFailure(format!("the store's schema version cannot be read: {why}"));
    let row = conn
        .query_one(
            "SELECT max(version), to_regclass('codes') IS NOT NULL FROM schema_version",
            &[],
        )
        .map_err(|error| unreadable(describe(&error)))?;
    let version: Option<i32> = row.try_get(0).map_err(|error| unreadable(error.to_string()))?;
    let tables_exist: bool = row.try_get(1).map_err(|error| unreadable(error.to_string()))?;
    match version {
        Some(version) if version > 0 => Ok(version),
        None if !tables_exist => Ok(0),
        Some(version) => Err(unreadable(format!("schema_version records version {version}"))),
        None => Err(unreadable(
            "schema_version records none, yet the store's tables exist; refusing to migrate them again".into(),
        )),
    }
}

struct Writer {
    config: Config,
    /// `None` after the connection was lost and could not be made again yet.
    conn: Option<Conn>,
    scope: i32,
    counters: Arc<StatCounters>,
}

impl Writer {
    /// The writer's connection, made again if it was lost (a restarted or failed-over server).
    fn connection(&mut self) -> Result<&mut Conn, StorageFailure> {
        if unusable(self.conn.as_ref()) {
            self.conn = None;
            let conn = Conn::connect_writer(&self.config).map_err(|error| failure(&error))?;
            tracing::info!("store writer reconnected");
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("connected above"))
    }
}

fn write_loop(mut writer: Writer, receiver: Arc<Mutex<Receiver<WriteJob>>>, clock: Arc<dyn Clock>) {
    let mut last_purge = Instant::now();
    loop {
        // One writer at a time takes a batch; the others commit theirs meanwhile.
        let batch = {
            let receiver = receiver.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let Ok(first) = receiver.recv() else { return };
            let mut batch = vec![first];
            while batch.len() < POSTGRES_BATCH_COMMANDS_MAX {
                match receiver.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        let purge = last_purge.elapsed() >= Duration::from_secs(IDEMPOTENCY_PURGE_INTERVAL_SECONDS);
        if purge {
            last_purge = Instant::now();
        }
        run_batch(&mut writer, clock.as_ref(), batch, purge);
    }
}

/// What became of one attempt at a batch.
enum Attempt {
    /// Committed; one answer per job (`None` for a sweep).
    Committed(Vec<Option<Result<Written, OpError>>>),
    /// Rolled back after a race lost (or a connection lost before COMMIT): run it again.
    Retry(String),
    /// Rolled back, or of unknown outcome, for a reason a new attempt would not cure.
    Failed(StorageFailure),
}

/// Runs one batch until it commits (at most [`BATCH_ATTEMPTS_MAX`] attempts) and answers each job
/// after the commit.
fn run_batch(writer: &mut Writer, clock: &dyn Clock, jobs: Vec<WriteJob>, purge: bool) {
    let mut contended = Contended::default();
    let mut last_reason = String::new();
    for attempt in 1..=BATCH_ATTEMPTS_MAX {
        if attempt > 1 {
            std::thread::sleep(Duration::from_millis(RETRY_BACKOFF_MS * u64::from(attempt - 1)));
        }
        let scope = writer.scope;
        let conn = match writer.connection() {
            Ok(conn) => conn,
            Err(failure) => {
                // Fail fast rather than hold every queued request through more connect timeouts;
                // the next batch tries again.
                tracing::error!(error = %failure, batch.size = jobs.len(), "store cannot reach the database");
                answer_all(jobs, &failure);
                std::thread::sleep(Duration::from_millis(RECONNECT_WAIT_MS));
                return;
            }
        };
        let mut state = BatchState::new(std::mem::take(&mut contended));
        match attempt_batch(conn, clock.now(), &jobs, purge, &mut state, scope) {
            Attempt::Committed(answers) => {
                let requests = jobs.iter().filter(|job| matches!(job, WriteJob::Request { .. }));
                writer.counters.committed(requests.count());
                writer
                    .counters
                    .swept(jobs.iter().filter(|job| job.ends_a_sweep()).count());
                if attempt > 1 {
                    tracing::debug!(
                        batch.attempts = attempt,
                        batch.size = jobs.len(),
                        "batch committed after a retry"
                    );
                }
                answer_each(jobs, answers);
                return;
            }
            Attempt::Retry(reason) => {
                contended = state.into_contended();
                tracing::debug!(batch.attempt = attempt, batch.size = jobs.len(), rows.contended = contended.len(), reason = %reason, "batch raced another process; running it again");
                last_reason = reason;
            }
            Attempt::Failed(failure) => {
                tracing::error!(error = %failure, batch.size = jobs.len(), "store batch failed; no command of it happened (unless COMMIT was in flight)");
                answer_all(jobs, &failure);
                return;
            }
        }
    }
    let failure = StorageFailure(format!(
        "the batch could not commit in {BATCH_ATTEMPTS_MAX} attempts; the last failed on: {last_reason}"
    ));
    tracing::error!(error = %failure, batch.size = jobs.len(), "store gave up on a batch");
    answer_all(jobs, &failure);
}

fn answer_each(jobs: Vec<WriteJob>, answers: Vec<Option<Result<Written, OpError>>>) {
    for (job, result) in jobs.into_iter().zip(answers) {
        if let (WriteJob::Request { reply, .. }, Some(result)) = (job, result) {
            let _ = reply.send(result);
        }
    }
}

fn answer_all(jobs: Vec<WriteJob>, failure: &StorageFailure) {
    for job in jobs {
        if let WriteJob::Request { reply, .. } = job {
            let _ = reply.send(Err(OpError::Storage(failure.clone())));
        }
    }
}

fn attempt_batch(
    conn: &mut Conn,
    now: Timestamp,
    jobs: &[WriteJob],
    purge: bool,
    state: &mut BatchState,
    scope: i32,
) -> Attempt {
    if let Err(error) = conn.batch("BEGIN ISOLATION LEVEL READ COMMITTED") {
        return abandon(conn, &error);
    }
    // The rows the batch's commands name (codes, balances, holds), read in bulk for all of them.
    let mut touches = Touches::default();
    for job in jobs {
        if let WriteJob::Request { request, .. } = job {
            request.command.touches(&mut touches);
        }
    }
    let hashes: Vec<&[u8]> = touches.codes.iter().map(|hash| hash.0.as_slice()).collect();
    let publics: Vec<&str> = touches.public_codes.iter().map(|code| code.as_stored()).collect();
    if let Err(failure) = prefetch(conn, state, (&hashes, &publics), &touches.holds) {
        rollback(conn);
        return match state.conflict() {
            Some(reason) => Attempt::Retry(reason.to_owned()),
            None => Attempt::Failed(failure),
        };
    }
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        state.begin_command();
        let (kept, result) = {
            let mut ledger = PgLedger {
                conn: &mut *conn,
                batch: Some(&mut *state),
            };
            match job {
                WriteJob::Request { request, .. } => {
                    let result = protocol::run_request(&mut ledger, now, request);
                    (result.is_ok(), Some(result))
                }
                WriteJob::Sweep(step) => match sweep(&mut ledger, now, *step, purge, scope) {
                    Ok(()) => (true, None),
                    Err(error) => {
                        if ledger.batch.as_ref().is_some_and(|b| b.conflict().is_none()) {
                            tracing::error!(error = %error, "expiry sweep failed; it will run again");
                        }
                        (false, None)
                    }
                },
            }
        };
        if let Some(reason) = state.conflict() {
            let reason = reason.to_owned();
            rollback(conn);
            return Attempt::Retry(reason);
        }
        if !kept && state.rollback_undoes_others() {
            rollback(conn);
            return Attempt::Retry("a refused command held other commands' transfers".into());
        }
        let boundary = match (state.savepoint_open(), kept) {
            (false, _) => None,
            (true, true) => Some("RELEASE SAVEPOINT command"),
            (true, false) => Some("ROLLBACK TO SAVEPOINT command; RELEASE SAVEPOINT command"),
        };
        state.end_command(kept);
        if let Some(Err(error)) = boundary.map(|sql| conn.batch(sql)) {
            return abandon(conn, &error);
        }
        answers.push(result);
    }
    if let Err(failure) = finish_batch(conn, state) {
        rollback(conn);
        return match state.conflict() {
            Some(reason) => Attempt::Retry(reason.to_owned()),
            None => Attempt::Failed(failure),
        };
    }
    match conn.batch("COMMIT") {
        Ok(()) => Attempt::Committed(answers),
        // The server answered COMMIT with an error: it rolled the transaction back.
        Err(error) if error.as_db_error().is_some() => match classify(&error) {
            ErrorKind::Retry => Attempt::Retry(describe(&error)),
            ErrorKind::Lost | ErrorKind::Fatal => Attempt::Failed(failure(&error)),
        },
        Err(error) => Attempt::Failed(StorageFailure(format!(
            "the connection failed during COMMIT, so whether the batch committed is unknown: {}",
            describe(&error)
        ))),
    }
}

/// Gives up an attempt after an error in transaction control (BEGIN, SAVEPOINT, RELEASE).
fn abandon(conn: &mut Conn, error: &postgres::Error) -> Attempt {
    rollback(conn);
    match classify(error) {
        ErrorKind::Retry | ErrorKind::Lost => Attempt::Retry(describe(error)),
        ErrorKind::Fatal => Attempt::Failed(failure(error)),
    }
}

fn rollback(conn: &mut Conn) {
    if !conn.is_closed() {
        let _ = conn.batch("ROLLBACK");
    }
}

/// The shared sweep ([`protocol::sweep`]), in one process at a time: under an advisory lock held
/// until the batch commits.
fn sweep(ledger: &mut PgLedger, now: Timestamp, step: SweepStep, purge: bool, scope: i32) -> Result<(), OpError> {
    if !ledger.try_sweep_lock(SWEEP_LOCK_CLASS, scope)? {
        // Another process is sweeping; what is due will be there for the next sweep.
        return Ok(());
    }
    protocol::sweep(ledger, now, step, purge)
}

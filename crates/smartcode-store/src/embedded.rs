//! The embedded store: one SQLite database in WAL mode, one writer thread that commits many
//! commands at once (group commit), one syncer thread that puts the commits on disk, and a few
//! reader threads.
//!
//! The writer takes every command waiting in its queue (up to [`EMBEDDED_BATCH_COMMANDS_MAX`]), runs them,
//! and commits once. A refused command leaves nothing behind: most are refused before they write,
//! and a command that fails after writing makes the writer roll the batch back and run it again
//! with each command in a savepoint of its own (see `Savepoints`). It hands the
//! batch's answers to the syncer and goes on with the next batch at once: while the disk syncs one
//! batch, the writer already runs the next (a pipeline of two). The syncer `fdatasync`s the WAL file
//! (covering every batch committed so far) and only then sends the answers. An answer therefore
//! always means "on disk".
//!
//! A reader could see a batch the syncer has not yet put on disk; so each read, before it answers,
//! waits until every batch its snapshot may hold is synced (see [`Durability`]). Nobody learns of a
//! payment that a crash could still undo.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};
use smartcode_core::clock::{Clock, Timestamp};
use smartcode_core::error::{OpError, StorageFailure};
use smartcode_core::ledger::{self, expiry, Command, Context, Outcome, Query, QueryOutcome, Seed};
pub use smartcode_core::limits::{
    CHECKPOINT_INTERVAL_MS, EMBEDDED_BATCH_COMMANDS_MAX, IDEMPOTENCY_KEY_KEPT_SECONDS,
    IDEMPOTENCY_PURGE_INTERVAL_SECONDS, READ_QUEUE_DEPTH_MAX, SWEEP_CODES_MAX, SWEEP_INTERVAL_MS, SYNC_QUEUE_DEPTH_MAX,
    WRITE_QUEUE_DEPTH_MAX,
};

use crate::cache::{Cached, WriterCache};
use crate::jobs::{enqueue_read, enqueue_write, spawn, sweep_loop, ReadJob, Workers, WriteJob};
use crate::schema::{latest_version, MIGRATIONS};
use crate::sqlite::{failure, HotStatements, SqliteLedger};
use crate::{Pending, StatCounters, Store, StoreStats, StoredResponse, WriteRequest, Written};

/// Reader threads, each with its own connection.
pub const READER_THREADS: usize = 2;
/// Each connection's page cache, in KiB. Small on purpose: reads come through the memory map, so
/// the cache mostly holds the pages a transaction changes; and SQLite scans the writer's whole
/// cache at every commit once a B-tree split has renumbered a page (`pcache1TruncateUnsafe`), so a
/// large cache costs every commit (64 MiB cost a seventh of the writer).
pub const PAGE_CACHE_KIB: u64 = 8 * 1024;
/// How much of the database file each connection reads through a memory map, in bytes: address
/// space, not memory (only the pages read are resident). `.cargo/config.toml` lifts SQLite's
/// compiled-in cap of 2 GiB.
pub const MMAP_BYTES: u64 = 1 << 38;
/// Prepared statements each connection keeps.
pub const STATEMENT_CACHE_CAPACITY: usize = 128;
/// The database file inside the data directory.
pub const DATABASE_FILE: &str = "smartcode.sqlite3";
/// WAL pages past which the writer, between two batches, finishes the checkpointer's work itself,
/// so that its next commit starts the WAL again from the beginning.
pub const WAL_RESTART_PAGES: u64 = 8_192;

/// The answers of one committed batch, which the syncer sends once the batch is on disk.
struct Committed {
    batch: u64,
    answers: Vec<(Reply, Result<Written, OpError>)>,
}

type Reply = tokio::sync::oneshot::Sender<Result<Written, OpError>>;

/// How far the writer's commits and the syncer's fsyncs have come, as batch numbers. The writer
/// numbers a batch *before* it commits it, so a reader that reads `visible` after its snapshot knows
/// a bound on what that snapshot holds, and waits until `synced` reaches it.
#[derive(Default)]
struct Durability {
    visible: AtomicU64,
    synced: Mutex<u64>,
    advanced: Condvar,
    /// An fsync failed: what is on disk is unknown, so the store refuses everything after it.
    failed: AtomicBool,
}

impl Durability {
    fn broken() -> OpError {
        OpError::Storage(StorageFailure(
            "the store could not sync its log to disk; restart the broker".into(),
        ))
    }

    /// Waits until every batch a snapshot taken before now may hold is on disk.
    fn wait_synced(&self) -> Result<(), OpError> {
        let visible = self.visible.load(Ordering::SeqCst);
        let mut synced = self.synced.lock().expect("durability lock");
        while *synced < visible {
            synced = self.advanced.wait(synced).expect("durability lock");
        }
        if self.failed.load(Ordering::SeqCst) {
            return Err(Durability::broken());
        }
        Ok(())
    }

    fn advance(&self, batch: u64) {
        let mut synced = self.synced.lock().expect("durability lock");
        *synced = (*synced).max(batch);
        self.advanced.notify_all();
    }
}

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
        // Checkpoints run beside the writer, not inside its commits (see `checkpoint_loop`).
        writer.execute_batch("PRAGMA wal_autocheckpoint = 0").map_err(failure)?;
        let (write_sender, write_receiver) = mpsc::sync_channel(WRITE_QUEUE_DEPTH_MAX);
        let (read_sender, read_receiver) = mpsc::sync_channel::<ReadJob>(READ_QUEUE_DEPTH_MAX);
        let stopping = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();

        let durability = Arc::new(Durability::default());
        let counters = Arc::new(StatCounters::default());
        let (sync_sender, sync_receiver) = mpsc::sync_channel(SYNC_QUEUE_DEPTH_MAX);
        let syncer_durability = durability.clone();
        let syncer_counters = counters.clone();
        let wal_path = wal_path(&path);
        threads.push(spawn("smartcode-syncer", move || {
            sync_loop(&wal_path, sync_receiver, &syncer_durability, &syncer_counters)
        }));

        let wal_pages = Arc::new(AtomicU64::new(0));
        let checkpointer = open_connection(&path)?;
        let (checkpoint_stopping, checkpoint_pages) = (stopping.clone(), wal_pages.clone());
        threads.push(spawn("smartcode-checkpoint", move || {
            checkpoint_loop(&checkpointer, &checkpoint_stopping, &checkpoint_pages)
        }));

        let writer_clock = clock.clone();
        let writer_durability = durability.clone();
        threads.push(spawn("smartcode-writer", move || {
            write_loop(
                writer,
                write_receiver,
                writer_clock,
                sync_sender,
                &writer_durability,
                &wal_pages,
            )
        }));

        let read_receiver = Arc::new(Mutex::new(read_receiver));
        for index in 0..READER_THREADS {
            let connection = open_connection(&path)?;
            let receiver = read_receiver.clone();
            let reader_clock = clock.clone();
            let reader_durability = durability.clone();
            threads.push(spawn(&format!("smartcode-reader-{index}"), move || {
                read_loop(connection, receiver, reader_clock, &reader_durability)
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

/// Copies the WAL of the store in `data_dir` into its database file and empties it, from any
/// process (a running broker's writer waits a moment). `smartcode bench` does this before it
/// measures the store's size.
#[doc(hidden)]
pub fn checkpoint_file(data_dir: &Path) -> Result<(), StorageFailure> {
    let path = data_dir.join(DATABASE_FILE);
    if !path.exists() {
        return Ok(());
    }
    let connection = open_connection(&path)?;
    checkpoint(&connection, "TRUNCATE").map_err(failure)?;
    Ok(())
}

/// Codes [`seed_spent_codes`] inserts per transaction.
const SEED_CODES_PER_COMMIT: u64 = 100_000;
/// The page cache of the seeding connection, in KiB: random inserts into the indexes stay in
/// memory, so seeding millions of codes takes minutes, not hours.
const SEED_PAGE_CACHE_KIB: u64 = 4 * 1024 * 1024;

/// Adds `count` spent codes (issued, emptied: a zero balance and no history) to the store in
/// `data_dir`, in bulk and outside any running broker. `smartcode bench --codes` uses it to measure
/// a large store. Their secrets are drawn and thrown away, so nobody can ever present them.
/// `progress` hears how many are in after each commit.
#[doc(hidden)]
pub fn seed_spent_codes(
    data_dir: &Path,
    count: u64,
    currency: smartcode_core::money::Currency,
    now: Timestamp,
    progress: impl Fn(u64),
) -> Result<(), StorageFailure> {
    use smartcode_core::code::{BrokerKey, CodeId, SecretCode};
    use smartcode_core::model::AccountKey;

    std::fs::create_dir_all(data_dir).map_err(|e| StorageFailure(format!("creating {}: {e}", data_dir.display())))?;
    let connection = open_connection(&data_dir.join(DATABASE_FILE))?;
    migrate(&connection)?;
    connection
        .execute_batch(&format!("PRAGMA cache_size = -{SEED_PAGE_CACHE_KIB}"))
        .map_err(failure)?;
    let key = BrokerKey::generate();
    let mut done = 0;
    while done < count {
        let chunk = SEED_CODES_PER_COMMIT.min(count - done);
        let run = || -> rusqlite::Result<()> {
            connection.execute_batch("BEGIN IMMEDIATE")?;
            let mut code = connection.prepare_cached(
                "INSERT INTO codes (id, kind, owner_id, code_hash, currency, status, depth, created_at, irrevocable) \
                 VALUES (?1, 'secret', ?1, ?2, ?3, 'active', 1, ?4, 0) ON CONFLICT DO NOTHING",
            )?;
            let mut account = connection.prepare_cached(
                "INSERT INTO accounts (key, kind, currency, balance, held) VALUES (?1, 'code', ?2, 0, 0)",
            )?;
            for _ in 0..chunk {
                // A drawn code (40 bits) that is already taken is drawn again, as the broker does.
                let id = loop {
                    let id = CodeId::generate();
                    let hash = key.hash_code(&SecretCode::generate());
                    if code.execute(params![id.as_str(), hash.0.as_slice(), currency.as_str(), now.0])? == 1 {
                        break id;
                    }
                };
                account.execute(params![AccountKey::Code(id).to_stored(), currency.as_str()])?;
            }
            connection.execute_batch("COMMIT")
        };
        if let Err(error) = run() {
            let _ = connection.execute_batch("ROLLBACK");
            return Err(failure(error));
        }
        done += chunk;
        progress(done);
    }
    checkpoint(&connection, "TRUNCATE").map_err(failure)?;
    Ok(())
}

fn open_connection(path: &Path) -> Result<Connection, StorageFailure> {
    let connection = Connection::open(path).map_err(failure)?;
    // WAL lets readers work beside the writer. NORMAL: a commit writes the WAL but does not fsync
    // it; the syncer does, before any command of the batch is answered (and SQLite itself syncs the
    // WAL before every checkpoint, so the database file never gets ahead of it).
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
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

fn write_loop(
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

/// Runs a checkpoint: `(busy, pages in the WAL, pages copied to the database file)`.
fn checkpoint(connection: &Connection, mode: &str) -> rusqlite::Result<(bool, u64, u64)> {
    connection.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        let pages = |index| row.get::<_, i64>(index).map(|n| u64::try_from(n).unwrap_or(0));
        Ok((row.get(0)?, pages(1)?, pages(2)?))
    })
}

/// Copies the WAL back into the database file every [`CHECKPOINT_INTERVAL_MS`], beside the
/// writer, so that no commit waits for a checkpoint. A passive checkpoint copies what no reader
/// still needs, never blocks the writer, and (with `synchronous=NORMAL`) syncs the WAL before it
/// writes the database file, so that file never holds a commit the WAL could lose. The WAL's length
/// goes to `wal_pages`, for the writer to finish the job when the WAL grows long.
fn checkpoint_loop(connection: &Connection, stopping: &AtomicBool, wal_pages: &AtomicU64) {
    while !stopping.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(CHECKPOINT_INTERVAL_MS));
        match checkpoint(connection, "PASSIVE") {
            Ok((_, log, _)) => wal_pages.store(log, Ordering::Relaxed),
            Err(error) => tracing::warn!(error = %error, "checkpoint failed; the next one will try again"),
        }
    }
}

/// Runs one batch in one transaction; the answers go to the syncer, which sends them once the
/// commit is on disk.
fn run_batch(
    connection: &Connection,
    cache: &mut WriterCache,
    now: Timestamp,
    batch: Vec<WriteJob>,
    purge: bool,
    durability: &Durability,
) -> Committed {
    let number = durability.visible.load(Ordering::SeqCst) + 1;
    let refuse_all = |batch: Vec<WriteJob>, error: OpError| Committed {
        batch: number,
        answers: batch
            .into_iter()
            .filter_map(|job| match job {
                WriteJob::Request { reply, .. } => Some((reply, Err(error.clone()))),
                WriteJob::Sweep => None,
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
        return Committed { batch: number, answers };
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
    }
    Committed { batch: number, answers }
}

/// The path of SQLite's write-ahead log beside the database file.
fn wal_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Takes every committed batch waiting, syncs the WAL once for all of them, then answers them.
fn sync_loop(wal_path: &Path, receiver: Receiver<Committed>, durability: &Durability, counters: &StatCounters) {
    let mut wal: Option<File> = None;
    while let Ok(first) = receiver.recv() {
        let mut ready = vec![first];
        while let Ok(next) = receiver.try_recv() {
            ready.push(next);
        }
        let synced = sync_wal(wal_path, &mut wal);
        if let Err(error) = &synced {
            tracing::error!(error = %error, "fsync of the store's log failed; the store refuses every write from now on");
            durability.failed.store(true, Ordering::SeqCst);
        }
        let last = ready.last().map_or(0, |committed| committed.batch);
        durability.advance(last);
        let commands: usize = ready.iter().map(|committed| committed.answers.len()).sum();
        counters.committed(commands);
        for committed in ready {
            for (reply, result) in committed.answers {
                // After a failed fsync, no later sync makes a batch safe: its log follows pages
                // the disk may have dropped.
                let _ = reply.send(if synced.is_ok() && !durability.failed.load(Ordering::SeqCst) {
                    result
                } else {
                    Err(Durability::broken())
                });
            }
        }
    }
}

/// `fdatasync`s the WAL file, opening it (and syncing its directory entry) the first time. Until
/// the first write there is no WAL file and nothing to sync.
fn sync_wal(path: &Path, wal: &mut Option<File>) -> std::io::Result<()> {
    if wal.is_none() {
        match File::open(path) {
            Ok(file) => {
                if let Some(directory) = path.parent() {
                    File::open(directory)?.sync_all()?;
                }
                *wal = Some(file);
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        }
    }
    wal.as_ref().map_or(Ok(()), File::sync_data)
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
            WriteJob::Sweep => {
                let swept = in_savepoint(connection, cache, |conn, cache| sweep(conn, cache, now, purge));
                if let Err(error) = swept {
                    tracing::error!(error = %error, "expiry sweep failed; it will run again");
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

fn run_request(
    connection: &Connection,
    cache: &mut WriterCache,
    now: Timestamp,
    request: &WriteRequest,
) -> Result<Written, OpError> {
    let WriteRequest {
        command,
        seed,
        idempotency,
    } = request;
    let mut cx = Context::new(now, *seed);
    let Some(idempotency) = idempotency else {
        return execute(connection, cache, &mut cx, command).map(Written::Done);
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
    let outcome = execute(connection, cache, &mut cx, command)?;
    let response = (idempotency.render)(&outcome);
    cache.writing();
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

fn execute(
    connection: &Connection,
    cache: &mut WriterCache,
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    let mut ledger = Cached {
        inner: SqliteLedger { conn: connection },
        cache,
    };
    ledger::execute(&mut ledger, cx, command)
}

fn sweep(connection: &Connection, cache: &mut WriterCache, now: Timestamp, purge: bool) -> Result<(), OpError> {
    let expire = expiry::Command::ExpireDue { limit: SWEEP_CODES_MAX }.into();
    let mut cx = Context::new(now, Seed::random());
    if let Outcome::Expiry(expiry::Outcome::Swept { codes }) = execute(connection, cache, &mut cx, &expire)? {
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

fn read_loop(
    connection: Connection,
    receiver: Arc<Mutex<Receiver<ReadJob>>>,
    clock: Arc<dyn Clock>,
    durability: &Durability,
) {
    loop {
        let job = {
            let guard = receiver.lock().expect("read queue lock");
            guard.recv()
        };
        let Ok(ReadJob { query, reply }) = job else {
            return;
        };
        let result = read_snapshot(&connection, clock.now(), &query);
        // The snapshot may hold batches the syncer has not put on disk yet: answer after it has.
        let result = durability.wait_synced().and(result);
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::{mpsc, Arc};
    use std::time::Duration;

    use rusqlite::Connection;
    use smartcode_core::clock::Timestamp;
    use smartcode_core::code::{BrokerKey, CodeHash, CodeId, PublicCode, SecretCode};
    use smartcode_core::error::OpError;
    use smartcode_core::ledger::tree::ChildOptions;
    use smartcode_core::ledger::{
        expiry, issuance, reports, tree, Command, Credential, Outcome, Query, QueryOutcome, Seed,
    };
    use smartcode_core::model::{AccountKey, Profile};
    use smartcode_core::money::{Amount, Currency};

    use super::{
        migrate, open_connection, run_batch, sync_loop, Committed, Durability, StatCounters, WriteJob, Written,
        DATABASE_FILE,
    };
    use crate::cache::WriterCache;
    use crate::sqlite::{HotStatements, SqliteLedger};
    use crate::tests::pay_command;
    use crate::WriteRequest;

    /// A read that may have seen batch 2 answers only once the syncer has put batch 2 on disk.
    #[test]
    fn a_read_waits_for_the_sync_of_what_it_may_have_seen() {
        let durability = Arc::new(Durability::default());
        durability.advance(1);
        durability.visible.store(2, Ordering::SeqCst);
        let reader = {
            let durability = durability.clone();
            std::thread::spawn(move || durability.wait_synced())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!reader.is_finished(), "the read answered before its batch was on disk");
        durability.advance(2);
        assert!(reader.join().unwrap().is_ok());
        // Nothing newer is visible: the next read answers at once.
        assert!(durability.wait_synced().is_ok());
    }

    /// After a failed fsync nobody knows what is on disk: reads and writes are refused.
    #[test]
    fn after_a_failed_sync_reads_are_refused() {
        let durability = Durability::default();
        durability.failed.store(true, Ordering::SeqCst);
        durability.advance(1);
        assert!(durability.wait_synced().is_err());
    }

    const NOW: Timestamp = Timestamp(1_800_000_000_000_000);

    /// A writer's connection on a new store, as `EmbeddedStore::open` makes it.
    fn writer() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let connection = open_connection(&dir.path().join(DATABASE_FILE)).unwrap();
        migrate(&connection).unwrap();
        (dir, connection)
    }

    /// Runs exactly these jobs as one batch and returns the requests' answers, in order.
    fn batch(
        connection: &Connection,
        cache: &mut WriterCache,
        durability: &Durability,
        commands: Vec<Option<Command>>,
    ) -> Vec<Result<Written, OpError>> {
        let jobs = commands
            .into_iter()
            .map(|command| match command {
                Some(command) => {
                    let (reply, _) = tokio::sync::oneshot::channel();
                    let request = WriteRequest {
                        seed: Seed::random(),
                        command,
                        idempotency: None,
                    };
                    WriteJob::Request { request, reply }
                }
                None => WriteJob::Sweep,
            })
            .collect();
        let committed = run_batch(connection, cache, NOW, jobs, false, durability);
        committed.answers.into_iter().map(|(_, result)| result).collect()
    }

    fn balance(connection: &Connection, id: &CodeId) -> i64 {
        use smartcode_core::ledger::LedgerRead;
        let mut ledger = SqliteLedger { conn: connection };
        ledger
            .account(&AccountKey::Code(id.clone()))
            .unwrap()
            .unwrap()
            .balance_units
    }

    fn ledger_checks(connection: &Connection) -> bool {
        let mut ledger = SqliteLedger { conn: connection };
        match smartcode_core::ledger::query(&mut ledger, NOW, &Query::Reports(reports::Query::LedgerCheck)).unwrap() {
            QueryOutcome::Reports(reports::QueryOutcome::LedgerCheck { ok, .. }) => ok,
            other => panic!("{other:?}"),
        }
    }

    /// A payer holding 2 USD, and a seller's public code.
    fn payer_and_shop(
        connection: &Connection,
        cache: &mut WriterCache,
        durability: &Durability,
    ) -> (CodeHash, CodeId, PublicCode) {
        let key = BrokerKey::generate();
        let (payer, seller) = (
            key.hash_code(&SecretCode::generate()),
            key.hash_code(&SecretCode::generate()),
        );
        let usd = Currency::parse("USD").unwrap();
        let issue = |hash| {
            Command::Issuance(issuance::Command::Issue {
                hash,
                amount: Amount::from_units(2_000_000).unwrap(),
                currency: usd,
                label: None,
            })
        };
        let shop = PublicCode::generate();
        let public = Command::Tree(tree::Command::CreatePublicChild {
            parent: Credential::new(seller, false),
            code: shop.clone(),
            label: None,
            profile: Profile::default(),
            under: None,
        });
        let answers = batch(
            connection,
            cache,
            durability,
            vec![Some(issue(payer)), Some(issue(seller)), Some(public)],
        );
        let Ok(Written::Done(Outcome::Issuance(issuance::Outcome::Issued(payer_view)))) = &answers[0] else {
            panic!("{answers:?}");
        };
        assert!(answers.iter().all(Result::is_ok), "{answers:?}");
        (payer, payer_view.record.id.clone(), shop)
    }

    /// Stands in for an error after which SQLite rolls the whole transaction back by itself (a
    /// full disk, an I/O error, no memory): a trigger on `table` that raises ROLLBACK `when`.
    fn rollback_by_sqlite(connection: &Connection, on: &str) {
        connection
            .execute_batch(&format!(
                "CREATE TRIGGER stand_in_for_io_error BEFORE UPDATE OF {on} \
                 BEGIN SELECT RAISE(ROLLBACK, 'stand-in for an I/O error'); END"
            ))
            .unwrap();
    }

    /// A batch running again with savepoints meets a statement after which SQLite rolls back the
    /// whole transaction. The batch is refused whole, and nothing after it runs outside the
    /// transaction: the payment answered with an error moved no money.
    #[test]
    fn a_transaction_sqlite_rolls_back_in_a_savepoint_run_refuses_the_batch_whole() {
        let (_dir, connection) = writer();
        let durability = Durability::default();
        let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
        let (payer, payer_id, shop) = payer_and_shop(&connection, &mut cache, &durability);
        rollback_by_sqlite(&connection, "profile_name ON codes");
        let too_much = Command::Tree(tree::Command::CreateSecretChild {
            parent: Credential::new(payer, false),
            hash: BrokerKey::generate().hash_code(&SecretCode::generate()),
            amount: Amount::from_units(5_000_000).unwrap(),
            options: ChildOptions::default(),
        });
        let rename = Command::Tree(tree::Command::SetProfile {
            holder: Credential::new(payer, false),
            target: None,
            profile: Profile {
                name: Some("x".into()),
                ..Profile::default()
            },
        });
        // The child fails after writing its code, so the batch runs again with savepoints; then
        // the renaming loses the transaction.
        let answers = batch(
            &connection,
            &mut cache,
            &durability,
            vec![Some(too_much), Some(rename), Some(pay_command(payer, &shop, 500_000))],
        );
        assert!(
            answers.iter().all(|answer| matches!(answer, Err(OpError::Storage(_)))),
            "{answers:?}"
        );
        assert!(connection.is_autocommit());
        assert_eq!(
            balance(&connection, &payer_id),
            2_000_000,
            "a refused payment moved money"
        );
        assert!(ledger_checks(&connection));
        goes_on(&connection, &mut cache, &durability, (payer, &payer_id), &shop);
    }

    /// Without savepoints, a flush (here the sweep's) meets a statement after which SQLite rolls
    /// back the whole transaction. The payment after it does not run outside the transaction
    /// (where it would link itself to a transfer that no longer exists), and memory forgets the
    /// payment before it.
    #[test]
    fn a_transaction_sqlite_rolls_back_at_a_flush_leaves_no_transfer_behind() {
        let (_dir, connection) = writer();
        let durability = Durability::default();
        let mut cache = WriterCache::new(HotStatements::prepare(&connection).unwrap());
        let (payer, payer_id, shop) = payer_and_shop(&connection, &mut cache, &durability);
        rollback_by_sqlite(&connection, "balance ON accounts WHEN NEW.balance = 1500000");
        let answers = batch(
            &connection,
            &mut cache,
            &durability,
            vec![
                Some(pay_command(payer, &shop, 500_000)),
                None,
                Some(pay_command(payer, &shop, 250_000)),
            ],
        );
        assert!(answers.iter().all(Result::is_err), "{answers:?}");
        let transfers: i64 = connection
            .query_row("SELECT count(*) FROM transfers WHERE kind = 'payment'", [], |row| {
                row.get(0)
            })
            .unwrap();
        assert_eq!(transfers, 0, "refused payments left transfers behind");
        assert_eq!(balance(&connection, &payer_id), 2_000_000);
        assert!(ledger_checks(&connection));
        goes_on(&connection, &mut cache, &durability, (payer, &payer_id), &shop);
    }

    /// Once the stand-in error is gone, the writer goes on from what SQLite holds: its memory
    /// forgot the lost batch, so a payment of 2 USD, the payer's whole balance, happens once.
    fn goes_on(
        connection: &Connection,
        cache: &mut WriterCache,
        durability: &Durability,
        (payer, payer_id): (CodeHash, &CodeId),
        shop: &PublicCode,
    ) {
        connection.execute_batch("DROP TRIGGER stand_in_for_io_error").unwrap();
        let answers = batch(
            connection,
            cache,
            durability,
            vec![Some(pay_command(payer, shop, 2_000_000))],
        );
        assert!(answers[0].is_ok(), "{answers:?}");
        assert_eq!(balance(connection, payer_id), 0);
        assert!(ledger_checks(connection));
    }

    /// Once an fsync of the log failed, a batch committed before the writer heard of it is not
    /// answered as done when a later fsync succeeds: the log before it may be gone from the disk.
    #[test]
    fn no_batch_is_answered_done_after_a_failed_sync() {
        let dir = tempfile::tempdir().unwrap();
        let wal = dir.path().join("wal");
        // A link to itself: opening it fails, as the first sync will.
        std::os::unix::fs::symlink(&wal, &wal).unwrap();
        let durability = Arc::new(Durability::default());
        let (sender, receiver) = mpsc::sync_channel(4);
        let syncer = {
            let (durability, wal) = (durability.clone(), wal.clone());
            std::thread::spawn(move || sync_loop(&wal, receiver, &durability, &StatCounters::default()))
        };
        let answer = |batch: u64| {
            let (reply, answered) = tokio::sync::oneshot::channel();
            let done = Ok(Written::Done(Outcome::Expiry(expiry::Outcome::Swept { codes: 0 })));
            sender
                .send(Committed {
                    batch,
                    answers: vec![(reply, done)],
                })
                .unwrap();
            answered.blocking_recv().unwrap()
        };
        assert!(answer(1).is_err());
        assert!(durability.failed.load(Ordering::SeqCst));
        std::fs::remove_file(&wal).unwrap();
        std::fs::write(&wal, b"").unwrap();
        let second = answer(2);
        drop(sender);
        syncer.join().unwrap();
        assert!(second.is_err(), "answered {second:?} after the log was known broken");
    }
}

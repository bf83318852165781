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

mod durability;
mod seed;
mod writer;

use self::durability::{sync_loop, wal_path, Durability};
pub use self::seed::seed_spent_codes;
use self::writer::write_loop;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension};
use smartcode_core::clock::{Clock, Timestamp};
use smartcode_core::error::{OpError, StorageFailure};
use smartcode_core::ledger::{self, Query, QueryOutcome};
pub use smartcode_core::limits::{
    CHECKPOINT_INTERVAL_MS, EMBEDDED_BATCH_COMMANDS_MAX, IDEMPOTENCY_KEY_KEPT_SECONDS,
    IDEMPOTENCY_PURGE_INTERVAL_SECONDS, READ_QUEUE_DEPTH_MAX, SWEEP_CODES_MAX, SWEEP_INTERVAL_MS, SYNC_QUEUE_DEPTH_MAX,
    WRITE_QUEUE_DEPTH_MAX,
};

use crate::counters::{GuardCounters, MemoryCounters};
use crate::jobs::{enqueue_read, enqueue_write, spawn, sweep_loop, ReadJob, Workers};
use crate::schema::{latest_version, MIGRATIONS};
use crate::sqlite::{failure, SqliteLedger};
use crate::{Pending, StatCounters, Store, StoreStats, WriteRequest, Written};

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

pub struct EmbeddedStore {
    workers: Workers,
    clock: Arc<dyn Clock>,
    path: PathBuf,
    counters: Arc<StatCounters>,
    /// One process: the guessing defence's counters live in its memory.
    guard: Arc<MemoryCounters>,
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
            guard: Arc::default(),
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

    fn guard_counters(&self) -> Arc<dyn GuardCounters> {
        self.guard.clone()
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
    // `meta` and its version are made by the first migration, in one transaction: a store with
    // `meta` but no readable version is damaged, not new, and migrating it again could only harm.
    let current: u32 = if has_meta {
        let recorded = connection
            .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |row| {
                row.get::<_, String>(0)
            })
            .optional()
            .map_err(|error| StorageFailure(format!("the store's schema version cannot be read: {error}")))?;
        match recorded.as_deref().map(|text| (text, text.parse::<u32>())) {
            Some((_, Ok(version))) if version > 0 => version,
            Some((text, _)) => {
                return Err(StorageFailure(format!(
                    "the store's schema version cannot be read (meta.schema_version is {text:?}); refusing to open it"
                )))
            }
            None => {
                return Err(StorageFailure(
                    "the store's schema version cannot be read (meta has no schema_version); refusing to open it"
                        .into(),
                ))
            }
        }
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

/// Runs a checkpoint: `(busy, pages in the WAL, pages copied to the database file)`.
pub(super) fn checkpoint(connection: &Connection, mode: &str) -> rusqlite::Result<(bool, u64, u64)> {
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
mod tests;

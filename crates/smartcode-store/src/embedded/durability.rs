//! How the embedded store keeps "acknowledged means on disk": the syncer thread `fdatasync`s the
//! WAL once for every batch committed since its last sync and only then answers the batches'
//! commands, and [`Durability`] tells a reader how far the syncs have come, so that no read shows
//! what a crash could still undo. After a failed sync nothing is answered as done again.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Condvar, Mutex};

use smartcode_core::error::{OpError, StorageFailure};

use crate::{StatCounters, Written};

/// The answers of one committed batch, which the syncer sends once the batch is on disk.
pub(super) struct Committed {
    pub(super) batch: u64,
    /// Expiry sweeps the batch ran, counted once its commit is on disk.
    pub(super) sweeps: usize,
    pub(super) answers: Vec<(Reply, Result<Written, OpError>)>,
}

pub(super) type Reply = tokio::sync::oneshot::Sender<Result<Written, OpError>>;

/// How far the writer's commits and the syncer's fsyncs have come, as batch numbers. The writer
/// numbers a batch *before* it commits it, so a reader that reads `visible` after its snapshot knows
/// a bound on what that snapshot holds, and waits until `synced` reaches it.
#[derive(Default)]
pub(super) struct Durability {
    pub(super) visible: AtomicU64,
    synced: Mutex<u64>,
    advanced: Condvar,
    /// An fsync failed: what is on disk is unknown, so the store refuses everything after it.
    pub(super) failed: AtomicBool,
}

impl Durability {
    pub(super) fn broken() -> OpError {
        OpError::Storage(StorageFailure(
            "the store could not sync its log to disk; restart the broker".into(),
        ))
    }

    /// Waits until every batch a snapshot taken before now may hold is on disk.
    pub(super) fn wait_synced(&self) -> Result<(), OpError> {
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

    pub(super) fn advance(&self, batch: u64) {
        let mut synced = self.synced.lock().expect("durability lock");
        *synced = (*synced).max(batch);
        self.advanced.notify_all();
    }
}

/// The path of SQLite's write-ahead log beside the database file.
pub(super) fn wal_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Takes every committed batch waiting, syncs the WAL once for all of them, then answers them.
pub(super) fn sync_loop(
    wal_path: &Path,
    receiver: Receiver<Committed>,
    durability: &Durability,
    counters: &StatCounters,
) {
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
        if synced.is_ok() {
            counters.swept(ready.iter().map(|committed| committed.sweeps).sum());
        }
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

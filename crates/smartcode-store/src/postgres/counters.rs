//! The guessing defence's counters in PostgreSQL, shared by every broker process on the database:
//! a failure counted by one process is seen by the next admission of any other. A few threads of
//! their own, each with one connection, take jobs from one bounded queue (a full queue answers
//! `overloaded`, as the store's own queues do).

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use postgres::Config;
use smartcode_core::clock::{Timestamp, MICROS_PER_SECOND};
use smartcode_core::error::OpError;
use smartcode_core::limits::{GUARD_QUEUE_DEPTH_MAX, GUESS_WINDOW_SECONDS};
use tokio::sync::oneshot;

use super::conn::{classify, failure, Conn, ErrorKind};
use super::readers::unusable;
use crate::counters::{CounterUpdate, GuardCounters, StoredCounter};
use crate::jobs::spawn;
use crate::Pending;

/// Connections (and threads) of the counters per process.
pub const COUNTER_CONNECTIONS: usize = 2;
/// A row made only to be locked, standing for "never stored".
const ABSENT: i64 = i64::MIN;
/// Every this many updates, counters untouched for a day (refilled by then) are deleted.
const PRUNE_EVERY: u64 = 256;

type Reply<T> = oneshot::Sender<Result<T, OpError>>;

enum Job {
    Load(Vec<String>, Reply<Vec<Option<StoredCounter>>>),
    Update(Vec<String>, CounterUpdate, Reply<Vec<Option<StoredCounter>>>),
    List(String, usize, Reply<Vec<(String, StoredCounter)>>),
    Redeem(String, Timestamp, Timestamp, Reply<bool>),
}

pub struct PgCounters {
    queue: Mutex<Option<SyncSender<Job>>>,
}

impl PgCounters {
    /// Starts the counters' threads on connections already made.
    pub(super) fn start(config: &Config, conns: Vec<Conn>) -> (PgCounters, Vec<JoinHandle<()>>) {
        let (sender, receiver) = mpsc::sync_channel(GUARD_QUEUE_DEPTH_MAX);
        let receiver = Arc::new(Mutex::new(receiver));
        let threads = conns
            .into_iter()
            .enumerate()
            .map(|(index, conn)| {
                let (config, receiver) = (config.clone(), receiver.clone());
                spawn(&format!("smartcode-pg-guard-{index}"), move || {
                    counter_loop(&config, Some(conn), &receiver)
                })
            })
            .collect();
        let counters = PgCounters {
            queue: Mutex::new(Some(sender)),
        };
        (counters, threads)
    }

    /// Stops taking jobs; the threads end once the queue is empty.
    pub(super) fn close(&self) {
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    fn enqueue<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Pending<T> {
        let (reply, pending) = oneshot::channel();
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let Some(sender) = queue.as_ref() else {
            let _ = reply.send(Err(OpError::Overloaded));
            return pending;
        };
        if let Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) = sender.try_send(make(reply)) {
            refuse(job);
        }
        pending
    }
}

fn refuse(job: Job) {
    match job {
        Job::Load(_, reply) | Job::Update(_, _, reply) => drop(reply.send(Err(OpError::Overloaded))),
        Job::List(_, _, reply) => drop(reply.send(Err(OpError::Overloaded))),
        Job::Redeem(_, _, _, reply) => drop(reply.send(Err(OpError::Overloaded))),
    }
}

impl GuardCounters for PgCounters {
    fn load(&self, keys: Vec<String>) -> Pending<Vec<Option<StoredCounter>>> {
        self.enqueue(|reply| Job::Load(keys, reply))
    }

    fn update(&self, keys: Vec<String>, update: CounterUpdate) -> Pending<Vec<Option<StoredCounter>>> {
        self.enqueue(|reply| Job::Update(keys, update, reply))
    }

    fn list(&self, prefix: String, limit: usize) -> Pending<Vec<(String, StoredCounter)>> {
        self.enqueue(|reply| Job::List(prefix, limit, reply))
    }

    fn redeem(&self, id: String, expires_at: Timestamp, now: Timestamp) -> Pending<bool> {
        self.enqueue(|reply| Job::Redeem(id, expires_at, now, reply))
    }
}

fn counter_loop(config: &Config, mut conn: Option<Conn>, receiver: &Mutex<Receiver<Job>>) {
    let mut updates = 0u64;
    loop {
        let job = receiver.lock().unwrap_or_else(|p| p.into_inner()).recv();
        let Ok(job) = job else { return };
        match job {
            Job::Load(keys, reply) => {
                let _ = reply.send(with_retry(config, &mut conn, |conn| load(conn, &keys)));
            }
            Job::Update(keys, update, reply) => {
                updates += 1;
                let prune = updates.is_multiple_of(PRUNE_EVERY);
                let _ = reply.send(with_retry(config, &mut conn, |conn| apply(conn, &keys, &update, prune)));
            }
            Job::List(prefix, limit, reply) => {
                let _ = reply.send(with_retry(config, &mut conn, |conn| list(conn, &prefix, limit)));
            }
            Job::Redeem(id, expires_at, now, reply) => {
                let _ = reply.send(with_retry(config, &mut conn, |conn| redeem(conn, &id, expires_at, now)));
            }
        }
    }
}

/// Runs `job` on a live connection, again on a new one if the connection was lost, and again
/// if it lost a race (each job is one transaction, safe to run again).
fn with_retry<T>(
    config: &Config,
    slot: &mut Option<Conn>,
    mut job: impl FnMut(&mut Conn) -> Result<T, postgres::Error>,
) -> Result<T, OpError> {
    let mut last = None;
    for _ in 0..3 {
        if unusable(slot.as_ref()) {
            *slot = None;
            *slot = Some(Conn::connect(config).map_err(|error| failure(&error))?);
        }
        let conn = slot.as_mut().expect("connected above");
        match job(conn) {
            Ok(value) => return Ok(value),
            Err(error) => {
                let _ = conn.batch("ROLLBACK");
                if classify(&error) == ErrorKind::Fatal {
                    return Err(failure(&error).into());
                }
                last = Some(error);
            }
        }
    }
    Err(failure(&last.expect("three tries failed")).into())
}

fn stored(level: i64, at: i64) -> Option<StoredCounter> {
    (level != ABSENT).then_some(StoredCounter {
        level,
        at: Timestamp(at),
    })
}

fn load(conn: &mut Conn, keys: &[String]) -> Result<Vec<Option<StoredCounter>>, postgres::Error> {
    let rows = conn.query(
        "SELECT key, level, at FROM guard_counters WHERE key = ANY($1)",
        &[&keys],
    )?;
    let found: std::collections::HashMap<String, (i64, i64)> = rows
        .iter()
        .map(|row| (row.get::<_, String>(0), (row.get(1), row.get(2))))
        .collect();
    Ok(keys
        .iter()
        .map(|key| found.get(key).and_then(|(level, at)| stored(*level, *at)))
        .collect())
}

fn apply(
    conn: &mut Conn,
    keys: &[String],
    update: &CounterUpdate,
    prune: bool,
) -> Result<Vec<Option<StoredCounter>>, postgres::Error> {
    // Rows are locked in key order, whatever order the keys come in: no two updates deadlock.
    let mut sorted: Vec<&String> = keys.iter().collect();
    sorted.sort();
    sorted.dedup();
    conn.batch("BEGIN")?;
    for key in &sorted {
        conn.execute(
            "INSERT INTO guard_counters (key, level, at) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING",
            &[key, &ABSENT],
        )?;
    }
    let before = {
        let rows = conn.query(
            "SELECT key, level, at FROM guard_counters WHERE key = ANY($1) ORDER BY key FOR UPDATE",
            &[&keys],
        )?;
        rows.iter()
            .map(|row| (row.get::<_, String>(0), stored(row.get(1), row.get(2))))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let mut after = Vec::with_capacity(keys.len());
    for (index, key) in keys.iter().enumerate() {
        let value = update(index, before.get(key).copied().flatten());
        let (level, at) = value.map_or((ABSENT, 0), |v| (v.level, v.at.0));
        conn.execute(
            "UPDATE guard_counters SET level = $2, at = $3 WHERE key = $1",
            &[key, &level, &at],
        )?;
        after.push(value);
    }
    conn.execute("DELETE FROM guard_counters WHERE level = $1", &[&ABSENT])?;
    if prune {
        let day_ago = after
            .iter()
            .flatten()
            .map(|v| v.at.0)
            .max()
            .unwrap_or(0)
            .saturating_sub(GUESS_WINDOW_SECONDS * MICROS_PER_SECOND);
        // Only the budgets of sources, holders and sellers: `x:` keys; a day refills them.
        conn.execute(
            "DELETE FROM guard_counters WHERE at < $1 AND key LIKE '_:%'",
            &[&day_ago],
        )?;
    }
    conn.batch("COMMIT")?;
    Ok(after)
}

fn list(conn: &mut Conn, prefix: &str, limit: usize) -> Result<Vec<(String, StoredCounter)>, postgres::Error> {
    let pattern = format!(
        "{}%",
        prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
    );
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = conn.query(
        "SELECT key, level, at FROM guard_counters WHERE key LIKE $1 AND level <> $2 ORDER BY level, key LIMIT $3",
        &[&pattern, &ABSENT, &limit],
    )?;
    Ok(rows
        .iter()
        .filter_map(|row| stored(row.get(1), row.get(2)).map(|value| (row.get::<_, String>(0), value)))
        .collect())
}

fn redeem(conn: &mut Conn, id: &str, expires_at: Timestamp, now: Timestamp) -> Result<bool, postgres::Error> {
    conn.execute("DELETE FROM guard_challenges WHERE expires_at < $1", &[&now.0])?;
    let inserted = conn.execute(
        "INSERT INTO guard_challenges (id, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&id, &expires_at.0],
    )?;
    Ok(inserted == 1)
}

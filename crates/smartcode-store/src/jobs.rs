//! The jobs both stores' threads take from their bounded queues, and how a request becomes one:
//! a full or closed queue answers `overloaded` at once instead of making the caller wait.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use smartcode_core::error::OpError;
use smartcode_core::ledger::{Query, QueryOutcome};
use tokio::sync::oneshot;

use crate::{Pending, WriteRequest, Written};
use smartcode_core::limits::{SWEEP_INTERVAL_MS, SWEEP_TICK_MS};

pub(crate) enum WriteJob {
    Request {
        request: WriteRequest,
        reply: oneshot::Sender<Result<Written, OpError>>,
    },
    /// Background upkeep, one step at a time: revert expired codes, record expired holds, forget
    /// old idempotency keys.
    Sweep(crate::protocol::SweepStep),
}

impl WriteJob {
    /// Whether this job is a sweep's last step: a sweep counts as done when it ran.
    pub(crate) fn ends_a_sweep(&self) -> bool {
        matches!(self, WriteJob::Sweep(crate::protocol::SweepStep::ForgetOldKeys))
    }
}

pub(crate) struct ReadJob {
    pub query: Query,
    pub reply: oneshot::Sender<Result<QueryOutcome, OpError>>,
}

/// A store's queues; `None` once the store is closing.
pub(crate) type Queue<J> = Mutex<Option<SyncSender<J>>>;

fn overloaded<T>(reply: oneshot::Sender<Result<T, OpError>>) {
    let _ = reply.send(Err(OpError::Overloaded));
}

/// Puts a write on the writer's queue; the answer arrives on the returned channel.
pub(crate) fn enqueue_write(queue: &Queue<WriteJob>, request: WriteRequest) -> Pending<Written> {
    let (reply, pending) = oneshot::channel();
    let guard = queue.lock().expect("writes lock");
    let Some(sender) = guard.as_ref() else {
        overloaded(reply);
        return pending;
    };
    if let Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) =
        sender.try_send(WriteJob::Request { request, reply })
    {
        if let WriteJob::Request { reply, .. } = job {
            overloaded(reply);
        }
    }
    pending
}

/// Puts a query on the readers' queue; the answer arrives on the returned channel.
pub(crate) fn enqueue_read(queue: &Queue<ReadJob>, query: Query) -> Pending<QueryOutcome> {
    let (reply, pending) = oneshot::channel();
    let guard = queue.lock().expect("reads lock");
    let Some(sender) = guard.as_ref() else {
        overloaded(reply);
        return pending;
    };
    if let Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) = sender.try_send(ReadJob { query, reply }) {
        overloaded(job.reply);
    }
    pending
}

/// A store's queues and threads: what closing it stops and joins.
pub(crate) struct Workers {
    pub writes: Queue<WriteJob>,
    pub reads: Queue<ReadJob>,
    pub stopping: Arc<AtomicBool>,
    pub threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Workers {
    /// Stops taking requests, lets the writers finish and commit what they have queued, and joins
    /// every thread.
    pub fn close(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.writes.lock().expect("writes lock").take();
        self.reads.lock().expect("reads lock").take();
        let threads = std::mem::take(&mut *self.threads.lock().expect("threads lock"));
        for thread in threads {
            let _ = thread.join();
        }
    }
}

pub(crate) fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(body)
        .expect("the store can start its threads")
}

/// Asks the writers for a sweep (expiry reverts, old idempotency keys) every
/// [`SWEEP_INTERVAL_MS`], until the store stops.
pub(crate) fn sweep_loop(sender: SyncSender<WriteJob>, stopping: Arc<AtomicBool>) {
    let tick = Duration::from_millis(SWEEP_TICK_MS);
    let mut last = Instant::now();
    while !stopping.load(Ordering::SeqCst) {
        std::thread::sleep(tick);
        if last.elapsed() >= Duration::from_millis(SWEEP_INTERVAL_MS) {
            last = Instant::now();
            // A full queue means the writer is busy; the next tick will try again.
            for step in crate::protocol::SweepStep::ALL {
                let _ = sender.try_send(WriteJob::Sweep(step));
            }
        }
    }
}

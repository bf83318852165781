//! The jobs both stores' threads take from their bounded queues, and how a request becomes one:
//! a full or closed queue answers `overloaded` at once instead of making the caller wait.

use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Mutex;

use smartcode_core::error::OpError;
use smartcode_core::ledger::{Query, QueryOutcome};
use tokio::sync::oneshot;

use crate::{Pending, WriteRequest, Written};

pub(crate) enum WriteJob {
    Request {
        request: WriteRequest,
        reply: oneshot::Sender<Result<Written, OpError>>,
    },
    /// Background upkeep: revert expired codes, forget old idempotency keys.
    Sweep,
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

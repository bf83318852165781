//! Charges to one peer travel together: a group commit across the wire. Each peer has a queue and
//! a task; a charge waits in the queue, the task takes every charge waiting (up to
//! [`PEER_ENTRIES_PER_MESSAGE_MAX`]) into one signed message, and each charge gets its own entry
//! of the answer. At most [`PEER_MESSAGES_IN_FLIGHT_MAX`] messages are on their way to one peer
//! at once, so under load the queue fills while they are, and the next message carries all of it;
//! under light load a message carries one charge and leaves at once. The peer runs a message's
//! entries together, so its store commits them together too.
//!
//! The peers themselves are kept here too, for [`PEERS_KEPT_MILLIS`] after each read (forgotten
//! at once when this process changes one): the edge reads them for every payment with a code of
//! another broker and every message from a peer. Another process's change reaches this one's
//! edge within that time; the core, which reads the peer in its own transaction, refuses a
//! suspended peer's charges at once either way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use smartcode_api::{EntryAnswer, FederationEntry, FederationMessage};
use smartcode_core::limits::{
    PEERS_KEPT_MILLIS, PEER_ENTRIES_PER_MESSAGE_MAX, PEER_MESSAGES_IN_FLIGHT_MAX, PEER_REQUEST_SECONDS,
};
use smartcode_core::model::PeerRecord;
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::{send, SendError};
use crate::AppState;

struct Job {
    entry: FederationEntry,
    answered: oneshot::Sender<Result<EntryAnswer, SendError>>,
}

/// What a queue sends to: a peer's name, URL and pinned key (a peer changed by its operator gets a
/// queue of its own).
type Destination = (String, String, [u8; 32]);

/// The queues of this broker's peers, and the peers as last read.
#[derive(Default)]
pub struct Batches {
    queues: Mutex<HashMap<Destination, mpsc::Sender<Job>>>,
    peers: Mutex<Option<(Instant, Arc<Vec<PeerRecord>>)>>,
    /// Wakes the resolver before its next second: a refund to a peer was just made.
    pub(crate) resolve_soon: tokio::sync::Notify,
}

impl Batches {
    /// The peers as read less than [`PEERS_KEPT_MILLIS`] ago, if they were.
    pub(crate) fn known_peers(&self) -> Option<Arc<Vec<PeerRecord>>> {
        let kept = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let fresh =
            |(at, _): &&(Instant, Arc<Vec<PeerRecord>>)| at.elapsed() < Duration::from_millis(PEERS_KEPT_MILLIS);
        kept.as_ref().filter(fresh).map(|(_, peers)| peers.clone())
    }

    /// Keeps the peers just read.
    pub(crate) fn keep_peers(&self, peers: Arc<Vec<PeerRecord>>) {
        *self.peers.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), peers));
    }

    /// Forgets the peers kept: this process changed one.
    pub(crate) fn forget_peers(&self) {
        *self.peers.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Sends `entry` to `peer` with whatever else waits for it, and answers its entry.
    pub(crate) async fn send(
        &self,
        state: &AppState,
        peer: &PeerRecord,
        entry: FederationEntry,
    ) -> Result<EntryAnswer, SendError> {
        let queue = {
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            let key = (peer.name.clone(), peer.url.clone(), peer.signing_key);
            queues
                .entry(key)
                .or_insert_with(|| start(state.clone(), peer.clone()))
                .clone()
        };
        let (answered, answer) = oneshot::channel();
        let gone = || SendError::Unreachable(format!("{}: the queue to it is gone", peer.name));
        queue.send(Job { entry, answered }).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// A peer's queue and the task that empties it.
fn start(state: AppState, peer: PeerRecord) -> mpsc::Sender<Job> {
    let (queue, mut waiting) = mpsc::channel::<Job>(PEER_ENTRIES_PER_MESSAGE_MAX);
    tokio::spawn(async move {
        let in_flight = Arc::new(Semaphore::new(PEER_MESSAGES_IN_FLIGHT_MAX));
        while let Some(first) = waiting.recv().await {
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                return;
            };
            let mut jobs = vec![first];
            while jobs.len() < PEER_ENTRIES_PER_MESSAGE_MAX {
                match waiting.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            let (state, peer) = (state.clone(), peer.clone());
            tokio::spawn(async move {
                let (entries, answers): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.entry, j.answered)).unzip();
                let message = FederationMessage { entries };
                let timeout = Duration::from_secs(PEER_REQUEST_SECONDS);
                match send(&state, &peer, &message, timeout).await {
                    Ok(answer) => {
                        for (entry, answered) in answer.entries.into_iter().zip(answers) {
                            let _ = answered.send(Ok(entry));
                        }
                    }
                    Err(error) => {
                        for answered in answers {
                            let _ = answered.send(Err(error.clone()));
                        }
                    }
                }
                drop(permit);
            });
        }
    });
    queue
}

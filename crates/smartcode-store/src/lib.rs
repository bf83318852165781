//! Where a broker keeps its codes and ledger: the [`Store`] trait that the HTTP layer talks to, and
//! [`embedded::EmbeddedStore`], the default store on SQLite.
//!
//! Routes never see SQL. They hand a [`WriteRequest`] or a [`Query`] to the store and await the
//! answer; the store runs the core's rules ([`smartcode_core::ledger`]) inside its own transactions.
//! Writes go to a single writer that commits many of them at once (group commit): each request is
//! acknowledged only after the commit holding it is on disk.

pub mod embedded;
mod schema;
mod sqlite;

use smartcode_core::error::OpError;
use smartcode_core::ledger::{Command, Outcome, Query, QueryOutcome};
use tokio::sync::oneshot;

/// An answer that will arrive when the store has committed (or refused) the request.
pub type Pending<T> = oneshot::Receiver<Result<T, OpError>>;

/// One write: a command, and if the caller sent an `Idempotency-Key`, what to remember of it.
pub struct WriteRequest {
    pub command: Command,
    pub idempotency: Option<Idempotency>,
}

/// The idempotency of one write. `key_hash` already binds the key to the caller's credential;
/// `fingerprint` binds it to the request (method, path, body). `render` turns a fresh outcome into
/// the exact response to replay later; it runs inside the same commit as the command.
pub struct Idempotency {
    pub key_hash: [u8; 32],
    pub fingerprint: [u8; 32],
    pub render: Box<dyn FnOnce(&Outcome) -> StoredResponse + Send>,
}

/// A response as it was first sent, kept for replays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub enum Written {
    /// The command ran now.
    Done(Outcome),
    /// The same request ran before; this is its first response.
    Replayed(StoredResponse),
}

/// A broker's store. Both methods return at once; the answer arrives on the returned channel.
pub trait Store: Send + Sync + 'static {
    fn write(&self, request: WriteRequest) -> Pending<Written>;
    fn read(&self, query: Query) -> Pending<QueryOutcome>;
    /// Which store this is, for logs and metadata (`"embedded"`, `"postgres"`).
    fn kind(&self) -> &'static str;
}

/// Awaits a pending answer; a store that went away mid-request is a storage failure.
pub async fn answer<T>(pending: Pending<T>) -> Result<T, OpError> {
    pending.await.unwrap_or_else(|_| {
        Err(OpError::Storage(smartcode_core::error::StorageFailure(
            "the store stopped before answering".into(),
        )))
    })
}

#[cfg(test)]
mod tests;

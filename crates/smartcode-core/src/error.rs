//! Why an operation was refused. Each variant maps to one stable `code` word at the HTTP edge.

use std::fmt;

/// A store failed underneath an operation (disk, database, corrupted row). Opaque to callers,
/// complete in the log.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageFailure(pub String);

impl fmt::Debug for StorageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageFailure({})", self.0)
    }
}

impl fmt::Display for StorageFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub type StoreResult<T> = Result<T, StorageFailure>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    #[error("{0}")]
    InvalidRequest(String),
    /// A well-formed request that the state of the codes (or the clock) rules out: a PIN sent for
    /// a code that has none, funding a public child, paying one's own public code, an expiry in
    /// the past. Not `InvalidRequest`: a 400 means the request broke the API's document.
    #[error("{0}")]
    Conflict(String),
    #[error("no usable secret code matches")]
    InvalidCode,
    #[error("the code's available balance is below the amount")]
    InsufficientFunds,
    #[error("this child was created irrevocable and cannot be cancelled")]
    NotRevocable,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the codes hold different currencies")]
    CurrencyMismatch,
    #[error("this code has a PIN: send it in the Smartcode-Pin header")]
    PinRequired,
    #[error("the PIN is wrong")]
    PinInvalid,
    #[error("too many wrong PINs: this code is locked until its parent unlocks it")]
    CodeLocked,
    /// Which rule forbids the use, named for the caller.
    #[error("{0}")]
    Restricted(String),
    /// The core needs the edge to check the presented PIN against this hash (argon2id, too costly
    /// for the store's writer), then resubmit. Never shown to callers.
    #[error("the PIN must be verified")]
    VerifyPin {
        pin_hash: String,
        generation: u32,
        /// Wrong PINs counted since the last right one; a match must reset them even if the
        /// command is then refused for another reason (and rolled back).
        failures: u32,
    },
    #[error("the code has expired")]
    Expired,
    #[error("{0}")]
    LimitExceeded(String),
    /// A newly drawn secret or public code collided with an existing one; the caller draws again.
    #[error("a new code collided with an existing one")]
    CodeCollision,
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyConflict,
    #[error("the broker is overloaded; try again shortly")]
    Overloaded,
    #[error("storage failure")]
    Storage(StorageFailure),
}

impl From<StorageFailure> for OpError {
    fn from(failure: StorageFailure) -> OpError {
        OpError::Storage(failure)
    }
}

//! A metered session (zero-click buying, `ledger::sessions`): an offer priced per minute that a
//! buyer's code opened, which its seller charges as use accrues, never faster than the price per
//! minute and never past the cap fixed when it opened.

use crate::approval::OfferTerms;
use crate::clock::{Timestamp, MICROS_PER_SECOND};
use crate::code::{ApprovalId, CodeId, SessionId};
use crate::money::Amount;

/// Why a session closed. `Expired` and `CodeClosed` are read, never stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// A charge brought what was charged to the cap.
    CapReached,
    /// The buyer's holder, or the holder of a code above it, closed it.
    ClosedByBuyer,
    /// Its offer's expiry passed.
    Expired,
    /// The buyer's code was cancelled or expired.
    CodeClosed,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::CapReached => "cap_reached",
            CloseReason::ClosedByBuyer => "closed_by_buyer",
            CloseReason::Expired => "expired",
            CloseReason::CodeClosed => "code_closed",
        }
    }

    pub fn parse(text: &str) -> Option<CloseReason> {
        [
            CloseReason::CapReached,
            CloseReason::ClosedByBuyer,
            CloseReason::Expired,
            CloseReason::CodeClosed,
        ]
        .into_iter()
        .find(|reason| reason.as_str() == text)
    }
}

/// Where a session stands: open, or closed for a reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    Open,
    Closed(CloseReason),
}

impl SessionState {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Open => "open",
            SessionState::Closed(_) => "closed",
        }
    }

    pub fn reason(self) -> Option<CloseReason> {
        match self {
            SessionState::Open => None,
            SessionState::Closed(reason) => Some(reason),
        }
    }
}

/// One metered session, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: SessionId,
    /// The buyer's code: it pays every charge.
    pub code_id: CodeId,
    /// The owner of the offer's payee: the only code that may charge it.
    pub owner_id: CodeId,
    /// The offer it was opened for: its price is per minute, its expiry the session's.
    pub offer: OfferTerms,
    /// The most all its charges may add up to.
    pub cap: Amount,
    pub charged_units: i64,
    pub charges: u32,
    /// For a session a holder approved: the depth of the approving code, whose rules and those of
    /// the codes below it count its charges without asking. `None`: opened with no one asked.
    pub approved_at_depth: Option<u32>,
    /// As stored: `Open`, or closed by the cap or by the buyer.
    pub state: SessionState,
    pub opened_at: Timestamp,
    pub closed_at: Option<Timestamp>,
    /// The approval that opened it, if one did.
    pub approval_id: Option<ApprovalId>,
}

impl SessionRecord {
    pub fn expires_at(&self) -> Timestamp {
        self.offer.expires_at
    }

    /// The state at `now`: an open session past its expiry is closed, without anyone writing it.
    pub fn state_at(&self, now: Timestamp) -> SessionState {
        match self.state {
            SessionState::Open if self.expires_at() <= now => SessionState::Closed(CloseReason::Expired),
            state => state,
        }
    }

    /// What the session's use has cost by `now`: the price per minute times the time it has been
    /// open (until its expiry at the latest), in micro-units, rounded down.
    pub fn accrued_units(&self, now: Timestamp) -> i64 {
        let until = now.min(self.expires_at());
        let elapsed = i128::from((until.0 - self.opened_at.0).max(0));
        let per_minute = i128::from(self.offer.price.units());
        let accrued = per_minute * elapsed / i128::from(60 * MICROS_PER_SECOND);
        i64::try_from(accrued).unwrap_or(i64::MAX)
    }

    /// What is left under the cap.
    pub fn cap_left_units(&self) -> i64 {
        (self.cap.units() - self.charged_units).max(0)
    }

    /// Where it stands in a holder's list at `now`: open ones first, then the rest, each newest
    /// first (sort by this key, ascending).
    pub fn list_key(&self, now: Timestamp) -> (bool, std::cmp::Reverse<Timestamp>, std::cmp::Reverse<SessionId>) {
        (
            self.state_at(now) != SessionState::Open,
            std::cmp::Reverse(self.opened_at),
            std::cmp::Reverse(self.id.clone()),
        )
    }
}

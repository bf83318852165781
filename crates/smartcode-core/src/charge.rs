//! The records of charges between brokers ([`crate::ledger::federation`]), re-exported by
//! `model`. A charge is one payment across two brokers: the seller's broker (B) asks the buyer's
//! broker (A) to debit a code of A's for a seller of B's. Each broker keeps its own record of it,
//! under the id B chose; ARCHITECTURE.md ("A payment across two brokers") draws both state machines.

use crate::clock::Timestamp;
use crate::code::{CodeId, HoldId};
use crate::money::{Amount, Currency};

/// Which side of a charge this broker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChargeSide {
    /// This broker issued the code that pays (A): it debits the code into the peer's account.
    Buyer,
    /// This broker's seller is paid (B): it credits the seller from the peer's account.
    Seller,
}

impl ChargeSide {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeSide::Buyer => "buyer",
            ChargeSide::Seller => "seller",
        }
    }

    pub fn parse(text: &str) -> Option<ChargeSide> {
        match text {
            "buyer" => Some(ChargeSide::Buyer),
            "seller" => Some(ChargeSide::Seller),
            _ => None,
        }
    }
}

/// Where a charge stands on this broker's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChargeState {
    /// At B, written before the charge is sent: nothing moved yet, the code only in memory.
    Prepared,
    /// At B: A approved, the seller is credited and has its receipt. Final.
    Credited,
    /// At B: A refused, or answered that it never charged and never will. Final.
    Failed,
    /// At B: no answer came in time; the seller was told `peer_unreachable`, and a void goes to A
    /// until A answers it.
    Voiding,
    /// At B: A answered the void (it reversed the charge, or closed an id it never charged). Final.
    Voided,
    /// A hold across brokers, made and not yet captured or voided. At A: the value is set aside
    /// on the code (the hold `hold_id`); at B: the seller may capture it until `expires_at`.
    Held,
    /// At A: the code was debited into the peer's account.
    Charged,
    /// At A: B closed the id before any charge of it arrived; a charge with it is refused. Final.
    Closed,
    /// At A: B voided a charge A had made; the value went back to the code. Final.
    Reversed,
    /// At B: a refund of a payment a peer's code made. The seller is debited into the peer's
    /// account already; the refund goes to A until A answers it.
    Refunding,
    /// A refund across brokers, done: at A the code (or its nearest active ancestor) is credited
    /// from the peer's account; at B, A answered that it was. Final.
    Refunded,
}

impl ChargeState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeState::Prepared => "prepared",
            ChargeState::Credited => "credited",
            ChargeState::Failed => "failed",
            ChargeState::Voiding => "voiding",
            ChargeState::Voided => "voided",
            ChargeState::Held => "held",
            ChargeState::Charged => "charged",
            ChargeState::Closed => "closed",
            ChargeState::Reversed => "reversed",
            ChargeState::Refunding => "refunding",
            ChargeState::Refunded => "refunded",
        }
    }

    pub fn parse(text: &str) -> Option<ChargeState> {
        [
            ChargeState::Prepared,
            ChargeState::Credited,
            ChargeState::Failed,
            ChargeState::Voiding,
            ChargeState::Voided,
            ChargeState::Held,
            ChargeState::Charged,
            ChargeState::Closed,
            ChargeState::Reversed,
            ChargeState::Refunding,
            ChargeState::Refunded,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
    }
}

/// One broker's record of a charge. Never holds the buyer's code: at A the code's id, at B nothing
/// of the buyer at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChargeRecord {
    pub side: ChargeSide,
    /// The peer on the other side, by this broker's name for it.
    pub peer: String,
    /// The id B chose (at B, the id of the seller's receipt too).
    pub id: String,
    pub state: ChargeState,
    pub amount: Amount,
    pub currency: Currency,
    /// The seller's public code, as B's text (at A it is opaque: a code of another broker).
    pub payee: String,
    /// At A, the code debited; at B, `None`.
    pub code_id: Option<CodeId>,
    /// At A, the debit's transfer (and the reversal's is [`ChargeRecord::reversal_id`]); at B the
    /// credit's transfer is the receipt, whose id is the charge's.
    pub transfer_id: Option<String>,
    /// At A, the keyed hash of the charge as first sent: the same id with another body is refused.
    pub fingerprint: Option<[u8; 32]>,
    /// At B, A's signed approval as A sent it (JSON), shown with the seller's receipt.
    pub approval: Option<String>,
    /// At B, the quote the payment pays (the charge is its `pay`, the seller gets its price).
    pub quote_id: Option<crate::code::QuoteId>,
    /// At B, a hold's memo, for the receipt of its capture.
    pub memo: Option<String>,
    /// At A, for a hold across brokers: the hold that sets the value aside on the code.
    pub hold_id: Option<HoldId>,
    /// For a hold across brokers, when it ends (at B, the seller captures before then; at A the
    /// hold's own expiry rules).
    pub expires_at: Option<Timestamp>,
    /// When B stops waiting for A's answer (B's clock; A allows its clock skew on top).
    pub deadline: Timestamp,
    pub created_at: Timestamp,
    pub changed_at: Timestamp,
}

impl ChargeRecord {
    /// At A, the id of the transfer that reverses the charge's debit.
    pub fn reversal_id(&self) -> Option<String> {
        self.transfer_id.as_ref().map(|id| format!("{id}-v"))
    }
}

/// Who paid: a code of this broker, or a code of a peer's that this broker never sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payer {
    Code(CodeId),
    /// A code of the peer `peer` (this broker's name for it), which approved the charge with
    /// `approval` (its signed answer, JSON, as it sent it).
    Peer {
        peer: String,
        approval: Option<String>,
    },
}

impl Payer {
    /// The paying code, when it is one of this broker's.
    pub fn code_id(&self) -> Option<&CodeId> {
        match self {
            Payer::Code(id) => Some(id),
            Payer::Peer { .. } => None,
        }
    }
}

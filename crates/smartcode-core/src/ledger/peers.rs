//! Peers: the other brokers this broker pays and is paid by (federation). The operator adds a
//! peer by its URL; the edge reads the peer's `/.well-known/smartcode` and hands the core what it
//! read (its name, domain, broker number, signing key and currencies) with the key pinned, so a
//! later message signed by another key is not the peer's. A peer is active or suspended (its
//! messages refused both ways, issue 15) and can be removed. Peers are rows of the store, so every
//! process of a broker on PostgreSQL sees the same ones.
//!
//! Two peers never share a domain or a broker number: those are what route a code of another
//! broker (`CODE@domain`, a numeric code's first digits) to its broker.

use crate::error::{Conflict, Invalid, Limit, OpError};
use crate::limits::{PEERS_MAX, REFERENCE_CHARS_MAX};
use crate::model::{AccountKey, PeerRecord, PeerStatus, Transfer, TransferKind};
use crate::money::{Amount, Currency};

use super::post::{new_transfer, post};
use super::rules::check_text;
use super::{Context, LedgerRead, LedgerTx};

/// Which way money went between this broker and a peer, outside the system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The peer paid this broker.
    Received,
    /// This broker paid the peer.
    Paid,
}

#[derive(Clone, Debug)]
pub enum Command {
    /// The operator adds a peer as the edge read it (`added_at` is set here).
    Add(Box<PeerRecord>),
    /// The operator suspends or resumes a peer.
    SetStatus { name: String, status: PeerStatus },
    /// The operator shows the peer on this broker's page and in its metadata, or stops.
    SetListed { name: String, listed: bool },
    /// The operator removes a peer (only once its position is settled).
    Remove { name: String },
    /// The operator records money paid between this broker and the peer outside the system
    /// (`reference`: the operator's record of it, such as a bank transfer's id).
    Settle {
        name: String,
        amount: Amount,
        currency: Currency,
        direction: Direction,
        reference: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Added(Box<PeerRecord>),
    Changed(Box<PeerRecord>),
    Removed(Box<PeerRecord>),
    Settled {
        transfer: Box<Transfer>,
        /// The peer's position after it, by currency.
        position: Vec<(Currency, i64)>,
    },
}

#[derive(Clone, Debug)]
pub enum Query {
    /// Every peer, by name.
    List,
    One {
        name: String,
    },
    /// The peer's accounts' balances by currency (minus each is the net it owes this broker).
    Position {
        name: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    List(Vec<PeerRecord>),
    One(Box<PeerRecord>),
    Position(Vec<(Currency, i64)>),
}

pub(super) fn execute(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    command: &Command,
) -> Result<Outcome, OpError> {
    match command {
        Command::Add(peer) => {
            if tx.peer(&peer.name)?.is_some() {
                return Err(OpError::Conflict(Conflict::PeerExists));
            }
            let peers = tx.peers(PEERS_MAX + 1)?;
            if peers.len() >= PEERS_MAX as usize {
                return Err(OpError::LimitExceeded(Limit::Peers));
            }
            if let Some(other) = peers
                .iter()
                .find(|p| p.domain.eq_ignore_ascii_case(&peer.domain) || p.broker_number == peer.broker_number)
            {
                return Err(OpError::Conflict(Conflict::PeerRouteTaken { by: other.name.clone() }));
            }
            let mut record = (**peer).clone();
            record.added_at = cx.now;
            record.changed_at = cx.now;
            tx.put_peer(&record)?;
            Ok(Outcome::Added(Box::new(record)))
        }
        Command::SetStatus { name, status } => {
            let mut peer = tx.peer(name)?.ok_or(OpError::NotFound("peer"))?;
            if peer.status != *status {
                peer.status = *status;
                peer.changed_at = cx.now;
                tx.put_peer(&peer)?;
            }
            Ok(Outcome::Changed(Box::new(peer)))
        }
        Command::SetListed { name, listed } => {
            let mut peer = tx.peer(name)?.ok_or(OpError::NotFound("peer"))?;
            if peer.listed != *listed {
                peer.listed = *listed;
                peer.changed_at = cx.now;
                tx.put_peer(&peer)?;
            }
            Ok(Outcome::Changed(Box::new(peer)))
        }
        Command::Remove { name } => {
            let peer = tx.peer(name)?.ok_or(OpError::NotFound("peer"))?;
            if tx.peer_balances(name)?.iter().any(|(_, balance)| *balance != 0) {
                return Err(OpError::Conflict(Conflict::PeerPositionOpen));
            }
            tx.delete_peer(name)?;
            Ok(Outcome::Removed(Box::new(peer)))
        }
        Command::Settle {
            name,
            amount,
            currency,
            direction,
            reference,
        } => settle(tx, cx, name, (*amount, *currency), *direction, reference),
    }
}

/// Records a settlement: received, from the issuance account (money came in from outside) into
/// the peer's; paid, from the peer's out to the issuance account. Either way each currency still
/// sums to zero and the ledger check counts it with what was issued or paid out.
fn settle(
    tx: &mut (impl LedgerTx + ?Sized),
    cx: &mut Context,
    name: &str,
    (amount, currency): (Amount, Currency),
    direction: Direction,
    reference: &str,
) -> Result<Outcome, OpError> {
    if reference.trim().is_empty() {
        return Err(OpError::InvalidRequest(Invalid::EmptyText { field: "reference" }));
    }
    check_text("reference", Some(reference), REFERENCE_CHARS_MAX)?;
    let peer = tx.peer(name)?.ok_or(OpError::NotFound("peer"))?;
    let account = AccountKey::Peer {
        peer: peer.name,
        currency,
    };
    let issuance = AccountKey::Issuance(currency);
    tx.open_account(&account, currency)?;
    tx.open_account(&issuance, currency)?;
    let (debit, credit) = match direction {
        Direction::Received => (issuance, account),
        Direction::Paid => (account, issuance),
    };
    let mut transfer = new_transfer(cx, TransferKind::Settlement, debit, credit, amount, currency);
    transfer.memo = Some(reference.to_owned());
    post(tx, transfer.clone())?;
    Ok(Outcome::Settled {
        transfer: Box::new(transfer),
        position: tx.peer_balances(name)?,
    })
}

pub(super) fn query(tx: &mut (impl LedgerRead + ?Sized), query: &Query) -> Result<QueryOutcome, OpError> {
    match query {
        Query::List => Ok(QueryOutcome::List(tx.peers(PEERS_MAX)?)),
        Query::One { name } => {
            let peer = tx.peer(name)?.ok_or(OpError::NotFound("peer"))?;
            Ok(QueryOutcome::One(Box::new(peer)))
        }
        Query::Position { name } => {
            tx.peer(name)?.ok_or(OpError::NotFound("peer"))?;
            Ok(QueryOutcome::Position(tx.peer_balances(name)?))
        }
    }
}

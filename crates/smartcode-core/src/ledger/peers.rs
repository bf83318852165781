//! Peers: the other brokers this broker pays and is paid by (federation). The operator adds a
//! peer by its URL; the edge reads the peer's `/.well-known/smartcode` and hands the core what it
//! read (its name, domain, broker number, signing key and currencies) with the key pinned, so a
//! later message signed by another key is not the peer's. A peer is active or suspended (its
//! messages refused both ways, issue 15) and can be removed. Peers are rows of the store, so every
//! process of a broker on PostgreSQL sees the same ones.
//!
//! Two peers never share a domain or a broker number: those are what route a code of another
//! broker (`CODE@domain`, a numeric code's first digits) to its broker.

use crate::error::{Conflict, Limit, OpError};
use crate::limits::PEERS_MAX;
use crate::model::{PeerRecord, PeerStatus};

use super::{Context, LedgerRead, LedgerTx};

#[derive(Clone, Debug)]
pub enum Command {
    /// The operator adds a peer as the edge read it (`added_at` is set here).
    Add(Box<PeerRecord>),
    /// The operator suspends or resumes a peer.
    SetStatus { name: String, status: PeerStatus },
    /// The operator removes a peer.
    Remove { name: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Added(Box<PeerRecord>),
    Changed(Box<PeerRecord>),
    Removed(Box<PeerRecord>),
}

#[derive(Clone, Debug)]
pub enum Query {
    /// Every peer, by name.
    List,
    One {
        name: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueryOutcome {
    List(Vec<PeerRecord>),
    One(Box<PeerRecord>),
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
        Command::Remove { name } => {
            let peer = tx.peer(name)?.ok_or(OpError::NotFound("peer"))?;
            tx.delete_peer(name)?;
            Ok(Outcome::Removed(Box::new(peer)))
        }
    }
}

pub(super) fn query(tx: &mut (impl LedgerRead + ?Sized), query: &Query) -> Result<QueryOutcome, OpError> {
    match query {
        Query::List => Ok(QueryOutcome::List(tx.peers(PEERS_MAX)?)),
        Query::One { name } => {
            let peer = tx.peer(name)?.ok_or(OpError::NotFound("peer"))?;
            Ok(QueryOutcome::One(Box::new(peer)))
        }
    }
}

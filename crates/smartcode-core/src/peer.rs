//! The records of peers, other brokers this one federates with ([`crate::ledger::peers`]),
//! re-exported by `model`.

use crate::clock::Timestamp;
use crate::money::Currency;

/// Whether a peer's messages are taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerStatus {
    Active,
    /// Its messages are refused both ways until it is resumed.
    Suspended,
}

impl PeerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PeerStatus::Active => "active",
            PeerStatus::Suspended => "suspended",
        }
    }

    pub fn parse(text: &str) -> Option<PeerStatus> {
        match text {
            "active" => Some(PeerStatus::Active),
            "suspended" => Some(PeerStatus::Suspended),
            _ => None,
        }
    }
}

/// Another broker this broker federates with, as the operator added it ([`crate::ledger::peers`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerRecord {
    /// The operator's name for it (its domain unless named otherwise).
    pub name: String,
    /// Where it answers, as the operator gave it (`https://broker-a.example`).
    pub url: String,
    /// What its `/.well-known/smartcode` said: its own name, its domain and broker number.
    pub title: String,
    pub domain: String,
    pub broker_number: String,
    /// Its Ed25519 signing key, pinned when it was added.
    pub signing_key: [u8; 32],
    /// The most it may owe this broker, per currency, in micro-units; a currency without one gets
    /// no credit.
    pub credit_limits: Vec<(Currency, i64)>,
    pub status: PeerStatus,
    /// Whether this broker shows it: on its page (`/broker`) and in its metadata.
    pub listed: bool,
    pub added_at: Timestamp,
    pub changed_at: Timestamp,
}

impl PeerRecord {
    /// The pinned signing key, hex.
    pub fn key_hex(&self) -> String {
        hex(&self.signing_key)
    }

    /// SHA-256 of the signing key, hex in groups of four (`3f2a 9c01 …`): what two operators read
    /// to each other to check a key out of band.
    pub fn fingerprint(&self) -> String {
        key_fingerprint(&self.signing_key)
    }
}

/// SHA-256 of an Ed25519 public key, hex in groups of four.
pub fn key_fingerprint(key: &[u8; 32]) -> String {
    let digest = hex(&<sha2::Sha256 as sha2::Digest>::digest(key));
    let groups: Vec<&str> = (0..digest.len()).step_by(4).map(|at| &digest[at..at + 4]).collect();
    groups.join(" ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

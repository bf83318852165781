//! The JSON shapes of federation: peers (other brokers), positions and settlements, as the
//! operator's API (`/v1/admin/peers`) takes and gives them.

use serde::{Deserialize, Serialize};

use crate::{Money, MoneyRequest, RequestAmount};

/// `POST /v1/admin/peers`: a broker to federate with, by its URL. `name` defaults to the domain its
/// metadata gives; `key`, if given, must be the signing key it publishes (hex), so a key checked
/// another way is pinned and not merely read.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerRequest {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_limits: Option<Vec<MoneyRequest>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// `POST /v1/admin/peers/{name}/settlements`: money paid between this broker and the peer outside
/// the system. Each side records its own view: one `received`, the other `paid`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SettlementRequest {
    pub amount: RequestAmount,
    pub currency: String,
    /// `received` (the peer paid this broker) or `paid` (this broker paid the peer).
    pub direction: String,
    /// The operator's record of the payment (a bank transfer's id).
    pub reference: String,
}

/// A peer as the operator added it (`/v1/admin/peers`).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PeerJson {
    pub name: String,
    pub url: String,
    /// The peer's own name, from its metadata.
    pub title: String,
    pub domain: String,
    pub broker_number: String,
    /// Its pinned Ed25519 signing key, hex.
    pub key: String,
    /// SHA-256 of the key, hex in groups of four: what an operator compares by phone.
    pub fingerprint: String,
    pub status: String,
    pub credit_limits: Vec<Money>,
    pub added_at: String,
    pub changed_at: String,
}

/// `GET /v1/admin/peers`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PeersJson {
    pub peers: Vec<PeerJson>,
}

/// Where this broker stands with a peer in one currency. `net` is what the peer owes this broker
/// less what this broker owes the peer; one of `owed_to_us` and `owed_by_us` is zero.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PositionEntryJson {
    pub currency: String,
    pub owed_to_us: Money,
    pub owed_by_us: Money,
    pub net: Money,
}

/// `GET /v1/admin/peers/{name}/position`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PositionJson {
    pub peer: String,
    pub currencies: Vec<PositionEntryJson>,
}

/// A settlement as recorded, and the position after it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SettledJson {
    pub id: String,
    pub peer: String,
    pub amount: Money,
    pub direction: String,
    pub reference: String,
    pub created_at: String,
    pub position: PositionJson,
}

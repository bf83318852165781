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
    /// Show the peer on this broker's page and in its metadata (default: no).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listed: Option<bool>,
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
    /// Whether this broker shows it on its page and in its metadata.
    pub listed: bool,
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

/// A secret carried between brokers (a buyer's code, its PIN): its `Debug` never shows it.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// One message from a seller's broker to a buyer's broker (`POST /v1/federation`, signed): its
/// entries, each answered on its own, in order.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FederationMessage {
    pub entries: Vec<FederationEntry>,
}

/// What a seller's broker asks of the buyer's broker about one charge, by the id it chose.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FederationEntry {
    /// Debit `code` (a code of the receiving broker's, with its PIN if it has one) by `amount`
    /// for the seller `payee` of the sending broker, unless this arrives after `deadline`.
    Charge {
        id: String,
        code: Secret,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin: Option<Secret>,
        amount: Money,
        payee: String,
        deadline: String,
        /// With an assurance code as `code`: the certificate the receiving broker gave for this
        /// seller, which the amount comes out of.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        certificate: Option<String>,
        /// The answer (`<id>:<nonce>`) to the proof of work the receiving broker asked of the
        /// sender when its budget of wrong codes was spent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
    },
    /// Certify the assurance code `assurance_code` for the seller `payee`: answered `certified`
    /// with a certificate signed by the receiving broker's federation key. Nothing moves.
    Certify {
        id: String,
        assurance_code: Secret,
        payee: String,
    },
    /// Set `amount` aside on `code` for the seller `payee` until `expires_at` (a hold across
    /// brokers), unless this arrives after `deadline`. Captured or voided later under `id`.
    Hold {
        id: String,
        code: Secret,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin: Option<Secret>,
        amount: Money,
        payee: String,
        expires_at: String,
        deadline: String,
        /// As a charge's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<String>,
    },
    /// Take `amount` (at most what hold `id` set aside) as a charge; the rest goes back. From then
    /// on `id` is a charge, with this `deadline`.
    Capture {
        id: String,
        amount: Money,
        payee: String,
        deadline: String,
    },
    /// What became of charge `id`; one never received is closed by this and never made.
    Outcome { id: String, amount: Money, payee: String },
    /// Reverse charge `id` if it was made, and close it if not.
    Void { id: String, amount: Money, payee: String },
    /// Give `amount` of charge `charge` back to the code it debited: the sending broker's seller
    /// refunded it, as its refund number `seq` (from 1), at `refunded_at`. Its `id` is
    /// `{charge}-r{seq}`; answered `refunded`, once however often it is sent.
    Refund {
        id: String,
        charge: String,
        seq: u32,
        amount: Money,
        payee: String,
        refunded_at: String,
    },
}

/// The answer to a [`FederationMessage`], signed: one entry per entry asked, in order.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FederationAnswer {
    pub entries: Vec<EntryAnswer>,
}

/// How one charge stands at the buyer's broker after the entry: `approved` (debited; with the
/// approval), `held` (a hold made and not captured; with its `expires_at`), `certified` (with the
/// certificate), `refused` (nothing moved; with the problem), `closed` (never made and never will
/// be), `reversed` (made, then given back: a hold released) or, for a refund, `refunded` (given
/// back to the code).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct EntryAnswer {
    pub id: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalJson>,
    /// For a hold, when it ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// For a certification, the certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<crate::CertificateJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<EntryProblem>,
}

/// Why the buyer's broker refused a charge: the HTTP status and `code` word it would have
/// answered a local payment with, and its detail.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct EntryProblem {
    pub status: u16,
    pub code: String,
    pub detail: String,
    /// With `challenge_required`: the proof of work asked of the sender (the `Smartcode-Challenge`
    /// header's form), which it may do and send again with the entry's `answer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}

/// The buyer's broker's signed word that it debited a code of its own for a seller of another
/// broker (`smartcode-approval-v1`, whose message `smartcode-receipt` documents): the seller's
/// receipt carries it, and anyone holding the buyer's broker's `federation.signing_key` checks it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ApprovalJson {
    pub version: String,
    /// The buyer's broker (its domain), which signs.
    pub broker: String,
    /// The seller's broker (its domain), which asked.
    pub seller_broker: String,
    pub charge_id: String,
    pub payee: String,
    pub amount: Money,
    /// The debit's id at the buyer's broker.
    pub transfer_id: String,
    pub approved_at: String,
    /// Ed25519, hex: over the approval's message (v1) or over its batch's root message (v2).
    pub signature: String,
    /// Version 2: where this approval sits in the Merkle tree of the approvals its broker signed
    /// together (one answer's), as a receipt of a signing batch does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<crate::ReceiptBatchJson>,
}

/// One line of a statement: a charge (`charge:` and its id), a refund (`refund:` and its id,
/// `{charge}-r{seq}`) or a settlement (`settlement:` and
/// its reference), and what it did to `net` as the signing broker sees it (owed to it, less owed
/// by it): the peer's statement of the same line says the opposite.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StatementEntryJson {
    pub key: String,
    pub net: Money,
}

/// `GET /v1/admin/peers/{name}/statement`, and what a peer answers at
/// `POST /v1/federation/statement`: every charge (by its deadline) and settlement with the peer
/// from `since` (the beginning, if absent) to `until`, both included, signed by `broker`
/// (`smartcode-statement-v2`, whose message `smartcode-receipt` documents).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StatementJson {
    pub version: String,
    /// The broker whose statement it is (its domain), which signs it.
    pub broker: String,
    /// The other broker (its domain).
    pub peer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    pub until: String,
    /// Whether every line of the period is here (a statement holds at most a bounded number: a
    /// shorter period then holds them all).
    pub complete: bool,
    pub entries: Vec<StatementEntryJson>,
    pub signature: String,
}

/// `POST /v1/federation/statement`: the statement a peer asks for.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StatementRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    pub until: String,
}

/// A line the two statements do not agree on: what it did to this broker's net (`ours`) and
/// what the peer says it did to its own (`theirs`); they agree when one is minus the other.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DifferenceJson {
    pub key: String,
    pub ours: Money,
    pub theirs: Money,
}

/// `GET /v1/admin/peers/{name}/reconcile`: both statements up to `until`, compared.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ReconcileJson {
    pub peer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    pub until: String,
    /// Lines both statements hold alike.
    pub matched: u64,
    pub differences: Vec<DifferenceJson>,
    /// Whether both statements were complete.
    pub complete: bool,
}

/// What crossed between this broker and a peer on one day (UTC, by the charges' deadlines), in
/// one currency: this broker's codes paying the peer's sellers, and the peer's codes paying
/// this broker's sellers.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PeerDayJson {
    pub date: String,
    pub currency: String,
    pub out_count: u64,
    pub out_total: Money,
    pub in_count: u64,
    pub in_total: Money,
}

/// `GET /v1/admin/peers/{name}/report`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PeerReportJson {
    pub peer: String,
    pub days: Vec<PeerDayJson>,
}

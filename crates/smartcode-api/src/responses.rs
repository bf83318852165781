//! What a broker answers. The server writes them; the client reads them and ignores fields it
//! does not know, so a broker may add fields (API.md welcomes extras) without breaking clients.
//!
//! Words with a closed list on the server (`kind`, `status`) are strings here, not enums: a
//! client built against this crate keeps working when a newer broker adds a word.

use serde::{Deserialize, Serialize};

/// Money in a response: a decimal string with at most 6 fractional digits, and its currency.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct Money {
    pub amount: String,
    pub currency: String,
}

/// A code's public information, as its holder set it. Absent fields are `null`.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileJson {
    pub name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub contact: Option<String>,
    pub show_stats: bool,
    /// Who stands behind the name and web address; `null` when they are only what the holder
    /// declared (an older broker sends no such field).
    #[serde(default)]
    pub checked: Option<CheckJson>,
}

/// A check of a profile's name and web address: by the broker, or by a code above it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CheckJson {
    /// `broker` or `ancestor`.
    pub by: String,
    /// The checker's place in the ancestry: 0 for the broker.
    pub depth: u32,
    /// The checking code's profile name (`null` if it has none, and for the broker).
    pub name: Option<String>,
    pub at: String,
    /// Made by the broker, or by a code whose own name is checked by a check that reaches the broker.
    pub reaches_broker: bool,
}

/// What a public code sells: the categories and items a payment into it is stamped with.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
}

/// A code's effective rules and what is left of them, as its holder sees them.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub struct RestrictionsJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payees: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_per_use_max: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend_per_period: Option<SpendJson>,
    /// The fewest uses left over this code and its ancestors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uses_left: Option<u32>,
    /// The least spending left in the current periods of this code and its ancestors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spend_left: Option<Money>,
}

impl RestrictionsJson {
    /// True when the code has no rule of its own or inherited.
    pub fn is_empty(&self) -> bool {
        *self == RestrictionsJson::default()
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct SpendJson {
    pub amount: Money,
    pub period_seconds: i64,
}

/// A code as its holder (or its parent) sees it: `GET /v1/me`, each of `GET /v1/me/children`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CodeJson {
    pub id: String,
    /// `secret` or `public`.
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_code: Option<String>,
    /// Absent for a public code, which holds no value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available: Option<Money>,
    pub currency: String,
    /// `active`, `expired`, `cancelled` or `locked`.
    pub status: String,
    pub parent_id: Option<String>,
    pub label: Option<String>,
    pub profile: ProfileJson,
    /// For a public code, what its owner declared it sells; absent for a secret code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogJson>,
    pub restrictions: RestrictionsJson,
    pub expires_at: Option<String>,
    pub irrevocable: bool,
    pub pin_set: bool,
    pub children_count: u32,
    pub created_at: String,
    /// The holds that set value aside on this code now (its `available` is its balance less them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<HoldJson>,
    /// Its authorization codes that set value aside now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authorizations: Vec<AuthorizationJson>,
    /// Its numeric alias, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<AliasJson>,
}

/// The answer of every write that makes or changes a code (issue, new child, profile, PIN,
/// unlock, rekey): its view, and for a new secret the secret itself, shown this once.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CreatedJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(flatten)]
    pub view: CodeJson,
}

/// `GET /v1/me/children`: this code's direct children.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ChildrenJson {
    pub children: Vec<CodeJson>,
}

/// `POST /v1/admin/deposits`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct DepositedJson {
    /// The deposit's transfer.
    pub id: String,
    pub code_id: String,
    pub balance: Money,
}

/// `POST /v1/admin/payouts`: the payout's transfer and what the code holds after it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PaidOutJson {
    /// The payout's transfer.
    pub id: String,
    pub code_id: String,
    pub amount: Money,
    pub reference: String,
    pub balance: Money,
    pub created_at: String,
}

/// `POST /v1/me/children/{id}/fund`: the child after, and what this code holds now.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FundedJson {
    pub child: CodeJson,
    pub balance: Money,
}

/// `POST /v1/me/children/{id}/cancel`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CancelledJson {
    pub reclaimed: Money,
    pub codes_cancelled: u32,
}

/// A payment's receipt, signed by the payee's broker.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ReceiptJson {
    pub id: String,
    pub payer_id: String,
    pub payee: String,
    pub payee_id: String,
    pub amount: Money,
    pub memo: Option<String>,
    pub category: Option<String>,
    pub item: Option<String>,
    pub created_at: String,
    /// The broker that signed it, checkable with the public key at `/.well-known/smartcode`.
    pub broker: String,
    /// What the signature covers, by version: `smartcode-receipt-v2` (every field above, through
    /// the root of its signing batch, see `batch`); absent on a receipt of version 1, whose
    /// signature covers its id, payer, payee, amount and time alone. The crate
    /// `smartcode-receipt` writes each version's message and checks a receipt offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Ed25519, hex: over the batch's root message (v2) or over the receipt's message (v1).
    pub signature: String,
    /// Version 2: where this receipt sits in the Merkle tree of its signing batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<ReceiptBatchJson>,
    /// A payment by a code of another broker (`payer_id` is then `peer:` and that broker's
    /// domain): that broker's signed approval, checked with its own `federation.signing_key`. Not
    /// covered by this receipt's signature; it stands on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::ApprovalJson>,
}

/// A receipt's place in its signing batch: the broker signs the root of a Merkle tree over the
/// batch's receipts once, and each receipt carries the hashes that lead from it to that root.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ReceiptBatchJson {
    /// The tree's root, hex (SHA-256).
    pub root: String,
    /// Receipts in the batch.
    pub size: u64,
    /// This receipt's position among them, from 0.
    pub index: u64,
    /// The sibling hashes from this receipt's leaf up to the root, hex, leaf level first; a level
    /// where this receipt's node has no sibling (the last of an odd count) has no entry.
    pub path: Vec<String>,
}

/// `POST /v1/payments` and `GET /v1/receipts/{id}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PaidJson {
    pub receipt: ReceiptJson,
}

/// A seller's refund of part or all of a payment.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RefundJson {
    pub id: String,
    pub receipt_id: String,
    pub amount: Money,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `POST /v1/receipts/{id}/refund`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RefundedJson {
    pub refund: RefundJson,
}

/// A hold: value set aside on a buyer's code for a seller, captured or voided later.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct HoldJson {
    pub id: String,
    /// The buyer's code id for the buyer; for anyone else, its pseudonym for the seller.
    pub payer_id: String,
    pub payee: String,
    pub amount: Money,
    /// `pending`, `captured` or `voided` (a pending hold past `expires_at` is `voided`).
    pub status: String,
    pub expires_at: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
    /// What a capture took, and its receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captured: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
}

/// An authorization code's record (never the code: that is shown once, in `authorization_code`
/// of the answer that made it).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationJson {
    pub id: String,
    /// Shown once, when it is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_code: Option<String>,
    pub amount: Money,
    /// The only public code it pays, if it was made for one; once used, the one it paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payee: Option<String>,
    /// `pending`, `used`, `cancelled` or `expired`.
    pub status: String,
    pub expires_at: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<String>,
}

/// `GET /v1/me/authorizations`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationsJson {
    pub authorizations: Vec<AuthorizationJson>,
}

/// A code's numeric alias: when it was made, and for a public code its digits (a secret code's
/// alias is shown once, in `alias` of the answer that made it).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AliasJson {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    pub code_id: String,
    pub created_at: String,
}

/// An assurance (never its code: that is shown once, in `assurance_code` of the answer that made it).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AssuranceJson {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assurance_code: Option<String>,
    pub floor: Money,
    /// `active`, `cancelled` or `expired`.
    pub status: String,
    pub expires_at: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<String>,
}

/// `GET /v1/me/assurances`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AssurancesJson {
    pub assurances: Vec<AssuranceJson>,
}

/// A certificate: the broker's signed word that until `valid_until` payments to `payee` presented
/// with it, up to `floor` in total, are never refused for lack of funds. Checked offline with
/// `smartcode_receipt::verify_certificate` and the broker's public key.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CertificateJson {
    /// `smartcode-certificate-v1`.
    pub version: String,
    /// The certificate's id: send it as `certificate` with the payments it covers.
    pub id: String,
    pub assurance_id: String,
    /// The code whose funds it certifies.
    pub code_id: String,
    pub floor: Money,
    pub currency: String,
    pub broker: String,
    pub payee: String,
    pub issued_at: String,
    pub valid_until: String,
    /// Ed25519 over the certificate's message, hex.
    pub signature: String,
}

/// `POST /v1/assurances/certify`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CertifiedJson {
    pub certificate: CertificateJson,
}

/// `DELETE /v1/me/alias`, `DELETE /v1/me/children/{id}/alias`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AliasRemovedJson {
    pub removed: bool,
}

/// `POST /v1/holds`, `POST /v1/holds/{id}/void`, `GET /v1/holds/{id}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct HeldJson {
    pub hold: HoldJson,
}

/// One line of a code's history, seen from that code: `amount` is signed (`"-0.25"` went out).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct EntryJson {
    pub id: String,
    pub at: String,
    pub kind: String,
    pub amount: String,
    pub currency: String,
    pub counterparty_id: Option<String>,
    /// The other side as people know it: `broker`, a child's label, an ancestor's profile name,
    /// the public code a payment went to; `null` where this code may know only the id.
    #[serde(default)]
    pub counterparty: Option<String>,
    pub memo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_code_id: Option<String>,
    /// For a payment: the public code paid into (`P-…`) and the receipt's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item: Option<String>,
}

/// `GET /v1/me/transactions`: a page, newest first; `next_cursor` asks for the next one.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct TransactionsJson {
    pub transactions: Vec<EntryJson>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ReportRowJson {
    pub key: String,
    pub count: u64,
    pub total_in: String,
    pub total_out: String,
}

/// `GET /v1/me/report`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ReportJson {
    pub group_by: String,
    pub rows: Vec<ReportRowJson>,
    /// True when the window held more groups than one report shows.
    pub truncated: bool,
}

/// One currency of the ledger check. When the ledger is whole, `sum` is zero and `issued` less
/// `paid_out` is `outstanding` (what the issuance account owes) and all of it is `held_by_codes`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct CurrencyCheckJson {
    pub currency: String,
    /// Everything issued or deposited.
    pub issued: String,
    /// Everything paid out.
    pub paid_out: String,
    /// Minus the issuance account's balance.
    pub outstanding: String,
    pub held_by_codes: String,
    /// The exchange account's position: what buyers paid in this currency for quotes less what
    /// sellers were paid in it (with `held_by_codes`, `outstanding` when right).
    #[serde(default = "zero")]
    pub exchange: String,
    pub sum: String,
    pub accounts: u64,
    pub transfers: u64,
}

fn zero() -> String {
    "0.00".to_owned()
}

/// `GET /v1/admin/ledger/check`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct LedgerCheckJson {
    pub ok: bool,
    pub currencies: Vec<CurrencyCheckJson>,
    pub negative_balances: u64,
    pub mismatched_accounts: u64,
    /// Code accounts whose held value is not exactly their pending holds, or more than their balance.
    #[serde(default)]
    pub uncovered_holds: u64,
    pub checked_at: String,
}

/// One generation above a public code, as the public sees it; the last is the broker itself.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AncestorJson {
    pub depth: u32,
    /// `secret`, `public` or `broker`.
    pub kind: String,
    pub profile: Option<ProfileJson>,
}

/// A public code's payments, shown when its holder allows it.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct StatsJson {
    pub payments: u64,
    pub total: Money,
}

/// `GET /v1/public/{public_code}`: what anyone may know about a public code.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct PublicJson {
    pub public_code: String,
    pub id: String,
    pub currency: String,
    pub status: String,
    pub profile: ProfileJson,
    /// What it sells, bounded by the public codes it is nested under: a payment into it is
    /// stamped with one of these.
    #[serde(default)]
    pub catalog: CatalogJson,
    pub ancestry: Vec<AncestorJson>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<StatsJson>,
}

/// Every refusal, as `application/problem+json` (RFC 9457). `code` is the stable word to match
/// on; `detail` is for people and never carries a secret code or PIN.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ProblemJson {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    /// Free tries of a code or PIN left to whoever sent it, on refusals of one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tries_left: Option<i64>,
    /// On `challenge_required`: the bits of work the challenge in `Smartcode-Challenge` asks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub difficulty_bits: Option<u32>,
}

/// One of the operator's rates: `rate` units of `to` per unit of `from`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RateJson {
    pub from: String,
    pub to: String,
    pub rate: String,
    pub fee_bps: u32,
    pub set_at: String,
}

/// `GET /v1/rates`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct RatesJson {
    pub rates: Vec<RateJson>,
}

/// A quote's fee: its rate in basis points, and the part of `pay` it is.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct FeeJson {
    pub bps: u32,
    pub amount: Money,
}

/// A quote: what a buyer pays (`pay`) for `price`, fee included, until `expires_at`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct QuoteJson {
    pub id: String,
    pub price: Money,
    pub pay: Money,
    /// Units of the price's currency per unit of the pay currency.
    pub rate: String,
    pub fee: FeeJson,
    /// The only public code this quote pays, if it was made for one.
    pub payee: Option<String>,
    pub created_at: String,
    pub expires_at: String,
}

/// `POST /v1/quotes`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct QuotedJson {
    pub quote: QuoteJson,
}

/// One currency of the exchange account: its position (may be negative).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ExchangePositionJson {
    pub currency: String,
    pub position: String,
}

/// `GET /v1/admin/exchange`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ExchangeJson {
    pub currencies: Vec<ExchangePositionJson>,
}

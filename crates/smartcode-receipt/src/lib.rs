//! A smartcode receipt (and an assurance code's certificate, [`verify_certificate`], and an item's download token, [`verify_download_token`]), checked offline: the exact bytes each version's signature covers, the
//! Merkle tree of a signing batch, and [`verify`], which needs nothing but the receipt and the
//! broker's public key (`receipt_signature.public_key` in its `/.well-known/smartcode`).
//!
//! ```
//! use smartcode_receipt::{seal_batch, verify, Version};
//! # use smartcode_api::{Money, ReceiptJson};
//! # let receipt = |id: &str| ReceiptJson {
//! #     id: id.into(), payer_id: "pp_0".into(), payee: "P-4WZ8N-K3QJD".into(), payee_id: "c_1".into(),
//! #     amount: Money { amount: "0.25".into(), currency: "USD".into() }, memo: Some("a song".into()),
//! #     category: None, item: None, created_at: "2026-12-02T08:00:00Z".into(),
//! #     broker: "broker.example".into(), version: None, signature: String::new(), batch: None, approval: None,
//! # };
//! let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! // The broker signs a batch once...
//! let mut batch = vec![receipt("r_1"), receipt("r_2"), receipt("r_3")];
//! seal_batch(&key, &mut batch);
//! // ...and each receipt verifies alone, with the public key only.
//! assert_eq!(verify(&batch[1], &key.verifying_key()), Ok(Version::V2));
//! batch[1].memo = Some("two songs".into());
//! assert!(verify(&batch[1], &key.verifying_key()).is_err());
//! ```
//!
//! **Version 2** (`smartcode-receipt-v2`). A receipt's *message* is the line
//! `smartcode-receipt-v2`, then one line per field, in this order: `id`, `broker`, `payer_id`,
//! `payee`, `payee_id`, `amount`, `currency`, `memo`, `category`, `item`, `created_at`. A field's
//! line is its name, a space, the byte length of its value in decimal, a space, the value (UTF-8,
//! as in the JSON) and `\n`; an absent field (a `null` memo, category or item) is its name, a
//! space, `-` and `\n`. Each line ends in `\n`, the last one too. The *leaf* of a receipt is
//! SHA-256 of the byte 0x00 followed by its message; a *node* is SHA-256 of the byte 0x01, its
//! left child and its right child (32 bytes each), so no leaf can pass for a node. A batch's
//! leaves, in order, are paired level by level; the last node of a level with an odd count goes
//! up unchanged. The broker signs (Ed25519) the *root message*
//! `smartcode-receipt-v2-root\n{size}\n{root in lowercase hex}\n`, once for the whole batch, and
//! every receipt of it carries that signature, the root, the batch's size, its own index and the
//! sibling hashes from its leaf up to the root ([`smartcode_api::ReceiptBatchJson`]).
//!
//! **Version 1** (`smartcode-receipt-v1`, a receipt without `version`): one signature per receipt
//! over `smartcode-receipt-v1\n{id}\n{payer_id}\n{payee}\n{amount}\n{currency}\n{created_at}\n`.
//! It does not cover the memo, category or item; brokers no longer issue it, and it still verifies.

mod approval;
mod certificate;
mod download;
mod merkle;
#[cfg(test)]
mod tests;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use smartcode_api::{ReceiptBatchJson, ReceiptJson};

pub use approval::{
    answer_message, approval_message, approval_root_message, body_digest, request_message, seal_approvals,
    sign_approval, sign_message, sign_statement, statement_message, verify_approval, verify_message, verify_statement,
    RequestParts, APPROVAL_V1, APPROVAL_V2, STATEMENT_V1, STATEMENT_V2,
};
pub use certificate::{certificate_message, sign_certificate, verify_certificate, CERTIFICATE_V1};
pub use download::{
    download_message, sign_download_token, verify_download_token, DownloadToken, DownloadTokenError, DOWNLOAD_V1,
};
pub use merkle::{leaf_hash, node_hash, root_from_path, Tree};

/// The first line of a version 2 receipt's message, and its `version` field.
pub const V2: &str = "smartcode-receipt-v2";
/// The first line of a version 2 batch's root message.
pub const V2_ROOT: &str = "smartcode-receipt-v2-root";
/// The first line of a version 1 receipt's message.
pub const V1: &str = "smartcode-receipt-v1";

/// The version a receipt verified as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// Why a receipt does not verify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReceiptError {
    /// A `version` this crate does not know.
    UnknownVersion(String),
    /// A version 2 receipt without its place in a batch.
    MissingBatch,
    /// A field that should be hex of a given length is not (the signature, the root, a path entry).
    Malformed(&'static str),
    /// The path does not lead from this receipt to the root it names, or does not fit the
    /// batch's size and the receipt's index: some field was changed, or the proof is not its own.
    ProofMismatch,
    /// The signature is not the broker's over this receipt (v1) or over its batch's root (v2).
    BadSignature,
}

impl std::fmt::Display for ReceiptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReceiptError::UnknownVersion(v) => write!(f, "unknown receipt version {v:?}"),
            ReceiptError::MissingBatch => write!(f, "a version 2 receipt without its batch proof"),
            ReceiptError::Malformed(what) => write!(f, "the receipt's {what} is not well-formed hex"),
            ReceiptError::ProofMismatch => write!(f, "the receipt does not lead to its batch's root: it was changed"),
            ReceiptError::BadSignature => write!(f, "the signature is not the broker's"),
        }
    }
}

impl std::error::Error for ReceiptError {}

/// The bytes of a version 2 receipt's message (see the crate's documentation).
pub fn message_v2(r: &ReceiptJson) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(V2.as_bytes());
    out.push(b'\n');
    let fields: [(&str, Option<&str>); 11] = [
        ("id", Some(&r.id)),
        ("broker", Some(&r.broker)),
        ("payer_id", Some(&r.payer_id)),
        ("payee", Some(&r.payee)),
        ("payee_id", Some(&r.payee_id)),
        ("amount", Some(&r.amount.amount)),
        ("currency", Some(&r.amount.currency)),
        ("memo", r.memo.as_deref()),
        ("category", r.category.as_deref()),
        ("item", r.item.as_deref()),
        ("created_at", Some(&r.created_at)),
    ];
    field_lines(&mut out, &fields);
    out
}

/// One line per field: its name, a space, the byte length of its value, a space, the value and
/// `\n`; an absent value is its name, a space, `-` and `\n`.
fn field_lines(out: &mut Vec<u8>, fields: &[(&str, Option<&str>)]) {
    for (name, value) in fields {
        out.extend_from_slice(name.as_bytes());
        match value {
            Some(value) => {
                out.extend_from_slice(format!(" {} ", value.len()).as_bytes());
                out.extend_from_slice(value.as_bytes());
            }
            None => out.extend_from_slice(b" -"),
        }
        out.push(b'\n');
    }
}

/// The bytes a version 1 receipt's signature covers.
pub fn message_v1(r: &ReceiptJson) -> String {
    format!(
        "{V1}\n{}\n{}\n{}\n{}\n{}\n{}\n",
        r.id, r.payer_id, r.payee, r.amount.amount, r.amount.currency, r.created_at
    )
}

/// The bytes a version 2 batch's signature covers.
pub fn root_message(size: u64, root: &[u8; 32]) -> String {
    format!("{V2_ROOT}\n{size}\n{}\n", hex::encode(root))
}

/// Signs receipts as one batch: fills each one's `version`, `signature` and `batch`, with one
/// Ed25519 signature for all of them. An empty batch signs nothing.
pub fn seal_batch(key: &SigningKey, receipts: &mut [ReceiptJson]) {
    let leaves: Vec<[u8; 32]> = receipts.iter().map(|r| leaf_hash(&message_v2(r))).collect();
    let Some(sealed) = Sealed::sign(key, &leaves) else {
        return;
    };
    for (index, receipt) in receipts.iter_mut().enumerate() {
        sealed.fill(receipt, index);
    }
}

/// One signed batch: its tree and the signature over its root.
pub struct Sealed {
    tree: Tree,
    signature: String,
}

impl Sealed {
    /// Builds the tree over `leaves` and signs its root once; `None` for no leaves.
    pub fn sign(key: &SigningKey, leaves: &[[u8; 32]]) -> Option<Sealed> {
        Sealed::sign_root(key, leaves, root_message)
    }

    /// As [`Sealed::sign`], the root signed as `message` writes it (each kind of batch its own).
    pub(crate) fn sign_root(
        key: &SigningKey,
        leaves: &[[u8; 32]],
        message: fn(u64, &[u8; 32]) -> String,
    ) -> Option<Sealed> {
        let tree = Tree::build(leaves.to_vec())?;
        let signature = key.sign(message(tree.size(), &tree.root()).as_bytes());
        Some(Sealed {
            tree,
            signature: hex::encode(signature.to_bytes()),
        })
    }

    /// The signature over the batch's root, hex.
    pub(crate) fn signature(&self) -> &str {
        &self.signature
    }

    /// Where leaf number `index` sits in the batch.
    pub(crate) fn place(&self, index: usize) -> ReceiptBatchJson {
        ReceiptBatchJson {
            root: hex::encode(self.tree.root()),
            size: self.tree.size(),
            index: index as u64,
            path: self.tree.path(index).iter().map(hex::encode).collect(),
        }
    }

    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// Makes `receipt` the batch's receipt number `index` (whose leaf the tree was built with).
    pub fn fill(&self, receipt: &mut ReceiptJson, index: usize) {
        receipt.version = Some(V2.to_owned());
        receipt.signature = self.signature.clone();
        receipt.batch = Some(self.place(index));
    }
}

/// The root that `leaf` leads to along `batch`'s path, if that is the root `batch` claims.
pub(crate) fn proven_root(leaf: [u8; 32], batch: &ReceiptBatchJson) -> Result<[u8; 32], ReceiptError> {
    let claimed = hex_array::<32>(&batch.root, "batch root")?;
    let path = batch
        .path
        .iter()
        .map(|h| hex_array::<32>(h, "batch path"))
        .collect::<Result<Vec<_>, _>>()?;
    let root = root_from_path(leaf, batch.index, batch.size, &path).ok_or(ReceiptError::ProofMismatch)?;
    if root != claimed {
        return Err(ReceiptError::ProofMismatch);
    }
    Ok(root)
}

/// Checks a receipt against the broker's public key, offline: which version it is and that its
/// signature covers every field it shows (version 1: those its message holds).
pub fn verify(receipt: &ReceiptJson, key: &VerifyingKey) -> Result<Version, ReceiptError> {
    let signature = Signature::from_bytes(&hex_array::<64>(&receipt.signature, "signature")?);
    match receipt.version.as_deref() {
        None => {
            key.verify_strict(message_v1(receipt).as_bytes(), &signature)
                .map_err(|_| ReceiptError::BadSignature)?;
            Ok(Version::V1)
        }
        Some(V2) => {
            let batch = receipt.batch.as_ref().ok_or(ReceiptError::MissingBatch)?;
            let root = proven_root(leaf_hash(&message_v2(receipt)), batch)?;
            key.verify_strict(root_message(batch.size, &root).as_bytes(), &signature)
                .map_err(|_| ReceiptError::BadSignature)?;
            Ok(Version::V2)
        }
        Some(other) => Err(ReceiptError::UnknownVersion(other.to_owned())),
    }
}

/// Reads a broker's public key from its hex form (as `/.well-known/smartcode` publishes it).
pub fn public_key(hex_text: &str) -> Result<VerifyingKey, ReceiptError> {
    VerifyingKey::from_bytes(&hex_array::<32>(hex_text, "public key")?)
        .map_err(|_| ReceiptError::Malformed("public key"))
}

fn hex_array<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], ReceiptError> {
    let bytes = hex::decode(text).map_err(|_| ReceiptError::Malformed(what))?;
    bytes.try_into().map_err(|_| ReceiptError::Malformed(what))
}

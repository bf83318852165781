//! What brokers sign for each other (federation), checked offline like receipts.
//!
//! **An approval** (`smartcode-approval-v1`, and `-v2` signed in batches: see [`seal_approvals`]): the buyer's broker's word that it debited a code of
//! its own for a seller of another broker. Its *message* is the line `smartcode-approval-v1`, then
//! one line per field in this order: `broker`, `seller_broker`, `charge_id`, `payee`, `amount`
//! (decimal), `currency`, `transfer_id`, `approved_at`, each written as a receipt's fields are (its
//! name, a space, the byte length of its value, a space, the value and `\n`). The buyer's broker
//! signs it with Ed25519 under its `federation.signing_key`; `signature` is the signature in hex.
//!
//! **A message between brokers** (a request to `federation.endpoint` and its answer) carries the
//! headers `Smartcode-Broker` (the sender's domain), `Smartcode-Date` (Unix seconds) and
//! `Smartcode-Signature` (hex Ed25519 under the sender's `federation.signing_key`). A request's
//! signature covers [`request_message`]: the line `smartcode-federation-v1 request`, then lines
//! `method`, `path`, `from` (the sender's domain), `to` (the receiver's), `date`, and `digest`
//! (SHA-256 of the body, hex), written as above. An answer's covers [`answer_message`]: the line
//! `smartcode-federation-v1 answer`, then `request` (the digest of the request it answers, so an
//! answer cannot be replayed for another), `status`, `from`, `date` and `digest` of its own body.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use smartcode_api::{ApprovalJson, StatementJson};

use super::{field_lines, hex_array, leaf_hash, proven_root, ReceiptError, Sealed};

/// The first line of an approval's message, and its `version` field.
pub const APPROVAL_V1: &str = "smartcode-approval-v1";
/// Version 2: approvals signed together, one signature over the root of a Merkle tree of them.
pub const APPROVAL_V2: &str = "smartcode-approval-v2";
/// The first line of a version 2 batch's root message.
pub const APPROVAL_V2_ROOT: &str = "smartcode-approval-v2-root";

/// The bytes an approval's signature covers (v1), or its leaf's hash is taken over (v2: the same
/// lines under the first line `smartcode-approval-v2`).
pub fn approval_message(a: &ApprovalJson) -> Vec<u8> {
    let first = match a.version.as_str() {
        APPROVAL_V2 => APPROVAL_V2,
        _ => APPROVAL_V1,
    };
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(first.as_bytes());
    out.push(b'\n');
    field_lines(
        &mut out,
        &[
            ("broker", Some(&a.broker)),
            ("seller_broker", Some(&a.seller_broker)),
            ("charge_id", Some(&a.charge_id)),
            ("payee", Some(&a.payee)),
            ("amount", Some(&a.amount.amount)),
            ("currency", Some(&a.amount.currency)),
            ("transfer_id", Some(&a.transfer_id)),
            ("approved_at", Some(&a.approved_at)),
        ],
    );
    out
}

/// Signs an approval in place (its `version` and `signature` set).
pub fn sign_approval(key: &SigningKey, approval: &mut ApprovalJson) {
    approval.version = APPROVAL_V1.to_owned();
    approval.signature = hex::encode(key.sign(&approval_message(approval)).to_bytes());
}

/// The bytes a version 2 batch of approvals' signature covers.
pub fn approval_root_message(size: u64, root: &[u8; 32]) -> String {
    format!("{APPROVAL_V2_ROOT}\n{size}\n{}\n", hex::encode(root))
}

/// Signs approvals together (version 2): one Ed25519 signature over the root of a Merkle tree of
/// their messages, and each one's place in it. Nothing for none.
pub fn seal_approvals(key: &SigningKey, approvals: &mut [&mut ApprovalJson]) {
    for approval in approvals.iter_mut() {
        approval.version = APPROVAL_V2.to_owned();
    }
    let leaves: Vec<[u8; 32]> = approvals.iter().map(|a| leaf_hash(&approval_message(a))).collect();
    let Some(sealed) = Sealed::sign_root(key, &leaves, approval_root_message) else {
        return;
    };
    for (index, approval) in approvals.iter_mut().enumerate() {
        approval.signature = sealed.signature().to_owned();
        approval.batch = Some(sealed.place(index));
    }
}

/// Checks an approval against the buyer's broker's `federation.signing_key`, offline: of version
/// 1, its own signature; of version 2, that it leads to its batch's root, signed.
pub fn verify_approval(approval: &ApprovalJson, key: &VerifyingKey) -> Result<(), ReceiptError> {
    let signature = Signature::from_bytes(&hex_array::<64>(&approval.signature, "signature")?);
    match approval.version.as_str() {
        APPROVAL_V1 => key
            .verify_strict(&approval_message(approval), &signature)
            .map_err(|_| ReceiptError::BadSignature),
        APPROVAL_V2 => {
            let batch = approval.batch.as_ref().ok_or(ReceiptError::MissingBatch)?;
            let root = proven_root(leaf_hash(&approval_message(approval)), batch)?;
            key.verify_strict(approval_root_message(batch.size, &root).as_bytes(), &signature)
                .map_err(|_| ReceiptError::BadSignature)
        }
        other => Err(ReceiptError::UnknownVersion(other.to_owned())),
    }
}

/// The first line of a statement's message, and its `version` field: version 1 covers
/// everything up to `until`, version 2 a period (its `since` is signed too).
pub const STATEMENT_V1: &str = "smartcode-statement-v1";
pub const STATEMENT_V2: &str = "smartcode-statement-v2";

/// The bytes a statement's signature covers: the line of its version, the fields `broker`,
/// `peer`, (in version 2) `since` (`-` for the beginning), `until`, `complete` (`true` or
/// `false`) and `entries` (their count), then one `entry` per line, its value the net's
/// currency, a space, its amount, a space and its key.
pub fn statement_message(s: &StatementJson) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + 64 * s.entries.len());
    let v2 = s.version == STATEMENT_V2;
    out.extend_from_slice(if v2 { STATEMENT_V2 } else { STATEMENT_V1 }.as_bytes());
    out.push(b'\n');
    let (complete, count) = (s.complete.to_string(), s.entries.len().to_string());
    field_lines(&mut out, &[("broker", Some(&s.broker)), ("peer", Some(&s.peer))]);
    if v2 {
        field_lines(&mut out, &[("since", s.since.as_deref())]);
    }
    field_lines(
        &mut out,
        &[
            ("until", Some(&s.until)),
            ("complete", Some(&complete)),
            ("entries", Some(&count)),
        ],
    );
    for entry in &s.entries {
        let line = format!("{} {} {}", entry.net.currency, entry.net.amount, entry.key);
        field_lines(&mut out, &[("entry", Some(&line))]);
    }
    out
}

/// Signs a statement in place (its `version` and `signature` set).
pub fn sign_statement(key: &SigningKey, statement: &mut StatementJson) {
    statement.version = STATEMENT_V2.to_owned();
    statement.signature = hex::encode(key.sign(&statement_message(statement)).to_bytes());
}

/// Checks a statement against its broker's `federation.signing_key`, offline.
pub fn verify_statement(statement: &StatementJson, key: &VerifyingKey) -> Result<(), ReceiptError> {
    // Version 1 has no period: a `since` on one would be a field its signature does not cover.
    let known = statement.version == STATEMENT_V2 || (statement.version == STATEMENT_V1 && statement.since.is_none());
    if !known {
        return Err(ReceiptError::UnknownVersion(statement.version.clone()));
    }
    verify_message(key, &statement_message(statement), &statement.signature)
}

/// SHA-256 of a message's body, hex: its `digest`.
pub fn body_digest(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// What a request between brokers is signed over.
pub struct RequestParts<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub date: i64,
    pub body: &'a [u8],
}

/// The bytes a request's signature covers.
pub fn request_message(r: &RequestParts<'_>) -> Vec<u8> {
    let mut out = b"smartcode-federation-v1 request\n".to_vec();
    let date = r.date.to_string();
    let digest = body_digest(r.body);
    field_lines(
        &mut out,
        &[
            ("method", Some(r.method)),
            ("path", Some(r.path)),
            ("from", Some(r.from)),
            ("to", Some(r.to)),
            ("date", Some(&date)),
            ("digest", Some(&digest)),
        ],
    );
    out
}

/// The bytes an answer's signature covers: `request_digest` is [`body_digest`] of the request.
pub fn answer_message(request_digest: &str, status: u16, from: &str, date: i64, body: &[u8]) -> Vec<u8> {
    let mut out = b"smartcode-federation-v1 answer\n".to_vec();
    let (status, date, digest) = (status.to_string(), date.to_string(), body_digest(body));
    field_lines(
        &mut out,
        &[
            ("request", Some(request_digest)),
            ("status", Some(&status)),
            ("from", Some(from)),
            ("date", Some(&date)),
            ("digest", Some(&digest)),
        ],
    );
    out
}

/// Signs a message (hex).
pub fn sign_message(key: &SigningKey, message: &[u8]) -> String {
    hex::encode(key.sign(message).to_bytes())
}

/// Checks a message's hex signature.
pub fn verify_message(key: &VerifyingKey, message: &[u8], signature: &str) -> Result<(), ReceiptError> {
    let signature = Signature::from_bytes(&hex_array::<64>(signature, "signature")?);
    key.verify_strict(message, &signature)
        .map_err(|_| ReceiptError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smartcode_api::Money;

    #[test]
    fn a_signed_approval_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let mut approval = ApprovalJson {
            version: String::new(),
            broker: "a.example".into(),
            seller_broker: "b.example".into(),
            charge_id: "r_0000000000000000000000000a".into(),
            payee: "P-4WZ8N-K3QJD".into(),
            amount: Money {
                amount: "0.25".into(),
                currency: "USD".into(),
            },
            transfer_id: "r_0000000000000000000000000b".into(),
            approved_at: "2026-12-02T08:00:00Z".into(),
            signature: String::new(),
            batch: None,
        };
        // Version 2: three signed together, each checked alone, none passing for another.
        let mut batch: Vec<ApprovalJson> = (0..3)
            .map(|n| ApprovalJson {
                charge_id: format!("r_000000000000000000000000{n}c"),
                ..approval.clone()
            })
            .collect();
        seal_approvals(&key, &mut batch.iter_mut().collect::<Vec<_>>());
        for sealed in &batch {
            assert_eq!(sealed.version, APPROVAL_V2);
            assert_eq!(verify_approval(sealed, &key.verifying_key()), Ok(()));
        }
        assert_eq!(batch[0].signature, batch[2].signature, "one signature for the batch");
        let mut moved = batch[1].clone();
        moved.charge_id = batch[0].charge_id.clone();
        assert_eq!(
            verify_approval(&moved, &key.verifying_key()),
            Err(ReceiptError::ProofMismatch)
        );
        let mut changed = batch[2].clone();
        changed.amount.amount = "2.50".into();
        assert_eq!(
            verify_approval(&changed, &key.verifying_key()),
            Err(ReceiptError::ProofMismatch)
        );
        sign_approval(&key, &mut approval);
        assert_eq!(verify_approval(&approval, &key.verifying_key()), Ok(()));
        let mut changed = approval.clone();
        changed.amount.amount = "2.50".into();
        assert_eq!(
            verify_approval(&changed, &key.verifying_key()),
            Err(ReceiptError::BadSignature)
        );
        let mut changed = approval;
        changed.seller_broker = "c.example".into();
        assert_eq!(
            verify_approval(&changed, &key.verifying_key()),
            Err(ReceiptError::BadSignature)
        );
    }

    #[test]
    fn a_message_signature_covers_every_part() {
        let key = SigningKey::from_bytes(&[6; 32]);
        let parts = |body: &'static [u8], to: &'static str| RequestParts {
            method: "POST",
            path: "/v1/federation",
            from: "b.example",
            to,
            date: 1_800_000_000,
            body,
        };
        let signature = sign_message(&key, &request_message(&parts(b"{}", "a.example")));
        let check = |message: Vec<u8>| verify_message(&key.verifying_key(), &message, &signature);
        assert_eq!(check(request_message(&parts(b"{}", "a.example"))), Ok(()));
        assert!(check(request_message(&parts(b"{ }", "a.example"))).is_err());
        assert!(check(request_message(&parts(b"{}", "c.example"))).is_err());
        let answer = sign_message(&key, &answer_message("ab", 200, "a.example", 1, b"{}"));
        let other = answer_message("cd", 200, "a.example", 1, b"{}");
        assert!(verify_message(&key.verifying_key(), &other, &answer).is_err());
    }
}

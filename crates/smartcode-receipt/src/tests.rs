//! The tree's paths lead back to its root for every size and leaf, a changed field or a proof of
//! another receipt fails, and both versions' messages are what the crate's documentation says.

use super::*;
use smartcode_api::Money;

fn receipt(id: &str, memo: Option<&str>) -> ReceiptJson {
    ReceiptJson {
        id: id.into(),
        payer_id: "pp_0123".into(),
        payee: "P-4WZ8N-K3QJD".into(),
        payee_id: "c_1".into(),
        amount: Money {
            amount: "0.25".into(),
            currency: "USD".into(),
        },
        memo: memo.map(Into::into),
        category: Some("music".into()),
        item: None,
        created_at: "2026-12-02T08:00:00Z".into(),
        broker: "broker.example".into(),
        version: None,
        signature: String::new(),
        batch: None,
        approval: None,
    }
}

#[test]
fn every_leaf_of_every_size_leads_to_the_root() {
    for size in 1..=33u64 {
        let leaves: Vec<[u8; 32]> = (0..size).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let tree = Tree::build(leaves.clone()).unwrap();
        for (index, leaf) in leaves.iter().enumerate() {
            let path = tree.path(index);
            assert_eq!(root_from_path(*leaf, index as u64, size, &path), Some(tree.root()));
            // Another place, or a path cut or stretched, does not.
            let other = (index as u64 + 1) % size;
            if size > 1 {
                assert_ne!(root_from_path(*leaf, other, size, &path), Some(tree.root()));
            }
            let mut longer = path.clone();
            longer.push([0; 32]);
            assert_eq!(root_from_path(*leaf, index as u64, size, &longer), None);
            if !path.is_empty() {
                assert_eq!(root_from_path(*leaf, index as u64, size, &path[1..]), None);
            }
        }
        assert_eq!(root_from_path(leaves[0], size, size, &[]), None);
    }
    assert!(Tree::build(Vec::new()).is_none());
}

#[test]
fn a_leaf_never_passes_for_a_node() {
    let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
    let mut joined = a.to_vec();
    joined.extend_from_slice(&b);
    assert_ne!(leaf_hash(&joined), node_hash(&a, &b));
}

#[test]
fn each_receipt_of_a_batch_verifies_alone_and_a_changed_field_does_not() {
    let key = SigningKey::from_bytes(&[9; 32]);
    let public = key.verifying_key();
    let mut batch: Vec<ReceiptJson> = (0..7).map(|i| receipt(&format!("r_{i}"), Some("a song"))).collect();
    seal_batch(&key, &mut batch);
    let signature = &batch[0].signature;
    assert!(
        batch.iter().all(|r| &r.signature == signature),
        "one signature for the batch"
    );
    for r in &batch {
        assert_eq!(verify(r, &public), Ok(Version::V2));
    }
    let mut tampered = batch[3].clone();
    tampered.memo = Some("a symphony".into());
    assert_eq!(verify(&tampered, &public), Err(ReceiptError::ProofMismatch));
    let mut tampered = batch[3].clone();
    tampered.memo = None;
    assert_eq!(verify(&tampered, &public), Err(ReceiptError::ProofMismatch));
    let mut tampered = batch[3].clone();
    tampered.category = Some("bakery".into());
    assert_eq!(verify(&tampered, &public), Err(ReceiptError::ProofMismatch));
    // Another receipt's proof is not this one's.
    let mut swapped = batch[3].clone();
    swapped.batch = batch[4].batch.clone();
    assert_eq!(verify(&swapped, &public), Err(ReceiptError::ProofMismatch));
    // A root and path made up to fit a changed receipt lack the broker's signature.
    let mut forged = batch[3].clone();
    forged.amount.amount = "25.00".into();
    let forger = SigningKey::from_bytes(&[1; 32]);
    seal_batch(&forger, std::slice::from_mut(&mut forged));
    assert_eq!(verify(&forged, &public), Err(ReceiptError::BadSignature));
    forged.version = Some("smartcode-receipt-v9".into());
    assert!(matches!(verify(&forged, &public), Err(ReceiptError::UnknownVersion(_))));
}

#[test]
fn a_version_1_receipt_still_verifies() {
    let key = SigningKey::from_bytes(&[9; 32]);
    let mut old = receipt("r_old", Some("a song"));
    old.signature = hex::encode(key.sign(message_v1(&old).as_bytes()).to_bytes());
    assert_eq!(verify(&old, &key.verifying_key()), Ok(Version::V1));
    old.amount.amount = "0.26".into();
    assert_eq!(verify(&old, &key.verifying_key()), Err(ReceiptError::BadSignature));
}

#[test]
fn the_messages_are_the_documented_bytes() {
    let r = receipt("r_1", Some("two\nlines"));
    assert_eq!(
        String::from_utf8(message_v2(&r)).unwrap(),
        "smartcode-receipt-v2\nid 3 r_1\nbroker 14 broker.example\npayer_id 7 pp_0123\npayee 13 P-4WZ8N-K3QJD\n\
         payee_id 3 c_1\namount 4 0.25\ncurrency 3 USD\nmemo 9 two\nlines\ncategory 5 music\nitem -\n\
         created_at 20 2026-12-02T08:00:00Z\n"
    );
    assert_eq!(
        message_v1(&r),
        "smartcode-receipt-v1\nr_1\npp_0123\nP-4WZ8N-K3QJD\n0.25\nUSD\n2026-12-02T08:00:00Z\n"
    );
    assert_eq!(
        root_message(3, &[0xab; 32]),
        format!("smartcode-receipt-v2-root\n3\n{}\n", "ab".repeat(32))
    );
}

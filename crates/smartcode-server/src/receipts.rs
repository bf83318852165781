//! Receipts signed in batches (`smartcode-receipt-v2`): one Ed25519 signature for every receipt
//! waiting to be signed, over the root of a Merkle tree of them, instead of one per receipt.
//!
//! A handler that has a receipt to answer hashes it into its leaf (on its own thread) and hands
//! the leaf to the [`ReceiptSigner`]'s thread. That thread takes every leaf waiting (up to
//! [`RECEIPT_BATCH_RECEIPTS_MAX`]), builds the tree, signs its root once and gives each handler
//! the signed batch and its index; the handler reads its own path off the tree. Under load the
//! receipts of one commit batch are answered together and so wait together: they are signed
//! together (and with whatever else waits). Under light load a batch is one receipt, signed as
//! soon as it comes, so no receipt waits for others. The signer never sees a secret: receipts
//! hold none.

use std::sync::Arc;

use smartcode_api::ReceiptJson;
use smartcode_core::limits::{RECEIPT_BATCH_RECEIPTS_MAX, RECEIPT_SIGN_QUEUE_MAX};
use smartcode_receipt::{leaf_hash, message_v2, Sealed};
use tokio::sync::{mpsc, oneshot};

use crate::problem::ApiError;

struct Job {
    leaf: [u8; 32],
    signed: oneshot::Sender<(Arc<Sealed>, usize)>,
}

/// The handle of the signing thread; the thread ends when the last handle is dropped.
pub struct ReceiptSigner {
    jobs: mpsc::Sender<Job>,
}

impl ReceiptSigner {
    /// Starts the signing thread with the broker's receipt signing key.
    pub fn start(key: ed25519_dalek::SigningKey) -> ReceiptSigner {
        let (jobs, waiting) = mpsc::channel(RECEIPT_SIGN_QUEUE_MAX);
        std::thread::Builder::new()
            .name("receipt-signer".into())
            .spawn(move || sign_batches(&key, waiting))
            .expect("the receipt signer's thread starts");
        ReceiptSigner { jobs }
    }

    /// Signs `receipt` in the next batch: fills its `version`, `signature` and `batch`. Waits
    /// while the queue is full; fails (a 500) only if the signing thread is gone.
    pub async fn seal(&self, mut receipt: ReceiptJson) -> Result<ReceiptJson, ApiError> {
        let leaf = leaf_hash(&message_v2(&receipt));
        let (signed, answer) = oneshot::channel();
        let gone = || {
            tracing::error!("the receipt signer is gone; a receipt could not be signed");
            ApiError::internal()
        };
        self.jobs.send(Job { leaf, signed }).await.map_err(|_| gone())?;
        let (sealed, index) = answer.await.map_err(|_| gone())?;
        sealed.fill(&mut receipt, index);
        Ok(receipt)
    }
}

/// The signing thread: waits for a leaf, takes every other one waiting, signs them as one batch.
fn sign_batches(key: &ed25519_dalek::SigningKey, mut waiting: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(RECEIPT_BATCH_RECEIPTS_MAX);
    while let Some(first) = waiting.blocking_recv() {
        batch.push(first);
        while batch.len() < RECEIPT_BATCH_RECEIPTS_MAX {
            match waiting.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let leaves: Vec<[u8; 32]> = batch.iter().map(|job| job.leaf).collect();
        let sealed = Arc::new(Sealed::sign(key, &leaves).expect("a batch holds one receipt at least"));
        crate::metrics::METRICS.receipts_signed(leaves.len());
        for (index, job) in batch.drain(..).enumerate() {
            // A handler that stopped waiting (its client went away) needs no answer.
            let _ = job.signed.send((sealed.clone(), index));
        }
    }
}

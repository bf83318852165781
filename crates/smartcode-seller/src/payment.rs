//! Checking a payment: the receipt named in `Smartcode-Payment` is read from the seller's broker,
//! its signature checked, and judged against the offer its memo names ([`crate::check`]). A
//! receipt accepted once opens the same resource again without asking the broker, for
//! [`RECEIPT_KEPT_SECONDS`](crate::RECEIPT_KEPT_SECONDS), and never opens another.

use smartcode_api::Money;

use crate::broker::BrokerUnavailable;
use crate::check::{self, Expected, Refusal};
use crate::Paywall;

/// A payment the paywall accepted. The layer puts it in the request's extensions, so the handler
/// behind may read it (`Option<Extension<PaidReceipt>>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaidReceipt {
    pub receipt_id: String,
    pub offer_id: String,
    /// The request path it paid for.
    pub resource: String,
    /// What it moved, less refunds.
    pub paid: Money,
}

/// Why a payment did not open the resource.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The payment does not pay for this resource: answer `402` again.
    #[error("payment not accepted: {}", .0.detail())]
    Refused(Refusal),
    /// The broker could not be asked: answer `503`, and never let the request through.
    #[error("the broker could not be asked: {0}")]
    BrokerUnavailable(BrokerUnavailable),
}

impl Paywall {
    /// Checks that the receipt `receipt_id` pays for `resource` (a request path): what the
    /// layer does with a request's `Smartcode-Payment`.
    pub async fn check_payment(&self, receipt_id: &str, resource: &str) -> Result<PaidReceipt, PaymentError> {
        let receipt_id = check::receipt_id(receipt_id).map_err(PaymentError::Refused)?;
        if let Some(known) = self.remembered(receipt_id, resource)? {
            return Ok(known);
        }
        let outcome = self.ask_broker(receipt_id, resource).await;
        match &outcome {
            Ok(paid) => {
                tracing::info!(receipt.id = %paid.receipt_id, offer.id = %paid.offer_id, resource = %resource, paid = %paid.paid.amount, "payment accepted")
            }
            Err(PaymentError::Refused(refusal)) => {
                tracing::info!(receipt.id = %receipt_id, resource = %resource, reason = refusal.reason(), "payment refused")
            }
            Err(PaymentError::BrokerUnavailable(why)) => {
                tracing::warn!(receipt.id = %receipt_id, resource = %resource, error = %why, "the broker could not be asked about a payment")
            }
        }
        outcome
    }

    /// A receipt accepted before: for this resource it opens it, for another it is refused.
    fn remembered(&self, receipt_id: &str, resource: &str) -> Result<Option<PaidReceipt>, PaymentError> {
        let now = self.shared.clock.now();
        let book = self.shared.lock_book();
        match book.receipts.get(receipt_id, now) {
            Some(paid) if paid.resource == resource => Ok(Some(paid.clone())),
            Some(_) => Err(PaymentError::Refused(Refusal::ReceiptUsed)),
            None => Ok(None),
        }
    }

    async fn ask_broker(&self, receipt_id: &str, resource: &str) -> Result<PaidReceipt, PaymentError> {
        let config = &self.shared.config;
        let fetched = self
            .shared
            .broker
            .receipt(receipt_id)
            .await
            .map_err(PaymentError::BrokerUnavailable)?
            .ok_or(PaymentError::Refused(Refusal::ReceiptNotFound))?;
        if config.verify_signatures {
            let key = self
                .shared
                .broker
                .receipt_key()
                .await
                .map_err(PaymentError::BrokerUnavailable)?;
            smartcode_receipt::verify(&fetched.receipt, &key)
                .map_err(|_| PaymentError::Refused(Refusal::BadSignature))?;
        }
        let expected = Expected {
            payee: &config.payee,
            currency: config.price.currency(),
            resource,
        };
        let offer_id = check::named_offer(&fetched.receipt).map_err(PaymentError::Refused)?;
        let now = self.shared.clock.now();
        let mut book = self.shared.lock_book();
        // Asked again under the lock: the same receipt may have been accepted meanwhile.
        if let Some(paid) = book.receipts.get(receipt_id, now) {
            if paid.resource != resource {
                return Err(PaymentError::Refused(Refusal::ReceiptUsed));
            }
            return Ok(paid.clone());
        }
        let offer = book.offers.get(offer_id, now);
        let paid_units =
            check::judge(&fetched.receipt, fetched.refunded_units, &expected, offer).map_err(PaymentError::Refused)?;
        let paid = PaidReceipt {
            receipt_id: receipt_id.to_owned(),
            offer_id: offer_id.to_owned(),
            resource: resource.to_owned(),
            paid: Money {
                amount: smartcode_core::money::format_units(paid_units),
                currency: config.price.currency().to_string(),
            },
        };
        let forgotten = book.accept(paid.clone(), now);
        drop(book);
        if forgotten > 0 {
            tracing::warn!(
                forgotten,
                bound = crate::RECEIPTS_KEPT_MAX,
                "accepted receipts forgotten early: the bound is reached"
            );
        }
        Ok(paid)
    }
}

//! Certificates of assurance codes, checked offline like receipts: the exact bytes the broker
//! signs, and [`verify_certificate`].
//!
//! A certificate's *message* is the line `smartcode-certificate-v1`, then one line per field in
//! this order: `id`, `broker`, `assurance_id`, `code_id`, `floor`, `currency`, `payee`,
//! `issued_at`, `valid_until` (`floor` is the decimal amount of the certificate's `floor`), each
//! written as a receipt's fields are: its name, a space, the byte length of its value in decimal,
//! a space, the value and `\n`. The broker signs the message with Ed25519 (the key of its
//! receipts), and `signature` is that signature in hex.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use smartcode_api::CertificateJson;

use super::{field_lines, hex_array, ReceiptError};

/// The first line of a certificate's message, and its `version` field.
pub const CERTIFICATE_V1: &str = "smartcode-certificate-v1";

/// The bytes a certificate's signature covers.
pub fn certificate_message(c: &CertificateJson) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(CERTIFICATE_V1.as_bytes());
    out.push(b'\n');
    field_lines(
        &mut out,
        &[
            ("id", Some(c.id.as_str())),
            ("broker", Some(&c.broker)),
            ("assurance_id", Some(&c.assurance_id)),
            ("code_id", Some(&c.code_id)),
            ("floor", Some(&c.floor.amount)),
            ("currency", Some(&c.currency)),
            ("payee", Some(&c.payee)),
            ("issued_at", Some(&c.issued_at)),
            ("valid_until", Some(&c.valid_until)),
        ],
    );
    out
}

/// Signs a certificate in place (its `version` and `signature` set).
pub fn sign_certificate(key: &SigningKey, certificate: &mut CertificateJson) {
    certificate.version = CERTIFICATE_V1.to_owned();
    certificate.signature = hex::encode(key.sign(&certificate_message(certificate)).to_bytes());
}

/// Checks a certificate's signature against the broker's public key, offline. Whether it is still
/// valid is the reader's to judge against `valid_until`.
pub fn verify_certificate(certificate: &CertificateJson, key: &VerifyingKey) -> Result<(), ReceiptError> {
    if certificate.version != CERTIFICATE_V1 {
        return Err(ReceiptError::UnknownVersion(certificate.version.clone()));
    }
    let signature = Signature::from_bytes(&hex_array::<64>(&certificate.signature, "signature")?);
    key.verify_strict(&certificate_message(certificate), &signature)
        .map_err(|_| ReceiptError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use smartcode_api::Money;

    fn certificate() -> CertificateJson {
        CertificateJson {
            version: String::new(),
            id: "h_0000000000000001".into(),
            assurance_id: "a_0000000000000001".into(),
            code_id: "c_0000000000000001".into(),
            floor: Money {
                amount: "5.00".into(),
                currency: "USD".into(),
            },
            currency: "USD".into(),
            broker: "broker.example".into(),
            payee: "P-4WZ8N-K3QJD".into(),
            issued_at: "2026-12-02T08:00:00Z".into(),
            valid_until: "2026-12-02T08:05:00Z".into(),
            signature: String::new(),
        }
    }

    #[test]
    fn a_signed_certificate_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let mut signed = certificate();
        sign_certificate(&key, &mut signed);
        assert_eq!(verify_certificate(&signed, &key.verifying_key()), Ok(()));
        let other = SigningKey::from_bytes(&[8; 32]);
        assert_eq!(
            verify_certificate(&signed, &other.verifying_key()),
            Err(ReceiptError::BadSignature)
        );
        let changes: [fn(&mut CertificateJson); 5] = [
            |c| c.floor.amount = "50.00".into(),
            |c| c.payee = "P-00000-00000".into(),
            |c| c.valid_until = "2026-12-03T08:05:00Z".into(),
            |c| c.code_id = "c_0000000000000002".into(),
            |c| c.broker = "other.example".into(),
        ];
        for change in changes {
            let mut changed = signed.clone();
            change(&mut changed);
            assert_eq!(
                verify_certificate(&changed, &key.verifying_key()),
                Err(ReceiptError::BadSignature)
            );
        }
    }
}

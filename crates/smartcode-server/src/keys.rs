//! Everything the broker derives from its broker key: code hashes, request fingerprints, payer
//! pseudonyms, the cipher for remembered responses and the receipt signing key. Each use has its own subkey
//! (HKDF-SHA256 with a distinct label), so no two uses ever share key material.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use smartcode_core::code::{BrokerKey, CodeHash, CodeId, SecretCode, ALPHABET};

/// Symbols of a payer pseudonym after its `pp_`, five bits each.
const PSEUDONYM_SYMBOLS: usize = 16;

pub struct Keys {
    broker: BrokerKey,
    fingerprint: [u8; 32],
    pseudonyms: [u8; 32],
    responses: ChaCha20Poly1305,
    signing: SigningKey,
    guard: [u8; 32],
    federation: SigningKey,
    webhooks: [u8; 32],
}

fn subkey(broker: &BrokerKey, label: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    Hkdf::<Sha256>::new(None, broker.expose_bytes())
        .expand(label.as_bytes(), &mut out)
        .expect("32 bytes is a valid HKDF length");
    out
}

/// HMAC-SHA256 under `key` over the parts, each prefixed with its length so no two lists of
/// parts give the same input.
fn tag(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

impl Keys {
    pub fn derive(broker: BrokerKey) -> Keys {
        let responses = ChaCha20Poly1305::new(&subkey(&broker, "smartcode remembered responses v1").into());
        let signing = SigningKey::from_bytes(&subkey(&broker, "smartcode receipt signing v1"));
        let fingerprint = subkey(&broker, "smartcode request fingerprints v1");
        let pseudonyms = subkey(&broker, "smartcode payer pseudonyms v1");
        let guard = subkey(&broker, "smartcode guessing defence tokens v1");
        let federation = SigningKey::from_bytes(&subkey(&broker, "smartcode federation signing v1"));
        let webhooks = subkey(&broker, "smartcode webhook secrets v1");
        Keys {
            webhooks,
            guard,
            federation,
            broker,
            fingerprint,
            pseudonyms,
            responses,
            signing,
        }
    }

    /// The secret that signs a webhook subscription's deliveries: `whsec_` and the hex of an
    /// HMAC-SHA256, under a key derived from the broker key, of its id and generation. Never
    /// stored: derived again for each delivery, and a rotation (the next generation) makes another.
    pub fn webhook_secret(&self, id: &smartcode_core::code::WebhookId, generation: u32) -> String {
        let digest = tag(&self.webhooks, &[id.as_str().as_bytes(), &generation.to_be_bytes()]);
        format!("whsec_{}", hex::encode(digest))
    }

    pub fn hash_code(&self, code: &SecretCode) -> CodeHash {
        self.broker.hash_code(code)
    }

    pub fn hash_assurance(&self, code: &smartcode_core::code::AssuranceCode) -> CodeHash {
        self.broker.hash_assurance(code)
    }

    pub fn hash_numeric(&self, code: &smartcode_core::numeric::NumericCode) -> CodeHash {
        self.broker.hash_numeric(code)
    }

    /// A keyed digest of the given parts. Keyed, because request bodies may hold a secret code and
    /// a plain hash of a short code could be reversed by trying every code.
    pub fn fingerprint(&self, parts: &[&[u8]]) -> [u8; 32] {
        tag(&self.fingerprint, parts)
    }

    /// The tag of a token the guessing defence hands out (a proof, a seller key, a challenge):
    /// HMAC-SHA256 over the length-prefixed parts, under a subkey of its own.
    pub fn guard_tag(&self, parts: &[&[u8]]) -> [u8; 32] {
        tag(&self.guard, parts)
    }

    /// What a seller sees of a payer: `pp_` and 16 symbols (80 bits) of an HMAC-SHA256, under a key
    /// derived from the broker key, of the seller's code id (the payee's owner) and the payer's.
    /// The same for one seller every time, so refunds and disputes can name the payer; unrelated
    /// between two sellers, so they cannot tell that one code paid both; and not reversible
    /// without the broker key (code ids are not secret, so a plain hash could be tried).
    pub fn payer_pseudonym(&self, seller: &CodeId, payer: &CodeId) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.pseudonyms).expect("HMAC takes any key length");
        for part in [seller.as_str(), payer.as_str()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        let digest = mac.finalize().into_bytes();
        let symbols = digest[..PSEUDONYM_SYMBOLS]
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(b & 31)].to_ascii_lowercase()));
        format!("pp_{}", symbols.collect::<String>())
    }

    /// Encrypts a response before it is remembered for replays: it may hold a new secret code.
    pub fn seal(&self, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut sealed = nonce.to_vec();
        sealed.extend(
            self.responses
                .encrypt(Nonce::from_slice(&nonce), plain)
                .expect("encryption of a small body succeeds"),
        );
        sealed
    }

    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < 12 {
            return None;
        }
        let (nonce, cipher) = sealed.split_at(12);
        self.responses.decrypt(Nonce::from_slice(nonce), cipher).ok()
    }

    /// Signs `message` alone (hex). Receipts are signed in batches by [`crate::receipts`]; this
    /// signs what must stand on its own.
    pub fn sign(&self, message: &[u8]) -> String {
        hex::encode(self.signing.sign(message).to_bytes())
    }

    /// The receipt signing key, for the signer's thread.
    pub fn receipt_signing_key(&self) -> SigningKey {
        self.signing.clone()
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The key other brokers pin for this one's messages (`federation.signing_key`): a subkey of
    /// its own, so a signed receipt can never pass for a message between brokers.
    pub fn federation_key(&self) -> VerifyingKey {
        self.federation.verifying_key()
    }

    /// The key this broker signs its messages to peers and its approvals with.
    pub fn federation_signing_key(&self) -> &SigningKey {
        &self.federation
    }
}

/// Hashes a PIN with argon2id and a fresh random salt, as a PHC string. Costly by design: call it
/// off the async threads (`spawn_blocking`).
pub fn hash_pin(pin: &smartcode_core::ledger::controls::Pin) -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon2::Argon2::default()
        .hash_password(pin.expose().as_bytes(), &salt)
        .expect("argon2 hashes any PIN")
        .to_string()
}

/// Checks a PIN against its stored PHC string. A malformed stored hash never matches.
pub fn verify_pin(pin: &smartcode_core::ledger::controls::Pin, pin_hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(pin_hash).is_ok_and(|parsed| {
        argon2::Argon2::default()
            .verify_password(pin.expose().as_bytes(), &parsed)
            .is_ok()
    })
}

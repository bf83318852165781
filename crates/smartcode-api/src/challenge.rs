//! The proof of work a broker may ask of a source it does not know (API.md, "The guessing
//! defence serves honest people during an attack"): the challenge as sent in the
//! `Smartcode-Challenge` header, and the work itself, shared by the broker that checks it and the
//! clients that do it.
//!
//! The work: find a decimal `nonce` such that SHA-256 of the challenge's salt (its bytes, from the
//! hex) followed by the ASCII digits of `nonce` starts with `difficulty_bits` zero bits.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The header a challenge comes in, and the one its answer goes back in (`<id>:<nonce>`).
pub const CHALLENGE_HEADER: &str = "smartcode-challenge";
pub const CHALLENGE_RESPONSE_HEADER: &str = "smartcode-challenge-response";

/// A challenge, as the broker sends it: base64url of this JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChallengeJson {
    pub id: String,
    pub algorithm: String,
    pub difficulty_bits: u32,
    /// Hex.
    pub salt: String,
    pub expires_at: String,
}

impl ChallengeJson {
    /// The header value: base64url (no padding) of the JSON.
    pub fn to_header(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("a challenge serializes"))
    }

    pub fn from_header(value: &str) -> Option<ChallengeJson> {
        let bytes = URL_SAFE_NO_PAD.decode(value.trim()).ok()?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Does the work and gives the answer to send back, or `None` if the challenge is not one
    /// this client can do (another algorithm, a salt that is not hex) or asks more than
    /// `bits_max` bits (2^bits hashes on average).
    pub fn answer(&self, bits_max: u32) -> Option<String> {
        if self.algorithm != "sha256" || self.difficulty_bits > bits_max {
            return None;
        }
        let salt = decode_hex(&self.salt)?;
        let nonce = solve(&salt, self.difficulty_bits);
        Some(format!("{}:{nonce}", self.id))
    }
}

/// The leading zero bits of SHA-256(salt ‖ nonce).
pub fn work_bits(salt: &[u8], nonce: &str) -> u32 {
    leading_zero_bits(
        &Sha256::new()
            .chain_update(salt)
            .chain_update(nonce.as_bytes())
            .finalize(),
    )
}

/// The first nonce, counting from 0, whose work meets `bits`.
pub fn solve(salt: &[u8], bits: u32) -> u64 {
    let salted = Sha256::new().chain_update(salt);
    (0u64..)
        .find(|nonce| leading_zero_bits(&salted.clone().chain_update(nonce.to_string().as_bytes()).finalize()) >= bits)
        .expect("some nonce below 2^64 meets any difficulty a broker asks")
}

fn leading_zero_bits(digest: &[u8]) -> u32 {
    let mut bits = 0;
    for byte in digest {
        if *byte != 0 {
            return bits + byte.leading_zeros();
        }
        bits += 8;
    }
    bits
}

/// The bytes of a hex text (a challenge's salt), or `None` if it is not hex.
pub fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_solution_meets_its_difficulty_and_a_header_round_trips() {
        let salt = [7u8; 16];
        let nonce = solve(&salt, 12);
        assert!(work_bits(&salt, &nonce.to_string()) >= 12);
        let challenge = ChallengeJson {
            id: "abc".into(),
            algorithm: "sha256".into(),
            difficulty_bits: 10,
            salt: "07".repeat(16),
            expires_at: "2027-01-01T00:00:00Z".into(),
        };
        assert_eq!(
            ChallengeJson::from_header(&challenge.to_header()),
            Some(challenge.clone())
        );
        let answer = challenge.answer(20).expect("within reach");
        let (id, nonce) = answer.split_once(':').unwrap();
        assert_eq!(id, "abc");
        assert!(work_bits(&salt, nonce) >= 10);
        assert_eq!(challenge.answer(9), None, "more bits than the client allows");
    }
}

//! The tokens of the guessing defence, each a keyed tag the broker can check without storing it:
//!
//! - a **proof** (`pf1.<tree>.<issued seconds>.<tag>`) that a holder presented a code of `tree`
//!   successfully, kept by the pages (a cookie) and the CLI (a file) and sent back as
//!   `Smartcode-Proof`; good for [`PROOF_VALID_SECONDS`];
//! - a **seller key** (`sk1.<tree>.<tag>`) that a public code's owner gives its server, sent as
//!   `Smartcode-Seller` when the server presents its buyers' codes;
//! - a **challenge id** (`<salt>.<bits>.<expires seconds>.<tag>`): self-contained, so any broker
//!   process sharing the store can check an answer; used once (the store remembers it until it
//!   expires).
//!
//! Trees are code ids (`c_` and 26 base32 characters), so no part holds a `.`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use smartcode_api::challenge::{decode_hex, work_bits, ChallengeJson};
use smartcode_core::clock::{Timestamp, MICROS_PER_SECOND};
use smartcode_core::limits::{CHALLENGE_SECONDS, PROOF_VALID_SECONDS};

use crate::keys::Keys;

/// Tags are cut to 16 bytes: 2^128 is far beyond forging by trying.
const TAG_BYTES: usize = 16;
const SALT_BYTES: usize = 16;
/// The longest token text read; anything longer is not a token of this broker.
const TOKEN_CHARS_MAX: usize = 200;

fn tag(keys: &Keys, kind: &str, parts: &[&str]) -> String {
    let mut all: Vec<&[u8]> = vec![kind.as_bytes()];
    all.extend(parts.iter().map(|part| part.as_bytes()));
    URL_SAFE_NO_PAD.encode(&keys.guard_tag(&all)[..TAG_BYTES])
}

/// Compares tags in time that does not depend on where they differ.
fn tags_match(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn is_tree(text: &str) -> bool {
    text.len() <= 64 && text.starts_with("c_") && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn seconds(at: Timestamp) -> i64 {
    at.0.div_euclid(MICROS_PER_SECOND)
}

/// A proof for `tree`, issued at `now`; and when it stops being good.
pub fn make_proof(keys: &Keys, tree: &str, now: Timestamp) -> (String, Timestamp) {
    let issued = seconds(now).to_string();
    let proof = format!("pf1.{tree}.{issued}.{}", tag(keys, "proof", &[tree, &issued]));
    (proof, Timestamp(now.0 + PROOF_VALID_SECONDS * MICROS_PER_SECOND))
}

/// The tree a proof names, if it is this broker's, unexpired, and not from the future.
pub fn check_proof(keys: &Keys, text: &str, now: Timestamp) -> Option<String> {
    if text.len() > TOKEN_CHARS_MAX {
        return None;
    }
    let mut parts = text.trim().split('.');
    let (Some("pf1"), Some(tree), Some(issued), Some(given), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let issued_at: i64 = issued.parse().ok()?;
    let now_seconds = seconds(now);
    let fresh = issued_at <= now_seconds + 60 && now_seconds - issued_at < PROOF_VALID_SECONDS;
    (is_tree(tree) && fresh && tags_match(given, &tag(keys, "proof", &[tree, issued]))).then(|| tree.to_owned())
}

pub fn make_seller_key(keys: &Keys, tree: &str) -> String {
    format!("sk1.{tree}.{}", tag(keys, "seller", &[tree]))
}

/// The seller's tree a seller key names, if it is this broker's.
pub fn check_seller_key(keys: &Keys, text: &str) -> Option<String> {
    if text.len() > TOKEN_CHARS_MAX {
        return None;
    }
    let mut parts = text.trim().split('.');
    let (Some("sk1"), Some(tree), Some(given), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return None;
    };
    (is_tree(tree) && tags_match(given, &tag(keys, "seller", &[tree]))).then(|| tree.to_owned())
}

/// A new challenge of `bits`, as the header carries it.
pub fn make_challenge(keys: &Keys, bits: u32, now: Timestamp) -> ChallengeJson {
    let mut salt = [0u8; SALT_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt: String = salt.iter().map(|b| format!("{b:02x}")).collect();
    let expires = Timestamp(now.0 + CHALLENGE_SECONDS * MICROS_PER_SECOND);
    let (bits, expires_seconds) = (bits.to_string(), seconds(expires).to_string());
    let tag = tag(keys, "challenge", &[&salt, &bits, &expires_seconds]);
    ChallengeJson {
        id: format!("{salt}.{bits}.{expires_seconds}.{tag}"),
        algorithm: "sha256".into(),
        difficulty_bits: bits.parse().expect("written above"),
        salt,
        expires_at: expires.to_rfc3339(),
    }
}

/// A checked answer: the challenge's id, its difficulty and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    pub id: String,
    pub bits: u32,
    pub expires_at: Timestamp,
}

/// Why an answer is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadAnswer {
    /// Not `<id>:<nonce>`, not this broker's challenge, or work that does not meet it.
    Wrong,
    Expired,
}

/// Checks `<id>:<nonce>`: the id is this broker's, unexpired, and the work meets its bits. Whether
/// it was used already is the store's to say.
pub fn check_answer(keys: &Keys, text: &str, now: Timestamp) -> Result<Answered, BadAnswer> {
    if text.len() > TOKEN_CHARS_MAX {
        return Err(BadAnswer::Wrong);
    }
    let (id, nonce) = text.trim().split_once(':').ok_or(BadAnswer::Wrong)?;
    let mut parts = id.split('.');
    let (Some(salt), Some(bits), Some(expires), Some(given), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BadAnswer::Wrong);
    };
    if !tags_match(given, &tag(keys, "challenge", &[salt, bits, expires])) {
        return Err(BadAnswer::Wrong);
    }
    let (bits, expires): (u32, i64) = match (bits.parse(), expires.parse()) {
        (Ok(bits), Ok(expires)) => (bits, expires),
        _ => return Err(BadAnswer::Wrong),
    };
    let expires_at = Timestamp(expires.saturating_mul(MICROS_PER_SECOND));
    if expires_at < now {
        return Err(BadAnswer::Expired);
    }
    let nonce_ok = !nonce.is_empty() && nonce.len() <= 20 && nonce.bytes().all(|b| b.is_ascii_digit());
    match decode_hex(salt) {
        Some(salt) if nonce_ok && work_bits(&salt, nonce) >= bits => Ok(Answered {
            id: id.to_owned(),
            bits,
            expires_at,
        }),
        _ => Err(BadAnswer::Wrong),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smartcode_api::challenge::solve;

    fn keys() -> Keys {
        Keys::derive(smartcode_core::code::BrokerKey::from_bytes([9; 32]))
    }

    #[test]
    fn a_proof_is_good_for_its_tree_until_it_expires_and_never_when_altered() {
        let keys = keys();
        let now = Timestamp(1_700_000_000 * MICROS_PER_SECOND);
        let (proof, until) = make_proof(&keys, "c_ABC", now);
        assert_eq!(check_proof(&keys, &proof, now).as_deref(), Some("c_ABC"));
        assert_eq!(
            check_proof(&keys, &proof, Timestamp(until.0 - MICROS_PER_SECOND)).as_deref(),
            Some("c_ABC")
        );
        assert_eq!(check_proof(&keys, &proof, until), None, "expired");
        assert_eq!(
            check_proof(&keys, &proof.replace("c_ABC", "c_ABD"), now),
            None,
            "another tree"
        );
        let other = Keys::derive(smartcode_core::code::BrokerKey::from_bytes([8; 32]));
        assert_eq!(check_proof(&other, &proof, now), None, "another broker's");
        let key = make_seller_key(&keys, "c_ABC");
        assert_eq!(check_seller_key(&keys, &key).as_deref(), Some("c_ABC"));
        assert_eq!(check_seller_key(&keys, &proof), None, "a proof is not a seller key");
        assert_eq!(check_proof(&keys, &key, now), None, "nor the other way round");
    }

    #[test]
    fn an_answer_must_meet_the_challenge_and_come_in_time() {
        let keys = keys();
        let now = Timestamp(1_700_000_000 * MICROS_PER_SECOND);
        let challenge = make_challenge(&keys, 8, now);
        let salt = decode_hex(&challenge.salt).unwrap();
        let nonce = solve(&salt, 8);
        let answer = format!("{}:{nonce}", challenge.id);
        let answered = check_answer(&keys, &answer, now).expect("a right answer");
        assert_eq!(answered.bits, 8);
        let late = Timestamp(now.0 + (CHALLENGE_SECONDS + 1) * MICROS_PER_SECOND);
        assert_eq!(check_answer(&keys, &answer, late), Err(BadAnswer::Expired));
        let easier = challenge.id.replace(".8.", ".1.");
        assert_eq!(
            check_answer(&keys, &format!("{easier}:{nonce}"), now),
            Err(BadAnswer::Wrong)
        );
        let wrong = (0u64..).find(|n| work_bits(&salt, &n.to_string()) < 8).unwrap();
        assert_eq!(
            check_answer(&keys, &format!("{}:{wrong}", challenge.id), now),
            Err(BadAnswer::Wrong)
        );
        assert_eq!(check_answer(&keys, "nonsense", now), Err(BadAnswer::Wrong));
    }
}

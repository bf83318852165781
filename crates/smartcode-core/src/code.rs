//! Secret codes, public codes and code ids: how they look, how they are read forgivingly, how they
//! are drawn from the operating system's random generator, and how secret codes are hashed.
//!
//! A secret code is, by default, 8 symbols of Crockford base32 (`7KQ2-M9XD`): 32^8 is over a
//! million million; a broker may issue another format ([`crate::format`]). A public code is a `P`
//! and 10 symbols (`P-4WZ8N-K3QJD`) on every broker: always starting with `P-`, so the two never
//! look alike and a public code can never be taken for a payment code.

use std::fmt;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

use crate::clock::Timestamp;
use crate::format::CodeFormat;

/// Crockford's base32 alphabet: digits and upper-case letters without I, L, O and U.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols in a public code after its `P`.
pub const PUBLIC_CODE_SYMBOLS: usize = 10;
pub use crate::limits::CODE_INPUT_CHARS_MAX;

/// A secret code, normalized. Its `Debug` never shows the code.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretCode(String);

/// A public code, normalized (`P` followed by ten symbols, without hyphens).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicCode(Arc<str>);

/// What a presented code turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedCode {
    Secret(SecretCode),
    Public(PublicCode),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeFormatError {
    #[error("not a code of this broker: a secret code of its format (code_formats in /.well-known/smartcode) or P and 10 symbols (public)")]
    Malformed,
    #[error("the code names another broker; codes of other brokers are not accepted yet")]
    OtherBroker,
}

/// Maps one input character to its alphabet symbol: case is ignored and look-alikes map to digits.
fn normalize_symbol(c: char) -> Option<u8> {
    let upper = c.to_ascii_uppercase();
    let mapped = match upper {
        'O' => '0',
        'I' | 'L' => '1',
        other => other,
    };
    let byte = u8::try_from(mapped).ok()?;
    ALPHABET.contains(&byte).then_some(byte)
}

/// Reads a code as a person might type it: case, spaces and hyphens are ignored, `O` is read as
/// `0` and `I`/`L` as `1`; a secret code must be of this broker's `format`. A code may carry its
/// broker after `@`; only this broker's (`local_broker`) or none is accepted for now, and the text
/// before `@` stays opaque to everything but this parser.
pub fn parse_code(text: &str, local_broker: &str, format: CodeFormat) -> Result<ParsedCode, CodeFormatError> {
    if text.chars().count() > CODE_INPUT_CHARS_MAX {
        return Err(CodeFormatError::Malformed);
    }
    let (local, broker) = match text.rsplit_once('@') {
        Some((local, broker)) => (local, Some(broker.trim())),
        None => (text, None),
    };
    if let Some(broker) = broker {
        if !broker.eq_ignore_ascii_case(local_broker) {
            return Err(CodeFormatError::OtherBroker);
        }
    }
    let mut symbols = Vec::with_capacity(PUBLIC_CODE_SYMBOLS + 1);
    for c in local.chars() {
        if c == ' ' || c == '-' || c == '\t' {
            continue;
        }
        symbols.push(normalize_symbol(c).ok_or(CodeFormatError::Malformed)?);
    }
    let secret = format.fits(&symbols);
    let normalized = String::from_utf8(symbols).expect("alphabet is ASCII");
    if secret {
        return Ok(ParsedCode::Secret(SecretCode(normalized)));
    }
    match normalized.len() {
        n if n == PUBLIC_CODE_SYMBOLS + 1 && normalized.starts_with('P') => {
            Ok(ParsedCode::Public(PublicCode(normalized.into())))
        }
        _ => Err(CodeFormatError::Malformed),
    }
}

/// `count` random symbols from `rng`, upper-case.
fn random_symbols(rng: &mut impl RngCore, count: usize) -> String {
    let mut symbols = String::with_capacity(count);
    push_random_symbols(&mut symbols, rng, count);
    symbols
}

fn push_random_symbols(out: &mut String, rng: &mut impl RngCore, count: usize) {
    // 32 symbols divide 256 evenly, so taking the low five bits of each byte has no bias.
    let mut bytes = [0u8; 32];
    let mut left = count;
    while left > 0 {
        let chunk = &mut bytes[..left.min(32)];
        rng.fill_bytes(chunk);
        out.extend(chunk.iter().map(|b| char::from(ALPHABET[usize::from(b & 31)])));
        left -= chunk.len();
    }
}

/// A new id: `prefix`, the time `at` if given, then `random` symbols from `rng`, all lower-case.
/// Ids must not be guessable either (a receipt id lets its holder read the receipt), so `rng` is a
/// CSPRNG: the ledger's [`crate::ledger::Draws`], seeded by the caller from the thread's generator
/// (itself seeded from the operating system and reseeded as it goes) instead of a system call
/// each. Secret codes and keys still come straight from the operating system.
fn new_id(prefix: &str, at: Option<Timestamp>, random: usize, rng: &mut impl RngCore) -> String {
    let mut id = String::with_capacity(prefix.len() + TIME_SYMBOLS + random);
    id.push_str(prefix);
    if let Some(at) = at {
        push_time_symbols(&mut id, at);
    }
    push_random_symbols(&mut id, rng, random);
    id.make_ascii_lowercase();
    id
}

impl SecretCode {
    /// Draws a new secret code of the default format ([`CodeFormat::generate`] for another).
    pub fn generate() -> SecretCode {
        CodeFormat::DEFAULT.generate()
    }

    /// Normalized symbols: a code just drawn, an authorization code, a secret code's alias.
    pub(crate) fn from_symbols(symbols: String) -> SecretCode {
        SecretCode(symbols)
    }

    /// The code for showing once to its holder, grouped by four for reading: `7KQ2-M9XD`.
    pub fn reveal(&self) -> String {
        crate::numeric::grouped(&self.0)
    }

    /// The normalized symbols, for hashing and for clients that send the code.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretCode(<redacted>)")
    }
}

impl PublicCode {
    pub fn generate() -> PublicCode {
        PublicCode(format!("P{}", random_symbols(&mut OsRng, PUBLIC_CODE_SYMBOLS)).into())
    }

    /// Rebuilds a public code read back from the store, where it was kept normalized.
    pub fn from_stored(normalized: &str) -> Option<PublicCode> {
        match parse_code(normalized, "", CodeFormat::DEFAULT) {
            Ok(ParsedCode::Public(code)) => Some(code),
            _ => None,
        }
    }

    /// The normalized form, as stored.
    pub fn as_stored(&self) -> &str {
        &self.0
    }
}

/// Public codes are shown as `P-4WZ8N-K3QJD`.
impl fmt::Display for PublicCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P-{}-{}", &self.0[1..6], &self.0[6..])
    }
}

impl fmt::Debug for PublicCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicCode({self})")
    }
}

/// Symbols in an assurance code after its `A`.
pub const ASSURANCE_CODE_SYMBOLS: usize = 10;

/// An assurance code, normalized (`A` and ten symbols): a shape of its own, so it can never be
/// the same text as a secret code (which pays) and never be taken for one. Its `Debug` never
/// shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AssuranceCode(String);

impl AssuranceCode {
    pub fn generate() -> AssuranceCode {
        AssuranceCode(format!("A{}", random_symbols(&mut OsRng, ASSURANCE_CODE_SYMBOLS)))
    }

    /// Reads an assurance code as a person might type it (case, spaces and hyphens ignored,
    /// look-alikes read as digits, as for every code).
    pub fn parse(text: &str) -> Option<AssuranceCode> {
        if text.chars().count() > CODE_INPUT_CHARS_MAX {
            return None;
        }
        let mut symbols = String::with_capacity(ASSURANCE_CODE_SYMBOLS + 1);
        let mut chars = text.chars().filter(|c| !matches!(c, ' ' | '-' | '\t'));
        if !chars.next().is_some_and(|c| c.eq_ignore_ascii_case(&'A')) {
            return None;
        }
        symbols.push('A');
        for c in chars {
            symbols.push(char::from(normalize_symbol(c)?));
        }
        (symbols.len() == ASSURANCE_CODE_SYMBOLS + 1).then_some(AssuranceCode(symbols))
    }

    /// Shown as `A-4WZ8N-K3QJD`.
    pub fn reveal(&self) -> String {
        format!("A-{}-{}", &self.0[1..6], &self.0[6..])
    }
}

impl fmt::Debug for AssuranceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AssuranceCode(<redacted>)")
    }
}

/// The keyed hash of a secret code: what the store keeps instead of the code.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CodeHash(pub [u8; 32]);

impl fmt::Debug for CodeHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeHash(..)")
    }
}

/// The broker key: at least 256 bits, kept outside the store. Its `Debug` never shows it.
#[derive(Clone)]
pub struct BrokerKey([u8; 32]);

impl fmt::Debug for BrokerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrokerKey(<redacted>)")
    }
}

impl BrokerKey {
    pub fn generate() -> BrokerKey {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        BrokerKey(key)
    }

    pub fn from_bytes(bytes: [u8; 32]) -> BrokerKey {
        BrokerKey(bytes)
    }

    pub fn expose_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// HMAC-SHA256 of the normalized code under the broker key, with a domain label so the same
    /// key can derive other values without collision.
    pub fn hash_code(&self, code: &SecretCode) -> CodeHash {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"smartcode secret code v1\0");
        mac.update(code.0.as_bytes());
        CodeHash(mac.finalize().into_bytes().into())
    }

    /// The keyed hash of an assurance code, under a label of its own: what the store keeps.
    pub fn hash_assurance(&self, code: &AssuranceCode) -> CodeHash {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"smartcode assurance code v1\0");
        mac.update(code.0.as_bytes());
        CodeHash(mac.finalize().into_bytes().into())
    }

    /// The keyed hash of an all-digit code (an authorization code, or an alias of a secret or
    /// public code), under a label of its own: what the store keeps instead of the digits.
    pub fn hash_numeric(&self, code: &crate::numeric::NumericCode) -> CodeHash {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"smartcode numeric code v1\0");
        mac.update(code.expose().as_bytes());
        CodeHash(mac.finalize().into_bytes().into())
    }
}

/// Symbols that begin an ordered id and spell when it was made: milliseconds since 1970 in base
/// 32, most significant first (50 bits, enough for 35,000 years).
const TIME_SYMBOLS: usize = 10;

fn push_time_symbols(out: &mut String, at: Timestamp) {
    let millis = u64::try_from(at.0 / 1_000).unwrap_or(0);
    out.extend(
        (0..TIME_SYMBOLS)
            .rev()
            .map(|place| char::from(ALPHABET[((millis >> (5 * place)) & 31) as usize])),
    );
}

macro_rules! id_type {
    ($name:ident, $prefix:literal, $symbols:literal, $doc:literal) => {
        id_type!($name, $prefix, $symbols, $symbols, $doc);
    };
    ($name:ident, $prefix:literal, $symbols:literal, $older:literal, $doc:literal) => {
        #[doc = $doc]
        ///
        /// Shared, not copied: a clone is a reference count (ids are copied into every record,
        /// transfer and receipt that names them).
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Accepts an id only if it has exactly the shape `generate` makes (or made before
            /// its ids had the length they have now: `$older` symbols).
            pub fn parse(text: &str) -> Option<$name> {
                let rest = text.strip_prefix($prefix)?;
                let well_formed = (rest.len() == $symbols || rest.len() == $older)
                    && rest
                        .bytes()
                        .all(|b| ALPHABET.contains(&b.to_ascii_uppercase()) && !b.is_ascii_uppercase());
                well_formed.then(|| $name(text.into()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// An id of random symbols only.
macro_rules! random_id {
    ($name:ident, $prefix:literal, $symbols:literal, $doc:literal) => {
        id_type!($name, $prefix, $symbols, $doc);

        impl $name {
            /// A new id of symbols drawn from `rng` (a CSPRNG).
            pub fn draw(rng: &mut impl RngCore) -> $name {
                $name(new_id($prefix, None, $symbols, rng).into())
            }

            /// A new id from the thread's generator, for callers outside the ledger.
            pub fn generate() -> $name {
                $name::draw(&mut rand::thread_rng())
            }
        }
    };
}

/// An id that begins with the time it was made and ends in random symbols: ids made one after
/// the other sort one after the other, so the store's index of them grows at its end (a few pages
/// per commit) instead of touching a random page for each new id.
macro_rules! ordered_id {
    ($name:ident, $prefix:literal, $symbols:literal, $doc:literal) => {
        ordered_id!($name, $prefix, $symbols, $symbols, $doc);
    };
    ($name:ident, $prefix:literal, $symbols:literal, $older:literal, $doc:literal) => {
        id_type!($name, $prefix, $symbols, $older, $doc);

        impl $name {
            /// A new id for time `at`, its random symbols drawn from `rng` (a CSPRNG).
            pub fn draw_at(at: Timestamp, rng: &mut impl RngCore) -> $name {
                $name(new_id($prefix, Some(at), $symbols - TIME_SYMBOLS, rng).into())
            }

            /// A new id for time `at` from the thread's generator, for callers outside the ledger.
            pub fn generate_at(at: Timestamp) -> $name {
                $name::draw_at(at, &mut rand::thread_rng())
            }
        }
    };
}

random_id!(
    CodeId,
    "c_",
    16,
    "A code's stable, non-secret id (80 random bits). Never usable to spend."
);
random_id!(
    TransferId,
    "t_",
    16,
    "One ledger transfer's id (80 random bits). A payment's transfer has its receipt's id instead."
);
ordered_id!(
    HoldId,
    "h_",
    26,
    16,
    "A hold's id: the time it was made, then 80 random bits (ids made before holds were ordered are 80 random bits alone, and still read); the buyer's and the seller's codes read it, nobody else. Ordered, so the store's index of holds grows at its end and a capture finds a recent hold on the pages a commit just wrote."
);
random_id!(
    AssuranceId,
    "a_",
    16,
    "An assurance's id (80 random bits); its holder reads it, sellers see it in certificates."
);
random_id!(
    ApprovalId,
    "ap_",
    16,
    "A queued purchase's id (80 random bits): the buyer's code and the code whose rule stopped it read it."
);
random_id!(
    SessionId,
    "se_",
    16,
    "A metered session's id (80 random bits): not a secret; its seller charges it only with the payee owner's code."
);
random_id!(
    QuoteId,
    "q_",
    16,
    "A quote's id (80 random bits): whoever holds it may pay with the quote, once."
);
ordered_id!(
    ReceiptId,
    "r_",
    26,
    "A payment's receipt id: the time of the payment, then 80 random bits (whoever holds it may read the receipt, so it cannot be guessed)."
);
random_id!(
    WebhookId,
    "wh_",
    16,
    "A webhook subscription's id (80 random bits): its owner's code reads and changes it."
);
ordered_id!(
    EventId,
    "ev_",
    26,
    "An event's id: the time it happened, then 80 random bits. Every delivery of one event to one subscription carries it, retried or not, so a receiver can drop what it already has."
);
random_id!(
    ItemId,
    "it_",
    16,
    "An item's id (80 random bits): not a secret; its page and its purchase are public."
);

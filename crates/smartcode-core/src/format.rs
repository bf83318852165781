//! The shape of a broker's secret codes: an alphabet and a length (`serve --code-alphabet
//! crockford|digits --code-length N`), so that two brokers that agreed on nothing but the protocol
//! issue codes that look nothing alike. Public codes keep one shape everywhere (`P-` and ten
//! symbols of Crockford base32): they are shown, not guessed.
//!
//! The bounds come from the guessing arithmetic (README, "The guessing defence"): the defence lets
//! at most [`GUESSING_FAILURES_A_YEAR_BOUND`] wrong codes through a year, and a format must hold
//! enough codes that among [`GUESSING_LIVE_CODES_ASSUMED`] live ones those failures find at most
//! one code in ten years. That makes the shortest Crockford code 8 symbols (32⁸ ≈ 1.10 × 10¹²) and
//! the shortest all-digit one 13 (10¹³; 12 digits would find 0.109 codes a year). The longest are
//! 10 Crockford symbols (11 would read like a public or assurance code, a letter and ten) and 18
//! digits: past that a code is no longer short to type, and its numeric alias (as many
//! possibilities as the code, [`CodeFormat::secret_alias_digits`]) would outgrow a keypad.

use std::fmt;
use std::ops::RangeInclusive;

use rand::rngs::OsRng;
use rand::Rng;

use crate::code::{SecretCode, ALPHABET};
use crate::limits::GUESSING_FAILURES_A_YEAR_BOUND;

/// Live codes the guessing arithmetic assumes a broker has.
pub const GUESSING_LIVE_CODES_ASSUMED: u128 = 1_000_000;
/// Codes found a year by guessing, at most, in tenths (the README's bound: 0.1).
pub const GUESSING_FINDS_A_YEAR_MAX_TENTHS: u128 = 1;

/// The fewest possible codes a format may have: the most failures a year, times the live codes,
/// over the codes a year that may be found.
pub const fn code_space_min() -> u128 {
    GUESSING_FAILURES_A_YEAR_BOUND as u128 * GUESSING_LIVE_CODES_ASSUMED * 10 / GUESSING_FINDS_A_YEAR_MAX_TENTHS
}

/// What a secret code's symbols are drawn from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alphabet {
    /// Crockford's base32: digits and upper-case letters without I, L, O and U.
    Crockford,
    /// The ten digits, for brokers whose buyers type on keypads.
    Digits,
}

impl Alphabet {
    pub fn parse(text: &str) -> Option<Alphabet> {
        match text {
            "crockford" => Some(Alphabet::Crockford),
            "digits" => Some(Alphabet::Digits),
            _ => None,
        }
    }

    /// The word for it in `serve --code-alphabet`.
    pub fn as_str(self) -> &'static str {
        match self {
            Alphabet::Crockford => "crockford",
            Alphabet::Digits => "digits",
        }
    }

    pub const fn symbols(self) -> u32 {
        match self {
            Alphabet::Crockford => 32,
            Alphabet::Digits => 10,
        }
    }

    /// Whether a normalized symbol (see [`crate::code::parse_code`]) is of this alphabet.
    pub fn contains(self, symbol: u8) -> bool {
        match self {
            Alphabet::Crockford => ALPHABET.contains(&symbol),
            Alphabet::Digits => symbol.is_ascii_digit(),
        }
    }

    /// The lengths a format of this alphabet may have (see the module's doc).
    pub const fn lengths(self) -> RangeInclusive<usize> {
        let longest = match self {
            Alphabet::Crockford => 10,
            Alphabet::Digits => 18,
        };
        let mut shortest = 1;
        while (self.symbols() as u128).pow(shortest as u32) < code_space_min() {
            shortest += 1;
        }
        shortest..=longest
    }
}

/// The alphabet and length of a broker's secret codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CodeFormat {
    alphabet: Alphabet,
    length: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a {} code is {} to {} symbols", .alphabet.as_str(), .lengths.start(), .lengths.end())]
pub struct FormatError {
    pub alphabet: Alphabet,
    pub lengths: RangeInclusive<usize>,
}

impl CodeFormat {
    /// 8 symbols of Crockford base32 (`7KQ2-M9XD`).
    pub const DEFAULT: CodeFormat = CodeFormat {
        alphabet: Alphabet::Crockford,
        length: 8,
    };

    pub fn new(alphabet: Alphabet, length: usize) -> Result<CodeFormat, FormatError> {
        let lengths = alphabet.lengths();
        if !lengths.contains(&length) {
            return Err(FormatError { alphabet, lengths });
        }
        Ok(CodeFormat { alphabet, length })
    }

    pub fn alphabet(self) -> Alphabet {
        self.alphabet
    }

    pub fn length(self) -> usize {
        self.length
    }

    /// How many codes there are of this format.
    pub fn space(self) -> u128 {
        u128::from(self.alphabet.symbols()).pow(self.length as u32)
    }

    /// Whether `normalized` symbols are a secret code of this format.
    pub(crate) fn fits(self, normalized: &[u8]) -> bool {
        normalized.len() == self.length && normalized.iter().all(|&s| self.alphabet.contains(s))
    }

    /// Draws a new secret code from the operating system's cryptographic random generator.
    pub fn generate(self) -> SecretCode {
        let symbols: String = (0..self.length)
            .map(|_| match self.alphabet {
                // 32 symbols divide 256 evenly: the low five bits of a byte have no bias.
                Alphabet::Crockford => char::from(ALPHABET[usize::from(OsRng.gen::<u8>() & 31)]),
                Alphabet::Digits => char::from(b'0' + OsRng.gen_range(0..10u8)),
            })
            .collect();
        SecretCode::from_symbols(symbols)
    }

    /// A code of this format as it is shown, for documentation (`7KQ2-M9XD`, `4821-0937-5512-6`).
    pub fn example(self) -> String {
        let symbols: &[u8] = match self.alphabet {
            Alphabet::Crockford => b"7KQ2M9XDR4TW",
            Alphabet::Digits => b"482109375512604173",
        };
        crate::numeric::grouped(std::str::from_utf8(&symbols[..self.length]).expect("ASCII"))
    }

    /// A regular expression for the text a person may type for such a code (spaces, tabs and
    /// hyphens anywhere; Crockford's look-alikes and lower case), for the OpenAPI document.
    pub fn input_pattern(self) -> String {
        let symbol = match self.alphabet {
            Alphabet::Crockford => "[0-9A-TV-Za-tv-z]",
            Alphabet::Digits => "[0-9OoIiLl]",
        };
        format!("^[ \\t-]*({symbol}[ \\t-]*){{{}}}$", self.length)
    }

    /// Random digits in a secret code's numeric alias: at least 13, and enough that the alias has
    /// as many possibilities as the code it stands for.
    pub fn secret_alias_digits(self) -> usize {
        let mut digits = crate::numeric::SECRET_ALIAS_DIGITS_MIN;
        while 10u128.pow(digits as u32) < self.space() {
            digits += 1;
        }
        digits
    }
}

impl Default for CodeFormat {
    fn default() -> CodeFormat {
        CodeFormat::DEFAULT
    }
}

/// `crockford-8`, `digits-13`: the form kept beside the broker key.
impl fmt::Display for CodeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.alphabet.as_str(), self.length)
    }
}

impl std::str::FromStr for CodeFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<CodeFormat, String> {
        let (alphabet, length) = text.trim().rsplit_once('-').ok_or("not ALPHABET-LENGTH")?;
        let alphabet = Alphabet::parse(alphabet).ok_or("an alphabet is crockford or digits")?;
        let length = length.parse().map_err(|_| "a length is a number")?;
        CodeFormat::new(alphabet, length).map_err(|e| e.to_string())
    }
}

const _: () = assert!(
    *Alphabet::Crockford.lengths().start() == 8,
    "the default format is the shortest the arithmetic allows"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_follow_from_the_guessing_arithmetic() {
        assert_eq!(Alphabet::Crockford.lengths(), 8..=10);
        assert_eq!(Alphabet::Digits.lengths(), 13..=18);
        // One symbol shorter would let the defence's failures find more than 0.1 codes a year.
        for alphabet in [Alphabet::Crockford, Alphabet::Digits] {
            let shortest = *alphabet.lengths().start() as u32;
            let space = |length: u32| u128::from(alphabet.symbols()).pow(length);
            let finds_tenths =
                |length| GUESSING_FAILURES_A_YEAR_BOUND as u128 * GUESSING_LIVE_CODES_ASSUMED * 10 / space(length);
            assert!(finds_tenths(shortest) < 1, "{alphabet:?}");
            assert!(finds_tenths(shortest - 1) >= 1, "{alphabet:?}");
        }
        assert!(CodeFormat::new(Alphabet::Digits, 12).is_err());
        assert!(CodeFormat::new(Alphabet::Crockford, 11).is_err());
    }

    #[test]
    fn generated_codes_fit_their_format_and_read_back() {
        for format in [
            CodeFormat::DEFAULT,
            CodeFormat::new(Alphabet::Crockford, 10).unwrap(),
            CodeFormat::new(Alphabet::Digits, 13).unwrap(),
            CodeFormat::new(Alphabet::Digits, 18).unwrap(),
        ] {
            let code = format.generate();
            assert!(format.fits(code.expose().as_bytes()), "{format}");
            assert_eq!(format.to_string().parse::<CodeFormat>(), Ok(format));
            assert!(format.example().replace('-', "").len() == format.length());
            assert!(10u128.pow(format.secret_alias_digits() as u32) >= format.space());
        }
        let digits = CodeFormat::new(Alphabet::Digits, 13).unwrap();
        assert!(digits.generate().expose().bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(CodeFormat::DEFAULT.secret_alias_digits(), 13);
        assert_eq!(
            "digits-12".parse::<CodeFormat>(),
            Err("a digits code is 13 to 18 symbols".into())
        );
        assert!("base64-8".parse::<CodeFormat>().is_err());
    }

    #[test]
    fn a_broker_reads_codes_of_its_own_format_only_and_public_codes_alike() {
        use crate::code::{parse_code, CodeFormatError, ParsedCode};
        let digits = CodeFormat::new(Alphabet::Digits, 13).unwrap();
        let read = |text: &str, format| parse_code(text, "b.example", format);
        assert!(matches!(read("4821-0937-5512-6", digits), Ok(ParsedCode::Secret(c)) if c.expose() == "4821093755126"));
        assert!(matches!(read("482I 0937 55l2 O", digits), Ok(ParsedCode::Secret(c)) if c.expose() == "4821093755120"));
        assert_eq!(read("7KQ2-M9XD", digits), Err(CodeFormatError::Malformed));
        assert_eq!(read("4821-0937-5512", digits), Err(CodeFormatError::Malformed));
        assert_eq!(
            read("4821-0937-5512-6", CodeFormat::DEFAULT),
            Err(CodeFormatError::Malformed)
        );
        for format in [digits, CodeFormat::DEFAULT] {
            assert!(matches!(read("P-4WZ8N-K3QJD", format), Ok(ParsedCode::Public(_))));
        }
    }
}

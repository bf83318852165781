//! All-digit codes, for keyboards that cannot type the code alphabet: authorization codes (one
//! exact amount, short-lived) and numeric aliases of secret and public codes. Each is the broker's
//! number, then random digits, then a Luhn check digit, so one mistyped digit (or two swapped
//! neighbours) is caught before the broker looks anything up.
//!
//! What follows the broker's number tells the kinds apart by its length: 8 random digits for a
//! public code's alias (public: nothing to guess), 10 for an authorization code (10¹⁰ per broker
//! number, safe because it lives minutes and holds one amount), and for a secret code's alias at
//! least 13, as many as the broker's code format needs (10¹³ ≥ 32⁸: the alias is no easier to
//! guess than the code it stands for). A broker whose codes are all digits must not issue codes
//! as long as one of its numeric codes ([`BrokerNumber::for_format`] refuses that).

use rand::rngs::OsRng;
use rand::Rng;

use crate::code::SecretCode;
use crate::format::CodeFormat;
use crate::limits::CODE_INPUT_CHARS_MAX;

/// Random digits of a secret code's alias, at least (the default format's need).
pub const SECRET_ALIAS_DIGITS_MIN: usize = 13;

/// Digits of a broker's number, at least and at most.
pub const BROKER_NUMBER_DIGITS_MIN: usize = 1;
pub const BROKER_NUMBER_DIGITS_MAX: usize = 6;

/// What an all-digit code stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumericKind {
    PublicAlias,
    Authorization,
    SecretAlias,
}

impl NumericKind {
    /// Random digits between the broker's number and the check digit, for the default code
    /// format ([`BrokerNumber::random_digits`] for a broker's own).
    pub const fn random_digits(self) -> usize {
        match self {
            NumericKind::PublicAlias => 8,
            NumericKind::Authorization => 10,
            NumericKind::SecretAlias => SECRET_ALIAS_DIGITS_MIN,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            NumericKind::PublicAlias => "public code's alias",
            NumericKind::Authorization => "authorization code",
            NumericKind::SecretAlias => "secret code's alias",
        }
    }

    const ALL: [NumericKind; 3] = [
        NumericKind::PublicAlias,
        NumericKind::Authorization,
        NumericKind::SecretAlias,
    ];
}

/// A broker's number: the digits every numeric code of this broker starts with, and the format of
/// its secret codes (which sets how long a secret alias is, and which text is a secret code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerNumber {
    digits: String,
    format: CodeFormat,
}

impl BrokerNumber {
    /// A broker number of a broker issuing the default code format.
    pub fn parse(text: &str) -> Option<BrokerNumber> {
        let ok = (BROKER_NUMBER_DIGITS_MIN..=BROKER_NUMBER_DIGITS_MAX).contains(&text.len())
            && text.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| BrokerNumber {
            digits: text.to_owned(),
            format: CodeFormat::DEFAULT,
        })
    }

    /// The same number for a broker issuing `format`; refused if a numeric code would be as long
    /// as a secret code of an all-digit format (the two could not be told apart).
    pub fn for_format(self, format: CodeFormat) -> Result<BrokerNumber, String> {
        let number = BrokerNumber { format, ..self };
        if format.alphabet() == crate::format::Alphabet::Digits {
            if let Some(kind) = NumericKind::ALL
                .into_iter()
                .find(|&k| number.length(k) == format.length())
            {
                return Err(format!(
                    "with broker number {} a {} is {} digits, as long as a secret code of format {format}: \
                     choose another code length or broker number",
                    number.digits,
                    kind.describe(),
                    number.length(kind)
                ));
            }
        }
        Ok(number)
    }

    pub fn as_str(&self) -> &str {
        &self.digits
    }

    pub fn format(&self) -> CodeFormat {
        self.format
    }

    /// Random digits between the number and the check digit in this broker's codes of `kind`.
    pub fn random_digits(&self, kind: NumericKind) -> usize {
        match kind {
            NumericKind::SecretAlias => self.format.secret_alias_digits(),
            other => other.random_digits(),
        }
    }

    /// All the digits of this broker's codes of `kind`.
    pub fn length(&self, kind: NumericKind) -> usize {
        self.digits.len() + self.random_digits(kind) + 1
    }

    /// A new numeric code of `kind`, its random digits from the operating system's generator.
    pub fn generate(&self, kind: NumericKind) -> NumericCode {
        let mut digits = self.digits.clone();
        for _ in 0..self.random_digits(kind) {
            digits.push(char::from(b'0' + OsRng.gen_range(0..10u8)));
        }
        digits.push(char::from(b'0' + luhn_check_digit(&digits)));
        NumericCode { kind, digits }
    }

    /// Reads an all-digit code as a person might type it (spaces and hyphens ignored). `None` if
    /// the text is not all digits, or is as long as this broker's secret codes (then it is one:
    /// Crockford's alphabet has digits too).
    pub fn parse_code(&self, text: &str) -> Option<Result<NumericCode, NumericError>> {
        // Most text presented is a code of the usual alphabet: tell it apart without allocating.
        let numeric = text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'\t'));
        if !numeric || text.len() > CODE_INPUT_CHARS_MAX {
            return None;
        }
        let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')).collect();
        let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        if !all_digits || digits.len() == self.format.length() {
            return None;
        }
        if !digits.starts_with(self.digits.as_str()) {
            return Some(Err(NumericError::OtherBroker));
        }
        let Some(kind) = NumericKind::ALL.into_iter().find(|&k| self.length(k) == digits.len()) else {
            return Some(Err(NumericError::Length));
        };
        let (body, check) = digits.split_at(digits.len() - 1);
        if luhn_check_digit(body) != check.as_bytes()[0] - b'0' {
            return Some(Err(NumericError::CheckDigit));
        }
        Some(Ok(NumericCode { kind, digits }))
    }
}

impl std::fmt::Display for BrokerNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.digits)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NumericError {
    #[error("this all-digit code does not start with this broker's number")]
    OtherBroker,
    #[error("an all-digit code of this broker is as long as code_formats.numeric in /.well-known/smartcode says")]
    Length,
    #[error("the check digit does not match: a digit was mistyped")]
    CheckDigit,
}

/// An all-digit code, normalized. Its `Debug` never shows the digits (they may be secret).
#[derive(Clone, PartialEq, Eq)]
pub struct NumericCode {
    kind: NumericKind,
    digits: String,
}

impl NumericCode {
    pub fn kind(&self) -> NumericKind {
        self.kind
    }

    /// The digits, for hashing (a secret alias, an authorization code) or storing (a public alias).
    pub fn expose(&self) -> &str {
        &self.digits
    }

    /// The secret form of an authorization code or secret alias, for showing once.
    pub fn into_secret(self) -> SecretCode {
        SecretCode::from_symbols(self.digits)
    }
}

impl std::fmt::Debug for NumericCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NumericCode({:?}, <redacted>)", self.kind)
    }
}

/// A code grouped by four for reading (`7KQ2-M9XD`, `1234-5678-9012-3`); reading ignores hyphens.
pub fn grouped(text: &str) -> String {
    let mut shown = String::with_capacity(text.len() + text.len() / 4);
    for (i, c) in text.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            shown.push('-');
        }
        shown.push(c);
    }
    shown
}

/// The Luhn check digit of `digits` (ASCII digits): the one that makes the whole pass the check.
fn luhn_check_digit(digits: &str) -> u8 {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(place, b)| {
            let d = u32::from(b - b'0');
            if place % 2 == 0 {
                let doubled = d * 2;
                doubled / 10 + doubled % 10
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_matches_the_known_example() {
        // The textbook example: 7992739871 has check digit 3.
        assert_eq!(luhn_check_digit("7992739871"), 3);
        assert_eq!(luhn_check_digit("0"), 0);
    }

    #[test]
    fn generated_codes_read_back_and_any_one_digit_typo_is_caught() {
        let broker = BrokerNumber::parse("42").unwrap();
        for kind in NumericKind::ALL {
            let code = broker.generate(kind);
            assert_eq!(code.expose().len(), 2 + kind.random_digits() + 1);
            let spaced: String = code.expose().chars().flat_map(|c| [c, ' ']).collect();
            assert_eq!(broker.parse_code(&spaced), Some(Ok(code.clone())));
            for place in 2..code.expose().len() {
                let mut typo = code.expose().as_bytes().to_vec();
                typo[place] = b'0' + (typo[place] - b'0' + 1) % 10;
                let typo = String::from_utf8(typo).unwrap();
                assert_eq!(
                    broker.parse_code(&typo),
                    Some(Err(NumericError::CheckDigit)),
                    "{kind:?} {place}"
                );
            }
        }
    }

    #[test]
    fn other_text_is_not_numeric_or_is_refused_by_name() {
        let broker = BrokerNumber::parse("7").unwrap();
        assert_eq!(broker.parse_code("7KQ2-M9XD"), None);
        assert_eq!(broker.parse_code("12345678"), None, "eight digits are a secret code");
        assert_eq!(broker.parse_code("812345678901"), Some(Err(NumericError::OtherBroker)));
        assert_eq!(broker.parse_code("7123"), Some(Err(NumericError::Length)));
        assert!(BrokerNumber::parse("").is_none());
        assert!(BrokerNumber::parse("1234567").is_none());
        assert!(BrokerNumber::parse("12a").is_none());
    }

    #[test]
    fn a_broker_of_digit_codes_tells_its_codes_from_its_numeric_codes_by_length() {
        use crate::format::{Alphabet, CodeFormat};
        let digits = CodeFormat::new(Alphabet::Digits, 13).unwrap();
        let refused = BrokerNumber::parse("42").unwrap().for_format(digits);
        assert!(refused.unwrap_err().contains("authorization code is 13 digits"));
        let broker = BrokerNumber::parse("7").unwrap().for_format(digits).unwrap();
        assert_eq!(broker.parse_code("4821093755126"), None, "13 digits are a secret code");
        for kind in NumericKind::ALL {
            let code = broker.generate(kind);
            assert_ne!(code.expose().len(), 13);
            assert_eq!(broker.parse_code(code.expose()), Some(Ok(code.clone())));
        }
        // A longer format's alias grows with it, as hard to guess as the code.
        let long = CodeFormat::new(Alphabet::Digits, 17).unwrap();
        let broker = BrokerNumber::parse("7").unwrap().for_format(long).unwrap();
        assert_eq!(broker.random_digits(NumericKind::SecretAlias), 17);
        assert_eq!(broker.generate(NumericKind::SecretAlias).expose().len(), 19);
    }

    #[test]
    fn a_secret_alias_is_no_easier_to_guess_than_a_secret_code() {
        let secret_codes = 32f64.powi(8);
        assert!(10f64.powi(NumericKind::SecretAlias.random_digits() as i32) >= secret_codes);
        assert!(10f64.powi(NumericKind::Authorization.random_digits() as i32) >= 1e10);
    }
}

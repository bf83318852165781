//! Exact money: amounts in micro-units of one currency, parsed from and shown as decimal strings.
//!
//! There is no floating point here and no `Default`: an amount exists only because a string was
//! parsed into it or because checked arithmetic produced it.

use std::fmt;

use crate::limits::AMOUNT_UNITS_MAX;

/// How many fractional decimal digits the broker keeps. One unit is 10^-6 of a currency unit.
pub const DECIMALS: u32 = 6;
/// Micro-units in one whole currency unit.
pub const UNITS_PER_WHOLE: i64 = 1_000_000;

/// A strictly positive quantity of money, in micro-units, at most [`AMOUNT_UNITS_MAX`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must be a decimal number such as \"0.25\"")]
    Malformed,
    #[error("amount has more than {DECIMALS} decimal places; the broker never rounds")]
    TooPrecise,
    #[error("amount must be greater than zero")]
    NotPositive,
    #[error("amount is above the broker's limit per operation")]
    TooLarge,
}

impl Amount {
    /// Builds an amount from micro-units, refusing zero, negatives and amounts above the limit.
    pub fn from_units(units: i64) -> Result<Amount, AmountError> {
        if units <= 0 {
            return Err(AmountError::NotPositive);
        }
        if units > AMOUNT_UNITS_MAX {
            return Err(AmountError::TooLarge);
        }
        Ok(Amount(units))
    }

    pub fn units(self) -> i64 {
        self.0
    }

    /// `count` times this amount, checked: `None` when it is not an amount (zero, or past the limit
    /// of one operation). What a share of `uses` downloads or a license of `copies` copies holds.
    pub fn times(self, count: u32) -> Option<Amount> {
        let units = self.0.checked_mul(i64::from(count))?;
        Amount::from_units(units).ok()
    }

    /// Parses a decimal string (`"10"`, `"0.25"`, `"0.000001"`). Signs, exponents, spaces and more
    /// than six fractional digits are refused.
    pub fn parse(text: &str) -> Result<Amount, AmountError> {
        let units = parse_units(text)?;
        Amount::from_units(units)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_units(self.0))
    }
}

fn parse_units(text: &str) -> Result<i64, AmountError> {
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (text, ""),
    };
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(AmountError::Malformed);
    }
    if text.contains('.') && fraction.is_empty() {
        return Err(AmountError::Malformed);
    }
    let fraction = fraction.trim_end_matches('0');
    if fraction.len() > DECIMALS as usize {
        return Err(AmountError::TooPrecise);
    }
    let whole = whole.trim_start_matches('0');
    // Anything longer than 13 whole digits is far above the limit; refuse before parsing overflows.
    if whole.len() > 13 {
        return Err(AmountError::TooLarge);
    }
    let whole_units: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| AmountError::Malformed)?
    };
    let mut fraction_units: i64 = 0;
    for position in 0..DECIMALS as usize {
        let digit = fraction.as_bytes().get(position).map_or(0, |b| i64::from(b - b'0'));
        fraction_units = fraction_units * 10 + digit;
    }
    whole_units
        .checked_mul(UNITS_PER_WHOLE)
        .and_then(|units| units.checked_add(fraction_units))
        .ok_or(AmountError::TooLarge)
}

/// Formats signed micro-units as a decimal string with at least two fractional digits
/// (`"10.00"`, `"0.25"`, `"-0.001"`).
pub fn format_units(units: i64) -> String {
    let sign = if units < 0 { "-" } else { "" };
    let magnitude = units.unsigned_abs();
    let per_whole = UNITS_PER_WHOLE as u64;
    let whole = magnitude / per_whole;
    let fraction = format!("{:06}", magnitude % per_whole);
    let trimmed = fraction.trim_end_matches('0');
    let shown = if trimmed.len() < 2 { &fraction[..2] } else { trimmed };
    format!("{sign}{whole}.{shown}")
}

/// A currency: three ASCII letters, upper case (ISO 4217 style), such as `USD`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("currency must be three letters, such as \"USD\"")]
pub struct CurrencyError;

impl Currency {
    /// Parses three ASCII letters in any case.
    pub fn parse(text: &str) -> Result<Currency, CurrencyError> {
        let bytes = text.as_bytes();
        if bytes.len() != 3 || !bytes.iter().all(u8::is_ascii_alphabetic) {
            return Err(CurrencyError);
        }
        Ok(Currency([
            bytes[0].to_ascii_uppercase(),
            bytes[1].to_ascii_uppercase(),
            bytes[2].to_ascii_uppercase(),
        ]))
    }

    pub fn as_str(&self) -> &str {
        // The bytes are ASCII letters by construction.
        std::str::from_utf8(&self.0).expect("currency is ASCII")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

/// A balance: signed micro-units. Code balances are never negative; the issuance account's is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Balance {
    pub units: i64,
    pub currency: Currency,
}

impl Balance {
    pub fn zero(currency: Currency) -> Balance {
        Balance { units: 0, currency }
    }
}

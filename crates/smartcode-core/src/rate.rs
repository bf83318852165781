//! Exchange rates as exact decimals, the one conversion a quote makes with them, and the records
//! of the operator's rates and of quotes ([`RateRecord`], [`QuoteRecord`]).
//!
//! A [`Rate`] is a positive decimal number of units of one currency per unit of another, kept as
//! an integer and a count of decimal places (`1.0842` is 10842 and 4), bounded by
//! [`RATE_WHOLE_DIGITS_MAX`] and [`RATE_DECIMALS_MAX`] so every product below fits an `i128`.
//! There is no floating point here: [`pay_units_for`] computes what a buyer pays as an exact
//! fraction and rounds once, at the end, up to the next micro-unit.
//!
//! ```
//! use smartcode_core::rate::{pay_units_for, Rate};
//! // 1 EUR buys 1.08 USD; a price of 10.00 USD costs 10 / 1.08 = 9.259259… EUR, plus a 0.5% fee.
//! let rate = Rate::parse("1.08").unwrap();
//! assert_eq!(pay_units_for(10_000_000, rate, 50), Some(9_305_556)); // 9.305555… up to 9.305556
//! ```

use std::fmt;

use crate::clock::Timestamp;
use crate::code::PublicCode;
use crate::limits::{FEE_BPS_MAX, RATE_DECIMALS_MAX, RATE_WHOLE_DIGITS_MAX};
use crate::money::{Amount, Currency};

/// Basis points in a whole: a fee of 50 bps is 0.5%.
pub const BPS_PER_WHOLE: i128 = 10_000;

/// Units of one currency per unit of another: `mantissa / 10^decimals`, positive, with no
/// trailing zero in its fraction (so equal rates are equal values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rate {
    mantissa: i64,
    decimals: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("rate must be a decimal number such as \"1.0842\"")]
    Malformed,
    #[error("rate has more than {RATE_DECIMALS_MAX} significant decimal places")]
    TooPrecise,
    #[error("rate has more than {RATE_WHOLE_DIGITS_MAX} digits before the decimal point")]
    TooLarge,
    #[error("rate must be greater than zero")]
    NotPositive,
}

impl Rate {
    /// Parses a decimal string (`"1.0842"`, `"0.00012"`, `"150"`). Leading zeros and trailing
    /// fractional zeros are read as usual; signs, exponents, spaces and more digits than the
    /// bounds are refused, never rounded.
    pub fn parse(text: &str) -> Result<Rate, RateError> {
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) || text.ends_with('.') {
            return Err(RateError::Malformed);
        }
        let whole = whole.trim_start_matches('0');
        let fraction = fraction.trim_end_matches('0');
        if whole.len() > RATE_WHOLE_DIGITS_MAX {
            return Err(RateError::TooLarge);
        }
        if fraction.len() > RATE_DECIMALS_MAX {
            return Err(RateError::TooPrecise);
        }
        // At most 9 + 9 digits: below 10^18, so an i64 holds it.
        let digits = format!("{whole}{fraction}");
        let mantissa: i64 = if digits.is_empty() {
            0
        } else {
            digits.parse().map_err(|_| RateError::Malformed)?
        };
        if mantissa == 0 {
            return Err(RateError::NotPositive);
        }
        Ok(Rate {
            mantissa,
            decimals: fraction.len() as u32,
        })
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.to_string();
        let decimals = self.decimals as usize;
        if decimals == 0 {
            return f.write_str(&digits);
        }
        let padded = format!("{digits:0>width$}", width = decimals + 1);
        let (whole, fraction) = padded.split_at(padded.len() - decimals);
        write!(f, "{whole}.{fraction}")
    }
}

/// What a buyer pays, in micro-units of its currency, for `price_units` micro-units of another
/// at `rate` (units of the price's currency per unit of the buyer's) with a fee of `fee_bps`:
/// the exact fraction `price × (1 + fee_bps / 10 000) / rate`, rounded once, up, to a whole
/// micro-unit. So the buyer never pays more than a micro-unit above the exact amount, and the
/// exchange account never gives more than it took. `None` if the result would not fit an `i64`.
pub fn pay_units_for(price_units: i64, rate: Rate, fee_bps: u32) -> Option<i64> {
    assert!(price_units > 0, "a price is positive");
    assert!(fee_bps <= FEE_BPS_MAX, "a fee is within its bound");
    // price ≤ 10^15, 10^decimals ≤ 10^9, 10 000 + fee ≤ 2 × 10^4: the numerator stays below
    // 10^29 and the denominator below 10^23, far inside i128.
    let numerator = i128::from(price_units)
        .checked_mul(10i128.pow(rate.decimals))?
        .checked_mul(BPS_PER_WHOLE + i128::from(fee_bps))?;
    let denominator = i128::from(rate.mantissa) * BPS_PER_WHOLE;
    let rounded_up = (numerator + denominator - 1) / denominator;
    assert!(
        rounded_up * denominator >= numerator && (rounded_up - 1) * denominator < numerator,
        "one rounding, up, by less than one micro-unit"
    );
    i64::try_from(rounded_up).ok()
}

/// The operator's rate from one currency to another: `rate` units of `to` per unit of `from`,
/// and the fee a quote adds, in basis points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateRecord {
    pub from: Currency,
    pub to: Currency,
    pub rate: Rate,
    pub fee_bps: u32,
    pub set_at: Timestamp,
}

/// What a buyer pays in its currency (`pay`) for a price in another (`price`), fee included,
/// fixed until `expires_at`, at the rate and fee of when it was made. Used once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteRecord {
    pub id: crate::code::QuoteId,
    pub pay: Amount,
    pub pay_currency: Currency,
    pub price: Amount,
    pub price_currency: Currency,
    pub rate: Rate,
    pub fee_bps: u32,
    /// A quote made for one payee pays only that payee.
    pub payee: Option<PublicCode>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    /// The payment that used it, once it was used.
    pub used: Option<QuoteUse>,
}

/// How a quote was used: the receipt of the payment to the seller, who paid (a code here, or a
/// code of a peer's, stored as `peer:` and the peer's name), and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteUse {
    pub receipt_id: String,
    pub payer: crate::charge::Payer,
    pub at: Timestamp,
}

impl QuoteRecord {
    /// The part of `pay` that is the fee: `pay` less the price converted without a fee (rounded
    /// up the same way), so the two parts shown add up to what the buyer pays.
    pub fn fee_units(&self) -> i64 {
        let converted = pay_units_for(self.price.units(), self.rate, 0)
            .expect("without a fee a quote's conversion is at most its pay");
        self.pay.units() - converted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_exactly_and_refuse_what_they_cannot_hold() {
        assert_eq!(Rate::parse("1.0842").unwrap().to_string(), "1.0842");
        assert_eq!(Rate::parse("001.50000").unwrap().to_string(), "1.5");
        assert_eq!(Rate::parse("150").unwrap().to_string(), "150");
        assert_eq!(Rate::parse("0.000000001").unwrap().to_string(), "0.000000001");
        assert_eq!(
            Rate::parse("999999999.999999999").unwrap().to_string(),
            "999999999.999999999"
        );
        assert_eq!(Rate::parse("1.5"), Rate::parse("1.500"), "equal rates are equal values");
        assert_eq!(Rate::parse("0.0000000001"), Err(RateError::TooPrecise));
        assert_eq!(Rate::parse("1000000000"), Err(RateError::TooLarge));
        assert_eq!(Rate::parse("0"), Err(RateError::NotPositive));
        assert_eq!(Rate::parse("0.000"), Err(RateError::NotPositive));
        for bad in ["", "-1", "+1", "1e3", "1.", ".5", "1,5", " 1", "1 ", "１", "1.2.3"] {
            assert_eq!(Rate::parse(bad), Err(RateError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn a_conversion_rounds_once_up_by_less_than_a_micro_unit() {
        let rate = |text| Rate::parse(text).unwrap();
        // Exact: 10 USD at 2 USD per EUR is 5 EUR, with no fee nothing to round.
        assert_eq!(pay_units_for(10_000_000, rate("2"), 0), Some(5_000_000));
        // 1 USD at 3 USD per EUR: 0.333333… EUR, up to 0.333334.
        assert_eq!(pay_units_for(1_000_000, rate("3"), 0), Some(333_334));
        // The fee goes into the one fraction: 1 × 1.01 / 3 = 0.336666…, up to 0.336667 (not
        // 0.333334 + 1% rounded again).
        assert_eq!(pay_units_for(1_000_000, rate("3"), 100), Some(336_667));
        // The smallest price at a large rate still costs a whole micro-unit.
        assert_eq!(pay_units_for(1, rate("150"), 0), Some(1));
        // A rate below one makes the pay larger: 1 JPY-like unit at 0.0067 per unit.
        assert_eq!(pay_units_for(1_000_000, rate("0.0067"), 0), Some(149_253_732));
        // Large products stay exact; past an i64 there is no answer (the quote is refused).
        let largest = crate::limits::AMOUNT_UNITS_MAX;
        let pay = pay_units_for(largest, rate("0.001"), FEE_BPS_MAX).unwrap();
        let expected = i128::from(largest) * 1_000 * (10_000 + i128::from(FEE_BPS_MAX)) / 10_000;
        assert_eq!(i128::from(pay), expected);
        assert_eq!(pay_units_for(largest, rate("0.000000001"), FEE_BPS_MAX), None);
    }

    proptest::proptest! {
        #[test]
        fn the_buyer_pays_the_exact_amount_or_less_than_a_micro_unit_more(
            price in 1i64..=crate::limits::AMOUNT_UNITS_MAX,
            mantissa in 1i64..1_000_000_000_000_000_000,
            decimals in 0u32..=9,
            fee_bps in 0u32..=FEE_BPS_MAX,
        ) {
            let rate = Rate { mantissa, decimals };
            // pay × rate ≥ price × (1 + fee) > (pay − 1) × rate, in exact integers.
            let owed = i128::from(price) * 10i128.pow(decimals) * (BPS_PER_WHOLE + i128::from(fee_bps));
            let Some(pay) = pay_units_for(price, rate, fee_bps) else {
                proptest::prop_assert!(owed / (i128::from(mantissa) * BPS_PER_WHOLE) >= i128::from(i64::MAX));
                return Ok(());
            };
            let paid = i128::from(pay) * i128::from(mantissa) * BPS_PER_WHOLE;
            proptest::prop_assert!(paid >= owed);
            proptest::prop_assert!(paid - i128::from(mantissa) * BPS_PER_WHOLE < owed);
        }
    }
}

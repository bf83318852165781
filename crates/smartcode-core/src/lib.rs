//! The domain of a smartcode broker: money, codes, the code tree and the ledger's rules.
//!
//! This crate does no I/O and knows nothing of HTTP, SQL or JSON. Stores implement
//! [`ledger::LedgerTx`]; the core's [`ledger::execute`] and [`ledger::query`] run every rule over it.
//!
//! ```
//! use smartcode_core::money::{format_units, Amount};
//! let price = Amount::parse("0.25").unwrap();
//! assert_eq!(price.units(), 250_000);
//! assert_eq!(format_units(price.units()), "0.25");
//! assert!(Amount::parse("0.0000001").is_err()); // never rounded
//! ```

pub mod approval;
pub mod charge;
pub mod clock;
pub mod code;
pub mod error;
pub mod format;
pub mod item;
pub mod ledger;
pub mod license;
pub mod limits;
pub mod model;
pub mod money;
pub mod numeric;
pub mod peer;
pub mod rate;
pub mod session;
pub mod spending;
pub mod totals;
pub mod webhook;

#[cfg(test)]
mod tests;

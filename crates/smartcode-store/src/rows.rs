//! How both stores write a domain value into columns and read it back, written once: an account's
//! kind, and a code's columns ([`CodeColumns`]) as a neutral row that each store fills from, and
//! binds to, its own SQL types.

use smartcode_core::model::AccountKey;

/// The word in `accounts.kind` for an account: the CHECK of both schemas lists every word, and a
/// key always begins with its kind and a colon (`code:…`, `issuance:…`).
pub fn account_kind(key: &AccountKey) -> &'static str {
    match key {
        AccountKey::Code(_) => "code",
        AccountKey::Issuance(_) => "issuance",
    }
}

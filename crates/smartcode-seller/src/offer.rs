//! Making an offer for a request: a fresh id, the item named after the path, the price, the
//! expiry, and where to negotiate; and the memo that binds a payment to it (`offer:<id>`).

use smartcode_api::{NegotiableJson, OfferJson};
use smartcode_core::clock::{Timestamp, MICROS_PER_SECOND};

use crate::book::{Haggle, IssuedOffer};
use crate::config::Config;

/// What a payment's memo starts with; the offer's id follows.
pub const MEMO_PREFIX: &str = "offer:";
/// An offer's description, in characters (the broker's bound).
pub const OFFER_DESCRIPTION_CHARS_MAX: usize = 500;
/// An item's name, in characters (the broker's bound on a payment's item).
pub const ITEM_CHARS_MAX: usize = 100;
/// Random bytes in an offer's id: enough that no two offers ever share one and none is guessed.
const OFFER_ID_RANDOM_BYTES: usize = 16;

/// The memo a buyer's broker pays an offer with.
pub fn offer_memo(offer_id: &str) -> String {
    format!("{MEMO_PREFIX}{offer_id}")
}

/// The offer id a memo names, if it names one.
pub(crate) fn offer_id_of(memo: Option<&str>) -> Option<&str> {
    memo?.strip_prefix(MEMO_PREFIX).filter(|id| !id.is_empty())
}

/// A new offer id: `of_` and 32 hex digits, from the operating system's randomness.
pub(crate) fn new_offer_id() -> String {
    format!("of_{}", hex::encode(rand::random::<[u8; OFFER_ID_RANDOM_BYTES]>()))
}

/// The item a request path sells: the path without its leading `/` (`articles/7`), `index` for
/// `/`, control characters dropped, cut to the broker's bound.
pub fn item_of(path: &str) -> String {
    let trimmed = path.trim_start_matches('/');
    let cleaned: String = trimmed
        .chars()
        .filter(|c| !c.is_control())
        .take(ITEM_CHARS_MAX)
        .collect();
    if cleaned.is_empty() {
        "index".to_owned()
    } else {
        cleaned
    }
}

/// The offer for `path`, as sent and as remembered. Its expiry is in whole seconds.
pub(crate) fn make(config: &Config, id: String, path: &str, now: Timestamp) -> (OfferJson, IssuedOffer) {
    let whole_seconds = now.micros().div_euclid(MICROS_PER_SECOND);
    let expires_at = Timestamp(whole_seconds * MICROS_PER_SECOND)
        .plus_seconds(config.offer_lifetime_seconds)
        .expect("an offer's lifetime is at most a day");
    let item = item_of(path);
    let description: String = (config.describe)(path)
        .chars()
        .filter(|c| !c.is_control())
        .take(OFFER_DESCRIPTION_CHARS_MAX)
        .collect();
    let negotiable = config.negotiation.as_ref().map(|n| NegotiableJson {
        endpoint: n.endpoint.clone(),
        max_rounds: n.max_rounds,
    });
    let offer = OfferJson {
        id,
        payee: config.payee.to_string(),
        price: config.price.to_money(),
        unit: "item".to_owned(),
        item: Some(item.clone()),
        category: config.category.clone(),
        description,
        negotiable,
        expires_at: expires_at.to_rfc3339(),
    };
    let issued = IssuedOffer {
        resource: path.to_owned(),
        item,
        list_price: config.price.amount(),
        expires_at,
        haggle: Haggle::new(config.price.amount()),
    };
    (offer, issued)
}

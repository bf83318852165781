//! The seller's memory, bounded and in memory: the offers it issued (each with the resource it is
//! for and how its negotiation stands) and the receipts it accepted (each with the resource it
//! paid for). It does no I/O and reads no clock: every call is given "now".
//!
//! Both maps keep an entry until a time fixed when it is put in, and at most a named number of
//! entries; when full, the oldest entry goes first. Every entry of one map lives equally long, so
//! the oldest is always the one that expires first.

use std::collections::{HashMap, VecDeque};

use smartcode_core::clock::Timestamp;
use smartcode_core::money::Amount;

use crate::PaidReceipt;

/// Offers remembered at once. An offer forgotten can no longer be paid, so this is large: an
/// offer takes a few hundred bytes, so the map stays within some tens of megabytes.
pub const OFFERS_KEPT_MAX: usize = 100_000;
/// Receipts remembered as accepted at once.
pub const RECEIPTS_KEPT_MAX: usize = 100_000;
/// How long after its expiry an offer is still remembered, so that a buyer who paid it just in
/// time can still send its request again with the receipt.
pub const OFFER_KEPT_AFTER_EXPIRY_SECONDS: i64 = 10 * 60;
/// How long an accepted receipt keeps opening its resource without asking the broker again.
pub const RECEIPT_KEPT_SECONDS: i64 = 24 * 3600;

/// A map of string keys with a time to forget each entry and a bound on entries.
pub(crate) struct BoundedMap<V> {
    entries: HashMap<String, Kept<V>>,
    /// Keys in the order they were put in, with the sequence number of that insertion (a key put
    /// in again has a newer one; its old place in the queue then removes nothing).
    order: VecDeque<(String, u64)>,
    sequence: u64,
    entries_max: usize,
}

struct Kept<V> {
    value: V,
    kept_until: Timestamp,
    sequence: u64,
}

impl<V> BoundedMap<V> {
    pub fn new(entries_max: usize) -> BoundedMap<V> {
        assert!(entries_max > 0, "a map that can hold nothing remembers nothing");
        BoundedMap {
            entries: HashMap::new(),
            order: VecDeque::new(),
            sequence: 0,
            entries_max,
        }
    }

    /// Puts `value` in until `kept_until`, forgetting what has expired and, if the map is still
    /// full, the oldest entries. Answers how many entries were forgotten before their time.
    pub fn insert(&mut self, key: String, value: V, kept_until: Timestamp, now: Timestamp) -> usize {
        self.forget_expired(now);
        let mut forgotten_early = 0;
        while self.entries.len() >= self.entries_max && !self.entries.contains_key(&key) {
            if self.pop_oldest() {
                forgotten_early += 1;
            }
        }
        self.sequence += 1;
        self.order.push_back((key.clone(), self.sequence));
        let kept = Kept {
            value,
            kept_until,
            sequence: self.sequence,
        };
        self.entries.insert(key, kept);
        assert!(
            self.entries.len() <= self.entries_max,
            "the bound holds after an insertion"
        );
        forgotten_early
    }

    pub fn get(&self, key: &str, now: Timestamp) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|kept| kept.kept_until >= now)
            .map(|kept| &kept.value)
    }

    pub fn get_mut(&mut self, key: &str, now: Timestamp) -> Option<&mut V> {
        self.entries
            .get_mut(key)
            .filter(|kept| kept.kept_until >= now)
            .map(|kept| &mut kept.value)
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn forget_expired(&mut self, now: Timestamp) {
        while let Some((key, sequence)) = self.order.front() {
            match self.entries.get(key) {
                Some(kept) if kept.sequence == *sequence && kept.kept_until >= now => break,
                Some(kept) if kept.sequence == *sequence => {
                    self.entries.remove(key);
                }
                // A key put in again later: its newer place in the queue counts.
                _ => {}
            }
            self.order.pop_front();
        }
    }

    /// Forgets the oldest live entry; false if the queue's front was only a stale place.
    fn pop_oldest(&mut self) -> bool {
        let Some((key, sequence)) = self.order.pop_front() else {
            unreachable!("a full map has entries in its queue");
        };
        let live = self.entries.get(&key).is_some_and(|kept| kept.sequence == sequence);
        if live {
            self.entries.remove(&key);
        }
        live
    }
}

/// An offer this seller issued.
#[derive(Clone, Debug)]
pub(crate) struct IssuedOffer {
    /// The request path it is for.
    pub resource: String,
    pub item: String,
    pub list_price: Amount,
    pub expires_at: Timestamp,
    pub haggle: Haggle,
}

impl IssuedOffer {
    /// The least a payment of this offer may be: the list price, or the lowest price the seller
    /// agreed to or offered in a counter (a counter is a standing offer to sell at that price).
    pub fn price_min(&self) -> Amount {
        assert!(
            self.haggle.ask <= self.list_price,
            "a negotiation never raises the price"
        );
        self.haggle.ask
    }
}

/// How an offer's negotiation stands.
#[derive(Clone, Debug)]
pub(crate) struct Haggle {
    /// The lowest price the seller stands by: the list price, a counter, or an agreed price.
    pub ask: Amount,
    /// The price accepted, once one is: the negotiation is then closed.
    pub agreed: Option<Amount>,
    /// Bids answered (a retry of the last one not counted again).
    pub bids: u32,
    /// The last bid and its answer, given again to a retry of the same bid.
    pub last: Option<LastBid>,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct LastBid {
    pub round: u32,
    pub bid: Amount,
    pub answer: Answer,
}

/// The seller's answer to one bid, once settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Accept(Amount),
    Counter(Amount),
    Reject,
}

impl Haggle {
    pub fn new(list_price: Amount) -> Haggle {
        Haggle {
            ask: list_price,
            agreed: None,
            bids: 0,
            last: None,
        }
    }
}

/// Everything the seller remembers.
pub(crate) struct Book {
    pub offers: BoundedMap<IssuedOffer>,
    pub receipts: BoundedMap<PaidReceipt>,
}

impl Book {
    pub fn new() -> Book {
        Book::with_bounds(OFFERS_KEPT_MAX, RECEIPTS_KEPT_MAX)
    }

    pub fn with_bounds(offers_max: usize, receipts_max: usize) -> Book {
        Book {
            offers: BoundedMap::new(offers_max),
            receipts: BoundedMap::new(receipts_max),
        }
    }

    /// Remembers an offer until a while after its expiry.
    pub fn issue(&mut self, id: String, offer: IssuedOffer, now: Timestamp) -> usize {
        let kept_until = offer
            .expires_at
            .plus_seconds(OFFER_KEPT_AFTER_EXPIRY_SECONDS)
            .unwrap_or(offer.expires_at);
        self.offers.insert(id, offer, kept_until, now)
    }

    /// Remembers a receipt as accepted for its resource.
    pub fn accept(&mut self, paid: PaidReceipt, now: Timestamp) -> usize {
        let kept_until = now.plus_seconds(RECEIPT_KEPT_SECONDS).unwrap_or(now);
        self.receipts.insert(paid.receipt_id.clone(), paid, kept_until, now)
    }
}
